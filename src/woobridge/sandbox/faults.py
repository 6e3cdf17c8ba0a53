"""Fault injection: what the network and the hosting put between a connector and a healthy WooCommerce store.

A :class:`FaultPlan` wraps the sandbox's ASGI app (``app.py`` calls :meth:`FaultPlan.run` for every request
that is not for the admin endpoint). It holds :class:`FaultRule` switches, each with

* a **trigger** — a probability (``rate``, drawn from a seeded ``random.Random``), a **schedule** of matching
  request numbers (``schedule=[2, 5]``: the 2nd and 5th), **every** Nth matching request, or always;
* an optional **match** — a substring of the request target (path and query) and/or a list of methods;
* a **seed**, so the same sequence of requests meets the same faults on every run;
* the kind's own parameters (milliseconds, Retry-After, bytes kept…).

Kinds, in the order they act on one request:

``latency``               sleep ``ms`` + uniform(0, ``jitter``) ms before the store sees the request.
``429`` ``500`` ``502`` ``503``
                          an HTML error page from the edge (nginx, Cloudflare) or WordPress' critical error page
                          instead of the store's answer; 429 always carries ``Retry-After``, the others when
                          ``retry_after`` is set. With ``after_write`` the store processes the request first (a
                          proxy giving up on a PHP worker that still finished its write).
``page_drift``            on ``GET …/orders`` with ``page`` > 1 or ``offset`` > 0: ``insert`` new orders and change
                          ``modify`` existing ones before answering, as customers do while a client pages through a
                          list.
``reset``                 status, headers and ``after_bytes`` of the body, then the connection is dropped.
``truncate``              full status and headers, but only ``keep`` of the body, with Content-Length adjusted:
                          the HTTP exchange is complete and the JSON is invalid.
``trickle``               the body in ``chunk``-byte pieces, ``delay`` ms apart.
``timeout_after_write``   THE dangerous case: the store processes the request (the order is created), the
                          answer is held back for ``hold`` seconds, then the connection is dropped. The client
                          times out although the write happened.

At most one error page and at most one of the response faults (reset, truncate, trickle, timeout_after_write)
act on a request — the first that fires, in plan order; every latency rule that fires adds its sleep.
Every rule whose match fits counts the request, whether or not another rule's fault wins, so a rule's schedule
does not depend on the other rules.

What a client sees:

* Over TCP (uvicorn), a dropped connection is uvicorn closing the socket after the app raised; httpx reports
  ``httpx.RemoteProtocolError`` ("peer closed connection without sending complete message body"). uvicorn logs
  the injected :class:`ConnectionDropped` as "Exception in ASGI application". For ``timeout_after_write`` a
  client whose timeout is shorter than ``hold`` gets ``httpx.ReadTimeout``; one that waits longer receives the
  status line and headers and then the drop (``RemoteProtocolError``).
* In process (``httpx.ASGITransport``) there is no socket: the exception the app raises reaches the client
  as is, so :class:`ConnectionDropped` is an ``httpx.RemoteProtocolError`` and :class:`ResponseWithheld` (the
  in-process ``timeout_after_write``) an ``httpx.ReadTimeout`` — the same classes the client's error handling
  meets over TCP.

On the command line a rule is written ``KIND[=ITEM,ITEM…]`` (see :func:`parse_fault_spec`).
"""

from __future__ import annotations

import asyncio
import random
import secrets
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, MutableMapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, get_args
from urllib.parse import parse_qsl, quote, unquote

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

if TYPE_CHECKING:
    from woobridge.sandbox.state import Obj, Store

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

FaultKind = Literal[
    "latency",
    "429",
    "500",
    "502",
    "503",
    "page_drift",
    "reset",
    "truncate",
    "trickle",
    "timeout_after_write",
]
KINDS: tuple[str, ...] = get_args(FaultKind)
ERROR_KINDS = ("429", "500", "502", "503")
RESPONSE_KINDS = ("reset", "truncate", "trickle", "timeout_after_write")
# Shorter or more familiar names the CLI accepts.
KIND_ALIASES = {"drift": "page_drift", "lost_write": "timeout_after_write", "slow": "trickle"}

PageStyle = Literal["nginx", "cloudflare", "wordpress"]

