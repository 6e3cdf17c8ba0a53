"""The state database: migrations, the connection record, secrets sealed at rest, SQLite and PostgreSQL."""

from __future__ import annotations

import os
import secrets
import stat
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text

from woobridge.secrets import MASTER_KEY_ENV, MasterKeyError, Vault, open_vault
from woobridge.state import Connection, Locations, StateDB, full_metadata
from woobridge.state.connections import UnknownConnection, all_connections, find_connection, get_connection

POSTGRES_URL = os.environ.get("WOOBRIDGE_TEST_POSTGRES_URL")


def new_key_pair() -> tuple[str, str]:
    return "ck_" + secrets.token_hex(20), "cs_" + secrets.token_hex(20)


def make_connection(vault: Vault, name: str = "shop") -> tuple[Connection, str, str]:
    key, secret = new_key_pair()
    connection = Connection(
        name=name,
        store_url="https://shop.example.com",
        auth="basic",
        key_created_at=datetime(2025, 3, 1, tzinfo=UTC),
        flows=["orders", "fulfillment"],
        permission="read_write",
    )
    connection.store_key(vault, key, secret)
    return connection, key, secret


@pytest.fixture
def locations(tmp_path: Path) -> Locations:
    return Locations.from_environment({"WOOBRIDGE_HOME": str(tmp_path / "home")})


@pytest.fixture
def vault(locations: Locations) -> Vault:
    return open_vault(locations, {})


@pytest.fixture
def db(locations: Locations) -> Iterator[StateDB]:
    state = StateDB(locations.state_url)
    yield state
    state.close()


def test_first_use_creates_the_database_at_the_newest_schema(db: StateDB, locations: Locations) -> None:
    assert locations.state_url.endswith("home/state.sqlite")
    assert {"alembic_version", "connections"} <= set(inspect(db.engine).get_table_names())
    path = locations.home / "state.sqlite"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(locations.home.stat().st_mode) == 0o700


def test_the_migrations_build_exactly_the_models(db: StateDB) -> None:
    with db.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), full_metadata())
    assert differences == []


def test_opening_again_does_not_migrate_again(db: StateDB, locations: Locations) -> None:
    with db.session() as session:
        session.add(make_connection(open_vault(locations, {}))[0])
    again = StateDB(locations.state_url)
    with again.session() as session:
        assert [c.name for c in all_connections(session)] == ["shop"]
    again.close()


def test_a_connection_round_trips_with_its_key_sealed(db: StateDB, vault: Vault, locations: Locations) -> None:
    connection, key, secret = make_connection(vault)
    with db.session() as session:
        session.add(connection)
    with db.session() as session:
        stored = get_connection(session, "shop")
        assert stored.unseal_key(vault) == key
        assert stored.unseal_secret(vault) == secret
        assert stored.key_fingerprint == key[-7:]
        assert stored.key_created_at == datetime(2025, 3, 1, tzinfo=UTC)
        assert stored.flows == ["orders", "fulfillment"]
        assert secret not in repr(stored) and key not in repr(stored)
    db.close()
    raw = (locations.home / "state.sqlite").read_bytes()
    assert secret.encode() not in raw
    assert key.encode() not in raw
    assert key[-7:].encode() in raw  # the fingerprint stays readable for listing


def test_names_are_unique(db: StateDB, vault: Vault) -> None:
    with db.session() as session:
        session.add(make_connection(vault)[0])
    with pytest.raises(Exception, match="UNIQUE"), db.session() as session:
        session.add(make_connection(vault)[0])


def test_an_unknown_name_lists_the_known_ones(db: StateDB, vault: Vault) -> None:
    with db.session() as session:
        session.add(make_connection(vault, "eu-shop")[0])
    with db.session() as session:
        assert find_connection(session, "us-shop") is None
        with pytest.raises(UnknownConnection, match="known: eu-shop"):
            get_connection(session, "us-shop")


def test_the_master_key_file_is_created_private_and_reused(locations: Locations) -> None:
    first = open_vault(locations, {})
    key_file = locations.master_key_file
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    sealed = first.seal("cs_" + secrets.token_hex(20))
    assert open_vault(locations, {}).unseal(sealed).startswith("cs_")


