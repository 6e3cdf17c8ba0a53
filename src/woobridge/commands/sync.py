"""``woobridge sync orders`` and ``woobridge audit orders``: run the orders flow now, or look for orders the ERP
lacks.

Both read the state database and master key from the environment (``WOOBRIDGE_HOME``, ``WOOBRIDGE_STATE_URL``,
``WOOBRIDGE_MASTER_KEY``) and write to the ERP named by ``WOOBRIDGE_STAGING_URL`` (default: ``staging.sqlite`` in
woobridge's home), so they run the same from a terminal, cron, or a worker's subprocess.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from enum import IntEnum
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
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
    def __init__(self, message: str, code: SyncExit) -> None:
        super().__init__(message)
        self.code = code


def parse_since(text: str | None) -> datetime | None:
    """``2026-11-01`` (midnight UTC) or an ISO date-time (``2026-11-01T08:30:00+01:00``; naive means UTC)."""
    if text is None:
        return None
    try:
        if len(text.strip()) == 10:
            day = date.fromisoformat(text.strip())
            return datetime(day.year, day.month, day.day, tzinfo=UTC)
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise Failed(
            f"--since {text!r} is not a date like 2026-11-01 or a date-time like 2026-11-01T08:30:00Z",
            SyncExit.BAD_INPUT,
        ) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


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
    if json_output:
        render.emit_json(console, {"ok": False, "exit_code": int(code), "error": message})
    else:
        Console(stderr=True).print(Text("error: ", style="bold red") + Text(message))
    raise typer.Exit(int(code))


def _services(ctx: typer.Context) -> Services:
    return ctx.obj if isinstance(ctx.obj, Services) else Services.from_environment()


def _store_url(services: Services, name: str) -> str:
    from woobridge.state.connections import get_connection

    with services.state().session() as session:
        return get_connection(session, name).store_url


# -- output -----------------------------------------------------------------------------------------------------------


def summary_table(report: Any, title: str = "orders → ERP") -> Table:
    """One table of what a sync did (also used by ``woobridge demo``)."""
    table = Table(title=title, title_justify="left", show_header=False, box=None, padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
    counts = report.counts
    window = f"modified after {report.window_start:%Y-%m-%d %H:%M:%S} UTC" if report.window_start else "all orders"
    table.add_row("connection", report.connection + ("  (dry run: nothing written)" if report.dry_run else ""))
    table.add_row("window", window)
    table.add_row(
        "read", str(counts["read"]) + (f" of {report.store_total} in the store" if report.store_total else "")
    )
    verb = "would be " if report.dry_run else ""
    table.add_row(f"{verb}created", str(counts["created"]))
    table.add_row(f"{verb}updated", str(counts["updated"]))
    table.add_row("unchanged", str(counts["unchanged"]))
    table.add_row("waiting", f"{counts['waiting']}  (not in an imported status yet)")
    table.add_row("record errors", str(counts["failed"]))
    limits = report.throttle.limits
    table.add_row(
        "requests",
        f"{report.requests}"
        + (f", {report.rereads} read again (orders left the list)" if report.rereads else "")
        + f"; pages in flight {' → '.join(map(str, limits[:8]))}{' …' if len(limits) > 8 else ''}"
        + (f"; slowed down {report.throttle.slowdowns}×" if report.throttle.slowdowns else ""),
    )
    if report.run is not None and report.run.duration is not None:
        table.add_row("run", f"#{report.run.id} {report.run.outcome} in {report.run.duration:.1f} s")
    if report.next_window_start is not None:
        moved = "next run reads from" if report.cursor_moved else "cursor not moved; would read from"
        table.add_row("cursor", f"{moved} {report.next_window_start:%Y-%m-%d %H:%M:%S} UTC (store clock)")
    return table


def print_failures(console: Console, report: Any) -> None:
    if not report.failures:
        return
    console.print(Text(f"{report.counts['failed']} order(s) could not be synced:", style="bold yellow"))
    for outcome in report.failures:
        console.print(f"  order {outcome.store_id} (#{outcome.number}, {outcome.status}): {outcome.message}")
    if report.counts["failed"] > len(report.failures):
        console.print(f"  … and {report.counts['failed'] - len(report.failures)} more")
    if not report.dry_run:
        console.print("  List them with: woobridge errors   Retry with: woobridge errors retry --all")


def _progress(console: Console) -> Progress | None:
    if not console.is_terminal:
        return None
    return Progress(
        TextColumn("orders"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )


# -- the commands ------------------------------------------------------------------------------------------------------

ConnectionOption = Annotated[
    str | None, typer.Option("--connection", "-c", help="The connection (default: the only one).")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]


def register(app: typer.Typer) -> None:
    """Add ``sync orders`` and ``audit orders`` to the command line."""
    sync_app = typer.Typer(help="Run a flow now.", no_args_is_help=True)
    audit_app = typer.Typer(help="Compare the store with what the ERP has.", no_args_is_help=True)
    app.add_typer(sync_app, name="sync")
    app.add_typer(audit_app, name="audit")
    from woobridge.commands.inventory import register as register_inventory

    register_inventory(sync_app, audit_app)  # sync inventory, audit inventory
    from woobridge.commands.catalog import register as register_catalog

    register_catalog(sync_app)  # sync products [--import], sync customers

    @sync_app.command("orders", epilog="Exit codes:\n\n" + SYNC_EXIT_HELP)
    def sync_orders(
        ctx: typer.Context,
        connection: ConnectionOption = None,
        since: Annotated[
            str | None,
            typer.Option(
                "--since",
                metavar="DATE",
                help="Read orders modified after DATE (UTC) instead of after the cursor.",
            ),
        ] = None,
        dry_run: Annotated[
            bool, typer.Option("--dry-run", help="Print the documents that would be written; write nothing.")
        ] = False,
        json_output: JsonOption = False,
    ) -> None:
        """Send new and changed orders to the ERP (store → ERP), from where the last run stopped."""
        from woobridge.erp import open_erp
        from woobridge.flows import orders

        console = Console(highlight=False, soft_wrap=True)
        services = _services(ctx)
        with guarded(console, json_output, services):
            name = pick_connection(services, connection)
            start = parse_since(since)
            store_url = _store_url(services, name)
            progress = None if json_output else _progress(console)
            task: Any = None

            def on_progress(done: int, total: int | None) -> None:
                if progress is not None:
                    progress.update(task, completed=done, total=max(total or done, done))

            def on_outcome(outcome: Any) -> None:
                if dry_run and outcome.action in ("created", "updated", "failed"):
                    _print_dry(console, outcome, json_output)

            erp = open_erp(environ=services.environ)
            try:
                with guarded(console, json_output, services, store_url):
                    if progress is not None:
                        progress.start()
                        task = progress.add_task("orders", total=None)
                    try:
                        report = asyncio.run(
                            orders.run(
                                services.state(),
                                name,
                                erp=erp,
                                services=services,
                                since=start,
                                dry_run=dry_run,
                                on_outcome=on_outcome,
                                on_progress=on_progress,
                            )
                        )
                    finally:
                        if progress is not None:
                            progress.stop()
            finally:
                erp.close()
            code = SyncExit.RECORD_ERRORS if report.counts["failed"] else SyncExit.OK
            if json_output:
                payload = {"ok": code == SyncExit.OK, "exit_code": int(code), **report.to_dict()}
                if dry_run:
                    console.file.write(json.dumps({"summary": payload}, default=str, ensure_ascii=False) + "\n")
                else:
                    render.emit_json(console, payload)
            else:
                console.print(summary_table(report))
                print_failures(console, report)
                render.print_notes(console, report.notes)
        raise typer.Exit(int(code))

    @audit_app.command("orders", epilog="Exit codes: 0 nothing missing (or all fixed), 1 orders missing or failed.")
    def audit_orders(
        ctx: typer.Context,
        since: Annotated[str, typer.Option("--since", metavar="DATE", help="Check orders created after DATE (UTC).")],
        connection: ConnectionOption = None,
        fix: Annotated[bool, typer.Option("--fix", help="Import the missing and out-of-date orders.")] = False,
        json_output: JsonOption = False,
    ) -> None:
        """List the store's orders (in an imported status) that the ERP does not have, or has in an older version."""
        from woobridge.erp import open_erp
        from woobridge.flows import orders

        console = Console(highlight=False, soft_wrap=True)
        services = _services(ctx)
        with guarded(console, json_output, services):
            name = pick_connection(services, connection)
            start = parse_since(since)
            assert start is not None
            store_url = _store_url(services, name)
            erp = open_erp(environ=services.environ) if fix else None
            try:
                with guarded(console, json_output, services, store_url):
                    report = asyncio.run(
                        orders.audit(services.state(), name, start, fix=fix, erp=erp, services=services)
                    )
            finally:
                if erp is not None:
                    erp.close()
            fixed = report.fixed
            unresolved = bool(report.entries) and (fixed is None or fixed.counts["failed"] > 0)
            code = 1 if unresolved else 0
            if json_output:
                render.emit_json(console, {"ok": code == 0, "exit_code": code, **report.to_dict()})
            else:
                _print_audit(console, report)
        raise typer.Exit(code)

    register_write_back(sync_app)