# The parameters each kind takes, besides the trigger and match options every rule has.
KIND_OPTIONS: dict[str, tuple[str, ...]] = {
    "latency": ("ms", "jitter"),
    **dict.fromkeys(ERROR_KINDS, ("retry_after", "style", "after_write")),
    "page_drift": ("insert", "modify"),
    "reset": ("after_bytes",),
    "truncate": ("keep",),
    "trickle": ("chunk", "delay"),
    "timeout_after_write": ("hold",),
}
COMMON_OPTIONS = ("rate", "every", "schedule", "seed", "path", "methods")
HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
DEFAULT_RETRY_AFTER_429 = 10


class FaultSpecError(ValueError):
    """A fault rule that cannot be understood; the message says which part and what is expected."""


class ConnectionDropped(httpx.RemoteProtocolError):
    """Raised by the app to drop the connection mid-response.

    Under uvicorn, an exception after ``http.response.start`` makes it close the socket, so the client sees an
    incomplete response. In process, httpx.ASGITransport hands the exception itself to the client, which is why
    it is the exception class a client would get over TCP."""


class ResponseWithheld(httpx.ReadTimeout):
    """The in-process face of ``timeout_after_write``: the write happened, the answer never came."""


class FaultRule(BaseModel):
    """One fault switch: what, when (rate, schedule, every Nth or always), for which requests, with which seed."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: FaultKind
    # Trigger: at most one of these; none means every matching request.
    rate: float | None = Field(default=None, ge=0, le=1)
    schedule: tuple[int, ...] | None = None
    every: int | None = Field(default=None, ge=1)
    # Match: a substring of the request target (path?query) and/or the request methods.
    path: str | None = None
    methods: tuple[str, ...] | None = None
    # Seed of this rule's random draws; when unset it is derived from the plan's seed and the rule's position.
    seed: int | None = None
    # latency
    ms: int = Field(default=100, ge=0)
    jitter: int = Field(default=0, ge=0)
    # 429, 500, 502, 503
    retry_after: int | None = Field(default=None, ge=0)
    style: PageStyle | None = None
    after_write: bool = False
    # page_drift
    insert: int = Field(default=1, ge=0)
    modify: int = Field(default=1, ge=0)
    # reset: bytes of the body sent before the drop (default: half of it)
    after_bytes: int | None = Field(default=None, ge=0)
    # truncate: the fraction of the body kept
    keep: float = Field(default=0.5, ge=0, lt=1)
    # trickle
    chunk: int = Field(default=64, ge=1)
    delay: int = Field(default=50, ge=0)
    # timeout_after_write: seconds the answer is held back before the connection is dropped
    hold: float = Field(default=30.0, gt=0)

    @field_validator("kind", mode="before")
    @classmethod
    def _kind_alias(cls, value: Any) -> Any:
        if isinstance(value, int):
            value = str(value)
        if isinstance(value, str):
            value = KIND_ALIASES.get(value.strip().lower(), value.strip().lower())
        return value

    @field_validator("schedule")
    @classmethod
    def _schedule(cls, value: tuple[int, ...] | None) -> tuple[int, ...] | None:
        if value is None:
            return None
        if not value:
            raise ValueError("schedule needs at least one request number (1 is the first matching request)")
        if any(n < 1 for n in value):
            raise ValueError("schedule numbers count matching requests from 1")
        return tuple(sorted(set(value)))

    @field_validator("methods", mode="before")
    @classmethod
    def _methods(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [m for m in value.replace("+", ",").split(",") if m]
        if isinstance(value, list | tuple):
            value = tuple(str(m).strip().upper() for m in value)
            unknown = [m for m in value if m not in HTTP_METHODS]
            if unknown:
                raise ValueError(f"unknown method(s) {', '.join(unknown)}; expected some of {', '.join(HTTP_METHODS)}")
            if not value:
                raise ValueError("methods needs at least one method, or leave it out to match all")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> FaultRule:
        triggers = [name for name in ("rate", "schedule", "every") if getattr(self, name) is not None]
        if len(triggers) > 1:
            raise ValueError(f"give one trigger, not {' and '.join(triggers)}: a rate OR a schedule OR every Nth")
        allowed = set(COMMON_OPTIONS) | {"kind"} | set(KIND_OPTIONS[self.kind])
        # A full dump of a rule carries every field at its default; only values that would do something count.
        foreign = sorted(
            name
            for name in set(self.model_fields_set) - allowed
            if getattr(self, name) != type(self).model_fields[name].default
        )
        if foreign:
            raise ValueError(
                f"{', '.join(foreign)} do(es) not apply to {self.kind}; "
                f"{self.kind} takes {', '.join(KIND_OPTIONS[self.kind])} besides {', '.join(COMMON_OPTIONS)}"
            )
        if self.kind == "page_drift" and self.insert == 0 and self.modify == 0:
            raise ValueError("page_drift with insert=0 and modify=0 would change nothing")
        if self.style == "wordpress" and self.kind != "500":
            raise ValueError("style=wordpress is WordPress' critical error page, which is a 500")
        return self

    def matches(self, request: RequestInfo) -> bool:
        """Whether this rule counts the request (its match options, and page_drift's own condition)."""
        if self.methods is not None and request.method not in self.methods:
            return False
        if self.path is not None and self.path not in request.target:
            return False
        return self.kind != "page_drift" or request.is_later_orders_page

    def to_spec(self) -> str:
        """The rule in the command-line syntax :func:`parse_fault_spec` reads."""
        items: list[str] = []
        if self.kind == "latency":
            items.append(f"{self.ms}+{self.jitter}" if self.jitter else str(self.ms))
        if self.rate is not None:
            items.append(f"rate={self.rate:g}")
        if self.schedule is not None:
            items.append("schedule=" + "+".join(str(n) for n in self.schedule))
        if self.every is not None:
            items.append(f"every={self.every}")
        for name in ("path", "seed", *KIND_OPTIONS[self.kind]):
            if name in ("ms", "jitter") or name not in self.model_fields_set:
                continue
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, bool):
                value = str(value).lower()
            elif name == "path":
                value = quote(value, safe="/?&=:+[]")  # commas separate items
            items.append(f"{name}={value}")
        if self.methods is not None:
            items.append("methods=" + "+".join(self.methods))
        return self.kind + ("=" + ",".join(items) if items else "")


