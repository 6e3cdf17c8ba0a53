"""Serve a sandbox store over real sockets: HTTPS on loopback with a local CA, or plain HTTP on request.

Three ways in:

- ``ServedSandbox`` runs uvicorn in a background thread (with its own event loop) next to the webhook
  deliverer. Tests, the demo and the bench use it: ``with ServedSandbox(sandbox) as served: ...``.
- ``SandboxProcess`` runs the same thing in a child process (``python -m woobridge.sandbox.server``) so a
  test can kill it hard and start it again on the same state file.
- ``woobridge sandbox`` (command.py) for people.

The certificate comes from a private CA made with trustme on first start and kept in a directory (default
``.woobridge/sandbox-tls/``): ``ca.pem`` is what clients trust (``--ca-file``); the keys are readable only by
their owner. The server certificate names every origin the sandbox can be reached at, including the other
loopback name, so that a canonical-host redirect (``127.0.0.1`` ↔ ``localhost``) lands on a valid certificate.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import inspect
import ipaddress
import json
import os
import secrets
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any

import uvicorn
from cryptography import x509

from woobridge.sandbox.app import Sandbox
from woobridge.sandbox.state import Settings, Store

DEFAULT_TLS_DIR = Path(".woobridge") / "sandbox-tls"
LOOPBACK = "127.0.0.1"
# Every name a client may use for the sandbox. www.localhost lets a "www ↔ bare host" canonical rule be tried.
CERT_NAMES = ("127.0.0.1", "localhost", "::1", "www.localhost")
# Re-issue the server certificate when it has less than this left (trustme issues ~10-year certs).
_MIN_VALIDITY = timedelta(days=7)
ADMIN_TOKEN_ENV = "WOOBRIDGE_SANDBOX_ADMIN_TOKEN"  # noqa: S105 - the name of a variable, not a secret


# -- TLS material ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TlsFiles:
    """The files of the sandbox's local CA: clients trust ``ca_file``; the server uses the other two."""

    directory: Path
    ca_file: Path
    ca_key_file: Path
    cert_file: Path
    key_file: Path


def tls_files(directory: Path) -> TlsFiles:
    return TlsFiles(
        directory=directory,
        ca_file=directory / "ca.pem",
        ca_key_file=directory / "ca-key.pem",
        cert_file=directory / "server.pem",
        key_file=directory / "server-key.pem",
    )


def ensure_tls(directory: Path = DEFAULT_TLS_DIR) -> TlsFiles:
    """Make (first start) or reuse the local CA and the loopback server certificate in ``directory``.

    The CA is kept across restarts so that clients configured with ``ca.pem`` keep working; the server
    certificate is re-issued from it when it is missing, about to expire, or lacks one of ``CERT_NAMES``.
    """
    import trustme

    files = tls_files(directory)
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    if files.ca_file.exists() and files.ca_key_file.exists():
        ca = trustme.CA.from_pem(files.ca_file.read_bytes(), files.ca_key_file.read_bytes())
    else:
        ca = trustme.CA(organization_name="woobridge sandbox")
        _write_private(files.ca_key_file, ca.private_key_pem.bytes())
        files.ca_file.write_bytes(ca.cert_pem.bytes())
    if not _server_cert_usable(files):
        leaf = ca.issue_cert(*CERT_NAMES, organization_name="woobridge sandbox")
        _write_private(files.key_file, leaf.private_key_pem.bytes())
        files.cert_file.write_bytes(b"".join(blob.bytes() for blob in leaf.cert_chain_pems))
    return files


def trusting(ca_file: Path | str) -> ssl.SSLContext:
    """A client TLS context that trusts the sandbox's CA (and verifies host names as usual)."""
    return ssl.create_default_context(cafile=str(ca_file))


def _write_private(path: Path, data: bytes) -> None:
    """Write a private key so that only its owner can ever read it (no window with wider permissions)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.chmod(path, 0o600)


def _server_cert_usable(files: TlsFiles) -> bool:
    if not (files.cert_file.exists() and files.key_file.exists()):
        return False
    try:
        cert = x509.load_pem_x509_certificate(files.cert_file.read_bytes())
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (ValueError, x509.ExtensionNotFound):
        return False
    present = {str(n) for n in names.get_values_for_type(x509.DNSName)}
    present |= {str(ip) for ip in names.get_values_for_type(x509.IPAddress)}
    wanted = {str(ipaddress.ip_address(n)) if _is_ip(n) else n for n in CERT_NAMES}
    return wanted <= present and cert.not_valid_after_utc - datetime.now(UTC) > _MIN_VALIDITY


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


# -- serving in a thread ---------------------------------------------------------------------------------------


def origin(scheme: str, host: str, port: int) -> str:
    """``https://127.0.0.1:8443``; the port is left out when it is the scheme's default, as WordPress does."""
    shown = f"[{host}]" if ":" in host else host
    default = {"https": 443, "http": 80}[scheme]
    return f"{scheme}://{shown}" + ("" if port == default else f":{port}")


