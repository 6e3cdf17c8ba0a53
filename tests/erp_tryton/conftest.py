"""A real trytond for each test: the set-up SQLite database is built once (about 30 s, cached under
``.woobridge/tryton-templates`` keyed by the module versions), copied fresh for every test, and served by
``trytond -d woobridge`` on a free loopback port. Skipped, with the reason, when the ``tryton`` extra is missing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from woobridge.erp.tryton import TrytonAdapter, TrytonSettings, devserver


@pytest.fixture(scope="session")
def tryton_template() -> Path:
    reason = devserver.missing_reason()
    if reason:
        pytest.skip(f"Tryton tests need trytond: {reason}")
    return devserver.ensure_template()


@pytest.fixture
def tryton_server(tryton_template: Path, tmp_path: Path) -> Iterator[devserver.TrytonServer]:
    with devserver.TrytonServer(tmp_path, tryton_template) as server:
        yield server


@pytest.fixture
def adapter(tryton_server: devserver.TrytonServer) -> Iterator[TrytonAdapter]:
    erp = TrytonAdapter(
        TrytonSettings(tryton_server.url, tryton_server.database, tryton_server.login, tryton_server.password)
    )
    yield erp
    erp.close()
