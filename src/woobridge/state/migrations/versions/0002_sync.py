"""sync: cursors, bindings, runs, record errors and leases; per-flow settings on connections.

Revision ID: 0002_sync
Revises: 0001_connections
Create Date: 2025-01-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_sync"
down_revision = "0001_connections"
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
    with op.batch_alter_table("connections") as batch:
        batch.add_column(sa.Column("settings", sa.JSON(), server_default=sa.text("'{}'"), nullable=False))

    op.create_table(
        "cursors",
        sa.Column("connection_id", sa.Integer(), nullable=False),
        sa.Column("flow", sa.String(length=32), nullable=False),
        sa.Column("value", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        _connection_fk("cursors"),
        sa.PrimaryKeyConstraint("connection_id", "flow", name=op.f("pk_cursors")),
    )
    op.create_table(
        "bindings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("connection_id", sa.Integer(), nullable=False),
        sa.Column("resource", sa.String(length=32), nullable=False),
        sa.Column("store_id", sa.String(length=320), nullable=False),
        sa.Column("erp_id", sa.String(length=255), nullable=False),
        sa.Column("erp_document_no", sa.String(length=255), nullable=False),
        sa.Column("store_modified", sa.DateTime(), nullable=True),
        sa.Column("digest", sa.String(length=128), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        _connection_fk("bindings"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bindings")),
        sa.UniqueConstraint("connection_id", "resource", "store_id", name="uq_bindings_record"),
    )
    op.create_table(
        "runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("connection_id", sa.Integer(), nullable=False),
        sa.Column("flow", sa.String(length=32), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("ended_at", sa.DateTime(), nullable=True),
        sa.Column("read", sa.Integer(), nullable=False),
        sa.Column("created", sa.Integer(), nullable=False),
        sa.Column("updated", sa.Integer(), nullable=False),
        sa.Column("skipped", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.Column("requests", sa.Integer(), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("holder", sa.String(length=255), nullable=False),
        sa.CheckConstraint(
            "outcome IN ('running', 'success', 'partial', 'failed', 'interrupted')", name=op.f("ck_runs_outcome")
        ),
        _connection_fk("runs"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_runs")),
    )
    op.create_index("ix_runs_connection_flow_started", "runs", ["connection_id", "flow", "started_at"])
    op.create_table(
        "record_errors",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("connection_id", sa.Integer(), nullable=False),
        sa.Column("flow", sa.String(length=32), nullable=False),
        sa.Column("resource", sa.String(length=32), nullable=False),
        sa.Column("store_id", sa.String(length=320), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=True),
        sa.Column("error_class", sa.String(length=255), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("first_seen", sa.DateTime(), nullable=False),
        sa.Column("last_seen", sa.DateTime(), nullable=False),
        sa.Column("next_retry_at", sa.DateTime(), nullable=True),
        sa.Column("resolved_at", sa.DateTime(), nullable=True),
        sa.Column("resolution", sa.String(length=32), nullable=True),
        sa.Column("run_id", sa.Integer(), nullable=True),
        _connection_fk("record_errors"),
        sa.ForeignKeyConstraint(
            ["run_id"], ["runs.id"], name=op.f("fk_record_errors_run_id_runs"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_record_errors")),
    )
    # At most one open error per record: a partial unique index (SQLite and PostgreSQL both have them).
    op.create_index(
        "uq_record_errors_open",
        "record_errors",
        ["connection_id", "flow", "resource", "store_id"],
        unique=True,
        sqlite_where=sa.text("resolved_at IS NULL"),
        postgresql_where=sa.text("resolved_at IS NULL"),
    )
    op.create_index("ix_record_errors_due", "record_errors", ["connection_id", "flow", "next_retry_at"])
    op.create_table(
        "leases",
        sa.Column("connection_id", sa.Integer(), nullable=False),
        sa.Column("flow", sa.String(length=32), nullable=False),
        sa.Column("holder", sa.String(length=255), nullable=False),
        sa.Column("acquired_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        _connection_fk("leases"),
        sa.PrimaryKeyConstraint("connection_id", "flow", name=op.f("pk_leases")),
    )


def downgrade() -> None:
    op.drop_table("leases")
    op.drop_index("ix_record_errors_due", table_name="record_errors")
    op.drop_index("uq_record_errors_open", table_name="record_errors")
    op.drop_table("record_errors")
    op.drop_index("ix_runs_connection_flow_started", table_name="runs")
    op.drop_table("runs")
    op.drop_table("bindings")
    op.drop_table("cursors")
    with op.batch_alter_table("connections") as batch:
        batch.drop_column("settings")
