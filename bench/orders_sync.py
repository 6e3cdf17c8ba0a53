"""woobridge's first full orders sync against a sequential page loop with the official ``woocommerce`` package.

A sandbox store with N orders (default 5,000) runs in its own process (``SandboxProcess`` on a state file), over
HTTPS with its local CA, adding ``--latency`` ms (default 100) to every request, as a store across the internet
does. Then:

* ``woobridge sync orders`` (a subprocess, state and staging ERP on SQLite files, default concurrency) imports
  every qualifying order: wall time and requests made;
* a second ``woobridge sync orders`` with nothing changed: requests made;
* the official client (``from woocommerce import API``, Basic auth over HTTPS trusting the sandbox CA) reads
  every order with ``per_page=100``, one page after another, as most integrations do: wall time and requests.

Prints one table. Targets: woobridge at least 3× faster; requests at most ceil(N/100) + a small constant;
the second sync at most 2 requests.

    .venv/bin/python bench/orders_sync.py [--orders 5000] [--latency 100]
"""

from __future__ import annotations

import argparse
import compileall
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from cryptography.fernet import Fernet
from rich.console import Console
from rich.table import Table

import woobridge
from woobridge.sandbox.app import ADMIN_PREFIX
from woobridge.sandbox.seed import seed
from woobridge.sandbox.server import SandboxProcess, trusting
from woobridge.sandbox.state import IssuedKey, Settings, Store
from woobridge.secrets import Vault
from woobridge.state import Connection, StateDB

WOOBRIDGE = Path(sys.executable).with_name("woobridge")
TARGET_SPEEDUP = 3.0
REQUEST_SLACK = 3  # requests allowed over ceil(N / 100): the overlapping reads' extra page or two
SECOND_SYNC_MAX = 2


def make_store(path: Path, orders: int) -> IssuedKey:
    """A seeded store in a state file (the sandbox process serves it); returns a read key."""
    store = Store(Settings(), path=path)
    admin = store.add_user("administrator", "admin")
    key = store.issue_key(admin, "read", "bench")
    seed(store, products=60, orders=orders, customers=300, seed=1)
    store.close()
    return key


def set_faults(sandbox: SandboxProcess, rules: list[str]) -> None:
    assert sandbox.ca_file is not None
    with httpx.Client(verify=trusting(sandbox.ca_file), timeout=30) as client:
        answer = client.put(
            sandbox.base_url + ADMIN_PREFIX + "/faults",
            headers={"X-Sandbox-Token": sandbox.admin_token},
            json={"rules": rules},
        )
        answer.raise_for_status()


def woobridge_env(work: Path, sandbox: SandboxProcess, key: IssuedKey) -> dict[str, str]:
    """State and staging databases with one connection to the sandbox; the environment sync runs in."""
    master = Fernet.generate_key()
    state_url = f"sqlite:///{work / 'state.sqlite'}"
    db = StateDB(state_url)
    with db.session() as session:
        connection = Connection(
            name="bench",
            store_url=sandbox.base_url,
            key_created_at=datetime.now(UTC),
            flows=["orders"],
            ca_file=str(sandbox.ca_file),
        )
        connection.store_key(Vault([master], "bench"), key.consumer_key, key.consumer_secret)
        session.add(connection)
    db.close()
    return {
        **os.environ,
        "WOOBRIDGE_HOME": str(work / "home"),
        "WOOBRIDGE_STATE_URL": state_url,
        "WOOBRIDGE_STAGING_URL": f"sqlite:///{work / 'staging.sqlite'}",
        "WOOBRIDGE_MASTER_KEY": master.decode(),
    }


def sync(env: dict[str, str]) -> tuple[float, dict[str, Any]]:
    """``woobridge sync orders --json`` in a subprocess: (wall seconds, its report)."""
    started = time.perf_counter()
    done = subprocess.run(
        [str(WOOBRIDGE), "sync", "orders", "--json"], env=env, capture_output=True, text=True, check=False
    )
    seconds = time.perf_counter() - started
    if done.returncode not in (0, 1):
        raise SystemExit(f"woobridge sync orders failed ({done.returncode}): {done.stdout}\n{done.stderr}")
    return seconds, json.loads(done.stdout)


