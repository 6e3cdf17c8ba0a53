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
