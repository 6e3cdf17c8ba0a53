"""Replaying the exchanges recorded against a live WooCommerce 11.0.1 store, and judging the sandbox's answers.

Each file in the recordings directory holds comment lines (``# what was done`` and ``# curl …``), then one
response or, for ``curl -L``, one per hop (status line, headers, blank line, body). This module:

* parses a file into a :class:`Recording` (the request as curl sent it, with the key role and credential
  variant the comment implies, and the expected responses);
* builds the store the recordings imply (:func:`build_scenario`: products, variations, orders, customers and one
  API key per role) through the sandbox's public module functions;
* turns a recorded request into one for that store (our keys, our ids, a fresh OAuth 1.0a signature made the way
  the comment describes) and sends it the way curl did (:func:`replay`);
* compares what came back with what the real store said (:func:`compare`), on what clients read: status, error
  code/message/data shape, field names and value types of success bodies, pagination and discovery headers,
  ``Allow``, ``Location``.

The sandbox is never told which recording is being replayed: the scenario is ordinary store data.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import secrets
import shlex
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlsplit

import httpx

from woobridge.sandbox.app import Sandbox
from woobridge.sandbox.state import IssuedKey, Settings, Store

SHARED = Path(__file__).resolve().parents[3] / "shared"  # ../shared beside the clone, as CI lays it out
RECORDED_DIR = Path(os.environ.get("WOOBRIDGE_RECORDED", SHARED / "woocommerce" / "recorded"))
HOME_URL = "https://shop.test:8443"
# The recorded store's plain-HTTP listener that nginx answers with a 301 to HTTPS (15c, 15d).
REDIRECTING_ORIGIN = "http://shop.test:8081"

# -- parsing -----------------------------------------------------------------------------------------------------


@dataclass
class OAuthSpec:
    """How the recorded OAuth 1.0a request was signed, so we can sign ours the same way."""

    method: str  # HMAC-SHA1 | HMAC-SHA256
    variant: str  # ok | replay | wrong_base | old_timestamp | bad_secret (a missing parameter is just absent)


@dataclass
class RecordedRequest:
    method: str
    url: str
    role: str  # admin | read | write | subscriber | manager | unknown (the key the comment names)
    auth: str  # basic | query | oauth | none
    wrong_secret: bool
    headers: list[tuple[str, str]]
    body: bytes | None
    follow_redirects: bool
    oauth: OAuthSpec | None
    permalinks: str  # the store's permalink setting when it was recorded: pretty | plain


@dataclass
class RecordedResponse:
    status: int
    headers: list[tuple[str, str]]
    body: str

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers if k.lower() == name.lower()), None)


@dataclass
class Recording:
    name: str
    description: str
    curl: str
    request: RecordedRequest
    responses: list[RecordedResponse]

    @property
    def final(self) -> RecordedResponse:
        return self.responses[-1]

    @property
    def is_successful_write(self) -> bool:
        """A write the real store accepted: it changed the store for every exchange recorded after it."""
        return self.request.method not in ("GET", "HEAD") and all(200 <= r.status < 300 for r in self.responses)


_STATUS_LINE = re.compile(r"^HTTP/\d(?:\.\d)? (\d{3})")


def _role(description: str, url: str) -> tuple[str, bool]:
    """The key the recording used, from its comment: (role, wrong secret?)."""
    text = description.lower()
    wrong = "wrong secret" in text or "cs_bad" in url
    if "unknown consumer key" in text:
        return "unknown", False
    if "read-only" in text or "readonly" in text or " read key" in text:
        return "read", wrong
    if "write-only" in text:
        return "write", wrong
    if "subscriber" in text:
        return "subscriber", wrong
    if "shop manager" in text:
        return "manager", wrong
    return "admin", wrong


def _oauth_variant(description: str) -> str:
    text = description.lower()
    if "replayed" in text or "nonce reuse" in text:
        return "replay"
    if "literal request url" in text:
        return "wrong_base"
    if "timestamp" in text and "old" in text:
        return "old_timestamp"
    if "wrong secret" in text or "bad secret" in text:
        return "bad_secret"
    return "ok"


def parse_curl(command: str, description: str) -> RecordedRequest:
    """Read the request out of the recorded curl command line (shell-quoted as it was typed)."""
    words = shlex.split(command)
    assert words[0] == "curl", command
    method: str | None = None
    user: str | None = None
    headers: list[tuple[str, str]] = []
    body: bytes | None = None
    follow = False
    head = False
    url = ""
    index = 1
    while index < len(words):
        word = words[index]
        if word == "-X":
            method = words[index + 1]
            index += 1
        elif word == "-u":
            user = words[index + 1]
            index += 1
        elif word == "-H":
            name, _, value = words[index + 1].partition(":")
            headers.append((name.strip(), value.strip()))
            index += 1
        elif word == "-d":
            body = words[index + 1].encode()
            index += 1
        elif word == "--cacert":
            index += 1
        elif word == "-L":
            follow = True
        elif word == "-I":
            head = True
        elif word == "-i":
            pass
        elif word.startswith("-"):
            raise ValueError(f"curl option {word!r} is not understood by the recording parser")
        else:
            url = word
        index += 1
    if method is None:
        method = "HEAD" if head else "POST" if body is not None else "GET"
    if body is not None and not any(k.lower() == "content-type" for k, _ in headers):
        headers.append(("Content-Type", "application/x-www-form-urlencoded"))  # what curl -d sends
    query = dict(parse_qsl(urlsplit(url).query, keep_blank_values=True))
    role, wrong = _role(description, url)
    oauth = None
    if "oauth_consumer_key" in query:
        auth = "oauth"
        oauth = OAuthSpec(query.get("oauth_signature_method", "HMAC-SHA256"), _oauth_variant(description))
    elif "consumer_key" in query:
        auth = "query"
    elif user is not None:
        auth = "basic"
    else:
        auth = "none"
    permalinks = "plain" if "plain permalinks" in description.lower() else "pretty"
    return RecordedRequest(method, url, role, auth, wrong, headers, body, follow, oauth, permalinks)


def parse_recording(path: Path) -> Recording:
    lines = path.read_text().replace("\r\n", "\n").split("\n")
    comments = [line[2:] for line in lines if line.startswith("# ")]
    description = comments[0]
    curl = next(c for c in comments if c.startswith("curl "))
    rest = [line for line in lines if not line.startswith("# ")]
    responses: list[RecordedResponse] = []
    index = 0
    while index < len(rest):
        match = _STATUS_LINE.match(rest[index])
        if not match:
            index += 1
            continue
        status = int(match.group(1))
        index += 1
        headers: list[tuple[str, str]] = []
        while index < len(rest) and rest[index].strip():
            name, _, value = rest[index].partition(":")
            headers.append((name.strip(), value.strip()))
            index += 1
        body_lines: list[str] = []
        index += 1
        while index < len(rest) and not _STATUS_LINE.match(rest[index]):
            body_lines.append(rest[index])
            index += 1
        responses.append(RecordedResponse(status, headers, "\n".join(body_lines).strip()))
    if not responses:
        raise ValueError(f"{path.name}: no recorded response found")
    return Recording(path.name, description, curl, parse_curl(curl, description), responses)


def recording_files() -> list[Path]:
    return sorted(RECORDED_DIR.glob("*.txt"))


def load_recordings() -> list[Recording]:
    return [parse_recording(path) for path in recording_files()]


# -- the store the recordings imply ------------------------------------------------------------------------------


@dataclass
class Scenario:
    """The sandbox store with the data the recordings were made against, and how recorded ids map to ours."""

    sandbox: Sandbox
    keys: dict[str, IssuedKey]
    # recorded id → our id, per resource path segment ("products", "orders", "variations"...)
    ids: dict[str, dict[int, int]] = field(default_factory=dict)

    def map_id(self, resource: str, recorded: int) -> int:
        return self.ids.get(resource, {}).get(recorded, recorded)


def new_sandbox() -> Sandbox:
    return Sandbox(Store(Settings(home_url=HOME_URL)))


def issue_keys(store: Store) -> dict[str, IssuedKey]:
    """The recorded store's keys: an administrator's (read_write, read, write), a shop manager's, a subscriber's."""
    admin = store.add_user("administrator", "admin")
    manager = store.add_user("shop_manager", "manager")
    subscriber = store.add_user("subscriber", "reader")
    return {
        "admin": store.issue_key(admin, "read_write"),
        "read": store.issue_key(admin, "read"),
        "write": store.issue_key(admin, "write"),
        "manager": store.issue_key(manager, "read_write"),
        "subscriber": store.issue_key(subscriber, "read_write"),
    }


ADDRESS = {
    "first_name": "Jane",
    "last_name": "Doe",
    "company": "",
    "address_1": "969 Market",
    "address_2": "",
    "city": "San Francisco",
    "state": "CA",
    "postcode": "94103",
    "country": "US",
}

# The recorded catalogue, in creation order (the recorded ids 11…24 follow from it).
SIMPLE_PRODUCTS = [
    (11, {"name": "Basic T-Shirt", "sku": "TSHIRT-BASIC", "regular_price": "19.99", "description": "Description"}),
    (12, {"name": "Hoodie", "sku": "HOODIE-1", "regular_price": "45.00"}),
    (13, {"name": "Beanie", "sku": "BEANIE-1", "regular_price": "15.50"}),
    (14, {"name": "Socks", "sku": "SOCKS-1", "regular_price": "7.00"}),
    (15, {"name": "Cap", "sku": "CAP-1", "regular_price": "12.00"}),
    (16, {"name": "Scarf", "sku": "SCARF-1", "regular_price": "18.00"}),
]
POLO_VARIATIONS = [
    (18, "S", "Red", "25.00"),
    (19, "S", "Blue", "25.00"),
    (20, "M", "Red", "26.00"),
    (21, "M", "Blue", "26.00"),
    (22, "L", "Red", "27.00"),
    (23, "L", "Blue", "27.00"),
]


def build_scenario() -> Scenario:
    """A store like the recorded one: 8 products (a variable "Polo Shirt" with 6 variations, a variable
    "Gift Card" with 2), 6 orders paid by bank transfer, 2 customers, and the keys the recordings used.

    Data goes in through the modules' public functions, as a shop would create it; whatever they do not provide
    yet (a module still being written) is left out, and the recordings that need it fail with a clear reason."""
    sandbox = new_sandbox()
    store = sandbox.store
    scenario = Scenario(sandbox, issue_keys(store))
    with store.lock:
        _add_catalogue(scenario)
        _add_customers(scenario)
        _add_orders(scenario)
    return scenario


def _public(module: str, name: str) -> Callable[..., Any] | None:
    import importlib

    found = getattr(importlib.import_module(f"woobridge.sandbox.{module}"), name, None)
    return found if callable(found) else None


def _add_catalogue(scenario: Scenario) -> None:
    create_product = _public("products", "create_product")
    create_variation = _public("products", "create_variation")
    if create_product is None:
        return
    store = scenario.sandbox.store
    products = scenario.ids.setdefault("products", {})
    variations = scenario.ids.setdefault("variations", {})
    stocked = {"manage_stock": True, "stock_quantity": 50}
    for recorded, payload in SIMPLE_PRODUCTS:
        products[recorded] = int(create_product(store, {**payload, **stocked})["id"])
    # Global attributes (pa_size, pa_color, ids 1 and 2), as on the recorded store.
    attributes = [
        {"id": 1, "name": "Size", "options": ["S", "M", "L"], "variation": True, "visible": True},
        {"id": 2, "name": "Color", "options": ["Red", "Blue"], "variation": True, "visible": True},
    ]
    polo = create_product(store, {"name": "Polo Shirt", "type": "variable", "attributes": attributes})
    products[17] = int(polo["id"])
    if create_variation is not None:
        for recorded, size, color, price in POLO_VARIATIONS:
            variation = create_variation(
                store,
                polo,
                {
                    "sku": f"POLO-{size}-{color}",
                    "regular_price": price,
                    "attributes": [{"id": 1, "option": size}, {"id": 2, "option": color}],
                    **stocked,
                },
            )
            variations[recorded] = int(variation["id"])
    gift = create_product(
        store,
        {
            "name": "Gift Card",
            "type": "variable",
            "attributes": [{"name": "Amount", "options": ["25", "50"], "variation": True, "visible": True}],
        },
    )
    products[24] = int(gift["id"])
    if create_variation is not None:
        for amount in ("25", "50"):
            create_variation(
                store,
                gift,
                {
                    "regular_price": f"{amount}.00",
                    "virtual": True,
                    "attributes": [{"name": "Amount", "option": amount}],
                },
            )


def _add_customers(scenario: Scenario) -> None:
    create_customer = _public("customers", "create_customer")
    if create_customer is None:
        return
    store = scenario.sandbox.store
    customers = scenario.ids.setdefault("customers", {})
    first = create_customer(store, {"email": "customer1@shop.test", "first_name": "Carl", "last_name": "Buyer"})
    customers[4] = int(first["id"])
    jane = create_customer(
        store,
        {
            "email": "jane.doe@shop.test",
            "first_name": "Jane",
            "last_name": "Doe",
            "billing": {**ADDRESS, "email": "jane.doe@shop.test", "phone": "(555) 555-5555"},
            "shipping": {**ADDRESS, "phone": ""},
        },
    )
    customers[5] = int(jane["id"])


def _add_orders(scenario: Scenario) -> None:
    create_order = _public("orders", "create_order")
    if create_order is None:
        return
    store = scenario.sandbox.store
    products = scenario.ids.get("products", {})
    variations = scenario.ids.get("variations", {})
    customers = scenario.ids.get("customers", {})
    orders = scenario.ids.setdefault("orders", {})
    base = {
        "payment_method": "bacs",
        "payment_method_title": "Direct Bank Transfer",
        "billing": {**ADDRESS, "email": "jane.doe@shop.test", "phone": "(555) 555-5555"},
        "shipping": {**ADDRESS, "phone": ""},
        "shipping_lines": [{"method_id": "flat_rate", "method_title": "Flat Rate", "total": "10.00"}],
    }
    # 2 × Basic T-Shirt (19.99) + Polo Shirt S/Red (25.00) + 10.00 shipping = 74.98
    full_cart = []
    if 11 in products:
        full_cart.append({"product_id": products[11], "quantity": 2})
    if 17 in products:
        line: dict[str, Any] = {"product_id": products[17], "quantity": 1}
        if 18 in variations:
            line["variation_id"] = variations[18]
        full_cart.append(line)
    plan = [
        (27, "processing", full_cart, None),
        (28, "completed", full_cart, None),
        (29, "on-hold", full_cart, None),
        (30, "pending", full_cart, None),
        (31, "processing", full_cart, customers.get(5)),
        (32, "processing", [{"product_id": products[13], "quantity": 1}] if 13 in products else [], None),
    ]
    for recorded, status, items, customer_id in plan:
        payload: dict[str, Any] = {**base, "status": status, "line_items": items}
        if status in ("processing", "completed"):
            payload["set_paid"] = True
        if customer_id is not None:
            payload["customer_id"] = customer_id
        orders[recorded] = int(create_order(store, payload)["id"])


# -- replaying ---------------------------------------------------------------------------------------------------

_ID_SEGMENT = re.compile(r"/(products|orders|customers|variations|refunds)/(\d+)")


def _map_path(scenario: Scenario, path: str) -> str:
    return _ID_SEGMENT.sub(lambda m: f"/{m.group(1)}/{scenario.map_id(m.group(1), int(m.group(2)))}", path)


def _map_body(scenario: Scenario, url: str, body: bytes | None) -> bytes | None:
    """Batch bodies name existing products by id: give them our ids (unknown ids stay unknown)."""
    if body is None or not body.startswith(b"{"):
        return body
    data = json.loads(body)
    resource = next((r for r in ("products", "orders", "customers") if f"/{r}/batch" in url), None)
    if resource is None or not isinstance(data, dict):
        return body
    for item in data.get("update", []) or []:
        if isinstance(item, dict) and isinstance(item.get("id"), int):
            item["id"] = scenario.map_id(resource, item["id"])
    if isinstance(data.get("delete"), list):
        data["delete"] = [scenario.map_id(resource, i) if isinstance(i, int) else i for i in data["delete"]]
    return json.dumps(data).encode()


def _rfc3986(value: str) -> str:
    return quote(value, safe="~")


def oauth_signature(method: str, base_url: str, params: list[tuple[str, str]], secret: str, algorithm: str) -> str:
    """OAuth 1.0a HMAC signature as the WooCommerce docs describe it (consumer secret + "&" as the key)."""
    encoded = sorted((_rfc3986(k), _rfc3986(v)) for k, v in params)
    normalized = "&".join(f"{k}={v}" for k, v in encoded)
    base = f"{method.upper()}&{_rfc3986(base_url)}&{_rfc3986(normalized)}"
    digest = hashlib.sha1 if algorithm == "HMAC-SHA1" else hashlib.sha256
    return base64.b64encode(hmac.new(f"{secret}&".encode(), base.encode(), digest).digest()).decode()


@dataclass
class Prepared:
    """One request ready to send (a replay sends the same one twice)."""

    method: str
    url: str
    headers: list[tuple[str, str]]
    body: bytes | None
    times: int = 1


def _raw_query(pairs: list[tuple[str, str]]) -> str:
    # Keep what curl sent readable (slashes and commas unencoded) but safe for the URL.
    return "&".join(f"{quote(k, safe='[]')}={quote(v, safe='/,')}" for k, v in pairs)


def prepare(scenario: Scenario, request: RecordedRequest) -> Prepared:
    """The recorded request, for our store: our keys and ids, a fresh OAuth signature made the way the recording's
    comment describes."""
    split = urlsplit(request.url)
    path = _map_path(scenario, split.path)
    pairs = parse_qsl(split.query, keep_blank_values=True)
    pairs = [(k, _map_path(scenario, v) if k == "rest_route" else v) for k, v in pairs]
    key = scenario.keys["admin" if request.role == "unknown" else request.role]
    consumer_key = "ck_" + secrets.token_hex(20) if request.role == "unknown" else key.consumer_key
    secret = "cs_" + secrets.token_hex(20) if request.wrong_secret else key.consumer_secret
    headers = list(request.headers)
    times = 1
    if request.auth == "basic":
        token = base64.b64encode(f"{consumer_key}:{secret}".encode()).decode()
        headers.append(("Authorization", f"Basic {token}"))
    elif request.auth == "query":
        pairs = [
            (k, consumer_key if k == "consumer_key" else secret if k == "consumer_secret" else v) for k, v in pairs
        ]
    elif request.auth == "oauth":
        assert request.oauth is not None
        pairs = _sign(scenario, request, path, pairs, consumer_key, key.consumer_secret)
        times = 2 if request.oauth.variant == "replay" else 1
    query = _raw_query(pairs)
    url = f"{split.scheme}://{split.netloc}{path}" + (f"?{query}" if query else "")
    return Prepared(request.method, url, headers, _map_body(scenario, path, request.body), times)


def _sign(
    scenario: Scenario,
    request: RecordedRequest,
    path: str,
    pairs: list[tuple[str, str]],
    consumer_key: str,
    secret: str,
) -> list[tuple[str, str]]:
    assert request.oauth is not None
    variant = request.oauth.variant
    store = scenario.sandbox.store
    now = int(store.now().replace(tzinfo=UTC).timestamp())
    fresh = {
        "oauth_consumer_key": consumer_key,
        "oauth_timestamp": str(now - 3600 if variant == "old_timestamp" else now),
        "oauth_nonce": secrets.token_hex(16),
    }
    pairs = [(k, fresh.get(k, v)) for k, v in pairs if k != "oauth_signature"]
    split = urlsplit(request.url)
    if variant == "wrong_base":
        base_url = f"{split.scheme}://{split.netloc}{path}"  # the literal request URL
    else:
        base_url = f"{split.scheme}://{urlsplit(HOME_URL).netloc}{path}"  # the home URL, request scheme
    signing_secret = "cs_" + secrets.token_hex(20) if variant == "bad_secret" else secret
    # PHP's $_GET keeps the last of repeated names: sign what the server will see.
    signed = list(dict(pairs).items())
    signature = oauth_signature(request.method, base_url, signed, signing_secret, request.oauth.method)
    return [*pairs, ("oauth_signature", signature)]


@dataclass
class Exchange:
    status: int
    headers: httpx.Headers
    body: bytes


async def _send(
    scenario: Scenario, method: str, url: str, headers: list[tuple[str, str]], body: bytes | None
) -> Exchange:
    """One request to the in-process store, through the listener the URL names."""
    split = urlsplit(url)
    origin = f"{split.scheme}://{split.netloc}"
    modes = scenario.sandbox.modes
    # The recorded host had a second plain-HTTP listener whose nginx only redirects to HTTPS.
    modes.redirect_to_https = HOME_URL if origin == REDIRECTING_ORIGIN else ""
    transport = httpx.ASGITransport(app=scenario.sandbox.app)
    async with httpx.AsyncClient(transport=transport, base_url=origin) as client:
        response = await client.request(method, url, headers=headers, content=body)
    modes.redirect_to_https = ""
    return Exchange(response.status_code, response.headers, response.content)


async def replay(scenario: Scenario, request: RecordedRequest) -> list[Exchange]:
    """Send the request as curl did; with -L follow redirects as curl does (POST becomes GET on 301/302/303 and
    credentials are not sent to another origin). Returns every hop's response."""
    scenario.sandbox.modes.permalinks = "plain" if request.permalinks == "plain" else "pretty"
    prepared = prepare(scenario, request)
    exchange = None
    for _ in range(prepared.times):
        exchange = await _send(scenario, prepared.method, prepared.url, prepared.headers, prepared.body)
    assert exchange is not None
    hops = [exchange]
    method, url, headers, body = prepared.method, prepared.url, prepared.headers, prepared.body
    while request.follow_redirects and exchange.status in (301, 302, 303, 307, 308) and len(hops) < 5:
        location = exchange.headers.get("location", "")
        old, new = urlsplit(url), urlsplit(location)
        if (old.scheme, old.netloc) != (new.scheme, new.netloc):
            headers = [(k, v) for k, v in headers if k.lower() != "authorization"]
        if exchange.status in (301, 302, 303) and method == "POST":
            method, body = "GET", None
            headers = [(k, v) for k, v in headers if k.lower() != "content-type"]
        url = location
        exchange = await _send(scenario, method, url, headers, body)
        hops.append(exchange)
    return hops


