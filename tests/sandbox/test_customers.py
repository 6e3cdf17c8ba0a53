"""The sandbox's customers endpoints (WordPress users with WooCommerce profiles)."""

from __future__ import annotations

from typing import Any

import httpx

from woobridge.sandbox.app import Sandbox
from woobridge.sandbox.testing import Keys

API = "/wp-json/wc/v3"


def auth(key: Any) -> tuple[str, str]:
    return (key.consumer_key, key.consumer_secret)


async def test_create_derives_username_and_answers_201(asgi_client: httpx.AsyncClient, keys: Keys) -> None:
    response = await asgi_client.post(
        f"{API}/customers",
        json={"email": "jane.doe@shop.test", "first_name": "Jane", "billing": {"city": "Austin", "phone": "555"}},
        auth=auth(keys.admin),
    )
    assert response.status_code == 201
    customer = response.json()
    assert response.headers["location"].endswith(f"/wp-json/wc/v3/customers/{customer['id']}")
    assert customer["username"] == "jane.doe" and customer["role"] == "customer"
    assert customer["first_name"] == "Jane" and customer["billing"]["city"] == "Austin"
    assert list(customer["billing"]) == [
        "first_name",
        "last_name",
        "company",
        "address_1",
        "address_2",
        "city",
        "postcode",
        "country",
        "state",
        "email",
        "phone",
    ]
    assert customer["avatar_url"].startswith("https://secure.gravatar.com/avatar/")
    assert customer["is_paying_customer"] is False and customer["date_created_gmt"] is not None


async def test_duplicate_and_missing_email(asgi_client: httpx.AsyncClient, keys: Keys) -> None:
    await asgi_client.post(f"{API}/customers", json={"email": "a@shop.test"}, auth=auth(keys.admin))
    dup = await asgi_client.post(f"{API}/customers", json={"email": "A@shop.test"}, auth=auth(keys.admin))
    assert dup.status_code == 400 and dup.json()["code"] == "registration-error-email-exists"
    assert dup.json()["message"].startswith("An account is already registered with your email address.")
    missing = await asgi_client.post(f"{API}/customers", json={"first_name": "x"}, auth=auth(keys.admin))
    assert missing.status_code == 400 and missing.json()["code"] == "rest_missing_callback_param"


async def test_list_defaults_to_customers_by_name(asgi_client: httpx.AsyncClient, keys: Keys) -> None:
    for email in ("jane.doe@shop.test", "customer1@shop.test"):
        await asgi_client.post(f"{API}/customers", json={"email": email}, auth=auth(keys.admin))
    response = await asgi_client.get(
        f"{API}/customers", params={"per_page": 10, "_fields": "id,email,role"}, auth=auth(keys.admin)
    )
    assert response.status_code == 200
    # The fixture's key owner "buyer" is a customer too; administrators are left out by role=customer.
    assert [c["email"] for c in response.json()] == ["buyer@shop.test", "customer1@shop.test", "jane.doe@shop.test"]
    assert response.headers["x-wp-total"] == "3" and response.headers["x-wp-totalpages"] == "1"
    assert response.headers["link"] == '<https://shop.test/wp-json/>; rel="https://api.w.org/"'
    everyone = await asgi_client.get(f"{API}/customers", params={"role": "all"}, auth=auth(keys.admin))
    assert everyone.headers["x-wp-total"] == "6"
    by_email = await asgi_client.get(f"{API}/customers", params={"email": "jane.doe@shop.test"}, auth=auth(keys.admin))
    assert [c["username"] for c in by_email.json()] == ["jane.doe"]
    paged = await asgi_client.get(f"{API}/customers", params={"per_page": 2, "page": 5}, auth=auth(keys.admin))
    assert paged.json() == [] and paged.headers["x-wp-total"] == "3"


async def test_user_without_profile_still_lists(sandbox: Sandbox, asgi_client: httpx.AsyncClient, keys: Keys) -> None:
    user = sandbox.store.add_user("customer", "plain", "plain@shop.test")
    response = await asgi_client.get(f"{API}/customers/{user.id}", auth=auth(keys.admin))
    assert response.status_code == 200
    assert response.json()["billing"]["email"] == "" and response.json()["username"] == "plain"