class ServedSandbox:
    """A sandbox listening on loopback, served by uvicorn in a background thread with its own event loop.

    ``port=0`` picks a free port. The store's home URL is set to the origin it is served at, so every link
    the REST API returns points back here. The webhook deliverer runs on the same loop when it is available.
    """

    def __init__(
        self,
        sandbox: Sandbox | None = None,
        *,
        host: str = LOOPBACK,
        port: int = 0,
        http: bool = False,
        tls_dir: Path | None = None,
        deliver_interval: float = 0.5,
        log_level: str = "warning",
    ) -> None:
        self.sandbox = sandbox or Sandbox(Store(Settings()))
        self.host = host
        self.requested_port = port
        self.http = http
        self.tls = None if http else ensure_tls(tls_dir or DEFAULT_TLS_DIR)
        self.deliver_interval = deliver_interval
        self.log_level = log_level
        self.port = 0
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    # -- what clients need ----

    @property
    def scheme(self) -> str:
        return "http" if self.http else "https"

    @property
    def base_url(self) -> str:
        return origin(self.scheme, self.host, self.port)

    @property
    def ca_file(self) -> Path | None:
        """The CA certificate clients must trust (None for a plain-HTTP sandbox)."""
        return self.tls.ca_file if self.tls else None

    @property
    def verify(self) -> ssl.SSLContext | bool:
        """What to pass as httpx's ``verify=``: a context trusting the sandbox CA (True for plain HTTP)."""
        return trusting(self.ca_file) if self.ca_file else True

    @property
    def admin_token(self) -> str:
        return self.sandbox.admin_token

    @property
    def store(self) -> Store:
        return self.sandbox.store

    # -- lifecycle ----

    def start(self, timeout: float = 15.0) -> ServedSandbox:
        sockets = self._bind()
        store = self.sandbox.store
        with store.lock:
            store.settings.home_url = self.base_url
            store.save_settings()
        config = uvicorn.Config(
            self.sandbox.app,
            log_level=self.log_level,
            access_log=False,
            lifespan="off",
            server_header=False,
            date_header=False,  # the app sends Date on the store's clock
            ssl_certfile=str(self.tls.cert_file) if self.tls else None,
            ssl_keyfile=str(self.tls.key_file) if self.tls else None,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._run, args=(sockets,), name="woobridge-sandbox", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if self._error is not None or not self._thread.is_alive():
                raise RuntimeError(f"the sandbox server did not start on {self.base_url}: {self._error!r}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"the sandbox server did not start on {self.base_url} within {timeout:.0f} s")
            time.sleep(0.01)
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Stop serving (in-flight requests finish first) and the webhook deliverer; idempotent."""
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def __enter__(self) -> ServedSandbox:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _bind(self) -> list[socket.socket]:
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        main = _listen(family, self.host, self.requested_port)
        self.port = main.getsockname()[1]
        sockets = [main]
        if self.host == LOOPBACK:
            # "localhost" may resolve to ::1 first; answer there too when the same port is free.
            with contextlib.suppress(OSError):
                sockets.append(_listen(socket.AF_INET6, "::1", self.port))
        return sockets

    def _run(self, sockets: list[socket.socket]) -> None:
        try:
            asyncio.run(self._main(sockets))
        except BaseException as error:  # reported to start(); a server thread must not die silently
            self._error = error
        finally:
            for sock in sockets:
                sock.close()

    async def _main(self, sockets: list[socket.socket]) -> None:
        assert self._server is not None
        delivering = self._start_deliverer()
        try:
            await self._server.serve(sockets=sockets)
        finally:
            if delivering is not None:
                delivering.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await delivering

    def _start_deliverer(self) -> asyncio.Task[Any] | None:
        run_forever = getattr(self.sandbox.deliverer, "run_forever", None)
        if run_forever is None:
            return None
        if inspect.iscoroutinefunction(run_forever):
            return asyncio.create_task(run_forever(self.deliver_interval))
        return asyncio.create_task(asyncio.to_thread(run_forever, self.deliver_interval))


def _listen(family: socket.AddressFamily, host: str, port: int) -> socket.socket:
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind((host, port))
        sock.listen(128)
        sock.set_inheritable(True)
    except OSError:
        sock.close()
        raise
    return sock


def serve_until_signalled(served: ServedSandbox) -> None:
    """Block until SIGINT or SIGTERM, then stop cleanly (the main thread of a CLI or a child process)."""
    done = threading.Event()

    def _stop(signum: int, frame: object) -> None:
        del signum, frame
        done.set()

    previous = {sig: signal.signal(sig, _stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        while not done.wait(0.5):
            if served._thread is None or not served._thread.is_alive():
                raise RuntimeError(f"the sandbox server stopped unexpectedly: {served._error!r}")
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        served.stop()


# -- serving in a child process (crash tests) ------------------------------------------------------------------


class SandboxProcess:
    """A sandbox in a child process, on a state file, so a test can kill it and start it again.

    The store is whatever the state file holds: prepare it (users, keys, seed data) with ``Store(path=...)``
    first. The child writes a small ready file (mode 0600) with its URL and admin token once it listens.
    """

    def __init__(
        self,
        state: Path,
        *,
        tls_dir: Path | None = None,
        http: bool = False,
        port: int = 0,
        admin_token: str | None = None,
    ) -> None:
        self.state = state
        self.tls_dir = tls_dir or DEFAULT_TLS_DIR
        self.http = http
        self.port = port
        self.admin_token = admin_token or secrets.token_urlsafe(24)
        self.base_url = ""
        self.ca_file: Path | None = None
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30.0) -> SandboxProcess:
        ready = self.state.with_name(self.state.name + ".ready")
        ready.unlink(missing_ok=True)
        command = [sys.executable, "-m", "woobridge.sandbox.server", "--state", str(self.state)]
        command += ["--tls-dir", str(self.tls_dir), "--port", str(self.port), "--ready-file", str(ready)]
        if self.http:
            command.append("--http")
        env = {**os.environ, ADMIN_TOKEN_ENV: self.admin_token}
        self.process = subprocess.Popen(command, env=env)  # noqa: S603 - our own interpreter and module
        deadline = time.monotonic() + timeout
        while not ready.exists():
            if self.process.poll() is not None:
                raise RuntimeError(f"the sandbox process exited with {self.process.returncode} before serving")
            if time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(f"the sandbox process did not serve within {timeout:.0f} s")
            time.sleep(0.05)
        info = json.loads(ready.read_text())
        self.base_url = info["base_url"]
        self.port = info["port"]  # a restart reuses the port, so the home URL stays the same
        self.ca_file = Path(info["ca_file"]) if info["ca_file"] else None
        return self

    def kill(self) -> None:
        """SIGKILL: no clean shutdown, as a crash or an OOM kill."""
        if self.process is not None:
            self.process.kill()
            self.process.wait()

    def stop(self, timeout: float = 10.0) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()

    def __enter__(self) -> SandboxProcess:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> None:
    """``python -m woobridge.sandbox.server``: the child side of ``SandboxProcess``."""
    parser = argparse.ArgumentParser(prog="python -m woobridge.sandbox.server")
    parser.add_argument("--state", type=Path, required=True, help="SQLite state file")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--http", action="store_true")
    parser.add_argument("--tls-dir", type=Path, default=DEFAULT_TLS_DIR)
    parser.add_argument("--ready-file", type=Path, help="written (0600) with base_url/port/ca_file once serving")
    args = parser.parse_args(argv)
    sandbox = Sandbox(Store(path=args.state), admin_token=os.environ.get(ADMIN_TOKEN_ENV))
    # As `woobridge sandbox` does: the loaded store lives as long as the process, so keep its many objects out of
    # the collector's full passes, which otherwise stall requests on a big store.
    gc.collect()
    gc.freeze()
    served = ServedSandbox(sandbox, port=args.port, http=args.http, tls_dir=args.tls_dir).start()
    if args.ready_file:
        info = {
            "base_url": served.base_url,
            "port": served.port,
            "ca_file": str(served.ca_file) if served.ca_file else None,
            "pid": os.getpid(),
        }
        partial = args.ready_file.with_name(args.ready_file.name + ".tmp")
        _write_private(partial, json.dumps(info).encode())
        partial.replace(args.ready_file)
    try:
        serve_until_signalled(served)
    finally:
        sandbox.store.close()


@contextlib.contextmanager
def served(sandbox: Sandbox | None = None, **options: Any) -> Iterator[ServedSandbox]:
    """``with served(sandbox, http=True) as live: ...`` — shorthand for ``ServedSandbox``."""
    with ServedSandbox(sandbox, **options) as live:
        yield live


if __name__ == "__main__":
    main()
