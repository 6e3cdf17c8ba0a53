"""Documents to staging rows and back: pure functions, no database.

Outbound: a ``SalesOrder``, ``Customer``, ``CreditMemo`` or ``Item`` becomes a header row and its line rows.
Inbound: rows the ERP wrote become documents; a row that does not make sense raises ``BadRow`` saying what is
wrong in the ERP team's terms, so the adapter can mark that one row and go on with the others.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from operator import itemgetter
from typing import Any, TypeVar

import orjson
from pydantic import ValidationError
from sqlalchemy import String, Table

from woobridge.documents import (
    ZERO,
    Address,
    CreditMemo,
    CreditMemoLine,
    Customer,
    Item,
    ItemVariant,
    SalesOrder,
    Shipment,
    ShipmentLine,
    TaxAmount,
)
from woobridge.erp.port import ErpRecordError
from woobridge.erp.staging.types import MONEY_SCALE, Amount, parse_timestamp, plain_decimal

Row = dict[str, Any]
D = TypeVar("D")

# NUMERIC(18, 6): twelve digits before the point.
_AMOUNT_LIMIT = Decimal(10) ** (18 - MONEY_SCALE)


class BadRow(ValueError):
    """An inbound row the ERP wrote that woobridge cannot use; the message says which column and why."""


# -- outbound ------------------------------------------------------------------------------------------------------


def customer_key(store_customer_id: int, email: str) -> str:
    """``id:<n>`` for a registered customer, ``email:<normalised e-mail>`` for a guest."""
    return f"id:{store_customer_id}" if store_customer_id > 0 else f"email:{email}"


# (column, field) of each address field, per prefix: made once, not 22 column names formatted for every order.
_ADDRESS_COLUMNS = {
    prefix: tuple((f"{prefix}_{name}", name) for name in Address.model_fields) for prefix in ("billing", "shipping")
}


def address_columns(prefix: str, address: Address) -> Row:
    return {column: getattr(address, name) for column, name in _ADDRESS_COLUMNS[prefix]}


def taxes_json(taxes: Iterable[TaxAmount]) -> list[dict[str, Any]]:
    return [tax.model_dump(mode="json") for tax in taxes]


def sales_order_row(connection: str, order: SalesOrder) -> Row:
    """The ``sales_orders`` row; its ``document`` is the JSON text itself (see ``document_json``)."""
    customer = order.customer
    return {
        "connection": connection,
        "store_order_id": order.store_order_id,
        "order_number": order.number,
        "status": order.status,
        "currency": order.currency,
        "ordered_at": order.created_at,
        "store_modified_at": order.modified_at,
        "paid_at": order.paid_at,
        "customer_key": customer_key(customer.store_customer_id, customer.email),
        "store_customer_id": customer.store_customer_id,
        "customer_email": customer.email,
        "customer_name": customer.name,
        **address_columns("billing", order.billing),
        **address_columns("shipping", order.shipping),
        "payment_method": order.payment_method,
        "payment_method_title": order.payment_method_title,
        "transaction_id": order.transaction_id,
        "prices_include_tax": order.prices_include_tax,
        "customer_note": order.customer_note,
        "discount_total": order.discount_total,
        "shipping_total": order.shipping_total,
        "total_tax": order.total_tax,
        "rounding_adjustment": order.rounding_adjustment,
        "total": order.total,
        "document": document_json(order),
    }


def document_json(order: SalesOrder) -> str:
    """The ``document`` column of a sales order: the document's JSON text, stored as it is.

    ``json.dumps(order.model_dump(mode="json"))`` (what the column's JSON type did) made the same JSON value for
    twice the CPU; the text is only more compact (no blank after ``,`` and ``:``) and keeps non-ASCII characters
    as they are instead of ``\\u`` escapes. Readers parse it (docs/staging.md promises JSON, not a layout).

    It is the very text of pydantic's ``model_dump_json()``, written by orjson from the document's JSON values,
    which the flow's digest has dumped already: orjson keeps the keys in their order and writes the same compact
    text, for a fraction of a second dump. What orjson refuses (an integer beyond 64 bits, a lone surrogate)
    goes to pydantic, which writes it or fails as before."""
    try:
        return orjson.dumps(order.json_values).decode()
    except orjson.JSONEncodeError:
        return order.model_dump_json()


def sales_order_lines(order: SalesOrder) -> list[Row]:
    """Every line of the order in one list: products, shipping, fees, coupons (information only), rounding.
    ``total + tax_total`` summed over them is the order's total. ``taxes`` and ``attributes`` are JSON text (see
    ``json_text``), made from the document's JSON values (``SalesOrder.json_values``: dumped once)."""
    dumped = order.json_values
    lines: list[Row] = []
    for line, values in zip(order.lines, dumped["lines"], strict=True):
        lines.append(
            _line(
                "product",
                len(lines) + 1,
                store_line_id=line.store_line_id,
                sku=line.sku,
                store_product_id=line.store_product_id,
                store_variation_id=line.store_variation_id,
                name=line.name,
                quantity=line.quantity,
                unit_price=line.unit_price,
                subtotal=line.subtotal,
                discount=line.discount,
                total=line.total,
                tax_total=line.tax_total,
                taxes=values["taxes"],
                attributes=values["attributes"],
            )
        )
    for shipping, values in zip(order.shipping_lines, dumped["shipping_lines"], strict=True):
        lines.append(
            _line(
                "shipping",
                len(lines) + 1,
                store_line_id=shipping.store_line_id,
                code=shipping.method_id,
                name=shipping.method_title,
                total=shipping.total,
                tax_total=shipping.tax_total,
                taxes=values["taxes"],
            )
        )
    for fee, values in zip(order.fees, dumped["fees"], strict=True):
        lines.append(
            _line(
                "fee",
                len(lines) + 1,
                store_line_id=fee.store_line_id,
                name=fee.name,
                total=fee.total,
                tax_total=fee.tax_total,
                taxes=values["taxes"],
            )
        )
    for coupon in order.coupons:
        lines.append(
            _line(
                "coupon",
                len(lines) + 1,
                code=coupon.code,
                name=coupon.code,
                quantity=ZERO,
                unit_price=ZERO,
                subtotal=ZERO,
                discount=coupon.discount,
                discount_tax=coupon.discount_tax,
                total=ZERO,
            )
        )
    if order.rounding_adjustment:
        lines.append(_line("rounding", len(lines) + 1, name="Rounding adjustment", total=order.rounding_adjustment))
    return lines


