"""The fulfillment flow (ERP → store): shipments made in the ERP reach the store as tracking, and complete the order
once everything has shipped.

The whole story:

1. **Read** the ERP's pending shipments through the port (``erp.pending_shipments``; the staging adapter's
   ``shipments`` + ``shipment_lines`` rows with ``woo_status = 'pending'``). Nothing pending: the run makes no
   request to the store at all.
2. **How tracking reaches the store**: through the Shipment Tracking extension's routes when the store has it
   (its ``wc-shipment-tracking/v3`` namespace is in the REST index — one unauthenticated request a run; if the
   index cannot be read, the connection's ``store_info`` from connect/check says whether the plugin is active),
   otherwise as an order note the customer sees (``customer_note: true``: carrier, tracking number, link).
3. **Read the order** afresh (``GET orders/{id}``), and **map** (pure, :func:`plan_shipment`): which order lines
   this shipment ships, whether every line has now shipped, the note's text, the extension's payload. An unknown
   order, a cancelled/refunded/failed/trashed order, or a line that is not the order's (or more than is left to
   ship) is refused with the reason.
4. **Write**, each step safe to repeat:

   * the tracking (``POST …/shipment-trackings``) or the note (``POST orders/{id}/notes``) — unless the order
     already has it (a tracking with this number not claimed by another shipment; a note carrying
     ``Shipment reference: <id>``). A write whose answer was lost is looked up the same way before it is
     resent (``WooClient``'s ``verify=``), so a timeout never makes a second tracking or note;
   * the order: its meta ``_woobridge_shipments`` (the ledger of every shipment woobridge recorded on the order:
     ERP shipment id, lines and quantities, carrier, number, link, tracking or note id) and, when every line has
     shipped, ``status: completed`` — one ``PUT``, idempotent by nature.

   The ledger is the store's own record of what was pushed: a shipment already in it is never pushed again (the
   ERP row is only acknowledged), whatever the state database says.
5. **Acknowledge** the ERP row: ``done`` with the tracking or note id, or ``error`` with the reason. Bind
   (resource ``shipment``, keyed on the ERP shipment id → the store's tracking/note id).
6. A refused shipment becomes a **record error** (and its ERP row an ``error`` with the same reason); the run goes
   on. A store that fails or throttles past the client's retries stops the run: pending rows stay pending and the
   next run takes them up, with the ledger making that safe.

Per-connection settings (``connection.settings["fulfillment"]``): ``complete`` — ``all_shipped`` (default: complete
the order once every line has shipped), ``first_shipment`` (complete on the first shipment) or ``never``;
``tracking`` — ``auto`` (default), ``extension`` or ``note``; ``max_concurrency`` (orders handled at once, 1–16).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from woobridge.documents import Shipment
from woobridge.erp.port import Acknowledgement, ErpPort, ErpRecordError
from woobridge.flows.context import SettingsError, client_for, erp_for, resolve_connection
from woobridge.flows.engine import FlowRun, RunSummary, open_run, retry_handler
from woobridge.state import Connection, StateDB
from woobridge.state.models import RecordError
from woobridge.woo.client import WooClient
from woobridge.woo.errors import HTTPError, NotFound, WooError

log = logging.getLogger(__name__)

FLOW = "fulfillment"
RESOURCE = "shipment"
LEDGER_KEY = "_woobridge_shipments"  # order meta: the shipments woobridge recorded on the order
TRACKING_META = "_wc_shipment_tracking_items"  # the Shipment Tracking extension's order meta
TRACKING_NAMESPACE = "wc-shipment-tracking/v3"
MARKER = "Shipment reference:"  # the last line of a tracking note, naming the ERP shipment

Completion = Literal["all_shipped", "first_shipment", "never"]
TrackingChoice = Literal["auto", "extension", "note"]
Via = Literal["extension", "note"]
Action = Literal["shipped", "already", "failed"]

# An order in one of these statuses does not take a shipment: the ERP shipped something the store will not deliver.
REFUSED_STATUSES = {
    "cancelled": "is cancelled",
    "refunded": "is fully refunded",
    "failed": "failed (its payment did not go through)",
    "trash": "is in the trash",
    "checkout-draft": "is a checkout draft, not an order yet",
}


# -- settings ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FulfillmentSettings:
    """``connection.settings["fulfillment"]``."""

    complete: Completion = "all_shipped"
    tracking: TrackingChoice = "auto"
    max_concurrency: int = 4

    @classmethod
    def of(cls, connection: Connection) -> FulfillmentSettings:
        return cls.from_mapping(connection.flow_settings(FLOW), connection.name)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any], name: str = "?") -> FulfillmentSettings:
        where = f"connection {name!r}, fulfillment setting"
        complete = values.get("complete", "all_shipped")
        if complete not in ("all_shipped", "first_shipment", "never"):
            raise SettingsError(f"{where} 'complete' must be all_shipped, first_shipment or never, not {complete!r}")
        tracking = values.get("tracking", "auto")
        if tracking not in ("auto", "extension", "note"):
            raise SettingsError(f"{where} 'tracking' must be auto, extension or note, not {tracking!r}")
        ceiling = values.get("max_concurrency", 4)
        if not isinstance(ceiling, int) or isinstance(ceiling, bool) or not 1 <= ceiling <= 16:
            raise SettingsError(f"{where} 'max_concurrency' must be a whole number from 1 to 16")
        return cls(complete, tracking, ceiling)


# -- mapping (pure) --------------------------------------------------------------------------------------------------


class ShipmentRefused(Exception):
    """The store cannot take this shipment as it is; ``reason`` says why in words for the ERP side."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class ShipmentPlan:
    """What recording one shipment on its order means."""

    shipment: Shipment
    order_id: int
    via: Via
    lines: tuple[tuple[int, Decimal], ...]  # (order line id, quantity) this shipment ships
    all_shipped: bool  # with this shipment, every line of the order has shipped
    set_completed: bool  # the order's status becomes completed
    ledger: tuple[dict[str, Any], ...]  # the order's shipments before this one
    note: str  # the customer note (note mode)
    tracking: dict[str, Any] | None  # the extension's POST body (extension mode)

    def entry(self, store_ref: str) -> dict[str, Any]:
        """This shipment's entry in the order's ledger, once its tracking or note is ``store_ref``."""
        shipment = self.shipment
        return {
            "erp_shipment_id": shipment.erp_shipment_id,
            "carrier": shipment.carrier,
            "tracking_number": shipment.tracking_number,
            "tracking_url": shipment.tracking_url,
            "shipped_at": shipment.shipped_at.isoformat() if shipment.shipped_at else "",
            "lines": [{"line_id": line_id, "quantity": _number(quantity)} for line_id, quantity in self.lines],
            "via": self.via,
            "store_ref": store_ref,
        }


