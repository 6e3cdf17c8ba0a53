"""The inventory flow (ERP → store): the ERP's stock level of each SKU becomes the ``stock_quantity`` of the
product or variation that owns the SKU.

The whole story:

1. **Index.** A SKU → (product, variation, ``manage_stock``, store quantity) index lives in the state database
   (``flows.sku_index``). The first run builds it (every product, and the variations of the variable ones); later
   runs read only the products modified since the last read (``modified_after`` on the store's clock, with an
   overlap) and the variations of changed variable parents. It is rebuilt from scratch every
   ``full_refresh_hours``.
2. **Read** the ERP's levels through the port: ``erp.stock_levels(connection, warehouses)``, summed over the
   warehouses that count for this connection (``settings["inventory"]["warehouses"]``, default all).
3. **Map** (pure, :func:`plan_stock`): the quantity to send is the ERP's, rounded down to a whole unit (WooCommerce
   keeps whole units), less the connection's safety ``buffer``, and never below 0. Each SKU resolves to its stock
   holder: the product or variation itself, or — for a variation whose stock its parent manages
   (``manage_stock: "parent"``) — the parent. A holder is written only when the quantity **changed since the last
   value pushed** *and* **differs from the store's current value**; a store that already shows it is only noted.
   A quantity the ERP did not change but the store did (orders sold some, someone edited it) is *drift*: the sync
   leaves it (the ERP will hear of those orders and send a new level), ``woobridge audit inventory`` lists it and
   ``--fix`` pushes it. A product that does not manage stock is left alone and listed once per run — unless
   ``settings["inventory"]["manage_stock"]`` is true: then ``manage_stock: true`` goes with the quantity. A SKU
   the store does not have is listed once per run (a note and one log line, not an error per item: ERPs often
   hold many items a store does not sell).
4. **Write** through ``products/batch`` and ``products/{parent}/variations/batch``, at most 100 items a request,
   several requests at a time within an adaptive limit that backs off on 429/503. Each item has its own result:
   a refused item becomes a record error (resource ``sku``) and the rest of the batch counts as done.
5. **Remember** what the store now holds (``pushed_quantity`` and the store's answer in the index): a second run
   with nothing changed sends nothing.

Safe to retry: every write sets an *absolute* quantity, so sending it twice leaves the store as sending it once.
A batch whose answer was lost (timeout after the store wrote, a reset, a 502 from a proxy) is therefore simply sent
again (``RESENDS`` times) rather than read back first: reading back could not make it safer, since an order placed
between our read and our write races the same way as one placed between the lost write and its resend — absolute
stock writes always overwrite what orders did in between (WooCommerce's REST API has no atomic increment), which
is why the ERP's level must already account for orders it knows of. If the answer is still unknown, those SKUs
become record errors and their ``pushed_quantity`` stays as it was, so the next run sends them again.

Per-connection settings (``connection.settings["inventory"]``): ``warehouses`` (list of ERP warehouse names),
``buffer`` (whole units held back), ``manage_stock`` (turn stock management on where it is off),
``max_concurrency`` (1–16, default 4), ``full_refresh_hours`` (default 24), ``overlap_seconds`` (default 300).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_FLOOR, Decimal
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session

from woobridge.documents import StockLevel
from woobridge.erp.port import Acknowledgement, ErpPort
from woobridge.flows import sku_index
from woobridge.flows.context import SettingsError, client_for, erp_for, parse_moment, resolve_connection
from woobridge.flows.engine import FlowRun, LeaseLost, RunSummary, open_run, renew_lease, retry_handler
from woobridge.flows.sku_index import Holder, IndexEntry, Pushed, StoreScan
from woobridge.state import Connection, StateDB
from woobridge.state.models import RecordError
from woobridge.woo.client import BatchItem, WooClient
from woobridge.woo.errors import WriteOutcomeUnknown
from woobridge.woo.throttle import AdaptiveConcurrency

log = logging.getLogger(__name__)

FLOW = "inventory"
RESOURCE = "sku"
BATCH_SIZE = 100  # WooCommerce's batch limit (create + update + delete together)
RESENDS = 2  # times a batch whose answer was lost is sent again (absolute quantities: see the module docstring)
LISTED = 20  # SKUs named in a note; the report's JSON has them all


# -- settings ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class InventorySettings:
    """How stock levels reach this store (``connection.settings["inventory"]``)."""

    warehouses: tuple[str, ...] | None = None  # None: every warehouse counts
    buffer: int = 0
    manage_stock: bool = False
    max_concurrency: int = 4
    full_refresh: timedelta = timedelta(hours=24)
    overlap: timedelta = timedelta(minutes=5)

    @classmethod
    def of(cls, connection: Connection) -> InventorySettings:
        return cls.from_mapping(connection.flow_settings(FLOW), connection.name)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any], name: str = "?") -> InventorySettings:
        where = f"connection {name!r}, inventory setting"
        warehouses = values.get("warehouses")
        if isinstance(warehouses, str):
            warehouses = [part.strip() for part in warehouses.split(",") if part.strip()]
        if warehouses is not None and (
            not isinstance(warehouses, list | tuple) or not all(isinstance(w, str) for w in warehouses)
        ):
            raise SettingsError(f"{where} 'warehouses' must be a list of ERP warehouse names, e.g. ['main', 'east']")
        buffer = values.get("buffer", 0)
        if not isinstance(buffer, int) or isinstance(buffer, bool) or buffer < 0:
            raise SettingsError(f"{where} 'buffer' must be a whole number of units held back, 0 or more")
        manage = values.get("manage_stock", False)
        if not isinstance(manage, bool):
            raise SettingsError(f"{where} 'manage_stock' must be true or false")
        ceiling = values.get("max_concurrency", 4)
        if not isinstance(ceiling, int) or isinstance(ceiling, bool) or not 1 <= ceiling <= 16:
            raise SettingsError(f"{where} 'max_concurrency' must be a whole number from 1 to 16")
        hours = values.get("full_refresh_hours", 24)
        if not isinstance(hours, int | float) or isinstance(hours, bool) or not 0 < hours <= 24 * 31:
            raise SettingsError(f"{where} 'full_refresh_hours' must be a number of hours from 0 to 744")
        overlap = values.get("overlap_seconds", 300)
        if not isinstance(overlap, int | float) or isinstance(overlap, bool) or not 1 <= overlap <= 86400:
            raise SettingsError(f"{where} 'overlap_seconds' must be a number of seconds from 1 to 86400")
        return cls(
            tuple(warehouses) if warehouses is not None else None,
            buffer,
            manage,
            ceiling,
            timedelta(hours=hours),
            timedelta(seconds=overlap),
        )


# -- mapping (pure) ------------------------------------------------------------------------------------------------


def target_quantity(erp_quantity: Decimal, buffer: int = 0) -> int:
    """What the store should show: whole units rounded down (WooCommerce stores whole units; never promise a part
    the ERP does not have), less the safety buffer, never below 0."""
    whole = int(erp_quantity.to_integral_value(rounding=ROUND_FLOOR))
    return max(0, whole - buffer)


@dataclass(frozen=True)
class StockWrite:
    """One item of a batch: set ``holder``'s stock to ``quantity``, for these SKUs."""

    holder: Holder
    quantity: int
    skus: tuple[str, ...]
    store_quantity: Decimal | None
    turn_on: bool = False  # also send manage_stock: true

    def payload(self) -> dict[str, Any]:
        body: dict[str, Any] = {"id": self.holder.item_id, "stock_quantity": self.quantity}
        if self.turn_on:
            body["manage_stock"] = True
        return body


