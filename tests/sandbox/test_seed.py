"""Seed data: reproducible, realistic, and built by the same rules as data a client creates."""

from __future__ import annotations

import time
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from woobridge.sandbox.app import Sandbox
from woobridge.sandbox.seed import EPOCH, ORDER_SPAN_DAYS, parse_seed_spec, seed
from woobridge.sandbox.state import Settings, Store, iso
from woobridge.sandbox.testing import Keys


def _shop(store: Store) -> dict[str, Any]:
    """What a user would compare between two shops (not random internals such as order keys)."""
    return {
        "products": [
            (p["name"], p.get("sku"), p.get("type"), p.get("regular_price"), p.get("stock_quantity"))
            for p in store.all("product")
        ],
        "variations": [(v.get("sku"), v.get("regular_price"), v.get("stock_quantity")) for v in store.all("variation")],
        "customers": [(c.get("email"), c.get("first_name"), c.get("last_name")) for c in store.all("customer")],
        "orders": [
            (
                o["id"],
                o["status"],
                o["date_created_gmt"],
                o["date_modified_gmt"],
                o.get("total"),
                [(li["product_id"], li.get("variation_id", 0), li["quantity"]) for li in o["line_items"]],
            )
            for o in store.all("order")
        ],
        "coupons": [(c["code"], c["discount_type"], c["amount"]) for c in store.all("coupon")],
        "tax_rates": [(t["country"], t["state"], t["rate"], t["class"]) for t in store.all("tax_rate")],
    }


def test_same_arguments_give_the_same_shop_another_seed_another() -> None:
    first, second, other = Store(Settings()), Store(Settings()), Store(Settings())
    seed(first, products=15, orders=40, customers=8, seed=5)
    seed(second, products=15, orders=40, customers=8, seed=5)
    seed(other, products=15, orders=40, customers=8, seed=6)
    assert _shop(first) == _shop(second)
    assert _shop(first)["orders"] != _shop(other)["orders"]


def test_counts_and_buyers() -> None:
    store = Store(Settings())
    summary = seed(store, products=20, orders=120, customers=10, seed=2)
    assert len(store.objects["product"]) == 20 - 1  # one was deleted after it was ordered
    assert len(store.objects["order"]) == 120
    assert summary.variations and len(store.objects["variation"]) == len(summary.variations)
    customers = [u for u in store.users.values() if u.role == "customer"]
    assert len(customers) == 10 == len(store.objects["customer"])
    buyers = Counter("guest" if o["customer_id"] == 0 else "registered" for o in store.all("order"))
    assert buyers["guest"] > 10 and buyers["registered"] > 10
    assert {c["discount_type"] for c in store.all("coupon")} == {"percent", "fixed_cart"}
    assert {t["country"] for t in store.all("tax_rate")} >= {"US", "FR", "DE"}
    assert {c["slug"] for c in store.all("category")} >= {"clothing", "books", "coffee-tea", "home", "accessories"}


def test_orders_spread_over_past_months_before_the_fixed_epoch() -> None:
    store = Store(Settings())
    seed(store, products=12, orders=300, customers=12, seed=3)
    created = sorted(o["date_created_gmt"] for o in store.all("order"))
    assert created[0] >= iso(EPOCH - timedelta(days=ORDER_SPAN_DAYS + 1))
    assert created[-1] <= iso(EPOCH + timedelta(hours=1))
    assert len({c[:7] for c in created}) >= 6  # six months of history
    by_id = sorted(store.all("order"), key=lambda o: o["id"])
    assert [o["date_created_gmt"][:10] for o in by_id] == sorted(o["date_created_gmt"][:10] for o in by_id)
    for order in store.all("order"):
        assert order["date_modified_gmt"] >= order["date_created_gmt"]
        if order["status"] == "completed":
            assert order["date_completed_gmt"] >= order["date_created_gmt"]


