"""The refunds flow, both ways: credit memos made in the ERP become refunds in the store, and refunds made in the
store become credit memos in the ERP — each exactly once, and a refund never comes back the way it went.

The whole story, in one run (one lease for both directions):

**ERP → store** (first, so the refunds it makes are bound before the store is read):

1. **Read** the ERP's pending credit memos (``erp.pending_credit_memos``; the staging adapter's
   ``erp_credit_memos`` + ``erp_credit_memo_lines`` rows with ``woo_status = 'pending'``).
2. **Read the order and its refunds** (``GET orders/{id}``, ``GET orders/{id}/refunds``). A refund carrying this
   memo's reference (meta ``_woobridge_credit_memo``) means the store already has it (an earlier run whose
   acknowledgement was lost): only bind and acknowledge.
3. **Map** (pure, :func:`plan_refund`): the memo's lines onto the order's line, shipping and fee items (by order
   line id, or by SKU), ``refund_total`` per line and its tax per rate id (``refund_tax``; a line's tax is split
   over the line's rates in proportion to what the order charged), ``api_restock`` from the memo, ``api_refund``
   from the connection (default **false**: the refund is recorded in WooCommerce, the money moved elsewhere).
   **Before calling the store** it checks the remaining refundable amount (order total − refunds so far) and
   refuses an over-refund with the figures (the store itself would answer HTTP 500 "Invalid refund amount.").
4. **Write** ``POST orders/{id}/refunds`` with the memo's reference in ``meta_data``. An answer lost to a timeout
   is looked up (the order's refunds, by that reference) before anything is resent, so a memo never becomes two
   refunds. WooCommerce's refund errors (HTTP 500 with a bare-integer ``data``) become record errors that say what
   happened: the amount, or the payment gateway that cannot refund automatically.
5. **Bind** (resource ``refund``: store refund id → ERP memo id) and **acknowledge** the ERP row ``done`` with the
   store's refund id, or ``error`` with the reason (and a record error of resource ``erp_credit_memo``).

**Store → ERP**:

6. **Read** the refunds changed since the cursor: the global ``GET refunds?modified_after=…&dates_are_gmt=true``
   (WooCommerce ≥ 9), in overlapping id-ordered pages; on an older store (``store_info`` says < 9, or the route is
   missing) the orders modified since the cursor and, for those with a refund not bound yet, their
   ``/orders/{id}/refunds``. The refunded orders' currency and lines come in one ``orders?include=…`` read a page.
7. A refund already bound is skipped; a refund woobridge made (it carries ``_woobridge_credit_memo``) is bound to
   its memo and skipped — it never comes back as a new credit memo. Every other refund is **mapped** (pure,
   :func:`to_credit_memo`: lines, quantities, amounts, tax per rate, restock flag, reason) and **put** with the
   port's idempotent ``put_credit_memo`` (keyed on connection + refund id), then bound. A refund the ERP refuses
   (or that cannot be read) is a record error; the run goes on.
8. The **cursor** moves to when the read began on the store's clock, less an overlap (default 5 minutes).

Per-connection settings (``connection.settings["refunds"]``): ``api_refund`` (bool, default false),
``read`` (``auto`` | ``global`` | ``per_order``), ``overlap_seconds``, ``max_concurrency``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, Literal

from woobridge.documents import CreditMemo, CreditMemoLine, TaxAmount
from woobridge.erp.port import Acknowledgement, ErpPort, ErpRecordError
from woobridge.flows.context import SettingsError, client_for, erp_for, resolve_connection
from woobridge.flows.engine import FlowRun, RunSummary, open_run, retry_handler
from woobridge.state import Connection, StateDB
from woobridge.state.models import RecordError
from woobridge.woo.client import WooClient
from woobridge.woo.errors import HTTPError, NotFound
from woobridge.woo.reading import IdOrderedReader
from woobridge.woo.throttle import AdaptiveConcurrency

log = logging.getLogger(__name__)

FLOW = "refunds"
REFUND = "refund"  # bindings and record errors of store refunds (both directions bind here)
MEMO = "erp_credit_memo"  # record errors of ERP credit memos that could not become refunds
MEMO_META = "_woobridge_credit_memo"  # refund meta: the ERP credit memo a refund was made for
DEFAULT_OVERLAP = timedelta(minutes=5)
ORDER_FIELDS = "id,currency,line_items,refunds,date_modified_gmt"

ReadMode = Literal["auto", "global", "per_order"]
GATEWAY_REFUSALS = (
    "does not support automatic refunds",
    "payment gateway for this order does not exist",
)


# -- settings ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RefundsSettings:
    """``connection.settings["refunds"]``."""

    api_refund: bool = False
    read: ReadMode = "auto"
    overlap: timedelta = DEFAULT_OVERLAP
    max_concurrency: int = 4
    per_page: int = 100

    @classmethod
    def of(cls, connection: Connection) -> RefundsSettings:
        return cls.from_mapping(connection.flow_settings(FLOW), connection.name)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any], name: str = "?") -> RefundsSettings:
        where = f"connection {name!r}, refunds setting"
        api_refund = values.get("api_refund", False)
        if not isinstance(api_refund, bool):
            raise SettingsError(f"{where} 'api_refund' must be true (ask the payment gateway) or false (record only)")
        read = values.get("read", "auto")
        if read not in ("auto", "global", "per_order"):
            raise SettingsError(f"{where} 'read' must be auto, global or per_order, not {read!r}")
        overlap = values.get("overlap_seconds", DEFAULT_OVERLAP.total_seconds())
        if not isinstance(overlap, int | float) or isinstance(overlap, bool) or not 1 <= overlap <= 86400:
            raise SettingsError(f"{where} 'overlap_seconds' must be a number of seconds from 1 to 86400")
        ceiling = values.get("max_concurrency", 4)
        if not isinstance(ceiling, int) or isinstance(ceiling, bool) or not 1 <= ceiling <= 16:
            raise SettingsError(f"{where} 'max_concurrency' must be a whole number from 1 to 16")
        per_page = values.get("per_page", 100)
        if not isinstance(per_page, int) or isinstance(per_page, bool) or not 2 <= per_page <= 100:
            raise SettingsError(f"{where} 'per_page' must be a whole number from 2 to 100")
        return cls(api_refund, read, timedelta(seconds=overlap), ceiling, per_page)


# -- ERP → store: mapping (pure) -------------------------------------------------------------------------------------


class MemoRefused(Exception):
    """The store cannot take this credit memo as it is; ``reason`` says why, in words for the ERP side."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def memo_reference(refund: Mapping[str, Any]) -> str | None:
    """The ERP credit memo a refund was made for by woobridge (its ``_woobridge_credit_memo`` meta), or None."""
    for entry in refund.get("meta_data") or []:
        if isinstance(entry, Mapping) and entry.get("key") == MEMO_META and entry.get("value") not in (None, ""):
            return str(entry["value"])
    return None


