"""The official Python client (PyPI ``woocommerce``, unchanged) reads the seeded sandbox as it reads a real store.

Over HTTPS it authenticates with Basic auth (TLS verified with the sandbox CA); over plain HTTP it signs every
request with OAuth 1.0a by itself. Either way, what it gets must be what the sandbox holds.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from woocommerce import API

from woobridge.sandbox import orders as orders_module
from woobridge.sandbox import products as products_module
from woobridge.sandbox.app import Sandbox
from woobridge.sandbox.seed import SeedSummary, seed
from woobridge.sandbox.server import ServedSandbox
from woobridge.sandbox.state import Settings, Store
from woobridge.sandbox.testing import Keys, LiveSandbox, issue_standard_keys


def _client(url: str, key: Any, **options: Any) -> API:
    return API(url=url, consumer_key=key.consumer_key, consumer_secret=key.consumer_secret, timeout=15, **options)


def _plain(value: Any) -> Any:
    """As JSON would carry it (tuples → lists, etc.), for comparing with a decoded response."""
    return json.loads(json.dumps(value))


def _listed_order_ids(store: Store) -> list[int]:
    """Orders the default list shows (every status but trash), newest first as WooCommerce sorts them."""
    rows = [o for o in store.all("order") if o.get("status") != "trash"]
    rows.sort(key=lambda o: (o["date_created_gmt"], o["id"]), reverse=True)
    return [int(o["id"]) for o in rows]


def _fetch_all(api: API, endpoint: str, per_page: int = 10) -> tuple[list[dict[str, Any]], int]:
    items: list[dict[str, Any]] = []
    page, pages, total = 1, 1, 0
    while page <= pages:
        response = api.get(endpoint, params={"per_page": per_page, "page": page})
        assert response.status_code == 200, response.text[:300]
        pages = int(response.headers["X-WP-TotalPages"])
        total = int(response.headers["X-WP-Total"])
        items += response.json()
        page += 1
    return items, total


def _assert_orders_match_store(orders: list[dict[str, Any]], total: int, store: Store, rest_root: str) -> None:
    expected_ids = _listed_order_ids(store)
    assert total == len(expected_ids)
    assert [o["id"] for o in orders] == expected_ids
    for order in orders[:25]:
        held = _plain(orders_module.to_rest(store, store.objects["order"][order["id"]], rest_root))
        assert order == held


def _assert_products_match_store(products: list[dict[str, Any]], total: int, store: Store, rest_root: str) -> None:
    assert total == len(store.objects["product"])
    assert {p["id"] for p in products} == set(store.objects["product"])
    by_id = {p["id"]: p for p in products}
    for product_id in list(store.objects["product"])[:25]:
        held = _plain(products_module.to_rest(store, store.objects["product"][product_id], rest_root))
        assert by_id[product_id] == held


# -- (a) HTTPS, Basic auth -------------------------------------------------------------------------------------


def test_basic_auth_over_https_lists_orders_as_the_store_holds_them(live: LiveSandbox) -> None:
    api = _client(live.base_url, live.keys.read, verify_ssl=live.ca_file)
    orders, total = _fetch_all(api, "orders")
    _assert_orders_match_store(orders, total, live.store, live.base_url + "/wp-json/")


def test_basic_auth_over_https_lists_products_as_the_store_holds_them(live: LiveSandbox) -> None:
    api = _client(live.base_url, live.keys.admin, verify_ssl=live.ca_file)
    products, total = _fetch_all(api, "products", per_page=5)
    _assert_products_match_store(products, total, live.store, live.base_url + "/wp-json/")
    names = {p["name"] for p in products}
    assert "Café Crème – 250 g ☕" in names  # unicode survives the client's decoding untouched


def test_one_order_by_id_and_the_unicode_buyer(live: LiveSandbox) -> None:
    api = _client(live.base_url, live.keys.read, verify_ssl=live.ca_file)
    assert live.seeded.unicode_order_id is not None
    response = api.get(f"orders/{live.seeded.unicode_order_id}")
    assert response.status_code == 200
    held = live.store.objects["order"][live.seeded.unicode_order_id]
    assert response.json()["billing"]["last_name"] == held["billing"]["last_name"]
    assert not response.json()["billing"]["last_name"].isascii()


def test_the_client_refuses_the_sandbox_without_its_ca(live: LiveSandbox) -> None:
    api = _client(live.base_url, live.keys.read)  # verify_ssl=True: public CAs only
    with pytest.raises(requests.exceptions.SSLError):
        api.get("orders")


# -- (b) plain HTTP, OAuth 1.0a ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def http_store() -> Iterator[tuple[ServedSandbox, Keys, SeedSummary]]:
    sandbox = Sandbox(Store(Settings()))
    keys = issue_standard_keys(sandbox.store)
    with ServedSandbox(sandbox, http=True) as served:
        seeded = seed(sandbox.store, products=8, orders=14, customers=4, seed=11)
        yield served, keys, seeded


def test_oauth1_over_http_lists_orders_as_the_store_holds_them(
    http_store: tuple[ServedSandbox, Keys, SeedSummary],
) -> None:
    served, keys, _ = http_store
    api = _client(served.base_url, keys.read)
    orders, total = _fetch_all(api, "orders", per_page=5)  # params are signed into the URL (and sent twice)
    _assert_orders_match_store(orders, total, served.store, served.base_url + "/wp-json/")


def test_oauth1_over_http_lists_products_as_the_store_holds_them(
    http_store: tuple[ServedSandbox, Keys, SeedSummary],
) -> None:
    served, keys, _ = http_store
    api = _client(served.base_url, keys.admin)
    products, total = _fetch_all(api, "products", per_page=3)
    _assert_products_match_store(products, total, served.store, served.base_url + "/wp-json/")


def test_oauth1_with_a_wrong_secret_is_refused(http_store: tuple[ServedSandbox, Keys, SeedSummary]) -> None:
    served, keys, _ = http_store
    api = API(url=served.base_url, consumer_key=keys.read.consumer_key, consumer_secret="cs_wrong", timeout=15)
    response = api.get("orders")
    assert response.status_code == 401
    assert response.json()["code"] == "woocommerce_rest_authentication_error"
