"""The products flow (ERP → store): the ERP's items become WooCommerce products, and stay what the ERP says.

The whole story of a push (``woobridge sync products``):

1. **Read** the ERP's items (``ErpPort.items``: SKU, name, descriptions, prices, weight and dimensions, status,
   category path, attributes, variants with their own SKUs, image URLs) and the store's catalog, through ``woo/``:
   ``GET products?status=any&orderby=id&order=asc&per_page=100&_fields=…`` in overlapping id-ordered reads (the
   fields compared, nothing more). That is ⌈products / 100⌉ requests, and all a push with nothing changed makes.
2. **Match** each item to a product **by SKU** — whoever created the product, woobridge or a person — so nothing
   is created twice: SKUs are unique in a WooCommerce store, and a create whose answer was lost is found by its
   SKU on the next run.
3. **Compare** (pure functions in ``flows.product_mapping``) and keep only the fields that differ from the store's
   current values, the way WooCommerce stores them: a description it wrapped in ``<p>``, a price it keeps as
   ``"5"`` for 5.00, a category name it escaped, an image it copied into its media library are not changes.
   Categories are created as needed, parents first (``POST products/categories``; one that exists already is
   reused). A variable product's **variations** are read (``GET products/{id}/variations``) only when there can
   be a difference: the product is new to woobridge, the item changed since the last push (the binding's digest),
   or the product changed in the store since (its ``date_modified_gmt``; saving a variation moves its parent's).
4. **Write** creates and updates through ``products/batch`` and ``products/{id}/variations/batch``, at most 100
   items a request, several requests at a time; each item's answer is checked on its own. A product the ERP
   removed — ``status`` inactive, or no longer in its items — becomes a **draft** (a removed variant: a disabled,
   private variation); nothing is ever deleted. Only products woobridge bound are hidden for being absent from
   the items: the rest of the store is not the ERP's business.
5. **Bind** each product and variation (store id → SKU) with the item's digest, in a few transactions.
6. An item the store refuses (a SKU owned by another product, an invalid attribute…) or that cannot be a product
   as it is (a variant value that is not one of the item's attributes…) becomes a **record error** named by its
   SKU, with the store's reason; the rest goes on. The staging ERP also sees the outcome on the ``items`` row
   (``woo_status``).

The first import (``woobridge sync products --import``) goes the other way once: the store's catalog, variations
included, becomes the ERP's items (``ErpPort.put_items``) and products and variations are bound by SKU, so an
existing store and an existing ERP are joined without duplicating anything. Products without a SKU cannot be
matched; they are listed as needing attention.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar

from woobridge.documents import Item
from woobridge.erp.port import Acknowledgement, ErpPort, ErpRecordError
from woobridge.flows.context import client_for, erp_for, resolve_connection
from woobridge.flows.engine import FlowRun, RunSummary, digest, open_run, retry_handler
from woobridge.flows.product_mapping import (
    CATALOG_FIELDS,
    VARIATION_FIELDS,
    ItemInvalid,
    attributes_taken,
    category_matches,
    category_paths,
    check_item,
    fold,
    hide_changes,
    item_from_store,
    new_product,
    new_variation,
    product_changes,
    variation_changes,
    variation_status,
)
from woobridge.state import Connection, StateDB
from woobridge.woo.client import BatchItem, WooClient
from woobridge.woo.errors import HTTPError, WooError, WriteOutcomeUnknown
from woobridge.woo.reading import IdOrderedReader
from woobridge.woo.throttle import AdaptiveConcurrency

log = logging.getLogger(__name__)

FLOW = "products"
PRODUCT = "product"  # bindings: store product id → SKU
VARIATION = "variation"  # bindings: store variation id → variant SKU
ITEM = "item"  # record errors: keyed by the ERP item's SKU
ROUTE = "products"
BATCH = 100
MAX_CONCURRENCY = 8
_BIND_CHUNK = 500

Action = Literal["created", "updated", "unchanged", "hidden", "failed"]
T = TypeVar("T")


# -- what happened -------------------------------------------------------------------------------------------------


@dataclass
class ProductsReport:
    """What a push (or the first import) did."""

    connection: str
    mode: Literal["push", "import"] = "push"
    run: RunSummary | None = None
    items: int = 0  # ERP items read (push) or store products read (import)
    store_products: int = 0
    counts: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(("created", "updated", "unchanged", "hidden", "failed"), 0)
    )
    variations: dict[str, int] = field(default_factory=lambda: dict.fromkeys(("created", "updated", "hidden"), 0))
    categories_created: int = 0
    reads: int = 0
    writes: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)  # (SKU, reason), the first few
    needs_attention: list[str] = field(default_factory=list)  # import: products that cannot be matched
    notes: list[str] = field(default_factory=list)

    MAX_FAILURES_SHOWN = 20

    @property
    def requests(self) -> int:
        return self.reads + self.writes

    def add(self, action: Action, sku: str = "", message: str = "") -> None:
        self.counts[action] += 1
        if action == "failed" and len(self.failures) < self.MAX_FAILURES_SHOWN:
            self.failures.append((sku, message))

    def to_dict(self) -> dict[str, Any]:
        return {
            "connection": self.connection,
            "mode": self.mode,
            "run": self.run.to_dict() if self.run else None,
            "items": self.items,
            "store_products": self.store_products,
            **self.counts,
            "variations": dict(self.variations),
            "categories_created": self.categories_created,
            "requests": self.requests,
            "reads": self.reads,
            "writes": self.writes,
            "failures": [{"sku": sku, "message": message} for sku, message in self.failures],
            "needs_attention": list(self.needs_attention),
            "notes": list(self.notes),
        }


@dataclass
class _Plan:
    """One ERP item on its way to the store."""

    item: Item
    digest: str
    product: Mapping[str, Any] | None  # the store's product with this SKU, as read
    bound_digest: str | None = None
    bound_modified: datetime | None = None
    category_id: int | None = None  # the path's last category, when the product is not in it yet
    body: dict[str, Any] | None = None  # what is sent (create or update), None: nothing
    answer: Mapping[str, Any] | None = None  # the store's product after the write
    action: Action = "unchanged"
    errors: list[str] = field(default_factory=list)
    modified: datetime | None = None  # the newest date_modified_gmt seen for the product and its variations
    variations: dict[str, int] = field(default_factory=dict)  # variant SKU → store variation id (when read/made)

    @property
    def sku(self) -> str:
        return self.item.sku

    @property
    def product_id(self) -> int | None:
        source = self.answer or self.product
        value = source.get("id") if source else None
        return value if isinstance(value, int) else None


# -- small helpers ---------------------------------------------------------------------------------------------------


def _gmt(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _latest(*moments: datetime | None) -> datetime | None:
    known = [m for m in moments if m is not None]
    return max(known) if known else None


def _same_moment(a: datetime | None, b: datetime | None) -> bool:
    if a is None or b is None:
        return a is b
    return _gmt(a.isoformat()) == _gmt(b.isoformat())


def refusal(error: HTTPError | None) -> str:
    """The store's reason for refusing an item, in words a person can act on."""
    if error is None:
        return "the store refused it without a reason"
    data = error.data if isinstance(error.data, Mapping) else {}
    if error.code == "product_invalid_sku":
        owner = data.get("resource_id")
        return (
            f"the store refused the SKU ({error.code}: {error.message}): it already belongs to another product or "
            f"variation{f' (id {owner})' if owner else ''}; give one of them another SKU"
        )
    return f"the store refused it ({error.code or error.status}: {error.message})"