def remaining_refundable(order: Mapping[str, Any]) -> tuple[Decimal, Decimal, Decimal]:
    """(order total, refunded so far, what is left to refund), from the order's ``total`` and ``refunds[]``."""
    total = _money(order.get("total"))
    refunded = sum(
        (abs(_money(r.get("total"))) for r in order.get("refunds") or [] if isinstance(r, Mapping)), Decimal(0)
    )
    return total, refunded, total - refunded


def plan_refund(order: Mapping[str, Any], memo: CreditMemo, *, api_refund: bool) -> dict[str, Any]:
    """The ``POST orders/{id}/refunds`` body for an ERP credit memo, checked against the order (as ``GET
    orders/{id}`` returns it). Raises :class:`MemoRefused` for an over-refund, a currency that is not the
    order's, or a line the order does not have."""
    order_id = int(order.get("id") or 0)
    memo_id = memo.erp_memo_id
    currency = str(order.get("currency") or "")
    if str(order.get("status")) == "trash":
        raise MemoRefused(f"credit memo {memo_id}: order {order_id} is in the trash")
    if memo.currency and currency and memo.currency.upper() != currency.upper():
        raise MemoRefused(f"credit memo {memo_id} is in {memo.currency} but order {order_id} is in {currency}")
    total, refunded, left = remaining_refundable(order)
    if memo.amount > left:
        raise MemoRefused(
            f"credit memo {memo_id} refunds {memo.amount} {currency} but order {order_id} has only {left} {currency} "
            f"left to refund (total {total}, refunded so far {refunded}); the store would answer "
            "'Invalid refund amount.'"
        )
    places = _places(order.get("total"))
    items = _refundable_items(order)
    line_items: dict[str, dict[str, Any]] = {}
    for number, line in enumerate(memo.lines, start=1):
        what = f"credit memo {memo_id}, line {number}"
        if line.store_line_id:
            item = items.get(line.store_line_id)
            if item is None:
                raise MemoRefused(f"{what}: order {order_id} has no line {line.store_line_id}")
        else:
            matching = [i for i in items.values() if i.get("_kind") == "line_items" and str(i.get("sku")) == line.sku]
            if not matching:
                raise MemoRefused(f"{what}: order {order_id} has no line with SKU {line.sku!r}")
            item = matching[0]
        entry = line_items.setdefault(str(item["id"]), {"qty": Decimal(0), "refund_total": Decimal(0), "taxes": {}})
        entry["qty"] += line.quantity
        entry["refund_total"] += line.amount
        for rate_id, amount in _tax_per_rate(line, item, places, what).items():
            entry["taxes"][rate_id] = entry["taxes"].get(rate_id, Decimal(0)) + amount
    body: dict[str, Any] = {
        "amount": _text(memo.amount, places),
        "reason": memo.reason,
        "api_refund": api_refund,
        "api_restock": memo.restock,
        "meta_data": [{"key": MEMO_META, "value": memo_id}],
    }
    if line_items:
        # The order-item-id map every WooCommerce version reads (9.0 also takes a list).
        body["line_items"] = {
            item_id: {
                "qty": _text(entry["qty"]),
                "refund_total": _text(entry["refund_total"], places),
                "refund_tax": {str(rate): _text(amount, places) for rate, amount in entry["taxes"].items()},
            }
            for item_id, entry in line_items.items()
        }
    return body


