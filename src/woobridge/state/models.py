"""The state database's tables, in the domain's words.

A ``Connection`` is one WooCommerce store woobridge talks to (a "backend" in connector vocabulary): where it is,
how to authenticate, what the key may do, which flows run against it, and what the last check found. Many
connections can live side by side; nothing here assumes there is only one.

What the flows share, per connection:

* a ``Cursor`` per flow — where the next run starts reading (a JSON value the flow owns);
* ``Binding`` rows — this store record is that ERP record (unique per connection, resource and store id), with a
  digest of what was last sent so unchanged records are skipped;
* ``Run`` rows — the history: when, how many read / created / updated / skipped / failed, and the outcome;
* ``RecordError`` rows — one record that could not be synced, why, with its payload and a retry schedule; at most
  one *open* error per record;
* a ``Lease`` per flow — so two runs of one flow for one connection never overlap, across processes and machines.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeEngine

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


class _SQLiteDateTime(sqlite.DATETIME):
    """SQLite's DATETIME, stored as the dialect stores it ("YYYY-MM-DD HH:MM:SS.ffffff") but written by
    ``isoformat``: the dialect's own %-format costs several times as much, and a page of orders binds three
    timestamps an order."""

    def bind_processor(self, dialect: Dialect) -> Callable[[datetime | None], str | None]:
        def process(value: datetime | None) -> str | None:
            return None if value is None else value.isoformat(" ", "microseconds")

        return process


class UTCDateTime(TypeDecorator[datetime]):
    """An aware UTC datetime on every database (SQLite has no time zones: stored as naive UTC, read back as UTC)."""

    impl = DateTime
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return _SQLiteDateTime()  # type: ignore[no-untyped-call]
        return dialect.type_descriptor(DateTime())

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; woobridge stores aware UTC datetimes only")
        moment = value.astimezone(UTC)
        # Naive: its date and time of day without the zone (replace(tzinfo=None) parses keyword arguments, which
        # costs several times as much).
        return datetime.combine(moment.date(), moment.time())

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
    # Per-flow settings, keyed by flow name: {"orders": {"statuses": ["processing", …], "overlap_seconds": 300}}.
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict, server_default=text("'{}'"))

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

    def flow_settings(self, flow: str) -> dict[str, Any]:
        """This connection's settings for one flow (empty when none were set)."""
        value = (self.settings or {}).get(flow)
        return dict(value) if isinstance(value, dict) else {}


# -- what the flows share --------------------------------------------------------------------------------------------

RESOURCES = ("order", "customer", "product", "refund", "shipment")
RUN_OUTCOMES = ("running", "success", "partial", "failed", "interrupted")

_CONNECTION_FK = "connections.id"


class Cursor(Base):
    """Where a flow's next run for a connection starts; the value belongs to the flow (e.g. a time window's end)."""

    __tablename__ = "cursors"

    connection_id: Mapped[int] = mapped_column(ForeignKey(_CONNECTION_FK, ondelete="CASCADE"), primary_key=True)
    flow: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    def __repr__(self) -> str:
        return f"<Cursor connection={self.connection_id} {self.flow} {self.value!r}>"


