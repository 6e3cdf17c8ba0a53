"""digest(): a document's canonical JSON (sorted keys, no spaces, UTF-8), hashed. orjson writes those bytes for a
woobridge document; these tests hold it to json.dumps' text, so bindings' stored digests stay valid. The document's
JSON values are dumped once and also make the staging rows' JSON text: held here to what was written before."""

from __future__ import annotations

import hashlib
import json
import types
import typing
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from pydantic import BaseModel
from pydantic_core import PydanticSerializationError

from woobridge import documents
from woobridge.documents import Address, CustomerRef, Document, Item, SalesOrder, SalesOrderLine, TaxAmount
from woobridge.erp.staging import rows as staging_rows
from woobridge.flows.engine import digest
from woobridge.flows.order_mapping import to_sales_order
from woobridge.sandbox.orders import query_orders, to_rest
from woobridge.sandbox.seed import seed
from woobridge.sandbox.state import Settings, Store


def json_dumps_digest(value: BaseModel) -> str:
    """The digest as computed before orjson (and still for anything that is not a document)."""
    canonical = json.dumps(
        value.model_dump(mode="json"), sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def every_character() -> str:
    """Every Unicode code point but the surrogates: controls, quotes, backslash, DEL, U+2028, astral planes."""
    return "".join(chr(code) for code in range(0x110000) if not 0xD800 <= code <= 0xDFFF)


def an_order(name: str = "Zoë", attributes: dict[str, str] | None = None, **changes: Any) -> SalesOrder:
    moment = datetime(2026, 11, 27, 19, 16, 16, 123456, tzinfo=UTC)
    line = SalesOrderLine(
        store_line_id=7,
        sku="WB-1",
        name=name,
        quantity=Decimal("2"),
        unit_price=Decimal("1.250000"),
        subtotal=Decimal("2.50"),
        total=Decimal("2.50"),
        taxes=(TaxAmount(rate_id=1, rate_percent=Decimal("7.2500"), amount=Decimal("0.18")),),
        attributes=attributes or {},
    )
    fields: dict[str, Any] = {
        "store_order_id": 2**40,
        "number": "1085",
        "status": "processing",
        "currency": "EUR",
        "created_at": moment,
        "modified_at": moment,
        "customer": CustomerRef(email="Zoe@Example.com", name=name),
        "billing": Address(first_name=name, country="DE"),
        "shipping": Address(),
        "lines": (line,),
        "total": Decimal("2.68"),
        **changes,
    }
    return SalesOrder(**fields)


def test_every_character_hashes_as_json_dumps_wrote_it() -> None:
    text = every_character()
    for start in range(0, len(text), 20_000):
        chunk = text[start : start + 20_000]
        order = an_order(name=chunk, attributes={chunk[:50]: chunk[50:100], "Size": "M", "colour": "é"})
        assert digest(order) == json_dumps_digest(order)


def test_keys_sort_by_code_point_like_json_dumps() -> None:
    keys = ["b", "B", "a", "é", "É", "z", "Ω", "日本", "😀", "\u007f", " ", "_x", "10", "9", "", "ß", "ss"]
    order = an_order(attributes={key: key for key in keys})
    assert digest(order) == json_dumps_digest(order)


def test_integers_beyond_64_bits_hash_as_before() -> None:
    # orjson refuses them: the slow way gives the same digest.
    order = an_order(store_order_id=2**70)
    assert digest(order) == json_dumps_digest(order)
    negative = an_order(store_order_id=-(2**64))
    assert digest(negative) == json_dumps_digest(negative)


def test_a_lone_surrogate_fails_as_before() -> None:
    order = an_order(name="\ud800")
    with pytest.raises(UnicodeEncodeError):
        json_dumps_digest(order)
    with pytest.raises(UnicodeEncodeError):
        digest(order)


def test_seeded_orders_hash_as_before() -> None:
    store = Store(Settings(home_url="https://shop.test"))
    seed(store, products=20, orders=150, customers=20, seed=3)
    orders = [to_rest(store, o, "https://shop.test/wp-json/") for o in query_orders(store, {"status": ["any"]})]
    documents_ = [to_sales_order(json.loads(json.dumps(order))) for order in orders]
    assert len(documents_) == 150
    for document in documents_:
        assert digest(document) == json_dumps_digest(document)


def test_a_catalogue_item_hashes_as_before() -> None:
    item = Item(sku="WB-1", name="Tee ✓", regular_price=Decimal("19.90"), attributes={"Size": ("S", "M")})
    assert digest(item) == json_dumps_digest(item)


def _mentions_float(annotation: Any) -> bool:
    if annotation is float:
        return True
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return any(_mentions_float(field.annotation) for field in annotation.model_fields.values())
    origin = typing.get_origin(annotation)
    if origin is None and not isinstance(annotation, types.UnionType):
        return False
    return any(_mentions_float(argument) for argument in typing.get_args(annotation))


def test_no_document_holds_a_float() -> None:
    """orjson writes floats unlike json.dumps ("1e16" for "1e+16", null for NaN): the digest relies on documents
    having none. A float field would need the digest changed first (and all bindings would see one re-send)."""
    models = [
        value
        for value in vars(documents).values()
        if isinstance(value, type) and issubclass(value, Document) and value is not Document
    ]
    assert len(models) > 10
    assert [model.__name__ for model in models if _mentions_float(model)] == []


# -- the document's JSON values, dumped once and shared with the staging rows -----------------------------------------


def test_a_document_dumps_its_json_values_once_and_a_changed_copy_dumps_its_own() -> None:
    order = an_order()
    assert order.json_values == order.model_dump(mode="json")
    assert order.json_values is order.json_values
    renamed = order.model_copy(update={"number": "1086"})
    assert renamed.json_values["number"] == "1086" and order.json_values["number"] == "1085"
    # Equality and the dump itself ignore the kept values.
    assert an_order() == order and order.model_dump(mode="json") == an_order().model_dump(mode="json")
    assert "json_values" not in order.model_dump()


def test_the_staging_document_text_is_pydantics_for_every_character() -> None:
    # rows.document_json writes the document column with orjson from the JSON values: the very text of
    # model_dump_json, which older versions stored (so an unchanged order compares equal as text).
    text_ = every_character()
    for start in range(0, len(text_), 20_000):
        chunk = text_[start : start + 20_000]
        order = an_order(name=chunk, attributes={chunk[:50]: chunk[50:100], "Size": "M"})
        assert staging_rows.document_json(order) == order.model_dump_json()


def test_the_staging_document_text_of_what_orjson_refuses_is_pydantics() -> None:
    big = an_order(store_order_id=2**70)
    assert staging_rows.document_json(big) == big.model_dump_json()
    with pytest.raises(PydanticSerializationError):
        staging_rows.document_json(an_order(name="\ud800"))


def test_seeded_orders_write_the_staging_text_and_lines_as_before() -> None:
    store = Store(Settings(home_url="https://shop.test"))
    seed(store, products=20, orders=150, customers=20, seed=5)
    orders = [to_rest(store, o, "https://shop.test/wp-json/") for o in query_orders(store, {"status": ["any"]})]
    for document in (to_sales_order(json.loads(json.dumps(order))) for order in orders):
        assert staging_rows.document_json(document) == document.model_dump_json()
        lines = [line for line in staging_rows.sales_order_lines(document) if line["kind"] in ("product", "shipping")]
        items = (*document.lines, *document.shipping_lines)
        assert [line["taxes"] for line in lines] == [
            json.dumps([tax.model_dump(mode="json") for tax in item.taxes]) for item in items
        ]
        assert [line["attributes"] for line in lines] == [
            json.dumps(dict(getattr(item, "attributes", {}))) for item in items
        ]
