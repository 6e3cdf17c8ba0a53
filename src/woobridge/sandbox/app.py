"""The sandbox as an ASGI app: WordPress' front door, the REST server, and the admin endpoint.

Request path, in the order a real stack sees it: fault injection (the network and the host) → server setup
(canonical redirects, http→https, maintenance, WAF) → WordPress (permalinks, legacy API, HTML pages) → REST
(authentication, key permissions, routing, parameter validation, permission callbacks, controllers).
"""

from __future__ import annotations

import email.utils
import json
import logging
import secrets
from collections.abc import Awaitable, Callable, MutableMapping
from datetime import UTC
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from woobridge.sandbox import admin, pages
from woobridge.sandbox.auth import AuthRequest, Identity, authenticate, check_key_permissions
from woobridge.sandbox.faults import FaultPlan
from woobridge.sandbox.state import Store
from woobridge.sandbox.switches import Modes, version_tuple, wc_namespaces
from woobridge.sandbox.wp import (
    Call,
    Endpoint,
    Reply,
    RestError,
    Router,
    filter_fields,
    not_found_route,
    php_json,
    php_parse,
    validate,
)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

log = logging.getLogger(__name__)

ADMIN_PREFIX = "/__sandbox__"

_REST_HEADERS = [
    ("X-Robots-Tag", "noindex"),
    ("X-Content-Type-Options", "nosniff"),
    ("Access-Control-Expose-Headers", "X-WP-Total, X-WP-TotalPages, Link"),
    (
        "Access-Control-Allow-Headers",
        "Authorization, X-WP-Nonce, Content-Disposition, Content-MD5, Content-Type",
    ),
]
_NO_CACHE = [
    ("Expires", "Wed, 11 Jan 1984 05:00:00 GMT"),
    ("Cache-Control", "no-cache, must-revalidate, max-age=0, no-store, private"),
]


def build_router() -> Router:
    """Every controller registers its own routes; this is the only list of them."""
    from woobridge.sandbox import customers, orders, products, system_status, tracking, webhooks

    router = Router()
    for module in (system_status, products, orders, customers, webhooks, tracking):
        module.register(router)
    return router


class Sandbox:
    """One sandbox store: its data, switches, faults, webhook deliveries and admin token."""

    def __init__(self, store: Store | None = None, admin_token: str | None = None) -> None:
        from woobridge.sandbox.webhooks import Deliverer

        self.store = store or Store()
        self.modes = Modes()
        self.faults = FaultPlan(store=self.store)
        self.admin_token = admin_token or secrets.token_urlsafe(24)
        self.router = build_router()
        self.deliverer = Deliverer(self)
        self.app = SandboxApp(self)

    def namespaces(self) -> set[str]:
        return wc_namespaces(self.store.settings.wc_version, self.modes)


