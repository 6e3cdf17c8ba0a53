"""Webhooks: the REST resource (``/webhooks``) and the signed deliveries WooCommerce sends.

What WooCommerce 11.0.1 does, and this module copies (REFERENCE §10, real-data findings 14–27):

- A store event (``order.created`` …) queues one delivery per matching active webhook. Delivery is
  asynchronous (Action Scheduler): a delivery already pending for the same webhook and resource is not queued
  again, so quick successive changes collapse into one delivery.
- The payload is built when the delivery runs, as an internal ``GET /wc/v3/{resource}s/{id}`` made as the
  webhook's owner: the current state, byte-identical to the REST answer. A deleted event sends ``{"id": N}``; a
  resource that vanished before delivery sends the REST 404 error body (finding 20).
- The body is PHP's ``json_encode`` output and is signed with base64(HMAC-SHA256(body, secret)).
- 200–302 is success (redirects are not followed) and resets the failure count; anything else counts a
  failure, and a failure while the count is already above ``webhook_max_failures`` (5) disables the webhook —
  the 7th consecutive failure. Re-activating does not reset the count.
- Creating a webhook sends a ping (form body ``webhook_id=N``, no X-WC headers) that must answer exactly 200;
  until one does, the webhook stays "pending delivery" and every later save of it while active pings again.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import importlib
import re
import secrets
import string
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx

from woobridge.sandbox.state import Obj, Store, parse_iso
from woobridge.sandbox.wp import (
    CREATABLE,
    DELETABLE,
    EDITABLE,
    READABLE,
    Arg,
    Call,
    Endpoint,
    Reply,
    RestError,
    Router,
    collection_args,
    needs,
    paginate,
    php_json,
)

if TYPE_CHECKING:
    from woobridge.sandbox.app import Sandbox

STATUSES = ("active", "paused", "disabled")

# WC_Webhook::get_default_topic_hooks() as WooCommerce 11.0.1 reports it (HPOS adds the *_order trash hooks;
# the REST objects in real-data/webhooks/rest show these lists).
TOPIC_HOOKS: dict[str, list[str]] = {
    "coupon.created": ["woocommerce_process_shop_coupon_meta", "woocommerce_new_coupon"],
    "coupon.updated": ["woocommerce_process_shop_coupon_meta", "woocommerce_update_coupon"],
    "coupon.deleted": ["wp_trash_post"],
    "coupon.restored": ["untrashed_post"],
    "customer.created": ["user_register", "woocommerce_created_customer", "woocommerce_new_customer"],
    "customer.updated": ["profile_update", "woocommerce_update_customer"],
    "customer.deleted": ["delete_user"],
    "order.created": ["woocommerce_new_order"],
    "order.updated": ["woocommerce_update_order", "woocommerce_order_refunded"],
    "order.deleted": ["wp_trash_post", "woocommerce_trash_order"],
    "order.restored": ["untrashed_post", "woocommerce_untrash_order"],
    "product.created": [
        "woocommerce_process_product_meta",
        "woocommerce_new_product",
        "woocommerce_new_product_variation",
    ],
    "product.updated": [
        "woocommerce_process_product_meta",
        "woocommerce_update_product",
        "woocommerce_update_product_variation",
    ],
    "product.deleted": ["wp_trash_post"],
    "product.restored": ["untrashed_post"],
    "product.published": ["woocommerce_product_published"],
}

# Custom action topics WooCommerce refuses outright (they would leak credentials or file paths).
_INVALID_TOPICS = (
    "action.woocommerce_login_credentials",
    "action.woocommerce_product_csv_importer_check_import_file_path",
    "action.woocommerce_webhook_should_deliver",
)

_SUCCESS = range(200, 303)  # 2xx, 301 and 302: log_delivery's "success"
_PASSWORD_CHARS = string.ascii_letters + string.digits + "!@#$%^&*()" + "-_ []{}<>~`+=,.;:/?|"


def is_valid_topic(topic: str) -> bool:
    """wc_is_webhook_valid_topic(): a default topic that has hooks, or a custom ``action.woocommerce_*|wc_*``."""
    if topic in _INVALID_TOPICS:
        return False
    if topic.startswith(("action.woocommerce_", "action.wc_")):
        return True
    return topic in TOPIC_HOOKS


def is_valid_url(url: str) -> bool:
    """wc_is_valid_url(): starts with http:// or https:// and is a well-formed URL with a host."""
    if not url.startswith(("http://", "https://")):
        return False
    try:
        parts = urlsplit(url)
        return bool(parts.hostname) and not re.search(r"\s", url)
    except ValueError:
        return False


