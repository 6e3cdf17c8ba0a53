"""The staging tables: what woobridge writes for the ERP (outbound) and what the ERP writes for woobridge (inbound).

Every column says in ``info`` who writes it (``woobridge`` or ``erp``) and what it means; docs/staging.md shows
the same, and a test keeps the two in step. Plain SQLAlchemy Core tables: the adapter speaks SQL to them, and so
does the ERP side.

Shape of every table:

* outbound rows (``sales_orders``, ``customers``, ``credit_memos``) carry ``erp_status`` / ``erp_document_no`` /
  ``erp_message`` / ``erp_processed_at``, which the ERP fills to acknowledge them, and a ``revision`` that
  woobridge bumps when it changes a row;
* inbound rows (``shipments``, ``stock_levels``, ``items``, ``erp_credit_memos``) carry ``woo_status`` /
  ``woo_message`` / ``woo_ref`` / ``woo_processed_at``, which woobridge fills once the store has them.
"""

from __future__ import annotations

from typing import Any, Literal

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
    func,
    text,
)
from sqlalchemy.types import TypeEngine

from woobridge.erp.staging.types import Amount, UtcTimestamp

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)

VERSION_TABLE = "woobridge_staging_version"

Writer = Literal["woobridge", "erp", "both"]

ERP_STATUSES = ("new", "updated", "accepted", "rejected")
WOO_STATUSES = ("pending", "done", "error")
LINE_KINDS = ("product", "shipping", "fee", "coupon", "rounding")
ITEM_STATUSES = ("active", "inactive")
ITEM_SOURCES = ("erp", "store")

# Lengths: keys are bounded so they can be indexed everywhere; free text is Text.
CONNECTION = 64
SKU = 100
EMAIL = 320


def col(
    name: str,
    type_: TypeEngine[Any] | type[TypeEngine[Any]],
    doc: str,
    writer: Writer,
    *args: Any,
    **kw: Any,
) -> Column[Any]:
    """A column with its documentation: who writes it and what it holds. Not null unless said otherwise."""
    kw.setdefault("nullable", False)
    return Column(name, type_, *args, info={"doc": doc, "writer": writer}, **kw)


def _id(what: str) -> Column[Any]:
    return col("id", Integer, f"Row id of the {what}, assigned by the database.", "woobridge", primary_key=True)


def _connection(doc: str = "", *, nullable: bool = False, writer: Writer = "woobridge") -> Column[Any]:
    text_ = doc or "The woobridge connection (one store) this row belongs to."
    return col("connection", String(CONNECTION), text_, writer, nullable=nullable)


def _address(prefix: str, who: str) -> list[Column[Any]]:
    parts = (
        ("first_name", 200, "first name"),
        ("last_name", 200, "last name"),
        ("company", 200, "company"),
        ("address_1", 400, "street address, first line"),
        ("address_2", 400, "street address, second line"),
        ("city", 200, "city"),
        ("state", 100, "state or county code, as the store has it (e.g. `CA`)"),
        ("postcode", 40, "postcode"),
        ("country", 2, "country, ISO 3166-1 alpha-2 (e.g. `US`)"),
        ("email", EMAIL, "e-mail"),
        ("phone", 100, "phone"),
    )
    return [
        col(f"{prefix}_{name}", String(length), f"{who} {label}; empty when not given.", "woobridge", default="")
        for name, length, label in parts
    ]


def _erp_ack() -> list[Column[Any]]:
    statuses = ", ".join(f"`{s}`" for s in ERP_STATUSES)
    return [
        col(
            "erp_status",
            String(16),
            f"Where the ERP is with this row: {statuses}. woobridge sets `new` on insert and `updated` when it "
            "changes a row the ERP had already read; the ERP sets `accepted` or `rejected`.",
            "both",
            server_default="new",
        ),
        col(
            "erp_document_no",
            String(64),
            "The ERP's number for the document it made from this row.",
            "erp",
            nullable=True,
        ),
        col(
            "erp_message",
            Text,
            "Why the ERP rejected the row, or any note for the people running woobridge.",
            "erp",
            nullable=True,
        ),
        col("erp_processed_at", UtcTimestamp, "When the ERP last processed the row (UTC).", "erp", nullable=True),
    ]


