"""``woobridge sync products [--import]`` and ``woobridge sync customers``: run the catalog and customer flows now.

Same environment, exit codes and error handling as ``woobridge sync orders`` (see ``commands/sync.py``).
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from woobridge.commands import render
from woobridge.commands.sync import (
    SYNC_EXIT_HELP,
    ConnectionOption,
    JsonOption,
    SyncExit,
    _services,
    _store_url,
    guarded,
    pick_connection,
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

        runner = products.import_catalog if import_catalog else products.run
        _run(ctx, connection, json_output, runner, products_table)

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

        async def runner(db: Any, name: str, **kw: Any) -> Any:
            return await customers.run(db, name, full_sweep=full_sweep, **kw)

        _run(ctx, connection, json_output, runner, customers_table)


def _run(ctx: typer.Context, connection: str | None, json_output: bool, runner: Any, table: Any) -> None:
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
        failed = report.counts["failed"]
        code = SyncExit.RECORD_ERRORS if failed else SyncExit.OK
        if json_output:
            render.emit_json(console, {"ok": code == SyncExit.OK, "exit_code": int(code), **report.to_dict()})
        else:
            console.print(table(report))
            for key, message in report.failures:
                console.print(Text(f"  {key}: {message}", style="yellow"))
            for line in getattr(report, "needs_attention", [])[:50]:
                console.print(Text(f"  needs attention: {line}", style="yellow"))
            if failed:
                console.print("  List them with: woobridge errors   Retry with: woobridge errors retry --all")
            render.print_notes(console, report.notes)
    raise typer.Exit(int(code))


def _table(title: str) -> Table:
    table = Table(title=title, title_justify="left", show_header=False, box=None, padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
    return table


def _run_rows(table: Table, report: Any) -> None:
    if report.run is not None and report.run.duration is not None:
        table.add_row("run", f"#{report.run.id} {report.run.outcome} in {report.run.duration:.1f} s")


def products_table(report: Any) -> Table:
    """What a products push or import did (also used by ``woobridge demo``)."""
    counts = report.counts
    if report.mode == "import":
        table = _table("store catalog → ERP items (first import)")
        table.add_row("connection", report.connection)
        table.add_row("store products", str(report.store_products))
        table.add_row("new ERP items", str(counts["created"]))
        table.add_row("ERP items bound", f"{counts['updated']}  (the ERP had them: they only learnt their store ids)")
        table.add_row("need attention", str(len(report.needs_attention)))
    else:
        table = _table("ERP items → store products")
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
    _run_rows(table, report)
    return table


def customers_table(report: Any) -> Table:
    """What a customers run did (also used by ``woobridge demo``)."""
    counts = report.counts
    table = _table("store customers → ERP")
    table.add_row("connection", report.connection)
    table.add_row("read", f"{counts['read']} registered customer(s){' (full sweep)' if report.full_sweep else ''}")
    table.add_row("guest buyers", f"{report.guests}  (one per e-mail, from {report.orders_read} changed order(s))")
    table.add_row("created", str(counts["created"]))
    table.add_row("updated", str(counts["updated"]))
    table.add_row("unchanged", str(counts["unchanged"]))
    table.add_row("record errors", str(counts["failed"]))
    table.add_row("requests", str(report.requests))
    _run_rows(table, report)
    return table
