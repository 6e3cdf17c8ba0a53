"""The sandbox's product categories (``/products/categories``), as WooCommerce 11's terms controller serves them."""

from __future__ import annotations

from typing import Any

import httpx

from woobridge.sandbox.testing import Keys

API = "/wp-json/wc/v3/products/categories"


def auth(key: Any) -> tuple[str, str]:
    return (key.consumer_key, key.consumer_secret)


async def test_categories_are_created_under_parents_and_listed_with_search_parent_and_pages(
    asgi_client: httpx.AsyncClient, keys: Keys
) -> None:
    made = await asgi_client.post(API, json={"name": "Clothing & Shoes"}, auth=auth(keys.admin))
    assert made.status_code == 201, made.text
    top = made.json()
    assert (top["name"], top["slug"], top["parent"], top["count"]) == ("Clothing &amp; Shoes", "clothing-shoes", 0, 0)
    assert made.headers["location"].endswith(f"/wp-json/wc/v3/products/categories/{top['id']}")
    child = (await asgi_client.post(API, json={"name": "Shirts", "parent": top["id"]}, auth=auth(keys.admin))).json()
    assert child["parent"] == top["id"] and child["_links"]["up"][0]["href"].endswith(f"/categories/{top['id']}")
    # The same name under another parent is another term, with a slug made unique by its parent's.
    other = await asgi_client.post(API, json={"name": "Shirts"}, auth=auth(keys.admin))
    assert other.status_code == 201 and (child["slug"], other.json()["slug"]) == ("shirts", "shirts-2")

    listed = await asgi_client.get(API, params={"per_page": 100}, auth=auth(keys.read))
    assert listed.status_code == 200 and listed.headers["x-wp-total"] == str(len(listed.json()))
    names = [c["name"] for c in listed.json()]
    assert names == sorted(names, key=str.lower)  # ordered by name by default
    under = await asgi_client.get(API, params={"parent": top["id"]}, auth=auth(keys.read))
    assert [c["id"] for c in under.json()] == [child["id"]]
    found = await asgi_client.get(API, params={"search": "shoe"}, auth=auth(keys.read))
    assert [c["id"] for c in found.json()] == [top["id"]]
    paged = await asgi_client.get(API, params={"per_page": 1, "page": 2}, auth=auth(keys.read))
    assert len(paged.json()) == 1 and paged.headers["x-wp-totalpages"] == listed.headers["x-wp-total"]
    one = await asgi_client.get(f"{API}/{child['id']}", auth=auth(keys.read))
    assert one.json()["name"] == "Shirts"


async def test_a_duplicate_name_under_the_same_parent_is_refused_with_the_existing_term(
    asgi_client: httpx.AsyncClient, keys: Keys
) -> None:
    first = (await asgi_client.post(API, json={"name": "Kitchen"}, auth=auth(keys.admin))).json()
    again = await asgi_client.post(API, json={"name": "kitchen"}, auth=auth(keys.admin))
    assert again.status_code == 400
    assert again.json() == {
        "code": "term_exists",
        "message": "A term with the name provided already exists with this parent.",
        "data": {"status": 400, "resource_id": first["id"]},
    }
    nameless = await asgi_client.post(API, json={"name": ""}, auth=auth(keys.admin))
    assert nameless.status_code == 400
    orphan = await asgi_client.post(API, json={"name": "Lost", "parent": 99999}, auth=auth(keys.admin))
    assert orphan.status_code == 400 and orphan.json()["code"] == "missing_parent"
    assert (await asgi_client.get(f"{API}/99999", auth=auth(keys.read))).status_code == 404


async def test_products_count_in_their_category(asgi_client: httpx.AsyncClient, keys: Keys) -> None:
    category = (await asgi_client.post(API, json={"name": "Mugs"}, auth=auth(keys.admin))).json()
    product = await asgi_client.post(
        "/wp-json/wc/v3/products",
        json={"name": "Mug", "categories": [{"id": category["id"]}]},
        auth=auth(keys.admin),
    )
    assert product.json()["categories"][0]["id"] == category["id"]
    assert (await asgi_client.get(f"{API}/{category['id']}", auth=auth(keys.read))).json()["count"] == 1
