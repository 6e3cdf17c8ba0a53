"""Orders per second into Tryton (created, quoted and confirmed), on a local trytond over SQLite.

Three ways, each on a fresh copy of the same database, the same orders (3 lines, shipping, taxes, 10 returning
buyers):

* ``naive``: one RPC call per step for one order at a time (create the sale with its lines, quote, confirm),
  with the party and addresses already known: the floor of what any client does.
* ``adapter, 1 at a time``: ``TrytonAdapter.put_sales_order`` as a flow calls it: the reference is checked first
  (idempotency), the party matched by e-mail, addresses reused, taxes mapped, the total checked to the cent.
* ``adapter, batches of 20``: ``TrytonAdapter.put_sales_orders`` (one search, one create, one quote, one
  confirm… for the batch; per order only when Tryton refuses one).
* ``orders flow end to end``: woobridge as users run it (``woobridge sync orders``): orders of the same shape in a
  sandbox store (in-process), read through the WooCommerce client, mapped, put into Tryton by
  ``woobridge.flows.orders`` (a page of 100 in one ``put_sales_orders``) and bound in the state database (SQLite).
  Once more with an adapter that hides the batch method, so the flow puts one order at a time.

Run: ``make bench-tryton`` (or ``.venv/bin/python bench/tryton_orders.py [orders]``). Prints one table.
"""

from __future__ import annotations

import datetime as dt
import sys
import tempfile
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

from woobridge.documents import Address, CustomerRef, SalesOrder, SalesOrderLine, ShippingLine, TaxAmount
from woobridge.erp.port import ErpRecordError, ErpRef
from woobridge.erp.tryton import TrytonAdapter, TrytonSettings, devserver
from woobridge.erp.tryton.adapter import _Pending

SKUS = ["MUG-RED", "TEE-M", "BEANS-1KG"]
NOW = dt.datetime.now(dt.UTC)
TAX = TaxAmount(rate_id=1, rate_code="US-CA-TAX", rate_percent=Decimal("7.25"), amount=Decimal("0"))


def make_order(order_id: int) -> SalesOrder:
    buyer = order_id % 10
    address = Address(
        first_name="Buyer", last_name=str(buyer), address_1=f"{buyer} Market St", city="San Francisco", state="CA",
        postcode="94103", country="US", email=f"buyer{buyer}@example.test",
    )  # fmt: skip
    lines = []
    for n, sku in enumerate(SKUS[:3], start=1):
        total = Decimal(10 * n)
        tax = (total * Decimal("0.0725")).quantize(Decimal("0.01"))
        lines.append(
            SalesOrderLine(
                store_line_id=order_id * 10 + n,
                sku=sku,
                name=sku,
                quantity=Decimal(n),
                unit_price=Decimal(10),
                subtotal=total,
                total=total,
                tax_total=tax,
                taxes=(TAX.model_copy(update={"amount": tax}),),
            )
        )
    total = sum((line.total + line.tax_total for line in lines), Decimal(0)) + Decimal("5.00")
    return SalesOrder(
        store_order_id=order_id, number=str(order_id), status="processing", currency="USD", created_at=NOW,
        modified_at=NOW, customer=CustomerRef(email=address.email), billing=address, shipping=address,
        lines=tuple(lines), total=total,
        shipping_lines=(ShippingLine(store_line_id=order_id * 10 + 9, method_id="flat_rate", total=Decimal("5.00")),),
    )  # fmt: skip


def settings(server: devserver.TrytonServer) -> TrytonSettings:
    return TrytonSettings(server.url, server.database, server.login, server.password)


def prepare(adapter: TrytonAdapter) -> None:
    from woobridge.documents import Item

    adapter.put_items("bench", [Item(sku=sku, name=sku, regular_price=Decimal(10)) for sku in SKUS])