def _refundable_items(order: Mapping[str, Any]) -> dict[int, dict[str, Any]]:
    items: dict[int, dict[str, Any]] = {}
    for kind in ("line_items", "shipping_lines", "fee_lines"):
        for item in order.get(kind) or []:
            if isinstance(item, Mapping) and isinstance(item.get("id"), int):
                items[int(item["id"])] = {**item, "_kind": kind}
    return items


def _tax_per_rate(line: CreditMemoLine, item: Mapping[str, Any], places: int, what: str) -> dict[int, Decimal]:
    """The line's tax per tax rate id: as the ERP gave it, else split over the order line's rates in proportion to
    what the order charged on each (the last rate takes the rounding remainder)."""
    if line.taxes:
        return {tax.rate_id: tax.amount for tax in line.taxes}
    if not line.tax:
        return {}
    rates = [
        (int(t["id"]), abs(_money(t.get("total"))))
        for t in item.get("taxes") or []
        if isinstance(t, Mapping) and str(t.get("id", "")).isdigit()
    ]
    if not rates:
        raise MemoRefused(f"{what}: refunds {line.tax} tax but order line {item.get('id')} was charged no tax")
    charged = sum((amount for _, amount in rates), Decimal(0))
    split: dict[int, Decimal] = {}
    left = line.tax
    quantum = Decimal(1).scaleb(-places)
    for position, (rate_id, amount) in enumerate(rates):
        if position == len(rates) - 1:
            share = left
        elif charged:
            share = (line.tax * amount / charged).quantize(quantum, ROUND_HALF_UP)
        else:
            share = Decimal(0)
        split[rate_id] = share
        left -= share
    return {rate_id: share for rate_id, share in split.items() if share}


def explain_refund_error(error: HTTPError, memo: CreditMemo, order: Mapping[str, Any], api_refund: bool) -> str:
    """WooCommerce's refund errors (HTTP 500 whatever they mean: the controller passes a bare integer as the error
    data) in words that say what happened and what to do."""
    said = (error.message or str(error)).strip()
    head = f"the store refused credit memo {memo.erp_memo_id} for order {memo.store_order_id}"
    if "invalid refund amount" in said.lower():
        _, _, left = remaining_refundable(order)
        return (
            f"{head}: {memo.amount} is more than is left to refund (the store answered {said!r}; "
            f"about {left} was left when woobridge last read the order)"
        )
    if api_refund and any(phrase in said.lower() for phrase in GATEWAY_REFUSALS):
        gateway = order.get("payment_method_title") or order.get("payment_method") or "unknown"
        return (
            f"{head}: the order's payment gateway ({gateway}) cannot pay the money back automatically (the store "
            f"answered {said!r}). Pay it back another way and set the connection's refunds setting api_refund to "
            "false, so woobridge records the refund without asking the gateway"
        )
    return f"{head}: {said} (HTTP {error.status}, {error.code or 'no error code'})"