def _woo_ack() -> list[Column[Any]]:
    return [
        col(
            "woo_status",
            String(16),
            "Where woobridge is with this row: `pending` (default; the store does not have it yet), `done`, or "
            "`error` (see `woo_message`). Set it back to `pending` to have woobridge try again.",
            "both",
            server_default="pending",
        ),
        col("woo_message", Text, "What went wrong when `woo_status` is `error`, in words.", "woobridge", nullable=True),
        col(
            "woo_ref",
            String(200),
            "What woobridge made of the row in the store (e.g. the refund id).",
            "woobridge",
            nullable=True,
        ),
        col(
            "woo_processed_at", UtcTimestamp, "When woobridge last processed the row (UTC).", "woobridge", nullable=True
        ),
    ]


def _stamps(writer: Writer = "woobridge") -> list[Column[Any]]:
    return [
        col("created_at", UtcTimestamp, "When the row was inserted (UTC).", writer, server_default=func.now()),
        col("updated_at", UtcTimestamp, "When the row last changed (UTC).", writer, server_default=func.now()),
    ]


def _revision() -> Column[Any]:
    return col(
        "revision",
        Integer,
        "1 on insert, +1 each time woobridge changes the row (an identical document does not count). "
        "Acknowledge with `WHERE revision = <the revision you read>` so a newer revision is never marked done.",
        "woobridge",
        server_default="1",
    )


def _document() -> Column[Any]:
    return col(
        "document",
        JSON,
        "The whole document as woobridge mapped it (JSON; money as strings). Everything in the columns is in it, "
        "plus anything the columns leave out.",
        "woobridge",
    )


def _check_in(column: str, values: tuple[str, ...], name: str, *, nullable: bool = False) -> CheckConstraint:
    listed = ", ".join(f"'{v}'" for v in values)
    condition = f"{column} IN ({listed})"
    if nullable:
        condition = f"{column} IS NULL OR {condition}"
    return CheckConstraint(condition, name=name)


# ---------------------------------------------------------------------------------------------------------------
# Outbound: woobridge writes, the ERP reads and acknowledges
# ---------------------------------------------------------------------------------------------------------------

sales_orders = Table(
    "sales_orders",
    metadata,
    _id("sales order"),
    _connection(),
    col("store_order_id", BigInteger, "The order's id in the store.", "woobridge"),
    col("order_number", String(64), "The order number the customer sees (usually the id).", "woobridge"),
    col(
        "status",
        String(32),
        "The store's order status (`processing`, `completed`, `cancelled`, `refunded`…).",
        "woobridge",
    ),
    col("currency", String(8), "ISO 4217 currency of every amount of the order (e.g. `EUR`).", "woobridge"),
    col("ordered_at", UtcTimestamp, "When the order was placed (UTC).", "woobridge"),
    col("store_modified_at", UtcTimestamp, "When the order last changed in the store (UTC).", "woobridge"),
    col("paid_at", UtcTimestamp, "When the order was paid (UTC); empty when unpaid.", "woobridge", nullable=True),
    col(
        "customer_key",
        String(EMAIL + 8),
        "The buyer, as `customers.customer_key`: `id:<store customer id>` or `email:<e-mail>` for a guest.",
        "woobridge",
    ),
    col(
        "store_customer_id",
        BigInteger,
        "The buyer's customer id in the store; 0 for a guest.",
        "woobridge",
        server_default="0",
    ),
    col("customer_email", String(EMAIL), "The buyer's e-mail, trimmed and lower-cased.", "woobridge", default=""),
    col("customer_name", String(400), "The buyer's name.", "woobridge", default=""),
    *_address("billing", "Billing"),
    *_address("shipping", "Shipping"),
    col("payment_method", String(200), "Payment method id (e.g. `stripe`, `bacs`).", "woobridge", default=""),
    col("payment_method_title", String(400), "Payment method as the customer saw it.", "woobridge", default=""),
    col("transaction_id", String(200), "The payment gateway's transaction id.", "woobridge", default=""),
    col(
        "prices_include_tax",
        Boolean,
        "Whether the store's prices included tax when the order was placed. "
        "Amounts in these tables always exclude tax either way.",
        "woobridge",
        server_default=false(),
    ),
    col("customer_note", Text, "The note the customer left at checkout.", "woobridge", default=""),
    col("discount_total", Amount, "Coupon discounts, excluding tax.", "woobridge"),
    col("shipping_total", Amount, "Shipping, excluding tax.", "woobridge"),
    col("total_tax", Amount, "All tax of the order.", "woobridge"),
    col(
        "rounding_adjustment",
        Amount,
        "What the store's total differs from the sum of its lines (a cent or so); also given as a `rounding` line.",
        "woobridge",
        server_default="0",
    ),
    col(
        "total",
        Amount,
        "The order total including tax, as the store has it. Equals the sum of "
        "`total + tax_total` over the order's lines.",
        "woobridge",
    ),
    _revision(),
    _document(),
    *_erp_ack(),
    *_stamps(),
    UniqueConstraint("connection", "store_order_id", name="uq_sales_orders_connection_store_order"),
    _check_in("erp_status", ERP_STATUSES, "erp_status"),
    Index("ix_sales_orders_erp_status", "erp_status", "id"),
)

