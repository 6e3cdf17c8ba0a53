"""The refunds flow, both ways, against the sandbox (in process over ASGI), with a real state database and a real
staging ERP database (SQLite files)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet
from sqlalchemy import func, insert, select

from woobridge.documents import CreditMemo, CreditMemoLine
from woobridge.erp.staging import StagingErp
from woobridge.erp.staging.models import credit_memo_lines, credit_memos, erp_credit_memo_lines, erp_credit_memos
from woobridge.flows import refunds as flow
from woobridge.flows.engine import RETRY_HANDLERS, list_errors, load_retry_handler
from woobridge.sandbox import orders as store_orders
from woobridge.sandbox import products as store_products
from woobridge.sandbox import refunds as store_refunds
from woobridge.sandbox.app import Sandbox
from woobridge.sandbox.faults import FaultRule
from woobridge.sandbox.testing import LiveSandbox
from woobridge.secrets import Vault
from woobridge.state import Connection, StateDB
from woobridge.state.models import Binding

from .conftest import FAST_RETRY, NAME, FlowEnv, FlowEnvFactory

CA = {"first_name": "Ann", "last_name": "Buyer", "email": "ann@example.com", "country": "US", "state": "CA"}


class Env(FlowEnv):
    async def sync(self) -> flow.RefundsReport:
        return await flow.run(self.db, NAME, erp=self.erp, woo=self.woo)

    def product(self, sku: str, price: str = "10.00", stock: int | None = None) -> int:
        payload: dict[str, Any] = {"name": sku, "sku": sku, "regular_price": price}
        if stock is not None:
            payload.update(manage_stock=True, stock_quantity=stock)
        with self.store.lock:
            return int(store_products.create_product(self.store, payload)["id"])

    def order(self, lines: list[tuple[int, int]], payment_method: str = "bacs", status: str = "processing") -> int:
        payload = {
            "status": status,
            "payment_method": payment_method,
            "billing": CA,
            "shipping": {k: v for k, v in CA.items() if k != "email"},
            "line_items": [{"product_id": product, "quantity": quantity} for product, quantity in lines],
            "shipping_lines": [{"method_id": "flat_rate", "method_title": "Flat rate", "total": "5.00"}],
        }
        with self.store.lock:
            return int(store_orders.create_order(self.store, payload)["id"])

    def get_order(self, order_id: int) -> dict[str, Any]:
        return dict(self.store.get("order", order_id))

    def store_refunds(self, order_id: int) -> list[dict[str, Any]]:
        return [r for r in self.store.all("refund") if int(r["parent_id"]) == order_id]

    def refund_in_store(self, order_id: int, payload: dict[str, Any]) -> int:
        """Someone refunds in WooCommerce's admin."""
        with self.store.lock:
            order = self.store.get("order", order_id)
            return int(store_refunds.create_refund(self.store, order, {"api_refund": False, **payload})["id"])

    def memo(self, memo_id: str, order_id: int, amount: str, lines: list[dict[str, Any]] = (), **extra: Any) -> None:  # type: ignore[assignment]
        """The ERP side: a credit memo and its lines in one transaction, as docs/staging.md says."""
        values = {"erp_memo_id": memo_id, "connection": NAME, "store_order_id": order_id, "amount": amount, **extra}
        with self.erp.engine.begin() as db:
            row_id = db.execute(insert(erp_credit_memos).values(**values).returning(erp_credit_memos.c.id)).scalar_one()
            for line in lines:
                db.execute(insert(erp_credit_memo_lines).values(erp_credit_memo_id=row_id, **line))

    def memo_row(self, memo_id: str) -> Any:
        with self.erp.engine.connect() as db:
            return db.execute(select(erp_credit_memos).where(erp_credit_memos.c.erp_memo_id == memo_id)).one()

    def credit_memo_rows(self) -> list[Any]:
        with self.erp.engine.connect() as db:
            return list(db.execute(select(credit_memos).order_by(credit_memos.c.id)))

    def credit_memo_lines(self, memo_row_id: int) -> list[Any]:
        with self.erp.engine.connect() as db:
            query = select(credit_memo_lines).where(credit_memo_lines.c.credit_memo_id == memo_row_id)
            return list(db.execute(query.order_by(credit_memo_lines.c.line_no)))

    def refund_posts(self) -> list[httpx.Request]:
        return [r for r in self.requests if r.method == "POST" and r.url.path.endswith("/refunds")]


