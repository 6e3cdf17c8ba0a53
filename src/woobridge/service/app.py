"""The web app of ``woobridge serve``: server-rendered pages (Jinja2), a JSON API for the same data, ``/metrics``
and the webhook receiver, on Starlette.

Pages (all behind the admin login):

* ``/connections`` — the stores woobridge talks to, and the configuration form for a new one (Store URL,
  Consumer key, Consumer secret → "Validate and save" runs the same checks as ``woobridge connect``);
* ``/connections/{name}`` — the connector page: store facts, the key (fingerprint and age), the key rotation form,
  the six flows with direction, on/off, schedule, last run, counts, next run and "Run now", and the webhooks;
* ``/connections/{name}/runs`` and ``/connections/{name}/errors`` — run history, and the record-error queue with
  Retry and Resolve, one by one or in bulk.

The JSON API lives under ``/api/`` (same session; writes need the ``X-CSRF-Token`` header). ``/metrics`` and
``/webhooks/{name}`` need no login: the first holds no secrets, the second is authenticated by the signature.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qs, quote

import httpx
from jinja2 import Environment, FileSystemLoader, select_autoescape
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from woobridge.commands.connections import (
    CommandFailed,
    Report,
    assess,
    check_ca_file,
    record_check,
    replace_key,
    save_connection,
)
from woobridge.commands.guardrails import KEY_AGE_LIMIT_MONTHS, add_months, key_age_findings
from woobridge.commands.services import Services
from woobridge.flows.registry import FLOWS
from woobridge.service import auth
from woobridge.service import webhooks as hooks
from woobridge.service.metrics import StoreRequestMetrics, registry_for
from woobridge.service.scheduler import (
    FlowDeps,
    Outcome,
    Scheduler,
    ensure_schedules,
    invoke,
    request_run,
    set_schedule,
)
from woobridge.state import Connection, StateDB
from woobridge.state.connections import all_connections, find_connection, valid_name
from woobridge.woo import Credentials, InputError, Secret, check_inputs
from woobridge.woo.auth import AuthMode

log = logging.getLogger(__name__)

HERE = Path(__file__).parent
MAX_FORM = 64 * 1024

NOTICES = {
    "saved": "Connection saved: the key passed validation.",
    "rotated": "Key replaced. Now revoke the old key in WooCommerce → Settings → Advanced → REST API.",
    "checked": "Connection checked again.",
    "run": "Run requested: the scheduler starts it within a second.",
    "flow": "Flow settings saved.",
    "retried": "Retry finished.",
    "retry-queued": "The flow is running right now: the selected errors are due and its next run retries them.",
    "resolved": "Marked resolved.",
    "webhooks": "Webhooks checked.",
    "removed": "Connection removed.",
    "password": "Signed out.",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class ServeConfig:
    """How ``serve`` runs: its public URL (enables webhooks), whether the scheduler starts, cookie security."""

    public_url: str | None = None
    scheduler: bool = True
    tick_seconds: float = 1.0
    webhook_check_seconds: float = 600.0
    secure_cookies: bool | None = None  # None: Secure when the public URL or the request is HTTPS
    # Tests: talk to an in-process sandbox instead of the network (webhook management).
    transport: httpx.AsyncBaseTransport | None = None
    # How a scheduled run is started; default: the flow module's entry point with the engine's lease.
    invoker: Callable[[str, Any], Awaitable[Outcome]] | None = None


@dataclass
class Context:
    """Everything a request handler needs; one per app, nothing global."""

    services: Services
    config: ServeConfig
    templates: Environment
    scheduler: Scheduler
    store_requests: StoreRequestMetrics = field(default_factory=StoreRequestMetrics)
    background: set[asyncio.Task[Any]] = field(default_factory=set)

    @property
    def db(self) -> StateDB:
        return self.services.state()

    def client_factory(self) -> hooks.ClientFactory:
        if self.config.transport is not None:
            return hooks.transport_client(self.config.transport)
        return hooks.default_client

    def spawn(self, coroutine: Awaitable[Any], name: str) -> None:
        task: asyncio.Task[Any] = asyncio.ensure_future(coroutine)
        task.set_name(name)
        self.background.add(task)
        task.add_done_callback(self.background.discard)


# -- request helpers -------------------------------------------------------------------------------------------


def ctx_of(request: Request) -> Context:
    context: Context = request.app.state.context
    return context


async def form_of(request: Request) -> dict[str, list[str]]:
    """An ``application/x-www-form-urlencoded`` body (the only kind our forms send), at most 64 KiB."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM:
            raise _Refused(413, "form too large")
    if body and not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        raise _Refused(415, "forms are sent as application/x-www-form-urlencoded")
    return parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)