# -- store → ERP: mapping (pure) -------------------------------------------------------------------------------------


class RefundUnreadable(ValueError):
    """A refund from the store whose values make no sense; the message says which."""


def to_credit_memo(
    refund: Mapping[str, Any], order: Mapping[str, Any] | None, order_id: int | None = None
) -> CreditMemo:
    """A store refund as an ERP credit memo (positive amounts). ``order`` (``id, currency, line_items``) gives the
    currency and the restock flag: WooCommerce does not put ``api_restock`` on the refund, but marks each order
    line it restocked with ``_restock_refunded_items``."""
    try:
        refund_id = int(refund["id"])
        parent = int(order_id or refund.get("parent_id") or (order or {}).get("id") or 0)
        lines: list[CreditMemoLine] = []
        for kind in ("line_items", "shipping_lines", "fee_lines"):
            for line in refund.get(kind) or []:
                original = _meta(line, "_refunded_item_id")
                lines.append(
                    CreditMemoLine(
                        store_line_id=int(original) if original is not None and str(original).isdigit() else 0,
                        sku=str(line.get("sku") or "") if kind == "line_items" else "",
                        quantity=abs(_money(line.get("quantity"))) if kind == "line_items" else Decimal(0),
                        amount=abs(_money(line.get("total"))),
                        tax=abs(_money(line.get("total_tax"))),
                        taxes=tuple(
                            TaxAmount(rate_id=int(t["id"]), amount=abs(_money(t.get("total"))))
                            for t in line.get("taxes") or []
                            if isinstance(t, Mapping) and str(t.get("id", "")).isdigit()
                        ),
                    )
                )
        amount_text = refund.get("amount")
        amount = (
            abs(_money(amount_text))
            if amount_text not in (None, "")
            else sum((x.amount + x.tax for x in lines), Decimal(0))
        )
        restocked = {
            int(item["id"])
            for item in (order or {}).get("line_items") or []
            if isinstance(item, Mapping) and _money(_meta(item, "_restock_refunded_items")) > 0
        }
        created = refund.get("date_created_gmt")
        return CreditMemo(
            store_order_id=parent,
            store_refund_id=refund_id,
            lines=tuple(lines),
            amount=amount,
            reason=str(refund.get("reason") or ""),
            restock=any(line.store_line_id in restocked and line.quantity for line in lines),
            currency=str((order or {}).get("currency") or ""),
            created_at=datetime.fromisoformat(str(created)).replace(tzinfo=UTC) if created else None,
        )
    except (KeyError, TypeError, ValueError, InvalidOperation) as error:
        raise RefundUnreadable(f"refund {refund.get('id')!r} cannot be read: {error}") from error


def _meta(obj: Any, key: str) -> Any:
    for entry in (obj.get("meta_data") if isinstance(obj, Mapping) else None) or []:
        if isinstance(entry, Mapping) and entry.get("key") == key:
            return entry.get("value")
    return None


def _money(value: Any) -> Decimal:
    if value in (None, ""):
        return Decimal(0)
    number = Decimal(str(value))
    if not number.is_finite():
        raise InvalidOperation(f"{value!r} is not a number")
    return number


def _places(total: Any) -> int:
    text = str(total or "")
    return len(text.split(".", 1)[1]) if "." in text else 2


def _text(value: Decimal, places: int | None = None) -> str:
    """A decimal for the REST body: money with the store's decimals (more only when the value has more), quantities
    as people write them."""
    if places is None:
        return format(value.normalize(), "f") if value == value.to_integral_value() else format(value, "f")
    quantum = Decimal(1).scaleb(-places)
    exact = value.quantize(quantum) == value
    return format(value.quantize(quantum) if exact else value.normalize(), "f")


# -- what happened -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RefundOutcome:
    """What happened to one credit memo (``direction`` erp→store) or one store refund (store→erp)."""

    direction: Literal["erp→store", "store→erp"]
    key: str  # the ERP memo id, or the store refund id
    order_id: int
    action: Literal["created", "already", "ours", "failed"]
    store_refund_id: int = 0
    message: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "direction": self.direction,
            "key": self.key,
            "order": self.order_id,
            "action": self.action,
            "refund": self.store_refund_id,
            "message": self.message,
        }