@pytest.fixture
async def env(sandbox: Sandbox, flow_env: FlowEnvFactory) -> Env:
    with sandbox.store.lock:
        for order, (name, rate, priority, compound) in enumerate(
            (("CA State Tax", "7.2500", 1, False), ("CA District Tax", "1.5000", 2, True))
        ):
            rate_id = sandbox.store.next_id("tax_rate")
            sandbox.store.put(
                "tax_rate",
                {
                    "id": rate_id,
                    "country": "US",
                    "state": "CA",
                    "postcode": "",
                    "city": "",
                    "postcodes": [],
                    "cities": [],
                    "rate": rate,
                    "name": name,
                    "priority": priority,
                    "compound": compound,
                    "shipping": True,
                    "order": order,
                    "class": "standard",
                },
            )
    return await flow_env(Env, flows=["refunds"], retry=FAST_RETRY)


def set_connection(env: Env, settings: dict[str, Any] | None = None, store_info: dict[str, Any] | None = None) -> None:
    with env.db.session() as session:
        connection = session.scalars(select(Connection)).one()
        if settings is not None:
            connection.settings = {"refunds": settings}
        if store_info is not None:
            connection.store_info = store_info


# -- ERP → store -----------------------------------------------------------------------------------------------------


async def test_an_erp_credit_memo_becomes_a_store_refund_with_lines_tax_per_rate_and_restock(env: Env) -> None:
    shirt = env.product("SHIRT", "20.00", stock=10)
    order_id = env.order([(shirt, 2)])
    order = env.get_order(order_id)
    line = order["line_items"][0]
    assert len(line["taxes"]) == 2  # CA state + district
    stock_after_sale = env.store.get("product", shirt)["stock_quantity"]
    line_tax = Decimal(line["total_tax"]) / 2
    env.memo(
        "CM-1",
        order_id,
        str(Decimal("20.00") + line_tax),
        [{"store_line_id": int(line["id"]), "quantity": 1, "amount": "20.00", "tax": str(line_tax)}],
        reason="Damaged in transit",
        restock=True,
    )
    report = await env.sync()
    assert report.counts["refunds_created"] == 1 and report.failed == 0
    [refund] = env.store_refunds(order_id)
    assert refund["reason"] == "Damaged in transit" and Decimal(refund["amount"]) == Decimal("20.00") + line_tax
    assert not refund["refunded_payment"]  # api_refund false by default: recorded, not paid out
    assert {"key": "_woobridge_credit_memo", "value": "CM-1"} in [
        {"key": m["key"], "value": m["value"]} for m in refund["meta_data"]
    ]
    [refunded_line] = refund["line_items"]
    taxes = {t["id"]: -Decimal(t["total"]) for t in refunded_line["taxes"]}
    assert set(taxes) == {t["id"] for t in line["taxes"]} and sum(taxes.values()) == line_tax
    assert env.store.get("product", shirt)["stock_quantity"] == stock_after_sale + 1
    row = env.memo_row("CM-1")
    assert row.woo_status == "done" and row.woo_ref == str(refund["id"])
    # The refund woobridge made is not echoed back to the ERP as a new credit memo.
    assert env.credit_memo_rows() == [] and report.counts["memos_created"] == 0
    again = await env.sync()
    assert again.counts["memos_created"] == 0 and env.credit_memo_rows() == []
    assert len(env.store_refunds(order_id)) == 1


async def test_an_amount_only_memo_without_restock(env: Env) -> None:
    shirt = env.product("SHIRT", "20.00", stock=10)
    order_id = env.order([(shirt, 1)])
    stock = env.store.get("product", shirt)["stock_quantity"]
    env.memo("CM-GOODWILL", order_id, "5.00", reason="Goodwill")
    await env.sync()
    [refund] = env.store_refunds(order_id)
    assert refund["amount"] == "5.00" and not refund["line_items"]
    assert env.store.get("product", shirt)["stock_quantity"] == stock


