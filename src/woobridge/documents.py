"""ERP-neutral documents: what flows hand to an ERP adapter and what adapters hand back.

They carry the store's facts in business terms, not WooCommerce's JSON: money is ``Decimal`` (never float),
quantities are ``Decimal`` (stores may allow decimal stock), e-mails are normalised, and every document says
where it came from (``store_*_id``) so that an adapter can key its idempotency on it. Mapping from and to
WooCommerce lives in the flows; mapping to a particular ERP lives in its adapter.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from functools import cached_property
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator

ZERO = Decimal("0")


def normalize_email(email: str | None) -> str:
    """The form e-mails are matched on: trimmed and lower-cased (guest buyers are matched by it)."""
    return (email or "").strip().lower()


class Document(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    @cached_property
    def json_values(self) -> dict[str, Any]:
        """The document as JSON values (``model_dump(mode="json")``: strings, numbers, booleans, nulls, lists and
        objects), dumped once: a document never changes, and both a flow (its digest) and an adapter (the rows it
        writes) read it. Shared, so never change what it holds."""
        return self.model_dump(mode="json")

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Self:
        """A copy, with ``update``'s fields changed: its ``json_values`` are its own, dumped when first read."""
        copied = super().model_copy(update=update, deep=deep)
        vars(copied).pop("json_values", None)
        return copied


class Address(Document):
    first_name: str = ""
    last_name: str = ""
    company: str = ""
    address_1: str = ""
    address_2: str = ""
    city: str = ""
    state: str = ""
    postcode: str = ""
    country: str = ""  # ISO 3166-1 alpha-2
    email: str = ""
    phone: str = ""

    def normalized(self) -> tuple[str, ...]:
        """A key that treats spacing and letter case as the same address (for de-duplicating addresses)."""
        fields = ("first_name", "last_name", "company", "address_1", "address_2", "city", "state", "postcode")
        return (*(" ".join(str(getattr(self, f)).split()).casefold() for f in fields), self.country.upper())

    @property
    def is_empty(self) -> bool:
        return not any((self.address_1, self.city, self.postcode, self.country))


class TaxAmount(Document):
    """Tax of one line for one rate."""

    rate_id: int
    rate_code: str = ""  # e.g. "US-CA-CA TAX-1"
    label: str = ""
    rate_percent: Decimal | None = None
    compound: bool = False
    amount: Decimal


class CustomerRef(Document):
    """Who bought: a registered customer (store_customer_id > 0) or a guest known by e-mail only."""

    store_customer_id: int = 0
    email: str = ""  # normalised
    name: str = ""

    @field_validator("email")
    @classmethod
    def _normalize(cls, value: str) -> str:
        return normalize_email(value)

    @property
    def is_guest(self) -> bool:
        return self.store_customer_id == 0


class SalesOrderLine(Document):
    store_line_id: int
    sku: str = ""
    store_product_id: int = 0
    store_variation_id: int = 0
    name: str = ""
    quantity: Decimal
    unit_price: Decimal  # before discounts, excluding tax
    subtotal: Decimal  # quantity × unit price, excluding tax, before discounts
    discount: Decimal = ZERO  # coupon discounts on this line, excluding tax
    total: Decimal  # after discounts, excluding tax
    tax_total: Decimal = ZERO
    taxes: tuple[TaxAmount, ...] = ()
    attributes: dict[str, str] = Field(default_factory=dict)  # variation attributes, e.g. {"Size": "L"}


class ShippingLine(Document):
    store_line_id: int
    method_id: str = ""
    method_title: str = ""
    total: Decimal
    tax_total: Decimal = ZERO
    taxes: tuple[TaxAmount, ...] = ()


class FeeLine(Document):
    store_line_id: int
    name: str
    total: Decimal  # may be negative (a discount given as a fee)
    tax_total: Decimal = ZERO
    taxes: tuple[TaxAmount, ...] = ()


class CouponLine(Document):
    code: str
    discount: Decimal
    discount_tax: Decimal = ZERO