sales_order_lines = Table(
    "sales_order_lines",
    metadata,
    _id("line"),
    col(
        "sales_order_id",
        Integer,
        "The line's order: `sales_orders.id`.",
        "woobridge",
        ForeignKey("sales_orders.id", ondelete="CASCADE"),
    ),
    col("line_no", Integer, "Position of the line in the order, from 1.", "woobridge"),
    col(
        "kind",
        String(16),
        "`product`, `shipping`, `fee`, `coupon` (information only: its total is 0; the "
        "discount is already in the product lines) or `rounding` (see `sales_orders.rounding_adjustment`).",
        "woobridge",
    ),
    col(
        "store_line_id",
        BigInteger,
        "The line's id in the store order; empty for a rounding line.",
        "woobridge",
        nullable=True,
    ),
    col("sku", String(SKU), "Product lines: the SKU; empty when the product has none.", "woobridge", default=""),
    col(
        "code",
        String(200),
        "Shipping lines: the method id (e.g. `flat_rate`); coupon lines: the coupon code.",
        "woobridge",
        default="",
    ),
    col(
        "store_product_id", BigInteger, "Product lines: the product's id in the store.", "woobridge", server_default="0"
    ),
    col(
        "store_variation_id",
        BigInteger,
        "Product lines: the variation's id in the store; 0 for a simple product.",
        "woobridge",
        server_default="0",
    ),
    col("name", Text, "Product name, shipping method title, fee name or coupon code.", "woobridge", default=""),
    col("quantity", Amount, "Quantity (1 for shipping, fee and rounding lines; 0 for coupons).", "woobridge"),
    col("unit_price", Amount, "Price of one unit before discounts, excluding tax.", "woobridge"),
    col("subtotal", Amount, "quantity × unit_price, before discounts, excluding tax.", "woobridge"),
    col(
        "discount",
        Amount,
        "Product lines: coupon discount on the line; coupon lines: the coupon's whole discount. Excluding tax.",
        "woobridge",
        server_default="0",
    ),
    col(
        "discount_tax",
        Amount,
        "Coupon lines: tax on the coupon's discount; 0 otherwise.",
        "woobridge",
        server_default="0",
    ),
    col("total", Amount, "Line total after discounts, excluding tax.", "woobridge"),
    col("tax_total", Amount, "Tax of the line.", "woobridge", server_default="0"),
    col(
        "taxes",
        JSON,
        'Tax per rate, a JSON list: `[{"rate_id": 1, "rate_code": "US-CA-TAX-1", "label": '
        '"Tax", "rate_percent": "7.25", "compound": false, "amount": "1.45"}]`.',
        "woobridge",
    ),
    col(
        "attributes",
        JSON,
        'Product lines of a variation: its attributes, a JSON object (`{"Size": "L"}`).',
        "woobridge",
    ),
    _check_in("kind", LINE_KINDS, "kind"),
    Index("ix_sales_order_lines_sales_order_id", "sales_order_id", "line_no"),
)

customers = Table(
    "customers",
    metadata,
    _id("customer"),
    _connection(),
    col(
        "customer_key",
        String(EMAIL + 8),
        "Who the customer is in the store: `id:<store customer id>` for a registered customer, "
        "`email:<e-mail>` for a guest. A guest who registers later keeps this row; its key becomes `id:…`.",
        "woobridge",
    ),
    col(
        "store_customer_id",
        BigInteger,
        "The customer's id in the store; 0 for a guest.",
        "woobridge",
        server_default="0",
    ),
    col("email", String(EMAIL), "E-mail, trimmed and lower-cased.", "woobridge"),
    col("first_name", String(200), "First name.", "woobridge", default=""),
    col("last_name", String(200), "Last name.", "woobridge", default=""),
    col("company", String(200), "Company.", "woobridge", default=""),
    col("phone", String(100), "Phone.", "woobridge", default=""),
    *_address("billing", "Billing"),
    *_address("shipping", "Shipping"),
    _revision(),
    _document(),
    *_erp_ack(),
    *_stamps(),
    UniqueConstraint("connection", "customer_key", name="uq_customers_connection_customer_key"),
    _check_in("erp_status", ERP_STATUSES, "erp_status"),
    Index("ix_customers_connection_email", "connection", "email"),
    Index("ix_customers_erp_status", "erp_status", "id"),
)

