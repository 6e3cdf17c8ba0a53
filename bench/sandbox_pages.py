"""How fast the sandbox pages through a big order list over real HTTPS.

Seeds a store with 10,000 orders, serves it on loopback with its local CA, and fetches every page of
``/wp-json/wc/v3/orders?per_page=100`` with httpx (Basic auth, TLS verified, one keep-alive connection), as a
connector's full sync does. Prints one table: time per page (median, p95, max), total, and memory.
Target: median under 50 ms per page. Client and server share one process (and its GIL), so the figures are
on the pessimistic side.

    .venv/bin/python bench/sandbox_pages.py [--orders 10000] [--per-page 100]
"""

from __future__ import annotations

import argparse
import gc
import resource
import statistics
import tempfile
import time
from pathlib import Path

import httpx
from rich.console import Console
from rich.table import Table

from woobridge.sandbox.app import Sandbox
from woobridge.sandbox.seed import seed
from woobridge.sandbox.server import ServedSandbox
from woobridge.sandbox.state import Settings, Store

TARGET_MEDIAN_MS = 50.0


def rss_mb() -> tuple[float, float]:
    """(current, peak) resident memory of this process in MB."""
    current = 0.0
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            current = int(line.split()[1]) / 1024
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return current, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=10_000)
    parser.add_argument("--products", type=int, default=60)
    parser.add_argument("--customers", type=int, default=300)
    parser.add_argument("--per-page", type=int, default=100)
    args = parser.parse_args()

    sandbox = Sandbox(Store(Settings()))
    admin = sandbox.store.add_user("administrator", "admin")
    key = sandbox.store.issue_key(admin, "read", "bench")
    started = time.perf_counter()
    seed(sandbox.store, products=args.products, orders=args.orders, customers=args.customers, seed=1)
    seed_seconds = time.perf_counter() - started
    # As `woobridge sandbox` does: the seeded store lives as long as the process, keep it out of full GC passes.
    gc.collect()
    gc.freeze()

    timings: list[float] = []
    with tempfile.TemporaryDirectory() as tls_dir, ServedSandbox(sandbox, tls_dir=Path(tls_dir)) as served:
        auth = (key.consumer_key, key.consumer_secret)
        with httpx.Client(base_url=served.base_url, verify=served.verify, auth=auth, timeout=30) as client:
            client.get("/wp-json/wc/v3/orders", params={"per_page": 1}).raise_for_status()  # TLS handshake, warm-up
            page, pages, fetched = 1, 1, 0
            total_started = time.perf_counter()
            while page <= pages:
                t0 = time.perf_counter()
                response = client.get("/wp-json/wc/v3/orders", params={"per_page": args.per_page, "page": page})
                body = response.json()
                timings.append((time.perf_counter() - t0) * 1000)
                response.raise_for_status()
                pages = int(response.headers["X-WP-TotalPages"])
                fetched += len(body)
                page += 1
            total_seconds = time.perf_counter() - total_started

    current, peak = rss_mb()
    ordered = sorted(timings)
    p95 = ordered[max(0, round(0.95 * len(ordered)) - 1)]
    median = statistics.median(ordered)
    table = Table(
        title=f"GET /wc/v3/orders over HTTPS, {fetched} orders, {len(timings)} pages of {args.per_page}",
        title_justify="left",
    )
    for column in ("median/page", "p95/page", "max/page", "total", "seed", "RSS now", "RSS peak", "target"):
        table.add_column(column, justify="right")
    verdict = "met" if median < TARGET_MEDIAN_MS else "MISSED"
    table.add_row(
        f"{median:.1f} ms",
        f"{p95:.1f} ms",
        f"{ordered[-1]:.1f} ms",
        f"{total_seconds:.2f} s",
        f"{seed_seconds:.1f} s",
        f"{current:.0f} MB",
        f"{peak:.0f} MB",
        f"median < {TARGET_MEDIAN_MS:.0f} ms: {verdict}",
    )
    Console(width=max(Console().width, 130)).print(table)
    if fetched != args.orders:
        raise SystemExit(f"fetched {fetched} orders, expected {args.orders}")


if __name__ == "__main__":
    main()
