"""The customers flow (store → ERP): registered customers and guest buyers become ERP customers, each exactly once,
and their later changes follow them there.

WooCommerce's ``customers`` endpoint has no "modified since" filter, so the flow keeps the ERP current three ways:

1. **New customers**, every run: customers are read by id ascending from where the last run stopped (the cursor
   keeps the last id and how many customers came before it, so the read starts near the end; it steps back when
   customers were deleted meanwhile). A store with nothing new costs one request.
2. **A full sweep** on a schedule (default once a day, ``connection.settings["customers"]["sweep_hours"]``):
   every customer is read again, 100 a page, and only those whose document changed are sent. That catches
   changes made in "My account" or the admin, which touch no order.
3. **Customers touched by orders**, every run: the orders modified since the last run are read (only the few
   fields needed: ``customer_id``, ``billing``, ``shipping``, ``status``). The customers flow reads them itself
   rather than relying on the orders flow's bindings, so it stays correct whether or not the orders flow runs,
   and with nothing new it is one more request. Registered buyers among them are read by id
   (``customers?include=…``, 100 a request); **guest buyers** (``customer_id`` 0) are identified by their
   normalised billing e-mail, so a guest who orders ten times is one ERP customer, from their latest order.

Deciding is done on a **normalised form** of the customer (``documents.Address.normalized()``: letter case and
spacing do not count), whose digest is kept on the binding: a customer whose document did not change is skipped
without asking the ERP, and the same address typed twice differently is not a change. Writing is the ERP port's
idempotent ``put_customer`` (keyed ``id:<store id>`` or ``email:<e-mail>``) and then the binding:

* a customer is bound **by store id**, so one whose e-mail changes stays the same ERP customer;
* a guest is bound by e-mail; when they register, ``put_customer`` with their new id takes over the guest's ERP
  customer (the staging adapter re-keys the row), so they remain one customer;
* a customer the mapper cannot read (an invalid country or e-mail) or the ERP refuses becomes a **record error**
  and the run goes on; ``woobridge errors retry`` reads registered customers afresh.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from woobridge.documents import Address, Customer, normalize_email
from woobridge.erp.port import ErpPort, ErpRecordError
from woobridge.flows.context import SettingsError, client_for, erp_for, parse_moment, resolve_connection
from woobridge.flows.engine import FlowRun, RunSummary, digest, open_run, retry_handler
from woobridge.flows.order_mapping import OrderUnreadable, address
from woobridge.flows.orders import DEFAULT_OVERLAP, OrdersSettings
from woobridge.state import Connection, StateDB
from woobridge.woo.client import NO_RETRY, WooClient
from woobridge.woo.reading import IdOrderedReader
from woobridge.woo.throttle import AdaptiveConcurrency

log = logging.getLogger(__name__)

FLOW = "customers"
CUSTOMER = "customer"  # bindings and record errors of registered customers: by store customer id
GUEST = "guest"  # bindings and record errors of guest buyers: by normalised e-mail
DEFAULT_SWEEP = timedelta(hours=24)
ORDER_FIELDS = "id,customer_id,status,billing,shipping,date_modified_gmt"
MAX_CONCURRENCY = 8

Action = Literal["created", "updated", "unchanged", "failed", "skipped"]


@dataclass(frozen=True)
class CustomersSettings:
    """``connection.settings["customers"]``: ``sweep_hours`` (how often every customer is read again, 1–720),
    ``role`` (the WordPress role swept: ``customer``, or ``all`` for every user)."""

    sweep: timedelta = DEFAULT_SWEEP
    role: str = "customer"

    @classmethod
    def of(cls, connection: Connection) -> CustomersSettings:
        values = connection.flow_settings(FLOW)
        where = f"connection {connection.name!r}, customers setting"
        hours = values.get("sweep_hours", DEFAULT_SWEEP.total_seconds() / 3600)
        if not isinstance(hours, int | float) or isinstance(hours, bool) or not 1 <= hours <= 720:
            raise SettingsError(f"{where} 'sweep_hours' must be a number of hours from 1 to 720")
        role = values.get("role", "customer")
        if not isinstance(role, str) or not role.strip():
            raise SettingsError(f"{where} 'role' must be a WordPress role name such as 'customer', or 'all'")
        return cls(timedelta(hours=hours), role.strip())


# -- mapping (pure) --------------------------------------------------------------------------------------------------


def registered_customer(data: Mapping[str, Any]) -> Customer:
    """A store customer (``GET customers/{id}``) as an ERP customer. ``OrderUnreadable`` for an invalid address."""
    customer_id = data.get("id")
    if not isinstance(customer_id, int) or isinstance(customer_id, bool) or customer_id <= 0:
        raise OrderUnreadable(f"customer id {customer_id!r} is not a store customer id")
    billing = address(data.get("billing") or {}, "billing")
    shipping = address(data.get("shipping") or {}, "shipping")
    email = str(data.get("email") or "").strip() or billing.email
    return Customer(
        store_customer_id=customer_id,
        email=email,
        first_name=str(data.get("first_name") or "").strip() or billing.first_name,
        last_name=str(data.get("last_name") or "").strip() or billing.last_name,
        company=billing.company,
        phone=billing.phone,
        billing=billing,
        shipping=shipping,
    )


def guest_customer(order: Mapping[str, Any]) -> Customer:
    """The guest who placed ``order`` (``customer_id`` 0), known by the normalised billing e-mail."""
    billing = address(order.get("billing") or {}, "billing")
    shipping = address(order.get("shipping") or {}, "shipping")
    if not billing.email:
        raise OrderUnreadable(f"guest order {order.get('id')} has no billing e-mail: the guest cannot be recognised")
    return Customer(
        store_customer_id=0,
        email=billing.email,
        first_name=billing.first_name,
        last_name=billing.last_name,
        company=billing.company,
        phone=billing.phone,
        billing=billing,
        shipping=shipping,
    )


def _address_key(value: Address) -> list[str]:
    return [*value.normalized(), normalize_email(value.email), "".join(value.phone.split())]


def fingerprint(customer: Customer) -> str:
    """The digest of a customer's normalised form: spelling the same address or name with other letter case or
    spacing is not a change (the ERP keeps one copy of it)."""
    return digest(
        {
            "id": customer.store_customer_id,
            "email": customer.email,
            "name": [" ".join(part.split()).casefold() for part in (customer.first_name, customer.last_name)],
            "company": " ".join(customer.company.split()).casefold(),
            "phone": "".join(customer.phone.split()),
            "billing": _address_key(customer.billing),
            "shipping": _address_key(customer.shipping),
        }
    )


def latest_guest_orders(orders: Iterable[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    """The newest order (by modification, then id) of each guest e-mail: one ERP customer per guest."""
    newest: dict[str, Mapping[str, Any]] = {}
    for order in orders:
        email = normalize_email(str((order.get("billing") or {}).get("email") or ""))
        if not email:
            continue
        key = (str(order.get("date_modified_gmt") or ""), int(order.get("id") or 0))
        current = newest.get(email)
        if current is None or key > (str(current.get("date_modified_gmt") or ""), int(current.get("id") or 0)):
            newest[email] = order
    return newest


# -- what happened -------------------------------------------------------------------------------------------------


@dataclass
class CustomersReport:
    connection: str
    run: RunSummary | None = None
    full_sweep: bool = False
    counts: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(("read", "created", "updated", "unchanged", "failed", "skipped"), 0)
    )
    guests: int = 0
    orders_read: int = 0
    requests: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    MAX_FAILURES_SHOWN = 20

    def add(self, action: Action, key: str = "", message: str = "") -> None:
        self.counts[action] += 1
        if action == "failed" and len(self.failures) < self.MAX_FAILURES_SHOWN:
            self.failures.append((key, message))

    def to_dict(self) -> dict[str, Any]:
        return {
            "connection": self.connection,
            "run": self.run.to_dict() if self.run else None,
            "full_sweep": self.full_sweep,
            **self.counts,
            "guests": self.guests,
            "orders_read": self.orders_read,
            "requests": self.requests,
            "failures": [{"customer": key, "message": message} for key, message in self.failures],
            "notes": list(self.notes),
        }


# -- writing ---------------------------------------------------------------------------------------------------------


@dataclass
class _Writer:
    """Maps, compares with the binding's digest, puts and binds one batch of customers at a time."""

    connection: Connection
    erp: ErpPort
    run: FlowRun
    report: CustomersReport
    done: set[str] = field(default_factory=set)  # "customer:<id>" / "guest:<email>" handled in this run

    def registered(self, customers: Sequence[Mapping[str, Any]]) -> None:
        rows = [c for c in customers if isinstance(c, Mapping) and isinstance(c.get("id"), int)]
        fresh = [c for c in rows if f"{CUSTOMER}:{c['id']}" not in self.done]
        known = self.run.bindings(CUSTOMER, [str(c["id"]) for c in fresh])
        for data in fresh:
            key = str(data["id"])
            self.done.add(f"{CUSTOMER}:{key}")
            self.report.counts["read"] += 1
            try:
                customer = registered_customer(data)
            except OrderUnreadable as error:
                self._failed(CUSTOMER, key, error.reason, data)
                continue
            binding = known.get(key)
            self._put(CUSTOMER, key, customer, binding.digest if binding else None, binding is not None, data)

    def guests(self, orders: Iterable[Mapping[str, Any]]) -> None:
        newest = {
            email: order for email, order in latest_guest_orders(orders).items() if f"{GUEST}:{email}" not in self.done
        }
        known = self.run.bindings(GUEST, list(newest))
        for email, order in newest.items():
            self.done.add(f"{GUEST}:{email}")
            self.report.guests += 1
            try:
                customer = guest_customer(order)
            except OrderUnreadable as error:
                self._failed(GUEST, email, error.reason, order)
                continue
            binding = known.get(email)
            self._put(GUEST, email, customer, binding.digest if binding else None, binding is not None, order)

    def _put(self, resource: str, key: str, customer: Customer, bound: str | None, is_bound: bool, source: Any) -> None:
        print_ = fingerprint(customer)
        if is_bound and bound == print_:
            self.report.add("unchanged")
            return
        try:
            ref = self.erp.put_customer(self.connection.name, customer)
        except ErpRecordError as error:
            self._failed(resource, key, str(error), source)
            return
        self.run.bind(resource, key, ref.erp_id, erp_document_no=ref.document_no, digest=print_)
        self.report.add("updated" if is_bound or not ref.created else "created")

    def _failed(self, resource: str, key: str, reason: str, payload: Any) -> None:
        self.run.record_error(resource, key, reason, payload=payload)
        self.report.add("failed", f"{resource} {key}", reason)


