"""``StagingErp``: the ERP port over interface tables (see docs/staging.md for the ERP side).

woobridge writes the outbound tables and reads the inbound ones; the ERP does the opposite and acknowledges
through the ``erp_*`` columns. Every method is one short transaction on the adapter's own engine, so many workers
and connections can share one staging database.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from functools import partial
from typing import Any, Literal, TypeVar

from sqlalchemy import (
    URL,
    Connection,
    CursorResult,
    Engine,
    Row,
    Select,
    Table,
    Text,
    and_,
    bindparam,
    cast,
    delete,
    func,
    insert,
    literal_column,
    or_,
    select,
    type_coerce,
    update,
)
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Dialect
from sqlalchemy.sql import ColumnElement, Insert, Update
from sqlalchemy.types import NullType, TypeEngine

from woobridge.documents import ZERO, CreditMemo, Customer, Item, SalesOrder, Shipment, StockLevel
from woobridge.erp.port import Acknowledgement, ErpRecordError, ErpRef
from woobridge.erp.staging import rows
from woobridge.erp.staging.database import open_engine, transaction, upgrade
from woobridge.erp.staging.models import (
    CONNECTION,
    credit_memo_lines,
    credit_memos,
    customers,
    erp_credit_memo_lines,
    erp_credit_memos,
    item_variants,
    items,
    sales_order_lines,
    sales_orders,
    shipment_lines,
    shipments,
    stock_levels,
)
from woobridge.erp.staging.types import Amount
from woobridge.executemany import DriverStatement, driver_statement

log = logging.getLogger(__name__)

T = TypeVar("T")

# Called inside the transaction that wrote a document, with that transaction's connection and the document's ref:
# lets a flow whose state lives in the same database commit its binding together with the ERP rows.
AlsoInTransaction = Callable[[Connection, ErpRef], None]

_ATTEMPTS = 3  # a unique-key race with another worker is settled by reading again; more than twice is a bug
_IN_CHUNK = 500  # ids per IN (…) list


def _now() -> datetime:
    return datetime.now(UTC)


class StagingErp:
    """The default ERP adapter: interface tables in a SQL database named by a SQLAlchemy URL.

    ``require_known_items``: refuse a sales order with a product line whose SKU is missing or not in the
    ``items`` / ``item_variants`` tables (for ERPs that can only book items they know).
    ``upgrade``: create or migrate the staging tables on opening (default); turn off when the ERP's DBA runs the
    migrations. Other keyword arguments go to ``sqlalchemy.create_engine``.
    """

    name = "staging"

    def __init__(
        self,
        url: str | URL,
        *,
        require_known_items: bool = False,
        upgrade: bool = True,
        **engine_options: Any,
    ) -> None:
        self.require_known_items = require_known_items
        self.engine: Engine = open_engine(url, **engine_options)
        self.url = self.engine.url
        if upgrade:
            self.upgrade()

    def __repr__(self) -> str:
        return f"StagingErp({self.url.render_as_string(hide_password=True)!r})"

    def upgrade(self) -> None:
        """Create or migrate the staging tables (safe to call from many workers at once)."""
        upgrade(self.engine)

    def close(self) -> None:
        self.engine.dispose()

    # -- store → ERP ----------------------------------------------------------------------------------------------

    def put_sales_order(self, connection: str, order: SalesOrder, *, also: AlsoInTransaction | None = None) -> ErpRef:
        """Write the order to ``sales_orders`` and its lines to ``sales_order_lines`` in one transaction.

        Keyed on (connection, store order id). A changed order bumps ``revision``, replaces the lines and sets
        ``erp_status`` to ``updated`` (unless the ERP has not read it yet: it stays ``new``); an identical order
        changes nothing. ``also`` runs in the same transaction (e.g. to record the binding).
        """
        _check_connection(connection)
        header, lines = self._sales_order_rows(connection, order)
        return self._write(lambda db: self._put_one(db, connection, order, header, lines), also)

    def put_sales_orders(self, connection: str, orders: Sequence[SalesOrder]) -> list[ErpRef | ErpRecordError]:
        """``put_sales_order`` for a page of orders in ONE transaction (the ``SalesOrderBatches`` capability): one
        commit instead of one per order, which was most of a big first sync's time.

        Same promises, order by order: keyed on (connection, store order id); an order the staging tables refuse
        (a value too long, an unknown item with ``require_known_items``, a value the database rejects) is that
        order's ``ErpRecordError`` in the result, and its rows are rolled back to a savepoint while the others
        commit. A unique-key race with another worker is settled by reading that order again. ``ErpUnavailable``
        when the database cannot be used at all: then nothing of the batch is written."""
        try:
            _check_connection(connection)
        except ErpRecordError as error:
            return [error for _ in orders]
        results: dict[int, ErpRef | ErpRecordError] = {}
        prepared = [
            (index, order, rows.sales_order_row(connection, order), rows.sales_order_lines(order))
            for index, order in enumerate(orders)
        ]
        # The whole page's values measured at once; only when one may not fit are the orders checked one by one,
        # each refused with the error check_fits names.
        if not (
            rows.all_fit(sales_orders, [header for _index, _order, header, _lines in prepared])
            and rows.all_fit(sales_order_lines, [line for _index, _order, _header, lines in prepared for line in lines])
        ):
            prepared = _accepted(prepared, results, _check_sales_order_fits)
        if prepared:
            with transaction(self.engine) as db:
                if self.require_known_items:
                    prepared = _accepted(
                        prepared, results, lambda order, _h, _l: self._check_known_items(db, connection, order)
                    )
                page = [(index, header, lines) for index, _order, header, lines in prepared]
                bulk = _upsert_sales_order_page(db, connection, page)
                if bulk is not None:
                    results.update(bulk)
                else:
                    for index, order, header, lines in prepared:
                        results[index] = _in_savepoint(db, partial(self._put_one, db, connection, order, header, lines))
        return [results[index] for index in range(len(orders))]

    def _put_one(
        self, db: Connection, connection: str, order: SalesOrder, header: rows.Row, lines: list[rows.Row]
    ) -> ErpRef:
        """One sales order in ``db``'s transaction: its items checked (with ``require_known_items``), then upserted."""
        if self.require_known_items:
            self._check_known_items(db, connection, order)
        return _upsert_sales_orders(db, connection, [(0, header, lines)])[0]

    def _sales_order_rows(self, connection: str, order: SalesOrder) -> tuple[rows.Row, list[rows.Row]]:
        """The order's header and line rows, checked to fit their columns (``ErpRecordError`` if one does not)."""
        header = rows.sales_order_row(connection, order)
        lines = rows.sales_order_lines(order)
        _check_sales_order_fits(order, header, lines)
        return header, lines

    def find_sales_order(self, connection: str, store_order_id: int) -> ErpRef | None:
        """The ``sales_orders`` row of this store order, if woobridge wrote one."""
        with transaction(self.engine, read_only=True) as db:
            found = db.execute(
                select(sales_orders.c.id, sales_orders.c.erp_document_no).where(
                    sales_orders.c.connection == connection, sales_orders.c.store_order_id == store_order_id
                )
            ).first()
        return None if found is None else ErpRef(str(found.id), found.erp_document_no or "", created=False)

    def put_customer(self, connection: str, customer: Customer, *, also: AlsoInTransaction | None = None) -> ErpRef:
        """Write the customer to ``customers``, keyed on ``id:<store id>`` or ``email:<e-mail>`` for a guest.

        A customer who registered after buying as a guest takes over the guest's row (its key becomes ``id:…``);
        a guest whose e-mail belongs to a registered customer is that customer (returned unchanged).
        """
        _check_connection(connection)
        if not customer.email and customer.is_guest:
            raise ErpRecordError("a guest customer needs an e-mail address: it is the only way to recognise them")
        what = f"customer {customer.store_customer_id or customer.email}"
        row = rows.customer_row(connection, customer)
        rows.check_fits(customers, row, what)

        def work(db: Connection) -> ErpRef:
            by_key = and_(customers.c.connection == connection, customers.c.customer_key == row["customer_key"])
            if _find(db, customers, by_key) is None and customer.email:
                if customer.is_guest:
                    registered = _find(
                        db,
                        customers,
                        and_(
                            customers.c.connection == connection,
                            customers.c.email == customer.email,
                            customers.c.store_customer_id > 0,
                        ),
                    )
                    if registered is not None:
                        return ErpRef(str(registered.id), registered.erp_document_no or "", created=False)
                else:
                    guest_key = rows.customer_key(0, customer.email)
                    by_guest = and_(customers.c.connection == connection, customers.c.customer_key == guest_key)
                    if _find(db, customers, by_guest) is not None:
                        by_key = by_guest  # the guest registered: same row, new key (set by the update)
            return _upsert_document(db, customers, by_key, row)

        return self._write(work, also)

    def put_credit_memo(self, connection: str, memo: CreditMemo, *, also: AlsoInTransaction | None = None) -> ErpRef:
        """Write a store refund to ``credit_memos`` + ``credit_memo_lines``, keyed on (connection, refund id)."""
        _check_connection(connection)
        if memo.store_refund_id <= 0:
            raise ErpRecordError(
                "a credit memo from the store needs the store's refund id (store_refund_id); "
                "memos made in the ERP belong in erp_credit_memos"
            )
        what = f"refund {memo.store_refund_id} of order {memo.store_order_id}"
        if memo.amount < 0 or any(line.amount < 0 or line.tax < 0 or line.quantity < 0 for line in memo.lines):
            raise ErpRecordError(f"{what}: credit memo amounts, taxes and quantities are positive numbers")
        header = rows.credit_memo_row(connection, memo)
        lines = rows.credit_memo_lines(memo)
        rows.check_fits(credit_memos, header, what)
        for line in lines:
            rows.check_fits(credit_memo_lines, line, f"{what}, line {line['line_no']}")

        def work(db: Connection) -> ErpRef:
            order = db.execute(
                select(sales_orders.c.id).where(
                    sales_orders.c.connection == connection, sales_orders.c.store_order_id == memo.store_order_id
                )
            ).scalar()
            values = {**header, "sales_order_id": order}
            key = and_(credit_memos.c.connection == connection, credit_memos.c.store_refund_id == memo.store_refund_id)
            return _upsert_document(db, credit_memos, key, values, credit_memo_lines, "credit_memo_id", lines)

        return self._write(work, also)

    def put_items(self, connection: str, items_: Sequence[Item]) -> list[ErpRef]:
        """First catalog import, store → ERP, in one transaction: an SKU the ERP already has (for this connection
        or all) only learns its store ids; an unknown SKU becomes an ``items`` row with ``source`` = ``store`` and
        ``erp_status`` = ``new`` for the ERP to take over. Refs come back in the order of ``items_``."""
        _check_connection(connection)
        seen: set[str] = set()
        prepared: list[tuple[Item, rows.Row, list[rows.Row]]] = []
        for item in items_:
            if not item.sku.strip():
                raise ErpRecordError(f"item {item.name!r} (store product {item.store_product_id}) has no SKU")
            if item.sku in seen:
                raise ErpRecordError(f"SKU {item.sku!r} appears twice in one import")
            seen.add(item.sku)
            row = rows.item_row(item)
            variants = rows.item_variant_rows(item)
            rows.check_fits(items, row, f"item {item.sku}")
            for variant in variants:
                rows.check_fits(item_variants, variant, f"item {item.sku}, variant {variant['sku']}")
            prepared.append((item, row, variants))

        def work(db: Connection) -> list[ErpRef]:
            return [_import_item(db, connection, item, row, variants) for item, row, variants in prepared]

        return self._write(work)

    # -- ERP → store ----------------------------------------------------------------------------------------------

    def pending_shipments(self, connection: str, *, limit: int | None = None) -> list[Shipment]:
        """``shipments`` rows of this connection with ``woo_status`` = ``pending``, oldest first. A row that makes
        no sense (no order id, a line without quantity…) is marked ``error`` with the reason and left out."""
        query = _raw(shipments).where(shipments.c.connection == connection, shipments.c.woo_status == "pending")
        return self._pending(
            query.order_by(shipments.c.id), limit, shipments, shipment_lines, "shipment_id", rows.shipment
        )

    def acknowledge_shipment(self, connection: str, erp_shipment_id: str, ack: Acknowledgement) -> None:
        """Record on the ``shipments`` row what woobridge did with it (``done`` / ``error``)."""
        self._acknowledge(
            shipments,
            and_(shipments.c.connection == connection, shipments.c.erp_shipment_id == erp_shipment_id),
            ack,
            f"no shipment {erp_shipment_id!r} for connection {connection!r} in the staging table shipments",
        )

    def pending_credit_memos(self, connection: str, *, limit: int | None = None) -> list[CreditMemo]:
        """``erp_credit_memos`` rows of this connection with ``woo_status`` = ``pending``, oldest first; rows that
        make no sense are marked ``error`` and left out."""
        query = _raw(erp_credit_memos).where(
            erp_credit_memos.c.connection == connection, erp_credit_memos.c.woo_status == "pending"
        )
        return self._pending(
            query.order_by(erp_credit_memos.c.id),
            limit,
            erp_credit_memos,
            erp_credit_memo_lines,
            "erp_credit_memo_id",
            rows.erp_credit_memo,
        )

    def acknowledge_credit_memo(self, connection: str, erp_memo_id: str, ack: Acknowledgement) -> None:
        """Record on the ``erp_credit_memos`` row what woobridge did with it."""
        self._acknowledge(
            erp_credit_memos,
            and_(erp_credit_memos.c.connection == connection, erp_credit_memos.c.erp_memo_id == erp_memo_id),
            ack,
            f"no credit memo {erp_memo_id!r} for connection {connection!r} in the staging table erp_credit_memos",
        )

    def stock_levels(self, connection: str, warehouses: Sequence[str] | None = None) -> list[StockLevel]:
        """Quantity per SKU from ``stock_levels``, summed over ``warehouses`` (all when None), sorted by SKU.

        A row for this connection replaces the shared row (connection NULL) of the same SKU and warehouse.
        ``warehouse`` on the result is the warehouse's name when one warehouse contributed, else empty.
        """
        query = _raw(stock_levels).where(_for_connection(stock_levels, connection))
        if warehouses is not None:
            query = query.where(stock_levels.c.warehouse.in_(list(warehouses)))
        with transaction(self.engine, read_only=True) as db:
            found = [row._asdict() for row in db.execute(query)]
        chosen: dict[tuple[str, str], tuple[Decimal, bool]] = {}
        bad: dict[int, str] = {}
        for row in found:
            try:
                sku = rows.string(row, "sku").strip()
                if not sku:
                    raise rows.BadRow("sku is empty")
                quantity = rows.amount(row, "quantity")
            except rows.BadRow as error:
                bad[row["id"]] = str(error)
                continue
            own = row["connection"] is not None
            key = (sku, rows.string(row, "warehouse"))
            if key not in chosen or (own and not chosen[key][1]):
                chosen[key] = (quantity, own)
        totals: dict[str, tuple[Decimal, set[str]]] = {}
        for (sku, warehouse), (quantity, _own) in chosen.items():
            total, names = totals.get(sku, (ZERO, set()))
            totals[sku] = (total + quantity, names | {warehouse})
        if bad:
            self._mark_bad(stock_levels, bad)
        return [
            StockLevel(sku=sku, quantity=total, warehouse=next(iter(names)) if len(names) == 1 else "")
            for sku, (total, names) in sorted(totals.items())
        ]

    def items(self, connection: str) -> list[Item]:
        """Every item the ERP wants in this store (``items`` rows for this connection or for all; the
        connection's own row wins), inactive ones included, sorted by SKU. Rows that make no sense are marked
        ``error`` and left out."""
        header_query = _raw(items).where(_for_connection(items, connection))
        with transaction(self.engine, read_only=True) as db:
            headers = [row._asdict() for row in db.execute(header_query)]
            variants = [
                row._asdict()
                for row in db.execute(
                    _raw(item_variants)
                    .join(items, items.c.id == item_variants.c.item_id)
                    .where(_for_connection(items, connection))
                    .order_by(item_variants.c.item_id, item_variants.c.position, item_variants.c.id)
                )
            ]
        chosen: dict[str, dict[str, Any]] = {}
        for header in headers:
            sku = rows.string(header, "sku").strip()
            if sku not in chosen or (header["connection"] is not None and chosen[sku]["connection"] is None):
                chosen[sku] = header
        by_item: dict[int, list[dict[str, Any]]] = {}
        for variant in variants:
            by_item.setdefault(variant["item_id"], []).append(variant)
        result: list[Item] = []
        bad: dict[int, str] = {}
        for sku in sorted(chosen):
            header = chosen[sku]
            try:
                result.append(rows.item(header, by_item.get(header["id"], [])))
            except rows.BadRow as error:
                bad[header["id"]] = str(error)
        if bad:
            self._mark_bad(items, bad)
        return result

    # -- acknowledgements beyond the port (the staging tables have a place for them) ------------------------------

    def acknowledge_item(self, connection: str, sku: str, ack: Acknowledgement) -> None:
        """Record on the ``items`` row of this SKU (the connection's own, else the shared one) what the products
        flow did with it. On a shared row the message names the connection."""
        self._acknowledge_shared(items, connection, sku, ack)

    def acknowledge_stock_level(self, connection: str, sku: str, ack: Acknowledgement) -> None:
        """Record on the ``stock_levels`` rows of this SKU what the inventory flow did with them."""
        self._acknowledge_shared(stock_levels, connection, sku, ack)

    def acknowledge_stock_levels(self, connection: str, acks: Mapping[str, Acknowledgement]) -> None:
        """``acknowledge_stock_level`` for many SKUs in one transaction (the inventory flow's end of run). Rows
        already saying the same are left as they are; SKUs without a row are skipped."""
        skus = sorted(acks)
        with transaction(self.engine) as db:
            for start in range(0, len(skus), 500):
                chunk = skus[start : start + 500]
                found = db.execute(
                    select(stock_levels.c.id, stock_levels.c.sku, stock_levels.c.connection).where(
                        stock_levels.c.sku.in_(chunk), _for_connection(stock_levels, connection)
                    )
                ).all()
                own = {row.sku for row in found if row.connection is not None}
                for row in found:
                    if row.connection is None and row.sku in own:
                        continue  # the connection's own row is the one it used
                    ack = acks[row.sku]
                    message = ack.message or ""
                    if message and row.connection is None:
                        message = f"[{connection}] {message}"
                    db.execute(
                        update(stock_levels)
                        .where(
                            stock_levels.c.id == row.id,
                            ~and_(
                                stock_levels.c.woo_status == ack.status,
                                func.coalesce(stock_levels.c.woo_message, "") == message,
                            ),
                        )
                        .values(**_ack_values(Acknowledgement(ack.status, message, ack.store_ref)))
                    )

    # -- internals ------------------------------------------------------------------------------------------------

    def _write(self, work: Callable[[Connection], T], also: AlsoInTransaction | None = None) -> T:
        for attempt in range(1, _ATTEMPTS + 1):
            in_also = False
            try:
                with transaction(self.engine) as db:
                    result = work(db)
                    if also is not None and isinstance(result, ErpRef):
                        in_also = True  # the caller's own writes: their errors are theirs, never retried here
                        also(db, result)
                    return result
            except sa_exc.IntegrityError as error:
                if in_also:
                    raise
                # Another worker inserted the same key between our read and our insert: read again, update.
                if attempt == _ATTEMPTS:
                    raise ErpRecordError(f"the staging database refused the record: {error.orig}") from error
                log.debug("unique key race on attempt %d, retrying: %s", attempt, error.orig)
        raise AssertionError("unreachable")

    def _check_known_items(self, db: Connection, connection: str, order: SalesOrder) -> None:
        for number, line in enumerate(order.lines, start=1):
            if not line.sku.strip():
                raise ErpRecordError(
                    f"order {order.store_order_id}, line {number} ({line.name!r}) has no SKU, and this staging "
                    "database takes known items only (require_known_items): give the product a SKU in the store"
                )
        wanted = {line.sku for line in order.lines}
        if not wanted:
            return
        known = set(
            db.execute(select(items.c.sku).where(items.c.sku.in_(wanted), _for_connection(items, connection)))
            .scalars()
            .all()
        )
        known |= set(
            db.execute(
                select(item_variants.c.sku)
                .join(items, items.c.id == item_variants.c.item_id)
                .where(item_variants.c.sku.in_(wanted), _for_connection(items, connection))
            )
            .scalars()
            .all()
        )
        for number, line in enumerate(order.lines, start=1):
            if line.sku not in known:
                raise ErpRecordError(
                    f"order {order.store_order_id}, line {number} ({line.name!r}): SKU {line.sku!r} is not in the "
                    "staging tables items / item_variants, and this staging database takes known items only "
                    "(require_known_items): add the item on the ERP side, then retry the order"
                )

    def _pending(
        self,
        query: Select[*tuple[Any, ...]],
        limit: int | None,
        header: Table,
        lines: Table,
        parent: str,
        build: Callable[[Mapping[str, Any], Sequence[Mapping[str, Any]]], T],
    ) -> list[T]:
        if limit is not None:
            query = query.limit(limit)
        with transaction(self.engine, read_only=True) as db:
            headers = [row._asdict() for row in db.execute(query)]
            children: dict[int, list[dict[str, Any]]] = {}
            ids = [h["id"] for h in headers]
            for start in range(0, len(ids), _IN_CHUNK):
                chunk = ids[start : start + _IN_CHUNK]
                line_query = _raw(lines).where(lines.c[parent].in_(chunk)).order_by(lines.c.id)
                for line in db.execute(line_query):
                    children.setdefault(line._mapping[parent], []).append(line._asdict())
        result: list[T] = []
        bad: dict[int, str] = {}
        for row in headers:
            try:
                result.append(build(row, children.get(row["id"], [])))
            except rows.BadRow as error:
                bad[row["id"]] = str(error)
        if bad:
            self._mark_bad(header, bad)
        return result

    def _mark_bad(self, table: Table, problems: Mapping[int, str]) -> None:
        """Tell the ERP side, on the row itself, why woobridge cannot use it; it stays out until fixed."""
        for row_id, problem in problems.items():
            log.warning("staging %s row %s cannot be used: %s", table.name, row_id, problem)
        now = _now()
        with transaction(self.engine) as db:
            for row_id, problem in problems.items():
                db.execute(
                    update(table)
                    .where(table.c.id == row_id)
                    .values(woo_status="error", woo_message=problem, woo_processed_at=now)
                )

    def _acknowledge(self, table: Table, key: ColumnElement[bool], ack: Acknowledgement, missing: str) -> None:
        with transaction(self.engine) as db:
            done = db.execute(update(table).where(key).values(**_ack_values(ack)))
            if done.rowcount == 0:
                raise ErpRecordError(missing)

    def _acknowledge_shared(self, table: Table, connection: str, sku: str, ack: Acknowledgement) -> None:
        with transaction(self.engine) as db:
            found = db.execute(
                select(table.c.id, table.c.connection).where(table.c.sku == sku, _for_connection(table, connection))
            ).all()
            own = [row.id for row in found if row.connection is not None]
            targets = own or [row.id for row in found]
            if not targets:
                raise ErpRecordError(f"no {table.name} row for SKU {sku!r} and connection {connection!r}")
            values = _ack_values(ack)
            if not own and values["woo_message"]:
                values["woo_message"] = f"[{connection}] {values['woo_message']}"
            db.execute(update(table).where(table.c.id.in_(targets)).values(**values))