def test_orders_have_the_variety_of_a_live_shop() -> None:
    store = Store(Settings())
    seed(store, products=25, orders=400, customers=20, seed=4)
    orders = list(store.all("order"))
    statuses = Counter(o["status"] for o in orders)
    assert {"completed", "processing", "on-hold", "pending", "cancelled", "failed"} <= set(statuses)
    assert statuses.most_common(1)[0][0] == "completed"
    assert all(o["shipping_lines"] for o in orders)
    assert any(o.get("fee_lines") for o in orders)
    assert any(o.get("coupon_lines") for o in orders)
    assert any(li.get("variation_id") for o in orders for li in o["line_items"])


async def test_odd_cases_as_a_client_sees_them(sandbox: Sandbox, keys: Keys, asgi_client: httpx.AsyncClient) -> None:
    summary = seed(sandbox.store, products=15, orders=60, customers=6, seed=9)
    auth = (keys.read.consumer_key, keys.read.consumer_secret)
    assert summary.deleted_product_id and summary.order_with_deleted_product
    assert summary.big_order_id and summary.unicode_order_id

    gone = await asgi_client.get(f"/wp-json/wc/v3/products/{summary.deleted_product_id}", auth=auth)
    assert gone.status_code == 404
    order = await asgi_client.get(f"/wp-json/wc/v3/orders/{summary.order_with_deleted_product}", auth=auth)
    assert order.status_code == 200
    assert summary.deleted_product_id in [li["product_id"] for li in order.json()["line_items"]]

    big = await asgi_client.get(f"/wp-json/wc/v3/orders/{summary.big_order_id}", auth=auth)
    assert big.status_code == 200
    assert len(big.json()["line_items"]) == 200

    unicode = await asgi_client.get(f"/wp-json/wc/v3/orders/{summary.unicode_order_id}", auth=auth)
    billing = unicode.json()["billing"]
    assert not (billing["first_name"] + billing["last_name"]).isascii()
    assert "🎁" in unicode.json()["customer_note"]
    assert unicode.json()["customer_id"] == 0  # a guest

    names = [p["name"] for p in (await asgi_client.get("/wp-json/wc/v3/products?per_page=100", auth=auth)).json()]
    assert "抹茶 Matcha 茶碗" in names


def test_seeding_is_fast_enough_for_ten_thousand_orders() -> None:
    store = Store(Settings())
    started = time.perf_counter()
    seed(store, products=60, orders=2_000, customers=100, seed=1)
    # 10,000 orders must take well under a minute; 2,000 in under 8 s keeps that with room on a slow CI box.
    assert time.perf_counter() - started < 8


def test_seed_spec_parsing() -> None:
    assert parse_seed_spec("products=40, orders=500,customers=50") == {"products": 40, "orders": 500, "customers": 50}
    assert parse_seed_spec("orders=10,seed=3") == {"orders": 10, "seed": 3}
    for bad in ("products", "widgets=3", "orders=many", "orders=-1"):
        with pytest.raises(ValueError, match="bad seed spec"):
            parse_seed_spec(bad)


def test_seeding_a_state_file_writes_it_once_and_it_reopens_whole(tmp_path: Path) -> None:
    path = tmp_path / "shop.sqlite"
    store = Store(path=path)
    store.add_user("administrator", "admin")
    started = time.perf_counter()
    summary = seed(store, products=20, orders=300, customers=15, seed=8)
    assert time.perf_counter() - started < 5  # one transaction, not an fsync per object
    expected = _shop(store)
    store.put("order", {**store.objects["order"][summary.orders[0]], "status": "cancelled"})  # still write-through
    expected["orders"][0] = (*expected["orders"][0][:1], "cancelled", *expected["orders"][0][2:])
    store.close()

    reopened = Store(path=path)
    assert {k: sorted(v) for k, v in _shop(reopened).items()} == {k: sorted(v) for k, v in expected.items()}
    assert summary.deleted_product_id not in reopened.objects["product"]
    assert sorted(u.login for u in reopened.users.values() if u.role != "customer") == ["admin"]
    assert len([u for u in reopened.users.values() if u.role == "customer"]) == 15
    assert reopened.next_post_id() > max(summary.orders)
