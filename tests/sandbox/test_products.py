"""The sandbox's products and variations endpoints, as a WooCommerce client sees them."""

from __future__ import annotations

from typing import Any

import httpx

from woobridge.sandbox.app import Sandbox
from woobridge.sandbox.testing import Keys

API = "/wp-json/wc/v3"


def auth(key: Any) -> tuple[str, str]:
    return (key.consumer_key, key.consumer_secret)


async def make(client: httpx.AsyncClient, keys: Keys, **body: Any) -> dict[str, Any]:
    response = await client.post(f"{API}/products", json=body, auth=auth(keys.admin))
    assert response.status_code == 201, response.text
    return dict(response.json())


async def make_polo(client: httpx.AsyncClient, keys: Keys, **parent: Any) -> tuple[int, list[int]]:
    """A variable product with Size × Color variations, like the recorded store's Polo Shirt."""
    body = {
        "name": "Polo Shirt",
        "type": "variable",
        "attributes": [
            {"id": 1, "name": "Size", "options": ["M", "L"], "variation": True, "visible": True},
            {"id": 2, "name": "Color", "options": ["Red", "Blue"], "variation": True, "visible": True},
        ],
        **parent,
    }
    polo = await make(client, keys, **body)
    ids = []
    for size in ("M", "L"):
        for color in ("Red", "Blue"):
            response = await client.post(
                f"{API}/products/{polo['id']}/variations",
                json={
                    "regular_price": "27.00",
                    "sku": f"POLO-{size}-{color}",
                    "attributes": [{"id": 1, "option": size}, {"id": 2, "option": color}],
                },
                auth=auth(keys.admin),
            )
            assert response.status_code == 201, response.text
            ids.append(response.json()["id"])
    return polo["id"], ids


async def test_create_answers_201_with_location_and_the_full_product(
    asgi_client: httpx.AsyncClient, keys: Keys
) -> None:
    response = await asgi_client.post(
        f"{API}/products", json={"name": "Batch OK item", "regular_price": "3.00", "sku": "OK-1"}, auth=auth(keys.admin)
    )
    assert response.status_code == 201
    product = response.json()
    assert response.headers["location"] == f"https://shop.test/wp-json/wc/v3/products/{product['id']}"
    assert product["slug"] == "batch-ok-item"
    assert product["permalink"] == "https://shop.test/product/batch-ok-item/"
    assert product["price"] == "3.00" and product["regular_price"] == "3.00" and product["sale_price"] == ""
    assert product["categories"] == [{"id": 15, "name": "Uncategorized", "slug": "uncategorized"}]
    assert product["price_html"] == (
        '<span class="woocommerce-Price-amount amount"><bdi><span class="woocommerce-Price-currencySymbol" '
        'translate="no">&#36;</span>3.00</bdi></span>'
    )
    assert product["stock_quantity"] is None and product["manage_stock"] is False
    assert product["generated_slug"] == "batch-ok-item"  # edit context on writes
    assert product["_links"]["self"][0]["targetHints"] == {"allow": ["GET", "POST", "PUT", "PATCH", "DELETE"]}
    # The view context of GET hides the edit-only fields.
    fetched = (await asgi_client.get(f"{API}/products/{product['id']}", auth=auth(keys.admin))).json()
    assert "generated_slug" not in fetched and fetched["date_modified_gmt"] == product["date_modified_gmt"]


async def test_sale_price_drives_price_and_html(asgi_client: httpx.AsyncClient, keys: Keys) -> None:
    product = await make(asgi_client, keys, name="Scarf", regular_price="20.00", sale_price="15.50")
    assert product["price"] == "15.50" and product["on_sale"] is True
    assert '<del aria-hidden="true">' in product["price_html"]
    assert "Current price is: &#36;15.50." in product["price_html"]