# -- helpers ----------------------------------------------------------------------------------------------------------


def _check_connection(connection: str) -> None:
    if not connection or len(connection) > CONNECTION:
        raise ErpRecordError(f"connection name {connection!r} must have 1 to {CONNECTION} characters")


_Prepared = tuple[int, SalesOrder, rows.Row, list[rows.Row]]
"""An order of a page on its way to the staging tables: (its index in the page, the order, header row, line rows)."""


def _accepted(
    prepared: list[_Prepared],
    results: dict[int, ErpRef | ErpRecordError],
    check: Callable[[SalesOrder, rows.Row, list[rows.Row]], None],
) -> list[_Prepared]:
    """The orders ``check`` accepts; each one it refuses gets its ``ErpRecordError`` in ``results``."""
    accepted: list[_Prepared] = []
    for entry in prepared:
        index, order, header, lines = entry
        try:
            check(order, header, lines)
        except ErpRecordError as error:
            results[index] = error
            continue
        accepted.append(entry)
    return accepted


def _check_sales_order_fits(order: SalesOrder, header: rows.Row, lines: Sequence[rows.Row]) -> None:
    what = f"order {order.store_order_id}"
    rows.check_fits(sales_orders, header, what)
    for line in lines:
        rows.check_fits(sales_order_lines, line, f"{what}, line {line['line_no']}")


