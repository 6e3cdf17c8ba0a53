"""The staging adapter's ``put_sales_orders`` alone: time per page of sales orders written to fresh staging tables.

A sandbox store is seeded in memory (N orders, default 5,000), each order rendered as its REST JSON and mapped to a
``SalesOrder`` once (as the orders flow does); then only the writes are timed, in pages of 100 as the flow sends
them, best of ``--repeat`` runs, each on a fresh staging database (a SQLite file, or a PostgreSQL schema):

* ``insert``: every order new (a first sync);
* ``update``: the same orders again with a changed status (every header rewritten, every line replaced);
* ``same``: the same documents once more (nothing to write).

Prints wall time and this process's CPU time (on PostgreSQL the server's CPU is not in it). ``--profile``
prints a cProfile of one ``insert`` pass instead (sorted by total time).

    .venv/bin/python bench/staging_orders.py [--orders 5000] [--repeat 3] [--profile]
    .venv/bin/python bench/staging_orders.py --postgres postgresql+psycopg://postgres@127.0.0.1:5432/test
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text

from woobridge.documents import SalesOrder
from woobridge.erp.port import ErpRecordError
from woobridge.erp.staging import StagingErp
from woobridge.flows.order_mapping import OrderUnreadable, to_sales_order
from woobridge.sandbox.orders import to_rest
from woobridge.sandbox.seed import seed
from woobridge.sandbox.state import Settings, Store

PAGE = 100


def sales_orders(count: int) -> list[SalesOrder]:
    """``count`` seeded store orders as the flow maps them (orders the mapping refuses are left out)."""
    store = Store(Settings())
    seed(store, products=60, orders=count, customers=300, seed=1)
    documents: list[SalesOrder] = []
    for order in store.all("order"):
        try:
            documents.append(to_sales_order(to_rest(store, order, "https://shop.test/wp-json/")))
        except OrderUnreadable:
            continue
    return documents


def put_pages(erp: StagingErp, documents: Sequence[SalesOrder]) -> None:
    for start in range(0, len(documents), PAGE):
        results = erp.put_sales_orders("bench", documents[start : start + PAGE])
        refused = [result for result in results if isinstance(result, ErpRecordError)]
        assert not refused, refused[0]


@contextmanager
def fresh_staging(postgres: str | None) -> Iterator[StagingErp]:
    """A staging ERP on empty tables: a new SQLite file, or a new schema in the PostgreSQL database given."""
    if postgres is None:
        with tempfile.TemporaryDirectory() as tmp:
            erp = StagingErp(f"sqlite:///{Path(tmp) / 'staging.sqlite'}")
            try:
                yield erp
            finally:
                erp.close()
        return
    schema = f"bench_staging_{uuid.uuid4().hex[:12]}"
    admin = create_engine(postgres)
    with admin.begin() as db:
        db.execute(text(f'CREATE SCHEMA "{schema}"'))
    erp = StagingErp(postgres, connect_args={"options": f"-csearch_path={schema}"})
    try:
        yield erp
    finally:
        erp.close()
        with admin.begin() as db:
            db.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def best_of(
    repeat: int, postgres: str | None, passes: Callable[[StagingErp], tuple[float, float]]
) -> tuple[float, float]:
    """The best wall and CPU times ``passes`` reports over ``repeat`` fresh staging databases."""
    times: list[tuple[float, float]] = []
    for _ in range(repeat):
        with fresh_staging(postgres) as erp:
            times.append(passes(erp))
    return min(wall for wall, _cpu in times), min(cpu for _wall, cpu in times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--orders", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--postgres", help="a PostgreSQL URL: a fresh schema there per run instead of SQLite")
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()

    started = time.perf_counter()
    documents = sales_orders(args.orders)
    changed = [d.model_copy(update={"status": "completed"}) for d in documents]
    print(f"{len(documents)} sales orders mapped in {time.perf_counter() - started:.1f} s")

    if args.profile:
        with fresh_staging(args.postgres) as erp:
            profile = cProfile.Profile()
            profile.runcall(put_pages, erp, documents)
        pstats.Stats(profile).sort_stats("tottime").print_stats(30)
        return

    def timed(erp: StagingErp, *rounds: Sequence[SalesOrder]) -> tuple[float, float]:
        """Puts every round but the last untimed; times the last (wall, this process's CPU)."""
        for documents_ in rounds[:-1]:
            put_pages(erp, documents_)
        wall, cpu = time.perf_counter(), time.process_time()
        put_pages(erp, rounds[-1])
        return time.perf_counter() - wall, time.process_time() - cpu

    insert = best_of(args.repeat, args.postgres, lambda erp: timed(erp, documents))
    update = best_of(args.repeat, args.postgres, lambda erp: timed(erp, documents, changed))
    same = best_of(args.repeat, args.postgres, lambda erp: timed(erp, documents, documents))
    pages = -(-len(documents) // PAGE)
    print(f"best of {args.repeat}, {pages} pages of {PAGE}: wall / CPU (CPU per page)")
    for name, (wall, cpu) in (("insert", insert), ("update", update), ("same", same)):
        print(f"{name:7} {wall:6.3f} s / {cpu:6.3f} s  ({cpu / pages * 1000:5.1f} ms per page)")


if __name__ == "__main__":
    main()