@dataclass(frozen=True)
class Drift:
    """A SKU whose store quantity differs from the ERP's (after rounding, buffer and clamping)."""

    sku: str
    holder: Holder
    store_quantity: Decimal | None
    erp_quantity: Decimal
    target: int
    pushed_quantity: Decimal | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "sku": self.sku,
            "product_id": self.holder.product_id,
            "variation_id": self.holder.variation_id,
            "store_quantity": _num(self.store_quantity),
            "erp_quantity": _num(self.erp_quantity),
            "target": self.target,
            "last_pushed": _num(self.pushed_quantity),
        }


@dataclass(frozen=True)
class Conflict:
    """Several SKUs sell from one stock holder (parent-managed variations) and the ERP gives them different
    quantities: nothing is sent for it."""

    holder: Holder
    quantities: tuple[tuple[str, int], ...]

    @property
    def message(self) -> str:
        listed = ", ".join(f"{sku}: {quantity}" for sku, quantity in self.quantities)
        return (
            f"the SKUs {listed} all sell from the stock of {self.holder} (their variations use the parent's stock), "
            "and the ERP gives them different quantities; give the ERP's level under the parent's SKU, or one "
            "quantity for all of them"
        )


@dataclass
class StockPlan:
    """What a run will do, decided from the ERP's levels and the index alone."""

    writes: list[StockWrite] = field(default_factory=list)
    agreed: list[Pushed] = field(default_factory=list)  # the store already shows the new quantity: no write
    unchanged: int = 0
    drift: list[Drift] = field(default_factory=list)  # the store differs though the ERP did not change
    unknown: list[str] = field(default_factory=list)  # SKUs the store does not have
    unmanaged: list[str] = field(default_factory=list)  # SKUs of products/variations that do not manage stock
    conflicts: list[Conflict] = field(default_factory=list)
    shadowed: list[str] = field(default_factory=list)  # variation SKUs whose parent's own SKU decided instead