def _for_connection(table: Table, connection: str) -> ColumnElement[bool]:
    return or_(table.c.connection == connection, table.c.connection.is_(None))


def _raw(table: Table) -> Select[*tuple[Any, ...]]:
    """Select every column as the database holds it (no type processing): one bad value costs one row."""
    return select(*(type_coerce(column, NullType()).label(column.name) for column in table.columns))


def _find(db: Connection, table: Table, key: ColumnElement[bool]) -> Row[*tuple[Any, ...]] | None:
    query = select(table.c.id, table.c.revision, table.c.erp_status, table.c.erp_document_no, table.c.document)
    return db.execute(query.where(key).with_for_update()).first()


def _in_savepoint(db: Connection, work: Callable[[], ErpRef]) -> ErpRef | ErpRecordError:
    """One record of a batch inside a SAVEPOINT of the batch's transaction: what the database or the adapter
    refuses for it is rolled back alone and becomes its ``ErpRecordError``; a unique-key race with another worker
    is settled by trying again (the other worker's row is then found and updated)."""
    for attempt in range(1, _ATTEMPTS + 1):
        try:
            with db.begin_nested():
                return work()
        except ErpRecordError as error:
            return error
        except sa_exc.IntegrityError as error:
            if attempt == _ATTEMPTS:
                return ErpRecordError(f"the staging database refused the record: {error.orig}")
            log.debug("unique key race on attempt %d, retrying: %s", attempt, error.orig)
        except sa_exc.DataError as error:
            return ErpRecordError(f"the staging database refused a value: {' '.join(str(error.orig).split())}")
    raise AssertionError("unreachable")