credit_memos = Table(
    "credit_memos",
    metadata,
    _id("credit memo"),
    _connection(),
    col("store_refund_id", BigInteger, "The refund's id in the store.", "woobridge"),
    col("store_order_id", BigInteger, "The refunded order's id in the store.", "woobridge"),
    col(
        "sales_order_id",
        Integer,
        "The refunded order's row in `sales_orders`, when woobridge had sent it; empty otherwise.",
        "woobridge",
        ForeignKey("sales_orders.id", ondelete="SET NULL"),
        nullable=True,
    ),
    col("amount", Amount, "Amount refunded, including tax (positive).", "woobridge"),
    col("reason", Text, "Reason given for the refund.", "woobridge", default=""),
    col(
        "restock",
        Boolean,
        "Whether the refunded items went back into stock in the store.",
        "woobridge",
        server_default=false(),
    ),
    col("currency", String(8), "ISO 4217 currency.", "woobridge", default=""),
    col("refunded_at", UtcTimestamp, "When the refund was made in the store (UTC).", "woobridge", nullable=True),
    _revision(),
    _document(),
    *_erp_ack(),
    *_stamps(),
    UniqueConstraint("connection", "store_refund_id", name="uq_credit_memos_connection_store_refund"),
    _check_in("erp_status", ERP_STATUSES, "erp_status"),
    Index("ix_credit_memos_erp_status", "erp_status", "id"),
)

credit_memo_lines = Table(
    "credit_memo_lines",
    metadata,
    _id("line"),
    col(
        "credit_memo_id",
        Integer,
        "The line's credit memo: `credit_memos.id`.",
        "woobridge",
        ForeignKey("credit_memos.id", ondelete="CASCADE"),
    ),
    col("line_no", Integer, "Position of the line in the memo, from 1.", "woobridge"),
    col(
        "store_line_id",
        BigInteger,
        "The refunded order line's id in the store; empty for an amount-only refund.",
        "woobridge",
        nullable=True,
    ),
    col("sku", String(SKU), "SKU of the refunded product; empty when unknown.", "woobridge", default=""),
    col("quantity", Amount, "Quantity refunded (positive; 0 for an amount-only line).", "woobridge"),
    col("amount", Amount, "Amount refunded, excluding tax (positive).", "woobridge"),
    col("tax", Amount, "Tax refunded (positive).", "woobridge", server_default="0"),
    col("taxes", JSON, "Tax per rate, a JSON list like `sales_order_lines.taxes`.", "woobridge"),
    Index("ix_credit_memo_lines_credit_memo_id", "credit_memo_id", "line_no"),
)

# ---------------------------------------------------------------------------------------------------------------
# Inbound: the ERP writes, woobridge reads and acknowledges
# ---------------------------------------------------------------------------------------------------------------

shipments = Table(
    "shipments",
    metadata,
    _id("shipment"),
    col("erp_shipment_id", String(64), "The ERP's id for the shipment (unique per connection).", "erp"),
    _connection("The woobridge connection (store) the order belongs to.", writer="erp"),
    col("store_order_id", BigInteger, "The shipped order's id in the store (`sales_orders.store_order_id`).", "erp"),
    col("carrier", String(200), "Carrier name (e.g. `UPS`, `DHL`).", "erp", server_default=""),
    col("tracking_number", String(200), "Tracking number.", "erp", server_default=""),
    col("tracking_url", Text, "Link to follow the parcel.", "erp", server_default=""),
    col(
        "shipped_at",
        UtcTimestamp,
        "When the parcel left (UTC); empty: when woobridge reads the row.",
        "erp",
        nullable=True,
    ),
    *_woo_ack(),
    *_stamps("erp"),
    UniqueConstraint("connection", "erp_shipment_id", name="uq_shipments_connection_erp_shipment"),
    _check_in("woo_status", WOO_STATUSES, "woo_status"),
    Index("ix_shipments_connection_woo_status", "connection", "woo_status", "id"),
)

