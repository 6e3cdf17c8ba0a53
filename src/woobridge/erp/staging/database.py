"""The staging database: one engine per adapter, short transactions, migrations, and errors in the port's terms.

SQLite (a file, WAL so the ERP side can read while woobridge writes) or PostgreSQL (or anything SQLAlchemy
speaks), named by a URL. The staging tables keep their own Alembic version table, so they can share a database
with woobridge's state or sit in the ERP's own database.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    URL,
    Connection,
    Engine,
    String,
    column,
    create_engine,
    event,
    exc,
    inspect,
    make_url,
    select,
    table,
    text,
)

from woobridge.erp.port import ErpRecordError, ErpUnavailable
from woobridge.erp.staging.models import VERSION_TABLE

if TYPE_CHECKING:
    from alembic.config import Config

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).with_name("migrations")
HEAD = "0001_staging_tables"
"""The newest migration in ``migrations/versions``: a new migration changes it too (tests/state checks that it is
Alembic's head). Staging tables at this revision are up to date, known without importing Alembic."""
_MIGRATION_LOCK = 0x776F6F73  # "woos": serialises first-use migrations of workers sharing a PostgreSQL database
_READ_ONLY = "woobridge_read_only"


def open_engine(url: str | URL, **engine_options: Any) -> Engine:
    """An engine for the staging database at ``url``; a SQLite file's directory is created when missing."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(parsed, **engine_options)
    if parsed.get_backend_name() == "sqlite":
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
    return engine


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy say when a transaction begins (see _sqlite_begin) instead of the sqlite3 module guessing.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    # Workers, the CLI and the ERP side share the file: wait for a lock rather than fail at once.
    cursor.execute("PRAGMA busy_timeout=10000")
    if cursor.execute("PRAGMA journal_mode").fetchone()[0] != "memory":
        # Readers (the ERP side) never block the writer and the writer never blocks them.
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _sqlite_begin(connection: Connection) -> None:
    # A writer takes the write lock up front: a read-then-write transaction that upgraded its lock later could
    # fail at once with "database is locked" instead of waiting for busy_timeout.
    read_only = connection.get_execution_options().get(_READ_ONLY, False)
    connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


@contextmanager
def transaction(engine: Engine, *, read_only: bool = False) -> Iterator[Connection]:
    """One short unit of work: commits when the block ends, rolls back when it raises. Database failures come
    out as the port's errors (see ``translate_errors``)."""
    with translate_errors(engine), engine.connect() as connection:
        if read_only:
            connection = connection.execution_options(**{_READ_ONLY: True})
        with connection.begin():
            yield connection


@contextmanager
def translate_errors(engine: Engine) -> Iterator[None]:
    """Turn database failures into ``ErpUnavailable`` (stop the run) or ``ErpRecordError`` (refuse this record).

    ``IntegrityError`` passes through: the adapter handles a lost insert race itself.
    """
    where = engine.url.render_as_string(hide_password=True)
    try:
        yield
    except exc.IntegrityError:
        raise
    except exc.DataError as error:
        raise ErpRecordError(f"the staging database refused a value: {_reason(error)}") from error
    except (exc.DBAPIError, exc.TimeoutError, exc.NoSuchTableError) as error:
        raise ErpUnavailable(
            f"the staging database {where} cannot be used: {_reason(error)}. Check that it is running, reachable "
            "and at the staging schema; the run stops here and starts again from the same point next time."
        ) from error


def _reason(error: BaseException) -> str:
    original = getattr(error, "orig", None) or error
    return " ".join(str(original).split()) or type(original).__name__


def alembic_config() -> Config:
    """Alembic's configuration for the staging migrations shipped in the package (no alembic.ini needed)."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def upgrade(engine: Engine) -> None:
    """Bring the staging tables to the newest migration; two quick queries when they are already there."""
    with transaction(engine) as connection:
        if connection.dialect.name == "postgresql":
            # Workers starting together: one migrates, the others wait here and then find the schema at head.
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK})
        if _stored_revision(connection) == HEAD:
            # The usual case. Alembic is imported only to migrate (or when the table says something else):
            # importing it costs a quarter of a second of every sync's start-up.
            return
        from alembic import command
        from alembic.runtime.migration import MigrationContext
        from alembic.script import ScriptDirectory

        config = alembic_config()
        head = ScriptDirectory.from_config(config).get_current_head()
        context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
        current = context.get_current_revision()
        if current == head:
            return
        log.info("upgrading the staging tables from %s to %s", current or "nothing", head)
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def current_revision(engine: Engine) -> str | None:
    """The staging schema's migration in this database (None: no staging tables yet)."""
    from alembic.runtime.migration import MigrationContext

    with transaction(engine, read_only=True) as connection:
        return MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE}).get_current_revision()


def _stored_revision(connection: Connection) -> str | None:
    """The revision the staging version table records (None: no table, or not exactly one row: Alembic then
    has the last word)."""
    if not inspect(connection).has_table(VERSION_TABLE):
        return None
    version_num = column("version_num", String)
    revisions = connection.execute(select(version_num).select_from(table(VERSION_TABLE))).scalars().all()
    return revisions[0] if len(revisions) == 1 else None
