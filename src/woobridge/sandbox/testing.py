"""pytest fixtures for talking to a sandbox store (loaded as a plugin by tests/conftest.py).

``sandbox`` is an in-process store with one key per role and permission; ``asgi_client`` talks to it through
``httpx.ASGITransport`` (fast, no socket). ``live_sandbox`` / ``live`` serve a seeded store over real HTTPS on
loopback; ``admin(live, method, path, json)`` calls its admin endpoint."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from woobridge.sandbox.app import ADMIN_PREFIX, Sandbox
from woobridge.sandbox.seed import SeedSummary, seed
from woobridge.sandbox.server import ServedSandbox
from woobridge.sandbox.state import IssuedKey, Settings, Store
from woobridge.sandbox.switches import Modes

IN_PROCESS_HOME = "https://shop.test"


@dataclass
class Keys:
    """One key per permission for an administrator, plus a shop manager's, a customer's and a subscriber's."""

    admin: IssuedKey
    read: IssuedKey
    write: IssuedKey
    manager: IssuedKey
    customer: IssuedKey
    subscriber: IssuedKey


def issue_standard_keys(store: Store) -> Keys:
    admin = store.add_user("administrator", "admin")
    manager = store.add_user("shop_manager", "manager")
    customer = store.add_user("customer", "buyer")
    subscriber = store.add_user("subscriber", "reader")
    return Keys(
        admin=store.issue_key(admin, "read_write"),
        read=store.issue_key(admin, "read"),
        write=store.issue_key(admin, "write"),
        manager=store.issue_key(manager, "read_write"),
        customer=store.issue_key(customer, "read_write"),
        subscriber=store.issue_key(subscriber, "read_write"),
    )


@pytest.fixture
def sandbox() -> Sandbox:
    return Sandbox(Store(Settings(home_url=IN_PROCESS_HOME)))


@pytest.fixture
def keys(sandbox: Sandbox) -> Keys:
    return issue_standard_keys(sandbox.store)


@pytest.fixture
async def asgi_client(sandbox: Sandbox) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=sandbox.app)
    async with httpx.AsyncClient(transport=transport, base_url=IN_PROCESS_HOME) as client:
        yield client


# -- a sandbox served over real HTTPS on loopback ---------------------------------------------------------------

LIVE_SEED = {"products": 12, "orders": 25, "customers": 6, "seed": 7}


@dataclass
class LiveSandbox:
    """A seeded sandbox served over HTTPS on 127.0.0.1 (a free port), with one key per role and permission."""

    served: ServedSandbox
    keys: Keys
    seeded: SeedSummary

    @property
    def sandbox(self) -> Sandbox:
        return self.served.sandbox

    @property
    def store(self) -> Store:
        return self.served.sandbox.store

    @property
    def base_url(self) -> str:
        return self.served.base_url

    @property
    def ca_file(self) -> str:
        assert self.served.ca_file is not None
        return str(self.served.ca_file)

    @property
    def admin_token(self) -> str:
        return self.served.admin_token

    def client(self, key: IssuedKey | None = None, **options: Any) -> httpx.Client:
        """A client that trusts the sandbox's CA, authenticating with ``key`` (Basic over HTTPS) if given."""
        auth = (key.consumer_key, key.consumer_secret) if key else None
        return httpx.Client(base_url=self.base_url, verify=self.served.verify, auth=auth, timeout=10, **options)

    def reset_switches(self) -> None:
        """Back to a well-configured store: default modes, no faults."""
        self.sandbox.modes.update(Modes().as_dict())
        self.sandbox.faults.clear()


def admin(live: LiveSandbox, method: str, path: str, json: Any = None) -> httpx.Response:
    """Call the sandbox's admin endpoint (``/__sandbox__…``) with its token: ``admin(live, "PUT", "/modes", {})``.

    In-process tests can also flip ``live.sandbox.modes`` directly."""
    with httpx.Client(verify=live.served.verify, timeout=10) as client:
        return client.request(
            method,
            live.base_url + ADMIN_PREFIX + path,
            headers={"X-Sandbox-Token": live.admin_token},
            json=json,
        )


@pytest.fixture(scope="module")
def live_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveSandbox]:
    """One seeded sandbox per test module, over real HTTPS; use ``live`` in tests to get switches reset."""
    sandbox = Sandbox(Store(Settings()))
    keys = issue_standard_keys(sandbox.store)
    served = ServedSandbox(sandbox, tls_dir=tmp_path_factory.mktemp("sandbox-tls"))
    with served:
        seeded = seed(sandbox.store, **LIVE_SEED)
        yield LiveSandbox(served, keys, seeded)


@pytest.fixture
def live(live_sandbox: LiveSandbox) -> Iterator[LiveSandbox]:
    """``live_sandbox`` with modes and faults put back to normal after the test."""
    live_sandbox.reset_switches()
    yield live_sandbox
    live_sandbox.reset_switches()
