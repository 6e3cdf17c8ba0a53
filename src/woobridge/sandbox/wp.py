"""The WordPress REST server, as far as WooCommerce clients can see it.

This is the layer every controller goes through: parsing a request the way PHP does (``a[]=1&a[]=2``),
matching it to a route, validating parameters before permissions (as ``WP_REST_Server::dispatch`` does),
checking the permission callback, turning a ``WP_Error`` into ``{"code", "message", "data"}`` with the status
taken from ``data.status`` (or 500 when data is not an array: the refund quirk), and adding the headers clients
read: ``Allow``, the discovery ``Link``, pagination ``X-WP-Total``/``X-WP-TotalPages``/``Link``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

from woobridge.sandbox.state import ApiKey, Store, User

Handler = Callable[["Call"], "Reply"]
Permission = Callable[["Call"], None]

READABLE = ("GET",)
CREATABLE = ("POST",)
EDITABLE = ("POST", "PUT", "PATCH")
DELETABLE = ("DELETE",)


class RestError(Exception):
    """A WP_Error on its way to the client. ``data`` is usually ``{"status": N, ...}``; when it is not a dict,
    WordPress answers 500 whatever it holds (refund errors carry a bare integer)."""

    def __init__(self, code: str, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data

    @property
    def status(self) -> int:
        if isinstance(self.data, dict) and isinstance(self.data.get("status"), int):
            return int(self.data["status"])
        return 500

    def body(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "data": self.data}


def not_found_route() -> RestError:
    return RestError("rest_no_route", "No route was found matching the URL and request method.", {"status": 404})


@dataclass
class Reply:
    """What a controller returns: JSON body, status and the headers it sets itself."""

    body: Any
    status: int = 200
    headers: list[tuple[str, str]] = field(default_factory=list)


# -- request parsing ----


def php_parse(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """Parse query or form pairs as PHP fills $_GET: ``a[]=1&a[]=2`` → list, ``a[x]=1`` → dict, last one wins."""
    result: dict[str, Any] = {}
    for raw_key, value in pairs:
        match = re.match(r"^([^\[]+)((?:\[[^\]]*\])*)$", raw_key)
        if not match or not match.group(2):
            result[raw_key] = value
            continue
        name, rest = match.group(1), re.findall(r"\[([^\]]*)\]", match.group(2))
        container: Any = result
        keys: list[str] = [name, *rest]
        for depth, key in enumerate(keys):
            last = depth == len(keys) - 1
            if isinstance(container, list):
                if last:
                    container.append(value)
                else:
                    container.append({})
                    container = container[-1]
                continue
            if last:
                container[key] = value
            else:
                nxt = keys[depth + 1]
                if key not in container or not isinstance(container[key], (dict, list)):
                    container[key] = [] if nxt == "" else {}
                container = container[key]
    return result


@dataclass
class Arg:
    """One parameter of an endpoint, validated and sanitised as WordPress' JSON schema does."""

    type: str = "string"  # string|integer|number|boolean|array|object|date-time
    default: Any = None
    minimum: int | None = None
    maximum: int | None = None
    enum: Sequence[str] | None = None  # for arrays, the items' enum
    required: bool = False


def _out_of_bounds(name: str, arg: Arg) -> str:
    return f"{name} must be between {arg.minimum} (inclusive) and {arg.maximum} (inclusive)"


def _coerce(name: str, value: Any, arg: Arg) -> tuple[Any, tuple[str, str] | None]:
    """Return the sanitised value, or an error (code, message) as rest_validate_value_from_schema words it."""
    kind = arg.type
    if kind == "integer":
        text = str(value).strip()
        if isinstance(value, bool) or not re.fullmatch(r"-?\d+", text):
            return None, ("rest_invalid_type", f"{name} is not of type integer.")
        number = int(text)
        if (arg.minimum is not None and number < arg.minimum) or (arg.maximum is not None and number > arg.maximum):
            if arg.maximum is None:
                return None, ("rest_out_of_bounds", f"{name} must be greater than or equal to {arg.minimum}")
            return None, ("rest_out_of_bounds", _out_of_bounds(name, arg))
        return number, None
    if kind == "boolean":
        if isinstance(value, bool):
            return value, None
        text = str(value).strip().lower()
        if text in ("1", "true"):
            return True, None
        if text in ("0", "false", ""):
            return False, None
        return None, ("rest_invalid_type", f"{name} is not of type boolean.")
    if kind == "array":
        items = value if isinstance(value, list) else list(value.values()) if isinstance(value, dict) else None
        if items is None:
            items = [v for v in re.split(r"[\s,]+", str(value)) if v != ""]
        if arg.enum is not None:
            for index, item in enumerate(items):
                if str(item) not in arg.enum:
                    return None, (
                        "rest_not_in_enum",
                        f"{name}[{index}] is not one of {', '.join(arg.enum)}.",
                    )
        return items, None
    if kind == "date-time":
        text = str(value)
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:?\d{2})?", text):
            return None, ("rest_invalid_date", "Invalid date.")
        return text, None
    if kind == "object":
        if not isinstance(value, dict):
            return None, ("rest_invalid_type", f"{name} is not of type object.")
        return value, None
    if arg.enum is not None and str(value) not in arg.enum:
        return None, ("rest_not_in_enum", f"{name} is not one of {', '.join(arg.enum)}.")
    return value, None