# -- reading ---------------------------------------------------------------------------------------------------------


async def _customer_page(woo: WooClient, params: Mapping[str, Any], offset: int, report: CustomersReport) -> list[Any]:
    report.requests += 1
    page = await woo.get("customers", {**params, "offset": offset}, retry=NO_RETRY)
    return page if isinstance(page, list) else []


async def _new_customers(
    woo: WooClient, settings: CustomersSettings, cursor: Mapping[str, Any], report: CustomersReport
) -> tuple[list[dict[str, Any]], int, int]:
    """Customers with an id above the cursor's, read from near where the last run stopped; and the new
    (last id, how many customers up to it)."""
    last_id = int(cursor.get("last_id") or 0)
    offset = max(0, int(cursor.get("seen") or 0) - 1)
    params = {"role": settings.role, "orderby": "id", "order": "asc", "per_page": 100}
    page = await _customer_page(woo, params, offset, report)
    while offset > 0 and (not page or int(page[0].get("id") or 0) > last_id):
        offset = max(0, offset - 99)  # customers were deleted since: the last one seen is further back now
        page = await _customer_page(woo, params, offset, report)
    found: list[dict[str, Any]] = []
    while True:
        found.extend(c for c in page if isinstance(c, dict) and isinstance(c.get("id"), int) and c["id"] > last_id)
        if len(page) < 100:
            break
        offset += 100
        page = await _customer_page(woo, params, offset, report)
    return found, max([last_id, *(c["id"] for c in found)]), offset + len(page)