def ledger_of(order: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The shipments woobridge recorded on the order (its ``_woobridge_shipments`` meta)."""
    value = _meta(order, LEDGER_KEY)
    return [entry for entry in value if isinstance(entry, dict)] if isinstance(value, list) else []


def recorded(order: Mapping[str, Any], erp_shipment_id: str) -> dict[str, Any] | None:
    """The ledger entry of this shipment, if the order already has it."""
    return next((e for e in ledger_of(order) if e.get("erp_shipment_id") == erp_shipment_id), None)


def plan_shipment(
    order: Mapping[str, Any],
    shipment: Shipment,
    *,
    via: Via,
    complete: Completion = "all_shipped",
    refunded: Mapping[int, Decimal] | None = None,
    providers: Mapping[str, str] | None = None,
) -> ShipmentPlan:
    """Map a shipment onto its order (the order as ``GET orders/{id}`` returns it). ``refunded``: quantities
    refunded per order line (they will not ship). ``providers``: the extension's predefined providers, by
    lower-cased name → slug. Raises :class:`ShipmentRefused`."""
    order_id = int(order.get("id") or 0)
    status = str(order.get("status") or "")
    if status in REFUSED_STATUSES:
        raise ShipmentRefused(
            f"order {order_id} {REFUSED_STATUSES[status]}: the store cannot take shipment {shipment.erp_shipment_id}"
        )
    refunded = refunded or {}
    ledger = ledger_of(order)
    lines = [line for line in order.get("line_items") or [] if isinstance(line, Mapping)]
    ordered = {int(line["id"]): _decimal(line.get("quantity")) for line in lines if isinstance(line.get("id"), int)}
    shipped_before: dict[int, Decimal] = {}
    for entry in ledger:
        for part in entry.get("lines") or []:
            if isinstance(part, Mapping) and isinstance(part.get("line_id"), int):
                shipped_before[part["line_id"]] = shipped_before.get(part["line_id"], Decimal(0)) + _decimal(
                    part.get("quantity")
                )

    def left(line_id: int) -> Decimal:
        return max(
            ordered[line_id] - refunded.get(line_id, Decimal(0)) - shipped_before.get(line_id, Decimal(0)), Decimal(0)
        )

    shipping: dict[int, Decimal] = {}
    if not shipment.lines:
        shipping = {line_id: left(line_id) for line_id in ordered if left(line_id) > 0}
    for number, part in enumerate(shipment.lines, start=1):
        what = f"shipment {shipment.erp_shipment_id}, line {number}"
        if part.store_line_id:
            if part.store_line_id not in ordered:
                raise ShipmentRefused(
                    f"{what}: order line {part.store_line_id} is not a product line of order {order_id}"
                )
            candidates = [part.store_line_id]
        else:
            candidates = [int(line["id"]) for line in lines if str(line.get("sku") or "") == part.sku]
            if not candidates:
                raise ShipmentRefused(f"{what}: order {order_id} has no line with SKU {part.sku!r}")
        wanted = part.quantity
        for line_id in candidates:
            take = min(wanted, left(line_id) - shipping.get(line_id, Decimal(0)))
            if take > 0:
                shipping[line_id] = shipping.get(line_id, Decimal(0)) + take
                wanted -= take
        if wanted > 0:
            label = f"line {part.store_line_id}" if part.store_line_id else f"SKU {part.sku!r}"
            available = sum((left(i) for i in candidates), Decimal(0))
            raise ShipmentRefused(
                f"{what}: ships {_number(part.quantity)} of {label} but order {order_id} has only "
                f"{_number(available)} left to ship (ordered, less refunded and already shipped)"
            )
    all_shipped = all(
        ordered[i] - refunded.get(i, Decimal(0)) <= shipped_before.get(i, Decimal(0)) + shipping.get(i, Decimal(0))
        for i in ordered
    )
    set_completed = status != "completed" and (
        complete == "first_shipment" or (complete == "all_shipped" and all_shipped)
    )
    names = {int(line["id"]): str(line.get("name") or "") for line in lines if isinstance(line.get("id"), int)}
    planned = tuple((line_id, quantity) for line_id, quantity in shipping.items())
    return ShipmentPlan(
        shipment=shipment,
        order_id=order_id,
        via=via,
        lines=planned,
        all_shipped=all_shipped,
        set_completed=set_completed,
        ledger=tuple(ledger),
        note=note_text(shipment, [(names.get(i, ""), q) for i, q in planned], all_shipped),
        tracking=tracking_payload(shipment, providers or {}) if via == "extension" else None,
    )


def note_text(shipment: Shipment, lines: Sequence[tuple[str, Decimal]], all_shipped: bool) -> str:
    """The note the customer reads: what shipped, carrier, tracking number and link, and the shipment's reference
    (its last line, which is how woobridge recognises the note later)."""
    if all_shipped and not shipment.lines:
        head = "Your order has shipped."
    else:
        items = ", ".join(f"{_number(quantity)} × {name}" for name, quantity in lines if name)
        head = f"Part of your order has shipped: {items}." if not all_shipped and items else "Your order has shipped."
        if all_shipped and shipment.lines:
            head = "The rest of your order has shipped." + (f" {items}." if items else "")
    body = [head]
    if shipment.carrier:
        body.append(f"Carrier: {shipment.carrier}")
    if shipment.tracking_number:
        body.append(f"Tracking number: {shipment.tracking_number}")
    if shipment.tracking_url:
        body.append(f"Track your parcel: {shipment.tracking_url}")
    body.append(f"{MARKER} {shipment.erp_shipment_id}")
    return "\n".join(body)


def has_marker(note: str, erp_shipment_id: str) -> bool:
    """Whether a note is the one woobridge wrote for this shipment (WordPress may have reformatted the lines)."""
    pattern = re.escape(MARKER) + r"\s*" + re.escape(erp_shipment_id) + r"(?![^\s<])"
    return re.search(pattern, note) is not None


def tracking_payload(shipment: Shipment, providers: Mapping[str, str]) -> dict[str, Any]:
    """The extension's POST body: a predefined provider by its slug when the carrier is one and the ERP gave no
    link (the extension builds the link), otherwise a custom provider with the ERP's link."""
    body: dict[str, Any] = {"tracking_number": shipment.tracking_number}
    slug = providers.get(shipment.carrier.strip().lower())
    if slug and not shipment.tracking_url:
        body["tracking_provider"] = slug
    else:
        body["custom_tracking_provider"] = shipment.carrier or "Carrier"
        body["custom_tracking_link"] = shipment.tracking_url
    if shipment.shipped_at is not None:
        body["date_shipped"] = shipment.shipped_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
    return body


def refunded_quantities(refunds: Sequence[Any]) -> dict[int, Decimal]:
    """Quantities refunded per order line, from ``GET orders/{id}/refunds`` (refund lines are negative and name
    the order line in their ``_refunded_item_id`` meta)."""
    found: dict[int, Decimal] = {}
    for refund in refunds:
        for line in (refund.get("line_items") if isinstance(refund, Mapping) else None) or []:
            original = _meta(line, "_refunded_item_id")
            if original is None or not str(original).isdigit():
                continue
            found[int(original)] = found.get(int(original), Decimal(0)) + abs(_decimal(line.get("quantity")))
    return found


def _meta(obj: Mapping[str, Any], key: str) -> Any:
    for entry in obj.get("meta_data") or []:
        if isinstance(entry, Mapping) and entry.get("key") == key:
            return entry.get("value")
    return None


def _decimal(value: Any) -> Decimal:
    try:
        return Decimal(str(value if value not in (None, "") else 0))
    except InvalidOperation:
        return Decimal(0)


def _number(value: Decimal) -> str:
    """A quantity as people write it: 2, 1.5 (not 2.000000)."""
    return format(value.normalize(), "f")


# -- what happened -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ShipmentOutcome:
    erp_shipment_id: str
    order_id: int
    action: Action
    via: str = ""
    store_ref: str = ""
    completed: bool = False
    message: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "shipment": self.erp_shipment_id,
            "order": self.order_id,
            "action": self.action,
            "via": self.via,
            "store_ref": self.store_ref,
            "completed": self.completed,
            "message": self.message,
        }