def _upsert_sales_order_page(
    db: Connection, connection: str, page: Sequence[tuple[int, rows.Row, list[rows.Row]]]
) -> dict[int, ErpRef] | None:
    """A page of sales orders (index, header, lines) upserted in a handful of statements (see
    ``_upsert_sales_orders``). Refs by index.

    None when the page must go order by order instead (each in its savepoint, so that a refused order is its own
    error and a unique-key race is settled by reading again): the same store order twice in the page, or a
    statement the database refused — a value it rejects, or another worker that inserted one of these orders
    first. That attempt is rolled back whole first."""
    if not page:
        return {}
    store_ids = [header["store_order_id"] for _index, header, _lines in page]
    if len(set(store_ids)) != len(store_ids):
        return None
    try:
        with db.begin_nested():
            return _upsert_sales_orders(db, connection, page)
    except (sa_exc.IntegrityError, sa_exc.DataError) as error:
        log.debug("a page of sales orders goes order by order: %s", " ".join(str(error.orig).split()))
        return None


def _upsert_sales_orders(
    db: Connection, connection: str, page: Sequence[tuple[int, rows.Row, list[rows.Row]]]
) -> dict[int, ErpRef]:
    """Sales orders (index, header, lines; each store order once) inserted, or updated when their document
    changed: one SELECT of the rows already there, one INSERT (executemany) of the new headers and one SELECT of
    their ids, one UPDATE (executemany) of the changed ones, one DELETE of their old lines and one INSERT of every
    new line. A new order: revision 1, ``new``; a changed one: revision + 1, ``updated`` unless still ``new``
    (its lines replaced); an identical one: untouched. Refs by index. Used for one order too (``put_sales_order``
    and a page's order-by-order fallback), so every sales order is written the same way."""
    store_ids = [header["store_order_id"] for _index, header, _lines in page]
    existing = {row.store_order_id: row for row in _sales_orders_of(db, _STORED_ORDERS, connection, store_ids)}
    now = _now()
    refs: dict[int, ErpRef] = {}
    fresh: list[tuple[int, rows.Row, list[rows.Row]]] = []
    changed: list[tuple[Row[*tuple[Any, ...]], rows.Row, list[rows.Row]]] = []
    for index, header, lines in page:
        found = existing.get(header["store_order_id"])
        if found is None:
            fresh.append((index, header, lines))
            continue
        refs[index] = ErpRef(str(found.id), found.erp_document_no or "", created=False)
        if not _same_document(found.document, header["document"]):
            changed.append((found, header, lines))
    new_lines: list[rows.Row] = []
    if fresh:
        new_headers = [header for _index, header, _lines in fresh]
        _insert_many(
            db,
            sales_orders,
            new_headers,
            same={"revision": 1, "erp_status": "new", "created_at": now, "updated_at": now},
        )
        # The new rows' ids by their key (this transaction holds the keys: another worker's insert of one of
        # them fails on the unique key) — cheaper than an INSERT … RETURNING, which SQLite runs row by row when
        # the ids must come back in order.
        fresh_ids = [header["store_order_id"] for _index, header, _lines in fresh]
        row_ids = {row.store_order_id: row.id for row in _sales_orders_of(db, _ORDER_IDS, connection, fresh_ids)}
        for index, header, lines in fresh:
            row_id = row_ids[header["store_order_id"]]
            refs[index] = ErpRef(str(row_id), "", created=True)
            _set_parent(lines, row_id)
            new_lines.extend(lines)
    if changed:
        _update_many(
            db,
            sales_orders,
            [
                {**header, "erp_status": "new" if found.erp_status == "new" else "updated", "_row_id": found.id}
                for found, header, _lines in changed
            ],
            same={"updated_at": now},
        )
        changed_ids = [found.id for found, _header, _lines in changed]
        for start in range(0, len(changed_ids), _IN_CHUNK):
            chunk = changed_ids[start : start + _IN_CHUNK]
            db.execute(delete(sales_order_lines).where(sales_order_lines.c.sales_order_id.in_(chunk)))
        for found, _header, lines in changed:
            _set_parent(lines, found.id)
            new_lines.extend(lines)
    if new_lines:
        _insert_many(db, sales_order_lines, new_lines)
    return refs


