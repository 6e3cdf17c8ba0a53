"""The WooCommerce client against the in-process sandbox: auth, errors, retries, redirects, pages and batches."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from woobridge.sandbox.app import Sandbox
from woobridge.sandbox.faults import FaultRule
from woobridge.sandbox.products import find_by_sku
from woobridge.sandbox.testing import IN_PROCESS_HOME, Keys
from woobridge.woo import (
    AuthenticationError,
    ConnectionReset,
    Credentials,
    InsecureURL,
    InvalidResponse,
    NotFound,
    RedirectRefused,
    RequestTooLarge,
    RetryPolicy,
    ServerError,
    ServiceUnavailable,
    WooClient,
    WriteOutcomeUnknown,
)

FAST = RetryPolicy(attempts=3, wait_initial=0.01, wait_max=0.02, wait_jitter=0)


class CountingTransport(httpx.AsyncBaseTransport):
    """The sandbox over ASGI, counting requests and the most that were in flight at once."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.inner = httpx.ASGITransport(app=sandbox.app)
        self.in_flight = 0
        self.most_in_flight = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await asyncio.sleep(0.005)  # let concurrent requests overlap
            return await self.inner.handle_async_request(request)
        finally:
            self.in_flight -= 1


@pytest.fixture
def transport(sandbox: Sandbox) -> CountingTransport:
    return CountingTransport(sandbox)


@pytest.fixture
async def woo(keys: Keys, transport: CountingTransport) -> AsyncIterator[WooClient]:
    credentials = Credentials(IN_PROCESS_HOME, keys.admin.consumer_key, keys.admin.consumer_secret)
    async with WooClient(credentials, transport=transport, retry=FAST, max_concurrency=3) as client:
        yield client


def products_named(sandbox: Sandbox, prefix: str) -> list[dict[str, Any]]:
    return [p for p in sandbox.store.objects["product"].values() if str(p.get("name", "")).startswith(prefix)]


async def test_reads_with_basic_auth(woo: WooClient) -> None:
    status = await woo.get("system_status", {"_fields": "environment.version"})
    assert status == {"environment": {"version": "11.0.1"}}


async def test_query_string_auth(keys: Keys, transport: CountingTransport) -> None:
    credentials = Credentials(IN_PROCESS_HOME, keys.admin.consumer_key, keys.admin.consumer_secret, auth="query")
    async with WooClient(credentials, transport=transport) as client:
        assert (await client.get("system_status", {"_fields": "settings.currency"}))["settings"]["currency"] == "USD"


async def test_plain_http_is_refused_before_sending(keys: Keys, transport: CountingTransport) -> None:
    credentials = Credentials("http://shop.test", keys.admin.consumer_key, keys.admin.consumer_secret)
    async with WooClient(credentials, transport=transport) as client:
        with pytest.raises(InsecureURL):
            await client.get("system_status")
        assert client.requests_sent == 0


async def test_http_errors_carry_status_code_message_and_route(woo: WooClient, keys: Keys) -> None:
    with pytest.raises(NotFound) as caught:
        await woo.get("nothing-here")
    error = caught.value
    assert (error.status, error.code, error.route) == (404, "rest_no_route", "/wc/v3/nothing-here")
    assert not error.retryable


async def test_errors_never_show_the_secret(keys: Keys, transport: CountingTransport) -> None:
    wrong = "cs_" + "f" * 40
    credentials = Credentials(IN_PROCESS_HOME, keys.admin.consumer_key, wrong, auth="query")
    async with WooClient(credentials, transport=transport) as client:
        with pytest.raises(AuthenticationError) as caught:
            await client.get("system_status")
    error = caught.value
    assert error.message == "Consumer secret is invalid."
    for text in (str(error), repr(error), str(error.evidence()), repr(client)):
        assert wrong not in text
    assert "consumer_secret=**********" in str(error)