_ONE = Decimal(1)


def _line(
    kind: str,
    line_no: int,
    *,
    total: Decimal,
    store_line_id: int | None = None,
    sku: str = "",
    code: str = "",
    store_product_id: int = 0,
    store_variation_id: int = 0,
    name: str = "",
    quantity: Decimal = _ONE,
    unit_price: Decimal | None = None,  # None: the total (one unit)
    subtotal: Decimal | None = None,  # None: the total (no discount)
    discount: Decimal = ZERO,
    discount_tax: Decimal = ZERO,
    tax_total: Decimal = ZERO,
    taxes: list[dict[str, Any]] | None = None,  # the line's taxes as JSON values
    attributes: dict[str, str] | None = None,
) -> Row:
    """One ``sales_order_lines`` row (without its ``sales_order_id``)."""
    return {
        "line_no": line_no,
        "kind": kind,
        "store_line_id": store_line_id,
        "sku": sku,
        "code": code,
        "store_product_id": store_product_id,
        "store_variation_id": store_variation_id,
        "name": name,
        "quantity": quantity,
        "unit_price": total if unit_price is None else unit_price,
        "subtotal": total if subtotal is None else subtotal,
        "discount": discount,
        "discount_tax": discount_tax,
        "total": total,
        "tax_total": tax_total,
        "taxes": _taxes_text(taxes) if taxes else "[]",
        "attributes": _attributes_text(attributes) if attributes else "{}",
    }