async def _gather_limited(jobs: Sequence[Callable[[], Awaitable[T]]], limit: int) -> list[T]:
    """Run the jobs ``limit`` at a time, results in order."""
    gate = asyncio.Semaphore(limit)

    async def one(job: Callable[[], Awaitable[T]]) -> T:
        async with gate:
            return await job()

    return list(await asyncio.gather(*(one(job) for job in jobs)))


# -- reading the store -----------------------------------------------------------------------------------------------


async def _read_catalog(woo: WooClient, report: ProductsReport, *, edit: bool = False) -> list[dict[str, Any]]:
    """Every product (not trashed), with the fields the flow compares; variations are not in this list.

    Pages are read by number (⌈products / 100⌉ requests, several at a time, ordered by id). When a product left the
    list while it was read, the pages after it moved up and one product would be missed: the number read then
    differs from X-WP-Total, and the list is read again in overlapping id-ordered reads, which miss nothing."""
    params: dict[str, Any] = {"status": "any", "_fields": CATALOG_FIELDS, "orderby": "id", "order": "asc"}
    if edit:
        params["context"] = "edit"  # descriptions as entered, not wrapped in <p>
    before = woo.requests_sent
    found: dict[int, dict[str, Any]] = {}
    total: int | None = None
    async for page in woo.iter_pages(ROUTE, params, per_page=100, concurrency=MAX_CONCURRENCY):
        total = page.total if total is None else total
        found.update((p["id"], p) for p in page.items if isinstance(p, dict) and isinstance(p.get("id"), int))
    report.reads += woo.requests_sent - before
    if total is not None and len(found) != total:
        log.info("the catalog changed while it was read (%d read, %d listed): reading it again", len(found), total)
        reader = IdOrderedReader(woo, ROUTE, params, throttle=AdaptiveConcurrency(MAX_CONCURRENCY))
        async for rows in reader.pages():
            found.update((p["id"], p) for p in rows if isinstance(p, dict) and isinstance(p.get("id"), int))
        report.reads += reader.requests
    report.store_products = len(found)
    return list(found.values())