def plan_stock(
    levels: Iterable[StockLevel],
    index: Mapping[str, IndexEntry],
    settings: InventorySettings,
    *,
    force: bool = False,
) -> StockPlan:
    """Decide every write (see the module's docstring, step 3). ``force``: send every quantity the store does
    not show, whether or not the ERP changed it since the last push (the audit's ``--fix``)."""
    plan = StockPlan()
    by_holder: dict[Holder, list[tuple[IndexEntry, StockLevel, int]]] = {}
    unknown: set[str] = set()
    for level in levels:
        entry = index.get(level.sku)
        if entry is None:
            unknown.add(level.sku)
            continue
        by_holder.setdefault(entry.holder, []).append((entry, level, target_quantity(level.quantity, settings.buffer)))
    plan.unknown = sorted(unknown)
    for holder, claims in by_holder.items():
        own = next((claim for claim in claims if claim[0].own == holder), None)
        if own is not None:
            # The holder's own SKU (a parent's) decides; its parent-managed variations' SKUs follow it.
            plan.shadowed.extend(claim[0].sku for claim in claims if claim is not own and claim[2] != own[2])
            claims = [own, *(claim for claim in claims if claim is not own and claim[2] == own[2])]
        elif len({target for _, _, target in claims}) > 1:
            quantities = tuple(sorted((entry.sku, target) for entry, _, target in claims))
            plan.conflicts.append(Conflict(holder, quantities))
            continue
        _decide(plan, holder, claims, settings, force)
    return plan


def _decide(
    plan: StockPlan,
    holder: Holder,
    claims: Sequence[tuple[IndexEntry, StockLevel, int]],
    settings: InventorySettings,
    force: bool,
) -> None:
    entry, level, target = claims[0]
    skus = tuple(sorted({claim[0].sku for claim in claims}))
    if entry.manage_stock == "false":
        if not settings.manage_stock:
            plan.unmanaged.extend(skus)
            return
        plan.writes.append(StockWrite(holder, target, skus, entry.stock_quantity, turn_on=True))
        return
    changed = force or any(claim[0].pushed_quantity != target for claim in claims)
    in_store = entry.stock_quantity is not None and entry.stock_quantity == target
    if in_store:
        if changed:
            plan.agreed.append(Pushed(holder, skus, Decimal(target), entry.stock_quantity))
        else:
            plan.unchanged += 1
    elif changed:
        plan.writes.append(StockWrite(holder, target, skus, entry.stock_quantity))
    else:
        plan.drift.append(Drift(entry.sku, holder, entry.stock_quantity, level.quantity, target, entry.pushed_quantity))


