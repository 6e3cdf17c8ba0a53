"""Is a database's schema at the newest migration? Answered without importing Alembic.

Every command opens the state database and most open the staging tables, and both check their schema first.
Alembic's own answer (``ScriptDirectory`` imports every migration module, plus Alembic itself) cost a tenth of a
second of every start-up for a question whose answer is almost always "yes". Here the head is read from the
migration files' text and the stored revision with one SELECT; Alembic is imported only to migrate, or when this
quick look cannot be sure (then it answers as before).
"""

from __future__ import annotations

import re
from pathlib import Path

from sqlalchemy import Connection, inspect, select
from sqlalchemy.sql.expression import ColumnClause, column, table

_ASSIGNMENT = re.compile(r"""^(revision|down_revision)\s*(?::[^=]*)?=\s*(.+?)\s*$""", re.MULTILINE)
_QUOTED = re.compile(r"""^(['"])([^'"]+)\1$""")


def head_revision(versions: Path) -> str | None:
    """The one head of the migrations in ``versions`` (the revision no other file names as its ``down_revision``),
    read from the files' ``revision = "…"`` / ``down_revision = …`` lines. None when that is not plain enough to be
    sure (several heads, a merge, a computed value): the caller then asks Alembic."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in versions.glob("*.py"):
        if path.name == "__init__.py":
            continue
        found = {match[1]: match[2] for match in _ASSIGNMENT.finditer(path.read_text(encoding="utf-8"))}
        revision = _QUOTED.match(found.get("revision", ""))
        parent = found.get("down_revision", "")
        if revision is None:
            return None
        revisions.add(revision.group(2))
        if parent == "None":
            continue
        quoted = _QUOTED.match(parent)
        if quoted is None:
            return None  # a merge (a tuple) or something computed: leave it to Alembic
        parents.add(quoted.group(2))
    heads = revisions - parents
    return next(iter(heads)) if len(heads) == 1 and parents <= revisions else None


def stored_revision(connection: Connection, version_table: str) -> str | None:
    """The revision recorded in ``version_table`` (None: no table, or not exactly one row)."""
    if not inspect(connection).has_table(version_table):
        return None
    version_num: ColumnClause[str] = column("version_num")
    rows = list(connection.execute(select(version_num).select_from(table(version_table))).scalars())
    return str(rows[0]) if len(rows) == 1 else None


def at_head(connection: Connection, versions: Path, version_table: str) -> bool:
    """True when the schema is surely at the newest migration; False means "ask Alembic" (it may still be)."""
    head = head_revision(versions)
    return head is not None and stored_revision(connection, version_table) == head
