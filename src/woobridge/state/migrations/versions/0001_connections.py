"""connections: one row per store woobridge talks to.

Revision ID: 0001_connections
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_connections"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "connections",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("store_url", sa.String(length=2048), nullable=False),
        sa.Column("auth", sa.String(length=8), nullable=False),
        sa.Column("ca_file", sa.String(length=4096), nullable=True),
        sa.Column("namespace", sa.String(length=16), nullable=False),
        sa.Column("consumer_key_sealed", sa.Text(), nullable=False),
        sa.Column("key_fingerprint", sa.String(length=7), nullable=False),
        sa.Column("consumer_secret_sealed", sa.Text(), nullable=False),
        sa.Column("key_created_at", sa.DateTime(), nullable=False),
        sa.Column("permission", sa.String(length=10), nullable=True),
        sa.Column("flows", sa.JSON(), nullable=False),
        sa.Column("store_info", sa.JSON(), nullable=False),
        sa.Column("last_checked_at", sa.DateTime(), nullable=True),
        sa.Column("last_check_ok", sa.Boolean(), nullable=True),
        sa.Column("last_check_code", sa.String(length=64), nullable=True),
        sa.Column("last_check", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint("auth IN ('basic', 'query')", name=op.f("ck_connections_auth_mode")),
        sa.CheckConstraint(
            "permission IS NULL OR permission IN ('read', 'write', 'read_write')",
            name=op.f("ck_connections_permission"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_connections")),
        sa.UniqueConstraint("name", name=op.f("uq_connections_name")),
    )


def downgrade() -> None:
    op.drop_table("connections")