async def replay_history(scenario: Scenario, earlier: list[Recording]) -> None:
    """Bring the store to the state the recording was made in: redo the writes the real store accepted before it
    (a refund recorded earlier is there when a later exchange lists refunds)."""
    for recording in earlier:
        if recording.is_successful_write:
            await replay(scenario, recording.request)


# -- comparing ---------------------------------------------------------------------------------------------------


@dataclass
class Tolerance:
    """What a recording's values depend on that our scenario does not reproduce exactly (decided per file)."""

    total: bool = True  # compare X-WP-Total's value


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def shape_differences(expected: Any, actual: Any, where: str = "body") -> Iterator[str]:
    """Field names and value types, recursively (null is a type of its own: the scenario's data is chosen so
    the same fields are null, e.g. date_completed of a processing order); lists by their first element."""
    want, got = _kind(expected), _kind(actual)
    if want != got:
        yield f"{where}: recorded {want} {_short(expected)}, sandbox {got} {_short(actual)}"
        return
    if want == "object":
        missing = [k for k in expected if k not in actual]
        extra = [k for k in actual if k not in expected]
        if missing:
            yield f"{where}: missing fields {missing}"
        if extra:
            yield f"{where}: unexpected fields {extra}"
        for name in expected:
            if name in actual:
                yield from shape_differences(expected[name], actual[name], f"{where}.{name}")
    elif want == "array":
        if expected and not actual:
            yield f"{where}: recorded a non-empty list, sandbox an empty one"
        elif expected and actual:
            yield from shape_differences(expected[0], actual[0], f"{where}[0]")