async def _read_list(woo: WooClient, route: str, params: Mapping[str, Any], report: ProductsReport) -> list[Any]:
    before = woo.requests_sent
    items = await woo.get_all(route, params, per_page=100)
    report.reads += woo.requests_sent - before
    return [item for item in items if isinstance(item, dict)]


async def _read_variations(
    woo: WooClient, product_id: int, report: ProductsReport, *, edit: bool = False
) -> list[dict[str, Any]]:
    params: dict[str, Any] = {"_fields": VARIATION_FIELDS + (",description" if edit else "")}
    if edit:
        params["context"] = "edit"
    return await _read_list(woo, f"{ROUTE}/{product_id}/variations", params, report)


# -- categories ------------------------------------------------------------------------------------------------------


class _Categories:
    """The store's product categories by (parent id, folded name), read once when first needed."""

    def __init__(self, woo: WooClient, report: ProductsReport) -> None:
        self.woo = woo
        self.report = report
        self.known: dict[tuple[int, str], int] | None = None

    async def _load(self) -> dict[tuple[int, str], int]:
        if self.known is None:
            found = await _read_list(self.woo, f"{ROUTE}/categories", {"_fields": "id,name,parent"}, self.report)
            self.known = {(int(c.get("parent") or 0), fold(c.get("name", ""))): int(c["id"]) for c in found}
        return self.known

    async def resolve(self, path: Sequence[str]) -> int:
        """The id of the path's last category, creating the missing ones from the top. Raises ``WooError``."""
        known = await self._load()
        parent = 0
        for name in path:
            key = (parent, fold(name))
            if key not in known:
                known[key] = await self._create(name, parent)
            parent = known[key]
        return parent

    async def _create(self, name: str, parent: int) -> int:
        self.report.writes += 1
        try:
            created = await self.woo.post(f"{ROUTE}/categories", {"name": name, "parent": parent})
        except HTTPError as error:
            # Made since we read the list (or a name that differs from ours only in spacing): use it.
            existing = error.data.get("resource_id") if isinstance(error.data, Mapping) else None
            if error.code == "term_exists" and isinstance(existing, int):
                return existing
            raise
        self.report.categories_created += 1
        return int(created["id"])


# -- the push --------------------------------------------------------------------------------------------------------


