"""The Tryton adapter against a real trytond: every port method, idempotency and record errors."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D
from typing import Any

import pytest

from woobridge.documents import (
    Address,
    CreditMemo,
    CreditMemoLine,
    Customer,
    CustomerRef,
    Item,
    ItemVariant,
    SalesOrder,
    SalesOrderLine,
    ShippingLine,
    TaxAmount,
)
from woobridge.erp.port import Acknowledgement, ErpPort, ErpRecordError
from woobridge.erp.tryton import TrytonAdapter, backoffice

NOW = dt.datetime.now(dt.UTC)
ANN = Address(
    first_name="Ann", last_name="Lee", address_1="1 Main St", city="Los Angeles", state="CA", postcode="90001",
    country="US", email="ann@example.test",
)  # fmt: skip
TAX10 = TaxAmount(rate_id=1, rate_code="US-TAX-1", label="Tax", rate_percent=D("10"), amount=D("0"))


def order(
    order_id: int, *, status: str = "processing", qty: int = 3, total: str = "38.00", **changes: Any
) -> SalesOrder:
    """3 mugs at 10.00 with 10% tax (3.00) and 5.00 flat-rate shipping: 38.00."""
    values: dict[str, Any] = {
        "store_order_id": order_id, "number": str(order_id), "status": status, "currency": "USD",
        "created_at": NOW, "modified_at": NOW, "customer": CustomerRef(email="Ann@Example.test", name="Ann Lee"),
        "billing": ANN, "shipping": ANN,
        "lines": (
            SalesOrderLine(
                store_line_id=order_id * 10 + 1, sku="MUG", name="Mug", quantity=D(qty), unit_price=D("10"),
                subtotal=D(10 * qty), total=D(10 * qty), tax_total=D(qty),
                taxes=(TAX10.model_copy(update={"amount": D(qty)}),),
            ),
        ),
        "shipping_lines": (
            ShippingLine(store_line_id=order_id * 10 + 2, method_id="flat_rate", method_title="Flat", total=D("5.00")),
        ),
        "total": D(total),
    }  # fmt: skip
    values.update(changes)
    return SalesOrder(**values)


@pytest.fixture
def erp(adapter: TrytonAdapter) -> TrytonAdapter:
    adapter.put_items("shop", [Item(sku="MUG", name="Mug", regular_price=D("10"))])
    return adapter


def sale(erp: TrytonAdapter, sale_id: str, *fields: str) -> dict[str, Any]:
    (row,) = erp.rpc.model("sale.sale").read([int(sale_id)], list(fields))
    return row


def test_it_is_an_erp_port(adapter: TrytonAdapter) -> None:
    assert isinstance(adapter, ErpPort)


def test_an_order_becomes_a_confirmed_sale_with_party_addresses_lines_taxes_and_shipping(erp: TrytonAdapter) -> None:
    ref = erp.put_sales_order("shop", order(101))

    assert ref.created and ref.document_no
    row = sale(erp, ref.erp_id, "reference", "state", "total_amount", "tax_amount", "party.name", "lines",
               "shipment_address.city", "shipment_address.subdivision.code", "shipment_cost_method")  # fmt: skip
    assert row["reference"] == "shop:101"
    assert row["state"] == "processing"  # confirmed, then processed: shipments and invoice made
    assert row["total_amount"] == D("38.00") and row["tax_amount"] == D("3.00")
    assert row["party."]["name"] == "Ann Lee"
    assert row["shipment_address."]["city"] == "Los Angeles"
    assert row["shipment_address."]["subdivision."]["code"] == "US-CA"
    assert row["shipment_cost_method"] is None
    lines = erp.rpc.model("sale.line").read(row["lines"], ["product.code", "quantity", "unit_price", "taxes.rate"])
    assert [(line["product."]["code"], line["quantity"], line["unit_price"]) for line in lines] == [
        ("MUG", 3.0, D("10.0000")),
        ("SHIPPING", 1.0, D("5.0000")),
    ]
    assert [t["rate"] for t in lines[0]["taxes."]] == [D("0.10")]
    assert erp.find_sales_order("shop", 101) == ref.__class__(ref.erp_id, ref.document_no, created=False)
    assert erp.find_sales_order("other-shop", 101) is None


def test_the_same_order_twice_makes_one_sale_and_the_party_is_reused(erp: TrytonAdapter) -> None:
    first = erp.put_sales_order("shop", order(102))
    again = erp.put_sales_order("shop", order(102))
    batch = erp.put_sales_orders("shop", [order(103), order(103), order(102)])

    assert again.erp_id == first.erp_id and not again.created
    assert [getattr(r, "created", None) for r in batch] == [True, False, False]
    assert (
        erp.rpc.model("sale.sale").search([("reference", "in", ["shop:102", "shop:103"])])
        and len(erp.rpc.model("sale.sale").search([("reference", "in", ["shop:102", "shop:103"])])) == 2
    )
    parties = erp.rpc.model("party.contact_mechanism").search([("value", "=", "ann@example.test")])
    assert len(parties) == 1  # the e-mail is matched lower-cased; one party, one address for both orders
    (party,) = erp.rpc.model("party.contact_mechanism").read(parties, ["party"])
    assert len(erp.rpc.model("party.address").search([("party", "=", party["party"])])) == 1


def test_store_rounding_differences_become_an_adjustment_line(erp: TrytonAdapter) -> None:
    ref = erp.put_sales_order("shop", order(104, total="38.01", rounding_adjustment=D("0.01")))

    row = sale(erp, ref.erp_id, "total_amount", "lines")
    assert row["total_amount"] == D("38.01")
    lines = erp.rpc.model("sale.line").read(row["lines"], ["description", "unit_price", "taxes"])
    assert {"description": "Rounding adjustment (store total)", "unit_price": D("0.0100"), "taxes": []} in [
        {k: v for k, v in line.items() if k != "id"} for line in lines
    ]


def test_a_bad_order_is_a_record_error_and_the_others_in_its_batch_go_in(erp: TrytonAdapter) -> None:
    unknown = order(105).model_copy(update={"lines": (order(105).lines[0].model_copy(update={"sku": "NOPE"}),)})
    untaxable = order(106).model_copy(
        update={"lines": (order(106).lines[0].model_copy(update={"taxes": (TAX10.model_copy(
            update={"rate_percent": D("13"), "amount": D("3.9")}),)}),)}
    )  # fmt: skip
    results = erp.put_sales_orders("shop", [order(107), unknown, untaxable, order(108)])

    assert not isinstance(results[0], ErpRecordError) and not isinstance(results[3], ErpRecordError)
    assert isinstance(results[1], ErpRecordError) and "no product with code 'NOPE'" in str(results[1])
    assert isinstance(results[2], ErpRecordError) and "no percentage tax of 13%" in str(results[2])
    with pytest.raises(ErpRecordError, match="NOPE"):
        erp.put_sales_order("shop", unknown)
    assert erp.find_sales_order("shop", 105) is None


def test_an_unpaid_order_is_quoted_then_confirmed_once_paid_and_edits_follow_while_allowed(erp: TrytonAdapter) -> None:
    ref = erp.put_sales_order("shop", order(109, status="on-hold"))
    assert sale(erp, ref.erp_id, "state")["state"] == "quotation"

    moved = ANN.model_copy(update={"city": "San Diego", "postcode": "92101"})
    erp.put_sales_order("shop", order(109, status="on-hold", qty=4, total="49.00", shipping=moved))
    row = sale(erp, ref.erp_id, "state", "total_amount", "shipment_address.city")
    assert (row["state"], row["total_amount"], row["shipment_address."]["city"]) == (
        "quotation", D("49.00"), "San Diego"
    )  # fmt: skip

    paid = erp.put_sales_order("shop", order(109, qty=4, total="49.00", shipping=moved))
    assert paid.erp_id == ref.erp_id and not paid.created
    assert sale(erp, ref.erp_id, "state")["state"] == "processing"
    # Sent again unchanged (e.g. the store added a note): nothing to do, no error.
    erp.put_sales_order("shop", order(109, status="completed", qty=4, total="49.00", shipping=moved))

    with pytest.raises(ErpRecordError, match="shipping address"):
        erp.put_sales_order("shop", order(109, qty=4, total="49.00"))
    with pytest.raises(ErpRecordError, match="cannot cancel a confirmed sale"):
        erp.put_sales_order("shop", order(109, status="cancelled", qty=4, total="49.00", shipping=moved))


def test_a_store_cancellation_cancels_an_unconfirmed_sale(erp: TrytonAdapter) -> None:
    ref = erp.put_sales_order("shop", order(110, status="on-hold"))
    erp.put_sales_order("shop", order(110, status="cancelled"))
    assert sale(erp, ref.erp_id, "state")["state"] == "cancelled"
    erp.put_sales_order("shop", order(110, status="cancelled"))  # again: nothing to do
    reopened = erp.put_sales_order("shop", order(110))  # reinstated in the store
    assert reopened.erp_id == ref.erp_id and sale(erp, ref.erp_id, "state")["state"] == "processing"


def test_shipments_done_in_tryton_are_pending_until_acknowledged(erp: TrytonAdapter) -> None:
    ref = erp.put_sales_order("shop", order(111))
    assert erp.pending_shipments("shop") == []
    backoffice.receive_stock(erp.rpc, {"MUG": 10})
    (shipment_id,) = backoffice.ship_sale(erp.rpc, int(ref.erp_id), "1Z999AA10123456784")

    assert sale(erp, ref.erp_id, "shipment_state")["shipment_state"] == "sent"
    (shipment,) = erp.pending_shipments("shop")
    assert shipment.erp_shipment_id == str(shipment_id) and shipment.store_order_id == 111
    assert shipment.tracking_number == "1Z999AA10123456784"
    assert [(line.store_line_id, line.sku, line.quantity) for line in shipment.lines] == [(1111, "MUG", D(3))]
    assert erp.pending_shipments("other-shop") == []

    erp.acknowledge_shipment("shop", shipment.erp_shipment_id, Acknowledgement("done", store_ref="tracking 9"))
    erp.acknowledge_shipment("shop", shipment.erp_shipment_id, Acknowledgement("done"))  # idempotent
    assert erp.pending_shipments("shop") == []
    notes = erp.rpc.model("ir.note").search_read([("resource", "=", f"stock.shipment.out,{shipment_id}")], ["message"])
    assert [n["message"] for n in notes] == ["[woobridge shop] done: store ref tracking 9"]


def test_stock_levels_forecast_and_available(erp: TrytonAdapter) -> None:
    erp.put_items("shop", [Item(sku="CUP", name="Cup", regular_price=D("4"))])
    backoffice.receive_stock(erp.rpc, {"MUG": 10})
    erp.put_sales_order("shop", order(112))  # 3 mugs promised, not yet shipped

    assert {s.sku: s.quantity for s in erp.stock_levels("shop")} == {"MUG": D(7), "CUP": D(0)}
    assert [s.warehouse for s in erp.stock_levels("shop", ["WH"])] == ["WH", "WH"]
    available = erp.__class__(erp.settings.__class__(**{**erp.settings.__dict__, "stock_quantity": "available"}))
    try:
        assert {s.sku: s.quantity for s in available.stock_levels("shop")}["MUG"] == D(10)
    finally:
        available.close()


def test_refunds_each_way(erp: TrytonAdapter) -> None:
    ref = erp.put_sales_order("shop", order(113))
    # Store → Tryton: a refund of one mug (10.00 + 1.00 tax), restocked, becomes a confirmed return sale.
    memo = CreditMemo(
        store_order_id=113, store_refund_id=900, amount=D("11.00"), reason="Chipped", restock=True,
        lines=(CreditMemoLine(store_line_id=1131, sku="MUG", quantity=D(1), amount=D("10.00"), tax=D("1.00")),),
    )  # fmt: skip
    made = erp.put_credit_memo("shop", memo)
    assert erp.put_credit_memo("shop", memo).erp_id == made.erp_id  # idempotent on the refund id
    row = sale(erp, made.erp_id, "total_amount", "state", "origin", "reference", "shipment_returns")
    assert (row["total_amount"], row["state"], row["origin"]) == (D("-11.00"), "processing", f"sale.sale,{ref.erp_id}")
    assert row["reference"] == "shop:refund:900" and len(row["shipment_returns"]) == 1
    with pytest.raises(ErpRecordError, match="not in Tryton yet"):
        erp.put_credit_memo("shop", memo.model_copy(update={"store_order_id": 999, "store_refund_id": 901}))

    # Tryton → store: a return made with Tryton's "Return Sale" wizard is a pending credit memo, not woobridge's own.
    return_id = backoffice.return_sale(erp.rpc, int(ref.erp_id), {"MUG": 2})
    (pending,) = erp.pending_credit_memos("shop")
    assert pending.erp_memo_id == str(return_id) and pending.store_order_id == 113
    assert pending.amount == D("22.00") and pending.restock
    assert [(line.store_line_id, line.sku, line.quantity, line.amount, line.tax) for line in pending.lines] == [
        (1131, "MUG", D(2), D("20.00"), D("2.00"))
    ]
    erp.acknowledge_credit_memo("shop", pending.erp_memo_id, Acknowledgement("done", store_ref="refund 55"))
    assert erp.pending_credit_memos("shop") == []


def test_customers_become_parties_matched_by_store_id_then_email(erp: TrytonAdapter) -> None:
    guest = Customer(email="Bo@Example.test", first_name="Bo", last_name="Chan", billing=ANN)
    first = erp.put_customer("shop", guest)
    registered = erp.put_customer("shop", guest.model_copy(update={"store_customer_id": 42}))
    renamed = erp.put_customer("shop", guest.model_copy(update={"store_customer_id": 42, "email": "bo@new.test"}))

    assert first.created and not registered.created and not renamed.created
    assert first.erp_id == registered.erp_id == renamed.erp_id
    (party,) = erp.rpc.model("party.party").read(
        [int(first.erp_id)], ["name", "identifiers.code", "contact_mechanisms.value", "addresses"]
    )
    assert party["name"] == "Bo Chan" and [i["code"] for i in party["identifiers."]] == ["shop:customer:42"]
    assert {c["value"] for c in party["contact_mechanisms."]} == {"bo@example.test", "bo@new.test"}
    assert len(party["addresses"]) == 1


def test_items_both_ways_with_variants(adapter: TrytonAdapter) -> None:
    shirt = Item(
        sku="TEE", name="T-Shirt", regular_price=D("15"), attributes={"Size": ("S", "M")},
        variants=(ItemVariant(sku="TEE-S", attributes={"Size": "S"}),
                  ItemVariant(sku="TEE-M", attributes={"Size": "M"})),
    )  # fmt: skip
    refs = adapter.put_items("shop", [Item(sku="BOOK", name="Book", regular_price=D("9.50")), shirt])
    assert [r.created for r in refs] == [True, True]
    again = adapter.put_items("shop", [Item(sku="BOOK", name="Book, 2nd ed.", regular_price=D("11"))])
    assert again[0].erp_id == refs[0].erp_id and not again[0].created

    items = {i.name: i for i in adapter.items("shop")}
    assert items["Book, 2nd ed."].sku == "BOOK" and items["Book, 2nd ed."].regular_price == D("11")
    assert items["Book, 2nd ed."].variants == ()
    assert sorted(v.sku for v in items["T-Shirt"].variants) == ["TEE-M", "TEE-S"]
