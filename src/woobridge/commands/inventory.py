"""``woobridge sync inventory`` and ``woobridge audit inventory [--fix]``: send the ERP's stock levels to the store
now, or list (and fix) the SKUs whose store quantity differs from the ERP's.

They read the environment as ``sync orders`` does (``WOOBRIDGE_HOME``, ``WOOBRIDGE_STATE_URL``,
``WOOBRIDGE_MASTER_KEY``; the ERP from ``WOOBRIDGE_STAGING_URL``) and exit with the same codes.
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


def summary_table(report: Any, title: str = "ERP stock → store") -> Table:
    """One table of what an inventory run did (also used by ``woobridge demo``)."""
    table = Table(title=title, title_justify="left", show_header=False, box=None, padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
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
    if report.run is not None and report.run.duration is not None:
        table.add_row("run", f"#{report.run.id} {report.run.outcome} in {report.run.duration:.1f} s")
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
        from woobridge.erp import open_erp
        from woobridge.flows import inventory

        console = Console(highlight=False, soft_wrap=True)
        services = _services(ctx)
        with guarded(console, json_output, services):
            name = pick_connection(services, connection)
            store_url = _store_url(services, name)
            erp = open_erp(environ=services.environ)
            try:
                with guarded(console, json_output, services, store_url):
                    report = asyncio.run(
                        inventory.run(services.state(), name, erp=erp, services=services, rebuild=rebuild)
                    )
            finally:
                erp.close()
            code = SyncExit.RECORD_ERRORS if report.counts["failed"] else SyncExit.OK
            if json_output:
                render.emit_json(console, {"ok": code == SyncExit.OK, "exit_code": int(code), **report.to_dict()})
            else:
                console.print(summary_table(report))
                _print_failures(console, report)
                render.print_notes(console, report.notes)
        raise typer.Exit(int(code))

    @audit_app.command("inventory", epilog="Exit codes: 0 the store matches the ERP (or all fixed), 1 otherwise.")
    def audit_inventory(
        ctx: typer.Context,
        connection: ConnectionOption = None,
        fix: Annotated[bool, typer.Option("--fix", help="Set the differing quantities to the ERP's.")] = False,
        json_output: JsonOption = False,
    ) -> None:
        """List the SKUs whose store quantity differs from the ERP's (reads the whole store afresh)."""
        from woobridge.erp import open_erp
        from woobridge.flows import inventory

        console = Console(highlight=False, soft_wrap=True)
        services = _services(ctx)
        with guarded(console, json_output, services):
            name = pick_connection(services, connection)
            store_url = _store_url(services, name)
            erp = open_erp(environ=services.environ)
            try:
                with guarded(console, json_output, services, store_url):
                    report = asyncio.run(inventory.audit(services.state(), name, fix=fix, erp=erp, services=services))
            finally:
                erp.close()
            fixed = report.fixed
            unresolved = bool(report.drift) and (fixed is None or fixed.counts["failed"] > 0)
            code = 1 if unresolved else 0
            if json_output:
                render.emit_json(console, {"ok": code == 0, "exit_code": code, **report.to_dict()})
            else:
                _print_audit(console, report)
        raise typer.Exit(code)


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