async def run(
    db: StateDB,
    connection: Connection | str,
    *,
    erp: ErpPort | None = None,
    services: Any = None,
    holder: str | None = None,
    woo: WooClient | None = None,
    **_: Any,
) -> ProductsReport:
    """Push the ERP's items to the store (see the module's docstring). ``erp``: an open ERP port (default:
    ``woobridge.erp.open_erp()``); ``woo``: a client (default: built from the connection's sealed credentials).
    Raises ``LeaseHeld`` when a products run is going on, ``ErpUnavailable`` / ``WooError`` when it cannot go on."""
    conn = resolve_connection(db, connection)
    report = ProductsReport(conn.name)
    async with erp_for(erp) as port, client_for(conn, services, woo, max_concurrency=MAX_CONCURRENCY) as client:
        async with open_run(db, conn, FLOW, holder=holder) as flow_run:
            await _Push(flow_run, conn, port, client, report).run()
        report.run = flow_run.summary()
    return report


@dataclass
class _Push:
    flow_run: FlowRun
    connection: Connection
    erp: ErpPort
    woo: WooClient
    report: ProductsReport
    wanted: set[str] = field(default_factory=set)  # the SKUs the ERP lists

    async def run(self) -> None:
        report = self.report
        items = list(await asyncio.to_thread(self.erp.items, self.connection.name))
        report.items = len(items)
        catalog = await _read_catalog(self.woo, report)
        by_sku = {str(p["sku"]): p for p in catalog if p.get("sku")}
        bindings = await asyncio.to_thread(self.flow_run.bindings, PRODUCT, [str(p["id"]) for p in catalog])
        self.flow_run.message = f"{len(items)} ERP item(s), {len(catalog)} store product(s)"
        plans: list[_Plan] = []
        for item in items:
            try:
                check_item(item)
            except ItemInvalid as error:
                await self._failed(item.sku, error.reason, item)
                continue
            product = by_sku.get(item.sku)
            if product is None and item.status == "inactive":
                continue  # never in the store, and not wanted there: nothing to do
            binding = bindings.get(str(product["id"])) if product is not None else None
            plans.append(
                _Plan(
                    item,
                    digest(item),
                    product,
                    bound_digest=binding.digest if binding else None,
                    bound_modified=binding.store_modified if binding else None,
                    modified=_gmt(product.get("date_modified_gmt")) if product else None,
                )
            )
        self.wanted = {item.sku for item in items}
        hidden = self._removed(catalog, bindings, self.wanted)
        await self._categories(plans)
        await self._write_products(plans, hidden)
        variable = [p for p in plans if p.item.variants and not p.errors and p.product_id is not None]
        await _gather_limited([lambda p=p: self._variations(p) for p in variable], MAX_CONCURRENCY)  # type: ignore[misc]
        await asyncio.to_thread(self._finish, plans, hidden)

    # -- deciding ---------------------------------------------------------------------------------------------------

    def _removed(
        self, catalog: Sequence[Mapping[str, Any]], bindings: Mapping[str, Any], wanted: set[str]
    ) -> list[Any]:
        """Products woobridge bound whose SKU the ERP no longer lists: to be hidden (made drafts)."""
        if not wanted and bindings:
            self.report.notes.append(
                "the ERP lists no items at all for this connection: no product was hidden (an empty items table is "
                "more likely a mistake than a closed shop; set items inactive to hide products)"
            )
            return []
        removed = []
        for product in catalog:
            binding = bindings.get(str(product["id"]))
            if binding is None or str(product.get("sku") or "") in wanted:
                continue
            changes = hide_changes(product)
            if changes:
                removed.append((product, {"id": product["id"], **changes}))
        return removed

    async def _categories(self, plans: Sequence[_Plan]) -> None:
        categories = _Categories(self.woo, self.report)
        for plan in plans:
            path = plan.item.category_path
            if not path or (plan.product is not None and category_matches(path, plan.product.get("categories"))):
                continue
            try:
                plan.category_id = await categories.resolve(path)
            except WooError as error:
                plan.errors.append(f"category {' > '.join(path)} could not be created: {error}")

    # -- writing products -------------------------------------------------------------------------------------------

    async def _write_products(self, plans: Sequence[_Plan], removed: Sequence[Any]) -> None:
        creates: list[_Plan] = []
        updates: list[_Plan] = []
        for plan in plans:
            if plan.errors:
                continue
            if plan.product is None:
                plan.body = new_product(plan.item, plan.category_id)
                creates.append(plan)
                continue
            changes = product_changes(plan.item, plan.product, plan.category_id)
            plan.body = {"id": plan.product["id"], **changes} if changes else None
            if changes:
                updates.append(plan)
        hide_bodies = [body for _, body in removed]
        jobs: list[Callable[[], Awaitable[None]]] = []
        for start in range(0, len(creates), BATCH):
            jobs.append(lambda chunk=creates[start : start + BATCH]: self._batch("create", chunk))  # type: ignore[misc]
        for start in range(0, len(updates), BATCH):
            jobs.append(lambda chunk=updates[start : start + BATCH]: self._batch("update", chunk))  # type: ignore[misc]
        for start in range(0, len(hide_bodies), BATCH):
            jobs.append(lambda chunk=removed[start : start + BATCH]: self._hide(chunk))  # type: ignore[misc]
        await _gather_limited(jobs, MAX_CONCURRENCY)

    async def _batch(self, action: Literal["create", "update"], chunk: Sequence[_Plan]) -> None:
        bodies = [plan.body or {} for plan in chunk]
        self.report.writes += 1
        try:
            result = await self.woo.batch(ROUTE, **{action: bodies})  # type: ignore[arg-type]
        except WriteOutcomeUnknown as error:
            for plan in chunk:
                plan.errors.append(
                    f"the store's answer was lost ({error.message}); the next run finds what was written by SKU"
                )
            return
        except HTTPError as error:
            for plan in chunk:
                plan.errors.append(refusal(error))
            return
        for plan, outcome in zip(chunk, result.items, strict=True):
            self._took(plan, action, outcome)

    def _took(self, plan: _Plan, action: Literal["create", "update"], outcome: BatchItem) -> None:
        if not outcome.ok or outcome.data is None:
            plan.errors.append(refusal(outcome.error))
            return
        plan.answer = outcome.data
        hiding = action == "update" and (plan.body or {}).get("status") == "draft" and plan.item.status == "inactive"
        plan.action = "created" if action == "create" else "hidden" if hiding else "updated"
        plan.modified = _latest(plan.modified, _gmt(outcome.data.get("date_modified_gmt")))
        sent_attributes = (plan.body or {}).get("attributes")
        if sent_attributes is not None and len(outcome.data.get("attributes") or []) < len(sent_attributes):
            plan.errors.append("invalid attribute: the store dropped some of the item's attributes")

    async def _hide(self, chunk: Sequence[Any]) -> None:
        self.report.writes += 1
        try:
            result = await self.woo.batch(ROUTE, update=[body for _, body in chunk])
        except (WriteOutcomeUnknown, HTTPError) as error:
            self.report.notes.append(f"{len(chunk)} removed product(s) could not be made drafts: {error}")
            return
        for (product, _), outcome in zip(chunk, result.items, strict=True):
            if outcome.ok:
                self.report.add("hidden")
            else:
                self.report.notes.append(
                    f"product {product.get('sku')} could not be made a draft: {refusal(outcome.error)}"
                )

    # -- variations -------------------------------------------------------------------------------------------------

    def _must_read_variations(self, plan: _Plan) -> bool:
        if plan.product is None:
            return False  # just created: it has none
        if plan.bound_digest != plan.digest or plan.body is not None:
            return True
        # The item did not change since the last push; did the product change in the store since?
        return not _same_moment(plan.bound_modified, _gmt(plan.product.get("date_modified_gmt")))

    async def _variations(self, plan: _Plan) -> None:
        product_id = plan.product_id
        assert product_id is not None
        if plan.product is not None and not self._must_read_variations(plan):
            return
        try:
            existing = await _read_variations(self.woo, product_id, self.report) if plan.product is not None else []
        except WooError as error:
            plan.errors.append(f"its variations could not be read: {error}")
            return
        by_sku = {str(v.get("sku") or ""): v for v in existing if v.get("sku")}
        item = plan.item
        creates: list[tuple[str, dict[str, Any]]] = []
        updates: list[tuple[str, dict[str, Any]]] = []
        for variant in item.variants:
            current = by_sku.get(variant.sku)
            if current is None:
                creates.append((variant.sku, new_variation(item, variant)))
                continue
            plan.variations[variant.sku] = int(current["id"])
            plan.modified = _latest(plan.modified, _gmt(current.get("date_modified_gmt")))
            changes = variation_changes(item, variant, current)
            if changes:
                updates.append((variant.sku, {"id": current["id"], **changes}))
        wanted = {variant.sku for variant in item.variants}
        hides = [
            (str(v.get("sku") or v.get("id")), {"id": v["id"], "status": variation_status("inactive")})
            for v in existing
            # A variation without a SKU is not the ERP's to manage: left alone (the import lists it).
            if v.get("sku") and str(v["sku"]) not in wanted and v.get("status") != variation_status("inactive")
        ]
        work: list[tuple[Literal["create", "update"], str, dict[str, Any]]] = [
            *(("create", sku, body) for sku, body in creates),
            *(("update", sku, body) for sku, body in updates + hides),
        ]
        route = f"{ROUTE}/{product_id}/variations"
        for start in range(0, len(work), BATCH):
            chunk = work[start : start + BATCH]
            self.report.writes += 1
            try:
                result = await self.woo.batch(
                    route,
                    create=[body for action, _, body in chunk if action == "create"],
                    update=[body for action, _, body in chunk if action == "update"],
                )
            except (WriteOutcomeUnknown, HTTPError) as error:
                plan.errors.append(f"its variations could not be written: {error}")
                return
            answers = {("create", i): o for i, o in enumerate(result.of("create"))}
            answers.update({("update", i): o for i, o in enumerate(result.of("update"))})
            positions = {"create": 0, "update": 0}
            for action, sku, body in chunk:
                outcome = answers[(action, positions[action])]
                positions[action] += 1
                self._variation_took(plan, action, sku, body, outcome, hiding=sku not in wanted)
        if (creates or updates) and plan.action == "unchanged":
            plan.action = "updated"

    def _variation_took(
        self,
        plan: _Plan,
        action: Literal["create", "update"],
        sku: str,
        body: Mapping[str, Any],
        outcome: BatchItem,
        *,
        hiding: bool,
    ) -> None:
        if not outcome.ok or outcome.data is None:
            plan.errors.append(f"variant {sku}: {refusal(outcome.error)}")
            return
        if not attributes_taken(body, outcome.data):
            values = ", ".join(f"{a['name']}={a['option']}" for a in body["attributes"])
            plan.errors.append(
                f"variant {sku}: invalid attribute: the store did not keep its attribute values ({values})"
            )
        plan.modified = _latest(plan.modified, _gmt(outcome.data.get("date_modified_gmt")))
        if isinstance(outcome.id, int) and not hiding:
            plan.variations[sku] = outcome.id
        kind = "hidden" if hiding else ("created" if action == "create" else "updated")
        self.report.variations[kind] += 1

    # -- recording --------------------------------------------------------------------------------------------------

    async def _failed(self, sku: str, reason: str, item: Item) -> None:
        await asyncio.to_thread(self.flow_run.record_error, ITEM, sku, reason, item)
        self.report.add("failed", sku, reason)
        await asyncio.to_thread(self._acknowledge, sku, Acknowledgement("error", reason))

    def _finish(self, plans: Sequence[_Plan], removed: Sequence[Any]) -> None:
        """Bind what went through, record what did not, tell the ERP; counts for the run."""
        open_errors = self._all_open_errors()
        products: list[tuple[str, str, datetime | None, str | None]] = []
        variations: list[tuple[str, str]] = []
        for plan in plans:
            product_id = plan.product_id
            if plan.errors:
                reason = "; ".join(plan.errors)
                self.flow_run.record_error(ITEM, plan.sku, reason, plan.item)
                self.report.add("failed", plan.sku, reason)
                self._acknowledge(plan.sku, Acknowledgement("error", reason, str(product_id or "")))
                if product_id is not None:
                    products.append((str(product_id), plan.sku, plan.modified, None))  # compare it all next time
                continue
            assert product_id is not None
            self.report.add(plan.action)
            fresh = plan.action != "unchanged" or plan.bound_digest != plan.digest
            if fresh or not _same_moment(plan.bound_modified, plan.modified):
                products.append((str(product_id), plan.sku, plan.modified, plan.digest))
            variations.extend((str(v), sku) for sku, v in plan.variations.items())
            if plan.sku in open_errors:
                self.flow_run.resolve_error(ITEM, plan.sku)
            if plan.action != "unchanged":
                self._acknowledge(plan.sku, Acknowledgement("done", plan.action, str(product_id)))
        for sku in open_errors - self.wanted:
            self.flow_run.resolve_error(ITEM, sku)  # no longer an item (e.g. its SKU was corrected): nothing to do
        for product, _ in removed:
            self._acknowledge(str(product.get("sku") or ""), Acknowledgement("done", "hidden", str(product["id"])))
        self._bind_many(PRODUCT, products)
        self._bind_many(VARIATION, [(v, sku, None, None) for v, sku in variations])
        self.flow_run.count(
            read=self.report.items,
            created=self.report.counts["created"],
            updated=self.report.counts["updated"] + self.report.counts["hidden"],
            skipped=self.report.counts["unchanged"],
            requests=self.report.requests,
        )

    def _all_open_errors(self) -> set[str]:
        """Open item errors, due for a retry or not (a product that now goes through closes its error)."""
        from sqlalchemy import select

        from woobridge.state.models import RecordError

        with self.flow_run.db.session() as session:
            return set(
                session.scalars(
                    select(RecordError.store_id).where(
                        RecordError.connection_id == self.connection.id,
                        RecordError.flow == FLOW,
                        RecordError.resource == ITEM,
                        RecordError.resolved_at.is_(None),
                    )
                )
            )

    def _bind_many(self, resource: str, rows: Sequence[tuple[str, str, datetime | None, str | None]]) -> None:
        bind_many(self.flow_run, resource, rows)

    def _acknowledge(self, sku: str, ack: Acknowledgement) -> None:
        acknowledge = getattr(self.erp, "acknowledge_item", None)
        if not callable(acknowledge) or not sku:
            return
        with contextlib.suppress(ErpRecordError):  # no row for it (a product the ERP never listed): nothing to tell
            acknowledge(self.connection.name, sku, ack)


