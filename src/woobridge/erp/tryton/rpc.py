"""A thin JSON-RPC client for trytond (8.x): session login, model calls, Tryton's typed JSON.

Why not proteus: over the network proteus speaks XML-RPC only and, given the password in the URL, re-checks it
on every call (about 4× slower). This client logs in once (``common.db.login``) and then sends
``Authorization: Session base64(login:user_id:session)`` on every call to ``POST /<database>/rpc/``.

Tryton's JSON marks non-JSON types as objects with a ``__class__`` key (``Decimal``, ``date``, ``datetime``,
``bytes``…); they are encoded and decoded here, so callers deal in ``Decimal`` and ``date`` only.
Model methods take the context dict as their LAST positional parameter; :meth:`TrytonRpc.call` appends it.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import itertools
import json
from decimal import Decimal
from typing import Any

import httpx

from woobridge.erp.port import ErpRecordError, ErpUnavailable


class TrytonError(ErpRecordError):
    """Tryton refused a call for business reasons (UserError, UserWarning, access, concurrency): the record is at
    fault, not the connection. ``kind`` is Tryton's exception name; ``description`` its longer explanation."""

    def __init__(
        self, kind: str, message: str, description: str = "", *, retryable: bool = False, warning_name: str = ""
    ) -> None:
        text = f"Tryton {kind}: {message}" + (f" ({description})" if description else "")
        super().__init__(text, retryable=retryable)
        self.kind = kind
        self.tryton_message = message
        self.description = description
        self.warning_name = warning_name  # a UserWarning's name: what answering "yes" records