def _print_dry(console: Console, outcome: Any, json_output: bool) -> None:
    if json_output:
        line = {"would": outcome.action, **outcome.to_dict(with_document=True)}
        console.file.write(json.dumps(line, default=str, ensure_ascii=False) + "\n")
        return
    if outcome.action == "failed":
        console.print(Text(f"order {outcome.store_id}: record error: {outcome.message}", style="yellow"))
        return
    document = outcome.document
    verb = "create" if outcome.action == "created" else "update"
    console.print(
        Text(f"would {verb} order {outcome.store_id} (#{outcome.number}, {outcome.status}): ", style="bold")
        + Text(f"{document.total} {document.currency}, {len(document.lines)} line(s)")
    )
    console.file.write(document.model_dump_json(indent=2) + "\n")
    sys.stdout.flush()


def _print_audit(console: Console, report: Any) -> None:
    console.print(
        f"Checked {report.checked} order(s) created since {report.since:%Y-%m-%d %H:%M:%S} UTC in {report.connection}"
        f" ({report.qualifying} in an imported status, {report.requests} requests)."
    )
    if not report.entries:
        console.print(Text("Nothing missing: the ERP has every order it should.", style="green"))
        return
    table = Table(title=f"{len(report.missing)} missing, {len(report.stale)} out of date", title_justify="left")
    for column in ("order", "number", "status", "created (UTC)", "modified (UTC)", "total", "problem", "open error"):
        table.add_column(column, justify="right" if column in ("order", "total") else "left")
    for entry in report.entries[:200]:
        table.add_row(
            str(entry.store_id),
            entry.number,
            entry.status,
            entry.created_at.replace("T", " "),
            entry.modified_at.replace("T", " "),
            f"{entry.total} {entry.currency}",
            entry.problem,
            entry.open_error[:80],
        )
    console.print(table)
    if len(report.entries) > 200:
        console.print(f"… and {len(report.entries) - 200} more (--json lists them all)")
    if report.fixed is not None:
        console.print(summary_table(report.fixed, title="--fix"))
        print_failures(console, report.fixed)
    else:
        console.print("Import them with: woobridge audit orders --since … --fix")


