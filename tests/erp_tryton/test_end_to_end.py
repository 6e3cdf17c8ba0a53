"""Store → Tryton → store, with real parts: the sandbox store (in-process), the orders flow, a real trytond.

Orders go in through ``woobridge.flows.orders``; shipments, stock and refunds go back through the port (their
flows are not written yet) and are written to the store with the WooCommerce client, as those flows will.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from woobridge.documents import CreditMemo, CreditMemoLine, Item
from woobridge.erp.port import Acknowledgement
from woobridge.erp.tryton import TrytonAdapter, backoffice
from woobridge.flows import orders
from woobridge.sandbox.app import Sandbox
from woobridge.sandbox.seed import seed
from woobridge.sandbox.testing import IN_PROCESS_HOME, Keys
from woobridge.state import Connection, StateDB
from woobridge.woo.auth import Credentials
from woobridge.woo.client import WooClient


@pytest.fixture
async def woo(sandbox: Sandbox, keys: Keys) -> AsyncIterator[WooClient]:
    credentials = Credentials(IN_PROCESS_HOME, keys.admin.consumer_key, keys.admin.consumer_secret)
    async with WooClient(credentials, transport=httpx.ASGITransport(app=sandbox.app)) as client:
        yield client


@pytest.fixture
def state(tmp_path: Path) -> Iterator[StateDB]:
    db = StateDB(f"sqlite:///{tmp_path / 'state.sqlite'}")
    with db.session() as session:
        session.add(
            Connection(
                name="shop",
                store_url=IN_PROCESS_HOME,
                auth="basic",
                key_created_at=datetime(2026, 1, 1, tzinfo=UTC),
                consumer_key_sealed="unused",
                consumer_secret_sealed="unused",
                key_fingerprint="0000000",
                flows=["orders"],
            )
        )
    yield db
    db.close()


def catalog(sandbox: Sandbox) -> list[Item]:
    """The store's sellable SKUs as simple items (the catalog flow's job, done by hand here)."""
    items = []
    for kind in ("product", "variation"):
        for obj in sandbox.store.objects[kind].values():
            if obj.get("sku") and obj.get("type") != "variable":
                items.append(Item(sku=obj["sku"], name=obj.get("name") or obj["sku"], regular_price=Decimal("1")))
    return items


async def test_orders_in_shipped_out_stock_and_refunds_both_ways(
    sandbox: Sandbox, woo: WooClient, state: StateDB, adapter: TrytonAdapter
) -> None:
    seed(sandbox.store, products=8, orders=12, customers=4, seed=5)
    sandbox.modes.shipment_tracking = True  # the store has the Shipment Tracking extension
    items = catalog(sandbox)
    adapter.put_items("shop", items)
    backoffice.receive_stock(adapter.rpc, {item.sku: 1000 for item in items})

    # 1. Orders into Tryton through the orders flow; a second run changes nothing.
    report = await orders.run(state, "shop", erp=adapter, woo=woo)
    created = report.counts.get("created", 0)
    assert created > 0, report.to_dict()
    sales = adapter.rpc.model("sale.sale").search_read(
        [("reference", "like", "shop:%")], ["reference", "total_amount", "state"]
    )
    assert len(sales) == created
    for sale in sales:
        store_order = sandbox.store.objects["order"][int(sale["reference"].split(":")[1])]
        assert sale["total_amount"] == Decimal(store_order["total"]).quantize(Decimal("0.01")), sale["reference"]
    again = await orders.run(state, "shop", erp=adapter, woo=woo)
    assert again.counts.get("created", 0) == 0
    assert len(adapter.rpc.model("sale.sale").search([("reference", "like", "shop:%")])) == created

    # 2. Shipped in Tryton with a tracking number → pending shipment → tracking on the store order.
    confirmed = next(s for s in sales if s["state"] == "processing")
    backoffice.ship_sale(adapter.rpc, confirmed["id"], "TRACK-0001")
    (shipment,) = adapter.pending_shipments("shop")
    order_id = shipment.store_order_id
    assert f"shop:{order_id}" == confirmed["reference"] and shipment.tracking_number == "TRACK-0001"
    tracking = await woo.post(
        f"/wc-shipment-tracking/v3/orders/{order_id}/shipment-trackings",
        json={"tracking_number": shipment.tracking_number, "custom_tracking_provider": shipment.carrier or "Tryton"},
    )
    adapter.acknowledge_shipment(
        "shop", shipment.erp_shipment_id, Acknowledgement("done", store_ref=str(tracking["tracking_id"]))
    )
    assert adapter.pending_shipments("shop") == []
    listed = await woo.get(f"/wc-shipment-tracking/v3/orders/{order_id}/shipment-trackings")
    assert [t["tracking_number"] for t in listed] == ["TRACK-0001"]

    # 3. A stock change in Tryton → stock levels → the store's stock.
    sku = items[0].sku
    before = {level.sku: level.quantity for level in adapter.stock_levels("shop")}[sku]
    backoffice.receive_stock(adapter.rpc, {sku: 25})
    level = {level.sku: level.quantity for level in adapter.stock_levels("shop")}[sku]
    assert level == before + 25
    product_id = next(
        (k, o) for k, o in sandbox.store.objects["product"].items() if o.get("sku") == sku
    )[0]  # fmt: skip
    await woo.put(f"products/{product_id}", json={"manage_stock": True, "stock_quantity": int(level)})
    assert (await woo.get(f"products/{product_id}"))["stock_quantity"] == int(level)

    # 4. Refunds each way: a store refund becomes a return sale; a Tryton return becomes a store refund.
    sku_sold = next(line.sku for line in shipment.lines if line.sku)
    refund = await woo.post(
        f"orders/{order_id}/refunds", json={"amount": "1.00", "reason": "Late", "api_refund": False}
    )
    memo = CreditMemo(
        store_order_id=order_id, store_refund_id=refund["id"], amount=Decimal("1.00"), reason="Late",
        lines=(CreditMemoLine(amount=Decimal("1.00")),),
    )  # fmt: skip
    made = adapter.put_credit_memo("shop", memo)
    assert adapter.put_credit_memo("shop", memo).erp_id == made.erp_id
    (returned,) = adapter.rpc.model("sale.sale").read([int(made.erp_id)], ["total_amount"])
    assert returned["total_amount"] == Decimal("-1.00")

    backoffice.return_sale(adapter.rpc, confirmed["id"], {sku_sold: 1})
    (pending,) = adapter.pending_credit_memos("shop")
    assert pending.store_order_id == order_id and pending.lines[0].sku == sku_sold
    store_refund = await woo.post(
        f"orders/{order_id}/refunds",
        json={"amount": str(pending.amount), "reason": f"Tryton return {pending.erp_memo_id}", "api_refund": False},
    )
    adapter.acknowledge_credit_memo(
        "shop", pending.erp_memo_id, Acknowledgement("done", store_ref=str(store_refund["id"]))
    )
    assert adapter.pending_credit_memos("shop") == []
    refunds = await woo.get(f"orders/{order_id}/refunds")
    assert {r["reason"] for r in refunds} == {"Late", f"Tryton return {pending.erp_memo_id}"}
