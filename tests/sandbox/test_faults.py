"""Fault injection: what a client sees when the network or the host misbehaves, in process and over real TCP."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import uvicorn

from woobridge.sandbox import orders
from woobridge.sandbox.app import Sandbox
from woobridge.sandbox.faults import (
    FaultPlan,
    FaultPlanSpec,
    FaultRule,
    FaultSpecError,
    apply_page_drift,
    parse_fault_spec,
)
from woobridge.sandbox.state import Settings, Store
from woobridge.sandbox.testing import IN_PROCESS_HOME, Keys

INDEX = "/wp-json/"  # the REST index: a large JSON answer that needs no credentials

needs_orders = pytest.mark.skipif(not hasattr(orders, "create_order"), reason="orders.create_order is not written yet")


def plan(*specs: str, seed: int = 0) -> FaultPlan:
    return FaultPlan([parse_fault_spec(s) for s in specs], seed=seed)


class WriteCounter:
    """A tiny ASGI app that records every write it completes, to tell "the write happened" from "it did not"."""

    def __init__(self) -> None:
        self.writes = 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        while (await receive()).get("more_body"):
            pass
        if scope["method"] == "POST":
            self.writes += 1
        body = json.dumps({"id": self.writes, "status": "processing", "padding": "x" * 400}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 201 if scope["method"] == "POST" else 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})


class Faulty:
    """``plan`` wrapped around an app, as the sandbox does it."""

    def __init__(self, fault_plan: FaultPlan, app: Any) -> None:
        self.plan = fault_plan
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        await self.plan.run(scope, receive, send, self.app)


@contextlib.contextmanager
def served_over_tcp(app: Any) -> Iterator[str]:
    """Run ``app`` under uvicorn on 127.0.0.1 (a free port) in a background thread; yield its base URL.

    Proxy headers are trusted so that a test can say ``X-Forwarded-Proto: https`` and use Basic auth over
    plain TCP, as a TLS-terminating proxy would."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app, log_level="critical", lifespan="off", proxy_headers=True, forwarded_allow_ips="*", access_log=False
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


# -- the spec syntax ------------------------------------------------------------------------------------------


def test_cli_specs_parse_into_rules() -> None:
    latency = parse_fault_spec("latency=50+20")
    assert (latency.kind, latency.ms, latency.jitter, latency.rate) == ("latency", 50, 20, None)

    assert parse_fault_spec("429=0.1").rate == 0.1
    assert parse_fault_spec("429=rate:0.1,retry_after=30").retry_after == 30
    assert parse_fault_spec("reset=schedule:3,7").schedule == (3, 7)
    assert parse_fault_spec("reset=schedule=7+3").schedule == (3, 7)
    assert parse_fault_spec("503=every:5,style=cloudflare").every == 5

    lost = parse_fault_spec("lost_write=schedule:1,path=/orders,methods=POST+put,hold=5")
    assert lost.kind == "timeout_after_write"
    assert (lost.path, lost.methods, lost.hold) == ("/orders", ("POST", "PUT"), 5)

    drift = parse_fault_spec("drift=insert=2,modify=0")
    assert (drift.kind, drift.insert, drift.modify) == ("page_drift", 2, 0)

    always = parse_fault_spec("truncate")
    assert (always.rate, always.schedule, always.every) == (None, None, None)
    assert parse_fault_spec("500=after_write=yes,seed=3").after_write is True


@pytest.mark.parametrize(
    ("spec", "says"),
    [
        ("", "empty fault spec"),
        ("teapot=0.1", "unknown fault kind 'teapot'"),
        ("429=3", "for request numbers write schedule:3 or every:3"),
        ("429=0.1,hold=4", "hold do(es) not apply to 429"),
        ("reset=0.5,every=2", "give one trigger, not rate and every"),
        ("latency=fast", "latency milliseconds must be a whole number"),
        ("502=0.1,colour=red", "unknown option 'colour'"),
        ("reset=methods=FETCH", "unknown method(s) FETCH"),
        ("trickle=chunk=0", "chunk: Input should be greater than or equal to 1"),
        ("503=style=wordpress", "style=wordpress is WordPress' critical error page"),
        ("reset=schedule:0", "schedule numbers count matching requests from 1"),
        ("429=0.1,,every=2", "two commas in a row"),
    ],
)
def test_bad_specs_say_what_is_wrong(spec: str, says: str) -> None:
    with pytest.raises(FaultSpecError) as raised:
        parse_fault_spec(spec)
    assert says in str(raised.value)


