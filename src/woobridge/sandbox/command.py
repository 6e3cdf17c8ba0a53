"""``woobridge sandbox`` and ``woobridge demo``."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    @app.command()
    def sandbox() -> None:
        """Serve a local WooCommerce stand-in (placeholder)."""
        typer.echo("not yet")
