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
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import ValidationError

from woobridge.documents import ZERO, Address, SalesOrder

# A unit price is subtotal ÷ quantity: keep enough places for the ERP to multiply back to the subtotal.
UNIT_PRICE_PLACES = Decimal("0.000001")
_COUNTRY = re.compile(r"[A-Z]{2}")
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+")
# Read once: pydantic builds the model's field table anew on every ``Address.model_fields``.
_ADDRESS_FIELDS = tuple(Address.model_fields)


class OrderUnreadable(ValueError):
    """The store's order cannot be turned into a document: ``reason`` says what is wrong with it and where."""

    def __init__(self, reason: str, *, order_id: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.order_id = order_id


# -- reading values -----------------------------------------------------------------------------------------------


def _at(where: str, field: str) -> str:
    """Where a value is, for a message: ``where`` (e.g. "line_items[2]") and its ``field`` in there, if any.

    The value readers take both and join them only to say what is wrong: formatting every field's place up front
    cost more than reading most values."""
    return f"{where}.{field}" if field else where


def money(value: Any, where: str, field: str = "") -> Decimal:
    """A WooCommerce amount ("12.50", "5", "", 16.99, 25) as a Decimal; "" and None are zero."""
    # Nearly every amount is a decimal string: it is tested first (this runs some twenty times an order).
    if isinstance(value, str):
        if not value:
            return ZERO
        written = value  # as it is: Decimal() ignores blanks around the number
    elif value is None:
        return ZERO
    elif isinstance(value, bool):
        raise OrderUnreadable(f"{_at(where, field)}: expected an amount, got {value!r}")
    else:
        if isinstance(value, float):
            value = repr(value)
        written = str(value).strip()
    try:
        amount = Decimal(written)
    except InvalidOperation:
        raise OrderUnreadable(f"{_at(where, field)}: {value!r} is not an amount") from None
    if not amount.is_finite():
        raise OrderUnreadable(f"{_at(where, field)}: {value!r} is not an amount")
    return amount


def quantity(value: Any, where: str, field: str = "") -> Decimal:
    amount = money(value, where, field)
    if amount <= 0:
        raise OrderUnreadable(f"{_at(where, field)}: quantity must be positive, got {value!r}")
    return amount


def whole_number(value: Any, where: str, field: str = "", *, default: int | None = None) -> int:
    if value in (None, "") and default is not None:
        return default
    if isinstance(value, bool):
        raise OrderUnreadable(f"{_at(where, field)}: expected a number, got {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    raise OrderUnreadable(f"{_at(where, field)}: expected a whole number, got {value!r}")


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
    if moment.tzinfo is None:
        # The same date and time of day, in UTC (replace(tzinfo=UTC) parses keyword arguments, which costs several
        # times as much: three dates an order).
        return datetime.combine(moment.date(), moment.time(), UTC)
    return moment.astimezone(UTC)


def optional_gmt_datetime(value: Any, where: str) -> datetime | None:
    return None if value in (None, "") else gmt_datetime(value, where)


def is_object(value: Any) -> bool:
    """Whether a JSON value is an object. A dict, what JSON gives, is tested first: it spares the Mapping check, an
    abstract class's (several times slower), which would run some ten times an order."""
    return type(value) is dict or isinstance(value, Mapping)


def _object(value: Any, where: str) -> Mapping[str, Any]:
    if type(value) is dict:  # what JSON gives (see is_object)
        return value
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


def _items(order: Mapping[str, Any], name: str) -> Iterator[tuple[Mapping[str, Any], str]]:
    """The objects of one of the order's lists (``line_items``…), each with where it is ("line_items[2]")."""
    for index, item in enumerate(_list(order.get(name), name)):
        where = f"{name}[{index}]"
        yield _object(item, where), where


# -- parts of an order ---------------------------------------------------------------------------------------------
#
# Each part is read into the plain fields of its document (a dict), and the whole order is validated once, as one
# SalesOrder, at the end: the same document as validating each line, tax and address as a model of its own, which
# made some nine validations an order, each with its own Python call and overhead.

Fields = dict[str, Any]


class TaxRates:
    """The order's ``tax_lines`` by rate id (code, label, percentage, compound), each described once for the lines
    that name it: an order's lines usually share one or two rates."""

    def __init__(self, order: Mapping[str, Any]) -> None:
        self.lines: dict[int, Mapping[str, Any]] = {}
        for line, where in _items(order, "tax_lines"):
            self.lines[whole_number(line.get("rate_id"), where, "rate_id")] = line
        self._described: dict[int, Fields] = {}

    def describe(self, rate_id: int) -> Fields:
        """What a TaxAmount says of the rate besides its amount (a rate missing from ``tax_lines`` has no code)."""
        described = self._described.get(rate_id)
        if described is None:
            rate = self.lines.get(rate_id, {})
            percent = rate.get("rate_percent")
            described = {
                "rate_code": text(rate.get("rate_code")),
                "label": text(rate.get("label")),
                "rate_percent": None if percent in (None, "") else money(percent, f"tax rate {rate_id} rate_percent"),
                "compound": bool(rate.get("compound", False)),
            }
            self._described[rate_id] = described
        return described


def tax_rates(order: Mapping[str, Any]) -> dict[int, Mapping[str, Any]]:
    """The order's ``tax_lines`` by rate id: code, label, percentage, compound."""
    return TaxRates(order).lines


def line_taxes(taxes: Any, rates: TaxRates, where: str) -> list[Fields]:
    """A line's ``taxes[]`` ({id, total, subtotal}) as the fields of one TaxAmount per rate, described from
    ``tax_lines``.

    An entry whose total is empty is a rate that applied before coupons only; it carries no tax and is left out.
    """
    found = []
    for index, entry in enumerate(_list(taxes, where)):
        entry_where = f"{where}[{index}]"
        entry = _object(entry, entry_where)
        if entry.get("total") in (None, ""):
            continue
        rate_id = whole_number(entry.get("id"), entry_where, "id")
        found.append(
            {"rate_id": rate_id, **rates.describe(rate_id), "amount": money(entry.get("total"), entry_where, "total")}
        )
    return found


def variation_attributes(line: Mapping[str, Any]) -> dict[str, str]:
    """A variation line's attributes as the buyer saw them ({"Size": "M", "Color": "Blue"}); none for other lines.

    WooCommerce stores them as line meta (``pa_size`` for global attributes, the plain name for local ones);
    meta keys starting with ``_`` are WooCommerce's own bookkeeping.
    """
    if not line.get("variation_id"):
        return {}
    attributes: dict[str, str] = {}
    for meta in _list(line.get("meta_data"), "line meta_data"):
        if not is_object(meta):
            continue
        key = text(meta.get("key"))
        value = meta.get("display_value", meta.get("value"))
        if not key or key.startswith("_"):
            continue
        if type(value) is not str and (isinstance(value, list) or is_object(value)):  # not a value: a structure
            continue
        attributes[text(meta.get("display_key")) or key] = text(value)
    return attributes


def sales_order_line(line: Mapping[str, Any], rates: TaxRates, where: str) -> Fields:
    """The fields of a SalesOrderLine."""
    count = quantity(line.get("quantity"), where, "quantity")
    subtotal = money(line.get("subtotal"), where, "subtotal")
    total = money(line.get("total"), where, "total")
    return {
        "store_line_id": whole_number(line.get("id"), where, "id"),
        "sku": text(line.get("sku")).strip(),
        "store_product_id": whole_number(line.get("product_id"), where, "product_id", default=0),
        "store_variation_id": whole_number(line.get("variation_id"), where, "variation_id", default=0),
        "name": text(line.get("name")),
        "quantity": count,
        "unit_price": (subtotal / count).quantize(UNIT_PRICE_PLACES),
        "subtotal": subtotal,
        "discount": subtotal - total,
        "total": total,
        "tax_total": money(line.get("total_tax"), where, "total_tax"),
        "taxes": line_taxes(line.get("taxes"), rates, f"{where}.taxes"),
        "attributes": variation_attributes(line),
    }


def shipping_line(line: Mapping[str, Any], rates: TaxRates, where: str) -> Fields:
    """The fields of a ShippingLine."""
    return {
        "store_line_id": whole_number(line.get("id"), where, "id"),
        "method_id": text(line.get("method_id")),
        "method_title": text(line.get("method_title")),
        "total": money(line.get("total"), where, "total"),
        "tax_total": money(line.get("total_tax"), where, "total_tax"),
        "taxes": line_taxes(line.get("taxes"), rates, f"{where}.taxes"),
    }


def fee_line(line: Mapping[str, Any], rates: TaxRates, where: str) -> Fields:
    """The fields of a FeeLine."""
    return {
        "store_line_id": whole_number(line.get("id"), where, "id"),
        "name": text(line.get("name")),
        "total": money(line.get("total"), where, "total"),
        "tax_total": money(line.get("total_tax"), where, "total_tax"),
        "taxes": line_taxes(line.get("taxes"), rates, f"{where}.taxes"),
    }


def coupon_line(line: Mapping[str, Any], where: str) -> Fields:
    """The fields of a CouponLine."""
    return {
        "code": text(line.get("code")),
        "discount": money(line.get("discount"), where, "discount"),
        "discount_tax": money(line.get("discount_tax"), where, "discount_tax"),
    }


def address_fields(value: Any, where: str) -> dict[str, str]:
    """The fields of a billing or shipping address (see :func:`address`)."""
    fields = _object(value, where)
    known: dict[str, str] = {}
    for name in _ADDRESS_FIELDS:
        if name in fields:
            field = fields[name]
            known[name] = "" if field is None else str(field).strip()  # text(), inline: eleven fields, twice an order
    country = known.get("country", "")
    if country and not _COUNTRY.fullmatch(country.upper()):
        raise OrderUnreadable(f"invalid address: {where}.country {country!r} is not a two-letter ISO country code")
    if country:
        known["country"] = country.upper()
    email = known.get("email", "")
    if email and not _EMAIL.fullmatch(email):
        raise OrderUnreadable(f"invalid address: {where}.email {email!r} is not an e-mail address")
    return known


def address(value: Any, where: str) -> Address:
    """A billing or shipping address. Refused (``OrderUnreadable``) when its country is not an ISO 3166-1 alpha-2
    code or its e-mail is not an address: the ERP could not ship to or invoice it."""
    return Address(**address_fields(value, where))


def customer_ref(order: Mapping[str, Any], billing: Mapping[str, str]) -> Fields:
    """The buyer (the fields of a CustomerRef): a registered customer by id, or a guest (customer_id 0) by
    normalised billing e-mail (CustomerRef normalises it)."""
    first_name, last_name = billing.get("first_name", ""), billing.get("last_name", "")
    if first_name and last_name:
        name = f"{first_name} {last_name}"
    else:
        name = first_name or last_name or billing.get("company", "")
    return {
        "store_customer_id": whole_number(order.get("customer_id"), "customer_id", default=0),
        "email": billing.get("email", ""),
        "name": name,
    }


def lines_sum(document: SalesOrder) -> Decimal:
    """What the document's lines add up to, tax included (before any rounding adjustment)."""
    return (
        sum((line.total + line.tax_total for line in document.lines), ZERO)
        + sum((line.total + line.tax_total for line in document.shipping_lines), ZERO)
        + sum((fee.total + fee.tax_total for fee in document.fees), ZERO)
    )


def _fields_sum(lines: list[Fields], shipping_lines: list[Fields], fees: list[Fields]) -> Decimal:
    """``lines_sum`` of the document these fields make, added up the same way, before it is made."""
    return (
        sum((line["total"] + line["tax_total"] for line in lines), ZERO)
        + sum((line["total"] + line["tax_total"] for line in shipping_lines), ZERO)
        + sum((fee["total"] + fee["tax_total"] for fee in fees), ZERO)
    )


# -- the order -------------------------------------------------------------------------------------------------------


def to_sales_order(order: Any) -> SalesOrder:
    """A WooCommerce order (the REST JSON object) as a SalesOrder whose ``total`` equals the store's total.

    Raises :class:`OrderUnreadable` when the order is not an object, misses what identifies it, or holds values
    that are not what WooCommerce sends (an amount that is not a number, an address in no known country…).
    """
    if not is_object(order):
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
    except (ArithmeticError, ValueError) as error:
        # A value no real store sends but a broken plugin could (an amount beyond the decimal context, a date that
        # leaves the calendar once moved to UTC): this order becomes a record error, the run goes on.
        what = "an amount too large to compute with" if isinstance(error, InvalidOperation) else str(error)
        raise OrderUnreadable(
            f"order {order_id} holds a value out of range ({what}): correct it in WooCommerce, then retry this "
            "record error",
            order_id=order_id,
        ) from None


def _to_sales_order(order: Mapping[str, Any], order_id: int) -> SalesOrder:
    rates = TaxRates(order)
    billing = address_fields(order.get("billing"), "billing")
    shipping = address_fields(order.get("shipping"), "shipping")
    currency = text(order.get("currency")).strip().upper()
    if not currency:
        raise OrderUnreadable("the order has no currency")
    lines = [sales_order_line(line, rates, where) for line, where in _items(order, "line_items")]
    shipping_lines = [shipping_line(line, rates, where) for line, where in _items(order, "shipping_lines")]
    fees = [fee_line(line, rates, where) for line, where in _items(order, "fee_lines")]
    coupons = [coupon_line(line, where) for line, where in _items(order, "coupon_lines")]
    total = money(order.get("total"), "total")
    # The store's total stays; the difference from what the lines add up to (if any) is stated. Worked out from the
    # fields, so the order is validated once, adjustment included.
    adjustment = total - _fields_sum(lines, shipping_lines, fees)
    fields: Fields = {
        "store_order_id": order_id,
        "number": text(order.get("number")) or str(order_id),
        "status": text(order.get("status")),
        "currency": currency,
        "created_at": gmt_datetime(order.get("date_created_gmt"), "date_created_gmt"),
        "modified_at": gmt_datetime(
            order.get("date_modified_gmt") or order.get("date_created_gmt"), "date_modified_gmt"
        ),
        "paid_at": optional_gmt_datetime(order.get("date_paid_gmt"), "date_paid_gmt"),
        "customer": customer_ref(order, billing),
        "billing": billing,
        "shipping": shipping,
        "payment_method": text(order.get("payment_method")),
        "payment_method_title": text(order.get("payment_method_title")),
        "transaction_id": text(order.get("transaction_id")),
        "prices_include_tax": bool(order.get("prices_include_tax", False)),
        "customer_note": text(order.get("customer_note")),
        "lines": lines,
        "shipping_lines": shipping_lines,
        "fees": fees,
        "coupons": coupons,
        "discount_total": money(order.get("discount_total"), "discount_total"),
        "shipping_total": money(order.get("shipping_total"), "shipping_total"),
        "total_tax": money(order.get("total_tax"), "total_tax"),
        "rounding_adjustment": adjustment if adjustment else ZERO,
        "total": total,
    }
    return SalesOrder.model_validate(fields)
