"""``woobridge serve`` (the web app, the scheduler and the webhook receiver) and ``woobridge admin set-password``."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.console import Console

from woobridge.commands.services import Services

admin_app = typer.Typer(name="admin", help="The web app's administrator.", no_args_is_help=True)

PASSWORD_ENV = "WOOBRIDGE_ADMIN_PASSWORD"  # noqa: S105 (the variable's name, not a password)


def _services(ctx: typer.Context) -> Services:
    return ctx.obj if isinstance(ctx.obj, Services) else Services.from_environment()


@admin_app.command("set-password")
def set_password(
    ctx: typer.Context,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from the first line of standard input.")
    ] = False,
) -> None:
    """Set the password of the web app's administrator (stored as a scrypt hash; signs every browser out).

    The password comes from --password-stdin, $WOOBRIDGE_ADMIN_PASSWORD or a hidden prompt — never an argument.
    """
    from woobridge.service.auth import PasswordTooWeak
    from woobridge.service.auth import set_password as store_password

    services = _services(ctx)
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    elif services.environ.get(PASSWORD_ENV):
        password = services.environ[PASSWORD_ENV]
    elif sys.stdin.isatty():
        password = typer.prompt("New admin password", hide_input=True, confirmation_prompt=True)
    else:
        Console(stderr=True).print(
            f"error: no password given. Pipe it in with --password-stdin, set {PASSWORD_ENV}, or run in a terminal."
        )
        raise typer.Exit(2)
    try:
        with services.state().session() as session:
            store_password(session, password, datetime.now(UTC))
    except PasswordTooWeak as error:
        Console(stderr=True).print(f"error: {error}")
        raise typer.Exit(2) from None
    finally:
        services.close()
    Console().print("Admin password set. Sign in at the address woobridge serve prints.")


def register(app: typer.Typer) -> None:
    """Add ``serve`` and ``admin`` to the command line."""
    app.add_typer(admin_app)

    @app.command()
    def serve(
        ctx: typer.Context,
        host: Annotated[
            str, typer.Option("--host", help="Address to listen on. Keep 127.0.0.1 behind a TLS reverse proxy.")
        ] = "127.0.0.1",
        port: Annotated[int, typer.Option("--port", help="Port to listen on.")] = 8765,
        public_url: Annotated[
            str | None,
            typer.Option(
                "--public-url",
                envvar="WOOBRIDGE_PUBLIC_URL",
                help="The HTTPS address the store reaches this server at (e.g. https://bridge.example.com). With it, "
                "woobridge registers WooCommerce webhooks; without it, flows poll on their schedule.",
            ),
        ] = None,
        no_scheduler: Annotated[
            bool, typer.Option("--no-scheduler", help="Serve the pages only; run no flows (another process does).")
        ] = False,
    ) -> None:
        """Run the web app (connections, flows, runs, errors, JSON API, /metrics), the scheduler and webhooks."""
        import uvicorn

        from woobridge.service.app import ServeConfig, create_app

        services = _services(ctx)
        if public_url is not None and not public_url.startswith("https://"):
            Console(stderr=True).print("error: --public-url must be an https:// address the store can reach.")
            raise typer.Exit(2)
        with services.state().session() as session:
            from woobridge.service.auth import has_password

            ready = has_password(session)
        app = create_app(services, ServeConfig(public_url=public_url, scheduler=not no_scheduler))
        console = Console(stderr=True)
        console.print(f"woobridge serve: http://{host}:{port}/  (public URL: {public_url or 'none: webhooks off'})")
        if not ready:
            console.print("No admin password yet: run  woobridge admin set-password  before signing in.")
        try:
            uvicorn.run(app, host=host, port=port, log_level="warning", proxy_headers=True, server_header=False)
        finally:
            services.close()