async def test_update_email_clash_and_username_lock(asgi_client: httpx.AsyncClient, keys: Keys) -> None:
    first = (await asgi_client.post(f"{API}/customers", json={"email": "one@shop.test"}, auth=auth(keys.admin))).json()
    await asgi_client.post(f"{API}/customers", json={"email": "two@shop.test"}, auth=auth(keys.admin))
    url = f"{API}/customers/{first['id']}"
    clash = await asgi_client.put(url, json={"email": "two@shop.test"}, auth=auth(keys.admin))
    assert clash.status_code == 400 and clash.json()["code"] == "woocommerce_rest_customer_invalid_email"
    locked = await asgi_client.put(url, json={"username": "other"}, auth=auth(keys.admin))
    assert locked.status_code == 400
    ok = await asgi_client.put(url, json={"last_name": "Doe", "shipping": {"city": "Paris"}}, auth=auth(keys.admin))
    assert ok.status_code == 200 and ok.json()["last_name"] == "Doe" and ok.json()["shipping"]["city"] == "Paris"
    unknown = await asgi_client.get(f"{API}/customers/9999", auth=auth(keys.admin))
    assert unknown.status_code == 404 and unknown.json()["code"] == "woocommerce_rest_invalid_id"


async def test_delete_needs_force(asgi_client: httpx.AsyncClient, keys: Keys) -> None:
    customer = (await asgi_client.post(f"{API}/customers", json={"email": "c@shop.test"}, auth=auth(keys.admin))).json()
    url = f"{API}/customers/{customer['id']}"
    refused = await asgi_client.delete(url, auth=auth(keys.admin))
    assert refused.status_code == 501 and refused.json() == {
        "code": "woocommerce_rest_trash_not_supported",
        "message": "Customers do not support trashing.",
        "data": {"status": 501},
    }
    deleted = await asgi_client.delete(url, params={"force": "true"}, auth=auth(keys.admin))
    assert deleted.status_code == 200 and deleted.json()["email"] == "c@shop.test"
    assert (await asgi_client.get(url, auth=auth(keys.admin))).status_code == 404


async def test_permissions_shop_manager_and_batch(asgi_client: httpx.AsyncClient, keys: Keys) -> None:
    listed = await asgi_client.get(f"{API}/customers", auth=auth(keys.manager))
    assert listed.status_code == 200
    created = await asgi_client.post(f"{API}/customers", json={"email": "m@shop.test"}, auth=auth(keys.manager))
    assert created.status_code == 201
    batch = await asgi_client.post(f"{API}/customers/batch", json={}, auth=auth(keys.manager))
    assert batch.status_code == 403 and batch.json()["code"] == "woocommerce_rest_cannot_batch"
    subscriber = await asgi_client.get(f"{API}/customers", auth=auth(keys.subscriber))
    assert subscriber.status_code == 403
    admin_batch = await asgi_client.post(
        f"{API}/customers/batch",
        json={"create": [{"email": "b1@shop.test"}, {"email": "m@shop.test"}], "delete": [created.json()["id"]]},
        auth=auth(keys.admin),
    )
    body = admin_batch.json()
    assert body["create"][0]["email"] == "b1@shop.test"
    assert body["create"][1]["error"]["code"] == "registration-error-email-exists"
    assert body["delete"][0]["id"] == created.json()["id"]


async def test_customer_events(sandbox: Sandbox, asgi_client: httpx.AsyncClient, keys: Keys) -> None:
    events: list[tuple[str, str, int]] = []
    sandbox.store.subscribe(lambda resource, event, object_id: events.append((resource, event, object_id)))
    customer = (await asgi_client.post(f"{API}/customers", json={"email": "e@shop.test"}, auth=auth(keys.admin))).json()
    await asgi_client.put(f"{API}/customers/{customer['id']}", json={"first_name": "E"}, auth=auth(keys.admin))
    await asgi_client.delete(f"{API}/customers/{customer['id']}", params={"force": "true"}, auth=auth(keys.admin))
    cid = customer["id"]
    assert events == [("customer", "created", cid), ("customer", "updated", cid), ("customer", "deleted", cid)]
