"""Mapping a WooCommerce order (REST v3 JSON) to the ERP-neutral ``SalesOrder``: pure functions, no I/O.

What WooCommerce's JSON looks like, and what these functions make of it (facts from a live WooCommerce 11 store,
see shared/woocommerce/real-data/README.md):

* Money comes as decimal strings formatted to the store's decimals ("9.3" and "5" for coupon discounts), sometimes
  as JSON numbers (``line_items[].price`` with float artefacts, which is why it is never used). Every amount
  becomes a ``Decimal`` from its text; a float is read through ``repr`` so ``16.99`` stays ``16.99``.
* Line totals are net of tax even when ``prices_include_tax`` is true; the flag is carried for the ERP's information.
  ``subtotal`` is before coupons, ``total`` after: the line's discount is their difference.
* ``taxes[]`` of a line, a shipping line or a fee names the rate by id only; the order's ``tax_lines`` give the
  rate's code, label, percentage and whether it is compound.
* A variation line has ``variation_id`` and its attributes in ``meta_data`` (``pa_size`` → display "Size": "M");
  keys starting with ``_`` are WooCommerce's own (``_reduced_stock``) and are not attributes.
* A guest order has ``customer_id`` 0: the buyer is known by the (normalised) billing e-mail.
* WooCommerce's ``total`` can differ from the sum of its rounded lines by a cent (tax rounded at subtotal level).
  The document keeps the store's total and states the difference as ``rounding_adjustment``.

An order these functions cannot read raises :class:`OrderUnreadable` with the reason; the flow records it as a
record error (with the payload) and goes on.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import ValidationError

from woobridge.documents import (
    ZERO,
    Address,
    CouponLine,
    CustomerRef,
    FeeLine,
    SalesOrder,
    SalesOrderLine,
    ShippingLine,
    TaxAmount,
)

# A unit price is subtotal ÷ quantity: keep enough places for the ERP to multiply back to the subtotal.
UNIT_PRICE_PLACES = Decimal("0.000001")
_COUNTRY = re.compile(r"[A-Z]{2}")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+")


class OrderUnreadable(ValueError):
    """The store's order cannot be turned into a document: ``reason`` says what is wrong with it and where."""

    def __init__(self, reason: str, *, order_id: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.order_id = order_id


# -- reading values -----------------------------------------------------------------------------------------------


def money(value: Any, where: str) -> Decimal:
    """A WooCommerce amount ("12.50", "5", "", 16.99, 25) as a Decimal; "" and None are zero."""
    if value is None or value == "":
        return ZERO
    if isinstance(value, bool):
        raise OrderUnreadable(f"{where}: expected an amount, got {value!r}")
    if isinstance(value, float):
        value = repr(value)
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise OrderUnreadable(f"{where}: {value!r} is not an amount") from None
    if not amount.is_finite():
        raise OrderUnreadable(f"{where}: {value!r} is not an amount")
    return amount


def quantity(value: Any, where: str) -> Decimal:
    amount = money(value, where)
    if amount <= 0:
        raise OrderUnreadable(f"{where}: quantity must be positive, got {value!r}")
    return amount


def whole_number(value: Any, where: str, *, default: int | None = None) -> int:
    if value in (None, "") and default is not None:
        return default
    if isinstance(value, bool):
        raise OrderUnreadable(f"{where}: expected a number, got {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    raise OrderUnreadable(f"{where}: expected a whole number, got {value!r}")


def text(value: Any) -> str:
    """A text field; WooCommerce sends null for some empty ones."""
    return "" if value is None else str(value)


def gmt_datetime(value: Any, where: str) -> datetime:
    """A ``*_gmt`` field ("2026-11-27T19:16:16", naive UTC) as an aware UTC datetime."""
    if not isinstance(value, str) or not value:
        raise OrderUnreadable(f"{where}: expected a date, got {value!r}")
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise OrderUnreadable(f"{where}: {value!r} is not a date") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def optional_gmt_datetime(value: Any, where: str) -> datetime | None:
    return None if value in (None, "") else gmt_datetime(value, where)


def _object(value: Any, where: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise OrderUnreadable(f"{where}: expected an object, got {type(value).__name__}")
    return value


def _list(value: Any, where: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise OrderUnreadable(f"{where}: expected a list, got {type(value).__name__}")
    return value


# -- parts of an order ---------------------------------------------------------------------------------------------


def tax_rates(order: Mapping[str, Any]) -> dict[int, Mapping[str, Any]]:
    """The order's ``tax_lines`` by rate id: code, label, percentage, compound."""
    rates: dict[int, Mapping[str, Any]] = {}
    for index, line in enumerate(_list(order.get("tax_lines"), "tax_lines")):
        line = _object(line, f"tax_lines[{index}]")
        rates[whole_number(line.get("rate_id"), f"tax_lines[{index}].rate_id")] = line
    return rates


def line_taxes(taxes: Any, rates: Mapping[int, Mapping[str, Any]], where: str) -> tuple[TaxAmount, ...]:
    """A line's ``taxes[]`` ({id, total, subtotal}) as one TaxAmount per rate, described from ``tax_lines``.

    An entry whose total is empty is a rate that applied before coupons only; it carries no tax and is left out.
    """
    found = []
    for index, entry in enumerate(_list(taxes, where)):
        entry = _object(entry, f"{where}[{index}]")
        if entry.get("total") in (None, ""):
            continue
        rate_id = whole_number(entry.get("id"), f"{where}[{index}].id")
        rate = rates.get(rate_id, {})
        percent = rate.get("rate_percent")
        found.append(
            TaxAmount(
                rate_id=rate_id,
                rate_code=text(rate.get("rate_code")),
                label=text(rate.get("label")),
                rate_percent=None if percent in (None, "") else money(percent, f"tax rate {rate_id} rate_percent"),
                compound=bool(rate.get("compound", False)),
                amount=money(entry.get("total"), f"{where}[{index}].total"),
            )
        )
    return tuple(found)


def variation_attributes(line: Mapping[str, Any]) -> dict[str, str]:
    """A variation line's attributes as the buyer saw them ({"Size": "M", "Color": "Blue"}); none for other lines.

    WooCommerce stores them as line meta (``pa_size`` for global attributes, the plain name for local ones);
    meta keys starting with ``_`` are WooCommerce's own bookkeeping.
    """
    if not line.get("variation_id"):
        return {}
    attributes: dict[str, str] = {}
    for meta in _list(line.get("meta_data"), "line meta_data"):
        if not isinstance(meta, Mapping):
            continue
        key = text(meta.get("key"))
        value = meta.get("display_value", meta.get("value"))
        if not key or key.startswith("_") or isinstance(value, Mapping | list):
            continue
        attributes[text(meta.get("display_key")) or key] = text(value)
    return attributes


def sales_order_line(line: Mapping[str, Any], rates: Mapping[int, Mapping[str, Any]], where: str) -> SalesOrderLine:
    count = quantity(line.get("quantity"), f"{where}.quantity")
    subtotal = money(line.get("subtotal"), f"{where}.subtotal")
    total = money(line.get("total"), f"{where}.total")
    return SalesOrderLine(
        store_line_id=whole_number(line.get("id"), f"{where}.id"),
        sku=text(line.get("sku")).strip(),
        store_product_id=whole_number(line.get("product_id"), f"{where}.product_id", default=0),
        store_variation_id=whole_number(line.get("variation_id"), f"{where}.variation_id", default=0),
        name=text(line.get("name")),
        quantity=count,
        unit_price=(subtotal / count).quantize(UNIT_PRICE_PLACES),
        subtotal=subtotal,
        discount=subtotal - total,
        total=total,
        tax_total=money(line.get("total_tax"), f"{where}.total_tax"),
        taxes=line_taxes(line.get("taxes"), rates, f"{where}.taxes"),
        attributes=variation_attributes(line),
    )


def shipping_line(line: Mapping[str, Any], rates: Mapping[int, Mapping[str, Any]], where: str) -> ShippingLine:
    return ShippingLine(
        store_line_id=whole_number(line.get("id"), f"{where}.id"),
        method_id=text(line.get("method_id")),
        method_title=text(line.get("method_title")),
        total=money(line.get("total"), f"{where}.total"),
        tax_total=money(line.get("total_tax"), f"{where}.total_tax"),
        taxes=line_taxes(line.get("taxes"), rates, f"{where}.taxes"),
    )


def fee_line(line: Mapping[str, Any], rates: Mapping[int, Mapping[str, Any]], where: str) -> FeeLine:
    return FeeLine(
        store_line_id=whole_number(line.get("id"), f"{where}.id"),
        name=text(line.get("name")),
        total=money(line.get("total"), f"{where}.total"),
        tax_total=money(line.get("total_tax"), f"{where}.total_tax"),
        taxes=line_taxes(line.get("taxes"), rates, f"{where}.taxes"),
    )


def coupon_line(line: Mapping[str, Any], where: str) -> CouponLine:
    return CouponLine(
        code=text(line.get("code")),
        discount=money(line.get("discount"), f"{where}.discount"),
        discount_tax=money(line.get("discount_tax"), f"{where}.discount_tax"),
    )


def address(value: Any, where: str) -> Address:
    """A billing or shipping address. Refused (``OrderUnreadable``) when its country is not an ISO 3166-1 alpha-2
    code or its e-mail is not an address: the ERP could not ship to or invoice it."""
    fields = _object(value, where)
    known = {name: text(fields.get(name)).strip() for name in Address.model_fields if name in fields}
    country = known.get("country", "")
    if country and not _COUNTRY.fullmatch(country.upper()):
        raise OrderUnreadable(f"invalid address: {where}.country {country!r} is not a two-letter ISO country code")
    if country:
        known["country"] = country.upper()
    email = known.get("email", "")
    if email and not _EMAIL.fullmatch(email):
        raise OrderUnreadable(f"invalid address: {where}.email {email!r} is not an e-mail address")
    return Address(**known)


def customer_ref(order: Mapping[str, Any], billing: Address) -> CustomerRef:
    """The buyer: a registered customer by id, or a guest (customer_id 0) by normalised billing e-mail."""
    name = " ".join(part for part in (billing.first_name, billing.last_name) if part) or billing.company
    return CustomerRef(
        store_customer_id=whole_number(order.get("customer_id"), "customer_id", default=0),
        email=billing.email,
        name=name,
    )


def lines_sum(document: SalesOrder) -> Decimal:
    """What the document's lines add up to, tax included (before any rounding adjustment)."""
    return (
        sum((line.total + line.tax_total for line in document.lines), ZERO)
        + sum((line.total + line.tax_total for line in document.shipping_lines), ZERO)
        + sum((fee.total + fee.tax_total for fee in document.fees), ZERO)
    )


# -- the order -------------------------------------------------------------------------------------------------------


def to_sales_order(order: Any) -> SalesOrder:
    """A WooCommerce order (the REST JSON object) as a SalesOrder whose ``total`` equals the store's total.

    Raises :class:`OrderUnreadable` when the order is not an object, misses what identifies it, or holds values
    that are not what WooCommerce sends (an amount that is not a number, an address in no known country…).
    """
    if not isinstance(order, Mapping):
        raise OrderUnreadable(f"expected an order object, got {type(order).__name__}")
    order_id = order.get("id")
    if not isinstance(order_id, int) or isinstance(order_id, bool) or order_id <= 0:
        raise OrderUnreadable(f"the order has no valid id ({order_id!r})")
    try:
        return _to_sales_order(order, order_id)
    except OrderUnreadable as error:
        error.order_id = order_id
        raise
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in problem['loc'])}: {problem['msg']}" for problem in error.errors()[:5]
        )
        raise OrderUnreadable(
            f"order {order_id} does not make a valid document: {problems}", order_id=order_id
        ) from None


def _to_sales_order(order: Mapping[str, Any], order_id: int) -> SalesOrder:
    rates = tax_rates(order)
    billing = address(order.get("billing"), "billing")
    shipping = address(order.get("shipping"), "shipping")
    currency = text(order.get("currency")).strip().upper()
    if not currency:
        raise OrderUnreadable("the order has no currency")
    lines = tuple(
        sales_order_line(_object(line, f"line_items[{i}]"), rates, f"line_items[{i}]")
        for i, line in enumerate(_list(order.get("line_items"), "line_items"))
    )
    shipping_lines = tuple(
        shipping_line(_object(line, f"shipping_lines[{i}]"), rates, f"shipping_lines[{i}]")
        for i, line in enumerate(_list(order.get("shipping_lines"), "shipping_lines"))
    )
    fees = tuple(
        fee_line(_object(line, f"fee_lines[{i}]"), rates, f"fee_lines[{i}]")
        for i, line in enumerate(_list(order.get("fee_lines"), "fee_lines"))
    )
    coupons = tuple(
        coupon_line(_object(line, f"coupon_lines[{i}]"), f"coupon_lines[{i}]")
        for i, line in enumerate(_list(order.get("coupon_lines"), "coupon_lines"))
    )
    total = money(order.get("total"), "total")
    document = SalesOrder(
        store_order_id=order_id,
        number=text(order.get("number")) or str(order_id),
        status=text(order.get("status")),
        currency=currency,
        created_at=gmt_datetime(order.get("date_created_gmt"), "date_created_gmt"),
        modified_at=gmt_datetime(order.get("date_modified_gmt") or order.get("date_created_gmt"), "date_modified_gmt"),
        paid_at=optional_gmt_datetime(order.get("date_paid_gmt"), "date_paid_gmt"),
        customer=customer_ref(order, billing),
        billing=billing,
        shipping=shipping,
        payment_method=text(order.get("payment_method")),
        payment_method_title=text(order.get("payment_method_title")),
        transaction_id=text(order.get("transaction_id")),
        prices_include_tax=bool(order.get("prices_include_tax", False)),
        customer_note=text(order.get("customer_note")),
        lines=lines,
        shipping_lines=shipping_lines,
        fees=fees,
        coupons=coupons,
        discount_total=money(order.get("discount_total"), "discount_total"),
        shipping_total=money(order.get("shipping_total"), "shipping_total"),
        total_tax=money(order.get("total_tax"), "total_tax"),
        total=total,
    )
    adjustment = total - lines_sum(document)
    return document.model_copy(update={"rounding_adjustment": adjustment}) if adjustment else document
