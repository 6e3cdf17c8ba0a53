"""The flow scheduler: each enabled flow of each connection runs on its schedule.

All of its state is in the database (``flow_schedules``): a schedule's ``next_run_at`` is the only clock. A tick
picks the schedules that are due and starts their runs; "Run now" and webhook nudges move ``next_run_at`` to now.
Two runs of one flow for one connection never overlap — the engine's lease refuses the second (``LeaseHeld``),
across processes and machines — and one process does not even try while its own run is going on.

After a run the next one is due ``interval`` later. When the store throttles (429, 503, maintenance) the schedule
backs off instead: twice the previous backoff (at least a minute, at least the store's ``Retry-After``, at most an
hour), reset by the next run that is not throttled.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from woobridge.flows.registry import FLOWS, FlowSpec
from woobridge.state import Connection, StateDB
from woobridge.state.connections import all_connections, find_connection
from woobridge.state.service import FlowSchedule

log = logging.getLogger(__name__)

MIN_BACKOFF = 60
MAX_BACKOFF = 3600
THROTTLE_STATUSES = (429, 503)


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class Outcome:
    """How a scheduled run ended, as far as the schedule cares."""

    ran: bool  # False: it did not start (lease held elsewhere, connection gone)
    throttled: bool = False
    retry_after: float | None = None
    problem: str | None = None


# -- schedules -----------------------------------------------------------------------------------------------------


def ensure_schedules(session: Session, connection: Connection, now: datetime) -> dict[str, FlowSchedule]:
    """The connection's schedule of every flow, created with the defaults where missing: on when the flow is among
    the connection's flows (``connect --flows``), due now."""
    existing = {
        row.flow: row
        for row in session.scalars(select(FlowSchedule).where(FlowSchedule.connection_id == connection.id))
    }
    for spec in FLOWS.values():
        if spec.name not in existing:
            row = FlowSchedule(
                connection_id=connection.id,
                flow=spec.name,
                enabled=spec.name in (connection.flows or []),
                interval_seconds=spec.default_interval,
                next_run_at=now,
                backoff_seconds=0,
            )
            session.add(row)
            existing[spec.name] = row
    session.flush()
    return existing


def request_run(session: Session, connection: Connection, flow: str, reason: str, now: datetime) -> bool:
    """Make ``flow`` due now for ``connection`` ("Run now", a webhook nudge). A disabled flow is not nudged by a
    webhook; "Run now" runs it once anyway. Returns whether a run was requested."""
    schedule = ensure_schedules(session, connection, now)[flow]
    if not schedule.enabled and reason != "run-now":
        return False
    if schedule.backoff_seconds and reason != "run-now" and schedule.next_run_at and schedule.next_run_at > now:
        return False  # backing off from a throttling store: a nudge must not hammer it
    if schedule.next_run_at is None or schedule.next_run_at > now:
        schedule.next_run_at = now
    schedule.requested = reason[:255]
    return True


def set_schedule(
    session: Session, connection: Connection, flow: str, now: datetime, *, enabled: bool | None, interval: int | None
) -> FlowSchedule:
    """Switch a flow on or off and/or change how often it runs (at least a minute)."""
    schedule = ensure_schedules(session, connection, now)[flow]
    if enabled is not None:
        schedule.enabled = enabled
        if enabled:
            schedule.next_run_at = now
    if interval is not None:
        if interval < 60:
            raise ValueError("a flow runs at most once a minute: give an interval of 60 seconds or more")
        schedule.interval_seconds = interval
        if schedule.next_run_at is not None and schedule.next_run_at > now + timedelta(seconds=interval):
            schedule.next_run_at = now + timedelta(seconds=interval)
    return schedule


def next_after(schedule: FlowSchedule, outcome: Outcome, now: datetime) -> None:
    """Move a schedule on after a run: ``interval`` later, or a growing backoff when the store throttled."""
    schedule.requested = None
    if outcome.throttled:
        doubled = max(MIN_BACKOFF, schedule.backoff_seconds * 2)
        wait = min(MAX_BACKOFF, max(doubled, int(outcome.retry_after or 0)))
        schedule.backoff_seconds = wait
        schedule.next_run_at = now + timedelta(seconds=wait)
        schedule.last_problem = f"the store is throttling: next try in {wait} s. {outcome.problem or ''}".strip()
        return
    schedule.backoff_seconds = 0
    schedule.last_problem = outcome.problem
    schedule.next_run_at = now + timedelta(seconds=schedule.interval_seconds)


def is_throttle(error: BaseException) -> tuple[bool, float | None]:
    """Whether an error says the store is throttling or briefly unavailable, and its Retry-After."""
    from woobridge.woo.errors import WooError

    for link in _chain(error):
        if isinstance(link, WooError) and link.status in THROTTLE_STATUSES:
            return True, link.retry_after
    return False, None


