"""The ``woobridge`` command line."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="woobridge",
    help="Keep a WooCommerce store and an ERP in step: orders, fulfillment, refunds, inventory, products, customers.",
    no_args_is_help=True,
    add_completion=False,
)


def _register() -> None:
    from woobridge.sandbox.command import register as register_sandbox

    register_sandbox(app)


_register()
