"""The SKU index of the inventory flow: SKU → the product or variation that owns it, built once per store and kept
fresh incrementally, in the state database (table ``sku_index``).

How it stays fresh, and why it is read the way it is:

* **Products**: ``GET products?modified_after=<cursor>&dates_are_gmt=true&status=any`` (id order, overlapping
  pages: ``woo.reading.IdOrderedReader``), only the fields the index needs (``_fields``). A product whose SKU
  changed or was removed loses its old row; a SKU that moved to another product follows it.
* **Variations, through their parents.** ``GET products`` never lists variations, so a variable parent that shows
  up as changed has all its variations read again (``GET products/{id}/variations``). That catches what matters
  because WooCommerce saves the parent whenever a variation is saved through the API or deleted (the parent is
  re-synced: price range, stock status, ``date_modified``), and a stock change of a variation whose stock is
  managed by the parent lands on the parent itself. What it does *not* catch: an order that reduces the stock of a
  variation managing its own stock bumps only that variation (as in WooCommerce and the sandbox). The index's
  quantity of such a variation can then be behind the store — harmless for the sync, which sends a quantity
  when the ERP's changed since it was last pushed (a stale store value can only cause one redundant absolute
  write), and bounded anyway: the index is rebuilt from scratch every ``full_refresh_hours`` (default 24), and
  ``woobridge audit inventory`` always reads the store afresh.
* **Trashed products**: ``status=any`` leaves the trash out, so one more read (``status=trash``, same window)
  finds products trashed since the cursor, and their rows go. A product deleted for good cannot be listed at all:
  a write to it fails with "Invalid ID", and the flow then drops its rows (the next full rebuild would too).

Rows keep ``pushed_quantity`` (the last ERP quantity the store was brought to) as long as the SKU stays with the
same stock holder; a SKU that moved to another product or variation starts afresh.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from functools import partial
from typing import Any, Literal

from sqlalchemy import and_, delete, insert, select, update
from sqlalchemy.orm import Session

from woobridge.state.sku_index import SkuIndexRow
from woobridge.woo.client import NO_RETRY, Page, WooClient
from woobridge.woo.reading import IdOrderedReader
from woobridge.woo.throttle import AdaptiveConcurrency

log = logging.getLogger(__name__)

ManageStock = Literal["true", "false", "parent"]

PRODUCT_FIELDS = "id,sku,type,status,manage_stock,stock_quantity,date_modified_gmt"
VARIATION_FIELDS = "id,sku,manage_stock,stock_quantity,date_modified_gmt"
_IN_CHUNK = 500


@dataclass(frozen=True)
class Holder:
    """What holds the stock a SKU sells from: a product (``variation_id`` 0) or a variation of ``product_id``."""

    product_id: int
    variation_id: int = 0

    @property
    def route(self) -> str:
        """The collection whose ``/batch`` updates it."""
        return "products" if not self.variation_id else f"products/{self.product_id}/variations"

    @property
    def item_id(self) -> int:
        return self.variation_id or self.product_id

    def __str__(self) -> str:
        if self.variation_id:
            return f"variation {self.variation_id} of product {self.product_id}"
        return f"product {self.product_id}"


@dataclass(frozen=True)
class IndexEntry:
    """One SKU of the store as the index knows it."""

    sku: str
    product_id: int  # the parent, for a variation
    variation_id: int  # 0 for a product
    manage_stock: ManageStock
    stock_quantity: Decimal | None  # the store's, when last seen; for a "parent" variation the parent's
    store_modified: datetime | None = None
    pushed_quantity: Decimal | None = None  # the last ERP quantity the store was brought to

    @property
    def holder(self) -> Holder:
        """Where a stock write for this SKU goes: a variation whose stock its parent manages sends it to the
        parent (writing the variation's own quantity would be ignored: woocommerce#15526)."""
        if self.variation_id and self.manage_stock == "parent":
            return Holder(self.product_id)
        return Holder(self.product_id, self.variation_id)

    @property
    def own(self) -> Holder:
        return Holder(self.product_id, self.variation_id)

    @classmethod
    def of(cls, row: SkuIndexRow) -> IndexEntry:
        manage = row.manage_stock if row.manage_stock in ("true", "false", "parent") else "false"
        return cls(
            row.sku,
            row.product_id,
            row.variation_id,
            manage,  # type: ignore[arg-type]
            row.stock_quantity,
            row.store_modified,
            row.pushed_quantity,
        )


# -- reading store items (pure) ---------------------------------------------------------------------------------------


def _manage(value: Any) -> ManageStock:
    if value == "parent":
        return "parent"
    return "true" if value is True else "false"


def quantity_of(value: Any) -> Decimal | None:
    """A stock quantity from the REST API (int, float, numeric string or null) as a Decimal."""
    if value is None or isinstance(value, bool):
        return None
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None


def gmt_of(value: Any) -> datetime | None:
    """A ``*_gmt`` date from the REST API (naive ISO, UTC) as an aware datetime."""
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", ""))
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _id(item: Any) -> int | None:
    value = item.get("id") if isinstance(item, Mapping) else None
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def entry_of_product(product: Mapping[str, Any]) -> IndexEntry | None:
    """The index entry of a product from ``GET products`` (None without an id or a SKU)."""
    product_id = _id(product)
    sku = str(product.get("sku") or "").strip()
    if product_id is None or not sku:
        return None
    return IndexEntry(
        sku,
        product_id,
        0,
        _manage(product.get("manage_stock")),
        quantity_of(product.get("stock_quantity")),
        gmt_of(product.get("date_modified_gmt")),
    )


def entry_of_variation(parent_id: int, variation: Mapping[str, Any]) -> IndexEntry | None:
    """The index entry of a variation from ``GET products/{parent}/variations`` (None without an id or a SKU).
    A variation without a SKU of its own shows its parent's: it is then not a SKU of its own."""
    variation_id = _id(variation)
    sku = str(variation.get("sku") or "").strip()
    if variation_id is None or not sku:
        return None
    return IndexEntry(
        sku,
        parent_id,
        variation_id,
        _manage(variation.get("manage_stock")),
        quantity_of(variation.get("stock_quantity")),
        gmt_of(variation.get("date_modified_gmt")),
    )


# -- reading the store -----------------------------------------------------------------------------------------------


@dataclass
class StoreScan:
    """What one read of the store found: products (changed since ``modified_after``, or all), the variations of
    the variable ones, products trashed since then, and when the read began on the store's clock."""

    modified_after: datetime | None
    products: dict[int, IndexEntry | None] = field(default_factory=dict)  # product id → its entry (None: no SKU)
    variations: dict[int, list[IndexEntry]] = field(default_factory=dict)  # variable parent id → its variations
    trashed: set[int] = field(default_factory=set)
    store_started_at: datetime | None = None
    requests: int = 0

    @property
    def full(self) -> bool:
        return self.modified_after is None

    def entries(self) -> list[IndexEntry]:
        found = [entry for entry in self.products.values() if entry is not None]
        for variations in self.variations.values():
            found.extend(variations)
        return found


async def scan_store(
    woo: WooClient,
    throttle: AdaptiveConcurrency,
    *,
    modified_after: datetime | None = None,
    per_page: int = 100,
) -> StoreScan:
    """Read the products changed after ``modified_after`` (all of them when None), the variations of each variable
    one, and (incrementally) the products trashed since; see the module docstring."""
    scan = StoreScan(modified_after)
    params: dict[str, Any] = {"status": "any", "dates_are_gmt": "true", "_fields": PRODUCT_FIELDS}
    if modified_after is not None:
        params["modified_after"] = modified_after.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")
    reader = IdOrderedReader(woo, "products", params, throttle=throttle, per_page=per_page)
    variable: list[int] = []
    async for products in reader.pages():
        for product in products:
            product_id = _id(product)
            if product_id is None:
                continue
            scan.products[product_id] = entry_of_product(product)
            if product.get("type") == "variable":
                variable.append(product_id)
    scan.store_started_at = reader.store_started_at
    scan.requests += reader.requests
    if modified_after is not None:
        trash = IdOrderedReader(
            woo, "products", {**params, "status": "trash", "_fields": "id"}, throttle=throttle, per_page=per_page
        )
        async for products in trash.pages():
            scan.trashed.update(i for i in map(_id, products) if i is not None)
        scan.requests += trash.requests
    found = await asyncio.gather(*(_variations(woo, throttle, parent_id, per_page) for parent_id in variable))
    for parent_id, (variations, requests) in zip(variable, found, strict=True):
        scan.variations[parent_id] = variations
        scan.requests += requests
    return scan


async def _variations(
    woo: WooClient, throttle: AdaptiveConcurrency, parent_id: int, per_page: int
) -> tuple[list[IndexEntry], int]:
    route = f"products/{parent_id}/variations"
    params = {"_fields": VARIATION_FIELDS, "orderby": "id", "order": "asc"}
    entries: list[IndexEntry] = []
    page_no, requests = 1, 0
    while True:
        page: Page = await throttle.call(
            partial(woo.get_page, route, params, page=page_no, per_page=per_page, retry=NO_RETRY)
        )
        requests += 1
        entries.extend(e for e in (entry_of_variation(parent_id, v) for v in page.items) if e is not None)
        last = page.total_pages if page.total_pages is not None else (page_no + 1 if len(page.items) >= per_page else 0)
        if page_no >= last:
            return entries, requests
        page_no += 1


# -- the index in the state database -----------------------------------------------------------------------------------


def load(session: Session, connection_id: int) -> dict[str, IndexEntry]:
    """The whole index of one store, by SKU."""
    rows = session.scalars(select(SkuIndexRow).where(SkuIndexRow.connection_id == connection_id))
    return {row.sku: IndexEntry.of(row) for row in rows}


def count(session: Session, connection_id: int) -> int:
    from sqlalchemy import func

    return int(
        session.scalar(select(func.count()).select_from(SkuIndexRow).where(SkuIndexRow.connection_id == connection_id))
        or 0
    )


def apply_scan(session: Session, connection_id: int, scan: StoreScan) -> int:
    """Bring the index in line with what the scan read: a full scan replaces it, an incremental one updates the
    products (and variable parents' variations) it saw and drops trashed ones. Returns the rows written."""
    now = datetime.now(UTC)
    mine = SkuIndexRow.connection_id == connection_id
    existing: dict[str, SkuIndexRow] = {}
    new = scan.entries()
    if scan.full:
        existing = {row.sku: row for row in session.scalars(select(SkuIndexRow).where(mine))}
        session.execute(delete(SkuIndexRow).where(mine))
    else:
        for start in range(0, len(new), _IN_CHUNK):
            skus = [entry.sku for entry in new[start : start + _IN_CHUNK]]
            existing.update(
                (row.sku, row) for row in session.scalars(select(SkuIndexRow).where(mine, SkuIndexRow.sku.in_(skus)))
            )
        # Every product read again loses its own row (its SKU may have changed or gone); a variable parent read
        # again, or a trashed product, loses its variations' rows too. What the scan found is inserted below.
        simple = [pid for pid in scan.products if pid not in scan.variations and pid not in scan.trashed]
        whole = sorted(set(scan.variations) | scan.trashed)
        for start in range(0, len(simple), _IN_CHUNK):
            chunk = simple[start : start + _IN_CHUNK]
            session.execute(
                delete(SkuIndexRow).where(mine, SkuIndexRow.product_id.in_(chunk), SkuIndexRow.variation_id == 0)
            )
        for start in range(0, len(whole), _IN_CHUNK):
            session.execute(
                delete(SkuIndexRow).where(mine, SkuIndexRow.product_id.in_(whole[start : start + _IN_CHUNK]))
            )
        for start in range(0, len(new), _IN_CHUNK):
            # A SKU that moved to another product or variation.
            skus = [entry.sku for entry in new[start : start + _IN_CHUNK]]
            session.execute(delete(SkuIndexRow).where(mine, SkuIndexRow.sku.in_(skus)))
    rows = []
    for entry in {e.sku: e for e in new}.values():
        before = existing.get(entry.sku)
        same_holder = before is not None and IndexEntry.of(before).holder == entry.holder
        rows.append(
            {
                "connection_id": connection_id,
                "sku": entry.sku,
                "product_id": entry.product_id,
                "variation_id": entry.variation_id,
                "manage_stock": entry.manage_stock,
                "stock_quantity": entry.stock_quantity,
                "store_modified": entry.store_modified,
                "pushed_quantity": before.pushed_quantity if same_holder and before is not None else None,
                "pushed_at": before.pushed_at if same_holder and before is not None else None,
                "updated_at": now,
            }
        )
    for start in range(0, len(rows), _IN_CHUNK):
        session.execute(insert(SkuIndexRow), rows[start : start + _IN_CHUNK])
    return len(rows)


@dataclass(frozen=True)
class Pushed:
    """A stock holder now at ``quantity`` in the store, brought there for these SKUs (by a write, or found)."""

    holder: Holder
    skus: tuple[str, ...]
    quantity: Decimal
    store_quantity: Decimal | None = None  # what the store answered, when it answered
    store_modified: datetime | None = None
    manage_stock: ManageStock | None = None  # "true" after turning stock management on


def record_pushed(session: Session, connection_id: int, pushed: Sequence[Pushed]) -> None:
    """Remember what the store now holds: ``pushed_quantity`` on the SKUs that asked for it, the new store
    quantity on every SKU sold from that holder (a parent's own SKU and its parent-managed variations)."""
    now = datetime.now(UTC)
    mine = SkuIndexRow.connection_id == connection_id
    by_key = []
    for item in pushed:
        quantity = item.store_quantity if item.store_quantity is not None else item.quantity
        for sku in item.skus:
            values: dict[str, Any] = {
                "connection_id": connection_id,
                "sku": sku,
                "pushed_quantity": item.quantity,
                "pushed_at": now,
                "stock_quantity": quantity,
                "updated_at": now,
            }
            if item.store_modified is not None:
                values["store_modified"] = item.store_modified
            if item.manage_stock is not None:
                values["manage_stock"] = item.manage_stock
            by_key.append(values)
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for values in by_key:  # a bulk UPDATE by primary key takes rows with the same columns
        groups.setdefault(tuple(sorted(values)), []).append(values)
    for group in groups.values():
        for start in range(0, len(group), _IN_CHUNK):
            session.execute(update(SkuIndexRow), group[start : start + _IN_CHUNK])
    # The other SKUs sold from a parent's stock see the parent's new quantity too.
    for item in pushed:
        if item.holder.variation_id:
            continue
        quantity = item.store_quantity if item.store_quantity is not None else item.quantity
        session.execute(
            update(SkuIndexRow)
            .where(
                mine,
                SkuIndexRow.product_id == item.holder.product_id,
                SkuIndexRow.sku.not_in(item.skus),
                (SkuIndexRow.variation_id == 0) | (SkuIndexRow.manage_stock == "parent"),
            )
            .values(stock_quantity=quantity, updated_at=now)
        )


def forget(session: Session, connection_id: int, holders: Iterable[Holder]) -> int:
    """Drop the rows of holders the store no longer has (a write answered "Invalid ID")."""
    dropped = 0
    for holder in holders:
        result = session.execute(
            delete(SkuIndexRow).where(
                SkuIndexRow.connection_id == connection_id,
                and_(SkuIndexRow.product_id == holder.product_id, SkuIndexRow.variation_id == holder.variation_id)
                if holder.variation_id
                else SkuIndexRow.product_id == holder.product_id,
            )
        )
        dropped += int(getattr(result, "rowcount", 0) or 0)
    return dropped


__all__ = [
    "Holder",
    "IndexEntry",
    "Pushed",
    "StoreScan",
    "apply_scan",
    "count",
    "entry_of_product",
    "entry_of_variation",
    "forget",
    "gmt_of",
    "load",
    "quantity_of",
    "record_pushed",
    "scan_store",
]