def run_naive(adapter: TrytonAdapter, orders: list[SalesOrder]) -> float:
    # Party, addresses and the sale's values are worked out beforehand (not timed): only the 3 steps are measured.
    pending = [_Pending(i, o, f"naive:{o.store_order_id}") for i, o in enumerate(orders)]
    for p in pending:
        p.values = adapter._sale_values("naive", p.order, p.reference)
    adapter._resolve_parties("naive", pending)
    sale = adapter.rpc.model("sale.sale")
    start = time.perf_counter()
    for p in pending:
        (sale_id,) = sale.create([p.values])
        sale("quote", [sale_id])
        sale("confirm", [sale_id])
    return time.perf_counter() - start


def run_single(adapter: TrytonAdapter, orders: list[SalesOrder]) -> float:
    start = time.perf_counter()
    for order in orders:
        adapter.put_sales_order("bench", order)
    return time.perf_counter() - start


def run_batches(adapter: TrytonAdapter, orders: list[SalesOrder], size: int = 20) -> float:
    start = time.perf_counter()
    for i in range(0, len(orders), size):
        results = adapter.put_sales_orders("bench", orders[i : i + size])
        errors = [r for r in results if isinstance(r, ErpRecordError)]
        if errors:
            raise SystemExit(f"record errors in the benchmark: {errors[:3]}")
    return time.perf_counter() - start


class OneAtATime:
    """The Tryton adapter without the optional batch capability: the flow falls back to ``put_sales_order``."""

    def __init__(self, adapter: TrytonAdapter) -> None:
        self.adapter = adapter
        self.name = adapter.name

    def put_sales_order(self, connection: str, order: SalesOrder) -> ErpRef:
        return self.adapter.put_sales_order(connection, order)

    def __getattr__(self, name: str) -> Any:
        if name == "put_sales_orders":
            raise AttributeError(name)
        return getattr(self.adapter, name)


def store_with_orders(count: int) -> tuple[Any, Any]:
    """A sandbox store with ``count`` processing orders shaped like :func:`make_order` (3 lines, flat-rate shipping,
    the store's own taxes, 10 returning buyers), and an admin key for it."""
    from woobridge.sandbox import orders as store_orders
    from woobridge.sandbox import products as store_products
    from woobridge.sandbox.app import Sandbox
    from woobridge.sandbox.state import Settings, Store
    from woobridge.sandbox.testing import IN_PROCESS_HOME, issue_standard_keys

    sandbox = Sandbox(Store(Settings(home_url=IN_PROCESS_HOME)))
    store = sandbox.store
    keys = issue_standard_keys(store)
    with store.lock:
        seed_tax = {"country": "US", "state": "CA", "rate": "7.2500", "name": "CA Tax", "priority": 1,
                    "compound": False, "shipping": False, "class": "standard", "postcode": "", "city": "",
                    "postcodes": [], "cities": [], "order": 0}  # fmt: skip
        store.put("tax_rate", {"id": store.next_id("tax_rate"), **seed_tax})
        product_ids = [
            int(store_products.create_product(store, {"name": sku, "sku": sku, "regular_price": "10.00"})["id"])
            for sku in SKUS
        ]
        for n in range(count):
            buyer = n % 10
            address = {"first_name": "Buyer", "last_name": str(buyer), "address_1": f"{buyer} Market St",
                       "city": "San Francisco", "state": "CA", "postcode": "94103", "country": "US"}  # fmt: skip
            store_orders.create_order(
                store,
                {
                    "status": "processing",
                    "billing": {**address, "email": f"buyer{buyer}@example.test"},
                    "shipping": address,
                    "line_items": [{"product_id": pid, "quantity": i} for i, pid in enumerate(product_ids, 1)],
                    "shipping_lines": [{"method_id": "flat_rate", "method_title": "Flat rate", "total": "5.00"}],
                },
            )
    return sandbox, keys.admin