def topic_parts(topic: str) -> tuple[str, str]:
    resource, _, event = topic.partition(".")
    return resource, event


def topic_hooks(topic: str) -> list[str]:
    resource, event = topic_parts(topic)
    if resource == "action":
        return [event]
    return list(TOPIC_HOOKS.get(topic, []))


def generate_secret() -> str:
    """wp_generate_password(50, true, true): the secret a webhook gets when none is given."""
    return "".join(secrets.choice(_PASSWORD_CHARS) for _ in range(50))


def _specialchars_decode(text: str) -> str:
    """wp_specialchars_decode(…, ENT_QUOTES): WooCommerce signs with the entity-decoded secret."""
    for entity, char in (
        ("&lt;", "<"),
        ("&gt;", ">"),
        ("&quot;", '"'),
        ("&#039;", "'"),
        ("&#39;", "'"),
        ("&#x27;", "'"),
        ("&amp;", "&"),
    ):
        text = text.replace(entity, char)
    return text


def sign(body: bytes, secret: str) -> str:
    """X-WC-Webhook-Signature: base64 of the raw HMAC-SHA256 of the exact body bytes, keyed by the secret."""
    digest = hmac.new(_specialchars_decode(secret).encode(), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def delivery_id(webhook_id: int, unix_time: int, salt: str) -> str:
    """wp_hash(webhook_id . time()): 32 hex chars, the same for every delivery of a webhook in one second."""
    return hmac.new(salt.encode(), f"{webhook_id}{unix_time}".encode(), hashlib.md5).hexdigest()


def user_agent(store: Store) -> str:
    settings = store.settings
    return f"WooCommerce/{settings.wc_version} Hookshot (WordPress/{settings.wp_version})"


# -- the stored webhook and its REST shape -----------------------------------------------------------------------


def to_rest(store: Store, obj: Obj, rest_root: str, namespace: str = "wc/v3") -> dict[str, Any]:
    """The webhook as ``GET /{namespace}/webhooks/{id}`` shows it. The secret is never part of it."""
    settings = store.settings
    resource, event = topic_parts(obj["topic"])
    created, modified = obj.get("date_created_gmt"), obj.get("date_modified_gmt")
    data: dict[str, Any] = {
        "id": obj["id"],
        "name": obj["name"],
        "status": obj["status"],
        "topic": obj["topic"],
        "resource": resource,
        "event": event,
        "hooks": topic_hooks(obj["topic"]),
        "delivery_url": obj["delivery_url"],
    }
    if namespace == "wc/v1":  # v1 has no *_gmt fields, and its dates are in UTC
        data |= {"date_created": created, "date_modified": modified}
    else:
        data |= {
            "date_created": settings.local(created),
            "date_created_gmt": created,
            "date_modified": settings.local(modified),
            "date_modified_gmt": modified,
        }
    base = f"{rest_root}{namespace}/webhooks"
    data["_links"] = {
        "self": [
            {
                "href": f"{base}/{obj['id']}",
                "targetHints": {"allow": ["GET", "POST", "PUT", "PATCH", "DELETE"]},
            }
        ],
        "collection": [{"href": base}],
    }
    return data


def save_webhook(store: Store, obj: Obj, *, url_changed: bool = False) -> Obj:
    """WC_Webhook_Data_Store::update(): every save stamps date_modified, and an active webhook whose URL changed
    or whose ping never succeeded gets pinged (the deliverer sends it)."""
    obj["date_modified_gmt"] = store.now_iso()
    if obj["status"] == "active" and (url_changed or obj.get("_pending_delivery")):
        obj["_ping_due"] = True
    return store.put("webhook", obj)


def create_webhook(store: Store, payload: dict[str, Any], user_id: int, api_version: int = 3) -> Obj:
    """Create a webhook as ``POST /webhooks`` does (validated; always active; ping queued). Raises RestError."""
    if payload.get("id"):
        raise RestError("woocommerce_rest_shop_webhook_exists", "Cannot create existing shop_webhook.", {"status": 400})
    topic = str(payload.get("topic") or "")
    if not topic or not is_valid_topic(topic.lower()):
        raise RestError(
            "woocommerce_rest_shop_webhook_invalid_topic",
            "Webhook topic is required and must be valid.",
            {"status": 400},
        )
    url = str(payload.get("delivery_url") or "").strip()
    if not url or not is_valid_url(url):
        raise RestError(
            "woocommerce_rest_shop_webhook_invalid_delivery_url",
            "Webhook delivery URL must be a valid URL starting with http:// or https://.",
            {"status": 400},
        )
    name = payload.get("name") or _default_name(store)
    now = store.now_iso()
    obj: Obj = {
        "id": store.next_id("webhook"),
        "name": str(name),
        # New webhooks are always active: the requested status is ignored on create.
        "status": "active",
        # set_topic() re-validates without lower-casing: "ORDER.CREATED" passes the check but is stored as "".
        "topic": topic if is_valid_topic(topic) else "",
        "delivery_url": url,
        "secret": str(payload.get("secret") or "") or generate_secret(),
        "date_created_gmt": now,
        "date_modified_gmt": None,
        "_user_id": user_id,
        "_api_version": api_version,
        "_failure_count": 0,
        "_pending_delivery": True,
        "_ping_due": True,
    }
    return store.put("webhook", obj)


def _default_name(store: Store) -> str:
    local = parse_iso(store.settings.local(store.now_iso()) or store.now_iso())
    return f"Webhook created on {local:%b %d, %Y @ %I:%M %p}"


def update_webhook(store: Store, obj: Obj | None, payload: dict[str, Any]) -> Obj:
    """Apply ``PUT /webhooks/{id}`` (topic, delivery_url, secret, status, name). Raises RestError."""
    if obj is None:
        raise RestError("woocommerce_rest_shop_webhook_invalid_id", "ID is invalid.", {"status": 400})
    changed = dict(obj)
    previous_url = obj["delivery_url"]
    topic = payload.get("topic")
    if topic:
        if not is_valid_topic(str(topic).lower()):
            raise RestError(
                "woocommerce_rest_shop_webhook_invalid_topic", "Webhook topic must be valid.", {"status": 400}
            )
        changed["topic"] = str(topic) if is_valid_topic(str(topic)) else ""
    url = payload.get("delivery_url")
    if url:
        if not is_valid_url(str(url).strip()):
            raise RestError(
                "woocommerce_rest_shop_webhook_invalid_delivery_url",
                "Webhook delivery URL must be a valid URL starting with http:// or https://.",
                {"status": 400},
            )
        changed["delivery_url"] = str(url).strip()
    if payload.get("secret"):
        changed["secret"] = str(payload["secret"])
    status = payload.get("status")
    if status:
        if str(status).lower() not in STATUSES:
            raise RestError(
                "woocommerce_rest_shop_webhook_invalid_status", "Webhook status must be valid.", {"status": 400}
            )
        changed["status"] = str(status) if status in STATUSES else "disabled"
    if payload.get("name"):
        changed["name"] = str(payload["name"])
    obj.clear()
    obj.update(changed)
    return save_webhook(store, obj, url_changed=obj["delivery_url"] != previous_url)


def delete_webhook(store: Store, webhook_id: int, force: bool) -> Obj:
    if not force:
        raise RestError("woocommerce_rest_trash_not_supported", "Webhooks do not support trashing.", {"status": 501})
    obj = store.get("webhook", webhook_id)
    if obj is None:
        raise RestError("woocommerce_rest_shop_webhook_invalid_id", "Invalid ID.", {"status": 404})
    store.remove("webhook", webhook_id)
    return obj


# -- REST controllers --------------------------------------------------------------------------------------------

_STATUS_ARG = Arg("string", enum=STATUSES)
_ITEM_ARGS = {"name": Arg("string"), "status": _STATUS_ARG, "topic": Arg("string"), "secret": Arg("string")}


def _rest(call: Call, obj: Obj) -> dict[str, Any]:
    return to_rest(call.store, obj, call.rest_root, call.namespace)


def _list(call: Call) -> Reply:
    params = call.params
    items = list(call.store.all("webhook"))
    if params.get("status", "all") != "all":
        items = [w for w in items if w["status"] == params["status"]]
    if params.get("search"):
        needle = str(params["search"]).lower()
        items = [w for w in items if needle in w["name"].lower()]
    include = {int(i) for i in params.get("include") or [] if str(i).strip().isdigit()}
    exclude = {int(i) for i in params.get("exclude") or [] if str(i).strip().isdigit()}
    if include:
        items = [w for w in items if w["id"] in include]
    items = [w for w in items if w["id"] not in exclude]
    if params.get("after"):
        after = _bound(params["after"])
        items = [w for w in items if parse_iso(w["date_created_gmt"]) > after]
    if params.get("before"):
        before = _bound(params["before"])
        items = [w for w in items if parse_iso(w["date_created_gmt"]) < before]
    # MySQL returns rows with equal sort keys by primary key, so sort by id first (the sort is stable).
    items.sort(key=lambda w: w["id"])
    orderby = params.get("orderby", "date")
    key: Callable[[Obj], Any] = {
        "id": lambda w: w["id"],
        "title": lambda w: w["name"],
    }.get(orderby, lambda w: w["date_created_gmt"])
    items.sort(key=key, reverse=params.get("order", "desc") == "desc")
    page, headers = paginate(call, items)
    return Reply([_rest(call, w) for w in page], headers=headers)


def _bound(value: Any) -> datetime:
    return parse_iso(str(value).replace("Z", "").replace(" ", "T")[:19])


def _create(call: Call) -> Reply:
    user_id = call.user.id if call.user else 0
    obj = create_webhook(call.store, call.params, user_id, call.version)
    return Reply(
        _rest(call, obj),
        201,
        headers=[("Location", call.rest_url(f"/{call.namespace}/webhooks/{obj['id']}"))],
    )


def _get(call: Call) -> Reply:
    webhook_id = call.int_param("id")
    if not webhook_id:
        raise RestError("woocommerce_rest_shop_webhook_invalid_id", "Invalid ID.", {"status": 404})
    obj = call.store.get("webhook", webhook_id)
    if obj is None:
        # prepare_item_for_response() answers an unknown id with a 400, not the usual 404.
        raise RestError("woocommerce_rest_shop_webhook_invalid_id", "ID is invalid.", {"status": 400})
    return Reply(_rest(call, obj))


def _update(call: Call) -> Reply:
    obj = call.store.get("webhook", call.int_param("id"))
    return Reply(_rest(call, update_webhook(call.store, obj, call.params)))


def _delete(call: Call) -> Reply:
    obj = delete_webhook(call.store, call.int_param("id"), bool(call.params.get("force")))
    return Reply(_rest(call, obj))


def _batch(call: Call) -> Reply:
    body = call.body_dict()
    actions = {k: body.get(k) for k in ("create", "update", "delete") if body.get(k)}
    count = sum(len(v) if isinstance(v, list) else 1 for v in actions.values())
    limit = call.store.settings.batch_limit
    if count > limit:
        raise RestError(
            "woocommerce_rest_request_entity_too_large",
            f"Unable to accept more than {limit} items for this request.",
            {"status": 413},
        )
    store = call.store
    result: dict[str, list[Any]] = {}

    def attempt(bucket: str, item_id: Any, action: Callable[[], Obj]) -> None:
        try:
            result.setdefault(bucket, []).append(_rest(call, action()))
        except RestError as error:
            result.setdefault(bucket, []).append({"id": item_id, "error": error.body()})

    user_id = call.user.id if call.user else 0
    for item in _as_list(actions.get("create")):
        attempt("create", 0, partial(create_webhook, store, _dict(item), user_id, call.version))
    for item in _as_list(actions.get("update")):
        payload = _dict(item)
        item_id = _int(payload.get("id"))
        attempt("update", item_id, partial(update_webhook, store, store.get("webhook", item_id), payload))
    for raw_id in _as_list(actions.get("delete")):
        item_id = _int(raw_id)
        if item_id == 0:  # WooCommerce skips id 0
            continue
        attempt("delete", item_id, partial(delete_webhook, store, item_id, True))
    return Reply(result or [])


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else list(value.values()) if isinstance(value, dict) else []


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def register(router: Router) -> None:
    namespaces = ("wc/v1", "wc/v2", "wc/v3")
    list_args = {
        **collection_args(orderby_enum=("date", "id", "title")),
        "after": Arg("date-time"),
        "before": Arg("date-time"),
        "status": Arg("string", default="all", enum=("all", *STATUSES)),
    }
    create_args = {**_ITEM_ARGS, "topic": Arg("string", required=True), "delivery_url": Arg("string", required=True)}
    router.add(
        namespaces,
        "/webhooks",
        Endpoint(READABLE, _list, needs("manager", "list"), list_args),
        Endpoint(CREATABLE, _create, needs("manager", "create"), create_args),
    )
    router.add(
        namespaces,
        "/webhooks/batch",
        Endpoint(EDITABLE, _batch, needs("manager", "batch"), _ITEM_ARGS),
    )
    router.add(
        namespaces,
        r"/webhooks/(?P<id>[\d]+)",
        Endpoint(READABLE, _get, needs("manager", "read"), {"context": Arg("string", enum=("view", "edit"))}),
        Endpoint(EDITABLE, _update, needs("manager", "edit"), _ITEM_ARGS),
        Endpoint(DELETABLE, _delete, needs("manager", "delete"), {"force": Arg("boolean", default=False)}),
    )


# -- payloads ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Resource:
    kinds: tuple[str, ...]
    module: str
    capability: str
    missing: tuple[str, str]  # the REST 404 for an unknown id: (code, message)


_RESOURCES = {
    "order": _Resource(("order",), "orders", "posts:read", ("woocommerce_rest_shop_order_invalid_id", "Invalid ID.")),
    "product": _Resource(
        ("product", "variation"), "products", "posts:read", ("woocommerce_rest_product_invalid_id", "Invalid ID.")
    ),
    "customer": _Resource(
        ("customer",), "customers", "list_users", ("woocommerce_rest_invalid_id", "Invalid resource ID.")
    ),
    "coupon": _Resource(
        ("coupon",), "coupons", "posts:read", ("woocommerce_rest_shop_coupon_invalid_id", "Invalid ID.")
    ),
}


def rest_root(store: Store) -> str:
    return store.settings.home_url + "/wp-json/"


def build_payload(store: Store, webhook: Obj, resource_id: int) -> Any:
    """WC_Webhook::build_payload(): the resource's current REST representation, read as the webhook's owner."""
    resource, event = topic_parts(webhook["topic"])
    if event == "deleted":
        return {"id": resource_id}
    if resource == "action":
        return {"action": topic_hooks(webhook["topic"])[0], "arg": resource_id}
    spec = _RESOURCES.get(resource)
    if spec is None:
        return []
    owner = store.users.get(int(webhook.get("_user_id") or 0))
    if owner is None or not owner.can(spec.capability):
        return RestError(
            "woocommerce_rest_cannot_view",
            "Sorry, you cannot view this resource.",
            {"status": 403 if owner else 401},
        ).body()
    for kind in spec.kinds:
        obj = store.get(kind, resource_id)
        if obj is not None:
            return _render(store, spec.module, kind, obj)
    code, message = spec.missing
    return {"code": code, "message": message, "data": {"status": 404}}


def _render(store: Store, module_name: str, kind: str, obj: Obj) -> Any:
    # Imported lazily: the resource modules import the REST layer, and they may be swapped in tests.
    try:
        module = importlib.import_module(f"woobridge.sandbox.{module_name}")
    except ImportError:
        module = None
    renderer: Callable[[Store, Obj, str], Any] | None = getattr(
        module, "variation_to_rest" if kind == "variation" else "to_rest", None
    )
    if renderer is None:  # no REST renderer for this resource: send the stored fields
        return {k: v for k, v in obj.items() if not k.startswith("_")}
    return renderer(store, obj, rest_root(store))


def _should_queue(store: Store, webhook: Obj, resource: str, event: str, resource_id: int) -> bool:
    """WC_Webhook::should_deliver() at the moment the hook fires."""
    if webhook["status"] != "active" or webhook["topic"] != f"{resource}.{event}":
        return False
    if resource == "order":
        order = store.get("order", resource_id)
        # Only real orders; drafts are ignored (Blocks' checkout-draft is not in WooCommerce's list).
        return order is not None and order.get("status") not in ("draft", "auto-draft", "new")
    if resource in ("product", "coupon"):
        obj = store.get(resource, resource_id) or store.get("variation", resource_id)
        return obj is None or obj.get("status") not in ("auto-draft", "new")
    if resource == "customer" and event == "deleted":
        user = store.users.get(resource_id)
        customer = store.get("customer", resource_id)
        role = user.role if user else (customer or {}).get("role", "customer")
        return role == "customer"
    return True


# -- the deliverer -----------------------------------------------------------------------------------------------


@dataclass
class DeliveryRecord:
    """One request the deliverer sent (a delivery or a ping), as WooCommerce's webhooks-delivery log keeps it."""

    kind: str  # "delivery" or "ping"
    webhook_id: int
    topic: str | None
    resource_id: int | None
    url: str
    delivery_id: str | None
    request_headers: list[tuple[str, str]]
    request_body: str
    response_code: int | None = None
    response_body: str = ""
    error: str | None = None
    success: bool = False
    time: str = ""
    duration: float = 0.0

    @property
    def status(self) -> str:
        return "success" if self.success else "failed"

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["request_headers"] = [list(h) for h in self.request_headers]
        data["status"] = self.status
        return data


@dataclass
class _Pending:
    webhook_id: int
    resource_id: int
    queued_at: float = field(default_factory=time.time)


class Deliverer:
    """Queues deliveries on store events and sends them when asked (``deliver_pending``) or in the background
    (``run_forever``), as Action Scheduler does."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self.store: Store = sandbox.store
        self.pending: list[_Pending] = []
        self.log: list[DeliveryRecord] = []
        self.timeout: float = 60.0  # WooCommerce: MINUTE_IN_SECONDS
        self.verify: Any = True  # TLS verification of https delivery URLs (WordPress' sslverify)
        self.max_log = 1000
        self._locks: dict[int, asyncio.Lock] = {}
        self.store.subscribe(self.on_event)

    # -- queueing (called under the store lock by whoever changes data) --

    def on_event(self, resource: str, event: str, resource_id: int) -> None:
        """A WooCommerce hook fired: queue a delivery for every webhook that wants it (collapsed per resource)."""
        for webhook in list(self.store.all("webhook")):
            if not _should_queue(self.store, webhook, resource, event, resource_id):
                continue
            if any(p.webhook_id == webhook["id"] and p.resource_id == resource_id for p in self.pending):
                continue  # an action for this webhook + resource is already pending
            self.pending.append(_Pending(webhook["id"], resource_id))

    # -- sending --

    def _lock(self) -> asyncio.Lock:
        loop_id = id(asyncio.get_running_loop())
        if loop_id not in self._locks:
            self._locks[loop_id] = asyncio.Lock()
        return self._locks[loop_id]

    async def deliver_pending(self) -> int:
        """Send every due ping and queued delivery now; return how many requests were sent."""
        async with self._lock():
            # The served sandbox calls this every half second, mostly with nothing to send: the client (building
            # one loads the CA bundle, ~40 ms of CPU that page requests wait for) is only made when there is.
            with self.store.lock:
                if not self.pending and not any(w.get("_ping_due") for w in self.store.all("webhook")):
                    return 0
            async with httpx.AsyncClient(timeout=self.timeout, verify=self.verify, trust_env=False) as client:
                return await self._send_due(client)

    async def _send_due(self, client: httpx.AsyncClient) -> int:
        sent = 0
        while True:
            with self.store.lock:
                ping = next((w for w in self.store.all("webhook") if w.get("_ping_due")), None)
                if ping is not None:
                    ping.pop("_ping_due", None)
                    self.store.put("webhook", ping)
                    job: Any = ("ping", dict(ping))
                elif self.pending:
                    job = ("delivery", self.pending.pop(0))
                else:
                    return sent
            if job[0] == "ping":
                await self._ping(client, job[1])
            else:
                await self._deliver(client, job[1])
            sent += 1

    async def run_forever(self, interval: float = 1.0) -> None:
        """Deliver in the background every ``interval`` seconds (the served sandbox's Action Scheduler)."""
        while True:
            try:
                await self.deliver_pending()
            except Exception as error:  # a broken receiver or payload must not stop later deliveries
                self._remember(
                    DeliveryRecord("error", 0, None, None, "", None, [], "", error=repr(error), time=self._now())
                )
            await asyncio.sleep(interval)

    def _now(self) -> str:
        return self.store.now_iso()

    def _remember(self, record: DeliveryRecord) -> None:
        self.log.append(record)
        del self.log[: max(0, len(self.log) - self.max_log)]

    async def _ping(self, client: httpx.AsyncClient, webhook: Obj) -> None:
        body = f"webhook_id={webhook['id']}".encode()
        headers = [
            ("User-Agent", user_agent(self.store)),
            ("Accept", "*/*"),
            ("Accept-Encoding", "deflate, gzip, br, zstd"),
            ("Connection", "close"),
            ("Content-Length", str(len(body))),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ]
        record = DeliveryRecord(
            "ping", webhook["id"], None, None, webhook["delivery_url"], None, headers, body.decode(), time=self._now()
        )
        # wp_safe_remote_post() follows redirects (5 at most), unlike deliveries.
        await self._send(client, record, body, follow_redirects=True)
        record.success = record.response_code == 200  # a ping must answer exactly 200
        self._remember(record)
        if record.success:
            with self.store.lock:
                current = self.store.get("webhook", webhook["id"])
                if current is not None:
                    current["_pending_delivery"] = False
                    save_webhook(self.store, current)

    async def _deliver(self, client: httpx.AsyncClient, job: _Pending) -> None:
        store = self.store
        with store.lock:
            webhook = store.get("webhook", job.webhook_id)
            if webhook is None:  # deleted since: WooCommerce loads an empty webhook and sends nothing
                return
            webhook = dict(webhook)
            payload = build_payload(store, webhook, job.resource_id)
            body = php_json(payload)
            resource, event = topic_parts(webhook["topic"])
            unix = int(store.now().replace(tzinfo=UTC).timestamp())
            delivery = delivery_id(webhook["id"], unix, store.settings.store_id)
        headers = [
            ("User-Agent", user_agent(store)),
            ("Accept", "*/*"),
            ("Accept-Encoding", "deflate, gzip, br, zstd"),
            ("Content-Type", "application/json"),
            ("X-WC-Webhook-Source", store.settings.home_url.rstrip("/") + "/"),
            ("X-WC-Webhook-Topic", webhook["topic"]),
            ("X-WC-Webhook-Resource", resource),
            ("X-WC-Webhook-Event", event),
            ("X-WC-Webhook-Signature", sign(body, webhook["secret"])),
            ("X-WC-Webhook-ID", str(webhook["id"])),
            ("X-WC-Webhook-Delivery-ID", delivery),
            ("Connection", "close"),
            ("Content-Length", str(len(body))),
        ]
        record = DeliveryRecord(
            "delivery",
            webhook["id"],
            webhook["topic"],
            job.resource_id,
            webhook["delivery_url"],
            delivery,
            headers,
            body.decode(),
            time=self._now(),
        )
        await self._send(client, record, body, follow_redirects=False)
        record.success = record.response_code in _SUCCESS
        self._remember(record)
        with store.lock:
            current = store.get("webhook", job.webhook_id)
            if current is None:
                return
            if record.success:
                current["_failure_count"] = 0
            elif int(current.get("_failure_count", 0)) > store.settings.webhook_max_failures:
                current["status"] = "disabled"
            else:
                current["_failure_count"] = int(current.get("_failure_count", 0)) + 1
            save_webhook(store, current)

    async def _send(
        self, client: httpx.AsyncClient, record: DeliveryRecord, body: bytes, *, follow_redirects: bool
    ) -> None:
        started = time.monotonic()
        try:
            request = httpx.Request("POST", record.url, headers=record.request_headers, content=body)
            response = await client.send(request, follow_redirects=follow_redirects)
            record.response_code = response.status_code
            record.response_body = response.text[:4096]
        except (httpx.HTTPError, ValueError, OSError) as error:
            record.error = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
        record.duration = round(time.monotonic() - started, 5)
