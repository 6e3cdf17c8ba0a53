"""The ERP port: the one interface every ERP adapter implements (staging tables, Tryton, …).

Flows only talk to an ERP through this. Two promises matter most:

* **Idempotency.** ``put_*`` methods are keyed on where the document came from (the connection plus the store's
  id: order id, customer id or normalised guest e-mail, refund id). Putting the same document twice updates the
  first one; it never creates a second. An adapter for a remote ERP checks its key before creating, so a retry
  after a crash or a timeout is always safe.
* **Record-level errors.** When the ERP refuses one record (unknown item, invalid address…) the adapter raises
  ``ErpRecordError``; the flow turns it into a record error and goes on with the next record. Anything else
  (database down, ERP unreachable) is an ``ErpUnavailable`` and stops the run without moving its cursor.

Inbound documents (shipments, credit memos made in the ERP) are read as *pending* and acknowledged once the store
has them, so the ERP side can see what happened to each row.

Optional capabilities: an adapter MAY also implement :class:`SalesOrderBatches` (``put_sales_orders``: many orders
in one call, for ERPs where each call costs a round trip). Flows never test for it themselves: they call
:func:`put_sales_orders`, which uses the batch method when the adapter has it and ``put_sales_order`` one order at
a time otherwise — same promises either way.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

from woobridge.documents import CreditMemo, Customer, Item, SalesOrder, Shipment, StockLevel


@dataclass(frozen=True)
class ErpRef:
    """Where a document landed in the ERP."""

    erp_id: str
    document_no: str = ""
    created: bool = True  # False when the key already existed and the document was updated instead


@dataclass(frozen=True)
class Acknowledgement:
    """What woobridge tells the ERP about an inbound document it processed."""

    status: Literal["done", "error"]
    message: str = ""
    store_ref: str = ""  # e.g. the refund id or tracking id created in the store


class ErpError(Exception):
    """Base of the errors an adapter raises."""


class ErpRecordError(ErpError):
    """The ERP refused this one record; the reason says why in the ERP's words. ``retryable`` when trying again
    later may succeed without anyone changing anything (e.g. a lock held by an ERP user)."""

    def __init__(self, message: str, *, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable


class ErpUnavailable(ErpError):
    """The ERP cannot be reached or used at all right now; the run stops and its cursor stays where it was."""


@runtime_checkable
class ErpPort(Protocol):
    """What a flow may ask of an ERP. ``connection`` is the woobridge connection name: one ERP can serve many
    stores, and every key is scoped by it."""

    name: str

    # -- store → ERP ----------------------------------------------------------------------------------------
    def put_sales_order(self, connection: str, order: SalesOrder) -> ErpRef:
        """Create or update the ERP sales order for this store order (keyed on connection + store order id)."""
        ...

    def find_sales_order(self, connection: str, store_order_id: int) -> ErpRef | None:
        """The ERP sales order for this store order, if it exists."""
        ...

    def put_customer(self, connection: str, customer: Customer) -> ErpRef:
        """Create or update the ERP customer: keyed on the store customer id, or the normalised e-mail of a guest;
        a guest who registers later keeps the same ERP customer."""
        ...

    def put_credit_memo(self, connection: str, memo: CreditMemo) -> ErpRef:
        """Create or update the ERP credit memo for a store refund (keyed on connection + store refund id)."""
        ...

    def put_items(self, connection: str, items: Sequence[Item]) -> list[ErpRef]:
        """First-time catalog import from the store: create or update ERP items by SKU."""
        ...

    # -- ERP → store ----------------------------------------------------------------------------------------
    def pending_shipments(self, connection: str) -> Sequence[Shipment]:
        """Shipments the store does not have yet."""
        ...

    def acknowledge_shipment(self, connection: str, erp_shipment_id: str, ack: Acknowledgement) -> None: ...

    def pending_credit_memos(self, connection: str) -> Sequence[CreditMemo]:
        """Credit memos made in the ERP that the store does not have yet."""
        ...

    def acknowledge_credit_memo(self, connection: str, erp_memo_id: str, ack: Acknowledgement) -> None: ...

    def stock_levels(self, connection: str, warehouses: Sequence[str] | None = None) -> Iterable[StockLevel]:
        """Current quantities per SKU (summed over the given warehouses, or all)."""
        ...

    def items(self, connection: str) -> Iterable[Item]:
        """The catalog the ERP wants in the store."""
        ...

    def close(self) -> None: ...


# -- optional capabilities --------------------------------------------------------------------------------------------


@runtime_checkable
class SalesOrderBatches(Protocol):
    """Optional: put many sales orders in one call (the Tryton adapter: a handful of RPC calls for a whole page
    instead of several per order). The same promises as ``put_sales_order``, order by order: idempotent on
    connection + store order id, and one order's refusal is that order's result, not the batch's."""

    def put_sales_orders(self, connection: str, orders: Sequence[SalesOrder]) -> list[ErpRef | ErpRecordError]:
        """One result per order, in order: its ``ErpRef``, or the ``ErpRecordError`` that refused it. Raises
        ``ErpUnavailable`` when the ERP cannot take the batch at all (nothing about any single order is known)."""
        ...


def put_sales_orders(erp: ErpPort, connection: str, orders: Sequence[SalesOrder]) -> list[ErpRef | ErpRecordError]:
    """Put ``orders`` through the adapter's batch method when it has one (:class:`SalesOrderBatches`), else one
    ``put_sales_order`` at a time. One result per order, in order: its ``ErpRef`` or its ``ErpRecordError``."""
    if not orders:
        return []
    if isinstance(erp, SalesOrderBatches):
        results = list(erp.put_sales_orders(connection, orders))
        if len(results) != len(orders):
            # An adapter bug: trusting a misaligned answer could bind an order to another order's document.
            raise ErpUnavailable(
                f"the {getattr(erp, 'name', 'ERP')} adapter answered {len(results)} results for {len(orders)} orders; "
                "nothing of this batch is bound (the next run puts it again)"
            )
        return results
    found: list[ErpRef | ErpRecordError] = []
    for order in orders:
        try:
            found.append(erp.put_sales_order(connection, order))
        except ErpRecordError as error:
            found.append(error)
    return found
