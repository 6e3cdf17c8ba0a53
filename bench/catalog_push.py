"""Pushing a catalog of 2,000 variable products with 5 variations each to a store 100 ms away.

Serves an empty sandbox store over real HTTPS on loopback with the fault ``latency=100`` (every request waits
100 ms before the store sees it), puts ``--products`` items with ``--variations`` variants each in a staging ERP
database, and measures woobridge's ``sync products``:

* the **first push**: reads (catalog pages, categories), writes (``products/batch`` ≤ 100 products a request,
  then one ``products/{id}/variations/batch`` per product, a few in flight), wall time;
* a **push with nothing changed**: target 0 writes and reads ≤ ⌈N / 100⌉ pages (the catalog list only: no
  variations are read when neither the item nor the product changed since the last push).

Client and server share one process (and its GIL), so the sandbox's own work (it checks every SKU against every
other on each save, as WooCommerce's unique-SKU query does) slows the client too: wall times are pessimistic.
Prints one table.

    .venv/bin/python bench/catalog_push.py [--products 2000] [--variations 5] [--latency 100]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import tempfile
from decimal import Decimal
from pathlib import Path

from _common import run_twice
from rich.console import Console
from rich.table import Table
from sqlalchemy import insert, select

from woobridge.erp.staging import StagingErp
from woobridge.erp.staging.models import item_variants, items
from woobridge.flows import products
from woobridge.sandbox.app import Sandbox
from woobridge.sandbox.faults import parse_fault_spec
from woobridge.sandbox.server import ServedSandbox
from woobridge.sandbox.state import Settings, Store

SIZES = ("XS", "S", "M", "L", "XL", "XXL", "3XL", "4XL", "5XL", "6XL")


def fill_erp(erp: StagingErp, count: int, variations: int) -> None:
    """``count`` items in 10 categories under 2 parents, each with ``variations`` variants (one per size)."""
    sizes = list(SIZES[:variations]) + [f"V{n}" for n in range(len(SIZES), variations)]
    with erp.engine.begin() as db:
        db.execute(
            insert(items),
            [
                {
                    "sku": f"CAT-{n:05d}",
                    "name": f"Bench product {n:05d}",
                    "description": f"Bench product number {n}.\n\nSecond paragraph.",
                    "regular_price": Decimal(10 + n % 40),
                    "weight": Decimal("0.25"),
                    "status": "active",
                    "category_path": ["Bench " + ("A" if n % 2 else "B"), f"Group {n % 10}"],
                    "attributes": {"Size": sizes},
                }
                for n in range(count)
            ],
        )
        ids = dict(db.execute(select(items.c.sku, items.c.id)).all())
        db.execute(
            insert(item_variants),
            [
                {
                    "item_id": ids[f"CAT-{n:05d}"],
                    "sku": f"CAT-{n:05d}-{size}",
                    "attributes": {"Size": size},
                    "position": position,
                    "regular_price": Decimal(10 + n % 40) + position,
                }
                for n in range(count)
                for position, size in enumerate(sizes, start=1)
            ],
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--products", type=int, default=2_000)
    parser.add_argument("--variations", type=int, default=5)
    parser.add_argument("--latency", type=int, default=100, help="milliseconds added to every request")
    args = parser.parse_args()

    sandbox = Sandbox(Store(Settings()))
    admin = sandbox.store.add_user("administrator", "admin")
    issued = sandbox.store.issue_key(admin, "read_write", "bench")
    key = (issued.consumer_key, issued.consumer_secret)

    with tempfile.TemporaryDirectory() as tmp, ServedSandbox(sandbox, tls_dir=Path(tmp) / "tls") as served:
        workdir = Path(tmp)
        erp = StagingErp(f"sqlite:///{workdir / 'staging.sqlite'}")
        fill_erp(erp, args.products, args.variations)
        erp.close()
        sandbox.faults.replace([parse_fault_spec(f"latency={args.latency}")])
        first, first_seconds, second, second_seconds = asyncio.run(run_twice(products.run, served, key, workdir))
        store = sandbox.store
        made = sum(1 for p in store.all("product") if str(p.get("sku", "")).startswith("CAT-"))
        made_variations = sum(1 for _ in store.all("variation"))

    pages = math.ceil(args.products / 100)
    table = Table(
        title=f"{args.products:,} products × {args.variations} variations, {args.latency} ms latency per request "
        "(HTTPS, loopback)",
        title_justify="left",
    )
    for column in ("", "write requests", "read requests", "wall time", "target"):
        table.add_column(column, justify="left" if not column else "right")
    complete = made == args.products and made_variations == args.products * args.variations
    table.add_row(
        "first push (everything created)",
        f"{first.writes:,}",
        f"{first.reads:,}",
        f"{first_seconds:.1f} s",
        f"{made:,} products, {made_variations:,} variations in the store, {first.counts['failed']} record errors: "
        f"{'complete' if complete and not first.counts['failed'] else 'INCOMPLETE'}",
    )
    met = second.writes == 0 and second.reads <= pages
    table.add_row(
        "push with nothing changed",
        f"{second.writes:,}",
        f"{second.reads:,}",
        f"{second_seconds:.1f} s",
        f"0 writes, ≤ {pages} reads: {'met' if met else 'MISSED'} ({second.counts['unchanged']:,} unchanged)",
    )
    Console(width=max(Console().width, 150)).print(table)


if __name__ == "__main__":
    main()
