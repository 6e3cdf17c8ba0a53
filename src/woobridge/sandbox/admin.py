"""The sandbox's admin endpoint, under ``/__sandbox__/`` (no WordPress route can start with that).

Tests, the demo and people drive the sandbox through it: flip misconfiguration modes, change store settings,
install fault plans, issue API keys (the only place a consumer secret is ever shown), move the store clock and
run webhook deliveries. Every request needs ``X-Sandbox-Token: <admin token>``; bodies and answers are JSON.

    GET    /__sandbox__/state              modes, settings, fault plan and counters, object counts, clock
    PUT    /__sandbox__/modes              partial update of the misconfiguration switches
    PUT    /__sandbox__/settings           timezone, wc_version, decimals, currency, manage_stock, …
    PUT    /__sandbox__/faults             replace the fault plan ({"seed", "rules"} or a list of rules)
    DELETE /__sandbox__/faults             no faults any more
    GET    /__sandbox__/keys               the API keys (never their secrets)
    POST   /__sandbox__/keys               {role, permissions, description?, user_id?} → the key, with secret
    DELETE /__sandbox__/keys/{key_id}      revoke
    POST   /__sandbox__/clock              {advance_seconds} moves the store clock
    GET    /__sandbox__/deliveries         the webhook deliverer's log
    POST   /__sandbox__/deliveries/run     deliver queued webhooks now
"""

from __future__ import annotations

import hmac
import json
import math
import re
from collections.abc import Awaitable, Callable
from dataclasses import asdict, fields, is_dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Literal, get_args, get_origin, get_type_hints
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from woobridge.sandbox.faults import FaultPlan, FaultPlanSpec, FaultSpecError
from woobridge.sandbox.state import KINDS, PERMISSIONS, ROLES
from woobridge.sandbox.switches import Modes

if TYPE_CHECKING:
    from woobridge.sandbox.app import Sandbox

PREFIX = "/__sandbox__"
TOKEN_HEADER = "x-sandbox-token"  # noqa: S105 - a header name, not a secret

# WooCommerce's get_woocommerce_currency_symbol(), HTML-encoded as the REST API returns it, for common currencies.
CURRENCY_SYMBOLS = {
    "USD": "&#36;",
    "CAD": "&#36;",
    "AUD": "&#36;",
    "NZD": "&#36;",
    "EUR": "&euro;",
    "GBP": "&pound;",
    "JPY": "&yen;",
    "CNY": "&yen;",
    "CHF": "&#67;&#72;&#70;",
    "SEK": "&#107;&#114;",
    "NOK": "&#107;&#114;",
    "DKK": "kr.",
    "PLN": "&#122;&#322;",
    "INR": "&#8377;",
    "BRL": "&#082;&#036;",
}


class AdminError(Exception):
    """An admin request that cannot be done; answered as ``{"code", "message", "data"}`` with ``status``."""

    def __init__(self, status: int, code: str, message: str, **data: Any) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.data = data


Handler = Callable[["Sandbox", Request, dict[str, str]], Awaitable[Response]]


async def handle(sandbox: Sandbox, request: Request) -> Response:
    """Answer one request under ``/__sandbox__/``."""
    try:
        _check_token(sandbox, request)
        path = request.url.path[len(PREFIX) :].rstrip("/") or "/"
        for pattern, methods in _ROUTES:
            match = pattern.fullmatch(path)
            if match is None:
                continue
            handler = methods.get(request.method.upper())
            if handler is None:
                raise AdminError(
                    405,
                    "sandbox_method_not_allowed",
                    f"{request.method} is not supported on {PREFIX}{path}; use {', '.join(methods)}.",
                    allowed=list(methods),
                )
            return await handler(sandbox, request, match.groupdict())
        raise AdminError(
            404,
            "sandbox_no_route",
            f"No admin endpoint at {PREFIX}{path}.",
            endpoints=[f"{', '.join(m)} {PREFIX}{p.pattern}" for p, m in _ROUTES],
        )
    except AdminError as error:
        body = {"code": error.code, "message": error.message, "data": {"status": error.status, **error.data}}
        return JSONResponse(body, status_code=error.status)


def _check_token(sandbox: Sandbox, request: Request) -> None:
    given = request.headers.get(TOKEN_HEADER, "")
    if not given or not hmac.compare_digest(given.encode(), sandbox.admin_token.encode()):
        raise AdminError(
            401,
            "sandbox_unauthorized",
            "Missing or wrong X-Sandbox-Token header. The admin token is printed when the sandbox starts "
            "(or set with WOOBRIDGE_SANDBOX_ADMIN_TOKEN).",
        )


