"""The adaptive concurrency limit against simulated stores: latency-bound, queueing, two-core, throttling."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import pytest

from woobridge.woo.errors import AuthenticationError, RateLimited
from woobridge.woo.throttle import AdaptiveConcurrency


async def read_pages(throttle: AdaptiveConcurrency, pages: int, page: Callable[[], Awaitable[None]]) -> None:
    """A reader like the orders flow's: keeps one more request queued than the limit allows in flight."""
    pending: list[asyncio.Task[None]] = []
    sent = 0
    while sent < pages or pending:
        while sent < pages and len(pending) < throttle.limit + 1:
            pending.append(asyncio.create_task(throttle.call(page)))
            sent += 1
        await pending.pop(0)


async def test_grows_to_the_ceiling_while_pages_cost_only_latency() -> None:
    throttle = AdaptiveConcurrency(ceiling=8)

    async def far_away_store() -> None:
        await asyncio.sleep(0.02)  # network latency: many pages can wait at once

    await read_pages(throttle, 80, far_away_store)
    assert throttle.limit == 8 and throttle.stats.peak == 8


async def test_stays_low_on_a_store_that_queues_pages() -> None:
    # Shared hosting: one PHP worker, so two pages at once take twice as long each (no faster than one).
    throttle = AdaptiveConcurrency(ceiling=8)
    worker = asyncio.Lock()

    async def one_worker_store() -> None:
        async with worker:
            # Long enough that a loaded test machine's scheduling jitter stays small beside it.
            await asyncio.sleep(0.04)

    await read_pages(throttle, 50, one_worker_store)
    assert throttle.stats.peak <= 2 and throttle.limit <= 2


async def test_settles_around_two_on_a_two_core_store() -> None:
    throttle = AdaptiveConcurrency(ceiling=8)
    cores = asyncio.Semaphore(2)

    async def two_core_store() -> None:
        async with cores:
            await asyncio.sleep(0.04)

    await read_pages(throttle, 60, two_core_store)
    assert 2 <= throttle.limit <= 3 and throttle.stats.peak <= 4


async def test_shrinks_when_the_time_per_page_climbs() -> None:
    throttle = AdaptiveConcurrency(ceiling=4, start=4, hold_rounds=100)
    # Long beside a loaded machine's scheduling jitter, which must not look like a store that got slower.
    delay = 0.04

    async def store() -> None:
        await asyncio.sleep(delay)

    await read_pages(throttle, 12, store)
    assert throttle.limit == 4
    delay = 0.2  # the store gets busy
    await read_pages(throttle, 12, store)
    assert throttle.limit < 4


async def test_a_429_holds_every_request_back_for_retry_after_and_halves_the_limit() -> None:
    throttle = AdaptiveConcurrency(ceiling=8, start=4)
    calls = 0
    starts: list[float] = []

    async def store() -> None:
        nonlocal calls
        calls += 1
        starts.append(time.monotonic())
        if calls == 1:
            raise RateLimited("Too Many Requests", status=429, retry_after=0.3)
        await asyncio.sleep(0.05)  # long beside a loaded machine's jitter, which must not look like a slower store

    began = time.monotonic()
    await asyncio.gather(*(throttle.call(store) for _ in range(4)))
    assert throttle.stats.slowdowns == 1 and throttle.stats.retries == 1
    assert throttle.limit == 2
    # The failed request and everything that had not started yet waited for Retry-After.
    assert max(starts) - began >= 0.29
    assert calls == 5


async def test_a_non_retryable_error_is_raised_at_once() -> None:
    throttle = AdaptiveConcurrency()

    async def store() -> None:
        raise AuthenticationError("bad key", status=401)

    with pytest.raises(AuthenticationError):
        await throttle.call(store)
    assert throttle.stats.retries == 0 and throttle.in_flight == 0


async def test_gives_up_after_its_attempts() -> None:
    throttle = AdaptiveConcurrency(attempts=3)
    calls = 0

    async def store() -> None:
        nonlocal calls
        calls += 1
        raise RateLimited("Too Many Requests", status=429, retry_after=0.01)

    with pytest.raises(RateLimited):
        await throttle.call(store)
    assert calls == 3


async def test_a_retry_after_longer_than_it_will_wait_is_raised() -> None:
    throttle = AdaptiveConcurrency(max_wait=5)

    async def store() -> None:
        raise RateLimited("come back tomorrow", status=429, retry_after=86400)

    with pytest.raises(RateLimited):
        await throttle.call(store)