def _set_parent(lines: Sequence[rows.Row], sales_order_id: int) -> None:
    # In place: the line rows are this call's own (built by _sales_order_rows), and a page has hundreds.
    for line in lines:
        line["sales_order_id"] = sales_order_id


# The page's looks at its sales_orders rows, built once with the store ids as ONE expanding parameter: building a
# select anew for every page and binding each of its ids on its own cost more than running it.
_ORDERS_OF_PAGE = (
    sales_orders.c.connection == bindparam("of_connection"),
    sales_orders.c.store_order_id.in_(bindparam("store_ids", expanding=True)),
)
# The rows already there, locked (FOR UPDATE); ``document`` as stored, for _same_document (the column's JSON type
# would decode every stored document).
_STORED_ORDERS = (
    select(
        sales_orders.c.id,
        sales_orders.c.store_order_id,
        sales_orders.c.erp_status,
        sales_orders.c.erp_document_no,
        cast(sales_orders.c.document, Text).label("document"),
    )
    .where(*_ORDERS_OF_PAGE)
    .with_for_update()
)
# The ids of the rows just inserted.
_ORDER_IDS = select(sales_orders.c.id, sales_orders.c.store_order_id).where(*_ORDERS_OF_PAGE)


def _sales_orders_of(
    db: Connection, query: Select[*tuple[Any, ...]], connection: str, store_ids: Sequence[int]
) -> list[Row[*tuple[Any, ...]]]:
    """The ``sales_orders`` rows of these store orders, as ``query`` (``_STORED_ORDERS``, ``_ORDER_IDS``) reads
    them."""
    found: list[Row[*tuple[Any, ...]]] = []
    for start in range(0, len(store_ids), _IN_CHUNK):
        found.extend(
            db.execute(query, {"of_connection": connection, "store_ids": store_ids[start : start + _IN_CHUNK]})
        )
    return found


