"""The inventory flow's SKU index: which product or variation owns each SKU in a store, how its stock is managed,
the quantity the store last showed, and the last ERP quantity the store was brought to.

Kept here, with the other tables, so the migrations and the models stay one schema; the index's logic is in
``woobridge.flows.sku_index``.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import ForeignKey, Index, Integer, Numeric, String
from sqlalchemy.orm import Mapped, mapped_column

from woobridge.state.models import Base, UTCDateTime, utcnow


class SkuIndexRow(Base):
    """One SKU of one store: ``product_id`` (the parent for a variation) and ``variation_id`` (0 for a product),
    ``manage_stock`` as the REST API shows it (``true``, ``false`` or ``parent``), the store's ``stock_quantity``
    when last seen (for a ``parent`` variation: the parent's), and ``pushed_quantity``: the last ERP quantity the
    store was brought to (by a write of woobridge, or found already there)."""

    __tablename__ = "sku_index"
    __table_args__ = (Index("ix_sku_index_product", "connection_id", "product_id"),)

    connection_id: Mapped[int] = mapped_column(ForeignKey("connections.id", ondelete="CASCADE"), primary_key=True)
    sku: Mapped[str] = mapped_column(String(320), primary_key=True)
    product_id: Mapped[int] = mapped_column(Integer)
    variation_id: Mapped[int] = mapped_column(Integer, default=0)
    manage_stock: Mapped[str] = mapped_column(String(8))
    stock_quantity: Mapped[Decimal | None] = mapped_column(Numeric(18, 6), default=None)
    store_modified: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    pushed_quantity: Mapped[Decimal | None] = mapped_column(Numeric(18, 6), default=None)
    pushed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), default=None)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    def __repr__(self) -> str:
        where = f"product {self.product_id}" + (f" variation {self.variation_id}" if self.variation_id else "")
        return f"<SkuIndexRow {self.sku!r} → {where} manage_stock={self.manage_stock} qty={self.stock_quantity}>"
