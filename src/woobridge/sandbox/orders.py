"""Orders and order notes, as WooCommerce 11.0.1 (HPOS) serves them under /wc/v2 and /wc/v3.

An order is stored in its REST shape (edit context, v3 field names) with money as full-precision decimal strings
and only the ``*_gmt`` dates; ``to_rest`` formats money with ``dp`` and adds the local dates, the ``refunds[]``
summary, the current product SKUs and the links. Line items keep their own IDs (a separate sequence, as
``woocommerce_order_items`` has) and their meta, including ``_reduced_stock`` once stock was taken.

Rules worth knowing (all as WooCommerce does them):
* A new line's subtotal/total is the product price × quantity; later changing only the quantity does NOT change
  them (send ``subtotal``/``total`` too), taxes and order totals are recalculated on every line change.
* Stock is reduced once when the order reaches processing, completed or on-hold, and given back on cancelled,
  pending or failed; each change leaves a system note ("Stock levels reduced: …").
* REST creation fires order.created and order.updated; trashing fires only order.deleted; a forced delete
  fires nothing; a status PUT on a trashed order restores it without any webhook.
"""

from __future__ import annotations

import functools
import html
import json
import operator
import secrets
import string
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from woobridge.sandbox import taxes
from woobridge.sandbox.state import Obj, Store, User
from woobridge.sandbox.stock import adjust_stock, stock_holder
from woobridge.sandbox.wp import (
    CREATABLE,
    DELETABLE,
    EDITABLE,
    READABLE,
    Arg,
    Call,
    Endpoint,
    Reply,
    RestError,
    Router,
    collection_args,
    date_filter_args,
    needs,
    paginate,
)

NAMESPACES = ("wc/v2", "wc/v3")

# wc_get_order_statuses() without the wc- prefix, with the names notes use.
STATUS_NAMES = {
    "pending": "Pending payment",
    "processing": "Processing",
    "on-hold": "On hold",
    "completed": "Completed",
    "cancelled": "Cancelled",
    "refunded": "Refunded",
    "failed": "Failed",
    "checkout-draft": "Draft",
}
# The REST schema's enum for `status` on create/update, and the list filter's (adds any and trash).
WRITE_STATUSES = ("auto-draft", *STATUS_NAMES)
LIST_STATUSES = ("any", "trash", *WRITE_STATUSES)
# `status=any` leaves out trash and statuses excluded from search (checkout-draft, auto-draft).
NOT_IN_ANY = {"trash", "checkout-draft", "auto-draft"}

STOCK_REDUCING = {"processing", "completed", "on-hold"}
STOCK_RESTORING = {"cancelled", "pending", "failed"}
PAID_STATUSES = {"processing", "completed"}

BILLING_FIELDS = (
    "first_name",
    "last_name",
    "company",
    "address_1",
    "address_2",
    "city",
    "state",
    "postcode",
    "country",
    "email",
    "phone",
)
SHIPPING_FIELDS = tuple(f for f in BILLING_FIELDS if f != "email")

SYSTEM_AUTHOR = "WooCommerce"


# -- numbers ------------------------------------------------------------------------------------------------------


def dec(value: Any) -> Decimal:
    """A posted or stored amount as Decimal ("" and None are 0, as PHP's float cast makes them)."""
    if value is None or value == "" or isinstance(value, bool):
        return Decimal(0)
    try:
        return Decimal(str(value).strip())
    except InvalidOperation:
        return Decimal(0)


@functools.lru_cache(maxsize=32)  # dp comes from the request: keep the few ever used
def _quantum(dp: int) -> Decimal:
    return Decimal(1).scaleb(-dp)


def _q(value: Decimal, dp: int) -> Decimal:
    return value.quantize(_quantum(dp), rounding=ROUND_HALF_UP)


def stored(value: Decimal) -> str:
    """How an amount is kept: a plain decimal string."""
    text = format(value, "f")
    return "0" if text in ("-0", "") else text