# -- sync fulfillment, sync refunds ------------------------------------------------------------------------------------


def register_write_back(sync_app: typer.Typer) -> None:
    """Add ``sync fulfillment`` (ERP → store) and ``sync refunds`` (both ways)."""

    @sync_app.command("fulfillment", epilog="Exit codes:\n\n" + SYNC_EXIT_HELP)
    def sync_fulfillment(
        ctx: typer.Context, connection: ConnectionOption = None, json_output: JsonOption = False
    ) -> None:
        """Push the ERP's pending shipments to the store: tracking (Shipment Tracking extension, else a note the
        customer sees) and completed orders once every line has shipped."""
        from woobridge.flows import fulfillment

        _run_write_back(ctx, connection, json_output, fulfillment.run, _fulfillment_table)

    @sync_app.command("refunds", epilog="Exit codes:\n\n" + SYNC_EXIT_HELP)
    def sync_refunds(ctx: typer.Context, connection: ConnectionOption = None, json_output: JsonOption = False) -> None:
        """ERP credit memos become store refunds; store refunds become ERP credit memos (each exactly once)."""
        from woobridge.flows import refunds

        _run_write_back(ctx, connection, json_output, refunds.run, _refunds_table)


def _run_write_back(
    ctx: typer.Context,
    connection: str | None,
    json_output: bool,
    runner: Any,
    table: Any,
) -> NoReturn:
    from woobridge.erp import open_erp

    console = Console(highlight=False, soft_wrap=True)
    services = _services(ctx)
    with guarded(console, json_output, services):
        name = pick_connection(services, connection)
        store_url = _store_url(services, name)
        erp = open_erp(environ=services.environ)
        try:
            with guarded(console, json_output, services, store_url):
                report = asyncio.run(runner(services.state(), name, erp=erp, services=services))
        finally:
            erp.close()
        code = SyncExit.RECORD_ERRORS if report.failed else SyncExit.OK
        if json_output:
            render.emit_json(console, {"ok": code == SyncExit.OK, "exit_code": int(code), **report.to_dict()})
        else:
            console.print(table(report))
            for outcome in report.failures[:20]:
                console.print(Text(f"  {outcome.message}", style="yellow"))
            if report.failed:
                console.print("  List them with: woobridge errors   Retry with: woobridge errors retry --all")
    raise typer.Exit(int(code))


