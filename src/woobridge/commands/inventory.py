"""``woobridge sync inventory`` and ``woobridge audit inventory [--fix]``: send the ERP's stock levels to the store
now, or list (and fix) the SKUs whose store quantity differs from the ERP's.

They read the environment as ``sync orders`` does (``WOOBRIDGE_HOME``, ``WOOBRIDGE_STATE_URL``,
``WOOBRIDGE_MASTER_KEY``; the ERP from ``WOOBRIDGE_STAGING_URL``) and exit with the same codes.
"""

from __future__ import annotations

from functools import partial
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from woobridge.commands import render
from woobridge.commands.flowrun import (
    SYNC_EXIT_HELP,
    ConnectionOption,
    JsonOption,
    add_run_row,
    report_table,
    run_flow,
)


def summary_table(report: Any, title: str = "ERP stock → store") -> Table:
    """One table of what an inventory run did (also used by ``woobridge demo``)."""
    table = report_table(title)
    counts = report.counts
    table.add_row("connection", report.connection)
    how = "built" if report.index_full else "refreshed"
    table.add_row(
        "SKU index",
        f"{how}: {report.index_products} product(s) and {report.index_variations} variation(s) read in "
        f"{report.index_requests} request(s); {report.index_size} SKU(s)",
    )
    table.add_row("ERP levels", str(report.erp_skus))
    table.add_row("written", f"{counts['written']} in {report.batches} batch(es), {report.write_requests} request(s)")
    if report.resent:
        table.add_row("resent", f"{report.resent} batch(es) whose answer was lost (absolute quantities: safe)")
    table.add_row("unchanged", f"{counts['unchanged'] + counts['agreed']}")
    table.add_row("drift", f"{counts['drift']}  (store differs, ERP unchanged: woobridge audit inventory)")
    table.add_row("not in store", str(counts["unknown"]))
    table.add_row("stock not managed", str(counts["unmanaged"]))
    table.add_row("record errors", str(counts["failed"]))
    table.add_row("requests", str(report.requests))
    add_run_row(table, report)
    return table


def _print_failures(console: Console, report: Any) -> None:
    if not report.failures:
        return
    console.print(Text(f"{report.counts['failed']} SKU(s) could not be set:", style="bold yellow"))
    for sku, message in report.failures:
        console.print(f"  {sku}: {message}")
    if report.counts["failed"] > len(report.failures):
        console.print(f"  … and {report.counts['failed'] - len(report.failures)} more")
    console.print("  List them with: woobridge errors   Retry with: woobridge errors retry --all")


def register(sync_app: typer.Typer, audit_app: typer.Typer) -> None:
    """Add ``sync inventory`` and ``audit inventory``."""

    @sync_app.command("inventory", epilog="Exit codes:\n\n" + SYNC_EXIT_HELP)
    def sync_inventory(
        ctx: typer.Context,
        connection: ConnectionOption = None,
        rebuild: Annotated[
            bool, typer.Option("--rebuild-index", help="Read every product again instead of the changed ones.")
        ] = False,
        json_output: JsonOption = False,
    ) -> None:
        """Send the ERP's stock levels to the store (ERP → store): only quantities that changed, in batches."""
        from woobridge.flows import inventory

        run_flow(ctx, connection, json_output, partial(inventory.run, rebuild=rebuild), _show_sync)

    @audit_app.command("inventory", epilog="Exit codes: 0 the store matches the ERP (or all fixed), 1 otherwise.")
    def audit_inventory(
        ctx: typer.Context,
        connection: ConnectionOption = None,
        fix: Annotated[bool, typer.Option("--fix", help="Set the differing quantities to the ERP's.")] = False,
        json_output: JsonOption = False,
    ) -> None:
        """List the SKUs whose store quantity differs from the ERP's (reads the whole store afresh)."""
        from woobridge.flows import inventory

        run_flow(ctx, connection, json_output, partial(inventory.audit, fix=fix), _print_audit, exit_code=_audit_exit)


def _show_sync(console: Console, report: Any) -> None:
    console.print(summary_table(report))
    _print_failures(console, report)
    render.print_notes(console, report.notes)


def _audit_exit(report: Any) -> int:
    """0 when the store matches the ERP (or --fix set every differing SKU), else 1."""
    fixed = report.fixed
    unresolved = bool(report.drift) and (fixed is None or fixed.counts["failed"] > 0)
    return 1 if unresolved else 0


def _print_audit(console: Console, report: Any) -> None:
    console.print(
        f"Compared {report.erp_skus} ERP stock level(s) with {report.store_skus} store SKU(s) in {report.connection}"
        f" ({report.requests} requests)."
    )
    if report.unknown:
        console.print(f"{len(report.unknown)} ERP SKU(s) are not in the store (--json lists them).")
    if report.unmanaged:
        console.print(f"{len(report.unmanaged)} SKU(s) belong to products that do not manage stock.")
    if not report.drift:
        console.print(Text("No drift: the store shows the ERP's quantity for every SKU it manages.", style="green"))
        return
    table = Table(title=f"{len(report.drift)} SKU(s) differ", title_justify="left")
    for column in ("SKU", "product", "variation", "store", "ERP", "to send", "last pushed"):
        table.add_column(column, justify="left" if column == "SKU" else "right")
    for entry in report.drift[:200]:
        row = entry.to_dict()
        table.add_row(
            entry.sku,
            str(entry.holder.product_id),
            str(entry.holder.variation_id or ""),
            str(row["store_quantity"] if row["store_quantity"] is not None else "—"),
            str(row["erp_quantity"]),
            str(entry.target),
            str(row["last_pushed"] if row["last_pushed"] is not None else "—"),
        )
    console.print(table)
    if len(report.drift) > 200:
        console.print(f"… and {len(report.drift) - 200} more (--json lists them all)")
    if report.fixed is not None:
        console.print(summary_table(report.fixed, title="--fix"))
        _print_failures(console, report.fixed)
    else:
        console.print("Set them to the ERP's with: woobridge audit inventory --fix")