def drift_of(
    levels: Iterable[StockLevel], index: Mapping[str, IndexEntry], settings: InventorySettings
) -> tuple[list[Drift], list[str], list[str]]:
    """The audit: every SKU whose (managed) store quantity differs from the ERP's, the SKUs the store does not have,
    and those whose product does not manage stock."""
    drift: list[Drift] = []
    unknown: list[str] = []
    unmanaged: list[str] = []
    for level in levels:
        entry = index.get(level.sku)
        if entry is None:
            unknown.append(level.sku)
            continue
        if entry.manage_stock == "false":
            unmanaged.append(level.sku)
            continue
        target = target_quantity(level.quantity, settings.buffer)
        if entry.stock_quantity is None or entry.stock_quantity != target:
            drift.append(
                Drift(level.sku, entry.holder, entry.stock_quantity, level.quantity, target, entry.pushed_quantity)
            )
    return drift, sorted(unknown), sorted(unmanaged)


# -- what happened ---------------------------------------------------------------------------------------------------


@dataclass
class InventoryReport:
    """What a sync (or the audit's fix, or a retry) did."""

    connection: str
    run: RunSummary | None = None
    index_full: bool = False
    index_products: int = 0  # products read to build or refresh the index
    index_variations: int = 0
    index_size: int = 0
    index_requests: int = 0
    erp_skus: int = 0
    counts: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(
            ("written", "unchanged", "agreed", "drift", "unknown", "unmanaged", "conflicts", "failed"), 0
        )
    )
    write_requests: int = 0  # batch requests sent (resends and throttled retries included)
    batches: int = 0
    resent: int = 0  # batches sent again after their answer was lost
    requests: int = 0
    unknown_skus: list[str] = field(default_factory=list)
    unmanaged_skus: list[str] = field(default_factory=list)
    failures: list[tuple[str, str]] = field(default_factory=list)  # (SKU, why)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "connection": self.connection,
            "run": self.run.to_dict() if self.run else None,
            "index": {
                "rebuilt": self.index_full,
                "products_read": self.index_products,
                "variations_read": self.index_variations,
                "size": self.index_size,
                "requests": self.index_requests,
            },
            "erp_skus": self.erp_skus,
            **self.counts,
            "write_requests": self.write_requests,
            "batches": self.batches,
            "resent": self.resent,
            "requests": self.requests,
            "unknown_skus": self.unknown_skus,
            "unmanaged_skus": self.unmanaged_skus,
            "failures": [{"sku": sku, "message": message} for sku, message in self.failures],
            "notes": self.notes,
        }


# -- the state database, fenced by the run's lease -----------------------------------------------------------------


@contextlib.contextmanager
def _fenced(flow_run: FlowRun) -> Iterator[Session]:
    """A unit of work that commits only while this run still holds its lease (renewed in the same transaction)."""
    flow_run.check_lease()
    with flow_run.db.session() as session:
        if not renew_lease(session, flow_run.connection.id, flow_run.flow, flow_run.holder, flow_run.ttl):
            raise LeaseLost(
                f"the {flow_run.flow} run {flow_run.id} for connection {flow_run.connection.name!r} lost its lease; "
                "it stopped writing"
            )
        yield session


def _resolve_errors(session: Session, connection_id: int, skus: Sequence[str]) -> None:
    """Close the open record errors of SKUs the store now has right (one statement per 500 SKUs)."""
    now = datetime.now(UTC)
    for start in range(0, len(skus), 500):
        session.execute(
            update(RecordError)
            .where(
                RecordError.connection_id == connection_id,
                RecordError.flow == FLOW,
                RecordError.resource == RESOURCE,
                RecordError.store_id.in_(list(skus[start : start + 500])),
                RecordError.resolved_at.is_(None),
            )
            .values(resolved_at=now, resolution="synced", next_retry_at=None)
            .execution_options(synchronize_session=False)
        )


def _remember(flow_run: FlowRun, pushed: Sequence[Pushed], gone: Sequence[Holder]) -> None:
    with _fenced(flow_run) as session:
        sku_index.record_pushed(session, flow_run.connection.id, pushed)
        sku_index.forget(session, flow_run.connection.id, gone)
        _resolve_errors(session, flow_run.connection.id, [sku for item in pushed for sku in item.skus])


def _apply_scan(flow_run: FlowRun, scan: StoreScan) -> int:
    with _fenced(flow_run) as session:
        sku_index.apply_scan(session, flow_run.connection.id, scan)
        return sku_index.count(session, flow_run.connection.id)


