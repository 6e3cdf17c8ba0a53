"""The customers flow against the sandbox (over ASGI) with a real state database and a real staging ERP database:
registered customers and guest buyers become ERP customers exactly once, follow their changes, and keep their ERP
customer when they register or change their e-mail."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from woobridge.erp.staging.models import customers
from woobridge.flows import customers as flow
from woobridge.flows.engine import list_errors, load_retry_handler
from woobridge.sandbox import customers as store_customers
from woobridge.sandbox import orders as store_orders
from woobridge.sandbox.app import Sandbox
from woobridge.sandbox.seed import seed
from woobridge.state.models import Cursor

from .conftest import NAME, FlowEnv, FlowEnvFactory


class Env(FlowEnv):
    async def sync(self, **kw: Any) -> flow.CustomersReport:
        self.requests.clear()
        return await flow.run(self.db, NAME, erp=self.erp, woo=self.woo, **kw)

    def customer(self, email: str, **payload: Any) -> int:
        with self.store.lock:
            return int(store_customers.create_customer(self.store, {"email": email, **payload})["id"])

    def change(self, customer_id: int, **payload: Any) -> None:
        self.store.clock_offset += timedelta(seconds=2)
        with self.store.lock:
            store_customers.update_customer(self.store, self.store.users[customer_id], payload)

    def order(self, customer_id: int = 0, status: str = "processing", **billing: Any) -> int:
        self.store.clock_offset += timedelta(seconds=1)
        payload = {
            "status": status,
            "customer_id": customer_id,
            "billing": {"first_name": "Ann", "last_name": "Guest", "country": "US", **billing},
            "fee_lines": [{"name": "Service", "total": "10.00"}],
        }
        with self.store.lock:
            return int(store_orders.create_order(self.store, payload)["id"])

    def rows(self) -> list[Any]:
        with self.erp.engine.connect() as db:
            return list(db.execute(select(customers).order_by(customers.c.id)))

    def row(self, key: str) -> Any:
        return next(r for r in self.rows() if r.customer_key == key)


@pytest.fixture
async def env(sandbox: Sandbox, flow_env: FlowEnvFactory) -> Env:
    with sandbox.store.lock:  # the test keys' own customer user: each test makes the customers it counts
        for user in [u for u in sandbox.store.users.values() if u.role == "customer"]:
            store_customers.delete_customer(sandbox.store, user)
    return await flow_env(Env, flows=["customers"], key="read", max_concurrency=8)


async def test_every_customer_and_every_guest_reaches_the_erp_once_and_a_rerun_sends_nothing(env: Env) -> None:
    seed(env.store, products=6, orders=120, customers=15)
    registered = {u.id for u in env.store.users.values() if u.role == "customer"}
    guest_emails = {
        o["billing"]["email"].strip().lower()
        for o in env.store.all("order")
        if o["customer_id"] == 0 and o["status"] in ("processing", "completed", "on-hold") and o["billing"]["email"]
    }
    report = await env.sync()
    assert report.full_sweep and report.counts["failed"] == 0
    rows = env.rows()
    assert {r.store_customer_id for r in rows if r.store_customer_id} == registered
    assert {r.email for r in rows if not r.store_customer_id} == guest_emails - {
        u.email.lower() for u in env.store.users.values()
    }
    assert len(rows) == len({r.customer_key for r in rows})

    again = await env.sync()
    assert again.counts["created"] == again.counts["updated"] == 0 and not again.full_sweep
    assert len(env.rows()) == len(rows)
    # Nothing new: one read for customers after the last id, one for orders changed since.
    assert len(env.requests) == 2
    customers_read = next(r for r in env.requests if r.url.path.endswith("/customers"))
    assert customers_read.url.params["offset"] == str(len(registered) - 1)


async def test_a_repeat_guest_is_one_erp_customer_and_the_same_address_typed_differently_is_no_change(
    env: Env,
) -> None:
    env.order(email="Ann.Guest@Example.com", address_1="12 Main Street", city="Springfield")
    env.order(email="ann.guest@example.com ", address_1="12 Main Street", city="Springfield")
    report = await env.sync()
    assert report.guests == 1 and report.counts["created"] == 1
    (row,) = env.rows()
    assert (row.customer_key, row.store_customer_id) == ("email:ann.guest@example.com", 0)

    env.order(email="ANN.GUEST@example.com", address_1="12  MAIN street", city="springfield")
    report = await env.sync()
    assert report.counts["unchanged"] == 1 and report.counts["updated"] == 0
    assert env.row("email:ann.guest@example.com").revision == 1

    env.order(email="ann.guest@example.com", address_1="7 Elm Road", city="Springfield")
    report = await env.sync()
    assert report.counts["updated"] == 1
    (row,) = env.rows()
    assert row.billing_address_1 == "7 Elm Road" and row.revision == 2


async def test_a_guest_who_registers_keeps_the_same_erp_customer(env: Env) -> None:
    env.order(email="bob@example.com", first_name="Bob")
    await env.sync()
    guest_row = env.row("email:bob@example.com")
    bob = env.customer("bob@example.com", first_name="Bob", last_name="Builder")
    env.order(customer_id=bob, email="bob@example.com", first_name="Bob")
    report = await env.sync()
    assert report.counts["failed"] == 0
    (row,) = env.rows()
    assert (row.id, row.customer_key, row.store_customer_id) == (guest_row.id, f"id:{bob}", bob)
    # Their old guest orders keep pointing at the same ERP customer.
    env.order(email="bob@example.com")
    await env.sync()
    assert len(env.rows()) == 1


async def test_a_customer_whose_email_changes_stays_the_same_erp_customer(env: Env) -> None:
    carol = env.customer("carol@example.com", first_name="Carol")
    await env.sync()
    before = env.row(f"id:{carol}")
    env.change(carol, email="carol.new@example.com")
    env.order(customer_id=carol, email="carol.new@example.com")  # an order makes the change known at once
    report = await env.sync()
    assert report.counts["updated"] == 1 and report.counts["created"] == 0
    (row,) = env.rows()
    assert (row.id, row.email) == (before.id, "carol.new@example.com")


async def test_changes_without_an_order_arrive_with_the_full_sweep_and_new_customers_every_run(env: Env) -> None:
    dave = env.customer("dave@example.com", first_name="Dave")
    await env.sync()
    env.change(dave, billing={"city": "Lisbon", "country": "PT"})
    erin = env.customer("erin@example.com")
    report = await env.sync()
    assert not report.full_sweep and report.counts["created"] == 1  # Erin; Dave's change waits for the sweep
    assert env.row(f"id:{dave}").billing_city == ""
    report = await env.sync(full_sweep=True)
    assert report.counts["updated"] == 1 and report.counts["unchanged"] == 1
    assert env.row(f"id:{dave}").billing_city == "Lisbon" and env.row(f"id:{erin}").email == "erin@example.com"
    # The sweep is scheduled: due again once its interval passed.
    with env.db.session() as session:
        cursor = session.scalars(select(Cursor).where(Cursor.flow == "customers")).one()
        cursor.value = {**cursor.value, "swept_at": (datetime.now(UTC) - timedelta(hours=25)).isoformat()}
    assert (await env.sync()).full_sweep


async def test_new_customers_are_found_when_earlier_ones_were_deleted(env: Env) -> None:
    ids = [env.customer(f"c{n}@example.com") for n in range(5)]
    await env.sync()
    with env.store.lock:
        for customer_id in ids[:3]:
            store_customers.delete_customer(env.store, env.store.users[customer_id])
    late = env.customer("late@example.com")
    report = await env.sync()
    assert report.counts["created"] == 1 and env.row(f"id:{late}").email == "late@example.com"


async def test_a_customer_with_an_invalid_address_is_a_record_error_and_a_retry_takes_it_once_fixed(
    env: Env,
) -> None:
    bad = env.customer("frank@example.com", billing={"country": "Portugal"})
    good = env.customer("gina@example.com")
    report = await env.sync()
    assert report.counts["created"] == 1 and report.counts["failed"] == 1
    assert report.run is not None and report.run.outcome == "partial"
    (error,) = list_errors(env.db, NAME)
    assert (error.resource, error.store_id) == ("customer", str(bad)) and "country" in error.message
    assert env.row(f"id:{good}")
    env.change(bad, billing={"country": "PT"})
    handler = load_retry_handler("customers")
    assert handler is not None
    await handler(env.db, NAME, list_errors(env.db, NAME), erp=env.erp, woo=env.woo)
    assert list_errors(env.db, NAME) == [] and env.row(f"id:{bad}").billing_country == "PT"
