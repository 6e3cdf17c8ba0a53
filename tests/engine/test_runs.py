"""Runs, cursors, bindings and record errors as a flow uses them (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from woobridge.erp.port import ErpRecordError
from woobridge.flows.engine import (
    BindingValues,
    UnknownRecordError,
    backoff,
    digest,
    get_error,
    list_errors,
    list_runs,
    open_run,
    resolve_error,
)
from woobridge.state import Connection, StateDB
from woobridge.state.models import Binding, RecordError, Run

from .conftest import add_connection

# -- outcomes ---------------------------------------------------------------------------------------------------------


async def test_a_clean_run_succeeds_with_its_counts_recorded(db: StateDB, connection: Connection) -> None:
    async with open_run(db, connection, "orders") as run:
        run.count(read=3, created=2, skipped=1, requests=1)
        run.message = "window 2025-01-01T00:00:00 → 2025-01-02T00:00:00"
    summary = run.summary()
    assert summary.outcome == "success"
    assert summary.counts == {"read": 3, "created": 2, "updated": 0, "skipped": 1, "failed": 0, "requests": 1}
    assert summary.duration is not None and summary.duration >= 0
    [listed] = list_runs(db)
    assert listed == summary


async def test_record_errors_make_the_run_partial(db: StateDB, connection: Connection) -> None:
    async with open_run(db, connection, "orders") as run:
        run.count(read=2, created=1)
        run.record_error("order", 7, ErpRecordError("unknown SKU 'HAT-9'"), payload={"id": 7})
    [listed] = list_runs(db, connection="shop", flow="orders")
    assert (listed.outcome, listed.failed, listed.created) == ("partial", 1, 1)


async def test_an_exception_fails_the_run_says_why_and_propagates(db: StateDB, connection: Connection) -> None:
    with pytest.raises(RuntimeError, match="ERP database is down"):
        async with open_run(db, connection, "orders") as run:
            run.count(read=5)
            raise RuntimeError("ERP database is down")
    [listed] = list_runs(db)
    assert listed.outcome == "failed"
    assert listed.message == "RuntimeError: ERP database is down"
    assert listed.read == 5 and listed.ended_at is not None
    # The lease was given back: the next run starts at once.
    async with open_run(db, connection, "orders") as again:
        assert again.id != run.id


async def test_a_cancelled_run_is_interrupted(db: StateDB, connection: Connection) -> None:
    started = asyncio.Event()

    async def flow() -> None:
        async with open_run(db, connection, "orders"):
            started.set()
            await asyncio.sleep(30)

    task = asyncio.create_task(flow())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    [listed] = list_runs(db)
    assert listed.outcome == "interrupted"
    assert "CancelledError" in (listed.message or "")


async def test_runs_are_listed_newest_first_and_filtered(db: StateDB, connection: Connection) -> None:
    outlet = add_connection(db, "outlet")
    for conn, flow in ((connection, "orders"), (outlet, "orders"), (connection, "customers")):
        async with open_run(db, conn, flow):
            pass
    assert [(r.connection, r.flow) for r in list_runs(db)] == [
        ("shop", "customers"),
        ("outlet", "orders"),
        ("shop", "orders"),
    ]
    assert [r.flow for r in list_runs(db, connection="shop")] == ["customers", "orders"]
    assert [r.connection for r in list_runs(db, flow="orders", limit=1)] == ["outlet"]


# -- cursors -----------------------------------------------------------------------------------------------------------


async def test_a_saved_cursor_survives_a_failed_run_and_a_new_database_handle(
    db: StateDB, connection: Connection, db_spec: object
) -> None:
    async with open_run(db, connection, "orders") as run:
        assert run.cursor is None
    with pytest.raises(RuntimeError):
        async with open_run(db, connection, "orders") as run:
            run.save_cursor({"modified_after": "2025-01-01T00:00:00", "last_id": 41})
            run.save_cursor({"modified_after": "2025-01-02T00:00:00", "last_id": 42})
            assert run.cursor == {"modified_after": "2025-01-02T00:00:00", "last_id": 42}
            raise RuntimeError("the store went away")
    fresh = db_spec.open()  # type: ignore[attr-defined]
    try:
        async with open_run(fresh, "shop", "orders") as again:
            assert again.cursor == {"modified_after": "2025-01-02T00:00:00", "last_id": 42}
        async with open_run(fresh, "shop", "customers") as other_flow:
            assert other_flow.cursor is None
    finally:
        fresh.close()


# -- bindings ----------------------------------------------------------------------------------------------------------


async def test_binding_twice_updates_the_one_binding(db: StateDB, connection: Connection) -> None:
    modified = datetime(2025, 5, 1, 12, 0, tzinfo=UTC)
    async with open_run(db, connection, "orders") as run:
        first = run.bind("order", 1001, "SO-1", erp_document_no="SO0001", store_modified=modified, digest="d1")
        second = run.bind("order", "1001", "SO-1", erp_document_no="SO0001", digest="d2")
        assert first.id == second.id
        assert (second.digest, second.store_modified) == ("d2", None)
        found = run.binding("order", 1001)
        assert found is not None and (found.id, found.erp_id, found.digest) == (first.id, "SO-1", "d2")
        assert run.binding("customer", 1001) is None
    with db.session() as session:
        assert session.scalar(select(Binding.id).where(Binding.store_id == "1001")) == first.id
        assert len(session.scalars(select(Binding)).all()) == 1


async def test_a_second_row_for_the_same_record_is_refused_by_the_database(db: StateDB, connection: Connection) -> None:
    async with open_run(db, connection, "orders") as run:
        run.bind("order", 5, "SO-5")
    with pytest.raises(IntegrityError), db.session() as session:
        session.add(Binding(connection_id=connection.id, resource="order", store_id="5", erp_id="SO-other"))


async def test_bindings_for_a_page_in_one_call(db: StateDB, connection: Connection) -> None:
    outlet = add_connection(db, "outlet")
    async with open_run(db, connection, "orders") as run:
        for order_id in range(1, 1201, 2):  # odd ids bound; more than one IN chunk
            run.bind("order", order_id, f"SO-{order_id}")
        run.bind("customer", "guest@example.com", "C-1")
        page = run.bindings("order", range(1, 1201))
        assert len(page) == 600 and page["1199"].erp_id == "SO-1199" and "2" not in page
        digests = run.binding_digests("order", range(1, 1201))
        assert digests == {store_id: binding.digest for store_id, binding in page.items()}
        assert set(run.bindings("customer", ["guest@example.com", "other@example.com"])) == {"guest@example.com"}
    async with open_run(db, outlet, "orders") as outlet_run:
        assert outlet_run.bindings("order", [1, 3]) == {}  # bindings are per connection
        assert outlet_run.binding_digests("order", [1, 3]) == {}


async def test_a_page_bound_at_once_resolves_its_errors(db: StateDB, connection: Connection) -> None:
    moment = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    async with open_run(db, connection, "orders") as run:
        fixed = run.record_error("order", 2, "unknown SKU")
        elsewhere = run.record_error("order", 9000, "unknown SKU")  # not in the page: stays open
        other_resource = run.record_error("customer", 3, "invalid address")
        page = [BindingValues(i, f"SO-{i}", f"N{i}", moment, f"d{i}") for i in range(1, 1201)]  # over one IN chunk
        run.bind_many("order", page)
        run.bind_many("order", [BindingValues(2, "SO-2", "N2", None, "changed")])
        assert run.binding_digests("order", [1, "2", 1200, 1201]) == {"1": "d1", "2": "changed", "1200": "d1200"}
        assert run.binding_digests("customer", [1, 2]) == {}
        bound = run.binding("order", 600)
        assert bound is not None and (bound.erp_id, bound.erp_document_no, bound.store_modified) == (
            "SO-600",
            "N600",
            moment,
        )
        # One time for the whole batch; an update moves updated_at only.
        assert bound.created_at == bound.updated_at
        rebound = run.binding("order", 2)
        assert rebound is not None and rebound.created_at == bound.created_at < rebound.updated_at
    assert {e.id for e in list_errors(db)} == {elsewhere.id, other_resource.id}
    resolved = get_error(db, fixed.id)
    assert resolved.resolution == "synced" and resolved.next_retry_at is None
    assert resolved.resolved_at is not None and resolved.resolved_at.tzinfo is not None
    assert abs(resolved.resolved_at - datetime.now(UTC)) < timedelta(minutes=5)


def test_digest_is_stable_and_sees_changes() -> None:
    order = {"id": 1, "total": Decimal("10.00"), "lines": [{"sku": "É-1", "qty": 2}]}
    same = {"lines": [{"qty": 2, "sku": "É-1"}], "total": Decimal("10.00"), "id": 1}
    assert digest(order) == digest(same)
    assert digest(order) != digest({**order, "total": Decimal("10.01")})


# -- record errors -----------------------------------------------------------------------------------------------------


def test_backoff_doubles_from_a_minute_up_to_six_hours() -> None:
    assert [backoff(n) for n in (1, 2, 3, 4)] == [timedelta(minutes=m) for m in (1, 2, 4, 8)]
    assert backoff(50) == timedelta(hours=6)


async def test_a_repeated_error_is_one_open_error_with_more_attempts(db: StateDB, connection: Connection) -> None:
    async with open_run(db, connection, "orders") as run:
        first = run.record_error("order", 7, ErpRecordError("unknown SKU 'HAT-9'"), payload={"id": 7, "v": 1})
        assert first.attempts == 1 and first.error_class == "ErpRecordError"
        assert first.next_retry_at is not None
        assert timedelta(seconds=55) < first.next_retry_at - first.first_seen <= timedelta(minutes=1, seconds=1)
    async with open_run(db, connection, "orders") as run2:
        again = run2.record_error("order", "7", ValueError("billing e-mail 'x@' is invalid"))
        third = run2.record_error("order", "7", "still invalid")
    assert again.id == third.id == first.id
    assert third.attempts == 3 and third.run_id == run2.id
    assert third.message == "still invalid"
    assert third.payload == {"id": 7, "v": 1}  # kept when a repeat has none
    assert third.next_retry_at is not None
    assert third.next_retry_at - third.last_seen == backoff(3)
    assert [e.id for e in list_errors(db)] == [first.id]


async def test_payloads_of_any_shape_are_stored(db: StateDB, connection: Connection) -> None:
    async with open_run(db, connection, "orders") as run:
        truncated = run.record_error("order", 8, ValueError("truncated JSON"), payload=b'{"id": 8, "total": "1')
        money = run.record_error("order", 9, "bad", payload={"total": Decimal("9.99"), "at": datetime(2025, 1, 1)})
    assert truncated.payload == '{"id": 8, "total": "1'
    assert money.payload == {"total": "9.99", "at": "2025-01-01 00:00:00"}


async def test_binding_a_failed_record_resolves_its_error(db: StateDB, connection: Connection) -> None:
    async with open_run(db, connection, "orders") as run:
        error = run.record_error("order", 7, "unknown SKU")
        run.record_error("order", 8, "unknown SKU")
        run.bind("order", 7, "SO-7")
    assert [e.store_id for e in list_errors(db)] == ["8"]
    resolved = get_error(db, error.id)
    assert resolved.resolved_at is not None and resolved.resolution == "synced"
    # Failing again later opens a new error; the resolved one stays in the history.
    async with open_run(db, connection, "orders") as run:
        reopened = run.record_error("order", 7, "edited into an invalid address")
    assert reopened.id != error.id and reopened.attempts == 1
    assert {e.id for e in list_errors(db, open_only=False)} >= {error.id, reopened.id}


async def test_open_errors_are_those_due_for_a_retry(db: StateDB, connection: Connection) -> None:
    async with open_run(db, connection, "orders") as run:
        due = run.record_error("order", 1, "a")
        run.record_error("order", 2, "b")
        run.record_error("customer", "guest@example.com", "c")
        with db.session() as session:
            session.execute(
                update(RecordError)
                .where(RecordError.id == due.id)
                .values(next_retry_at=datetime.now(UTC) - timedelta(seconds=1))
            )
        assert [e.store_id for e in run.open_errors()] == ["1"]
        assert run.open_errors("customer") == []
    async with open_run(db, connection, "customers") as other:
        assert other.open_errors() == []  # another flow's errors are not this flow's


async def test_one_open_error_per_record_is_enforced_by_the_database(db: StateDB, connection: Connection) -> None:
    async with open_run(db, connection, "orders") as run:
        error = run.record_error("order", 1, "a")
    duplicate = RecordError(
        connection_id=connection.id,
        flow="orders",
        resource="order",
        store_id="1",
        error_class="Error",
        message="b",
    )
    with pytest.raises(IntegrityError), db.session() as session:
        session.add(duplicate)
    resolve_error(db, error.id)
    with db.session() as session:  # once resolved, a new open one is fine
        session.add(
            RecordError(
                connection_id=connection.id,
                flow="orders",
                resource="order",
                store_id="1",
                error_class="Error",
                message="b",
            )
        )


async def test_resolving_by_hand(db: StateDB, connection: Connection) -> None:
    async with open_run(db, connection, "orders") as run:
        error = run.record_error("order", 1, "a")
    resolved = resolve_error(db, error.id)
    assert resolved.resolution == "by hand" and resolved.next_retry_at is None
    assert list_errors(db) == []
    assert resolve_error(db, error.id).resolved_at == resolved.resolved_at  # idempotent
    with pytest.raises(UnknownRecordError, match="no record error with id 999"):
        resolve_error(db, 999)


async def test_a_dead_run_left_running_is_marked_interrupted_by_the_next(db: StateDB, connection: Connection) -> None:
    with db.session() as session:
        session.add(Run(connection_id=connection.id, flow="orders", outcome="running", holder="gone:1:x"))
    async with open_run(db, connection, "orders"):
        pass
    outcomes = [r.outcome for r in reversed(list_runs(db))]
    assert outcomes == ["interrupted", "success"]


async def test_bind_in_commits_with_the_caller_s_transaction_or_not_at_all(db: StateDB, connection: Connection) -> None:
    async with open_run(db, connection, "orders") as run:
        run.record_error("order", 1, "unknown SKU")
        with db.engine.begin() as transaction:  # e.g. the staging adapter writing its rows in the state database
            run.bind_in(transaction, "order", 1, "SO-1", erp_document_no="SO0001", digest="d")
        bound = run.binding("order", 1)
        assert bound is not None and (bound.erp_id, bound.erp_document_no) == ("SO-1", "SO0001")
        assert list_errors(db) == []

        with pytest.raises(RuntimeError), db.engine.begin() as transaction:
            run.bind_in(transaction, "order", 2, "SO-2")
            raise RuntimeError("the ERP rows failed to write")
        assert run.binding("order", 2) is None