def _load_index(db: StateDB, connection: Connection) -> dict[str, IndexEntry]:
    with db.session() as session:
        return sku_index.load(session, connection.id)


# -- writing ---------------------------------------------------------------------------------------------------------


@dataclass
class _Chunk:
    route: str
    writes: list[StockWrite]
    items: list[BatchItem | None] = field(default_factory=list)  # None: outcome unknown
    resent: int = 0
    error: str = ""


async def _send(woo: WooClient, throttle: AdaptiveConcurrency, chunk: _Chunk) -> _Chunk:
    """One batch of ≤ 100 updates; a lost answer is sent again (absolute quantities: see the module docstring)."""
    payloads = [write.payload() for write in chunk.writes]
    for attempt in range(RESENDS + 1):
        try:
            result = await throttle.call(lambda: woo.batch(chunk.route, update=payloads))
        except WriteOutcomeUnknown as error:
            chunk.error = str(error)
            if attempt < RESENDS:
                chunk.resent += 1
                log.info("the answer to a stock batch on %s was lost (%s): sending it again", chunk.route, error)
                continue
            chunk.items = [None] * len(chunk.writes)
            return chunk
        updates = sorted(result.of("update"), key=lambda item: item.index)
        chunk.items = [updates[i] if i < len(updates) else None for i in range(len(chunk.writes))]
        return chunk
    raise AssertionError("unreachable")  # pragma: no cover


def _chunks(writes: Sequence[StockWrite]) -> list[_Chunk]:
    by_route: dict[str, list[StockWrite]] = {}
    for write in writes:
        by_route.setdefault(write.holder.route, []).append(write)
    return [
        _Chunk(route, group[start : start + BATCH_SIZE])
        for route, group in by_route.items()
        for start in range(0, len(group), BATCH_SIZE)
    ]


async def _push(
    flow_run: FlowRun,
    woo: WooClient,
    throttle: AdaptiveConcurrency,
    writes: Sequence[StockWrite],
    report: InventoryReport,
) -> None:
    """Send the writes, a few batches at a time, and record each batch's outcome as soon as it is known."""
    chunks = _chunks(writes)
    report.batches += len(chunks)
    before = woo.requests_sent  # only batches are sent meanwhile
    tasks = [asyncio.create_task(_send(woo, throttle, chunk)) for chunk in chunks]
    try:
        for next_done in asyncio.as_completed(tasks):
            chunk = await next_done
            await asyncio.to_thread(_record_chunk, flow_run, chunk, report)
    finally:
        report.write_requests += woo.requests_sent - before
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def _record_chunk(flow_run: FlowRun, chunk: _Chunk, report: InventoryReport) -> None:
    report.resent += chunk.resent
    pushed: list[Pushed] = []
    gone: list[Holder] = []
    failed: list[tuple[StockWrite, str, dict[str, Any]]] = []
    for write, item in zip(chunk.writes, chunk.items, strict=True):
        if item is None:
            why = (
                f"the store's answer when setting the stock of {write.holder} was lost {RESENDS + 1} times "
                f"({chunk.error or 'no answer'}); the quantity may or may not be set — the next run sends it again"
            )
            failed.append((write, why, {}))
            continue
        if not item.ok:
            error = item.error
            code = error.code if error is not None and error.code else "error"
            message = error.message if error is not None else "refused"
            if code.endswith("_invalid_id"):
                gone.append(write.holder)
            failed.append(
                (write, f"the store refused the stock update of {write.holder}: {code}: {message}", {"code": code})
            )
            continue
        data = item.data or {}
        pushed.append(
            Pushed(
                write.holder,
                write.skus,
                Decimal(write.quantity),
                sku_index.quantity_of(data.get("stock_quantity")),
                sku_index.gmt_of(data.get("date_modified_gmt")),
                "true" if write.turn_on else None,
            )
        )
    _remember(flow_run, pushed, gone)
    report.counts["written"] += len(pushed)
    flow_run.count(updated=len(pushed))
    for write, why, extra in failed:
        for sku in write.skus:
            payload = {
                "sku": sku,
                "product_id": write.holder.product_id,
                "variation_id": write.holder.variation_id,
                "quantity": write.quantity,
                **extra,
            }
            flow_run.record_error(RESOURCE, sku, why, payload=payload)
            report.counts["failed"] += 1
            if len(report.failures) < LISTED:
                report.failures.append((sku, why))


