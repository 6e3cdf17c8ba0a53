"""Stock changes that orders and refunds make to products and variations.

A variation whose own ``manage_stock`` is false while its parent manages stock uses the parent's stock
(the REST API shows it as ``manage_stock: "parent"``), so the change lands on the parent.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from woobridge.sandbox.state import Obj, Store


@dataclass
class StockChange:
    kind: str  # "product" or "variation"
    object_id: int
    before: Decimal
    after: Decimal


def stock_holder(store: Store, product_id: int, variation_id: int = 0) -> tuple[str, Obj] | None:
    """The product or variation whose stock_quantity an order line moves, or None if stock is not managed."""
    if not store.settings.manage_stock:
        return None
    if variation_id:
        variation = store.get("variation", variation_id)
        if variation is not None and variation.get("manage_stock") is True:
            return "variation", variation
        product_id = product_id or (int(variation["parent_id"]) if variation else 0)
    product = store.get("product", product_id) if product_id else None
    if product is not None and product.get("manage_stock") is True:
        return "product", product
    return None


def adjust_stock(store: Store, product_id: int, variation_id: int, delta: Decimal | int) -> StockChange | None:
    """Add ``delta`` (negative to reduce) to the managed stock; bumps date_modified and stock_status."""
    holder = stock_holder(store, product_id, variation_id)
    if holder is None:
        return None
    kind, obj = holder
    before = Decimal(str(obj.get("stock_quantity") or 0))
    after = before + Decimal(delta)
    obj["stock_quantity"] = int(after) if after == after.to_integral_value() else float(after)
    if obj.get("backorders", "no") == "no" or after > 0:
        obj["stock_status"] = "instock" if after > 0 else "outofstock"
    else:
        obj["stock_status"] = "onbackorder"
    obj["date_modified_gmt"] = store.now_iso()
    store.put(kind, obj)
    store.emit("product", "updated", int(obj["id"]))
    return StockChange(kind, int(obj["id"]), before, after)
