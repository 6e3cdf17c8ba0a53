"""The orders flow against the sandbox (in process over ASGI, and over real HTTPS in a subprocess), with a real
state database and a real staging ERP database (SQLite files)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet
from sqlalchemy import delete, func, select

from woobridge.documents import Item
from woobridge.erp import ErpConfigError, ErpUnavailable
from woobridge.erp.staging import StagingErp
from woobridge.erp.staging.models import sales_order_lines, sales_orders
from woobridge.flows import orders as flow
from woobridge.flows.engine import RETRY_HANDLERS, LeaseHeld, acquire_lease, list_errors, load_retry_handler
from woobridge.sandbox import orders as store_orders
from woobridge.sandbox import products as store_products
from woobridge.sandbox.app import Sandbox
from woobridge.sandbox.seed import seed
from woobridge.sandbox.testing import LiveSandbox
from woobridge.secrets import Vault
from woobridge.state import Connection, StateDB
from woobridge.state.models import Binding, Cursor, Run

from .conftest import NAME, FlowEnv, FlowEnvFactory, RecordingTransport


class Env(FlowEnv):
    async def sync(self, **kw: Any) -> flow.OrdersReport:
        return await flow.run(self.db, NAME, erp=self.erp, woo=self.woo, **kw)

    def staging_count(self, table: Any = sales_orders) -> int:
        with self.erp.engine.connect() as db:
            return int(db.scalar(select(func.count()).select_from(table)) or 0)

    def staging_row(self, order_id: int) -> Any:
        with self.erp.engine.connect() as db:
            return db.execute(select(sales_orders).where(sales_orders.c.store_order_id == order_id)).one()

    def bound_ids(self) -> set[int]:
        with self.db.session() as session:
            return {int(b.store_id) for b in session.scalars(select(Binding).where(Binding.resource == "order"))}

    def qualifying_ids(self, statuses: tuple[str, ...] = flow.DEFAULT_STATUSES) -> set[int]:
        return {int(o["id"]) for o in self.store.all("order") if o.get("status") in statuses}

    def order(self, payload: dict[str, Any]) -> int:
        with self.store.lock:
            return int(store_orders.create_order(self.store, payload)["id"])

    def update(self, order_id: int, payload: dict[str, Any]) -> None:
        with self.store.lock:
            store_orders.update_order(self.store, self.store.get("order", order_id), payload)

    def trash(self, order_id: int) -> None:
        with self.store.lock:
            store_orders.trash_order(self.store, self.store.get("order", order_id))


class Recording(RecordingTransport):
    """The sandbox over ASGI, remembering every request and letting a test act before one is answered."""

    def __init__(self, sandbox: Sandbox, requests: list[httpx.Request]) -> None:
        super().__init__(sandbox, requests)
        self.before: Callable[[httpx.Request, int], None] | None = None
        self.rewrite: Callable[[Any], Any] | None = None  # changes the JSON of list answers

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.before is not None:
            self.before(request, len(self.requests))
        response = await self.inner.handle_async_request(request)
        if self.rewrite is None or not request.url.path.endswith("/orders"):
            return response
        body = json.loads(await response.aread())
        headers = [(k, v) for k, v in response.headers.items() if k.lower() != "content-length"]
        return httpx.Response(response.status_code, headers=headers, json=self.rewrite(body))


def make_connection(db: StateDB, vault: Vault, store_url: str, key: Any, ca_file: str | None = None) -> None:
    with db.session() as session:
        connection = Connection(
            name=NAME, store_url=store_url, key_created_at=datetime.now(UTC), flows=["orders"], ca_file=ca_file
        )
        connection.store_key(vault, key.consumer_key, key.consumer_secret)
        session.add(connection)


@pytest.fixture
async def env(flow_env: FlowEnvFactory) -> Env:
    return await flow_env(Env, flows=["orders"], key="read", max_concurrency=8, transport_type=Recording)


def guest(status: str = "processing", **extra: Any) -> dict[str, Any]:
    return {
        "status": status,
        "billing": {"first_name": "Ann", "last_name": "Guest", "email": "Ann.Guest@Example.com", "country": "US"},
        "fee_lines": [{"name": "Service", "total": "10.00"}],
        **extra,
    }


def orders_requests(env: Env) -> list[httpx.Request]:
    return [r for r in env.requests if r.url.path.endswith("/orders")]


# -- first sync, re-run, changes ---------------------------------------------------------------------------------------


async def test_first_sync_imports_every_qualifying_order_exactly_once_and_a_rerun_nothing(env: Env) -> None:
    seed(env.store, products=12, orders=260, customers=8)
    wanted = env.qualifying_ids()
    report = await env.sync()
    assert report.run is not None and report.run.outcome == "success"
    assert report.counts["created"] == len(wanted) and report.counts["failed"] == 0
    listed = [o for o in env.store.all("order") if o["status"] not in ("trash", "checkout-draft", "auto-draft")]
    assert report.counts["read"] == len(listed)
    assert env.bound_ids() == wanted
    assert env.staging_count() == len(wanted)
    # Incremental reads as the issue says: by id, status=any, GMT dates, 100 a page.
    first = orders_requests(env)[0].url.params
    assert (first["orderby"], first["order"], first["status"], first["per_page"]) == ("id", "asc", "any", "100")
    assert first["dates_are_gmt"] == "true" and "modified_after" not in first

    env.requests.clear()
    again = await env.sync()
    assert again.counts["created"] == again.counts["updated"] == 0
    assert env.staging_count() == len(wanted)
    # Nothing changed: one request whose window starts at the cursor (at most 2 allowed).
    assert len(env.requests) <= 2
    assert orders_requests(env)[0].url.params["modified_after"]


async def test_a_changed_order_updates_its_erp_document_instead_of_creating_another(env: Env) -> None:
    order_id = env.order(guest())
    await env.sync()
    before = env.staging_row(order_id)
    env.store.clock_offset += timedelta(seconds=2)
    env.update(order_id, {"shipping": {"address_1": "1 New Street", "city": "Springfield", "country": "US"}})
    report = await env.sync()
    assert report.counts["updated"] == 1 and report.counts["created"] == 0
    assert env.staging_count() == 1
    after = env.staging_row(order_id)
    assert after.id == before.id and after.revision > before.revision
    # A cancellation reaches the ERP too, although cancelled orders are not imported.
    env.store.clock_offset += timedelta(seconds=2)
    env.update(order_id, {"status": "cancelled"})
    report = await env.sync()
    assert report.counts["updated"] == 1 and env.staging_row(order_id).status == "cancelled"


async def test_a_pending_order_waits_and_is_imported_once_it_is_processing(env: Env) -> None:
    order_id = env.order(guest(status="pending"))
    report = await env.sync()
    assert report.counts["waiting"] == 1 and env.staging_count() == 0 and not env.bound_ids()
    env.store.clock_offset += timedelta(seconds=2)
    env.update(order_id, {"status": "processing"})
    report = await env.sync()
    assert report.counts["created"] == 1 and env.bound_ids() == {order_id}


async def test_statuses_are_configurable_per_connection(env: Env) -> None:
    with env.db.session() as session:
        connection = session.scalars(select(Connection)).one()
        connection.settings = {"orders": {"statuses": ["completed"]}}
    processing = env.order(guest(status="processing"))
    completed = env.order(guest(status="completed"))
    await env.sync()
    assert env.bound_ids() == {completed} and processing not in env.bound_ids()


# -- orders leaving the list while it is read --------------------------------------------------------------------------


async def test_orders_trashed_between_page_reads_do_not_make_the_run_skip_another(env: Env) -> None:
    ids = [env.order(guest()) for _ in range(450)]
    trashed = ids[10:16]

    def trash_before_third_read(request: httpx.Request, count: int) -> None:
        if request.url.path.endswith("/orders") and count == 3:
            for order_id in trashed:
                env.trash(order_id)

    env.woo._http._transport.before = trash_before_third_read  # type: ignore[attr-defined]
    report = await env.sync()
    assert report.rereads >= 1
    assert env.bound_ids() >= set(ids) - set(trashed)
    assert report.counts["failed"] == 0


async def test_orders_inserted_and_modified_between_pages_none_missed_none_doubled(env: Env) -> None:
    from woobridge.sandbox.faults import parse_fault_spec

    seed(env.store, products=12, orders=300, customers=8)
    env.sandbox.faults.replace([parse_fault_spec("drift=insert=2,modify=2")])
    await env.sync()
    env.sandbox.faults.clear()
    env.store.clock_offset += timedelta(seconds=2)
    await env.sync()
    assert env.bound_ids() == env.qualifying_ids()
    assert env.staging_count() == len(env.qualifying_ids())


# -- bad orders --------------------------------------------------------------------------------------------------------


async def test_a_bad_order_becomes_a_record_error_and_the_run_goes_on_then_a_retry_imports_it(
    env: Env, tmp_path: Path
) -> None:
    env.erp.close()
    env.erp = StagingErp(f"sqlite:///{tmp_path / 'strict.sqlite'}", require_known_items=True)
    with env.store.lock:
        known = store_products.create_product(env.store, {"name": "Mug", "sku": "MUG-1", "regular_price": "9.00"})
        nameless = store_products.create_product(env.store, {"name": "Loose tea", "regular_price": "4.00"})
    env.erp.put_items(NAME, [Item(sku="MUG-1", name="Mug")])
    good = env.order({**guest(), "line_items": [{"product_id": known["id"], "quantity": 1}]})
    no_sku = env.order({**guest(), "line_items": [{"product_id": nameless["id"], "quantity": 2}]})
    bad_address = env.order({**guest(), "line_items": [{"product_id": known["id"], "quantity": 1}]})
    env.store.get("order", bad_address)["billing"]["country"] = "Germany"
    after = env.order({**guest(), "line_items": [{"product_id": known["id"], "quantity": 3}]})

    report = await env.sync()
    assert report.run is not None and report.run.outcome == "partial"
    assert env.bound_ids() == {good, after}
    errors = {int(e.store_id): e for e in list_errors(env.db, NAME)}
    assert set(errors) == {no_sku, bad_address}
    assert "no SKU" in errors[no_sku].message and errors[no_sku].error_class == "ErpRecordError"
    assert "Germany" in errors[bad_address].message and errors[bad_address].error_class == "OrderUnreadable"
    assert errors[no_sku].payload["id"] == no_sku  # the order as the store sent it
    assert report.cursor_moved  # every order was handed over or recorded

    # Fixed in the store and the ERP: the retry handler reads the orders afresh and imports them.
    with env.store.lock:
        store_products.update_product(env.store, env.store.get("product", nameless["id"]), {"sku": "TEA-1"})
    env.erp.put_items(NAME, [Item(sku="TEA-1", name="Loose tea")])
    env.store.get("order", bad_address)["billing"]["country"] = "DE"
    handler = load_retry_handler("orders")
    assert handler is RETRY_HANDLERS["orders"]
    retried = await handler(env.db, NAME, list(errors.values()), erp=env.erp, woo=env.woo)
    assert retried.counts["created"] == 2
    assert env.bound_ids() == {good, no_sku, bad_address, after}
    assert list_errors(env.db, NAME) == []


async def test_an_order_the_store_sends_malformed_is_a_record_error(env: Env) -> None:
    first = env.order(guest())
    broken = env.order(guest())

    def localised_total(orders: Any) -> Any:  # a plugin that writes amounts with a decimal comma
        for order in orders:
            if order["id"] == broken:
                order["total"] = "12,50"
        return orders

    env.woo._http._transport.rewrite = localised_total  # type: ignore[attr-defined]
    report = await env.sync()
    assert env.bound_ids() == {first}
    (error,) = list_errors(env.db, NAME)
    assert error.store_id == str(broken) and "is not an amount" in error.message
    assert report.counts["failed"] == 1


# -- time, size, unicode -----------------------------------------------------------------------------------------------


async def test_the_window_follows_the_store_clock_not_this_machine(env: Env) -> None:
    env.store.settings.timezone = "Pacific/Auckland"
    env.store.clock_offset = timedelta(hours=-3)  # the store's clock is 3 hours behind this machine's
    order_id = env.order(guest())
    report = await env.sync()
    assert report.store_clock_known
    with env.db.session() as session:
        cursor = session.scalars(select(Cursor)).one().value
    start = datetime.fromisoformat(cursor["modified_after"])
    store_now = datetime.now(UTC) + env.store.clock_offset
    assert abs((start - (store_now - flow.DEFAULT_OVERLAP)).total_seconds()) < 5
    # A change made a minute later on the store's clock is read by the next run.
    env.store.clock_offset += timedelta(minutes=1)
    env.update(order_id, {"customer_note": "Please ring twice"})
    report = await env.sync()
    assert report.counts["updated"] == 1


async def test_a_200_line_order(env: Env) -> None:
    with env.store.lock:
        product = store_products.create_product(env.store, {"name": "Bolt", "sku": "BOLT", "regular_price": "0.37"})
    lines = [{"product_id": product["id"], "quantity": i % 7 + 1} for i in range(200)]
    order_id = env.order({**guest(), "line_items": lines})
    report = await env.sync()
    assert report.counts["created"] == 1
    with env.erp.engine.connect() as db:
        kinds = db.execute(select(sales_order_lines.c.kind)).scalars().all()
    assert kinds.count("product") == 200
    row = env.staging_row(order_id)
    assert Decimal(str(row.total)) == Decimal(env.store.get("order", order_id)["total"])


async def test_unicode_everywhere(env: Env) -> None:
    order_id = env.order(
        {
            **guest(),
            "billing": {
                "first_name": "Zoë",
                "last_name": "Ørsted 日本語",
                "email": "zoe@example.com",
                "address_1": "Straße „Zoë“ 5",
                "country": "DK",
            },
            "customer_note": "注文メモ 🎁 — merci",
            "fee_lines": [{"name": "Geschenkverpackung 🎁", "total": "3.00"}],
        }
    )
    await env.sync()
    row = env.staging_row(order_id)
    assert row.customer_note == "注文メモ 🎁 — merci"
    assert "Ørsted 日本語" in json.dumps([str(v) for v in row], ensure_ascii=False)


# -- dry run, audit ----------------------------------------------------------------------------------------------------


async def test_a_dry_run_prints_documents_and_writes_nothing(env: Env) -> None:
    ids = [env.order(guest()) for _ in range(3)]
    seen: list[flow.OrderOutcome] = []
    report = await env.sync(dry_run=True, on_outcome=seen.append)
    assert report.counts["created"] == 3 and [int(o.store_id) for o in seen] == ids
    assert all(o.document is not None and o.document.customer.email == "ann.guest@example.com" for o in seen)
    assert env.staging_count() == 0 and not env.bound_ids()
    with env.db.session() as session:
        assert session.scalars(select(Cursor)).all() == [] and session.scalars(select(Run)).all() == []


async def test_the_audit_lists_missing_orders_and_fix_imports_them(env: Env) -> None:
    ids = [env.order(guest()) for _ in range(5)]
    env.order(guest(status="pending"))
    await env.sync()
    with env.db.session() as session:  # lose two bindings (and their ERP rows), as a bug or a restore might
        session.execute(delete(Binding).where(Binding.store_id.in_([str(ids[1]), str(ids[3])])))
    with env.erp.engine.begin() as db:
        db.execute(delete(sales_orders).where(sales_orders.c.store_order_id.in_([ids[1], ids[3]])))
    since = datetime.now(UTC) + env.store.clock_offset - timedelta(days=1)
    report = await flow.audit(env.db, NAME, since, woo=env.woo)
    assert [e.store_id for e in report.missing] == [ids[1], ids[3]] and report.checked == 6
    fixed = await flow.audit(env.db, NAME, since, woo=env.woo, erp=env.erp, fix=True)
    assert fixed.fixed is not None and fixed.fixed.counts["created"] == 2
    assert env.bound_ids() == set(ids)
    assert (await flow.audit(env.db, NAME, since, woo=env.woo)).entries == []


# -- the ERP opened by the flow, while the first page is read ---------------------------------------------------------


def erp_settings(**environ: str) -> SimpleNamespace:
    """What the flow reads the ERP settings from when it opens the ERP itself (the CLI's ``Services``)."""
    return SimpleNamespace(environ=environ)


async def test_without_an_erp_the_flow_opens_the_configured_one_and_closes_it(
    env: Env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed(env.store, products=6, orders=40, customers=4)
    closed: list[StagingErp] = []
    close = StagingErp.close
    monkeypatch.setattr(StagingErp, "close", lambda erp: closed.append(erp) or close(erp))
    staging_url = f"sqlite:///{tmp_path / 'own-staging.sqlite'}"
    report = await flow.run(env.db, NAME, woo=env.woo, services=erp_settings(WOOBRIDGE_STAGING_URL=staging_url))
    assert report.counts["created"] == len(env.qualifying_ids()) > 0
    assert [str(erp.url) for erp in closed] == [staging_url]
    own = StagingErp(staging_url)
    with own.engine.connect() as db:
        assert db.scalar(select(func.count()).select_from(sales_orders)) == report.counts["created"]
    own.close()
    assert env.staging_count() == 0


async def test_an_erp_that_cannot_be_opened_stops_the_run_and_the_cursor_stays(env: Env, tmp_path: Path) -> None:
    seed(env.store, products=6, orders=40, customers=4)
    unusable = erp_settings(WOOBRIDGE_STAGING_URL=f"sqlite:///{tmp_path}")  # a directory, not a database file
    with pytest.raises(ErpUnavailable, match="cannot be used"):
        await flow.run(env.db, NAME, woo=env.woo, services=unusable)
    with env.db.session() as session:
        assert session.scalar(select(Cursor)) is None
        (run,) = session.scalars(select(Run))
        assert run.outcome == "failed" and (run.message or "").startswith("ErpUnavailable")
    assert env.bound_ids() == set()
    # With nothing to read, the ERP is still opened and its failure still stops the run.
    with pytest.raises(ErpUnavailable):
        await flow.run(env.db, NAME, woo=env.woo, services=unusable, since=datetime.now(UTC) + timedelta(days=1))


async def test_when_the_erp_cannot_be_opened_that_is_the_error_whatever_else_failed(env: Env, tmp_path: Path) -> None:
    # As when the command opened the ERP before anything else: another run holding the lease comes second.
    with env.db.session() as session:
        shop = session.scalars(select(Connection)).one()
        assert acquire_lease(session, shop.id, "orders", "worker-2:77:abcd", ttl=60) is not None
    with pytest.raises(ErpUnavailable) as caught:
        await flow.run(env.db, NAME, woo=env.woo, services=erp_settings(WOOBRIDGE_STAGING_URL=f"sqlite:///{tmp_path}"))
    assert isinstance(caught.value.__cause__, LeaseHeld)


async def test_a_bad_erp_setting_stops_the_run_before_the_store_is_asked(env: Env) -> None:
    with pytest.raises(ErpConfigError, match="WOOBRIDGE_ERP='sap'"):
        await flow.run(env.db, NAME, woo=env.woo, services=erp_settings(WOOBRIDGE_ERP="sap"))
    assert env.requests == []
    with env.db.session() as session:
        assert session.scalar(select(Run)) is None


# -- as a command, in its own process, over real HTTPS -----------------------------------------------------------------


def test_woobridge_sync_orders_in_a_subprocess_against_the_served_sandbox(live: LiveSandbox, tmp_path: Path) -> None:
    master = Fernet.generate_key()
    state_url = f"sqlite:///{tmp_path / 'state.sqlite'}"
    staging_url = f"sqlite:///{tmp_path / 'staging.sqlite'}"
    db = StateDB(state_url)
    make_connection(db, Vault([master], "test"), live.base_url, live.keys.read, ca_file=str(live.ca_file))
    db.close()
    environ = {
        **os.environ,
        "WOOBRIDGE_HOME": str(tmp_path / "home"),
        "WOOBRIDGE_STATE_URL": state_url,
        "WOOBRIDGE_STAGING_URL": staging_url,
        "WOOBRIDGE_MASTER_KEY": master.decode(),
    }
    if not Path(sys.executable).with_name("woobridge").exists():
        pytest.skip("woobridge is not installed in this environment")
    command = [str(Path(sys.executable).with_name("woobridge")), "sync", "orders", "--json"]
    done = subprocess.run(command, env=environ, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode in (0, 1), done.stderr
    result = json.loads(done.stdout)
    wanted = {int(o["id"]) for o in live.store.all("order") if o.get("status") in flow.DEFAULT_STATUSES}
    assert result["created"] == len(wanted) and result["cursor_moved"]
    again = subprocess.run(command, env=environ, capture_output=True, text=True, timeout=120, check=False)
    assert json.loads(again.stdout)["created"] == 0 and json.loads(again.stdout)["requests"] <= 2