async def test_list_pagination_headers_and_past_the_end(asgi_client: httpx.AsyncClient, keys: Keys) -> None:
    for index in range(5):
        await make(asgi_client, keys, name=f"Item {index}", regular_price="1.00")
    response = await asgi_client.get(f"{API}/products", params={"per_page": 2}, auth=auth(keys.admin))
    assert response.headers["x-wp-total"] == "5" and response.headers["x-wp-totalpages"] == "3"
    assert 'rel="next"' in response.headers["link"]
    names = [p["name"] for p in response.json()]
    assert names == ["Item 4", "Item 3"]  # newest first: orderby=date, order=desc, ID as tie-breaker
    beyond = await asgi_client.get(f"{API}/products", params={"per_page": 2, "page": 9}, auth=auth(keys.admin))
    assert beyond.json() == [] and beyond.headers["x-wp-total"] == "5"
    bad = await asgi_client.get(f"{API}/products", params={"per_page": 0}, auth=auth(keys.admin))
    assert bad.status_code == 400 and bad.json()["code"] == "rest_invalid_param"
    ascending = await asgi_client.get(
        f"{API}/products", params={"orderby": "title", "order": "asc", "per_page": 1}, auth=auth(keys.admin)
    )
    assert ascending.json()[0]["name"] == "Item 0"


async def test_sku_lookup_is_exact_and_finds_variations(asgi_client: httpx.AsyncClient, keys: Keys) -> None:
    await make(asgi_client, keys, name="Hoodie", regular_price="40.00", sku="HOODIE-1")
    await make(asgi_client, keys, name="Hoodie XL", regular_price="40.00", sku="HOODIE-10")
    polo_id, variation_ids = await make_polo(asgi_client, keys)
    exact = await asgi_client.get(f"{API}/products", params={"sku": "HOODIE-1"}, auth=auth(keys.admin))
    assert [p["sku"] for p in exact.json()] == ["HOODIE-1"]
    several = await asgi_client.get(f"{API}/products", params={"sku": "HOODIE-1,POLO-L-Blue"}, auth=auth(keys.admin))
    found = {p["sku"]: p for p in several.json()}
    assert set(found) == {"HOODIE-1", "POLO-L-Blue"}
    variation = found["POLO-L-Blue"]
    assert variation["type"] == "variation" and variation["parent_id"] == polo_id
    assert variation["name"] == "Polo Shirt - L, Blue"
    assert variation["_links"]["up"] == [{"href": f"https://shop.test/wp-json/wc/v3/products/{polo_id}"}]
    # Without sku only products are listed.
    listed = await asgi_client.get(f"{API}/products", auth=auth(keys.admin))
    assert all(p["type"] != "variation" for p in listed.json())
    parent = (await asgi_client.get(f"{API}/products/{polo_id}", auth=auth(keys.admin))).json()
    assert sorted(parent["variations"]) == sorted(variation_ids)
    assert parent["price"] == "27.00" and parent["stock_status"] == "instock"


async def test_variations_list_fields_and_sku_filter(asgi_client: httpx.AsyncClient, keys: Keys) -> None:
    polo_id, variation_ids = await make_polo(asgi_client, keys)
    response = await asgi_client.get(
        f"{API}/products/{polo_id}/variations",
        params={"per_page": 2, "_fields": "id,sku,price,attributes"},
        auth=auth(keys.admin),
    )
    assert response.headers["x-wp-total"] == "4" and response.headers["x-wp-totalpages"] == "2"
    first = response.json()[0]
    assert first["id"] == max(variation_ids)
    assert first["attributes"] == [
        {"id": 1, "name": "Size", "slug": "pa_size", "option": "L"},
        {"id": 2, "name": "Color", "slug": "pa_color", "option": "Blue"},
    ]
    assert first["price"] == "27.00"
    by_sku = await asgi_client.get(
        f"{API}/products/{polo_id}/variations", params={"sku": "POLO-M-Red"}, auth=auth(keys.admin)
    )
    assert [v["sku"] for v in by_sku.json()] == ["POLO-M-Red"]
    other = await make(asgi_client, keys, name="Other")
    wrong_parent = await asgi_client.get(
        f"{API}/products/{other['id']}/variations/{variation_ids[0]}", auth=auth(keys.admin)
    )
    assert wrong_parent.status_code == 404
    assert wrong_parent.json()["code"] == "woocommerce_rest_product_variation_invalid_id"