# A line's taxes and attributes are JSON text (json_text), and the same few texts come back line after line: a
# store's tax rates with its usual amounts, its products' sizes and colours. Each text is written once and kept, by
# the values it is made of: a page has some 200 to write. (Equal values make equal text: each field has one type in
# a document's JSON values, so 1 and True, equal in Python, never meet in one place.)


def _taxes_text(taxes: list[dict[str, Any]]) -> str:
    return _json_text_of_objects(tuple(tuple(tax.items()) for tax in taxes))


def _attributes_text(attributes: dict[str, str]) -> str:
    return _json_text_of_object(tuple(attributes.items()))


@functools.lru_cache(maxsize=4096)
def _json_text_of_objects(objects: tuple[tuple[tuple[str, Any], ...], ...]) -> str:
    return json_text([dict(items) for items in objects])


@functools.lru_cache(maxsize=4096)
def _json_text_of_object(items: tuple[tuple[str, Any], ...]) -> str:
    return json_text(dict(items))


def json_text(value: list[Any] | dict[str, Any]) -> str:
    """A JSON column's text exactly as its JSON type writes it (``json.dumps``), made here so that the adapter
    sends it as it is; the empty list and object, most lines' ``taxes`` and ``attributes``, without a call."""
    if not value:
        return "[]" if isinstance(value, list) else "{}"
    return json.dumps(value)


def customer_row(connection: str, customer: Customer) -> Row:
    return {
        "connection": connection,
        "customer_key": customer_key(customer.store_customer_id, customer.email),
        "store_customer_id": customer.store_customer_id,
        "email": customer.email,
        "first_name": customer.first_name,
        "last_name": customer.last_name,
        "company": customer.company,
        "phone": customer.phone,
        **address_columns("billing", customer.billing),
        **address_columns("shipping", customer.shipping),
        "document": customer.model_dump(mode="json"),
    }


def credit_memo_row(connection: str, memo: CreditMemo) -> Row:
    return {
        "connection": connection,
        "store_refund_id": memo.store_refund_id,
        "store_order_id": memo.store_order_id,
        "amount": memo.amount,
        "reason": memo.reason,
        "restock": memo.restock,
        "currency": memo.currency,
        "refunded_at": memo.created_at,
        "document": memo.model_dump(mode="json"),
    }


def credit_memo_lines(memo: CreditMemo) -> list[Row]:
    return [
        {
            "line_no": number,
            "store_line_id": line.store_line_id or None,
            "sku": line.sku,
            "quantity": line.quantity,
            "amount": line.amount,
            "tax": line.tax,
            "taxes": taxes_json(line.taxes),
        }
        for number, line in enumerate(memo.lines, start=1)
    ]


def item_row(item: Item) -> Row:
    return {
        "sku": item.sku,
        "name": item.name,
        "description": item.description,
        "short_description": item.short_description,
        "regular_price": item.regular_price,
        "sale_price": item.sale_price,
        "weight": item.weight,
        "length": item.length,
        "width": item.width,
        "height": item.height,
        "status": item.status,
        "category_path": list(item.category_path),
        "attributes": {name: list(values) for name, values in item.attributes.items()},
        "image_urls": list(item.image_urls),
        "store_product_id": item.store_product_id or None,
    }


def item_variant_rows(item: Item) -> list[Row]:
    return [
        {
            "sku": variant.sku,
            "attributes": dict(variant.attributes),
            "regular_price": variant.regular_price,
            "sale_price": variant.sale_price,
            "weight": variant.weight,
            "status": variant.status,
            "position": position,
            "store_variation_id": variant.store_variation_id or None,
        }
        for position, variant in enumerate(item.variants, start=1)
    ]