@dataclass
class RefundsReport:
    """What a refunds run (or a retry) did, both ways."""

    connection: str
    run: RunSummary | None = None
    read_mode: str = ""
    counts: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(
            (
                "memos",
                "refunds_created",
                "memos_already",
                "memos_failed",
                "refunds_read",
                "memos_created",
                "refunds_known",
                "refunds_ours",
                "refunds_failed",
            ),
            0,
        )
    )
    requests: int = 0
    cursor_moved: bool = False
    next_window_start: datetime | None = None
    outcomes: list[RefundOutcome] = field(default_factory=list)

    MAX_OUTCOMES = 200

    def add(self, outcome: RefundOutcome) -> None:
        erp_side = outcome.direction == "erp→store"
        name = {
            ("created", True): "refunds_created",
            ("already", True): "memos_already",
            ("failed", True): "memos_failed",
            ("created", False): "memos_created",
            ("already", False): "refunds_known",
            ("ours", False): "refunds_ours",
            ("failed", False): "refunds_failed",
        }[(outcome.action, erp_side)]
        self.counts[name] += 1
        if outcome.action != "already" and len(self.outcomes) < self.MAX_OUTCOMES:
            self.outcomes.append(outcome)

    @property
    def failed(self) -> int:
        return self.counts["memos_failed"] + self.counts["refunds_failed"]

    @property
    def failures(self) -> list[RefundOutcome]:
        return [outcome for outcome in self.outcomes if outcome.action == "failed"]

    def to_dict(self) -> dict[str, Any]:
        return {
            "connection": self.connection,
            "run": self.run.to_dict() if self.run else None,
            "read_mode": self.read_mode,
            **self.counts,
            "failed": self.failed,
            "requests": self.requests,
            "cursor_moved": self.cursor_moved,
            "next_window_start": self.next_window_start.isoformat() if self.next_window_start else None,
            "outcomes": [outcome.to_dict() for outcome in self.outcomes],
        }


# -- ERP → store: writing --------------------------------------------------------------------------------------------


@dataclass
class _MemoPusher:
    connection: Connection
    erp: ErpPort
    woo: WooClient
    run: FlowRun
    settings: RefundsSettings

    async def push(self, memo: CreditMemo) -> RefundOutcome:
        """Make one ERP credit memo a store refund. Raises only what must stop the run."""
        order: Mapping[str, Any] = {}
        try:
            order = await self._order(memo.store_order_id)
            existing = await self._find(memo)
            if existing is not None:
                refund_id = int(existing["id"])
                await self._done(memo, refund_id)
                return RefundOutcome("erp→store", memo.erp_memo_id, memo.store_order_id, "already", refund_id)
            body = plan_refund(order, memo, api_refund=self.settings.api_refund)

            async def lookup() -> Any:
                return await self._find(memo)

            created = await self.woo.post(f"orders/{memo.store_order_id}/refunds", body, verify=lookup)
            refund_id = int(created["id"])
        except MemoRefused as refused:
            return await self._refuse(memo, refused.reason)
        except HTTPError as error:
            if error.retryable:
                raise
            return await self._refuse(memo, explain_refund_error(error, memo, order, self.settings.api_refund))
        await self._done(memo, refund_id)
        return RefundOutcome("erp→store", memo.erp_memo_id, memo.store_order_id, "created", refund_id)

    async def _order(self, order_id: int) -> Mapping[str, Any]:
        try:
            order = await self.woo.get(f"orders/{order_id}")
        except NotFound:
            raise MemoRefused(f"order {order_id} is not in the store (unknown or deleted)") from None
        if not isinstance(order, Mapping):
            raise MemoRefused(f"order {order_id}: the store did not answer with an order")
        return order

    async def _find(self, memo: CreditMemo) -> dict[str, Any] | None:
        """The order's refund made for this memo, if the store has one."""
        refunds = await self.woo.get_all(f"orders/{memo.store_order_id}/refunds", {"per_page": 100})
        for refund in refunds:
            if isinstance(refund, dict) and memo_reference(refund) == memo.erp_memo_id:
                return refund
        return None

    async def _done(self, memo: CreditMemo, refund_id: int) -> None:
        await asyncio.to_thread(self.run.bind, REFUND, refund_id, memo.erp_memo_id, erp_document_no=memo.erp_memo_id)
        await asyncio.to_thread(self.run.resolve_error, MEMO, memo.erp_memo_id)
        ack = Acknowledgement("done", f"refund {refund_id} of order {memo.store_order_id}", str(refund_id))
        try:
            await asyncio.to_thread(self.erp.acknowledge_credit_memo, self.connection.name, memo.erp_memo_id, ack)
        except ErpRecordError as error:
            log.warning(
                "credit memo %s is refund %s, but the ERP refused the acknowledgement: %s",
                memo.erp_memo_id,
                refund_id,
                error,
            )

    async def _refuse(self, memo: CreditMemo, reason: str) -> RefundOutcome:
        await asyncio.to_thread(self.run.record_error, MEMO, memo.erp_memo_id, MemoRefused(reason), memo)
        try:
            await asyncio.to_thread(
                self.erp.acknowledge_credit_memo,
                self.connection.name,
                memo.erp_memo_id,
                Acknowledgement("error", reason),
            )
        except ErpRecordError as error:
            log.warning("could not mark credit memo %s as an error in the ERP: %s", memo.erp_memo_id, error)
        return RefundOutcome("erp→store", memo.erp_memo_id, memo.store_order_id, "failed", message=reason)