class SandboxApp:
    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        if scope["path"].startswith(ADMIN_PREFIX):
            response = await admin.handle(self.sandbox, Request(scope, receive))
            await response(scope, receive, send)
            return
        await self.sandbox.faults.run(scope, receive, send, self._serve)

    async def _serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        try:
            body = await request.body()
        except ClientDisconnect:
            # The client went away before we read its request (e.g. killed during a latency fault): normal on the
            # internet, nothing to answer and nothing worth a traceback.
            log.debug("client disconnected before its request was read: %s %s", scope["method"], scope["path"])
            return
        response = self.handle(request, body)
        # The web server's Date header, on the store's clock (tests shift it with store.clock_offset): clients
        # such as the orders flow start their next window from it.
        now = self.sandbox.store.now().replace(tzinfo=UTC)
        response.headers["Date"] = email.utils.format_datetime(now, usegmt=True)
        await response(scope, receive, send)

    # -- the stack, outermost first ----------------------------------------------------------------------------

    def handle(self, request: Request, body: bytes) -> Response:
        sandbox = self.sandbox
        modes = sandbox.modes
        settings = sandbox.store.settings
        url = request.url
        origin = f"{url.scheme}://{url.netloc}"
        target = url.path + (f"?{url.query}" if url.query else "")
        if modes.canonical_origin and origin != modes.canonical_origin.rstrip("/"):
            return pages.redirect(modes.canonical_origin.rstrip("/") + target, by_wordpress=True)
        if modes.redirect_to_https and url.scheme == "http":
            return pages.redirect(modes.redirect_to_https.rstrip("/") + target, by_wordpress=False)
        if modes.maintenance:
            return pages.maintenance()

        home_path = urlsplit(settings.home_url).path.rstrip("/")
        path = url.path
        if home_path:
            if not path.startswith(home_path):
                return pages.not_found(settings)
            path = path[len(home_path) :] or "/"
        query_pairs = parse_qsl(url.query, keep_blank_values=True)
        query = dict(query_pairs)

        pretty = modes.permalinks == "pretty"
        wc_active = modes.woocommerce_active
        if path.startswith("/wc-api/") or "wc-api-version" in query or "wc-api-route" in query:
            if wc_active and version_tuple(settings.wc_version) >= (9, 0):
                return pages.legacy_api_disabled()
            if wc_active and version_tuple(settings.wc_version) < (3, 0):
                return pages.legacy_api_index(settings)
            return pages.not_found(settings, pretty)

        rest_route: str | None = None
        if "rest_route" in query and path in ("/", "/index.php"):
            rest_route = query["rest_route"] or "/"
        elif path == "/wp-json" or path.startswith("/wp-json/"):
            if not pretty:
                # No rewrite rules: WordPress' canonical redirect adds a slash, then the theme answers HTML.
                if not path.endswith("/"):
                    page = pages.redirect(settings.home_url + path + "/" + (f"?{url.query}" if url.query else ""))
                else:
                    page = pages.home(settings, pretty, status=200, head=request.method == "HEAD")
                return self._front_end(page, request, path, query_pairs)
            rest_route = path[len("/wp-json") :] or "/"
        if rest_route is None:
            if path in ("/", "/index.php"):
                page = pages.home(settings, pretty, head=request.method == "HEAD")
            else:
                page = pages.not_found(settings, pretty)
            return self._front_end(page, request, path, query_pairs)

        if modes.rest_blocked == "waf":
            return pages.waf_block()
        rest_root = settings.home_url + ("/wp-json/" if pretty else "/index.php?rest_route=/")
        return self.rest(request, body, path, url.query, query_pairs, rest_route.rstrip("/") or "/", rest_root)

    def _front_end(self, page: Response, request: Request, path: str, query_pairs: list[tuple[str, str]]) -> Response:
        """A theme page. WooCommerce's key authentication hooks determine_current_user for every request whose
        URI contains ``wp-json/wc/`` (plain permalinks send /wp-json/wc/... here), so valid keys log the user in
        on the front end too, and WordPress then sends its no-cache headers (recordings 19, 19j, 19m)."""
        store = self.sandbox.store
        try:
            with store.lock, store.transaction():
                identity = authenticate(
                    store,
                    AuthRequest(
                        method=request.method.upper(),
                        path=path,
                        raw_query=request.url.query,
                        query_pairs=query_pairs,
                        form_pairs=[],
                        authorization=None
                        if self.sandbox.modes.strip_authorization
                        else request.headers.get("authorization"),
                        is_ssl=request.url.scheme == "https" and not self.sandbox.modes.https_not_detected,
                    ),
                )
        except RestError:
            return page  # an authentication error only matters to the REST server; the page is served anonymously
        if identity.user is not None:
            for name, value in _NO_CACHE:
                page.headers[name] = value
        return page

    def rest(
        self,
        request: Request,
        body: bytes,
        path: str,
        raw_query: str,
        query_pairs: list[tuple[str, str]],
        route: str,
        rest_root: str,
    ) -> Response:
        sandbox = self.sandbox
        store = sandbox.store
        modes = sandbox.modes
        method = request.method.upper()
        override = request.headers.get("x-http-method-override") or dict(query_pairs).get("_method")
        if override and method == "POST":
            method = override.upper()

        content_type = request.headers.get("content-type", "")
        parsed_body: Any = None
        form_pairs: list[tuple[str, str]] = []
        extra_headers: list[tuple[str, str]] = []
        identity = Identity(None, None)
        try:
            if body:
                if "json" in content_type:
                    try:
                        parsed_body = json.loads(body)
                    except ValueError:
                        raise RestError("rest_invalid_json", "Invalid JSON body passed.", {"status": 400}) from None
                elif "x-www-form-urlencoded" in content_type:
                    form_pairs = parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
                    parsed_body = php_parse(form_pairs)
            with store.lock, store.transaction():
                if modes.rest_blocked == "plugin":
                    raise RestError(
                        "rest_cannot_access",
                        "Only authenticated users can access the REST API.",
                        {"status": 401},
                    )
                identity = authenticate(
                    store,
                    AuthRequest(
                        method=method,
                        path=path,
                        raw_query=raw_query,
                        query_pairs=query_pairs,
                        form_pairs=form_pairs,
                        authorization=None if modes.strip_authorization else request.headers.get("authorization"),
                        is_ssl=request.url.scheme == "https" and not modes.https_not_detected,
                    ),
                )
                check_key_permissions(identity, method)
                reply, allow = self.dispatch(
                    method, route, query_pairs, parsed_body, identity, dict(request.headers), rest_root
                )
        except RestError as error:
            reply, allow = Reply(error.body(), error.status), None
        if allow:
            extra_headers.append(("Allow", allow))
        if identity.user is not None:
            extra_headers += _NO_CACHE
        extra_headers += _cors_headers(request, logged_in=identity.user is not None)
        return rest_response(reply, rest_root, extra_headers, head=request.method == "HEAD")

    def dispatch(
        self,
        method: str,
        route: str,
        query_pairs: list[tuple[str, str]],
        body: Any,
        identity: Identity,
        headers: dict[str, str],
        rest_root: str,
    ) -> tuple[Reply, str | None]:
        sandbox = self.sandbox
        namespaces = sandbox.namespaces()
        if route == "/":
            return Reply(pages.rest_index(sandbox, namespaces, rest_root)), "GET"
        bare = route.strip("/")
        if bare in namespaces:
            return Reply(pages.namespace_index(sandbox, bare, rest_root)), "GET"
        found = sandbox.router.match(route, namespaces)
        if found is None:
            raise not_found_route()
        matched, url_params = found
        lookup = "GET" if method == "HEAD" else method
        endpoint = next((e for e in matched.endpoints if lookup in e.methods), None)
        if endpoint is None:
            raise not_found_route()
        query = php_parse(query_pairs)
        params: dict[str, Any] = {**query}
        if isinstance(body, dict):
            params.update(body)
        params.update(url_params)
        call = Call(
            store=sandbox.store,
            method=method,
            route=route,
            namespace=matched.namespace,
            query_pairs=query_pairs,
            query=query,
            body=body,
            url_params=url_params,
            user=identity.user,
            key=identity.key,
            headers=headers,
            rest_root=rest_root,
            params=params,
            namespaces=frozenset(namespaces),
        )
        try:
            validate(params, endpoint.args)
            if endpoint.permission is not None:
                endpoint.permission(call)
            reply = endpoint.callback(call)
        except RestError as error:
            return Reply(error.body(), error.status), _allow_header(matched.endpoints, call)
        if 200 <= reply.status < 300 and params.get("_fields"):
            reply.body = filter_fields(reply.body, params["_fields"])
        return reply, _allow_header(matched.endpoints, call)


