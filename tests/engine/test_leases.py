"""Two runs of one flow for one connection never overlap: across real processes, after a crash, under a race."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from woobridge.flows.engine import LeaseHeld, LeaseLost, acquire_lease, open_run
from woobridge.state import Connection, StateDB
from woobridge.state.models import Lease, Run

from .conftest import DbSpec

HOLDER = Path(__file__).with_name("lease_holder.py")


def start_holder(
    spec: DbSpec, *, ttl: float, hold: float, start_at: float | None = None, stop_file: Path | None = None
) -> subprocess.Popen[str]:
    args = [sys.executable, str(HOLDER), spec.to_json(), "orders", str(ttl), str(hold)]
    if start_at is not None:
        args.append(str(start_at))
    env = {**os.environ, "LEASE_HOLDER_STOP_FILE": str(stop_file)} if stop_file else None
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def first_line(process: subprocess.Popen[str], timeout: float = 20.0) -> str:
    """The holder's first line (ACQUIRED … or HELD …), waiting at most ``timeout`` seconds."""
    assert process.stdout is not None
    deadline = time.monotonic() + timeout
    os.set_blocking(process.stdout.fileno(), False)
    buffer = ""
    while time.monotonic() < deadline:
        chunk = process.stdout.readline()
        if chunk:
            buffer += chunk
            if buffer.endswith("\n"):
                return buffer.strip()
        elif process.poll() is not None:
            break
        time.sleep(0.02)
    stderr = process.stderr.read() if process.stderr else ""
    raise AssertionError(f"holder said nothing in {timeout} s (exit {process.poll()}): {stderr}")


def run_holder(spec: DbSpec, *, ttl: float, hold: float) -> tuple[int, str]:
    done = subprocess.run(
        [sys.executable, str(HOLDER), spec.to_json(), "orders", str(ttl), str(hold)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    return done.returncode, done.stdout.strip()


def test_a_second_process_is_refused_while_the_first_runs_then_runs_after_it(
    db_spec: DbSpec, db: StateDB, connection: Connection, tmp_path: Path
) -> None:
    stop = tmp_path / "stop"
    first = start_holder(db_spec, ttl=10, hold=60, stop_file=stop)
    try:
        assert first_line(first).startswith("ACQUIRED")
        code, said = run_holder(db_spec, ttl=10, hold=0)
        assert (code, said.split()[0]) == (3, "HELD")
    finally:
        stop.touch()
        first.wait(timeout=30)
    assert first.returncode == 0
    code, said = run_holder(db_spec, ttl=10, hold=0)
    assert code == 0 and said.startswith("ACQUIRED")
    with db.session() as session:
        assert session.scalars(select(Lease)).all() == []  # released on exit
        outcomes = [run.outcome for run in session.scalars(select(Run).order_by(Run.id))]
    assert outcomes == ["success", "success"]


def test_a_killed_holder_is_taken_over_once_its_lease_expires(
    db_spec: DbSpec, db: StateDB, connection: Connection
) -> None:
    ttl = 1.5
    victim = start_holder(db_spec, ttl=ttl, hold=60)
    assert first_line(victim).startswith("ACQUIRED")
    time.sleep(0.3)  # a few cursor saves
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=10)
    killed_at = time.monotonic()

    # Until the lease expires, nobody else may run.
    code, said = run_holder(db_spec, ttl=ttl, hold=0)
    if time.monotonic() - killed_at < ttl * 0.8:
        assert code == 3, said
    deadline = time.monotonic() + 20
    while True:
        code, said = run_holder(db_spec, ttl=ttl, hold=0)
        if code == 0:
            break
        assert time.monotonic() < deadline, "the dead holder's lease was never taken over"
        time.sleep(0.2)
    assert time.monotonic() - killed_at >= ttl * 0.5

    with db.session() as session:
        runs = list(session.scalars(select(Run).order_by(Run.id)))
    assert runs[0].outcome == "interrupted"
    assert "stopped without finishing" in (runs[0].message or "")
    assert runs[-1].outcome == "success"


def test_processes_racing_for_the_lease_get_exactly_one_winner(
    db_spec: DbSpec, db: StateDB, connection: Connection, tmp_path: Path
) -> None:
    start_at = time.time() + 2.5  # every process is up and waiting by then
    stop = tmp_path / "stop"  # the winner holds on until every racer has spoken
    racers = [start_holder(db_spec, ttl=30, hold=60, start_at=start_at, stop_file=stop) for _ in range(6)]
    try:
        said = [first_line(racer, timeout=40).split()[0] for racer in racers]
    finally:
        stop.touch()
        for racer in racers:
            racer.wait(timeout=30)
    assert sorted(said) == ["ACQUIRED"] + ["HELD"] * 5


def test_racing_to_take_over_an_expired_lease_has_one_winner(db: StateDB, connection: Connection) -> None:
    with db.session() as session:
        assert acquire_lease(session, connection.id, "orders", "dead-holder", ttl=0.01) is not None
    time.sleep(0.05)
    winners = []
    for holder in ("a", "b", "c"):
        with db.session() as session:
            if acquire_lease(session, connection.id, "orders", holder, ttl=30) is not None:
                winners.append(holder)
    assert winners == ["a"]


async def test_a_stalled_run_that_lost_its_lease_cannot_write(db: StateDB, connection: Connection) -> None:
    with pytest.raises(LeaseLost, match="lost its lease"):
        async with open_run(db, connection, "orders", ttl=0.3) as run:
            run.bind("order", 1, "SO-1")
            time.sleep(0.6)  # a blocked event loop: no heartbeat, the lease expires
            with db.session() as session:
                assert acquire_lease(session, connection.id, "orders", "the-next-run", ttl=30) is not None
            run.bind("order", 2, "SO-2")  # refused: another run owns the flow now
    assert run.outcome == "interrupted"
    assert run.binding("order", 2) is None
    with db.session() as session:
        lease = session.get(Lease, (connection.id, "orders"))
        assert lease is not None and lease.holder == "the-next-run"  # not released by the loser


async def test_the_heartbeat_keeps_a_long_run_s_lease(db: StateDB, connection: Connection) -> None:
    async with open_run(db, connection, "orders", ttl=0.6) as run:
        await asyncio.sleep(1.5)  # more than two ttls, renewed in the background
        with pytest.raises(LeaseHeld):
            async with open_run(db, connection, "orders", ttl=0.6):
                pass
        run.bind("order", 1, "SO-1")
    assert run.outcome == "success"


async def test_leases_are_per_connection_and_flow(db: StateDB, connection: Connection) -> None:
    from .conftest import add_connection

    other = add_connection(db, "outlet")
    async with (
        open_run(db, connection, "orders") as orders,
        open_run(db, connection, "customers") as customers,
        open_run(db, other, "orders") as outlet_orders,
    ):
        assert len({orders.id, customers.id, outlet_orders.id}) == 3
        with pytest.raises(LeaseHeld, match="already running") as held:
            async with open_run(db, "shop", "orders"):
                pass
        assert held.value.holder == orders.holder