async def _json_body(request: Request, expect: type = dict) -> Any:
    raw = await request.body()
    try:
        body = json.loads(raw) if raw.strip() else None
    except ValueError as error:
        raise AdminError(400, "sandbox_invalid_json", f"The body is not valid JSON: {error}.") from None
    if not isinstance(body, expect):
        raise AdminError(400, "sandbox_invalid_body", f"Send a JSON {'object' if expect is dict else 'value'}.")
    return body


# -- state ----------------------------------------------------------------------------------------------------


async def _state(sandbox: Sandbox, request: Request, params: dict[str, str]) -> Response:
    store = sandbox.store
    with store.lock:
        body = {
            "modes": sandbox.modes.as_dict(),
            "settings": asdict(store.settings),
            "faults": sandbox.faults.to_json(),
            "fault_counts": sandbox.faults.stats()["injected"],
            "fault_rules": sandbox.faults.stats()["rules"],
            "counts": {
                **{kind: len(store.objects[kind]) for kind in KINDS},
                "users": len(store.users),
                "keys": len(store.keys),
            },
            "clock": {
                "now_gmt": store.now_iso(),
                "offset_seconds": store.clock_offset.total_seconds(),
            },
            "namespaces": sorted(sandbox.namespaces()),
        }
    return JSONResponse(body)


# -- modes ----------------------------------------------------------------------------------------------------


async def _put_modes(sandbox: Sandbox, request: Request, params: dict[str, str]) -> Response:
    changes = await _json_body(request)
    hints = get_type_hints(Modes)
    known = sorted(f.name for f in fields(Modes))
    unknown = sorted(set(changes) - set(known))
    if unknown:
        raise AdminError(
            400, "sandbox_unknown_mode", f"Unknown mode(s): {', '.join(unknown)}.", unknown=unknown, known=known
        )
    for name, value in changes.items():
        _check_type(name, value, hints[name])
    with sandbox.store.lock:
        sandbox.modes.update(changes)
        modes = sandbox.modes.as_dict()
    return JSONResponse({"modes": modes})


def _check_type(name: str, value: Any, hint: Any) -> None:
    if get_origin(hint) is Literal:
        choices = get_args(hint)
        if value not in choices:
            raise AdminError(
                400, "sandbox_invalid_mode", f"{name} must be one of {', '.join(map(repr, choices))}.", name=name
            )
    elif hint is bool and not isinstance(value, bool):
        raise AdminError(400, "sandbox_invalid_mode", f"{name} must be true or false.", name=name)
    elif hint is str and not isinstance(value, str):
        raise AdminError(400, "sandbox_invalid_mode", f"{name} must be a string.", name=name)


# -- settings -------------------------------------------------------------------------------------------------


def _setting_timezone(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError("an IANA zone name such as Europe/Berlin")
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"an IANA zone name such as Europe/Berlin ({value!r} is not one)") from None
    return value


def _setting_version(value: Any) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"\d+(\.\d+){1,3}", value):
        raise ValueError('a version such as "11.0.1", "3.4.0" (wc/v2 only) or "2.6.14" (legacy API only)')
    return value


def _setting_int(low: int, high: int) -> Callable[[Any], int]:
    def check(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ValueError(f"a whole number from {low} to {high}")
        return value

    return check


def _setting_bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError("true or false")
    return value


def _setting_currency(value: Any) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z]{3}", value):
        raise ValueError("an ISO 4217 code such as EUR")
    return value.upper()