def _same_document(stored: str | None, document: str) -> bool:
    """Whether the stored ``document`` text holds this document. The same document always dumps to the same
    text, so equal texts settle it without decoding; a row written otherwise (by an older woobridge, whose text was
    spaced and ASCII-escaped, or by hand) compares as JSON values, as it always did."""
    return stored == document or (stored is not None and json.loads(stored) == json.loads(document))


# -- writing many rows ----------------------------------------------------------------------------------------------
# A page's headers and lines go to the driver as one executemany each (see woobridge.executemany): SQLAlchemy's
# per-row processing was most of a page's CPU.


def _insert_many(
    db: Connection, table: Table, rows_: Sequence[Mapping[str, Any]], *, same: Mapping[str, Any] | None = None
) -> None:
    """INSERT ``rows_`` (all with the same columns) into ``table``; ``same``: values of further columns, the same
    in every row (converted once)."""
    same = same or {}
    _driver_statement(db.dialect, "insert", table, (*rows_[0], *same)).execute(db, rows_, same)


def _update_many(
    db: Connection, table: Table, rows_: Sequence[Mapping[str, Any]], *, same: Mapping[str, Any] | None = None
) -> None:
    """UPDATE the ``table`` row whose id is each row's ``_row_id`` with its other values (and ``same``'s), and add
    1 to its ``revision``."""
    same = same or {}
    _driver_statement(db.dialect, "update", table, (*rows_[0], *same)).execute(db, rows_, same)


