"""What ``woobridge serve`` keeps in the state database: the admin login, flow schedules and webhooks.

* ``AdminAccount`` — the one administrator's password hash (scrypt), set with ``woobridge admin set-password``;
* ``AdminSession`` — a signed-in browser: only a hash of its cookie is stored, with its CSRF token and expiry;
* ``LoginThrottle`` — failed sign-ins per client address, and until when that client must wait;
* ``FlowSchedule`` — per connection and flow: on/off, how often, when next, and the backoff after throttling;
* ``WebhookRegistration`` — a webhook woobridge created in a store, with the secret it signs with (sealed);
* ``WebhookDelivery`` — accepted deliveries, kept a while to recognise duplicates;
* ``WebhookCounter`` — how many deliveries were accepted, ignored as duplicates, pinged or refused (for /metrics).

Nothing here is kept in the process: several ``serve`` processes (or workers) can share one database.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from woobridge.state.models import Base, UTCDateTime, utcnow

_CONNECTION_FK = "connections.id"


class AdminAccount(Base):
    """The administrator of this installation (one row, id 1). Only the scrypt hash of the password is kept."""

    __tablename__ = "admin_account"

    id: Mapped[int] = mapped_column(primary_key=True)
    password_hash: Mapped[str] = mapped_column(String(512))
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    def __repr__(self) -> str:
        return f"<AdminAccount changed {self.changed_at:%Y-%m-%d}>"


class AdminSession(Base):
    """A signed-in browser. The cookie holds a random token; the database holds its SHA-256 only, so a copy of the
    database does not let anyone sign in."""

    __tablename__ = "admin_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())

    def __repr__(self) -> str:
        return f"<AdminSession until {self.expires_at:%Y-%m-%d %H:%M}>"


class LoginThrottle(Base):
    """Failed sign-ins from one client address; past the limit the client waits until ``locked_until``."""

    __tablename__ = "login_throttle"

    client: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    first_failure_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)


class FlowSchedule(Base):
    """When one flow runs for one connection. ``next_run_at`` is the only clock: "Run now" and webhook nudges
    move it to now; the scheduler moves it on after a run (further out, with backoff, when the store throttles)."""

    __tablename__ = "flow_schedules"

    connection_id: Mapped[int] = mapped_column(ForeignKey(_CONNECTION_FK, ondelete="CASCADE"), primary_key=True)
    flow: Mapped[str] = mapped_column(String(32), primary_key=True)
    enabled: Mapped[bool] = mapped_column(default=True)
    interval_seconds: Mapped[int] = mapped_column(Integer)
    next_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    # Set when something asked for a run sooner than the schedule: "run-now" or "webhook order.updated #123".
    requested: Mapped[str | None] = mapped_column(String(255), default=None)
    # Seconds of the current backoff (0 when the last run was not throttled) and why.
    backoff_seconds: Mapped[int] = mapped_column(Integer, default=0)
    last_problem: Mapped[str | None] = mapped_column(Text, default=None)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    def __repr__(self) -> str:
        state = "on" if self.enabled else "off"
        return f"<FlowSchedule connection={self.connection_id} {self.flow} {state} every {self.interval_seconds}s>"


class WebhookRegistration(Base):
    """A webhook woobridge created in the store for one topic. The secret is sealed with the vault; ``status`` is
    what the store said at the last health check (active, paused, disabled) or ``missing`` when it was gone."""

    __tablename__ = "webhook_registrations"
    __table_args__ = (UniqueConstraint("connection_id", "topic", name="uq_webhook_registrations_topic"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    connection_id: Mapped[int] = mapped_column(ForeignKey(_CONNECTION_FK, ondelete="CASCADE"))
    topic: Mapped[str] = mapped_column(String(64))
    store_webhook_id: Mapped[int | None] = mapped_column(Integer, default=None)
    delivery_url: Mapped[str] = mapped_column(String(2048))
    secret_sealed: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    last_checked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    last_delivery_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    last_problem: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    def __repr__(self) -> str:
        # Never the sealed secret.
        return f"<WebhookRegistration {self.topic} #{self.store_webhook_id} {self.status}>"


class WebhookDelivery(Base):
    """An accepted delivery. ``dedupe_key`` (webhook id + SHA-256 of the body) is unique: WooCommerce may send the
    same body again (a retried delivery), and the delivery id header is not unique per event."""

    __tablename__ = "webhook_deliveries"

    id: Mapped[int] = mapped_column(primary_key=True)
    connection_id: Mapped[int] = mapped_column(ForeignKey(_CONNECTION_FK, ondelete="CASCADE"))
    dedupe_key: Mapped[str] = mapped_column(String(96), unique=True)
    topic: Mapped[str] = mapped_column(String(64))
    resource_id: Mapped[str | None] = mapped_column(String(64), default=None)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class WebhookCounter(Base):
    """Monotonic counts of deliveries by outcome (accepted, duplicate, ping, refused) per connection name — a name,
    not a key, so forged deliveries to unknown connections are counted too."""

    __tablename__ = "webhook_counters"

    connection: Mapped[str] = mapped_column(String(64), primary_key=True)
    outcome: Mapped[str] = mapped_column(String(16), primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)
