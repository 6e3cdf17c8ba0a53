"""WooCommerce webhooks: registering them in the store, keeping them healthy, and receiving their deliveries.

Registration (when ``serve`` has a public URL): one webhook per topic in ``WEBHOOK_TOPICS``, delivering to
``{public_url}/webhooks/{connection}``, with a secret woobridge generates (URL-safe characters: WooCommerce
entity-decodes the secret before signing, so ``&`` or ``<`` would break signatures) and keeps sealed with the vault.

Health: WooCommerce disables a webhook after repeated failed deliveries (the 7th failure in a row) and
re-activating it does not reset its failure count — so a disabled or vanished webhook is recreated (fresh count,
fresh secret); a paused one was paused by a person and is only reported.

Receiving: the signature (``X-WC-Webhook-Signature``: base64 HMAC-SHA256 of the raw body) is checked in constant
time against the secret of the webhook that claims to send it — before anything is parsed. A valid delivery is
answered 200 at once and only *nudges* the flows that care (their next run becomes due now); the flow reads the
record from the store itself, so polling stays the safety net and a lost delivery loses nothing. A repeat of the
same body from the same webhook is ignored. The creation ping (form ``webhook_id=N``, unsigned) is answered 200.
Anything else unsigned or wrongly signed is refused (401) and counted, never acted on.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from woobridge.flows.registry import WEBHOOK_TOPICS, flows_nudged_by
from woobridge.secrets import Vault
from woobridge.service.scheduler import request_run
from woobridge.state import Connection, StateDB
from woobridge.state.connections import find_connection, get_connection
from woobridge.state.service import WebhookCounter, WebhookDelivery, WebhookRegistration
from woobridge.woo import Credentials, Secret, WooClient, WooError
from woobridge.woo.auth import AuthMode
from woobridge.woo.errors import HTTPError

log = logging.getLogger(__name__)

MAX_BODY = 8 * 1024 * 1024  # a 200-line order is ~100 KB; nothing legitimate comes near this
KEEP_DELIVERIES = timedelta(days=14)
PING = re.compile(rb"webhook_id=\d{1,20}")
UNKNOWN_CONNECTION = "(unknown)"

OUTCOMES = ("accepted", "duplicate", "ping", "refused")


def utcnow() -> datetime:
    return datetime.now(UTC)


def sign(body: bytes, secret: str) -> str:
    """What WooCommerce sends in X-WC-Webhook-Signature for ``body``."""
    return base64.b64encode(hmac.new(secret.encode("utf-8"), body, hashlib.sha256).digest()).decode("ascii")


def signature_valid(body: bytes, signature: str, secret: str) -> bool:
    """Constant-time check of a delivery's signature against one secret."""
    return hmac.compare_digest(sign(body, secret).encode("ascii"), signature.strip().encode("ascii", "replace"))


def delivery_url(public_url: str, connection: str) -> str:
    return f"{public_url.rstrip('/')}/webhooks/{connection}"


def new_secret() -> str:
    return secrets.token_urlsafe(32)


# -- receiving -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Received:
    """What the receiver decided: the HTTP status to answer and why (never echoing the body)."""

    status: int
    outcome: str
    reason: str
    nudged: tuple[str, ...] = ()


def count(db: StateDB, connection: str, outcome: str) -> None:
    """Add one to a delivery counter (monotonic, for /metrics)."""
    for _ in range(3):
        try:
            with db.session() as session:
                changed = session.execute(
                    update(WebhookCounter)
                    .where(WebhookCounter.connection == connection, WebhookCounter.outcome == outcome)
                    .values(count=WebhookCounter.count + 1)
                )
                if getattr(changed, "rowcount", 0) == 0:
                    session.add(WebhookCounter(connection=connection, outcome=outcome, count=1))
            return
        except IntegrityError:  # two first deliveries at once: the other inserted; update it
            continue