async def test_parent_managed_stock_shows_on_variations(asgi_client: httpx.AsyncClient, keys: Keys) -> None:
    polo_id, variation_ids = await make_polo(
        asgi_client, keys, manage_stock=True, stock_quantity=7, backorders="notify"
    )
    variation = (
        await asgi_client.get(f"{API}/products/{polo_id}/variations/{variation_ids[0]}", auth=auth(keys.admin))
    ).json()
    assert variation["manage_stock"] == "parent"
    assert variation["stock_quantity"] == 7 and variation["backorders"] == "notify"
    # The variation's own quantity is written but not used while the parent manages stock.
    await asgi_client.put(
        f"{API}/products/{polo_id}/variations/{variation_ids[0]}", json={"stock_quantity": 99}, auth=auth(keys.admin)
    )
    again = (
        await asgi_client.get(f"{API}/products/{polo_id}/variations/{variation_ids[0]}", auth=auth(keys.admin))
    ).json()
    assert again["stock_quantity"] == 7
    # Managing it on the variation itself takes over.
    own = await asgi_client.put(
        f"{API}/products/{polo_id}/variations/{variation_ids[0]}",
        json={"manage_stock": True, "stock_quantity": 0},
        auth=auth(keys.admin),
    )
    assert own.json()["manage_stock"] is True and own.json()["stock_status"] == "outofstock"


async def test_stock_writes_recompute_status(asgi_client: httpx.AsyncClient, keys: Keys) -> None:
    product = await make(asgi_client, keys, name="Mug", regular_price="9.00", manage_stock=True, stock_quantity=3)
    assert product["stock_status"] == "instock" and product["stock_quantity"] == 3
    url = f"{API}/products/{product['id']}"
    zero = (await asgi_client.put(url, json={"stock_quantity": 0}, auth=auth(keys.admin))).json()
    assert zero["stock_status"] == "outofstock"
    backorder = (await asgi_client.put(url, json={"backorders": "yes"}, auth=auth(keys.admin))).json()
    assert backorder["stock_status"] == "onbackorder" and backorder["backorders_allowed"] is True
    assert backorder["date_modified_gmt"] >= product["date_modified_gmt"]
    invalid = await asgi_client.put(url, json={"stock_quantity": "lots"}, auth=auth(keys.admin))
    assert invalid.status_code == 400 and invalid.json()["code"] == "rest_invalid_param"
    assert "stock_quantity" in invalid.json()["data"]["params"]


async def test_global_manage_stock_off_ignores_quantities(
    sandbox: Sandbox, asgi_client: httpx.AsyncClient, keys: Keys
) -> None:
    sandbox.store.settings.manage_stock = False
    product = await make(asgi_client, keys, name="Cap", regular_price="5.00", manage_stock=True, stock_quantity=12)
    assert product["manage_stock"] is False and product["stock_quantity"] is None
    out = await asgi_client.put(
        f"{API}/products/{product['id']}",
        json={"stock_status": "outofstock", "stock_quantity": 4},
        auth=auth(keys.admin),
    )
    assert out.json()["stock_status"] == "outofstock" and out.json()["stock_quantity"] is None


async def test_variable_parent_stock_status_comes_from_children(asgi_client: httpx.AsyncClient, keys: Keys) -> None:
    polo_id, _ = await make_polo(asgi_client, keys)
    response = await asgi_client.put(
        f"{API}/products/{polo_id}", json={"stock_status": "outofstock"}, auth=auth(keys.admin)
    )
    assert response.json()["stock_status"] == "instock"


