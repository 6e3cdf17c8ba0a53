"""A rig for reliability tests: a seeded sandbox served over real HTTPS (in this process, so a test can change the
store while a sync reads it), a state database and a staging ERP database (SQLite files, or schemas of their own
on PostgreSQL when ``WOOBRIDGE_TEST_POSTGRES_URL`` is set), and ``woobridge sync orders`` run as a real subprocess
configured only through its environment."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import create_engine, func, select, text

from woobridge.erp.staging.models import sales_order_lines, sales_orders
from woobridge.flows import orders as flow
from woobridge.sandbox import orders as store_orders
from woobridge.sandbox.app import Sandbox
from woobridge.sandbox.faults import parse_fault_spec
from woobridge.sandbox.seed import seed
from woobridge.sandbox.server import ServedSandbox
from woobridge.sandbox.state import Settings, Store
from woobridge.sandbox.testing import Keys, issue_standard_keys
from woobridge.secrets import Vault
from woobridge.state import Connection, StateDB
from woobridge.state.models import Binding, Lease, Run

POSTGRES_URL = os.environ.get("WOOBRIDGE_TEST_POSTGRES_URL")
NAME = "shop"
WOOBRIDGE = Path(sys.executable).with_name("woobridge")
# A small lease ttl, so a run started after a SIGKILL takes the dead run's lease over by the time it is up.
LEASE_TTL = 0.6


@pytest.fixture(scope="session")
def tls_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One local CA for the whole session (making one costs a few hundred milliseconds)."""
    return tmp_path_factory.mktemp("reliability-tls")


@dataclass
class Databases:
    """Where the sync subprocess keeps its state and writes the ERP rows."""

    state_url: str
    staging_url: str
    cleanup: list[Callable[[], None]] = field(default_factory=list)


def _postgres_schema_url(schema: str) -> str:
    assert POSTGRES_URL is not None
    separator = "&" if "?" in POSTGRES_URL else "?"
    return f"{POSTGRES_URL}{separator}options=-csearch_path%3D{schema}"


def make_databases(kind: str, tmp_path: Path) -> Databases:
    if kind == "sqlite":
        return Databases(f"sqlite:///{tmp_path / 'state.sqlite'}", f"sqlite:///{tmp_path / 'staging.sqlite'}")
    if not POSTGRES_URL:
        pytest.skip("WOOBRIDGE_TEST_POSTGRES_URL is not set")
    tag = uuid.uuid4().hex[:10]
    schemas = (f"wb_rel_state_{tag}", f"wb_rel_staging_{tag}")
    admin = create_engine(POSTGRES_URL)
    with admin.begin() as conn:
        for schema in schemas:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))

    def drop() -> None:
        with admin.begin() as conn:
            for schema in schemas:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()

    return Databases(_postgres_schema_url(schemas[0]), _postgres_schema_url(schemas[1]), [drop])


