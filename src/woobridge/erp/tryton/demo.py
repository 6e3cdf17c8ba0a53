"""``make demo-tryton``: the whole story against a real Tryton, printed step by step.

A seeded sandbox store (in-process) and a local trytond (built once, ~30 s, then copied) stand in for a shop and
its ERP, opened from ``WOOBRIDGE_ERP=tryton`` settings as ``woobridge sync`` opens it. Each step is a flow, as a
user runs it: ``sync orders`` imports the store's orders into Tryton; the warehouse ships one in Tryton with a
tracking number and ``sync fulfillment`` puts it on the store order; a stock receipt in Tryton reaches the store's
stock through ``sync inventory``; a store refund and a return made in Tryton cross over through ``sync refunds``.
Needs the ``tryton`` extra.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import cast

import httpx

from woobridge.documents import Item
from woobridge.erp.tryton import TrytonAdapter, backoffice, devserver


def say(step: str, text: str) -> None:
    print(f"\n[{step}] {text}")


def detail(text: str) -> None:
    print(f"      {text}")


def tryton_environment(server: devserver.TrytonServer) -> dict[str, str]:
    """The variables that point ``woobridge sync …`` at this Tryton (what a user puts in their environment)."""
    return {
        "WOOBRIDGE_ERP": "tryton",
        "WOOBRIDGE_TRYTON_URL": server.url,
        "WOOBRIDGE_TRYTON_DATABASE": server.database,
        "WOOBRIDGE_TRYTON_USER": server.login,
        "WOOBRIDGE_TRYTON_PASSWORD": server.password,
    }


async def story(workdir: Path, server: devserver.TrytonServer) -> None:
    from woobridge.erp import open_erp
    from woobridge.flows import fulfillment, inventory, orders, refunds
    from woobridge.sandbox import products as store_products
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
    environment = tryton_environment(server)
    shown = " ".join(f"{k}={'…' if k.endswith('PASSWORD') else v}" for k, v in environment.items())
    say("tryton", f"trytond on {server.url}, database {server.database!r} (log: {server.log_path})")
    detail(f"woobridge opens it as `woobridge sync …` would, from: {shown}")
    erp = cast(TrytonAdapter, open_erp(environ=environment))

    db = StateDB(f"sqlite:///{workdir / 'state.sqlite'}")
    with db.session() as session:  # a connection row for the flows' bindings; its key is never used here
        session.add(
            Connection(
                name="shop", store_url=IN_PROCESS_HOME, auth="basic", key_created_at=datetime.now(UTC),
                consumer_key_sealed="-", consumer_secret_sealed="-",  # noqa: S106 - never unsealed
                key_fingerprint="-", flows=["orders", "fulfillment", "inventory", "refunds"],
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

        # 1. sync orders
        report = await orders.run(db, "shop", erp=erp, woo=woo)
        counts = {k: v for k, v in report.counts.items() if v}
        say("sync orders", f"store → Tryton: {counts} ({erp.rpc.calls} Tryton calls so far)")
        for failure in report.failures[:3]:
            detail(f"record error, order {failure.number}: {failure.message}")
        sales = erp.rpc.model("sale.sale").search_read(
            [("reference", "like", "shop:%")], ["number", "reference", "state", "total_amount", "party.name"]
        )
        for sale in sales[:5]:
            detail(f"sale {sale['number'] or '(draft)'} ← store order {sale['reference']}: {sale['state']}, "
                   f"{sale['total_amount']} USD, {sale['party.']['name']}")  # fmt: skip
        again = await orders.run(db, "shop", erp=erp, woo=woo)
        detail(f"second run: {again.counts['created']} created, {again.counts['updated']} updated; Tryton still "
               f"has {len(sales)} sales (nothing duplicated)")  # fmt: skip

        # 2. shipped in Tryton → sync fulfillment
        sale = next(s for s in sales if s["state"] == "processing")
        order_id = int(sale["reference"].split(":")[1])
        backoffice.ship_sale(erp.rpc, sale["id"], "1Z-DEMO-0001")
        say("ship", f"the warehouse ships sale {sale['number']} in Tryton with tracking number 1Z-DEMO-0001")
        shipped = await fulfillment.run(db, "shop", erp=erp, woo=woo)
        store_order = await woo.get(f"orders/{order_id}")
        trackings = await woo.get(f"/wc-shipment-tracking/v3/orders/{order_id}/shipment-trackings")
        say("sync fulfillment", f"Tryton → store: {shipped.counts['shipped']} shipment(s); store order {order_id} "
            f"is {store_order['status']}, tracking {[t['tracking_number'] for t in trackings]}")  # fmt: skip
        detail("Tryton's shipment carries a note: [woobridge shop] done: store ref … (so it is never sent twice)")

        # 3. stock received in Tryton → sync inventory
        sku = items[0].sku
        found = store_products.find_by_sku(sandbox.store, sku)
        assert found is not None
        product = found[1]
        if not product.get("manage_stock"):
            await woo.put(f"products/{product['id']}", json={"manage_stock": True, "stock_quantity": 0})
        backoffice.receive_stock(erp.rpc, {sku: 40})
        level = next(x for x in erp.stock_levels("shop") if x.sku == sku)
        stock = await inventory.run(db, "shop", erp=erp, woo=woo)
        now = (await woo.get(f"products/{product['id']}"))["stock_quantity"]
        say("sync inventory", f"40 more {sku} received in Tryton → forecast {level.quantity} → store stock {now} "
            f"({stock.counts['written']} quantities written, {stock.counts['unchanged']} unchanged)")  # fmt: skip

        # 4. a refund each way → sync refunds
        refund = await woo.post(
            f"orders/{order_id}/refunds", json={"amount": "2.00", "reason": "Late delivery", "api_refund": False}
        )
        say("store refund", f"the shop refunds 2.00 on order {order_id} (refund {refund['id']})")
        lines = erp.rpc.model("sale.line").search_read(
            [("sale", "=", sale["id"]), ("product.type", "=", "goods")], ["product.code"], limit=1
        )
        shipped_sku = lines[0]["product."]["code"]
        return_id = backoffice.return_sale(erp.rpc, sale["id"], {shipped_sku: 1})
        say(
            "tryton return",
            f"the back office returns 1 {shipped_sku} of sale {sale['number']} (return sale {return_id})",
        )
        both = await refunds.run(db, "shop", erp=erp, woo=woo)
        (memo,) = erp.rpc.model("sale.sale").search_read(
            [("reference", "=", f"shop:refund:{refund['id']}")], ["number", "total_amount"]
        )
        store_refunds = await woo.get(f"orders/{order_id}/refunds")
        say("sync refunds", f"store refund {refund['id']} → Tryton return sale {memo['number']} "
            f"({memo['total_amount']}); Tryton return {return_id} → store refund(s) "
            f"{[r['id'] for r in store_refunds if r['id'] != refund['id']]}")  # fmt: skip
        detail(f"counts: { {k: v for k, v in both.counts.items() if v} }")
        quiet = await refunds.run(db, "shop", erp=erp, woo=woo)
        detail(f"second run: {quiet.counts['refunds_created']} store refunds and {quiet.counts['memos_created']} "
               "Tryton returns made (none: each refund went once, and never came back)")  # fmt: skip
    erp.close()
    db.close()
    say("done", "every step went through woobridge's flows; see docs/tryton.md to connect your own Tryton")


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