async def _push_memos(pusher: _MemoPusher, memos: Sequence[CreditMemo], report: RefundsReport) -> None:
    """Memos of one order one after another (each changes what is left to refund); orders at once."""
    by_order: dict[int, list[CreditMemo]] = {}
    for memo in memos:
        by_order.setdefault(memo.store_order_id, []).append(memo)
    gate = asyncio.Semaphore(pusher.settings.max_concurrency)

    async def one_order(group: list[CreditMemo]) -> list[RefundOutcome]:
        async with gate:
            return [await pusher.push(memo) for memo in group]

    tasks = [asyncio.ensure_future(one_order(group)) for group in by_order.values()]
    try:
        results = await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
    for outcomes in results:
        for outcome in outcomes:
            report.add(outcome)
    report.counts["memos"] += len(memos)
    pusher.run.count(
        read=len(memos),
        created=sum(1 for group in results for o in group if o.action == "created"),
        skipped=sum(1 for group in results for o in group if o.action == "already"),
    )


# -- store → ERP: reading and writing --------------------------------------------------------------------------------


@dataclass
class _RefundPuller:
    connection: Connection
    erp: ErpPort
    woo: WooClient
    run: FlowRun
    settings: RefundsSettings

    async def handle(self, refunds: Sequence[tuple[dict[str, Any], int]], report: RefundsReport) -> None:
        """A page of store refunds (each with its order id): bind what woobridge made, put the rest."""
        if not refunds:
            return
        known = await asyncio.to_thread(self.run.bindings, REFUND, [str(r["id"]) for r, _ in refunds])
        fresh = [(r, o) for r, o in refunds if str(r["id"]) not in known]
        orders = await self._orders({order_id for refund, order_id in fresh if memo_reference(refund) is None})
        created = ours = 0
        for refund, order_id in refunds:
            key = str(refund["id"])
            if key in known:
                report.add(RefundOutcome("store→erp", key, order_id, "already", int(key)))
                continue
            reference = memo_reference(refund)
            if reference is not None:
                # woobridge made it for an ERP credit memo (its binding was lost to a crash): not a new memo.
                await asyncio.to_thread(self.run.bind, REFUND, key, reference, erp_document_no=reference)
                report.add(RefundOutcome("store→erp", key, order_id, "ours", int(key)))
                ours += 1
                continue
            try:
                memo = to_credit_memo(refund, orders.get(order_id), order_id)
                ref = await asyncio.to_thread(self.erp.put_credit_memo, self.connection.name, memo)
            except (RefundUnreadable, ErpRecordError) as error:
                payload = {**refund, "parent_id": order_id}
                await asyncio.to_thread(self.run.record_error, REFUND, key, error, payload)
                report.add(RefundOutcome("store→erp", key, order_id, "failed", int(key), str(error)))
                continue
            await asyncio.to_thread(
                self.run.bind, REFUND, key, ref.erp_id, erp_document_no=ref.document_no, store_modified=memo.created_at
            )
            report.add(RefundOutcome("store→erp", key, order_id, "created", int(key)))
            created += 1
        report.counts["refunds_read"] += len(refunds)
        self.run.count(read=len(refunds), created=created, skipped=len(refunds) - created)

    async def _orders(self, ids: set[int]) -> dict[int, dict[str, Any]]:
        """The refunded orders' currency and lines, 100 a request."""
        found: dict[int, dict[str, Any]] = {}
        wanted = sorted(ids)
        for start in range(0, len(wanted), 100):
            chunk = wanted[start : start + 100]
            params = {"include": chunk, "status": "any", "per_page": len(chunk), "_fields": ORDER_FIELDS}
            for order in await self.woo.get("orders", params) or []:
                if isinstance(order, dict) and isinstance(order.get("id"), int):
                    found[order["id"]] = order
        return found