class FaultPlanSpec(BaseModel):
    """The JSON shape of a plan: ``{"seed": 7, "rules": [{"kind": "429", "rate": 0.1}, "reset=schedule:3,7"]}``.

    Rules may be objects or command-line specs."""

    model_config = ConfigDict(extra="forbid")

    seed: int = 0
    rules: list[FaultRule] = Field(default_factory=list)

    @field_validator("rules", mode="before")
    @classmethod
    def _specs(cls, value: Any) -> Any:
        if isinstance(value, list):
            return [parse_fault_spec(item) if isinstance(item, str) else item for item in value]
        return value


# -- the command-line syntax ----------------------------------------------------------------------------------

# One line of help for the command line's --fault option.
FAULT_SPEC_HELP = (
    "write KIND[=ITEM,ITEM…], e.g. latency=50+20, 429=0.1,retry_after=30, reset=schedule:3,7, 503=every:10, "
    "timeout_after_write=schedule:1,path=/orders,methods=POST,hold=5, drift=insert=2,modify=1"
)


def parse_fault_spec(spec: str) -> FaultRule:
    """Parse a ``--fault`` option into a rule.

    Syntax: ``KIND[=ITEM,ITEM…]`` where KIND is one of latency, 429, 500, 502, 503, page_drift (or drift),
    reset, truncate, trickle, timeout_after_write (or lost_write), and each ITEM is

    * a trigger: a probability ``0.1`` (or ``rate:0.1``), ``schedule:3,7`` (the 3rd and 7th matching requests;
      bare numbers after it continue the list), ``every:5``, or ``always`` (the default);
    * for latency, ``MS`` or ``MS+JITTER`` in milliseconds (``latency=50+20``);
    * an option ``name=value``: ``rate``, ``every``, ``schedule`` (``3+7``), ``seed``, ``path`` (substring of
      path and query), ``methods`` (``GET+POST``) and the kind's own: latency ``ms``, ``jitter``; errors
      ``retry_after`` (s), ``style`` (nginx, cloudflare, wordpress for 500), ``after_write`` (true/false);
      page_drift ``insert``, ``modify``; reset ``after_bytes``; truncate ``keep`` (fraction 0–1); trickle
      ``chunk`` (bytes), ``delay`` (ms); timeout_after_write ``hold`` (s).

    Raises :class:`FaultSpecError` (a ValueError) naming the part that is wrong.
    """
    text = spec.strip()
    if not text:
        raise FaultSpecError(f"empty fault spec; {FAULT_SPEC_HELP}")
    kind_text, _, rest = text.partition("=")
    kind = KIND_ALIASES.get(kind_text.strip().lower(), kind_text.strip().lower())
    if kind not in KINDS:
        raise FaultSpecError(
            f"unknown fault kind {kind_text.strip()!r} in {spec!r}; known kinds: "
            f"{', '.join(KINDS)} (aliases: {', '.join(f'{a}={k}' for a, k in KIND_ALIASES.items())})"
        )
    fields: dict[str, Any] = {"kind": kind}
    in_schedule = False
    for raw_item in rest.split(",") if rest else []:
        item = raw_item.strip()
        if not item:
            raise FaultSpecError(f"empty item in {spec!r} (two commas in a row?); {FAULT_SPEC_HELP}")
        if in_schedule and item.isdigit():
            fields["schedule"].append(int(item))
            continue
        in_schedule = False
        name, sep, value = item.partition("=")
        colon_name, colon, colon_value = item.partition(":")
        if not sep and colon:  # trigger shorthand: rate:0.1, every:5, schedule:3,7
            name, value, sep = colon_name, colon_value, ":"
        name = name.strip().lower()
        if sep:
            if name == "schedule":
                fields["schedule"] = [_int(n, "schedule", spec) for n in value.replace("+", ",").split(",") if n]
                in_schedule = True
            elif name in ("rate", "keep", "hold"):
                fields[name] = _float(value, name, spec)
            elif name in (
                "every",
                "seed",
                "ms",
                "jitter",
                "retry_after",
                "insert",
                "modify",
                "after_bytes",
                "chunk",
                "delay",
            ):
                fields[name] = _int(value, name, spec)
            elif name == "after_write":
                fields[name] = _bool(value, spec)
            elif name in ("path", "style", "methods"):
                fields[name] = unquote(value) if name == "path" else value
            else:
                options = ", ".join((*COMMON_OPTIONS, *KIND_OPTIONS[kind]))
                raise FaultSpecError(f"unknown option {name!r} in {spec!r}; {kind} takes {options}")
        elif item.lower() == "always":
            continue
        elif kind == "latency" and not fields.keys() & {"ms"}:
            ms, plus, jitter = item.partition("+")
            fields["ms"] = _int(ms, "latency milliseconds", spec)
            if plus:
                fields["jitter"] = _int(jitter, "latency jitter", spec)
        else:
            rate = _float(item, "rate", spec)
            if rate > 1:
                raise FaultSpecError(
                    f"{item!r} in {spec!r} is not a probability between 0 and 1; "
                    f"for request numbers write schedule:{item} or every:{item}"
                )
            fields["rate"] = rate
    try:
        return FaultRule.model_validate(fields)
    except ValidationError as error:
        problems = "; ".join(
            (".".join(str(p) for p in e["loc"]) + ": " if e["loc"] else "") + e["msg"] for e in error.errors()
        )
        raise FaultSpecError(f"invalid fault {spec!r}: {problems}") from None