def bind_many(flow_run: FlowRun, resource: str, rows: Sequence[tuple[str, str, datetime | None, str | None]]) -> None:
    """Bind (store id, ERP id, store modified, digest) rows a few hundred a transaction (the lease is checked in
    each), instead of one transaction a record: a catalog has thousands."""
    for start in range(0, len(rows), _BIND_CHUNK):
        with flow_run.db.engine.begin() as transaction:
            for store_id, erp_id, modified, fingerprint in rows[start : start + _BIND_CHUNK]:
                flow_run.bind_in(transaction, resource, store_id, erp_id, store_modified=modified, digest=fingerprint)


# -- the first import ------------------------------------------------------------------------------------------------


async def import_catalog(
    db: StateDB,
    connection: Connection | str,
    *,
    erp: ErpPort | None = None,
    services: Any = None,
    holder: str | None = None,
    woo: WooClient | None = None,
) -> ProductsReport:
    """``woobridge sync products --import``: the store's catalog, variations included, into the ERP's items
    (``put_items``: an SKU the ERP has only learns its store ids), then products and variations bound by SKU.
    Products without a SKU are listed in ``needs_attention``; an item the ERP refuses is a record error. Runs under
    the products flow's lease, so it never overlaps a push."""
    conn = resolve_connection(db, connection)
    report = ProductsReport(conn.name, mode="import")
    async with erp_for(erp) as port, client_for(conn, services, woo, max_concurrency=MAX_CONCURRENCY) as client:
        async with open_run(db, conn, FLOW, holder=holder) as flow_run:
            flow_run.message = "first import: store catalog → ERP items"
            await _import(flow_run, conn, port, client, report)
        report.run = flow_run.summary()
    return report


