"""Alembic environment of the staging tables: their own version table, so they can share a database with
woobridge's state or live in the ERP's database beside its own tables."""

from __future__ import annotations

from typing import Any

from alembic import context
from sqlalchemy import create_engine

from woobridge.erp.staging.models import VERSION_TABLE, metadata

config = context.config


def _ours(name: str | None, type_: str, parent_names: Any) -> bool:
    """Autogenerate looks at the staging tables only: the database may hold anyone else's tables too."""
    return type_ != "table" or name in metadata.tables


def _configure(connection: Any) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        version_table=VERSION_TABLE,
        include_name=_ours,
        render_as_batch=True,
    )


def run_migrations() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        with context.begin_transaction():
            context.run_migrations()
        return
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no database: set sqlalchemy.url or run through StagingErp(url).upgrade()")
    engine = create_engine(url)
    with engine.connect() as own_connection:
        _configure(own_connection)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run_migrations()
