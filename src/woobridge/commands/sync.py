"""``woobridge sync orders`` and ``woobridge audit orders``: run the orders flow now, or look for orders the ERP
lacks; ``woobridge sync fulfillment`` and ``sync refunds``: the flows that write back to the store.

How they run (environment, ERP, exit codes) is ``commands/flowrun.py``'s ``run_flow``, shared by every ``sync`` and
``audit`` command.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from datetime import UTC, date, datetime
from functools import partial
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from woobridge.commands import render
from woobridge.commands.flowrun import (
    SYNC_EXIT_HELP,
    ConnectionOption,
    Failed,
    JsonOption,
    SyncExit,
    add_run_row,
    finished,
    report_table,
    run_flow,
)

if TYPE_CHECKING:
    from rich.progress import Progress


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


# -- output -----------------------------------------------------------------------------------------------------------


def summary_table(report: Any, title: str = "orders → ERP") -> Table:
    """One table of what a sync did (also used by ``woobridge demo``)."""
    table = report_table(title)
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
    add_run_row(table, report)
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
        return None  # cron, a worker, --json: no bar, and no need to import Rich's live display
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(
        TextColumn("orders"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )


# -- the commands ------------------------------------------------------------------------------------------------------


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
        from woobridge.flows import orders

        console = Console(highlight=False, soft_wrap=True)
        progress = None if json_output else _progress(console)

        def on_progress(done: int, total: int | None) -> None:
            if progress is not None and progress.tasks:
                progress.update(progress.tasks[0].id, completed=done, total=max(total or done, done))

        def on_outcome(outcome: Any) -> None:
            if dry_run and outcome.action in ("created", "updated", "failed"):
                _print_dry(console, outcome, json_output)

        async def sync(db: Any, name: str, **kwargs: Any) -> Any:
            flow = orders.run(db, name, dry_run=dry_run, on_outcome=on_outcome, on_progress=on_progress, **kwargs)
            if progress is None:
                return await flow
            with progress:
                progress.add_task("orders", total=None)
                return await flow

        run_flow(
            ctx,
            connection,
            json_output,
            sync,
            _show_sync,
            flow_options=lambda: {"since": parse_since(since)},
            console=console,
            show_json=_dry_run_summary if dry_run else render.emit_json,
            opens_erp=False,  # the flow opens it, while the store's first page is on its way
        )

    @audit_app.command("orders", epilog="Exit codes: 0 nothing missing (or all fixed), 1 orders missing or failed.")
    def audit_orders(
        ctx: typer.Context,
        since: Annotated[str, typer.Option("--since", metavar="DATE", help="Check orders created after DATE (UTC).")],
        connection: ConnectionOption = None,
        fix: Annotated[bool, typer.Option("--fix", help="Import the missing and out-of-date orders.")] = False,
        json_output: JsonOption = False,
    ) -> None:
        """List the store's orders (in an imported status) that the ERP does not have, or has in an older version."""
        from woobridge.flows import orders

        run_flow(
            ctx,
            connection,
            json_output,
            partial(orders.audit, fix=fix),
            _print_audit,
            exit_code=_audit_exit,
            flow_options=lambda: {"since": parse_since(since)},
            opens_erp=fix,
        )

    register_write_back(sync_app)


def _show_sync(console: Console, report: Any) -> None:
    console.print(summary_table(report))
    print_failures(console, report)
    render.print_notes(console, report.notes)


def _dry_run_summary(console: Console, payload: dict[str, Any]) -> None:
    """With --dry-run --json, the summary is one more line after the documents' lines (JSON Lines)."""
    console.file.write(json.dumps({"summary": payload}, default=str, ensure_ascii=False) + "\n")


def _audit_exit(report: Any) -> int:
    """0 when the ERP has every order it should (or --fix imported them all), else 1."""
    fixed = report.fixed
    unresolved = bool(report.entries) and (fixed is None or fixed.counts["failed"] > 0)
    return 1 if unresolved else 0


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

        run_flow(ctx, connection, json_output, fulfillment.run, _show_write_back(_fulfillment_table), exit_code=_failed)

    @sync_app.command("refunds", epilog="Exit codes:\n\n" + SYNC_EXIT_HELP)
    def sync_refunds(ctx: typer.Context, connection: ConnectionOption = None, json_output: JsonOption = False) -> None:
        """ERP credit memos become store refunds; store refunds become ERP credit memos (each exactly once)."""
        from woobridge.flows import refunds

        run_flow(ctx, connection, json_output, refunds.run, _show_write_back(_refunds_table), exit_code=_failed)


def _failed(report: Any) -> int:
    return finished(report.failed)  # refunds count record errors both ways


def _show_write_back(table: Callable[[Any], Table]) -> Callable[[Console, Any], None]:
    """Print a write-back run's report: its table, then its record errors."""

    def show(console: Console, report: Any) -> None:
        console.print(table(report))
        for outcome in report.failures[:20]:
            console.print(Text(f"  {outcome.message}", style="yellow"))
        if report.failed:
            console.print("  List them with: woobridge errors   Retry with: woobridge errors retry --all")

    return show


def _run_row(table: Table, report: Any) -> None:
    table.add_row("requests", str(report.requests))
    add_run_row(table, report)


def _fulfillment_table(report: Any) -> Table:
    """What a fulfillment run did (also used by ``woobridge demo``)."""
    table = report_table("ERP shipments → store")
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
    table = report_table("refunds, both ways")
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
