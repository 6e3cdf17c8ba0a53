"""The ``woobridge`` command line."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(
    name="woobridge",
    help="Keep a WooCommerce store and an ERP in step: orders, fulfillment, refunds, inventory, products, customers.",
    no_args_is_help=True,
    add_completion=False,
)


@app.callback()
def _main(
    debug: Annotated[bool, typer.Option("--debug", help="Log everything (credentials are always masked).")] = False,
    log_level: Annotated[
        str, typer.Option("--log-level", envvar="WOOBRIDGE_LOG_LEVEL", help="DEBUG, INFO, WARNING or ERROR.")
    ] = "WARNING",
    log_file: Annotated[
        Path | None, typer.Option("--log-file", envvar="WOOBRIDGE_LOG_FILE", help="Also write the log to this file.")
    ] = None,
) -> None:
    from woobridge.logging import setup_logging

    try:
        setup_logging("DEBUG" if debug else log_level, log_file=log_file)
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="--log-level") from None


def _register() -> None:
    from woobridge.sandbox.command import register as register_sandbox

    register_sandbox(app)
    from woobridge.commands.connections import register as register_connections

    register_connections(app)
    from woobridge.commands.sync import register as register_sync

    register_sync(app)
    from woobridge.commands.serve import register as register_serve

    register_serve(app)
    from woobridge.commands.runs import register as register_runs

    register_runs(app)


_register()