@pytest.mark.parametrize(
    "spec",
    [
        "latency=50+20,rate=0.5,path=/orders",
        "429=schedule:2,5,retry_after=7,style=cloudflare",
        "500=every:3,after_write=true",
        "reset=after_bytes=10,methods=GET+POST",
        "truncate=keep=0.25,seed=9",
        "trickle=chunk=8,delay=5",
        "timeout_after_write=hold=0.5,path=/a%2Cb",
        "drift=insert=3,modify=2",
    ],
)
def test_rules_print_back_to_the_same_spec(spec: str) -> None:
    rule = parse_fault_spec(spec)
    assert parse_fault_spec(rule.to_spec()) == rule


def test_a_plan_reads_from_json_with_objects_and_specs() -> None:
    spec = FaultPlanSpec.model_validate(
        {"seed": 4, "rules": [{"kind": 429, "rate": 0.5}, "reset=schedule:2", {"kind": "drift", "insert": 2}]}
    )
    assert [r.kind for r in spec.rules] == ["429", "reset", "page_drift"]
    fault_plan = FaultPlan.from_json(spec.model_dump())
    assert fault_plan.seed == 4
    assert fault_plan.to_json()["rules"][1] == {"kind": "reset", "schedule": [2]}
    with pytest.raises(ValueError, match="kind"):
        FaultRule.model_validate({"kind": "meteor"})


# -- triggers, matching, seeds --------------------------------------------------------------------------------


async def test_a_schedule_hits_exactly_the_numbered_matching_requests(sandbox: Sandbox) -> None:
    sandbox.faults = plan("503=schedule:2,5")
    transport = httpx.ASGITransport(app=sandbox.app)
    async with httpx.AsyncClient(transport=transport, base_url=IN_PROCESS_HOME) as client:
        statuses = [(await client.get(INDEX)).status_code for _ in range(6)]
    assert statuses == [200, 503, 200, 200, 503, 200]
    assert sandbox.faults.stats()["injected"] == {"503": 2}


async def test_every_nth_and_the_match_count_only_matching_requests() -> None:
    counter = WriteCounter()
    app = Faulty(plan("502=every:2,path=/orders,methods=POST"), counter)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://shop") as client:
        seen = []
        for method, path in [("POST", "/orders"), ("GET", "/orders"), ("POST", "/products"), ("POST", "/orders")] * 2:
            seen.append((await client.request(method, path)).status_code)
    # Only POSTs to /orders count: the 2nd and 4th of them get the 502.
    assert seen == [201, 200, 201, 502, 201, 200, 201, 502]
    assert app.plan.stats()["rules"] == [{"spec": "502=every=2,path=/orders,methods=POST", "matched": 4, "injected": 2}]


async def test_a_rate_is_reproducible_from_its_seed() -> None:
    async def pattern(seed: int) -> list[int]:
        app = Faulty(plan("429=0.3", seed=seed), WriteCounter())
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://shop") as client:
            return [(await client.get("/")).status_code for _ in range(200)]

    first, again, other = await pattern(1), await pattern(1), await pattern(2)
    assert first == again
    assert first != other
    assert 40 <= first.count(429) <= 80  # about 30 %


async def test_faults_leave_the_admin_endpoint_alone(sandbox: Sandbox, asgi_client: httpx.AsyncClient) -> None:
    sandbox.faults = plan("reset")
    answer = await asgi_client.get("/__sandbox__/state", headers={"X-Sandbox-Token": sandbox.admin_token})
    assert answer.status_code == 200
    with pytest.raises(httpx.RemoteProtocolError):
        await asgi_client.get(INDEX)


# -- latency and error pages ----------------------------------------------------------------------------------


async def test_latency_delays_each_request_by_ms_plus_jitter(sandbox: Sandbox, asgi_client: httpx.AsyncClient) -> None:
    sandbox.faults = plan("latency=60+40")
    for _ in range(3):
        started = time.monotonic()
        assert (await asgi_client.get(INDEX)).status_code == 200
        assert 0.06 <= time.monotonic() - started < 0.6
    assert sandbox.faults.stats()["injected"] == {"latency": 3}


