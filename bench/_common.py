"""What the push benchmarks share: a state database holding one connection to a served sandbox, a staging ERP
database, and one flow run twice (the first run, then one with nothing changed), each timed.

Imported as ``_common`` by the scripts next to it (they are run as ``.venv/bin/python bench/<name>.py``)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

from cryptography.fernet import Fernet

from woobridge.erp.staging import StagingErp
from woobridge.sandbox.server import ServedSandbox
from woobridge.secrets import Vault
from woobridge.state import Connection, StateDB
from woobridge.woo import Credentials, WooClient

R = TypeVar("R")

# A flow's ``run(db, connection_name, erp=..., woo=...)``.
FlowRun = Callable[..., Awaitable[R]]


async def run_twice(
    run: FlowRun[R], served: ServedSandbox, key: tuple[str, str], workdir: Path
) -> tuple[R, float, R, float]:
    """Runs the flow against the served sandbox twice with the staging database in ``workdir`` (filled by the
    caller): returns each report with its wall time in seconds."""
    db = StateDB(f"sqlite:///{workdir / 'state.sqlite'}")
    with db.session() as session:
        connection = Connection(name="bench", store_url=served.base_url, key_created_at=datetime.now(UTC))
        connection.store_key(Vault([Fernet.generate_key()], "bench"), *key)
        session.add(connection)
    erp = StagingErp(f"sqlite:///{workdir / 'staging.sqlite'}")
    credentials = Credentials(served.base_url, key[0], key[1], "basic", str(served.ca_file))
    try:
        async with WooClient(credentials, max_concurrency=8) as woo:
            started = time.perf_counter()
            first = await run(db, "bench", erp=erp, woo=woo)
            first_seconds = time.perf_counter() - started
            started = time.perf_counter()
            second = await run(db, "bench", erp=erp, woo=woo)
            second_seconds = time.perf_counter() - started
    finally:
        erp.close()
        db.close()
    return first, first_seconds, second, second_seconds