@dataclass
class FulfillmentReport:
    """What a fulfillment run (or a retry) did."""

    connection: str
    run: RunSummary | None = None
    via: str = ""
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(("read", "shipped", "already", "failed"), 0))
    completed: int = 0
    requests: int = 0
    outcomes: list[ShipmentOutcome] = field(default_factory=list)

    def add(self, outcome: ShipmentOutcome) -> None:
        self.counts[outcome.action] += 1
        self.completed += int(outcome.completed)
        self.outcomes.append(outcome)

    @property
    def failed(self) -> int:
        return self.counts["failed"]

    @property
    def failures(self) -> list[ShipmentOutcome]:
        return [outcome for outcome in self.outcomes if outcome.action == "failed"]

    def to_dict(self) -> dict[str, Any]:
        return {
            "connection": self.connection,
            "run": self.run.to_dict() if self.run else None,
            "via": self.via,
            **self.counts,
            "completed": self.completed,
            "requests": self.requests,
            "shipments": [outcome.to_dict() for outcome in self.outcomes],
        }


# -- writing ---------------------------------------------------------------------------------------------------------


@dataclass
class _Pusher:
    """Pushes shipments to the store for one run: steps 3–5 of the story."""

    connection: Connection
    erp: ErpPort
    woo: WooClient
    run: FlowRun
    settings: FulfillmentSettings
    via: Via
    _providers: dict[str, str] | None = None

    async def push(self, shipment: Shipment) -> ShipmentOutcome:
        """Record one shipment on its order. Raises only what must stop the run (store unreachable or throttling
        past retries, ERP unavailable, lease lost)."""
        key = shipment.erp_shipment_id
        try:
            return await self._push(shipment)
        except ShipmentRefused as refused:
            return await self._refuse(shipment, refused.reason)
        except HTTPError as error:
            if error.retryable:
                raise
            reason = f"the store refused it: {error.message or error} (HTTP {error.status}, {error.code or 'no code'})"
            return await self._refuse(shipment, f"shipment {key} for order {shipment.store_order_id}: {reason}")

    async def _push(self, shipment: Shipment) -> ShipmentOutcome:
        order_id = shipment.store_order_id
        key = shipment.erp_shipment_id
        order = await self._order(order_id)
        entry = recorded(order, key)
        if entry is not None:
            # Already on the order (an earlier run, or one whose acknowledgement was lost): only tell the ERP.
            await self._done(shipment, str(entry.get("store_ref") or ""), entry.get("via", ""))
            return ShipmentOutcome(key, order_id, "already", str(entry.get("via", "")), str(entry.get("store_ref")))
        refunded: dict[int, Decimal] = {}
        if order.get("refunds"):
            refunded = refunded_quantities(await self.woo.get_all(f"orders/{order_id}/refunds", {"per_page": 100}))
        via: Via = self.via if shipment.tracking_number else "note"  # the extension needs a tracking number
        providers = await self._provider_slugs() if via == "extension" and not shipment.tracking_url else {}
        plan = plan_shipment(
            order, shipment, via=via, complete=self.settings.complete, refunded=refunded, providers=providers
        )
        store_ref = await (self._tracking(order, plan) if via == "extension" else self._note(plan))
        await self._record_on_order(plan, store_ref)
        await self._done(shipment, store_ref, via)
        return ShipmentOutcome(key, order_id, "shipped", via, store_ref, plan.set_completed)

    async def _order(self, order_id: int) -> dict[str, Any]:
        try:
            order = await self.woo.get(f"orders/{order_id}")
        except NotFound:
            raise ShipmentRefused(f"order {order_id} is not in the store (unknown or deleted)") from None
        if not isinstance(order, dict):
            raise ShipmentRefused(f"order {order_id}: the store did not answer with an order")
        return order

    async def _tracking(self, order: Mapping[str, Any], plan: ShipmentPlan) -> str:
        """The extension's tracking for this shipment: the one already on the order (a write whose answer was
        lost), or a new one. Returns its tracking id."""
        claimed = {str(e.get("store_ref")) for e in plan.ledger}
        number = plan.shipment.tracking_number

        def ours(items: Any) -> dict[str, Any] | None:
            for item in items if isinstance(items, list) else []:
                if (
                    isinstance(item, Mapping)
                    and item.get("tracking_number") == number
                    and str(item.get("tracking_id")) not in claimed
                ):
                    return dict(item)
            return None

        existing = ours(_meta(order, TRACKING_META))
        if existing is not None:
            return str(existing["tracking_id"])
        route = f"/{TRACKING_NAMESPACE}/orders/{plan.order_id}/shipment-trackings"

        async def lookup() -> Any:
            return ours(await self.woo.get(route))

        created = await self.woo.post(route, plan.tracking, verify=lookup)
        return str(created.get("tracking_id") if isinstance(created, Mapping) else "")

    async def _note(self, plan: ShipmentPlan) -> str:
        """The customer note for this shipment: the one already on the order, or a new one. Returns ``note:<id>``."""
        key = plan.shipment.erp_shipment_id
        route = f"orders/{plan.order_id}/notes"

        async def lookup() -> Any:
            notes = await self.woo.get(route, {"type": "customer"})
            for note in notes if isinstance(notes, list) else []:
                if isinstance(note, Mapping) and has_marker(str(note.get("note") or ""), key):
                    return note
            return None

        note = await lookup()
        if note is None:
            note = await self.woo.post(route, {"note": plan.note, "customer_note": True}, verify=lookup)
        return f"note:{note.get('id') if isinstance(note, Mapping) else ''}"

    async def _record_on_order(self, plan: ShipmentPlan, store_ref: str) -> None:
        """One PUT: the ledger with this shipment, and ``completed`` when due. Repeating it changes nothing."""
        key = plan.shipment.erp_shipment_id
        body: dict[str, Any] = {
            "meta_data": [{"key": LEDGER_KEY, "value": [*plan.ledger, plan.entry(store_ref)]}],
        }
        if plan.set_completed:
            body["status"] = "completed"

        async def lookup() -> Any:
            order = await self.woo.get(f"orders/{plan.order_id}")
            done = recorded(order, key) is not None and (not plan.set_completed or order.get("status") == "completed")
            return order if done else None

        await self.woo.put(f"orders/{plan.order_id}", body, verify=lookup)

    async def _provider_slugs(self) -> dict[str, str]:
        """The extension's predefined providers (name → slug), read once a run; none when it cannot say."""
        if self._providers is None:
            self._providers = {}
            try:
                listed = await self.woo.get(f"/{TRACKING_NAMESPACE}/shipment-trackings/providers")
            except WooError as error:
                log.info("could not read the Shipment Tracking providers (%s): custom providers are used", error)
                listed = {}
            for providers in listed.values() if isinstance(listed, Mapping) else []:
                for name in providers if isinstance(providers, Mapping) else []:
                    self._providers[str(name).strip().lower()] = _slug(str(name))
        return self._providers

    async def _done(self, shipment: Shipment, store_ref: str, via: Any) -> None:
        key = shipment.erp_shipment_id
        ack = Acknowledgement("done", f"recorded on order {shipment.store_order_id} ({via})", store_ref)
        try:
            await asyncio.to_thread(self.erp.acknowledge_shipment, self.connection.name, key, ack)
        except ErpRecordError as error:
            log.warning("shipment %s is on the store, but the ERP refused its acknowledgement: %s", key, error)
        await asyncio.to_thread(self.run.bind, RESOURCE, key, key, erp_document_no=store_ref[:255])

    async def _refuse(self, shipment: Shipment, reason: str) -> ShipmentOutcome:
        key = shipment.erp_shipment_id
        await asyncio.to_thread(self.run.record_error, RESOURCE, key, ShipmentRefused(reason), shipment)
        try:
            await asyncio.to_thread(
                self.erp.acknowledge_shipment, self.connection.name, key, Acknowledgement("error", reason)
            )
        except ErpRecordError as error:
            log.warning("could not mark shipment %s as an error in the ERP: %s", key, error)
        return ShipmentOutcome(key, shipment.store_order_id, "failed", message=reason)


