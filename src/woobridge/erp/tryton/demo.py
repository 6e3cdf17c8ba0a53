"""``make demo-tryton``: the whole story against a real Tryton, printed step by step.

A seeded sandbox store (in-process) and a local trytond (built once, ~30 s, then copied) stand in for a shop and
its ERP. The orders flow imports the store's orders into Tryton; the warehouse ships one in Tryton with a tracking
number, which reaches the store order; a stock receipt in Tryton reaches the store's stock; a store refund becomes
a Tryton return sale and a return made in Tryton becomes a store refund. Needs the ``tryton`` extra.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import httpx

from woobridge.documents import CreditMemo, CreditMemoLine, Item
from woobridge.erp.port import Acknowledgement
from woobridge.erp.tryton import TrytonAdapter, TrytonSettings, backoffice, devserver


def say(step: str, text: str) -> None:
    print(f"\n[{step}] {text}")


def detail(text: str) -> None:
    print(f"      {text}")


async def story(workdir: Path, server: devserver.TrytonServer) -> None:
    from woobridge.flows import orders
    from woobridge.sandbox.app import Sandbox
    from woobridge.sandbox.seed import seed
    from woobridge.sandbox.state import Settings, Store
    from woobridge.sandbox.testing import IN_PROCESS_HOME, issue_standard_keys
    from woobridge.state import Connection, StateDB
    from woobridge.woo.auth import Credentials
    from woobridge.woo.client import WooClient

    sandbox = Sandbox(Store(Settings(home_url=IN_PROCESS_HOME)))
    keys = issue_standard_keys(sandbox.store)
    summary = seed(sandbox.store, products=8, orders=15, customers=5, seed=5)
    sandbox.modes.shipment_tracking = True
    say("store", f"a sandbox WooCommerce store at {IN_PROCESS_HOME}: {summary.counts()}")
    erp = TrytonAdapter(TrytonSettings(server.url, server.database, server.login, server.password))
    say("tryton", f"trytond on {server.url}, database {server.database!r} (log: {server.log_path})")

    db = StateDB(f"sqlite:///{workdir / 'state.sqlite'}")
    with db.session() as session:  # a connection row for the flow's bindings; its key is never used here
        session.add(
            Connection(
                name="shop", store_url=IN_PROCESS_HOME, auth="basic", key_created_at=datetime.now(UTC),
                consumer_key_sealed="-", consumer_secret_sealed="-",  # noqa: S106 key_fingerprint="-", flows=["orders"],
            )
        )  # fmt: skip
    credentials = Credentials(IN_PROCESS_HOME, keys.admin.consumer_key, keys.admin.consumer_secret)
    async with WooClient(credentials, transport=httpx.ASGITransport(app=sandbox.app)) as woo:
        items = [
            Item(sku=o["sku"], name=o.get("name") or o["sku"], regular_price=Decimal(o.get("regular_price") or 0))
            for kind in ("product", "variation")
            for o in sandbox.store.objects[kind].values()
            if o.get("sku") and o.get("type") != "variable"
        ]
        erp.put_items("shop", items)
        backoffice.receive_stock(erp.rpc, {i.sku: 100 for i in items})
        say("catalog", f"{len(items)} store SKUs created as Tryton products; 100 of each received in the warehouse")

        report = await orders.run(db, "shop", erp=erp, woo=woo)
        say("orders", f"orders flow into Tryton: {dict(report.counts)}")
        for failure in report.failures[:3]:
            detail(f"record error: {failure}")
        sales = erp.rpc.model("sale.sale").search_read(
            [("reference", "like", "shop:%")], ["number", "reference", "state", "total_amount", "party.name"]
        )
        for sale in sales[:5]:
            detail(f"sale {sale['number'] or '(draft)'} ← store order {sale['reference']}: {sale['state']}, "
                   f"{sale['total_amount']} USD, {sale['party.']['name']}")  # fmt: skip
        again = await orders.run(db, "shop", erp=erp, woo=woo)
        detail(f"second run: {dict(again.counts)}; Tryton still has {len(sales)} sales (nothing duplicated)")

        sale = next(s for s in sales if s["state"] == "processing")
        backoffice.ship_sale(erp.rpc, sale["id"], "1Z-DEMO-0001")
        say("ship", f"the warehouse ships sale {sale['number']} in Tryton with tracking number 1Z-DEMO-0001")
        for shipment in erp.pending_shipments("shop"):
            tracking = await woo.post(
                f"/wc-shipment-tracking/v3/orders/{shipment.store_order_id}/shipment-trackings",
                json={
                    "tracking_number": shipment.tracking_number,
                    "custom_tracking_provider": shipment.carrier or "Post",
                },
            )
            await woo.put(f"orders/{shipment.store_order_id}", json={"status": "completed"})
            erp.acknowledge_shipment(
                "shop", shipment.erp_shipment_id, Acknowledgement("done", store_ref=str(tracking["tracking_id"]))
            )
            detail(f"store order {shipment.store_order_id}: completed, tracking {shipment.tracking_number} "
                   f"(noted on Tryton shipment {shipment.erp_shipment_id})")  # fmt: skip

        sku = items[0].sku
        backoffice.receive_stock(erp.rpc, {sku: 40})
        level = next(x for x in erp.stock_levels("shop") if x.sku == sku)
        product_id = next(k for k, o in sandbox.store.objects["product"].items() if o.get("sku") == sku)
        await woo.put(f"products/{product_id}", json={"manage_stock": True, "stock_quantity": int(level.quantity)})
        say(
            "stock", f"40 more {sku} received in Tryton → forecast {level.quantity} → store stock {int(level.quantity)}"
        )

        order_id = int(sale["reference"].split(":")[1])
        refund = await woo.post(
            f"orders/{order_id}/refunds", json={"amount": "2.00", "reason": "Late delivery", "api_refund": False}
        )
        made = erp.put_credit_memo(
            "shop",
            CreditMemo(store_order_id=order_id, store_refund_id=refund["id"], amount=Decimal("2.00"),
                       reason="Late delivery", lines=(CreditMemoLine(amount=Decimal("2.00")),)),
        )  # fmt: skip
        say("refund →", f"store refund {refund['id']} (2.00) → Tryton return sale {made.document_no} (credit note)")

        lines = erp.rpc.model("sale.line").search_read(
            [("sale", "=", sale["id"]), ("product.type", "=", "goods")], ["product.code"], limit=1
        )
        shipped_sku = lines[0]["product."]["code"]
        return_id = backoffice.return_sale(erp.rpc, sale["id"], {shipped_sku: 1})
        for memo in erp.pending_credit_memos("shop"):
            store_refund = await woo.post(
                f"orders/{memo.store_order_id}/refunds",
                json={"amount": str(memo.amount), "reason": f"Tryton return {memo.erp_memo_id}", "api_refund": False},
            )
            ack = Acknowledgement("done", store_ref=str(store_refund["id"]))
            erp.acknowledge_credit_memo("shop", memo.erp_memo_id, ack)
            say("← refund", f"return of 1 {shipped_sku} made in Tryton (sale {return_id}) → store refund "
                            f"{store_refund['id']} of {memo.amount} on order {memo.store_order_id}")  # fmt: skip
    erp.close()
    db.close()
    say("done", "every step went through the ERP port; see docs/tryton.md to connect your own Tryton")


def main() -> int:
    reason = devserver.missing_reason()
    if reason:
        print(f"demo-tryton needs a local trytond: {reason}", file=sys.stderr)
        return 2
    print("Preparing a Tryton database (the first time takes about 30 s; later runs copy it)…")
    with (
        tempfile.TemporaryDirectory(prefix="woobridge-demo-tryton-") as tmp,
        devserver.running_server(Path(tmp)) as srv,
    ):
        asyncio.run(story(Path(tmp), srv))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