def _int(value: str, what: str, spec: str) -> int:
    try:
        return int(value.strip())
    except ValueError:
        raise FaultSpecError(f"{what} must be a whole number, got {value!r} in {spec!r}") from None


def _float(value: str, what: str, spec: str) -> float:
    try:
        return float(value.strip())
    except ValueError:
        raise FaultSpecError(f"{what} must be a number, got {value!r} in {spec!r}") from None


def _bool(value: str, spec: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise FaultSpecError(f"after_write must be true or false, got {value!r} in {spec!r}")


# -- the plan at work -----------------------------------------------------------------------------------------


@dataclass
class RequestInfo:
    """What the rules look at: method, target (path?query), and whether it asks for a later page of orders."""

    method: str
    target: str
    is_later_orders_page: bool

    @classmethod
    def from_scope(cls, scope: Scope) -> RequestInfo:
        path = scope.get("path", "")
        query = scope.get("query_string", b"").decode("latin-1")
        params = dict(parse_qsl(query, keep_blank_values=True))
        route = params.get("rest_route") or (path.split("/wp-json", 1)[1] if "/wp-json" in path else "")
        try:
            page = int(params.get("page", "1"))
        except ValueError:
            page = 1
        try:  # a client reading by offset (overlapping reads) asks for later pages too
            offset = int(params.get("offset", "0"))
        except ValueError:
            offset = 0
        method = scope.get("method", "GET").upper()
        later = method == "GET" and route.rstrip("/").endswith("/orders") and (page > 1 or offset > 0)
        return cls(method, path + ("?" + unquote(query) if query else ""), later)


@dataclass
class _RuleState:
    rule: FaultRule
    rng: random.Random
    matched: int = 0
    injected: int = 0

    def fires(self) -> bool:
        """Count one matching request and decide whether the fault hits it."""
        self.matched += 1
        rule = self.rule
        if rule.schedule is not None:
            return self.matched in rule.schedule
        if rule.every is not None:
            return self.matched % rule.every == 0
        if rule.rate is not None:
            return self.rng.random() < rule.rate
        return True


@dataclass
class _Captured:
    start: Message = field(default_factory=dict)
    body: bytearray = field(default_factory=bytearray)

    @property
    def headers(self) -> list[tuple[bytes, bytes]]:
        return list(self.start.get("headers", []))


class FaultPlan:
    """The active fault rules of a sandbox, their random generators and the counts of injected faults."""

    def __init__(self, rules: Iterable[FaultRule] = (), seed: int = 0, store: Store | None = None) -> None:
        # page_drift writes orders into this store.
        self.store = store
        self.seed = seed
        self.rules: list[FaultRule] = []
        self.counters: Counter[str] = Counter()
        self._states: list[_RuleState] = []
        self.replace(rules, seed)

    @classmethod
    def from_json(cls, data: Any, store: Store | None = None) -> FaultPlan:
        """A plan from its JSON shape (see :class:`FaultPlanSpec`) or a bare list of rules."""
        spec = FaultPlanSpec.model_validate({"rules": data} if isinstance(data, list) else data)
        return cls(spec.rules, spec.seed, store)

    def replace(self, rules: Iterable[FaultRule], seed: int | None = None) -> None:
        """Install new rules; counts and random generators start afresh, so a run can be repeated exactly."""
        if seed is not None:
            self.seed = seed
        self.rules = list(rules)
        self.counters = Counter()
        self._states = [
            _RuleState(rule, random.Random(rule.seed if rule.seed is not None else f"{self.seed}/{i}/{rule.kind}"))
            for i, rule in enumerate(self.rules)
        ]

    def clear(self) -> None:
        self.replace([])

    def to_json(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "rules": [rule.model_dump(mode="json", exclude_defaults=True) for rule in self.rules],
        }

    def stats(self) -> dict[str, Any]:
        """Injected faults per kind, and per rule how many requests it matched and hit."""
        return {
            "injected": {kind: self.counters[kind] for kind in KINDS if self.counters[kind]},
            "rules": [{"spec": s.rule.to_spec(), "matched": s.matched, "injected": s.injected} for s in self._states],
        }

    def _hit(self, state: _RuleState) -> None:
        state.injected += 1
        self.counters[state.rule.kind] += 1

    async def run(self, scope: Scope, receive: Receive, send: Send, app: App) -> None:
        """Serve one request through ``app`` with whatever faults the rules decide for it."""
        if not self._states:
            await app(scope, receive, send)
            return
        request = RequestInfo.from_scope(scope)
        fired = [state for state in self._states if state.rule.matches(request) and state.fires()]
        if not fired:
            await app(scope, receive, send)
            return

        for state in fired:
            if state.rule.kind == "latency":
                self._hit(state)
                rule = state.rule
                await asyncio.sleep((rule.ms + state.rng.uniform(0, rule.jitter)) / 1000)

        error = next((s for s in fired if s.rule.kind in ERROR_KINDS), None)
        if error is not None:
            self._hit(error)
            if error.rule.after_write:
                await _capture(app, scope, receive)
            status, headers, body = error_page(error.rule)
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": b"" if request.method == "HEAD" else body})
            return

        drift = next((s for s in fired if s.rule.kind == "page_drift"), None)
        if drift is not None:
            self._hit(drift)
            store = self.store
            if store is None:
                raise RuntimeError("page_drift needs the sandbox store: create the FaultPlan with store=…")
            apply_page_drift(store, drift.rule, drift.rng)

        shaping = next((s for s in fired if s.rule.kind in RESPONSE_KINDS), None)
        if shaping is None:
            await app(scope, receive, send)
            return
        self._hit(shaping)
        rule = shaping.rule
        captured = await _capture(app, scope, receive)
        body = bytes(captured.body)
        if rule.kind == "reset":
            sent = min(rule.after_bytes if rule.after_bytes is not None else len(body) // 2, max(len(body) - 1, 0))
            await send({**captured.start, "type": "http.response.start"})
            await send({"type": "http.response.body", "body": body[:sent], "more_body": True})
            raise ConnectionDropped(f"sandbox fault reset: connection dropped after {sent} of {len(body)} body bytes")
        if rule.kind == "truncate":
            kept = body[: int(len(body) * rule.keep)]
            headers = [(k, v) for k, v in captured.headers if k.lower() != b"content-length"]
            headers.append((b"content-length", str(len(kept)).encode()))
            await send({**captured.start, "type": "http.response.start", "headers": headers})
            await send({"type": "http.response.body", "body": kept})
            return
        if rule.kind == "trickle":
            await send({**captured.start, "type": "http.response.start"})
            # A client that gives up closes the socket; stop trickling then rather than sleep through the body.
            gone = asyncio.ensure_future(_disconnected(receive))
            try:
                for offset in range(0, len(body), rule.chunk):
                    if offset:
                        await asyncio.sleep(rule.delay / 1000)
                    if gone.done():
                        return
                    piece = body[offset : offset + rule.chunk]
                    await send({"type": "http.response.body", "body": piece, "more_body": True})
                await send({"type": "http.response.body", "body": b""})
            finally:
                gone.cancel()
            return
        # timeout_after_write: the write is done; hold the answer until the client gives up or `hold` passes.
        if await _client_left_within(receive, rule.hold):
            return  # nobody is waiting any more: nothing to send, nothing for the server to log
        await send({**captured.start, "type": "http.response.start"})
        raise ResponseWithheld(f"sandbox fault timeout_after_write: answer held back {rule.hold:g}s, then dropped")


async def _capture(app: App, scope: Scope, receive: Receive) -> _Captured:
    """Run the app to completion and keep its response instead of sending it."""
    captured = _Captured()

    async def keep(message: Message) -> None:
        if message["type"] == "http.response.start":
            captured.start = dict(message)
        elif message["type"] == "http.response.body":
            captured.body += message.get("body", b"")

    await app(scope, receive, keep)
    return captured


async def _disconnected(receive: Receive) -> None:
    """Return once the server reports that the client went away (the request body is read and dropped)."""
    while (await receive())["type"] != "http.disconnect":
        pass


async def _client_left_within(receive: Receive, seconds: float) -> bool:
    """Wait up to ``seconds`` for the client to disconnect (it times out and closes the socket)."""
    try:
        await asyncio.wait_for(_disconnected(receive), seconds)
    except TimeoutError:
        return False
    return True


# -- error pages ----------------------------------------------------------------------------------------------

_REASONS = {
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Temporarily Unavailable",
}
_CLOUDFLARE = {
    429: ("1015", "You are being rate limited", "The owner of this website has banned you temporarily."),
    500: ("500", "Internal server error", "There is an unknown error on the origin web server."),
    502: ("502", "Bad gateway", "The web server reported a bad gateway error."),
    503: ("503", "Service unavailable", "The web server is not available right now."),
}


def error_page(rule: FaultRule) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """Status, headers and HTML body of the page a host or WordPress answers instead of the REST API."""
    status = int(rule.kind)
    style = rule.style or ("wordpress" if status == 500 else "nginx")
    headers: list[tuple[bytes, bytes]] = []
    if style == "wordpress":
        body = (
            '<!DOCTYPE html>\n<html lang="en-US">\n<head>\n\t<meta http-equiv="Content-Type" '
            'content="text/html; charset=utf-8" />\n\t<title>WordPress &rsaquo; Error</title>\n</head>\n'
            '<body id="error-page">\n\t<div class="wp-die-message"><p>There has been a critical error on this '
            'website.</p><p><a href="https://wordpress.org/documentation/article/faq-troubleshooting/">Learn more '
            "about troubleshooting WordPress.</a></p></div></body>\n</html>\n"
        )
        headers.append((b"content-type", b"text/html; charset=UTF-8"))
    elif style == "cloudflare":
        code, title, detail = _CLOUDFLARE[status]
        ray = secrets.token_hex(8)
        body = (
            f'<!DOCTYPE html>\n<html lang="en-US">\n<head><title>Error {code}</title></head>\n<body>\n'
            f'<div id="cf-wrapper"><h1><span class="cf-error-type">Error</span> <span class="cf-error-code">{code}'
            f"</span></h1><h2>{title}</h2><p>{detail}</p>"
            f'<p>Cloudflare Ray ID: <strong class="font-semibold">{ray}</strong></p></div>\n</body>\n</html>\n'
        )
        headers += [(b"content-type", b"text/html; charset=UTF-8"), (b"cf-ray", f"{ray}-FRA".encode())]
    else:
        line = f"{status} {_REASONS[status]}"
        body = (
            f"<html>\r\n<head><title>{line}</title></head>\r\n<body>\r\n<center><h1>{line}</h1></center>\r\n"
            "<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
        )
        headers.append((b"content-type", b"text/html"))
    retry_after = rule.retry_after
    if retry_after is None and status == 429:
        retry_after = DEFAULT_RETRY_AFTER_429
    if retry_after is not None:
        headers.append((b"retry-after", str(retry_after).encode()))
    encoded = body.encode()
    headers.append((b"content-length", str(len(encoded)).encode()))
    return status, headers, encoded


# -- data changing between page requests ----------------------------------------------------------------------


def apply_page_drift(store: Store, rule: FaultRule, rng: random.Random) -> tuple[list[int], list[int]]:
    """Insert ``rule.insert`` orders and change ``rule.modify`` existing ones, as shoppers and staff do while a
    client pages through the order list. Returns the ids inserted and modified."""
    from woobridge.sandbox import orders

    with store.lock:
        existing = sorted(int(order["id"]) for order in store.all("order"))
        inserted: list[int] = []
        for _ in range(rule.insert):
            inserted.append(int(_create_drift_order(store, rng)["id"]))
        modified = sorted(rng.sample(existing, min(rule.modify, len(existing))))
        for order_id in modified:
            order = store.get("order", order_id)
            if order is not None:
                payload = {"customer_note": f"Changed while a client was paging through orders ({store.now_iso()})"}
                orders.update_order(store, order, payload)
    return inserted, modified


def _create_drift_order(store: Store, rng: random.Random) -> Obj:
    """A guest order for one unit of an existing simple product, or with a fee line when there is none."""
    from woobridge.sandbox import orders
    from woobridge.sandbox.wp import RestError

    number = rng.randrange(10_000, 100_000)
    base: dict[str, Any] = {
        "status": "processing",
        "billing": {"first_name": "Drift", "last_name": f"Shopper {number}", "email": f"drift{number}@example.com"},
    }
    products = sorted(
        (p for p in store.all("product") if p.get("type", "simple") == "simple" and p.get("status") == "publish"),
        key=lambda p: int(p["id"]),
    )
    attempts: list[dict[str, Any]] = []
    if products:
        product = rng.choice(products)
        attempts.append({**base, "line_items": [{"product_id": int(product["id"]), "quantity": 1}]})
    attempts.append({**base, "fee_lines": [{"name": "Sandbox drift fee", "total": "5.00"}]})
    last: RestError | None = None
    for payload in attempts:
        try:
            return orders.create_order(store, payload)
        except RestError as error:
            last = error
    raise RuntimeError(f"page_drift could not create an order: {last}")


__all__: Sequence[str] = (
    "FAULT_SPEC_HELP",
    "ConnectionDropped",
    "FaultPlan",
    "FaultPlanSpec",
    "FaultRule",
    "FaultSpecError",
    "ResponseWithheld",
    "apply_page_drift",
    "error_page",
    "parse_fault_spec",
)