def _slug(name: str) -> str:
    """WordPress' sanitize_title() as the extension applies it to provider names."""
    import unicodedata

    value = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower().replace(".", "-")
    value = re.sub(r"[^a-z0-9 _-]", "", value)
    value = re.sub(r"\s+", "-", value)
    return re.sub(r"-+", "-", value).strip("-")


async def detect_tracking(woo: WooClient, connection: Connection, choice: TrackingChoice) -> Via:
    """Extension or note: as the settings say, else from the REST index's namespaces (fresh each run: plugins come
    and go), else from what connect/check saw in ``system_status`` (``store_info["plugins"]``)."""
    if choice != "auto":
        return choice
    try:
        index = await woo.index()
    except WooError as error:
        plugins = (connection.store_info or {}).get("plugins") or []
        log.info("REST index unreadable (%s); the stored plugin list decides how tracking is sent", error)
        return "extension" if "shipment-tracking" in plugins else "note"
    return "extension" if TRACKING_NAMESPACE in (index.get("namespaces") or []) else "note"


async def _push_all(pusher: _Pusher, shipments: Sequence[Shipment], report: FulfillmentReport) -> None:
    """Shipments of one order one after another (each reads the ledger the one before wrote); orders at once,
    up to the connection's limit."""
    by_order: dict[int, list[Shipment]] = {}
    for shipment in shipments:
        by_order.setdefault(shipment.store_order_id, []).append(shipment)
    gate = asyncio.Semaphore(pusher.settings.max_concurrency)

    async def one_order(group: list[Shipment]) -> list[ShipmentOutcome]:
        async with gate:
            return [await pusher.push(shipment) for shipment in group]

    for outcomes in await _gather([one_order(group) for group in by_order.values()]):
        for outcome in outcomes:
            report.add(outcome)
    report.counts["read"] += len(shipments)
    pusher.run.count(
        read=len(shipments),
        created=report.counts["shipped"],
        skipped=report.counts["already"],
    )