async def test_namespace_detection(sandbox: Sandbox, woo: WooClient) -> None:
    assert await woo.detect_namespace() == "wc/v3"
    sandbox.store.settings.wc_version = "3.2.0"
    assert await woo.detect_namespace() == "wc/v2"
    assert woo.url_for("orders") == IN_PROCESS_HOME + "/wp-json/wc/v2/orders"


async def test_pages_are_fetched_concurrently_within_the_limit(
    sandbox: Sandbox, woo: WooClient, transport: CountingTransport
) -> None:
    result = await woo.batch("products", create=[{"name": f"paged {i}", "regular_price": "1.00"} for i in range(45)])
    assert result.ok
    transport.most_in_flight = 0
    pages = [page async for page in woo.iter_pages("products", {"orderby": "id", "order": "asc"}, per_page=5)]
    assert [page.page for page in pages] == list(range(1, 10))
    assert pages[0].total == 45 and pages[0].total_pages == 9
    ids = [item["id"] for page in pages for item in page.items]
    assert len(ids) == len(set(ids)) == 45 and ids == sorted(ids)
    assert 1 < transport.most_in_flight <= 3


async def test_batches_are_chunked_with_per_item_results(sandbox: Sandbox, woo: WooClient) -> None:
    await woo.post("products", {"name": "taken", "sku": "TAKEN", "regular_price": "1.00"})
    creates = [{"name": f"bulk {i}", "sku": f"BULK-{i}", "regular_price": "2.00"} for i in range(150)]
    creates[120]["sku"] = "TAKEN"
    before = woo.requests_sent
    result = await woo.batch("products", create=creates)
    assert woo.requests_sent - before == 2  # 100 + 50
    assert len(result.items) == 150
    [failed] = result.failed
    assert (failed.action, failed.index) == ("create", 120)
    assert failed.error is not None and failed.error.code == "product_invalid_sku" and failed.error.status == 400
    assert len(products_named(sandbox, "bulk ")) == 149
    assert find_by_sku(sandbox.store, "BULK-149") is not None


async def test_batch_limit_is_the_stores(woo: WooClient) -> None:
    with pytest.raises(RequestTooLarge):
        await woo.post("products/batch", {"create": [{"name": str(i)} for i in range(101)]})


async def test_reads_are_retried_on_503_and_429(sandbox: Sandbox, woo: WooClient) -> None:
    sandbox.faults.replace([FaultRule(kind="503", schedule=(1,)), FaultRule(kind="429", schedule=(2,), retry_after=0)])
    assert await woo.get("system_status", {"_fields": "environment.version"})
    assert woo.requests_sent == 3


async def test_retries_give_up_with_the_last_error(sandbox: Sandbox, woo: WooClient) -> None:
    sandbox.faults.replace([FaultRule(kind="503")])
    with pytest.raises(ServiceUnavailable) as caught:
        await woo.get("system_status")
    assert caught.value.retryable and woo.requests_sent == 3


async def test_a_long_retry_after_is_not_waited_for(sandbox: Sandbox, woo: WooClient) -> None:
    sandbox.modes.maintenance = True  # 503 with Retry-After: 600
    with pytest.raises(ServiceUnavailable) as caught:
        await woo.get("system_status")
    assert caught.value.retry_after == 600 and woo.requests_sent == 1


async def test_truncated_json_on_a_read_is_retried(sandbox: Sandbox, woo: WooClient) -> None:
    sandbox.faults.replace([FaultRule(kind="truncate", schedule=(1,))])
    assert await woo.get("products") is not None
    assert woo.requests_sent == 2


async def test_truncated_json_is_an_invalid_response(sandbox: Sandbox, woo: WooClient) -> None:
    sandbox.faults.replace([FaultRule(kind="truncate")])
    with pytest.raises(InvalidResponse) as caught:
        await woo.get("products", retry=RetryPolicy(attempts=1))
    assert "truncated or invalid JSON" in caught.value.message