async def test_duplicate_sku_and_invalid_ids(asgi_client: httpx.AsyncClient, keys: Keys) -> None:
    first = await make(asgi_client, keys, name="Hoodie", sku="HOODIE-1")
    dup = await asgi_client.post(f"{API}/products", json={"name": "Dup", "sku": "HOODIE-1"}, auth=auth(keys.admin))
    assert dup.status_code == 400
    assert dup.json() == {
        "code": "product_invalid_sku",
        "message": "Invalid or duplicated SKU.",
        "data": {"status": 400, "resource_id": first["id"], "unique_sku": "HOODIE-1-1"},
    }
    missing = await asgi_client.get(f"{API}/products/999999", auth=auth(keys.admin))
    assert missing.status_code == 404 and missing.json()["code"] == "woocommerce_rest_product_invalid_id"
    put = await asgi_client.put(f"{API}/products/999999", json={"name": "x"}, auth=auth(keys.admin))
    assert put.status_code == 400 and put.json()["message"] == "Invalid ID."
    gone = await asgi_client.delete(f"{API}/products/999999", auth=auth(keys.admin))
    assert gone.status_code == 404


async def test_delete_trashes_then_force_removes(asgi_client: httpx.AsyncClient, keys: Keys) -> None:
    product = await make(asgi_client, keys, name="Old thing", regular_price="1.00")
    url = f"{API}/products/{product['id']}"
    trashed = await asgi_client.delete(url, auth=auth(keys.admin))
    assert trashed.status_code == 200 and trashed.json()["id"] == product["id"]
    assert (await asgi_client.get(url, auth=auth(keys.admin))).json()["status"] == "trash"
    assert (await asgi_client.get(f"{API}/products", auth=auth(keys.admin))).json() == []
    again = await asgi_client.delete(url, auth=auth(keys.admin))
    assert again.status_code == 410 and again.json()["code"] == "woocommerce_rest_already_trashed"
    forced = await asgi_client.delete(url, params={"force": "true"}, auth=auth(keys.admin))
    assert forced.status_code == 200
    assert (await asgi_client.get(url, auth=auth(keys.admin))).status_code == 404


async def test_batch_mixed_results_like_the_recording(asgi_client: httpx.AsyncClient, keys: Keys) -> None:
    hoodie = await make(asgi_client, keys, name="Hoodie", sku="HOODIE-1")
    shirt = await make(asgi_client, keys, name="Basic T-Shirt", regular_price="15.00")
    response = await asgi_client.post(
        f"{API}/products/batch",
        json={
            "create": [
                {"name": "Batch OK item", "regular_price": "3.00", "sku": "BATCH-OK"},
                {"name": "Dup SKU", "regular_price": "3.00", "sku": "HOODIE-1"},
            ],
            "update": [{"id": shirt["id"], "regular_price": "19.99"}, {"id": 999999, "regular_price": "1.00"}],
            "delete": [999998],
        },
        auth=auth(keys.admin),
    )
    assert response.status_code == 200
    body = response.json()
    assert body["create"][0]["sku"] == "BATCH-OK"
    assert body["create"][1] == {
        "id": 0,
        "error": {
            "code": "product_invalid_sku",
            "message": "Invalid or duplicated SKU.",
            "data": {"status": 400, "resource_id": hoodie["id"], "unique_sku": "HOODIE-1-1"},
        },
    }
    assert body["update"][0]["price"] == "19.99"
    assert body["update"][1]["error"]["data"] == {"status": 400}
    assert body["delete"][0] == {
        "id": 999998,
        "error": {"code": "woocommerce_rest_product_invalid_id", "message": "Invalid ID.", "data": {"status": 404}},
    }


async def test_batch_limit_applies_nothing(asgi_client: httpx.AsyncClient, keys: Keys) -> None:
    items = [{"name": f"Batch item {i}", "regular_price": "1.00"} for i in range(50)]
    response = await asgi_client.post(
        f"{API}/products/batch",
        json={"create": items, "update": [{"id": 1, "regular_price": "2.00"}] * 51},
        auth=auth(keys.admin),
    )
    assert response.status_code == 413
    assert response.json() == {
        "code": "woocommerce_rest_request_entity_too_large",
        "message": "Unable to accept more than 100 items for this request.",
        "data": {"status": 413},
    }
    listed = await asgi_client.get(f"{API}/products", auth=auth(keys.admin))
    assert listed.headers["x-wp-total"] == "0"


