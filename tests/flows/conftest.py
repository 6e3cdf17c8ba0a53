"""The environment every flow test runs in: the sandbox over ASGI (every request recorded), a real state database
holding one connection, a real staging ERP database (SQLite files) and a WooClient. Each test file subclasses
`FlowEnv` with its own helpers and makes it with the `flow_env` factory fixture."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, TypeVar

import httpx
import pytest
from cryptography.fernet import Fernet

from woobridge.erp.staging import StagingErp
from woobridge.sandbox.app import Sandbox
from woobridge.sandbox.testing import IN_PROCESS_HOME, Keys
from woobridge.secrets import Vault
from woobridge.state import Connection, StateDB
from woobridge.woo import Credentials, WooClient
from woobridge.woo.client import RetryPolicy

NAME = "shop"

# Retries that take milliseconds, for tests that make the store fail on purpose.
FAST_RETRY = RetryPolicy(wait_initial=0.01, wait_max=0.05, wait_jitter=0.0)


class RecordingTransport(httpx.AsyncBaseTransport):
    """The sandbox over ASGI, remembering every request."""

    def __init__(self, sandbox: Sandbox, requests: list[httpx.Request]) -> None:
        self.inner = httpx.ASGITransport(app=sandbox.app)
        self.requests = requests

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return await self.inner.handle_async_request(request)


@dataclass
class FlowEnv:
    sandbox: Sandbox
    db: StateDB
    erp: StagingErp
    woo: WooClient
    requests: list[httpx.Request]

    @property
    def store(self) -> Any:
        return self.sandbox.store


E = TypeVar("E", bound=FlowEnv)


class FlowEnvFactory(Protocol):
    def __call__(
        self,
        env_type: type[E],
        *,
        flows: list[str],
        key: str = "admin",
        max_concurrency: int = 4,
        retry: RetryPolicy | None = None,
        transport_type: type[RecordingTransport] = RecordingTransport,
    ) -> Awaitable[E]: ...


@pytest.fixture
async def flow_env(sandbox: Sandbox, keys: Keys, tmp_path: Path) -> AsyncIterator[FlowEnvFactory]:
    """Makes the environment once per test: `await flow_env(Env, flows=["orders"], key="read")`. `key` names one of
    the sandbox's test keys; the client and both databases are closed after the test."""
    async with AsyncExitStack() as stack:

        async def make(
            env_type: type[E],
            *,
            flows: list[str],
            key: str = "admin",
            max_concurrency: int = 4,
            retry: RetryPolicy | None = None,
            transport_type: type[RecordingTransport] = RecordingTransport,
        ) -> E:
            issued = getattr(keys, key)
            db = StateDB(f"sqlite:///{tmp_path / 'state.sqlite'}")
            stack.callback(db.close)
            with db.session() as session:
                connection = Connection(
                    name=NAME, store_url=IN_PROCESS_HOME, key_created_at=datetime.now(UTC), flows=flows
                )
                connection.store_key(
                    Vault([Fernet.generate_key()], "test"), issued.consumer_key, issued.consumer_secret
                )
                session.add(connection)
            erp = StagingErp(f"sqlite:///{tmp_path / 'staging.sqlite'}")
            stack.callback(erp.close)
            requests: list[httpx.Request] = []
            credentials = Credentials(IN_PROCESS_HOME, issued.consumer_key, issued.consumer_secret)
            client = WooClient(
                credentials,
                transport=transport_type(sandbox, requests),
                retry=retry,
                max_concurrency=max_concurrency,
            )
            woo = await stack.enter_async_context(client)
            return env_type(sandbox, db, erp, woo, requests)

        yield make