def official_loop(sandbox: SandboxProcess, key: IssuedKey) -> tuple[float, int, int]:
    """Every order through the official client, page after page: (seconds, orders read, requests)."""
    from woocommerce import API

    api = API(
        url=sandbox.base_url,
        consumer_key=key.consumer_key,
        consumer_secret=key.consumer_secret,
        version="wc/v3",
        verify_ssl=str(sandbox.ca_file),
        timeout=60,
    )
    started = time.perf_counter()
    read = requests = 0
    page = 1
    while True:
        answer = api.get("orders", params={"per_page": 100, "page": page, "status": "any"})
        requests += 1
        answer.raise_for_status()
        orders = answer.json()
        read += len(orders)
        if page >= int(answer.headers.get("X-WP-TotalPages", "1")) or not orders:
            break
        page += 1
    return time.perf_counter() - started, read, requests


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=5_000)
    parser.add_argument("--latency", type=int, default=100, help="ms the sandbox adds to every request")
    args = parser.parse_args()
    if not WOOBRIDGE.exists():
        raise SystemExit(f"woobridge is not installed next to {sys.executable}")
    # woobridge as a user runs it: a pip install has its bytecode compiled; an editable install (make's) under
    # PYTHONDONTWRITEBYTECODE never has, and would compile all its modules again at every start (~0.1 s).
    compileall.compile_dir(Path(woobridge.__file__).parent, quiet=1)
    console = Console()
    with tempfile.TemporaryDirectory(prefix="woobridge-bench-") as tmp:
        work = Path(tmp)
        key = make_store(work / "store.sqlite", args.orders)
        with SandboxProcess(work / "store.sqlite", tls_dir=work / "tls") as sandbox:
            set_faults(sandbox, [f"latency={args.latency}"])
            env = woobridge_env(work, sandbox, key)
            first_seconds, first = sync(env)
            second_seconds, second = sync(env)
            official_seconds, official_read, official_requests = official_loop(sandbox, key)

    minimum = math.ceil(args.orders / 100)
    speedup = official_seconds / first_seconds
    table = Table(
        title=f"orders sync: {args.orders:,} orders, sandbox over HTTPS adding {args.latency} ms a request",
        title_justify="left",
    )
    for column in ("", "wall time", "requests", "orders read", "target", "met"):
        table.add_column(column, justify="left" if not column or column == "target" else "right")
    table.add_row(
        "official woocommerce, sequential pages",
        f"{official_seconds:.1f} s",
        str(official_requests),
        f"{official_read:,}",
        "",
        "",
    )
    concurrency = first["concurrency"]
    table.add_row(
        f"woobridge first sync (pages in flight {'→'.join(map(str, concurrency['limits'][:10]))})",
        f"{first_seconds:.1f} s",
        str(first["requests"]),
        f"{first['read']:,} ({first['created']:,} created)",
        f"≥ {TARGET_SPEEDUP:g}× faster; ≤ {minimum + REQUEST_SLACK} requests",
        f"{speedup:.1f}× {_ok(speedup >= TARGET_SPEEDUP)}; {_ok(first['requests'] <= minimum + REQUEST_SLACK)}",
    )
    table.add_row(
        "woobridge second sync, nothing changed",
        f"{second_seconds:.1f} s",
        str(second["requests"]),
        f"{second['read']:,} ({second['created'] + second['updated']} written)",
        f"≤ {SECOND_SYNC_MAX} requests",
        _ok(second["requests"] <= SECOND_SYNC_MAX),
    )
    console.print(table)
    console.print(
        f"minimum requests for {args.orders:,} orders at 100 a page: {minimum}; woobridge's wall time includes "
        f"starting the process and writing every order to the staging ERP (SQLite); run {first['run']['id']} took "
        f"{first['run']['duration']:.1f} s of it"
    )


def _ok(met: bool) -> str:
    return "yes" if met else "NO"


if __name__ == "__main__":
    main()
