"""The sandbox store's data: settings, users, API keys and WooCommerce objects.

Objects are kept as JSON-native dicts in the shape WooCommerce stores them (money as decimal strings at full
precision, dates as naive UTC ISO strings), so that rendering is a copy plus formatting and persistence is one
JSON document per object. With a state file, every change is written through to SQLite at once, so a store
survives restarts and a crash loses nothing it acknowledged.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import secrets
import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

Obj = dict[str, Any]

# Object kinds kept in the store. Products, variations, orders and refunds share WordPress' post ID sequence.
POST_KINDS = ("product", "variation", "order", "refund")
# Fields the store can look objects up by without a scan (see Store.find).
INDEXED = (
    ("variation", "parent_id"),
    ("refund", "parent_id"),
    ("product", "sku"),
    ("variation", "sku"),
    ("product", "slug"),
)
KINDS = (*POST_KINDS, "customer", "note", "webhook", "tax_rate", "coupon", "category", "tracking")

ROLES = ("administrator", "shop_manager", "customer", "subscriber")
PERMISSIONS = ("read", "write", "read_write")

# Capabilities by role, as WordPress and WooCommerce grant them (only the ones the REST API checks).
_POST_CAPS = {"read", "create", "edit", "delete", "batch"}
ROLE_CAPS: dict[str, set[str]] = {
    "administrator": {
        "manage_woocommerce",
        *(f"posts:{c}" for c in _POST_CAPS),
        "list_users",
        "create_customers",
        "edit_users",
        "delete_users",
        "promote_users",
    },
    # Stock shop managers can edit customers (wc_shop_manager_has_capability) but lack promote_users and
    # delete_users, so /customers/batch and customer deletion are refused.
    "shop_manager": {
        "manage_woocommerce",
        *(f"posts:{c}" for c in _POST_CAPS),
        "list_users",
        "create_customers",
        "edit_users",
    },
    "customer": {"read"},
    "subscriber": {"read"},
}


def api_key_hash(consumer_key: str) -> str:
    """wc_api_hash(): how WooCommerce stores a consumer key (the plain key is never kept)."""
    return hmac.new(b"wc-api", consumer_key.encode(), hashlib.sha256).hexdigest()


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None, microsecond=0)


def iso(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%dT%H:%M:%S")


def parse_iso(value: str) -> datetime:
    return datetime.fromisoformat(value).replace(tzinfo=None)


def money(value: Any, dp: int) -> str:
    """Format a stored amount the way WooCommerce does (wc_format_decimal with dp, half up)."""
    if value is None or value == "":
        return ""
    quantum = Decimal(1).scaleb(-dp)
    return str(Decimal(str(value)).quantize(quantum, rounding=ROUND_HALF_UP))


@dataclass
class Settings:
    """Store settings that change what the REST API returns."""

    home_url: str = "https://127.0.0.1"
    wc_version: str = "11.0.1"
    wp_version: str = "7.1"
    currency: str = "USD"
    currency_symbol: str = "&#36;"
    decimals: int = 2
    timezone: str = "UTC"
    hpos: bool = True
    manage_stock: bool = True
    prices_include_tax: bool = False
    batch_limit: int = 100
    store_id: str = field(default_factory=lambda: str(uuid.UUID(int=0x5A4DB0C5)))
    webhook_max_failures: int = 5

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def local(self, gmt: str | None) -> str | None:
        """A stored UTC timestamp as the store's local wall-clock time (WooCommerce's non-_gmt fields)."""
        if gmt is None:
            return None
        # Read as UTC whatever offset the text has (as parse_iso drops it); strftime leaves the zone out.
        return iso(datetime.fromisoformat(gmt).replace(tzinfo=UTC).astimezone(self.tz))

    def to_gmt(self, local: datetime) -> datetime:
        """A naive site-local time as naive UTC."""
        return local.replace(tzinfo=self.tz).astimezone(UTC).replace(tzinfo=None)

    def gmt_offset_hours(self) -> float:
        offset = datetime.now(self.tz).utcoffset() or timedelta(0)
        return offset.total_seconds() / 3600


@dataclass
class User:
    id: int
    login: str
    email: str
    role: str
    first_name: str = ""
    last_name: str = ""

    def can(self, capability: str) -> bool:
        return capability in ROLE_CAPS.get(self.role, set())


@dataclass
class ApiKey:
    """A row of woocommerce_api_keys: the key is stored hashed, the secret in clear (as WooCommerce does)."""

    key_id: int
    user_id: int
    description: str
    permissions: str
    consumer_key_hash: str
    consumer_secret: str
    truncated_key: str
    nonces: dict[str, int] = field(default_factory=dict)
    last_access: str | None = None
    created: str = field(default_factory=lambda: iso(utcnow()))


@dataclass
class IssuedKey:
    """What the key screen shows once: the plain consumer key and secret. Never persisted by the sandbox."""

    key_id: int
    user_id: int
    role: str
    permissions: str
    consumer_key: str
    consumer_secret: str

    def __repr__(self) -> str:  # keep secrets out of test failure output and logs
        return f"IssuedKey(key_id={self.key_id}, role={self.role!r}, permissions={self.permissions!r}, ...)"


class Store:
    """All of one sandbox store's data. Not thread-safe by itself: callers hold ``lock``."""

    def __init__(self, settings: Settings | None = None, path: Path | None = None) -> None:
        self.settings = settings or Settings()
        self.objects: dict[str, dict[int, Obj]] = {kind: {} for kind in KINDS}
        self.users: dict[int, User] = {}
        self.keys: dict[int, ApiKey] = {}
        self.sequences: dict[str, int] = {}
        self.lock = threading.RLock()
        # Shifts the store clock, so tests can age timestamps without sleeping.
        self.clock_offset = timedelta(0)
        self._listeners: list[Callable[[str, str, int], None]] = []
        self._db: sqlite3.Connection | None = None
        self._transaction_depth = 0
        self._meta_dirty = False
        # Lookups by field (a product's variations, an order's refunds, a SKU, a slug), kept up to date by put and
        # remove, so that they don't scan every object of a kind: value → ids, and id → the value indexed.
        self._index: dict[tuple[str, str], dict[Any, set[int]]] = {key: {} for key in INDEXED}
        self._indexed: dict[tuple[str, str], dict[int, Any]] = {key: {} for key in INDEXED}
        if path is not None:
            self._open(path)

    # -- clock and ids ----

    def now(self) -> datetime:
        return utcnow() + self.clock_offset

    def now_iso(self) -> str:
        return iso(self.now())

    def next_id(self, sequence: str) -> int:
        value = self.sequences.get(sequence, 0) + 1
        self.sequences[sequence] = value
        self._persist_meta()
        return value

    def next_post_id(self) -> int:
        """Posts share one ID sequence in WordPress, as the recordings show (products 11…24, orders 27…32)."""
        return self.next_id("post")

    # -- objects ----

    def get(self, kind: str, object_id: int) -> Obj | None:
        return self.objects[kind].get(object_id)

    def all(self, kind: str) -> Iterator[Obj]:
        return iter(self.objects[kind].values())

    def find(self, kind: str, field_name: str, value: Any) -> list[Obj]:
        """The objects of ``kind`` whose ``field_name`` equals ``value``, in ID order (the pair must be in INDEXED)."""
        objects = self.objects[kind]
        return [objects[i] for i in sorted(self._index[(kind, field_name)].get(value, ()))]

    def children(self, kind: str, parent_id: int) -> list[Obj]:
        """A product's variations or an order's refunds, in ID order."""
        return self.find(kind, "parent_id", parent_id)

    def _reindex(self, kind: str, object_id: int, obj: Obj | None) -> None:
        for key in INDEXED:
            if key[0] != kind:
                continue
            index, indexed = self._index[key], self._indexed[key]
            if object_id in indexed:
                index[indexed.pop(object_id)].discard(object_id)
            if obj is not None:
                value = obj.get(key[1])
                value = int(value or 0) if key[1] == "parent_id" else value
                indexed[object_id] = value
                index.setdefault(value, set()).add(object_id)

    def put(self, kind: str, obj: Obj) -> Obj:
        self.objects[kind][int(obj["id"])] = obj
        self._reindex(kind, int(obj["id"]), obj)
        if self._db is not None:
            self._db.execute(
                "INSERT OR REPLACE INTO objects (kind, id, doc) VALUES (?, ?, ?)",
                (kind, int(obj["id"]), json.dumps(obj)),
            )
        return obj

    def remove(self, kind: str, object_id: int) -> Obj | None:
        obj = self.objects[kind].pop(object_id, None)
        self._reindex(kind, object_id, None)
        if self._db is not None:
            self._db.execute("DELETE FROM objects WHERE kind = ? AND id = ?", (kind, object_id))
        return obj

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """Write everything done inside to the state file in one commit (a request, or a whole seed).

        Outside a transaction each write commits on its own. WooCommerce has no transactions either: what a
        failed request changed in memory stays changed, so the commit happens whatever the outcome."""
        if self._db is None or self._transaction_depth:
            self._transaction_depth += 1
            try:
                yield
            finally:
                self._transaction_depth -= 1
            return
        self._transaction_depth = 1
        self._db.execute("BEGIN")
        try:
            yield
        finally:
            self._transaction_depth = 0
            if self._meta_dirty:
                self._write_meta()
            self._db.execute("COMMIT")

    # -- events (webhooks listen here) ---------------------------------------------------------------------

    def subscribe(self, listener: Callable[[str, str, int], None]) -> None:
        self._listeners.append(listener)

    def emit(self, resource: str, event: str, resource_id: int) -> None:
        for listener in self._listeners:
            listener(resource, event, resource_id)

    # -- users and keys ----

    def add_user(self, role: str, login: str | None = None, email: str | None = None, **names: str) -> User:
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}; expected one of {', '.join(ROLES)}")
        user_id = self.next_id("user")
        login = login or f"{role}{user_id}"
        user = User(user_id, login, email or f"{login}@shop.test", role, **names)
        self.users[user_id] = user
        self._persist_meta()
        return user

    def issue_key(self, user: User, permissions: str, description: str = "woobridge") -> IssuedKey:
        """Create an API key as WooCommerce → Settings → Advanced → REST API does."""
        if permissions not in PERMISSIONS:
            raise ValueError(f"unknown permissions {permissions!r}; expected one of {', '.join(PERMISSIONS)}")
        consumer_key = "ck_" + secrets.token_hex(20)
        consumer_secret = "cs_" + secrets.token_hex(20)
        key_id = self.next_id("api_key")
        self.keys[key_id] = ApiKey(
            key_id=key_id,
            user_id=user.id,
            description=description,
            permissions=permissions,
            consumer_key_hash=api_key_hash(consumer_key),
            consumer_secret=consumer_secret,
            truncated_key=consumer_key[-7:],
            created=self.now_iso(),
        )
        self._persist_meta()
        return IssuedKey(key_id, user.id, user.role, permissions, consumer_key, consumer_secret)

    def revoke_key(self, key_id: int) -> None:
        """Revoking deletes the row: a revoked key then behaves exactly like an unknown one."""
        self.keys.pop(key_id, None)
        self._persist_meta()

    def key_by_consumer_key(self, consumer_key: str) -> ApiKey | None:
        wanted = api_key_hash(consumer_key)
        for key in self.keys.values():
            if hmac.compare_digest(key.consumer_key_hash, wanted):
                return key
        return None

    def touch_key(self, key: ApiKey) -> None:
        key.last_access = self.settings.local(self.now_iso())
        self._persist_meta()

    # -- persistence ----

    def _open(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS objects (kind TEXT, id INTEGER, doc TEXT, PRIMARY KEY (kind, id))")
        self._db.execute("CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, doc TEXT)")
        for kind, object_id, doc in self._db.execute("SELECT kind, id, doc FROM objects ORDER BY kind, id"):
            if kind in self.objects:
                self.objects[kind][object_id] = json.loads(doc)
                self._reindex(kind, object_id, self.objects[kind][object_id])
        meta = {name: json.loads(doc) for name, doc in self._db.execute("SELECT name, doc FROM meta")}
        if "settings" in meta:
            self.settings = Settings(**meta["settings"])
        self.sequences = meta.get("sequences", {})
        self.users = {u["id"]: User(**u) for u in meta.get("users", [])}
        self.keys = {k["key_id"]: ApiKey(**k) for k in meta.get("keys", [])}

    def _persist_meta(self) -> None:
        if self._db is None:
            return
        if self._transaction_depth:
            self._meta_dirty = True  # written once, when the transaction commits
            return
        self._write_meta()

    def _write_meta(self) -> None:
        assert self._db is not None
        self._meta_dirty = False
        rows = {
            "settings": asdict(self.settings),
            "sequences": self.sequences,
            "users": [asdict(u) for u in self.users.values()],
            "keys": [asdict(k) for k in self.keys.values()],
        }
        self._db.executemany(
            "INSERT OR REPLACE INTO meta (name, doc) VALUES (?, ?)",
            [(name, json.dumps(doc)) for name, doc in rows.items()],
        )

    def save_settings(self) -> None:
        self._persist_meta()

    @property
    def is_empty(self) -> bool:
        return not self.users

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