async def test_a_write_whose_answer_is_lost_is_never_repeated_blindly(sandbox: Sandbox, woo: WooClient) -> None:
    sandbox.faults.replace([FaultRule(kind="502", after_write=True, methods=("POST",))])
    with pytest.raises(WriteOutcomeUnknown) as caught:
        await woo.post("products", {"name": "once only", "regular_price": "3.00"})
    assert caught.value.cause is not None and caught.value.cause.status == 502
    assert len(products_named(sandbox, "once only")) == 1
    assert woo.requests_sent == 1


async def test_a_write_timing_out_is_outcome_unknown(sandbox: Sandbox, woo: WooClient) -> None:
    sandbox.faults.replace([FaultRule(kind="timeout_after_write", hold=5, methods=("POST",))])
    with pytest.raises(WriteOutcomeUnknown):
        await woo.post("products", {"name": "slow write", "regular_price": "3.00"}, timeout=0.3)
    assert len(products_named(sandbox, "slow write")) == 1


async def test_dropped_connection_on_a_write_is_outcome_unknown(sandbox: Sandbox, woo: WooClient) -> None:
    sandbox.faults.replace([FaultRule(kind="reset", methods=("POST",))])
    with pytest.raises(WriteOutcomeUnknown) as caught:
        await woo.post("products", {"name": "reset write", "regular_price": "3.00"})
    assert isinstance(caught.value.cause, ConnectionReset)


async def test_verify_finds_the_write_that_happened(sandbox: Sandbox, woo: WooClient) -> None:
    sandbox.faults.replace([FaultRule(kind="502", after_write=True, schedule=(1,), methods=("POST",))])

    async def lookup() -> Any:
        found = await woo.get("products", {"sku": "VERIFY-1"})
        return found[0] if found else None

    product = await woo.post(
        "products", {"name": "verified", "sku": "VERIFY-1", "regular_price": "4.00"}, verify=lookup
    )
    assert product["sku"] == "VERIFY-1"
    assert len(products_named(sandbox, "verified")) == 1


async def test_verify_resends_a_write_that_did_not_happen(sandbox: Sandbox, woo: WooClient) -> None:
    sandbox.faults.replace([FaultRule(kind="502", schedule=(1,), methods=("POST",))])  # refused before the store
    calls = 0

    async def lookup() -> Any:
        nonlocal calls
        calls += 1
        found = await woo.get("products", {"sku": "VERIFY-2"})
        return found[0] if found else None

    product = await woo.post("products", {"name": "resent", "sku": "VERIFY-2", "regular_price": "4.00"}, verify=lookup)
    assert product["name"] == "resent" and calls == 1
    assert len(products_named(sandbox, "resent")) == 1


async def test_refund_errors_with_a_bare_integer_data_are_http_errors() -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        body = {"code": "woocommerce_rest_cannot_create_order_refund", "message": "Invalid refund amount.", "data": 500}
        return httpx.Response(500, json=body)

    credentials = Credentials(IN_PROCESS_HOME, "ck_" + "0" * 40, "cs_" + "0" * 40)
    async with WooClient(credentials, transport=httpx.MockTransport(answer), retry=FAST) as client:
        with pytest.raises(ServerError) as caught:
            await client.post("orders/5/refunds", {"amount": "1000.00"})
        assert client.requests_sent == 1
    error = caught.value
    assert (error.status, error.code, error.data, error.retryable) == (
        500,
        "woocommerce_rest_cannot_create_order_refund",
        500,
        False,
    )
    assert not isinstance(error, WriteOutcomeUnknown)


async def test_same_origin_redirects_of_reads_are_followed(sandbox: Sandbox, woo: WooClient) -> None:
    sandbox.modes.permalinks = "plain"  # /wp-json/… → 301 to …/ → HTML page
    with pytest.raises(InvalidResponse) as caught:
        await woo.get("system_status")
    assert woo.requests_sent == 2
    assert "rest_route=" in caught.value.headers.get("link", "")


async def test_redirects_to_another_origin_are_refused(sandbox: Sandbox, woo: WooClient) -> None:
    sandbox.modes.canonical_origin = "https://www.shop.test"
    with pytest.raises(RedirectRefused) as caught:
        await woo.get("system_status")
    assert caught.value.location.startswith("https://www.shop.test/wp-json/wc/v3/system_status")
    assert woo.requests_sent == 1