async def _gather(jobs: Sequence[Awaitable[list[ShipmentOutcome]]]) -> list[list[ShipmentOutcome]]:
    """Run the jobs; if one raises (the run must stop), the others are cancelled and the error goes up."""
    tasks = [asyncio.ensure_future(job) for job in jobs]
    try:
        return list(await asyncio.gather(*tasks))
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


# -- the sync --------------------------------------------------------------------------------------------------------


async def run(
    db: StateDB,
    connection: Connection | str,
    *,
    erp: ErpPort | None = None,
    services: Any = None,
    holder: str | None = None,
    woo: WooClient | None = None,
) -> FulfillmentReport:
    """Push the ERP's pending shipments to the store (see the module's docstring). Raises ``LeaseHeld`` when
    another run of the flow is going on, ``ErpUnavailable`` / ``WooError`` when the run cannot go on (pending rows
    stay pending)."""
    conn = resolve_connection(db, connection)
    settings = FulfillmentSettings.of(conn)
    report = FulfillmentReport(conn.name)
    async with erp_for(erp) as port:
        async with open_run(db, conn, FLOW, holder=holder) as flow_run:
            shipments = await asyncio.to_thread(port.pending_shipments, conn.name)
            flow_run.message = f"{len(shipments)} pending shipment(s)"
            if shipments:
                await _with_store(conn, settings, services, woo, flow_run, port, shipments, report)
        report.run = flow_run.summary()
    return report