def _short(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) < 80 else text[:77] + "..."


def _is_wp_error(body: Any) -> bool:
    return isinstance(body, dict) and set(body) >= {"code", "message", "data"}


def _error_differences(expected: dict[str, Any], actual: Any) -> Iterator[str]:
    if not _is_wp_error(actual):
        yield f"body: recorded a WP error {_short(expected)}, sandbox {_short(actual)}"
        return
    for name in ("code", "message"):
        if expected[name] != actual[name]:
            yield f"body.{name}: recorded {expected[name]!r}, sandbox {actual[name]!r}"
    want, got = expected["data"], actual["data"]
    if isinstance(want, dict):
        if not isinstance(got, dict):
            yield f"body.data: recorded an object, sandbox {_short(got)}"
            return
        if set(want) != set(got):
            yield f"body.data: recorded keys {sorted(want)}, sandbox {sorted(got)}"
        if want.get("status") != got.get("status"):
            yield f"body.data.status: recorded {want.get('status')}, sandbox {got.get('status')}"
        for name in ("params", "details"):
            if isinstance(want.get(name), dict) and isinstance(got.get(name), dict):
                if set(want[name]) != set(got[name]):
                    yield f"body.data.{name}: recorded {sorted(want[name])}, sandbox {sorted(got[name])}"
            elif isinstance(want.get(name), list) and want.get(name) != got.get(name):
                yield f"body.data.{name}: recorded {want[name]}, sandbox {got.get(name)}"
    elif want != got:
        yield f"body.data: recorded {want!r}, sandbox {got!r}"


