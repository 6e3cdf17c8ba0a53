"""sku_index: the inventory flow's SKU → product/variation index, with the last quantity pushed.

Revision ID: 0004_sku_index
Revises: 0003_service
Create Date: 2025-01-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_sku_index"
down_revision = "0003_service"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sku_index",
        sa.Column("connection_id", sa.Integer(), nullable=False),
        sa.Column("sku", sa.String(length=320), nullable=False),
        sa.Column("product_id", sa.Integer(), nullable=False),
        sa.Column("variation_id", sa.Integer(), nullable=False),
        sa.Column("manage_stock", sa.String(length=8), nullable=False),
        sa.Column("stock_quantity", sa.Numeric(precision=18, scale=6), nullable=True),
        sa.Column("store_modified", sa.DateTime(), nullable=True),
        sa.Column("pushed_quantity", sa.Numeric(precision=18, scale=6), nullable=True),
        sa.Column("pushed_at", sa.DateTime(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["connections.id"],
            name=op.f("fk_sku_index_connection_id_connections"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("connection_id", "sku", name=op.f("pk_sku_index")),
    )
    op.create_index("ix_sku_index_product", "sku_index", ["connection_id", "product_id"])


def downgrade() -> None:
    op.drop_index("ix_sku_index_product", table_name="sku_index")
    op.drop_table("sku_index")