async def test_an_over_refund_is_refused_before_the_store_is_asked(env: Env) -> None:
    order_id = env.order([(env.product("SHIRT", "20.00"), 1)])
    total = Decimal(env.get_order(order_id)["total"])
    env.refund_in_store(order_id, {"amount": "10.00"})
    env.memo("CM-TOO-MUCH", order_id, str(total))
    env.memo("CM-OK", order_id, "1.00")
    report = await env.sync()
    assert report.counts["memos_failed"] == 1 and report.counts["refunds_created"] == 1
    row = env.memo_row("CM-TOO-MUCH")
    assert row.woo_status == "error"
    assert f"has only {total - Decimal('10.00')}" in row.woo_message and "Invalid refund amount." in row.woo_message
    assert len(env.refund_posts()) == 1  # only CM-OK's
    [error] = [e for e in list_errors(env.db, NAME, flow=flow.FLOW) if e.resource == flow.MEMO]
    assert error.store_id == "CM-TOO-MUCH" and "left to refund" in error.message


async def test_the_stores_own_invalid_amount_answer_is_a_clear_record_error(env: Env) -> None:
    """The order was refunded between woobridge's read and its write: the store's HTTP 500 is explained."""
    order_id = env.order([(env.product("SHIRT", "20.00"), 1)])
    total = env.get_order(order_id)["total"]
    env.memo("CM-RACE", order_id, total)
    transport = env.woo._http._transport  # type: ignore[attr-defined]
    inner = transport.handle_async_request

    async def refund_first(request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and request.url.path.endswith("/refunds"):
            env.refund_in_store(order_id, {"amount": "1.00"})
        return await inner(request)

    transport.handle_async_request = refund_first
    report = await env.sync()
    assert report.counts["memos_failed"] == 1
    message = env.memo_row("CM-RACE").woo_message
    assert "more than is left to refund" in message and "'Invalid refund amount.'" in message


async def test_a_gateway_refusal_is_reported_as_such(env: Env) -> None:
    set_connection(env, {"api_refund": True})
    bacs = env.order([(env.product("SHIRT", "20.00"), 1)], payment_method="bacs")
    card = env.order([(env.product("MUG", "8.00"), 1)], payment_method="sandbox_card")
    env.memo("CM-BACS", bacs, "2.00")
    env.memo("CM-CARD", card, "2.00")
    report = await env.sync()
    assert report.counts["memos_failed"] == 1 and report.counts["refunds_created"] == 1
    message = env.memo_row("CM-BACS").woo_message
    assert "cannot pay the money back automatically" in message and "api_refund" in message
    assert "does not support automatic refunds" in message
    assert not env.store_refunds(bacs)
    assert env.store_refunds(card)[0]["refunded_payment"] is True


async def test_unknown_orders_lines_and_currencies_are_record_errors(env: Env) -> None:
    order_id = env.order([(env.product("SHIRT", "20.00"), 1)])
    env.memo("CM-NO-ORDER", 999999, "1.00")
    env.memo("CM-NO-LINE", order_id, "1.00", [{"store_line_id": 424242, "quantity": 1, "amount": "1.00"}])
    env.memo("CM-NO-SKU", order_id, "1.00", [{"sku": "NOPE", "quantity": 1, "amount": "1.00"}])
    env.memo("CM-EUR", order_id, "1.00", currency="EUR")
    report = await env.sync()
    assert report.counts["memos_failed"] == 4 and not env.store_refunds(order_id)
    assert "not in the store" in env.memo_row("CM-NO-ORDER").woo_message
    assert "has no line 424242" in env.memo_row("CM-NO-LINE").woo_message
    assert "no line with SKU 'NOPE'" in env.memo_row("CM-NO-SKU").woo_message
    assert "is in EUR but order" in env.memo_row("CM-EUR").woo_message


async def test_a_refund_post_that_timed_out_after_it_applied_is_not_made_twice(env: Env) -> None:
    env.sandbox.faults.replace(
        [FaultRule(kind="timeout_after_write", hold=0.2, schedule=(1,), path="/refunds", methods=("POST",))]
    )
    order_id = env.order([(env.product("SHIRT", "20.00"), 1)])
    env.memo("CM-1", order_id, "3.00")
    report = await env.sync()
    assert env.sandbox.faults.stats()["rules"][0]["injected"] == 1
    assert report.counts["refunds_created"] == 1 and report.failed == 0
    assert len(env.store_refunds(order_id)) == 1 and len(env.refund_posts()) == 1
    assert env.memo_row("CM-1").woo_status == "done"


async def test_a_memo_the_store_already_has_is_only_acknowledged(env: Env) -> None:
    order_id = env.order([(env.product("SHIRT", "20.00"), 1)])
    env.memo("CM-1", order_id, "3.00")
    await env.sync()
    with env.erp.engine.begin() as db:
        db.execute(erp_credit_memos.update().values(woo_status="pending", woo_ref=None))
    report = await env.sync()
    assert report.counts["memos_already"] == 1 and len(env.store_refunds(order_id)) == 1
    assert env.memo_row("CM-1").woo_status == "done"


async def test_429s_are_waited_out(env: Env) -> None:
    env.sandbox.faults.replace([FaultRule(kind="429", every=2, retry_after=0)])
    ids = [env.order([(env.product(f"SKU-{n}", "20.00"), 1)]) for n in range(3)]
    for n, order_id in enumerate(ids):
        env.memo(f"CM-{n}", order_id, "2.00")
        env.refund_in_store(order_id, {"amount": "1.00", "reason": "store side"})
    report = await env.sync()
    assert report.counts["refunds_created"] == 3 and report.counts["memos_created"] == 3 and report.failed == 0
    assert all(len(env.store_refunds(order_id)) == 2 for order_id in ids)


# -- store → ERP -----------------------------------------------------------------------------------------------------


async def test_store_refunds_become_credit_memos_exactly_once(env: Env) -> None:
    shirt = env.product("SHIRT", "20.00", stock=10)
    order_id = env.order([(shirt, 2)])
    line = env.get_order(order_id)["line_items"][0]
    shipping = env.get_order(order_id)["shipping_lines"][0]
    tax = {str(t["id"]): str(Decimal(t["total"]) / 2) for t in line["taxes"]}
    refund_id = env.refund_in_store(
        order_id,
        {
            "reason": "Too small",
            "api_restock": True,
            "line_items": {
                str(line["id"]): {"qty": 1, "refund_total": "20.00", "refund_tax": tax},
                str(shipping["id"]): {"refund_total": "5.00"},
            },
        },
    )
    report = await env.sync()
    assert report.counts["memos_created"] == 1 and report.read_mode == "global"
    [row] = env.credit_memo_rows()
    expected = Decimal("25.00") + sum(Decimal(v) for v in tax.values())
    assert row.store_refund_id == refund_id and row.store_order_id == order_id and row.amount == expected
    assert row.reason == "Too small" and row.restock is True and row.currency == "USD"
    first, second = env.credit_memo_lines(row.id)
    assert (first.store_line_id, first.sku, first.quantity, first.amount) == (line["id"], "SHIRT", 1, Decimal("20.00"))
    assert first.tax == sum(Decimal(v) for v in tax.values()) and len(first.taxes) == 2
    assert (second.store_line_id, second.quantity, second.amount) == (shipping["id"], 0, Decimal("5.00"))

    # Exactly once: a second run (and a third after the cursor window moved) puts nothing again.
    again = await env.sync()
    assert again.counts["memos_created"] == 0 and len(env.credit_memo_rows()) == 1
    assert "modified_after" in [r for r in env.requests if r.url.path.endswith("/refunds")][-1].url.params


async def test_a_refund_woobridge_made_whose_binding_was_lost_is_not_echoed(env: Env) -> None:
    order_id = env.order([(env.product("SHIRT", "20.00"), 1)])
    made = env.refund_in_store(
        order_id, {"amount": "2.00", "meta_data": [{"key": "_woobridge_credit_memo", "value": "CM-7"}]}
    )
    report = await env.sync()
    assert report.counts["refunds_ours"] == 1 and env.credit_memo_rows() == []
    with env.db.session() as session:
        binding = session.scalars(select(Binding).where(Binding.store_id == str(made))).one()
        assert binding.resource == "refund" and binding.erp_id == "CM-7"


async def test_stores_before_woocommerce_9_are_read_per_order(env: Env) -> None:
    set_connection(env, store_info={"wc_version": "8.9.3"})
    ids = [env.order([(env.product(f"SKU-{n}", "20.00"), 1)]) for n in range(3)]
    env.refund_in_store(ids[1], {"amount": "4.00"})
    report = await env.sync()
    assert report.read_mode == "per_order" and report.counts["memos_created"] == 1
    assert not [r for r in env.requests if r.url.path.endswith("/wc/v3/refunds")]
    env.requests.clear()
    again = await env.sync()
    assert again.counts["memos_created"] == 0 and len(env.credit_memo_rows()) == 1
    # Orders whose refunds are all bound are not asked for their refunds again.
    assert not [r for r in env.requests if r.url.path.endswith("/refunds")]


async def test_a_refund_the_erp_refuses_is_a_record_error_and_retrying_sends_it(env: Env) -> None:
    assert load_retry_handler(flow.FLOW) is RETRY_HANDLERS[flow.FLOW]
    order_id = env.order([(env.product("SHIRT", "20.00"), 1)])
    refund_id = env.refund_in_store(order_id, {"amount": "2.00"})
    original = env.erp.put_credit_memo

    def refuse(connection: str, memo: CreditMemo) -> Any:
        from woobridge.erp.port import ErpRecordError

        raise ErpRecordError("period closed")

    env.erp.put_credit_memo = refuse  # type: ignore[method-assign]
    report = await env.sync()
    assert report.counts["refunds_failed"] == 1
    [error] = list_errors(env.db, NAME, flow=flow.FLOW)
    assert error.resource == "refund" and error.store_id == str(refund_id) and "period closed" in error.message
    env.erp.put_credit_memo = original  # type: ignore[method-assign]
    retried = await RETRY_HANDLERS[flow.FLOW](env.db, NAME, [error], erp=env.erp, woo=env.woo)
    assert retried.counts["memos_created"] == 1 and not list_errors(env.db, NAME, flow=flow.FLOW)
    with env.erp.engine.connect() as db:
        assert db.scalar(select(func.count()).select_from(credit_memos)) == 1


# -- mapping (pure) --------------------------------------------------------------------------------------------------


def test_tax_is_split_over_the_lines_rates_in_proportion() -> None:
    order = {
        "id": 9,
        "status": "processing",
        "currency": "USD",
        "total": "110.00",
        "refunds": [],
        "line_items": [{"id": 1, "sku": "A", "taxes": [{"id": 4, "total": "7.25"}, {"id": 5, "total": "1.61"}]}],
    }
    memo = CreditMemo(
        store_order_id=9,
        erp_memo_id="M",
        amount=Decimal("54.43"),
        lines=(CreditMemoLine(sku="A", quantity=Decimal(1), amount=Decimal("50.00"), tax=Decimal("4.43")),),
    )
    body = flow.plan_refund(order, memo, api_refund=False)
    taxes = body["line_items"]["1"]["refund_tax"]
    assert taxes == {"4": "3.63", "5": "0.80"} and body["api_refund"] is False
    assert body["meta_data"] == [{"key": "_woobridge_credit_memo", "value": "M"}]


# -- as a command, in its own process, over real HTTPS ----------------------------------------------------------------


def test_woobridge_sync_refunds_in_a_subprocess_against_the_served_sandbox(live: LiveSandbox, tmp_path: Path) -> None:
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
    order = next(o for o in live.store.all("order") if o.get("status") == "processing" and not o.get("refunds"))
    before = sum(1 for _ in live.store.all("refund"))
    erp = StagingErp(staging_url)
    with erp.engine.begin() as staging:
        staging.execute(
            insert(erp_credit_memos).values(
                erp_memo_id="CM-CLI", connection=NAME, store_order_id=int(order["id"]), amount="1.00", reason="cli"
            )
        )
    environ = {
        **os.environ,
        "WOOBRIDGE_HOME": str(tmp_path / "home"),
        "WOOBRIDGE_STATE_URL": state_url,
        "WOOBRIDGE_STAGING_URL": staging_url,
        "WOOBRIDGE_MASTER_KEY": master.decode(),
    }
    command = [str(Path(sys.executable).with_name("woobridge")), "sync", "refunds", "--json"]
    done = subprocess.run(command, env=environ, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["refunds_created"] == 1 and result["memos_created"] == before and result["cursor_moved"]
    with erp.engine.connect() as staging:
        assert staging.scalar(select(func.count()).select_from(credit_memos)) == before
    erp.close()
    again = json.loads(subprocess.run(command, env=environ, capture_output=True, text=True, timeout=120).stdout)
    assert again["memos_created"] == 0 and again["refunds_created"] == 0
