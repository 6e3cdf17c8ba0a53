"""The run framework every flow uses: a lease, a run record, the cursor, bindings and record errors.

A flow's whole story reads like this::

    async with open_run(db, connection, "orders") as run:     # LeaseHeld if another run of it is going on
        window_start = (run.cursor or {}).get("modified_after")
        ...read a page from the store...
        known = run.bindings("order", [str(o["id"]) for o in page])
        for order in page:
            try:
                ref = erp.put_sales_order(connection.name, map_order(order))
            except ErpRecordError as error:
                run.record_error("order", str(order["id"]), error, payload=order)   # the run goes on
                continue
            run.bind("order", str(order["id"]), ref.erp_id, erp_document_no=ref.document_no)
            run.count(created=1)
        run.save_cursor({"modified_after": ...})               # only once every record is bound or an error

What it guarantees:

* **One run at a time** per connection and flow, across processes and machines: a row in ``leases`` taken with an
  atomic insert, or a conditional update of an expired lease (a crashed holder's lease expires after ``ttl``).
  The holder renews it in the background every ``ttl / 3``, and every durable write (``bind``, ``save_cursor``,
  ``record_error``) renews it *in the same transaction*: a run that lost its lease (it stalled past ``ttl`` and
  another took over) cannot write anything more — it gets :class:`LeaseLost` instead. Lease times use the
  database's clock on PostgreSQL, so machines with drifting clocks still agree.
* **Short units of work**: each write is its own small transaction committed at once; nothing holds a
  transaction across a network call, so a killed process loses at most the record it was on.
* **A history**: a ``runs`` row per run with its counts and outcome (``success``, ``partial`` when record errors
  were recorded, ``failed`` when the flow raised, ``interrupted`` when stopped or when its lease was lost; a run
  whose process died is marked ``interrupted`` by the next run that takes the lease).
* **Record errors** with exponential backoff (1 min, 2, 4 … up to 6 h), at most one open per record; binding the
  record later resolves it.

Nothing is kept in memory between runs; ``RETRY_HANDLERS`` is the only registry (filled by flows at import).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import secrets
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import orjson
from sqlalchemy import Connection as SAConnection
from sqlalchemy import CursorResult, Table, bindparam, delete, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from woobridge.documents import Document
from woobridge.executemany import DriverStatement, driver_statement
from woobridge.state import Connection, StateDB
from woobridge.state.connections import get_connection
from woobridge.state.models import Binding, Cursor, Lease, RecordError, Run

log = logging.getLogger(__name__)

DEFAULT_TTL = 60.0
LEASE_TTL_ENV = "WOOBRIDGE_LEASE_TTL"  # seconds; how soon a crashed run's lease can be taken over
RETRY_BASE = timedelta(minutes=1)
RETRY_CAP = timedelta(hours=6)
_IN_CHUNK = 500  # ids per IN (...) query: well under every database's parameter limit

__all__ = [
    "DEFAULT_TTL",
    "RETRY_HANDLERS",
    "BindingValues",
    "FlowRun",
    "LeaseHeld",
    "LeaseLost",
    "RetryHandler",
    "RunSummary",
    "UnknownRecordError",
    "acquire_lease",
    "backoff",
    "bound_digests",
    "current_lease",
    "default_holder",
    "digest",
    "get_error",
    "jsonable",
    "lease_ttl",
    "list_errors",
    "list_runs",
    "load_retry_handler",
    "open_run",
    "release_lease",
    "renew_lease",
    "resolve_error",
    "retry_handler",
]


# -- errors --------------------------------------------------------------------------------------------------------


class LeaseHeld(Exception):
    """Another run of this flow for this connection is going on (or died less than ``ttl`` ago)."""

    def __init__(self, connection: str, flow: str, holder: str, expires_at: datetime | None) -> None:
        until = f"; if that process died, its lease expires at {expires_at:%Y-%m-%d %H:%M:%S} UTC" if expires_at else ""
        super().__init__(
            f"the {flow} flow for connection {connection!r} is already running (held by {holder}){until}. "
            "Wait for it to finish, or try again after the lease expires."
        )
        self.connection = connection
        self.flow = flow
        self.holder = holder
        self.expires_at = expires_at


class LeaseLost(Exception):
    """This run no longer holds its lease (it stalled longer than the lease's ttl and another run took over), so it
    must not write anything more. Nothing it wrote before is lost; the run that took over carries on."""


class UnknownRecordError(LookupError):
    """No record error has that id."""

    def __init__(self, error_id: int) -> None:
        super().__init__(f"no record error with id {error_id} (list them with: woobridge errors --all)")
        self.error_id = error_id


# -- small pure helpers ---------------------------------------------------------------------------------------------


def backoff(attempts: int) -> timedelta:
    """How long to wait before retrying a record that failed ``attempts`` times: 1 min, 2, 4, … capped at 6 h."""
    exponent = max(0, min(attempts - 1, 20))
    delay: timedelta = RETRY_BASE * (2**exponent)
    return min(delay, RETRY_CAP)


def lease_ttl(environ: Mapping[str, str] | None = None) -> float:
    """The lease ttl: ``WOOBRIDGE_LEASE_TTL`` seconds (0.5 to 3600) when set, else ``DEFAULT_TTL`` (also,
    with a warning, when the variable holds something else). A shorter ttl
    lets a run take over sooner after its predecessor's process died, at the cost of more frequent heartbeats."""
    text_ = (os.environ if environ is None else environ).get(LEASE_TTL_ENV, "").strip()
    if not text_:
        return DEFAULT_TTL
    try:
        value = float(text_)
    except ValueError:
        value = float("nan")
    if not 0.5 <= value <= 3600:
        log.warning("%s=%r is not a number of seconds from 0.5 to 3600: using %g s", LEASE_TTL_ENV, text_, DEFAULT_TTL)
        return DEFAULT_TTL
    return value


def default_holder() -> str:
    """Who holds a lease: host, process and a random tag (two runs in one process are distinct holders)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


def jsonable(value: Any) -> Any:
    """A JSON-native copy of ``value`` (pydantic models dumped, Decimals and dates as strings, bytes decoded), so a
    record error's payload can always be stored, whatever the flow hands over."""
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        value = dump(mode="json")
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8", errors="replace")
    return json.loads(json.dumps(value, default=str, ensure_ascii=False))


def digest(value: Any) -> str:
    """A stable hash of what is sent to the ERP (canonical JSON, SHA-256): equal digests mean nothing changed."""
    if isinstance(value, Document):
        # Its JSON values, dumped once per document (the staging rows read them too).
        native: Any = value.json_values
        # orjson writes the very bytes of the json.dumps below (sorted keys, no spaces, UTF-8) about five times
        # faster, for what a document's dump holds: strings, integers, booleans, nulls, lists and objects. Not
        # floats, which it would write otherwise ("1e16", and null for NaN), so no document has a float field
        # (tests/engine/test_digest.py checks it, and that both give the same digests). What it refuses (an
        # integer beyond 64 bits, a lone surrogate) goes the slow way and hashes or fails as before.
        with contextlib.suppress(orjson.JSONEncodeError):
            return hashlib.sha256(orjson.dumps(native, option=orjson.OPT_SORT_KEYS)).hexdigest()
    else:
        # Another pydantic model dumps to JSON-native values already: hashed as they are (the same text jsonable's
        # round trip through JSON would give, without parsing the value twice).
        dump = getattr(value, "model_dump", None)
        native = dump(mode="json") if callable(dump) else jsonable(value)
    canonical = json.dumps(native, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _rowcount(result: Any) -> int:
    return int(cast(CursorResult[Any], result).rowcount)


Executor = Session | SAConnection  # a unit of work of ours, or a caller's transaction on the state database


def _dialect(executor: Executor) -> str:
    return executor.dialect.name if isinstance(executor, SAConnection) else executor.get_bind().dialect.name


def _db_now(session: Executor) -> datetime:
    """The database's clock for lease times (PostgreSQL: shared by every machine); this machine's for SQLite."""
    if _dialect(session) == "postgresql":
        value = session.scalar(text("SELECT timezone('UTC', clock_timestamp())"))
        if isinstance(value, datetime):
            return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return _utcnow()


def _insert(session: Executor, model: Any) -> Any:
    """An INSERT that can say ON CONFLICT (PostgreSQL and SQLite)."""
    dialect = _dialect(session)
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(model)
    if dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        return sqlite_insert(model)
    raise NotImplementedError(f"woobridge's state database runs on SQLite or PostgreSQL, not {dialect}")


def _error_text(error: BaseException | str) -> tuple[str, str]:
    if isinstance(error, str):
        return "Error", error
    message = str(error) or repr(error)
    return type(error).__name__, message


def _connection_id(connection: Connection | str | int | None, session: Session) -> int | None:
    if connection is None:
        return None
    if isinstance(connection, Connection):
        return connection.id
    if isinstance(connection, int):
        return connection
    return get_connection(session, connection).id


# -- statements every page runs --------------------------------------------------------------------------------------
#
# Built once, each id list as ONE expanding parameter: building them anew and binding every id of a page on its own
# was most of what a page's bindings cost (the orders flow looks a page up and binds it, page after page).

_BINDINGS = cast(Table, Binding.__table__)
_ERRORS = cast(Table, RecordError.__table__)

_BOUND_DIGESTS = select(_BINDINGS.c.store_id, _BINDINGS.c.digest).where(
    _BINDINGS.c.connection_id == bindparam("of_connection"),
    _BINDINGS.c.resource == bindparam("of_resource"),
    _BINDINGS.c.store_id.in_(bindparam("store_ids", expanding=True)),
)

# A record bound is synced: its open error (if any) is resolved. (Parameters named after a column are reserved in
# an UPDATE: hence ``of_*``.)
_RESOLVE_SYNCED = (
    update(_ERRORS)
    .where(
        _ERRORS.c.connection_id == bindparam("of_connection"),
        _ERRORS.c.flow == bindparam("of_flow"),
        _ERRORS.c.resource == bindparam("of_resource"),
        _ERRORS.c.store_id.in_(bindparam("store_ids", expanding=True)),
        _ERRORS.c.resolved_at.is_(None),
    )
    .values(
        resolved_at=bindparam("resolved_now", type_=_ERRORS.c.resolved_at.type),
        resolution="synced",
        next_retry_at=None,
    )
)

# Every write of a run renews its lease (bind_many once a page).
_LEASES = cast(Table, Lease.__table__)
_RENEW_LEASE = (
    update(_LEASES)
    .where(
        _LEASES.c.connection_id == bindparam("of_connection"),
        _LEASES.c.flow == bindparam("of_flow"),
        _LEASES.c.holder == bindparam("of_holder"),
    )
    .values(expires_at=bindparam("expires", type_=_LEASES.c.expires_at.type))
)

_BINDING_UPSERTS: dict[tuple[str, str], DriverStatement] = {}  # by database kind and driver
# A binding's own values; the batch's connection, resource and time are the same in every row (converted once).
_BINDING_VALUES = ("store_id", "erp_id", "erp_document_no", "store_modified", "digest")
_BATCH_VALUES = ("connection_id", "resource", "created_at", "updated_at")


def _binding_upsert(connection: SAConnection) -> DriverStatement:
    """INSERT a binding, or UPDATE the one the record has: one statement per database kind, made once, and sent to
    the driver as one executemany for a batch (see woobridge.executemany)."""
    dialect = connection.dialect
    upsert = _BINDING_UPSERTS.get((dialect.name, dialect.driver))
    if upsert is None:
        statement = _insert(connection, _BINDINGS)
        changed = ("erp_id", "erp_document_no", "store_modified", "digest", "updated_at")
        upsert = _BINDING_UPSERTS[dialect.name, dialect.driver] = driver_statement(
            statement.on_conflict_do_update(
                index_elements=["connection_id", "resource", "store_id"],
                set_={name: statement.excluded[name] for name in changed},
            ),
            dialect,
            (*_BINDING_VALUES, *_BATCH_VALUES),
        )
    return upsert


def bound_digests(
    db: StateDB, connection_id: int, resource: str, store_ids: Iterable[str | int]
) -> dict[str, str | None]:
    """The digest of each bound record among ``store_ids``, by store id (records never bound are absent)."""
    wanted = list(dict.fromkeys(str(store_id) for store_id in store_ids))
    found: dict[str, str | None] = {}
    with db.session() as session:
        for start in range(0, len(wanted), _IN_CHUNK):
            chunk = wanted[start : start + _IN_CHUNK]
            rows = session.execute(
                _BOUND_DIGESTS, {"of_connection": connection_id, "of_resource": resource, "store_ids": chunk}
            )
            found.update((store_id, digest_) for store_id, digest_ in rows)
    return found


# -- leases ---------------------------------------------------------------------------------------------------------


def acquire_lease(session: Session, connection_id: int, flow: str, holder: str, ttl: float) -> Lease | None:
    """Take the lease if it is free, expired, or already ours; ``None`` when someone else holds it.

    Race-free on PostgreSQL: the insert is ON CONFLICT DO NOTHING, and the takeover is one conditional UPDATE whose
    WHERE is re-checked on the row's newest version when two takers collide — only one of them sees a row count.
    """
    now = _db_now(session)
    expires = now + timedelta(seconds=ttl)
    inserted = session.execute(
        _insert(session, Lease)
        .values(connection_id=connection_id, flow=flow, holder=holder, acquired_at=now, expires_at=expires)
        .on_conflict_do_nothing(index_elements=["connection_id", "flow"])
    )
    if _rowcount(inserted) != 1:
        taken = session.execute(
            update(Lease)
            .where(Lease.connection_id == connection_id, Lease.flow == flow)
            .where((Lease.expires_at < now) | (Lease.holder == holder))
            .values(holder=holder, acquired_at=now, expires_at=expires)
            .execution_options(synchronize_session=False)
        )
        if _rowcount(taken) != 1:
            return None
    return Lease(connection_id=connection_id, flow=flow, holder=holder, acquired_at=now, expires_at=expires)


def renew_lease(session: Executor, connection_id: int, flow: str, holder: str, ttl: float) -> bool:
    """Push our lease's expiry ``ttl`` seconds ahead; ``False`` when it is no longer ours."""
    now = _db_now(session)
    renewed = session.execute(
        _RENEW_LEASE,
        {
            "of_connection": connection_id,
            "of_flow": flow,
            "of_holder": holder,
            "expires": now + timedelta(seconds=ttl),
        },
    )
    return _rowcount(renewed) == 1


def release_lease(session: Session, connection_id: int, flow: str, holder: str) -> None:
    """Give the lease up (only if it is still ours)."""
    session.execute(
        delete(Lease)
        .where(Lease.connection_id == connection_id, Lease.flow == flow, Lease.holder == holder)
        .execution_options(synchronize_session=False)
    )


def current_lease(session: Session, connection_id: int, flow: str) -> Lease | None:
    return session.get(Lease, (connection_id, flow))


# -- the summary of a run -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunSummary:
    """What one run did, for the CLI, the web page and the flow's own report."""

    id: int
    connection: str
    flow: str
    outcome: str
    started_at: datetime
    ended_at: datetime | None = None
    read: int = 0
    created: int = 0
    updated: int = 0
    skipped: int = 0
    failed: int = 0
    requests: int = 0
    message: str | None = None
    holder: str = ""

    @property
    def duration(self) -> float | None:
        """Seconds from start to end (``None`` while running)."""
        if self.ended_at is None:
            return None
        return (self.ended_at - self.started_at).total_seconds()

    @property
    def counts(self) -> dict[str, int]:
        return {
            "read": self.read,
            "created": self.created,
            "updated": self.updated,
            "skipped": self.skipped,
            "failed": self.failed,
            "requests": self.requests,
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "connection": self.connection,
            "flow": self.flow,
            "outcome": self.outcome,
            "started_at": self.started_at.isoformat(),
            "ended_at": self.ended_at.isoformat() if self.ended_at else None,
            "duration": self.duration,
            **self.counts,
            "message": self.message,
            "holder": self.holder,
        }

    @classmethod
    def of(cls, run: Run, connection_name: str) -> RunSummary:
        return cls(
            id=run.id,
            connection=connection_name,
            flow=run.flow,
            outcome=run.outcome,
            started_at=run.started_at,
            ended_at=run.ended_at,
            read=run.read,
            created=run.created,
            updated=run.updated,
            skipped=run.skipped,
            failed=run.failed,
            requests=run.requests,
            message=run.message,
            holder=run.holder,
        )


_COUNTERS = ("read", "created", "updated", "skipped", "failed", "requests")


# -- one run --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BindingValues:
    """One binding for :meth:`FlowRun.bind_many`: the store record, its ERP record, and what was sent."""

    store_id: str | int
    erp_id: str
    erp_document_no: str = ""
    store_modified: datetime | None = None
    digest: str | None = None


@dataclass
class FlowRun:
    """One run of one flow for one connection, handed out by :func:`open_run`. Every method that writes commits at
    once in its own short transaction, after checking (and renewing) the lease in that same transaction."""

    db: StateDB
    connection: Connection
    flow: str
    id: int
    holder: str
    ttl: float
    started_at: datetime
    _cursor: dict[str, Any] | None = None
    message: str | None = None  # a line for the run's history (e.g. the window read); set it freely
    _counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(_COUNTERS, 0))
    _outcome: str = "running"
    _ended_at: datetime | None = None
    _lost: bool = False
    _renewed: float = field(default_factory=time.monotonic)

    # -- cursor ------------------------------------------------------------------------------------------------

    @property
    def cursor(self) -> dict[str, Any] | None:
        """This flow's cursor for this connection (as saved by the last ``save_cursor``), or ``None`` at first."""
        return None if self._cursor is None else dict(self._cursor)

    def save_cursor(self, value: Mapping[str, Any]) -> None:
        """Move the cursor; durable when this returns. Call it only once everything before it is bound or an error."""
        stored = jsonable(dict(value))
        with self._write() as session:
            session.execute(
                _insert(session, Cursor)
                .values(connection_id=self.connection.id, flow=self.flow, value=stored, updated_at=_utcnow())
                .on_conflict_do_update(
                    index_elements=["connection_id", "flow"], set_={"value": stored, "updated_at": _utcnow()}
                )
            )
        self._cursor = stored

    # -- bindings ----------------------------------------------------------------------------------------------

    def binding(self, resource: str, store_id: str | int) -> Binding | None:
        """The binding of one store record, or ``None`` when it was never sent to the ERP."""
        with self.db.session() as session:
            return session.scalar(
                select(Binding).where(
                    Binding.connection_id == self.connection.id,
                    Binding.resource == resource,
                    Binding.store_id == str(store_id),
                )
            )

    def bindings(self, resource: str, store_ids: Iterable[str | int]) -> dict[str, Binding]:
        """The bindings of a page of store records, by store id (records never sent are absent): one query a page."""
        wanted = list(dict.fromkeys(str(store_id) for store_id in store_ids))
        found: dict[str, Binding] = {}
        with self.db.session() as session:
            for start in range(0, len(wanted), _IN_CHUNK):
                chunk = wanted[start : start + _IN_CHUNK]
                query = select(Binding).where(
                    Binding.connection_id == self.connection.id,
                    Binding.resource == resource,
                    Binding.store_id.in_(chunk),
                )
                found.update((binding.store_id, binding) for binding in session.scalars(query))
        return found

    def binding_digests(self, resource: str, store_ids: Iterable[str | int]) -> dict[str, str | None]:
        """The digest of each bound record of a page, by store id (records never sent are absent): ``bindings``
        for a flow that only compares digests, in one query a page and without loading whole bindings."""
        return bound_digests(self.db, self.connection.id, resource, store_ids)

    def bind(
        self,
        resource: str,
        store_id: str | int,
        erp_id: str,
        *,
        erp_document_no: str = "",
        store_modified: datetime | None = None,
        digest: str | None = None,
    ) -> Binding:
        """Record that this store record is that ERP record (create, or update: the binding becomes what is passed,
        so pass ``store_modified`` and ``digest`` every time); durable when this returns. An open record error of
        this flow for the record is resolved in the same transaction."""
        key = str(store_id)
        with self._write() as session:
            self._bind(session, resource, key, erp_id, erp_document_no, store_modified, digest)
            binding = session.scalars(
                select(Binding)
                .where(
                    Binding.connection_id == self.connection.id,
                    Binding.resource == resource,
                    Binding.store_id == key,
                )
                .execution_options(populate_existing=True)
            ).one()
        return binding

    def bind_many(self, resource: str, bindings: Iterable[BindingValues]) -> None:
        """``bind`` for a batch of records (e.g. a page) in ONE short transaction: one lease renewal, one upsert of
        every binding, one statement resolving their open errors. Durable when this returns; all or nothing. A
        flow that writes the ERP first and binds a page afterwards loses nothing if it dies in between: the next
        run writes those records again, and idempotent ``put_*`` make that an update."""
        rows = list(bindings)
        if not rows:
            return
        now = _utcnow()
        connection_id = self.connection.id
        values = [
            {
                "store_id": str(row.store_id),
                "erp_id": str(row.erp_id),
                "erp_document_no": row.erp_document_no or "",
                "store_modified": row.store_modified,
                "digest": row.digest,
            }
            for row in rows
        ]
        batch = {"connection_id": connection_id, "resource": resource, "created_at": now, "updated_at": now}
        keys = [value["store_id"] for value in values]
        with self._write() as session:
            connection = session.connection()
            _binding_upsert(connection).execute(connection, values, batch)
            for start in range(0, len(keys), _IN_CHUNK):
                session.execute(
                    _RESOLVE_SYNCED,
                    {
                        "of_connection": connection_id,
                        "of_flow": self.flow,
                        "of_resource": resource,
                        "store_ids": keys[start : start + _IN_CHUNK],
                        "resolved_now": now,
                    },
                )

    def bind_in(
        self,
        transaction: SAConnection,
        resource: str,
        store_id: str | int,
        erp_id: str,
        *,
        erp_document_no: str = "",
        store_modified: datetime | None = None,
        digest: str | None = None,
    ) -> None:
        """``bind`` inside a transaction the caller commits — e.g. the staging adapter's ``also`` hook, when the
        staging tables live in the state database: the binding then commits together with the ERP rows, or not at
        all. ``transaction`` must be a connection to *this* state database. The lease is checked (and renewed) in
        that transaction too: :class:`LeaseLost` makes it roll back."""
        self.check_lease()
        if not renew_lease(transaction, self.connection.id, self.flow, self.holder, self.ttl):
            self._lost = True
            raise LeaseLost(self._lost_message())
        self._bind(transaction, resource, str(store_id), erp_id, erp_document_no, store_modified, digest)

    def _bind(
        self,
        executor: Executor,
        resource: str,
        key: str,
        erp_id: str,
        erp_document_no: str,
        store_modified: datetime | None,
        digest: str | None,
    ) -> None:
        now = _utcnow()
        values: dict[str, Any] = {
            "erp_id": str(erp_id),
            "erp_document_no": erp_document_no or "",
            "store_modified": store_modified,
            "digest": digest,
            "updated_at": now,
        }
        executor.execute(
            _insert(executor, Binding.__table__)
            .values(connection_id=self.connection.id, resource=resource, store_id=key, created_at=now, **values)
            .on_conflict_do_update(index_elements=["connection_id", "resource", "store_id"], set_=values)
        )
        self._resolve(executor, resource, key, now)

    # -- record errors -----------------------------------------------------------------------------------------

    def record_error(
        self, resource: str, store_id: str | int, error: BaseException | str, payload: Any = None
    ) -> RecordError:
        """Record that this record could not be synced, and go on. A record that already has an open error gets
        one more attempt counted (and its message and payload refreshed); the next retry is pushed back
        exponentially. Counts one ``failed``."""
        key = str(store_id)
        error_class, message = _error_text(error)
        stored_payload = None if payload is None else jsonable(payload)
        now = _utcnow()
        with self._write() as session:
            record = self._upsert_error(session, resource, key, error_class, message, stored_payload, now)
        self._counts["failed"] += 1
        log.info("record error: %s %s %s: %s: %s", self.flow, resource, key, error_class, message)
        return record

    def _upsert_error(
        self,
        session: Session,
        resource: str,
        key: str,
        error_class: str,
        message: str,
        payload: Any,
        now: datetime,
    ) -> RecordError:
        where = (
            RecordError.connection_id == self.connection.id,
            RecordError.flow == self.flow,
            RecordError.resource == resource,
            RecordError.store_id == key,
            RecordError.resolved_at.is_(None),
        )
        changes: dict[str, Any] = {
            "attempts": RecordError.attempts + 1,
            "error_class": error_class,
            "message": message,
            "last_seen": now,
            "run_id": self.id,
        }
        if payload is not None:
            changes["payload"] = payload
        bumped = session.execute(
            update(RecordError).where(*where).values(**changes).execution_options(synchronize_session=False)
        )
        if _rowcount(bumped) == 0:
            record = RecordError(
                connection_id=self.connection.id,
                flow=self.flow,
                resource=resource,
                store_id=key,
                payload=payload,
                error_class=error_class,
                message=message,
                attempts=1,
                first_seen=now,
                last_seen=now,
                next_retry_at=now + backoff(1),
                run_id=self.id,
            )
            try:
                with session.begin_nested():
                    session.add(record)
                return record
            except IntegrityError:
                # Another writer opened it between our update and insert (a retry command racing a sync): count
                # this attempt on theirs.
                session.execute(
                    update(RecordError).where(*where).values(**changes).execution_options(synchronize_session=False)
                )
        record = session.scalars(select(RecordError).where(*where).execution_options(populate_existing=True)).one()
        record.next_retry_at = now + backoff(record.attempts)
        session.flush()
        return record

    def resolve_error(self, resource: str, store_id: str | int) -> bool:
        """Close this record's open error without a binding (e.g. the record no longer qualifies); ``True`` if one
        was open."""
        with self._write() as session:
            return self._resolve(session, resource, str(store_id), _utcnow(), resolution="synced")

    def _resolve(self, session: Executor, resource: str, key: str, now: datetime, resolution: str = "synced") -> bool:
        resolved = session.execute(
            update(RecordError)
            .where(
                RecordError.connection_id == self.connection.id,
                RecordError.flow == self.flow,
                RecordError.resource == resource,
                RecordError.store_id == key,
                RecordError.resolved_at.is_(None),
            )
            .values(resolved_at=now, resolution=resolution, next_retry_at=None)
            .execution_options(synchronize_session=False)
        )
        return _rowcount(resolved) > 0

    def open_errors(self, resource: str | None = None, *, limit: int | None = None) -> list[RecordError]:
        """This flow's open record errors for this connection that are due for a retry (oldest first)."""
        query = select(RecordError).where(
            RecordError.connection_id == self.connection.id,
            RecordError.flow == self.flow,
            RecordError.resolved_at.is_(None),
            RecordError.next_retry_at <= _utcnow(),
        )
        if resource is not None:
            query = query.where(RecordError.resource == resource)
        query = query.order_by(RecordError.first_seen, RecordError.id)
        if limit is not None:
            query = query.limit(limit)
        with self.db.session() as session:
            return list(session.scalars(query))

    # -- counts and summary ------------------------------------------------------------------------------------

    def count(
        self, read: int = 0, created: int = 0, updated: int = 0, skipped: int = 0, failed: int = 0, requests: int = 0
    ) -> None:
        """Add to the run's counters (kept in memory, written with each heartbeat and at the end).
        ``record_error`` already counts ``failed``: don't count it twice."""
        for name, amount in (
            ("read", read),
            ("created", created),
            ("updated", updated),
            ("skipped", skipped),
            ("failed", failed),
            ("requests", requests),
        ):
            self._counts[name] += amount

    @property
    def counts(self) -> dict[str, int]:
        return dict(self._counts)

    @property
    def outcome(self) -> str:
        return self._outcome

    def summary(self) -> RunSummary:
        """What the run did so far (or in all, once it ended)."""
        return RunSummary(
            id=self.id,
            connection=self.connection.name,
            flow=self.flow,
            outcome=self._outcome,
            started_at=self.started_at,
            ended_at=self._ended_at,
            message=self.message,
            holder=self.holder,
            **self._counts,
        )

    # -- the lease ---------------------------------------------------------------------------------------------

    @property
    def lease_lost(self) -> bool:
        return self._lost

    def check_lease(self) -> None:
        """Raise :class:`LeaseLost` if the heartbeat found the lease taken over (writes check it themselves)."""
        if self._lost:
            raise LeaseLost(self._lost_message())

    def _lost_message(self) -> str:
        return (
            f"the {self.flow} run {self.id} for connection {self.connection.name!r} lost its lease (it stalled "
            f"longer than {self.ttl:g} s and another run took over); it stopped writing"
        )

    @contextlib.contextmanager
    def _write(self) -> Iterator[Session]:
        """A unit of work fenced by the lease: renewed in the same transaction, or LeaseLost and nothing written."""
        self.check_lease()
        with self.db.session() as session:
            if not renew_lease(session, self.connection.id, self.flow, self.holder, self.ttl):
                self._lost = True
                raise LeaseLost(self._lost_message())
            yield session
        self._renewed = time.monotonic()

    def _heartbeat_once(self) -> bool:
        with self.db.session() as session:
            if not renew_lease(session, self.connection.id, self.flow, self.holder, self.ttl):
                return False
            session.execute(
                update(Run)
                .where(Run.id == self.id)
                .values(**self._counts, message=self.message)
                .execution_options(synchronize_session=False)
            )
        self._renewed = time.monotonic()
        return True

    async def _heartbeat(self) -> None:
        interval = max(self.ttl / 3, 0.05)
        while not self._lost:
            await asyncio.sleep(interval)
            try:
                alive = await asyncio.to_thread(self._heartbeat_once)
            except Exception:  # a database hiccup: try again next beat; writes are fenced anyway
                log.warning("could not renew the %s lease for %s", self.flow, self.connection.name, exc_info=True)
                continue
            if not alive:
                self._lost = True
                log.error("%s", self._lost_message())

    def _finish(self, outcome: str, message: str | None) -> None:
        """Write the outcome; never raises (a flow's own exception matters more than a failed history write)."""
        self._outcome = outcome
        self._ended_at = _utcnow()
        if message is not None:
            self.message = message
        try:
            with self.db.session() as session:
                session.execute(
                    update(Run)
                    .where(Run.id == self.id)
                    .values(outcome=outcome, ended_at=self._ended_at, message=self.message, **self._counts)
                    .execution_options(synchronize_session=False)
                )
        except Exception:
            # The row stays "running" and the next run that takes the lease marks it interrupted.
            log.exception("could not record the end of %s run %s", self.flow, self.id)

    def _release(self) -> None:
        if self._lost:
            return
        try:
            with self.db.session() as session:
                release_lease(session, self.connection.id, self.flow, self.holder)
        except Exception:
            # It expires on its own after ttl.
            log.exception("could not release the %s lease for %s", self.flow, self.connection.name)


def _resolve_connection(db: StateDB, connection: Connection | str) -> Connection:
    if isinstance(connection, Connection):
        return connection
    with db.session() as session:
        return get_connection(session, connection)


def _start(db: StateDB, connection: Connection, flow: str, holder: str, ttl: float) -> FlowRun:
    with db.session() as session:
        if acquire_lease(session, connection.id, flow, holder, ttl) is None:
            current = current_lease(session, connection.id, flow)
            raise LeaseHeld(
                connection.name,
                flow,
                current.holder if current else "another process",
                current.expires_at if current else None,
            )
        # We hold the lease, so a run still marked running for this flow belongs to a process that died.
        session.execute(
            update(Run)
            .where(Run.connection_id == connection.id, Run.flow == flow, Run.outcome == "running")
            .values(
                outcome="interrupted",
                ended_at=_utcnow(),
                message="stopped without finishing: its process ended or lost its lease; the next run went on",
            )
            .execution_options(synchronize_session=False)
        )
        row = Run(connection_id=connection.id, flow=flow, started_at=_utcnow(), outcome="running", holder=holder)
        session.add(row)
        session.flush()
        stored = session.get(Cursor, (connection.id, flow))
        cursor = None if stored is None else dict(stored.value)
        return FlowRun(
            db=db,
            connection=connection,
            flow=flow,
            id=row.id,
            holder=holder,
            ttl=ttl,
            started_at=row.started_at,
            _cursor=cursor,
        )


@asynccontextmanager
async def open_run(
    db: StateDB, connection: Connection | str, flow: str, holder: str | None = None, ttl: float | None = None
) -> AsyncIterator[FlowRun]:
    """Run ``flow`` for ``connection``: take the lease (:class:`LeaseHeld` if it is taken), record the run, keep the
    lease alive in the background, and on exit record the outcome and counts and give the lease back.
    ``ttl`` defaults to :func:`lease_ttl` (``WOOBRIDGE_LEASE_TTL`` or 60 s).

    Outcomes: ``success``; ``partial`` when record errors were recorded; ``failed`` when the block raised (the
    exception's class and message become the run's message, and it is re-raised); ``interrupted`` on Ctrl-C,
    cancellation or :class:`LeaseLost`.
    """
    connection = _resolve_connection(db, connection)
    ttl = lease_ttl() if ttl is None else ttl
    run = await asyncio.to_thread(_start, db, connection, flow, holder or default_holder(), ttl)
    heartbeat = asyncio.create_task(run._heartbeat(), name=f"lease heartbeat {connection.name}/{flow}")
    try:
        yield run
    except LeaseLost as error:
        run._finish("interrupted", str(error))
        raise
    except (asyncio.CancelledError, KeyboardInterrupt, SystemExit) as error:
        run._finish("interrupted", f"stopped ({type(error).__name__}) before it finished")
        raise
    except BaseException as error:
        run._finish("failed", f"{type(error).__name__}: {error}")
        raise
    else:
        if run.lease_lost:
            run._finish("interrupted", run._lost_message())
        else:
            run._finish("partial" if run.counts["failed"] else "success", None)
    finally:
        heartbeat.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await heartbeat
        run._release()


# -- for the CLI and the web page -------------------------------------------------------------------------------------


def list_runs(
    db: StateDB, connection: Connection | str | None = None, flow: str | None = None, limit: int = 50
) -> list[RunSummary]:
    """The latest runs, newest first (optionally of one connection and/or flow)."""
    with db.session() as session:
        query = select(Run, Connection.name).join(Connection, Connection.id == Run.connection_id)
        connection_id = _connection_id(connection, session)
        if connection_id is not None:
            query = query.where(Run.connection_id == connection_id)
        if flow is not None:
            query = query.where(Run.flow == flow)
        query = query.order_by(Run.started_at.desc(), Run.id.desc()).limit(limit)
        return [RunSummary.of(run, name) for run, name in session.execute(query)]


def list_errors(
    db: StateDB,
    connection: Connection | str | None = None,
    open_only: bool = True,
    flow: str | None = None,
    limit: int | None = None,
) -> list[RecordError]:
    """Record errors, oldest first (open ones only unless ``open_only=False``)."""
    with db.session() as session:
        query = select(RecordError)
        connection_id = _connection_id(connection, session)
        if connection_id is not None:
            query = query.where(RecordError.connection_id == connection_id)
        if flow is not None:
            query = query.where(RecordError.flow == flow)
        if open_only:
            query = query.where(RecordError.resolved_at.is_(None))
        query = query.order_by(RecordError.first_seen, RecordError.id)
        if limit is not None:
            query = query.limit(limit)
        return list(session.scalars(query))


def get_error(db: StateDB, error_id: int) -> RecordError:
    """One record error by id; :class:`UnknownRecordError` if there is none."""
    with db.session() as session:
        record = session.get(RecordError, error_id)
        if record is None:
            raise UnknownRecordError(error_id)
        return record


def resolve_error(db: StateDB, error_id: int, resolution: str = "by hand") -> RecordError:
    """Mark a record error resolved (someone dealt with it outside woobridge). Already resolved: left as it was."""
    with db.session() as session:
        record = session.get(RecordError, error_id)
        if record is None:
            raise UnknownRecordError(error_id)
        if record.resolved_at is None:
            record.resolved_at = _utcnow()
            record.resolution = resolution
            record.next_retry_at = None
        return record


# -- retrying record errors -----------------------------------------------------------------------------------------

RetryHandler = Callable[..., Awaitable[Any]]
"""``async def retry(db, connection, errors, **deps)``: try these record errors of one flow again.

Contract: open a run with ``open_run(db, connection, flow)`` (so a retry never overlaps a sync), read each record
afresh where the store has it (the payload may be stale), and ``run.bind`` what goes through (that resolves its
error) or ``run.record_error`` what still fails. ``deps`` are built by the caller — ``woobridge errors retry``
passes ``erp`` (an ErpPort from ``woobridge.erp.open_erp``) and ``services`` (the CLI's Services: ``vault()``,
``environ``, ``locations``); accept ``**deps`` to ignore what you don't use."""

RETRY_HANDLERS: dict[str, RetryHandler] = {}
"""flow name → its retry handler. Flows register at import (``@retry_handler("orders")``)."""


def retry_handler(flow: str) -> Callable[[RetryHandler], RetryHandler]:
    """Decorator: register ``handler`` as the way to retry ``flow``'s record errors."""

    def register(handler: RetryHandler) -> RetryHandler:
        RETRY_HANDLERS[flow] = handler
        return handler

    return register


def load_retry_handler(flow: str) -> RetryHandler | None:
    """The flow's retry handler, importing ``woobridge.flows.<flow>`` so it can register; ``None`` if it has none."""
    if flow not in RETRY_HANDLERS:
        import importlib

        try:
            importlib.import_module(f"woobridge.flows.{flow}")
        except ModuleNotFoundError as error:
            if error.name != f"woobridge.flows.{flow}":
                raise
    return RETRY_HANDLERS.get(flow)
