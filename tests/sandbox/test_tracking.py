"""The Shipment Tracking extension's routes (wc-shipment-tracking/v3) over the sandbox's REST layer."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from woobridge.sandbox.app import Sandbox
from woobridge.sandbox.testing import Keys
from woobridge.sandbox.tracking import META_KEY, sanitize_title

ST = "/wp-json/wc-shipment-tracking/v3"


def auth(keys: Keys) -> tuple[str, str]:
    return keys.admin.consumer_key, keys.admin.consumer_secret


@pytest.fixture
def tracked(sandbox: Sandbox) -> Sandbox:
    sandbox.modes.shipment_tracking = True
    return sandbox


def add_order(sandbox: Sandbox) -> dict[str, Any]:
    store = sandbox.store
    now = store.now_iso()
    order = {
        "id": store.next_post_id(),
        "status": "processing",
        "date_created_gmt": now,
        "date_modified_gmt": now,
        "shipping": {"postcode": "1234 ab", "country": "NL"},
        "billing": {"postcode": "9999"},
        "meta_data": [],
    }
    return store.put("order", order)


async def test_routes_exist_only_while_the_extension_is_active(
    sandbox: Sandbox, keys: Keys, asgi_client: httpx.AsyncClient
) -> None:
    order = add_order(sandbox)
    off = await asgi_client.get(f"{ST}/orders/{order['id']}/shipment-trackings", auth=auth(keys))
    assert (off.status_code, off.json()["code"]) == (404, "rest_no_route")
    alias = await asgi_client.get(f"/wp-json/wc/v2/orders/{order['id']}/shipment-trackings", auth=auth(keys))
    assert alias.status_code == 404
    sandbox.modes.shipment_tracking = True
    on = await asgi_client.get(f"{ST}/orders/{order['id']}/shipment-trackings", auth=auth(keys))
    assert (on.status_code, on.json()) == (200, [])


async def test_add_with_predefined_provider_shows_in_order_meta_and_fires_order_updated(
    tracked: Sandbox, keys: Keys, asgi_client: httpx.AsyncClient
) -> None:
    events: list[tuple[str, str, int]] = []
    tracked.store.subscribe(lambda *event: events.append(event))
    order = add_order(tracked)
    order["date_modified_gmt"] = "2020-01-01T00:00:00"
    response = await asgi_client.post(
        f"{ST}/orders/{order['id']}/shipment-trackings",
        json={"tracking_provider": "PostNL", "tracking_number": "3SABC123", "date_shipped": "2026-11-20"},
        auth=auth(keys),
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert re.fullmatch(r"[0-9a-f]{32}", body["tracking_id"])
    assert {k: v for k, v in body.items() if k != "_links"} == {
        "tracking_id": body["tracking_id"],
        "tracking_provider": "PostNL",
        "tracking_link": "https://postnl.nl/tracktrace/?B=3SABC123&P=1234AB&D=NL&T=C",
        "tracking_number": "3SABC123",
        "date_shipped": "2026-11-20",
    }
    base = f"https://shop.test/wp-json/wc-shipment-tracking/v3/orders/{order['id']}"
    assert body["_links"]["up"] == [{"href": base}]
    assert response.headers["Location"].startswith(f"{base}/shipment-trackings/")
    stored = tracked.store.get("order", order["id"])
    assert stored is not None
    (meta,) = [m for m in stored["meta_data"] if m["key"] == META_KEY]
    assert meta["value"][0]["tracking_provider"] == "postnl"
    assert meta["value"][0]["date_shipped"] == "1795132800"
    assert stored["date_modified_gmt"] != "2020-01-01T00:00:00"
    assert ("order", "updated", order["id"]) in events

    listed = await asgi_client.get(f"{ST}/orders/{order['id']}/shipment-trackings", auth=auth(keys))
    assert [t["tracking_id"] for t in listed.json()] == [body["tracking_id"]]
    single = await asgi_client.get(
        f"{ST}/orders/{order['id']}/shipment-trackings/{body['tracking_id']}", auth=auth(keys)
    )
    assert single.json() == body


async def test_custom_provider_and_default_date(tracked: Sandbox, keys: Keys, asgi_client: httpx.AsyncClient) -> None:
    order = add_order(tracked)
    response = await asgi_client.post(
        f"{ST}/orders/{order['id']}/shipment-trackings",
        json={
            "custom_tracking_provider": "Bike Courier",
            "custom_tracking_link": "https://bike.test/t/%1$s?o=%4$s",
            "tracking_number": "B-7",
            "date_shipped": "",
        },
        auth=auth(keys),
    )
    body = response.json()
    assert (body["tracking_provider"], body["tracking_link"]) == (
        "Bike Courier",
        f"https://bike.test/t/B-7?o={order['id']}",
    )
    assert body["date_shipped"] == tracked.store.now().strftime("%Y-%m-%d")


async def test_delete_and_errors(tracked: Sandbox, keys: Keys, asgi_client: httpx.AsyncClient) -> None:
    order = add_order(tracked)
    url = f"{ST}/orders/{order['id']}/shipment-trackings"
    created = (
        await asgi_client.post(url, json={"tracking_provider": "ups", "tracking_number": "1Z"}, auth=auth(keys))
    ).json()
    assert created["tracking_provider"] == "UPS"
    assert created["tracking_link"] == "https://www.ups.com/track?loc=en_US&tracknum=1Z"
    deleted = await asgi_client.delete(f"{url}/{created['tracking_id']}", auth=auth(keys))
    assert deleted.status_code == 200 and deleted.json()["tracking_id"] == created["tracking_id"]
    assert (await asgi_client.get(url, auth=auth(keys))).json() == []
    again = await asgi_client.delete(f"{url}/{created['tracking_id']}", auth=auth(keys))
    assert (again.status_code, again.json()["code"]) == (404, "woocommerce_rest_order_shipment_tracking_invalid_id")
    no_order = await asgi_client.get(f"{ST}/orders/999999/shipment-trackings", auth=auth(keys))
    assert no_order.json() == {
        "code": "woocommerce_rest_order_invalid_id",
        "message": "Invalid order ID.",
        "data": {"status": 404},
    }
    missing_number = await asgi_client.post(url, json={"tracking_provider": "ups"}, auth=auth(keys))
    assert (missing_number.status_code, missing_number.json()["code"]) == (400, "rest_missing_callback_param")


async def test_permissions_follow_orders(tracked: Sandbox, keys: Keys, asgi_client: httpx.AsyncClient) -> None:
    order = add_order(tracked)
    url = f"{ST}/orders/{order['id']}/shipment-trackings"
    assert (await asgi_client.get(url)).status_code == 401
    customer = await asgi_client.get(url, auth=(keys.customer.consumer_key, keys.customer.consumer_secret))
    assert (customer.status_code, customer.json()["code"]) == (403, "woocommerce_rest_cannot_view")
    create = await asgi_client.post(
        url, json={"tracking_number": "1"}, auth=(keys.subscriber.consumer_key, keys.subscriber.consumer_secret)
    )
    assert (create.status_code, create.json()["code"]) == (403, "woocommerce_rest_cannot_create")
    manager = await asgi_client.get(url, auth=(keys.manager.consumer_key, keys.manager.consumer_secret))
    assert manager.status_code == 200


async def test_providers_need_no_credentials(tracked: Sandbox, asgi_client: httpx.AsyncClient) -> None:
    response = await asgi_client.get(f"{ST}/shipment-trackings/providers")
    assert response.status_code == 200
    providers = response.json()
    assert providers["United States"]["USPS"].endswith("%1$s")
    assert "Royal Mail" in providers["United Kingdom"]


def test_sanitize_title_matches_wordpress() -> None:
    assert sanitize_title("DHL Intraship (DE)") == "dhl-intraship-de"
    assert sanitize_title("DPD.de") == "dpd-de"
    assert sanitize_title("Česká pošta") == "ceska-posta"
