"""``woobridge sync products [--import]`` and ``woobridge sync customers``: run the catalog and customer flows now.

Same environment, exit codes and error handling as every ``sync`` command (see ``commands/flowrun.py``).
"""

from __future__ import annotations

from collections.abc import Callable
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


def register(sync_app: typer.Typer) -> None:
    """Add ``sync products`` and ``sync customers``."""

    @sync_app.command("products", epilog="Exit codes:\n\n" + SYNC_EXIT_HELP)
    def sync_products(
        ctx: typer.Context,
        connection: ConnectionOption = None,
        import_catalog: Annotated[
            bool,
            typer.Option(
                "--import",
                help="First-time match: read the store's catalog (variations included) into the ERP's items and "
                "bind products by SKU, instead of pushing the ERP's items to the store.",
            ),
        ] = False,
        json_output: JsonOption = False,
    ) -> None:
        """Push the ERP's items to the store (ERP → store): create or update products by SKU, send only what
        changed, make removed items drafts."""
        from woobridge.flows import products

        flow = products.import_catalog if import_catalog else products.run
        run_flow(ctx, connection, json_output, flow, _show(products_table))

    @sync_app.command("customers", epilog="Exit codes:\n\n" + SYNC_EXIT_HELP)
    def sync_customers(
        ctx: typer.Context,
        connection: ConnectionOption = None,
        full_sweep: Annotated[
            bool | None,
            typer.Option(
                "--full-sweep/--no-full-sweep",
                help="Read every customer again now (default: when the sweep schedule says so).",
            ),
        ] = None,
        json_output: JsonOption = False,
    ) -> None:
        """Send new and changed customers, and the guest buyers of changed orders, to the ERP (store → ERP)."""
        from woobridge.flows import customers

        flow = partial(customers.run, full_sweep=full_sweep)
        run_flow(ctx, connection, json_output, flow, _show(customers_table))


def _show(table: Callable[[Any], Table]) -> Callable[[Console, Any], None]:
    """Print a catalog run's report: its table, its record errors and what needs a person's attention."""

    def show(console: Console, report: Any) -> None:
        console.print(table(report))
        for key, message in report.failures:
            console.print(Text(f"  {key}: {message}", style="yellow"))
        for line in getattr(report, "needs_attention", [])[:50]:
            console.print(Text(f"  needs attention: {line}", style="yellow"))
        if report.counts["failed"]:
            console.print("  List them with: woobridge errors   Retry with: woobridge errors retry --all")
        render.print_notes(console, report.notes)

    return show


def products_table(report: Any) -> Table:
    """What a products push or import did (also used by ``woobridge demo``)."""
    counts = report.counts
    if report.mode == "import":
        table = report_table("store catalog → ERP items (first import)")
        table.add_row("connection", report.connection)
        table.add_row("store products", str(report.store_products))
        table.add_row("new ERP items", str(counts["created"]))
        table.add_row("ERP items bound", f"{counts['updated']}  (the ERP had them: they only learnt their store ids)")
        table.add_row("need attention", str(len(report.needs_attention)))
    else:
        table = report_table("ERP items → store products")
        table.add_row("connection", report.connection)
        table.add_row("ERP items", f"{report.items}  ({report.store_products} products in the store)")
        table.add_row("created", str(counts["created"]))
        table.add_row("updated", str(counts["updated"]))
        table.add_row("unchanged", str(counts["unchanged"]))
        table.add_row("made drafts", f"{counts['hidden']}  (removed or inactive in the ERP; never deleted)")
        variations = report.variations
        table.add_row(
            "variations",
            f"{variations['created']} created, {variations['updated']} updated, {variations['hidden']} disabled",
        )
        table.add_row("categories created", str(report.categories_created))
    table.add_row("record errors", str(counts["failed"]))
    table.add_row("requests", f"{report.requests}  ({report.reads} reads, {report.writes} writes)")
    add_run_row(table, report)
    return table


def customers_table(report: Any) -> Table:
    """What a customers run did (also used by ``woobridge demo``)."""
    counts = report.counts
    table = report_table("store customers → ERP")
    table.add_row("connection", report.connection)
    table.add_row("read", f"{counts['read']} registered customer(s){' (full sweep)' if report.full_sweep else ''}")
    table.add_row("guest buyers", f"{report.guests}  (one per e-mail, from {report.orders_read} changed order(s))")
    table.add_row("created", str(counts["created"]))
    table.add_row("updated", str(counts["updated"]))
    table.add_row("unchanged", str(counts["unchanged"]))
    table.add_row("record errors", str(counts["failed"]))
    table.add_row("requests", str(report.requests))
    add_run_row(table, report)
    return table
