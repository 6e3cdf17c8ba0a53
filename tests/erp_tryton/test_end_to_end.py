"""Store → Tryton → store through woobridge's flows, with real parts: the sandbox store (in-process), the state
database (SQLite), a real trytond. Tryton's side (shipping, receiving stock, a return) is played with the
``backoffice`` helpers, as a warehouse clerk would in the Tryton client.

The ERP is opened the way ``woobridge sync`` opens it: ``WOOBRIDGE_ERP=tryton`` and ``WOOBRIDGE_TRYTON_*``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from woobridge.documents import Item
from woobridge.erp import open_erp
from woobridge.erp.tryton import TrytonAdapter, backoffice
from woobridge.flows import fulfillment, inventory, orders, refunds
from woobridge.sandbox.app import Sandbox
from woobridge.sandbox.seed import seed
from woobridge.state import StateDB
from woobridge.woo.client import WooClient


def catalog(sandbox: Sandbox) -> list[Item]:
    """The store's sellable SKUs as simple items (what ``sync products --import`` gives Tryton)."""
    items = []
    for kind in ("product", "variation"):
        for obj in sandbox.store.objects[kind].values():
            if obj.get("sku") and obj.get("type") != "variable":
                items.append(Item(sku=obj["sku"], name=obj.get("name") or obj["sku"], regular_price=Decimal("1")))
    return items


def store_object(sandbox: Sandbox, sku: str) -> dict[str, Any]:
    for kind in ("product", "variation"):
        for obj in sandbox.store.objects[kind].values():
            if obj.get("sku") == sku:
                return dict(obj)
    raise AssertionError(f"no store product with SKU {sku}")