def first(form: Mapping[str, list[str]], name: str, default: str = "") -> str:
    values = form.get(name)
    return values[0] if values else default


class _Refused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def secure_cookies(request: Request) -> bool:
    config = ctx_of(request).config
    if config.secure_cookies is not None:
        return config.secure_cookies
    return request.url.scheme == "https" or (config.public_url or "").startswith("https://")


def signed_in(request: Request) -> auth.SignedIn | None:
    token = request.cookies.get(auth.SESSION_COOKIE)
    with ctx_of(request).db.session() as session:
        return auth.current(session, token, utcnow())


def render(request: Request, template: str, status: int = 200, **values: Any) -> HTMLResponse:
    context = ctx_of(request)
    user = values.pop("user", None)
    notice = NOTICES.get(request.query_params.get("notice", ""))
    html = context.templates.get_template(template).render(
        request=request,
        csrf=user.csrf_token if user else "",
        user=user,
        notice=notice,
        public_url=context.config.public_url,
        **values,
    )
    return HTMLResponse(html, status_code=status, headers={"Cache-Control": "no-store"})


def see_other(path: str, notice: str | None = None) -> RedirectResponse:
    return RedirectResponse(path + (f"?notice={notice}" if notice else ""), status_code=303)


Handler = Callable[[Request, auth.SignedIn], Awaitable[Response]]