@functools.cache
def _limits(table: Table) -> tuple[frozenset[str], tuple[tuple[str, int | None], ...]]:
    """The table's columns, and those ``check_fits`` looks at in the table's order: (name, length) for a string
    column with a length, (name, None) for an amount. Looked up once: a page of orders checks thousands of rows."""
    limited = tuple(
        (c.key, c.type.length if isinstance(c.type, String) else None)
        for c in table.columns
        if (isinstance(c.type, String) and c.type.length) or isinstance(c.type, Amount)
    )
    return frozenset(table.c.keys()), limited


def check_fits(table: Table, row: Mapping[str, Any], what: str) -> None:
    """Refuse a value the column cannot hold, the same way on every database (SQLite would store it silently,
    PostgreSQL would fail the whole transaction). Only the columns with a limit are looked at, bounded strings and
    amounts (free text, ids, flags and JSON fit whatever they hold): a header has some 50 values, 37 of them
    limited; a line 20, 11 limited."""
    columns, limited = _limits(table)
    if not columns.issuperset(row):
        # As table.c[name] did: a row with a column the table lacks is a bug.
        raise KeyError(next(name for name in row if name not in columns))
    for name, length in limited:
        value = row.get(name)
        if length is not None:
            if isinstance(value, str) and len(value) > length:
                raise ErpRecordError(
                    f"{what}: {table.name}.{name} holds at most {length} characters, this value has "
                    f"{len(value)} ({value[:40]!r}…)"
                )
        elif isinstance(value, Decimal) and (not value.is_finite() or abs(value) >= _AMOUNT_LIMIT):
            raise ErpRecordError(
                f"{what}: {table.name}.{name} = {value} is out of range (NUMERIC(18, {MONEY_SCALE}) holds less "
                f"than {_AMOUNT_LIMIT:,} in absolute value)"
            )


def all_fit(table: Table, rows_: Sequence[Mapping[str, Any]]) -> bool:
    """Whether every value of ``rows_`` surely fits its column: ``check_fits`` would refuse none of them.

    For a page of rows made by one function (so with the same columns): measured column by column, each column in
    one pass in C (the longest string, the largest amount in absolute value) instead of value by value in Python
    — a page of orders has some 7,000 values to check. False as soon as a column holds a value that may not fit,
    or one that is not what it should be (None, a number in a string column, a NaN…): then ``check_fits`` row by
    row says which, if any.
    """
    if not rows_:
        return True
    columns, limited = _limits(table)
    first = rows_[0]
    if not columns.issuperset(first):
        return False
    try:
        for name, length in limited:
            if name not in first:
                if any(name in row for row in rows_):
                    return False
            elif length is not None:
                if max(map(len, map(itemgetter(name), rows_))) > length:
                    return False
            elif not max(map(abs, map(itemgetter(name), rows_))) < _AMOUNT_LIMIT:
                return False
    except (KeyError, TypeError, ArithmeticError):  # a row without the column, None, a NaN amount…
        return False
    return True


# -- inbound -------------------------------------------------------------------------------------------------------
# Rows are read without SQLAlchemy's type processing, so that one bad value costs one row, not the whole read.


def amount(row: Mapping[str, Any], name: str, *, default: Decimal | None = None) -> Decimal:
    value = row.get(name)
    if value is None or value == "":
        if default is not None:
            return default
        raise BadRow(f"{name} is empty")
    return _decimal(value, name)


def optional_amount(row: Mapping[str, Any], name: str) -> Decimal | None:
    value = row.get(name)
    return None if value is None or value == "" else _decimal(value, name)


def _decimal(value: Any, name: str) -> Decimal:
    if isinstance(value, bool):
        raise BadRow(f"{name} = {value!r} is not a number")
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise BadRow(f"{name} = {value!r} is not a number") from None
    if not number.is_finite():
        raise BadRow(f"{name} = {value!r} is not a number")
    return plain_decimal(number)


