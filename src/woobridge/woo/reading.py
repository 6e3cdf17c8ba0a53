"""Reading a whole WooCommerce list while the store keeps changing it, without skipping anything.

Page-number pagination is unsafe on a live store: when an item before the current page leaves the result set (an
order is trashed, deleted, or stops matching) everything after it moves up by one, and the item that moved from
the next page onto the current one is never seen. :class:`IdOrderedReader` reads a list sorted by id ascending
in *overlapping* reads: each read starts at the last item of the one before (``offset`` steps of
``per_page - 1``). When nothing moved, a read's first item is exactly the previous read's last one. When its
first id is higher, something left the list before it and an item may have slipped through the gap: the reader
steps back until a read starts at or before the last id it handed out, and goes on from there. Items that join
the list while it reads get new, higher ids and arrive at the end; an item that re-joins with an old id is the
next window's business (its modification date is after the run started).

Reads run concurrently within an :class:`~woobridge.woo.throttle.AdaptiveConcurrency` (which also rides out 429s
and 503s); pages are handed out in order, at most a few at a time, so memory stays flat however long the list.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from woobridge.woo.client import NO_RETRY, WooClient, WooResponse
from woobridge.woo.errors import InvalidResponse
from woobridge.woo.throttle import AdaptiveConcurrency

log = logging.getLogger("woobridge.woo.reading")


@dataclass
class Read:
    """One answer of the list: the items from ``offset`` and X-WP-Total."""

    offset: int
    items: list[Any]
    total: int | None


def item_id(item: Any) -> int | None:
    """The id of a list item, or None for an item without one (it is still handed out, for the flow to report)."""
    if isinstance(item, Mapping):
        value = item.get("id")
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


def store_date(response: WooResponse) -> datetime | None:
    """The store's clock from the response's ``Date`` header (aware UTC), or None when it has none."""
    value = response.headers.get("date")
    if not value:
        return None
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


class IdOrderedReader:
    """Every item of ``route`` matching ``params``, read by id ascending in overlapping pages (see the module).

    ``async for items in reader.pages()`` yields lists of items in id order, each item once. After the first read,
    ``store_started_at`` is when the store began answering it, on the store's clock (its ``Date`` header less the
    time the request took; this machine's clock if the store sends no Date header) and ``total`` the number of
    items the store counted then.
    """

    def __init__(
        self,
        woo: WooClient,
        route: str,
        params: Mapping[str, Any],
        *,
        throttle: AdaptiveConcurrency,
        per_page: int = 100,
    ) -> None:
        if per_page < 2:
            raise ValueError("overlapping reads need at least 2 items per page")
        self.woo = woo
        self.route = route
        self.params = {**params, "orderby": "id", "order": "asc", "per_page": per_page}
        self.throttle = throttle
        self.per_page = per_page
        self.store_started_at: datetime | None = None
        self.store_clock_known = False
        self.total: int | None = None
        self.requests = 0
        self.rereads = 0  # reads made again because items left the list while it was read

    async def _read(self, offset: int) -> Read:
        async def once() -> WooResponse:
            self.requests += 1
            return await self.woo.request("GET", self.route, params={**self.params, "offset": offset}, retry=NO_RETRY)

        sent_at = datetime.now(UTC)
        began = time.monotonic()
        response = await self.throttle.call(once)
        if self.store_started_at is None:
            store_now = store_date(response)
            self.store_clock_known = store_now is not None
            elapsed = time.monotonic() - began
            self.store_started_at = (
                store_now - timedelta(seconds=elapsed) if store_now is not None else sent_at
            ).replace(microsecond=0)
        if not isinstance(response.data, list):
            raise InvalidResponse(
                f"expected a JSON list from {self.route}, got {type(response.data).__name__}",
                url=response.url,
                route=self.route,
                status=response.status,
            )
        total_header = response.headers.get("x-wp-total")
        total = int(total_header) if total_header is not None and total_header.strip().isdigit() else None
        return Read(offset, response.data, total)

    async def pages(self) -> AsyncIterator[list[Any]]:
        stride = self.per_page - 1
        frontier: int | None = None  # the highest id handed out so far
        pending: deque[tuple[int, asyncio.Task[Read]]] = deque()
        next_offset = 0

        def schedule() -> None:
            nonlocal next_offset
            while len(pending) < self.throttle.limit + 1 and (
                not pending or (self.total is not None and next_offset < self.total)
            ):
                pending.append((next_offset, asyncio.create_task(self._read(next_offset))))
                next_offset += stride

        async def cancel_pending() -> None:
            tasks = [task for _, task in pending]
            pending.clear()
            for task in tasks:
                task.cancel()
            if tasks:
                await asyncio.gather(*tasks, return_exceptions=True)

        try:
            schedule()
            while pending:
                offset, task = pending.popleft()
                read = await task
                if read.total is not None:
                    self.total = read.total
                if frontier is not None and offset > 0 and not _continues(read, frontier):
                    # Something before this read left the list: find a read that starts at or before the frontier.
                    await cancel_pending()
                    read = await self._step_back(offset, frontier, stride)
                    next_offset = read.offset + stride
                fresh = [item for item in read.items if frontier is None or (item_id(item) or 0) > frontier]
                ids = [i for i in map(item_id, read.items) if i is not None]
                if ids:
                    frontier = max(frontier or 0, *ids)
                if len(read.items) < self.per_page:
                    if fresh:
                        yield fresh
                    break  # the end of the list, as the store saw it at this read
                # The next reads go out before this page is handed over: the caller's work on it (mapping, writing)
                # then overlaps their round-trips instead of delaying them.
                schedule()
                if not pending:
                    # The list grew past the total it gave earlier: read on from where this read ended.
                    pending.append((next_offset, asyncio.create_task(self._read(next_offset))))
                    next_offset += stride
                if fresh:
                    yield fresh
        finally:
            await cancel_pending()

    async def _step_back(self, offset: int, frontier: int, stride: int) -> Read:
        while True:
            offset = max(0, offset - stride)
            self.rereads += 1
            read = await self._read(offset)
            if read.total is not None:
                self.total = read.total
            if offset == 0 or _continues(read, frontier):
                log.info("items left %s while it was read: read again from offset %d", self.route, offset)
                return read


def _continues(read: Read, frontier: int) -> bool:
    """Does this read start at or before the last id handed out (so nothing between them can have been missed)?"""
    first = next((i for i in map(item_id, read.items) if i is not None), None)
    return first is not None and first <= frontier
