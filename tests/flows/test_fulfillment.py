"""The fulfillment flow against the sandbox (in process over ASGI), with a real state database and a real staging
ERP database (SQLite files): shipments written into the staging tables reach the store as tracking."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import insert, select

from woobridge.documents import Shipment, ShipmentLine
from woobridge.erp.staging import StagingErp
from woobridge.erp.staging.models import shipment_lines, shipments
from woobridge.flows import fulfillment as flow
from woobridge.flows.engine import RETRY_HANDLERS, list_errors, load_retry_handler
from woobridge.sandbox import orders as store_orders
from woobridge.sandbox import products as store_products
from woobridge.sandbox.faults import FaultRule
from woobridge.sandbox.testing import LiveSandbox
from woobridge.secrets import Vault
from woobridge.state import Connection, StateDB

from .conftest import FAST_RETRY, NAME, FlowEnv, FlowEnvFactory


class Env(FlowEnv):
    async def sync(self) -> flow.FulfillmentReport:
        return await flow.run(self.db, NAME, erp=self.erp, woo=self.woo)

    def product(self, sku: str, price: str = "10.00") -> int:
        with self.store.lock:
            return int(
                store_products.create_product(self.store, {"name": sku, "sku": sku, "regular_price": price})["id"]
            )

    def order(self, lines: list[tuple[int, int]], status: str = "processing") -> int:
        payload = {
            "status": status,
            "billing": {"first_name": "Ann", "last_name": "Buyer", "email": "ann@example.com", "country": "US"},
            "line_items": [{"product_id": product, "quantity": quantity} for product, quantity in lines],
        }
        with self.store.lock:
            return int(store_orders.create_order(self.store, payload)["id"])

    def get_order(self, order_id: int) -> dict[str, Any]:
        return dict(self.store.get("order", order_id))

    def line_ids(self, order_id: int) -> list[int]:
        return [int(line["id"]) for line in self.get_order(order_id)["line_items"]]

    def notes(self, order_id: int) -> list[dict[str, Any]]:
        return [n for n in self.store.all("note") if int(n.get("order_id", 0)) == order_id and n.get("customer_note")]

    def trackings(self, order_id: int) -> list[dict[str, Any]]:
        from woobridge.sandbox.tracking import tracking_items

        return tracking_items(self.get_order(order_id))

    def ship(self, shipment_id: str, order_id: int, lines: list[tuple[int | str, int]] = (), **extra: Any) -> None:  # type: ignore[assignment]
        """The ERP side: insert a shipment and its lines in one transaction, as docs/staging.md says."""
        values = {
            "erp_shipment_id": shipment_id,
            "connection": NAME,
            "store_order_id": order_id,
            "carrier": "UPS",
            "tracking_number": f"1Z{shipment_id}",
            "tracking_url": f"https://www.ups.com/track?tracknum=1Z{shipment_id}",
            "shipped_at": datetime(2026, 11, 2, 10, 0, tzinfo=UTC),
            **extra,
        }
        with self.erp.engine.begin() as db:
            row_id = db.execute(insert(shipments).values(**values).returning(shipments.c.id)).scalar_one()
            for line, quantity in lines:
                column = "store_line_id" if isinstance(line, int) else "sku"
                db.execute(insert(shipment_lines).values(shipment_id=row_id, quantity=quantity, **{column: line}))

    def row(self, shipment_id: str) -> Any:
        with self.erp.engine.connect() as db:
            return db.execute(select(shipments).where(shipments.c.erp_shipment_id == shipment_id)).one()


@pytest.fixture
async def env(flow_env: FlowEnvFactory) -> Env:
    return await flow_env(Env, flows=["fulfillment"], retry=FAST_RETRY)


def set_settings(env: Env, **values: Any) -> None:
    with env.db.session() as session:
        connection = session.scalars(select(Connection)).one()
        connection.settings = {"fulfillment": values}


# -- without the extension: a customer note and the ledger -----------------------------------------------------------


async def test_a_shipment_becomes_a_customer_note_and_completes_the_order(env: Env) -> None:
    mug = env.product("MUG")
    order_id = env.order([(mug, 2)])
    env.ship("SH-1", order_id)
    report = await env.sync()
    assert report.via == "note" and report.counts["shipped"] == 1 and report.completed == 1
    assert report.counts["read"] == 1
    order = env.get_order(order_id)
    assert order["status"] == "completed"
    [note] = env.notes(order_id)
    assert "Carrier: UPS" in note["note"] and "Tracking number: 1ZSH-1" in note["note"]
    assert "https://www.ups.com/track?tracknum=1ZSH-1" in note["note"]
    [entry] = flow.ledger_of(order)
    assert entry["erp_shipment_id"] == "SH-1" and entry["lines"] == [
        {"line_id": env.line_ids(order_id)[0], "quantity": "2"}
    ]
    row = env.row("SH-1")
    assert row.woo_status == "done" and row.woo_ref == f"note:{note['id']}"
    assert report.run is not None and report.run.outcome == "success"

    # Nothing pending: the next run asks the store nothing.
    env.requests.clear()
    again = await env.sync()
    assert again.counts["read"] == 0 and not env.requests


async def test_partial_shipments_add_tracking_and_complete_only_when_every_line_shipped(env: Env) -> None:
    mug, tee = env.product("MUG"), env.product("TEE")
    order_id = env.order([(mug, 2), (tee, 1)])
    mug_line, tee_line = env.line_ids(order_id)
    env.ship("SH-A", order_id, [(mug_line, 1)])
    await env.sync()
    assert env.get_order(order_id)["status"] == "processing"
    assert "Part of your order has shipped: 1 × MUG" in env.notes(order_id)[0]["note"]
    env.ship("SH-B", order_id, [("MUG", 1)])  # by SKU
    await env.sync()
    assert env.get_order(order_id)["status"] == "processing"
    env.ship("SH-C", order_id, [(tee_line, 1)])
    report = await env.sync()
    assert report.completed == 1 and env.get_order(order_id)["status"] == "completed"
    assert len(env.notes(order_id)) == 3
    assert [e["erp_shipment_id"] for e in flow.ledger_of(env.get_order(order_id))] == ["SH-A", "SH-B", "SH-C"]


async def test_complete_on_the_first_shipment_when_the_connection_says_so(env: Env) -> None:
    set_settings(env, complete="first_shipment")
    mug, tee = env.product("MUG"), env.product("TEE")
    order_id = env.order([(mug, 2), (tee, 1)])
    env.ship("SH-1", order_id, [(env.line_ids(order_id)[0], 1)])
    await env.sync()
    assert env.get_order(order_id)["status"] == "completed"


# -- with the Shipment Tracking extension ----------------------------------------------------------------------------


async def test_with_the_extension_tracking_goes_through_its_endpoint(env: Env) -> None:
    env.sandbox.modes.shipment_tracking = True
    mug = env.product("MUG")
    order_id = env.order([(mug, 1)])
    env.ship("SH-1", order_id)
    env.ship("SH-2", env.order([(mug, 1)]), carrier="USPS", tracking_url="", tracking_number="9400")
    report = await env.sync()
    assert report.via == "extension" and report.counts["shipped"] == 2
    [tracking] = env.trackings(order_id)
    assert tracking["tracking_number"] == "1ZSH-1" and tracking["custom_tracking_provider"] == "UPS"
    assert tracking["custom_tracking_link"].startswith("https://www.ups.com/")
    assert not env.notes(order_id)
    assert env.row("SH-1").woo_ref == tracking["tracking_id"]
    assert env.get_order(order_id)["status"] == "completed"
    # A known carrier without a link: the extension's own provider (it builds the link).
    other = env.row("SH-2").store_order_id
    [usps] = env.trackings(other)
    assert usps["tracking_provider"] == "usps" and not usps["custom_tracking_provider"]


async def test_tracking_mode_can_be_forced_to_notes(env: Env) -> None:
    env.sandbox.modes.shipment_tracking = True
    set_settings(env, tracking="note")
    order_id = env.order([(env.product("MUG"), 1)])
    env.ship("SH-1", order_id)
    await env.sync()
    assert not env.trackings(order_id) and len(env.notes(order_id)) == 1


# -- never twice -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("extension", [False, True])
async def test_a_write_that_timed_out_after_it_applied_is_not_pushed_twice(env: Env, extension: bool) -> None:
    env.sandbox.modes.shipment_tracking = extension
    target = "/shipment-trackings" if extension else "/notes"
    env.sandbox.faults.replace(
        [FaultRule(kind="timeout_after_write", hold=0.2, schedule=(1,), path=target, methods=("POST",))]
    )
    order_id = env.order([(env.product("MUG"), 1)])
    env.ship("SH-1", order_id)
    report = await env.sync()
    assert report.counts["shipped"] == 1 and report.counts["failed"] == 0
    assert env.sandbox.faults.stats()["rules"][0]["injected"] == 1
    assert len(env.trackings(order_id) if extension else env.notes(order_id)) == 1
    assert len(flow.ledger_of(env.get_order(order_id))) == 1


async def test_the_order_put_timing_out_after_it_applied_is_fine(env: Env) -> None:
    env.sandbox.faults.replace(
        [FaultRule(kind="timeout_after_write", hold=0.2, schedule=(1,), path="/orders/", methods=("PUT",))]
    )
    order_id = env.order([(env.product("MUG"), 1)])
    env.ship("SH-1", order_id)
    report = await env.sync()
    assert report.counts["shipped"] == 1
    assert len(env.notes(order_id)) == 1 and len(flow.ledger_of(env.get_order(order_id))) == 1
    assert env.get_order(order_id)["status"] == "completed"


async def test_a_shipment_already_on_the_order_is_only_acknowledged(env: Env) -> None:
    """The run died after the store had the shipment and before the ERP heard of it: the row is still pending."""
    order_id = env.order([(env.product("MUG"), 1)])
    env.ship("SH-1", order_id)
    await env.sync()
    with env.erp.engine.begin() as db:
        db.execute(shipments.update().values(woo_status="pending", woo_ref=None))
    report = await env.sync()
    assert report.counts["already"] == 1 and report.counts["shipped"] == 0
    assert len(env.notes(order_id)) == 1 and env.row("SH-1").woo_status == "done"


async def test_a_note_written_before_a_crash_is_found_not_written_again(env: Env) -> None:
    order_id = env.order([(env.product("MUG"), 1)])
    shipment = Shipment(erp_shipment_id="SH-9", store_order_id=order_id, carrier="DHL", tracking_number="JJD1")
    plan = flow.plan_shipment(env.get_order(order_id), shipment, via="note")
    with env.store.lock:
        store_orders.add_note(env.store, order_id, plan.note, customer_note=True)
    env.ship("SH-9", order_id, carrier="DHL", tracking_number="JJD1")
    await env.sync()
    assert len(env.notes(order_id)) == 1 and len(flow.ledger_of(env.get_order(order_id))) == 1


async def test_429s_are_waited_out(env: Env) -> None:
    env.sandbox.faults.replace([FaultRule(kind="429", every=2, retry_after=0)])
    ids = [env.order([(env.product(f"SKU-{n}"), 1)]) for n in range(3)]
    for n, order_id in enumerate(ids):
        env.ship(f"SH-{n}", order_id)
    report = await env.sync()
    assert report.counts["shipped"] == 3 and report.counts["failed"] == 0
    assert all(len(env.notes(order_id)) == 1 for order_id in ids)


# -- refused shipments -----------------------------------------------------------------------------------------------


async def test_unknown_or_cancelled_orders_and_foreign_lines_are_record_errors_and_the_rest_goes_on(env: Env) -> None:
    mug = env.product("MUG")
    good = env.order([(mug, 1)])
    cancelled = env.order([(mug, 1)], status="cancelled")
    other = env.order([(mug, 1)])
    env.ship("SH-UNKNOWN", 999999)
    env.ship("SH-CANCELLED", cancelled)
    env.ship("SH-FOREIGN", good, [(env.line_ids(other)[0], 1)])
    env.ship("SH-SKU", good, [("NOPE", 1)])
    env.ship("SH-TOO-MANY", good, [(env.line_ids(good)[0], 5)])
    env.ship("SH-GOOD", good)
    report = await env.sync()
    assert report.counts["failed"] == 5 and report.counts["shipped"] == 1
    assert report.run is not None and report.run.outcome == "partial"
    assert "not in the store" in env.row("SH-UNKNOWN").woo_message
    assert "is cancelled" in env.row("SH-CANCELLED").woo_message
    assert "is not a product line of order" in env.row("SH-FOREIGN").woo_message
    assert "no line with SKU 'NOPE'" in env.row("SH-SKU").woo_message
    assert "only 1 left to ship" in env.row("SH-TOO-MANY").woo_message
    assert {env.row(s).woo_status for s in ("SH-UNKNOWN", "SH-CANCELLED", "SH-FOREIGN")} == {"error"}
    assert env.row("SH-GOOD").woo_status == "done" and not env.notes(cancelled)
    errors = {e.store_id: e for e in list_errors(env.db, NAME, flow=flow.FLOW)}
    assert set(errors) == {"SH-UNKNOWN", "SH-CANCELLED", "SH-FOREIGN", "SH-SKU", "SH-TOO-MANY"}
    assert errors["SH-CANCELLED"].payload["store_order_id"] == cancelled


async def test_retrying_a_record_error_pushes_the_shipment_once_the_order_can_take_it(env: Env) -> None:
    assert load_retry_handler(flow.FLOW) is RETRY_HANDLERS[flow.FLOW]
    mug = env.product("MUG")
    order_id = env.order([(mug, 1)], status="on-hold")
    with env.store.lock:
        store_orders.update_order(env.store, env.store.get("order", order_id), {"status": "failed"})
    env.ship("SH-1", order_id)
    await env.sync()
    assert env.row("SH-1").woo_status == "error"
    with env.store.lock:
        store_orders.update_order(env.store, env.store.get("order", order_id), {"status": "processing"})
    errors = list_errors(env.db, NAME, flow=flow.FLOW)
    report = await RETRY_HANDLERS[flow.FLOW](env.db, NAME, errors, erp=env.erp, woo=env.woo)
    assert report.counts["shipped"] == 1
    assert not list_errors(env.db, NAME, flow=flow.FLOW)
    assert env.row("SH-1").woo_status == "done" and len(env.notes(order_id)) == 1


# -- mapping (pure) --------------------------------------------------------------------------------------------------


def test_plan_skips_refunded_quantities_when_deciding_everything_shipped() -> None:
    order = {
        "id": 5,
        "status": "processing",
        "line_items": [{"id": 1, "name": "Mug", "quantity": 3, "sku": "MUG"}],
        "meta_data": [],
    }
    shipment = Shipment(erp_shipment_id="S", store_order_id=5, lines=(ShipmentLine(sku="MUG", quantity=Decimal(2)),))
    plan = flow.plan_shipment(order, shipment, via="note", refunded={1: Decimal(1)})
    assert plan.all_shipped and plan.set_completed
    with pytest.raises(flow.ShipmentRefused):
        flow.plan_shipment(
            order,
            shipment.model_copy(update={"lines": (ShipmentLine(sku="MUG", quantity=Decimal(3)),)}),
            via="note",
            refunded={1: Decimal(1)},
        )


def test_the_note_marker_is_recognised_whole() -> None:
    assert flow.has_marker("Your order has shipped.\nShipment reference: SH-10", "SH-10")
    assert flow.has_marker("<p>Your order has shipped.<br />\nShipment reference: SH-10</p>", "SH-10")
    assert not flow.has_marker("Shipment reference: SH-100", "SH-10")


# -- as a command, in its own process, over real HTTPS ----------------------------------------------------------------


def test_woobridge_sync_fulfillment_in_a_subprocess_against_the_served_sandbox(
    live: LiveSandbox, tmp_path: Path
) -> None:
    if not Path(sys.executable).with_name("woobridge").exists():
        pytest.skip("woobridge is not installed in this environment")
    master = Fernet.generate_key()
    state_url = f"sqlite:///{tmp_path / 'state.sqlite'}"
    staging_url = f"sqlite:///{tmp_path / 'staging.sqlite'}"
    db = StateDB(state_url)
    with db.session() as session:
        connection = Connection(
            name=NAME, store_url=live.base_url, key_created_at=datetime.now(UTC), ca_file=live.ca_file
        )
        connection.store_key(Vault([master], "test"), live.keys.admin.consumer_key, live.keys.admin.consumer_secret)
        session.add(connection)
    db.close()
    order = next(o for o in live.store.all("order") if o.get("status") == "processing")
    erp = StagingErp(staging_url)
    with erp.engine.begin() as staging:
        staging.execute(
            insert(shipments).values(
                erp_shipment_id="SH-CLI",
                connection=NAME,
                store_order_id=int(order["id"]),
                carrier="DHL",
                tracking_number="JJD0099",
                tracking_url="https://www.dhl.com/track?id=JJD0099",
            )
        )
        staging.execute(insert(shipments).values(erp_shipment_id="SH-BAD", connection=NAME, store_order_id=987654))
    environ = {
        **os.environ,
        "WOOBRIDGE_HOME": str(tmp_path / "home"),
        "WOOBRIDGE_STATE_URL": state_url,
        "WOOBRIDGE_STAGING_URL": staging_url,
        "WOOBRIDGE_MASTER_KEY": master.decode(),
    }
    command = [str(Path(sys.executable).with_name("woobridge")), "sync", "fulfillment", "--json"]
    done = subprocess.run(command, env=environ, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 1, done.stderr  # one record error
    result = json.loads(done.stdout)
    assert result["shipped"] == 1 and result["failed"] == 1 and result["completed"] == 1
    assert live.store.get("order", int(order["id"]))["status"] == "completed"
    with erp.engine.connect() as staging:
        statuses = dict(staging.execute(select(shipments.c.erp_shipment_id, shipments.c.woo_status)).all())
    erp.close()
    assert statuses == {"SH-CLI": "done", "SH-BAD": "error"}
    again = subprocess.run(command, env=environ, capture_output=True, text=True, timeout=120, check=False)
    assert again.returncode == 0 and json.loads(again.stdout)["requests"] == 0
