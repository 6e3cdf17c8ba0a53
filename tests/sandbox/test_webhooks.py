"""Webhooks: the REST resource and the signed deliveries, checked against WooCommerce 11.0.1's recorded behaviour
(real-data/webhooks). Deliveries go to a real HTTP receiver on 127.0.0.1."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from woobridge.sandbox import orders
from woobridge.sandbox.app import Sandbox
from woobridge.sandbox.testing import Keys
from woobridge.sandbox.webhooks import build_payload, sign
from woobridge.sandbox.wp import php_json

RAW = Path(__file__).resolve().parents[3] / "shared" / "woocommerce" / "real-data" / "webhooks" / "raw"
WEBHOOKS = "/wp-json/wc/v3/webhooks"


# -- a real receiver ---------------------------------------------------------------------------------------------


@dataclass
class Received:
    method: str
    path: str
    headers: list[tuple[str, str]]
    body: bytes


@dataclass
class Receiver:
    """An HTTP server on loopback that records every request; ``/status/N`` answers N, anything else 200."""

    base: str = ""
    requests: list[Received] = field(default_factory=list)

    def url(self, path: str = "/hook") -> str:
        return self.base + path

    def deliveries(self) -> list[Received]:
        return [r for r in self.requests if dict(r.headers).get("X-WC-Webhook-Topic")]

    def pings(self) -> list[Received]:
        return [r for r in self.requests if r.body.startswith(b"webhook_id=")]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            found.requests.append(Received("POST", self.path, list(self.headers.items()), body))
            status = int(self.path.rsplit("/", 1)[-1]) if self.path.startswith("/status/") else 200
            self.send_response(status)
            if status in (301, 302):
                self.send_header("Location", found.base + "/elsewhere")
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        do_GET = do_POST

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    found.base = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield found
    finally:
        server.shutdown()
        server.server_close()


def fake_order_rest(store: Any, obj: dict[str, Any], rest_root: str, dp: Any = None) -> dict[str, Any]:
    """Stands in for orders.to_rest (owned elsewhere): a payload that shows the state at render time."""
    return {"id": obj["id"], "status": obj["status"], "note": obj.get("note", ""), "_links": {"self": rest_root}}


@pytest.fixture
def order_rest(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(orders, "to_rest", fake_order_rest, raising=False)


def add_order(sandbox: Sandbox, status: str = "pending", **fields: Any) -> dict[str, Any]:
    store = sandbox.store
    now = store.now_iso()
    order = {"id": store.next_post_id(), "status": status, "date_created_gmt": now, "date_modified_gmt": now}
    return store.put("order", order | fields)


async def create_hook(client: httpx.AsyncClient, keys: Keys, **body: Any) -> dict[str, Any]:
    payload = {"name": "test hook", "secret": "s3cret", **body}
    response = await client.post(WEBHOOKS, json=payload, auth=auth(keys))
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def auth(keys: Keys) -> tuple[str, str]:
    return keys.admin.consumer_key, keys.admin.consumer_secret


# -- signing, against WooCommerce's own deliveries -----------------------------------------------------------------


def test_signature_matches_every_recorded_delivery() -> None:
    checked = 0
    for meta_file in sorted(RAW.glob("*.json")):
        meta = json.loads(meta_file.read_text())
        headers = dict(meta["headers"])
        if "X-WC-Webhook-Signature" not in headers or headers["X-WC-Webhook-ID"] not in {"2", "3", "4", "5"}:
            continue
        body = (RAW / meta_file.name.replace(".json", ".body")).read_bytes()
        assert sign(body, "capture-secret-123") == headers["X-WC-Webhook-Signature"], meta_file.name
        checked += 1
    assert checked >= 8


def test_signature_uses_the_entity_decoded_secret() -> None:
    assert sign(b"{}", "a&amp;b") == sign(b"{}", "a&b")


# -- REST resource -----------------------------------------------------------------------------------------------


async def test_create_returns_201_without_secret_and_always_active(
    sandbox: Sandbox, keys: Keys, asgi_client: httpx.AsyncClient
) -> None:
    response = await asgi_client.post(
        WEBHOOKS,
        json={"name": "n", "topic": "order.updated", "delivery_url": "http://127.0.0.1:9/hook", "status": "paused"},
        auth=auth(keys),
    )
    assert response.status_code == 201
    body = response.json()
    assert response.headers["Location"] == f"https://shop.test/wp-json/wc/v3/webhooks/{body['id']}"
    assert list(body) == [
        "id",
        "name",
        "status",
        "topic",
        "resource",
        "event",
        "hooks",
        "delivery_url",
        "date_created",
        "date_created_gmt",
        "date_modified",
        "date_modified_gmt",
        "_links",
    ]
    assert body["status"] == "active"
    assert body["hooks"] == ["woocommerce_update_order", "woocommerce_order_refunded"]
    assert (body["resource"], body["event"]) == ("order", "updated")
    assert body["date_modified"] is None
    assert body["_links"]["self"][0]["targetHints"]["allow"] == ["GET", "POST", "PUT", "PATCH", "DELETE"]
    assert "secret" not in response.text
    edit = await asgi_client.get(f"{WEBHOOKS}/{body['id']}", params={"context": "edit"}, auth=auth(keys))
    assert "secret" not in edit.json()
    stored = sandbox.store.get("webhook", body["id"])
    assert stored is not None and len(stored["secret"]) == 50  # generated when none is given


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (
            {"topic": "order.published", "delivery_url": "https://x.test/"},
            "woocommerce_rest_shop_webhook_invalid_topic",
        ),
        ({"topic": "refund.created", "delivery_url": "https://x.test/"}, "woocommerce_rest_shop_webhook_invalid_topic"),
        (
            {"topic": "action.woocommerce_login_credentials", "delivery_url": "https://x.test/"},
            "woocommerce_rest_shop_webhook_invalid_topic",
        ),
        (
            {"topic": "order.created", "delivery_url": "ftp://x.test/"},
            "woocommerce_rest_shop_webhook_invalid_delivery_url",
        ),
        ({"topic": "order.created"}, "rest_missing_callback_param"),
    ],
)
async def test_create_rejects_invalid_input(
    keys: Keys, asgi_client: httpx.AsyncClient, body: dict[str, str], code: str
) -> None:
    response = await asgi_client.post(WEBHOOKS, json=body, auth=auth(keys))
    assert response.status_code == 400
    assert response.json()["code"] == code


async def test_custom_action_topic_is_accepted(keys: Keys, asgi_client: httpx.AsyncClient) -> None:
    hook = await create_hook(
        asgi_client, keys, topic="action.woocommerce_order_status_completed", delivery_url="https://x.test/"
    )
    assert (hook["resource"], hook["event"], hook["hooks"]) == (
        "action",
        "woocommerce_order_status_completed",
        ["woocommerce_order_status_completed"],
    )


async def test_permissions_need_manage_woocommerce(keys: Keys, asgi_client: httpx.AsyncClient) -> None:
    assert (await asgi_client.get(WEBHOOKS)).status_code == 401
    denied = await asgi_client.get(WEBHOOKS, auth=(keys.customer.consumer_key, keys.customer.consumer_secret))
    assert (denied.status_code, denied.json()["code"]) == (403, "woocommerce_rest_cannot_view")
    manager = await asgi_client.get(WEBHOOKS, auth=(keys.manager.consumer_key, keys.manager.consumer_secret))
    assert manager.status_code == 200


async def test_list_order_status_filter_and_pagination(
    sandbox: Sandbox, keys: Keys, asgi_client: httpx.AsyncClient
) -> None:
    empty = await asgi_client.get(WEBHOOKS, auth=auth(keys))
    assert (empty.json(), empty.headers["X-WP-Total"], empty.headers["X-WP-TotalPages"]) == ([], "0", "0")
    ids = [
        (await create_hook(asgi_client, keys, topic=t, delivery_url="https://x.test/"))["id"]
        for t in ("order.created", "order.updated", "order.deleted")
    ]
    sandbox.store.clock_offset += timedelta(seconds=5)
    newest = (await create_hook(asgi_client, keys, topic="order.restored", delivery_url="https://x.test/"))["id"]
    listed = await asgi_client.get(WEBHOOKS, auth=auth(keys))
    # Newest first; webhooks created in the same second come back in id order (as recorded: 5, 4, 2, 3 …).
    assert [w["id"] for w in listed.json()] == [newest, *ids]
    await asgi_client.put(f"{WEBHOOKS}/{ids[0]}", json={"status": "paused"}, auth=auth(keys))
    paused = await asgi_client.get(WEBHOOKS, params={"status": "paused"}, auth=auth(keys))
    assert [w["id"] for w in paused.json()] == [ids[0]]
    page = await asgi_client.get(WEBHOOKS, params={"per_page": 3, "page": 2}, auth=auth(keys))
    assert len(page.json()) == 1 and page.headers["X-WP-Total"] == "4" and page.headers["X-WP-TotalPages"] == "2"
    bad = await asgi_client.get(WEBHOOKS, params={"status": "trash"}, auth=auth(keys))
    assert bad.status_code == 400


async def test_update_get_and_delete(keys: Keys, asgi_client: httpx.AsyncClient) -> None:
    hook = await create_hook(asgi_client, keys, topic="order.created", delivery_url="https://x.test/")
    url = f"{WEBHOOKS}/{hook['id']}"
    updated = await asgi_client.put(url, json={"status": "disabled", "name": "renamed"}, auth=auth(keys))
    assert updated.status_code == 200
    assert (updated.json()["status"], updated.json()["name"]) == ("disabled", "renamed")
    assert updated.json()["date_modified_gmt"] is not None
    bad_topic = await asgi_client.put(url, json={"topic": "nope.created"}, auth=auth(keys))
    assert (bad_topic.status_code, bad_topic.json()["message"]) == (400, "Webhook topic must be valid.")
    trash = await asgi_client.delete(url, auth=auth(keys))
    assert trash.status_code == 501
    assert trash.json() == {
        "code": "woocommerce_rest_trash_not_supported",
        "message": "Webhooks do not support trashing.",
        "data": {"status": 501},
    }
    deleted = await asgi_client.delete(url, params={"force": "true"}, auth=auth(keys))
    assert deleted.status_code == 200 and deleted.json()["id"] == hook["id"]
    gone = await asgi_client.get(url, auth=auth(keys))
    assert (gone.status_code, gone.json()["code"]) == (400, "woocommerce_rest_shop_webhook_invalid_id")
    missing_delete = await asgi_client.delete(url, params={"force": "true"}, auth=auth(keys))
    assert missing_delete.status_code == 404
    missing_put = await asgi_client.put(url, json={"name": "x"}, auth=auth(keys))
    assert missing_put.status_code == 400


async def test_wc_v2_has_the_same_resource(keys: Keys, asgi_client: httpx.AsyncClient) -> None:
    response = await asgi_client.post(
        "/wp-json/wc/v2/webhooks", json={"topic": "product.updated", "delivery_url": "https://x.test/"}, auth=auth(keys)
    )
    assert response.status_code == 201
    assert response.json()["_links"]["collection"][0]["href"] == "https://shop.test/wp-json/wc/v2/webhooks"
    assert response.json()["name"].startswith("Webhook created on ")


async def test_batch(keys: Keys, asgi_client: httpx.AsyncClient) -> None:
    existing = await create_hook(asgi_client, keys, topic="order.created", delivery_url="https://x.test/")
    response = await asgi_client.post(
        f"{WEBHOOKS}/batch",
        json={
            "create": [{"topic": "order.updated", "delivery_url": "https://x.test/"}, {"topic": "bad"}],
            "update": [{"id": existing["id"], "status": "paused"}, {"id": 999, "name": "x"}],
            "delete": [existing["id"]],
        },
        auth=auth(keys),
    )
    assert response.status_code == 200
    body = response.json()
    assert body["create"][0]["topic"] == "order.updated"
    assert body["create"][1] == {
        "id": 0,
        "error": {
            "code": "woocommerce_rest_shop_webhook_invalid_topic",
            "message": "Webhook topic is required and must be valid.",
            "data": {"status": 400},
        },
    }
    assert body["update"][0]["status"] == "paused"
    assert body["update"][1]["error"]["code"] == "woocommerce_rest_shop_webhook_invalid_id"
    assert body["delete"][0]["id"] == existing["id"]
    empty = await asgi_client.post(f"{WEBHOOKS}/batch", json={}, auth=auth(keys))
    assert empty.json() == []
    too_many = await asgi_client.post(f"{WEBHOOKS}/batch", json={"delete": list(range(1, 102))}, auth=auth(keys))
    assert too_many.status_code == 413


# -- deliveries --------------------------------------------------------------------------------------------------


async def test_ping_then_signed_delivery_with_woocommerce_headers(
    sandbox: Sandbox, keys: Keys, asgi_client: httpx.AsyncClient, receiver: Receiver, order_rest: None
) -> None:
    hook = await create_hook(asgi_client, keys, topic="order.created", delivery_url=receiver.url())
    await sandbox.deliverer.deliver_pending()
    (ping,) = receiver.requests
    assert ping.body == f"webhook_id={hook['id']}".encode()
    assert [name for name, _ in ping.headers] == [
        "Host",
        "User-Agent",
        "Accept",
        "Accept-Encoding",
        "Connection",
        "Content-Length",
        "Content-Type",
    ]
    assert dict(ping.headers)["Content-Type"] == "application/x-www-form-urlencoded"
    after_ping = await asgi_client.get(f"{WEBHOOKS}/{hook['id']}", auth=auth(keys))
    assert after_ping.json()["date_modified_gmt"] is not None  # the successful ping saves the webhook

    order = add_order(sandbox, note="Grüße / ✓")
    sandbox.store.emit("order", "created", order["id"])
    assert await sandbox.deliverer.deliver_pending() == 1
    (delivery,) = receiver.deliveries()
    headers = dict(delivery.headers)
    assert [name for name, _ in delivery.headers] == [
        "Host",
        "User-Agent",
        "Accept",
        "Accept-Encoding",
        "Content-Type",
        "X-WC-Webhook-Source",
        "X-WC-Webhook-Topic",
        "X-WC-Webhook-Resource",
        "X-WC-Webhook-Event",
        "X-WC-Webhook-Signature",
        "X-WC-Webhook-ID",
        "X-WC-Webhook-Delivery-ID",
        "Connection",
        "Content-Length",
    ]
    assert headers["User-Agent"] == "WooCommerce/11.0.1 Hookshot (WordPress/7.1)"
    assert headers["Content-Type"] == "application/json"
    assert headers["X-WC-Webhook-Source"] == "https://shop.test/"
    assert (headers["X-WC-Webhook-Topic"], headers["X-WC-Webhook-Resource"], headers["X-WC-Webhook-Event"]) == (
        "order.created",
        "order",
        "created",
    )
    assert headers["X-WC-Webhook-ID"] == str(hook["id"])
    assert len(headers["X-WC-Webhook-Delivery-ID"]) == 32
    assert headers["X-WC-Webhook-Signature"] == sign(delivery.body, "s3cret")
    stored = sandbox.store.get("order", order["id"])
    assert stored is not None
    assert delivery.body == php_json(fake_order_rest(sandbox.store, stored, "https://shop.test/wp-json/"))
    assert b"\\u00fc" in delivery.body and b"\\/" in delivery.body  # PHP's escaping
    (record,) = [r for r in sandbox.deliverer.log if r.kind == "delivery"]
    assert (record.response_code, record.status, record.topic) == (200, "success", "order.created")


async def test_changes_collapse_and_payload_is_built_at_delivery_time(
    sandbox: Sandbox, keys: Keys, asgi_client: httpx.AsyncClient, receiver: Receiver, order_rest: None
) -> None:
    await create_hook(asgi_client, keys, topic="order.updated", delivery_url=receiver.url())
    order = add_order(sandbox)
    sandbox.store.emit("order", "updated", order["id"])
    order["status"] = "on-hold"
    sandbox.store.emit("order", "updated", order["id"])
    other = add_order(sandbox)
    sandbox.store.emit("order", "updated", other["id"])
    await sandbox.deliverer.deliver_pending()
    bodies = [json.loads(r.body) for r in receiver.deliveries()]
    assert [(b["id"], b["status"]) for b in bodies] == [(order["id"], "on-hold"), (other["id"], "pending")]


async def test_deleted_gone_and_draft_resources(
    sandbox: Sandbox, keys: Keys, asgi_client: httpx.AsyncClient, receiver: Receiver, order_rest: None
) -> None:
    await create_hook(asgi_client, keys, topic="order.deleted", delivery_url=receiver.url())
    await create_hook(asgi_client, keys, topic="order.created", delivery_url=receiver.url())
    trashed = add_order(sandbox, status="trash")
    sandbox.store.emit("order", "deleted", trashed["id"])
    gone = add_order(sandbox)
    sandbox.store.emit("order", "created", gone["id"])
    sandbox.store.remove("order", gone["id"])  # force-deleted before the delivery ran
    draft = add_order(sandbox, status="auto-draft")
    sandbox.store.emit("order", "created", draft["id"])
    checkout_draft = add_order(sandbox, status="checkout-draft")
    sandbox.store.emit("order", "created", checkout_draft["id"])
    await sandbox.deliverer.deliver_pending()
    bodies = [r.body for r in receiver.deliveries()]
    assert bodies[0] == b'{"id":%d}' % trashed["id"]
    assert bodies[1] == (
        b'{"code":"woocommerce_rest_shop_order_invalid_id","message":"Invalid ID.","data":{"status":404}}'
    )
    assert json.loads(bodies[2])["id"] == checkout_draft["id"]  # only draft/auto-draft/new are skipped
    assert len(bodies) == 3


async def test_seventh_consecutive_failure_disables_and_reactivation_keeps_the_count(
    sandbox: Sandbox, keys: Keys, asgi_client: httpx.AsyncClient, receiver: Receiver, order_rest: None
) -> None:
    failing = await create_hook(asgi_client, keys, topic="order.updated", delivery_url=receiver.url("/status/500"))
    redirecting = await create_hook(asgi_client, keys, topic="order.updated", delivery_url=receiver.url("/status/302"))
    order = add_order(sandbox)
    store = sandbox.store
    for trigger in range(1, 8):
        store.emit("order", "updated", order["id"])
        await sandbox.deliverer.deliver_pending()
        webhook = store.get("webhook", failing["id"])
        assert webhook is not None
        if trigger < 7:
            assert (webhook["status"], webhook["_failure_count"]) == ("active", trigger)
    assert (webhook["status"], webhook["_failure_count"]) == ("disabled", 6)
    # The failed ping left the webhook "pending delivery": each failed delivery (while active) pings again.
    failing_pings = [r for r in receiver.pings() if r.path == "/status/500"]
    assert len(failing_pings) == 1 + 6
    # 302 is a success and is not followed by deliveries.
    redirected = store.get("webhook", redirecting["id"])
    assert redirected is not None and redirected["_failure_count"] == 0 and redirected["status"] == "active"
    assert not [r for r in receiver.deliveries() if r.path == "/elsewhere"]

    store.emit("order", "updated", order["id"])  # disabled: nothing is queued for it any more
    await sandbox.deliverer.deliver_pending()
    assert len([r for r in receiver.deliveries() if r.path == "/status/500"]) == 7

    reactivated = await asgi_client.put(f"{WEBHOOKS}/{failing['id']}", json={"status": "active"}, auth=auth(keys))
    assert reactivated.json()["status"] == "active"
    store.emit("order", "updated", order["id"])
    await sandbox.deliverer.deliver_pending()
    webhook = store.get("webhook", failing["id"])
    assert webhook is not None and (webhook["status"], webhook["_failure_count"]) == ("disabled", 6)

    fixed = await asgi_client.put(
        f"{WEBHOOKS}/{failing['id']}", json={"status": "active", "delivery_url": receiver.url()}, auth=auth(keys)
    )
    assert fixed.status_code == 200
    store.emit("order", "updated", order["id"])
    await sandbox.deliverer.deliver_pending()
    webhook = store.get("webhook", failing["id"])
    assert webhook is not None and (webhook["status"], webhook["_failure_count"]) == ("active", 0)
    assert webhook["_pending_delivery"] is False


async def test_unreachable_url_counts_as_failure(
    sandbox: Sandbox, keys: Keys, asgi_client: httpx.AsyncClient, order_rest: None
) -> None:
    hook = await create_hook(asgi_client, keys, topic="order.updated", delivery_url="http://127.0.0.1:9/hook")
    order = add_order(sandbox)
    sandbox.store.emit("order", "updated", order["id"])
    await sandbox.deliverer.deliver_pending()
    record = [r for r in sandbox.deliverer.log if r.kind == "delivery"][-1]
    assert record.response_code is None and record.error and record.status == "failed"
    webhook = sandbox.store.get("webhook", hook["id"])
    assert webhook is not None and webhook["_failure_count"] == 1


async def test_paused_webhook_queues_nothing(
    sandbox: Sandbox, keys: Keys, asgi_client: httpx.AsyncClient, receiver: Receiver, order_rest: None
) -> None:
    hook = await create_hook(asgi_client, keys, topic="order.updated", delivery_url=receiver.url())
    await asgi_client.put(f"{WEBHOOKS}/{hook['id']}", json={"status": "paused"}, auth=auth(keys))
    order = add_order(sandbox)
    sandbox.store.emit("order", "updated", order["id"])
    await sandbox.deliverer.deliver_pending()
    assert receiver.deliveries() == []


def test_payload_owner_without_rights_gets_the_rest_error(sandbox: Sandbox, keys: Keys) -> None:
    webhook = {"id": 1, "topic": "order.updated", "_user_id": 9999}
    assert build_payload(sandbox.store, webhook, 5)["data"] == {"status": 401}
    assert build_payload(sandbox.store, {**webhook, "topic": "order.deleted"}, 5) == {"id": 5}