async def _import(
    flow_run: FlowRun, connection: Connection, erp: ErpPort, woo: WooClient, report: ProductsReport
) -> None:
    categories = await _read_list(woo, f"{ROUTE}/categories", {"_fields": "id,name,parent"}, report)
    paths = category_paths(categories)
    catalog = await _read_catalog(woo, report, edit=True)
    variable = [p for p in catalog if p.get("type") == "variable" and p.get("sku")]
    read = await _gather_limited(
        [lambda p=p: _read_variations(woo, int(p["id"]), report, edit=True) for p in variable],  # type: ignore[misc]
        MAX_CONCURRENCY,
    )
    variations = {int(p["id"]): found for p, found in zip(variable, read, strict=True)}
    items: list[tuple[Item, Mapping[str, Any]]] = []
    for product in catalog:
        if not str(product.get("sku") or "").strip():
            report.needs_attention.append(
                f"product {product['id']} {product.get('name', '')!r} ({product.get('type')}, "
                f"{product.get('status')}) has no SKU: give it one in the store and import again"
            )
            continue
        item, problems = item_from_store(product, variations.get(int(product["id"]), []), paths)
        report.needs_attention.extend(problems)
        items.append((item, product))
    report.items = len(items)
    for start in range(0, len(items), BATCH):
        chunk = items[start : start + BATCH]
        try:
            refs = await asyncio.to_thread(erp.put_items, connection.name, [item for item, _ in chunk])
            accepted = [(item, product, ref.created) for (item, product), ref in zip(chunk, refs, strict=True)]
        except ErpRecordError:
            accepted = await _import_one_by_one(flow_run, connection, erp, chunk, report)
        rows = [
            (str(item.store_product_id), item.sku, _gmt(product.get("date_modified_gmt")), None)
            for item, product, _ in accepted
        ]
        variation_rows = [
            (str(v.store_variation_id), v.sku, None, None) for item, _, _ in accepted for v in item.variants
        ]
        await asyncio.to_thread(bind_many, flow_run, PRODUCT, rows)
        await asyncio.to_thread(bind_many, flow_run, VARIATION, variation_rows)
        for item, _, created in accepted:
            report.add("created" if created else "updated")
            await asyncio.to_thread(flow_run.resolve_error, ITEM, item.sku)
    flow_run.count(
        read=len(catalog),
        created=report.counts["created"],
        updated=report.counts["updated"],
        requests=report.requests,
    )


