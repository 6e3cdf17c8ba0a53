"""The staging adapter, seen from both sides: woobridge through the ERP port, the ERP through plain SQL on the
tables docs/staging.md describes. Every test runs on SQLite and, when WOOBRIDGE_TEST_POSTGRES_URL is set, on
PostgreSQL."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from operator import itemgetter
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, insert, text
from sqlalchemy.exc import IntegrityError

from woobridge.documents import (
    CreditMemo,
    CreditMemoLine,
    Item,
    ItemVariant,
    SalesOrder,
    Shipment,
    ShipmentLine,
    StockLevel,
)
from woobridge.erp import ErpPort, ErpRecordError, ErpUnavailable, open_erp
from woobridge.erp.port import Acknowledgement, ErpRef, SalesOrderBatches, put_sales_orders
from woobridge.erp.staging import StagingErp, adapter, metadata
from woobridge.erp.staging import rows as staging_rows
from woobridge.erp.staging.models import sales_order_lines, sales_orders

from .conftest import Database, make_customer, make_order, make_refund


def sql(erp: StagingErp, statement: str, **params: Any) -> list[dict[str, Any]]:
    """Run SQL as the ERP side would, in its own transaction; rows as dicts."""
    with erp.engine.begin() as db:
        result = db.execute(text(statement), params)
        return [dict(row._mapping) for row in result] if result.returns_rows else []


def test_the_adapter_is_an_erp_port(staging: StagingErp) -> None:
    assert isinstance(staging, ErpPort)
    assert staging.name == "staging"


# -- sales orders ----------------------------------------------------------------------------------------------------


def test_a_sales_order_lands_in_the_header_and_line_tables(staging: StagingErp) -> None:
    order = make_order()
    ref = staging.put_sales_order("shop", order)
    assert ref.created and ref.document_no == ""

    [header] = sql(staging, "SELECT * FROM sales_orders")
    assert str(header["id"]) == ref.erp_id
    assert header["connection"] == "shop" and header["store_order_id"] == 101
    assert header["status"] == "processing" and header["currency"] == "EUR"
    assert header["customer_key"] == "email:zoe@example.com" and header["store_customer_id"] == 0
    assert header["billing_first_name"] == "Zoë" and header["billing_address_1"] == "1 Rue de l’Église"
    assert header["shipping_city"] == "Paris" and header["shipping_email"] == ""
    assert header["customer_note"] == "Ring twice ☺"
    assert Decimal(str(header["total"])) == Decimal("32.46")
    assert Decimal(str(header["rounding_adjustment"])) == Decimal("0.01")
    assert (header["revision"], header["erp_status"], header["erp_document_no"]) == (1, "new", None)
    # The full document travels too, and reads back as the very same document.
    document = header["document"]
    assert SalesOrder.model_validate_json(document if isinstance(document, str) else _json(document)) == order

    lines = sql(staging, "SELECT * FROM sales_order_lines ORDER BY line_no")
    assert [(line["line_no"], line["kind"]) for line in lines] == [
        (1, "product"),
        (2, "product"),
        (3, "shipping"),
        (4, "fee"),
        (5, "coupon"),
        (6, "rounding"),
    ]
    shirt = lines[0]
    assert (shirt["sku"], shirt["store_product_id"], shirt["store_variation_id"]) == ("SHIRT-L", 50, 51)
    assert Decimal(str(shirt["discount"])) == Decimal(2) and Decimal(str(shirt["total"])) == Decimal(18)
    assert lines[2]["code"] == "flat_rate" and lines[4]["code"] == "spring"
    # The ERP can rebuild the order total from the lines alone.
    [check] = sql(
        staging,
        "SELECT SUM(l.total + l.tax_total) AS lines, MAX(o.total) AS total FROM sales_order_lines l "
        "JOIN sales_orders o ON o.id = l.sales_order_id",
    )
    assert Decimal(str(check["lines"])).quantize(Decimal("0.01")) == Decimal("32.46") == Decimal(str(check["total"]))


def _json(value: Any) -> str:
    import json

    return json.dumps(value)


def test_the_same_order_twice_is_one_row_and_nothing_changes(staging: StagingErp) -> None:
    first = staging.put_sales_order("shop", make_order())
    again = staging.put_sales_order("shop", make_order())
    assert again.erp_id == first.erp_id and not again.created
    [header] = sql(staging, "SELECT revision, erp_status FROM sales_orders")
    assert (header["revision"], header["erp_status"]) == (1, "new")
    assert len(sql(staging, "SELECT id FROM sales_order_lines")) == 6


def test_a_changed_order_bumps_its_revision_and_replaces_its_lines(staging: StagingErp) -> None:
    ref = staging.put_sales_order("shop", make_order())
    # The ERP books it and acknowledges the revision it read.
    sql(
        staging,
        "UPDATE sales_orders SET erp_status = 'accepted', erp_document_no = 'SO-0042', "
        "erp_processed_at = CURRENT_TIMESTAMP WHERE id = :id AND revision = 1",
        id=int(ref.erp_id),
    )
    changed = make_order(status="completed", lines=make_order().lines[:1], rounding_adjustment=Decimal(0))
    again = staging.put_sales_order("shop", changed)
    assert (again.erp_id, again.document_no, again.created) == (ref.erp_id, "SO-0042", False)
    [header] = sql(staging, "SELECT revision, erp_status, status, erp_document_no FROM sales_orders")
    assert header == {"revision": 2, "erp_status": "updated", "status": "completed", "erp_document_no": "SO-0042"}
    kinds = [row["kind"] for row in sql(staging, "SELECT kind FROM sales_order_lines ORDER BY line_no")]
    assert kinds == ["product", "shipping", "fee", "coupon"]
    # An acknowledgement of the old revision no longer matches: the ERP cannot mark the new one done by mistake.
    sql(staging, "UPDATE sales_orders SET erp_status = 'accepted' WHERE id = :id AND revision = 1", id=int(ref.erp_id))
    assert sql(staging, "SELECT erp_status FROM sales_orders") == [{"erp_status": "updated"}]


def test_an_update_before_the_erp_read_the_order_stays_new(staging: StagingErp) -> None:
    staging.put_sales_order("shop", make_order())
    staging.put_sales_order("shop", make_order(status="completed"))
    assert sql(staging, "SELECT revision, erp_status FROM sales_orders") == [{"revision": 2, "erp_status": "new"}]


def test_orders_are_keyed_per_connection(staging: StagingErp) -> None:
    one = staging.put_sales_order("shop-eu", make_order())
    two = staging.put_sales_order("shop-us", make_order())
    assert one.erp_id != two.erp_id
    assert staging.find_sales_order("shop-eu", 101) == type(one)(one.erp_id, "", created=False)
    assert staging.find_sales_order("shop-eu", 102) is None


def test_the_binding_can_commit_with_the_erp_rows(staging: StagingErp) -> None:
    with staging.engine.begin() as db:
        db.execute(text("CREATE TABLE bindings_demo (erp_id VARCHAR(20) PRIMARY KEY)"))

    def bind(db: Connection, ref: Any) -> None:
        db.execute(text("INSERT INTO bindings_demo VALUES (:id)"), {"id": ref.erp_id})

    ref = staging.put_sales_order("shop", make_order(), also=bind)
    assert sql(staging, "SELECT erp_id FROM bindings_demo") == [{"erp_id": ref.erp_id}]

    def fail(db: Connection, ref: Any) -> None:
        raise RuntimeError("crash after the ERP rows, before the binding")

    with pytest.raises(RuntimeError):
        staging.put_sales_order("shop", make_order(202), also=fail)
    assert staging.find_sales_order("shop", 202) is None  # rolled back together

    calls: list[str] = []

    def bind_twice(db: Connection, ref: Any) -> None:
        calls.append(ref.erp_id)
        db.execute(text("INSERT INTO bindings_demo VALUES ('1')"))  # already there: the caller's own conflict

    with pytest.raises(IntegrityError):
        staging.put_sales_order("shop", make_order(303), also=bind_twice)
    assert len(calls) == 1  # not mistaken for a race on the order's key and retried
    assert staging.find_sales_order("shop", 303) is None


def run_workers(database: Database, put: Callable[[StagingErp, int], None]) -> list[BaseException]:
    """``put(erp, n)`` by 4 workers at once, each with its own adapter on the database, in its own thread; what
    they raised."""
    workers = [database.open() for _ in range(4)]
    errors: list[BaseException] = []

    def work(erp: StagingErp, n: int) -> None:
        try:
            put(erp, n)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=work, args=(erp, n)) for n, erp in enumerate(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for erp in workers:
        erp.close()
    return errors


def test_concurrent_workers_putting_one_order_make_one_row(database: Database) -> None:
    refs: list[str] = []

    def put(erp: StagingErp, n: int) -> None:
        for i in range(5):
            refs.append(erp.put_sales_order("shop", make_order(customer_note=f"{n}-{i}")).erp_id)

    errors = run_workers(database, put)
    assert errors == []
    assert len(set(refs)) == 1
    erp = database.open()
    assert len(sql(erp, "SELECT id FROM sales_orders")) == 1
    assert len(sql(erp, "SELECT id FROM sales_order_lines")) == 6  # one set of lines, never two interleaved
    erp.close()


# -- record errors and an unreachable database ------------------------------------------------------------------------


def test_unknown_items_are_refused_when_the_erp_requires_known_items(database: Database) -> None:
    erp = database.open(require_known_items=True)
    with pytest.raises(ErpRecordError, match=r"SKU 'SHIRT-L' is not in the staging tables items"):
        erp.put_sales_order("shop", make_order())
    sql(erp, "INSERT INTO items (sku, name) VALUES ('SHIRT', 'Shirt')")
    sql(
        erp,
        "INSERT INTO item_variants (item_id, sku, attributes) "
        "SELECT id, 'SHIRT-L', '{\"Size\": \"L\"}' FROM items WHERE sku = 'SHIRT'",
    )
    sql(erp, "INSERT INTO items (connection, sku, name) VALUES ('other-shop', 'MUG', 'Mug')")
    with pytest.raises(ErpRecordError, match=r"'MUG' is not in"):  # known for another store only
        erp.put_sales_order("shop", make_order())
    sql(erp, "INSERT INTO items (connection, sku, name) VALUES ('shop', 'MUG', 'Mug')")
    assert erp.put_sales_order("shop", make_order()).created
    nameless = make_order(202, lines=(make_order().lines[0].model_copy(update={"sku": ""}),))
    with pytest.raises(ErpRecordError, match=r"line 1 \('Shirt – L'\) has no SKU"):
        erp.put_sales_order("shop", nameless)
    erp.close()


def test_a_value_too_long_for_its_column_is_a_record_error_on_every_database(staging: StagingErp) -> None:
    line = make_order().lines[0].model_copy(update={"sku": "X" * 101})
    with pytest.raises(ErpRecordError, match=r"sales_order_lines.sku holds at most 100 characters"):
        staging.put_sales_order("shop", make_order(lines=(line,)))
    with pytest.raises(ErpRecordError, match=r"out of range"):
        staging.put_sales_order("shop", make_order(total=Decimal("1e13")))
    assert staging.find_sales_order("shop", 101) is None


# -- a page of sales orders in one transaction (SalesOrderBatches) -----------------------------------------------------


def test_the_adapter_takes_a_page_of_orders_in_one_call(staging: StagingErp) -> None:
    assert isinstance(staging, SalesOrderBatches)
    page = [make_order(101), make_order(102, status="completed"), make_order(103)]
    refs = staging.put_sales_orders("shop", page)
    assert [type(ref) for ref in refs] == [ErpRef, ErpRef, ErpRef]
    assert all(isinstance(ref, ErpRef) and ref.created for ref in refs)
    found = sql(staging, "SELECT id, store_order_id, status, revision FROM sales_orders ORDER BY store_order_id")
    assert [(str(r["id"]), r["store_order_id"], r["status"], r["revision"]) for r in found] == [
        (ref.erp_id, order.store_order_id, order.status, 1)  # type: ignore[union-attr]
        for ref, order in zip(refs, page, strict=True)
    ]
    assert len(sql(staging, "SELECT id FROM sales_order_lines")) == 18
    # The same rows as one order at a time would have made: a single put finds each of them.
    assert staging.put_sales_order("shop", make_order(102, status="completed")) == ErpRef(
        refs[1].erp_id,
        "",
        created=False,  # type: ignore[union-attr]
    )


def test_a_page_put_twice_is_idempotent_and_updates_what_changed(staging: StagingErp) -> None:
    first = staging.put_sales_orders("shop", [make_order(101), make_order(102)])
    again = staging.put_sales_orders("shop", [make_order(101), make_order(102, status="completed")])
    assert [ref.erp_id for ref in again] == [ref.erp_id for ref in first]  # type: ignore[union-attr]
    assert [ref.created for ref in again] == [False, False]  # type: ignore[union-attr]
    rows = sql(staging, "SELECT store_order_id, revision, status FROM sales_orders ORDER BY store_order_id")
    assert rows == [
        {"store_order_id": 101, "revision": 1, "status": "processing"},
        {"store_order_id": 102, "revision": 2, "status": "completed"},
    ]
    assert len(sql(staging, "SELECT id FROM sales_order_lines")) == 12  # lines replaced, never doubled


def test_an_order_refused_in_a_page_is_its_own_error_and_the_others_commit(database: Database) -> None:
    erp = database.open(require_known_items=True)
    sql(erp, "INSERT INTO items (sku, name) VALUES ('SHIRT', 'Shirt'), ('MUG', 'Mug')")
    sql(
        erp,
        "INSERT INTO item_variants (item_id, sku, attributes) "
        "SELECT id, 'SHIRT-L', '{\"Size\": \"L\"}' FROM items WHERE sku = 'SHIRT'",
    )
    unknown = make_order().lines[0].model_copy(update={"sku": "NOPE"})
    too_long = make_order().lines[0].model_copy(update={"sku": "X" * 101})
    page = [
        make_order(101),
        make_order(102, lines=(unknown,)),  # refused in the transaction: rolled back to its savepoint
        make_order(103),
        make_order(104, lines=(too_long,)),  # refused before the transaction
        make_order(105, total=Decimal("1e13")),
    ]
    results = erp.put_sales_orders("shop", page)
    assert [type(result).__name__ for result in results] == [
        "ErpRef",
        "ErpRecordError",
        "ErpRef",
        "ErpRecordError",
        "ErpRecordError",
    ]
    assert "SKU 'NOPE' is not in the staging tables items" in str(results[1])
    assert "sales_order_lines.sku holds at most 100 characters" in str(results[3])
    assert "out of range" in str(results[4])
    assert [r["store_order_id"] for r in sql(erp, "SELECT store_order_id FROM sales_orders ORDER BY 1")] == [101, 103]
    assert len(sql(erp, "SELECT id FROM sales_order_lines")) == 12  # none of the refused order's lines
    # Once the item exists, the refused order goes through (the flow retries it), and nothing else moves.
    sql(erp, "INSERT INTO items (sku, name) VALUES ('NOPE', 'Nope')")
    [retried] = erp.put_sales_orders("shop", [make_order(102, lines=(unknown,))])
    assert isinstance(retried, ErpRef) and retried.created
    assert len(sql(erp, "SELECT id FROM sales_orders")) == 3
    erp.close()


def test_a_bad_connection_name_refuses_every_order_of_the_page(staging: StagingErp) -> None:
    results = staging.put_sales_orders("x" * 200, [make_order(101), make_order(102)])
    assert all(isinstance(result, ErpRecordError) for result in results) and len(results) == 2
    assert staging.put_sales_orders("shop", []) == []
    assert sql(staging, "SELECT id FROM sales_orders") == []


def test_concurrent_workers_putting_the_same_page_make_one_row_per_order(database: Database) -> None:
    refs: dict[int, set[str]] = {}

    def put(erp: StagingErp, n: int) -> None:
        for i in range(3):
            page = [make_order(order_id, customer_note=f"{n}-{i}") for order_id in (101, 102, 103)]
            for order, ref in zip(page, erp.put_sales_orders("shop", page), strict=True):
                assert isinstance(ref, ErpRef), ref
                refs.setdefault(order.store_order_id, set()).add(ref.erp_id)

    errors = run_workers(database, put)
    assert errors == []
    assert all(len(ids) == 1 for ids in refs.values()) and len(refs) == 3
    erp = database.open()
    assert len(sql(erp, "SELECT id FROM sales_orders")) == 3
    assert len(sql(erp, "SELECT id FROM sales_order_lines")) == 18  # one set of lines each, never two interleaved
    erp.close()


def test_the_orders_flow_helper_uses_the_batch(staging: StagingErp, monkeypatch: pytest.MonkeyPatch) -> None:
    def one_at_a_time(*args: object, **kwargs: object) -> ErpRef:
        raise AssertionError("put_sales_order called: the page should have gone in one put_sales_orders")

    monkeypatch.setattr(staging, "put_sales_order", one_at_a_time)
    results = put_sales_orders(staging, "shop", [make_order(101), make_order(102)])
    assert [isinstance(result, ErpRef) for result in results] == [True, True]


def test_an_unreachable_database_stops_the_run(tmp_path: Path) -> None:
    with pytest.raises(ErpUnavailable, match=r"staging database .* cannot be used"):
        StagingErp("postgresql+psycopg://woobridge:secret-pw@127.0.0.1:1/nowhere", connect_args={"connect_timeout": 2})
    erp = StagingErp(f"sqlite:///{tmp_path / 'staging.sqlite'}")
    with erp.engine.begin() as db:
        db.execute(text("DROP TABLE sales_order_lines"))
    with pytest.raises(ErpUnavailable) as caught:
        erp.put_sales_order("shop", make_order())
    assert "secret-pw" not in str(caught.value)
    erp.close()


def test_the_password_never_shows_in_the_error(tmp_path: Path) -> None:
    with pytest.raises(ErpUnavailable) as caught:
        StagingErp("postgresql+psycopg://woobridge:secret-pw@127.0.0.1:1/nowhere", connect_args={"connect_timeout": 2})
    assert "secret-pw" not in str(caught.value) and "***" in str(caught.value)


# -- customers --------------------------------------------------------------------------------------------------------


def test_a_guest_who_registers_later_keeps_their_customer_row(staging: StagingErp) -> None:
    guest = staging.put_customer("shop", make_customer(0, " ZOE@example.com"))
    assert guest.created
    assert staging.put_customer("shop", make_customer(0, "zoe@EXAMPLE.com")).erp_id == guest.erp_id
    sql(staging, "UPDATE customers SET erp_status = 'accepted', erp_document_no = 'C-7'")

    registered = staging.put_customer("shop", make_customer(42, "zoe@example.com", phone="+33 6"))
    assert (registered.erp_id, registered.document_no, registered.created) == (guest.erp_id, "C-7", False)
    [row] = sql(staging, "SELECT customer_key, store_customer_id, phone, revision, erp_status FROM customers")
    assert row == {
        "customer_key": "id:42",
        "store_customer_id": 42,
        "phone": "+33 6",
        "revision": 2,
        "erp_status": "updated",
    }
    # Later guest orders with that e-mail are the registered customer, who keeps their own details.
    assert staging.put_customer("shop", make_customer(0, "zoe@example.com", phone="x")).erp_id == guest.erp_id
    assert sql(staging, "SELECT phone FROM customers") == [{"phone": "+33 6"}]
    # A registered customer whose e-mail changes is still the same row.
    assert staging.put_customer("shop", make_customer(42, "zoe@new.example")).erp_id == guest.erp_id
    assert len(sql(staging, "SELECT id FROM customers")) == 1


def test_customers_are_keyed_per_connection_and_guests_need_an_email(staging: StagingErp) -> None:
    assert staging.put_customer("a", make_customer(7)).erp_id != staging.put_customer("b", make_customer(7)).erp_id
    with pytest.raises(ErpRecordError, match="guest customer needs an e-mail"):
        staging.put_customer("a", make_customer(0, ""))


# -- credit memos from the store --------------------------------------------------------------------------------------


def test_a_store_refund_becomes_one_credit_memo_linked_to_its_order(staging: StagingErp) -> None:
    order = staging.put_sales_order("shop", make_order())
    memo = staging.put_credit_memo("shop", make_refund())
    assert memo.created
    assert staging.put_credit_memo("shop", make_refund()).erp_id == memo.erp_id
    [row] = sql(staging, "SELECT * FROM credit_memos")
    assert str(row["sales_order_id"]) == order.erp_id
    assert (row["store_refund_id"], row["store_order_id"], row["reason"], row["revision"]) == (900, 101, "Too small", 1)
    assert bool(row["restock"]) is True and Decimal(str(row["amount"])) == Decimal("9.9")
    [line] = sql(staging, "SELECT * FROM credit_memo_lines")
    assert (line["store_line_id"], line["sku"], Decimal(str(line["tax"]))) == (11, "SHIRT-L", Decimal("0.9"))
    staging.put_credit_memo("shop", make_refund(reason="Wrong colour", lines=()))
    assert sql(staging, "SELECT reason, revision FROM credit_memos") == [{"reason": "Wrong colour", "revision": 2}]
    assert sql(staging, "SELECT id FROM credit_memo_lines") == []


def test_a_credit_memo_without_a_refund_id_or_with_negative_amounts_is_refused(staging: StagingErp) -> None:
    with pytest.raises(ErpRecordError, match="refund id"):
        staging.put_credit_memo("shop", make_refund(0))
    with pytest.raises(ErpRecordError, match="positive"):
        staging.put_credit_memo("shop", make_refund(amount=Decimal("-9.90")))


# -- items: the first import from the store, and the catalog the ERP wants in the store ------------------------------


def _hoodie(store_product_id: int = 70) -> Item:
    return Item(
        sku="HOODIE",
        name="Hoodie",
        description="<p>Warm</p>",
        regular_price=Decimal("39.90"),
        weight=Decimal("0.5"),
        category_path=("Clothing", "Hoodies"),
        attributes={"Size": ("S", "M")},
        variants=(
            ItemVariant(sku="HOODIE-S", attributes={"Size": "S"}, store_variation_id=71),
            ItemVariant(sku="HOODIE-M", attributes={"Size": "M"}, regular_price=Decimal("41"), store_variation_id=72),
        ),
        image_urls=("https://shop.test/hoodie.jpg",),
        store_product_id=store_product_id,
    )


def test_the_first_import_fills_items_and_items_reads_them_back(staging: StagingErp) -> None:
    [ref] = staging.put_items("shop", [_hoodie()])
    assert ref.created
    [row] = sql(staging, "SELECT connection, source, erp_status, woo_status, woo_ref FROM items")
    assert row == {"connection": "shop", "source": "store", "erp_status": "new", "woo_status": "done", "woo_ref": "70"}
    assert staging.items("shop") == [_hoodie()]
    assert staging.items("another-shop") == []
    # Importing again refreshes the row while the ERP has not taken it over.
    [again] = staging.put_items("shop", [_hoodie().model_copy(update={"name": "Hoodie 2"})])
    assert again.erp_id == ref.erp_id and not again.created
    assert [item.name for item in staging.items("shop")] == ["Hoodie 2"]


def test_an_import_never_overwrites_an_item_the_erp_already_has(staging: StagingErp) -> None:
    sql(staging, "INSERT INTO items (sku, name, regular_price) VALUES ('HOODIE', 'ERP hoodie', 35)")
    sql(
        staging,
        "INSERT INTO item_variants (item_id, sku, attributes) SELECT id, 'HOODIE-S', '{\"Size\": \"S\"}' FROM items",
    )
    [ref] = staging.put_items("shop", [_hoodie()])
    assert not ref.created
    [item] = staging.items("shop")
    assert (item.name, item.regular_price, item.store_product_id) == ("ERP hoodie", Decimal(35), 70)
    assert [(v.sku, v.store_variation_id) for v in item.variants] == [("HOODIE-S", 71)]


def test_an_import_without_skus_or_with_twice_the_same_is_refused(staging: StagingErp) -> None:
    with pytest.raises(ErpRecordError, match="has no SKU"):
        staging.put_items("shop", [_hoodie().model_copy(update={"sku": " "})])
    with pytest.raises(ErpRecordError, match="twice"):
        staging.put_items("shop", [_hoodie(), _hoodie()])
    assert sql(staging, "SELECT id FROM items") == []


def test_items_the_erp_writes_in_plain_sql(staging: StagingErp) -> None:
    sql(
        staging,
        "INSERT INTO items (sku, name, short_description, regular_price, sale_price, length, width, height, "
        "status, category_path, attributes, image_urls) VALUES ('TEE', 'Tee', 'Soft', 19.9, 15, 30, 20, 1.5, "
        '\'active\', \'["Clothing", "Shirts"]\', \'{"Color": ["Blue", "Red"]}\', \'["https://erp/tee.jpg"]\')',
    )
    sql(staging, "INSERT INTO items (sku, name, status) VALUES ('OLD', 'Old thing', 'inactive')")
    sql(staging, "INSERT INTO items (connection, sku, name, regular_price) VALUES ('shop', 'TEE', 'Shop tee', 21)")
    sql(
        staging,
        "INSERT INTO item_variants (item_id, sku, attributes, position) "
        "SELECT id, 'TEE-RED', '{\"Color\": \"Red\"}', 2 FROM items WHERE sku = 'TEE' AND connection IS NULL",
    )
    sql(
        staging,
        "INSERT INTO item_variants (item_id, sku, attributes, position, sale_price) "
        "SELECT id, 'TEE-BLUE', '{\"Color\": \"Blue\"}', 1, 9.5 FROM items WHERE sku = 'TEE' AND connection IS NULL",
    )
    other = {item.sku: item for item in staging.items("other")}
    tee = other["TEE"]
    assert (tee.regular_price, tee.sale_price, tee.height, tee.category_path) == (
        Decimal("19.9"),
        Decimal(15),
        Decimal("1.5"),
        ("Clothing", "Shirts"),
    )
    assert tee.attributes == {"Color": ("Blue", "Red")} and tee.image_urls == ("https://erp/tee.jpg",)
    assert [(v.sku, v.sale_price) for v in tee.variants] == [("TEE-BLUE", Decimal("9.5")), ("TEE-RED", None)]
    assert other["OLD"].status == "inactive"
    # The shop's own row replaces the shared one for that shop.
    assert {item.sku: item.name for item in staging.items("shop")} == {"OLD": "Old thing", "TEE": "Shop tee"}


def test_an_item_row_that_makes_no_sense_is_marked_and_left_out(staging: StagingErp) -> None:
    sql(staging, "INSERT INTO items (sku, name) VALUES ('GOOD', 'Good')")
    sql(staging, """INSERT INTO items (sku, name, category_path) VALUES ('BAD', 'Bad', '"Clothing > Shirts"')""")
    assert [item.sku for item in staging.items("shop")] == ["GOOD"]
    [bad] = sql(staging, "SELECT woo_status, woo_message FROM items WHERE sku = 'BAD'")
    assert bad["woo_status"] == "error" and "category_path must be a JSON list" in bad["woo_message"]
    staging.acknowledge_item("shop", "GOOD", Acknowledgement("done", store_ref="80"))
    assert sql(staging, "SELECT woo_status, woo_ref FROM items WHERE sku = 'GOOD'") == [
        {"woo_status": "done", "woo_ref": "80"}
    ]


# -- shipments ---------------------------------------------------------------------------------------------------------


def test_shipments_the_erp_writes_are_pending_until_acknowledged(staging: StagingErp) -> None:
    sql(
        staging,
        "INSERT INTO shipments (erp_shipment_id, connection, store_order_id, carrier, tracking_number, tracking_url, "
        "shipped_at) VALUES ('SH-1', 'shop', 101, 'UPS', '1Z999', 'https://ups.example/1Z999', '2025-03-02 08:30:00')",
    )
    sql(staging, "INSERT INTO shipment_lines (shipment_id, store_line_id, quantity) SELECT id, 11, 2 FROM shipments")
    sql(staging, "INSERT INTO shipment_lines (shipment_id, sku, quantity) SELECT id, 'MUG', 1 FROM shipments")
    sql(staging, "INSERT INTO shipments (erp_shipment_id, connection, store_order_id) VALUES ('SH-2', 'shop', 102)")
    sql(staging, "INSERT INTO shipments (erp_shipment_id, connection, store_order_id) VALUES ('SH-1', 'other', 5)")

    pending = staging.pending_shipments("shop")
    assert pending == [
        Shipment(
            erp_shipment_id="SH-1",
            store_order_id=101,
            lines=(
                ShipmentLine(store_line_id=11, quantity=Decimal(2)),
                ShipmentLine(sku="MUG", quantity=Decimal(1)),
            ),
            carrier="UPS",
            tracking_number="1Z999",
            tracking_url="https://ups.example/1Z999",
            shipped_at=datetime(2025, 3, 2, 8, 30, tzinfo=UTC),
        ),
        Shipment(erp_shipment_id="SH-2", store_order_id=102),
    ]
    assert [s.erp_shipment_id for s in staging.pending_shipments("shop", limit=1)] == ["SH-1"]

    staging.acknowledge_shipment("shop", "SH-1", Acknowledgement("done", store_ref="tracking 5"))
    staging.acknowledge_shipment("shop", "SH-2", Acknowledgement("error", "order 102 is cancelled"))
    assert staging.pending_shipments("shop") == []
    rows = sql(
        staging, "SELECT connection, woo_status, woo_message, woo_ref, woo_processed_at FROM shipments ORDER BY id"
    )
    assert [(r["connection"], r["woo_status"], r["woo_message"], r["woo_ref"]) for r in rows] == [
        ("shop", "done", None, "tracking 5"),
        ("shop", "error", "order 102 is cancelled", None),
        ("other", "pending", None, None),
    ]
    assert rows[0]["woo_processed_at"] is not None
    # The ERP fixes the problem and asks again.
    sql(staging, "UPDATE shipments SET woo_status = 'pending' WHERE erp_shipment_id = 'SH-2'")
    assert [s.erp_shipment_id for s in staging.pending_shipments("shop")] == ["SH-2"]
    with pytest.raises(ErpRecordError, match="no shipment 'SH-9'"):
        staging.acknowledge_shipment("shop", "SH-9", Acknowledgement("done"))


def test_a_shipment_that_makes_no_sense_is_marked_and_the_others_go_on(staging: StagingErp) -> None:
    sql(staging, "INSERT INTO shipments (erp_shipment_id, connection, store_order_id) VALUES ('A', 'shop', 101)")
    sql(staging, "INSERT INTO shipments (erp_shipment_id, connection, store_order_id) VALUES ('B', 'shop', 102)")
    sql(staging, "INSERT INTO shipments (erp_shipment_id, connection, store_order_id) VALUES ('C', 'shop', 103)")
    sql(
        staging,
        "INSERT INTO shipment_lines (shipment_id, quantity) SELECT id, 1 FROM shipments WHERE erp_shipment_id = 'B'",
    )
    sql(
        staging,
        "INSERT INTO shipment_lines (shipment_id, store_line_id, quantity) "
        "SELECT id, 7, 0 FROM shipments WHERE erp_shipment_id = 'C'",
    )
    assert [s.erp_shipment_id for s in staging.pending_shipments("shop")] == ["A"]
    marked = sql(staging, "SELECT erp_shipment_id, woo_status, woo_message FROM shipments ORDER BY id")
    assert [(m["erp_shipment_id"], m["woo_status"]) for m in marked] == [
        ("A", "pending"),
        ("B", "error"),
        ("C", "error"),
    ]
    assert "give the order line (store_line_id) or the sku" in marked[1]["woo_message"]
    assert "quantity 0 must be more than 0" in marked[2]["woo_message"]


# -- credit memos made in the ERP -------------------------------------------------------------------------------------


def test_erp_credit_memos_are_pending_until_acknowledged(staging: StagingErp) -> None:
    sql(
        staging,
        "INSERT INTO erp_credit_memos (erp_memo_id, connection, store_order_id, amount, reason, restock, currency) "
        "VALUES ('CM-1', 'shop', 101, 11, 'Damaged', 1 = 1, 'eur')",
    )
    sql(
        staging,
        "INSERT INTO erp_credit_memo_lines (erp_credit_memo_id, store_line_id, quantity, amount, tax) "
        "SELECT id, 11, 1, 10, 1 FROM erp_credit_memos",
    )
    sql(
        staging,
        "INSERT INTO erp_credit_memos (erp_memo_id, connection, store_order_id, amount) "
        "VALUES ('CM-2', 'shop', 102, 5)",
    )
    [one, two] = staging.pending_credit_memos("shop")
    assert one.model_copy(update={"created_at": None}) == CreditMemo(
        store_order_id=101,
        erp_memo_id="CM-1",
        lines=(CreditMemoLine(store_line_id=11, quantity=Decimal(1), amount=Decimal(10), tax=Decimal(1)),),
        amount=Decimal(11),
        reason="Damaged",
        restock=True,
        currency="EUR",
    )
    assert one.created_at is not None and one.created_at.tzinfo is UTC
    assert (two.erp_memo_id, two.lines, two.restock) == ("CM-2", (), False)
    staging.acknowledge_credit_memo("shop", "CM-1", Acknowledgement("done", store_ref="refund 950"))
    assert [m.erp_memo_id for m in staging.pending_credit_memos("shop")] == ["CM-2"]
    with pytest.raises(ErpRecordError, match="no credit memo"):
        staging.acknowledge_credit_memo("other", "CM-2", Acknowledgement("done"))


def test_an_erp_credit_memo_whose_lines_do_not_add_up_is_marked(staging: StagingErp) -> None:
    sql(
        staging,
        "INSERT INTO erp_credit_memos (erp_memo_id, connection, store_order_id, amount) VALUES ('X', 's', 1, 20)",
    )
    sql(
        staging,
        "INSERT INTO erp_credit_memo_lines (erp_credit_memo_id, sku, amount) "
        "SELECT id, 'MUG', 10 FROM erp_credit_memos",
    )
    assert staging.pending_credit_memos("s") == []
    [row] = sql(staging, "SELECT woo_status, woo_message FROM erp_credit_memos")
    assert row["woo_status"] == "error" and "differs from the sum of its lines" in row["woo_message"]


# -- stock levels ------------------------------------------------------------------------------------------------------


def test_stock_levels_sum_over_warehouses_and_the_connections_own_rows_win(staging: StagingErp) -> None:
    for connection, sku, warehouse, quantity in [
        (None, "MUG", "north", "10"),
        (None, "MUG", "south", "5.5"),
        ("shop", "MUG", "south", "2"),  # this shop's own figure for the south warehouse
        (None, "TEE", "north", "-3"),
        ("other", "TEE", "north", "100"),
        (None, "CAP", "", "7"),
    ]:
        sql(
            staging,
            "INSERT INTO stock_levels (connection, sku, warehouse, quantity) VALUES (:c, :s, :w, :q)",
            c=connection,
            s=sku,
            w=warehouse,
            q=float(quantity),
        )
    assert list(staging.stock_levels("shop")) == [
        StockLevel(sku="CAP", quantity=Decimal(7), warehouse=""),
        StockLevel(sku="MUG", quantity=Decimal(12)),
        StockLevel(sku="TEE", quantity=Decimal(-3), warehouse="north"),
    ]
    assert list(staging.stock_levels("shop", ["south"])) == [
        StockLevel(sku="MUG", quantity=Decimal(2), warehouse="south")
    ]
    assert {s.sku: s.quantity for s in staging.stock_levels("other", ["north", "south"])} == {
        "MUG": Decimal("15.5"),
        "TEE": Decimal(100),
    }
    assert list(staging.stock_levels("shop", [])) == []
    staging.acknowledge_stock_level("shop", "MUG", Acknowledgement("done"))
    acked = sql(staging, "SELECT connection, woo_status FROM stock_levels WHERE sku = 'MUG' ORDER BY id")
    assert [a["woo_status"] for a in acked] == ["pending", "pending", "done"]  # the shop's own row


def test_the_database_keeps_one_shared_stock_row_per_sku_and_warehouse(staging: StagingErp) -> None:
    sql(staging, "INSERT INTO stock_levels (sku, warehouse, quantity) VALUES ('MUG', 'north', 1)")
    with pytest.raises(Exception, match=r"(?i)unique"):
        sql(staging, "INSERT INTO stock_levels (sku, warehouse, quantity) VALUES ('MUG', 'north', 2)")


# -- opening ---------------------------------------------------------------------------------------------------------


def test_open_erp_defaults_to_a_staging_file_in_woobridge_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WOOBRIDGE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("WOOBRIDGE_STAGING_URL", raising=False)
    erp = open_erp()
    assert isinstance(erp, StagingErp)
    assert erp.url.database == str(tmp_path / "home" / "staging.sqlite")
    erp.close()
    monkeypatch.setenv("WOOBRIDGE_STAGING_URL", f"sqlite:///{tmp_path / 'elsewhere.sqlite'}")
    erp = open_erp("staging")
    assert isinstance(erp, StagingErp) and erp.url.database == str(tmp_path / "elsewhere.sqlite")
    [mode] = sql(erp, "PRAGMA journal_mode")
    assert mode == {"journal_mode": "wal"}
    erp.close()
    with pytest.raises(ValueError, match="unknown ERP adapter 'sap'"):
        open_erp("sap")


def test_a_page_follows_the_revision_and_erp_status_rules_order_by_order(staging: StagingErp) -> None:
    staging.put_sales_orders("shop", [make_order(101), make_order(102), make_order(103)])
    sql(
        staging,
        "UPDATE sales_orders SET erp_status = 'accepted', erp_document_no = 'SO-102' WHERE store_order_id = 102",
    )
    again = staging.put_sales_orders(
        "shop",
        [
            make_order(101, status="completed"),  # changed, the ERP has not read it yet: stays new
            make_order(102, status="completed"),  # changed after the ERP took it: updated
            make_order(103),  # identical: untouched
            make_order(104),  # new
        ],
    )
    assert [ref.created for ref in again] == [False, False, False, True]  # type: ignore[union-attr]
    assert again[1].document_no == "SO-102"  # type: ignore[union-attr]
    rows = sql(staging, "SELECT store_order_id, revision, erp_status FROM sales_orders ORDER BY store_order_id")
    assert rows == [
        {"store_order_id": 101, "revision": 2, "erp_status": "new"},
        {"store_order_id": 102, "revision": 2, "erp_status": "updated"},
        {"store_order_id": 103, "revision": 1, "erp_status": "new"},
        {"store_order_id": 104, "revision": 1, "erp_status": "new"},
    ]
    assert len(sql(staging, "SELECT id FROM sales_order_lines")) == 24


def test_the_same_order_twice_in_a_page_is_one_row_with_the_later_version(staging: StagingErp) -> None:
    first, second = staging.put_sales_orders("shop", [make_order(101), make_order(101, status="completed")])
    assert first.created and not second.created and first.erp_id == second.erp_id  # type: ignore[union-attr]
    assert sql(staging, "SELECT revision, status FROM sales_orders") == [{"revision": 2, "status": "completed"}]
    assert len(sql(staging, "SELECT id FROM sales_order_lines")) == 6


# -- what the page writes: the values SQLAlchemy's Core would write ----------------------------------------------------


def _stored(erp: StagingErp, table: str, where: str) -> list[dict[str, str]]:
    """The rows as the database holds them, in id order: each value with its storage type, as text (no driver
    conversion). ``where`` is SQL written by the test."""
    columns = [column.name for column in metadata.tables[table].columns]
    with erp.engine.begin() as db:
        if db.dialect.name == "sqlite":
            shown = [f"typeof({c}) || ':' || quote({c}) AS {c}" for c in columns]
        else:
            shown = [f"pg_typeof({c})::text || ':' || coalesce({c}::text, 'NULL') AS {c}" for c in columns]
        query = f"SELECT {', '.join(shown)} FROM {table} WHERE {where} ORDER BY id"  # noqa: S608
        return [dict(row._mapping) for row in db.execute(text(query))]


def test_a_page_writes_the_values_sqlalchemy_would_write(staging: StagingErp, monkeypatch: pytest.MonkeyPatch) -> None:
    # put_sales_orders hands the driver values it converted itself (one executemany, no per-row processing by the
    # Core): they must be the very values an INSERT through the Core writes, type for type, on every database.
    now = datetime(2025, 3, 2, 8, 30, 15, 250_000, tzinfo=UTC)
    monkeypatch.setattr(adapter, "_now", lambda: now)
    order = make_order(101, paid_at=None, created_at=datetime(2025, 3, 1, 10, 0, 0, 123_456, tzinfo=UTC))
    [ref] = staging.put_sales_orders("shop", [order])
    assert isinstance(ref, ErpRef)

    header = staging_rows.sales_order_row("shop", order.model_copy(update={"store_order_id": 9101}))
    with staging.engine.begin() as db:
        core = {**header, "document": json.loads(header["document"]), "revision": 1, "erp_status": "new"}
        inserted = db.execute(insert(sales_orders), {**core, "created_at": now, "updated_at": now})
        row_id = inserted.inserted_primary_key[0]  # type: ignore[index]
        db.execute(
            insert(sales_order_lines),
            [
                {
                    **line,
                    "taxes": json.loads(line["taxes"]),
                    "attributes": json.loads(line["attributes"]),
                    "sales_order_id": row_id,
                }
                for line in staging_rows.sales_order_lines(order)
            ],
        )

    [ours] = _stored(staging, "sales_orders", "store_order_id = 101")
    [core_row] = _stored(staging, "sales_orders", "store_order_id = 9101")
    for name in ("id", "store_order_id", "document"):
        del ours[name], core_row[name]
    assert ours == core_row
    ours_lines = _stored(staging, "sales_order_lines", f"sales_order_id = {ref.erp_id}")
    core_lines = _stored(staging, "sales_order_lines", f"sales_order_id = {row_id}")
    for line in (*ours_lines, *core_lines):
        del line["id"], line["sales_order_id"]
    by_line_no = itemgetter("line_no")
    assert sorted(ours_lines, key=by_line_no) == sorted(core_lines, key=by_line_no) and len(ours_lines) == 6
    # The document column: the same JSON value (pydantic writes it more compactly than json.dumps).
    [documents] = sql(staging, "SELECT document FROM sales_orders WHERE store_order_id = 101")
    stored = documents["document"]
    assert (json.loads(stored) if isinstance(stored, str) else stored) == order.model_dump(mode="json")


def test_a_document_stored_by_an_older_woobridge_is_the_same_document(staging: StagingErp) -> None:
    # Older versions stored json.dumps' text (spaced, non-ASCII escaped): the same order put again is unchanged.
    order = make_order()
    staging.put_sales_orders("shop", [order])
    sql(staging, "UPDATE sales_orders SET document = :text", text=json.dumps(order.model_dump(mode="json")))
    staging.put_sales_orders("shop", [order])
    staging.put_sales_order("shop", order)
    assert sql(staging, "SELECT revision, erp_status FROM sales_orders") == [{"revision": 1, "erp_status": "new"}]
    staging.put_sales_orders("shop", [make_order(status="completed")])
    assert sql(staging, "SELECT revision, status FROM sales_orders") == [{"revision": 2, "status": "completed"}]


def test_the_refusals_of_a_page_are_those_of_one_order_at_a_time(staging: StagingErp) -> None:
    # A page is measured column by column, and only a page with a value that may not fit is checked order by
    # order: each refused order gets the error a single put gives it, the others are written.
    line = make_order().lines[0]
    bad = {
        102: make_order(102, billing=make_order().billing.model_copy(update={"postcode": "9" * 41})),
        104: make_order(104, lines=(line.model_copy(update={"unit_price": Decimal("-1e12")}),)),
        105: make_order(105, lines=(line.model_copy(update={"quantity": Decimal("NaN")}),)),
        107: make_order(107, currency="E" * 9),
    }
    page = [bad.get(order_id) or make_order(order_id) for order_id in range(101, 109)]
    results = staging.put_sales_orders("shop", page)
    for order, result in zip(page, results, strict=True):
        if order.store_order_id in bad:
            with pytest.raises(ErpRecordError) as single:
                staging.put_sales_order("shop", order)
            assert isinstance(result, ErpRecordError) and str(result) == str(single.value)
        else:
            assert isinstance(result, ErpRef) and result.created
    assert len(sql(staging, "SELECT id FROM sales_orders")) == 4


def test_a_page_is_measured_column_by_column_and_anything_unusual_is_checked_row_by_row() -> None:
    header = staging_rows.sales_order_row("shop", make_order())
    lines = staging_rows.sales_order_lines(make_order())
    assert staging_rows.all_fit(sales_orders, [header, header]) and staging_rows.all_fit(sales_order_lines, lines)
    unusual = [
        {**header, "currency": "E" * 9},  # too long
        {**header, "total": Decimal("-1e12")},  # out of range
        {**header, "total": Decimal("NaN")},  # not a number
        {**header, "erp_document_no": "x" * 65},  # a column the first row lacks
        {**header, "order_number": None},  # fits (check_fits passes None), but not what the column should hold
    ]
    for row in unusual:
        assert not staging_rows.all_fit(sales_orders, [header, row])
    staging_rows.check_fits(sales_orders, unusual[-1], "order 101")
    assert not staging_rows.all_fit(sales_order_lines, [*lines, {**lines[0], "sku": "X" * 101}])
