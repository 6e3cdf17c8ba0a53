"""The setup guide's guardrails on a stored key: its age, and its permission against what the enabled flows need.

Pure functions of the connection's facts and the clock, so they can be read and tested without a store.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum
from typing import Literal

KEY_AGE_WARN_MONTHS = 11
KEY_AGE_LIMIT_MONTHS = 12

PERMISSION_LABELS = {"read": "Read", "write": "Write", "read_write": "Read/Write"}


class ExitCode(IntEnum):
    """What ``connect``, ``check`` and ``rotate`` exit with. Several connections checked: the most severe."""

    OK = 0
    VALIDATION_FAILED = 1
    BAD_INPUT = 2
    KEY_TOO_OLD = 3
    PERMISSION_TOO_LOW = 4
    TRY_AGAIN_LATER = 5
    STATE_ERROR = 6

    @property
    def meaning(self) -> str:
        return EXIT_MEANINGS[self]


EXIT_MEANINGS = {
    ExitCode.OK: "success (warnings and notes may have been printed)",
    ExitCode.VALIDATION_FAILED: "the store or the credentials failed validation: the diagnosis says why",
    ExitCode.BAD_INPUT: "bad input or usage: malformed URL, key or secret, unknown connection, missing secret",
    ExitCode.KEY_TOO_OLD: "the key is more than 12 months old: rotate the key (woobridge rotate NAME)",
    ExitCode.PERMISSION_TOO_LOW: "the key has less permission than the enabled flows need (e.g. Read, not Read/Write)",
    ExitCode.TRY_AGAIN_LATER: "the store is throttling, in maintenance, failing or not answering: retry later",
    ExitCode.STATE_ERROR: "woobridge's own state: the database is unreachable or the master key cannot decrypt",
}

# When several connections are checked, the exit code says the worst of what was found.
SEVERITY = [
    ExitCode.STATE_ERROR,
    ExitCode.VALIDATION_FAILED,
    ExitCode.PERMISSION_TOO_LOW,
    ExitCode.KEY_TOO_OLD,
    ExitCode.TRY_AGAIN_LATER,
    ExitCode.BAD_INPUT,
    ExitCode.OK,
]


def most_severe(codes: Iterable[ExitCode]) -> ExitCode:
    found = set(codes)
    return next((code for code in SEVERITY if code in found), ExitCode.OK)


@dataclass(frozen=True)
class Finding:
    """One thing a check found: an error fails it (with ``exit_code``), a warning or a note does not."""

    level: Literal["error", "warning", "note"]
    code: str
    message: str
    exit_code: ExitCode = ExitCode.OK

    def to_dict(self) -> dict[str, str | int]:
        return {"level": self.level, "code": self.code, "message": self.message, "exit_code": int(self.exit_code)}


def add_months(moment: datetime, months: int) -> datetime:
    """``moment`` plus calendar months, the day clamped to the month's end (Jan 31 + 1 month = Feb 28/29)."""
    month_index = moment.month - 1 + months
    year, month = moment.year + month_index // 12, month_index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def key_age_findings(name: str, key_created_at: datetime, now: datetime) -> list[Finding]:
    """Warn from 11 months of key age; fail past 12 ("rotate the key")."""
    limit = add_months(key_created_at, KEY_AGE_LIMIT_MONTHS)
    created = key_created_at.date().isoformat()
    rotate = (
        f"Create a new key in WooCommerce → Settings → Advanced → REST API, then run: woobridge rotate {name} "
        "(and revoke the old key)."
    )
    if now > limit:
        return [
            Finding(
                "error",
                "key-too-old",
                f"The key was created on {created}, more than {KEY_AGE_LIMIT_MONTHS} months ago: rotate the key. "
                + rotate,
                ExitCode.KEY_TOO_OLD,
            )
        ]
    if now >= add_months(key_created_at, KEY_AGE_WARN_MONTHS):
        return [
            Finding(
                "warning",
                "key-ageing",
                f"The key was created on {created}; rotate it before {limit.date().isoformat()}. " + rotate,
            )
        ]
    return []


def required_permission(flows: Iterable[str], flow_permissions: Mapping[str, str]) -> str:
    """``read_write`` if any enabled flow writes to the store, else ``read``."""
    return "read_write" if any(flow_permissions.get(flow) == "read_write" for flow in flows) else "read"


def permission_findings(permission: str | None, flows: list[str], flow_permissions: Mapping[str, str]) -> list[Finding]:
    """Compare the key's permission with what the enabled flows need: less is an error, more is a note."""
    needed = required_permission(flows, flow_permissions)
    if permission in (None, "unknown"):
        return [Finding("note", "permission-unknown", "The key's permission could not be determined.")]
    can_read = permission in ("read", "read_write")
    can_write = permission in ("write", "read_write")
    label = PERMISSION_LABELS.get(permission, permission)
    writers = [flow for flow in flows if flow_permissions.get(flow) == "read_write"]
    if not can_read:
        return [
            Finding(
                "error",
                "permission-too-low",
                f"The key's permission is {label}: woobridge cannot read from the store. Edit the key in "
                "WooCommerce → Settings → Advanced → REST API and set Permissions to Read/Write.",
                ExitCode.PERMISSION_TOO_LOW,
            )
        ]
    if needed == "read_write" and not can_write:
        return [
            Finding(
                "error",
                "permission-too-low",
                f"The key's permission is {label}, but these enabled flows write to the store: {', '.join(writers)}. "
                "Edit the key in WooCommerce → Settings → Advanced → REST API and set Permissions to Read/Write, "
                "or enable only flows that read (--flows).",
                ExitCode.PERMISSION_TOO_LOW,
            )
        ]
    if needed == "read" and can_write:
        return [
            Finding(
                "note",
                "permission-more-than-needed",
                f"The key's permission is {label}, but the enabled flows only read. Read is enough for "
                "reporting-only use: a Read key limits what a leaked key can do.",
            )
        ]
    return []
