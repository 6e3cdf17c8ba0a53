"""The ``serve`` app in-process (Starlette's TestClient) with a private home, validating against the in-process
sandbox; helpers to sign in and to read CSRF tokens out of pages."""

from __future__ import annotations

import re
import threading
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # Starlette suggests httpx2; httpx is what the project uses
    from starlette.testclient import TestClient

from woobridge.commands.services import Services
from woobridge.sandbox.app import Sandbox
from woobridge.sandbox.state import IssuedKey
from woobridge.service.app import ServeConfig, create_app
from woobridge.service.auth import set_password
from woobridge.state import Locations
from woobridge.woo import Credentials, Validation, validate

PASSWORD = "correct horse battery staple"
STORE = "https://shop.test"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def home_environ(home: Path) -> dict[str, str]:
    return {"WOOBRIDGE_HOME": str(home), "WOOBRIDGE_STAGING_URL": f"sqlite:///{home / 'staging.sqlite'}"}


def in_process_services(sandbox: Sandbox, home: Path) -> Services:
    """Services whose validator talks to the in-process sandbox (what ``woobridge connect`` does, minus sockets)."""
    transport = httpx.ASGITransport(app=sandbox.app)

    async def in_process(credentials: Credentials, need_write: bool) -> Validation:
        return await validate(credentials, need_write=need_write, transport=transport)

    environ = home_environ(home)
    return Services(Locations.from_environment(environ), environ, in_process)


def give_password(services: Services, password: str = PASSWORD) -> None:
    with services.state().session() as session:
        set_password(session, password, datetime.now(UTC))


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found, "no CSRF token in the page"
    return found.group(1)


@dataclass
class Web:
    """A browser-like client of the app: ``web.sign_in()``, ``web.post_form(path, data)`` (adds the CSRF token)."""

    client: TestClient
    services: Services
    sandbox: Sandbox

    def sign_in(self, password: str = PASSWORD) -> httpx.Response:
        page = self.client.get("/login")
        return self.client.post(
            "/login", data={"csrf": csrf_of(page.text), "password": password, "next": "/"}, follow_redirects=False
        )

    def csrf(self, path: str = "/connections") -> str:
        return csrf_of(self.client.get(path).text)

    def post_form(self, path: str, data: dict[str, Any], csrf_from: str = "/connections", **kw: Any) -> httpx.Response:
        return self.client.post(path, data={"csrf": self.csrf(csrf_from), **data}, **kw)

    def connect(
        self, key: IssuedKey, name: str = "shop", follow_redirects: bool = False, **extra: Any
    ) -> httpx.Response:
        return self.post_form(
            "/connections",
            {
                "name": name,
                "store_url": STORE,
                "consumer_key": key.consumer_key,
                "consumer_secret": key.consumer_secret,
                **extra,
            },
            follow_redirects=follow_redirects,
        )


@pytest.fixture
def services(sandbox: Sandbox, tmp_path: Path) -> Iterator[Services]:
    services = in_process_services(sandbox, tmp_path / "home")
    give_password(services)
    yield services
    services.close()


@pytest.fixture
def web(services: Services, sandbox: Sandbox) -> Iterator[Web]:
    app = create_app(services, ServeConfig(scheduler=False, transport=httpx.ASGITransport(app=sandbox.app)))
    with TestClient(app, base_url="http://127.0.0.1:8765") as client:
        yield Web(client, services, sandbox)


@pytest.fixture
def signed_in(web: Web) -> Web:
    response = web.sign_in()
    assert response.status_code == 303, response.text
    return web


# -- the app served on a real loopback port (webhook deliveries and the browser need a socket) ----------------------


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class ServedApp:
    """``create_app(...)`` under uvicorn on 127.0.0.1 (a free port), in a thread: ``with ServedApp(app) as served``."""

    def __init__(self, app: Any, port: int | None = None) -> None:
        import uvicorn

        self.port = port or free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        self.thread: threading.Thread | None = None

    def __enter__(self) -> ServedApp:
        self.thread = threading.Thread(target=self.server.run, name="woobridge serve (test)", daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("woobridge serve did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        if self.thread is not None:
            self.thread.join(timeout=15)


def wait_for(condition: Any, timeout: float = 20.0, interval: float = 0.1, what: str = "condition") -> Any:
    """Poll ``condition()`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(interval)


def live_services(home: Path) -> Services:
    """Services for the real network (the live sandbox over HTTPS): the real validator."""
    environ = home_environ(home)
    return Services(Locations.from_environment(environ), environ)