def _chain(error: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


# -- running a flow ------------------------------------------------------------------------------------------------

FlowInvoker = Callable[[str, FlowSpec], Awaitable[Outcome]]


@dataclass
class FlowDeps:
    """What a flow's entry point may ask for by parameter name: ``db``, ``connection`` (the name), ``services``,
    ``erp`` (opened on demand from ``erp_factory``) and ``holder``."""

    db: StateDB
    services: Any
    holder: str
    erp_factory: Callable[[], Any] | None = None


async def invoke(spec: FlowSpec, connection: str, deps: FlowDeps) -> Outcome:
    """Run one flow once through its module's entry point; turn what happened into an :class:`Outcome`."""
    from woobridge.flows.engine import LeaseHeld

    entry = spec.runner()
    wanted = inspect.signature(entry).parameters
    erp = None
    try:
        available: dict[str, Any] = {
            "db": deps.db,
            "connection": connection,
            "services": deps.services,
            "holder": deps.holder,
        }
        if "erp" in wanted and deps.erp_factory is not None:
            erp = deps.erp_factory()
            available["erp"] = erp
        kwargs = {name: value for name, value in available.items() if name in wanted}
        if inspect.iscoroutinefunction(entry):
            await entry(**kwargs)
        else:
            await asyncio.to_thread(entry, **kwargs)
    except LeaseHeld as held:
        return Outcome(ran=False, problem=str(held))
    except Exception as error:  # the run is recorded as failed by the engine; the schedule goes on
        throttled, retry_after = is_throttle(error)
        log.warning("%s run for %s failed: %s", spec.name, connection, error)
        return Outcome(
            ran=True, throttled=throttled, retry_after=retry_after, problem=f"{type(error).__name__}: {error}"
        )
    finally:
        close = getattr(erp, "close", None)
        if callable(close):
            close()
    return Outcome(ran=True)


@dataclass
class Scheduler:
    """Starts due runs. ``await scheduler.tick()`` once (tests), or ``await scheduler.run_forever()`` in serve."""

    db: StateDB
    invoker: FlowInvoker
    interval: float = 1.0
    running: dict[tuple[str, str], asyncio.Task[None]] = field(default_factory=dict)
    _wake: asyncio.Event | None = None

    def wake(self) -> None:
        """Look for due runs now (after "Run now" or a webhook nudge) instead of at the next tick."""
        if self._wake is not None:
            self._wake.set()

    async def run_forever(self) -> None:
        self._wake = asyncio.Event()
        while True:
            try:
                await self.tick()
            except Exception:  # a database hiccup must not stop the scheduler
                log.exception("scheduler tick failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=self.interval)
            self._wake.clear()

    async def tick(self) -> list[tuple[str, str]]:
        """Start every due run that is not already going on in this process; returns (connection, flow) started."""
        due = await asyncio.to_thread(self._due, utcnow())
        started = []
        for key in due:
            if key in self.running and not self.running[key].done():
                continue
            self.running[key] = asyncio.create_task(self._run(*key), name=f"run {key[0]}/{key[1]}")
            started.append(key)
        return started

    async def drain(self) -> None:
        """Wait for the runs this process started (tests, shutdown)."""
        tasks = [task for task in self.running.values() if not task.done()]
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    async def stop(self) -> None:
        for task in self.running.values():
            task.cancel()
        await self.drain()

    def _due(self, now: datetime) -> list[tuple[str, str]]:
        due: list[tuple[str, str]] = []
        with self.db.session() as session:
            for connection in all_connections(session):
                schedules = ensure_schedules(session, connection, now)
                for flow, schedule in schedules.items():
                    requested_once = schedule.requested == "run-now"
                    if not (schedule.enabled or requested_once):
                        continue
                    if schedule.next_run_at is not None and schedule.next_run_at > now:
                        continue
                    due.append((connection.name, flow))
        return due

    async def _run(self, connection: str, flow: str) -> None:
        outcome = await self.invoker(connection, FLOWS[flow])
        await asyncio.to_thread(self._after, connection, flow, outcome)

    def _after(self, connection_name: str, flow: str, outcome: Outcome) -> None:
        now = utcnow()
        with self.db.session() as session:
            connection = find_connection(session, connection_name)
            if connection is None:
                return
            schedule = ensure_schedules(session, connection, now)[flow]
            if not outcome.ran and outcome.problem and "already running" in outcome.problem:
                # Another process is running it: look again shortly, without counting this as a run.
                schedule.next_run_at = now + timedelta(seconds=min(schedule.interval_seconds, MIN_BACKOFF))
                schedule.last_problem = outcome.problem
                return
            next_after(schedule, outcome, now)
