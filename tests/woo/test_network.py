"""Diagnoses that need real sockets: TLS failures, refused connections, DNS, timeouts, cross-origin redirects,
and a healthy store over real HTTPS with a custom CA bundle."""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import trustme

from woobridge.sandbox.app import Sandbox
from woobridge.sandbox.server import ServedSandbox
from woobridge.sandbox.state import Settings, Store
from woobridge.sandbox.testing import Keys, issue_standard_keys
from woobridge.woo import Credentials, Validation, validate

KEY = "ck_" + "1" * 40
SECRET = "cs_" + "2" * 40


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServedSandbox, Keys]]:
    sandbox = Sandbox(Store(Settings()))
    keys = issue_standard_keys(sandbox.store)
    with ServedSandbox(sandbox, tls_dir=tmp_path_factory.mktemp("woo-tls")) as server:
        yield server, keys


@pytest.fixture
def live(served: tuple[ServedSandbox, Keys]) -> Iterator[tuple[ServedSandbox, Keys]]:
    server, _ = served
    server.sandbox.modes.canonical_origin = ""
    yield served
    server.sandbox.modes.canonical_origin = ""


def code_of(result: Validation) -> str | None:
    return result.diagnosis.code if result.diagnosis else None


async def test_healthy_store_over_real_https_with_a_ca_file(live: tuple[ServedSandbox, Keys]) -> None:
    server, keys = live
    credentials = Credentials(
        server.base_url, keys.admin.consumer_key, keys.admin.consumer_secret, ca_file=str(server.ca_file)
    )
    result = await validate(credentials)
    assert result.ok, result.to_dict()
    assert result.requests <= 3 and result.elapsed < 2


async def test_redirect_between_loopback_names_names_the_url_to_use(live: tuple[ServedSandbox, Keys]) -> None:
    server, keys = live
    other = server.base_url.replace("127.0.0.1", "localhost")
    server.sandbox.modes.canonical_origin = other
    credentials = Credentials(
        server.base_url, keys.admin.consumer_key, keys.admin.consumer_secret, ca_file=str(server.ca_file)
    )
    result = await validate(credentials)
    assert code_of(result) == "WB210"
    assert result.diagnosis is not None and result.diagnosis.use_url == other
    assert result.requests == 1


# -- a bare TLS listener presenting whatever certificate a test needs ----------------------------------------


class TLSListener:
    def __init__(self, context: ssl.SSLContext | None, *, answer: bool = True) -> None:
        self.context = context
        self.answer = answer
        self.server: asyncio.Server | None = None
        self.port = 0

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readuntil(b"\r\n\r\n")
            if not self.answer:
                await asyncio.sleep(30)
            body = b'{"namespaces":["wc/v3"]}'
            writer.write(
                b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: "
                + str(len(body)).encode()
                + b"\r\n\r\n"
                + body
            )
            await writer.drain()
        except (OSError, asyncio.IncompleteReadError, ssl.SSLError):
            pass
        finally:
            writer.close()

    async def __aenter__(self) -> TLSListener:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0, ssl=self.context)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()


def server_context(cert: Any) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(context)
    return context


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture(scope="module")
def ca_file(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("woo-ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


async def validate_against(listener: TLSListener, host: str = "127.0.0.1", ca_file: str | None = None) -> Validation:
    async with listener:
        return await validate(Credentials(f"https://{host}:{listener.port}", KEY, SECRET, ca_file=ca_file), timeout=2)


async def test_self_signed_certificate(tmp_path: Path) -> None:
    own = trustme.CA()  # a certificate that signs itself, served as the leaf
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    (tmp_path / "self.pem").write_bytes(own.private_key_pem.bytes() + own.cert_pem.bytes())
    context.load_cert_chain(str(tmp_path / "self.pem"))
    result = await validate_against(TLSListener(context))
    assert code_of(result) == "WB204"
    assert result.diagnosis is not None and "self-signed" in result.diagnosis.cause


async def test_expired_certificate(ca: trustme.CA, ca_file: str) -> None:
    cert = ca.issue_cert(
        "127.0.0.1",
        not_before=datetime.now(UTC) - timedelta(days=400),
        not_after=datetime.now(UTC) - timedelta(days=1),
    )
    result = await validate_against(TLSListener(server_context(cert)), ca_file=ca_file)
    assert code_of(result) == "WB205"
    assert result.diagnosis is not None and "expired" in result.diagnosis.cause


async def test_certificate_for_another_host(ca: trustme.CA, ca_file: str) -> None:
    cert = ca.issue_cert("shop.example.com")
    result = await validate_against(TLSListener(server_context(cert)), host="localhost", ca_file=ca_file)
    assert code_of(result) == "WB206"
    assert result.diagnosis is not None and "different host name" in result.diagnosis.cause


async def test_certificate_from_an_unknown_authority(ca: trustme.CA) -> None:
    stranger = trustme.CA().issue_cert("127.0.0.1")
    result = await validate_against(TLSListener(server_context(stranger)), ca_file=None)
    assert code_of(result) == "WB207"  # a private CA's leaf: "unable to get local issuer certificate"


async def test_timeout(ca: trustme.CA, ca_file: str) -> None:
    cert = ca.issue_cert("127.0.0.1")
    listener = TLSListener(server_context(cert), answer=False)
    async with listener:
        result = await validate(
            Credentials(f"https://127.0.0.1:{listener.port}", KEY, SECRET, ca_file=ca_file), timeout=0.5
        )
    assert code_of(result) == "WB203"
    assert result.elapsed < 2


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_connection_refused(closed_port: int) -> None:
    result = await validate(Credentials(f"https://127.0.0.1:{closed_port}", KEY, SECRET), timeout=2)
    assert code_of(result) == "WB202"
    text = str(result.diagnosis)
    assert "Connection refused" in text and "HTTP" in text


async def test_dns_failure() -> None:
    result = await validate(Credentials("https://shop.invalid", KEY, SECRET), timeout=5)
    assert code_of(result) == "WB201"
    assert "shop.invalid" in str(result.diagnosis)


async def test_https_to_a_port_that_only_speaks_plain_http() -> None:
    plain = ServedSandbox(Sandbox(Store(Settings())), http=True)
    with plain:
        https_url = plain.base_url.replace("http://", "https://")
        result = await validate(Credentials(https_url, KEY, SECRET), timeout=2)
    assert code_of(result) == "WB208"
    assert result.diagnosis is not None and "plain HTTP" in result.diagnosis.cause