# -- the sync --------------------------------------------------------------------------------------------------------


async def run(
    db: StateDB,
    connection: Connection | str,
    *,
    erp: ErpPort | None = None,
    services: Any = None,
    holder: str | None = None,
    woo: WooClient | None = None,
    rebuild: bool = False,
    only: Iterable[str] | None = None,
) -> InventoryReport:
    """Bring the store's stock in line with the ERP's levels; see the module's docstring.

    ``erp``: an open ERP port (default: ``woobridge.erp.open_erp()``, closed afterwards). ``woo``: a client for the
    store (default: built from the connection's sealed credentials with ``services.vault()``). ``rebuild``: build
    the SKU index from scratch. ``only``: these SKUs only (a retry). Raises ``LeaseHeld`` when another run of the
    flow is going on, ``ErpUnavailable`` / ``WooError`` when the run cannot go on.
    """
    conn = resolve_connection(db, connection)
    settings = InventorySettings.of(conn)
    report = InventoryReport(conn.name)
    async with (
        erp_for(erp) as port,
        client_for(conn, services, woo, max_concurrency=settings.max_concurrency) as client,
    ):
        async with open_run(db, conn, FLOW, holder=holder) as flow_run:
            throttle = AdaptiveConcurrency(settings.max_concurrency)
            before = client.requests_sent
            try:
                await _refresh_index(flow_run, client, throttle, settings, report, rebuild=rebuild)
                levels = await _levels(port, conn, settings, only)
                await _sync(flow_run, port, client, throttle, settings, levels, report, force=only is not None)
            finally:
                report.requests = client.requests_sent - before
                flow_run.count(requests=report.requests)
        report.run = flow_run.summary()
    return report


async def _refresh_index(
    flow_run: FlowRun,
    woo: WooClient,
    throttle: AdaptiveConcurrency,
    settings: InventorySettings,
    report: InventoryReport,
    *,
    rebuild: bool = False,
    scan: StoreScan | None = None,
) -> None:
    """Build the index, or bring it up to date since the last read; then move the index's cursor."""
    cursor = flow_run.cursor or {}
    read_after = parse_moment(cursor.get("index_modified_after"))
    built_at = parse_moment(cursor.get("index_built_at"))
    now = datetime.now(UTC)
    full = rebuild or read_after is None or built_at is None or now - built_at > settings.full_refresh
    if scan is None:
        scan = await sku_index.scan_store(woo, throttle, modified_after=None if full else read_after)
    report.index_full = scan.full
    report.index_products = len(scan.products)
    report.index_variations = sum(len(v) for v in scan.variations.values())
    report.index_requests += scan.requests
    report.index_size = await asyncio.to_thread(_apply_scan, flow_run, scan)
    started = scan.store_started_at or now
    await asyncio.to_thread(
        flow_run.save_cursor,
        {
            "index_modified_after": (started - settings.overlap).isoformat(),
            "index_built_at": started.isoformat() if scan.full else (built_at or started).isoformat(),
        },
    )


async def _levels(
    erp: ErpPort, connection: Connection, settings: InventorySettings, only: Iterable[str] | None
) -> list[StockLevel]:
    levels = await asyncio.to_thread(lambda: list(erp.stock_levels(connection.name, settings.warehouses)))
    if only is not None:
        wanted = set(only)
        levels = [level for level in levels if level.sku in wanted]
    return levels