# JSON columns given as JSON text already (see rows.document_json and rows.json_text): passed as they are.
_JSON_TEXT = frozenset(
    {(sales_orders.name, "document"), (sales_order_lines.name, "taxes"), (sales_order_lines.name, "attributes")}
)


def _bind_processor(
    table: Table, key: str, dialect: Dialect, column_type: TypeEngine[Any]
) -> Callable[[Any], Any] | None:
    """How a value of this column goes to the driver: its type's bind processor, the very function the Core would
    have called, but for two kinds of column that the rows hand over ready:

    * JSON text (``_JSON_TEXT``) goes as it is;
    * an amount is a Decimal already (rows.py makes them from documents), which ``Amount.process_bind_param``
      would pass as it is: only the database's own conversion is left (a float on SQLite, none on PostgreSQL),
      called directly rather than through the TypeDecorator's Python wrapper, some 2,000 times a page."""
    if (table.name, key) in _JSON_TEXT:
        return None
    if isinstance(column_type, Amount):
        return column_type.impl_instance.dialect_impl(dialect).bind_processor(dialect)
    return column_type.dialect_impl(dialect).bind_processor(dialect)


@functools.lru_cache(maxsize=32)
def _driver_statement(
    dialect: Dialect, kind: Literal["insert", "update"], table: Table, keys: tuple[str, ...]
) -> DriverStatement:
    statement: Insert | Update
    if kind == "insert":
        statement = insert(table)
    else:
        statement = (
            update(table)
            .where(table.c.id == bindparam("_row_id"))
            .values(revision=table.c.revision + literal_column("1"))  # literal: no parameter of its own
        )
    return driver_statement(statement, dialect, keys, lambda key, type_: _bind_processor(table, key, dialect, type_))