async def test_429_is_an_html_page_with_retry_after(sandbox: Sandbox, asgi_client: httpx.AsyncClient) -> None:
    sandbox.faults = plan("429")
    answer = await asgi_client.get(INDEX)
    assert answer.status_code == 429
    assert answer.headers["retry-after"] == "10"
    assert answer.headers["content-type"].startswith("text/html")
    assert "<title>429 Too Many Requests</title>" in answer.text
    with pytest.raises(ValueError):
        answer.json()

    sandbox.faults = plan("429=retry_after=120,style=cloudflare")
    answer = await asgi_client.get(INDEX)
    assert answer.headers["retry-after"] == "120"
    assert "Error 1015" in answer.text
    assert "cf-ray" in answer.headers


@pytest.mark.parametrize(
    ("spec", "status", "text", "retry_after"),
    [
        ("500", 500, "There has been a critical error on this website.", None),
        ("500=style=nginx", 500, "<center><h1>500 Internal Server Error</h1></center>", None),
        ("502", 502, "<title>502 Bad Gateway</title>", None),
        ("502=style=cloudflare", 502, "Bad gateway", None),
        ("503", 503, "503 Service Temporarily Unavailable", None),
        ("503=retry_after=300", 503, "503 Service Temporarily Unavailable", "300"),
    ],
)
async def test_server_errors_are_html_pages(
    sandbox: Sandbox, asgi_client: httpx.AsyncClient, spec: str, status: int, text: str, retry_after: str | None
) -> None:
    sandbox.faults = plan(spec)
    answer = await asgi_client.get(INDEX)
    assert answer.status_code == status
    assert text in answer.text
    assert answer.headers.get("retry-after") == retry_after
    assert int(answer.headers["content-length"]) == len(answer.content)


async def test_an_error_page_before_the_write_leaves_the_store_alone_and_after_write_does_not() -> None:
    counter = WriteCounter()
    app = Faulty(plan("502"), counter)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://shop") as client:
        assert (await client.post("/orders", json={})).status_code == 502
        assert counter.writes == 0
        app.plan = plan("502=after_write=true")
        assert (await client.post("/orders", json={})).status_code == 502
        assert counter.writes == 1


# -- broken bodies --------------------------------------------------------------------------------------------


async def test_truncated_json_is_a_complete_http_answer_with_invalid_json(
    sandbox: Sandbox, asgi_client: httpx.AsyncClient
) -> None:
    whole = (await asgi_client.get(INDEX)).content
    sandbox.faults = plan("truncate=keep=0.3")
    answer = await asgi_client.get(INDEX)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/json")
    assert int(answer.headers["content-length"]) == len(answer.content) == int(len(whole) * 0.3)
    assert whole.startswith(answer.content)
    with pytest.raises(json.JSONDecodeError):
        answer.json()


async def test_a_reset_in_process_raises_what_httpx_raises_over_tcp(
    sandbox: Sandbox, asgi_client: httpx.AsyncClient
) -> None:
    sandbox.faults = plan("reset=schedule:1")
    with pytest.raises(httpx.RemoteProtocolError, match="connection dropped after"):
        await asgi_client.get(INDEX)
    assert (await asgi_client.get(INDEX)).status_code == 200


def test_a_reset_over_tcp_is_an_incomplete_body(sandbox: Sandbox) -> None:
    sandbox.faults = plan("reset=after_bytes=100")
    with served_over_tcp(sandbox.app) as base, httpx.Client(base_url=base, timeout=5) as client:
        with pytest.raises(httpx.RemoteProtocolError, match="peer closed connection without sending complete"):
            client.get(INDEX)
        # Streaming, the client has the status and headers before the drop.
        with client.stream("GET", INDEX) as response:
            assert response.status_code == 200
            received = bytearray()
            with pytest.raises(httpx.RemoteProtocolError):
                for chunk in response.iter_raw():
                    received += chunk
            assert len(received) == 100
        assert sandbox.faults.stats()["injected"] == {"reset": 2}


