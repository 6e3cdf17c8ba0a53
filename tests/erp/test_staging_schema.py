"""The staging schema: migrations build exactly the models, live beside woobridge's state, and docs/staging.md
documents every table and column, with SQL examples that run as written."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from woobridge.erp.staging import StagingErp, metadata
from woobridge.erp.staging.database import current_revision
from woobridge.erp.staging.models import VERSION_TABLE
from woobridge.erp.staging.schema_doc import documented_tables, render_document
from woobridge.state import StateDB

from .conftest import Database, make_customer, make_order

DOC = Path(__file__).parents[2] / "docs" / "staging.md"


def _ours(name: str | None, type_: str, parent_names: object) -> bool:
    return type_ != "table" or name in metadata.tables


def test_the_migrations_build_exactly_the_models(staging: StagingErp) -> None:
    with staging.engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"version_table": VERSION_TABLE, "include_name": _ours, "compare_type": True}
        )
        assert compare_metadata(context, metadata) == []
    assert set(inspect(staging.engine).get_table_names()) == {*metadata.tables, VERSION_TABLE}


def test_opening_again_finds_the_schema_at_head(database: Database) -> None:
    first = database.open()
    revision = current_revision(first.engine)
    first.close()
    again = database.open()
    assert current_revision(again.engine) == revision == "0001_staging_tables"
    again.close()


def test_the_staging_tables_can_share_woobridges_state_database(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shared.sqlite'}"
    state = StateDB(url)
    staging = StagingErp(url)
    tables = set(inspect(staging.engine).get_table_names())
    assert {"alembic_version", "connections", VERSION_TABLE, "sales_orders"} <= tables
    with staging.engine.connect() as connection:
        versions = {
            "alembic_version": connection.execute(text("SELECT version_num FROM alembic_version")).scalar_one(),
            VERSION_TABLE: connection.execute(text("SELECT version_num FROM woobridge_staging_version")).scalar_one(),
        }
    assert versions[VERSION_TABLE] == "0001_staging_tables" and versions["alembic_version"] != versions[VERSION_TABLE]
    staging.close()
    state.close()
    # Each upgrades on its own next time without tripping over the other's tables.
    StateDB(url).close()
    StagingErp(url).close()


def test_the_document_describes_every_table_and_column_as_the_models_define_them() -> None:
    document = DOC.read_text(encoding="utf-8")
    assert render_document(document) == document, (
        "docs/staging.md is out of date: run `python -m woobridge.erp.staging.schema_doc docs/staging.md`"
    )
    assert sorted(documented_tables(document)) == sorted(metadata.tables)
    for table in metadata.tables.values():
        block = document.split(f"<!-- columns: {table.name} -->", 1)[1].split("<!-- /columns -->", 1)[0]
        for column in table.columns:
            assert f"| `{column.name}` |" in block, f"{table.name}.{column.name} is not documented"
            assert column.info.get("doc") and column.info.get("writer") in ("woobridge", "erp", "both")


def test_the_sql_examples_in_the_document_run_as_written(staging: StagingErp) -> None:
    order = staging.put_sales_order("shop", make_order(101))
    customer = staging.put_customer("shop", make_customer(5))
    assert order.erp_id == customer.erp_id == "1"  # the examples say id = 1
    blocks = re.findall(r"```sql\n(.*?)```", DOC.read_text(encoding="utf-8"), re.DOTALL)
    assert len(blocks) >= 8
    for block in blocks:
        for statement in filter(None, (s.strip() for s in block.split(";"))):
            with staging.engine.begin() as db:
                db.execute(text(statement))

    assert staging.find_sales_order("shop", 101) == type(order)("1", "SO-2025-0001", created=False)
    [shipment] = staging.pending_shipments("shop")
    assert (shipment.erp_shipment_id, shipment.store_order_id, len(shipment.lines)) == ("SH-1001", 101, 2)
    assert shipment.shipped_at is not None
    [memo] = staging.pending_credit_memos("shop")
    assert (memo.erp_memo_id, memo.amount, memo.restock) == ("CM-77", Decimal(11), True)
    assert [(s.sku, s.quantity) for s in staging.stock_levels("shop")] == [("MUG", Decimal(42))]
    [item] = staging.items("shop")
    assert (item.sku, item.category_path, [v.sku for v in item.variants]) == (
        "TEE",
        ("Clothing", "Shirts"),
        ["TEE-S", "TEE-M"],
    )
    # Running the stock upsert again updates the row instead of adding one.
    with staging.engine.begin() as db:
        db.execute(
            text(
                "INSERT INTO stock_levels (connection, sku, warehouse, quantity) VALUES (NULL, 'MUG', 'main', 7) "
                "ON CONFLICT (sku, warehouse) WHERE connection IS NULL DO UPDATE SET quantity = excluded.quantity"
            )
        )
    assert [(s.sku, s.quantity) for s in staging.stock_levels("shop")] == [("MUG", Decimal(7))]
