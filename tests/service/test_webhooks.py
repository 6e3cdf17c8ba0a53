"""Webhooks end to end: ``woobridge serve`` on a loopback port registers webhooks in the live sandbox (over HTTPS),
the sandbox's deliverer sends real signed deliveries to the receiver, and a delivery nudges the orders flow, which
fetches the order into the staging ERP. Forged, unsigned and repeated deliveries are refused or ignored, disabled
webhooks are recreated, and removing the connection removes its webhooks."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from woobridge.commands.connections import Report, assess, save_connection
from woobridge.commands.services import Services
from woobridge.flows.engine import list_runs
from woobridge.flows.registry import WEBHOOK_TOPICS
from woobridge.sandbox.testing import LiveSandbox
from woobridge.service import webhooks as hooks
from woobridge.service.app import ServeConfig, create_app
from woobridge.service.scheduler import ensure_schedules
from woobridge.state.connections import get_connection
from woobridge.state.models import Binding
from woobridge.state.service import FlowSchedule, WebhookCounter, WebhookRegistration
from woobridge.woo import Credentials

from .conftest import ServedApp, free_port, give_password, live_services, wait_for


@dataclass
class Bridge:
    live: LiveSandbox
    services: Services
    served: ServedApp

    @property
    def receiver(self) -> str:
        return f"{self.served.base_url}/webhooks/shop"

    def counters(self) -> dict[str, int]:
        with self.services.state().session() as session:
            return {c.outcome: c.count for c in session.scalars(select(WebhookCounter)) if c.connection == "shop"}

    def registrations(self) -> list[WebhookRegistration]:
        with self.services.state().session() as session:
            return list(session.scalars(select(WebhookRegistration).order_by(WebhookRegistration.topic)))

    def orders_schedule(self) -> FlowSchedule:
        with self.services.state().session() as session:
            schedule = session.get(FlowSchedule, (get_connection(session, "shop").id, "orders"))
            assert schedule is not None
            return schedule

    def bound(self, order_id: int) -> bool:
        with self.services.state().session() as session:
            return (
                session.scalar(select(Binding).where(Binding.resource == "order", Binding.store_id == str(order_id)))
                is not None
            )


def connect_live(services: Services, live: LiveSandbox) -> None:
    key = live.keys.manager
    credentials = Credentials(live.base_url, key.consumer_key, key.consumer_secret, "basic", live.ca_file)
    report = Report("shop", live.base_url, credentials.fingerprint, "basic", ["orders"], datetime.now(UTC))
    assess(services, report, credentials)
    assert report.ok, report.to_dict()
    save_connection(services, report, credentials)
    # The first scheduled run is an hour away: only a webhook nudge (or Run now) runs the flow in these tests.
    with services.state().session() as session:
        connection = get_connection(session, "shop")
        for schedule in ensure_schedules(session, connection, datetime.now(UTC)).values():
            schedule.next_run_at = datetime.now(UTC) + timedelta(hours=1)


@pytest.fixture
def bridge(live: LiveSandbox, tmp_path: Path) -> Iterator[Bridge]:
    services = live_services(tmp_path / "home")
    give_password(services)
    connect_live(services, live)
    port = free_port()
    config = ServeConfig(public_url=f"http://127.0.0.1:{port}", tick_seconds=0.2)
    with ServedApp(create_app(services, config), port) as served:
        bridge = Bridge(live, services, served)
        wait_for(
            lambda: len([r for r in bridge.registrations() if r.status == "active"]) == len(WEBHOOK_TOPICS),
            what="webhooks registered",
        )
        yield bridge
        # Leave the module's sandbox without webhooks pointing at a server that is gone.
        with live.store.lock:
            for webhook in list(live.store.all("webhook")):
                live.store.remove("webhook", webhook["id"])
    services.close()


def store_webhooks(live: LiveSandbox) -> list[dict[str, object]]:
    with live.client(live.keys.admin) as client:
        data: list[dict[str, object]] = client.get("/wp-json/wc/v3/webhooks", params={"per_page": 100}).json()
        return data


def new_order(live: LiveSandbox) -> int:
    with live.client(live.keys.admin) as client:
        product = client.get("/wp-json/wc/v3/products", params={"per_page": 1, "type": "simple"}).json()[0]
        order = client.post(
            "/wp-json/wc/v3/orders",
            json={
                "status": "processing",
                "billing": {"email": "webhook.buyer@example.com", "first_name": "Web", "last_name": "Hook"},
                "line_items": [{"product_id": product["id"], "quantity": 1}],
            },
        )
        assert order.status_code == 201, order.text
        order_id: int = order.json()["id"]
        return order_id


def test_registration_makes_one_webhook_per_topic_with_a_secret_and_answers_the_ping(bridge: Bridge) -> None:
    webhooks = store_webhooks(bridge.live)
    ours = [w for w in webhooks if w["delivery_url"] == bridge.receiver]
    assert sorted(str(w["topic"]) for w in ours) == sorted(WEBHOOK_TOPICS)
    assert all(w["status"] == "active" for w in ours)
    # The creation pings were answered 200 (unsigned, form body webhook_id=N).
    wait_for(lambda: bridge.counters().get("ping", 0) >= len(WEBHOOK_TOPICS), what="pings")
    pings = [r for r in bridge.live.sandbox.deliverer.log if r.kind == "ping" and r.url == bridge.receiver]
    assert pings and all(r.response_code == 200 for r in pings)
    # The secret is sealed in the database, never stored in clear.
    for registration in bridge.registrations():
        secret = bridge.services.vault().unseal(registration.secret_sealed)
        assert secret not in registration.secret_sealed and len(secret) >= 32


def test_a_real_signed_delivery_nudges_the_orders_flow_which_fetches_the_order(bridge: Bridge) -> None:
    order_id = new_order(bridge.live)
    wait_for(lambda: bridge.counters().get("accepted", 0) >= 1, what="a delivery accepted")
    # The store logs a delivery once it has read the receiver's answer, which can be a moment after the receiver
    # counted it: wait for the log entry rather than read the log at once.
    wait_for(
        lambda: any(
            r.kind == "delivery" and r.url == bridge.receiver and r.resource_id == order_id and r.response_code == 200
            for r in bridge.live.sandbox.deliverer.log
        ),
        what=f"the store's log of its delivery of order {order_id}",
    )
    # The nudge made the flow due; the scheduler ran it; the flow read the order from the store into the ERP.
    wait_for(lambda: bridge.bound(order_id), timeout=30, what=f"order {order_id} in the ERP")
    runs = list_runs(bridge.services.state(), "shop", "orders")
    assert runs and runs[-1].outcome == "success" and runs[-1].read >= 1


def test_forged_and_unsigned_deliveries_are_refused_counted_and_never_acted_on(bridge: Bridge) -> None:
    before = bridge.orders_schedule().next_run_at
    body = json.dumps({"id": 999999, "status": "processing"}).encode()
    forged = base64.b64encode(hmac.new(b"not the secret", body, hashlib.sha256).digest()).decode()
    store_id = str(bridge.registrations()[0].store_webhook_id)
    headers = {
        "Content-Type": "application/json",
        "X-WC-Webhook-Topic": "order.updated",
        "X-WC-Webhook-ID": store_id,
        "X-WC-Webhook-Signature": forged,
    }
    refused_before = bridge.counters().get("refused", 0)
    with httpx.Client(timeout=10) as client:
        assert client.post(bridge.receiver, content=body, headers=headers).status_code == 401
        unsigned = {k: v for k, v in headers.items() if k != "X-WC-Webhook-Signature"}
        assert client.post(bridge.receiver, content=body, headers=unsigned).status_code == 401
        # A "ping" that claims a topic is not a ping.
        ping_like = {"Content-Type": "application/x-www-form-urlencoded", "X-WC-Webhook-Topic": "order.updated"}
        assert client.post(bridge.receiver, content=b"webhook_id=1", headers=ping_like).status_code == 401
        # A real ping is fine; an unknown connection is refused.
        ping = {"Content-Type": "application/x-www-form-urlencoded"}
        assert client.post(bridge.receiver, content=b"webhook_id=1", headers=ping).status_code == 200
        other = client.post(f"{bridge.served.base_url}/webhooks/nobody", content=body, headers=headers)
        assert other.status_code == 401
    assert bridge.counters()["refused"] == refused_before + 3
    assert bridge.orders_schedule().next_run_at == before
    assert not bridge.bound(999999)
    metrics = httpx.get(f"{bridge.served.base_url}/metrics").text
    assert (
        f'woobridge_webhook_deliveries_total{{connection="shop",outcome="refused"}} {refused_before + 3}.0' in metrics
    )


def test_a_repeated_delivery_is_answered_but_ignored(bridge: Bridge) -> None:
    new_order(bridge.live)
    record = wait_for(
        lambda: next(
            (
                r
                for r in bridge.live.sandbox.deliverer.log
                if r.kind == "delivery" and r.url == bridge.receiver and r.response_code == 200
            ),
            None,
        ),
        what="a delivery",
    )
    duplicates = bridge.counters().get("duplicate", 0)
    headers = {k: v for k, v in record.request_headers if k.lower() not in ("content-length", "connection")}
    with httpx.Client(timeout=10) as client:
        again = client.post(bridge.receiver, content=record.request_body.encode(), headers=headers)
    assert again.status_code == 200 and "already received" in again.text
    assert bridge.counters()["duplicate"] == duplicates + 1


async def test_disabled_webhooks_are_recreated_and_removal_deletes_them(bridge: Bridge) -> None:
    live = bridge.live
    target = next(r for r in bridge.registrations() if r.topic == "order.updated")
    with live.store.lock:
        webhook = live.store.get("webhook", target.store_webhook_id)
        assert webhook is not None
        webhook["status"] = "disabled"  # what WooCommerce does after the 7th failed delivery in a row
        live.store.put("webhook", webhook)
    states = await hooks.sync_webhooks(
        bridge.services.state(), bridge.services.vault(), "shop", f"{bridge.served.base_url}"
    )
    healed = next(s for s in states if s.topic == "order.updated")
    assert healed.status == "active" and healed.store_webhook_id != target.store_webhook_id
    assert "disabled" in (healed.problem or "")
    assert live.store.get("webhook", target.store_webhook_id) is None
    problems = await hooks.remove_webhooks(bridge.services.state(), bridge.services.vault(), "shop")
    assert problems == []
    assert [w for w in store_webhooks(live) if w["delivery_url"] == bridge.receiver] == []
    assert bridge.registrations() == []
