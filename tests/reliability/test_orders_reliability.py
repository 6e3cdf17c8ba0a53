"""The orders flow under the faults a real store and a real machine put in its way: ``woobridge sync orders`` as a
subprocess against the sandbox over HTTPS, killed with SIGKILL, throttled, fed truncated JSON, racing shoppers and
staff who change orders while it reads. Whatever happens, every qualifying order ends up in the staging ERP exactly
once — one row per store order, its lines not duplicated — and nothing is missing."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from woobridge.sandbox.state import Store
from woobridge.state.models import Cursor

from .conftest import LEASE_TTL, Rig, create, kill, trash, update

MakeRig = Callable[..., Rig]


def guest(status: str = "processing", **extra: Any) -> dict[str, Any]:
    return {
        "status": status,
        "billing": {"first_name": "Ann", "last_name": "Guest", "email": "ann.guest@example.com", "country": "NZ"},
        "fee_lines": [{"name": "Service", "total": "10.00"}],
        **extra,
    }


class Meddler(threading.Thread):
    """Changes the store while a sync reads it: every ``interval`` seconds one of ``actions`` (random, seeded)."""

    def __init__(self, store: Store, rng: random.Random, actions: list[Callable[[Store, random.Random], None]]) -> None:
        super().__init__(daemon=True)
        self.store = store
        self.rng = rng
        self.actions = actions
        self.interval = 0.03
        self.stopped = threading.Event()
        self.done = 0

    def run(self) -> None:
        while not self.stopped.wait(self.interval):
            self.rng.choice(self.actions)(self.store, self.rng)
            self.done += 1

    def stop(self) -> None:
        self.stopped.set()
        self.join(10)


def _ids(store: Store) -> list[int]:
    with store.lock:
        return sorted(int(o["id"]) for o in store.all("order") if o.get("status") != "trash")


def trash_one(store: Store, rng: random.Random) -> None:
    trash(store, rng.choice(_ids(store)))


def modify_one(store: Store, rng: random.Random) -> None:
    update(store, rng.choice(_ids(store)), {"customer_note": f"changed {rng.random():.6f}"})


def insert_one(store: Store, rng: random.Random) -> None:
    create(store, guest(rng.choice(["processing", "completed", "on-hold", "pending"])))


def promote_one(store: Store, rng: random.Random) -> None:
    """A pending order gets paid: it starts to qualify."""
    with store.lock:
        pending = sorted(int(o["id"]) for o in store.all("order") if o.get("status") == "pending")
    if pending:
        update(store, rng.choice(pending), {"status": "processing"})


# -- SIGKILL at random points --------------------------------------------------------------------------------------


@pytest.mark.parametrize("db", ["sqlite", "postgresql"])
def test_a_sync_killed_at_random_points_and_started_again_imports_every_order_exactly_once(
    make_rig: MakeRig, db: str
) -> None:
    rng = random.Random(4 if db == "sqlite" else 5)
    kills = 15 if db == "sqlite" else 8
    # Small pages and some latency, so a run reads for a couple of seconds and the kills land all over it: while
    # starting, reading, between the ERP write and the binding, while saving the cursor.
    rig = make_rig(orders=700, db=db, per_page=25, max_concurrency=2)
    rig.faults("latency=20")
    killed = 0
    cut_short: set[int] = set()  # runs killed while running: each must end up marked interrupted
    finished = 0
    blocked = 0
    round_ = 0
    # Kills land by timing: on a loaded machine a round may miss the run. Go on (within a bound) until enough kills
    # cut a run short, so the test always exercises what it is about.
    while (round_ < kills or len(cut_short) < kills // 2) and round_ < kills * 3:
        runs_before = len(rig.runs())
        # Once a run got through, its cursor makes the next ones short: read everything again now and then
        # (``--since``, as a backfill does), so kills also land among orders already bound.
        process = rig.start(*(["--since", "2000-01-01"] if finished and rng.random() < 0.5 else []))
        # Most kills after the run took its lease (the interesting part), a few while the process starts.
        if rng.random() < 0.85:
            deadline = time.monotonic() + 20
            while len(rig.runs()) == runs_before and process.poll() is None and time.monotonic() < deadline:
                time.sleep(0.02)
            time.sleep(rng.uniform(0.0, 1.2))
        else:
            time.sleep(rng.uniform(0.2, 1.0))
        if process.poll() is None:
            kill(process)
            killed += 1
            runs = rig.runs()
            if len(runs) > runs_before and runs[-1].outcome == "running":
                cut_short.add(runs[-1].id)
        else:
            out, err = process.communicate()
            assert "Traceback" not in err, err
            if process.returncode == 5 and "already running" in out:
                # The killed run's lease has not expired yet: a clean refusal; try again once it has.
                blocked += 1
                rig.wait_for_lease_expiry()
                continue
            assert process.returncode == 0, out
            finished += 1
        if round_ % 4 == 3:
            # The store moves on between crashes: a changed order, a new one, one that now qualifies.
            modify_one(rig.store, rng)
            insert_one(rig.store, rng)
            promote_one(rig.store, rng)
        round_ += 1
    # What matters is how many runs a kill cut short (asserted below); how many rounds that took depends on timing.
    assert len(cut_short) >= kills // 2, (
        f"only {len(cut_short)} of {round_} rounds cut a run short "
        f"(killed: {killed}, finished: {finished}, blocked: {blocked})"
    )
    assert rig.staged(), "no kill came late enough for anything to reach the ERP"

    rig.faults()
    final = rig.sync_until_done()
    assert final["exit_code"] == 0, final
    again = rig.sync_until_done()
    assert again["created"] == 0 and again["updated"] == 0, again
    staged = rig.assert_exactly_once()
    assert set(staged) <= set(rig.qualifying()), "the ERP holds orders that never qualified"

    runs = rig.runs()
    outcomes = [run.outcome for run in runs]
    assert "running" not in outcomes, outcomes
    assert len(cut_short) >= kills // 2
    assert {run.id for run in runs if run.outcome == "interrupted"} >= cut_short, outcomes
    assert outcomes[-2:] == ["success", "success"], outcomes
    interrupted = [run for run in runs if run.outcome == "interrupted"]
    assert all("stopped without finishing" in (run.message or "") for run in interrupted)


# -- throttling and failing hosts ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "storm",
    [
        ("429=0.3,retry_after=1",),
        ("503=0.3",),
        ("502=0.3",),
        ("429=0.1,retry_after=1", "503=0.1", "502=0.1,style=cloudflare"),
    ],
    ids=["429", "503", "502", "mixed"],
)
def test_429_and_5xx_storms_slow_the_run_down_and_it_finishes_with_every_order_once(
    make_rig: MakeRig, storm: tuple[str, ...]
) -> None:
    rig = make_rig(orders=150, per_page=15)
    rig.faults(*(spec + ",path=/orders" for spec in storm), seed=5)
    report = rig.sync()
    assert report["exit_code"] == 0, report
    assert sum(rig.sandbox.faults.counters.values()) > 0, "the storm never hit"
    assert report["concurrency"]["retries"] > 0
    assert report["created"] == len(rig.qualifying())
    rig.assert_exactly_once()
    assert rig.sync()["created"] == 0


# -- the store changing while it is read ---------------------------------------------------------------------------


def test_orders_inserted_modified_and_trashed_between_page_reads_none_missed_none_doubled(make_rig: MakeRig) -> None:
    rig = make_rig(orders=400, per_page=25, max_concurrency=4)
    rig.faults("page_drift=0.5,insert=1,modify=2", "latency=20", seed=9)
    before = set(rig.qualifying())
    meddler = Meddler(rig.store, random.Random(21), [trash_one, trash_one, modify_one, insert_one, promote_one])
    meddler.start()
    try:
        first = rig.sync()
    finally:
        meddler.stop()
    assert first["exit_code"] == 0, first
    assert meddler.done > 10 and rig.sandbox.faults.counters["page_drift"] > 0
    # Nothing that qualified all along was skipped by the first run, however the list shifted under it.
    with rig.store.lock:
        trashed = {int(o["id"]) for o in rig.store.all("order") if o.get("status") == "trash"}
    still_there = before & set(rig.qualifying()) - trashed
    staged = rig.staged()
    assert not sorted(still_there - set(staged)), "the first run skipped orders that qualified throughout"
    # The next run picks up what changed while the first read: the ERP then matches the store's final state.
    rig.faults()
    second = rig.sync()
    assert second["exit_code"] == 0, second
    staged = rig.assert_exactly_once()
    final = rig.qualifying()
    for order_id, order in final.items():
        assert staged[order_id]["status"] == order["status"], order_id
        assert (staged[order_id]["customer_note"] or "") == (order.get("customer_note") or ""), order_id
    assert set(staged) - set(final) <= trashed, "the ERP holds orders the store never had in an imported status"
    assert rig.sync()["created"] == 0


# -- store clocks and time zones -----------------------------------------------------------------------------------


@pytest.mark.parametrize("timezone", ["Pacific/Auckland", "America/Los_Angeles"])
def test_a_store_in_another_time_zone_misses_no_order_modified_near_the_window_boundary(
    make_rig: MakeRig, timezone: str
) -> None:
    rig = make_rig(orders=120, timezone=timezone, per_page=20, overlap_seconds=60)
    rig.faults("latency=30")
    first = rig.sync()
    assert first["exit_code"] == 0 and first["cursor_moved"], first
    with rig.db.session() as session:
        cursor = session.scalars(select(Cursor)).one().value
    boundary = datetime.fromisoformat(cursor["modified_after"]).replace(tzinfo=None)
    # Orders stamped just after the boundary, on it, and around the run's start on the store's clock: all must be
    # read by the next run (the window is in GMT, whatever the store's local time is).
    with rig.store.lock:
        pending = sorted(int(o["id"]) for o in rig.store.all("order") if o.get("status") == "pending")
    assert len(pending) >= 4
    started = datetime.fromisoformat(cursor["store_started_at"]).replace(tzinfo=None)
    stamps = [
        boundary + timedelta(seconds=1),
        boundary + timedelta(seconds=59),
        started,
        started + timedelta(seconds=1),
    ]
    for order_id, stamp in zip(pending, stamps, strict=False):
        update(rig.store, order_id, {"status": "processing"})
        with rig.store.lock:
            order = rig.store.get("order", order_id)
            order["date_modified_gmt"] = stamp.strftime("%Y-%m-%dT%H:%M:%S")
            rig.store.put("order", order)
    # And orders changed while the next run reads.
    meddler = Meddler(rig.store, random.Random(8), [promote_one, modify_one, insert_one])
    meddler.start()
    try:
        second = rig.sync()
    finally:
        meddler.stop()
    assert second["exit_code"] == 0, second
    staged = rig.staged()
    missed = [order_id for order_id in pending[:4] if order_id not in staged]
    assert not missed, f"orders stamped near the window boundary were missed: {missed}"
    third = rig.sync()
    assert third["exit_code"] == 0, third
    rig.assert_exactly_once()


# -- big, foreign and broken answers ------------------------------------------------------------------------------


def test_a_200_line_order_with_unicode_everywhere(make_rig: MakeRig) -> None:
    rig = make_rig(orders=10)
    with rig.store.lock:
        products = [p for p in rig.store.all("product") if p.get("type", "simple") == "simple"]
        for product in products[:3]:
            product["name"] = "Zoë’s Café Crème — 東京 🍵 " + str(product["id"])
            product["manage_stock"] = False
            rig.store.put("product", product)
    lines = [{"product_id": int(products[i % 3]["id"]), "quantity": 1 + i % 4} for i in range(200)]
    order_id = create(
        rig.store,
        guest(
            "completed",
            line_items=lines,
            billing={
                "first_name": "Zoë",
                "last_name": "Łukasiewicz-Ñúñez",
                "company": "Ærøskøbing ApS 🚲",
                "address_1": "1 Rue de l’Église",
                "city": "Zürich",
                "email": "zoe@example.com",
                "country": "CH",
            },
            customer_note="Bitte klingeln — 请按门铃 — \u202eRTL\u202c — emoji 🎁 and a NUL-free\ttab",
        ),
    )
    report = rig.sync()
    assert report["exit_code"] == 0, report
    staged = rig.assert_exactly_once()
    row = staged[order_id]
    assert row["customer_note"].startswith("Bitte klingeln — 请按门铃")
    assert rig.staged_lines()[order_id] in (201, 202)  # 200 product lines + the fee (+ rounding, if needed)


def test_truncated_json_from_the_store_is_retried_or_stops_the_run_cleanly_and_the_next_run_loses_nothing(
    make_rig: MakeRig,
) -> None:
    rig = make_rig(orders=100, per_page=15)
    # Now and then: retried, the run finishes.
    rig.faults("truncate=0.3,keep=0.6,path=/orders", seed=4)
    report = rig.sync()
    assert report["exit_code"] == 0, report
    assert rig.sandbox.faults.counters["truncate"] > 0
    rig.assert_exactly_once()
    # Always: the run stops with an explanation (no traceback), the cursor stays, and nothing is lost once the store
    # answers properly again.
    for order_id in sorted(rig.qualifying())[:5]:
        update(rig.store, order_id, {"customer_note": "changed while the store was broken"})
    new = create(rig.store, guest())
    rig.faults("truncate=keep=0.5,path=/orders")
    broken = rig.sync()
    assert broken["exit_code"] == 5, broken
    assert "JSON" in broken["error"] and "cursor did not move" in broken["error"], broken
    rig.faults()
    fixed = rig.sync()
    assert fixed["exit_code"] == 0 and fixed["created"] == 1 and fixed["updated"] == 5, fixed
    staged = rig.assert_exactly_once()
    assert new in staged


def test_the_lease_of_a_killed_run_expires_and_the_next_run_takes_over(make_rig: MakeRig) -> None:
    rig = make_rig(orders=150, per_page=10, max_concurrency=1)
    rig.faults("latency=60")
    process = rig.start()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and not any(run.outcome == "running" for run in rig.runs()):
        time.sleep(0.05)
    time.sleep(0.3)
    kill(process)
    # Right away the dead run's lease may still be held: a clean "already running", not a crash …
    blocked = rig.start()
    _out, err = blocked.communicate(timeout=60)
    assert "Traceback" not in err
    # … and within the ttl it is taken over.
    time.sleep(LEASE_TTL)
    rig.faults()
    report = rig.sync_until_done()
    assert report["exit_code"] == 0, report
    rig.assert_exactly_once()
    assert rig.runs()[0].outcome == "interrupted"
