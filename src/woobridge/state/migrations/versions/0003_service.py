"""service: admin login, sessions and throttling; flow schedules; webhook registrations, deliveries and counters.

Revision ID: 0003_service
Revises: 0002_sync
Create Date: 2025-01-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_service"
down_revision = "0002_sync"
branch_labels = None
depends_on = None


def _connection_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["connection_id"],
        ["connections.id"],
        name=op.f(f"fk_{table}_connection_id_connections"),
        ondelete="CASCADE",
    )


def upgrade() -> None:
    op.create_table(
        "admin_account",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("password_hash", sa.String(length=512), nullable=False),
        sa.Column("changed_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_admin_account")),
    )
    op.create_table(
        "admin_sessions",
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("csrf_token", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_admin_sessions")),
    )
    op.create_table(
        "login_throttle",
        sa.Column("client", sa.String(length=64), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("first_failure_at", sa.DateTime(), nullable=False),
        sa.Column("locked_until", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("client", name=op.f("pk_login_throttle")),
    )
    op.create_table(
        "flow_schedules",
        sa.Column("connection_id", sa.Integer(), nullable=False),
        sa.Column("flow", sa.String(length=32), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("interval_seconds", sa.Integer(), nullable=False),
        sa.Column("next_run_at", sa.DateTime(), nullable=True),
        sa.Column("requested", sa.String(length=255), nullable=True),
        sa.Column("backoff_seconds", sa.Integer(), nullable=False),
        sa.Column("last_problem", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        _connection_fk("flow_schedules"),
        sa.PrimaryKeyConstraint("connection_id", "flow", name=op.f("pk_flow_schedules")),
    )
    op.create_table(
        "webhook_registrations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("connection_id", sa.Integer(), nullable=False),
        sa.Column("topic", sa.String(length=64), nullable=False),
        sa.Column("store_webhook_id", sa.Integer(), nullable=True),
        sa.Column("delivery_url", sa.String(length=2048), nullable=False),
        sa.Column("secret_sealed", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("last_checked_at", sa.DateTime(), nullable=True),
        sa.Column("last_delivery_at", sa.DateTime(), nullable=True),
        sa.Column("last_problem", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        _connection_fk("webhook_registrations"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_registrations")),
        sa.UniqueConstraint("connection_id", "topic", name="uq_webhook_registrations_topic"),
    )
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("connection_id", sa.Integer(), nullable=False),
        sa.Column("dedupe_key", sa.String(length=96), nullable=False),
        sa.Column("topic", sa.String(length=64), nullable=False),
        sa.Column("resource_id", sa.String(length=64), nullable=True),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        _connection_fk("webhook_deliveries"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_deliveries")),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_webhook_deliveries_dedupe_key")),
    )
    op.create_table(
        "webhook_counters",
        sa.Column("connection", sa.String(length=64), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("connection", "outcome", name=op.f("pk_webhook_counters")),
    )


def downgrade() -> None:
    op.drop_table("webhook_counters")
    op.drop_table("webhook_deliveries")
    op.drop_table("webhook_registrations")
    op.drop_table("flow_schedules")
    op.drop_table("login_throttle")
    op.drop_table("admin_sessions")
    op.drop_table("admin_account")
