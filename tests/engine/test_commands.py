"""``woobridge runs`` and ``woobridge errors`` (list, retry, resolve) through the real command line."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from typer.testing import CliRunner

from woobridge.cli import app
from woobridge.commands.services import Services
from woobridge.flows.engine import RETRY_HANDLERS, acquire_lease, open_run
from woobridge.state import Connection, Locations, StateDB
from woobridge.state.models import RecordError

from .conftest import add_connection


class FakeErp:
    closed = False

    def close(self) -> None:
        self.closed = True


@dataclass
class ServicesWithErp(Services):
    erp: FakeErp | None = None

    def open_erp(self) -> FakeErp:
        self.erp = FakeErp()
        return self.erp


@dataclass
class Cli:
    home: Path

    @property
    def locations(self) -> Locations:
        return Locations.from_environment({"WOOBRIDGE_HOME": str(self.home)})

    def db(self) -> StateDB:
        return StateDB(self.locations.state_url)

    def run(self, *args: str, services: Services | None = None) -> Result:
        return CliRunner().invoke(
            app,
            list(args),
            obj=services or ServicesWithErp(self.locations, {}),
            env={"COLUMNS": "220"},
            catch_exceptions=False,
        )


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return Cli(tmp_path / "home")


@pytest.fixture
def db(cli: Cli) -> Iterator[StateDB]:
    state = cli.db()
    yield state
    state.close()


@pytest.fixture
def shop(db: StateDB) -> Connection:
    return add_connection(db, "shop")


async def a_partial_run(db: StateDB, connection: Connection, flow: str = "orders") -> list[RecordError]:
    async with open_run(db, connection, flow) as run:
        run.count(read=3, created=1, requests=1)
        run.bind("order", 1, "SO-1")
        return [
            run.record_error("order", 2, "unknown SKU 'HAT-9' (not in the ERP item list)", payload={"id": 2}),
            run.record_error("order", 3, "billing e-mail 'ann@' is invalid", payload={"id": 3}),
        ]


async def test_runs_lists_the_history_as_a_table_and_as_json(cli: Cli, db: StateDB, shop: Connection) -> None:
    empty = cli.run("runs")
    assert empty.exit_code == 0 and "No runs yet" in empty.output
    await a_partial_run(db, shop)
    with pytest.raises(RuntimeError):
        async with open_run(db, shop, "orders"):
            raise RuntimeError("ERP unreachable: connection refused")

    table = cli.run("runs")
    assert table.exit_code == 0
    assert "partial" in table.output and "failed" in table.output
    assert "RuntimeError: ERP unreachable: connection refused" in table.output

    data = json.loads(cli.run("runs", "--json", "--limit", "1").output)
    assert [run["outcome"] for run in data["runs"]] == ["failed"]
    data = json.loads(cli.run("runs", "--json", "--connection", "shop", "--flow", "orders").output)
    first = data["runs"][-1]
    assert (first["read"], first["created"], first["failed"], first["outcome"]) == (3, 1, 2, "partial")


def test_runs_of_an_unknown_connection_says_which_exist(cli: Cli, shop: Connection) -> None:
    result = cli.run("runs", "--connection", "nope")
    assert result.exit_code == 2
    assert "no connection named 'nope' (known: shop)" in result.output


async def test_errors_lists_open_errors_with_reasons(cli: Cli, db: StateDB, shop: Connection) -> None:
    assert "No open record errors" in cli.run("errors").output
    errors = await a_partial_run(db, shop)
    result = cli.run("errors")
    assert result.exit_code == 0
    assert "unknown SKU 'HAT-9'" in result.output and "order 3" in result.output
    assert "woobridge errors retry ID" in result.output

    data = json.loads(cli.run("errors", "--json", "-c", "shop").output)
    assert [(e["id"], e["store_id"], e["payload"]) for e in data["errors"]] == [
        (errors[0].id, "2", {"id": 2}),
        (errors[1].id, "3", {"id": 3}),
    ]


async def test_resolve_closes_an_error_and_all_shows_the_history(cli: Cli, db: StateDB, shop: Connection) -> None:
    errors = await a_partial_run(db, shop)
    result = cli.run("errors", "resolve", str(errors[0].id))
    assert result.exit_code == 0 and "resolved by hand" in result.output
    again = cli.run("errors", "resolve", str(errors[0].id))
    assert "already resolved" in again.output
    open_ids = [e["id"] for e in json.loads(cli.run("errors", "--json").output)["errors"]]
    assert open_ids == [errors[1].id]
    history = cli.run("errors", "--all")
    assert "resolved" in history.output and "by hand" in history.output
    missing = cli.run("errors", "resolve", "999", "--json")
    assert missing.exit_code == 2
    assert json.loads(missing.output)["error"].startswith("no record error with id 999")


def test_retry_hands_errors_to_the_flow_and_reports_what_is_still_failing(
    cli: Cli, db: StateDB, shop: Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    errors = asyncio.run(a_partial_run(db, shop, flow="testflow"))
    seen: dict[str, Any] = {}

    async def retry(db: StateDB, connection: Connection, errors: Sequence[RecordError], **deps: Any) -> None:
        seen.update(deps, connection=connection.name, ids=[e.id for e in errors])
        async with open_run(db, connection, "testflow") as run:
            for error in errors:
                if error.store_id == "2":  # the SKU was added to the ERP since
                    run.bind(error.resource, error.store_id, "SO-2")
                else:
                    run.record_error(error.resource, error.store_id, "billing e-mail 'ann@' is still invalid")

    monkeypatch.setitem(RETRY_HANDLERS, "testflow", retry)
    services = ServicesWithErp(cli.locations, {})
    result = cli.run("errors", "retry", "--all", services=services)
    assert result.exit_code == 1
    assert "1 of 2 record error(s) resolved" in result.output
    assert "still invalid" in result.output
    assert seen["connection"] == "shop" and seen["ids"] == [e.id for e in errors]
    assert seen["erp"] is services.erp and seen["services"] is services
    assert services.erp is not None and services.erp.closed

    retried = json.loads(cli.run("errors", "--json").output)["errors"]
    assert [(e["store_id"], e["attempts"]) for e in retried] == [("3", 2)]

    single = cli.run("errors", "retry", str(errors[0].id))
    assert "already resolved" in single.output and single.exit_code == 0


def test_retry_of_a_flow_without_a_handler_says_so(cli: Cli, db: StateDB, shop: Connection) -> None:
    errors = asyncio.run(a_partial_run(db, shop, flow="nosuchflow"))
    result = cli.run("errors", "retry", str(errors[0].id))
    assert result.exit_code == 1
    assert "the nosuchflow flow cannot retry record errors yet" in result.output
    assert "woobridge errors resolve ID" in result.output


def test_retry_needs_an_id_or_all(cli: Cli, shop: Connection) -> None:
    result = cli.run("errors", "retry")
    assert result.exit_code == 2 and "an ID" in result.output
    assert "No open record errors to retry" in cli.run("errors", "retry", "--all").output


def test_retry_while_the_flow_runs_leaves_the_errors_open(
    cli: Cli, db: StateDB, shop: Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    errors = asyncio.run(a_partial_run(db, shop, flow="testflow"))

    async def retry(db: StateDB, connection: Connection, errors: Sequence[RecordError], **deps: Any) -> None:
        async with open_run(db, connection, "testflow"):
            pass

    monkeypatch.setitem(RETRY_HANDLERS, "testflow", retry)
    with db.session() as session:  # a sync of the flow is running elsewhere
        assert acquire_lease(session, shop.id, "testflow", "worker-2:77:abcd", ttl=60) is not None
    result = cli.run("errors", "retry", str(errors[0].id))
    assert result.exit_code == 1
    assert "already running" in result.output and "stay open" in result.output


def test_errors_on_another_connection_are_filtered(cli: Cli, db: StateDB, shop: Connection) -> None:
    add_connection(db, "outlet")
    result = cli.run("errors", "--connection", "outlet", "--json")
    assert json.loads(result.output) == {"ok": True, "errors": []}


def test_retry_that_loses_the_erp_keeps_the_errors_and_says_why(
    cli: Cli, db: StateDB, shop: Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    from woobridge.erp.port import ErpUnavailable

    errors = asyncio.run(a_partial_run(db, shop, flow="testflow"))

    async def retry(db: StateDB, connection: Connection, errors: Sequence[RecordError], **deps: Any) -> None:
        raise ErpUnavailable("staging database is locked")

    monkeypatch.setitem(RETRY_HANDLERS, "testflow", retry)
    result = cli.run("errors", "retry", "--all", "--json")
    assert result.exit_code == 1
    data = json.loads(result.output)
    assert "ErpUnavailable: staging database is locked" in data["problems"][0]
    assert [e["id"] for e in data["still_open"]] == [e.id for e in errors]