async def _with_store(
    conn: Connection,
    settings: FulfillmentSettings,
    services: Any,
    woo: WooClient | None,
    flow_run: FlowRun,
    port: ErpPort,
    shipments: Sequence[Shipment],
    report: FulfillmentReport,
) -> None:
    async with client_for(conn, services, woo, max_concurrency=settings.max_concurrency) as client:
        before = client.requests_sent
        try:
            via = await detect_tracking(client, conn, settings.tracking)
            report.via = via
            pusher = _Pusher(conn, port, client, flow_run, settings, via)
            await _push_all(pusher, shipments, report)
        finally:
            report.requests += client.requests_sent - before
            flow_run.count(requests=client.requests_sent - before)


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
) -> FulfillmentReport:
    """``woobridge errors retry``: push each failed shipment again, as the error recorded it, against the order as
    it is now (e.g. an order no longer cancelled). One that goes through is acknowledged ``done`` in the ERP and its
    error resolved; the ledger on the order makes a shipment that did reach the store count as done, not twice."""
    conn = resolve_connection(db, connection)
    settings = FulfillmentSettings.of(conn)
    report = FulfillmentReport(conn.name)
    shipments: list[Shipment] = []
    for error in errors:
        try:
            shipments.append(Shipment.model_validate(error.payload))
        except ValueError:
            log.warning("record error %s has no shipment to retry", error.id)
    async with erp_for(erp) as port:
        async with open_run(db, conn, FLOW, holder=holder) as flow_run:
            flow_run.message = f"retrying {len(errors)} record error(s)"
            if shipments:
                await _with_store(conn, settings, services, woo, flow_run, port, shipments, report)
        report.run = flow_run.summary()
    return report


__all__ = [
    "FulfillmentReport",
    "FulfillmentSettings",
    "SettingsError",
    "ShipmentOutcome",
    "ShipmentPlan",
    "ShipmentRefused",
    "detect_tracking",
    "has_marker",
    "ledger_of",
    "note_text",
    "plan_shipment",
    "refunded_quantities",
    "retry_errors",
    "run",
    "tracking_payload",
]