async def test_empty_batch_is_a_write_probe(asgi_client: httpx.AsyncClient, keys: Keys) -> None:
    rw = await asgi_client.post(f"{API}/products/batch", json={}, auth=auth(keys.admin))
    assert rw.status_code == 200 and rw.json() == [] and rw.headers["allow"] == "POST, PUT, PATCH"
    readonly = await asgi_client.post(f"{API}/products/batch", json={}, auth=auth(keys.read))
    assert readonly.status_code == 401
    subscriber = await asgi_client.post(f"{API}/products/batch", json={}, auth=auth(keys.subscriber))
    assert subscriber.status_code == 403 and subscriber.json()["code"] == "woocommerce_rest_cannot_batch"


async def test_permissions_per_role(asgi_client: httpx.AsyncClient, keys: Keys) -> None:
    listing = await asgi_client.get(f"{API}/products", params={"per_page": 1}, auth=auth(keys.subscriber))
    assert listing.status_code == 403 and listing.json()["message"] == "Sorry, you cannot list resources."
    create = await asgi_client.post(f"{API}/products", json={"name": "x"}, auth=auth(keys.customer))
    assert create.status_code == 403 and create.json()["code"] == "woocommerce_rest_cannot_create"
    manager = await asgi_client.post(f"{API}/products", json={"name": "x"}, auth=auth(keys.manager))
    assert manager.status_code == 201
    anonymous = await asgi_client.get(f"{API}/products")
    assert anonymous.status_code == 401


async def test_date_filters_and_search(sandbox: Sandbox, asgi_client: httpx.AsyncClient, keys: Keys) -> None:
    from datetime import timedelta

    sandbox.store.clock_offset = timedelta(days=-2)
    old = await make(asgi_client, keys, name="Old Lamp", regular_price="1.00")
    sandbox.store.clock_offset = timedelta(0)
    new = await make(asgi_client, keys, name="New Lamp", regular_price="1.00")
    cutoff = old["date_created_gmt"]
    after = await asgi_client.get(
        f"{API}/products", params={"after": cutoff, "dates_are_gmt": "true"}, auth=auth(keys.admin)
    )
    assert [p["id"] for p in after.json()] == [new["id"]]  # after is exclusive
    modified = await asgi_client.get(
        f"{API}/products",
        params={"modified_before": new["date_modified_gmt"], "dates_are_gmt": "1"},
        auth=auth(keys.admin),
    )
    assert [p["id"] for p in modified.json()] == [old["id"]]
    search = await asgi_client.get(f"{API}/products", params={"search": "new lamp"}, auth=auth(keys.admin))
    assert [p["id"] for p in search.json()] == [new["id"]]
    include = await asgi_client.get(
        f"{API}/products", params={"include": f"{old['id']},{new['id']}", "orderby": "include"}, auth=auth(keys.admin)
    )
    assert [p["id"] for p in include.json()] == [old["id"], new["id"]]


async def test_product_events_reach_listeners(sandbox: Sandbox, asgi_client: httpx.AsyncClient, keys: Keys) -> None:
    events: list[tuple[str, str, int]] = []
    sandbox.store.subscribe(lambda resource, event, object_id: events.append((resource, event, object_id)))
    product = await make(asgi_client, keys, name="Evented", regular_price="1.00")
    await asgi_client.put(f"{API}/products/{product['id']}", json={"name": "Renamed"}, auth=auth(keys.admin))
    await asgi_client.delete(f"{API}/products/{product['id']}", auth=auth(keys.admin))
    await asgi_client.put(f"{API}/products/{product['id']}", json={"status": "publish"}, auth=auth(keys.admin))
    pid = product["id"]
    assert [e for e in events if e[0] == "product"] == [
        ("product", "created", pid),
        ("product", "updated", pid),
        ("product", "deleted", pid),
        ("product", "restored", pid),
        ("product", "updated", pid),
    ]