def test_another_master_key_cannot_read_and_says_what_to_do(locations: Locations) -> None:
    from cryptography.fernet import Fernet

    sealed = open_vault(locations, {}).seal("cs_" + secrets.token_hex(20))
    other = open_vault(locations, {MASTER_KEY_ENV: Fernet.generate_key().decode()})
    with pytest.raises(MasterKeyError, match="another master key") as caught:
        other.unseal(sealed, "the consumer secret of connection 'shop'")
    assert "WOOBRIDGE_MASTER_KEY" in str(caught.value)


def test_the_master_key_can_be_rotated_through_the_environment(locations: Locations) -> None:
    from cryptography.fernet import Fernet

    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    sealed_with_old = open_vault(locations, {MASTER_KEY_ENV: old}).seal("value")
    both = open_vault(locations, {MASTER_KEY_ENV: f"{new},{old}"})
    assert both.unseal(sealed_with_old) == "value"
    assert open_vault(locations, {MASTER_KEY_ENV: new}).unseal(both.seal("value")) == "value"
    assert not locations.master_key_file.exists()  # the environment wins: no key file is written


def test_a_malformed_master_key_is_refused_with_how_to_make_one(locations: Locations) -> None:
    with pytest.raises(MasterKeyError, match=r"Fernet\.generate_key"):
        open_vault(locations, {MASTER_KEY_ENV: "hunter2"})


@pytest.mark.skipif(not POSTGRES_URL, reason="WOOBRIDGE_TEST_POSTGRES_URL is not set")
def test_migrations_and_a_connection_round_trip_on_postgresql(vault: Vault) -> None:
    assert POSTGRES_URL is not None
    schema = f"woobridge_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        db = StateDB(POSTGRES_URL, connect_args={"options": f"-csearch_path={schema}"})
        assert {"alembic_version", "connections"} <= set(inspect(db.engine).get_table_names())
        with db.engine.connect() as conn:
            assert compare_metadata(MigrationContext.configure(conn), full_metadata()) == []
        connection, key, secret = make_connection(vault)
        with db.session() as session:
            session.add(connection)
        with db.session() as session:
            stored = get_connection(session, "shop")
            assert (stored.unseal_key(vault), stored.unseal_secret(vault)) == (key, secret)
            assert stored.key_created_at == datetime(2025, 3, 1, tzinfo=UTC)
            raw = session.execute(text("SELECT consumer_secret_sealed FROM connections")).scalar_one()
            assert secret not in raw
        db.close()
        StateDB(POSTGRES_URL, connect_args={"options": f"-csearch_path={schema}"}).close()  # already at head
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def test_sqlite_stores_timestamps_as_sqlalchemys_datetime_wrote_them(db: StateDB) -> None:
    # UTCDateTime writes SQLite's text itself (isoformat, cheaper than the dialect's %-format): the same text, so
    # rows written before and after compare and sort alike.
    from sqlalchemy.dialects import sqlite

    from woobridge.state.models import UTCDateTime

    dialect = db.engine.dialect
    assert dialect.name == "sqlite"
    ours = UTCDateTime().dialect_impl(dialect).bind_processor(dialect)
    sqlalchemys = sqlite.DATETIME().bind_processor(dialect)
    assert ours is not None and sqlalchemys is not None
    for moment in (
        datetime(2026, 12, 7, 19, 15, 8, 973253, tzinfo=UTC),
        datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        datetime(999, 1, 1, tzinfo=UTC),
        datetime(2026, 3, 29, 2, 30, 0, 1, tzinfo=timezone(timedelta(hours=-7, minutes=-30))),
    ):
        naive = moment.astimezone(UTC).replace(tzinfo=None)
        assert ours(moment) == sqlalchemys(naive)
    assert ours(None) is None
    with pytest.raises(ValueError, match="naive"):
        ours(datetime(2026, 1, 2))
    # And it reads back as the same aware moment.
    reader = UTCDateTime().dialect_impl(dialect).result_processor(dialect, None)
    assert reader is not None
    assert reader(ours(datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC))) == datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC)