def _encode(value: Any) -> Any:
    if isinstance(value, Decimal):
        return {"__class__": "Decimal", "decimal": str(value)}
    if isinstance(value, dt.datetime):
        return {
            "__class__": "datetime",
            **{f: getattr(value, f) for f in ("year", "month", "day", "hour", "minute", "second", "microsecond")},
        }
    if isinstance(value, dt.date):
        return {"__class__": "date", "year": value.year, "month": value.month, "day": value.day}
    if isinstance(value, bytes):
        return {"__class__": "bytes", "base64": base64.b64encode(value).decode()}
    if isinstance(value, dict):
        return {str(k): _encode(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_encode(v) for v in value]
    return value


def _decode(obj: dict[str, Any]) -> Any:
    kind = obj.get("__class__")
    if kind == "Decimal":
        return Decimal(obj["decimal"])
    if kind == "date":
        return dt.date(obj["year"], obj["month"], obj["day"])
    if kind == "datetime":
        return dt.datetime(
            obj["year"], obj["month"], obj["day"], obj["hour"], obj["minute"], obj["second"], obj.get("microsecond", 0)
        )
    if kind == "time":
        return dt.time(obj["hour"], obj["minute"], obj["second"], obj.get("microsecond", 0))
    if kind == "timedelta":
        return dt.timedelta(seconds=obj["seconds"])
    if kind == "bytes":
        return base64.b64decode(obj["base64"])
    return obj


class TrytonRpc:
    """One session with one Tryton database. ``call("model.sale.sale.search", domain, …)`` appends the context.

    Errors: a refusal by Tryton (UserError, UserWarning, access error, concurrent edit) is a :class:`TrytonError`
    (an ``ErpRecordError``); an unreachable server, a refused login or a server crash is ``ErpUnavailable``."""

    def __init__(
        self,
        url: str,
        database: str,
        login: str,
        password: str,
        *,
        timeout: float = 60.0,
        context: dict[str, Any] | None = None,
        transport: httpx.BaseTransport | None = None,
        accept_warnings: bool = False,
    ) -> None:
        self.base_url = url.rstrip("/")
        self.database = database
        self.login_name = login
        self._password = password
        self._http = httpx.Client(timeout=timeout, transport=transport, headers={"Content-Type": "application/json"})
        self._ids = itertools.count(1)
        self._auth: str | None = None
        self.user_id = 0
        self.context: dict[str, Any] = {}
        self._extra_context = dict(context or {})
        # Tryton asks "are you sure?" with a UserWarning; a client says yes by recording a res.user.warning and
        # calling again (context keys starting with "_", like _skip_warnings, are dropped by the RPC layer).
        self.accept_warnings = accept_warnings
        self.calls = 0  # RPC requests sent (for benchmarks and logs)

    @property
    def rpc_url(self) -> str:
        return f"{self.base_url}/{self.database}/rpc/"

    # -- session --------------------------------------------------------------------------------------------
    def login(self) -> None:
        """Open a session and load the user's preferences (company, language) as the base context."""
        result = self._post("common.db.login", [self.login_name, {"password": self._password}, "en"], auth=False)
        if not isinstance(result, list) or len(result) < 2:
            raise ErpUnavailable(f"Tryton login as {self.login_name!r} returned {result!r}, not a session")
        self.user_id, session = int(result[0]), str(result[1])
        token = base64.b64encode(f"{self.login_name}:{self.user_id}:{session}".encode()).decode()
        self._auth = f"Session {token}"
        preferences = self._post("model.res.user.get_preferences", [True, {}])
        self.context = {**(preferences if isinstance(preferences, dict) else {}), **self._extra_context}

    def close(self) -> None:
        if self._auth is not None:
            with contextlib.suppress(ErpUnavailable, TrytonError):  # the session expires anyway: don't fail a close
                self._post("common.db.logout", [])
            self._auth = None
        self._http.close()

    # -- calls ----------------------------------------------------------------------------------------------
    def call(self, method: str, *args: Any, context: dict[str, Any] | None = None) -> Any:
        """Call a model/wizard method with the session context (plus ``context``) as the last parameter."""
        if self._auth is None:
            self.login()
        ctx = {**self.context, **(context or {})}
        answered: set[str] = set()
        while True:
            try:
                return self._post(method, [*args, ctx])
            except TrytonError as exc:
                if not (self.accept_warnings and exc.warning_name) or exc.warning_name in answered:
                    raise
                answered.add(exc.warning_name)
                self._post(
                    "model.res.user.warning.create",
                    [[{"user": self.user_id, "name": exc.warning_name, "always": False}], self.context],
                )

    def model(self, name: str) -> Model:
        return Model(self, name)

    def _post(self, method: str, params: list[Any], *, auth: bool = True) -> Any:
        self.calls += 1
        body = json.dumps({"id": next(self._ids), "method": method, "params": _encode(params)}, separators=(",", ":"))
        for attempt in (1, 2):
            headers = {"Authorization": self._auth} if auth and self._auth else {}
            try:
                reply = self._http.post(self.rpc_url, content=body, headers=headers)
            except httpx.TransportError as exc:
                raise ErpUnavailable(
                    f"Tryton at {self.base_url} did not answer ({type(exc).__name__}: {exc}); is trytond running "
                    f"with -d {self.database}?"
                ) from exc
            if reply.status_code == 401 and auth and attempt == 1 and method != "common.db.logout":
                self.login()  # the session timed out: log in again once, then retry the call
                continue
            return self._result(method, reply)
        raise AssertionError("unreachable")

    def _result(self, method: str, reply: httpx.Response) -> Any:
        if reply.status_code == 401:
            raise ErpUnavailable(
                f"Tryton refused the login of {self.login_name!r} on database {self.database!r} (HTTP 401): check "
                "the login and password, and that trytond was started with -d for this database"
            )
        if reply.status_code == 403:
            raise ErpUnavailable(f"Tryton forbids {method} to {self.login_name!r} (HTTP 403): check the user's rights")
        if reply.status_code == 404:
            raise ErpUnavailable(f"Tryton has no database {self.database!r} at {self.base_url} (HTTP 404)")
        if reply.status_code == 429:
            raise ErpUnavailable("Tryton is rate-limiting logins (HTTP 429): wait a minute and try again")
        if reply.status_code >= 400:
            raise ErpUnavailable(f"Tryton answered {method} with HTTP {reply.status_code}: {reply.text[:300]}")
        try:
            data = json.loads(reply.text, object_hook=_decode)
        except ValueError as exc:
            raise ErpUnavailable(
                f"Tryton answered {method} with something that is not JSON: {reply.text[:200]}"
            ) from exc
        if "error" in data and data["error"] is not None:
            raise _error(method, data["error"])
        return data.get("result")


def _error(method: str, error: Any) -> Exception:
    """Map Tryton's error list (``[kind, args]`` for its own exceptions, ``[text, traceback]`` otherwise)."""
    if isinstance(error, list) and len(error) == 2 and isinstance(error[1], list):
        kind, args = str(error[0]), error[1]
        if kind == "UserError":
            return TrytonError(kind, str(args[0]), str(args[1] or "") if len(args) > 1 else "")
        if kind == "UserWarning":
            description = str(args[2] or "") if len(args) > 2 else ""
            return TrytonError(kind, str(args[1]), description, warning_name=str(args[0]))
        if kind == "ConcurrencyException":
            return TrytonError(kind, str(args[0]), retryable=True)
        if kind == "LoginException":
            return ErpUnavailable(f"Tryton asks for more to log in ({args}); woobridge logs in with a password only")
        return TrytonError(kind, str(args[0]) if args else "")
    if isinstance(error, list) and error:
        text = str(error[0])
        if "AccessError" in text or "access" in text.lower():
            return TrytonError("AccessError", text)
        return ErpUnavailable(f"trytond failed on {method}: {text} (see the trytond log for the traceback)")
    return ErpUnavailable(f"trytond failed on {method}: {error!r}")


class Model:
    """Typed helpers for the ORM methods the adapter uses (all go through :meth:`TrytonRpc.call`)."""

    def __init__(self, rpc: TrytonRpc, name: str) -> None:
        self.rpc = rpc
        self.name = name

    def __call__(self, method: str, *args: Any, context: dict[str, Any] | None = None) -> Any:
        return self.rpc.call(f"model.{self.name}.{method}", *args, context=context)

    def search(
        self, domain: list[Any], *, offset: int = 0, limit: int | None = None, order: Any = None, context: Any = None
    ) -> list[int]:
        return list(self("search", domain, offset, limit, order, context=context))

    def search_read(
        self,
        domain: list[Any],
        fields: list[str],
        *,
        offset: int = 0,
        limit: int | None = None,
        order: Any = None,
        context: dict[str, Any] | None = None,
    ) -> list[dict[str, Any]]:
        return list(self("search_read", domain, offset, limit, order, fields, context=context))

    def read(self, ids: list[int], fields: list[str], *, context: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        return list(self("read", ids, fields, context=context)) if ids else []

    def create(self, values: list[dict[str, Any]], *, context: dict[str, Any] | None = None) -> list[int]:
        return list(self("create", values, context=context)) if values else []

    def write(self, ids: list[int], values: dict[str, Any], *, context: dict[str, Any] | None = None) -> None:
        if ids:
            self("write", ids, values, context=context)

    def delete(self, ids: list[int], *, context: dict[str, Any] | None = None) -> None:
        if ids:
            self("delete", ids, context=context)