def page(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """A page behind the login; POSTs must carry the session's CSRF token (form field ``csrf``)."""

    async def guarded(request: Request) -> Response:
        user = await asyncio.to_thread(signed_in, request)
        if user is None:
            return see_other("/login?next=" + quote(request.url.path))
        if request.method == "POST":
            try:
                form = await form_of(request)
            except _Refused as refused:
                return PlainTextResponse(refused.message, status_code=refused.status)
            if not auth.tokens_match(first(form, "csrf"), user.csrf_token):
                return PlainTextResponse("CSRF token missing or wrong: reload the page and try again.", 403)
            request.state.form = form
        return await handler(request, user)

    return guarded


def api(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """A JSON endpoint behind the login; writes need the session's CSRF token in ``X-CSRF-Token``."""

    async def guarded(request: Request) -> Response:
        user = await asyncio.to_thread(signed_in, request)
        if user is None:
            return JSONResponse({"error": "sign in first (POST /login)"}, status_code=401)
        if request.method != "GET" and not auth.tokens_match(request.headers.get("x-csrf-token"), user.csrf_token):
            return JSONResponse({"error": "X-CSRF-Token header missing or wrong"}, status_code=403)
        return await handler(request, user)

    return guarded


# -- what pages show -------------------------------------------------------------------------------------------


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def key_facts(connection: Connection, now: datetime) -> dict[str, Any]:
    """The key as the page shows it: fingerprint, age, rotation deadline and the guardrail's warning."""
    created = connection.key_created_at
    age_days = (now - created).days
    findings = key_age_findings(connection.name, created, now)
    return {
        "fingerprint": connection.key_fingerprint,
        "created": created.date().isoformat(),
        "age_days": age_days,
        "age": _age_words(age_days),
        "rotate_before": add_months(created, KEY_AGE_LIMIT_MONTHS).date().isoformat(),
        "warning": findings[0].message if findings else None,
        "level": findings[0].level if findings else "ok",
        "permission": connection.permission,
        "auth": connection.auth,
    }


def _age_words(days: int) -> str:
    if days < 1:
        return "created today"
    if days < 60:
        return f"{days} days old"
    return f"{days // 30} months old"


def connection_summary(connection: Connection, now: datetime) -> dict[str, Any]:
    return {
        "name": connection.name,
        "store_url": connection.store_url,
        "key": key_facts(connection, now),
        "store": dict(connection.store_info or {}),
        "last_checked_at": _iso(connection.last_checked_at),
        "last_check_ok": connection.last_check_ok,
        "last_check_code": connection.last_check_code,
        "last_check": connection.last_check,
        "flows_enabled": list(connection.flows or []),
    }


def flow_rows(db: StateDB, connection: Connection, now: datetime) -> list[dict[str, Any]]:
    """Every flow with its schedule, last run and open record errors."""
    from woobridge.flows.engine import list_errors, list_runs

    with db.session() as session:
        fresh = find_connection(session, connection.name)
        assert fresh is not None
        schedules = ensure_schedules(session, fresh, now)
    open_errors: dict[str, int] = {}
    for error in list_errors(db, connection.name):
        open_errors[error.flow] = open_errors.get(error.flow, 0) + 1
    rows = []
    permission = connection.permission or "unknown"
    for spec in FLOWS.values():
        schedule = schedules[spec.name]
        runs = list_runs(db, connection.name, spec.name, limit=1)
        last = runs[0] if runs else None
        permitted = permission == "read_write" or (spec.permission == "read" and permission == "read")
        next_run = schedule.next_run_at if schedule.enabled or schedule.requested else None
        rows.append(
            {
                "name": spec.name,
                "direction": spec.direction,
                "summary": spec.summary,
                "permission": spec.permission,
                "permitted": permitted,
                "status": "on" if schedule.enabled else "off",
                "enabled": schedule.enabled,
                "interval_minutes": schedule.interval_seconds // 60,
                "next_run_at": _iso(next_run),
                "next_run_due": next_run is not None and next_run <= now,
                "requested": schedule.requested,
                "backoff_seconds": schedule.backoff_seconds,
                "problem": schedule.last_problem,
                "open_errors": open_errors.get(spec.name, 0),
                "last_run": last.to_dict() if last else None,
            }
        )
    return rows


def error_dict(error: Any) -> dict[str, Any]:
    return {
        "id": error.id,
        "flow": error.flow,
        "resource": error.resource,
        "store_id": error.store_id,
        "error_class": error.error_class,
        "message": error.message,
        "attempts": error.attempts,
        "first_seen": _iso(error.first_seen),
        "last_seen": _iso(error.last_seen),
        "next_retry_at": _iso(error.next_retry_at),
        "resolved_at": _iso(error.resolved_at),
        "resolution": error.resolution,
        "payload": error.payload,
    }


def get_or_404(db: StateDB, name: str) -> Connection:
    with db.session() as session:
        connection = find_connection(session, name)
        if connection is None:
            raise _Refused(404, f"no connection named {name!r}")
        session.expunge(connection)
        return connection


# -- sign in and out -------------------------------------------------------------------------------------------


async def login_page(request: Request) -> Response:
    ctx = ctx_of(request)
    with ctx.db.session() as session:
        ready = auth.has_password(session)
    token = secrets.token_urlsafe(24)
    response = render(request, "login.html", login_csrf=token, ready=ready, next=_safe_next(request))
    response.set_cookie(
        auth.LOGIN_COOKIE, token, httponly=True, samesite="strict", secure=secure_cookies(request), path="/login"
    )
    return response


def _safe_next(request: Request, form: Mapping[str, list[str]] | None = None) -> str:
    target = first(form, "next") if form else request.query_params.get("next", "")
    # Only a local path: never an absolute URL or //host (an open redirect).
    return target if target.startswith("/") and not target.startswith("//") and "\\" not in target else "/"


async def login_submit(request: Request) -> Response:
    ctx = ctx_of(request)
    try:
        form = await form_of(request)
    except _Refused as refused:
        return PlainTextResponse(refused.message, status_code=refused.status)
    cookie = request.cookies.get(auth.LOGIN_COOKIE, "")
    if not cookie or not auth.tokens_match(first(form, "csrf"), cookie):
        return PlainTextResponse("CSRF token missing or wrong: reload the sign-in page and try again.", 403)
    client, now = client_address(request), utcnow()

    def attempt() -> tuple[str | None, datetime | None]:
        with ctx.db.session() as session:
            locked = auth.locked_until(session, client, now)
            if locked is not None:
                return None, locked
            token = auth.sign_in(session, first(form, "password"), now)
            if token is None:
                return None, auth.record_failure(session, client, now)
            auth.clear_failures(session, client)
            return token, None

    token, locked = await asyncio.to_thread(attempt)
    if token is None:
        if locked is not None:
            message = f"Too many failed sign-ins from {client}: wait until {locked:%H:%M:%S} UTC."
            log.warning("sign-in locked for %s until %s", client, locked)
            status = 429
        else:
            message = "Wrong password."
            log.warning("failed sign-in from %s", client)
            status = 401
        fresh = secrets.token_urlsafe(24)
        failed = render(
            request, "login.html", status, login_csrf=fresh, ready=True, error=message, next=_safe_next(request, form)
        )
        failed.set_cookie(
            auth.LOGIN_COOKIE, fresh, httponly=True, samesite="strict", secure=secure_cookies(request), path="/login"
        )
        return failed
    response = see_other(_safe_next(request, form))
    response.set_cookie(
        auth.SESSION_COOKIE,
        token,
        max_age=int(auth.SESSION_LIFETIME.total_seconds()),
        httponly=True,
        samesite="lax",
        secure=secure_cookies(request),
        path="/",
    )
    response.delete_cookie(auth.LOGIN_COOKIE, path="/login")
    return response


@page
async def logout(request: Request, user: auth.SignedIn) -> Response:
    with ctx_of(request).db.session() as session:
        auth.sign_out(session, request.cookies.get(auth.SESSION_COOKIE))
    response = see_other("/login")
    response.delete_cookie(auth.SESSION_COOKIE, path="/")
    return response


# -- connections -----------------------------------------------------------------------------------------------


@page
async def home(request: Request, user: auth.SignedIn) -> Response:
    return see_other("/connections")


def _list_connections(db: StateDB) -> list[dict[str, Any]]:
    now = utcnow()
    with db.session() as session:
        return [connection_summary(c, now) for c in all_connections(session)]


@page
async def connections_page(request: Request, user: auth.SignedIn) -> Response:
    rows = await asyncio.to_thread(_list_connections, ctx_of(request).db)
    return render(request, "connections.html", user=user, connections=rows, flows=list(FLOWS.values()), form={})


@page
async def validate_new(request: Request, user: auth.SignedIn) -> Response:
    """The configuration form: check the inputs, validate like ``woobridge connect``, save only when it passes."""
    ctx = ctx_of(request)
    form = request.state.form
    name = first(form, "name").strip()
    enabled = [flow for flow in form.get("flows", []) if flow in FLOWS] or list(FLOWS)
    shown = {"name": name, "store_url": first(form, "store_url"), "flows": enabled, "ca_file": first(form, "ca_file")}
    rows = await asyncio.to_thread(_list_connections, ctx.db)

    def again(status: int, **values: Any) -> Response:
        return render(
            request,
            "connections.html",
            status,
            user=user,
            connections=rows,
            flows=list(FLOWS.values()),
            form=shown,
            **values,
        )

    if not valid_name(name):
        return again(400, problem="The name may hold letters, digits, '.', '_' and '-' (at most 64).")
    if any(row["name"] == name for row in rows) and first(form, "replace") != "on":
        return again(400, problem=f"A connection named {name!r} exists: rotate its key on its page, or pick a name.")
    try:
        created = _key_created(first(form, "key_created"))
    except ValueError as error:
        return again(400, problem=str(error))
    secret = Secret(first(form, "consumer_secret"))
    try:
        checked = check_inputs(first(form, "store_url"), first(form, "consumer_key"), secret)
    except InputError as error:
        return again(400, diagnosis=error.diagnosis.to_dict())
    try:
        ca_file = check_ca_file(Path(first(form, "ca_file").strip())) if first(form, "ca_file").strip() else None
    except CommandFailed as error:
        return again(400, problem=str(error))
    mode: AuthMode = "query" if first(form, "query_auth") == "on" else "basic"
    credentials = Credentials(checked.store_url, checked.consumer_key, checked.consumer_secret, mode, ca_file)
    report = Report(name, checked.store_url, credentials.fingerprint, mode, enabled, created)
    report.input_notes.extend(checked.notes)
    await asyncio.to_thread(assess, ctx.services, report, credentials)
    if not report.ok:
        return again(422, report=_report_view(report))
    await asyncio.to_thread(save_connection, ctx.services, report, credentials)
    if ctx.config.public_url:
        ctx.spawn(_sync_webhooks(ctx, name), f"webhooks {name}")
    return see_other(f"/connections/{quote(name)}", "saved")


def _key_created(text: str) -> datetime:
    if not text.strip():
        return utcnow()
    try:
        day = date.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"Key created {text!r} is not a date like 2025-01-31.") from None
    moment = datetime(day.year, day.month, day.day, tzinfo=UTC)
    if moment > utcnow():
        raise ValueError("The key's creation date is in the future.")
    return moment


def _report_view(report: Report) -> dict[str, Any]:
    """A validation report for the page: never the key or the secret (the fingerprint only)."""
    data = report.to_dict()
    return {
        "ok": report.ok,
        "fingerprint": report.fingerprint,
        "permission": data.get("permission"),
        "diagnosis": data.get("diagnosis"),
        "findings": data.get("findings", []),
        "notes": data.get("notes", []),
        "store": data.get("store"),
        "can_run": data.get("can_run", {}),
    }


async def _connection_view(ctx: Context, name: str) -> dict[str, Any]:
    def gather() -> dict[str, Any]:
        now = utcnow()
        connection = get_or_404(ctx.db, name)
        return {
            "connection": connection_summary(connection, now),
            "flows": flow_rows(ctx.db, connection, now),
            "webhooks": [w.to_dict() for w in hooks.webhook_states(ctx.db, connection)],
        }

    return await asyncio.to_thread(gather)


@page
async def connection_page(request: Request, user: auth.SignedIn) -> Response:
    view = await _connection_view(ctx_of(request), request.path_params["name"])
    return render(request, "connection.html", user=user, **view)


@page
async def check_connection(request: Request, user: auth.SignedIn) -> Response:
    """Validate the stored key again (``woobridge check NAME``)."""
    ctx = ctx_of(request)
    name = request.path_params["name"]
    connection = get_or_404(ctx.db, name)
    from woobridge.commands.connections import credentials_of

    credentials = await asyncio.to_thread(credentials_of, connection, ctx.services)
    report = Report(
        name,
        connection.store_url,
        connection.key_fingerprint,
        connection.auth,
        list(connection.flows),
        connection.key_created_at,
    )
    await asyncio.to_thread(assess, ctx.services, report, credentials)

    def keep() -> None:
        with ctx.db.session() as session:
            stored = find_connection(session, name)
            if stored is not None:
                record_check(stored, report, ctx.services)

    await asyncio.to_thread(keep)
    view = await _connection_view(ctx, name)
    return render(request, "connection.html", user=user, check=_report_view(report), **view)


@page
async def rotate_key(request: Request, user: auth.SignedIn) -> Response:
    """The rotation form: the new key replaces the old one only after it passes validation (``woobridge rotate``)."""
    ctx = ctx_of(request)
    form = request.state.form
    name = request.path_params["name"]
    connection = get_or_404(ctx.db, name)
    try:
        created = _key_created(first(form, "key_created"))
        checked = check_inputs(
            connection.store_url, first(form, "consumer_key"), Secret(first(form, "consumer_secret"))
        )
    except ValueError as error:
        view = await _connection_view(ctx, name)
        return render(request, "connection.html", 400, user=user, rotate_problem=str(error), **view)
    except InputError as error:
        view = await _connection_view(ctx, name)
        return render(
            request, "connection.html", 400, user=user, rotation={"diagnosis": error.diagnosis.to_dict()}, **view
        )
    mode: AuthMode = "query" if connection.auth == "query" else "basic"
    credentials = Credentials(
        connection.store_url, checked.consumer_key, checked.consumer_secret, mode, connection.ca_file
    )
    report = Report(name, connection.store_url, credentials.fingerprint, mode, list(connection.flows), created)
    await asyncio.to_thread(assess, ctx.services, report, credentials)
    if not report.ok:
        view = await _connection_view(ctx, name)
        return render(request, "connection.html", 422, user=user, rotation=_report_view(report), **view)
    await asyncio.to_thread(replace_key, ctx.services, report, credentials)
    return see_other(f"/connections/{quote(name)}", "rotated")


@page
async def remove_connection(request: Request, user: auth.SignedIn) -> Response:
    """Remove the store's webhooks (best effort), then the connection and everything kept for it."""
    ctx = ctx_of(request)
    name = request.path_params["name"]
    get_or_404(ctx.db, name)
    if first(request.state.form, "confirm") != name:
        view = await _connection_view(ctx, name)
        return render(request, "connection.html", 400, user=user, remove_problem="Type the name to confirm.", **view)
    problems = await hooks.remove_webhooks(ctx.db, ctx.services.vault(), name, client_factory=ctx.client_factory())
    for problem in problems:
        log.warning("removing %s: %s", name, problem)

    def forget() -> None:
        with ctx.db.session() as session:
            connection = find_connection(session, name)
            if connection is not None:
                session.delete(connection)

    await asyncio.to_thread(forget)
    return see_other("/connections", "removed")


# -- flows -----------------------------------------------------------------------------------------------------


def _request_run(db: StateDB, name: str, flow: str) -> None:
    with db.session() as session:
        connection = find_connection(session, name)
        if connection is None:
            raise _Refused(404, f"no connection named {name!r}")
        request_run(session, connection, flow, "run-now", utcnow())


def _flow_or_404(flow: str) -> str:
    if flow not in FLOWS:
        raise _Refused(404, f"no flow named {flow!r}; flows: {', '.join(FLOWS)}")
    return flow


@page
async def run_now(request: Request, user: auth.SignedIn) -> Response:
    ctx = ctx_of(request)
    name, flow = request.path_params["name"], _flow_or_404(request.path_params["flow"])
    await asyncio.to_thread(_request_run, ctx.db, name, flow)
    ctx.scheduler.wake()
    return see_other(f"/connections/{quote(name)}", "run")


@page
async def change_flow(request: Request, user: auth.SignedIn) -> Response:
    """The on/off switch and the schedule of one flow."""
    ctx = ctx_of(request)
    form = request.state.form
    name, flow = request.path_params["name"], _flow_or_404(request.path_params["flow"])
    enabled = {"on": True, "off": False}.get(first(form, "enabled"))
    minutes = first(form, "interval_minutes").strip()
    try:
        interval = int(minutes) * 60 if minutes else None
    except ValueError:
        raise _Refused(400, f"the interval must be a whole number of minutes, not {minutes!r}") from None

    def change() -> None:
        with ctx.db.session() as session:
            connection = find_connection(session, name)
            if connection is None:
                raise _Refused(404, f"no connection named {name!r}")
            try:
                set_schedule(session, connection, flow, utcnow(), enabled=enabled, interval=interval)
            except ValueError as error:
                raise _Refused(400, str(error)) from None

    await asyncio.to_thread(change)
    ctx.scheduler.wake()
    return see_other(f"/connections/{quote(name)}", "flow")


# -- runs and record errors ------------------------------------------------------------------------------------


@page
async def runs_page(request: Request, user: auth.SignedIn) -> Response:
    from woobridge.flows.engine import list_runs

    ctx = ctx_of(request)
    name = request.path_params["name"]
    get_or_404(ctx.db, name)
    flow = request.query_params.get("flow") or None
    runs = await asyncio.to_thread(list_runs, ctx.db, name, flow, 200)
    return render(request, "runs.html", user=user, name=name, runs=[r.to_dict() for r in runs], flow=flow, flows=FLOWS)


@page
async def errors_page(request: Request, user: auth.SignedIn) -> Response:
    from woobridge.flows.engine import list_errors

    ctx = ctx_of(request)
    name = request.path_params["name"]
    get_or_404(ctx.db, name)
    show_all = request.query_params.get("all") == "1"
    errors = await asyncio.to_thread(list_errors, ctx.db, name, not show_all, None, 500)
    return render(
        request, "errors.html", user=user, name=name, errors=[error_dict(e) for e in errors], show_all=show_all
    )


def _selected(form: Mapping[str, list[str]]) -> list[int]:
    chosen = form.get("one") or form.get("ids") or []
    ids = []
    for value in chosen:
        with contextlib.suppress(ValueError):
            ids.append(int(value))
    return ids


async def retry_errors(ctx: Context, name: str, ids: list[int]) -> str:
    """Retry record errors through their flow's retry handler; returns ``retried`` or ``retry-queued``."""
    from woobridge.flows.engine import LeaseHeld, list_errors, load_retry_handler

    wanted = set(ids)
    errors = [e for e in await asyncio.to_thread(list_errors, ctx.db, name) if e.id in wanted]
    by_flow: dict[str, list[Any]] = {}
    for error in errors:
        by_flow.setdefault(error.flow, []).append(error)
    queued = False
    for flow, group in by_flow.items():
        handler = load_retry_handler(flow)
        if handler is None:
            raise _Refused(409, f"the {flow} flow has no retry yet")
        erp = _open_erp(ctx)
        try:
            await handler(ctx.db, name, group, erp=erp, services=ctx.services)
        except LeaseHeld:
            queued = True
            await asyncio.to_thread(_make_due, ctx.db, [e.id for e in group])
        finally:
            close = getattr(erp, "close", None)
            if callable(close):
                close()
    return "retry-queued" if queued else "retried"


def _make_due(db: StateDB, ids: list[int]) -> None:
    from woobridge.state.models import RecordError

    with db.session() as session:
        for error in session.scalars(select(RecordError).where(RecordError.id.in_(ids))):
            error.next_retry_at = utcnow()


def _open_erp(ctx: Context) -> Any:
    return open_erp_for(ctx.services)


def resolve_errors(ctx: Context, name: str, ids: list[int]) -> None:
    from woobridge.flows.engine import list_errors, resolve_error

    mine = {e.id for e in list_errors(ctx.db, name)}
    for error_id in ids:
        if error_id in mine:
            resolve_error(ctx.db, error_id)


@page
async def retry_page(request: Request, user: auth.SignedIn) -> Response:
    ctx = ctx_of(request)
    name = request.path_params["name"]
    notice = await retry_errors(ctx, name, _selected(request.state.form))
    return see_other(f"/connections/{quote(name)}/errors", notice)


@page
async def resolve_page(request: Request, user: auth.SignedIn) -> Response:
    ctx = ctx_of(request)
    name = request.path_params["name"]
    await asyncio.to_thread(resolve_errors, ctx, name, _selected(request.state.form))
    return see_other(f"/connections/{quote(name)}/errors", "resolved")


# -- webhooks --------------------------------------------------------------------------------------------------


async def _sync_webhooks(ctx: Context, name: str) -> None:
    if not ctx.config.public_url:
        return
    try:
        await hooks.sync_webhooks(
            ctx.db, ctx.services.vault(), name, ctx.config.public_url, client_factory=ctx.client_factory()
        )
    except Exception:
        log.exception("could not check the webhooks of %s", name)


@page
async def repair_webhooks(request: Request, user: auth.SignedIn) -> Response:
    ctx = ctx_of(request)
    name = request.path_params["name"]
    get_or_404(ctx.db, name)
    if not ctx.config.public_url:
        raise _Refused(409, "webhooks need a public URL: start woobridge serve with --public-url https://…")
    await _sync_webhooks(ctx, name)
    return see_other(f"/connections/{quote(name)}", "webhooks")


async def webhook_receiver(request: Request) -> Response:
    """``POST /webhooks/{name}``: verify, answer at once, nudge. See ``woobridge.service.webhooks``."""
    ctx = ctx_of(request)
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > hooks.MAX_BODY:
            return PlainTextResponse("too large", status_code=413)
    headers = {k.lower(): v for k, v in request.headers.items()}
    received = await asyncio.to_thread(
        hooks.receive, ctx.db, ctx.services.vault(), request.path_params["name"], body, headers
    )
    if received.nudged:
        ctx.scheduler.wake()
    return PlainTextResponse(received.reason, status_code=received.status)


# -- JSON API --------------------------------------------------------------------------------------------------


@api
async def api_connections(request: Request, user: auth.SignedIn) -> Response:
    return JSONResponse(await asyncio.to_thread(_list_connections, ctx_of(request).db))


@api
async def api_connection(request: Request, user: auth.SignedIn) -> Response:
    return JSONResponse(await _connection_view(ctx_of(request), request.path_params["name"]))


@api
async def api_runs(request: Request, user: auth.SignedIn) -> Response:
    from woobridge.flows.engine import list_runs

    ctx = ctx_of(request)
    name = request.path_params["name"]
    get_or_404(ctx.db, name)
    try:
        limit = min(1000, max(1, int(request.query_params.get("limit", "50"))))
    except ValueError:
        raise _Refused(400, "limit must be a number") from None
    runs = await asyncio.to_thread(list_runs, ctx.db, name, request.query_params.get("flow") or None, limit)
    return JSONResponse([r.to_dict() for r in runs])


@api
async def api_errors(request: Request, user: auth.SignedIn) -> Response:
    from woobridge.flows.engine import list_errors

    ctx = ctx_of(request)
    name = request.path_params["name"]
    get_or_404(ctx.db, name)
    open_only = request.query_params.get("all") != "1"
    errors = await asyncio.to_thread(list_errors, ctx.db, name, open_only, request.query_params.get("flow") or None)
    return JSONResponse([error_dict(e) for e in errors])


@api
async def api_run_now(request: Request, user: auth.SignedIn) -> Response:
    ctx = ctx_of(request)
    name, flow = request.path_params["name"], _flow_or_404(request.path_params["flow"])
    await asyncio.to_thread(_request_run, ctx.db, name, flow)
    ctx.scheduler.wake()
    return JSONResponse({"requested": True, "connection": name, "flow": flow}, status_code=202)


async def _json_ids(request: Request) -> list[int]:
    try:
        data = await request.json()
    except ValueError:
        raise _Refused(400, 'send {"ids": [1, 2]}') from None
    ids = data.get("ids") if isinstance(data, dict) else None
    if not isinstance(ids, list) or not all(isinstance(i, int) for i in ids):
        raise _Refused(400, 'send {"ids": [1, 2]}')
    return list(ids)


@api
async def api_retry(request: Request, user: auth.SignedIn) -> Response:
    ctx = ctx_of(request)
    name = request.path_params["name"]
    get_or_404(ctx.db, name)
    outcome = await retry_errors(ctx, name, await _json_ids(request))
    return JSONResponse({"outcome": outcome})


@api
async def api_resolve(request: Request, user: auth.SignedIn) -> Response:
    ctx = ctx_of(request)
    name = request.path_params["name"]
    get_or_404(ctx.db, name)
    ids = await _json_ids(request)
    await asyncio.to_thread(resolve_errors, ctx, name, ids)
    return JSONResponse({"resolved": ids})


# -- metrics and health ----------------------------------------------------------------------------------------


async def metrics(request: Request) -> Response:
    ctx = ctx_of(request)
    registry = registry_for(ctx.db, ctx.store_requests)
    body = await asyncio.to_thread(generate_latest, registry)
    return Response(body, media_type=CONTENT_TYPE_LATEST)


async def healthz(request: Request) -> Response:
    return PlainTextResponse("ok")


# -- the app ---------------------------------------------------------------------------------------------------


class SecurityHeaders:
    """Headers every answer carries: no framing, no sniffing, no referrer, scripts and styles from here only."""

    HEADERS: ClassVar[list[tuple[bytes, bytes]]] = [
        (b"x-frame-options", b"DENY"),
        (b"x-content-type-options", b"nosniff"),
        (b"referrer-policy", b"no-referrer"),
        (
            b"content-security-policy",
            b"default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
            b"form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    ]

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *self.HEADERS]
            await send(message)

        await self.app(scope, receive, with_headers)


async def _refused(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, _Refused)
    if request.url.path.startswith("/api/"):
        return JSONResponse({"error": exc.message}, status_code=exc.status)
    return PlainTextResponse(exc.message, status_code=exc.status)


def templates() -> Environment:
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = _when
    env.filters["duration"] = _duration
    return env


def _when(value: str | None) -> str:
    if not value:
        return "—"
    moment = datetime.fromisoformat(value)
    return f"{moment:%Y-%m-%d %H:%M:%S} UTC"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "running"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 120:
        return f"{seconds:.1f} s"
    return f"{seconds / 60:.1f} min"


def default_invoker(services: Services) -> Callable[[str, Any], Awaitable[Outcome]]:
    from woobridge.flows.engine import default_holder

    holder = f"serve {default_holder()}"

    async def run(connection: str, spec: Any) -> Outcome:
        deps = FlowDeps(
            db=services.state(), services=services, holder=holder, erp_factory=lambda: open_erp_for(services)
        )
        return await invoke(spec, connection, deps)

    return run


def open_erp_for(services: Services) -> Any:
    """The ERP adapter for flows and retries: the services' own (tests) or the one ``WOOBRIDGE_ERP`` names
    (staging, this home's, by default)."""
    own = getattr(services, "open_erp", None)
    if callable(own):
        return own()
    from woobridge.erp import open_erp

    return open_erp(environ=services.environ)


def create_app(services: Services, config: ServeConfig | None = None) -> Starlette:
    """The ``serve`` app for these services (state database, vault, validator)."""
    config = config or ServeConfig()
    db = services.state()
    scheduler = Scheduler(db, config.invoker or default_invoker(services), interval=config.tick_seconds)
    context = Context(services, config, templates(), scheduler)
    if services.on_store_request is None:
        # Every store client the app's runs and retries build reports its requests to /metrics.
        services.on_store_request = context.store_requests.observe

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        loops: list[asyncio.Task[None]] = []
        if config.scheduler:
            loops.append(asyncio.create_task(scheduler.run_forever(), name="scheduler"))
        if config.public_url:
            loops.append(asyncio.create_task(_webhook_health(context), name="webhook health"))
        try:
            yield
        finally:
            for task in loops:
                task.cancel()
            for task in loops:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await scheduler.stop()
            for task in list(context.background):
                task.cancel()

    routes = [
        Route("/", home),
        Route("/login", login_page, methods=["GET"]),
        Route("/login", login_submit, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/connections", connections_page, methods=["GET"]),
        Route("/connections", validate_new, methods=["POST"]),
        Route("/connections/{name}", connection_page, methods=["GET"]),
        Route("/connections/{name}/check", check_connection, methods=["POST"]),
        Route("/connections/{name}/rotate", rotate_key, methods=["POST"]),
        Route("/connections/{name}/remove", remove_connection, methods=["POST"]),
        Route("/connections/{name}/webhooks", repair_webhooks, methods=["POST"]),
        Route("/connections/{name}/flows/{flow}", change_flow, methods=["POST"]),
        Route("/connections/{name}/flows/{flow}/run", run_now, methods=["POST"]),
        Route("/connections/{name}/runs", runs_page, methods=["GET"]),
        Route("/connections/{name}/errors", errors_page, methods=["GET"]),
        Route("/connections/{name}/errors/retry", retry_page, methods=["POST"]),
        Route("/connections/{name}/errors/resolve", resolve_page, methods=["POST"]),
        Route("/api/connections", api_connections),
        Route("/api/connections/{name}", api_connection),
        Route("/api/connections/{name}/runs", api_runs),
        Route("/api/connections/{name}/errors", api_errors),
        Route("/api/connections/{name}/errors/retry", api_retry, methods=["POST"]),
        Route("/api/connections/{name}/errors/resolve", api_resolve, methods=["POST"]),
        Route("/api/connections/{name}/flows/{flow}/run", api_run_now, methods=["POST"]),
        Route("/webhooks/{name}", webhook_receiver, methods=["POST"]),
        Route("/metrics", metrics),
        Route("/healthz", healthz),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
    app = Starlette(routes=routes, lifespan=lifespan, exception_handlers={_Refused: _refused})
    app.state.context = context
    app.add_middleware(SecurityHeaders)
    return app


async def _webhook_health(ctx: Context) -> None:
    """Every few minutes: check every connection's webhooks (recreate disabled or missing ones)."""
    while True:
        names = await asyncio.to_thread(lambda: [c["name"] for c in _list_connections(ctx.db)])
        for name in names:
            await _sync_webhooks(ctx, name)
        await asyncio.to_thread(hooks.prune_deliveries, ctx.db)
        await asyncio.sleep(ctx.config.webhook_check_seconds)
