"""The column tables of docs/staging.md, generated from the models so the document cannot drift from the schema.

``python -m woobridge.erp.staging.schema_doc docs/staging.md`` rewrites every block between
``<!-- columns: TABLE -->`` and ``<!-- /columns -->`` in place; tests/erp checks that the file is up to date.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Column, Integer, String, Table, Text, UniqueConstraint

from woobridge.erp.staging.models import metadata
from woobridge.erp.staging.types import MONEY_SCALE, Amount, UtcTimestamp

BLOCK = re.compile(r"(<!-- columns: (\w+) -->\n)(.*?)(<!-- /columns -->)", re.DOTALL)
WRITERS = {"woobridge": "woobridge", "erp": "ERP", "both": "both"}


def type_name(column: Column[Any]) -> str:
    kind = column.type
    if isinstance(kind, Amount):
        return f"numeric(18,{MONEY_SCALE})"
    if isinstance(kind, UtcTimestamp):
        return "timestamp, UTC"
    if isinstance(kind, Text):
        return "text"
    if isinstance(kind, String):
        return f"varchar({kind.length})"
    if isinstance(kind, BigInteger):
        return "bigint"
    if isinstance(kind, Integer):
        return "integer"
    if isinstance(kind, Boolean):
        return "boolean"
    if isinstance(kind, JSON):
        return "JSON"
    raise TypeError(f"{column.table.name}.{column.name}: no documented name for {kind!r}")


def default_text(column: Column[Any]) -> str:
    if column.primary_key:
        return "auto"
    default = column.server_default
    if default is None:
        return ""
    arg = getattr(default, "arg", None)
    if isinstance(arg, str):
        return f"`'{arg}'`" if not arg.isdigit() else f"`{arg}`"
    rendered = str(arg)
    return {"now()": "now", "false": "false"}.get(rendered, f"`{rendered}`")


def render_table(table: Table) -> str:
    """A Markdown table of ``table``'s columns, then its keys."""
    lines = [
        "| Column | Type | Null | Default | Written by | Meaning |",
        "|---|---|---|---|---|---|",
    ]
    for column in table.columns:
        info = column.info
        meaning = str(info["doc"]).replace("|", "\\|")
        null = "yes" if column.nullable else "no"
        writer = WRITERS[info["writer"]]
        lines.append(
            f"| `{column.name}` | {type_name(column)} | {null} | {default_text(column)} | {writer} | {meaning} |"
        )
    keys = [
        ", ".join(f"`{c.name}`" for c in constraint.columns)
        for constraint in sorted(table.constraints, key=lambda c: str(c.name))
        if isinstance(constraint, UniqueConstraint)
    ]
    keys += [
        ", ".join(f"`{c.name}`" for c in index.columns) + " where `connection` is empty"
        for index in sorted(table.indexes, key=lambda i: str(i.name))
        if index.unique
    ]
    foreign = [
        f"`{fk.parent.name}` → `{fk.column.table.name}.{fk.column.name}` (on delete {fk.ondelete.lower()})"
        for fk in sorted(table.foreign_keys, key=lambda f: f.parent.name)
        if fk.ondelete
    ]
    lines.append("")
    lines.append("Unique: " + ("; ".join(keys) if keys else "`id` only") + ".")
    if foreign:
        lines.append("References: " + "; ".join(foreign) + ".")
    return "\n".join(lines) + "\n"


def render_document(text: str) -> str:
    """``text`` with every column block regenerated."""

    def replace(match: re.Match[str]) -> str:
        name = match.group(2)
        if name not in metadata.tables:
            raise KeyError(f"docs name a table the staging schema does not have: {name}")
        return match.group(1) + render_table(metadata.tables[name]) + match.group(4)

    return BLOCK.sub(replace, text)


def documented_tables(text: str) -> list[str]:
    return [match.group(2) for match in BLOCK.finditer(text)]


def main(argv: list[str]) -> int:
    path = Path(argv[0] if argv else "docs/staging.md")
    path.write_text(render_document(path.read_text(encoding="utf-8")), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
