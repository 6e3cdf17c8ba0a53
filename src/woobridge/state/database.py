"""The state database: an engine, a session factory, and migrations to head on first use.

SQLite file by default, PostgreSQL (or anything SQLAlchemy speaks) by URL. Nothing is global: a ``StateDB`` is
made for a URL and passed to whoever needs sessions, so workers, tests and several stores can each have their own.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, String, column, create_engine, event, inspect, make_url, select, table, text
from sqlalchemy.orm import Session, sessionmaker

from woobridge.state.locations import ensure_private_dir

if TYPE_CHECKING:
    from alembic.config import Config

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).with_name("migrations")
HEAD = "0004_sku_index"
"""The newest migration in ``migrations/versions``: a new migration changes it too (tests/state checks that it is
Alembic's head). A database at this revision is up to date, known without importing Alembic."""
VERSION_TABLE = "alembic_version"
_MIGRATION_LOCK = 0x776F6F62  # "woob": the advisory lock that serialises migrations on PostgreSQL


class StateDB:
    """One state database. ``session()`` opens a transaction that commits on success and rolls back on error."""

    def __init__(self, url: str, *, upgrade: bool = True, **engine_options: Any) -> None:
        parsed = make_url(url)
        self.url = parsed
        if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
            path = Path(parsed.database)
            ensure_private_dir(path.parent)
            # The file holds only sealed secrets, but nobody else needs to read it.
            path.touch(mode=0o600, exist_ok=True)
        self.engine: Engine = create_engine(parsed, **engine_options)
        if parsed.get_backend_name() == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        if upgrade:
            self.upgrade()

    def __repr__(self) -> str:
        return f"StateDB({self.url.render_as_string(hide_password=True)!r})"

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A unit of work: commits when the block ends normally, rolls back when it raises."""
        with self._sessions.begin() as session:
            yield session

    def upgrade(self) -> None:
        """Bring the schema to the newest migration; a no-op (two quick queries) when it is already there."""
        with self.engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                # Workers starting together: one migrates, the others wait here and then find the schema at head.
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK})
            if _stored_revision(connection) == HEAD:
                # The usual case. Alembic is imported only to migrate (or when the table says something else):
                # importing it costs a quarter of a second of every command's start-up.
                return
            from alembic import command
            from alembic.runtime.migration import MigrationContext
            from alembic.script import ScriptDirectory

            config = alembic_config()
            head = ScriptDirectory.from_config(config).get_current_head()
            current = MigrationContext.configure(connection).get_current_revision()
            if current == head:
                return
            log.info("upgrading state database from %s to %s", current or "empty", head)
            config.attributes["connection"] = connection
            command.upgrade(config, "head")

    def close(self) -> None:
        self.engine.dispose()


def alembic_config() -> Config:
    """Alembic's configuration for the migrations shipped inside the package (no alembic.ini needed)."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def _stored_revision(connection: Connection) -> str | None:
    """The revision Alembic's version table records (None: no table, or not exactly one row: Alembic then has
    the last word)."""
    if not inspect(connection).has_table(VERSION_TABLE):
        return None
    version_num = column("version_num", String)
    revisions = connection.execute(select(version_num).select_from(table(VERSION_TABLE))).scalars().all()
    return revisions[0] if len(revisions) == 1 else None


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    # Several processes (CLI, workers) may use the same file: wait for a lock instead of failing at once.
    cursor.execute("PRAGMA busy_timeout=5000")
    # WAL: readers (woobridge runs, the web page) never block the writer, and a commit is one append. With WAL,
    # synchronous=NORMAL survives a killed process (not a power cut's last commits — records the idempotent ERP
    # port would put again, never twice) and spares an fsync per commit, which flows make per record.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()
