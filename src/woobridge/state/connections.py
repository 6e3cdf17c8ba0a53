"""Finding connections by name. Every function takes the session it works in; none keeps one."""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from woobridge.state.models import Connection

# Names appear in commands and file names: keep them to what a shell and a URL take without quoting.
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


class UnknownConnection(LookupError):
    """No connection has that name."""

    def __init__(self, name: str, known: list[str]) -> None:
        hint = f"known: {', '.join(known)}" if known else "none yet: woobridge connect NAME --url … --key …"
        super().__init__(f"no connection named {name!r} ({hint})")
        self.name = name


def valid_name(name: str) -> bool:
    """Letters, digits, '.', '_' and '-', starting with a letter or digit, at most 64 characters."""
    return NAME_PATTERN.fullmatch(name) is not None


def find_connection(session: Session, name: str) -> Connection | None:
    return session.scalar(select(Connection).where(Connection.name == name))


def get_connection(session: Session, name: str) -> Connection:
    """The connection called ``name``; raises :class:`UnknownConnection` naming the ones that exist."""
    connection = find_connection(session, name)
    if connection is None:
        raise UnknownConnection(name, [c.name for c in all_connections(session)])
    return connection


def all_connections(session: Session) -> list[Connection]:
    """Every connection, by name."""
    return list(session.scalars(select(Connection).order_by(Connection.name)))
