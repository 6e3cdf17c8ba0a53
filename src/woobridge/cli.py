"""The ``woobridge`` command line.

The commands live in modules of their own (``commands/``, ``sandbox/command.py``), imported only when one of
their commands runs: ``woobridge sync orders`` does not pay for the sandbox, the web service or the connection
checks (half a second of imports on every run from cron or a worker). ``--help`` and anything that asks for the
whole list load them all.

Run as the ``woobridge`` program (``app()``, the console script), the process also sets Python's garbage collector
for a short-lived process that makes many objects: see :class:`WoobridgeApp`.
"""

from __future__ import annotations

import gc
import importlib
from collections.abc import MutableMapping
from pathlib import Path
from typing import Annotated, Any

import typer
import typer.core
import typer.main
from typer._click import core as click  # Typer vendors its own click: its commands are these classes

# Which module registers which top-level command (each module has ``register(app)``). A name not here loads them
# all (tests/cli/test_startup.py checks the table against what the modules register).
COMMAND_MODULES: dict[str, str] = {
    "sandbox": "woobridge.sandbox.command",
    "demo": "woobridge.sandbox.command",
    "connect": "woobridge.commands.connections",
    "check": "woobridge.commands.connections",
    "rotate": "woobridge.commands.connections",
    "connections": "woobridge.commands.connections",
    "sync": "woobridge.commands.sync",
    "audit": "woobridge.commands.sync",
    "serve": "woobridge.commands.serve",
    "admin": "woobridge.commands.serve",
    "runs": "woobridge.commands.runs",
    "errors": "woobridge.commands.runs",
}


def commands_of(module_name: str) -> dict[str, click.Command]:
    """The click commands a command module registers, by name."""
    module = importlib.import_module(module_name)
    commands = typer.Typer()
    module.register(commands)
    return dict(typer.main.get_group(commands).commands)


class LazyGroup(typer.core.TyperGroup):
    """The top-level group: a command's module is imported the first time one of its commands is looked up."""

    def __init__(self, **attrs: Any) -> None:
        self._by_module: dict[str, dict[str, click.Command]] = {}
        self._added: dict[str, click.Command] = {}
        super().__init__(**attrs)

    @property
    def commands(self) -> MutableMapping[str, click.Command]:
        """Every command, in the modules' order (imports every command module)."""
        every: dict[str, click.Command] = {}
        for module_name in dict.fromkeys(COMMAND_MODULES.values()):
            every.update(self._load(module_name))
        every.update(self._added)
        # As Typer lists them: commands first, then groups (sync, audit, admin, errors), each in registration order.
        return dict(sorted(every.items(), key=lambda named: isinstance(named[1], typer.core.TyperGroup)))

    @commands.setter
    def commands(self, value: MutableMapping[str, click.Command]) -> None:
        self._added.update(value)

    def _load(self, module_name: str) -> dict[str, click.Command]:
        if module_name not in self._by_module:
            self._by_module[module_name] = commands_of(module_name)
        return self._by_module[module_name]

    def add_command(self, cmd: click.Command, name: str | None = None) -> None:
        name = name or cmd.name
        if name is None:
            raise TypeError("Command has no name.")
        self._added[name] = cmd

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        module_name = COMMAND_MODULES.get(cmd_name)
        if module_name is None or cmd_name in self._added:
            command = self.commands.get(cmd_name)
        else:
            command = self._load(module_name).get(cmd_name)
        # Every command is looked up here before it runs: the point where start-up's imports are done (most of
        # them), so a long-running command (serve, sandbox) never runs with the collector off.
        StartUp.end()
        return command

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self.commands)


GEN0_THRESHOLD = 10_000
"""Net container allocations between two young collections (Python's default is 700). A sync makes objects by the
hundred thousand (JSON pages, documents, rows), nearly all freed by reference counting: at 700 the collector ran
~900 times in a 5,000-order sync. At 10,000 it runs a few dozen times; unreachable cycles wait a little longer."""


class StartUp:
    """The collector while a ``woobridge`` process starts: off while the command's modules are imported, then what
    they made frozen (it lives until exit) and the collector back on, with a higher young threshold.

    Start-up makes ~100,000 objects that live as long as the process (modules, classes, SQLAlchemy, pydantic and
    Typer machinery): the collector walked them ~250 times while they were made, and again in each full pass of the
    run, for nothing (they are never garbage). Only the console script pauses it (``WoobridgeApp``): code calling
    the command line in-process (tests, ``CliRunner``) keeps its collector as it is.
    """

    paused = False

    @classmethod
    def begin(cls) -> None:
        gc.disable()
        cls.paused = True

    @classmethod
    def end(cls) -> None:
        if cls.paused:
            cls.paused = False
            gc.freeze()
            gc.set_threshold(GEN0_THRESHOLD, *gc.get_threshold()[1:])
            gc.enable()


class WoobridgeApp(typer.Typer):
    """The command line; calling it (the console script) runs one command in this process and exits."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        StartUp.begin()
        try:
            return super().__call__(*args, **kwargs)
        finally:
            # At exit the interpreter collects everything once more, and tears down every module: ~0.3 s of CPU
            # for memory the OS takes back anyway. Frozen objects are left out of those passes. Files, the
            # databases and the HTTP client are closed by the command itself, not by the collector.
            StartUp.end()
            gc.freeze()


app = WoobridgeApp(
    name="woobridge",
    help="Keep a WooCommerce store and an ERP in step: orders, fulfillment, refunds, inventory, products, customers.",
    no_args_is_help=True,
    add_completion=False,
    cls=LazyGroup,
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