shipment_lines = Table(
    "shipment_lines",
    metadata,
    _id("line"),
    col(
        "shipment_id",
        Integer,
        "The line's shipment: `shipments.id`.",
        "erp",
        ForeignKey("shipments.id", ondelete="CASCADE"),
    ),
    col(
        "store_line_id",
        BigInteger,
        "The shipped order line's id in the store (`sales_order_lines.store_line_id`); or leave it empty and "
        "give `sku`.",
        "erp",
        nullable=True,
    ),
    col("sku", String(SKU), "SKU of the shipped product, when `store_line_id` is empty.", "erp", server_default=""),
    col("quantity", Amount, "Quantity shipped.", "erp"),
    Index("ix_shipment_lines_shipment_id", "shipment_id"),
)

stock_levels = Table(
    "stock_levels",
    metadata,
    _id("stock level"),
    _connection(
        "The connection (store) this quantity is for; empty (NULL): for every connection. A row for a "
        "connection overrides the shared row of the same SKU and warehouse.",
        nullable=True,
        writer="erp",
    ),
    col("sku", String(SKU), "The SKU.", "erp"),
    col("warehouse", String(64), "The warehouse; empty when the ERP has only one.", "erp", server_default=""),
    col("quantity", Amount, "Quantity available to sell now (may be negative; woobridge sends 0 then).", "erp"),
    col("updated_at", UtcTimestamp, "When the quantity last changed (UTC).", "erp", server_default=func.now()),
    *_woo_ack(),
    UniqueConstraint("connection", "sku", "warehouse", name="uq_stock_levels_connection_sku_warehouse"),
    Index(
        "uq_stock_levels_shared_sku_warehouse",
        "sku",
        "warehouse",
        unique=True,
        sqlite_where=text("connection IS NULL"),
        postgresql_where=text("connection IS NULL"),
    ),
    _check_in("woo_status", WOO_STATUSES, "woo_status"),
    Index("ix_stock_levels_sku", "sku"),
)

items = Table(
    "items",
    metadata,
    _id("item"),
    _connection(
        "The connection (store) the item is for; empty (NULL): for every connection. A row for a "
        "connection overrides the shared row of the same SKU.",
        nullable=True,
        writer="both",
    ),
    col("sku", String(SKU), "The item's SKU: the key woobridge matches store products on.", "both"),
    col("name", Text, "Name.", "both"),
    col("description", Text, "Long description (HTML allowed).", "both", server_default=""),
    col("short_description", Text, "Short description (HTML allowed).", "both", server_default=""),
    col(
        "regular_price",
        Amount,
        "Regular price, as the store shows it (with or without tax, as the store is "
        "set up); empty: leave the store's price alone.",
        "both",
        nullable=True,
    ),
    col("sale_price", Amount, "Sale price; empty: no sale.", "both", nullable=True),
    col("weight", Amount, "Weight, in the store's weight unit.", "both", nullable=True),
    col("length", Amount, "Length, in the store's dimension unit.", "both", nullable=True),
    col("width", Amount, "Width, in the store's dimension unit.", "both", nullable=True),
    col("height", Amount, "Height, in the store's dimension unit.", "both", nullable=True),
    col(
        "status",
        String(16),
        "`active` (published in the store) or `inactive` (kept as a draft; never deleted). "
        "Set `inactive` rather than deleting the row.",
        "both",
        server_default="active",
    ),
    col(
        "category_path",
        JSON,
        'Category from the top down, a JSON list: `["Clothing", "Shirts"]`.',
        "both",
        nullable=True,
    ),
    col(
        "attributes",
        JSON,
        "Attributes and all their values, a JSON object: "
        '`{"Size": ["S", "M"], "Color": ["Blue"]}`. Variants pick one value of each.',
        "both",
        nullable=True,
    ),
    col("image_urls", JSON, "Image URLs, the first is the main image, a JSON list.", "both", nullable=True),
    col(
        "source",
        String(8),
        "Who made the row: `erp`, or `store` when woobridge imported the store's catalog.",
        "both",
        server_default="erp",
    ),
    col(
        "store_product_id",
        BigInteger,
        "The product's id in the store, once woobridge knows it.",
        "woobridge",
        nullable=True,
    ),
    col(
        "erp_status",
        String(16),
        "Rows woobridge imported from the store: `new` until the ERP sets `accepted` "
        "or `rejected`. Empty for rows the ERP wrote.",
        "both",
        nullable=True,
    ),
    col("erp_message", Text, "The ERP's note on an imported row.", "erp", nullable=True),
    *_woo_ack(),
    *_stamps("both"),
    UniqueConstraint("connection", "sku", name="uq_items_connection_sku"),
    Index(
        "uq_items_shared_sku",
        "sku",
        unique=True,
        sqlite_where=text("connection IS NULL"),
        postgresql_where=text("connection IS NULL"),
    ),
    _check_in("status", ITEM_STATUSES, "status"),
    _check_in("source", ITEM_SOURCES, "source"),
    _check_in("erp_status", ERP_STATUSES, "erp_status", nullable=True),
    _check_in("woo_status", WOO_STATUSES, "woo_status"),
    Index("ix_items_sku", "sku"),
)

