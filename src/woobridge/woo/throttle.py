"""How hard to press one store: an adaptive limit on requests in flight, and a connection-wide slowdown.

Stores differ enormously. A WooCommerce on a 2-core server reads 1,000 orders 1.9× faster with two pages in flight
than with one, and no faster with four; a small shared-hosting store serves two pages at once no faster than one
(it queues them); a store behind 100 ms of network latency keeps getting faster up to many pages in flight. No
fixed number suits all, so :class:`AdaptiveConcurrency` measures.

* **Time per page.** Over a round of requests at one limit (as many as the limit, so a round lasts about one
  page's time whatever the limit) it takes the mean time a request took divided by the mean number in flight: the
  time one page costs when pages overlap. (Two pages in 2 s each on a store that queues them cost 1 s a page,
  exactly like one page in 1 s.) The first round is the first page, read alone because the list's length is not
  known before it; its time includes opening the connection, so the first step up may be kept where it gains
  nothing; the next step compares like with like, which leaves a store that queues pages at two in flight, as fast
  for it as one.
* **Grow while it holds, step back when it does not pay.** After a round it tries twice the limit (1, 2, 4, 8: each
  round lasts about one page's time, so every step up costs a store far away a round-trip of pages not asked for);
  the step is kept only if the time per page drops by at least ``gain`` (15 %). Otherwise it goes back and stays
  for ``hold_rounds`` rounds before trying again.
* **Shrink when it climbs.** If, at a settled limit, the time per page climbs past ``climb`` × what it was (the
  store is under other load), the limit drops by one.
* **429 / 503: everybody waits.** :meth:`slow_down` halves the limit and stops *every* request of the connection
  from starting until the store's ``Retry-After`` has passed (or a short backoff without one); nobody hammers a
  store that asked for air. :meth:`call` does that for you and retries the request.

It never exceeds ``ceiling`` (the connection's setting) and never goes below 1. One instance per connection and
run; it keeps nothing between runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

from woobridge.woo.client import retrying
from woobridge.woo.errors import WooError

log = logging.getLogger("woobridge.woo.throttle")

T = TypeVar("T")

# Statuses that mean "the store (or its host) is overloaded": slow the whole connection down.
SLOW_DOWN_STATUSES = frozenset({429, 503})


@dataclass
class ThrottleStats:
    """What the throttle did, for run summaries and benchmarks."""

    limits: list[int] = field(default_factory=list)  # every limit it settled on or tried, in order
    slowdowns: int = 0  # 429/503 answers that slowed the connection down
    retries: int = 0  # requests sent again after a retryable failure
    waited: float = 0.0  # seconds every request was held back by slowdowns

    @property
    def peak(self) -> int:
        return max(self.limits, default=1)


class AdaptiveConcurrency:
    """An adaptive limit on one connection's requests in flight (see the module's docstring)."""

    def __init__(
        self,
        ceiling: int = 8,
        *,
        start: int = 1,
        gain: float = 0.15,
        climb: float = 1.5,
        hold_rounds: int = 6,
        attempts: int = 6,
        budget: float = 600.0,
        max_wait: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ceiling = max(1, ceiling)
        self.limit = max(1, min(start, self.ceiling))
        self.gain = gain
        self.climb = climb
        self.hold_rounds = hold_rounds
        self.attempts = max(1, attempts)
        self.budget = budget
        self.max_wait = max_wait
        self.stats = ThrottleStats(limits=[self.limit])
        self._clock = clock
        self._in_flight = 0
        self._resume_at = 0.0
        self._changed = asyncio.Condition()
        self._generation = 0
        self._round: list[tuple[float, int]] = []
        self._time_at: dict[int, float] = {}  # limit → time per page measured there
        self._probing_from: int | None = None
        self._hold = 0

    @property
    def in_flight(self) -> int:
        return self._in_flight

    # -- slots -----------------------------------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold one of the ``limit`` places while a request is in flight; its time teaches the limit."""
        await self._acquire()
        generation = self._generation
        in_flight = self._in_flight
        started = self._clock()
        succeeded = False
        try:
            yield
            succeeded = True
        finally:
            async with self._changed:
                self._in_flight -= 1
                if succeeded:
                    self._observe(self._clock() - started, in_flight, generation)
                self._changed.notify_all()

    async def _acquire(self) -> None:
        async with self._changed:
            while True:
                delay = self._resume_at - self._clock()
                if delay > 0:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._changed.wait(), delay)
                    continue
                if self._in_flight < self.limit:
                    self._in_flight += 1
                    return
                await self._changed.wait()

    # -- learning the limit ----------------------------------------------------------------------------------------

    def _observe(self, seconds: float, in_flight: int, generation: int) -> None:
        if generation != self._generation:
            return  # started under another limit: says nothing about this one
        self._round.append((seconds, in_flight))
        if len(self._round) < self.limit:
            return
        per_page = (sum(s for s, _ in self._round) / len(self._round)) / (
            sum(n for _, n in self._round) / len(self._round)
        )
        self._round = []
        if self._probing_from is not None:
            before = self._time_at.get(self._probing_from)
            if before is not None and per_page <= before * (1 - self.gain):
                self._time_at[self.limit] = per_page
                self._probing_from = None
                self._probe()
            else:
                log.debug(
                    "%d in flight: %.0f ms a page, no better: back to %d",
                    self.limit,
                    per_page * 1000,
                    self._probing_from,
                )
                self._set_limit(self._probing_from)
                self._probing_from = None
                self._hold = self.hold_rounds
            return
        settled = self._time_at.get(self.limit)
        if settled is not None and per_page > settled * self.climb and self.limit > 1:
            log.debug("time per page climbed from %.0f to %.0f ms: fewer in flight", settled * 1000, per_page * 1000)
            self._time_at.clear()
            self._set_limit(self.limit - 1)
            self._hold = self.hold_rounds
            return
        self._time_at[self.limit] = per_page if settled is None else settled * 0.7 + per_page * 0.3
        if self._hold > 0:
            self._hold -= 1
        else:
            self._probe()

    def _probe(self) -> None:
        if self.limit >= self.ceiling:
            return
        self._probing_from = self.limit
        self._set_limit(min(self.ceiling, self.limit * 2))

    def _set_limit(self, limit: int) -> None:
        limit = max(1, min(self.ceiling, limit))
        if limit != self.limit:
            self.limit = limit
            self.stats.limits.append(limit)
        self._generation += 1
        self._round = []
        self._changed.notify_all()

    # -- slowing down ----------------------------------------------------------------------------------------------

    async def slow_down(self, retry_after: float | None, attempt: int = 1) -> None:
        """The store asked for air (429/503): halve the limit and hold every request back for ``retry_after``
        seconds (or an exponential backoff when the store did not say)."""
        wait = retry_after if retry_after is not None else _backoff(attempt)
        async with self._changed:
            self.stats.slowdowns += 1
            resume = self._clock() + wait
            if resume > self._resume_at:
                self.stats.waited += resume - max(self._resume_at, self._clock())
                self._resume_at = resume
            self._time_at.clear()
            self._probing_from = None
            self._hold = self.hold_rounds * 2
            self._set_limit(self.limit // 2)
        log.info("the store asked to slow down: %d in flight, waiting %.1f s", self.limit, wait)

    async def call(self, operation: Callable[[], Awaitable[T]]) -> T:
        """Run one request in a slot; on a retryable failure try again (429/503 slow the whole connection down,
        honouring Retry-After), within ``attempts`` and ``budget`` seconds. Anything else is raised at once."""
        started = self._clock()
        attempt = 0
        while True:
            attempt += 1
            try:
                async with self.slot():
                    with retrying(attempt):  # the client's on_request observer sees tries 2, 3… as retries
                        return await operation()
            except WooError as error:
                if not error.retryable or attempt >= self.attempts or self._clock() - started > self.budget:
                    raise
                if error.retry_after is not None and error.retry_after > self.max_wait:
                    raise
                self.stats.retries += 1
                if error.status in SLOW_DOWN_STATUSES or error.retry_after is not None:
                    await self.slow_down(error.retry_after, attempt)
                else:
                    log.info("retrying after %s (attempt %d of %d)", error, attempt + 1, self.attempts)
                    await asyncio.sleep(_backoff(attempt))


def _backoff(attempt: int) -> float:
    """0.5 s, 1, 2, 4 … capped at 30 s, with jitter so parallel workers do not retry in step."""
    base: float = min(30.0, 0.5 * 2.0 ** max(0, attempt - 1))
    return base * (0.75 + random.random() / 2)