def _setting_text(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError("a non-empty string")
    return value


def _setting_home_url(value: Any) -> str:
    parts = urlsplit(value) if isinstance(value, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise ValueError("an http(s) URL such as https://127.0.0.1:8443 or https://shop.test/store")
    return str(value).rstrip("/")


SETTINGS: dict[str, Callable[[Any], Any]] = {
    "timezone": _setting_timezone,
    "wc_version": _setting_version,
    "wp_version": _setting_version,
    "decimals": _setting_int(0, 8),
    "currency": _setting_currency,
    "currency_symbol": _setting_text,
    "manage_stock": _setting_bool,
    "prices_include_tax": _setting_bool,
    "hpos": _setting_bool,
    "batch_limit": _setting_int(1, 10_000),
    "webhook_max_failures": _setting_int(1, 1_000),
    "home_url": _setting_home_url,
}


async def _put_settings(sandbox: Sandbox, request: Request, params: dict[str, str]) -> Response:
    changes = await _json_body(request)
    unknown = sorted(set(changes) - set(SETTINGS))
    if unknown:
        raise AdminError(
            400,
            "sandbox_unknown_setting",
            f"Unknown setting(s): {', '.join(unknown)}.",
            unknown=unknown,
            known=sorted(SETTINGS),
        )
    clean: dict[str, Any] = {}
    for name, value in changes.items():
        try:
            clean[name] = SETTINGS[name](value)
        except ValueError as error:
            raise AdminError(
                400, "sandbox_invalid_setting", f"{name} must be {error}; got {value!r}.", name=name
            ) from None
    if "currency" in clean and "currency_symbol" not in clean:
        clean["currency_symbol"] = CURRENCY_SYMBOLS.get(clean["currency"], clean["currency"])
    store = sandbox.store
    with store.lock:
        for name, value in clean.items():
            setattr(store.settings, name, value)
        store.save_settings()
        settings = asdict(store.settings)
    return JSONResponse({"settings": settings})


# -- faults ---------------------------------------------------------------------------------------------------


async def _get_faults(sandbox: Sandbox, request: Request, params: dict[str, str]) -> Response:
    with sandbox.store.lock:
        answer = {"faults": sandbox.faults.to_json(), **sandbox.faults.stats()}
    return JSONResponse(answer)


async def _put_faults(sandbox: Sandbox, request: Request, params: dict[str, str]) -> Response:
    body = await _json_body(request, expect=object)
    if not isinstance(body, dict | list):
        raise AdminError(
            400,
            "sandbox_invalid_faults",
            'Send a JSON object {"seed": N, "rules": [...]} or a list of rules; a rule is an object such as '
            '{"kind": "429", "rate": 0.1} or a command-line spec such as "429=0.1".',
        )
    try:
        spec = FaultPlanSpec.model_validate({"rules": body} if isinstance(body, list) else body)
    except FaultSpecError as error:
        raise AdminError(400, "sandbox_invalid_faults", str(error)) from None
    except ValidationError as error:
        raise AdminError(400, "sandbox_invalid_faults", _describe(error), errors=_errors(error)) from None
    with sandbox.store.lock:
        _plan(sandbox).replace(spec.rules, spec.seed)
        answer = {"faults": sandbox.faults.to_json(), "rules": sandbox.faults.stats()["rules"]}
    return JSONResponse(answer)


async def _delete_faults(sandbox: Sandbox, request: Request, params: dict[str, str]) -> Response:
    with sandbox.store.lock:
        counts = sandbox.faults.stats()["injected"]
        _plan(sandbox).clear()
    return JSONResponse({"faults": sandbox.faults.to_json(), "injected_before": counts})


def _plan(sandbox: Sandbox) -> FaultPlan:
    """The sandbox's plan, told which store page_drift writes to."""
    plan = sandbox.faults
    if plan.store is None:
        plan.store = sandbox.store
    return plan


def _describe(error: ValidationError) -> str:
    return "; ".join(_errors(error))


def _errors(error: ValidationError) -> list[str]:
    return [(".".join(str(p) for p in e["loc"]) + ": " if e["loc"] else "") + e["msg"] for e in error.errors()]


# -- keys -----------------------------------------------------------------------------------------------------


async def _list_keys(sandbox: Sandbox, request: Request, params: dict[str, str]) -> Response:
    store = sandbox.store
    with store.lock:
        keys = []
        for key in store.keys.values():
            user = store.users.get(key.user_id)
            keys.append(
                {
                    "key_id": key.key_id,
                    "user_id": key.user_id,
                    "user": user.login if user else None,
                    "role": user.role if user else None,
                    "permissions": key.permissions,
                    "description": key.description,
                    "truncated_key": key.truncated_key,
                    "last_access": key.last_access,
                }
            )
    return JSONResponse({"keys": keys})


async def _create_key(sandbox: Sandbox, request: Request, params: dict[str, str]) -> Response:
    body = await _json_body(request)
    permissions = body.get("permissions", "read_write")
    if permissions not in PERMISSIONS:
        raise AdminError(
            400, "sandbox_invalid_key", f"permissions must be one of {', '.join(PERMISSIONS)}.", known=PERMISSIONS
        )
    description = body.get("description", "woobridge")
    if not isinstance(description, str):
        raise AdminError(400, "sandbox_invalid_key", "description must be a string.")
    store = sandbox.store
    with store.lock:
        if body.get("user_id") is not None:
            user = store.users.get(body["user_id"]) if isinstance(body["user_id"], int) else None
            if user is None:
                raise AdminError(
                    404, "sandbox_unknown_user", f"No user with id {body['user_id']!r}.", users=sorted(store.users)
                )
            if "role" in body and body["role"] != user.role:
                raise AdminError(
                    400,
                    "sandbox_invalid_key",
                    f"User {user.id} is a {user.role}, not a {body['role']}; leave role out to reuse the user.",
                )
        else:
            role = body.get("role")
            if role not in ROLES:
                raise AdminError(
                    400,
                    "sandbox_invalid_key",
                    f"role must be one of {', '.join(ROLES)} (or give user_id to reuse a user).",
                    known=ROLES,
                )
            login = body.get("login")
            user = store.add_user(role, login if isinstance(login, str) and login else None)
        issued = store.issue_key(user, permissions, description)
        truncated = store.keys[issued.key_id].truncated_key
    # The key screen shows the key once; this answer is that screen. It is never logged.
    return JSONResponse(
        {
            "key_id": issued.key_id,
            "user_id": user.id,
            "user": user.login,
            "role": user.role,
            "permissions": issued.permissions,
            "description": description,
            "truncated_key": truncated,
            "consumer_key": issued.consumer_key,
            "consumer_secret": issued.consumer_secret,
        },
        status_code=201,
    )


async def _delete_key(sandbox: Sandbox, request: Request, params: dict[str, str]) -> Response:
    key_id = int(params["key_id"])
    store = sandbox.store
    with store.lock:
        if key_id not in store.keys:
            raise AdminError(404, "sandbox_unknown_key", f"No API key with id {key_id}.", keys=sorted(store.keys))
        store.revoke_key(key_id)
    return JSONResponse({"deleted": True, "key_id": key_id})


# -- clock ----------------------------------------------------------------------------------------------------


async def _advance_clock(sandbox: Sandbox, request: Request, params: dict[str, str]) -> Response:
    body = await _json_body(request)
    seconds = body.get("advance_seconds")
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not math.isfinite(seconds):
        raise AdminError(400, "sandbox_invalid_clock", 'Send {"advance_seconds": N} with N a number of seconds.')
    store = sandbox.store
    with store.lock:
        store.clock_offset += timedelta(seconds=seconds)
        answer = {"now_gmt": store.now_iso(), "offset_seconds": store.clock_offset.total_seconds()}
    return JSONResponse({"clock": answer})


# -- webhook deliveries ---------------------------------------------------------------------------------------


def _deliverer(sandbox: Sandbox) -> Any:
    deliverer = getattr(sandbox, "deliverer", None)
    if deliverer is None:
        raise AdminError(501, "sandbox_no_deliverer", "This sandbox has no webhook deliverer.")
    return deliverer


async def _deliveries(sandbox: Sandbox, request: Request, params: dict[str, str]) -> Response:
    log = getattr(_deliverer(sandbox), "log", None)
    if log is None:
        raise AdminError(501, "sandbox_no_delivery_log", "The webhook deliverer keeps no delivery log (yet).")
    with sandbox.store.lock:
        entries = [_jsonable(entry) for entry in list(log)]
    return JSONResponse({"deliveries": entries})


async def _run_deliveries(sandbox: Sandbox, request: Request, params: dict[str, str]) -> Response:
    deliverer = _deliverer(sandbox)
    deliver_pending = getattr(deliverer, "deliver_pending", None)
    if deliver_pending is None:
        raise AdminError(501, "sandbox_no_deliverer", "The webhook deliverer cannot deliver on demand (yet).")
    before = len(getattr(deliverer, "log", None) or [])
    # Not under the store lock: deliveries await network I/O, and the deliverer takes the lock itself.
    result = await deliver_pending()
    log = getattr(deliverer, "log", None)
    answer: dict[str, Any] = {"result": _jsonable(result)}
    if log is not None:
        answer["delivered"] = [_jsonable(entry) for entry in list(log)[before:]]
    return JSONResponse(answer)


def _jsonable(value: Any) -> Any:
    """Log entries may be dataclasses, pydantic models or plain data; make them JSON."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if is_dataclass(value) and not isinstance(value, type):
        return _jsonable(asdict(value))
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


_ROUTES: list[tuple[re.Pattern[str], dict[str, Handler]]] = [
    (re.compile(r"/state"), {"GET": _state}),
    (re.compile(r"/modes"), {"PUT": _put_modes, "PATCH": _put_modes}),
    (re.compile(r"/settings"), {"PUT": _put_settings, "PATCH": _put_settings}),
    (re.compile(r"/faults"), {"GET": _get_faults, "PUT": _put_faults, "DELETE": _delete_faults}),
    (re.compile(r"/keys"), {"GET": _list_keys, "POST": _create_key}),
    (re.compile(r"/keys/(?P<key_id>\d+)"), {"DELETE": _delete_key}),
    (re.compile(r"/clock"), {"POST": _advance_clock}),
    (re.compile(r"/deliveries"), {"GET": _deliveries}),
    (re.compile(r"/deliveries/run"), {"POST": _run_deliveries}),
]
