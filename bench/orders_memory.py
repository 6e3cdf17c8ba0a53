"""Peak memory of ``woobridge sync orders`` as the store grows: 10,000, 50,000 and 100,000 orders.

For each size a sandbox store runs in its own process (``SandboxProcess`` on a state file, so its memory is not
counted), over HTTPS, without added latency. ``woobridge sync orders`` runs as a subprocess (state and staging
ERP on SQLite files) and its peak resident memory is read from the kernel when it exits (``os.wait4`` →
``ru_maxrss`` of that one process). Prints one table. Target: under 250 MB, and flat as N grows (pages stream).

Linux carries the *parent's* high-water mark into a child's ``ru_maxrss``: the child starts on (a copy of, or
with vfork the very) memory of the process that spawned it, and ``exec`` keeps that memory's peak. So the store is
seeded in a process of its own — seeding 100,000 orders in this process made it 890 MB, and every sync "peaked"
at exactly that — and the table says when this process's own peak could still mask the figure.

    .venv/bin/python bench/orders_memory.py [--sizes 10000,50000,100000]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).parent))

from orders_sync import WOOBRIDGE, make_store, woobridge_env

from woobridge.sandbox.server import SandboxProcess
from woobridge.sandbox.state import IssuedKey

TARGET_MB = 250.0


def seeded_store(path: Path, orders: int) -> IssuedKey:
    """``make_store`` in a process of its own, so seeding does not raise this process's peak (see the module)."""
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(make_store, (path, orders))


def own_peak_mb() -> float:
    """This process's own peak resident memory: a floor under every child's ``ru_maxrss``."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(orders: int, work: Path) -> tuple[float, float, dict[str, object]]:
    """(peak RSS in MB, wall seconds, report) of a first full sync of ``orders`` orders."""
    key = seeded_store(work / "store.sqlite", orders)
    with SandboxProcess(work / "store.sqlite", tls_dir=work / "tls") as sandbox:
        env = woobridge_env(work, sandbox, key)
        started = time.perf_counter()
        process = subprocess.Popen(
            [str(WOOBRIDGE), "sync", "orders", "--json"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        # Read the output while it runs (a full pipe would stall it), then reap it ourselves for its rusage.
        out = process.stdout.read() if process.stdout else b""
        err = process.stderr.read() if process.stderr else b""
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.perf_counter() - started
    if process.returncode not in (0, 1):
        raise SystemExit(f"woobridge sync orders failed ({process.returncode}): {out.decode()}\n{err.decode()}")
    return usage.ru_maxrss / 1024, seconds, json.loads(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,50000,100000", help="comma-separated order counts")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    table = Table(
        title="woobridge sync orders: peak RSS of the sync process (sandbox not counted)", title_justify="left"
    )
    for column in ("orders", "peak RSS", "wall time", "created", "requests", f"under {TARGET_MB:g} MB"):
        table.add_column(column, justify="right")
    peaks = []
    for size in sizes:
        with tempfile.TemporaryDirectory(prefix="woobridge-bench-") as tmp:
            peak, seconds, report = measure(size, Path(tmp))
        peaks.append(peak)
        table.add_row(
            f"{size:,}",
            f"{peak:.0f} MB",
            f"{seconds:.1f} s",
            f"{report['created']:,}",
            str(report["requests"]),
            "yes" if peak < TARGET_MB else "NO",
        )
    console = Console()
    console.print(table)
    floor = own_peak_mb()
    if floor >= min(peaks):
        console.print(f"[bold]this benchmark's own peak ({floor:.0f} MB) may mask the sync's: figures are upper bounds")
    else:
        console.print(f"this benchmark's own peak: {floor:.0f} MB (below every figure, so it masks none)")
    if len(peaks) > 1:
        console.print(f"growth from {sizes[0]:,} to {sizes[-1]:,} orders: {peaks[-1] - peaks[0]:+.0f} MB")


if __name__ == "__main__":
    main()
