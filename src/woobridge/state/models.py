"""The state database's tables, in the domain's words.

A ``Connection`` is one WooCommerce store woobridge talks to (a "backend" in connector vocabulary): where it is,
how to authenticate, what the key may do, which flows run against it, and what the last check found. Many
connections can live side by side; nothing here assumes there is only one.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, CheckConstraint, DateTime, MetaData, String, Text, TypeDecorator
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

if TYPE_CHECKING:
    from woobridge.secrets import Vault

# Stable constraint names, so migrations can refer to them on every database.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

AUTH_MODES = ("basic", "query")
PERMISSIONS = ("read", "write", "read_write")


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """An aware UTC datetime on every database (SQLite has no time zones: stored as naive UTC, read back as UTC)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; woobridge stores aware UTC datetimes only")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Connection(Base):
    """One store's connection. The consumer key and secret are stored encrypted (see ``woobridge.secrets``);
    only the key's fingerprint (its last 7 characters, as WooCommerce shows it) is kept in clear."""

    __tablename__ = "connections"
    __table_args__ = (
        CheckConstraint("auth IN ('basic', 'query')", name="auth_mode"),
        CheckConstraint("permission IS NULL OR permission IN ('read', 'write', 'read_write')", name="permission"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    store_url: Mapped[str] = mapped_column(String(2048))
    # "basic": Authorization header; "query": credentials in the query string, for hosts that strip the header.
    auth: Mapped[str] = mapped_column(String(8), default="basic")
    ca_file: Mapped[str | None] = mapped_column(String(4096), default=None)
    namespace: Mapped[str] = mapped_column(String(16), default="wc/v3")

    consumer_key_sealed: Mapped[str] = mapped_column(Text)
    key_fingerprint: Mapped[str] = mapped_column(String(7))
    consumer_secret_sealed: Mapped[str] = mapped_column(Text)
    # The key's age drives the rotation guardrail: set when connected or rotated, or given by the user.
    key_created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # What the last validation found the key may do: read, write or read_write.
    permission: Mapped[str | None] = mapped_column(String(10), default=None)
    flows: Mapped[list[str]] = mapped_column(JSON, default=list)
    # What system_status told at the last successful validation (versions, currency, timezone, HPOS, plugins).
    store_info: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    last_checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    last_check_ok: Mapped[bool | None] = mapped_column(default=None)
    last_check_code: Mapped[str | None] = mapped_column(String(64), default=None)
    last_check: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)

    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    def __repr__(self) -> str:
        # Never the sealed values: a repr ends up in logs and tracebacks.
        return f"<Connection {self.name!r} {self.store_url} key …{self.key_fingerprint} auth={self.auth}>"

    # -- credentials: sealed on the way in, unsealed only to build a request ------------------------------------

    def store_key(self, vault: Vault, consumer_key: str, consumer_secret: str) -> None:
        """Encrypt and keep a key pair; the fingerprint (last 7 characters of the key) stays readable."""
        self.consumer_key_sealed = vault.seal(consumer_key)
        self.consumer_secret_sealed = vault.seal(consumer_secret)
        self.key_fingerprint = consumer_key[-7:]

    def unseal_key(self, vault: Vault) -> str:
        return vault.unseal(self.consumer_key_sealed, f"the consumer key of connection {self.name!r}")

    def unseal_secret(self, vault: Vault) -> str:
        return vault.unseal(self.consumer_secret_sealed, f"the consumer secret of connection {self.name!r}")
