"""A state database with one connection, on SQLite and (when ``WOOBRIDGE_TEST_POSTGRES_URL`` is set) PostgreSQL.

Each PostgreSQL test gets its own schema, so tests never see each other's rows; subprocesses are told the same
URL and schema through :class:`DbSpec`.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from woobridge.state import Connection, StateDB

POSTGRES_URL = os.environ.get("WOOBRIDGE_TEST_POSTGRES_URL")


@dataclass(frozen=True)
class DbSpec:
    """How to open the test's database, also from another process (``DbSpec.from_json(...).open()``)."""

    url: str
    schema: str | None = None

    def open(self, **options: Any) -> StateDB:
        if self.schema is not None:
            options.setdefault("connect_args", {"options": f"-csearch_path={self.schema}"})
        return StateDB(self.url, **options)

    def to_json(self) -> str:
        return json.dumps({"url": self.url, "schema": self.schema})

    @classmethod
    def from_json(cls, text_: str) -> DbSpec:
        data = json.loads(text_)
        return cls(data["url"], data["schema"])


@pytest.fixture(params=["sqlite", "postgresql"])
def db_spec(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[DbSpec]:
    if request.param == "sqlite":
        yield DbSpec(f"sqlite:///{tmp_path / 'state.sqlite'}")
        return
    if not POSTGRES_URL:
        pytest.skip("WOOBRIDGE_TEST_POSTGRES_URL is not set")
    schema = f"woobridge_engine_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield DbSpec(POSTGRES_URL, schema)
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def db(db_spec: DbSpec) -> Iterator[StateDB]:
    state = db_spec.open()
    yield state
    state.close()


def add_connection(db: StateDB, name: str = "shop") -> Connection:
    """A stored connection (the sealed values are placeholders: the engine never unseals them)."""
    connection = Connection(
        name=name,
        store_url=f"https://{name}.example.com",
        auth="basic",
        key_created_at=datetime(2025, 3, 1, tzinfo=UTC),
        consumer_key_sealed="sealed-key",
        consumer_secret_sealed="sealed-secret",
        key_fingerprint="abcdef1",
        flows=["orders"],
    )
    with db.session() as session:
        session.add(connection)
    return connection


@pytest.fixture
def connection(db: StateDB) -> Connection:
    return add_connection(db)