async def _sync(
    flow_run: FlowRun,
    erp: ErpPort,
    woo: WooClient,
    throttle: AdaptiveConcurrency,
    settings: InventorySettings,
    levels: Sequence[StockLevel],
    report: InventoryReport,
    *,
    force: bool = False,
) -> None:
    report.erp_skus = len(levels)
    index = await asyncio.to_thread(_load_index, flow_run.db, flow_run.connection)
    plan = plan_stock(levels, index, settings, force=force)
    flow_run.message = f"{len(levels)} ERP stock level(s), {len(plan.writes)} to write"
    if plan.agreed:
        await asyncio.to_thread(_remember, flow_run, plan.agreed, [])
    await _push(flow_run, woo, throttle, plan.writes, report)
    for conflict in plan.conflicts:
        for sku, _ in conflict.quantities:
            await asyncio.to_thread(flow_run.record_error, RESOURCE, sku, conflict.message, {"sku": sku})
            report.counts["failed"] += 1
            if len(report.failures) < LISTED:
                report.failures.append((sku, conflict.message))
    report.counts["unchanged"] += plan.unchanged
    report.counts["agreed"] += len(plan.agreed)
    report.counts["drift"] += len(plan.drift)
    report.counts["unknown"] += len(plan.unknown)
    report.counts["unmanaged"] += len(plan.unmanaged)
    report.counts["conflicts"] += len(plan.conflicts)
    report.unknown_skus = plan.unknown
    report.unmanaged_skus = sorted(plan.unmanaged)
    flow_run.count(
        read=len(levels),
        skipped=plan.unchanged + len(plan.agreed) + len(plan.drift) + len(plan.unknown) + len(plan.unmanaged),
    )
    _notes(plan, report)
    if report.notes:
        flow_run.message = f"{flow_run.message}; " + "; ".join(note.split(":")[0] for note in report.notes)
    await asyncio.to_thread(_acknowledge, erp, flow_run.connection.name, plan, report)


def _listed(skus: Sequence[str]) -> str:
    shown = ", ".join(skus[:LISTED])
    return shown + (f" … and {len(skus) - LISTED} more" if len(skus) > LISTED else "")


def _notes(plan: StockPlan, report: InventoryReport) -> None:
    """Once per run, however many items: the SKUs the store lacks, those it does not count, drift."""
    if plan.unknown:
        report.notes.append(
            f"{len(plan.unknown)} SKU(s) the ERP has are not in the store (no product or variation has them), "
            f"left out: {_listed(plan.unknown)}"
        )
        log.warning(
            "inventory %s: %d ERP SKU(s) not in the store: %s",
            report.connection,
            len(plan.unknown),
            _listed(plan.unknown),
        )
    if plan.unmanaged:
        report.notes.append(
            f"{len(plan.unmanaged)} SKU(s) belong to products that do not manage stock, left alone (set the "
            f"connection's inventory setting manage_stock to true to turn it on): {_listed(sorted(plan.unmanaged))}"
        )
        log.warning(
            "inventory %s: %d SKU(s) of products that do not manage stock", report.connection, len(plan.unmanaged)
        )
    if plan.drift:
        report.notes.append(
            f"{len(plan.drift)} SKU(s) differ in the store although the ERP's quantity did not change (orders, or "
            "an edit in the store); woobridge audit inventory --fix sets them to the ERP's"
        )
    if plan.shadowed:
        report.notes.append(
            f"{len(plan.shadowed)} variation SKU(s) sell from their parent's stock, whose own SKU set it: "
            f"{_listed(sorted(plan.shadowed))}"
        )


def _acknowledge(erp: ErpPort, connection: str, plan: StockPlan, report: InventoryReport) -> None:
    """Tell an ERP that keeps a status per stock level (the staging tables' ``woo_status``) what became of each
    SKU — when it can take them all at once; the port does not require it."""
    bulk = getattr(erp, "acknowledge_stock_levels", None)
    if not callable(bulk):
        return
    acks: dict[str, Acknowledgement] = {}
    for write in plan.writes:
        for sku in write.skus:
            acks[sku] = Acknowledgement("done", store_ref=str(write.holder))
    for item in plan.agreed:
        for sku in item.skus:
            acks[sku] = Acknowledgement("done", store_ref=str(item.holder))
    for sku, why in report.failures:
        acks[sku] = Acknowledgement("error", why)
    for sku in plan.unknown:
        acks[sku] = Acknowledgement("error", "no product or variation in the store has this SKU")
    for sku in plan.unmanaged:
        acks[sku] = Acknowledgement("error", "the store does not manage stock for this product")
    for conflict in plan.conflicts:
        for sku, _ in conflict.quantities:
            acks[sku] = Acknowledgement("error", conflict.message)
    bulk(connection, acks)


