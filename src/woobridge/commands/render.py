"""How connection results look in a terminal (Rich) and as JSON.

Store-provided text (plugin names, time zones) is printed as plain text, never as Rich markup. JSON goes through
the log redactor as a last line of defence: nothing shaped like a key or secret leaves in clear.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from rich.console import Console, Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from woobridge.commands.guardrails import PERMISSION_LABELS, Finding
from woobridge.logging import redact

_STYLES = {"error": "bold red", "warning": "yellow", "note": "cyan"}


def emit_json(console: Console, payload: Any) -> None:
    """One JSON document on stdout, with credentials masked."""
    console.file.write(redact(json.dumps(payload, indent=2, default=str, ensure_ascii=False)) + "\n")


def diagnosis_panel(diagnosis: Any) -> Panel:
    """The diagnosis: code and title, the cause in one line, the fix, the evidence (status, WooCommerce code)."""
    body = Table.grid(padding=(0, 1))
    body.add_column(style="bold", no_wrap=True)
    body.add_column(overflow="fold")  # URLs are long and unbreakable: fold them rather than cut them
    body.add_row("Cause", Text(str(diagnosis.cause)))
    body.add_row("Fix", Text(str(diagnosis.fix)))
    use_url = getattr(diagnosis, "use_url", None)
    if use_url:
        body.add_row("Use", Text(str(use_url)))
    evidence: Mapping[str, Any] = diagnosis.evidence or {}
    for key, value in evidence.items():
        body.add_row(Text(str(key), style="dim"), Text(redact(_evidence_text(value))))
    if diagnosis.retryable:
        when = f"in {diagnosis.retry_after:g} s" if diagnosis.retry_after else "later"
        body.add_row("Retry", Text(f"this can pass on its own: try again {when}"))
    title = Text(f"{diagnosis.code} {diagnosis.title}", style="bold")
    return Panel(body, title=title, title_align="left", border_style="red", expand=False)


def _evidence_text(value: Any) -> str:
    """Evidence as a person reads it: nested answers (e.g. a retry's) as ``status 401, code …`` rather than a repr."""
    if isinstance(value, Mapping):
        return ", ".join(f"{key} {_evidence_text(item)}" for key, item in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(_evidence_text(item) for item in value)
    return str(value)


def print_diagnosis(console: Console, diagnosis: Any) -> None:
    console.print(diagnosis_panel(diagnosis))


def print_notes(console: Console, notes: Sequence[str]) -> None:
    for note in notes:
        console.print(Text("note: ", style="cyan") + Text(note))


def print_findings(console: Console, findings: Sequence[Finding]) -> None:
    for finding in findings:
        console.print(Text(f"{finding.level}: ", style=_STYLES[finding.level]) + Text(finding.message))


def store_table(
    store: Mapping[str, Any],
    *,
    fingerprint: str,
    permission: str | None,
    enabled_flows: Sequence[str],
    runnable: Mapping[str, bool],
    key_created: str,
) -> Table:
    """What system_status told, and what the key may do."""
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold", no_wrap=True)
    table.add_column()

    def row(label: str, value: object) -> None:
        table.add_row(label, Text("—" if value in (None, "") else str(value)))

    row("WooCommerce", store.get("wc_version"))
    row("WordPress", store.get("wp_version"))
    row("API", store.get("namespace"))
    decimals = store.get("decimals")
    row("Currency", f"{store.get('currency')} ({decimals} decimals)" if decimals is not None else store.get("currency"))
    row("Time zone", store.get("timezone"))
    hpos = store.get("hpos")
    row("HPOS", "on" if hpos else "off" if hpos is not None else None)
    row("Plugins", _plugins_text(store.get("plugins")) or "none that change how woobridge works")
    row("Key", f"…{fingerprint} (created {key_created})")
    row("Permission", PERMISSION_LABELS.get(permission or "", permission))
    flows = Text()
    for index, flow in enumerate(enabled_flows):
        if index:
            flows.append(", ")
        can = runnable.get(flow)
        flows.append(flow + (" ✓" if can else " ✗" if can is False else ""), style="green" if can else "red")
    row_value: Text | str = flows if enabled_flows else "none enabled"
    table.add_row("Flows", row_value)
    return table


def _plugins_text(plugins: Any) -> str:
    if not plugins:
        return ""
    if isinstance(plugins, Mapping):
        items = [
            f"{name} {version}".strip() if isinstance(version, str) else str(name) for name, version in plugins.items()
        ]
        return ", ".join(items)
    parts = []
    for plugin in plugins:
        if isinstance(plugin, Mapping):
            parts.append(f"{plugin.get('name') or plugin.get('plugin')} {plugin.get('version') or ''}".strip())
        else:
            parts.append(str(plugin))
    return ", ".join(parts)


def success_header(text: str) -> Text:
    return Text("✓ ", style="bold green") + Text(text, style="bold")


def failure_header(text: str) -> Text:
    return Text("✗ ", style="bold red") + Text(text, style="bold")


def group(*renderables: Any) -> Group:
    return Group(*renderables)
