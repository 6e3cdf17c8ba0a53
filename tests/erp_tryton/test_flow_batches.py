"""The orders flow puts a page's orders in ONE call when the adapter takes batches (``SalesOrderBatches``), with the
same promises as one at a time: a refused order is that order's record error, nothing is ever created twice."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from woobridge.documents import Address, CustomerRef, Item, SalesOrder
from woobridge.erp.port import ErpRecordError, ErpRef, ErpUnavailable, SalesOrderBatches, put_sales_orders
from woobridge.erp.tryton import TrytonAdapter, TrytonSettings, devserver
from woobridge.flows import orders
from woobridge.flows.engine import list_errors
from woobridge.sandbox.app import Sandbox
from woobridge.sandbox.seed import seed
from woobridge.state import Connection, StateDB
from woobridge.woo.client import WooClient


def order(order_id: int) -> SalesOrder:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    return SalesOrder(
        store_order_id=order_id, number=str(order_id), status="processing", currency="USD", created_at=now,
        modified_at=now, customer=CustomerRef(), billing=Address(), shipping=Address(), total=Decimal(1),
    )  # fmt: skip


class OneAtATime:
    """An adapter without the batch capability (like the staging tables)."""

    name = "one"

    def put_sales_order(self, connection: str, document: SalesOrder) -> ErpRef:
        if document.store_order_id == 2:
            raise ErpRecordError("order 2: unknown SKU")
        return ErpRef(f"erp-{document.store_order_id}")


class Misaligned(OneAtATime):
    def put_sales_orders(self, connection: str, documents: Sequence[SalesOrder]) -> list[ErpRef | ErpRecordError]:
        return [ErpRef("erp-1")]


def test_without_the_capability_orders_go_one_at_a_time_and_a_refusal_is_that_orders_result() -> None:
    erp = OneAtATime()
    assert not isinstance(erp, SalesOrderBatches)
    results = put_sales_orders(erp, "shop", [order(1), order(2), order(3)])  # type: ignore[arg-type]
    assert [r.erp_id if isinstance(r, ErpRef) else str(r) for r in results] == [
        "erp-1",
        "order 2: unknown SKU",
        "erp-3",
    ]


def test_a_batch_answer_that_does_not_match_the_orders_binds_nothing() -> None:
    erp = Misaligned()
    assert isinstance(erp, SalesOrderBatches)
    with pytest.raises(ErpUnavailable, match="1 results for 2 orders"):
        put_sales_orders(erp, "shop", [order(1), order(2)])  # type: ignore[arg-type]


class Spy(TrytonAdapter):
    """The Tryton adapter, counting how the flow called it."""

    batches: list[int]
    singles = 0

    def put_sales_orders(self, connection: str, documents: Sequence[SalesOrder]) -> list[ErpRef | ErpRecordError]:
        self.batches.append(len(documents))
        return super().put_sales_orders(connection, documents)

    def put_sales_order(self, connection: str, document: SalesOrder) -> ErpRef:
        self.singles += 1
        return super().put_sales_order(connection, document)


async def test_a_page_goes_to_tryton_in_one_call_and_refused_orders_are_retried_once_fixed(
    sandbox: Sandbox, woo: WooClient, state: StateDB, tryton_server: devserver.TrytonServer
) -> None:
    seed(sandbox.store, products=6, orders=30, customers=5, seed=11)
    with state.session() as session:
        conn = session.query(Connection).filter_by(name="shop").one()
        conn.settings = {"orders": {"per_page": 10}}
    erp = Spy(TrytonSettings(tryton_server.url, tryton_server.database, tryton_server.login, tryton_server.password))
    erp.batches = []
    skus = sorted(
        {o["sku"] for kind in ("product", "variation") for o in sandbox.store.objects[kind].values() if o.get("sku")}
    )
    by_id = {i: o for kind in ("product", "variation") for i, o in sandbox.store.objects[kind].items()}
    sold = [
        by_id[line.get("variation_id") or line["product_id"]]["sku"]
        for o in sandbox.store.objects["order"].values()
        if o.get("status") == "processing"
        for line in o.get("line_items") or []
        if by_id.get(line.get("variation_id") or line.get("product_id"), {}).get("sku")
    ]
    held_back = sold[0]  # not in Tryton yet: orders selling it are refused
    erp.put_items("shop", [Item(sku=s, name=s, regular_price=Decimal(1)) for s in skus if s != held_back])

    report = await orders.run(state, "shop", erp=erp, woo=woo)
    assert erp.singles == 0 and 1 <= len(erp.batches) <= 4 and max(erp.batches) <= 10, erp.batches
    refused = [f for f in report.failures if held_back in f.message]
    assert refused, [f.message for f in report.failures]
    assert all("Tryton has no product with code" in f.message for f in refused)
    sales = erp.rpc.model("sale.sale").search([("reference", "like", "shop:%")])
    assert len(sales) == report.counts["created"] == sum(erp.batches) - report.counts["failed"]

    # The product arrives in Tryton; errors retry imports the refused orders, each exactly once.
    erp.put_items("shop", [Item(sku=held_back, name=held_back, regular_price=Decimal(1))])
    errors = [e for e in list_errors(state, "shop", flow="orders") if held_back in e.message]
    retried = await orders.retry_errors(state, "shop", errors, erp=erp, woo=woo)
    assert retried.counts["created"] == len(errors) and retried.counts["failed"] == 0
    again = await orders.run(state, "shop", erp=erp, woo=woo)
    assert again.counts["created"] == 0
    total = erp.rpc.model("sale.sale").search([("reference", "like", "shop:%")])
    assert len(total) == len(sales) + len(errors)
    assert len({r["reference"] for r in erp.rpc.model("sale.sale").read(total, ["reference"])}) == len(total)
    erp.close()