def validate(params: dict[str, Any], args: Mapping[str, Arg]) -> dict[str, Any]:
    """Apply defaults and validate; raise rest_invalid_param / rest_missing_callback_param like WordPress."""
    missing = [name for name, arg in args.items() if arg.required and name not in params]
    if missing:
        raise RestError(
            "rest_missing_callback_param",
            f"Missing parameter(s): {', '.join(missing)}",
            {"status": 400, "params": missing},
        )
    invalid: dict[str, str] = {}
    details: dict[str, Any] = {}
    for name, arg in args.items():
        if name in params:
            value, error = _coerce(name, params[name], arg)
            if error:
                invalid[name] = error[1]
                details[name] = {"code": error[0], "message": error[1], "data": None}
            else:
                params[name] = value
        elif arg.default is not None:
            params[name] = arg.default
    if invalid:
        raise RestError(
            "rest_invalid_param",
            f"Invalid parameter(s): {', '.join(invalid)}",
            {"status": 400, "params": invalid, "details": details},
        )
    return params


def collection_args(order: str = "desc", orderby: str = "date", orderby_enum: Sequence[str] = ()) -> dict[str, Arg]:
    """The list parameters every WooCommerce collection shares (WP_REST_Controller::get_collection_params and
    the CRUD controllers' additions); an endpoint adds its own filters to this."""
    return {
        "context": Arg("string", default="view", enum=("view", "edit")),
        "page": Arg("integer", default=1, minimum=1),
        "per_page": Arg("integer", default=10, minimum=1, maximum=100),
        "offset": Arg("integer"),
        "search": Arg("string"),
        "include": Arg("array"),
        "exclude": Arg("array"),
        "order": Arg("string", default=order, enum=("asc", "desc")),
        "orderby": Arg("string", default=orderby, enum=orderby_enum or None),
    }


def date_filter_args() -> dict[str, Arg]:
    """after/before (creation) and modified_after/modified_before, compared in GMT when dates_are_gmt is set."""
    return {
        "after": Arg("date-time"),
        "before": Arg("date-time"),
        "modified_after": Arg("date-time"),
        "modified_before": Arg("date-time"),
        "dates_are_gmt": Arg("boolean"),
    }


# -- routes ----


@dataclass
class Endpoint:
    methods: tuple[str, ...]
    callback: Handler
    permission: Permission | None = None
    args: Mapping[str, Arg] = field(default_factory=dict)


@dataclass
class Route:
    namespace: str
    path: str
    regex: re.Pattern[str]
    endpoints: list[Endpoint]

    def methods(self) -> list[str]:
        return [m for e in self.endpoints for m in e.methods]


class Router:
    """Routes by namespace; a namespace that is not active answers rest_no_route, as an inactive plugin does."""

    def __init__(self) -> None:
        self.routes: list[Route] = []

    def add(self, namespaces: Sequence[str], path: str, *endpoints: Endpoint) -> None:
        for namespace in namespaces:
            full = f"/{namespace}{path}"
            self.routes.append(Route(namespace, full, re.compile(f"^{full}$"), list(endpoints)))

    def match(self, route: str, namespaces: set[str]) -> tuple[Route, dict[str, str]] | None:
        for candidate in self.routes:
            if candidate.namespace not in namespaces:
                continue
            found = candidate.regex.match(route)
            if found:
                return candidate, found.groupdict()
        return None

    def namespace_routes(self, namespace: str) -> list[Route]:
        return [r for r in self.routes if r.namespace == namespace]


# -- one request as a controller sees it ----


@dataclass
class Call:
    store: Store
    method: str
    route: str
    namespace: str
    query_pairs: list[tuple[str, str]]
    query: dict[str, Any]
    body: Any
    url_params: dict[str, str]
    user: User | None
    key: ApiKey | None
    headers: Mapping[str, str]
    rest_root: str  # e.g. https://host/wp-json/ or https://host/index.php?rest_route=/
    params: dict[str, Any] = field(default_factory=dict)
    namespaces: frozenset[str] = frozenset()  # the active ones: tells which plugins are on

    @property
    def version(self) -> int:
        return int(self.namespace.rsplit("v", 1)[-1]) if self.namespace.startswith("wc/v") else 3

    def rest_url(self, path: str) -> str:
        """Absolute URL of a REST route (path starts with /)."""
        return self.rest_root + path.lstrip("/")

    def home(self, path: str = "") -> str:
        return self.store.settings.home_url + path

    def int_param(self, name: str) -> int:
        return int(self.params.get(name) or self.url_params[name])

    def body_dict(self) -> dict[str, Any]:
        return self.body if isinstance(self.body, dict) else {}


