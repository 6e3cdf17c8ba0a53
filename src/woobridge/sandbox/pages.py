"""What a WordPress site answers outside the REST API: HTML pages, redirects, the legacy API stub, and the
REST indexes (``/wp-json/`` and ``/wp-json/wc/v3``) that need no credentials."""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING, Any

from starlette.responses import Response

from woobridge.sandbox.state import Settings
from woobridge.sandbox.wp import php_json

if TYPE_CHECKING:
    from woobridge.sandbox.app import Sandbox

HTML = "text/html; charset=UTF-8"


def discovery_link(settings: Settings, pretty: bool = True) -> str:
    root = settings.home_url + ("/wp-json/" if pretty else "/index.php?rest_route=/")
    return f'<{root}>; rel="https://api.w.org/"'


def home(settings: Settings, pretty: bool, status: int = 200, head: bool = False) -> Response:
    """The shop's front page. Every page carries the API discovery Link header, as WordPress sends it."""
    body = (
        '<!DOCTYPE html>\n<html lang="en-US"><head><meta charset="UTF-8"><title>Sandbox Shop</title>'
        f'<link rel="https://api.w.org/" href="{escape(discovery_link(settings, pretty).split(">")[0][1:])}" />'
        '</head><body class="home woocommerce"><h1>Sandbox Shop</h1>'
        "<p>Just another WooCommerce store.</p></body></html>\n"
    )
    response = Response(b"" if head else body.encode(), status_code=status, media_type=HTML)
    response.headers["Link"] = discovery_link(settings, pretty)
    return response


def not_found(settings: Settings, pretty: bool = True) -> Response:
    body = (
        "<!DOCTYPE html>\n<html><head><title>Page not found – Sandbox Shop</title></head>"
        "<body><h1>Page not found</h1></body></html>\n"
    )
    response = Response(body.encode(), status_code=404, media_type=HTML)
    response.headers["Link"] = discovery_link(settings, pretty)
    return response


def redirect(location: str, by_wordpress: bool = True) -> Response:
    if by_wordpress:
        response = Response(b"", status_code=301, media_type=HTML)
        response.headers["X-Redirect-By"] = "WordPress"
    else:  # nginx's own page
        body = (
            "<html>\r\n<head><title>301 Moved Permanently</title></head>\r\n<body>\r\n"
            "<center><h1>301 Moved Permanently</h1></center>\r\n<hr><center>nginx/1.22.1</center>\r\n"
            "</body>\r\n</html>\r\n"
        )
        # nginx sends a bare "text/html" (no charset); starlette would add one to a text/* media type.
        response = Response(body.encode(), status_code=301, headers={"Content-Type": "text/html"})
    response.headers["Location"] = location
    return response


def maintenance() -> Response:
    body = (
        "<!DOCTYPE html>\n<html><head><title>Maintenance</title></head><body>"
        "<p>Briefly unavailable for scheduled maintenance. Check back in a minute.</p></body></html>\n"
    )
    response = Response(body.encode(), status_code=503, media_type=HTML)
    response.headers["Retry-After"] = "600"
    return response


def waf_block() -> Response:
    body = (
        "<!DOCTYPE html>\n<html><head><title>403 Forbidden</title></head><body><h1>Access denied</h1>"
        "<p>This request was blocked by the website firewall (mod_security).</p></body></html>\n"
    )
    return Response(body.encode(), status_code=403, media_type=HTML)


def legacy_api_disabled() -> Response:
    """WooCommerce ≥ 9.0 without the Legacy REST API extension (LegacyRestApiStub)."""
    body = {
        "errors": {
            "code": "woocommerce_api_disabled",
            "message": "The WooCommerce API is disabled on this site",
        }
    }
    return Response(php_json(body), status_code=404, media_type="application/json; charset=UTF-8")


def legacy_api_index(settings: Settings) -> Response:
    """A pre-3.0 store: only the legacy /wc-api/v3/ answers, with its own index."""
    body = {
        "store": {
            "name": "Sandbox Shop",
            "URL": settings.home_url,
            "wc_version": settings.wc_version,
            "routes": {"/products": {}, "/orders": {}, "/customers": {}},
            "meta": {"currency": settings.currency, "ssl_enabled": True, "permalinks_enabled": True},
        }
    }
    return Response(php_json(body), status_code=200, media_type="application/json; charset=UTF-8")


def rest_index(sandbox: Sandbox, namespaces: set[str], rest_root: str) -> dict[str, Any]:
    settings = sandbox.store.settings
    all_namespaces = ["oembed/1.0", *sorted(namespaces), "wp/v2", "wp-site-health/v1"]
    routes = {
        route.path: {"namespace": route.namespace, "methods": route.methods()}
        for route in sandbox.router.routes
        if route.namespace in namespaces
    }
    return {
        "name": "Sandbox Shop",
        "description": "Just another WooCommerce store",
        "url": settings.home_url,
        "home": settings.home_url,
        "gmt_offset": settings.gmt_offset_hours(),
        "timezone_string": settings.timezone,
        "namespaces": all_namespaces,
        "authentication": {},
        "routes": routes,
        "_links": {"help": [{"href": "https://developer.wordpress.org/rest-api/"}]},
    }


def namespace_index(sandbox: Sandbox, namespace: str, rest_root: str) -> dict[str, Any]:
    return {
        "namespace": namespace,
        "routes": {
            route.path: {"namespace": namespace, "methods": route.methods()}
            for route in sandbox.router.namespace_routes(namespace)
        },
    }