def integer(row: Mapping[str, Any], name: str, *, default: int | None = None) -> int:
    value = row.get(name)
    if value is None or value == "":
        if default is not None:
            return default
        raise BadRow(f"{name} is empty")
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        raise BadRow(f"{name} = {value!r} is not a whole number") from None
    if not number.is_finite() or number != number.to_integral_value():
        raise BadRow(f"{name} = {value!r} is not a whole number")
    return int(number)


def string(row: Mapping[str, Any], name: str) -> str:
    value = row.get(name)
    return "" if value is None else str(value)


def boolean(row: Mapping[str, Any], name: str) -> bool:
    value = row.get(name)
    if value is None or isinstance(value, bool):
        return bool(value)
    if isinstance(value, int | Decimal | float) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("0", "1", "true", "false", "t", "f", "yes", "no"):
        return value.strip().lower() in ("1", "true", "t", "yes")
    raise BadRow(f"{name} = {value!r} is not true or false (write 1 or 0)")


def timestamp(row: Mapping[str, Any], name: str) -> datetime | None:
    value = row.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = parse_timestamp(value)
        except ValueError as error:
            raise BadRow(f"{name}: {error}") from None
    if not isinstance(value, datetime):
        raise BadRow(f"{name} = {value!r} is not a timestamp")
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def json_value(row: Mapping[str, Any], name: str, expected: type, example: str) -> Any:
    value = row.get(name)
    if value is None or value == "":
        return expected()
    wrong = BadRow(f"{name} must be a JSON {'list' if expected is list else 'object'}, e.g. {example}")
    if isinstance(value, str | bytes):
        # Text on SQLite; on PostgreSQL the driver has parsed the JSON already, and a str is a JSON string.
        try:
            value = json.loads(value)
        except ValueError:
            raise wrong from None
    if not isinstance(value, expected):
        raise wrong
    return value


def shipment(row: Mapping[str, Any], lines: Sequence[Mapping[str, Any]]) -> Shipment:
    """The shipment the ERP wrote; lines by store line id or by SKU."""
    order_id = integer(row, "store_order_id")
    if order_id <= 0:
        raise BadRow(f"store_order_id = {order_id} is not an order id")
    shipped: list[ShipmentLine] = []
    for line in lines:
        where = f"shipment_lines row {line.get('id')}"
        try:
            store_line_id = integer(line, "store_line_id", default=0)
            sku = string(line, "sku").strip()
            quantity = amount(line, "quantity")
        except BadRow as error:
            raise BadRow(f"{where}: {error}") from None
        if not store_line_id and not sku:
            raise BadRow(f"{where}: give the order line (store_line_id) or the sku")
        if quantity <= 0:
            raise BadRow(f"{where}: quantity {quantity} must be more than 0")
        shipped.append(ShipmentLine(store_line_id=store_line_id, sku=sku, quantity=quantity))
    return _build(
        Shipment,
        erp_shipment_id=string(row, "erp_shipment_id"),
        store_order_id=order_id,
        lines=tuple(shipped),
        carrier=string(row, "carrier").strip(),
        tracking_number=string(row, "tracking_number").strip(),
        tracking_url=string(row, "tracking_url").strip(),
        shipped_at=timestamp(row, "shipped_at"),
    )


