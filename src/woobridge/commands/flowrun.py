"""How every ``woobridge sync <flow>`` and ``woobridge audit <flow>`` command runs: pick the connection, open the
ERP, run the flow, close everything, print the report (Rich, or JSON with ``--json``) and exit with the documented
code. The commands themselves (``sync.py``, ``inventory.py``, ``catalog.py``) only say which flow, with which
options, and how its report looks: ``run_flow(...)``.

They read the state database and master key from the environment (``WOOBRIDGE_HOME``, ``WOOBRIDGE_STATE_URL``,
``WOOBRIDGE_MASTER_KEY``) and write to the ERP ``WOOBRIDGE_ERP`` names (the staging database at
``WOOBRIDGE_STAGING_URL`` by default), so they run the same from a terminal, cron, or a worker's subprocess.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Iterator, Mapping
from contextlib import contextmanager
from enum import IntEnum
from typing import Annotated, Any, NoReturn, Protocol, TypeVar

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text
from sqlalchemy.exc import SQLAlchemyError

from woobridge.commands import render
from woobridge.commands.services import Services


class SyncExit(IntEnum):
    """What ``sync`` and ``audit`` exit with."""

    OK = 0
    RECORD_ERRORS = 1  # the run finished, but some orders are record errors (woobridge errors lists them)
    BAD_INPUT = 2
    STORE_FAILED = 3  # the store refused or failed in a way retrying will not fix (credentials, permissions…)
    TRY_AGAIN_LATER = 5  # the store throttled or did not answer, or another run of the flow is going on
    STATE_ERROR = 6
    ERP_UNAVAILABLE = 7


SYNC_EXIT_MEANINGS = {
    SyncExit.OK: "every order in the window was synced (or was unchanged or waiting)",
    SyncExit.RECORD_ERRORS: "the run finished but some orders are record errors: see woobridge errors",
    SyncExit.BAD_INPUT: "bad input: unknown connection, bad date, bad connection settings",
    SyncExit.STORE_FAILED: "the store refused the request (credentials, permissions, not WooCommerce…)",
    SyncExit.TRY_AGAIN_LATER: "the store is throttling or unreachable, or the flow is already running",
    SyncExit.STATE_ERROR: "woobridge's own state database or master key",
    SyncExit.ERP_UNAVAILABLE: "the ERP (staging database) cannot be reached",
}
"""What each ``sync`` exit code means (the commands' --help and the README's exit code table)."""

SYNC_EXIT_HELP = "\n\n".join(f"{int(code)}: {text}" for code, text in SYNC_EXIT_MEANINGS.items())


class Failed(Exception):
    """A command's own input is wrong: ``message`` is printed, the command exits with ``code``."""

    def __init__(self, message: str, code: SyncExit) -> None:
        super().__init__(message)
        self.code = code


ConnectionOption = Annotated[
    str | None, typer.Option("--connection", "-c", help="The connection (default: the only one).")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]


# -- running a flow ----------------------------------------------------------------------------------------------------


class FlowReport(Protocol):
    """What every flow's ``run`` / ``audit`` returns: a report that can be printed as JSON."""

    def to_dict(self) -> dict[str, Any]: ...


Report = TypeVar("Report", bound=FlowReport)


def finished(record_errors: int) -> SyncExit:
    """How a run that finished exits: 1 when some records became record errors (``woobridge errors``), else 0."""
    return SyncExit.RECORD_ERRORS if record_errors else SyncExit.OK


def _counted_record_errors(report: Any) -> SyncExit:
    return finished(report.counts["failed"])


def run_flow(
    ctx: typer.Context,
    connection: str | None,
    json_output: bool,
    flow: Callable[..., Coroutine[Any, Any, Report]],
    show: Callable[[Console, Report], None],
    *,
    exit_code: Callable[[Report], int] = _counted_record_errors,
    flow_options: Callable[[], Mapping[str, Any]] | None = None,
    opens_erp: bool = True,
    console: Console | None = None,
    show_json: Callable[[Console, dict[str, Any]], None] = render.emit_json,
) -> NoReturn:
    """Run one flow for a command and exit with its code; never returns.

    ``flow(state_db, connection_name, erp=…, services=…, **flow_options())`` is the flow's ``run`` or ``audit``
    (bind its own options with ``functools.partial`` or a lambda). ``flow_options`` is read once the connection is
    picked and before the ERP is opened, so a bad option (``Failed``) exits 2 without touching the ERP.
    ``opens_erp=False``: the flow gets ``erp=None`` (it needs no ERP, or opens the configured one itself, from
    ``services.environ``: the orders sync opens it while it waits for the store's first page).
    ``exit_code(report)``: default 1 when ``report.counts["failed"]``.
    The report is printed with ``show(console, report)``, or with ``--json`` as ``show_json(console, {"ok": …,
    "exit_code": …, **report.to_dict()})``. Whatever stops the run becomes a message and an exit code (``guarded``).
    """
    from woobridge.erp import open_erp

    console = console or Console(highlight=False, soft_wrap=True)
    services = ctx.obj if isinstance(ctx.obj, Services) else Services.from_environment()
    with guarded(console, json_output, services):
        name = pick_connection(services, connection)
        options = flow_options() if flow_options is not None else {}
        store_url = _store_url(services, name)
        erp = open_erp(environ=services.environ) if opens_erp else None
        try:
            with guarded(console, json_output, services, store_url):
                report = asyncio.run(flow(services.state(), name, erp=erp, services=services, **options))
        finally:
            if erp is not None:
                erp.close()
        code = exit_code(report)
        if json_output:
            show_json(console, {"ok": code == SyncExit.OK, "exit_code": int(code), **report.to_dict()})
        else:
            show(console, report)
    raise typer.Exit(int(code))


