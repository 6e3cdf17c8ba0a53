"""The guide's guardrails as pure rules: key age in calendar months, key permission against the enabled flows."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from woobridge.commands.guardrails import ExitCode, add_months, key_age_findings, most_severe, permission_findings
from woobridge.flows import FLOW_PERMISSIONS


def day(year: int, month: int, d: int) -> datetime:
    return datetime(year, month, d, 12, tzinfo=UTC)


def test_months_are_calendar_months() -> None:
    assert add_months(day(2025, 1, 31), 1) == day(2025, 2, 28)
    assert add_months(day(2024, 2, 29), 12) == day(2025, 2, 28)
    assert add_months(day(2025, 3, 15), 11) == day(2026, 2, 15)


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (day(2026, 2, 14), []),
        (day(2026, 2, 15), ["warning"]),
        (day(2026, 3, 15), ["warning"]),  # exactly 12 months: still a warning
        (day(2026, 3, 16), ["error"]),
    ],
)
def test_key_age_warns_from_eleven_months_and_fails_past_twelve(now: datetime, expected: list[str]) -> None:
    findings = key_age_findings("shop", day(2025, 3, 15), now)
    assert [f.level for f in findings] == expected
    if expected == ["error"]:
        assert findings[0].exit_code == ExitCode.KEY_TOO_OLD
        assert "rotate the key" in findings[0].message and "woobridge rotate shop" in findings[0].message


@pytest.mark.parametrize(
    ("permission", "flows", "expected"),
    [
        ("read_write", ["orders", "fulfillment"], None),
        ("read", ["orders", "customers"], None),
        ("read", ["orders", "fulfillment"], "permission-too-low"),
        ("write", ["orders"], "permission-too-low"),
        ("read_write", ["orders", "customers"], "permission-more-than-needed"),
        ("unknown", ["orders"], "permission-unknown"),
    ],
)
def test_permission_against_the_flows(permission: str, flows: list[str], expected: str | None) -> None:
    findings = permission_findings(permission, flows, FLOW_PERMISSIONS)
    assert [f.code for f in findings] == ([expected] if expected else [])
    if expected == "permission-too-low":
        assert findings[0].level == "error" and findings[0].exit_code == ExitCode.PERMISSION_TOO_LOW
    if expected == "permission-more-than-needed":
        assert findings[0].level == "note" and "Read is enough for reporting-only use" in findings[0].message


def test_the_most_severe_exit_code_wins() -> None:
    assert most_severe([]) == ExitCode.OK
    assert most_severe([ExitCode.KEY_TOO_OLD, ExitCode.OK, ExitCode.VALIDATION_FAILED]) == ExitCode.VALIDATION_FAILED
    assert most_severe([ExitCode.TRY_AGAIN_LATER, ExitCode.KEY_TOO_OLD]) == ExitCode.KEY_TOO_OLD