async def _customers_by_id(woo: WooClient, ids: Sequence[int], report: CustomersReport) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for start in range(0, len(ids), 100):
        chunk = list(ids[start : start + 100])
        report.requests += 1
        page = await woo.get("customers", {"include": chunk, "role": "all", "per_page": 100})
        if isinstance(page, list):
            found.extend(c for c in page if isinstance(c, dict))
    return found


# -- the run ---------------------------------------------------------------------------------------------------------


async def run(
    db: StateDB,
    connection: Connection | str,
    *,
    erp: ErpPort | None = None,
    services: Any = None,
    holder: str | None = None,
    woo: WooClient | None = None,
    full_sweep: bool | None = None,
    **_: Any,
) -> CustomersReport:
    """Bring the ERP's customers up to date (see the module's docstring). ``full_sweep``: force (True) or skip
    (False) the full sweep instead of following its schedule."""
    conn = resolve_connection(db, connection)
    settings = CustomersSettings.of(conn)
    orders_settings = OrdersSettings.of(conn)
    report = CustomersReport(conn.name)
    async with (
        erp_for(erp) as port,
        client_for(conn, services, woo, max_concurrency=orders_settings.max_concurrency) as client,
    ):
        async with open_run(db, conn, FLOW, holder=holder) as flow_run:
            await _sync(flow_run, conn, port, client, settings, orders_settings, report, full_sweep)
        report.run = flow_run.summary()
    return report


