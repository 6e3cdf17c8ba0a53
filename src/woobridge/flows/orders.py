"""The orders flow (store → ERP): every order that qualifies reaches the ERP exactly once, and its later changes
follow it there.

The whole story:

1. **Read** the orders changed since the cursor, through ``woo/``: ``GET orders?modified_after=<window start>
   &dates_are_gmt=true&status=any&orderby=id&order=asc&per_page=100``. ``status=any`` and not a status filter,
   because a server-side status filter shifts pages when an order changes status mid-run; the statuses to import
   are picked here. Reads overlap by one order so an order trashed while the list is read cannot make the run skip
   another (``woo.reading.IdOrderedReader``), run concurrently within an adaptive limit, and slow the whole
   connection down on a 429 or 503 (``woo.throttle``). Pages stream: a few are in memory at a time.
2. **Decide** for each order: an order in a qualifying status (default processing, completed, on-hold) that has no
   binding is *created*; a bound order whose document changed (status, cancellation, lines, address…) is
   *updated* — even when it no longer qualifies, so a cancellation reaches the ERP; a bound order whose document
   is unchanged (same digest) is *unchanged*; an unbound order that does not qualify (pending, failed,
   checkout-draft…) is *waiting* and is imported when it qualifies.
3. **Map** it to a ``SalesOrder`` with the pure functions of ``flows.order_mapping``.
4. **Write** the page's documents with the ERP port's idempotent ``put_sales_order`` (keyed on connection + store
   order id; one ``put_sales_orders`` call for the page when the adapter takes batches), then the page's bindings
   (connection, order id → ERP id, digest) in one transaction. A crash between the two is harmless: the next run
   puts the same documents again, and the adapter updates instead of creating.
5. A bad order — one the mapper cannot read (``OrderUnreadable``: malformed values, an invalid address) or one the
   ERP refuses (``ErpRecordError``: e.g. an unknown SKU) — becomes a **record error** with its reason and payload,
   and the run goes on. ``woobridge errors retry`` reads such orders afresh and imports those now valid.
6. Once every order of the window is bound, unchanged, waiting or a record error, the **cursor** moves to when the
   run began *on the store's clock* (the first answer's ``Date`` header) minus an overlap (default 5 minutes), so
   orders changed while the run read — or stamped by a slow transaction just before it — are read again next
   time. A second run with nothing changed makes one request that comes back empty (or with the few orders of
   the overlap, which are unchanged and skipped).

``audit`` compares the store's orders with the bindings and lists (``--fix``: imports) the missing ones.

Per-connection settings (``connection.settings["orders"]``): ``statuses`` (list), ``overlap_seconds``,
``max_concurrency`` (the ceiling of the adaptive limit).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, Literal

from sqlalchemy import select

from woobridge.documents import SalesOrder
from woobridge.erp.port import ErpPort, ErpRecordError, put_sales_orders
from woobridge.flows.context import (
    ErpWhenOpen,
    SettingsError,
    client_for,
    erp_for,
    erp_opening,
    parse_moment,
    resolve_connection,
    stored_cursor,
)
from woobridge.flows.engine import (
    BindingValues,
    FlowRun,
    RunSummary,
    bound_digests,
    digest,
    open_run,
    retry_handler,
)
from woobridge.flows.order_mapping import OrderUnreadable, gmt_datetime, is_object, to_sales_order
from woobridge.state import Connection, StateDB
from woobridge.state.models import Binding, RecordError
from woobridge.woo.client import NO_RETRY, WooClient
from woobridge.woo.reading import IdOrderedReader
from woobridge.woo.throttle import AdaptiveConcurrency, ThrottleStats

log = logging.getLogger(__name__)

FLOW = "orders"
RESOURCE = "order"
ROUTE = "orders"

DEFAULT_STATUSES = ("processing", "completed", "on-hold")
DEFAULT_OVERLAP = timedelta(minutes=5)
DEFAULT_MAX_CONCURRENCY = 8
# Fields the audit asks for: enough to know an order, a fraction of its size.
AUDIT_FIELDS = "id,number,status,date_created_gmt,date_modified_gmt,total,currency"

Action = Literal["created", "updated", "unchanged", "waiting", "failed", "gone"]


# -- settings ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OrdersSettings:
    """Which orders are imported and how hard the store is read (``connection.settings["orders"]``)."""

    statuses: frozenset[str] = frozenset(DEFAULT_STATUSES)
    overlap: timedelta = DEFAULT_OVERLAP
    max_concurrency: int = DEFAULT_MAX_CONCURRENCY
    per_page: int = 100

    @classmethod
    def of(cls, connection: Connection) -> OrdersSettings:
        return cls.from_mapping(connection.flow_settings(FLOW), connection.name)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any], name: str = "?") -> OrdersSettings:
        where = f"connection {name!r}, orders setting"
        statuses = values.get("statuses", DEFAULT_STATUSES)
        if isinstance(statuses, str):
            statuses = [part.strip() for part in statuses.split(",")]
        if not isinstance(statuses, list | tuple) or not statuses or not all(isinstance(s, str) for s in statuses):
            raise SettingsError(f"{where} 'statuses' must be a list of order statuses, e.g. {list(DEFAULT_STATUSES)}")
        chosen = frozenset(s.strip().removeprefix("wc-") for s in statuses if s.strip())
        if "trash" in chosen:
            raise SettingsError(f"{where} 'statuses': trashed orders are never imported")
        overlap = values.get("overlap_seconds", DEFAULT_OVERLAP.total_seconds())
        if not isinstance(overlap, int | float) or isinstance(overlap, bool) or not 1 <= overlap <= 86400:
            raise SettingsError(f"{where} 'overlap_seconds' must be a number of seconds from 1 to 86400")
        ceiling = values.get("max_concurrency", DEFAULT_MAX_CONCURRENCY)
        if not isinstance(ceiling, int) or isinstance(ceiling, bool) or not 1 <= ceiling <= 32:
            raise SettingsError(f"{where} 'max_concurrency' must be a whole number from 1 to 32")
        per_page = values.get("per_page", 100)
        if not isinstance(per_page, int) or isinstance(per_page, bool) or not 2 <= per_page <= 100:
            raise SettingsError(f"{where} 'per_page' must be a whole number from 2 to 100")
        return cls(chosen, timedelta(seconds=overlap), ceiling, per_page)

    def qualifies(self, status: str) -> bool:
        return status in self.statuses


# -- deciding (pure) ------------------------------------------------------------------------------------------------


def needs_document(status: str, bound: bool, settings: OrdersSettings) -> bool:
    """Whether an order must be mapped at all: it qualifies, or the ERP already has it (and must hear of changes).
    An unbound order that does not qualify (pending, failed, checkout-draft…) waits."""
    return bound or settings.qualifies(status)


def decide(bound_digest: str | None, bound: bool, new_digest: str) -> Action:
    """created (no binding) / unchanged (same digest as the binding) / updated."""
    if not bound:
        return "created"
    return "unchanged" if bound_digest == new_digest else "updated"


def unreadable_key(payload: Any) -> str:
    """A record-error key for an item the store sent without a usable id: stable for the same payload."""
    text = json.dumps(payload, sort_keys=True, default=str, ensure_ascii=False)
    return "unreadable-" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


# -- what happened -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OrderOutcome:
    """What happened to one order (or, in a dry run, what would have)."""

    store_id: str
    number: str
    status: str
    action: Action
    document: SalesOrder | None = None
    message: str = ""

    def to_dict(self, with_document: bool = False) -> dict[str, Any]:
        found: dict[str, Any] = {
            "order": self.store_id,
            "number": self.number,
            "status": self.status,
            "action": self.action,
        }
        if self.message:
            found["message"] = self.message
        if with_document and self.document is not None:
            found["document"] = self.document.model_dump(mode="json")
        return found


@dataclass
class OrdersReport:
    """What a sync (or a dry run, or a retry) did."""

    connection: str
    dry_run: bool = False
    run: RunSummary | None = None
    window_start: datetime | None = None
    next_window_start: datetime | None = None
    cursor_moved: bool = False
    store_clock_known: bool = True
    store_total: int | None = None
    counts: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(("read", "created", "updated", "unchanged", "waiting", "failed"), 0)
    )
    requests: int = 0
    rereads: int = 0
    throttle: ThrottleStats = field(default_factory=ThrottleStats)
    failures: list[OrderOutcome] = field(default_factory=list)  # the first few record errors, for the summary
    notes: list[str] = field(default_factory=list)

    MAX_FAILURES_SHOWN = 20

    def add(self, outcome: OrderOutcome) -> None:
        self.counts[outcome.action] = self.counts.get(outcome.action, 0) + 1
        if outcome.action == "failed" and len(self.failures) < self.MAX_FAILURES_SHOWN:
            self.failures.append(outcome)

    def to_dict(self) -> dict[str, Any]:
        return {
            "connection": self.connection,
            "dry_run": self.dry_run,
            "run": self.run.to_dict() if self.run else None,
            "window_start": self.window_start.isoformat() if self.window_start else None,
            "next_window_start": self.next_window_start.isoformat() if self.next_window_start else None,
            "cursor_moved": self.cursor_moved,
            "store_clock_known": self.store_clock_known,
            "store_total": self.store_total,
            **self.counts,
            "requests": self.requests,
            "rereads": self.rereads,
            "concurrency": {
                "limits": self.throttle.limits,
                "peak": self.throttle.peak,
                "slowdowns": self.throttle.slowdowns,
                "retries": self.throttle.retries,
            },
            "failures": [outcome.to_dict() for outcome in self.failures],
            "notes": self.notes,
        }


OnOutcome = Callable[[OrderOutcome], None]
OnProgress = Callable[[int, int | None], None]  # orders handled so far, orders in the window (if known)


# -- handling a page: map and write ------------------------------------------------------------------------------------


class _Bindings:
    """Bindings by store id: through the run (a real sync) or read-only from the database (a dry run, the audit)."""

    def __init__(self, db: StateDB, connection: Connection, run: FlowRun | None) -> None:
        self.db = db
        self.connection = connection
        self.run = run

    def of(self, store_ids: Iterable[str]) -> dict[str, Binding]:
        if self.run is not None:
            return self.run.bindings(RESOURCE, store_ids)
        wanted = list(dict.fromkeys(store_ids))
        found: dict[str, Binding] = {}
        with self.db.session() as session:
            for start in range(0, len(wanted), 500):
                query = select(Binding).where(
                    Binding.connection_id == self.connection.id,
                    Binding.resource == RESOURCE,
                    Binding.store_id.in_(wanted[start : start + 500]),
                )
                found.update((b.store_id, b) for b in session.scalars(query))
        return found

    def digests(self, store_ids: Iterable[str]) -> dict[str, str | None]:
        """The digest of each bound order, by store id (orders never bound are absent): all a page's decisions
        need, read without loading whole bindings."""
        if self.run is not None:
            return self.run.binding_digests(RESOURCE, store_ids)
        return bound_digests(self.db, self.connection.id, RESOURCE, store_ids)


@dataclass
class OrderWriter:
    """Maps and writes the orders of one page: the flow's steps 2–5. ``run`` is None in a dry run (nothing is
    written; outcomes say what would have been)."""

    connection: Connection
    erp: ErpPort
    settings: OrdersSettings
    bindings: _Bindings
    run: FlowRun | None

    def handle(self, orders: Sequence[Any]) -> list[OrderOutcome]:
        """Handle a page of orders (in id order); returns what happened to each. Raises only what must stop the
        run (``ErpUnavailable``, ``LeaseLost``, a state database failure).

        The page's documents to write go to the ERP in one ``put_sales_orders`` (one call when the adapter can
        take a batch, e.g. Tryton; one order at a time otherwise); an order the ERP refuses is that order's record
        error."""
        keys = [_store_key(order) for order in orders]
        bound = self.bindings.digests(keys)
        outcomes: list[OrderOutcome] = []
        to_write: list[_ToWrite] = []
        for order, key in zip(orders, keys, strict=True):
            outcome, planned = self._plan(order, key, key in bound, bound.get(key), index=len(outcomes))
            outcomes.append(outcome)
            if planned is not None:
                to_write.append(planned)
        if self.run is None or not to_write:
            return outcomes
        results = put_sales_orders(self.erp, self.connection.name, [w.document for w in to_write])
        written: list[BindingValues] = []
        for w, result in zip(to_write, results, strict=True):
            if isinstance(result, ErpRecordError):
                outcomes[w.index] = self._failed(w.key, w.number, w.status, result, w.order)
                continue
            written.append(BindingValues(w.key, result.erp_id, result.document_no, w.document.modified_at, w.digest))
        # The page's bindings in one transaction (one per order made the state database the bottleneck of a big
        # first sync). Dying before it is harmless: the next run puts those orders again, as updates.
        self.run.bind_many(RESOURCE, written)
        return outcomes

    def _plan(
        self, order: Any, key: str, bound: bool, bound_digest: str | None, *, index: int
    ) -> tuple[OrderOutcome, _ToWrite | None]:
        """Decide and map one order (the page's ``index``-th): its outcome if nothing goes to the ERP, or the
        document to write (whose outcome stands unless the ERP refuses it)."""
        readable = is_object(order)
        status = str(order.get("status", "")) if readable else ""
        number = str(order.get("number", "") or key) if readable else key
        if not needs_document(status, bound, self.settings):
            return OrderOutcome(key, number, status, "waiting"), None
        try:
            document = to_sales_order(order)
        except OrderUnreadable as error:
            return self._failed(key, number, status, error, order), None
        fingerprint = digest(document)
        action = decide(bound_digest, bound, fingerprint)
        outcome = OrderOutcome(key, number, status, action, document)
        if action == "unchanged" or self.run is None:
            return outcome, None
        return outcome, _ToWrite(key, number, status, order, document, fingerprint, index)

    def _failed(self, key: str, number: str, status: str, error: Exception, order: Any) -> OrderOutcome:
        message = error.reason if isinstance(error, OrderUnreadable) else str(error)
        if self.run is not None:
            self.run.record_error(RESOURCE, key, error, payload=order)
        return OrderOutcome(key, number, status, "failed", message=message)


@dataclass(frozen=True)
class _ToWrite:
    """An order of the page whose document goes to the ERP."""

    key: str
    number: str
    status: str
    order: Any
    document: SalesOrder
    digest: str
    index: int  # its place in the page's outcomes


def _store_key(order: Any) -> str:
    order_id = order.get("id") if is_object(order) else None
    if isinstance(order_id, int) and not isinstance(order_id, bool) and order_id > 0:
        return str(order_id)
    return unreadable_key(order)


def _count(run: FlowRun | None, outcomes: Sequence[OrderOutcome]) -> None:
    if run is None:
        return
    actions = [outcome.action for outcome in outcomes]
    run.count(
        read=len(outcomes),
        created=actions.count("created"),
        updated=actions.count("updated"),
        skipped=actions.count("unchanged") + actions.count("waiting") + actions.count("gone"),
    )


# -- the sync --------------------------------------------------------------------------------------------------------


async def run(
    db: StateDB,
    connection: Connection | str,
    *,
    erp: ErpPort | None = None,
    services: Any = None,
    holder: str | None = None,
    woo: WooClient | None = None,
    since: datetime | None = None,
    dry_run: bool = False,
    on_outcome: OnOutcome | None = None,
    on_progress: OnProgress | None = None,
) -> OrdersReport:
    """Sync the orders changed since the cursor (or since ``since``) into the ERP; see the module's docstring.

    ``erp``: an open ERP port (default: the configured one, opened while the first page is read and closed
    afterwards: ``flows.context.erp_opening``). ``woo``: a client for the store (default: one built from the
    connection's sealed credentials with ``services.vault()``).
    ``dry_run``: read and map, write nothing (no ERP rows, bindings, record errors, run or cursor);
    ``on_outcome`` sees every order's outcome with its document. Raises ``LeaseHeld`` when another run of the
    flow is going on, ``ErpUnavailable`` / ``WooError`` when the run cannot go on (the cursor then stays).
    """
    conn = resolve_connection(db, connection)
    # The ERP opens in a worker thread while the run starts and the first page comes back from the store.
    async with erp_opening(erp, services) as erp_port:
        settings = OrdersSettings.of(conn)
        report = OrdersReport(conn.name, dry_run=dry_run)
        async with client_for(conn, services, woo, max_concurrency=settings.max_concurrency) as client:
            if dry_run:
                await _sync(db, conn, None, erp_port, client, settings, since, report, on_outcome, on_progress)
                return report
            async with open_run(db, conn, FLOW, holder=holder) as flow_run:
                await _sync(db, conn, flow_run, erp_port, client, settings, since, report, on_outcome, on_progress)
            report.run = flow_run.summary()
    return report


async def _sync(
    db: StateDB,
    connection: Connection,
    flow_run: FlowRun | None,
    erp: ErpWhenOpen,
    woo: WooClient,
    settings: OrdersSettings,
    since: datetime | None,
    report: OrdersReport,
    on_outcome: OnOutcome | None,
    on_progress: OnProgress | None,
) -> None:
    cursor = flow_run.cursor if flow_run is not None else stored_cursor(db, connection, FLOW)
    cursor_start = _cursor_start(cursor)
    window_start = since if since is not None else cursor_start
    report.window_start = window_start
    params: dict[str, Any] = {"status": "any", "dates_are_gmt": "true"}
    if window_start is not None:
        params["modified_after"] = window_start.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")
    throttle = AdaptiveConcurrency(settings.max_concurrency)
    report.throttle = throttle.stats
    reader = IdOrderedReader(woo, ROUTE, params, throttle=throttle, per_page=settings.per_page)
    writer: OrderWriter | None = None  # made with the ERP port once the first page is in
    if flow_run is not None:
        flow_run.message = f"orders modified after {params.get('modified_after', 'the beginning')} (UTC)"
    handled = 0
    counted_requests = 0
    async for orders in reader.pages():
        if writer is None:
            writer = OrderWriter(connection, await erp(), settings, _Bindings(db, connection, flow_run), flow_run)
        outcomes = await asyncio.to_thread(writer.handle, orders)
        _count(flow_run, outcomes)
        if flow_run is not None:
            flow_run.count(requests=reader.requests - counted_requests)
        counted_requests = reader.requests
        for outcome in outcomes:
            report.add(outcome)
            if on_outcome is not None:
                on_outcome(outcome)
        report.counts["read"] += len(outcomes)
        handled += len(outcomes)
        report.store_total = reader.total
        if on_progress is not None:
            on_progress(handled, reader.total)
    if flow_run is not None:
        flow_run.count(requests=reader.requests - counted_requests)
    report.requests = reader.requests
    report.rereads = reader.rereads
    report.store_clock_known = reader.store_clock_known
    if not reader.store_clock_known:
        report.notes.append(
            "the store sent no Date header: the next window starts from this machine's clock, so keep it in time"
        )
    # Every order of the window is now bound, unchanged, waiting or a record error: the window may close.
    started = reader.store_started_at or datetime.now(UTC)
    report.next_window_start = started - settings.overlap
    if flow_run is None:
        return
    if since is not None and cursor_start is not None and since > cursor_start:
        report.notes.append(
            f"--since {since:%Y-%m-%d %H:%M:%S} is after the cursor ({cursor_start:%Y-%m-%d %H:%M:%S}): orders "
            "changed between them were not read, so the cursor stays where it was"
        )
        return
    flow_run.save_cursor(
        {
            "modified_after": report.next_window_start.isoformat(),
            "store_started_at": started.isoformat(),
            "store_clock_known": reader.store_clock_known,
        }
    )
    report.cursor_moved = True


def _cursor_start(cursor: Mapping[str, Any] | None) -> datetime | None:
    return parse_moment((cursor or {}).get("modified_after"))


# -- reading chosen orders (retries, the audit's --fix) -----------------------------------------------------------


async def _fetch(woo: WooClient, throttle: AdaptiveConcurrency, ids: Sequence[int]) -> dict[int, Any]:
    """The orders with these ids (100 a request), by id; trashed and deleted ones are absent."""
    found: dict[int, Any] = {}
    for start in range(0, len(ids), 100):
        chunk = list(ids[start : start + 100])
        params = {"include": chunk, "status": "any", "per_page": len(chunk), "orderby": "id", "order": "asc"}
        data = await throttle.call(partial(woo.get, ROUTE, params, retry=NO_RETRY))
        for order in data if isinstance(data, list) else []:
            order_id = order.get("id") if isinstance(order, Mapping) else None
            if isinstance(order_id, int):
                found[order_id] = order
    return found


async def _import_ids(
    flow_run: FlowRun, writer: OrderWriter, woo: WooClient, ids: Sequence[int], report: OrdersReport
) -> None:
    throttle = AdaptiveConcurrency(writer.settings.max_concurrency)
    before = woo.requests_sent
    for start in range(0, len(ids), 100):
        chunk = list(ids[start : start + 100])
        orders = await _fetch(woo, throttle, chunk)
        outcomes = await asyncio.to_thread(writer.handle, [orders[i] for i in chunk if i in orders])
        for outcome in outcomes:
            if outcome.action in ("waiting", "unchanged"):
                # Nothing to import (it no longer qualifies, or the ERP already has this very version): close its
                # error, if it had one.
                await asyncio.to_thread(flow_run.resolve_error, RESOURCE, outcome.store_id)
        for order_id in chunk:
            if order_id not in orders:
                # Trashed or deleted since: nothing to import; its error (if any) is closed.
                await asyncio.to_thread(flow_run.resolve_error, RESOURCE, str(order_id))
                outcomes.append(OrderOutcome(str(order_id), str(order_id), "", "gone", message="no longer in store"))
        _count(flow_run, outcomes)
        for outcome in outcomes:
            report.add(outcome)
        report.counts["read"] += len(outcomes)
    flow_run.count(requests=woo.requests_sent - before)
    report.requests += woo.requests_sent - before


@retry_handler(FLOW)
async def retry_errors(
    db: StateDB,
    connection: Connection | str,
    errors: Sequence[RecordError],
    *,
    erp: ErpPort | None = None,
    services: Any = None,
    woo: WooClient | None = None,
    holder: str | None = None,
    **_: Any,
) -> OrdersReport:
    """``woobridge errors retry``: read each failed order afresh from the store and import it if it is now valid
    (its error is then resolved); an order that fails again gets one more attempt counted; an order that no longer
    qualifies and was never imported, or that is gone from the store, has its error closed."""
    conn = resolve_connection(db, connection)
    settings = OrdersSettings.of(conn)
    report = OrdersReport(conn.name)
    async with (
        erp_for(erp) as port,
        client_for(conn, services, woo, max_concurrency=settings.max_concurrency) as client,
    ):
        async with open_run(db, conn, FLOW, holder=holder) as flow_run:
            flow_run.message = f"retrying {len(errors)} record error(s)"
            writer = OrderWriter(conn, port, settings, _Bindings(db, conn, flow_run), flow_run)
            ids = [int(e.store_id) for e in errors if e.store_id.isdigit()]
            await _import_ids(flow_run, writer, client, ids, report)
            # Items the store sent without a usable id can only be tried again as they were.
            for error in errors:
                if not error.store_id.isdigit() and error.payload is not None:
                    outcomes = await asyncio.to_thread(writer.handle, [error.payload])
                    for outcome in outcomes:
                        report.add(outcome)
        report.run = flow_run.summary()
    return report


# -- the gap audit ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AuditEntry:
    """An order the ERP should have and does not (``missing``), or has in an older version (``stale``)."""

    store_id: int
    number: str
    status: str
    created_at: str
    modified_at: str
    total: str
    currency: str
    problem: Literal["missing", "stale"]
    open_error: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "order": self.store_id,
            "number": self.number,
            "status": self.status,
            "created_at": self.created_at,
            "modified_at": self.modified_at,
            "total": self.total,
            "currency": self.currency,
            "problem": self.problem,
            "open_error": self.open_error,
        }


@dataclass
class AuditReport:
    connection: str
    since: datetime
    checked: int = 0
    qualifying: int = 0
    entries: list[AuditEntry] = field(default_factory=list)
    requests: int = 0
    fixed: OrdersReport | None = None

    @property
    def missing(self) -> list[AuditEntry]:
        return [entry for entry in self.entries if entry.problem == "missing"]

    @property
    def stale(self) -> list[AuditEntry]:
        return [entry for entry in self.entries if entry.problem == "stale"]

    def to_dict(self) -> dict[str, Any]:
        return {
            "connection": self.connection,
            "since": self.since.isoformat(),
            "checked": self.checked,
            "qualifying": self.qualifying,
            "missing": [entry.to_dict() for entry in self.missing],
            "stale": [entry.to_dict() for entry in self.stale],
            "requests": self.requests,
            "fixed": self.fixed.to_dict() if self.fixed else None,
        }


async def audit(
    db: StateDB,
    connection: Connection | str,
    since: datetime,
    *,
    fix: bool = False,
    erp: ErpPort | None = None,
    services: Any = None,
    woo: WooClient | None = None,
    holder: str | None = None,
) -> AuditReport:
    """Compare the store's orders created since ``since`` with the bindings: list every order in a qualifying
    status that has no binding (``missing``) or whose binding is older than the order (``stale``: a change not yet
    synced). ``fix`` imports them (in a run of the orders flow, so it never overlaps a sync); the cursor stays."""
    conn = resolve_connection(db, connection)
    settings = OrdersSettings.of(conn)
    report = AuditReport(conn.name, since)
    async with client_for(conn, services, woo, max_concurrency=settings.max_concurrency) as client:
        params = {
            "status": "any",
            "dates_are_gmt": "true",
            "after": since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S"),
            "_fields": AUDIT_FIELDS,
        }
        reader = IdOrderedReader(
            client, ROUTE, params, throttle=AdaptiveConcurrency(settings.max_concurrency), per_page=settings.per_page
        )
        bindings = _Bindings(db, conn, None)
        async for orders in reader.pages():
            report.checked += len(orders)
            entries = await asyncio.to_thread(_audit_page, bindings, settings, orders)
            report.qualifying += sum(
                1 for o in orders if isinstance(o, Mapping) and settings.qualifies(str(o.get("status")))
            )
            report.entries.extend(entries)
        report.requests = reader.requests
        await asyncio.to_thread(_attach_open_errors, db, conn, report)
        if fix and report.entries:
            fixed = OrdersReport(conn.name)
            async with erp_for(erp) as port, open_run(db, conn, FLOW, holder=holder) as flow_run:
                flow_run.message = f"audit --fix since {since:%Y-%m-%d}: {len(report.entries)} order(s)"
                writer = OrderWriter(conn, port, settings, _Bindings(db, conn, flow_run), flow_run)
                await _import_ids(flow_run, writer, client, [entry.store_id for entry in report.entries], fixed)
            fixed.run = flow_run.summary()
            report.fixed = fixed
            report.requests += fixed.requests
    return report


def _audit_page(bindings: _Bindings, settings: OrdersSettings, orders: Sequence[Any]) -> list[AuditEntry]:
    rows = [o for o in orders if isinstance(o, Mapping) and isinstance(o.get("id"), int)]
    known = bindings.of(str(o["id"]) for o in rows)
    entries = []
    for order in rows:
        status = str(order.get("status", ""))
        binding = known.get(str(order["id"]))
        if binding is None and not settings.qualifies(status):
            continue
        problem: Literal["missing", "stale"] | None = None
        if binding is None:
            problem = "missing"
        elif binding.store_modified is not None:
            try:
                modified = gmt_datetime(order.get("date_modified_gmt"), "date_modified_gmt")
            except OrderUnreadable:
                modified = None
            if modified is not None and modified > binding.store_modified:
                problem = "stale"
        if problem is not None:
            entries.append(
                AuditEntry(
                    store_id=int(order["id"]),
                    number=str(order.get("number") or order["id"]),
                    status=status,
                    created_at=str(order.get("date_created_gmt") or ""),
                    modified_at=str(order.get("date_modified_gmt") or ""),
                    total=str(order.get("total") or ""),
                    currency=str(order.get("currency") or ""),
                    problem=problem,
                )
            )
    return entries


def _attach_open_errors(db: StateDB, connection: Connection, report: AuditReport) -> None:
    if not report.entries:
        return
    ids = [str(entry.store_id) for entry in report.entries]
    messages: dict[str, str] = {}
    with db.session() as session:
        for start in range(0, len(ids), 500):
            query = select(RecordError.store_id, RecordError.message).where(
                RecordError.connection_id == connection.id,
                RecordError.flow == FLOW,
                RecordError.resolved_at.is_(None),
                RecordError.store_id.in_(ids[start : start + 500]),
            )
            messages.update((store_id, message) for store_id, message in session.execute(query))
    report.entries = [replace(entry, open_error=messages.get(str(entry.store_id), "")) for entry in report.entries]


__all__ = [
    "DEFAULT_OVERLAP",
    "DEFAULT_STATUSES",
    "AuditEntry",
    "AuditReport",
    "OrderOutcome",
    "OrderWriter",
    "OrdersReport",
    "OrdersSettings",
    "SettingsError",
    "audit",
    "decide",
    "needs_document",
    "retry_errors",
    "run",
]
