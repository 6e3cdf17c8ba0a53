"""Pushing 10,000 changed stock levels to a store 100 ms away: woobridge's inventory flow against one PUT per SKU.

Serves a sandbox store of ``--skus`` simple products (stock managed) over real HTTPS on loopback with the fault
``latency=100`` (every request waits 100 ms before the store sees it), puts a different quantity for every SKU in
a staging ERP database, and measures:

* **woobridge** ``sync inventory``: the SKU index build (reads), the writes (``products/batch``, ≤ 100 a request,
  a few in flight), wall time; then a second run with nothing changed (target: 0 writes);
* **one PUT per SKU** with the official ``woocommerce`` package (``API.put("products/<id>", …)``), sequential as a
  typical script does it. ``--sample`` PUTs are timed and the time for every SKU is extrapolated (said so in the
  table).

Client and server share one process (and its GIL), so server work slows the client too: the figures are on the
pessimistic side for woobridge. Prints one table.

    .venv/bin/python bench/inventory_push.py [--skus 10000] [--latency 100] [--sample 300]
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import tempfile
import time
from decimal import Decimal
from pathlib import Path

from _common import run_twice
from rich.console import Console
from rich.table import Table
from sqlalchemy import insert

from woobridge.erp.staging import StagingErp
from woobridge.erp.staging.models import stock_levels
from woobridge.flows import inventory
from woobridge.sandbox import products as store_products
from woobridge.sandbox.app import Sandbox
from woobridge.sandbox.faults import parse_fault_spec
from woobridge.sandbox.server import ServedSandbox
from woobridge.sandbox.state import Settings, Store

TARGET_WRITES = 101


def fill_store(store: Store, count: int) -> list[int]:
    """``count`` simple products with managed stock (one made through the REST logic, the rest copies of it with
    their own id, SKU and slug: creating 10,000 one by one checks every SKU against every other)."""
    with store.lock:
        first = store_products.create_product(
            store, {"name": "Bench 00000", "sku": "BENCH-00000", "manage_stock": True, "stock_quantity": 5}
        )
        ids = [int(first["id"])]
        for n in range(1, count):
            product = copy.deepcopy(first)
            product.update(id=store.next_post_id(), sku=f"BENCH-{n:05d}", name=f"Bench {n:05d}", slug=f"bench-{n:05d}")
            store.put("product", product)
            ids.append(int(product["id"]))
    return ids


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--skus", type=int, default=10_000)
    parser.add_argument("--latency", type=int, default=100, help="milliseconds added to every request")
    parser.add_argument("--sample", type=int, default=300, help="PUTs timed for the one-PUT-per-SKU baseline")
    args = parser.parse_args()

    sandbox = Sandbox(Store(Settings()))
    admin = sandbox.store.add_user("administrator", "admin")
    issued = sandbox.store.issue_key(admin, "read_write", "bench")
    key = (issued.consumer_key, issued.consumer_secret)
    ids = fill_store(sandbox.store, args.skus)

    with tempfile.TemporaryDirectory() as tmp, ServedSandbox(sandbox, tls_dir=Path(tmp) / "tls") as served:
        workdir = Path(tmp)
        erp = StagingErp(f"sqlite:///{workdir / 'staging.sqlite'}")
        with erp.engine.begin() as db:  # every SKU has a new quantity
            db.execute(
                insert(stock_levels),
                [
                    {"sku": f"BENCH-{n:05d}", "warehouse": "", "quantity": Decimal(20 + n % 50)}
                    for n in range(args.skus)
                ],
            )
        erp.close()
        sandbox.faults.replace([parse_fault_spec(f"latency={args.latency}")])
        first, first_seconds, second, second_seconds = asyncio.run(run_twice(inventory.run, served, key, workdir))
        pushed = sum(1 for product in sandbox.store.all("product") if product.get("stock_quantity") != 5)

        # The baseline: the official package, one PUT per SKU, one after the other.
        from woocommerce import API  # type: ignore[import-untyped]

        api = API(
            url=served.base_url,
            consumer_key=key[0],
            consumer_secret=key[1],
            version="wc/v3",
            timeout=60,
            verify_ssl=str(served.ca_file),
        )
        sample = min(args.sample, len(ids))
        started = time.perf_counter()
        for n, product_id in enumerate(ids[:sample]):
            api.put(f"products/{product_id}", {"stock_quantity": 100 + n}).raise_for_status()
        per_put = (time.perf_counter() - started) / sample
        baseline_seconds = per_put * args.skus

    table = Table(
        title=f"{args.skus:,} SKUs with changed stock, {args.latency} ms latency per request (HTTPS, loopback)",
        title_justify="left",
    )
    for column in ("", "write requests", "read requests", "wall time", "target"):
        table.add_column(column, justify="left" if not column else "right")
    ok = first.write_requests <= TARGET_WRITES and pushed == args.skus
    table.add_row(
        "woobridge, first run (index build + push)",
        f"{first.write_requests}",
        f"{first.index_requests}",
        f"{first_seconds:.1f} s",
        f"≤ {TARGET_WRITES} writes + index build: {'met' if ok else 'MISSED'} ({pushed:,} set)",
    )
    table.add_row(
        "woobridge, second run (nothing changed)",
        f"{second.write_requests}",
        f"{second.requests - second.write_requests}",
        f"{second_seconds:.1f} s",
        f"0 writes: {'met' if second.write_requests == 0 else 'MISSED'}",
    )
    table.add_row(
        f"woocommerce package, 1 PUT per SKU (sequential; {sample} timed, extrapolated)",
        f"{args.skus:,}",
        "0",
        f"{baseline_seconds:.0f} s ({per_put * 1000:.0f} ms/PUT)",
        f"woobridge {baseline_seconds / max(first_seconds, 1e-9):.0f}× faster",
    )
    Console(width=max(Console().width, 150)).print(table)


if __name__ == "__main__":
    main()
