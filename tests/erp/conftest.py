"""Fixtures for the staging adapter: a fresh staging database on SQLite (a file) and, when
WOOBRIDGE_TEST_POSTGRES_URL is set, on PostgreSQL (a schema of its own per test)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from woobridge.documents import (
    Address,
    CouponLine,
    CreditMemo,
    CreditMemoLine,
    Customer,
    CustomerRef,
    FeeLine,
    SalesOrder,
    SalesOrderLine,
    ShippingLine,
    TaxAmount,
)
from woobridge.erp.staging import StagingErp

POSTGRES_URL = os.environ.get("WOOBRIDGE_TEST_POSTGRES_URL")


class Database:
    """Where a test's staging tables live: the URL and engine options to open them again (another worker)."""

    def __init__(self, url: str, **options: object) -> None:
        self.url = url
        self.options = options

    def open(self, **kw: object) -> StagingErp:
        return StagingErp(self.url, **{**self.options, **kw})


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    if request.param == "sqlite":
        yield Database(f"sqlite:///{tmp_path / 'staging.sqlite'}")
        return
    if not POSTGRES_URL:
        pytest.skip("WOOBRIDGE_TEST_POSTGRES_URL is not set")
    schema = f"woobridge_staging_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield Database(POSTGRES_URL, connect_args={"options": f"-csearch_path={schema}"})
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def staging(database: Database) -> Iterator[StagingErp]:
    erp = database.open()
    yield erp
    erp.close()


def tax(amount: str, rate_id: int = 1) -> TaxAmount:
    return TaxAmount(
        rate_id=rate_id, rate_code="US-CA-TAX-1", label="Tax", rate_percent=Decimal("10"), amount=Decimal(amount)
    )


ADDRESS = Address(
    first_name="Zoë",
    last_name="Łukasiewicz",
    address_1="1 Rue de l’Église",
    city="Paris",
    postcode="75001",
    country="FR",
    email="zoe@example.com",
    phone="+33 1 23 45 67 89",
)


def make_order(order_id: int = 101, **changes: object) -> SalesOrder:
    """A store order with every kind of line: a variation, a simple product, shipping, a fee, a coupon and a
    rounding cent. Totals: 2×10.00 − 2.00 + 5.50 = 23.50 + 5.00 + 1.00 = 29.50 net; tax 2.95; +0.01 rounding."""
    values: dict[str, object] = {
        "store_order_id": order_id,
        "number": str(order_id),
        "status": "processing",
        "currency": "EUR",
        "created_at": datetime(2025, 3, 1, 10, 0, tzinfo=UTC),
        "modified_at": datetime(2025, 3, 1, 10, 5, tzinfo=UTC),
        "paid_at": datetime(2025, 3, 1, 10, 1, tzinfo=UTC),
        "customer": CustomerRef(store_customer_id=0, email=" Zoe@Example.com ", name="Zoë Łukasiewicz"),
        "billing": ADDRESS,
        "shipping": ADDRESS.model_copy(update={"email": "", "phone": ""}),
        "payment_method": "bacs",
        "payment_method_title": "Direct bank transfer",
        "transaction_id": "T-1",
        "customer_note": "Ring twice ☺",
        "lines": (
            SalesOrderLine(
                store_line_id=11,
                sku="SHIRT-L",
                store_product_id=50,
                store_variation_id=51,
                name="Shirt – L",
                quantity=Decimal(2),
                unit_price=Decimal("10.00"),
                subtotal=Decimal("20.00"),
                discount=Decimal("2.00"),
                total=Decimal("18.00"),
                tax_total=Decimal("1.80"),
                taxes=(tax("1.80"),),
                attributes={"Size": "L"},
            ),
            SalesOrderLine(
                store_line_id=12,
                sku="MUG",
                store_product_id=60,
                name="Mug",
                quantity=Decimal(1),
                unit_price=Decimal("5.50"),
                subtotal=Decimal("5.50"),
                total=Decimal("5.50"),
                tax_total=Decimal("0.55"),
                taxes=(tax("0.55"),),
            ),
        ),
        "shipping_lines": (
            ShippingLine(
                store_line_id=13,
                method_id="flat_rate",
                method_title="Flat rate",
                total=Decimal("5.00"),
                tax_total=Decimal("0.50"),
                taxes=(tax("0.50"),),
            ),
        ),
        "fees": (FeeLine(store_line_id=14, name="Gift wrap", total=Decimal("1.00"), tax_total=Decimal("0.10")),),
        "coupons": (CouponLine(code="spring", discount=Decimal("2.00"), discount_tax=Decimal("0.20")),),
        "discount_total": Decimal("2.00"),
        "shipping_total": Decimal("5.00"),
        "total_tax": Decimal("2.95"),
        "rounding_adjustment": Decimal("0.01"),
        "total": Decimal("32.46"),
    }
    values.update(changes)
    return SalesOrder.model_validate(values)


def make_customer(store_customer_id: int = 0, email: str = "zoe@example.com", **changes: object) -> Customer:
    return Customer.model_validate(
        {
            "store_customer_id": store_customer_id,
            "email": email,
            "first_name": "Zoë",
            "last_name": "Łukasiewicz",
            "billing": ADDRESS,
            **changes,
        }
    )


def make_refund(refund_id: int = 900, order_id: int = 101, **changes: object) -> CreditMemo:
    return CreditMemo.model_validate(
        {
            "store_order_id": order_id,
            "store_refund_id": refund_id,
            "lines": (
                CreditMemoLine(
                    store_line_id=11,
                    sku="SHIRT-L",
                    quantity=Decimal(1),
                    amount=Decimal("9.00"),
                    tax=Decimal("0.90"),
                    taxes=(tax("0.90"),),
                ),
            ),
            "amount": Decimal("9.90"),
            "reason": "Too small",
            "restock": True,
            "currency": "EUR",
            "created_at": datetime(2025, 3, 3, 9, 0, tzinfo=UTC),
            **changes,
        }
    )
