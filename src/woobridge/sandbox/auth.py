"""WooCommerce's REST authentication (WC_REST_Authentication in 11.0.1), step by step.

* Keys are only looked at when the request URI contains ``wp-json/wc/`` or ``wp-json/wc-`` (so
  ``?rest_route=`` requests run as anonymous, the 11.0.x bug the recordings show).
* Over HTTPS: query-string ``consumer_key``/``consumer_secret`` first, then Basic. An unknown key is not an
  error: the request goes on as anonymous. A known key with a wrong secret is.
* Then, if no user yet, OAuth 1.0a one-legged (also over HTTPS), signed against the home URL.
* Read/write permissions of the key are checked before routing (``rest_pre_dispatch``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC
from urllib.parse import quote, unquote, urlsplit

from woobridge.sandbox.state import ApiKey, Store, User
from woobridge.sandbox.wp import RestError

OAUTH_REQUIRED = (
    "oauth_consumer_key",
    "oauth_timestamp",
    "oauth_nonce",
    "oauth_signature",
    "oauth_signature_method",
)
OAUTH_WINDOW = 15 * 60


def _auth_error(message: str, code: str = "woocommerce_rest_authentication_error") -> RestError:
    return RestError(code, message, {"status": 401})


@dataclass
class AuthRequest:
    method: str
    path: str
    raw_query: str
    query_pairs: Sequence[tuple[str, str]]
    form_pairs: Sequence[tuple[str, str]]
    authorization: str | None
    is_ssl: bool


@dataclass
class Identity:
    user: User | None
    key: ApiKey | None


def is_request_to_rest_api(request: AuthRequest) -> bool:
    uri = request.path + ("?" + request.raw_query if request.raw_query else "")
    return "wp-json/wc/" in uri or "wp-json/wc-" in uri


def authenticate(store: Store, request: AuthRequest) -> Identity:
    """Who the request runs as. Raises RestError for the failures WooCommerce reports (rest_authentication_errors)."""
    if not is_request_to_rest_api(request):
        return Identity(None, None)
    if request.is_ssl:
        found = _basic(store, request)
        if found is not None:
            return found
    return _oauth(store, request) or Identity(None, None)


def _basic(store: Store, request: AuthRequest) -> Identity | None:
    query = dict(request.query_pairs)
    consumer_key = query.get("consumer_key", "")
    consumer_secret = query.get("consumer_secret", "")
    if not (consumer_key and consumer_secret):
        consumer_key, consumer_secret = _basic_header(request.authorization)
    if not consumer_key:
        return None
    key = store.key_by_consumer_key(consumer_key)
    if key is None:
        return None  # unknown or revoked: no error is recorded, the request goes on anonymously
    if not hmac.compare_digest(key.consumer_secret.encode(), consumer_secret.encode()):
        raise _auth_error("Consumer secret is invalid.")
    return _identity(store, key)


def _basic_header(authorization: str | None) -> tuple[str, str]:
    if not authorization or not authorization.lower().startswith("basic "):
        return "", ""
    try:
        decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode("utf-8", "replace")
    except (binascii.Error, ValueError):
        return "", ""
    user, _, password = decoded.partition(":")
    return user, password


def _oauth_params(request: AuthRequest) -> dict[str, str]:
    params = dict(request.query_pairs)
    params.update(dict(request.form_pairs))
    header = request.authorization or ""
    if header.lower().startswith("oauth "):
        for part in header[6:].split(","):
            name, _, value = part.strip().partition("=")
            if name.startswith("oauth_"):
                params[name] = _rawurldecode(value.strip().strip('"'))
    return params


def _oauth(store: Store, request: AuthRequest) -> Identity | None:
    params = _oauth_params(request)
    present = [p for p in OAUTH_REQUIRED if params.get(p)]
    if not present:
        return None  # OAuth not attempted
    missing = [p for p in OAUTH_REQUIRED if not params.get(p)]
    if missing:
        noun = "parameter" if len(missing) == 1 else "parameters"
        raise _auth_error(
            f"Missing OAuth {noun} {', '.join(missing)}", "woocommerce_rest_authentication_missing_parameter"
        )
    key = store.key_by_consumer_key(params["oauth_consumer_key"])
    if key is None:
        raise _auth_error("Consumer key is invalid.")
    _check_signature(store, request, params, key)
    _check_timestamp_and_nonce(store, params, key)
    return _identity(store, key)


def _rfc3986(value: str) -> str:
    return quote(value, safe="~")


def _rawurldecode(value: str) -> str:
    return unquote(value)


def signature_base(method: str, base_url: str, params: Mapping[str, object]) -> str:
    """The string WooCommerce signs: METHOD & encoded base URL & double-encoded sorted parameters."""
    pairs: list[str] = []
    for name in sorted(params):
        value = params[name]
        if isinstance(value, dict):
            for inner, inner_value in value.items():
                pairs.append(_rfc3986(f"{_rfc3986(name)}%5B{_rfc3986(str(inner))}%5D={_rfc3986(str(inner_value))}"))
        else:
            pairs.append(_rfc3986(f"{_rfc3986(name)}={_rfc3986(str(value))}"))
    return f"{method.upper()}&{_rfc3986(base_url)}&{'%26'.join(pairs)}"


def oauth_base_url(store: Store, path: str, is_ssl: bool) -> str:
    """get_home_url(null, path, is_ssl ? 'https' : 'http'): the home URL, not the address the client used."""
    home = urlsplit(store.settings.home_url)
    home_path = home.path.rstrip("/")
    if home_path and path.startswith(home_path):
        path = path[len(home_path) :]
    return f"{'https' if is_ssl else 'http'}://{home.netloc}{home_path}{path}"


def _check_signature(store: Store, request: AuthRequest, params: dict[str, str], key: ApiKey) -> None:
    given = params["oauth_signature"].replace(" ", "+")
    signed = {k: v for k, v in params.items() if k != "oauth_signature"}
    method = params["oauth_signature_method"]
    if method not in ("HMAC-SHA1", "HMAC-SHA256"):
        raise _auth_error("Invalid signature - signature method is invalid.")
    base = signature_base(request.method, oauth_base_url(store, request.path, request.is_ssl), signed)
    digest = hashlib.sha1 if method == "HMAC-SHA1" else hashlib.sha256
    expected = base64.b64encode(hmac.new((key.consumer_secret + "&").encode(), base.encode(), digest).digest()).decode()
    if not hmac.compare_digest(expected.encode(), given.encode()):
        raise _auth_error("Invalid signature - provided signature does not match.")


def _check_timestamp_and_nonce(store: Store, params: dict[str, str], key: ApiKey) -> None:
    now = int(store.now().replace(tzinfo=UTC).timestamp())
    try:
        timestamp = int(params["oauth_timestamp"])
    except ValueError:
        raise _auth_error("Invalid timestamp.") from None
    if abs(now - timestamp) > OAUTH_WINDOW:
        raise _auth_error("Invalid timestamp.")
    nonce = params["oauth_nonce"]
    if nonce in key.nonces:
        raise _auth_error("Invalid nonce - nonce has already been used.")
    key.nonces = {n: t for n, t in key.nonces.items() if t >= now - OAUTH_WINDOW}
    key.nonces[nonce] = timestamp


def _identity(store: Store, key: ApiKey) -> Identity:
    user = store.users.get(key.user_id)
    if user is None:  # the key's owner was deleted: WooCommerce treats the key as unusable
        return Identity(None, None)
    store.touch_key(key)
    return Identity(user, key)


def check_key_permissions(identity: Identity, method: str) -> None:
    """rest_pre_dispatch: the key's Read/Write setting, checked before any route is matched."""
    if identity.key is None:
        return
    permissions = identity.key.permissions
    if method in ("HEAD", "GET"):
        if permissions == "write":
            raise _auth_error("The API key provided does not have read permissions.")
    elif method in ("POST", "PUT", "PATCH", "DELETE"):
        if permissions == "read":
            raise _auth_error("The API key provided does not have write permissions.")
    elif method != "OPTIONS":
        raise _auth_error("Unknown request method.")