def erp_credit_memo(row: Mapping[str, Any], lines: Sequence[Mapping[str, Any]]) -> CreditMemo:
    """A credit memo the ERP made: amounts positive; with lines, their amounts and tax add up to the memo's."""
    order_id = integer(row, "store_order_id")
    if order_id <= 0:
        raise BadRow(f"store_order_id = {order_id} is not an order id")
    total = amount(row, "amount")
    if total <= 0:
        raise BadRow(f"amount {total} must be more than 0")
    memo_lines: list[CreditMemoLine] = []
    for line in lines:
        where = f"erp_credit_memo_lines row {line.get('id')}"
        try:
            store_line_id = integer(line, "store_line_id", default=0)
            sku = string(line, "sku").strip()
            quantity = amount(line, "quantity", default=ZERO)
            line_amount = amount(line, "amount")
            tax = amount(line, "tax", default=ZERO)
        except BadRow as error:
            raise BadRow(f"{where}: {error}") from None
        if not store_line_id and not sku:
            raise BadRow(f"{where}: give the order line (store_line_id) or the sku")
        if quantity < 0 or line_amount < 0 or tax < 0:
            raise BadRow(f"{where}: quantity, amount and tax are positive numbers in a credit memo")
        memo_lines.append(
            CreditMemoLine(store_line_id=store_line_id, sku=sku, quantity=quantity, amount=line_amount, tax=tax)
        )
    if memo_lines:
        lines_total = sum((line.amount + line.tax for line in memo_lines), ZERO)
        if lines_total != total:
            raise BadRow(f"amount {total} differs from the sum of its lines' amount + tax ({lines_total})")
    return _build(
        CreditMemo,
        store_order_id=order_id,
        erp_memo_id=string(row, "erp_memo_id"),
        lines=tuple(memo_lines),
        amount=total,
        reason=string(row, "reason"),
        restock=boolean(row, "restock"),
        currency=string(row, "currency").strip().upper(),
        created_at=timestamp(row, "created_at"),
    )


def item(row: Mapping[str, Any], variants: Sequence[Mapping[str, Any]]) -> Item:
    """An item the ERP wants in the store, with its variants."""
    sku = string(row, "sku").strip()
    if not sku:
        raise BadRow("sku is empty")
    attributes = json_value(row, "attributes", dict, '{"Size": ["S", "M"]}')
    for name, values in attributes.items():
        if not isinstance(values, list) or not all(isinstance(v, str | int | float) for v in values):
            raise BadRow(f'attributes: the values of {name!r} must be a JSON list, e.g. {{"Size": ["S", "M"]}}')
    category_path = json_value(row, "category_path", list, '["Clothing", "Shirts"]')
    image_urls = json_value(row, "image_urls", list, '["https://…/front.jpg"]')
    built_variants: list[ItemVariant] = []
    for variant in variants:
        where = f"item_variants row {variant.get('id')}"
        try:
            variant_sku = string(variant, "sku").strip()
            if not variant_sku:
                raise BadRow("sku is empty")
            values = json_value(variant, "attributes", dict, '{"Size": "L"}')
            built_variants.append(
                _build(
                    ItemVariant,
                    sku=variant_sku,
                    attributes={str(k): str(v) for k, v in values.items()},
                    regular_price=optional_amount(variant, "regular_price"),
                    sale_price=optional_amount(variant, "sale_price"),
                    weight=optional_amount(variant, "weight"),
                    status=_status(variant),
                    store_variation_id=integer(variant, "store_variation_id", default=0),
                )
            )
        except BadRow as error:
            raise BadRow(f"{where}: {error}") from None
    return _build(
        Item,
        sku=sku,
        name=string(row, "name"),
        description=string(row, "description"),
        short_description=string(row, "short_description"),
        regular_price=optional_amount(row, "regular_price"),
        sale_price=optional_amount(row, "sale_price"),
        weight=optional_amount(row, "weight"),
        length=optional_amount(row, "length"),
        width=optional_amount(row, "width"),
        height=optional_amount(row, "height"),
        status=_status(row),
        category_path=tuple(str(part) for part in category_path),
        attributes={str(name): tuple(str(v) for v in values) for name, values in attributes.items()},
        variants=tuple(built_variants),
        image_urls=tuple(str(url) for url in image_urls),
        store_product_id=integer(row, "store_product_id", default=0),
    )


def _status(row: Mapping[str, Any]) -> str:
    status = string(row, "status").strip().lower() or "active"
    if status not in ("active", "inactive"):
        raise BadRow(f"status = {status!r}; write 'active' or 'inactive'")
    return status


def _build(model: type[D], **values: Any) -> D:
    try:
        return model(**values)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in problem['loc'])}: {problem['msg']}" for problem in error.errors()
        )
        raise BadRow(problems) from None