OrderStatus = Literal[
    "pending", "processing", "on-hold", "completed", "cancelled", "refunded", "failed", "checkout-draft", "trash"
]


class SalesOrder(Document):
    """A store order as the ERP should book it. ``total`` always equals the store's total: when WooCommerce's
    rounding makes its lines sum to a cent more or less, ``rounding_adjustment`` holds the difference."""

    store_order_id: int
    number: str
    status: str
    currency: str
    created_at: datetime  # UTC
    modified_at: datetime  # UTC
    paid_at: datetime | None = None
    customer: CustomerRef
    billing: Address
    shipping: Address
    payment_method: str = ""
    payment_method_title: str = ""
    transaction_id: str = ""
    prices_include_tax: bool = False
    customer_note: str = ""
    lines: tuple[SalesOrderLine, ...] = ()
    shipping_lines: tuple[ShippingLine, ...] = ()
    fees: tuple[FeeLine, ...] = ()
    coupons: tuple[CouponLine, ...] = ()
    discount_total: Decimal = ZERO
    shipping_total: Decimal = ZERO
    total_tax: Decimal = ZERO
    rounding_adjustment: Decimal = ZERO
    total: Decimal


class Customer(Document):
    """A buyer for the ERP: registered (store_customer_id > 0) or a guest identified by normalised e-mail."""

    store_customer_id: int = 0
    email: str
    first_name: str = ""
    last_name: str = ""
    company: str = ""
    phone: str = ""
    billing: Address = Address()
    shipping: Address = Address()

    @field_validator("email")
    @classmethod
    def _normalize(cls, value: str) -> str:
        return normalize_email(value)

    @property
    def is_guest(self) -> bool:
        return self.store_customer_id == 0


class ItemVariant(Document):
    sku: str
    attributes: dict[str, str]  # attribute name → value, e.g. {"Size": "L", "Color": "Blue"}
    regular_price: Decimal | None = None
    sale_price: Decimal | None = None
    weight: Decimal | None = None
    status: Literal["active", "inactive"] = "active"
    store_variation_id: int = 0


class Item(Document):
    """A product as the ERP knows it; variants make a variable product."""

    sku: str
    name: str
    description: str = ""
    short_description: str = ""
    regular_price: Decimal | None = None
    sale_price: Decimal | None = None
    weight: Decimal | None = None
    length: Decimal | None = None
    width: Decimal | None = None
    height: Decimal | None = None
    status: Literal["active", "inactive"] = "active"
    category_path: tuple[str, ...] = ()  # e.g. ("Clothing", "Shirts")
    attributes: dict[str, tuple[str, ...]] = Field(default_factory=dict)  # name → all values offered
    variants: tuple[ItemVariant, ...] = ()
    image_urls: tuple[str, ...] = ()
    store_product_id: int = 0


class StockLevel(Document):
    sku: str
    quantity: Decimal
    warehouse: str = ""


class ShipmentLine(Document):
    store_line_id: int = 0  # the order line; 0 when the ERP only knows the SKU
    sku: str = ""
    quantity: Decimal


class Shipment(Document):
    erp_shipment_id: str
    store_order_id: int
    lines: tuple[ShipmentLine, ...] = ()  # empty: the whole order
    carrier: str = ""
    tracking_number: str = ""
    tracking_url: str = ""
    shipped_at: datetime | None = None


class CreditMemoLine(Document):
    store_line_id: int = 0
    sku: str = ""
    quantity: Decimal = ZERO
    amount: Decimal  # excluding tax
    tax: Decimal = ZERO
    taxes: tuple[TaxAmount, ...] = ()


class CreditMemo(Document):
    """A refund: from the store (store_refund_id set) or from the ERP (erp_memo_id set)."""

    store_order_id: int
    store_refund_id: int = 0
    erp_memo_id: str = ""
    lines: tuple[CreditMemoLine, ...] = ()
    amount: Decimal
    reason: str = ""
    restock: bool = False
    currency: str = ""
    created_at: datetime | None = None
