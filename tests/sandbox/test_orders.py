"""Orders and order notes through the REST API, as a WooCommerce client sees them.

The shop mirrors the real-data capture store (TX 8.25 % standard with taxable shipping, TX 5 % reduced rate,
CA 7.25 % + 1.5 % compound, coupons capture10 and capture5off), so totals can be checked against the real
order 1085 and 1092 captured from WooCommerce 11.0.1.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from woobridge.sandbox.app import Sandbox
from woobridge.sandbox.state import Obj, Store
from woobridge.sandbox.testing import Keys

V3 = "/wp-json/wc/v3"
TX = {
    "first_name": "Jane",
    "last_name": "Doe",
    "address_1": "100 Congress Ave",
    "city": "Austin",
    "state": "TX",
    "postcode": "78701",
    "country": "US",
    "email": "jane.doe@example.com",
}
CA = {**TX, "city": "San Francisco", "state": "CA", "postcode": "94105"}


class Shop:
    def __init__(self, store: Store) -> None:
        self.store = store
        for rate in (
            ("TX", "8.2500", "TX Sales Tax", 1, False, True, "standard"),
            ("TX", "5.0000", "TX Reduced", 1, False, False, "reduced-rate"),
            ("CA", "7.2500", "CA State Tax", 1, False, False, "standard"),
            ("CA", "1.5000", "CA District Tax (compound)", 2, True, False, "standard"),
        ):
            state, value, name, priority, compound, shipping, tax_class = rate
            self.put(
                "tax_rate",
                {
                    "country": "US",
                    "state": state,
                    "rate": value,
                    "name": name,
                    "priority": priority,
                    "compound": compound,
                    "shipping": shipping,
                    "class": tax_class,
                },
            )
        self.shirt = self.product("Basic T-Shirt", "TSHIRT-BASIC", "19.99", stock=10)
        self.polo = self.product("Polo Shirt", "POLO", "25.00")
        self.polo_s_red = self.put(
            "variation",
            {
                "parent_id": self.polo["id"],
                "sku": "POLO-S-Red",
                "price": "25.00",
                "tax_class": "parent",
                "manage_stock": True,
                "stock_quantity": 9,
                "attributes": [{"id": 1, "name": "Size", "option": "S"}, {"id": 2, "name": "Color", "option": "Red"}],
            },
        )
        self.book = self.product("Kids Book (reduced rate)", "BOOK-1", "12.49", tax_class="reduced-rate")
        self.beanie = self.product("Beanie", "BEANIE-1", "15.50", stock=5)
        self.put("coupon", {"code": "capture10", "discount_type": "percent", "amount": "10.00"})
        self.put("coupon", {"code": "capture5off", "discount_type": "fixed_cart", "amount": "5.00"})

    def put(self, kind: str, obj: Obj) -> Obj:
        post = kind in ("product", "variation")
        obj["id"] = self.store.next_post_id() if post else self.store.next_id(kind)
        obj.setdefault("date_modified_gmt", self.store.now_iso())
        return self.store.put(kind, obj)

    def product(self, name: str, sku: str, price: str, *, stock: int | None = None, tax_class: str = "") -> Obj:
        return self.put(
            "product",
            {
                "name": name,
                "sku": sku,
                "type": "simple",
                "status": "publish",
                "price": price,
                "regular_price": price,
                "tax_class": tax_class,
                "tax_status": "taxable",
                "manage_stock": stock is not None,
                "stock_quantity": stock,
            },
        )

    def stock(self, obj: Obj) -> Any:
        kind = "variation" if "parent_id" in obj else "product"
        return self.store.objects[kind][int(obj["id"])]["stock_quantity"]


@pytest.fixture
def shop(sandbox: Sandbox) -> Shop:
    return Shop(sandbox.store)


@pytest.fixture
def events(sandbox: Sandbox) -> list[tuple[str, str, int]]:
    seen: list[tuple[str, str, int]] = []
    sandbox.store.subscribe(lambda resource, event, rid: seen.append((resource, event, rid)))
    return seen


def auth(keys: Keys) -> tuple[str, str]:
    return (keys.admin.consumer_key, keys.admin.consumer_secret)


def mixed_order(shop: Shop) -> dict[str, Any]:
    """The real-data order 01 (registered customer, variation, reduced rate, fee, shipping, two coupons, paid)."""
    return {
        "payment_method": "bacs",
        "payment_method_title": "Direct bank transfer",
        "set_paid": True,
        "billing": TX,
        "shipping": {k: v for k, v in TX.items() if k != "email"},
        "line_items": [
            {"product_id": shop.shirt["id"], "quantity": 2},
            {"product_id": shop.polo["id"], "variation_id": shop.polo_s_red["id"], "quantity": 1},
            {"product_id": shop.book["id"], "quantity": 1},
            {"product_id": shop.beanie["id"], "quantity": 1},
        ],
        "shipping_lines": [{"method_id": "flat_rate", "method_title": "Flat rate", "total": "10.00"}],
        "fee_lines": [{"name": "Gift wrap", "total": "2.50", "tax_status": "taxable", "tax_class": ""}],
        "coupon_lines": [{"code": "capture10"}, {"code": "capture5off"}],
    }


async def create(client: httpx.AsyncClient, keys: Keys, payload: dict[str, Any]) -> dict[str, Any]:
    response = await client.post(f"{V3}/orders", auth=auth(keys), json=payload)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


# -- creating -----------------------------------------------------------------------------------------------------


async def test_created_order_has_woocommerce_totals_taxes_and_coupons(
    asgi_client: httpx.AsyncClient, keys: Keys, shop: Shop
) -> None:
    response = await asgi_client.post(f"{V3}/orders", auth=auth(keys), json=mixed_order(shop))

    assert response.status_code == 201
    order = response.json()
    assert response.headers["location"] == f"https://shop.test{V3}/orders/{order['id']}"
    # The same figures as the real order 1085.
    assert {k: order[k] for k in ("discount_total", "discount_tax", "shipping_total", "shipping_tax")} == {
        "discount_total": "14.30",
        "discount_tax": "1.11",
        "shipping_total": "10.00",
        "shipping_tax": "0.83",
    }
    assert (order["cart_tax"], order["total_tax"], order["total"]) == ("6.36", "7.19", "98.36")
    shirt, polo, book, beanie = order["line_items"]
    assert (shirt["subtotal"], shirt["subtotal_tax"], shirt["total"], shirt["total_tax"]) == (
        "39.98",
        "3.30",
        "33.98",
        "2.80",
    )
    assert shirt["price"] == 16.99 and polo["price"] == 21.49
    assert polo["name"] == "Polo Shirt - S, Red" and polo["parent_name"] == "Polo Shirt"
    assert polo["sku"] == "POLO-S-Red"
    assert [(m["key"], m["value"], m["display_key"], m["display_value"]) for m in polo["meta_data"][:2]] == [
        ("pa_size", "s", "Size", "S"),
        ("pa_color", "red", "Color", "Red"),
    ]
    assert book["tax_class"] == "reduced-rate" and book["taxes"] == [{"id": 2, "total": "0.51", "subtotal": "0.62"}]
    assert beanie["total"] == "12.95"
    percent, fixed = order["coupon_lines"]
    assert (percent["discount"], percent["discount_tax"], percent["nominal_amount"]) == ("9.3", "0.73", 10)
    assert (fixed["discount"], fixed["discount_tax"], fixed["discount_type"]) == ("5", "0.38", "fixed_cart")
    assert fixed["meta_data"][0]["value"].endswith(',"capture5off",null,5]')
    assert [
        (t["rate_code"], t["tax_total"], t["shipping_tax_total"], t["rate_percent"]) for t in order["tax_lines"]
    ] == [
        ("US-TX-TX SALES TAX-1", "5.85", "0.83", 8.25),
        ("US-TX-TX REDUCED-1", "0.51", "0.00", 5),
    ]
    assert order["fee_lines"][0]["amount"] == "" and order["fee_lines"][0]["total_tax"] == "0.21"
    assert order["shipping_lines"][0]["taxes"] == [{"id": 1, "total": "0.83", "subtotal": ""}]


async def test_set_paid_processes_reduces_stock_once_and_leaves_notes(
    asgi_client: httpx.AsyncClient, keys: Keys, shop: Shop
) -> None:
    order = await create(asgi_client, keys, mixed_order(shop))

    assert order["status"] == "processing"
    assert order["date_paid_gmt"] == order["date_created_gmt"]
    assert order["date_completed"] is None
    assert (order["needs_payment"], order["needs_processing"], order["is_editable"]) == (False, True, False)
    assert shop.stock(shop.shirt) == 8 and shop.stock(shop.polo_s_red) == 8 and shop.stock(shop.beanie) == 4
    reduced = [(m["key"], m["value"]) for m in order["line_items"][0]["meta_data"]]
    assert reduced == [("_reduced_stock", "2")]
    assert order["line_items"][2]["meta_data"] == []  # the book does not manage stock

    notes = (await asgi_client.get(f"{V3}/orders/{order['id']}/notes", auth=auth(keys))).json()
    texts = [n["note"] for n in notes]
    assert "Payment complete." in texts
    assert "Stock levels reduced: Basic T-Shirt (10&rarr;8), Polo Shirt - S, Red (9&rarr;8), Beanie (5&rarr;4)" in texts
    assert {n["author"] for n in notes} == {"WooCommerce"}

    # Completing it later does not take stock a second time.
    await asgi_client.put(f"{V3}/orders/{order['id']}", auth=auth(keys), json={"status": "completed"})
    assert shop.stock(shop.shirt) == 8


async def test_post_answer_equals_the_following_get(asgi_client: httpx.AsyncClient, keys: Keys, shop: Shop) -> None:
    created = await create(asgi_client, keys, mixed_order(shop))
    fetched = (await asgi_client.get(f"{V3}/orders/{created['id']}", auth=auth(keys))).json()
    assert created == fetched
    assert list(fetched)[-6:] == [
        "date_created_gmt",
        "date_modified_gmt",
        "date_completed_gmt",
        "date_paid_gmt",
        "currency_symbol",
        "_links",
    ]
    assert fetched["currency_symbol"] == "$"
    assert fetched["payment_url"].endswith(
        f"/checkout/order-pay/{created['id']}/?pay_for_order=true&key={created['order_key']}"
    )
    assert fetched["_links"]["self"][0]["targetHints"]["allow"] == ["GET", "POST", "PUT", "PATCH", "DELETE"]


async def test_compound_tax_and_negative_fee(asgi_client: httpx.AsyncClient, keys: Keys, shop: Shop) -> None:
    hoodie = shop.product("Hoodie", "HOODIE", "45.00")
    order = await create(
        asgi_client,
        keys,
        {
            "status": "on-hold",
            "billing": CA,
            "shipping": CA,
            "line_items": [{"product_id": hoodie["id"], "quantity": 1}, {"product_id": shop.book["id"], "quantity": 2}],
            "shipping_lines": [{"method_id": "flat_rate", "total": "10.00"}],
            "fee_lines": [{"name": "Loyalty discount", "total": "-5.00", "tax_status": "taxable"}],
        },
    )
    hoodie_line, book_line = order["line_items"]
    # CA 7.25 % = 3.2625 → 3.26; 1.5 % compound on 45 + 3.2625 → 0.72 (as in the real order 1092).
    assert hoodie_line["taxes"] == [
        {"id": 3, "total": "3.26", "subtotal": "3.26"},
        {"id": 4, "total": "0.72", "subtotal": "0.72"},
    ]
    assert book_line["taxes"] == []  # no reduced rate in CA
    assert order["shipping_tax"] == "0.00"  # CA rates are not for shipping
    fee = order["fee_lines"][0]
    # A negative fee's tax follows the taxable items' share: -5.00 × 45/69.98 at 7.25 %.
    assert fee["total"] == "-5.00" and fee["taxes"][0]["total"] == "-0.23"
    assert order["tax_lines"][1]["compound"] is True
    assert order["tax_lines"][1]["rate_code"] == "US-CA-CA DISTRICT TAX (COMPOUND)-2"
    # Items 69.98 + fee -5.00 + shipping 10.00 + taxes.
    assert order["total"] == f"{69.98 - 5 + 10 + float(order['total_tax']):.2f}"


async def test_line_items_by_sku_including_variation_skus(
    asgi_client: httpx.AsyncClient, keys: Keys, shop: Shop
) -> None:
    order = await create(asgi_client, keys, {"line_items": [{"sku": "POLO-S-Red", "quantity": 2}, {"sku": "BEANIE-1"}]})
    polo, beanie = order["line_items"]
    assert (polo["product_id"], polo["variation_id"], polo["quantity"], polo["total"]) == (
        shop.polo["id"],
        shop.polo_s_red["id"],
        2,
        "50.00",
    )
    assert (beanie["product_id"], beanie["quantity"], beanie["price"]) == (shop.beanie["id"], 1, 15.5)
    # A guest order without address: pending, no tax, nothing taken from stock.
    assert (order["customer_id"], order["status"], order["total_tax"]) == (0, "pending", "0.00")
    assert order["needs_payment"] is True and order["is_editable"] is True
    assert shop.stock(shop.beanie) == 5


async def test_create_rejects_lines_without_product_and_unknown_customers(
    asgi_client: httpx.AsyncClient, keys: Keys, shop: Shop
) -> None:
    response = await asgi_client.post(f"{V3}/orders", auth=auth(keys), json={"line_items": [{"quantity": 1}]})
    assert response.status_code == 400
    assert response.json() == {
        "code": "woocommerce_rest_required_product_reference",
        "message": "Product ID or SKU is required.",
        "data": {"status": 400},
    }
    response = await asgi_client.post(f"{V3}/orders", auth=auth(keys), json={"customer_id": 9999})
    assert response.status_code == 400
    assert response.json()["code"] == "woocommerce_rest_invalid_customer_id"
    response = await asgi_client.post(f"{V3}/orders", auth=auth(keys), json={"coupon_lines": [{"code": "nope"}]})
    assert response.status_code == 400 and response.json()["code"] == "woocommerce_rest_invalid_coupon"
    # Nothing was created by the failed requests.
    assert (await asgi_client.get(f"{V3}/orders", auth=auth(keys))).json() == []


async def test_creating_fires_created_and_updated(
    asgi_client: httpx.AsyncClient, keys: Keys, shop: Shop, events: list[tuple[str, str, int]]
) -> None:
    order = await create(asgi_client, keys, {"line_items": [{"product_id": shop.shirt["id"]}]})
    assert [e for e in events if e[0] == "order"] == [
        ("order", "created", order["id"]),
        ("order", "updated", order["id"]),
    ]


# -- updating -----------------------------------------------------------------------------------------------------


async def test_status_changes_set_dates_move_stock_and_note_it(
    asgi_client: httpx.AsyncClient, keys: Keys, shop: Shop, sandbox: Sandbox
) -> None:
    order = await create(
        asgi_client, keys, {"billing": TX, "line_items": [{"product_id": shop.shirt["id"], "quantity": 3}]}
    )
    sandbox.store.clock_offset += __import__("datetime").timedelta(seconds=5)

    response = await asgi_client.put(f"{V3}/orders/{order['id']}", auth=auth(keys), json={"status": "completed"})
    done = response.json()
    assert response.status_code == 200 and done["status"] == "completed"
    assert done["date_completed_gmt"] == done["date_paid_gmt"] == done["date_modified_gmt"]
    assert done["date_modified_gmt"] > order["date_modified_gmt"]
    assert shop.stock(shop.shirt) == 7

    cancelled = (
        await asgi_client.put(f"{V3}/orders/{order['id']}", auth=auth(keys), json={"status": "cancelled"})
    ).json()
    assert shop.stock(shop.shirt) == 10
    assert all(m["key"] != "_reduced_stock" for m in cancelled["line_items"][0]["meta_data"])
    notes = [n["note"] for n in (await asgi_client.get(f"{V3}/orders/{order['id']}/notes", auth=auth(keys))).json()]
    assert "Order status changed from Pending payment to Completed." in notes
    assert "Order status changed from Completed to Cancelled." in notes
    assert "Stock levels increased: Basic T-Shirt (7&rarr;10)" in notes


async def test_line_changes_recalculate_and_unknown_item_ids_are_refused(
    asgi_client: httpx.AsyncClient, keys: Keys, shop: Shop
) -> None:
    order = await create(
        asgi_client, keys, {"billing": TX, "status": "processing", "line_items": [{"product_id": shop.shirt["id"]}]}
    )
    item_id = order["line_items"][0]["id"]
    assert shop.stock(shop.shirt) == 9

    # WooCommerce keeps the line total when only the quantity changes; clients send subtotal/total with it.
    response = await asgi_client.put(
        f"{V3}/orders/{order['id']}",
        auth=auth(keys),
        json={
            "line_items": [{"id": item_id, "quantity": 2, "subtotal": "39.98", "total": "39.98"}],
            "fee_lines": [{"name": "Handling", "total": "1.00"}],
        },
    )
    updated = response.json()
    assert updated["line_items"][0]["total_tax"] == "3.30"
    assert updated["total"] == f"{39.98 + 1.00 + 3.30 + 0.08:.2f}"
    assert shop.stock(shop.shirt) == 8  # the extra unit is taken from stock too
    assert updated["line_items"][0]["meta_data"][0]["value"] == "2"

    response = await asgi_client.put(
        f"{V3}/orders/{order['id']}", auth=auth(keys), json={"line_items": [{"id": 999999, "quantity": 1}]}
    )
    assert response.status_code == 400
    assert response.json()["code"] == "woocommerce_rest_invalid_item_id"

    # quantity 0 removes the line (and gives its stock back).
    removed = (
        await asgi_client.put(
            f"{V3}/orders/{order['id']}", auth=auth(keys), json={"line_items": [{"id": item_id, "quantity": 0}]}
        )
    ).json()
    assert removed["line_items"] == [] and removed["total"] == "1.08"
    assert shop.stock(shop.shirt) == 10


async def test_unknown_order_is_404_on_get_and_400_on_update(asgi_client: httpx.AsyncClient, keys: Keys) -> None:
    response = await asgi_client.get(f"{V3}/orders/424242", auth=auth(keys))
    assert response.status_code == 404
    assert response.json() == {
        "code": "woocommerce_rest_shop_order_invalid_id",
        "message": "Invalid ID.",
        "data": {"status": 404},
    }
    assert (await asgi_client.put(f"{V3}/orders/424242", auth=auth(keys), json={})).status_code == 400


# -- deleting -----------------------------------------------------------------------------------------------------


async def test_trash_then_force_delete(
    asgi_client: httpx.AsyncClient, keys: Keys, shop: Shop, events: list[tuple[str, str, int]]
) -> None:
    order = await create(asgi_client, keys, {"status": "completed", "line_items": [{"product_id": shop.book["id"]}]})
    events.clear()

    trashed = await asgi_client.delete(f"{V3}/orders/{order['id']}", auth=auth(keys))
    assert trashed.status_code == 200 and trashed.json()["status"] == "completed"  # the order as it was
    assert events == [("order", "deleted", order["id"])]
    listed = (await asgi_client.get(f"{V3}/orders", auth=auth(keys))).json()
    assert listed == []
    in_trash = (await asgi_client.get(f"{V3}/orders?status=trash", auth=auth(keys))).json()
    assert [o["id"] for o in in_trash] == [order["id"]]
    again = await asgi_client.delete(f"{V3}/orders/{order['id']}", auth=auth(keys))
    assert again.status_code == 410 and again.json()["code"] == "woocommerce_rest_already_trashed"

    # A status PUT restores a trashed order silently (HPOS fires no hook for it).
    events.clear()
    restored = (
        await asgi_client.put(f"{V3}/orders/{order['id']}", auth=auth(keys), json={"status": "processing"})
    ).json()
    assert restored["status"] == "processing"
    assert {m["key"] for m in restored["meta_data"]} == {"_wp_trash_meta_status", "_wp_trash_meta_time"}
    assert events == []

    forced = await asgi_client.delete(f"{V3}/orders/{order['id']}?force=true", auth=auth(keys))
    assert forced.status_code == 200 and forced.json()["id"] == order["id"]
    assert events == []  # no order.deleted for a permanent delete
    assert (await asgi_client.get(f"{V3}/orders/{order['id']}", auth=auth(keys))).status_code == 404


# -- listing ------------------------------------------------------------------------------------------------------


async def make_orders(client: httpx.AsyncClient, keys: Keys, sandbox: Sandbox, count: int) -> list[int]:
    import datetime

    ids = []
    for index in range(count):
        ids.append((await create(client, keys, {"customer_note": f"#{index}"}))["id"])
        sandbox.store.clock_offset += datetime.timedelta(minutes=10)
    return ids


async def test_list_pages_like_the_recorded_store(asgi_client: httpx.AsyncClient, keys: Keys, sandbox: Sandbox) -> None:
    ids = await make_orders(asgi_client, keys, sandbox, 6)

    first = await asgi_client.get(f"{V3}/orders?per_page=2", auth=auth(keys))
    assert [o["id"] for o in first.json()] == ids[::-1][:2]
    assert (first.headers["x-wp-total"], first.headers["x-wp-totalpages"]) == ("6", "3")
    assert first.headers["link"] == (
        f'<https://shop.test{V3}/orders?per_page=2&status%5B0%5D=any&dp=2&context=view&page=2>; rel="next"'
    )
    middle = await asgi_client.get(f"{V3}/orders?per_page=2&page=2&_fields=id", auth=auth(keys))
    assert middle.json() == [{"id": ids[3]}, {"id": ids[2]}]
    assert 'page=1&_fields=id&status%5B0%5D=any&dp=2&context=view>; rel="prev"' in middle.headers["link"]

    beyond = await asgi_client.get(f"{V3}/orders?per_page=2&page=99", auth=auth(keys))
    assert beyond.json() == []
    assert (beyond.headers["x-wp-total"], beyond.headers["x-wp-totalpages"]) == ("0", "0")
    assert beyond.headers["link"] == f'<https://shop.test{V3}/orders?per_page=2&page=0&status%5B0%5D=any>; rel="prev"'

    too_many = await asgi_client.get(f"{V3}/orders?per_page=101", auth=auth(keys))
    assert too_many.status_code == 400
    message = "per_page must be between 1 (inclusive) and 100 (inclusive)"
    assert too_many.json() == {
        "code": "rest_invalid_param",
        "message": "Invalid parameter(s): per_page",
        "data": {
            "status": 400,
            "params": {"per_page": message},
            "details": {"per_page": {"code": "rest_out_of_bounds", "message": message, "data": None}},
        },
    }


async def test_list_filters_and_ordering(
    asgi_client: httpx.AsyncClient, keys: Keys, sandbox: Sandbox, shop: Shop
) -> None:
    ids = await make_orders(asgi_client, keys, sandbox, 4)
    await asgi_client.put(f"{V3}/orders/{ids[1]}", auth=auth(keys), json={"status": "on-hold"})
    await asgi_client.delete(f"{V3}/orders/{ids[2]}", auth=auth(keys))

    async def listed(query: str) -> list[int]:
        response = await asgi_client.get(f"{V3}/orders?{query}", auth=auth(keys))
        assert response.status_code == 200, response.text
        return [o["id"] for o in response.json()]

    assert await listed("orderby=id&order=asc") == [ids[0], ids[1], ids[3]]
    assert await listed("status=on-hold") == [ids[1]]
    assert await listed("status[]=on-hold&status[]=trash") == [ids[2], ids[1]]
    assert await listed(f"include={ids[3]},{ids[0]}&orderby=include") == [ids[3], ids[0]]
    assert await listed("offset=1&per_page=1") == [ids[1]]
    assert await listed(f"search={ids[3]}") == [ids[3]]
    # ids[1] was modified last (status change).
    assert (await listed("orderby=modified"))[0] == ids[1]

    bad = await asgi_client.get(f"{V3}/orders?status=shipped", auth=auth(keys))
    assert bad.status_code == 400 and bad.json()["code"] == "rest_invalid_param"


async def test_orders_with_the_same_date_list_by_id(
    asgi_client: httpx.AsyncClient, keys: Keys, sandbox: Sandbox
) -> None:
    store = sandbox.store
    everything = await make_orders(asgi_client, keys, sandbox, 5)
    # Three orders of the same second: the date ties, the ID breaks the tie in the direction of the requested
    # order, for the creation and the modification date alike.
    first_tied = store.get("order", everything[1])
    assert first_tied is not None
    for order_id in everything[2:4]:
        dates = {name: first_tied[name] for name in ("date_created_gmt", "date_modified_gmt")}
        store.put("order", {**store.objects["order"][order_id], **dates})

    async def listed(query: str) -> list[int]:
        response = await asgi_client.get(f"{V3}/orders?{query}", auth=auth(keys))
        assert response.status_code == 200, response.text
        return [o["id"] for o in response.json()]

    for orderby in ("date", "modified", "id"):
        assert await listed(f"orderby={orderby}&order=asc") == everything
        assert await listed(f"orderby={orderby}") == everything[::-1]

    # An order stored without a creation date (the REST API never makes one) still lists, where "None" sorts.
    store.put("order", {**store.objects["order"][everything[2]], "date_created_gmt": None})
    assert await listed("orderby=date&order=asc") == [
        everything[0],
        everything[1],
        everything[3],
        everything[4],
        everything[2],
    ]


async def test_date_filters_are_exclusive_and_local_unless_gmt(
    asgi_client: httpx.AsyncClient, keys: Keys, sandbox: Sandbox
) -> None:
    sandbox.store.settings.timezone = "Europe/Berlin"
    ids = await make_orders(asgi_client, keys, sandbox, 3)
    orders = {o["id"]: o for o in (await asgi_client.get(f"{V3}/orders", auth=auth(keys))).json()}
    middle = orders[ids[1]]
    assert middle["date_created"] != middle["date_created_gmt"]

    async def listed(query: str) -> list[int]:
        return [o["id"] for o in (await asgi_client.get(f"{V3}/orders?{query}", auth=auth(keys))).json()]

    assert await listed(f"after={middle['date_created']}") == [ids[2]]
    assert await listed(f"before={middle['date_created']}") == [ids[0]]
    assert await listed(f"after={middle['date_created_gmt']}&dates_are_gmt=true") == [ids[2]]
    # The same GMT string read as local Berlin time is an hour or two earlier: middle is then after it.
    assert ids[1] in await listed(f"after={middle['date_created_gmt']}")
    assert await listed(f"modified_after={orders[ids[2]]['date_modified_gmt']}&dates_are_gmt=1") == []


async def test_customer_and_product_filters(
    asgi_client: httpx.AsyncClient, keys: Keys, shop: Shop, sandbox: Sandbox
) -> None:
    buyer = sandbox.store.add_user("customer", "buyer2")
    mine = await create(asgi_client, keys, {"customer_id": buyer.id, "line_items": [{"product_id": shop.beanie["id"]}]})
    await create(asgi_client, keys, {"line_items": [{"sku": "POLO-S-Red"}]})
    assert mine["_links"]["customer"] == [{"href": f"https://shop.test{V3}/customers/{buyer.id}"}]

    by_customer = (await asgi_client.get(f"{V3}/orders?customer={buyer.id}", auth=auth(keys))).json()
    assert [o["id"] for o in by_customer] == [mine["id"]]
    by_product = (await asgi_client.get(f"{V3}/orders?product={shop.beanie['id']}", auth=auth(keys))).json()
    assert [o["id"] for o in by_product] == [mine["id"]]


async def test_dp_formats_money(asgi_client: httpx.AsyncClient, keys: Keys, shop: Shop) -> None:
    order = await create(asgi_client, keys, {"billing": TX, "line_items": [{"product_id": shop.shirt["id"]}]})
    wide = (await asgi_client.get(f"{V3}/orders/{order['id']}?dp=4", auth=auth(keys))).json()
    assert (wide["total"], wide["line_items"][0]["total_tax"]) == ("21.6400", "1.6500")


async def test_permissions(asgi_client: httpx.AsyncClient, keys: Keys) -> None:
    anonymous = await asgi_client.get(f"{V3}/orders")
    assert anonymous.status_code == 401
    assert anonymous.json()["message"] == "Sorry, you cannot list resources."
    subscriber = await asgi_client.get(
        f"{V3}/orders", auth=(keys.subscriber.consumer_key, keys.subscriber.consumer_secret)
    )
    assert subscriber.status_code == 403
    manager = await asgi_client.get(f"{V3}/orders", auth=(keys.manager.consumer_key, keys.manager.consumer_secret))
    assert manager.status_code == 200 and manager.headers["allow"] == "GET, POST"


async def test_v2_answers_without_v3_only_fields(asgi_client: httpx.AsyncClient, keys: Keys, shop: Shop) -> None:
    order = await create(asgi_client, keys, {"line_items": [{"product_id": shop.book["id"]}]})
    v2 = (await asgi_client.get(f"/wp-json/wc/v2/orders/{order['id']}", auth=auth(keys))).json()
    assert v2["_links"]["self"][0]["href"] == f"https://shop.test/wp-json/wc/v2/orders/{order['id']}"
    assert "email_templates" not in v2["_links"]
    assert v2["total"] == order["total"]


# -- batch --------------------------------------------------------------------------------------------------------


async def test_batch_mixes_results_and_errors_and_enforces_the_limit(
    asgi_client: httpx.AsyncClient, keys: Keys, shop: Shop, sandbox: Sandbox
) -> None:
    existing = await create(asgi_client, keys, {"line_items": [{"product_id": shop.book["id"]}]})
    doomed = await create(asgi_client, keys, {})
    response = await asgi_client.post(
        f"{V3}/orders/batch",
        auth=auth(keys),
        json={
            "create": [{"line_items": [{"sku": "BEANIE-1"}]}, {"line_items": [{"quantity": 1}]}],
            "update": [{"id": existing["id"], "status": "on-hold"}, {"id": 999999, "status": "completed"}],
            "delete": [doomed["id"]],
        },
    )
    assert response.status_code == 200
    body = response.json()
    assert body["create"][0]["line_items"][0]["sku"] == "BEANIE-1"
    assert body["create"][1] == {
        "id": 0,
        "error": {
            "code": "woocommerce_rest_required_product_reference",
            "message": "Product ID or SKU is required.",
            "data": {"status": 400},
        },
    }
    assert body["update"][0]["status"] == "on-hold"
    assert body["update"][1]["error"]["code"] == "woocommerce_rest_shop_order_invalid_id"
    assert body["delete"][0]["id"] == doomed["id"]
    # Batch deletes are permanent.
    assert (await asgi_client.get(f"{V3}/orders/{doomed['id']}", auth=auth(keys))).status_code == 404

    sandbox.store.settings.batch_limit = 2
    too_big = await asgi_client.post(f"{V3}/orders/batch", auth=auth(keys), json={"create": [{}, {}], "delete": [1]})
    assert too_big.status_code == 413
    assert too_big.json() == {
        "code": "woocommerce_rest_request_entity_too_large",
        "message": "Unable to accept more than 2 items for this request.",
        "data": {"status": 413},
    }
    empty = await asgi_client.post(f"{V3}/orders/batch", auth=auth(keys), json={})
    assert empty.status_code == 200 and empty.json() == []


# -- notes --------------------------------------------------------------------------------------------------------


async def test_notes_add_list_filter_and_delete(asgi_client: httpx.AsyncClient, keys: Keys, sandbox: Sandbox) -> None:
    import datetime

    order = await create(asgi_client, keys, {})
    sandbox.store.clock_offset += datetime.timedelta(seconds=30)
    base = f"{V3}/orders/{order['id']}/notes"

    missing = await asgi_client.post(base, auth=auth(keys), json={})
    assert missing.status_code == 400 and missing.json()["code"] == "rest_missing_callback_param"
    created = await asgi_client.post(
        base, auth=auth(keys), json={"note": "Parcel left the warehouse", "customer_note": True, "added_by_user": True}
    )
    assert created.status_code == 201
    note = created.json()
    assert created.headers["location"] == f"https://shop.test{base}/{note['id']}"
    assert (note["author"], note["customer_note"], note["note"]) == ("admin", True, "Parcel left the warehouse")
    assert note["_links"]["up"] == [{"href": f"https://shop.test{V3}/orders/{order['id']}"}]
    internal = (await asgi_client.post(base, auth=auth(keys), json={"note": "checked"})).json()
    assert internal["author"] == "WooCommerce"

    assert [n["id"] for n in (await asgi_client.get(f"{base}?type=customer", auth=auth(keys))).json()] == [note["id"]]
    assert [n["id"] for n in (await asgi_client.get(f"{base}?type=internal", auth=auth(keys))).json()] == [
        internal["id"]
    ]
    assert (await asgi_client.get(f"{base}/{note['id']}", auth=auth(keys))).json() == note
    # Adding notes does not touch the order.
    after = (await asgi_client.get(f"{V3}/orders/{order['id']}", auth=auth(keys))).json()
    assert after["date_modified_gmt"] == order["date_modified_gmt"]

    refused = await asgi_client.delete(f"{base}/{note['id']}", auth=auth(keys))
    assert refused.status_code == 501
    assert refused.json() == {
        "code": "woocommerce_rest_trash_not_supported",
        "message": "Webhooks do not support trashing.",
        "data": {"status": 501},
    }
    deleted = await asgi_client.delete(f"{base}/{note['id']}?force=true", auth=auth(keys))
    assert deleted.status_code == 200 and deleted.json()["id"] == note["id"]
    assert (await asgi_client.get(f"{base}/{note['id']}", auth=auth(keys))).status_code == 404
    assert (await asgi_client.get(f"{V3}/orders/424242/notes", auth=auth(keys))).status_code == 404
