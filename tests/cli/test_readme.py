"""The README's "Connecting your store" tables say what the code does: every diagnosis code, every exit code."""

from __future__ import annotations

import re
from pathlib import Path

from woobridge.commands.guardrails import EXIT_MEANINGS
from woobridge.woo import DIAGNOSES, NAMES

README = Path(__file__).resolve().parents[2] / "README.md"


def section() -> str:
    text = README.read_text()
    start = text.index("## Connecting your store")
    end = text.find("\n## ", start + 1)
    return text[start : end if end > 0 else None]


def table_rows(text: str, heading: str) -> list[list[str]]:
    after = text[text.index(heading) :]
    rows = []
    for line in after.splitlines()[1:]:
        if line.startswith("### "):
            break
        if line.startswith("|") and not line.startswith("|---"):
            cells = [cell.strip().replace("\\|", "|") for cell in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
            rows.append(cells)
    return rows[1:]  # without the header


def test_the_diagnosis_table_is_diagnoses() -> None:
    rows = table_rows(section(), "### Diagnosis codes")
    documented = {code.strip("`"): (name.strip("`"), title, fix) for code, name, title, fix in rows}
    assert documented == {code: (NAMES[code], title, fix) for code, (title, fix) in DIAGNOSES.items()}


def test_the_exit_code_table_is_the_exit_codes() -> None:
    rows = table_rows(section(), "### Exit codes")
    assert {int(code): meaning for code, meaning in rows} == {int(c): m for c, m in EXIT_MEANINGS.items()}


def test_the_guide_steps_are_there() -> None:
    text = section()
    for step in ("WooCommerce → Settings → Advanced → REST API → Add key", "Shop Manager", "Read/Write",
                 "Consumer key", "Consumer secret", "Store URL"):  # fmt: skip
        assert step in text