async def _import_one_by_one(
    flow_run: FlowRun,
    connection: Connection,
    erp: ErpPort,
    chunk: Sequence[tuple[Item, Mapping[str, Any]]],
    report: ProductsReport,
) -> list[tuple[Item, Mapping[str, Any], bool]]:
    """A chunk the ERP refused: find which items it refuses, import the others."""
    accepted = []
    for item, product in chunk:
        try:
            (ref,) = await asyncio.to_thread(erp.put_items, connection.name, [item])
        except ErpRecordError as error:
            await asyncio.to_thread(flow_run.record_error, ITEM, item.sku, error, product)
            report.add("failed", item.sku, str(error))
            continue
        accepted.append((item, product, ref.created))
    return accepted


# -- retrying --------------------------------------------------------------------------------------------------------


@retry_handler(FLOW)
async def retry_errors(
    db: StateDB,
    connection: Connection | str,
    errors: Sequence[Any],
    *,
    erp: ErpPort | None = None,
    services: Any = None,
    woo: WooClient | None = None,
    holder: str | None = None,
    **_: Any,
) -> ProductsReport:
    """``woobridge errors retry``: a push reads every item and the store's catalog afresh and compares them, so it
    is the retry — items now accepted close their errors, the others count one more attempt."""
    report = await run(db, connection, erp=erp, services=services, woo=woo, holder=holder)
    report.notes.append(f"retried {len(list(errors))} record error(s) with a full push")
    return report


__all__ = [
    "FLOW",
    "ITEM",
    "PRODUCT",
    "VARIATION",
    "ProductsReport",
    "bind_many",
    "import_catalog",
    "refusal",
    "retry_errors",
    "run",
]