def test_a_trickled_body_arrives_whole_but_slowly_over_tcp(sandbox: Sandbox) -> None:
    with served_over_tcp(sandbox.app) as base:
        whole = httpx.get(base + INDEX).content
        chunk = max(len(whole) // 8, 1)
        sandbox.faults = plan(f"trickle=chunk={chunk},delay=40")
        started = time.monotonic()
        # httpx's read timeout is per read, so a trickle slower in total than the timeout still gets through.
        answer = httpx.get(base + INDEX, timeout=0.2)
        elapsed = time.monotonic() - started
    assert answer.content == whole
    pieces = -(-len(whole) // chunk)
    assert elapsed >= (pieces - 1) * 0.04
    assert elapsed > 0.2


def test_a_trickle_stops_when_the_client_gives_up(sandbox: Sandbox) -> None:
    sandbox.faults = plan("trickle=chunk=1,delay=50")  # the index would take minutes
    with served_over_tcp(sandbox.app) as base, httpx.Client(base_url=base, timeout=5) as client:
        with client.stream("GET", INDEX) as response:
            first = next(response.iter_raw())
        assert first == b"{"
        stopping = time.monotonic()
    assert time.monotonic() - stopping < 3


# -- the write that happened while the client timed out -------------------------------------------------------


async def test_timeout_after_write_in_process_is_a_read_timeout_after_the_write() -> None:
    counter = WriteCounter()
    app = Faulty(plan("timeout_after_write=hold=0.05,methods=POST"), counter)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://shop") as client:
        with pytest.raises(httpx.ReadTimeout):
            await client.post("/orders", json={"line_items": []})
        assert counter.writes == 1
        assert (await client.get("/orders")).status_code == 200  # GETs are not matched


def test_timeout_after_write_over_tcp() -> None:
    counter = WriteCounter()
    app = Faulty(plan("timeout_after_write=hold=3"), counter)
    with served_over_tcp(app) as base:
        started = time.monotonic()
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(base + "/orders", json={}, timeout=0.3)
        assert time.monotonic() - started < 1
        assert counter.writes == 1

        # A client more patient than the hold gets the status line and headers, then the drop.
        app.plan = plan("timeout_after_write=hold=0.2")
        with pytest.raises(httpx.RemoteProtocolError):
            httpx.post(base + "/orders", json={}, timeout=5)
        assert counter.writes == 2


def test_the_server_stops_holding_once_the_client_gives_up() -> None:
    counter = WriteCounter()
    app = Faulty(plan("timeout_after_write=hold=30,schedule:1"), counter)
    with served_over_tcp(app) as base:
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(base + "/orders", json={}, timeout=0.2)
        assert httpx.get(base + "/orders", timeout=2).status_code == 200
        stopping = time.monotonic()
    # The held request ended when the client closed, so the server shuts down without waiting out the 30 s.
    assert time.monotonic() - stopping < 3
    assert counter.writes == 1


@needs_orders
async def test_timeout_after_write_creates_the_order_the_client_never_hears_about(
    sandbox: Sandbox, keys: Keys, asgi_client: httpx.AsyncClient
) -> None:
    auth = (keys.admin.consumer_key, keys.admin.consumer_secret)
    sandbox.faults = plan("lost_write=hold=0.05,methods=POST,path=/orders")
    order = {"status": "processing", "fee_lines": [{"name": "Handling", "total": "5.00"}]}
    with pytest.raises(httpx.ReadTimeout):
        await asgi_client.post("/wp-json/wc/v3/orders", json=order, auth=auth)
    listed = await asgi_client.get("/wp-json/wc/v3/orders", auth=auth)
    assert listed.status_code == 200
    assert len(listed.json()) == 1


# -- data changing between page requests ----------------------------------------------------------------------


def _some_orders(store: Store, count: int) -> list[int]:
    with store.lock:
        return [
            int(orders.create_order(store, {"fee_lines": [{"name": f"Fee {n}", "total": "1.00"}]})["id"])
            for n in range(count)
        ]


@needs_orders
def test_page_drift_inserts_and_modifies_orders() -> None:
    import random

    store = Store(Settings(home_url=IN_PROCESS_HOME))
    before = _some_orders(store, 5)
    inserted, modified = apply_page_drift(store, parse_fault_spec("drift=insert=2,modify=2"), random.Random(1))
    assert len(inserted) == 2
    assert set(inserted).isdisjoint(before)
    assert len(modified) == 2
    assert set(modified) <= set(before)
    assert len(store.objects["order"]) == 7
    for order_id in modified:
        assert "Changed while a client was paging" in store.objects["order"][order_id]["customer_note"]


@needs_orders
async def test_page_drift_changes_the_list_between_page_requests(
    sandbox: Sandbox, keys: Keys, asgi_client: httpx.AsyncClient
) -> None:
    auth = (keys.admin.consumer_key, keys.admin.consumer_secret)
    _some_orders(sandbox.store, 4)
    sandbox.faults = FaultPlan([parse_fault_spec("drift=insert=2,modify=0")], store=sandbox.store)
    first = await asgi_client.get("/wp-json/wc/v3/orders", params={"per_page": 2, "page": 1}, auth=auth)
    assert first.headers["x-wp-total"] == "4"  # page 1 is left alone
    second = await asgi_client.get("/wp-json/wc/v3/orders", params={"per_page": 2, "page": 2}, auth=auth)
    assert second.headers["x-wp-total"] == "6"
    # Newest first: the two new orders pushed page 1's orders onto page 2, so the client sees them twice.
    assert {o["id"] for o in first.json()} == {o["id"] for o in second.json()}
    assert sandbox.faults.stats()["injected"] == {"page_drift": 1}


def test_drift_only_matches_later_pages_of_the_order_list() -> None:
    from woobridge.sandbox.faults import RequestInfo

    def info(method: str, path: str, query: str = "") -> RequestInfo:
        return RequestInfo.from_scope({"method": method, "path": path, "query_string": query.encode()})

    rule = parse_fault_spec("drift")
    assert rule.matches(info("GET", "/wp-json/wc/v3/orders", "page=2"))
    assert rule.matches(info("GET", "/", "rest_route=/wc/v3/orders&page=3"))
    assert not rule.matches(info("GET", "/wp-json/wc/v3/orders", "page=1"))
    assert not rule.matches(info("GET", "/wp-json/wc/v3/orders"))
    assert not rule.matches(info("GET", "/wp-json/wc/v3/orders/12/notes", "page=2"))
    assert not rule.matches(info("POST", "/wp-json/wc/v3/orders", "page=2"))


def test_the_plan_runs_on_the_event_loop_without_blocking_other_requests() -> None:
    """A held request must not stall the server: others are answered meanwhile."""
    counter = WriteCounter()
    app = Faulty(plan("timeout_after_write=hold=1,methods=POST"), counter)

    async def scenario(base: str) -> tuple[type[BaseException] | None, float]:
        async with httpx.AsyncClient(base_url=base) as client:
            held = asyncio.ensure_future(client.post("/orders", json={}, timeout=0.5))
            await asyncio.sleep(0.05)
            started = time.monotonic()
            assert (await client.get("/orders")).status_code == 200
            quick = time.monotonic() - started
            try:
                await held
            except httpx.HTTPError as error:
                return type(error), quick
            return None, quick

    with served_over_tcp(app) as base:
        error, quick = asyncio.run(scenario(base))
    assert error is httpx.ReadTimeout
    assert quick < 0.3


async def test_a_client_gone_during_a_latency_fault_is_one_debug_line(
    sandbox: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    """A client killed (or timed out) while the sandbox sleeps is normal: no traceback, nothing sent, one debug line."""
    sandbox.faults.replace([parse_fault_spec("latency=5")])
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "https",
        "server": ("shop.test", 443),
        "client": ("127.0.0.1", 5000),
        "root_path": "",
        "path": "/wp-json/wc/v3/orders",
        "raw_path": b"/wp-json/wc/v3/orders",
        "query_string": b"",
        "headers": [(b"host", b"shop.test")],
    }
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.disconnect"}  # what the server says once the socket closed

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    with caplog.at_level("DEBUG", logger="woobridge.sandbox.app"):
        await sandbox.app(scope, receive, send)
    assert sent == []
    assert [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "woobridge.sandbox.app"] == [
        ("DEBUG", "client disconnected before its request was read: GET /wp-json/wc/v3/orders")
    ]