# -- permission helpers ----

_PERMISSION_MESSAGES = {
    "list": ("woocommerce_rest_cannot_view", "Sorry, you cannot list resources."),
    "read": ("woocommerce_rest_cannot_view", "Sorry, you cannot view this resource."),
    "create": ("woocommerce_rest_cannot_create", "Sorry, you are not allowed to create resources."),
    "edit": ("woocommerce_rest_cannot_edit", "Sorry, you are not allowed to edit this resource."),
    "delete": ("woocommerce_rest_cannot_delete", "Sorry, you are not allowed to delete this resource."),
    "batch": (
        "woocommerce_rest_cannot_batch",
        "Sorry, you are not allowed to batch manipulate this resource.",
    ),
}

# What each action needs, by kind of resource (wc_rest_check_post_permissions / wc_rest_check_user_permissions /
# wc_rest_check_manager_permissions).
_CAPABILITY = {
    "posts": {a: f"posts:{'read' if a == 'list' else a}" for a in _PERMISSION_MESSAGES},
    "users": {
        "list": "list_users",
        "read": "list_users",
        "create": "create_customers",
        "edit": "edit_users",
        "delete": "delete_users",
        "batch": "promote_users",
    },
    "manager": dict.fromkeys(_PERMISSION_MESSAGES, "manage_woocommerce"),
}


def needs(kind: str, action: str) -> Permission:
    """A permission callback: 401 for anonymous requests, 403 for users without the capability."""
    capability = _CAPABILITY[kind][action]
    code, message = _PERMISSION_MESSAGES[action]

    def check(call: Call) -> None:
        if call.user is None or not call.user.can(capability):
            raise RestError(code, message, {"status": 403 if call.user else 401})

    return check


# -- pagination ----


def paginate(
    call: Call,
    items: Sequence[Any],
    *,
    link_defaults: Sequence[tuple[str, str]] = (),
    total_if_beyond: int | None = None,
) -> tuple[list[Any], list[tuple[str, str]]]:
    """Slice a filtered, ordered list for page/per_page/offset; return the page and the headers WP sends.

    ``total_if_beyond`` is what X-WP-Total says when the page is past the end (the HPOS orders query says 0,
    products and customers keep the real total)."""
    per_page = int(call.params.get("per_page", 10))
    page = int(call.params.get("page", 1))
    offset = call.params.get("offset")
    start = int(offset) if offset not in (None, "") else (page - 1) * per_page
    chunk = list(items[start : start + per_page])
    total = len(items)
    pages = -(-total // per_page) if per_page else 0
    if page > pages and total_if_beyond is not None:
        total, pages = total_if_beyond, 0 if total_if_beyond == 0 else pages
    headers = [("X-WP-Total", str(total)), ("X-WP-TotalPages", str(pages))]
    links = []

    def link(target: int) -> str:
        pairs = []
        placed = False
        for k, v in call.query_pairs:
            if k == "rest_route":
                continue
            if k == "page":
                pairs.append(("page", str(target)))
                placed = True
            else:
                pairs.append((k, v))
        pairs += [d for d in link_defaults if d[0] not in {k for k, _ in pairs}]
        if not placed:
            pairs.append(("page", str(target)))
        return call.rest_url(call.route) + "?" + urlencode(pairs, quote_via=quote)

    if page > 1:
        links.append(f'<{link(min(page - 1, pages))}>; rel="prev"')
    if page < pages:
        links.append(f'<{link(page + 1)}>; rel="next"')
    if links:
        headers.append(("Link", ", ".join(links)))
    return chunk, headers


# -- response body ----


def filter_fields(data: Any, fields: str | Sequence[str] | None) -> Any:
    """rest_filter_response_fields: keep only the named top-level or dotted nested fields."""
    if not fields:
        return data
    names = [f.strip() for f in (fields.split(",") if isinstance(fields, str) else fields) if f.strip()]
    if isinstance(data, list):
        return [filter_fields(item, names) for item in data]
    if not isinstance(data, dict):
        return data
    result: dict[str, Any] = {}
    for name in names:
        head, _, rest = name.partition(".")
        if head not in data:
            continue
        if rest and isinstance(data[head], dict):
            sub = filter_fields(data[head], [rest])
            merged = result.get(head, {})
            result[head] = {**merged, **sub} if isinstance(merged, dict) else sub
        else:
            result[head] = data[head]
    # Keep WordPress' order: the order of the data, not of the request.
    return {k: result[k] for k in data if k in result}


def php_json(data: Any) -> bytes:
    """JSON as PHP's json_encode writes it for WordPress: ``\\/`` and ``\\uXXXX`` escapes, no spaces.

    Bodies are trees of JSON values, never cyclic: skipping the encoder's cycle bookkeeping (an id() per
    dict and list) saves ~15% of encoding an order list page, the output is the same."""
    return json.dumps(data, ensure_ascii=True, separators=(",", ":"), check_circular=False).replace("/", "\\/").encode()