def _table(title: str) -> Table:
    table = Table(title=title, title_justify="left", show_header=False, box=None, padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
    return table


def _run_row(table: Table, report: Any) -> None:
    table.add_row("requests", str(report.requests))
    if report.run is not None and report.run.duration is not None:
        table.add_row("run", f"#{report.run.id} {report.run.outcome} in {report.run.duration:.1f} s")


def _fulfillment_table(report: Any) -> Table:
    """What a fulfillment run did (also used by ``woobridge demo``)."""
    table = _table("ERP shipments → store")
    counts = report.counts
    table.add_row("connection", report.connection)
    table.add_row("pending shipments", str(counts["read"]))
    if report.via:
        how = "Shipment Tracking extension" if report.via == "extension" else "order notes the customer sees"
        table.add_row("tracking through", how)
    table.add_row("recorded", str(counts["shipped"]))
    table.add_row("already in the store", f"{counts['already']}  (only acknowledged)")
    table.add_row("orders completed", str(report.completed))
    table.add_row("record errors", str(counts["failed"]))
    _run_row(table, report)
    return table


def _refunds_table(report: Any) -> Table:
    """What a refunds run did, both ways."""
    table = _table("refunds, both ways")
    counts = report.counts
    table.add_row("connection", report.connection)
    table.add_row(
        "ERP → store",
        f"{counts['memos']} credit memo(s): {counts['refunds_created']} refunded, {counts['memos_already']} already "
        f"in the store, {counts['memos_failed']} record error(s)",
    )
    read = "global /refunds list" if report.read_mode == "global" else "per order"
    table.add_row(
        "store → ERP",
        f"{counts['refunds_read']} refund(s) read ({read}): {counts['memos_created']} credit memo(s) made, "
        f"{counts['refunds_known']} known, {counts['refunds_ours']} made by woobridge (not sent back), "
        f"{counts['refunds_failed']} record error(s)",
    )
    if report.next_window_start is not None:
        table.add_row("cursor", f"next run reads from {report.next_window_start:%Y-%m-%d %H:%M:%S} UTC (store clock)")
    _run_row(table, report)
    return table
