"""Column types of the staging tables, chosen so that an ERP writing plain SQL on either database is read right.

Kept apart from the models because the migrations import them: a migration is a frozen snapshot, and these two
types are the only code it shares with the live schema.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import DateTime, Numeric, String, TypeDecorator
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeEngine

MONEY_SCALE = 6


class Amount(TypeDecorator[Decimal]):
    """Money and quantities: ``NUMERIC(18, 6)``. Read back as a ``Decimal`` without padding zeros (``19.9``, not
    ``19.900000``), the same on SQLite (where the value is stored as a REAL) and on PostgreSQL."""

    impl = Numeric(18, MONEY_SCALE, asdecimal=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        return Decimal(value) if not isinstance(value, Decimal) else value

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        return plain_decimal(Decimal(str(value)))


def plain_decimal(value: Decimal) -> Decimal:
    """``value`` rounded to the column's scale, trailing zeros dropped, never in exponent form (``1E+2``)."""
    quantized = value.quantize(Decimal(1).scaleb(-MONEY_SCALE))
    normalized = quantized.normalize()
    return normalized.quantize(Decimal(1)) if normalized.as_tuple().exponent > 0 else normalized  # type: ignore[operator]


class UtcTimestamp(TypeDecorator[datetime]):
    """A moment in UTC, handed to Python as an aware datetime.

    PostgreSQL: ``timestamp with time zone`` (so an ERP writing ``now()`` is right whatever its session's zone).
    SQLite has no date type: text in UTC, ``YYYY-MM-DD HH:MM:SS[.ffffff]`` as ``CURRENT_TIMESTAMP`` writes it, so
    values sort and compare as text; on reading, any ISO 8601 form is accepted (``T`` separator, ``Z`` or an
    offset), and a value without an offset is taken as UTC.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(32))
        return dialect.type_descriptor(DateTime(timezone=True))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime, got {type(value).__name__}")
        if value.tzinfo is None:
            raise ValueError("naive datetime given; the staging tables store aware UTC datetimes only")
        moment = value.astimezone(UTC)
        if dialect.name == "sqlite":
            # "YYYY-MM-DD HH:MM:SS", ".ffffff" only when there are microseconds (isoformat's default), without the
            # "+00:00" every UTC moment ends with; a page of orders writes hundreds, and replace(tzinfo=None) and
            # keyword arguments made this cost four times as much.
            return moment.isoformat(" ").removesuffix("+00:00")
        return moment

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):
            value = parse_timestamp(value)
        if not isinstance(value, datetime):
            raise ValueError(f"not a timestamp: {value!r}")
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def parse_timestamp(text: str) -> datetime:
    """Parse a timestamp an ERP wrote as text; raises ``ValueError`` naming the value when it is not one."""
    try:
        return datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"not an ISO 8601 timestamp: {text!r} (write e.g. '2025-03-01 14:30:00', in UTC)") from None