# -- retrying record errors -------------------------------------------------------------------------------------------


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
) -> InventoryReport:
    """``woobridge errors retry``: refresh the index and send these SKUs' current ERP quantities again (those the
    store already shows are settled); a SKU that fails again gets one more attempt counted."""
    return await run(
        db,
        connection,
        erp=erp,
        services=services,
        woo=woo,
        holder=holder,
        only=[error.store_id for error in errors],
    )


# -- the drift audit ---------------------------------------------------------------------------------------------------


@dataclass
class AuditReport:
    connection: str
    erp_skus: int = 0
    store_skus: int = 0
    drift: list[Drift] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    unmanaged: list[str] = field(default_factory=list)
    requests: int = 0
    fixed: InventoryReport | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "connection": self.connection,
            "erp_skus": self.erp_skus,
            "store_skus": self.store_skus,
            "drift": [entry.to_dict() for entry in self.drift],
            "unknown_skus": self.unknown,
            "unmanaged_skus": self.unmanaged,
            "requests": self.requests,
            "fixed": self.fixed.to_dict() if self.fixed else None,
        }


async def audit(
    db: StateDB,
    connection: Connection | str,
    *,
    fix: bool = False,
    erp: ErpPort | None = None,
    services: Any = None,
    woo: WooClient | None = None,
    holder: str | None = None,
) -> AuditReport:
    """Read the whole store afresh and list every SKU whose store quantity differs from the ERP's (after rounding,
    buffer and clamping), the ERP's SKUs the store lacks, and those whose product does not manage stock.
    ``fix`` pushes the drifted ones (in a run of the inventory flow, which also rebuilds the index from this read)."""
    conn = resolve_connection(db, connection)
    settings = InventorySettings.of(conn)
    report = AuditReport(conn.name)
    async with (
        erp_for(erp) as port,
        client_for(conn, services, woo, max_concurrency=settings.max_concurrency) as client,
    ):
        throttle = AdaptiveConcurrency(settings.max_concurrency)
        scan = await sku_index.scan_store(client, throttle)
        fresh = {entry.sku: entry for entry in scan.entries()}
        known = await asyncio.to_thread(_load_index, db, conn)
        # The fresh read knows the store; the stored index knows what was pushed last.
        index = {
            sku: IndexEntry(
                e.sku,
                e.product_id,
                e.variation_id,
                e.manage_stock,
                e.stock_quantity,
                e.store_modified,
                known[sku].pushed_quantity if sku in known else None,
            )
            for sku, e in fresh.items()
        }
        levels = await _levels(port, conn, settings, None)
        report.erp_skus, report.store_skus = len(levels), len(index)
        report.drift, report.unknown, report.unmanaged = drift_of(levels, index, settings)
        report.requests = scan.requests
        if fix and report.drift:
            fixed = InventoryReport(conn.name)
            async with open_run(db, conn, FLOW, holder=holder) as flow_run:
                flow_run.message = f"audit --fix: {len(report.drift)} SKU(s) differ from the ERP"
                before = client.requests_sent
                try:
                    await _refresh_index(flow_run, client, throttle, settings, fixed, scan=scan)
                    wanted = {entry.sku for entry in report.drift}
                    chosen = [level for level in levels if level.sku in wanted]
                    await _sync(flow_run, port, client, throttle, settings, chosen, fixed, force=True)
                finally:
                    fixed.requests = client.requests_sent - before
                    flow_run.count(requests=fixed.requests)
            fixed.run = flow_run.summary()
            report.fixed = fixed
            report.requests += fixed.requests
    return report


# -- plumbing --------------------------------------------------------------------------------------------------------


def _num(value: Decimal | None) -> str | None:
    if value is None:
        return None
    return format(value.normalize(), "f") if value == value.to_integral_value() else str(value)


__all__ = [
    "AuditReport",
    "Conflict",
    "Drift",
    "InventoryReport",
    "InventorySettings",
    "StockPlan",
    "StockWrite",
    "audit",
    "drift_of",
    "plan_stock",
    "retry_errors",
    "run",
    "target_quantity",
]