async def test_orders_shipments_stock_and_refunds_through_the_flows(
    sandbox: Sandbox, woo: WooClient, state: StateDB, tryton_env: dict[str, str]
) -> None:
    seed(sandbox.store, products=8, orders=12, customers=4, seed=5)
    sandbox.modes.shipment_tracking = True  # the store has the Shipment Tracking extension
    erp = open_erp()  # WOOBRIDGE_ERP=tryton from the environment, as the CLI does
    assert isinstance(erp, TrytonAdapter)
    items = catalog(sandbox)
    erp.put_items("shop", items)
    backoffice.receive_stock(erp.rpc, {item.sku: 1000 for item in items})

    # 1. sync orders (the flow opens the ERP itself, from WOOBRIDGE_ERP): every qualifying order is a Tryton sale
    # with the store's total; a second run changes nothing.
    report = await orders.run(state, "shop", woo=woo)
    created = report.counts["created"]
    assert created > 0, report.to_dict()
    # The seed sells a product without SKU: that order is a record error saying so, and the run goes on.
    assert all("has no SKU" in failure.message for failure in report.failures), report.failures
    sales = erp.rpc.model("sale.sale").search_read(
        [("reference", "like", "shop:%")], ["reference", "total_amount", "state", "shipment_state"]
    )
    assert len(sales) == created == report.counts["read"] - report.counts["waiting"] - report.counts["failed"]
    for sale in sales:
        store_order = sandbox.store.objects["order"][int(sale["reference"].split(":")[1])]
        assert sale["total_amount"] == Decimal(store_order["total"]).quantize(Decimal("0.01")), sale["reference"]
    again = await orders.run(state, "shop", woo=woo)
    assert again.counts["created"] == again.counts["updated"] == 0
    assert len(erp.rpc.model("sale.sale").search([("reference", "like", "shop:%")])) == created

    # 2. Shipped in Tryton with a tracking number → sync fulfillment → tracking on the store order, completed.
    confirmed = next(s for s in sales if s["state"] == "processing")
    order_id = int(confirmed["reference"].split(":")[1])
    backoffice.ship_sale(erp.rpc, confirmed["id"], "TRACK-0001")
    shipped = await fulfillment.run(state, "shop", erp=erp, woo=woo)
    assert shipped.counts["shipped"] == 1 and shipped.counts["failed"] == 0, shipped.to_dict()
    listed = await woo.get(f"/wc-shipment-tracking/v3/orders/{order_id}/shipment-trackings")
    assert [t["tracking_number"] for t in listed] == ["TRACK-0001"]
    assert (await woo.get(f"orders/{order_id}"))["status"] == "completed"
    assert erp.pending_shipments("shop") == []  # acknowledged in Tryton (a note on the shipment)
    assert (await fulfillment.run(state, "shop", erp=erp, woo=woo)).counts["shipped"] == 0

    # 3. A stock receipt in Tryton → sync inventory → the store's stock is Tryton's forecast.
    first = await inventory.run(state, "shop", erp=erp, woo=woo)
    assert first.counts["failed"] == 0, first.to_dict()
    sku = items[0].sku
    levels = {level.sku: level.quantity for level in erp.stock_levels("shop")}
    backoffice.receive_stock(erp.rpc, {sku: 25})
    after = {level.sku: level.quantity for level in erp.stock_levels("shop")}
    assert after[sku] == levels[sku] + 25
    store_side = store_object(sandbox, sku)
    if not store_side.get("manage_stock"):
        await woo.put(f"products/{store_side['id']}", json={"manage_stock": True, "stock_quantity": 0})
    second = await inventory.run(state, "shop", erp=erp, woo=woo)
    assert second.counts["failed"] == 0, second.to_dict()
    assert store_object(sandbox, sku)["stock_quantity"] == int(after[sku])

    # 4. A refund made in the store → sync refunds → a Tryton return sale (once), and a return made in Tryton →
    # sync refunds → a store refund (once); neither comes back the other way.
    refund = await woo.post(
        f"orders/{order_id}/refunds", json={"amount": "1.00", "reason": "Late", "api_refund": False}
    )
    sku_sold = next(line["sku"] for line in (await woo.get(f"orders/{order_id}"))["line_items"] if line.get("sku"))
    # … and a line refunded in the store, with its tax and the item back in stock, on another order.
    other = next(s for s in sales if s["state"] == "processing" and s["id"] != confirmed["id"])
    other_id = int(other["reference"].split(":")[1])
    line = next(li for li in (await woo.get(f"orders/{other_id}"))["line_items"] if li.get("sku"))
    unit = Decimal(line["total"]) / line["quantity"]
    taxes = [{"id": t["id"], "refund_total": str(Decimal(t["total"]) / line["quantity"])} for t in line["taxes"]]
    line_refund = await woo.post(
        f"orders/{other_id}/refunds",
        json={
            "api_refund": False,
            "api_restock": True,
            "line_items": [{"id": line["id"], "quantity": 1, "refund_total": str(unit), "refund_tax": taxes}],
        },
    )
    return_id = backoffice.return_sale(erp.rpc, confirmed["id"], {sku_sold: 1})
    both = await refunds.run(state, "shop", erp=erp, woo=woo)
    assert both.counts["memos_failed"] == both.counts["refunds_failed"] == 0, both.outcomes
    assert (both.counts["refunds_created"], both.counts["memos_created"]) == (1, 2), both.counts
    (memo_sale,) = erp.rpc.model("sale.sale").search_read(
        [("reference", "=", f"shop:refund:{refund['id']}")], ["total_amount", "origin", "state"]
    )
    assert memo_sale["total_amount"] == Decimal("-1.00")
    assert memo_sale["origin"] == f"sale.sale,{confirmed['id']}"
    (line_sale,) = erp.rpc.model("sale.sale").search_read(
        [("reference", "=", f"shop:refund:{line_refund['id']}")], ["total_amount", "lines"]
    )
    assert line_sale["total_amount"] == -Decimal(line_refund["amount"])
    returned = erp.rpc.model("sale.line").read(line_sale["lines"], ["product.code", "quantity"])
    assert [(r["product."]["code"], r["quantity"]) for r in returned if r.get("product.")] == [(line["sku"], -1)]
    store_refunds = await woo.get(f"orders/{order_id}/refunds")
    assert len(store_refunds) == 2
    from_tryton = next(r for r in store_refunds if r["id"] != refund["id"])
    assert any(li.get("sku") == sku_sold and li["quantity"] == -1 for li in from_tryton["line_items"])
    (tryton_return,) = erp.rpc.model("sale.sale").read([return_id], ["total_amount"])
    assert Decimal(from_tryton["amount"]) == -tryton_return["total_amount"]
    assert erp.pending_credit_memos("shop") == []
    quiet = await refunds.run(state, "shop", erp=erp, woo=woo)
    assert quiet.counts["refunds_created"] == quiet.counts["memos_created"] == 0, quiet.counts
    assert len(await woo.get(f"orders/{order_id}/refunds")) == 2
    assert len(erp.rpc.model("sale.sale").search([("reference", "like", "shop:refund:%")])) == 2
    erp.close()