async def _read_global(
    woo: WooClient, settings: RefundsSettings, since: datetime | None, reader_box: list[IdOrderedReader]
) -> AsyncIterator[list[tuple[dict[str, Any], int]]]:
    params: dict[str, Any] = {"dates_are_gmt": "true"}
    if since is not None:
        params["modified_after"] = since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")
    reader = IdOrderedReader(
        woo, "refunds", params, throttle=AdaptiveConcurrency(settings.max_concurrency), per_page=settings.per_page
    )
    reader_box.append(reader)
    async for page in reader.pages():
        yield [(r, int(r.get("parent_id") or 0)) for r in page if isinstance(r, dict) and isinstance(r.get("id"), int)]


async def _read_per_order(
    woo: WooClient, run: FlowRun, settings: RefundsSettings, since: datetime | None, reader_box: list[IdOrderedReader]
) -> AsyncIterator[list[tuple[dict[str, Any], int]]]:
    """Stores before WooCommerce 9 have no global list: the orders changed since the cursor that have a refund not
    bound yet, then those orders' refunds."""
    params: dict[str, Any] = {"status": "any", "dates_are_gmt": "true", "_fields": "id,refunds"}
    if since is not None:
        params["modified_after"] = since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")
    reader = IdOrderedReader(
        woo, "orders", params, throttle=AdaptiveConcurrency(settings.max_concurrency), per_page=settings.per_page
    )
    reader_box.append(reader)
    async for orders in reader.pages():
        listed = {
            int(o["id"]): [str(r.get("id")) for r in o.get("refunds") or [] if isinstance(r, Mapping)]
            for o in orders
            if isinstance(o, Mapping) and isinstance(o.get("id"), int) and o.get("refunds")
        }
        known = await asyncio.to_thread(run.bindings, REFUND, [i for ids in listed.values() for i in ids])
        page: list[tuple[dict[str, Any], int]] = []
        for order_id, ids in listed.items():
            if all(i in known for i in ids):
                continue
            for refund in await woo.get_all(f"orders/{order_id}/refunds", {"per_page": 100}):
                if isinstance(refund, dict) and isinstance(refund.get("id"), int):
                    page.append((refund, order_id))
        yield page


def _read_mode(connection: Connection, settings: RefundsSettings) -> Literal["global", "per_order"]:
    if settings.read != "auto":
        return settings.read
    version = str((connection.store_info or {}).get("wc_version") or "")
    major = version.split(".", 1)[0]
    return "per_order" if major.isdigit() and int(major) < 9 else "global"


async def _pull(
    puller: _RefundPuller, connection: Connection, settings: RefundsSettings, report: RefundsReport
) -> None:
    flow_run = puller.run
    cursor = flow_run.cursor or {}
    since = _parse(cursor.get("modified_after"))
    mode = _read_mode(connection, settings)
    readers: list[IdOrderedReader] = []
    try:
        if mode == "global":
            try:
                async for page in _read_global(puller.woo, settings, since, readers):
                    await puller.handle(page, report)
            except NotFound as error:
                if readers and readers[0].requests > 1:
                    raise
                log.info("no global refunds list on this store (%s): reading refunds per order", error)
                mode = "per_order"
                readers.clear()
        if mode == "per_order":
            async for page in _read_per_order(puller.woo, flow_run, settings, since, readers):
                await puller.handle(page, report)
    finally:
        report.read_mode = mode
    reader = readers[-1]
    started = reader.store_started_at or datetime.now(UTC)
    report.next_window_start = started - settings.overlap
    # Every refund of the window is bound or a record error: the window may close.
    flow_run.save_cursor({"modified_after": report.next_window_start.isoformat(), "read": mode})
    report.cursor_moved = True


