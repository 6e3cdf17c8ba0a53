"""Running the connection commands in-process against the in-process sandbox (fast), with a private home."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import Result
from typer.testing import CliRunner

from woobridge.cli import app
from woobridge.commands.services import Services
from woobridge.sandbox.app import Sandbox
from woobridge.sandbox.testing import IN_PROCESS_HOME
from woobridge.state import Locations
from woobridge.woo import Credentials, Validation, validate


@dataclass
class Cli:
    """``cli.run("connect", "shop", ..., input=secret)``: the real command line, the sandbox behind it."""

    sandbox: Sandbox
    home: Path
    now: datetime | None = None

    def services(self, environ: Mapping[str, str]) -> Services:
        transport = httpx.ASGITransport(app=self.sandbox.app)

        async def in_process(credentials: Credentials, need_write: bool) -> Validation:
            return await validate(credentials, need_write=need_write, transport=transport)

        services = Services(Locations.from_environment({"WOOBRIDGE_HOME": str(self.home)}), environ, in_process)
        if self.now is not None:
            now = self.now
            services.now = lambda: now
        return services

    def run(self, *args: str, input: str | None = None, env: Mapping[str, str] | None = None) -> Result:
        environ = dict(env or {})
        runner = CliRunner()
        return runner.invoke(
            app,
            list(args),
            input=input,
            obj=self.services(environ),
            env={"COLUMNS": "200", **environ},
            catch_exceptions=False,
        )


@pytest.fixture
def cli(sandbox: Sandbox, tmp_path: Path) -> Cli:
    return Cli(sandbox, tmp_path / "home")


@pytest.fixture
def store_url() -> str:
    return IN_PROCESS_HOME


def utc(year: int, month: int, day: int) -> datetime:
    return datetime(year, month, day, tzinfo=UTC)


def output(result: Result) -> str:
    """Everything the command printed, stdout and stderr."""
    extra: Any = getattr(result, "stderr_bytes", None)
    return result.stdout + (result.stderr if extra else "")