def _cors_headers(request: Request, logged_in: bool) -> list[tuple[str, str]]:
    """rest_send_cors_headers: a request with an Origin gets it echoed with credentials allowed; an anonymous
    GET without one answers ``Vary: Origin`` (its response may be cached and shared)."""
    origin = request.headers.get("origin")
    if origin:
        return [
            ("Access-Control-Allow-Origin", origin),
            ("Access-Control-Allow-Methods", "OPTIONS, GET, POST, PUT, PATCH, DELETE"),
            ("Access-Control-Allow-Credentials", "true"),
            ("Vary", "Origin"),
        ]
    if request.method.upper() == "GET" and not logged_in:
        return [("Vary", "Origin")]
    return []


def _allow_header(endpoints: list[Endpoint], call: Call) -> str | None:
    """rest_send_allow_header: the route's methods whose permission callback passes for this request."""
    allowed: list[str] = []
    for endpoint in endpoints:
        permitted = True
        if endpoint.permission is not None:
            try:
                endpoint.permission(call)
            except RestError:
                permitted = False
        if permitted:
            allowed += [m for m in endpoint.methods if m not in allowed]
    return ", ".join(allowed) or None


def rest_response(reply: Reply, rest_root: str, extra: list[tuple[str, str]], head: bool = False) -> Response:
    headers = list(_REST_HEADERS)
    own = {name.lower() for name, _ in reply.headers}
    if "link" not in own:
        headers.append(("Link", f'<{rest_root}>; rel="https://api.w.org/"'))
    headers += reply.headers + extra
    response = Response(
        b"" if head else php_json(reply.body),
        status_code=reply.status,
        media_type="application/json; charset=UTF-8",
    )
    for name, value in headers:
        response.headers.append(name, value)
    return response


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