async def test_writes_are_retried_when_they_surely_did_not_happen(sandbox: Sandbox, woo: WooClient) -> None:
    sandbox.faults.replace([FaultRule(kind="429", schedule=(1,), retry_after=0, methods=("POST",))])
    created = await woo.post("products", {"name": "after throttling", "regular_price": "1.00"})
    assert created["name"] == "after throttling" and woo.requests_sent == 2
    assert len(products_named(sandbox, "after throttling")) == 1


async def test_a_503_on_a_write_is_not_repeated_blindly(sandbox: Sandbox, woo: WooClient) -> None:
    sandbox.faults.replace([FaultRule(kind="503", after_write=True, methods=("POST",))])
    with pytest.raises(WriteOutcomeUnknown):
        await woo.post("products", {"name": "behind a 503", "regular_price": "1.00"})
    assert len(products_named(sandbox, "behind a 503")) == 1


async def test_the_request_observer_sees_every_exchange_with_its_status_latency_and_attempt(
    sandbox: Sandbox, keys: Keys, transport: CountingTransport
) -> None:
    seen: list[tuple[str, str, int | None, float, int]] = []
    credentials = Credentials(IN_PROCESS_HOME, keys.admin.consumer_key, keys.admin.consumer_secret)
    async with WooClient(
        credentials, transport=transport, retry=FAST, on_request=lambda *event: seen.append(event)
    ) as woo:
        sandbox.faults.replace([FaultRule(kind="503", schedule=(1,)), FaultRule(kind="reset", schedule=(2,))])
        await woo.get("products", {"per_page": 1})
        sandbox.faults.replace([])
        await woo.get("orders", {"per_page": 1})
    assert [(method, route, status, attempt) for method, route, status, _, attempt in seen] == [
        ("GET", "/wc/v3/products", 503, 1),
        ("GET", "/wc/v3/products", None, 2),  # no answer: the connection was reset
        ("GET", "/wc/v3/products", 200, 3),
        ("GET", "/wc/v3/orders", 200, 1),  # a new operation starts again at attempt 1
    ]
    assert all(seconds >= 0.005 for *_, seconds, _ in seen)  # the transport holds every request 5 ms
    assert not any("consumer" in route for _, route, *_ in seen)


async def test_a_failing_observer_never_fails_the_request(
    keys: Keys, transport: CountingTransport, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*event: object) -> None:
        raise RuntimeError("observer bug")

    credentials = Credentials(IN_PROCESS_HOME, keys.admin.consumer_key, keys.admin.consumer_secret)
    async with WooClient(credentials, transport=transport, on_request=broken) as woo:
        assert await woo.get("products", {"per_page": 1}) is not None
    assert "on_request observer failed" in caplog.text


async def test_the_observer_counts_a_callers_own_retries_as_retries(
    sandbox: Sandbox, keys: Keys, transport: CountingTransport
) -> None:
    from functools import partial

    from woobridge.woo import NO_RETRY
    from woobridge.woo.throttle import AdaptiveConcurrency

    seen: list[tuple[str, str, int | None, float, int]] = []
    credentials = Credentials(IN_PROCESS_HOME, keys.admin.consumer_key, keys.admin.consumer_secret)
    async with WooClient(credentials, transport=transport, on_request=lambda *event: seen.append(event)) as woo:
        # The flows read with retry=NO_RETRY inside AdaptiveConcurrency.call, which retries (and slows down) itself.
        sandbox.faults.replace([FaultRule(kind="503", schedule=(1,), retry_after=0)])
        await AdaptiveConcurrency(2).call(partial(woo.get, "products", {"per_page": 1}, retry=NO_RETRY))
        await woo.get("orders", {"per_page": 1})
    assert [(status, attempt) for _, _, status, _, attempt in seen] == [(503, 1), (200, 2), (200, 1)]
