"""The README's tables say what the code does: every diagnosis code, every exit code, every command."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import typer
import typer.main

from woobridge.cli import app
from woobridge.commands.flowrun import SYNC_EXIT_MEANINGS
from woobridge.commands.guardrails import EXIT_MEANINGS
from woobridge.woo import DIAGNOSES, NAMES

README = Path(__file__).resolve().parents[2] / "README.md"


def section(heading: str = "## Connecting your store") -> str:
    text = README.read_text()
    start = text.index(heading)
    end = text.find("\n## ", start + 1)
    return text[start : end if end > 0 else None]


def table_rows(text: str, heading: str, nth: int = 0) -> list[list[str]]:
    """The rows of the ``nth`` table after ``heading`` (up to the next heading)."""
    after = text[text.index(heading) :]
    tables: list[list[list[str]]] = []
    previous = ""
    for line in after.splitlines()[1:]:
        if line.startswith("### "):
            break
        if line.startswith("|") and not previous.startswith("|"):
            tables.append([])
        previous = line
        if line.startswith("|") and not line.startswith("|---"):
            cells = [cell.strip().replace("\\|", "|") for cell in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
            tables[-1].append(cells)
    return tables[nth][1:]  # without the header


def test_the_diagnosis_table_is_diagnoses() -> None:
    rows = table_rows(section(), "### Diagnosis codes")
    documented = {code.strip("`"): (name.strip("`"), title, fix) for code, name, title, fix in rows}
    assert documented == {code: (NAMES[code], title, fix) for code, (title, fix) in DIAGNOSES.items()}


def test_the_exit_code_tables_are_the_exit_codes() -> None:
    commands = section("## Commands")
    connect = table_rows(commands, "### Exit codes", 0)
    assert {int(code): meaning for code, meaning in connect} == {int(c): m for c, m in EXIT_MEANINGS.items()}
    sync = table_rows(commands, "### Exit codes", 1)
    assert {int(code): meaning for code, meaning in sync} == {int(c): m for c, m in SYNC_EXIT_MEANINGS.items()}


def _command_paths(command: Any, prefix: str = "woobridge") -> list[str]:
    """``woobridge sync orders``…: every command the CLI has, groups walked down to their commands."""
    subcommands = getattr(command, "commands", None)
    if not subcommands:
        return [prefix]
    paths = []
    for name, sub in subcommands.items():
        paths += _command_paths(sub, f"{prefix} {name}")
    return paths


def test_every_command_is_in_the_commands_table() -> None:
    documented = " ".join(cells[0] for cells in table_rows(section("## Commands"), "## Commands"))
    commands = _command_paths(typer.main.get_command(app))
    assert "woobridge sync customers" in commands and "woobridge admin set-password" in commands
    for command in commands:
        assert f"`{command}" in documented, f"{command} is missing from the README's Commands table"


def test_the_guide_steps_are_there() -> None:
    text = section()
    for step in ("WooCommerce → Settings → Advanced → REST API → Add key", "Shop Manager", "Read/Write",
                 "Consumer key", "Consumer secret", "Store URL"):  # fmt: skip
        assert step in text