def pick_connection(services: Services, name: str | None) -> str:
    """The named connection, or the only one there is."""
    from woobridge.state.connections import all_connections, get_connection

    with services.state().session() as session:
        if name is not None:
            return get_connection(session, name).name
        names = [c.name for c in all_connections(session)]
    if len(names) == 1:
        return names[0]
    if not names:
        raise Failed("no connection yet: woobridge connect NAME --url … --key …", SyncExit.BAD_INPUT)
    raise Failed(f"several connections ({', '.join(names)}): choose one with --connection NAME", SyncExit.BAD_INPUT)


def _store_url(services: Services, name: str) -> str:
    from woobridge.state.connections import get_connection

    with services.state().session() as session:
        return get_connection(session, name).store_url


# -- what can stop a run, and the exit code it gets -------------------------------------------------------------------


@contextmanager
def guarded(console: Console, json_output: bool, services: Services, store_url: str = "") -> Iterator[None]:
    """Turn what can stop a run into a message and an exit code; close the services."""
    from woobridge.erp import ErpConfigError
    from woobridge.erp.port import ErpUnavailable
    from woobridge.flows.context import SettingsError
    from woobridge.flows.engine import LeaseHeld, LeaseLost
    from woobridge.secrets import MasterKeyError
    from woobridge.state.connections import UnknownConnection
    from woobridge.woo.errors import WooError

    try:
        yield
    except Failed as error:
        fail(console, json_output, str(error), error.code)
    except (UnknownConnection, SettingsError, ErpConfigError) as error:
        fail(console, json_output, str(error), SyncExit.BAD_INPUT)
    except (LeaseHeld, LeaseLost) as error:
        fail(console, json_output, str(error), SyncExit.TRY_AGAIN_LATER)
    except ErpUnavailable as error:
        fail(
            console,
            json_output,
            f"the ERP cannot be reached: {error}. The cursor did not move.",
            SyncExit.ERP_UNAVAILABLE,
        )
    except MasterKeyError as error:
        fail(console, json_output, str(error), SyncExit.STATE_ERROR)
    except WooError as error:
        from woobridge.woo.diagnose import diagnose_error

        diagnosis = diagnose_error(error, store_url or (error.url or ""))
        code = SyncExit.TRY_AGAIN_LATER if error.retryable or diagnosis.retryable else SyncExit.STORE_FAILED
        fail(console, json_output, f"the store failed: {diagnosis}. The cursor did not move.", code)
    except SQLAlchemyError as error:
        orig = getattr(error, "orig", None)
        reason = type(orig).__name__ if orig is not None else type(error).__name__
        fail(console, json_output, f"the state database failed: {reason}", SyncExit.STATE_ERROR)
    finally:
        services.close()


def fail(console: Console, json_output: bool, message: str, code: SyncExit) -> NoReturn:
    """Print ``message`` (on stderr, or as JSON on stdout with ``--json``) and exit with ``code``."""
    if json_output:
        render.emit_json(console, {"ok": False, "exit_code": int(code), "error": message})
    else:
        Console(stderr=True).print(Text("error: ", style="bold red") + Text(message))
    raise typer.Exit(int(code))


# -- the table every flow's report is printed as ----------------------------------------------------------------------


def report_table(title: str) -> Table:
    """A two-column table (label, value) without header or borders: how a run's report looks in a terminal."""
    table = Table(title=title, title_justify="left", show_header=False, box=None, padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
    return table


def add_run_row(table: Table, report: Any) -> None:
    """The run's number, outcome and duration, once it has them."""
    if report.run is not None and report.run.duration is not None:
        table.add_row("run", f"#{report.run.id} {report.run.outcome} in {report.run.duration:.1f} s")