class Binding(Base):
    """This store record is that ERP record. Unique per (connection, resource, store id): the heart of "never
    twice". ``store_id`` is text because guests are bound by their normalised e-mail."""

    __tablename__ = "bindings"
    __table_args__ = (UniqueConstraint("connection_id", "resource", "store_id", name="uq_bindings_record"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    connection_id: Mapped[int] = mapped_column(ForeignKey(_CONNECTION_FK, ondelete="CASCADE"))
    resource: Mapped[str] = mapped_column(String(32))
    store_id: Mapped[str] = mapped_column(String(320))
    erp_id: Mapped[str] = mapped_column(String(255))
    erp_document_no: Mapped[str] = mapped_column(String(255), default="")
    # The store's date_modified_gmt of the version last sent (UTC), and a hash of what was sent: an unchanged
    # record is skipped without asking the ERP.
    store_modified: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    digest: Mapped[str | None] = mapped_column(String(128), default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    def __repr__(self) -> str:
        return f"<Binding connection={self.connection_id} {self.resource} {self.store_id} → {self.erp_id}>"


class Run(Base):
    """One run of one flow for one connection: when, what it did, how it ended."""

    __tablename__ = "runs"
    __table_args__ = (
        CheckConstraint(
            "outcome IN ('running', 'success', 'partial', 'failed', 'interrupted')",
            name="outcome",
        ),
        Index("ix_runs_connection_flow_started", "connection_id", "flow", "started_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    connection_id: Mapped[int] = mapped_column(ForeignKey(_CONNECTION_FK, ondelete="CASCADE"))
    flow: Mapped[str] = mapped_column(String(32))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    read: Mapped[int] = mapped_column(Integer, default=0)
    created: Mapped[int] = mapped_column(Integer, default=0)
    updated: Mapped[int] = mapped_column(Integer, default=0)
    skipped: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    requests: Mapped[int] = mapped_column(Integer, default=0)
    outcome: Mapped[str] = mapped_column(String(16), default="running")
    message: Mapped[str | None] = mapped_column(Text, default=None)
    holder: Mapped[str] = mapped_column(String(255), default="")

    def __repr__(self) -> str:
        return f"<Run {self.id} connection={self.connection_id} {self.flow} {self.outcome}>"


class RecordError(Base):
    """One store record a flow could not sync: why (class and message), what it was (payload), how often it failed,
    and when to try again. At most one open (unresolved) error per (connection, flow, resource, store id): a
    repeat of the same failure updates it and counts an attempt."""

    __tablename__ = "record_errors"
    __table_args__ = (
        Index(
            "uq_record_errors_open",
            "connection_id",
            "flow",
            "resource",
            "store_id",
            unique=True,
            sqlite_where=text("resolved_at IS NULL"),
            postgresql_where=text("resolved_at IS NULL"),
        ),
        Index("ix_record_errors_due", "connection_id", "flow", "next_retry_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    connection_id: Mapped[int] = mapped_column(ForeignKey(_CONNECTION_FK, ondelete="CASCADE"))
    flow: Mapped[str] = mapped_column(String(32))
    resource: Mapped[str] = mapped_column(String(32))
    store_id: Mapped[str] = mapped_column(String(320))
    payload: Mapped[Any] = mapped_column(JSON, default=None, nullable=True)
    error_class: Mapped[str] = mapped_column(String(255))
    message: Mapped[str] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=1)
    first_seen: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    next_retry_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    # How it was resolved: "synced" (a later attempt went through) or "by hand" (woobridge errors resolve).
    resolution: Mapped[str | None] = mapped_column(String(32), default=None)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id", ondelete="SET NULL"), default=None)

    @property
    def is_open(self) -> bool:
        return self.resolved_at is None

    def __repr__(self) -> str:
        state = "open" if self.resolved_at is None else "resolved"
        return f"<RecordError {self.id} {self.flow} {self.resource} {self.store_id} {state} x{self.attempts}>"


class Lease(Base):
    """Who is running a flow for a connection, until when. Taken with an atomic insert (or a conditional update of
    an expired lease), renewed by the holder while it runs, released on exit; a crashed holder's lease expires."""

    __tablename__ = "leases"

    connection_id: Mapped[int] = mapped_column(ForeignKey(_CONNECTION_FK, ondelete="CASCADE"), primary_key=True)
    flow: Mapped[str] = mapped_column(String(32), primary_key=True)
    holder: Mapped[str] = mapped_column(String(255))
    acquired_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())

    def __repr__(self) -> str:
        return f"<Lease connection={self.connection_id} {self.flow} held by {self.holder} until {self.expires_at}>"