def parse_links(value: str | None) -> list[tuple[str, str]]:
    """A Link header as (url, rel) pairs."""
    if not value:
        return []
    return [(m.group(1), m.group(2)) for m in re.finditer(r'<(.*?)>\s*;\s*rel="([^"]*)"', value)]


def _link_differences(expected: str | None, actual: str | None) -> Iterator[str]:
    want, got = parse_links(expected), parse_links(actual)
    if sorted(r for _, r in want) != sorted(r for _, r in got):
        yield f"Link rels: recorded {[r for _, r in want]}, sandbox {[r for _, r in got]} ({actual!r})"
        return
    mine = dict((r, u) for u, r in got)
    for url, rel in want:
        ours = mine[rel]
        if rel not in ("prev", "next"):
            if ours != url:
                yield f"Link {rel}: recorded <{url}>, sandbox <{ours}>"
            continue
        a, b = urlsplit(url), urlsplit(ours)
        if (a.scheme, a.netloc, a.path) != (b.scheme, b.netloc, _strip_ids(b.path, a.path)):
            yield f"Link {rel} path: recorded {a.scheme}://{a.netloc}{a.path}, sandbox {b.scheme}://{b.netloc}{b.path}"
        want_q, got_q = _link_query(a.query), _link_query(b.query)
        if sorted(k for k, _ in want_q) != sorted(k for k, _ in got_q):
            yield f"Link {rel} parameters: recorded {[k for k, _ in want_q]}, sandbox {[k for k, _ in got_q]}"
        if dict(want_q).get("page") != dict(got_q).get("page"):
            yield f"Link {rel} page: recorded {dict(want_q).get('page')}, sandbox {dict(got_q).get('page')}"