def receive(
    db: StateDB,
    vault: Vault,
    connection_name: str,
    body: bytes,
    headers: dict[str, str],
    now: datetime | None = None,
) -> Received:
    """Decide what to do with one request to ``/webhooks/{connection}`` (headers with lower-case names)."""
    now = now or utcnow()
    signature = headers.get("x-wc-webhook-signature")
    with db.session() as session:
        connection = find_connection(session, connection_name)
        known = connection is not None
        registrations = (
            list(session.scalars(select(WebhookRegistration).where(WebhookRegistration.connection_id == connection.id)))
            if connection is not None
            else []
        )
        sealed = [(r.id, r.topic, r.store_webhook_id, r.secret_sealed) for r in registrations]
    counted_as = connection_name if known else UNKNOWN_CONNECTION
    if signature is None:
        if known and PING.fullmatch(body.strip()) and not headers.get("x-wc-webhook-topic"):
            count(db, counted_as, "ping")
            return Received(200, "ping", "creation ping accepted")
        count(db, counted_as, "refused")
        return Received(401, "refused", "unsigned delivery")
    if not known:
        count(db, counted_as, "refused")
        return Received(401, "refused", "no such connection")
    claimed = headers.get("x-wc-webhook-id", "")
    # The webhook that claims to send it first; the header is not signed, so fall back to the others.
    sealed.sort(key=lambda r: str(r[2]) != claimed)
    matched: tuple[int, str] | None = None
    for registration_id, topic, _store_id, secret_sealed in sealed:
        if signature_valid(body, signature, vault.unseal(secret_sealed, "a webhook secret")):
            matched = (registration_id, topic)  # the topic we registered, not the (unsigned) topic header
            break
    if matched is None:
        count(db, counted_as, "refused")
        log.warning("refused a webhook delivery for %s: the signature does not match", connection_name)
        return Received(401, "refused", "signature does not match")
    registration_id, topic = matched
    resource_id = _resource_id(body)
    key = f"{registration_id}:{hashlib.sha256(body).hexdigest()}"
    try:
        with db.session() as session:
            if session.scalar(select(WebhookDelivery.id).where(WebhookDelivery.dedupe_key == key)) is not None:
                raise _Duplicate
            connection = get_connection(session, connection_name)
            session.add(
                WebhookDelivery(
                    connection_id=connection.id, dedupe_key=key, topic=topic, resource_id=resource_id, received_at=now
                )
            )
            session.execute(
                update(WebhookRegistration)
                .where(WebhookRegistration.id == registration_id)
                .values(last_delivery_at=now)
            )
            reason = f"webhook {topic} #{resource_id or '?'}"
            nudged = tuple(
                flow for flow in flows_nudged_by(topic) if request_run(session, connection, flow, reason, now)
            )
    except (_Duplicate, IntegrityError):
        count(db, counted_as, "duplicate")
        return Received(200, "duplicate", "already received")
    count(db, counted_as, "accepted")
    return Received(200, "accepted", f"{topic} accepted", nudged)


class _Duplicate(Exception):
    pass


def _resource_id(body: bytes) -> str | None:
    try:
        data = json.loads(body)
    except ValueError:
        return None
    value = data.get("id") if isinstance(data, dict) else None
    return str(value)[:64] if isinstance(value, int | str) else None


def prune_deliveries(db: StateDB, now: datetime | None = None) -> None:
    """Forget accepted deliveries older than ``KEEP_DELIVERIES`` (WooCommerce does not resend that late)."""
    cutoff = (now or utcnow()) - KEEP_DELIVERIES
    with db.session() as session:
        session.execute(delete(WebhookDelivery).where(WebhookDelivery.received_at < cutoff))


# -- registering and keeping them healthy --------------------------------------------------------------------------

ClientFactory = Callable[[Credentials, str], WooClient]


def default_client(credentials: Credentials, namespace: str) -> WooClient:
    return WooClient(credentials, namespace=namespace)


@dataclass
class WebhookState:
    """One topic's webhook as the connector page shows it."""

    topic: str
    store_webhook_id: int | None
    status: str
    delivery_url: str
    last_checked_at: datetime | None
    last_delivery_at: datetime | None
    problem: str | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "topic": self.topic,
            "store_webhook_id": self.store_webhook_id,
            "status": self.status,
            "delivery_url": self.delivery_url,
            "last_checked_at": self.last_checked_at.isoformat() if self.last_checked_at else None,
            "last_delivery_at": self.last_delivery_at.isoformat() if self.last_delivery_at else None,
            "problem": self.problem,
        }


def webhook_states(db: StateDB, connection: Connection) -> list[WebhookState]:
    with db.session() as session:
        rows = session.scalars(
            select(WebhookRegistration)
            .where(WebhookRegistration.connection_id == connection.id)
            .order_by(WebhookRegistration.topic)
        )
        return [
            WebhookState(
                r.topic,
                r.store_webhook_id,
                r.status,
                r.delivery_url,
                r.last_checked_at,
                r.last_delivery_at,
                r.last_problem,
            )
            for r in rows
        ]


def _credentials(connection: Connection, vault: Vault) -> Credentials:
    secret = Secret(connection.unseal_secret(vault))
    auth: AuthMode = "query" if connection.auth == "query" else "basic"
    return Credentials(connection.store_url, connection.unseal_key(vault), secret, auth, connection.ca_file)


