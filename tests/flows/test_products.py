"""The products flow against the sandbox (over ASGI) with a real state database and a real staging ERP database:
ERP items become store products (simple and variable), only changes are sent, removed items become drafts, the
store's refusals become record errors, and the first import joins an existing store to the ERP by SKU."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet
from sqlalchemy import delete, insert, select, update

from woobridge.erp.staging.models import item_variants, items
from woobridge.flows import products as flow
from woobridge.flows.engine import list_errors, load_retry_handler
from woobridge.sandbox import products as store_products
from woobridge.sandbox.testing import IN_PROCESS_HOME, LiveSandbox
from woobridge.secrets import Vault
from woobridge.state import Connection, StateDB
from woobridge.state.models import Binding

from .conftest import NAME, FlowEnv, FlowEnvFactory


def make_connection(db: StateDB, key: Any) -> None:
    with db.session() as session:
        connection = Connection(
            name=NAME, store_url=IN_PROCESS_HOME, key_created_at=datetime.now(UTC), flows=["products", "customers"]
        )
        connection.store_key(Vault([Fernet.generate_key()], "test"), key.consumer_key, key.consumer_secret)
        session.add(connection)


class Env(FlowEnv):
    async def push(self) -> flow.ProductsReport:
        self.requests.clear()
        return await flow.run(self.db, NAME, erp=self.erp, woo=self.woo)

    async def import_catalog(self) -> flow.ProductsReport:
        self.requests.clear()
        return await flow.import_catalog(self.db, NAME, erp=self.erp, woo=self.woo)

    # -- the ERP side: rows in the staging tables, as an ERP writes them -------------------------------------------

    def item(self, sku: str, name: str = "", variants: list[dict[str, Any]] | None = None, **values: Any) -> None:
        row = {"sku": sku, "name": name or f"Item {sku}", "status": "active", **values}
        with self.erp.engine.begin() as db:
            item_id = db.execute(insert(items).values(**row)).inserted_primary_key[0]  # type: ignore[index]
            for position, variant in enumerate(variants or [], start=1):
                db.execute(insert(item_variants).values(item_id=item_id, position=position, **variant))

    def change_item(self, which: str, **values: Any) -> None:
        with self.erp.engine.begin() as db:
            db.execute(update(items).where(items.c.sku == which).values(**values))

    def change_variant(self, sku: str, **values: Any) -> None:
        with self.erp.engine.begin() as db:
            db.execute(update(item_variants).where(item_variants.c.sku == sku).values(**values))

    def item_row(self, sku: str) -> Any:
        with self.erp.engine.connect() as db:
            return db.execute(select(items).where(items.c.sku == sku)).one()

    # -- the store side ------------------------------------------------------------------------------------------

    def product(self, sku: str) -> dict[str, Any]:
        found = store_products.find_by_sku(self.store, sku)
        assert found is not None and found[0] == "product", f"no product {sku}"
        return found[1]  # type: ignore[no-any-return]

    def variations(self, sku: str) -> dict[str, dict[str, Any]]:
        parent = self.product(sku)
        return {v["sku"]: v for v in store_products.children(self.store, parent)}

    def writes(self) -> list[httpx.Request]:
        return [r for r in self.requests if r.method != "GET"]

    def bodies(self) -> list[Any]:
        return [json.loads(r.content) for r in self.writes()]

    def bindings(self, resource: str) -> dict[str, str]:
        with self.db.session() as session:
            return {b.store_id: b.erp_id for b in session.scalars(select(Binding).where(Binding.resource == resource))}


@pytest.fixture
async def env(flow_env: FlowEnvFactory) -> Env:
    return await flow_env(Env, flows=["products", "customers"], max_concurrency=8)


TEE_VARIANTS = [
    {"sku": "TEE-S", "attributes": {"Size": "S", "Color": "Blue"}},
    {"sku": "TEE-M", "attributes": {"Size": "M", "Color": "Blue"}, "regular_price": Decimal("21.90")},
    {"sku": "TEE-L", "attributes": {"Size": "L", "Color": "Red"}, "sale_price": Decimal("15")},
]


def tee(env: Env, **values: Any) -> None:
    env.item(
        "TEE",
        "T-shirt",
        variants=TEE_VARIANTS,
        description="Organic cotton.\n\nMade in Portugal.",
        regular_price=Decimal("19.90"),
        weight=Decimal("0.2"),
        category_path=["Clothing", "Shirts"],
        attributes={"Size": ["S", "M", "L"], "Color": ["Blue", "Red"]},
        image_urls=["https://erp.example.com/img/tee-front.jpg", "https://erp.example.com/img/tee-back.jpg"],
        **values,
    )


# -- creating ------------------------------------------------------------------------------------------------------


async def test_items_become_simple_and_variable_products_with_categories_made_parents_first(env: Env) -> None:
    env.item(
        "MUG",
        "Mug",
        description="<p>Stoneware</p>",
        short_description="Holds 300 ml",
        regular_price=Decimal("9"),
        sale_price=Decimal("7.50"),
        weight=Decimal("0.35"),
        length=Decimal("10"),
        width=Decimal("8"),
        height=Decimal("9.5"),
        category_path=["Kitchen"],
        image_urls=["https://erp.example.com/img/mug.jpg"],
    )
    tee(env)
    report = await env.push()
    assert report.counts["created"] == 2 and report.counts["failed"] == 0
    assert report.run is not None and report.run.outcome == "success"
    assert report.categories_created == 3  # Kitchen, Clothing, then Shirts under Clothing

    mug = env.product("MUG")
    assert (mug["type"], mug["status"], mug["name"]) == ("simple", "publish", "Mug")
    assert (mug["regular_price"], mug["sale_price"], mug["weight"]) == ("9.00", "7.50", "0.35")
    assert mug["dimensions"] == {"length": "10", "width": "8", "height": "9.5"}
    assert mug["short_description"] == "Holds 300 ml" and mug["images"][0]["src"].endswith("mug.jpg")
    categories = {c["id"]: c for c in env.store.all("category")}
    shirts = next(c for c in categories.values() if c["name"] == "Shirts")
    assert categories[shirts["parent"]]["name"] == "Clothing"

    shirt = env.product("TEE")
    assert shirt["type"] == "variable" and [c["id"] for c in shirt["categories"]] == [shirts["id"]]
    assert {a["name"]: (a["options"], a["variation"]) for a in shirt["attributes"]} == {
        "Size": (["S", "M", "L"], True),
        "Color": (["Blue", "Red"], True),
    }
    variations = env.variations("TEE")
    assert set(variations) == {"TEE-S", "TEE-M", "TEE-L"}
    # A variant without a price takes the item's; its own sale price is its own.
    assert variations["TEE-S"]["regular_price"] == "19.90" and variations["TEE-M"]["regular_price"] == "21.90"
    assert variations["TEE-L"]["sale_price"] == "15.00"
    assert {a["name"]: a["option"] for a in variations["TEE-L"]["attributes"]} == {"Size": "L", "Color": "Red"}
    # Variations go through their parent's batch endpoint; no write has more than 100 items.
    paths = [r.url.path for r in env.writes()]
    assert any(p.endswith(f"/products/{shirt['id']}/variations/batch") for p in paths)
    batches = [json.loads(r.content) for r in env.writes() if r.url.path.endswith("/batch")]
    assert all(sum(len(items) for items in body.values()) <= 100 for body in batches)
    # Bound by SKU, and the ERP sees the outcome on its rows.
    assert env.bindings("product") == {str(mug["id"]): "MUG", str(shirt["id"]): "TEE"}
    assert set(env.bindings("variation").values()) == {"TEE-S", "TEE-M", "TEE-L"}
    row = env.item_row("TEE")
    assert (row.woo_status, row.woo_ref) == ("done", str(shirt["id"]))


async def test_a_second_push_with_nothing_changed_writes_nothing_and_reads_one_page_per_100_products(
    env: Env,
) -> None:
    for number in range(130):
        env.item(f"SKU-{number:03}", regular_price=Decimal("5"), description="Plain text")
    tee(env)
    first = await env.push()
    assert first.counts["created"] == 131
    product_batches = [r for r in env.writes() if r.url.path.endswith("/wc/v3/products/batch")]
    assert sorted(len(json.loads(r.content)["create"]) for r in product_batches) == [31, 100]
    report = await env.push()
    assert report.counts["unchanged"] == 131 and report.counts["created"] == report.counts["updated"] == 0
    assert env.writes() == []
    assert len(env.requests) == 2  # ⌈131 / 100⌉ catalog pages, no variations, no categories


async def test_wpautop_descriptions_and_reformatted_prices_are_not_changes(env: Env) -> None:
    env.item("MUG", "Mug", description="Line one\nline two.\n\nSecond paragraph.", regular_price=Decimal("5.00"))
    await env.push()
    assert env.product("MUG")["regular_price"] == "5.00"
    with env.store.lock:  # someone retypes the price in the shop's own format
        store_products.update_product(env.store, env.product("MUG"), {"regular_price": "5"})
    report = await env.push()
    assert report.counts["unchanged"] == 1 and env.writes() == []


# -- matching existing products ---------------------------------------------------------------------------------------


async def test_a_product_made_by_hand_is_matched_by_sku_and_only_its_changed_fields_are_sent(env: Env) -> None:
    with env.store.lock:
        made = store_products.create_product(
            env.store,
            {"name": "Mug", "sku": "MUG", "regular_price": "9.00", "description": "Stoneware", "weight": "0.3"},
        )
    env.item("MUG", "Mug", description="Stoneware", regular_price=Decimal("11"), weight=Decimal("0.30"))
    report = await env.push()
    assert report.counts["updated"] == 1 and report.counts["created"] == 0
    assert len([p for p in env.store.all("product") if p.get("sku") == "MUG"]) == 1
    (body,) = env.bodies()
    assert body == {"update": [{"id": made["id"], "regular_price": "11.00"}]}
    assert env.product("MUG")["regular_price"] == "11.00"


async def test_variable_products_whose_variations_change(env: Env) -> None:
    tee(env)
    await env.push()
    parent = env.product("TEE")
    before = env.variations("TEE")
    env.store.clock_offset += timedelta(seconds=2)
    # The ERP reprices one variant, disables another, drops the third and adds a new one.
    env.change_variant("TEE-S", regular_price=Decimal("18"))
    env.change_variant("TEE-M", status="inactive")
    with env.erp.engine.begin() as db:
        item_id = db.scalar(select(items.c.id).where(items.c.sku == "TEE"))
        db.execute(delete(item_variants).where(item_variants.c.sku == "TEE-L"))
        db.execute(
            insert(item_variants).values(
                item_id=item_id, sku="TEE-XL", attributes={"Size": "L", "Color": "Blue"}, position=4
            )
        )
    report = await env.push()
    assert report.counts["updated"] == 1 and report.counts["failed"] == 0
    assert report.variations == {"created": 1, "updated": 2, "hidden": 1}
    after = env.variations("TEE")
    assert after["TEE-S"]["regular_price"] == "18.00" and after["TEE-S"]["id"] == before["TEE-S"]["id"]
    assert after["TEE-M"]["status"] == "private"  # disabled, not deleted
    assert after["TEE-L"]["status"] == "private"  # gone from the ERP: disabled, not deleted
    assert after["TEE-XL"]["status"] == "publish"
    # Only the parent's variations batch was written; the parent itself did not change.
    assert [r.url.path.rsplit("/wc/v3/", 1)[1] for r in env.writes()] == [f"products/{parent['id']}/variations/batch"]
    (body,) = env.bodies()
    assert {u["id"]: set(u) for u in body["update"]} == {
        before["TEE-S"]["id"]: {"id", "regular_price"},
        before["TEE-M"]["id"]: {"id", "status"},
        before["TEE-L"]["id"]: {"id", "status"},
    }
    again = await env.push()
    assert again.counts["unchanged"] == 1 and env.writes() == []


async def test_a_variation_changed_in_the_store_is_put_back(env: Env) -> None:
    tee(env)
    await env.push()
    env.store.clock_offset += timedelta(seconds=2)
    with env.store.lock:
        parent = env.product("TEE")
        variation = env.variations("TEE")["TEE-S"]
        store_products.update_variation(env.store, parent, variation, {"regular_price": "1.00"})
    report = await env.push()
    assert report.counts["updated"] == 1
    assert env.variations("TEE")["TEE-S"]["regular_price"] == "19.90"


# -- removing --------------------------------------------------------------------------------------------------------


async def test_an_item_made_inactive_or_removed_becomes_a_draft_never_deleted(env: Env) -> None:
    env.item("MUG", "Mug", regular_price=Decimal("9"))
    env.item("CUP", "Cup", regular_price=Decimal("4"))
    with env.store.lock:
        store_products.create_product(env.store, {"name": "Not the ERP's", "sku": "OTHER"})
    await env.push()
    env.change_item("MUG", status="inactive")
    with env.erp.engine.begin() as db:
        db.execute(delete(items).where(items.c.sku == "CUP"))
    report = await env.push()
    assert report.counts["hidden"] == 2
    assert env.product("MUG")["status"] == "draft" and env.product("CUP")["status"] == "draft"
    assert env.product("OTHER")["status"] == "publish"  # never bound: not the ERP's business
    assert not any(r.method == "DELETE" for r in env.requests)
    assert all("delete" not in body for body in env.bodies())
    again = await env.push()
    assert env.writes() == [] and again.counts["failed"] == 0
    # An inactive item never pushed is not created.
    env.item("NEW", "New", status="inactive")
    await env.push()
    assert store_products.find_by_sku(env.store, "NEW") is None


# -- refusals ----------------------------------------------------------------------------------------------------------


async def test_a_product_the_store_refuses_is_a_record_error_naming_its_sku_and_the_rest_goes_on(env: Env) -> None:
    with env.store.lock:
        other = store_products.create_product(env.store, {"name": "Hoodie", "type": "variable", "sku": "HOOD"})
        store_products.create_variation(env.store, other, {"sku": "CLASH"})
    env.item("CLASH", "Wants a taken SKU", regular_price=Decimal("3"))
    env.item("FINE", "Fine", regular_price=Decimal("3"))
    env.item(
        "BAD-ATTR",
        "Bad attribute",
        attributes={"Size": ["S"]},
        variants=[{"sku": "BAD-ATTR-1", "attributes": {"Colour": "Blue"}}],
    )
    report = await env.push()
    assert report.counts["created"] == 1 and report.counts["failed"] == 2
    assert report.run is not None and report.run.outcome == "partial"
    errors = {e.store_id: e.message for e in list_errors(env.db, NAME)}
    assert set(errors) == {"CLASH", "BAD-ATTR"}
    assert "product_invalid_sku" in errors["CLASH"] and "another product" in errors["CLASH"]
    assert "invalid attribute 'Colour'" in errors["BAD-ATTR"]
    assert env.item_row("CLASH").woo_status == "error"
    assert store_products.find_by_sku(env.store, "FINE") is not None

    # Fixed on the ERP side: a retry (a push) takes it and closes the error.
    env.change_item("CLASH", sku="CLASH-2")
    handler = load_retry_handler("products")
    assert handler is not None
    await handler(env.db, NAME, list_errors(env.db, NAME), erp=env.erp, woo=env.woo)
    assert {e.store_id for e in list_errors(env.db, NAME)} == {"BAD-ATTR"}
    assert store_products.find_by_sku(env.store, "CLASH-2") is not None


# -- the first import ----------------------------------------------------------------------------------------------


async def test_import_reads_the_store_catalog_into_the_erp_and_binds_by_sku_so_a_push_duplicates_nothing(
    env: Env,
) -> None:
    with env.store.lock:
        clothing = store_products.create_category(env.store, {"name": "Clothing"})
        shirts = store_products.create_category(env.store, {"name": "Shirts", "parent": clothing["id"]})
        mug = store_products.create_product(
            env.store, {"name": "Mug", "sku": "MUG", "regular_price": "9.00", "description": "Stoneware"}
        )
        shirt = store_products.create_product(
            env.store,
            {
                "name": "T-shirt",
                "type": "variable",
                "sku": "TEE",
                "categories": [{"id": shirts["id"]}],
                "attributes": [{"name": "Size", "options": ["S", "M", "L"], "variation": True}],
            },
        )
        for size in ("S", "M"):
            store_products.create_variation(
                env.store,
                shirt,
                {"sku": f"TEE-{size}", "regular_price": "20", "attributes": [{"name": "Size", "option": size}]},
            )
        store_products.create_variation(env.store, shirt, {"attributes": [{"name": "Size", "option": "L"}]})
        store_products.create_product(env.store, {"name": "Mystery box", "regular_price": "1"})
    env.item("MUG", "Mug (ERP name)", regular_price=Decimal("9"))  # the ERP has this one already

    report = await env.import_catalog()
    assert report.counts["created"] == 1 and report.counts["updated"] == 1 and report.counts["failed"] == 0
    assert len(report.needs_attention) == 2
    assert any("Mystery box" in line for line in report.needs_attention)
    assert any(line.startswith("variation ") and "has no SKU" in line for line in report.needs_attention)
    imported = env.item_row("TEE")
    assert (imported.source, imported.erp_status, imported.store_product_id) == ("store", "new", shirt["id"])
    assert imported.category_path == ["Clothing", "Shirts"] and imported.attributes == {"Size": ["S", "M", "L"]}
    assert env.item_row("MUG").name == "Mug (ERP name)" and env.item_row("MUG").store_product_id == mug["id"]
    assert env.bindings("product") == {str(mug["id"]): "MUG", str(shirt["id"]): "TEE"}
    assert set(env.bindings("variation").values()) == {"TEE-S", "TEE-M"}

    products_before = len(list(env.store.all("product"))) + len(list(env.store.all("variation")))
    pushed = await env.push()
    assert pushed.counts["created"] == 0 and pushed.counts["failed"] == 0
    assert len(list(env.store.all("product"))) + len(list(env.store.all("variation"))) == products_before
    assert env.product("MUG")["name"] == "Mug (ERP name)"  # the ERP's item is the ERP's
    assert {v["status"] for v in store_products.children(env.store, shirt)} == {"publish"}  # SKU-less one left alone


async def test_a_batch_whose_answer_is_lost_creates_nothing_twice(env: Env) -> None:
    from woobridge.sandbox.faults import FaultRule

    env.item("MUG", "Mug", regular_price=Decimal("9"))
    tee(env)
    env.sandbox.faults.replace(
        [FaultRule(kind="timeout_after_write", hold=5, methods=("POST",), path="products/batch")]
    )
    env.woo.timeouts = type(env.woo.timeouts)(connect=1, read=1, write=1)
    report = await env.push()
    env.sandbox.faults.clear()
    assert report.counts["failed"] == 2  # the store made them, but woobridge could not know: record errors
    assert all("answer was lost" in e.message for e in list_errors(env.db, NAME))
    report = await env.push()
    assert report.counts["failed"] == 0 and list_errors(env.db, NAME) == []
    assert len([p for p in env.store.all("product") if p.get("sku") in ("MUG", "TEE")]) == 2
    assert set(env.variations("TEE")) == {"TEE-S", "TEE-M", "TEE-L"}
    assert env.bindings("product") == {str(env.product("MUG")["id"]): "MUG", str(env.product("TEE")["id"]): "TEE"}


async def test_names_the_store_escaped_are_the_same_category(env: Env) -> None:
    with env.store.lock:
        existing = store_products.create_category(env.store, {"name": "Kids & Baby"})
    assert existing["name"] == "Kids &amp; Baby"
    env.item("BIB", "Bib", category_path=["Kids & Baby"])
    report = await env.push()
    assert report.categories_created == 0
    assert [c["id"] for c in env.product("BIB")["categories"]] == [existing["id"]]


# -- as a command, in its own process, over real HTTPS ----------------------------------------------------------------


def test_woobridge_sync_products_import_then_push_then_customers_in_a_subprocess(
    live: LiveSandbox, tmp_path: Path
) -> None:
    executable = Path(sys.executable).with_name("woobridge")
    if not executable.exists():
        pytest.skip("woobridge is not installed in this environment")
    master = Fernet.generate_key()
    state_url = f"sqlite:///{tmp_path / 'state.sqlite'}"
    staging_url = f"sqlite:///{tmp_path / 'staging.sqlite'}"
    db = StateDB(state_url)
    with db.session() as session:
        connection = Connection(
            name=NAME, store_url=live.base_url, key_created_at=datetime.now(UTC), ca_file=live.ca_file
        )
        connection.store_key(Vault([master], "test"), live.keys.admin.consumer_key, live.keys.admin.consumer_secret)
        session.add(connection)
    db.close()
    environ = {
        **os.environ,
        "WOOBRIDGE_HOME": str(tmp_path / "home"),
        "WOOBRIDGE_STATE_URL": state_url,
        "WOOBRIDGE_STAGING_URL": staging_url,
        "WOOBRIDGE_MASTER_KEY": master.decode(),
    }

    def cli(*args: str) -> dict[str, Any]:
        done = subprocess.run(
            [str(executable), "sync", *args, "--json"], env=environ, capture_output=True, text=True, timeout=180
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return dict(json.loads(done.stdout))

    with_sku = [p for p in live.store.all("product") if p.get("sku") and p.get("status") != "trash"]
    imported = cli("products", "--import")
    assert imported["mode"] == "import" and imported["created"] == len(with_sku) and imported["failed"] == 0
    # The ERP now holds the store's catalog: a push finds nothing to change and creates nothing.
    pushed = cli("products")
    assert (pushed["created"], pushed["updated"], pushed["failed"]) == (0, 0, 0)
    assert pushed["unchanged"] == len(with_sku) and pushed["writes"] == 0
    customers_report = cli("customers")
    assert customers_report["created"] > 0 and customers_report["failed"] == 0
