"""``woobridge`` imports a command's module only when that command runs (start-up time of every sync from cron)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

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
        " 'woobridge.commands.runs', 'woobridge.state.service', 'starlette') if m in sys.modules]\n"
        "print('LOADED', loaded)\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert "--since" in done.stdout or "Usage" in done.stdout
    assert "LOADED []" in done.stdout, done.stdout[-500:]


def test_the_program_runs_its_command_with_the_collector_on_and_start_up_frozen(tmp_path: Path) -> None:
    probe = (
        "import gc\n"
        "from woobridge.cli import GEN0_THRESHOLD, app\n"
        "from woobridge.commands import sync\n"
        "def run_flow(*args, **kwargs):\n"  # what `sync orders` calls first: the command has started
        "    print('COLLECTOR', gc.isenabled(), gc.get_threshold()[0] == GEN0_THRESHOLD, gc.get_freeze_count() > 0)\n"
        "sync.run_flow = run_flow\n"
        "try:\n"
        "    app(['sync', 'orders', '--json'])\n"
        "except SystemExit:\n"
        "    pass\n"
    )
    env = {**os.environ, "WOOBRIDGE_HOME": str(tmp_path / "home")}
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, env=env, cwd=tmp_path
    )
    assert "COLLECTOR True True True" in done.stdout, done.stdout[-500:] + done.stderr[-2000:]


def test_calling_the_command_line_in_process_leaves_the_collector_alone() -> None:
    import gc

    from typer.testing import CliRunner

    before = (gc.isenabled(), gc.get_threshold(), gc.get_freeze_count())
    result = CliRunner().invoke(app, ["sync", "orders", "--help"])
    assert result.exit_code == 0
    assert (gc.isenabled(), gc.get_threshold(), gc.get_freeze_count()) == before
