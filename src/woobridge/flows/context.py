"""What every flow needs around its own story (read → map → write), in one place.

A flow's entry points (``run``, ``retry_errors``, ``audit``…) are called by the CLI, by ``woobridge serve``'s
scheduler and by tests, each handing over what it has: a connection by name or as a row, maybe an open ERP port,
maybe a ``WooClient``. These helpers turn that into what the flow works with, the same way for every flow:

* :func:`resolve_connection` — the ``Connection`` row for a name (``UnknownConnection`` if there is none);
* :func:`erp_for` — the ERP port given, or the configured one opened for the run and closed after it;
  :func:`erp_opening` — the same, opened in a worker thread while the flow goes on (the orders sync waits for
  the store's first page meanwhile);
* :func:`client_for` — the client given, or one for the connection built from its sealed credentials (unsealed with
  the master key, the secret registered for log redaction), reporting every request to the services' observer
  (``serve`` feeds them into ``/metrics``);
* :func:`stored_cursor` and :func:`parse_moment` — a flow's cursor read outside a run, and its timestamps;
* :class:`SettingsError` — a connection's flow settings (``connection.settings[flow]``) are not usable.

Nothing here keeps state between runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from woobridge.erp.port import ErpPort
from woobridge.state import Connection, StateDB
from woobridge.state.connections import get_connection
from woobridge.state.models import Cursor
from woobridge.woo.client import WooClient

__all__ = [
    "ErpWhenOpen",
    "SettingsError",
    "client_for",
    "erp_for",
    "erp_opening",
    "parse_moment",
    "resolve_connection",
    "stored_cursor",
]


class SettingsError(ValueError):
    """A connection's settings for a flow are not usable; the message says which setting and how to fix it.

    Every flow raises this one class, so the CLI and the scheduler tell a bad setting from a failed run the same
    way for all of them (``sync`` exits 2)."""


def resolve_connection(db: StateDB, connection: Connection | str) -> Connection:
    """The connection row itself, or the one stored under this name (``UnknownConnection`` when there is none)."""
    if isinstance(connection, Connection):
        return connection
    with db.session() as session:
        return get_connection(session, connection)


@contextlib.asynccontextmanager
async def erp_for(erp: ErpPort | None) -> AsyncIterator[ErpPort]:
    """The ERP port the caller opened (left open), or the configured one (``woobridge.erp.open_erp()``), closed
    when the block ends."""
    if erp is not None:
        yield erp
        return
    from woobridge.erp import open_erp

    opened = open_erp()
    try:
        yield opened
    finally:
        opened.close()


ErpWhenOpen = Callable[[], Awaitable[ErpPort]]
"""What :func:`erp_opening` gives the flow: ``await erp()`` is the port, once it is open."""


@contextlib.asynccontextmanager
async def erp_opening(erp: ErpPort | None, services: Any) -> AsyncIterator[ErpWhenOpen]:
    """:func:`erp_for` for a flow that has the store to read before it writes: the port the caller opened (left
    open), or the configured one, opened in a worker thread while the block goes on and closed when it ends. The
    block awaits the port when it first needs it.

    Opening the staging database (its schema checked, or created on first use: ~0.1 s) then takes place while the
    sync waits for the store's first page instead of before it. Errors come out as if the ERP were opened first: a
    bad setting (``ErpConfigError``) is raised here, before the block; when the ERP cannot be opened, that is what
    the block ends with, whatever else failed meanwhile. The settings are read from ``services.environ`` (without
    services: the process environment)."""
    if erp is not None:

        async def given() -> ErpPort:
            return erp

        yield given
        return
    from woobridge.erp import erp_opener

    open_port = erp_opener(environ=services.environ if services is not None else os.environ)
    opening = asyncio.ensure_future(asyncio.to_thread(open_port))

    async def opened() -> ErpPort:
        return await asyncio.shield(opening)  # the block cancelled: the port is still closed below

    try:
        yield opened
    except Exception as error:
        await asyncio.wait([opening])
        failed = opening.exception()
        if failed is None or failed is error:
            raise
        raise failed from error
    finally:
        # A thread cannot be stopped: let it finish, then close what it opened.
        await asyncio.wait([opening])
        if opening.exception() is None:
            opening.result().close()
    opening.result()  # the block had nothing to write: the ERP must still have opened


@contextlib.asynccontextmanager
async def client_for(
    connection: Connection, services: Any, woo: WooClient | None, *, max_concurrency: int
) -> AsyncIterator[WooClient]:
    """The client the caller gave (left open), or one for the connection, closed when the block ends.

    The new client uses the connection's stored URL, namespace, auth mode and CA file, and its key and secret
    unsealed with ``services.vault()`` (without services: the master key from the environment). When the services
    have an ``on_store_request(connection, method, route, status, seconds, attempt)`` observer, the client reports
    every request it sends to it (see ``WooClient``'s ``on_request``)."""
    if woo is not None:
        yield woo
        return
    from woobridge.logging import protect
    from woobridge.secrets import open_vault
    from woobridge.state import Locations
    from woobridge.woo.auth import Credentials, Secret

    vault = services.vault() if services is not None else open_vault(Locations.from_environment(), os.environ)
    secret = Secret(connection.unseal_secret(vault))
    protect(secret.reveal())
    credentials = Credentials(
        connection.store_url,
        connection.unseal_key(vault),
        secret,
        "query" if connection.auth == "query" else "basic",
        connection.ca_file,
    )
    observer = getattr(services, "on_store_request", None)
    async with WooClient(
        credentials,
        namespace=connection.namespace or "wc/v3",
        max_concurrency=max_concurrency,
        on_request=functools.partial(observer, connection.name) if callable(observer) else None,
    ) as client:
        yield client


def stored_cursor(db: StateDB, connection: Connection, flow: str) -> dict[str, Any] | None:
    """The flow's cursor as the last run saved it (``None`` before the first run), read without opening a run —
    for dry runs and reports."""
    with db.session() as session:
        stored = session.get(Cursor, (connection.id, flow))
        return None if stored is None else dict(stored.value)


def parse_moment(value: Any) -> datetime | None:
    """A timestamp a cursor stored (ISO 8601) as an aware UTC datetime; naive means UTC; ``None`` for no string."""
    if not isinstance(value, str):
        return None
    moment = datetime.fromisoformat(value)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