class Rig:
    """A served sandbox + databases + the environment ``woobridge sync orders`` runs in."""

    def __init__(self, served: ServedSandbox, keys: Keys, databases: Databases, home: Path) -> None:
        self.served = served
        self.keys = keys
        self.databases = databases
        self.master = Fernet.generate_key()
        self.db = StateDB(databases.state_url)
        self.environ = {
            **os.environ,
            "WOOBRIDGE_HOME": str(home),
            "WOOBRIDGE_STATE_URL": databases.state_url,
            "WOOBRIDGE_STAGING_URL": databases.staging_url,
            "WOOBRIDGE_MASTER_KEY": self.master.decode(),
            "WOOBRIDGE_LEASE_TTL": str(LEASE_TTL),
            "COLUMNS": "200",
        }
        self.staging = create_engine(databases.staging_url)

    @property
    def sandbox(self) -> Sandbox:
        return self.served.sandbox

    @property
    def store(self) -> Store:
        return self.served.sandbox.store

    def connect(self, **orders_settings: Any) -> None:
        with self.db.session() as session:
            connection = Connection(
                name=NAME,
                store_url=self.served.base_url,
                key_created_at=datetime.now(UTC),
                flows=["orders"],
                ca_file=str(self.served.ca_file),
            )
            connection.store_key(
                Vault([self.master], "test"), self.keys.read.consumer_key, self.keys.read.consumer_secret
            )
            if orders_settings:
                connection.settings = {"orders": orders_settings}
            session.add(connection)

    def faults(self, *specs: str, seed: int = 0) -> None:
        self.sandbox.faults.replace([parse_fault_spec(spec) for spec in specs], seed=seed)

    # -- the sync, as a command in its own process ----

    def command(self, *extra: str) -> list[str]:
        return [str(WOOBRIDGE), "sync", "orders", "--json", *extra]

    def start(self, *extra: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            self.command(*extra),
            env=self.environ,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def sync(self, *extra: str, timeout: float = 120) -> dict[str, Any]:
        """Run a sync to its end; returns its JSON report (with ``exit_code``); fails on a traceback."""
        done = subprocess.run(
            self.command(*extra), env=self.environ, capture_output=True, text=True, timeout=timeout, check=False
        )
        assert "Traceback" not in done.stderr, done.stderr
        assert done.stdout.strip(), f"no output (exit {done.returncode}): {done.stderr}"
        report: dict[str, Any] = json.loads(done.stdout)
        assert report["exit_code"] == done.returncode
        return report

    def sync_until_done(self, attempts: int = 10) -> dict[str, Any]:
        """Sync; while another (dead) run's lease is in the way, wait for it to expire and start again."""
        for _ in range(attempts):
            report = self.sync()
            if report["exit_code"] != 5 or "already running" not in report.get("error", ""):
                return report
            time.sleep(LEASE_TTL / 2)
        raise AssertionError(f"the lease never became free: {report}")

    # -- what the store and the ERP hold ----

    def qualifying(self, statuses: tuple[str, ...] = flow.DEFAULT_STATUSES) -> dict[int, dict[str, Any]]:
        """The store's orders in an imported status now, by id (trashed ones are not in ``status=any``)."""
        with self.store.lock:
            return {int(o["id"]): o for o in self.store.all("order") if o.get("status") in statuses}

    def staged(self) -> dict[int, dict[str, Any]]:
        """The staging ERP's sales orders by store order id; fails when one order has several rows."""
        with self.staging.connect() as db:
            rows = [dict(r._mapping) for r in db.execute(select(sales_orders))]
        per_order = Counter(int(r["store_order_id"]) for r in rows)
        doubled = {order_id: n for order_id, n in per_order.items() if n > 1}
        assert not doubled, f"orders with more than one ERP row: {doubled}"
        return {int(r["store_order_id"]): r for r in rows}

    def staged_lines(self) -> Counter[int]:
        """Lines per store order id in the staging ERP."""
        with self.staging.connect() as db:
            query = (
                select(sales_orders.c.store_order_id, func.count())
                .select_from(sales_order_lines.join(sales_orders))
                .group_by(sales_orders.c.store_order_id)
            )
            return Counter({int(order_id): int(n) for order_id, n in db.execute(query)})

    def bound(self) -> set[int]:
        with self.db.session() as session:
            return {int(b.store_id) for b in session.scalars(select(Binding).where(Binding.resource == "order"))}

    def wait_for_lease_expiry(self, timeout: float = 10) -> None:
        """Until the orders lease (a killed run's) has expired: the next run then takes it over."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.db.session() as session:
                lease = session.scalars(select(Lease)).first()
                expires = None if lease is None else lease.expires_at
            if expires is None:
                return
            now = datetime.now(UTC) if expires.tzinfo else datetime.now(UTC).replace(tzinfo=None)
            if expires < now:
                return
            time.sleep(min(0.1, (expires - now).total_seconds() + 0.01))

    def runs(self) -> list[Run]:
        with self.db.session() as session:
            return list(session.scalars(select(Run).order_by(Run.id)))

    def assert_exactly_once(self, wanted: set[int] | None = None) -> dict[int, dict[str, Any]]:
        """Every qualifying order of the store (or ``wanted``) is in the ERP once, with all its lines; the ERP holds
        no order the store never had in an imported status."""
        qualifying = self.qualifying()
        wanted = set(qualifying) if wanted is None else wanted
        staged = self.staged()
        missing = sorted(wanted - set(staged))
        assert not missing, f"{len(missing)} qualifying order(s) not in the ERP: {missing[:20]}"
        lines = self.staged_lines()
        expected_lines = {
            order_id: len(order.get("line_items") or [])
            + len(order.get("shipping_lines") or [])
            + len(order.get("fee_lines") or [])
            + len(order.get("coupon_lines") or [])
            for order_id, order in qualifying.items()
            if order_id in wanted
        }
        wrong = {
            order_id: (lines[order_id], count)
            for order_id, count in expected_lines.items()
            if not count
            <= lines[order_id]
            <= count + 1  # + a rounding adjustment line, when the store's total needs one
        }
        assert not wrong, (
            f"orders whose ERP lines do not match the store's (ERP, store): {dict(list(wrong.items())[:10])}"
        )
        assert self.bound() >= wanted
        return staged

    def close(self) -> None:
        self.staging.dispose()
        self.db.close()
        for cleanup in self.databases.cleanup:
            cleanup()


@pytest.fixture
def make_rig(tls_dir: Path, tmp_path: Path) -> Iterator[Callable[..., Rig]]:
    """``make_rig(orders=300, db="sqlite", timezone="UTC", **orders_settings)``: a served, seeded sandbox and a
    connection to it. Everything is stopped and removed afterwards."""
    made: list[Rig] = []

    def make(
        orders: int = 200, db: str = "sqlite", timezone: str = "UTC", seed_value: int = 11, **orders_settings: Any
    ) -> Rig:
        if not WOOBRIDGE.exists():
            pytest.skip("woobridge is not installed in this environment")
        sandbox = Sandbox(Store(Settings(timezone=timezone)))
        keys = issue_standard_keys(sandbox.store)
        seed(sandbox.store, products=20, orders=orders, customers=20, seed=seed_value)
        served = ServedSandbox(sandbox, tls_dir=tls_dir).start()
        try:
            rig = Rig(served, keys, make_databases(db, tmp_path / f"rig{len(made)}"), tmp_path / f"home{len(made)}")
        except BaseException:
            served.stop()
            raise
        made.append(rig)
        rig.connect(**orders_settings)
        return rig

    (tmp_path / "rig0").mkdir(exist_ok=True)
    for i in range(1, 4):
        (tmp_path / f"rig{i}").mkdir(exist_ok=True)
    yield make
    for rig in made:
        rig.served.stop()
        rig.close()


def trash(store: Store, order_id: int) -> None:
    with store.lock:
        order = store.get("order", order_id)
        if order is not None and order.get("status") != "trash":
            store_orders.trash_order(store, order)


def update(store: Store, order_id: int, payload: dict[str, Any]) -> None:
    with store.lock:
        order = store.get("order", order_id)
        if order is not None:
            store_orders.update_order(store, order, payload)


def create(store: Store, payload: dict[str, Any]) -> int:
    with store.lock:
        return int(store_orders.create_order(store, payload)["id"])


def kill(process: subprocess.Popen[str]) -> None:
    """SIGKILL: no cleanup, no lease release, no run outcome written."""
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=30)