async def _sync(
    flow_run: FlowRun,
    connection: Connection,
    erp: ErpPort,
    woo: WooClient,
    settings: CustomersSettings,
    orders_settings: OrdersSettings,
    report: CustomersReport,
    full_sweep: bool | None,
) -> None:
    cursor = flow_run.cursor or {}
    writer = _Writer(connection, erp, flow_run, report)
    started = datetime.now(UTC)
    swept_at = parse_moment(cursor.get("swept_at"))
    due = swept_at is None or started - swept_at >= settings.sweep
    report.full_sweep = due if full_sweep is None else full_sweep
    before = woo.requests_sent
    last_id, seen = int(cursor.get("last_id") or 0), int(cursor.get("seen") or 0)
    if report.full_sweep:
        reader = IdOrderedReader(
            woo, "customers", {"role": settings.role}, throttle=AdaptiveConcurrency(MAX_CONCURRENCY)
        )
        async for page in reader.pages():
            await asyncio.to_thread(writer.registered, page)
            last_id = max([last_id, *(int(c["id"]) for c in page if isinstance(c.get("id"), int))])
        seen = reader.total or seen
        flow_run.message = "full sweep of every customer, and the buyers of changed orders"
    else:
        new, last_id, seen = await _new_customers(woo, settings, cursor, report)
        await asyncio.to_thread(writer.registered, new)
        flow_run.message = f"customers after id {cursor.get('last_id') or 0}, and the buyers of changed orders"

    # The buyers of orders changed since the last run.
    params: dict[str, Any] = {"status": "any", "dates_are_gmt": "true", "_fields": ORDER_FIELDS}
    window = parse_moment(cursor.get("orders_modified_after"))
    if window is not None:
        params["modified_after"] = window.strftime("%Y-%m-%dT%H:%M:%S")
    orders_reader = IdOrderedReader(woo, "orders", params, throttle=AdaptiveConcurrency(MAX_CONCURRENCY))
    buyers: set[int] = set()
    guest_orders: list[Mapping[str, Any]] = []
    async for orders in orders_reader.pages():
        report.orders_read += len(orders)
        for order in orders:
            if not isinstance(order, Mapping) or not orders_settings.qualifies(str(order.get("status"))):
                continue
            customer_id = order.get("customer_id")
            if isinstance(customer_id, int) and customer_id > 0:
                buyers.add(customer_id)
            else:
                guest_orders.append(order)
    wanted = sorted(b for b in buyers if f"{CUSTOMER}:{b}" not in writer.done)
    if wanted:
        await asyncio.to_thread(writer.registered, await _customers_by_id(woo, wanted, report))
    await asyncio.to_thread(writer.guests, guest_orders)
    report.requests = woo.requests_sent - before
    flow_run.count(
        read=report.counts["read"] + report.guests,
        created=report.counts["created"],
        updated=report.counts["updated"],
        skipped=report.counts["unchanged"],
        requests=report.requests,
    )
    # Every customer read is bound, unchanged or a record error: the cursor may move.
    store_started = orders_reader.store_started_at or started
    flow_run.save_cursor(
        {
            "last_id": last_id,
            "seen": seen,
            "swept_at": (started if report.full_sweep else swept_at or started).isoformat(),
            "orders_modified_after": (store_started - DEFAULT_OVERLAP).isoformat(),
        }
    )


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
) -> CustomersReport:
    """``woobridge errors retry``: registered customers are read afresh from the store; a guest is tried again
    from the order it was seen on (its stored payload). What goes through is bound, which closes its error."""
    conn = resolve_connection(db, connection)
    report = CustomersReport(conn.name)
    async with (
        erp_for(erp) as port,
        client_for(conn, services, woo, max_concurrency=OrdersSettings.of(conn).max_concurrency) as client,
    ):
        async with open_run(db, conn, FLOW, holder=holder) as flow_run:
            flow_run.message = f"retrying {len(errors)} record error(s)"
            writer = _Writer(conn, port, flow_run, report)
            ids = [int(e.store_id) for e in errors if e.resource == CUSTOMER and e.store_id.isdigit()]
            found = await _customers_by_id(client, ids, report) if ids else []
            await asyncio.to_thread(writer.registered, found)
            for gone in set(ids) - {int(c["id"]) for c in found if isinstance(c.get("id"), int)}:
                await asyncio.to_thread(flow_run.resolve_error, CUSTOMER, gone)  # deleted from the store since
            guests = [e.payload for e in errors if e.resource == GUEST and isinstance(e.payload, Mapping)]
            await asyncio.to_thread(writer.guests, guests)
        report.run = flow_run.summary()
    return report


__all__ = [
    "CUSTOMER",
    "FLOW",
    "GUEST",
    "CustomersReport",
    "CustomersSettings",
    "SettingsError",
    "fingerprint",
    "guest_customer",
    "latest_guest_orders",
    "registered_customer",
    "retry_errors",
    "run",
]