item_variants = Table(
    "item_variants",
    metadata,
    _id("variant"),
    col("item_id", Integer, "The variant's item: `items.id`.", "both", ForeignKey("items.id", ondelete="CASCADE")),
    col("sku", String(SKU), "The variant's own SKU.", "both"),
    col("attributes", JSON, 'The variant\'s value of each attribute, a JSON object: `{"Size": "L"}`.', "both"),
    col("regular_price", Amount, "Regular price; empty: the item's.", "both", nullable=True),
    col("sale_price", Amount, "Sale price; empty: no sale.", "both", nullable=True),
    col("weight", Amount, "Weight; empty: the item's.", "both", nullable=True),
    col("status", String(16), "`active` or `inactive`.", "both", server_default="active"),
    col("position", Integer, "Order of the variants, from 1.", "both", server_default="1"),
    col(
        "store_variation_id",
        BigInteger,
        "The variation's id in the store, once woobridge knows it.",
        "woobridge",
        nullable=True,
    ),
    UniqueConstraint("item_id", "sku", name="uq_item_variants_item_sku"),
    _check_in("status", ITEM_STATUSES, "status"),
    Index("ix_item_variants_sku", "sku"),
)

erp_credit_memos = Table(
    "erp_credit_memos",
    metadata,
    _id("credit memo"),
    col("erp_memo_id", String(64), "The ERP's id for the credit memo (unique per connection).", "erp"),
    _connection("The woobridge connection (store) of the refunded order.", writer="erp"),
    col("store_order_id", BigInteger, "The refunded order's id in the store.", "erp"),
    col(
        "amount",
        Amount,
        "Amount to refund, including tax (positive). With lines, the sum of their `amount + tax`.",
        "erp",
    ),
    col("reason", Text, "Reason, shown on the refund in the store.", "erp", server_default=""),
    col("restock", Boolean, "Put the refunded quantities back into the store's stock.", "erp", server_default=false()),
    col("currency", String(8), "ISO 4217 currency; empty: the order's.", "erp", server_default=""),
    *_woo_ack(),
    *_stamps("erp"),
    UniqueConstraint("connection", "erp_memo_id", name="uq_erp_credit_memos_connection_erp_memo"),
    _check_in("woo_status", WOO_STATUSES, "woo_status"),
    Index("ix_erp_credit_memos_connection_woo_status", "connection", "woo_status", "id"),
)

erp_credit_memo_lines = Table(
    "erp_credit_memo_lines",
    metadata,
    _id("line"),
    col(
        "erp_credit_memo_id",
        Integer,
        "The line's credit memo: `erp_credit_memos.id`.",
        "erp",
        ForeignKey("erp_credit_memos.id", ondelete="CASCADE"),
    ),
    col(
        "store_line_id",
        BigInteger,
        "The refunded order line's id in the store; or leave it empty and give `sku`.",
        "erp",
        nullable=True,
    ),
    col("sku", String(SKU), "SKU of the refunded product, when `store_line_id` is empty.", "erp", server_default=""),
    col("quantity", Amount, "Quantity refunded (0: an amount only).", "erp", server_default="0"),
    col("amount", Amount, "Amount refunded, excluding tax.", "erp"),
    col("tax", Amount, "Tax refunded.", "erp", server_default="0"),
    Index("ix_erp_credit_memo_lines_erp_credit_memo_id", "erp_credit_memo_id"),
)

OUTBOUND = (sales_orders, sales_order_lines, customers, credit_memos, credit_memo_lines)
INBOUND = (shipments, shipment_lines, stock_levels, items, item_variants, erp_credit_memos, erp_credit_memo_lines)