async def sync_webhooks(
    db: StateDB,
    vault: Vault,
    connection_name: str,
    public_url: str,
    *,
    client_factory: ClientFactory = default_client,
    now: datetime | None = None,
) -> list[WebhookState]:
    """Make the store's webhooks for this connection what they should be: create missing ones, recreate disabled or
    vanished ones, point moved ones at the current URL. Problems are recorded per topic, never raised."""
    import asyncio

    with db.session() as session:
        connection = get_connection(session, connection_name)
        session.expunge(connection)
        registered = {
            r.topic: (r.id, r.store_webhook_id, r.delivery_url, r.status)
            for r in session.scalars(
                select(WebhookRegistration).where(WebhookRegistration.connection_id == connection.id)
            )
        }
    url = delivery_url(public_url, connection_name)
    credentials = await asyncio.to_thread(_credentials, connection, vault)
    async with client_factory(credentials, connection.namespace) as woo:
        for topic in WEBHOOK_TOPICS:
            found = registered.get(topic)
            problem: str | None = None
            status = "missing"
            store_id = found[1] if found else None
            secret: str | None = None
            try:
                current = await _read(woo, store_id) if store_id else None
                if current is not None and current.get("status") == "disabled":
                    await _delete(woo, store_id)
                    problem = "WooCommerce had disabled it after failed deliveries; woobridge recreated it"
                    current = None
                if current is None:
                    secret = new_secret()
                    created = await woo.post(
                        "webhooks",
                        json={
                            "name": f"woobridge {connection_name} {topic}",
                            "topic": topic,
                            "delivery_url": url,
                            "secret": secret,
                        },
                    )
                    store_id, status = int(created["id"]), str(created.get("status", "active"))
                else:
                    status = str(current.get("status", "unknown"))
                    if current.get("delivery_url") != url:
                        await woo.put(f"webhooks/{store_id}", json={"delivery_url": url})
                    if status == "paused":
                        problem = "paused in WooCommerce (Settings → Advanced → Webhooks): deliveries are not sent"
            except WooError as error:
                problem = _webhook_problem(error)
                status = "error" if not found else found[3]
            _save_registration(db, vault, connection.id, topic, store_id, url, status, secret, problem, now)
    return webhook_states(db, connection)


async def _read(woo: WooClient, store_id: int | None) -> dict[str, Any] | None:
    try:
        data = await woo.get(f"webhooks/{store_id}")
    except HTTPError as error:
        # WooCommerce answers an unknown webhook id with 400 woocommerce_rest_shop_webhook_invalid_id (or 404).
        if error.status in (400, 404):
            return None
        raise
    return data if isinstance(data, dict) else None


async def _delete(woo: WooClient, store_id: int | None) -> None:
    try:
        await woo.delete(f"webhooks/{store_id}", params={"force": "true"})
    except HTTPError as error:
        if error.status not in (400, 404):
            raise


def _webhook_problem(error: WooError) -> str:
    if isinstance(error, HTTPError) and error.status in (401, 403):
        return (
            f"the store refused to manage webhooks ({error.status} {error.code or ''}): webhooks need a Read/Write "
            "key of a Shop Manager or Administrator. Polling keeps the flows going meanwhile."
        )
    return f"{type(error).__name__}: {error.message}. Polling keeps the flows going meanwhile."


def _save_registration(
    db: StateDB,
    vault: Vault,
    connection_id: int,
    topic: str,
    store_id: int | None,
    url: str,
    status: str,
    secret: str | None,
    problem: str | None,
    now: datetime | None,
) -> None:
    with db.session() as session:
        row = session.scalar(
            select(WebhookRegistration).where(
                WebhookRegistration.connection_id == connection_id, WebhookRegistration.topic == topic
            )
        )
        if row is None:
            row = WebhookRegistration(connection_id=connection_id, topic=topic, secret_sealed=vault.seal(secret or ""))
            session.add(row)
        if secret is not None:
            row.secret_sealed = vault.seal(secret)
        row.store_webhook_id = store_id
        row.delivery_url = url
        row.status = status
        row.last_problem = problem
        row.last_checked_at = now or utcnow()


async def remove_webhooks(
    db: StateDB, vault: Vault, connection_name: str, *, client_factory: ClientFactory = default_client
) -> list[str]:
    """Delete this connection's webhooks from the store and forget them; returns problems (empty when all went)."""
    import asyncio

    with db.session() as session:
        connection = get_connection(session, connection_name)
        session.expunge(connection)
        ids = [
            r.store_webhook_id
            for r in session.scalars(
                select(WebhookRegistration).where(WebhookRegistration.connection_id == connection.id)
            )
            if r.store_webhook_id
        ]
    problems: list[str] = []
    if ids:
        credentials = await asyncio.to_thread(_credentials, connection, vault)
        async with client_factory(credentials, connection.namespace) as woo:
            for store_id in ids:
                try:
                    await _delete(woo, store_id)
                except WooError as error:
                    problems.append(f"webhook #{store_id}: {type(error).__name__}: {error.message}")
    with db.session() as session:
        session.execute(delete(WebhookRegistration).where(WebhookRegistration.connection_id == connection.id))
    return problems


def transport_client(transport: httpx.AsyncBaseTransport) -> ClientFactory:
    """A client factory that talks through ``transport`` (tests: an in-process sandbox)."""

    def factory(credentials: Credentials, namespace: str) -> WooClient:
        return WooClient(credentials, namespace=namespace, transport=transport)

    return factory
