"""staging tables: outbound orders, customers, credit memos; inbound shipments, stock, items, ERP credit memos

Revision ID: 0001_staging_tables
Revises:
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from woobridge.erp.staging.types import Amount, UtcTimestamp

revision = "0001_staging_tables"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "customers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("connection", sa.String(length=64), nullable=False),
        sa.Column("customer_key", sa.String(length=328), nullable=False),
        sa.Column("store_customer_id", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("first_name", sa.String(length=200), nullable=False),
        sa.Column("last_name", sa.String(length=200), nullable=False),
        sa.Column("company", sa.String(length=200), nullable=False),
        sa.Column("phone", sa.String(length=100), nullable=False),
        sa.Column("billing_first_name", sa.String(length=200), nullable=False),
        sa.Column("billing_last_name", sa.String(length=200), nullable=False),
        sa.Column("billing_company", sa.String(length=200), nullable=False),
        sa.Column("billing_address_1", sa.String(length=400), nullable=False),
        sa.Column("billing_address_2", sa.String(length=400), nullable=False),
        sa.Column("billing_city", sa.String(length=200), nullable=False),
        sa.Column("billing_state", sa.String(length=100), nullable=False),
        sa.Column("billing_postcode", sa.String(length=40), nullable=False),
        sa.Column("billing_country", sa.String(length=2), nullable=False),
        sa.Column("billing_email", sa.String(length=320), nullable=False),
        sa.Column("billing_phone", sa.String(length=100), nullable=False),
        sa.Column("shipping_first_name", sa.String(length=200), nullable=False),
        sa.Column("shipping_last_name", sa.String(length=200), nullable=False),
        sa.Column("shipping_company", sa.String(length=200), nullable=False),
        sa.Column("shipping_address_1", sa.String(length=400), nullable=False),
        sa.Column("shipping_address_2", sa.String(length=400), nullable=False),
        sa.Column("shipping_city", sa.String(length=200), nullable=False),
        sa.Column("shipping_state", sa.String(length=100), nullable=False),
        sa.Column("shipping_postcode", sa.String(length=40), nullable=False),
        sa.Column("shipping_country", sa.String(length=2), nullable=False),
        sa.Column("shipping_email", sa.String(length=320), nullable=False),
        sa.Column("shipping_phone", sa.String(length=100), nullable=False),
        sa.Column("revision", sa.Integer(), server_default="1", nullable=False),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("erp_status", sa.String(length=16), server_default="new", nullable=False),
        sa.Column("erp_document_no", sa.String(length=64), nullable=True),
        sa.Column("erp_message", sa.Text(), nullable=True),
        sa.Column("erp_processed_at", UtcTimestamp(), nullable=True),
        sa.Column("created_at", UtcTimestamp(), server_default=sa.func.now(), nullable=False),
        sa.Column("updated_at", UtcTimestamp(), server_default=sa.func.now(), nullable=False),
        sa.CheckConstraint(
            "erp_status IN ('new', 'updated', 'accepted', 'rejected')", name=op.f("ck_customers_erp_status")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_customers")),
        sa.UniqueConstraint("connection", "customer_key", name="uq_customers_connection_customer_key"),
    )
    op.create_index("ix_customers_connection_email", "customers", ["connection", "email"], unique=False)
    op.create_index("ix_customers_erp_status", "customers", ["erp_status", "id"], unique=False)

    op.create_table(
        "erp_credit_memos",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("erp_memo_id", sa.String(length=64), nullable=False),
        sa.Column("connection", sa.String(length=64), nullable=False),
        sa.Column("store_order_id", sa.BigInteger(), nullable=False),
        sa.Column("amount", Amount(), nullable=False),
        sa.Column("reason", sa.Text(), server_default="", nullable=False),
        sa.Column("restock", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("currency", sa.String(length=8), server_default="", nullable=False),
        sa.Column("woo_status", sa.String(length=16), server_default="pending", nullable=False),
        sa.Column("woo_message", sa.Text(), nullable=True),
        sa.Column("woo_ref", sa.String(length=200), nullable=True),
        sa.Column("woo_processed_at", UtcTimestamp(), nullable=True),
        sa.Column("created_at", UtcTimestamp(), server_default=sa.func.now(), nullable=False),
        sa.Column("updated_at", UtcTimestamp(), server_default=sa.func.now(), nullable=False),
        sa.CheckConstraint("woo_status IN ('pending', 'done', 'error')", name=op.f("ck_erp_credit_memos_woo_status")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_erp_credit_memos")),
        sa.UniqueConstraint("connection", "erp_memo_id", name="uq_erp_credit_memos_connection_erp_memo"),
    )
    op.create_index(
        "ix_erp_credit_memos_connection_woo_status",
        "erp_credit_memos",
        ["connection", "woo_status", "id"],
        unique=False,
    )

    op.create_table(
        "items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("connection", sa.String(length=64), nullable=True),
        sa.Column("sku", sa.String(length=100), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), server_default="", nullable=False),
        sa.Column("short_description", sa.Text(), server_default="", nullable=False),
        sa.Column("regular_price", Amount(), nullable=True),
        sa.Column("sale_price", Amount(), nullable=True),
        sa.Column("weight", Amount(), nullable=True),
        sa.Column("length", Amount(), nullable=True),
        sa.Column("width", Amount(), nullable=True),
        sa.Column("height", Amount(), nullable=True),
        sa.Column("status", sa.String(length=16), server_default="active", nullable=False),
        sa.Column("category_path", sa.JSON(), nullable=True),
        sa.Column("attributes", sa.JSON(), nullable=True),
        sa.Column("image_urls", sa.JSON(), nullable=True),
        sa.Column("source", sa.String(length=8), server_default="erp", nullable=False),
        sa.Column("store_product_id", sa.BigInteger(), nullable=True),
        sa.Column("erp_status", sa.String(length=16), nullable=True),
        sa.Column("erp_message", sa.Text(), nullable=True),
        sa.Column("woo_status", sa.String(length=16), server_default="pending", nullable=False),
        sa.Column("woo_message", sa.Text(), nullable=True),
        sa.Column("woo_ref", sa.String(length=200), nullable=True),
        sa.Column("woo_processed_at", UtcTimestamp(), nullable=True),
        sa.Column("created_at", UtcTimestamp(), server_default=sa.func.now(), nullable=False),
        sa.Column("updated_at", UtcTimestamp(), server_default=sa.func.now(), nullable=False),
        sa.CheckConstraint(
            "erp_status IS NULL OR erp_status IN ('new', 'updated', 'accepted', 'rejected')",
            name=op.f("ck_items_erp_status"),
        ),
        sa.CheckConstraint("source IN ('erp', 'store')", name=op.f("ck_items_source")),
        sa.CheckConstraint("status IN ('active', 'inactive')", name=op.f("ck_items_status")),
        sa.CheckConstraint("woo_status IN ('pending', 'done', 'error')", name=op.f("ck_items_woo_status")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_items")),
        sa.UniqueConstraint("connection", "sku", name="uq_items_connection_sku"),
    )
    op.create_index("ix_items_sku", "items", ["sku"], unique=False)
    op.create_index(
        "uq_items_shared_sku",
        "items",
        ["sku"],
        unique=True,
        sqlite_where=sa.text("connection IS NULL"),
        postgresql_where=sa.text("connection IS NULL"),
    )

    op.create_table(
        "sales_orders",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("connection", sa.String(length=64), nullable=False),
        sa.Column("store_order_id", sa.BigInteger(), nullable=False),
        sa.Column("order_number", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("currency", sa.String(length=8), nullable=False),
        sa.Column("ordered_at", UtcTimestamp(), nullable=False),
        sa.Column("store_modified_at", UtcTimestamp(), nullable=False),
        sa.Column("paid_at", UtcTimestamp(), nullable=True),
        sa.Column("customer_key", sa.String(length=328), nullable=False),
        sa.Column("store_customer_id", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("customer_email", sa.String(length=320), nullable=False),
        sa.Column("customer_name", sa.String(length=400), nullable=False),
        sa.Column("billing_first_name", sa.String(length=200), nullable=False),
        sa.Column("billing_last_name", sa.String(length=200), nullable=False),
        sa.Column("billing_company", sa.String(length=200), nullable=False),
        sa.Column("billing_address_1", sa.String(length=400), nullable=False),
        sa.Column("billing_address_2", sa.String(length=400), nullable=False),
        sa.Column("billing_city", sa.String(length=200), nullable=False),
        sa.Column("billing_state", sa.String(length=100), nullable=False),
        sa.Column("billing_postcode", sa.String(length=40), nullable=False),
        sa.Column("billing_country", sa.String(length=2), nullable=False),
        sa.Column("billing_email", sa.String(length=320), nullable=False),
        sa.Column("billing_phone", sa.String(length=100), nullable=False),
        sa.Column("shipping_first_name", sa.String(length=200), nullable=False),
        sa.Column("shipping_last_name", sa.String(length=200), nullable=False),
        sa.Column("shipping_company", sa.String(length=200), nullable=False),
        sa.Column("shipping_address_1", sa.String(length=400), nullable=False),
        sa.Column("shipping_address_2", sa.String(length=400), nullable=False),
        sa.Column("shipping_city", sa.String(length=200), nullable=False),
        sa.Column("shipping_state", sa.String(length=100), nullable=False),
        sa.Column("shipping_postcode", sa.String(length=40), nullable=False),
        sa.Column("shipping_country", sa.String(length=2), nullable=False),
        sa.Column("shipping_email", sa.String(length=320), nullable=False),
        sa.Column("shipping_phone", sa.String(length=100), nullable=False),
        sa.Column("payment_method", sa.String(length=200), nullable=False),
        sa.Column("payment_method_title", sa.String(length=400), nullable=False),
        sa.Column("transaction_id", sa.String(length=200), nullable=False),
        sa.Column("prices_include_tax", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("customer_note", sa.Text(), nullable=False),
        sa.Column("discount_total", Amount(), nullable=False),
        sa.Column("shipping_total", Amount(), nullable=False),
        sa.Column("total_tax", Amount(), nullable=False),
        sa.Column("rounding_adjustment", Amount(), server_default="0", nullable=False),
        sa.Column("total", Amount(), nullable=False),
        sa.Column("revision", sa.Integer(), server_default="1", nullable=False),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("erp_status", sa.String(length=16), server_default="new", nullable=False),
        sa.Column("erp_document_no", sa.String(length=64), nullable=True),
        sa.Column("erp_message", sa.Text(), nullable=True),
        sa.Column("erp_processed_at", UtcTimestamp(), nullable=True),
        sa.Column("created_at", UtcTimestamp(), server_default=sa.func.now(), nullable=False),
        sa.Column("updated_at", UtcTimestamp(), server_default=sa.func.now(), nullable=False),
        sa.CheckConstraint(
            "erp_status IN ('new', 'updated', 'accepted', 'rejected')", name=op.f("ck_sales_orders_erp_status")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sales_orders")),
        sa.UniqueConstraint("connection", "store_order_id", name="uq_sales_orders_connection_store_order"),
    )
    op.create_index("ix_sales_orders_erp_status", "sales_orders", ["erp_status", "id"], unique=False)

    op.create_table(
        "shipments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("erp_shipment_id", sa.String(length=64), nullable=False),
        sa.Column("connection", sa.String(length=64), nullable=False),
        sa.Column("store_order_id", sa.BigInteger(), nullable=False),
        sa.Column("carrier", sa.String(length=200), server_default="", nullable=False),
        sa.Column("tracking_number", sa.String(length=200), server_default="", nullable=False),
        sa.Column("tracking_url", sa.Text(), server_default="", nullable=False),
        sa.Column("shipped_at", UtcTimestamp(), nullable=True),
        sa.Column("woo_status", sa.String(length=16), server_default="pending", nullable=False),
        sa.Column("woo_message", sa.Text(), nullable=True),
        sa.Column("woo_ref", sa.String(length=200), nullable=True),
        sa.Column("woo_processed_at", UtcTimestamp(), nullable=True),
        sa.Column("created_at", UtcTimestamp(), server_default=sa.func.now(), nullable=False),
        sa.Column("updated_at", UtcTimestamp(), server_default=sa.func.now(), nullable=False),
        sa.CheckConstraint("woo_status IN ('pending', 'done', 'error')", name=op.f("ck_shipments_woo_status")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_shipments")),
        sa.UniqueConstraint("connection", "erp_shipment_id", name="uq_shipments_connection_erp_shipment"),
    )
    op.create_index("ix_shipments_connection_woo_status", "shipments", ["connection", "woo_status", "id"], unique=False)

    op.create_table(
        "stock_levels",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("connection", sa.String(length=64), nullable=True),
        sa.Column("sku", sa.String(length=100), nullable=False),
        sa.Column("warehouse", sa.String(length=64), server_default="", nullable=False),
        sa.Column("quantity", Amount(), nullable=False),
        sa.Column("updated_at", UtcTimestamp(), server_default=sa.func.now(), nullable=False),
        sa.Column("woo_status", sa.String(length=16), server_default="pending", nullable=False),
        sa.Column("woo_message", sa.Text(), nullable=True),
        sa.Column("woo_ref", sa.String(length=200), nullable=True),
        sa.Column("woo_processed_at", UtcTimestamp(), nullable=True),
        sa.CheckConstraint("woo_status IN ('pending', 'done', 'error')", name=op.f("ck_stock_levels_woo_status")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stock_levels")),
        sa.UniqueConstraint("connection", "sku", "warehouse", name="uq_stock_levels_connection_sku_warehouse"),
    )
    op.create_index("ix_stock_levels_sku", "stock_levels", ["sku"], unique=False)
    op.create_index(
        "uq_stock_levels_shared_sku_warehouse",
        "stock_levels",
        ["sku", "warehouse"],
        unique=True,
        sqlite_where=sa.text("connection IS NULL"),
        postgresql_where=sa.text("connection IS NULL"),
    )

    op.create_table(
        "credit_memos",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("connection", sa.String(length=64), nullable=False),
        sa.Column("store_refund_id", sa.BigInteger(), nullable=False),
        sa.Column("store_order_id", sa.BigInteger(), nullable=False),
        sa.Column("sales_order_id", sa.Integer(), nullable=True),
        sa.Column("amount", Amount(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("restock", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("currency", sa.String(length=8), nullable=False),
        sa.Column("refunded_at", UtcTimestamp(), nullable=True),
        sa.Column("revision", sa.Integer(), server_default="1", nullable=False),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.Column("erp_status", sa.String(length=16), server_default="new", nullable=False),
        sa.Column("erp_document_no", sa.String(length=64), nullable=True),
        sa.Column("erp_message", sa.Text(), nullable=True),
        sa.Column("erp_processed_at", UtcTimestamp(), nullable=True),
        sa.Column("created_at", UtcTimestamp(), server_default=sa.func.now(), nullable=False),
        sa.Column("updated_at", UtcTimestamp(), server_default=sa.func.now(), nullable=False),
        sa.CheckConstraint(
            "erp_status IN ('new', 'updated', 'accepted', 'rejected')", name=op.f("ck_credit_memos_erp_status")
        ),
        sa.ForeignKeyConstraint(
            ["sales_order_id"],
            ["sales_orders.id"],
            name=op.f("fk_credit_memos_sales_order_id_sales_orders"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credit_memos")),
        sa.UniqueConstraint("connection", "store_refund_id", name="uq_credit_memos_connection_store_refund"),
    )
    op.create_index("ix_credit_memos_erp_status", "credit_memos", ["erp_status", "id"], unique=False)

    op.create_table(
        "erp_credit_memo_lines",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("erp_credit_memo_id", sa.Integer(), nullable=False),
        sa.Column("store_line_id", sa.BigInteger(), nullable=True),
        sa.Column("sku", sa.String(length=100), server_default="", nullable=False),
        sa.Column("quantity", Amount(), server_default="0", nullable=False),
        sa.Column("amount", Amount(), nullable=False),
        sa.Column("tax", Amount(), server_default="0", nullable=False),
        sa.ForeignKeyConstraint(
            ["erp_credit_memo_id"],
            ["erp_credit_memos.id"],
            name=op.f("fk_erp_credit_memo_lines_erp_credit_memo_id_erp_credit_memos"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_erp_credit_memo_lines")),
    )
    op.create_index(
        "ix_erp_credit_memo_lines_erp_credit_memo_id", "erp_credit_memo_lines", ["erp_credit_memo_id"], unique=False
    )

    op.create_table(
        "item_variants",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("sku", sa.String(length=100), nullable=False),
        sa.Column("attributes", sa.JSON(), nullable=False),
        sa.Column("regular_price", Amount(), nullable=True),
        sa.Column("sale_price", Amount(), nullable=True),
        sa.Column("weight", Amount(), nullable=True),
        sa.Column("status", sa.String(length=16), server_default="active", nullable=False),
        sa.Column("position", sa.Integer(), server_default="1", nullable=False),
        sa.Column("store_variation_id", sa.BigInteger(), nullable=True),
        sa.CheckConstraint("status IN ('active', 'inactive')", name=op.f("ck_item_variants_status")),
        sa.ForeignKeyConstraint(
            ["item_id"], ["items.id"], name=op.f("fk_item_variants_item_id_items"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_item_variants")),
        sa.UniqueConstraint("item_id", "sku", name="uq_item_variants_item_sku"),
    )
    op.create_index("ix_item_variants_sku", "item_variants", ["sku"], unique=False)

    op.create_table(
        "sales_order_lines",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sales_order_id", sa.Integer(), nullable=False),
        sa.Column("line_no", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("store_line_id", sa.BigInteger(), nullable=True),
        sa.Column("sku", sa.String(length=100), nullable=False),
        sa.Column("code", sa.String(length=200), nullable=False),
        sa.Column("store_product_id", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("store_variation_id", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("quantity", Amount(), nullable=False),
        sa.Column("unit_price", Amount(), nullable=False),
        sa.Column("subtotal", Amount(), nullable=False),
        sa.Column("discount", Amount(), server_default="0", nullable=False),
        sa.Column("discount_tax", Amount(), server_default="0", nullable=False),
        sa.Column("total", Amount(), nullable=False),
        sa.Column("tax_total", Amount(), server_default="0", nullable=False),
        sa.Column("taxes", sa.JSON(), nullable=False),
        sa.Column("attributes", sa.JSON(), nullable=False),
        sa.CheckConstraint(
            "kind IN ('product', 'shipping', 'fee', 'coupon', 'rounding')", name=op.f("ck_sales_order_lines_kind")
        ),
        sa.ForeignKeyConstraint(
            ["sales_order_id"],
            ["sales_orders.id"],
            name=op.f("fk_sales_order_lines_sales_order_id_sales_orders"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sales_order_lines")),
    )
    op.create_index(
        "ix_sales_order_lines_sales_order_id", "sales_order_lines", ["sales_order_id", "line_no"], unique=False
    )

    op.create_table(
        "shipment_lines",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("shipment_id", sa.Integer(), nullable=False),
        sa.Column("store_line_id", sa.BigInteger(), nullable=True),
        sa.Column("sku", sa.String(length=100), server_default="", nullable=False),
        sa.Column("quantity", Amount(), nullable=False),
        sa.ForeignKeyConstraint(
            ["shipment_id"], ["shipments.id"], name=op.f("fk_shipment_lines_shipment_id_shipments"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_shipment_lines")),
    )
    op.create_index("ix_shipment_lines_shipment_id", "shipment_lines", ["shipment_id"], unique=False)

    op.create_table(
        "credit_memo_lines",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("credit_memo_id", sa.Integer(), nullable=False),
        sa.Column("line_no", sa.Integer(), nullable=False),
        sa.Column("store_line_id", sa.BigInteger(), nullable=True),
        sa.Column("sku", sa.String(length=100), nullable=False),
        sa.Column("quantity", Amount(), nullable=False),
        sa.Column("amount", Amount(), nullable=False),
        sa.Column("tax", Amount(), server_default="0", nullable=False),
        sa.Column("taxes", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["credit_memo_id"],
            ["credit_memos.id"],
            name=op.f("fk_credit_memo_lines_credit_memo_id_credit_memos"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_credit_memo_lines")),
    )
    op.create_index(
        "ix_credit_memo_lines_credit_memo_id", "credit_memo_lines", ["credit_memo_id", "line_no"], unique=False
    )


def downgrade() -> None:
    op.drop_table("credit_memo_lines")
    op.drop_table("shipment_lines")
    op.drop_table("sales_order_lines")
    op.drop_table("item_variants")
    op.drop_table("erp_credit_memo_lines")
    op.drop_table("credit_memos")
    op.drop_table("stock_levels")
    op.drop_table("shipments")
    op.drop_table("sales_orders")
    op.drop_table("items")
    op.drop_table("erp_credit_memos")
    op.drop_table("customers")