def trimmed(value: Decimal) -> str:
    """wc_format_decimal without dp: trailing zeros dropped ("9.3", "5")."""
    text = format(value.normalize(), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def fmt(value: Any, dp: int) -> str:
    """An amount formatted for output with dp decimals; never "-0.00"."""
    if value is None or value == "":
        return ""
    if type(value) is str:
        return _fmt_stored(value, dp)
    return _fmt_decimal(dec(value), dp)


# Stored amounts are strings and few distinct ones recur across orders ("0", a product's price, a shipping rate):
# an order list page formats ~2,300 of them, and parsing and rounding each as a Decimal was a third of the time
# spent rendering orders. A pure function of its arguments, so the cache cannot go stale.
@functools.lru_cache(maxsize=16_384)
def _fmt_stored(value: str, dp: int) -> str:
    return _fmt_decimal(dec(value), dp)


def _fmt_decimal(value: Decimal, dp: int) -> str:
    amount = _q(value, dp)
    if amount == 0:
        amount = abs(amount)
    return format(amount, "f")


def php_number(value: Decimal) -> int | float:
    """A PHP division result as json_encode writes it: int when whole, else the float (with its artefacts)."""
    return int(value) if value == value.to_integral_value() else float(value)


def line_price(total: Any, quantity: Any) -> int | float:
    """`price` of a line: its total divided by its quantity as PHP computes it (float artefacts included)."""
    qty = dec(quantity)
    if qty == 0:
        return 0
    amount = dec(total)
    if amount % qty == 0:
        return int(amount / qty)
    return float(amount) / float(qty)


# -- lookups ------------------------------------------------------------------------------------------------------


def get_order(store: Store, order_id: int) -> Obj | None:
    return store.get("order", order_id)


def find_by_sku(store: Store, sku: str) -> tuple[str, Obj] | None:
    """wc_get_product_id_by_sku: products and variations share the SKU space."""
    try:
        from woobridge.sandbox import products

        finder = getattr(products, "find_by_sku", None)
        if finder is not None:
            found: tuple[str, Obj] | None = finder(store, sku)
            return found
    except ImportError:  # pragma: no cover - products.py always exists
        pass
    for kind in ("product", "variation"):
        for obj in store.all(kind):
            if sku and obj.get("sku") == sku:
                return kind, obj
    return None


def _product_of(store: Store, item: Obj) -> tuple[Obj | None, Obj | None]:
    """(parent or simple product, variation) of a line, None where deleted."""
    variation = store.get("variation", int(item.get("variation_id") or 0)) if item.get("variation_id") else None
    product = store.get("product", int(item.get("product_id") or 0)) if item.get("product_id") else None
    return product, variation


def _variation_name(store: Store, variation: Obj) -> str:
    if variation.get("name"):
        return str(variation["name"])
    parent = store.get("product", int(variation.get("parent_id") or 0)) or {}
    options = [str(a.get("option", "")) for a in variation.get("attributes") or [] if a.get("option")]
    base = str(parent.get("name", ""))
    return f"{base} - {', '.join(options)}" if options else base


def _customer_exists(store: Store, customer_id: int) -> bool:
    return customer_id in store.users or store.get("customer", customer_id) is not None


# -- notes --------------------------------------------------------------------------------------------------------


def add_note(
    store: Store, order_id: int, text: str, *, customer_note: bool = False, author: str = SYSTEM_AUTHOR
) -> Obj:
    """Add an order note (a comment). Does not touch the order's date_modified."""
    note = {
        "id": store.next_id("comment"),
        "order_id": order_id,
        "author": author,
        "date_created_gmt": store.now_iso(),
        "note": text,
        "customer_note": customer_note,
    }
    return store.put("note", note)


def notes_of(store: Store, order_id: int) -> list[Obj]:
    """An order's notes, newest first (notes of the same second in the order they were added)."""
    notes = [n for n in store.all("note") if int(n.get("order_id", 0)) == order_id]
    notes.sort(key=lambda n: int(n["id"]))
    notes.sort(key=lambda n: str(n["date_created_gmt"]), reverse=True)
    return notes


# -- meta ---------------------------------------------------------------------------------------------------------


def _meta(store: Store, key: str, value: Any, *, display_key: str | None = None, display_value: Any = None) -> Obj:
    entry: Obj = {"id": store.next_id("meta"), "key": key, "value": value}
    if display_key is not None:
        entry["display_key"] = display_key
        entry["display_value"] = display_value if display_value is not None else value
    return entry


def item_meta(store: Store, key: str, value: Any, display_key: str | None = None, display_value: Any = None) -> Obj:
    """Order item meta as the REST API shows it (with display_key/display_value)."""
    return _meta(store, key, value, display_key=display_key or key, display_value=display_value)


def get_item_meta(item: Obj, key: str) -> Any:
    for entry in item.get("meta_data") or []:
        if entry.get("key") == key:
            return entry.get("value")
    return None


def set_item_meta(store: Store, item: Obj, key: str, value: Any) -> None:
    for entry in item.setdefault("meta_data", []):
        if entry.get("key") == key:
            entry["value"] = value
            if "display_key" in entry:
                entry["display_value"] = value
            return
    item["meta_data"].append(item_meta(store, key, value))


def delete_item_meta(item: Obj, key: str) -> None:
    item["meta_data"] = [m for m in item.get("meta_data") or [] if m.get("key") != key]


def _update_meta_list(store: Store, meta: list[Obj], posted: Any, *, item: bool = False) -> None:
    """WC_Data::update_meta_data for each posted {id?, key, value}: by id, else replace the first of that key."""
    if not isinstance(posted, list):
        return
    for entry in posted:
        if not isinstance(entry, dict) or ("key" not in entry and "id" not in entry):
            continue
        target = None
        if entry.get("id"):
            target = next((m for m in meta if m.get("id") == int(entry["id"])), None)
        if target is None and entry.get("key") is not None:
            target = next((m for m in meta if m.get("key") == entry["key"]), None)
        value = entry.get("value")
        if target is not None:
            if entry.get("key") is not None:
                target["key"] = entry["key"]
            target["value"] = value
            if "display_key" in target:
                target["display_key"] = target["key"]
                target["display_value"] = value
        elif entry.get("key") is not None:
            if item:
                meta.append(item_meta(store, str(entry["key"]), value))
            else:
                meta.append(_meta(store, str(entry["key"]), value))


# -- line items ---------------------------------------------------------------------------------------------------


def _posted_product(store: Store, posted: Obj, creating: bool) -> tuple[int, int] | None:
    """get_product_id: sku, else variation_id, else product_id → (product_id, variation_id); None when absent."""
    sku = posted.get("sku")
    if sku:
        found = find_by_sku(store, str(sku))
        if found is None:
            return 0, 0
        kind, obj = found
        if kind == "variation":
            return int(obj.get("parent_id") or 0), int(obj["id"])
        return int(obj["id"]), 0
    if posted.get("variation_id"):
        variation_id = int(posted["variation_id"])
        variation = store.get("variation", variation_id)
        parent = int(variation.get("parent_id") or 0) if variation else int(posted.get("product_id") or 0)
        return parent, variation_id if variation else 0
    if posted.get("product_id"):
        product_id = int(posted["product_id"])
        if store.get("variation", product_id) is not None:  # a variation ID sent as product_id
            return int(store.objects["variation"][product_id].get("parent_id") or 0), product_id
        return product_id, 0
    if creating:
        raise RestError(
            "woocommerce_rest_required_product_reference", "Product ID or SKU is required.", {"status": 400}
        )
    return None


def _set_line_product(store: Store, item: Obj, product_id: int, variation_id: int) -> Obj | None:
    """WC_Order_Item_Product::set_product: name, ids, tax class and variation attribute meta."""
    item["product_id"] = product_id
    item["variation_id"] = variation_id
    product = store.get("product", product_id) if product_id else None
    variation = store.get("variation", variation_id) if variation_id else None
    source = variation or product
    if source is None:
        item["product_id"] = 0 if not product else product_id
        item["variation_id"] = 0
        return None
    item["name"] = _variation_name(store, variation) if variation else str(product.get("name", "")) if product else ""
    tax_class = source.get("tax_class", "")
    if variation is not None and tax_class == "parent":
        tax_class = (product or {}).get("tax_class", "")
    item["tax_class"] = tax_class or ""
    item["parent_name"] = str(product.get("name", "")) if variation is not None and product else None
    if variation is not None:
        item["meta_data"] = [m for m in item.get("meta_data") or [] if not m.get("_attribute")]
        for attribute in variation.get("attributes") or []:
            name = str(attribute.get("name", ""))
            option = str(attribute.get("option", ""))
            slug = str(attribute.get("slug") or ("pa_" + name.lower() if attribute.get("id") else name.lower()))
            entry = item_meta(store, slug, option.lower().replace(" ", "-"), name, option)
            entry["_attribute"] = True
            item["meta_data"].append(entry)
    return source


def _product_price(store: Store, source: Obj) -> Decimal:
    return dec(source.get("price") if source.get("price") not in (None, "") else source.get("regular_price"))


def prepare_line_item(store: Store, posted: Obj, item: Obj | None) -> Obj:
    """Create (item None) or update a product line from its posted form (prepare_line_items)."""
    creating = item is None
    if item is None:
        item = {
            "id": store.next_id("order_item"),
            "name": "",
            "product_id": 0,
            "variation_id": 0,
            "quantity": 1,
            "tax_class": "",
            "subtotal": "0",
            "subtotal_tax": "0",
            "total": "0",
            "total_tax": "0",
            "taxes": [],
            "meta_data": [],
            "parent_name": None,
        }
    reference = _posted_product(store, posted, creating)
    if reference is not None:
        source = _set_line_product(store, item, *reference)
        if creating:
            quantity = dec(posted.get("quantity", 1))
            total = _product_price(store, source) * quantity if source is not None else Decimal(0)
            item["subtotal"] = item["total"] = stored(total)
    if posted.get("name") is not None:
        item["name"] = str(posted["name"])
    if posted.get("quantity") is not None:
        quantity = dec(posted["quantity"])
        item["quantity"] = php_number(quantity)
    for prop in ("subtotal", "total"):
        if posted.get(prop) is not None:
            item[prop] = stored(dec(posted[prop]))
    if posted.get("tax_class") is not None:
        item["tax_class"] = str(posted["tax_class"])
    _update_meta_list(store, item["meta_data"], posted.get("meta_data"), item=True)
    return item


def prepare_shipping_line(store: Store, posted: Obj, item: Obj | None) -> Obj:
    if item is None:
        item = {
            "id": store.next_id("order_item"),
            "method_title": "",
            "method_id": "",
            "instance_id": "",
            "total": "0",
            "total_tax": "0",
            "taxes": [],
            "tax_status": "taxable",
            "meta_data": [],
        }
    for prop in ("method_title", "method_id", "instance_id"):
        if posted.get(prop) is not None:
            item[prop] = str(posted[prop])
    if posted.get("total") is not None:
        item["total"] = stored(dec(posted["total"]))
    _update_meta_list(store, item["meta_data"], posted.get("meta_data"), item=True)
    return item


def prepare_fee_line(store: Store, posted: Obj, item: Obj | None) -> Obj:
    if item is None:
        item = {
            "id": store.next_id("order_item"),
            "name": "",
            "tax_class": "",
            "tax_status": "taxable",
            "amount": "",
            "total": "0",
            "total_tax": "0",
            "taxes": [],
            "meta_data": [],
        }
    for prop in ("name", "tax_class", "tax_status"):
        if posted.get(prop) is not None:
            item[prop] = str(posted[prop])
    if posted.get("total") is not None:
        item["total"] = stored(dec(posted["total"]))
    _update_meta_list(store, item["meta_data"], posted.get("meta_data"), item=True)
    return item


def _coupon_by_code(store: Store, code: str) -> Obj | None:
    wanted = code.strip().lower()
    for coupon in store.all("coupon"):
        if str(coupon.get("code", "")).lower() == wanted and coupon.get("status", "publish") != "trash":
            return coupon
    return None


def prepare_coupon_line(store: Store, posted: Obj, item: Obj | None) -> Obj:
    """Apply a coupon by code (v3 validates it exists); the discount itself is computed with the totals."""
    code = str(posted.get("code") or "").strip()
    if item is not None and not code:
        _update_meta_list(store, item["meta_data"], posted.get("meta_data"), item=True)
        return item
    coupon = _coupon_by_code(store, code)
    if coupon is None:
        raise RestError("woocommerce_rest_invalid_coupon", f'Coupon "{code}" does not exist!', {"status": 400})
    amount = dec(coupon.get("amount"))
    kind = str(coupon.get("discount_type") or "fixed_cart")
    info = [int(coupon["id"]), str(coupon["code"]), None if kind == "fixed_cart" else kind, php_number(amount)]
    item = item or {"id": store.next_id("order_item"), "meta_data": []}
    item.update(
        {
            "code": str(coupon["code"]).lower(),
            "discount": "0",
            "discount_tax": "0",
            "discount_type": kind,
            "nominal_amount": php_number(amount),
            "free_shipping": bool(coupon.get("free_shipping", False)),
        }
    )
    delete_item_meta(item, "coupon_info")
    item["meta_data"].insert(0, item_meta(store, "coupon_info", json.dumps(info, separators=(",", ":"))))
    return item


_PREPARERS = {
    "line_items": prepare_line_item,
    "shipping_lines": prepare_shipping_line,
    "fee_lines": prepare_fee_line,
    "coupon_lines": prepare_coupon_line,
}
# Sending one of these as null removes an existing line (WC_REST_Orders_V2_Controller::item_is_null_or_zero).
_REMOVE_KEYS = {
    "line_items": ("product_id",),
    "shipping_lines": ("method_id", "method_title"),
    "fee_lines": ("name",),
    "coupon_lines": ("code",),
}


def _apply_item_changes(store: Store, order: Obj, key: str, posted_items: Any) -> list[tuple[Obj, Obj | None]]:
    """Create, update or remove lines of one type. Returns (item, previous copy or None) for product lines."""
    if not isinstance(posted_items, list):
        if isinstance(posted_items, dict):
            posted_items = list(posted_items.values())
        else:
            return []
    items: list[Obj] = order.setdefault(key, [])
    changes: list[tuple[Obj, Obj | None]] = []
    for posted in posted_items:
        if not isinstance(posted, dict):
            continue
        item_id = int(posted.get("id") or 0)
        existing = None
        if item_id:
            existing = next((i for i in items if int(i["id"]) == item_id), None)
            if existing is None:
                raise RestError(
                    "woocommerce_rest_invalid_item_id",
                    "Order item ID provided is not associated with order.",
                    {"status": 400},
                )
            removing = any(k in posted and posted[k] is None for k in _REMOVE_KEYS[key])
            if key == "line_items" and "quantity" in posted and dec(posted["quantity"]) == 0:
                removing = True
            if removing:
                items.remove(existing)
                changes.append(({**existing, "quantity": 0, "_removed": True}, json.loads(json.dumps(existing))))
                continue
        before = json.loads(json.dumps(existing)) if existing is not None else None
        item = _PREPARERS[key](store, posted, existing)
        if existing is None:
            items.append(item)
        changes.append((item, before))
    return changes


# -- totals -------------------------------------------------------------------------------------------------------


def _line_taxable(store: Store, item: Obj) -> bool:
    product, variation = _product_of(store, item)
    source = product or {}
    status = str(source.get("tax_status") or "taxable")
    if variation is not None and variation.get("tax_status") not in (None, "", "parent"):
        status = str(variation["tax_status"])
    return status == "taxable"


def _apply_coupons(store: Store, order: Obj) -> dict[int, dict[int, int]]:
    """WC_Discounts in cents: returns {coupon item id: {line item id: discount cents}} and sets line totals.

    Percent coupons floor each line's share and hand the rounding remainder out a cent per line (most expensive
    first); fixed_cart coupons split the amount per unit; fixed_product takes the amount per unit."""
    unit = 10**store.settings.decimals
    lines = order.get("line_items") or []
    coupons = order.get("coupon_lines") or []
    result: dict[int, dict[int, int]] = {}
    if not coupons:
        return result
    price = {int(i["id"]): int(_q(dec(i["subtotal"]) * unit, 0)) for i in lines}
    remaining = dict(price)
    qty = {int(i["id"]): max(int(dec(i["quantity"])), 0) for i in lines}
    ordered = sorted(lines, key=lambda i: -price[int(i["id"])])
    for coupon in coupons:
        amount = dec(coupon.get("nominal_amount"))
        kind = str(coupon.get("discount_type") or "fixed_cart")
        shares: dict[int, int] = {int(i["id"]): 0 for i in lines}
        if kind == "percent":
            for line in ordered:
                line_id = int(line["id"])
                share = int((Decimal(price[line_id]) * amount / 100).to_integral_value(rounding=ROUND_FLOOR))
                shares[line_id] = min(share, remaining[line_id])
            target = int(_q(Decimal(sum(price.values())) * amount / 100, 0))
            _spread_remainder(ordered, shares, remaining, target)
        elif kind == "fixed_product":
            for line in ordered:
                line_id = int(line["id"])
                shares[line_id] = min(int(_q(amount * unit, 0)) * qty[line_id], remaining[line_id])
        else:
            target = min(int(_q(amount * unit, 0)), sum(remaining.values()))
            total_qty = sum(qty.values())
            per_unit = target // total_qty if total_qty else 0
            for line in ordered:
                line_id = int(line["id"])
                shares[line_id] = min(per_unit * qty[line_id], remaining[line_id])
            _spread_remainder(ordered, shares, remaining, target)
        for line_id, share in shares.items():
            remaining[line_id] -= share
        result[int(coupon["id"])] = shares
        coupon["discount"] = trimmed(Decimal(sum(shares.values())) / unit)
    for line in lines:
        line["total"] = stored(Decimal(remaining[int(line["id"])]) / unit)
    return result


def _spread_remainder(ordered: list[Obj], shares: dict[int, int], remaining: dict[int, int], target: int) -> None:
    """apply_coupon_remainder: one cent per line, most expensive line first, until the target is reached."""
    missing = target - sum(shares.values())
    while missing > 0:
        progressed = False
        for line in ordered:
            line_id = int(line["id"])
            if missing <= 0:
                break
            if shares[line_id] < remaining[line_id]:
                shares[line_id] += 1
                missing -= 1
                progressed = True
        if not progressed:
            break


def _taxes_list(total: dict[int, Decimal], subtotal: dict[int, Decimal] | None) -> list[Obj]:
    return [
        {"id": rate_id, "total": stored(value), "subtotal": stored(subtotal[rate_id]) if subtotal else ""}
        for rate_id, value in total.items()
    ]


def calculate_totals(store: Store, order: Obj) -> None:
    """WC_Order::calculate_totals(true): coupons, line/fee/shipping taxes per rate rounded per line, tax lines,
    order totals."""
    dp = store.settings.decimals
    location = taxes.order_location(order)
    coupon_shares = _apply_coupons(store, order)
    rate_items: dict[int, Decimal] = {}
    rate_shipping: dict[int, Decimal] = {}
    line_rates: dict[int, list[Obj]] = {}
    class_costs: dict[str, Decimal] = {}
    for item in order.get("line_items") or []:
        rates = taxes.find_rates(store, location, item.get("tax_class")) if _line_taxable(store, item) else []
        line_rates[int(item["id"])] = rates
        sub = taxes.round_taxes(taxes.calc_tax(dec(item["subtotal"]), rates), dp)
        tot = taxes.round_taxes(taxes.calc_tax(dec(item["total"]), rates), dp)
        item["taxes"] = _taxes_list(tot, sub)
        item["subtotal_tax"] = stored(sum(sub.values(), Decimal(0)))
        item["total_tax"] = stored(sum(tot.values(), Decimal(0)))
        for rate_id, value in tot.items():
            rate_items[rate_id] = rate_items.get(rate_id, Decimal(0)) + value
        if rates or _line_taxable(store, item):
            tax_class = str(item.get("tax_class") or "")
            class_costs[tax_class] = class_costs.get(tax_class, Decimal(0)) + dec(item["total"])
    for fee in order.get("fee_lines") or []:
        fee_taxes: dict[int, Decimal] = {}
        total = dec(fee["total"])
        if fee.get("tax_status", "taxable") == "taxable":
            if total < 0:
                # A negative fee is a discount: its tax is split over the tax classes of the items.
                all_costs = sum(class_costs.values(), Decimal(0))
                for tax_class, cost in class_costs.items():
                    if not all_costs:
                        break
                    share = taxes.calc_tax(total * cost / all_costs, taxes.find_rates(store, location, tax_class))
                    for rate_id, value in share.items():
                        fee_taxes[rate_id] = fee_taxes.get(rate_id, Decimal(0)) + value
            else:
                fee_taxes = taxes.calc_tax(total, taxes.find_rates(store, location, fee.get("tax_class")))
        fee_taxes = taxes.round_taxes(fee_taxes, dp)
        fee["taxes"] = _taxes_list(fee_taxes, None)
        fee["total_tax"] = stored(sum(fee_taxes.values(), Decimal(0)))
        for rate_id, value in fee_taxes.items():
            rate_items[rate_id] = rate_items.get(rate_id, Decimal(0)) + value
    for ship in order.get("shipping_lines") or []:
        ship_taxes: dict[int, Decimal] = {}
        if ship.get("tax_status", "taxable") == "taxable":
            rates = taxes.find_rates(store, location, "", shipping=True)
            ship_taxes = taxes.round_taxes(taxes.calc_tax(dec(ship["total"]), rates), dp)
        ship["taxes"] = _taxes_list(ship_taxes, None)
        ship["total_tax"] = stored(sum(ship_taxes.values(), Decimal(0)))
        for rate_id, value in ship_taxes.items():
            rate_shipping[rate_id] = rate_shipping.get(rate_id, Decimal(0)) + value
    # Tax carried by each coupon's discount, line by line.
    lines_by_id = {int(i["id"]): i for i in order.get("line_items") or []}
    unit = Decimal(10**dp)
    for coupon in order.get("coupon_lines") or []:
        coupon_tax = Decimal(0)
        for line_id, cents in coupon_shares.get(int(coupon["id"]), {}).items():
            if cents and line_id in lines_by_id:
                coupon_tax += sum(taxes.calc_tax(Decimal(cents) / unit, line_rates[line_id]).values(), Decimal(0))
        coupon["discount_tax"] = stored(_q(coupon_tax, dp))
    _rebuild_tax_lines(store, order, rate_items, rate_shipping)
    lines = order.get("line_items") or []
    fees = order.get("fee_lines") or []
    ships = order.get("shipping_lines") or []
    discount_total = sum((dec(i["subtotal"]) - dec(i["total"]) for i in lines), Decimal(0))
    discount_tax = sum((dec(i["subtotal_tax"]) - dec(i["total_tax"]) for i in lines), Decimal(0))
    cart_tax = sum((dec(i["total_tax"]) for i in [*lines, *fees]), Decimal(0))
    shipping_total = sum((dec(s["total"]) for s in ships), Decimal(0))
    shipping_tax = sum((dec(s["total_tax"]) for s in ships), Decimal(0))
    items_total = sum((dec(i["total"]) for i in [*lines, *fees]), Decimal(0))
    total = items_total + shipping_total + cart_tax + shipping_tax
    order["discount_total"] = stored(_q(discount_total, dp))
    order["discount_tax"] = stored(_q(discount_tax, dp))
    order["shipping_total"] = stored(_q(shipping_total, dp))
    order["shipping_tax"] = stored(_q(shipping_tax, dp))
    order["cart_tax"] = stored(_q(cart_tax, dp))
    order["total_tax"] = stored(_q(cart_tax + shipping_tax, dp))
    order["total"] = stored(_q(max(total, Decimal(0)), dp))


def _rebuild_tax_lines(store: Store, order: Obj, items: dict[int, Decimal], shipping: dict[int, Decimal]) -> None:
    existing = {int(t["rate_id"]): t for t in order.get("tax_lines") or []}
    tax_lines = []
    for rate_id in sorted(set(items) | set(shipping)):
        rate = store.get("tax_rate", rate_id) or {"id": rate_id}
        line = existing.get(rate_id) or {"id": store.next_id("order_item"), "meta_data": []}
        line.update(
            {
                "rate_code": taxes.rate_code(rate),
                "rate_id": rate_id,
                "label": str(rate.get("name") or "Tax"),
                "compound": bool(rate.get("compound", False)),
                "tax_total": stored(items.get(rate_id, Decimal(0))),
                "shipping_tax_total": stored(shipping.get(rate_id, Decimal(0))),
                "rate_percent": taxes.rate_percent(rate),
            }
        )
        tax_lines.append(line)
    order["tax_lines"] = tax_lines


# -- stock --------------------------------------------------------------------------------------------------------


def _stock_label(store: Store, item: Obj) -> str:
    return str(item.get("name") or f"#{item.get('variation_id') or item.get('product_id')}")


def _fmt_stock(value: Decimal) -> str:
    return str(int(value)) if value == value.to_integral_value() else trimmed(value)


def reduce_stock(store: Store, order: Obj) -> None:
    """wc_reduce_stock_levels: once per line (line meta _reduced_stock), one note listing the changes."""
    changes = []
    for item in order.get("line_items") or []:
        if get_item_meta(item, "_reduced_stock") is not None:
            continue
        qty = dec(item.get("quantity"))
        if stock_holder(store, int(item.get("product_id") or 0), int(item.get("variation_id") or 0)) is None:
            continue
        change = adjust_stock(store, int(item.get("product_id") or 0), int(item.get("variation_id") or 0), -qty)
        if change is None:
            continue
        set_item_meta(store, item, "_reduced_stock", _fmt_stock(qty))
        changes.append(f"{_stock_label(store, item)} ({_fmt_stock(change.before)}&rarr;{_fmt_stock(change.after)})")
    order["_stock_reduced"] = True
    if changes:
        add_note(store, int(order["id"]), "Stock levels reduced: " + ", ".join(changes))


def restore_stock(store: Store, order: Obj) -> None:
    """wc_increase_stock_levels: give back what each line took (only lines with _reduced_stock)."""
    changes = []
    for item in order.get("line_items") or []:
        reduced = get_item_meta(item, "_reduced_stock")
        if reduced is None:
            continue
        delete_item_meta(item, "_reduced_stock")
        change = adjust_stock(store, int(item.get("product_id") or 0), int(item.get("variation_id") or 0), dec(reduced))
        if change is not None:
            changes.append(f"{_stock_label(store, item)} ({_fmt_stock(change.before)}&rarr;{_fmt_stock(change.after)})")
    order["_stock_reduced"] = False
    if changes:
        add_note(store, int(order["id"]), "Stock levels increased: " + ", ".join(changes))


def _adjust_line_stock(store: Store, order: Obj, changes: list[tuple[Obj, Obj | None]]) -> None:
    """wc_maybe_adjust_line_item_product_stock: after stock was taken, edits of line quantities move stock too."""
    if not order.get("_stock_reduced") or order.get("status") not in STOCK_REDUCING:
        return
    notes = []
    for item, _before in changes:
        if "product_id" not in item:
            continue
        reduced = get_item_meta(item, "_reduced_stock")
        already = dec(reduced) if reduced is not None else Decimal(0)
        wanted = Decimal(0) if item.get("_removed") else dec(item.get("quantity"))
        delta = wanted - already
        if delta == 0:
            continue
        product_id, variation_id = int(item.get("product_id") or 0), int(item.get("variation_id") or 0)
        change = adjust_stock(store, product_id, variation_id, -delta)
        if change is None:
            continue
        if not item.get("_removed"):
            set_item_meta(store, item, "_reduced_stock", _fmt_stock(wanted))
        notes.append(f"{_stock_label(store, item)} ({_fmt_stock(change.before)}&rarr;{_fmt_stock(change.after)})")
    if notes:
        add_note(store, int(order["id"]), "Adjusted stock: " + ", ".join(notes))


# -- status -------------------------------------------------------------------------------------------------------


def status_name(status: str) -> str:
    return STATUS_NAMES.get(status, status.replace("-", " ").capitalize())


def set_status(store: Store, order: Obj, new_status: str, *, note: str | None = "transition") -> None:
    """Change the status with WooCommerce's side effects: dates, stock, the transition note."""
    old = str(order.get("status") or "pending")
    if new_status == old:
        return
    order["status"] = new_status
    now = store.now_iso()
    if new_status in PAID_STATUSES and not order.get("date_paid_gmt"):
        order["date_paid_gmt"] = now
    if new_status == "completed":
        order["date_completed_gmt"] = now
    if note == "transition":
        add_note(store, int(order["id"]), f"Order status changed from {status_name(old)} to {status_name(new_status)}.")
    elif note:
        add_note(store, int(order["id"]), note)
    if new_status in STOCK_REDUCING and not order.get("_stock_reduced"):
        reduce_stock(store, order)
    elif new_status in STOCK_RESTORING and order.get("_stock_reduced"):
        restore_stock(store, order)


def needs_processing(store: Store, order: Obj) -> bool:
    """True when some line's product is not both virtual and downloadable (deleted products don't count)."""
    for item in order.get("line_items") or []:
        product, variation = _product_of(store, item)
        source = variation or product
        if source is None:
            continue
        if not (source.get("virtual") and source.get("downloadable")):
            return True
    return False


# -- create / update / delete -------------------------------------------------------------------------------------

_SCALAR_FIELDS = (
    "parent_id",
    "currency",
    "customer_note",
    "payment_method",
    "payment_method_title",
    "transaction_id",
    "customer_ip_address",
    "customer_user_agent",
    "cart_hash",
)


def _order_key() -> str:
    alphabet = string.ascii_letters + string.digits
    return "wc_order_" + "".join(secrets.choice(alphabet) for _ in range(13))


def _apply_payload(store: Store, order: Obj, payload: Obj) -> tuple[bool, list[tuple[Obj, Obj | None]]]:
    """Set posted props and lines. Returns (whether totals need recalculating, product line changes)."""
    if "customer_id" in payload and payload["customer_id"] is not None:
        customer_id = int(payload["customer_id"] or 0)
        if customer_id and not _customer_exists(store, customer_id):
            raise RestError("woocommerce_rest_invalid_customer_id", "Customer ID is invalid.", {"status": 400})
        order["customer_id"] = customer_id
    for name in _SCALAR_FIELDS:
        if name in payload and payload[name] is not None:
            order[name] = int(payload[name] or 0) if name == "parent_id" else str(payload[name])
    recalc = False
    for kind, fields in (("billing", BILLING_FIELDS), ("shipping", SHIPPING_FIELDS)):
        posted = payload.get(kind)
        if isinstance(posted, dict):
            address = order.setdefault(kind, dict.fromkeys(fields, ""))
            for field in fields:
                if field in posted and posted[field] is not None:
                    address[field] = str(posted[field])
            if kind == "billing" and posted.get("email") and "@" not in str(posted["email"]):
                raise RestError(
                    "woocommerce_rest_invalid_email",
                    "Invalid billing email address.",
                    {"status": 400},
                )
            recalc = True
    _update_meta_list(store, order.setdefault("meta_data", []), payload.get("meta_data"))
    line_changes: list[tuple[Obj, Obj | None]] = []
    for key in ("line_items", "shipping_lines", "fee_lines", "coupon_lines"):
        if key in payload and payload[key] is not None:
            changes = _apply_item_changes(store, order, key, payload[key])
            if key == "line_items":
                line_changes = changes
            recalc = True
    return recalc, line_changes


def create_order(store: Store, payload: Obj, *, created_via: str = "rest-api") -> Obj:
    """POST /orders: build, compute totals, apply status / set_paid (stock, notes), emit order.created."""
    now = store.now_iso()
    order_id = store.next_post_id()
    order: Obj = {
        "id": order_id,
        "parent_id": 0,
        "status": "pending",
        "currency": store.settings.currency,
        "version": store.settings.wc_version,
        "prices_include_tax": store.settings.prices_include_tax,
        "date_created_gmt": now,
        "date_modified_gmt": now,
        "discount_total": "0",
        "discount_tax": "0",
        "shipping_total": "0",
        "shipping_tax": "0",
        "cart_tax": "0",
        "total": "0",
        "total_tax": "0",
        "customer_id": 0,
        "order_key": _order_key(),
        "billing": dict.fromkeys(BILLING_FIELDS, ""),
        "shipping": dict.fromkeys(SHIPPING_FIELDS, ""),
        "payment_method": "",
        "payment_method_title": "",
        "transaction_id": "",
        "customer_ip_address": "",
        "customer_user_agent": "",
        "created_via": created_via,
        "customer_note": "",
        "date_completed_gmt": None,
        "date_paid_gmt": None,
        "cart_hash": "",
        "number": str(order_id),
        "meta_data": [],
        "line_items": [],
        "tax_lines": [],
        "shipping_lines": [],
        "fee_lines": [],
        "coupon_lines": [],
        "_stock_reduced": False,
    }
    _apply_payload(store, order, payload)
    calculate_totals(store, order)
    store.put("order", order)
    status = payload.get("status")
    if status and status != "pending":
        # A status given on creation is set before the first save: no transition note.
        set_status(store, order, str(status), note=None)
    if payload.get("set_paid") in (True, "true", "1", 1):
        order["transaction_id"] = str(payload.get("transaction_id") or order["transaction_id"])
        if order["status"] in ("pending", "failed", "on-hold", "checkout-draft"):
            order["date_paid_gmt"] = order.get("date_paid_gmt") or store.now_iso()
            target = "processing" if needs_processing(store, order) else "completed"
            set_status(store, order, target, note="Payment complete.")
    order["date_modified_gmt"] = store.now_iso()
    store.put("order", order)
    store.emit("order", "created", order_id)
    store.emit("order", "updated", order_id)
    return order


def update_order(store: Store, obj: Obj, payload: Obj) -> Obj:
    """PUT /orders/{id}: props, lines (recalculating taxes and totals), then status (so hooks see the new data)."""
    was_trashed = obj.get("status") == "trash"
    recalc, line_changes = _apply_payload(store, obj, payload)
    if recalc:
        calculate_totals(store, obj)
    _adjust_line_stock(store, obj, line_changes)
    for item in obj.get("line_items") or []:
        item.pop("_removed", None)
    status = payload.get("status")
    if status and status != obj.get("status"):
        set_status(store, obj, str(status), note=None if was_trashed else "transition")
    if payload.get("set_paid") in (True, "true", "1", 1) and obj["status"] in ("pending", "failed", "on-hold"):
        if payload.get("transaction_id"):
            obj["transaction_id"] = str(payload["transaction_id"])
        target = "processing" if needs_processing(store, obj) else "completed"
        set_status(store, obj, target, note="Payment complete.")
    obj["date_modified_gmt"] = store.now_iso()
    store.put("order", obj)
    # HPOS fires no update hook for a transition out of the trash.
    if not was_trashed:
        store.emit("order", "updated", int(obj["id"]))
    return obj


def trash_order(store: Store, obj: Obj) -> Obj:
    """Move to the trash (remembering the status, as wp_trash_post does); fires order.deleted only."""
    obj.setdefault("meta_data", []).extend(
        [
            _meta(store, "_wp_trash_meta_status", "wc-" + str(obj.get("status"))),
            _meta(store, "_wp_trash_meta_time", str(int(store.now().replace(tzinfo=UTC).timestamp()))),
        ]
    )
    obj["status"] = "trash"
    obj["date_modified_gmt"] = store.now_iso()
    store.put("order", obj)
    store.emit("order", "deleted", int(obj["id"]))
    return obj


def untrash_order(store: Store, obj: Obj) -> Obj:
    """WC_Order::untrash (wp-admin "Restore"): back to the remembered status; fires order.restored and updated."""
    previous = next((m["value"] for m in obj.get("meta_data") or [] if m.get("key") == "_wp_trash_meta_status"), "")
    obj["meta_data"] = [m for m in obj.get("meta_data") or [] if not str(m.get("key", "")).startswith("_wp_trash")]
    obj["status"] = str(previous).removeprefix("wc-") or "pending"
    obj["date_modified_gmt"] = store.now_iso()
    store.put("order", obj)
    store.emit("order", "restored", int(obj["id"]))
    store.emit("order", "updated", int(obj["id"]))
    return obj


def delete_order(store: Store, obj: Obj) -> None:
    """Permanent delete: the order, its notes and refunds go; no webhook fires."""
    order_id = int(obj["id"])
    store.remove("order", order_id)
    for note in [n for n in store.all("note") if int(n.get("order_id", 0)) == order_id]:
        store.remove("note", int(note["id"]))
    for refund in store.children("refund", order_id):
        store.remove("refund", int(refund["id"]))


# -- rendering ----------------------------------------------------------------------------------------------------


def _allow(user: User | None, *, edit: tuple[str, ...] = ("POST", "PUT", "PATCH"), delete: bool = True) -> list[str]:
    """targetHints.allow: the methods the current user's capabilities allow (all of them outside a request)."""
    allowed = ["GET"]
    if user is None or user.can("posts:edit"):
        allowed += list(edit)
    if delete and (user is None or user.can("posts:delete")):
        allowed.append("DELETE")
    return allowed


def _render_taxes(entries: Iterable[Obj], dp: int) -> list[Obj]:
    return [{"id": t["id"], "total": fmt(t.get("total"), dp), "subtotal": fmt(t.get("subtotal"), dp)} for t in entries]


def _render_item_meta(meta: Iterable[Obj]) -> list[Obj]:
    return [
        {
            "id": m["id"],
            "key": m["key"],
            "value": m["value"],
            "display_key": m.get("display_key", m["key"]),
            "display_value": m.get("display_value", m["value"]),
        }
        for m in meta
    ]


def render_line_item(store: Store, item: Obj, dp: int) -> Obj:
    """A product line (order or refund) in its REST shape."""
    product, variation = _product_of(store, item)
    source = variation or product
    if variation is not None:
        image = variation.get("image") or {}
        image_out: Obj = {"id": image.get("id", 0) if image else 0, "src": image.get("src", "") if image else ""}
    else:
        images = (product or {}).get("images") or []
        image_out = (
            {"id": images[0].get("id", ""), "src": images[0].get("src", "")} if images else {"id": "", "src": ""}
        )
    return {
        "id": item["id"],
        "name": item.get("name", ""),
        "product_id": item.get("product_id", 0),
        "variation_id": item.get("variation_id", 0),
        "quantity": item.get("quantity", 0),
        "tax_class": item.get("tax_class", ""),
        "subtotal": fmt(item.get("subtotal"), dp),
        "subtotal_tax": fmt(item.get("subtotal_tax"), dp),
        "total": fmt(item.get("total"), dp),
        "total_tax": fmt(item.get("total_tax"), dp),
        "taxes": _render_taxes(item.get("taxes") or [], dp),
        "meta_data": _render_item_meta(item.get("meta_data") or []),
        "sku": source.get("sku", "") if source is not None else None,
        "global_unique_id": str(source.get("global_unique_id") or "") if source is not None else "",
        "price": line_price(item.get("total"), item.get("quantity")),
        "image": image_out,
        "parent_name": item.get("parent_name"),
    }


def render_tax_line(line: Obj, dp: int) -> Obj:
    return {
        "id": line["id"],
        "rate_code": line.get("rate_code", ""),
        "rate_id": line.get("rate_id", 0),
        "label": line.get("label", ""),
        "compound": bool(line.get("compound")),
        "tax_total": fmt(line.get("tax_total"), dp),
        "shipping_tax_total": fmt(line.get("shipping_tax_total"), dp),
        "rate_percent": line.get("rate_percent", 0),
        "meta_data": _render_item_meta(line.get("meta_data") or []),
    }


def render_shipping_line(line: Obj, dp: int) -> Obj:
    return {
        "id": line["id"],
        "method_title": line.get("method_title", ""),
        "method_id": line.get("method_id", ""),
        "instance_id": line.get("instance_id", ""),
        "total": fmt(line.get("total"), dp),
        "total_tax": fmt(line.get("total_tax"), dp),
        "taxes": _render_taxes(line.get("taxes") or [], dp),
        "tax_status": line.get("tax_status", "taxable"),
        "meta_data": _render_item_meta(line.get("meta_data") or []),
    }


def render_fee_line(line: Obj, dp: int) -> Obj:
    return {
        "id": line["id"],
        "name": line.get("name", ""),
        "tax_class": line.get("tax_class", ""),
        "tax_status": line.get("tax_status", "taxable"),
        "amount": line.get("amount", ""),
        "total": fmt(line.get("total"), dp),
        "total_tax": fmt(line.get("total_tax"), dp),
        "taxes": _render_taxes(line.get("taxes") or [], dp),
        "meta_data": _render_item_meta(line.get("meta_data") or []),
    }


def _render_coupon_line(line: Obj, dp: int) -> Obj:
    return {
        "id": line["id"],
        "code": line.get("code", ""),
        "discount": line.get("discount", "0"),
        "discount_tax": fmt(line.get("discount_tax"), dp),
        "meta_data": _render_item_meta(line.get("meta_data") or []),
        "discount_type": line.get("discount_type", "fixed_cart"),
        "nominal_amount": line.get("nominal_amount", 0),
        "free_shipping": bool(line.get("free_shipping", False)),
    }


def refunds_of(store: Store, order_id: int) -> list[Obj]:
    """The order's refunds, newest first."""
    found = store.children("refund", order_id)
    found.sort(key=lambda r: (str(r.get("date_created_gmt")), int(r["id"])), reverse=True)
    return found


def total_refunded(store: Store, order_id: int) -> Decimal:
    return sum((dec(r.get("amount")) for r in refunds_of(store, order_id)), Decimal(0))


def refund_tax_total(refund: Obj) -> Decimal:
    lines = [*(refund.get("line_items") or []), *(refund.get("fee_lines") or []), *(refund.get("shipping_lines") or [])]
    return sum((dec(i.get("total_tax")) for i in lines), Decimal(0))


def to_rest(
    store: Store,
    obj: Obj,
    rest_root: str,
    dp: int | None = None,
    *,
    namespace: str = "wc/v3",
    user: User | None = None,
) -> Obj:
    """GET /orders/{id}: the REST representation, field for field in WooCommerce's order."""
    dp = store.settings.decimals if dp is None else dp
    settings = store.settings
    order_id = int(obj["id"])

    def money_field(name: str) -> str:
        return fmt(obj.get(name) or "0", dp)

    billing, shipping = obj.get("billing") or {}, obj.get("shipping") or {}

    data: Obj = {
        "id": order_id,
        "parent_id": obj.get("parent_id", 0),
        "status": obj.get("status"),
        "currency": obj.get("currency"),
        "version": obj.get("version"),
        "prices_include_tax": bool(obj.get("prices_include_tax")),
        "date_created": settings.local(obj.get("date_created_gmt")),
        "date_modified": settings.local(obj.get("date_modified_gmt")),
        "discount_total": money_field("discount_total"),
        "discount_tax": money_field("discount_tax"),
        "shipping_total": money_field("shipping_total"),
        "shipping_tax": money_field("shipping_tax"),
        "cart_tax": money_field("cart_tax"),
        "total": money_field("total"),
        "total_tax": money_field("total_tax"),
        "customer_id": obj.get("customer_id", 0),
        "order_key": obj.get("order_key"),
        "billing": {f: billing.get(f, "") for f in BILLING_FIELDS},
        "shipping": {f: shipping.get(f, "") for f in SHIPPING_FIELDS},
        "payment_method": obj.get("payment_method", ""),
        "payment_method_title": obj.get("payment_method_title", ""),
        "transaction_id": obj.get("transaction_id", ""),
        "customer_ip_address": obj.get("customer_ip_address", ""),
        "customer_user_agent": obj.get("customer_user_agent", ""),
        "created_via": obj.get("created_via", ""),
        "customer_note": obj.get("customer_note", ""),
        "date_completed": settings.local(obj.get("date_completed_gmt")),
        "date_paid": settings.local(obj.get("date_paid_gmt")),
        "cart_hash": obj.get("cart_hash", ""),
        "number": obj.get("number", str(order_id)),
        "meta_data": [{"id": m["id"], "key": m["key"], "value": m["value"]} for m in obj.get("meta_data") or []],
        "line_items": [render_line_item(store, i, dp) for i in obj.get("line_items") or []],
        "tax_lines": [render_tax_line(t, dp) for t in obj.get("tax_lines") or []],
        "shipping_lines": [render_shipping_line(s, dp) for s in obj.get("shipping_lines") or []],
        "fee_lines": [render_fee_line(f, dp) for f in obj.get("fee_lines") or []],
        "coupon_lines": [_render_coupon_line(c, dp) for c in obj.get("coupon_lines") or []],
        "refunds": [
            {
                "id": r["id"],
                "reason": r.get("reason", ""),
                "total": fmt(-dec(r.get("amount")), dp),
                "total_tax": fmt(refund_tax_total(r), dp),
            }
            for r in refunds_of(store, order_id)
        ],
    }
    if namespace != "wc/v2":
        status = str(obj.get("status"))
        needs_payment = status in ("pending", "failed") and dec(obj.get("total")) > 0
        data.update(
            {
                "payment_url": f"{settings.home_url}/checkout/order-pay/{order_id}/"
                f"?pay_for_order=true&key={obj.get('order_key')}",
                "is_editable": status in ("pending", "on-hold", "auto-draft"),
                "needs_payment": needs_payment,
                "needs_processing": needs_processing(store, obj),
            }
        )
    data.update(
        {
            "date_created_gmt": obj.get("date_created_gmt"),
            "date_modified_gmt": obj.get("date_modified_gmt"),
            "date_completed_gmt": obj.get("date_completed_gmt"),
            "date_paid_gmt": obj.get("date_paid_gmt"),
            "currency_symbol": _unescaped(settings.currency_symbol)
            if obj.get("currency") == settings.currency
            else str(obj.get("currency")),
        }
    )
    base = f"{rest_root}{namespace}/orders"
    links: Obj = {
        "self": [{"href": f"{base}/{order_id}", "targetHints": {"allow": _allow(user)}}],
        "collection": [{"href": base}],
    }
    if namespace != "wc/v2":
        links["email_templates"] = [{"embeddable": True, "href": f"{base}/{order_id}/actions/email_templates"}]
    if obj.get("customer_id"):
        links["customer"] = [{"href": f"{rest_root}{namespace}/customers/{obj['customer_id']}"}]
    if obj.get("parent_id"):
        links["up"] = [{"href": f"{base}/{obj['parent_id']}"}]
    data["_links"] = links
    return data


@functools.lru_cache(maxsize=8)  # the store's currency symbol, once per order rendered: a pure function of it
def _unescaped(text: str) -> str:
    return html.unescape(text)


def note_to_rest(store: Store, note: Obj, rest_root: str, namespace: str = "wc/v3", user: User | None = None) -> Obj:
    order_id = int(note["order_id"])
    base = f"{rest_root}{namespace}/orders/{order_id}/notes"
    return {
        "id": note["id"],
        "author": note.get("author", SYSTEM_AUTHOR),
        "date_created": store.settings.local(note.get("date_created_gmt")),
        "date_created_gmt": note.get("date_created_gmt"),
        "note": note.get("note", ""),
        "customer_note": bool(note.get("customer_note")),
        "_links": {
            "self": [{"href": f"{base}/{note['id']}", "targetHints": {"allow": _allow(user, edit=())}}],
            "collection": [{"href": base}],
            "up": [{"href": f"{rest_root}{namespace}/orders/{order_id}"}],
        },
    }


# -- list filtering -----------------------------------------------------------------------------------------------


def _param_time(store: Store, value: Any, gmt: bool) -> str:
    """A date filter as naive UTC: the offset in the value is ignored; without dates_are_gmt it is site-local."""
    text = str(value).strip().replace(" ", "T")
    text = text[:19]
    moment = datetime.fromisoformat(text)
    if not gmt:
        moment = store.settings.to_gmt(moment)
    return moment.strftime("%Y-%m-%dT%H:%M:%S")


def _id_list(value: Any) -> list[int]:
    if value in (None, ""):
        return []
    items = value if isinstance(value, list) else str(value).split(",")
    return [int(v) for v in items if str(v).strip().lstrip("-").isdigit()]


def _matches_search(store: Store, order: Obj, term: str) -> bool:
    term = term.lower()
    if term.isdigit() and int(term) == int(order["id"]):
        return True
    haystack = [
        *(str(v) for v in (order.get("billing") or {}).values()),
        *(str(v) for v in (order.get("shipping") or {}).values()),
        *(str(i.get("name", "")) for i in order.get("line_items") or []),
        str(order.get("number", "")),
    ]
    return any(term in text.lower() for text in haystack)


def _order_tests(store: Store, params: Obj) -> list[Callable[[Obj], bool]]:
    """The filters a list request uses besides status, each built once per request (ids parsed, dates converted).

    Only the parameters the request gives become tests: a full sync pages through the whole store with none of
    them, and checking every parameter on every order of every page was most of a list request's cost."""
    gmt = bool(params.get("dates_are_gmt"))
    tests: list[Callable[[Obj], bool]] = []
    include = set(_id_list(params.get("include")))
    if include:
        tests.append(lambda order: int(order["id"]) in include)
    exclude = set(_id_list(params.get("exclude")))
    if exclude:
        tests.append(lambda order: int(order["id"]) not in exclude)
    parents = set(_id_list(params.get("parent")))
    if parents:
        tests.append(lambda order: int(order.get("parent_id") or 0) in parents)
    parent_exclude = set(_id_list(params.get("parent_exclude")))
    if parent_exclude:
        tests.append(lambda order: int(order.get("parent_id") or 0) not in parent_exclude)
    if params.get("customer") not in (None, ""):
        customer = int(params["customer"])
        tests.append(lambda order: int(order.get("customer_id") or 0) == customer)
    if params.get("product") not in (None, ""):
        product = int(params["product"])
        tests.append(
            lambda order: any(
                product in (i.get("product_id"), i.get("variation_id")) for i in order.get("line_items") or []
            )
        )
    for name, field, after in _DATE_BOUNDS:
        if params.get(name):
            tests.append(_date_bound(field, _param_time(store, params[name], gmt), after))
    if params.get("search"):
        term = str(params["search"])
        tests.append(lambda order: _matches_search(store, order, term))
    return tests


# A date filter: (parameter, the stored date it bounds, whether it is a lower bound). Both bounds are exclusive.
_DATE_BOUNDS = (
    ("after", "date_created_gmt", True),
    ("before", "date_created_gmt", False),
    ("modified_after", "date_modified_gmt", True),
    ("modified_before", "date_modified_gmt", False),
)


def _date_bound(field: str, bound: str, after: bool) -> Callable[[Obj], bool]:
    if after:
        return lambda order: str(order[field]) > bound
    return lambda order: str(order[field]) < bound


_ID = operator.itemgetter("id")


def _sort_orders(orders: list[Obj], field: str | None, descending: bool) -> None:
    """Sort in place by (str(order[field]), int(order["id"])), or by ID alone without a field.

    A full sync sorts the whole store once per page, and a Python key call per order per page cost as much as
    the rest of the request. So C key functions do it, in two stable passes: by ID, then by the field. That is
    the same order as the tuple key (ties on the field keep their ID order, also reversed: Python's sort stays
    stable with reverse=True). Stored orders have int ids and ISO string dates (create_order writes them so),
    for which int() and str() change nothing; a value of another type that cannot be compared with the others
    (a date None) falls back to converting per order. Any order the fallback starts from gives the same result,
    as no two orders share an ID."""
    try:
        orders.sort(key=_ID, reverse=descending)
        if field is not None:
            orders.sort(key=operator.itemgetter(field), reverse=descending)
    except TypeError:
        if field is None:
            orders.sort(key=lambda order: int(order["id"]), reverse=descending)
        else:
            orders.sort(key=lambda order: (str(order[field]), int(order["id"])), reverse=descending)


def query_orders(store: Store, params: Obj) -> list[Obj]:
    """The orders a list request selects, in the requested order (ties broken by ID, as WooCommerce adds it)."""
    statuses = {str(s) for s in params.get("status") or ["any"]}
    if "any" in statuses:
        # `any` is every status but the ones it leaves out, unless the request names them too.
        hidden = NOT_IN_ANY - statuses
        result = [order for order in store.all("order") if str(order.get("status")) not in hidden]
    else:
        result = [order for order in store.all("order") if str(order.get("status")) in statuses]
    for test in _order_tests(store, params):
        result = [order for order in result if test(order)]
    orderby = str(params.get("orderby") or "date")
    descending = str(params.get("order") or "desc").lower() == "desc"
    include = _id_list(params.get("include"))
    if orderby == "include" and include:
        position = {order_id: index for index, order_id in enumerate(include)}
        result.sort(key=lambda o: position.get(int(o["id"]), len(position)))
    elif orderby in ("title", "slug"):
        result.sort(key=lambda o: (str(o.get("number")), int(o["id"])), reverse=descending)
    else:
        field = {"modified": "date_modified_gmt", "id": None}.get(orderby, "date_created_gmt")
        _sort_orders(result, field, descending)
    return result


# -- controllers --------------------------------------------------------------------------------------------------


def _dp(call: Call) -> int:
    value = call.params.get("dp")
    return int(value) if value not in (None, "") else call.store.settings.decimals


def _find_order(call: Call, status: int = 404, key: str = "id") -> Obj:
    order = get_order(call.store, call.int_param(key))
    if order is None:
        raise RestError("woocommerce_rest_shop_order_invalid_id", "Invalid ID.", {"status": status})
    return order


def _render(call: Call, order: Obj) -> Obj:
    return to_rest(call.store, order, call.rest_root, _dp(call), namespace=call.namespace, user=call.user)


def list_orders(call: Call) -> Reply:
    store = call.store
    orders = query_orders(store, call.params)
    per_page = int(call.params.get("per_page", 10))
    page = int(call.params.get("page", 1))
    pages = -(-len(orders) // per_page)
    given = {k.split("[", 1)[0] for k, _ in call.query_pairs}
    # WooCommerce's links repeat the request with the defaults it filled in; past the end only status remains.
    defaults = [("status[0]", "any")] if "status" not in given else []
    if page <= pages or call.params.get("offset") not in (None, ""):
        if "dp" not in given:
            defaults.append(("dp", str(store.settings.decimals)))
        if "context" not in given:
            defaults.append(("context", "view"))
    chunk, headers = paginate(call, orders, link_defaults=defaults, total_if_beyond=0)
    return Reply([_render(call, o) for o in chunk], headers=headers)


def get_order_endpoint(call: Call) -> Reply:
    return Reply(_render(call, _find_order(call)))


def create_order_endpoint(call: Call) -> Reply:
    if call.params.get("id"):
        raise RestError("woocommerce_rest_shop_order_exists", "Cannot create existing shop_order.", {"status": 400})
    order = create_order(call.store, _body(call))
    location = call.rest_url(f"/{call.namespace}/orders/{order['id']}")
    return Reply(_render(call, order), 201, [("Location", location)])


def update_order_endpoint(call: Call) -> Reply:
    order = _find_order(call, status=400)
    return Reply(_render(call, update_order(call.store, order, _body(call))))


def delete_order_endpoint(call: Call) -> Reply:
    order = _find_order(call)
    force = bool(call.params.get("force"))
    # The response is the order as it was before deletion (edit context).
    previous = _render(call, order)
    if force:
        delete_order(call.store, order)
        return Reply(previous)
    if order.get("status") == "trash":
        raise RestError("woocommerce_rest_already_trashed", "The shop_order has already been deleted.", {"status": 410})
    trash_order(call.store, order)
    return Reply(previous)


def _body(call: Call) -> Obj:
    """The request's fields (query string, form or JSON body), without the URL's id."""
    payload = {k: v for k, v in call.params.items() if k not in ("id",)}
    return payload


def _batch_error(error: RestError, item_id: int) -> Obj:
    return {"id": item_id, "error": {"code": error.code, "message": error.message, "data": error.data}}


def batch_orders(call: Call) -> Reply:
    store = call.store
    body = call.body_dict() or {k: v for k, v in call.params.items() if k in ("create", "update", "delete")}
    limit = store.settings.batch_limit
    actions = {k: body.get(k) for k in ("create", "update", "delete") if isinstance(body.get(k), list)}
    if sum(len(v or []) for v in actions.values()) > limit:
        raise RestError(
            "woocommerce_rest_request_entity_too_large",
            f"Unable to accept more than {limit} items for this request.",
            {"status": 413},
        )
    result: Obj = {}
    if "create" in actions:
        created = []
        for payload in actions["create"] or []:
            try:
                created.append(_render(call, create_order(store, payload if isinstance(payload, dict) else {})))
            except RestError as error:
                created.append(_batch_error(error, 0))
        result["create"] = created
    if "update" in actions:
        updated = []
        for payload in actions["update"] or []:
            payload = payload if isinstance(payload, dict) else {}
            item_id = int(payload.get("id") or 0)
            try:
                order = get_order(store, item_id)
                if order is None:
                    raise RestError("woocommerce_rest_shop_order_invalid_id", "Invalid ID.", {"status": 400})
                updated.append(_render(call, update_order(store, order, payload)))
            except RestError as error:
                updated.append(_batch_error(error, item_id))
        result["update"] = updated
    if "delete" in actions:
        deleted = []
        for raw in actions["delete"] or []:
            item_id = int(raw.get("id", 0) if isinstance(raw, dict) else raw or 0)
            if not item_id:
                continue
            order = get_order(store, item_id)
            if order is None:
                deleted.append(
                    _batch_error(
                        RestError("woocommerce_rest_shop_order_invalid_id", "Invalid ID.", {"status": 404}), item_id
                    )
                )
                continue
            previous = _render(call, order)
            delete_order(store, order)
            deleted.append(previous)
        result["delete"] = deleted
    # PHP encodes an empty array as [].
    return Reply(result or [])


# -- notes controllers --------------------------------------------------------------------------------------------


def _order_for_notes(call: Call) -> Obj:
    order = get_order(call.store, call.int_param("order_id"))
    if order is None:
        raise RestError("woocommerce_rest_shop_order_invalid_id", "Invalid order ID.", {"status": 404})
    return order


def _find_note(call: Call, order: Obj) -> Obj:
    note = call.store.get("note", call.int_param("id"))
    if note is None or int(note.get("order_id", 0)) != int(order["id"]):
        raise RestError("woocommerce_rest_invalid_id", "Invalid resource ID.", {"status": 404})
    return note


def list_notes(call: Call) -> Reply:
    order = _order_for_notes(call)
    kind = str(call.params.get("type") or "any")
    notes = notes_of(call.store, int(order["id"]))
    if kind == "customer":
        notes = [n for n in notes if n.get("customer_note")]
    elif kind == "internal":
        notes = [n for n in notes if not n.get("customer_note")]
    return Reply([note_to_rest(call.store, n, call.rest_root, call.namespace, call.user) for n in notes])


def get_note(call: Call) -> Reply:
    order = _order_for_notes(call)
    return Reply(note_to_rest(call.store, _find_note(call, order), call.rest_root, call.namespace, call.user))


def create_note(call: Call) -> Reply:
    order = _order_for_notes(call)
    text = str(call.params.get("note") or "")
    if not text:
        raise RestError(
            "woocommerce_rest_invalid_order_note", "Cannot create order note, please try again.", {"status": 500}
        )
    author = SYSTEM_AUTHOR
    if call.params.get("added_by_user") and call.user is not None:
        author = call.user.login
    note = add_note(
        call.store, int(order["id"]), text, customer_note=bool(call.params.get("customer_note")), author=author
    )
    location = call.rest_url(f"/{call.namespace}/orders/{order['id']}/notes/{note['id']}")
    body = note_to_rest(call.store, note, call.rest_root, call.namespace, call.user)
    return Reply(body, 201, [("Location", location)])


def delete_note(call: Call) -> Reply:
    order = _order_for_notes(call)
    note = _find_note(call, order)
    if not call.params.get("force"):
        # WooCommerce's message really says "Webhooks" here (copied from the webhooks controller).
        raise RestError("woocommerce_rest_trash_not_supported", "Webhooks do not support trashing.", {"status": 501})
    previous = note_to_rest(call.store, note, call.rest_root, call.namespace, call.user)
    call.store.remove("note", int(note["id"]))
    return Reply(previous)


# -- routes -------------------------------------------------------------------------------------------------------


def list_args() -> dict[str, Arg]:
    return {
        **collection_args(orderby_enum=("date", "id", "include", "title", "slug", "modified")),
        **date_filter_args(),
        "parent": Arg("array"),
        "parent_exclude": Arg("array"),
        "customer": Arg("integer"),
        "product": Arg("integer"),
        "dp": Arg("integer"),
    }


_ORDER_LIST_ARGS = {**list_args(), "status": Arg("array", enum=LIST_STATUSES)}
_ORDER_WRITE_ARGS = {
    "status": Arg("string", enum=WRITE_STATUSES),
    "customer_id": Arg("integer"),
    "parent_id": Arg("integer"),
    "set_paid": Arg("boolean"),
    "billing": Arg("object"),
    "shipping": Arg("object"),
    "dp": Arg("integer"),
}


def register(router: Router) -> None:
    from woobridge.sandbox import refunds

    router.add(
        NAMESPACES,
        "/orders",
        Endpoint(READABLE, list_orders, needs("posts", "list"), _ORDER_LIST_ARGS),
        Endpoint(CREATABLE, create_order_endpoint, needs("posts", "create"), _ORDER_WRITE_ARGS),
    )
    router.add(
        NAMESPACES,
        "/orders/batch",
        Endpoint(EDITABLE, batch_orders, needs("posts", "batch")),
    )
    router.add(
        NAMESPACES,
        r"/orders/(?P<id>[\d]+)",
        Endpoint(READABLE, get_order_endpoint, needs("posts", "read"), {"dp": Arg("integer")}),
        Endpoint(EDITABLE, update_order_endpoint, needs("posts", "edit"), _ORDER_WRITE_ARGS),
        Endpoint(DELETABLE, delete_order_endpoint, needs("posts", "delete"), {"force": Arg("boolean", default=False)}),
    )
    router.add(
        NAMESPACES,
        r"/orders/(?P<order_id>[\d]+)/notes",
        Endpoint(
            READABLE,
            list_notes,
            needs("posts", "list"),
            {"type": Arg("string", default="any", enum=("any", "customer", "internal"))},
        ),
        Endpoint(
            CREATABLE,
            create_note,
            needs("posts", "create"),
            {"note": Arg("string", required=True), "customer_note": Arg("boolean"), "added_by_user": Arg("boolean")},
        ),
    )
    router.add(
        NAMESPACES,
        r"/orders/(?P<order_id>[\d]+)/notes/(?P<id>[\d]+)",
        Endpoint(READABLE, get_note, needs("posts", "read")),
        Endpoint(DELETABLE, delete_note, needs("posts", "delete"), {"force": Arg("boolean", default=False)}),
    )
    refunds.register(router)


# Exposed for refunds and other modules.
__all__ = [
    "add_note",
    "calculate_totals",
    "create_order",
    "dec",
    "fmt",
    "get_order",
    "to_rest",
    "update_order",
]