def _parse(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    moment = datetime.fromisoformat(value)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


# -- the sync --------------------------------------------------------------------------------------------------------


async def run(
    db: StateDB,
    connection: Connection | str,
    *,
    erp: ErpPort | None = None,
    services: Any = None,
    holder: str | None = None,
    woo: WooClient | None = None,
) -> RefundsReport:
    """Both directions, in one run (see the module's docstring). Raises ``LeaseHeld`` when another run of the flow
    is going on, ``ErpUnavailable`` / ``WooError`` when the run cannot go on (pending memos stay pending, the
    cursor stays)."""
    conn = resolve_connection(db, connection)
    settings = RefundsSettings.of(conn)
    report = RefundsReport(conn.name)
    async with (
        erp_for(erp) as port,
        client_for(conn, services, woo, max_concurrency=settings.max_concurrency) as client,
    ):
        async with open_run(db, conn, FLOW, holder=holder) as flow_run:
            before = client.requests_sent
            try:
                memos = await asyncio.to_thread(port.pending_credit_memos, conn.name)
                if memos:
                    await _push_memos(_MemoPusher(conn, port, client, flow_run, settings), memos, report)
                await _pull(_RefundPuller(conn, port, client, flow_run, settings), conn, settings, report)
            finally:
                report.requests += client.requests_sent - before
                flow_run.count(requests=client.requests_sent - before)
            flow_run.message = (
                f"{report.counts['memos']} ERP credit memo(s), {report.counts['refunds_read']} store refund(s) "
                f"read ({report.read_mode})"
            )
        report.run = flow_run.summary()
    return report


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
) -> RefundsReport:
    """``woobridge errors retry``: an ERP credit memo is pushed again as the error recorded it, against the order as
    it is now (the reference on the store's refunds makes a memo that did get through count as done, not twice); a
    store refund is read afresh from its order and put to the ERP again."""
    conn = resolve_connection(db, connection)
    settings = RefundsSettings.of(conn)
    report = RefundsReport(conn.name)
    memos: list[CreditMemo] = []
    refunds: list[tuple[int, int]] = []  # (order id, refund id)
    for error in errors:
        if error.resource == MEMO:
            try:
                memos.append(CreditMemo.model_validate(error.payload))
            except ValueError:
                log.warning("record error %s has no credit memo to retry", error.id)
        elif error.resource == REFUND and isinstance(error.payload, Mapping) and error.store_id.isdigit():
            refunds.append((int(error.payload.get("parent_id") or 0), int(error.store_id)))
    async with (
        erp_for(erp) as port,
        client_for(conn, services, woo, max_concurrency=settings.max_concurrency) as client,
    ):
        async with open_run(db, conn, FLOW, holder=holder) as flow_run:
            flow_run.message = f"retrying {len(errors)} record error(s)"
            before = client.requests_sent
            try:
                if memos:
                    await _push_memos(_MemoPusher(conn, port, client, flow_run, settings), memos, report)
                puller = _RefundPuller(conn, port, client, flow_run, settings)
                for order_id, refund_id in refunds:
                    await puller.handle(await _refetch(client, order_id, refund_id, flow_run), report)
            finally:
                report.requests += client.requests_sent - before
        report.run = flow_run.summary()
    return report


async def _refetch(woo: WooClient, order_id: int, refund_id: int, run: FlowRun) -> list[tuple[dict[str, Any], int]]:
    """One store refund read afresh; gone (deleted in the store): its error is closed, nothing to send."""
    try:
        refund = await woo.get(f"orders/{order_id}/refunds/{refund_id}")
    except NotFound:
        await asyncio.to_thread(run.resolve_error, REFUND, refund_id)
        return []
    return [(refund, order_id)] if isinstance(refund, dict) else []


__all__ = [
    "MEMO_META",
    "MemoRefused",
    "RefundOutcome",
    "RefundUnreadable",
    "RefundsReport",
    "RefundsSettings",
    "SettingsError",
    "explain_refund_error",
    "memo_reference",
    "plan_refund",
    "remaining_refundable",
    "retry_errors",
    "run",
    "to_credit_memo",
]
