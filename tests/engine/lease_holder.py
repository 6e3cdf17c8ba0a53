"""A separate process that runs a flow for connection 'shop', for the lease tests.

    python lease_holder.py SPEC_JSON FLOW TTL HOLD_SECONDS [START_AT]

Prints ``ACQUIRED <run id>`` (then saves a cursor ``{"tick": n}`` every 50 ms for HOLD_SECONDS and prints
``DONE``) or ``HELD <holder>`` and exits 3. START_AT (epoch seconds) makes several processes try at once. When
the environment names a ``LEASE_HOLDER_STOP_FILE``, the holder also stops as soon as that file exists.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time

from woobridge.flows.engine import LeaseHeld, open_run
from woobridge.state import StateDB


def open_db(spec_json: str) -> StateDB:
    spec = json.loads(spec_json)
    options = {"connect_args": {"options": f"-csearch_path={spec['schema']}"}} if spec["schema"] else {}
    return StateDB(spec["url"], **options)


async def main(spec_json: str, flow: str, ttl: float, hold: float, start_at: float | None) -> int:
    db = open_db(spec_json)
    if start_at is not None:
        await asyncio.sleep(max(0.0, start_at - time.time()))
    try:
        async with open_run(db, "shop", flow, ttl=ttl) as run:
            print(f"ACQUIRED {run.id}", flush=True)
            deadline = time.monotonic() + hold
            tick = 0
            stop_file = os.environ.get("LEASE_HOLDER_STOP_FILE")
            while time.monotonic() < deadline and not (stop_file and os.path.exists(stop_file)):
                tick += 1
                run.save_cursor({"tick": tick})
                await asyncio.sleep(0.05)
        print("DONE", flush=True)
        return 0
    except LeaseHeld as error:
        print(f"HELD {error.holder}", flush=True)
        return 3
    finally:
        db.close()


if __name__ == "__main__":
    spec, flow, ttl, hold = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
    start = float(sys.argv[5]) if len(sys.argv) > 5 else None
    sys.exit(asyncio.run(main(spec, flow, ttl, hold, start)))
