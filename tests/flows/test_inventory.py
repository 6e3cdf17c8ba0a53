"""The inventory flow (ERP → store) against the sandbox in process, with a real state database and a real staging
ERP database (SQLite files): what reaches the store, what is written and how often, and what a user is told."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet
from sqlalchemy import delete, insert, select

from woobridge.erp.staging import StagingErp
from woobridge.erp.staging.models import stock_levels
from woobridge.flows import inventory as flow
from woobridge.flows.engine import list_errors, load_retry_handler
from woobridge.sandbox import products as store_products
from woobridge.sandbox.faults import parse_fault_spec
from woobridge.sandbox.stock import adjust_stock
from woobridge.sandbox.testing import LiveSandbox
from woobridge.secrets import Vault
from woobridge.state import Connection, StateDB
from woobridge.state.sku_index import SkuIndexRow

from .conftest import NAME, FlowEnv, FlowEnvFactory


class Env(FlowEnv):
    async def sync(self, **kw: Any) -> flow.InventoryReport:
        self.requests.clear()
        return await flow.run(self.db, NAME, erp=self.erp, woo=self.woo, **kw)

    async def audit(self, **kw: Any) -> flow.AuditReport:
        self.requests.clear()
        return await flow.audit(self.db, NAME, erp=self.erp, woo=self.woo, **kw)

    def writes(self) -> list[httpx.Request]:
        return [r for r in self.requests if r.method != "GET"]

    def later(self, seconds: int = 2) -> None:
        """Move the store's clock on, so changes fall after the index's last read (second-granular dates)."""
        self.store.clock_offset += timedelta(seconds=seconds)

    # -- the store --------------------------------------------------------------------------------------------

    def product(self, sku: str, quantity: int | None = 10, **extra: Any) -> int:
        payload: dict[str, Any] = {"name": f"Product {sku}", "sku": sku, "regular_price": "9.90", **extra}
        if quantity is not None:
            payload.update(manage_stock=True, stock_quantity=quantity)
        with self.store.lock:
            return int(store_products.create_product(self.store, payload)["id"])

    def variable(self, sku: str, *sizes: str, parent_stock: int | None = None, own_stock: bool = True) -> int:
        payload: dict[str, Any] = {
            "name": f"Tee {sku}",
            "sku": sku,
            "type": "variable",
            "attributes": [{"name": "Size", "options": list(sizes), "variation": True, "visible": True}],
        }
        if parent_stock is not None:
            payload.update(manage_stock=True, stock_quantity=parent_stock)
        with self.store.lock:
            parent = store_products.create_product(self.store, payload)
            for size in sizes:
                variation: dict[str, Any] = {
                    "sku": f"{sku}-{size}",
                    "regular_price": "19.90",
                    "attributes": [{"name": "Size", "option": size}],
                }
                if own_stock:
                    variation.update(manage_stock=True, stock_quantity=5)
                store_products.create_variation(self.store, parent, variation)
            return int(parent["id"])

    def obj(self, sku: str) -> dict[str, Any]:
        found = store_products.find_by_sku(self.store, sku)
        assert found is not None, sku
        return found[1]

    def quantity(self, sku: str) -> Any:
        return self.obj(sku).get("stock_quantity")

    def update(self, sku: str, payload: dict[str, Any]) -> None:
        kind, obj = store_products.find_by_sku(self.store, sku) or ("", {})
        with self.store.lock:
            if kind == "product":
                store_products.update_product(self.store, obj, payload)
            else:
                parent = self.store.get("product", int(obj["parent_id"]))
                store_products.update_variation(self.store, parent, obj, payload)

    # -- the ERP ----------------------------------------------------------------------------------------------

    def level(self, sku: str, quantity: Any, warehouse: str = "", connection: str | None = None) -> None:
        with self.erp.engine.begin() as db:
            db.execute(
                delete(stock_levels).where(
                    stock_levels.c.sku == sku,
                    stock_levels.c.warehouse == warehouse,
                    stock_levels.c.connection.is_(None)
                    if connection is None
                    else stock_levels.c.connection == connection,
                )
            )
            db.execute(
                insert(stock_levels).values(
                    connection=connection, sku=sku, warehouse=warehouse, quantity=Decimal(str(quantity))
                )
            )

    def staging(self, sku: str) -> Any:
        with self.erp.engine.connect() as db:
            return db.execute(select(stock_levels).where(stock_levels.c.sku == sku)).first()

    def settings(self, **values: Any) -> None:
        with self.db.session() as session:
            connection = session.scalars(select(Connection).where(Connection.name == NAME)).one()
            connection.settings = {**(connection.settings or {}), "inventory": values}

    def index(self) -> dict[str, SkuIndexRow]:
        with self.db.session() as session:
            return {row.sku: row for row in session.scalars(select(SkuIndexRow))}

    def open_errors(self) -> list[Any]:
        return list_errors(self.db, NAME, flow="inventory")


@pytest.fixture
async def env(flow_env: FlowEnvFactory) -> Env:
    return await flow_env(Env, flows=["inventory"])


def batch_posts(env: Env) -> list[httpx.Request]:
    return [r for r in env.requests if r.method == "POST" and r.url.path.endswith("/batch")]


# -- the first run, and a second with nothing changed ------------------------------------------------------------------


async def test_levels_reach_the_store_in_batches_and_a_second_run_writes_nothing(env: Env) -> None:
    for n in range(250):
        env.product(f"SKU-{n:03d}", quantity=10)
        env.level(f"SKU-{n:03d}", n % 20)  # SKUs with 10 are already right in the store
    report = await env.sync()
    assert report.run is not None and report.run.outcome == "success"
    assert all(env.quantity(f"SKU-{n:03d}") == n % 20 for n in range(250))
    changed = sum(1 for n in range(250) if n % 20 != 10)
    assert report.counts["written"] == changed and report.counts["failed"] == 0
    # ≤ 100 items a request, through products/batch, nothing else written.
    posts = batch_posts(env)
    assert len(posts) == 3 == report.write_requests and len(env.writes()) == 3
    assert all(r.url.path.endswith("/wc/v3/products/batch") for r in posts)
    assert report.index_full and report.index_size == 250
    assert env.staging("SKU-001").woo_status == "done"

    again = await env.sync()
    assert again.run is not None and again.run.outcome == "success"
    assert env.writes() == [] and again.write_requests == 0 and again.counts["written"] == 0
    assert again.counts["unchanged"] == 250
    # The index was brought up to date, not rebuilt: products modified after the last read, and the trash.
    reads = [r for r in env.requests if r.url.path.endswith("/products")]
    assert not again.index_full and all("modified_after" in r.url.params for r in reads)


async def test_only_changed_levels_are_sent(env: Env) -> None:
    for sku in ("A", "B", "C"):
        env.product(sku, quantity=1)
        env.level(sku, 7)
    await env.sync()
    env.level("B", 3)
    report = await env.sync()
    assert report.counts["written"] == 1 and env.quantity("B") == 3
    sent = batch_posts(env)[0]
    assert b'"stock_quantity":3' in sent.content.replace(b" ", b"") and b'"id"' in sent.content


# -- variations --------------------------------------------------------------------------------------------------------


async def test_a_parent_managed_variation_updates_the_parent_and_own_stock_goes_through_variations_batch(
    env: Env,
) -> None:
    shared = env.variable("POOL", "S", "M", parent_stock=4, own_stock=False)
    own = env.variable("TEE", "S", "M")
    env.level("POOL-S", 12)
    env.level("POOL-M", 12)
    env.level("TEE-S", 3)
    env.level("TEE-M", 0)
    report = await env.sync()
    assert report.counts["failed"] == 0, report.failures
    parent = env.store.get("product", shared)
    assert parent["stock_quantity"] == 12
    # The variations' own quantity was not written (it would be ignored: the parent's stock counts).
    assert all(env.obj(f"POOL-{s}").get("stock_quantity") in (None, 0) for s in "SM")
    assert env.quantity("TEE-S") == 3 and env.quantity("TEE-M") == 0
    paths = sorted(r.url.path for r in batch_posts(env))
    assert paths == sorted(["/wp-json/wc/v3/products/batch", f"/wp-json/wc/v3/products/{own}/variations/batch"])
    # One write for the two SKUs that share the parent's stock.
    assert report.counts["written"] == 3
    again = await env.sync()
    assert again.write_requests == 0


async def test_different_quantities_for_skus_sharing_a_parents_stock_are_a_record_error(env: Env) -> None:
    env.variable("POOL", "S", "M", parent_stock=4, own_stock=False)
    env.level("POOL-S", 1)
    env.level("POOL-M", 2)
    report = await env.sync()
    assert report.counts["failed"] == 2 and report.run is not None and report.run.outcome == "partial"
    assert "different quantities" in env.open_errors()[0].message
    # The parent's own SKU decides when the ERP has it.
    env.level("POOL", 9)
    report = await env.sync()
    assert env.obj("POOL")["stock_quantity"] == 9 and report.notes


# -- unmanaged products, unknown SKUs ----------------------------------------------------------------------------------


async def test_an_unmanaged_product_is_left_alone_and_reported_once_unless_the_connection_turns_stock_on(
    env: Env, caplog: pytest.LogCaptureFixture
) -> None:
    for n in range(3):
        env.product(f"FREE-{n}", quantity=None)
        env.level(f"FREE-{n}", 5)
    with caplog.at_level(logging.WARNING, logger="woobridge.flows.inventory"):
        report = await env.sync()
    assert report.counts["unmanaged"] == 3 and report.counts["failed"] == 0 and env.writes() == []
    assert env.obj("FREE-0").get("manage_stock") is False
    assert len([n for n in report.notes if "do not manage stock" in n]) == 1
    assert len([r for r in caplog.records if "do not manage stock" in r.getMessage()]) == 1
    assert env.staging("FREE-0").woo_status == "error"

    env.settings(manage_stock=True)
    report = await env.sync()
    assert report.counts["written"] == 3
    assert env.obj("FREE-1")["manage_stock"] is True and env.quantity("FREE-1") == 5


async def test_unknown_skus_are_reported_once_per_run_not_once_per_item(
    env: Env, caplog: pytest.LogCaptureFixture
) -> None:
    env.product("KNOWN", quantity=1)
    env.level("KNOWN", 2)
    for n in range(30):
        env.level(f"GHOST-{n:02d}", 1)
    with caplog.at_level(logging.WARNING, logger="woobridge.flows.inventory"):
        report = await env.sync()
    assert report.counts["unknown"] == 30 and len(report.unknown_skus) == 30
    assert report.counts["failed"] == 0 and env.open_errors() == []
    assert report.run is not None and report.run.outcome == "success"
    notes = [n for n in report.notes if "not in the store" in n]
    assert len(notes) == 1 and "GHOST-00" in notes[0] and "and 10 more" in notes[0]
    assert len([r for r in caplog.records if "not in the store" in r.getMessage()]) == 1
    assert env.quantity("KNOWN") == 2
    assert env.staging("GHOST-03").woo_status == "error"


# -- what counts: warehouses, buffer, clamping -------------------------------------------------------------------------


async def test_warehouses_buffer_clamping_and_whole_units(env: Env) -> None:
    for sku in ("WH", "NEG", "PART", "LOW"):
        env.product(sku, quantity=50)
    env.level("WH", 5, "main")
    env.level("WH", 3, "east")
    env.level("WH", 100, "consignment")  # does not count for this store
    env.level("NEG", -4, "main")
    env.level("PART", Decimal("6.7"), "main")
    env.level("LOW", 1, "main")
    env.settings(warehouses=["main", "east"], buffer=2)
    report = await env.sync()
    assert report.counts["failed"] == 0
    assert env.quantity("WH") == 6  # 5 + 3 − 2
    assert env.quantity("NEG") == 0  # negative clamps to 0
    assert env.quantity("PART") == 4  # 6.7 → 6 whole units − 2
    assert env.quantity("LOW") == 0  # 1 − 2 clamps to 0
    # A row for this connection overrides the shared row of the same SKU and warehouse.
    env.level("WH", 10, "main", connection=NAME)
    await env.sync()
    assert env.quantity("WH") == 11


def test_settings_are_checked() -> None:
    with pytest.raises(flow.SettingsError, match="buffer"):
        flow.InventorySettings.from_mapping({"buffer": -1})
    with pytest.raises(flow.SettingsError, match="warehouses"):
        flow.InventorySettings.from_mapping({"warehouses": [1]})
    assert flow.InventorySettings.from_mapping({"warehouses": "main, east"}).warehouses == ("main", "east")
    assert flow.target_quantity(Decimal("-3")) == 0 and flow.target_quantity(Decimal("9.99"), 2) == 7


# -- faults: per-item errors, throttling, lost answers -----------------------------------------------------------------


async def test_a_refused_item_is_a_record_error_and_the_rest_of_the_batch_counts_as_done(env: Env) -> None:
    ids = {sku: env.product(sku, quantity=1) for sku in ("A", "B", "C")}
    for sku in ids:
        env.level(sku, 1)
    await env.sync()  # builds the index
    with env.store.lock:
        env.store.remove("product", ids["B"])  # deleted for good: the index cannot see it go
    for sku in ids:
        env.level(sku, 8)
    report = await env.sync()
    assert report.counts["written"] == 2 and report.counts["failed"] == 1
    assert report.run is not None and report.run.outcome == "partial"
    assert env.quantity("A") == 8 and env.quantity("C") == 8
    errors = env.open_errors()
    assert [(e.resource, e.store_id) for e in errors] == [("sku", "B")]
    assert "invalid_id" in errors[0].message and "Invalid ID" in errors[0].message
    assert env.staging("B").woo_status == "error"
    # Its rows left the index: from now on it is an unknown SKU; A and C are not sent again.
    assert "B" not in env.index()
    again = await env.sync()
    assert again.counts["unknown"] == 1 and again.write_requests == 0
    # The retry handler settles it: the SKU is reported unknown, nothing more is written.
    handler = load_retry_handler("inventory")
    assert handler is not None
    await handler(env.db, NAME, errors, erp=env.erp, woo=env.woo)


async def test_429s_are_ridden_out(env: Env) -> None:
    for n in range(120):
        env.product(f"T-{n:03d}", quantity=1)
        env.level(f"T-{n:03d}", 4)
    env.sandbox.faults.replace([parse_fault_spec("429=every:2,path=/batch,retry_after=0")])
    report = await env.sync()
    assert report.counts["written"] == 120 and report.counts["failed"] == 0
    assert all(env.quantity(f"T-{n:03d}") == 4 for n in range(120))
    assert report.batches == 2 and report.write_requests > 2  # the refused requests were sent again


async def test_a_batch_whose_answer_is_lost_after_the_store_wrote_is_sent_again_safely(env: Env) -> None:
    for n in range(5):
        env.product(f"L-{n}", quantity=1)
        env.level(f"L-{n}", 6)
    env.sandbox.faults.replace([parse_fault_spec("timeout_after_write=schedule:1,path=/products/batch,hold=0.1")])
    report = await env.sync()
    assert report.resent == 1 and report.write_requests == 2
    assert report.counts["written"] == 5 and report.counts["failed"] == 0
    assert all(env.quantity(f"L-{n}") == 6 for n in range(5))
    again = await env.sync()
    assert again.write_requests == 0


async def test_an_answer_lost_every_time_is_a_record_error_and_the_next_run_sends_it_again(env: Env) -> None:
    env.product("LOST", quantity=1)
    env.level("LOST", 6)
    env.sandbox.faults.replace([parse_fault_spec("timeout_after_write=path=/products/batch,hold=0.1")])
    report = await env.sync()
    assert report.counts["failed"] == 1 and report.resent == flow.RESENDS
    assert "may or may not" in env.open_errors()[0].message
    env.sandbox.faults.replace([])
    env.update("LOST", {"stock_quantity": 1})  # as if the write had not happened
    env.later()
    report = await env.sync()
    assert report.counts["written"] == 1 and env.quantity("LOST") == 6 and env.open_errors() == []


# -- the index stays fresh ---------------------------------------------------------------------------------------------


async def test_the_index_follows_changes_in_the_store(env: Env) -> None:
    env.product("OLD-NAME", quantity=1)
    trashed = env.product("TRASHED", quantity=1)
    parent = env.variable("VAR", "S")
    env.variable("POOL", "S", parent_stock=2, own_stock=False)
    await env.sync()
    assert set(env.index()) == {"OLD-NAME", "TRASHED", "VAR", "VAR-S", "POOL", "POOL-S"}
    env.later()
    env.update("OLD-NAME", {"sku": "NEW-NAME"})  # a SKU renamed
    env.product("ADDED", quantity=0)  # a product added
    with env.store.lock:  # a variation added (saving it touches the parent)
        store_products.create_variation(
            env.store,
            env.store.get("product", parent),
            {
                "sku": "VAR-XL",
                "manage_stock": True,
                "stock_quantity": 0,
                "attributes": [{"name": "Size", "option": "S"}],
            },
        )
    await env.woo.delete(f"products/{trashed}")  # trashed
    env.update("VAR-S", {"stock_quantity": 9})  # a variation's stock edited in the store
    with env.store.lock:  # an order sells from a parent-managed variation: the parent's stock moves
        adjust_stock(env.store, 0, int(env.obj("POOL-S")["id"]), -1)
    env.later()
    for sku in ("NEW-NAME", "ADDED", "VAR-XL", "OLD-NAME"):
        env.level(sku, 3)
    report = await env.sync()
    index = env.index()
    assert set(index) == {"NEW-NAME", "ADDED", "VAR", "VAR-S", "VAR-XL", "POOL", "POOL-S"}
    assert not report.index_full and report.index_products >= 3
    assert index["VAR-S"].stock_quantity == 9 and index["POOL-S"].stock_quantity == 1
    assert report.unknown_skus == ["OLD-NAME"]
    assert env.quantity("NEW-NAME") == 3 and env.quantity("ADDED") == 3 and env.quantity("VAR-XL") == 3


# -- the drift audit ---------------------------------------------------------------------------------------------------


async def test_audit_lists_drift_and_fix_pushes_it(env: Env) -> None:
    for sku in ("D1", "D2", "OK"):
        env.product(sku, quantity=0)
        env.level(sku, 10)
    env.level("NOWHERE", 1)
    await env.sync()
    env.later()
    env.update("D1", {"stock_quantity": 4})  # someone edited it in the store
    with env.store.lock:
        adjust_stock(env.store, int(env.obj("D2")["id"]), 0, -3)  # an order the ERP has not seen yet
    env.later()
    report = await env.sync()
    # The ERP's quantities did not change: the sync leaves the store alone and says so.
    assert report.write_requests == 0 and report.counts["drift"] == 2
    assert any("audit inventory --fix" in note for note in report.notes)

    found = await env.audit()
    assert sorted(d.sku for d in found.drift) == ["D1", "D2"] and found.unknown == ["NOWHERE"]
    assert {d.sku: d.store_quantity for d in found.drift} == {"D1": 4, "D2": 7}
    assert env.writes() == [] and env.quantity("D1") == 4

    fixed = await env.audit(fix=True)
    assert fixed.fixed is not None and fixed.fixed.counts["written"] == 2
    assert env.quantity("D1") == 10 and env.quantity("D2") == 10
    assert (await env.audit()).drift == []


# -- as commands, in their own process, over real HTTPS ----------------------------------------------------------------


def test_woobridge_sync_and_audit_inventory_in_a_subprocess(live: LiveSandbox, tmp_path: Path) -> None:
    import json
    import os
    import subprocess
    import sys

    if not Path(sys.executable).with_name("woobridge").exists():
        pytest.skip("woobridge is not installed in this environment")
    master = Fernet.generate_key()
    state_url = f"sqlite:///{tmp_path / 'state.sqlite'}"
    staging_url = f"sqlite:///{tmp_path / 'staging.sqlite'}"
    db = StateDB(state_url)
    with db.session() as session:
        connection = Connection(
            name=NAME, store_url=live.base_url, key_created_at=datetime.now(UTC), ca_file=str(live.ca_file)
        )
        connection.store_key(Vault([master], "test"), live.keys.admin.consumer_key, live.keys.admin.consumer_secret)
        session.add(connection)
    db.close()
    with live.store.lock:
        for n in range(3):
            store_products.create_product(
                live.store, {"name": f"P{n}", "sku": f"CLI-{n}", "manage_stock": True, "stock_quantity": 1}
            )
    erp = StagingErp(staging_url)
    with erp.engine.begin() as conn:
        for n in range(3):
            conn.execute(insert(stock_levels).values(sku=f"CLI-{n}", warehouse="", quantity=Decimal(7 + n)))
    erp.close()
    environ = {
        **os.environ,
        "WOOBRIDGE_HOME": str(tmp_path / "home"),
        "WOOBRIDGE_STATE_URL": state_url,
        "WOOBRIDGE_STAGING_URL": staging_url,
        "WOOBRIDGE_MASTER_KEY": master.decode(),
    }
    woobridge = str(Path(sys.executable).with_name("woobridge"))

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([woobridge, *args], env=environ, capture_output=True, text=True, timeout=120, check=False)

    done = cli("sync", "inventory", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["written"] == 3
    assert [store_products.find_by_sku(live.store, f"CLI-{n}")[1]["stock_quantity"] for n in range(3)] == [7, 8, 9]  # type: ignore[index]
    again = json.loads(cli("sync", "inventory", "--json").stdout)
    assert again["written"] == 0 and again["write_requests"] == 0
    with live.store.lock:
        _, product = store_products.find_by_sku(live.store, "CLI-0") or ("", {})
        store_products.update_product(live.store, product, {"stock_quantity": 2})
    audit = cli("audit", "inventory")
    assert audit.returncode == 1 and "CLI-0" in audit.stdout, audit.stdout
    fixed = cli("audit", "inventory", "--fix", "--json")
    assert fixed.returncode == 0 and json.loads(fixed.stdout)["fixed"]["written"] == 1
    assert cli("audit", "inventory").returncode == 0
