"""``woobridge`` imports a command's module only when that command runs (start-up time of every sync from cron)."""

from __future__ import annotations

import subprocess
import sys

import typer.main

from woobridge.cli import COMMAND_MODULES, app, commands_of


def test_the_command_table_names_every_command_of_every_module() -> None:
    registered = {name: module for module in set(COMMAND_MODULES.values()) for name in commands_of(module)}
    assert registered == COMMAND_MODULES


def test_the_full_list_is_every_command() -> None:
    assert list(typer.main.get_command(app).commands) == [  # type: ignore[attr-defined]
        "sandbox", "demo", "connect", "check", "rotate", "connections", "serve", "runs",
        "sync", "audit", "admin", "errors",
    ]  # fmt: skip


def test_sync_orders_imports_neither_the_sandbox_nor_the_connection_checks() -> None:
    probe = (
        "import sys\n"
        "from woobridge.cli import app\n"
        "try:\n"
        "    app(['sync', 'orders', '--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "loaded = [m for m in ('woobridge.sandbox.app', 'woobridge.commands.connections', 'woobridge.commands.serve',"
        " 'woobridge.commands.runs', 'starlette') if m in sys.modules]\n"
        "print('LOADED', loaded)\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert "--since" in done.stdout or "Usage" in done.stdout
    assert "LOADED []" in done.stdout, done.stdout[-500:]