def run_flow(server: devserver.TrytonServer, count: int, batches: bool) -> tuple[float, int, int]:
    """Seconds for ``woobridge.flows.orders.run`` to bring ``count`` store orders into Tryton; RPC calls made;
    sales created."""
    import asyncio
    from datetime import UTC, datetime

    import httpx

    from woobridge.flows import orders as flow
    from woobridge.sandbox.testing import IN_PROCESS_HOME
    from woobridge.state import Connection, StateDB
    from woobridge.woo.auth import Credentials
    from woobridge.woo.client import WooClient

    sandbox, key = store_with_orders(count)
    adapter = TrytonAdapter(settings(server))
    prepare(adapter)
    adapter.put_sales_order("bench", make_order(1))  # warm caches and the server, not timed
    with tempfile.TemporaryDirectory() as tmp:
        db = StateDB(f"sqlite:///{Path(tmp) / 'state.sqlite'}")
        with db.session() as session:
            session.add(
                Connection(
                    name="bench", store_url=IN_PROCESS_HOME, auth="basic", key_created_at=datetime.now(UTC),
                    consumer_key_sealed="-", consumer_secret_sealed="-",  # noqa: S106 - never unsealed here
                    key_fingerprint="-", flows=["orders"],
                )
            )  # fmt: skip

        async def sync() -> tuple[float, int]:
            credentials = Credentials(IN_PROCESS_HOME, key.consumer_key, key.consumer_secret)
            async with WooClient(credentials, transport=httpx.ASGITransport(app=sandbox.app)) as woo:
                start = time.perf_counter()
                report = await flow.run(db, "bench", erp=adapter if batches else OneAtATime(adapter), woo=woo)
                return time.perf_counter() - start, report.counts["created"]

        before = adapter.rpc.calls
        seconds, created = asyncio.run(sync())
        calls = adapter.rpc.calls - before
        db.close()
    made = len(adapter.rpc.model("sale.sale").search([("reference", "like", "bench:%"), ("state", "=", "processing")]))
    adapter.close()
    assert created == count and made == count + 1, f"flow: {created} created, {made} processing sales for {count}"
    return seconds, calls, created


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 60
    template = devserver.ensure_template()
    orders = [make_order(1000 + i) for i in range(count)]
    rows = []
    runners: tuple[tuple[str, Callable[[TrytonAdapter, list[SalesOrder]], float]], ...] = (
        ("naive: create, quote, confirm (3 calls/order)", run_naive),
        ("adapter, 1 at a time (put_sales_order)", run_single),
        ("adapter, batches of 20 (put_sales_orders)", run_batches),
    )
    for label, runner in runners:
        with tempfile.TemporaryDirectory() as tmp, devserver.TrytonServer(Path(tmp), template) as server:
            adapter = TrytonAdapter(settings(server))
            prepare(adapter)
            adapter.put_sales_order("bench", make_order(1))  # warm caches and the server, not timed
            before = adapter.rpc.calls
            seconds = runner(adapter, orders)
            calls = adapter.rpc.calls - before
            states = adapter.rpc.model("sale.sale").search([("state", "=", "processing"), ("id", ">", 1)])
            assert len(states) == count, f"{label}: {len(states)} of {count} sales processed"
            adapter.close()
        rows.append((label, count, seconds, count / seconds, calls / count))
    for label, batches in (
        ("orders flow end to end (sandbox → Tryton)", True),
        ("orders flow end to end, adapter 1 at a time", False),
    ):
        with tempfile.TemporaryDirectory() as tmp, devserver.TrytonServer(Path(tmp), template) as server:
            seconds, calls, _ = run_flow(server, count, batches)
        rows.append((label, count, seconds, count / seconds, calls / count))
    title = "Tryton 8.2 on SQLite, JSON-RPC over loopback"
    print(f"{title:<48} {'orders':>6} {'seconds':>8} {'orders/s':>9} {'calls/order':>12}")
    for label, n, seconds, rate, per in rows:
        print(f"{label:<48} {n:>6} {seconds:>8.2f} {rate:>9.1f} {per:>12.2f}")


if __name__ == "__main__":
    main()
