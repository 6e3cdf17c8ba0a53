"""``woobridge runs`` and ``woobridge errors``: what the flows did, and the records they could not sync.

``woobridge errors retry ID|--all`` hands the errors to their flow's retry handler (``RETRY_HANDLERS`` in
``woobridge.flows.engine``) with an ERP adapter from ``woobridge.erp.open_erp()``; ``woobridge errors resolve ID``
closes an error someone dealt with by hand.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text
from sqlalchemy.exc import SQLAlchemyError

from woobridge.commands import render
from woobridge.commands.guardrails import ExitCode
from woobridge.commands.services import Services
from woobridge.flows.engine import (
    LeaseHeld,
    RunSummary,
    UnknownRecordError,
    get_error,
    list_errors,
    list_runs,
    load_retry_handler,
    resolve_error,
)
from woobridge.secrets import MasterKeyError
from woobridge.state import Connection, StateDB
from woobridge.state.connections import UnknownConnection, all_connections, get_connection
from woobridge.state.models import RecordError

_OUTCOME_STYLES = {
    "success": "green",
    "partial": "yellow",
    "failed": "bold red",
    "interrupted": "magenta",
    "running": "cyan",
}


class CommandFailed(Exception):
    """Stops a command with a message (what happened, why, what to do) and an exit code."""

    def __init__(self, message: str, exit_code: ExitCode) -> None:
        super().__init__(message)
        self.exit_code = exit_code


# -- plain data for --json ---------------------------------------------------------------------------------------


def error_to_dict(error: RecordError, connection_name: str) -> dict[str, Any]:
    """A record error as JSON (the payload included: it is what the store or the flow handed over)."""

    def when(moment: datetime | None) -> str | None:
        return moment.isoformat() if moment else None

    return {
        "id": error.id,
        "connection": connection_name,
        "flow": error.flow,
        "resource": error.resource,
        "store_id": error.store_id,
        "error_class": error.error_class,
        "message": error.message,
        "attempts": error.attempts,
        "first_seen": when(error.first_seen),
        "last_seen": when(error.last_seen),
        "next_retry_at": when(error.next_retry_at),
        "resolved_at": when(error.resolved_at),
        "resolution": error.resolution,
        "run_id": error.run_id,
        "payload": error.payload,
    }


# -- text output -----------------------------------------------------------------------------------------------------


def _moment(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") if value else "—"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "running"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {rest:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def runs_table(runs: Sequence[RunSummary]) -> Table:
    """The run history, newest first (times in UTC)."""
    table = Table(title="Runs (times in UTC)", title_justify="left")
    table.add_column("ID", justify="right")
    table.add_column("Connection")
    table.add_column("Flow")
    table.add_column("Started", no_wrap=True)
    table.add_column("Took", justify="right", no_wrap=True)
    for label in ("Read", "Created", "Updated", "Skipped", "Failed", "Requests"):
        table.add_column(label, justify="right")
    table.add_column("Outcome")
    table.add_column("Message", overflow="fold")
    for run in runs:
        counts = run.counts
        table.add_row(
            str(run.id),
            Text(run.connection),
            run.flow,
            _moment(run.started_at),
            _duration(run.duration),
            *(str(counts[name]) for name in ("read", "created", "updated", "skipped", "failed", "requests")),
            Text(run.outcome, style=_OUTCOME_STYLES.get(run.outcome, "")),
            Text(run.message or ""),
        )
    return table


def errors_table(errors: Sequence[RecordError], names: dict[int, str], *, title: str) -> Table:
    """Record errors, oldest first: which record, why, how often, and when it is retried (times in UTC)."""
    table = Table(title=title, title_justify="left")
    table.add_column("ID", justify="right")
    table.add_column("Connection")
    table.add_column("Flow")
    table.add_column("Record", no_wrap=True)
    table.add_column("Error", overflow="fold")
    table.add_column("Tries", justify="right")
    table.add_column("First seen", no_wrap=True)
    table.add_column("Last seen", no_wrap=True)
    table.add_column("Next retry / resolved", no_wrap=True)
    for error in errors:
        if error.resolved_at is not None:
            status = Text(f"resolved {_moment(error.resolved_at)} ({error.resolution or 'by hand'})", style="green")
        else:
            status = Text(_moment(error.next_retry_at))
        table.add_row(
            str(error.id),
            Text(names.get(error.connection_id, str(error.connection_id))),
            error.flow,
            Text(f"{error.resource} {error.store_id}"),
            Text(f"{error.error_class}: ", style="bold") + Text(error.message),
            str(error.attempts),
            _moment(error.first_seen),
            _moment(error.last_seen),
            status,
        )
    return table


# -- plumbing shared by the commands -----------------------------------------------------------------------------


def _services(ctx: typer.Context) -> Services:
    # Sub-commands of ``errors`` see the root's obj through their parent context.
    root = ctx.find_root()
    return root.obj if isinstance(root.obj, Services) else Services.from_environment()


def _fail(console: Console, json_output: bool, error: CommandFailed) -> NoReturn:
    if json_output:
        render.emit_json(console, {"ok": False, "exit_code": int(error.exit_code), "error": str(error)})
    else:
        Console(stderr=True).print(Text("error: ", style="bold red") + Text(str(error)))
    raise typer.Exit(int(error.exit_code))


@contextmanager
def _guarded(console: Console, json_output: bool, services: Services) -> Iterator[None]:
    """Errors a person can act on become a message and an exit code; the services are closed."""
    try:
        yield
    except CommandFailed as error:
        _fail(console, json_output, error)
    except (UnknownConnection, UnknownRecordError) as error:
        _fail(console, json_output, CommandFailed(str(error), ExitCode.BAD_INPUT))
    except MasterKeyError as error:
        _fail(console, json_output, CommandFailed(str(error), ExitCode.STATE_ERROR))
    except SQLAlchemyError as error:
        orig = getattr(error, "orig", None)
        reason = type(orig).__name__ if orig is not None else type(error).__name__
        url = services.locations.state_url.split("@")[-1]
        message = f"the state database ({url}) failed: {reason}. Check that it is reachable, then run this again."
        _fail(console, json_output, CommandFailed(message, ExitCode.STATE_ERROR))
    finally:
        services.close()


def _names(db: StateDB) -> dict[int, str]:
    with db.session() as session:
        return {connection.id: connection.name for connection in all_connections(session)}


def _connection(db: StateDB, name: str | None) -> Connection | None:
    if name is None:
        return None
    with db.session() as session:
        return get_connection(session, name)


def _open_erp(services: Services) -> Any:
    """The ERP adapter the retry handlers need, as ``woobridge sync`` opens it (a test's Services may bring its own)."""
    own = getattr(services, "open_erp", None)
    if callable(own):
        return own()
    from woobridge.erp import ErpConfigError, ErpUnavailable, open_erp

    try:
        return open_erp(environ=services.environ)
    except ErpConfigError as error:
        raise CommandFailed(f"{error}. Nothing was retried.", ExitCode.BAD_INPUT) from None
    except (ErpUnavailable, ValueError) as error:
        raise CommandFailed(
            f"the ERP cannot be opened: {error}. Nothing was retried; fix that and run this again.",
            ExitCode.TRY_AGAIN_LATER,
        ) from None


# -- retry -----------------------------------------------------------------------------------------------------------


async def _retry(
    services: Services, db: StateDB, errors: Sequence[RecordError], names: dict[int, str]
) -> list[dict[str, Any]]:
    """Hand each flow its errors; returns one report per (connection, flow) group."""
    groups: dict[tuple[int, str], list[RecordError]] = defaultdict(list)
    for error in errors:
        groups[(error.connection_id, error.flow)].append(error)
    reports: list[dict[str, Any]] = []
    erp: Any = None
    try:
        for (connection_id, flow), group in groups.items():
            name = names.get(connection_id, str(connection_id))
            report: dict[str, Any] = {"connection": name, "flow": flow, "ids": [e.id for e in group]}
            reports.append(report)
            handler = load_retry_handler(flow)
            if handler is None:
                report["problem"] = (
                    f"the {flow} flow cannot retry record errors yet (it registered no retry handler), so its "
                    f"{len(group)} error(s) stay open. Fix the cause, then resolve them with "
                    "`woobridge errors resolve ID`."
                )
                continue
            if erp is None:
                erp = _open_erp(services)
            with db.session() as session:
                connection = get_connection(session, name)
            try:
                await handler(db, connection, list(group), erp=erp, services=services)
            except LeaseHeld as held:
                report["problem"] = f"{held} The errors stay open; retry once it has finished."
            except Exception as error:  # the store or the ERP went away mid-retry: say so, keep the errors open
                report["problem"] = (
                    f"retrying the {flow} errors of {name!r} stopped: {type(error).__name__}: {error}. Those not "
                    "retried stay open; run this again once the store and the ERP answer."
                )
    finally:
        if erp is not None and callable(getattr(erp, "close", None)):
            erp.close()
    return reports


JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON document instead of a table.")]
ConnectionOption = Annotated[str | None, typer.Option("--connection", "-c", help="Only this connection (by name).")]
FlowOption = Annotated[str | None, typer.Option("--flow", help="Only this flow, e.g. orders.")]


def register(app: typer.Typer) -> None:
    """Add ``runs`` and ``errors`` (with ``errors retry`` and ``errors resolve``) to the command line."""

    @app.command("runs")
    def runs_command(
        ctx: typer.Context,
        connection: ConnectionOption = None,
        flow: FlowOption = None,
        limit: Annotated[int, typer.Option("--limit", min=1, help="How many runs, newest first.")] = 50,
        json_output: JsonOption = False,
    ) -> None:
        """The latest runs of every flow: when, how long, what they read, created, updated, skipped and failed."""
        services = _services(ctx)
        console = Console()
        with _guarded(console, json_output, services):
            db = services.state()
            runs = list_runs(db, connection=_connection(db, connection), flow=flow, limit=limit)
            if json_output:
                render.emit_json(console, {"ok": True, "runs": [run.to_dict() for run in runs]})
                return
            if not runs:
                console.print("No runs yet. Start one with: woobridge sync orders --connection NAME")
                return
            console.print(runs_table(runs))

    errors_app = typer.Typer(
        help="Records a flow could not sync: list them (default), retry them, or mark them resolved.",
        invoke_without_command=True,
        no_args_is_help=False,
    )
    app.add_typer(errors_app, name="errors")

    @errors_app.callback()
    def errors_command(
        ctx: typer.Context,
        connection: ConnectionOption = None,
        flow: FlowOption = None,
        show_all: Annotated[bool, typer.Option("--all", help="Resolved errors too (history).")] = False,
        json_output: JsonOption = False,
    ) -> None:
        """List the open record errors (``--all``: resolved ones too), oldest first."""
        if ctx.invoked_subcommand is not None:
            return
        services = _services(ctx)
        console = Console()
        with _guarded(console, json_output, services):
            db = services.state()
            errors = list_errors(db, connection=_connection(db, connection), open_only=not show_all, flow=flow)
            names = _names(db)
            if json_output:
                payload = [error_to_dict(error, names.get(error.connection_id, "")) for error in errors]
                render.emit_json(console, {"ok": True, "errors": payload})
                return
            if not errors:
                console.print("No open record errors." if not show_all else "No record errors.")
                return
            title = "Record errors (times in UTC)" if show_all else "Open record errors (times in UTC)"
            console.print(errors_table(errors, names, title=title))
            console.print(
                "Retry one: woobridge errors retry ID (all: --all). After fixing one outside woobridge: "
                "woobridge errors resolve ID. Details and payloads: woobridge errors --json"
            )

    @errors_app.command("retry")
    def retry_command(
        ctx: typer.Context,
        error_id: Annotated[int | None, typer.Argument(metavar="ID", help="The record error to retry.")] = None,
        retry_all: Annotated[bool, typer.Option("--all", help="Every open error (narrow with -c/--flow).")] = False,
        connection: ConnectionOption = None,
        flow: FlowOption = None,
        json_output: JsonOption = False,
    ) -> None:
        """Try records again now (read afresh from the store): those that now go through are resolved.

        Exit code 0 when every retried error is resolved, 1 when some stay open (the table says why)."""
        services = _services(ctx)
        console = Console()
        with _guarded(console, json_output, services):
            if (error_id is None) == (not retry_all):
                raise CommandFailed(
                    "say which errors to retry: an ID (see `woobridge errors`) or --all.", ExitCode.BAD_INPUT
                )
            db = services.state()
            if error_id is not None:
                chosen = [get_error(db, error_id)]
                if chosen[0].resolved_at is not None:
                    message = f"record error {error_id} is already resolved ({chosen[0].resolution}); nothing to retry."
                    if json_output:
                        render.emit_json(console, {"ok": True, "retried": [], "still_open": [], "note": message})
                    else:
                        console.print(message)
                    return
            else:
                chosen = list_errors(db, connection=_connection(db, connection), open_only=True, flow=flow)
            if not chosen:
                if json_output:
                    render.emit_json(console, {"ok": True, "retried": [], "still_open": []})
                else:
                    console.print("No open record errors to retry.")
                return
            names = _names(db)
            reports = asyncio.run(_retry(services, db, chosen, names))
            after = [get_error(db, error.id) for error in chosen]
            resolved = [error for error in after if error.resolved_at is not None]
            still_open = [error for error in after if error.resolved_at is None]
            problems = [report["problem"] for report in reports if "problem" in report]
            if json_output:
                render.emit_json(
                    console,
                    {
                        "ok": not still_open,
                        "resolved": [error_to_dict(e, names.get(e.connection_id, "")) for e in resolved],
                        "still_open": [error_to_dict(e, names.get(e.connection_id, "")) for e in still_open],
                        "problems": problems,
                    },
                )
            else:
                for problem in problems:
                    console.print(Text("note: ", style="yellow") + Text(problem))
                if resolved:
                    console.print(
                        render.success_header(
                            f"{len(resolved)} of {len(after)} record error(s) resolved: "
                            + ", ".join(str(e.id) for e in resolved)
                        )
                    )
                untried = {i for report in reports if "problem" in report for i in report["ids"]}
                failing = [error for error in still_open if error.id not in untried]
                if failing:
                    console.print(
                        render.failure_header(f"{len(failing)} of {len(after)} still failing (newest reason shown)")
                    )
                    console.print(errors_table(failing, names, title="Still open (times in UTC)"))
                if failing:
                    console.print(
                        "Fix the cause (in the store or the ERP) and retry, or after fixing it by hand: "
                        "woobridge errors resolve ID"
                    )
            if still_open:
                raise typer.Exit(1)

    @errors_app.command("resolve")
    def resolve_command(
        ctx: typer.Context,
        error_id: Annotated[int, typer.Argument(metavar="ID", help="The record error someone dealt with.")],
        json_output: JsonOption = False,
    ) -> None:
        """Mark a record error resolved: it was dealt with outside woobridge and must not be retried."""
        services = _services(ctx)
        console = Console()
        with _guarded(console, json_output, services):
            db = services.state()
            before = get_error(db, error_id)
            error = resolve_error(db, error_id)
            names = _names(db)
            already = before.resolved_at is not None
            if json_output:
                render.emit_json(
                    console,
                    {
                        "ok": True,
                        "already_resolved": already,
                        "error": error_to_dict(error, names.get(error.connection_id, "")),
                    },
                )
                return
            record = f"{error.flow} {error.resource} {error.store_id}"
            if already:
                console.print(
                    f"Record error {error_id} ({record}) was already resolved at {_moment(error.resolved_at)} UTC "
                    f"({error.resolution}); nothing changed."
                )
            else:
                console.print(
                    render.success_header(
                        f"Record error {error_id} ({record}) resolved by hand; it will not be retried."
                    )
                )
