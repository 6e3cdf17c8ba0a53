"""A real trytond for each test: the set-up SQLite database is built once (about 30 s, cached under
``.woobridge/tryton-templates`` keyed by the module versions), copied fresh for every test, and served by
``trytond -d woobridge`` on a free loopback port. Skipped, with the reason, when the ``tryton`` extra is missing."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from woobridge.erp.tryton import TrytonAdapter, TrytonSettings, devserver
from woobridge.sandbox.app import Sandbox
from woobridge.sandbox.testing import IN_PROCESS_HOME, Keys
from woobridge.state import Connection, StateDB
from woobridge.woo.auth import Credentials
from woobridge.woo.client import WooClient


@pytest.fixture(scope="session")
def tryton_template() -> Path:
    reason = devserver.missing_reason()
    if reason:
        pytest.skip(f"Tryton tests need trytond: {reason}")
    return devserver.ensure_template()


@pytest.fixture
def tryton_server(tryton_template: Path, tmp_path: Path) -> Iterator[devserver.TrytonServer]:
    with devserver.TrytonServer(tmp_path, tryton_template) as server:
        yield server


@pytest.fixture
def adapter(tryton_server: devserver.TrytonServer) -> Iterator[TrytonAdapter]:
    erp = TrytonAdapter(
        TrytonSettings(tryton_server.url, tryton_server.database, tryton_server.login, tryton_server.password)
    )
    yield erp
    erp.close()


FLOWS = ["orders", "fulfillment", "inventory", "refunds"]


@pytest.fixture
async def woo(sandbox: Sandbox, keys: Keys) -> AsyncIterator[WooClient]:
    credentials = Credentials(IN_PROCESS_HOME, keys.admin.consumer_key, keys.admin.consumer_secret)
    async with WooClient(credentials, transport=httpx.ASGITransport(app=sandbox.app)) as client:
        yield client


@pytest.fixture
def state(tmp_path: Path) -> Iterator[StateDB]:
    db = StateDB(f"sqlite:///{tmp_path / 'state.sqlite'}")
    with db.session() as session:
        session.add(
            Connection(
                name="shop",
                store_url=IN_PROCESS_HOME,
                auth="basic",
                key_created_at=datetime(2026, 1, 1, tzinfo=UTC),
                consumer_key_sealed="unused",
                consumer_secret_sealed="unused",
                key_fingerprint="0000000",
                flows=FLOWS,
            )
        )
    yield db
    db.close()


@pytest.fixture
def tryton_env(tryton_server: devserver.TrytonServer, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    env = {
        "WOOBRIDGE_ERP": "tryton",
        "WOOBRIDGE_TRYTON_URL": tryton_server.url,
        "WOOBRIDGE_TRYTON_DATABASE": tryton_server.database,
        "WOOBRIDGE_TRYTON_USER": tryton_server.login,
        "WOOBRIDGE_TRYTON_PASSWORD": tryton_server.password,
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env
