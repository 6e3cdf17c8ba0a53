"""A local ``trytond`` for tests, the benchmark and the demo: a set-up SQLite database built once and copied.

Building a Tryton database (activating ``sale``, ``stock_package_shipping``, ``sale_shipment_cost`` and their
dependencies, then a company, chart of accounts and fiscal year) takes about half a minute, so it is done once
per set of module versions and kept as a *template* file; every server gets a fresh copy of it. The server is a
real ``trytond -d woobridge`` subprocess on a free loopback port, spoken to over JSON-RPC like any other.

Needs the ``tryton`` extra (``pip install 'woobridge[tryton]'``).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path

import httpx

DATABASE = "woobridge"
ADMIN_LOGIN = "admin"
# A local throwaway database on loopback: this password protects nothing and is not a secret.
ADMIN_PASSWORD = "woobridge-dev-admin"  # noqa: S105
MODULES = ("sale", "stock_package_shipping", "sale_shipment_cost")
_DISTRIBUTIONS = ("trytond", "trytond-sale", "trytond-stock-package-shipping", "trytond-sale-shipment-cost")


class TrytonNotInstalled(RuntimeError):
    """trytond or one of the modules is missing: install the ``tryton`` extra."""


def missing_reason() -> str | None:
    """Why a local trytond cannot run here, or None when it can."""
    for name in (*_DISTRIBUTIONS, "proteus"):
        try:
            metadata.version(name)
        except metadata.PackageNotFoundError:
            return f"{name} is not installed; install the extra: pip install -e '.[tryton]'"
    if _script("trytond") is None:
        return "the trytond command is not installed next to this Python"
    return None


def _script(name: str) -> str | None:
    beside = Path(sys.executable).with_name(name)
    return str(beside) if beside.exists() else shutil.which(name)


def template_key() -> str:
    """Names the template: module versions and the setup code, so an upgrade builds a new one."""
    parts = [f"{name}=={metadata.version(name)}" for name in (*_DISTRIBUTIONS, "proteus")]
    setup_code = (Path(__file__).with_name("_devsetup.py")).read_bytes()
    parts.append(hashlib.sha256(setup_code).hexdigest())
    parts.extend(MODULES)
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def default_cache_dir() -> Path:
    """Where templates are kept: ``.woobridge/tryton-templates`` in the working directory (git-ignored)."""
    return Path(os.environ.get("WOOBRIDGE_TRYTON_CACHE", ".woobridge/tryton-templates")).resolve()


def write_config(directory: Path, *, port: int = 0) -> Path:
    """A trytond configuration: SQLite files in ``directory``, the web server on loopback ``port``."""
    path = directory / "trytond.conf"
    path.write_text(
        "[database]\nuri = sqlite://\n"
        f"path = {directory}\n"
        "[web]\n"
        f"listen = 127.0.0.1:{port}\n"
        "[session]\n"
        # The adapter logs in once per run; don't lock a test run out after a few wrong passwords.
        "max_attempt = 50\n"
    )
    return path


def _run(cmd: list[str], env: dict[str, str], what: str) -> None:
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)  # noqa: S603 - our own argv
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).splitlines()[-25:])
        raise RuntimeError(f"{what} failed (exit {result.returncode}):\n{tail}")


def ensure_template(cache_dir: Path | None = None) -> Path:
    """The path of a set-up template database file, building it first if this set of versions has none.

    Concurrent callers (two test sessions, the demo) wait for one build through a lock file."""
    reason = missing_reason()
    if reason:
        raise TrytonNotInstalled(reason)
    cache_dir = cache_dir or default_cache_dir()
    cache_dir.mkdir(parents=True, exist_ok=True)
    key = template_key()
    template = cache_dir / f"{DATABASE}-{key}.sqlite"
    with open(cache_dir / f"{key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not template.exists():
            _build(template)
    return template


def _build(template: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="woobridge-tryton-build-") as tmp:
        work = Path(tmp)
        conf = write_config(work)
        (work / f"{DATABASE}.sqlite").touch()  # trytond-admin initialises an existing, empty SQLite file
        passfile = work / "password"
        passfile.write_text(ADMIN_PASSWORD)
        env = {**os.environ, "TRYTONPASSFILE": str(passfile)}
        admin = _script("trytond-admin") or "trytond-admin"
        _run(
            [
                admin,
                "-c",
                str(conf),
                "-d",
                DATABASE,
                "--all",
                "--activate-dependencies",
                "--email",
                "admin@shop.test",
                "-u",
                *MODULES,
            ],
            env,
            "activating the Tryton modules",
        )
        _run(
            [sys.executable, "-m", "woobridge.erp.tryton._devsetup", str(conf), DATABASE],
            env,
            "setting up the company, accounts and products",
        )
        _checkpoint(work / f"{DATABASE}.sqlite")
        partial = template.with_suffix(".partial")
        shutil.copyfile(work / f"{DATABASE}.sqlite", partial)
        partial.replace(template)


def _checkpoint(db_file: Path) -> None:
    """Fold the write-ahead log into the main file so that the file alone is the whole database."""
    import sqlite3

    with contextlib.closing(sqlite3.connect(db_file)) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.execute("PRAGMA journal_mode = DELETE")


def restore(template: Path, directory: Path) -> Path:
    """Copy the template into ``directory`` as the database file (without stale -wal/-shm files)."""
    target = directory / f"{DATABASE}.sqlite"
    for suffix in ("-wal", "-shm"):
        Path(f"{target}{suffix}").unlink(missing_ok=True)
    shutil.copyfile(template, target)
    return target


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class TrytonServer:
    """A running ``trytond -d woobridge`` on a copy of the template; ``url`` is its base URL."""

    def __init__(self, directory: Path, template: Path) -> None:
        self.directory = directory
        self.template = template
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.database = DATABASE
        self.login = ADMIN_LOGIN
        self.password = ADMIN_PASSWORD
        self.log_path = directory / "trytond.log"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60.0) -> TrytonServer:
        restore(self.template, self.directory)
        conf = write_config(self.directory, port=self.port)
        server = _script("trytond") or "trytond"
        log = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child process, closed in stop()
        self._log = log
        self._process = subprocess.Popen(  # noqa: S603 - trytond beside this Python, fixed arguments
            [server, "-c", str(conf), "-d", DATABASE], stdout=log, stderr=log
        )
        deadline = time.monotonic() + timeout
        while True:
            if self._process.poll() is not None:
                raise RuntimeError(f"trytond exited with {self._process.returncode}; see {self.log_path}")
            try:
                reply = httpx.post(
                    f"{self.url}/rpc/", json={"id": 0, "method": "common.server.version", "params": []}, timeout=2
                )
                if reply.status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"trytond did not answer on {self.url} within {timeout:.0f} s; see {self.log_path}")
            time.sleep(0.1)

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None
        if getattr(self, "_log", None) is not None:
            self._log.close()

    def __enter__(self) -> TrytonServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextlib.contextmanager
def running_server(directory: Path | None = None, cache_dir: Path | None = None) -> Iterator[TrytonServer]:
    """Build (once) and start a local trytond on a fresh copy of the template; stop it afterwards."""
    template = ensure_template(cache_dir)
    with contextlib.ExitStack() as stack:
        if directory is None:
            directory = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="woobridge-tryton-")))
        server = stack.enter_context(TrytonServer(directory, template))
        yield server