def _ack_values(ack: Acknowledgement) -> dict[str, Any]:
    return {
        "woo_status": ack.status,
        "woo_message": ack.message or None,
        "woo_ref": ack.store_ref or None,
        "woo_processed_at": _now(),
    }


def _upsert_document(
    db: Connection,
    table: Table,
    key: ColumnElement[bool],
    values: Mapping[str, Any],
    lines: Table | None = None,
    parent: str = "",
    line_rows: Sequence[Mapping[str, Any]] = (),
) -> ErpRef:
    """Insert the header (and lines), or update it and replace its lines when the document changed."""
    existing = _find(db, table, key)
    now = _now()
    if existing is None:
        # Values as execute() parameters, not .values(**…): the statement is then compiled once and cached, where
        # literal values made SQLAlchemy rebuild it for every order (most of a big first sync's time).
        inserted = db.execute(
            insert(table), {**values, "revision": 1, "erp_status": "new", "created_at": now, "updated_at": now}
        )
        row_id = _new_id(inserted)
        if lines is not None and line_rows:
            db.execute(insert(lines), [{**line, parent: row_id} for line in line_rows])
        return ErpRef(str(row_id), "", created=True)
    if existing.document != values["document"]:
        status = "new" if existing.erp_status == "new" else "updated"
        db.execute(
            update(table).where(table.c.id == bindparam("_row_id")).values(revision=table.c.revision + 1),
            {**values, "erp_status": status, "updated_at": now, "_row_id": existing.id},
        )
        if lines is not None:
            db.execute(delete(lines).where(lines.c[parent] == existing.id))
            if line_rows:
                db.execute(insert(lines), [{**line, parent: existing.id} for line in line_rows])
    return ErpRef(str(existing.id), existing.erp_document_no or "", created=False)


def _import_item(
    db: Connection, connection: str, item: Item, row: Mapping[str, Any], variants: Sequence[Mapping[str, Any]]
) -> ErpRef:
    found = db.execute(
        select(items.c.id, items.c.connection, items.c.source, items.c.erp_status)
        .where(items.c.sku == item.sku, _for_connection(items, connection))
        .with_for_update()
    ).all()
    existing = next((r for r in found if r.connection is not None), None) or next(iter(found), None)
    now = _now()
    if existing is None:
        inserted = db.execute(
            insert(items).values(
                **row,
                connection=connection,
                source="store",
                erp_status="new",
                woo_status="done",
                woo_ref=str(item.store_product_id) if item.store_product_id else None,
                woo_processed_at=now,
                created_at=now,
                updated_at=now,
            )
        )
        item_id = _new_id(inserted)
        if variants:
            db.execute(insert(item_variants), [{**variant, "item_id": item_id} for variant in variants])
        return ErpRef(str(item_id), "", created=True)
    if existing.source == "store" and existing.erp_status == "new":
        # Still only ours (the ERP has not taken it over): refresh it from the store.
        db.execute(update(items).where(items.c.id == existing.id).values(**row, updated_at=now))
        db.execute(delete(item_variants).where(item_variants.c.item_id == existing.id))
        if variants:
            db.execute(insert(item_variants), [{**variant, "item_id": existing.id} for variant in variants])
        return ErpRef(str(existing.id), "", created=False)
    # The ERP's item: it keeps its data and only learns where it is in the store.
    if item.store_product_id:
        db.execute(update(items).where(items.c.id == existing.id).values(store_product_id=item.store_product_id))
    for variant in item.variants:
        if variant.store_variation_id:
            db.execute(
                update(item_variants)
                .where(item_variants.c.item_id == existing.id, item_variants.c.sku == variant.sku)
                .values(store_variation_id=variant.store_variation_id)
            )
    return ErpRef(str(existing.id), "", created=False)


def _new_id(result: CursorResult[Any]) -> int:
    key = result.inserted_primary_key
    assert key is not None, "an INSERT of one row reports its primary key"
    return int(key[0])