def _link_query(query: str) -> list[tuple[str, str]]:
    # The recorded links keep the placeholder "ck_<key>" unencoded; split by hand rather than trust parse_qsl.
    pairs = []
    for part in query.split("&"):
        name, _, value = part.partition("=")
        pairs.append((unquote(name), unquote(value)))
    return pairs


def _strip_ids(ours: str, recorded: str) -> str:
    """Our path with our ids put back to the recorded ones where only the ids differ."""
    a, b = ours.split("/"), recorded.split("/")
    if len(a) != len(b):
        return ours
    return "/".join(y if x.isdigit() and y.isdigit() else x for x, y in zip(a, b, strict=True))


def _normalize_location(value: str) -> str:
    return re.sub(r"/\d+(?=/|$|\?)", "/<id>", value)


def _content_type(value: str | None) -> str:
    return ";".join(part.strip() for part in (value or "").lower().split(";"))


# Set by the web server and the transport, not by WordPress.
TRANSPORT_HEADERS = {"server", "date", "transfer-encoding", "connection", "content-length"}


def compare(recorded: RecordedResponse, exchange: Exchange, tolerance: Tolerance) -> list[str]:
    """What differs between the real store's answer and the sandbox's, on what clients read."""
    problems: list[str] = []
    if recorded.status != exchange.status:
        problems.append(f"status: recorded {recorded.status}, sandbox {exchange.status}")
    want_type = _content_type(recorded.header("content-type"))
    got_type = _content_type(exchange.headers.get("content-type"))
    if want_type != got_type:
        problems.append(f"Content-Type: recorded {want_type!r}, sandbox {got_type!r}")
    if "json" in want_type and recorded.body:
        expected = json.loads(recorded.body)
        try:
            actual = json.loads(exchange.body)
        except ValueError:
            problems.append(f"body: recorded JSON, sandbox {exchange.body[:120]!r}")
            actual = None
        if actual is not None:
            if _is_wp_error(expected):
                problems += _error_differences(expected, actual)
            elif "errors" in expected:
                if expected != actual:
                    problems.append(f"body: recorded {_short(expected)}, sandbox {_short(actual)}")
            else:
                problems += shape_differences(expected, actual)
    elif recorded.body == "" and exchange.body and recorded.status != 301:
        problems.append(f"body: recorded none, sandbox {exchange.body[:80]!r}")
    for name in ("X-WP-Total", "X-WP-TotalPages"):
        want, got = recorded.header(name), exchange.headers.get(name)
        if (want is None) != (got is None):
            problems.append(f"{name}: recorded {want!r}, sandbox {got!r}")
        elif got is not None and not got.isdigit():
            problems.append(f"{name}: sandbox sent {got!r}, not a number")
        elif want != got and (name != "X-WP-Total" or tolerance.total):
            problems.append(f"{name}: recorded {want!r}, sandbox {got!r}")
    problems += _link_differences(recorded.header("link"), exchange.headers.get("link"))
    if recorded.header("allow") != exchange.headers.get("allow"):
        problems.append(f"Allow: recorded {recorded.header('allow')!r}, sandbox {exchange.headers.get('allow')!r}")
    want_location, got_location = recorded.header("location"), exchange.headers.get("location")
    if (want_location is None) != (got_location is None) or (
        want_location and got_location and _normalize_location(want_location) != _normalize_location(got_location)
    ):
        problems.append(f"Location: recorded {want_location!r}, sandbox {got_location!r}")
    if recorded.header("retry-after") != exchange.headers.get("retry-after"):
        problems.append(
            f"Retry-After: recorded {recorded.header('retry-after')!r}, sandbox {exchange.headers.get('retry-after')!r}"
        )
    # Every other header the store sent, by name (values like Vary and Expires are not read by clients, but a
    # header the real store sends and the sandbox forgets, or the reverse, is a difference all the same).
    want_names = {k.lower() for k, _ in recorded.headers} - TRANSPORT_HEADERS
    got_names = {k.lower() for k in exchange.headers} - TRANSPORT_HEADERS
    if want_names != got_names:
        problems.append(
            f"headers: missing {sorted(want_names - got_names)}, unexpected {sorted(got_names - want_names)}"
        )
    if "www-authenticate" in exchange.headers:
        problems.append("WWW-Authenticate: the real store sends none")
    return problems
