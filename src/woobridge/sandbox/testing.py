"""pytest fixtures for talking to a sandbox store (loaded as a plugin by tests/conftest.py).

``sandbox`` is an in-process store with one key per role and permission; ``asgi_client`` talks to it through
``httpx.ASGITransport`` (fast, no socket)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest

from woobridge.sandbox.app import Sandbox
from woobridge.sandbox.state import IssuedKey, Settings, Store

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
