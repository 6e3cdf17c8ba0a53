"""Refunds through the REST API: WooCommerce's validation (HTTP 500 with a bare integer as data), gateways,
amounts computed from line items, restocking, the order's refunds[] summary and the global /refunds list."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from woobridge.sandbox.app import Sandbox
from woobridge.sandbox.testing import Keys

from .test_orders import TX, V3, Shop, auth, create, events

__all__ = ["events"]  # a fixture shared with the order tests


@pytest.fixture
def shop(sandbox: Sandbox) -> Shop:
    return Shop(sandbox.store)


async def paid_order(client: httpx.AsyncClient, keys: Keys, shop: Shop, gateway: str = "bacs") -> dict[str, Any]:
    """Shirt ×2 + book + taxable shipping in Texas, paid: total 39.98 + 12.49 + 10 + 3.30 + 0.62 + 0.83 = 67.22."""
    return await create(
        client,
        keys,
        {
            "payment_method": gateway,
            "set_paid": True,
            "billing": TX,
            "line_items": [{"product_id": shop.shirt["id"], "quantity": 2}, {"product_id": shop.book["id"]}],
            "shipping_lines": [{"method_id": "flat_rate", "method_title": "Flat rate", "total": "10.00"}],
        },
    )


async def refund(client: httpx.AsyncClient, keys: Keys, order_id: int, body: dict[str, Any]) -> httpx.Response:
    return await client.post(f"{V3}/orders/{order_id}/refunds", auth=auth(keys), json=body)


async def test_refund_errors_are_http_500_with_a_bare_integer(
    asgi_client: httpx.AsyncClient, keys: Keys, shop: Shop
) -> None:
    order = await paid_order(asgi_client, keys, shop)
    assert order["total"] == "67.22"

    cases = [
        ({"amount": "1000.00"}, "woocommerce_rest_cannot_create_order_refund", "Invalid refund amount.", 500),
        (
            {"amount": "70.00", "api_refund": False},
            "woocommerce_rest_cannot_create_order_refund",
            "Invalid refund amount.",
            500,
        ),
        (
            {"amount": "1.00"},
            "woocommerce_rest_cannot_create_order_refund",
            "The payment gateway for this order does not support automatic refunds.",
            500,
        ),
        (
            {"amount": "0"},
            "woocommerce_rest_cannot_create_order_refund",
            "The payment gateway for this order does not support automatic refunds.",
            500,
        ),
        ({"amount": "-5.00"}, "woocommerce_rest_invalid_order_refund", "Refund amount must be greater than zero.", 400),
    ]
    for body, code, message, data in cases:
        response = await refund(asgi_client, keys, order["id"], body)
        assert response.status_code == 500, body
        assert response.json() == {"code": code, "message": message, "data": data}, body

    unknown = await refund(asgi_client, keys, 999999, {"amount": "1.00"})
    assert unknown.status_code == 500
    assert unknown.json() == {"code": "woocommerce_rest_invalid_order_id", "message": "Invalid order ID.", "data": 404}
    # None of the failures left a refund behind.
    assert (await asgi_client.get(f"{V3}/orders/{order['id']}/refunds", auth=auth(keys))).json() == []


async def test_manual_refund_is_created_and_summarised_on_the_order(
    asgi_client: httpx.AsyncClient, keys: Keys, shop: Shop
) -> None:
    order = await paid_order(asgi_client, keys, shop)

    response = await refund(
        asgi_client, keys, order["id"], {"amount": "5.00", "reason": "manual partial", "api_refund": False}
    )

    assert response.status_code == 201
    body = response.json()
    # WooCommerce puts the unexpanded route pattern in Location.
    assert response.headers["location"] == f"https://shop.test{V3}/orders/(?P<order_id>[\\d]+)/refunds/{body['id']}"
    assert list(body) == [
        "id",
        "date_created",
        "date_created_gmt",
        "amount",
        "reason",
        "refunded_by",
        "refunded_payment",
        "meta_data",
        "line_items",
        "shipping_lines",
        "tax_lines",
        "fee_lines",
        "_links",
    ]
    assert (body["amount"], body["reason"], body["refunded_payment"]) == ("5.00", "manual partial", False)
    assert body["refunded_by"] == keys.admin.user_id
    assert [(m["key"], m["value"]) for m in body["meta_data"]] == [("_refund_type", "partial")]
    assert body["_links"]["self"][0]["targetHints"] == {"allow": ["GET", "DELETE"]}

    after = (await asgi_client.get(f"{V3}/orders/{order['id']}", auth=auth(keys))).json()
    assert after["refunds"] == [{"id": body["id"], "reason": "manual partial", "total": "-5.00", "total_tax": "0.00"}]
    assert (after["status"], after["total"]) == ("processing", "67.22")

    listed = await asgi_client.get(f"{V3}/orders/{order['id']}/refunds", auth=auth(keys))
    assert listed.json() == [body]
    assert (listed.headers["x-wp-total"], listed.headers["x-wp-totalpages"]) == ("1", "1")
    assert (await asgi_client.get(f"{V3}/orders/{order['id']}/refunds/{body['id']}", auth=auth(keys))).json() == body

    # Only 62.22 is left now.
    too_much = await refund(asgi_client, keys, order["id"], {"amount": "62.23", "api_refund": False})
    assert too_much.json()["message"] == "Invalid refund amount."


async def test_refund_without_amount_or_lines_has_an_empty_amount(
    asgi_client: httpx.AsyncClient, keys: Keys, shop: Shop
) -> None:
    order = await paid_order(asgi_client, keys, shop)
    response = await refund(asgi_client, keys, order["id"], {"api_refund": False})
    assert response.status_code == 201
    assert (response.json()["amount"], response.json()["reason"], response.json()["line_items"]) == ("", "", [])


async def test_refund_by_line_items_computes_amount_and_restocks(
    asgi_client: httpx.AsyncClient, keys: Keys, shop: Shop, events: list[tuple[str, str, int]]
) -> None:
    order = await paid_order(asgi_client, keys, shop)
    shirt, _book = order["line_items"]
    shipping = order["shipping_lines"][0]
    assert shop.stock(shop.shirt) == 8
    events.clear()

    response = await refund(
        asgi_client,
        keys,
        order["id"],
        {
            "reason": "Kunde: Größe passt nicht ✓",
            "api_refund": False,
            "line_items": [
                {
                    "id": shirt["id"],
                    "quantity": 1,
                    "refund_total": 19.99,
                    "refund_tax": [{"id": 1, "refund_total": 1.65}],
                },
                {"id": shipping["id"], "refund_total": 10.0, "refund_tax": [{"id": 1, "refund_total": 0.83}]},
            ],
        },
    )

    assert response.status_code == 201, response.text
    body = response.json()
    assert body["amount"] == "32.47"  # 19.99 + 1.65 + 10.00 + 0.83
    line = body["line_items"][0]
    assert (line["quantity"], line["subtotal"], line["total"], line["total_tax"], line["price"]) == (
        -1,
        "-19.99",
        "-19.99",
        "-1.65",
        19.99,
    )
    assert line["taxes"] == [{"id": 1, "total": "-1.65", "subtotal": "-1.65"}]
    assert [(m["key"], m["value"]) for m in line["meta_data"]] == [("_refunded_item_id", str(shirt["id"]))]
    assert body["shipping_lines"][0]["total"] == "-10.00"
    assert body["shipping_lines"][0]["taxes"] == [{"id": 1, "total": "-0.83", "subtotal": ""}]
    assert [(t["rate_id"], t["tax_total"], t["shipping_tax_total"]) for t in body["tax_lines"]] == [
        (1, "-1.65", "-0.83")
    ]

    assert shop.stock(shop.shirt) == 9
    after = (await asgi_client.get(f"{V3}/orders/{order['id']}", auth=auth(keys))).json()
    meta = {m["key"]: m["value"] for m in after["line_items"][0]["meta_data"]}
    assert meta == {"_reduced_stock": "1", "_restock_refunded_items": "1"}
    assert after["refunds"][0]["total"] == "-32.47" and after["refunds"][0]["total_tax"] == "-2.48"
    notes = [n["note"] for n in (await asgi_client.get(f"{V3}/orders/{order['id']}/notes", auth=auth(keys))).json()]
    assert f"Item #{shop.shirt['id']} stock increased from 8 to 9." in notes
    assert ("order", "updated", order["id"]) in events


async def test_legacy_map_form_and_no_restock(asgi_client: httpx.AsyncClient, keys: Keys, shop: Shop) -> None:
    order = await paid_order(asgi_client, keys, shop)
    shirt = order["line_items"][0]
    response = await refund(
        asgi_client,
        keys,
        order["id"],
        {
            "amount": "3.00",  # disagreeing with the lines is accepted
            "api_refund": False,
            "api_restock": False,
            "line_items": {str(shirt["id"]): {"qty": 2, "refund_total": 18, "refund_tax": {"1": 1.49}}},
        },
    )
    assert response.status_code == 201
    assert response.json()["amount"] == "3.00"
    assert response.json()["line_items"][0]["quantity"] == -2
    assert shop.stock(shop.shirt) == 8
    summary = (await asgi_client.get(f"{V3}/orders/{order['id']}", auth=auth(keys))).json()["refunds"]
    assert summary[0]["total"] == "-3.00" and summary[0]["total_tax"] == "-1.49"


async def test_full_refund_through_a_refund_capable_gateway(
    asgi_client: httpx.AsyncClient, keys: Keys, shop: Shop
) -> None:
    order = await paid_order(asgi_client, keys, shop, gateway="sandbox_card")
    partial = await refund(asgi_client, keys, order["id"], {"amount": "7.22"})
    assert partial.status_code == 201 and partial.json()["refunded_payment"] is True

    rest = await refund(asgi_client, keys, order["id"], {"amount": "60.00", "reason": "all of it"})
    assert rest.status_code == 201
    assert [(m["key"], m["value"]) for m in rest.json()["meta_data"]] == [("_refund_type", "full")]
    after = (await asgi_client.get(f"{V3}/orders/{order['id']}", auth=auth(keys))).json()
    assert after["status"] == "refunded"
    assert [r["id"] for r in after["refunds"]] == [rest.json()["id"], partial.json()["id"]]
    notes = [n["note"] for n in (await asgi_client.get(f"{V3}/orders/{order['id']}/notes", auth=auth(keys))).json()]
    assert "Order status changed from Processing to Refunded." in notes


async def test_global_refunds_list_adds_parent_id_and_is_v3_only(
    asgi_client: httpx.AsyncClient, keys: Keys, shop: Shop
) -> None:
    first = await paid_order(asgi_client, keys, shop)
    second = await paid_order(asgi_client, keys, shop)
    one = (await refund(asgi_client, keys, first["id"], {"amount": "1.00", "api_refund": False})).json()
    two = (await refund(asgi_client, keys, second["id"], {"amount": "2.00", "api_refund": False})).json()

    response = await asgi_client.get(f"{V3}/refunds?per_page=1", auth=auth(keys))
    assert response.status_code == 200
    assert [(r["id"], r["parent_id"]) for r in response.json()] == [(two["id"], second["id"])]
    assert list(response.json()[0])[:2] == ["id", "parent_id"]
    assert (response.headers["x-wp-total"], response.headers["x-wp-totalpages"]) == ("2", "2")
    assert response.headers["link"] == f'<https://shop.test{V3}/refunds?per_page=1&dp=2&page=2>; rel="next"'
    page_two = (await asgi_client.get(f"{V3}/refunds?per_page=1&page=2", auth=auth(keys))).json()
    assert page_two[0]["id"] == one["id"]

    v2 = await asgi_client.get("/wp-json/wc/v2/refunds", auth=auth(keys))
    assert v2.status_code == 404 and v2.json()["code"] == "rest_no_route"


async def test_deleting_a_refund_needs_force(asgi_client: httpx.AsyncClient, keys: Keys, shop: Shop) -> None:
    order = await paid_order(asgi_client, keys, shop)
    made = (await refund(asgi_client, keys, order["id"], {"amount": "1.00", "api_refund": False})).json()
    url = f"{V3}/orders/{order['id']}/refunds/{made['id']}"

    refused = await asgi_client.delete(url, auth=auth(keys))
    assert refused.status_code == 501 and refused.json()["code"] == "woocommerce_rest_trash_not_supported"
    deleted = await asgi_client.delete(f"{url}?force=true", auth=auth(keys))
    assert deleted.status_code == 200 and deleted.json()["id"] == made["id"]
    assert (await asgi_client.get(url, auth=auth(keys))).status_code == 404
    after = (await asgi_client.get(f"{V3}/orders/{order['id']}", auth=auth(keys))).json()
    assert after["refunds"] == []
