"""The Tryton adapter's settings from the environment (``WOOBRIDGE_ERP=tryton``), as ``woobridge sync`` reads them.

Required: ``WOOBRIDGE_TRYTON_URL``, ``WOOBRIDGE_TRYTON_DATABASE``, ``WOOBRIDGE_TRYTON_USER`` and the password
(``WOOBRIDGE_TRYTON_PASSWORD``, or ``WOOBRIDGE_TRYTON_PASSWORD_FILE`` naming a file that holds it, for container
secrets). The password is a secret: it is masked in woobridge's logs and never shown in a message.

Optional (defaults in ``TrytonSettings``): ``…_SHIPPING_PRODUCT``, ``…_FEE_PRODUCT``, ``…_ADJUSTMENT_PRODUCT``,
``…_WAREHOUSE``, ``…_STOCK_QUANTITY`` (forecast|available), ``…_QUOTE`` / ``…_CONFIRM`` (yes|no),
``…_CONFIRM_STATUSES`` / ``…_CANCEL_STATUSES`` (comma-separated store statuses), ``…_TAX_MAP`` /
``…_CARRIER_MAP`` (``store=tryton`` pairs separated by commas, or a JSON object; a whole number is a Tryton id,
anything else a name), ``…_ACCOUNT_CATEGORY``, ``…_TIMEOUT`` (seconds).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, cast

from woobridge.erp import ErpConfigError
from woobridge.erp.tryton.adapter import TrytonSettings

PREFIX = "WOOBRIDGE_TRYTON_"
REQUIRED = ("URL", "DATABASE", "USER")

__all__ = ["PREFIX", "settings_from_environment"]


def _name(suffix: str) -> str:
    return PREFIX + suffix


def _text(env: Mapping[str, str], suffix: str) -> str | None:
    value = env.get(_name(suffix))
    return value.strip() if value is not None and value.strip() else None


def _password(env: Mapping[str, str]) -> str:
    direct = env.get(_name("PASSWORD"))
    if direct:
        return direct
    path = _text(env, "PASSWORD_FILE")
    if path:
        try:
            secret = Path(path).read_text(encoding="utf-8").rstrip("\r\n")
        except OSError as error:
            raise ErpConfigError(
                f"{_name('PASSWORD_FILE')} names {path!r}, which cannot be read ({error.strerror}); fix the path or "
                f"set {_name('PASSWORD')}"
            ) from None
        if secret:
            return secret
        raise ErpConfigError(f"{_name('PASSWORD_FILE')} names an empty file ({path!r}): put the password in it")
    raise ErpConfigError(
        f"WOOBRIDGE_ERP=tryton needs the Tryton user's password: set {_name('PASSWORD')} (or {_name('PASSWORD_FILE')})"
    )


def _flag(env: Mapping[str, str], suffix: str, default: bool) -> bool:
    value = _text(env, suffix)
    if value is None:
        return default
    lowered = value.lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ErpConfigError(f"{_name(suffix)}={value!r}: use yes or no")


def _statuses(env: Mapping[str, str], suffix: str, default: frozenset[str]) -> frozenset[str]:
    value = _text(env, suffix)
    if value is None:
        return default
    chosen = frozenset(part.strip().removeprefix("wc-") for part in value.split(",") if part.strip())
    if not chosen:
        raise ErpConfigError(f"{_name(suffix)} must list store order statuses, e.g. processing,completed")
    return chosen


def _target(value: Any, where: str) -> int | str:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ErpConfigError(f"{where}: each value must be a Tryton id (a whole number) or a name")
    if isinstance(value, int):
        return value
    text = value.strip()
    if not text:
        raise ErpConfigError(f"{where}: an empty Tryton name")
    return int(text) if text.isdigit() else text


def _map(env: Mapping[str, str], suffix: str, example: str) -> dict[str, int | str]:
    """``a=b,c=d`` or a JSON object: store key → Tryton id (whole number) or name."""
    value = _text(env, suffix)
    if value is None:
        return {}
    where = _name(suffix)
    if value.startswith("{"):
        try:
            loaded = json.loads(value)
        except json.JSONDecodeError as error:
            raise ErpConfigError(f"{where} is not valid JSON ({error.msg} at {error.pos})") from None
        if not isinstance(loaded, dict):
            raise ErpConfigError(f"{where} must be a JSON object, e.g. {example}")
        return {str(key).strip(): _target(target, where) for key, target in loaded.items()}
    found: dict[str, int | str] = {}
    for pair in value.split(","):
        key, sep, target = pair.partition("=")
        if not sep or not key.strip():
            raise ErpConfigError(f"{where}: {pair.strip()!r} is not store=tryton; write e.g. {example}")
        found[key.strip()] = _target(target, where)
    return found


def settings_from_environment(environ: Mapping[str, str], *, url: str | None = None) -> TrytonSettings:
    """``TrytonSettings`` from ``WOOBRIDGE_TRYTON_*`` (``url`` overrides ``WOOBRIDGE_TRYTON_URL``). Raises
    ``ErpConfigError`` naming the variable that is missing or wrong. Masks the password in woobridge's logs."""
    values = {suffix: _text(environ, suffix) for suffix in REQUIRED}
    if url:
        values["URL"] = url
    missing = [_name(suffix) for suffix, value in values.items() if not value]
    if missing:
        raise ErpConfigError(
            f"WOOBRIDGE_ERP=tryton needs {', '.join(missing)} (the Tryton server's URL, its database and a user with "
            "the Sales, Stock and Product rights); see docs/tryton.md"
        )
    base_url = cast(str, values["URL"])
    if not base_url.startswith(("http://", "https://")):
        raise ErpConfigError(f"{_name('URL')}={base_url!r} must start with http:// or https://")
    password = _password(environ)
    from woobridge.logging import protect

    protect(password)
    defaults = TrytonSettings("", "", "", "")
    stock = _text(environ, "STOCK_QUANTITY") or defaults.stock_quantity
    if stock not in ("forecast", "available"):
        raise ErpConfigError(f"{_name('STOCK_QUANTITY')}={stock!r}: use forecast or available")
    timeout_text = _text(environ, "TIMEOUT")
    try:
        timeout = float(timeout_text) if timeout_text else defaults.timeout
    except ValueError:
        timeout = -1.0
    if not 1 <= timeout <= 3600:
        raise ErpConfigError(f"{_name('TIMEOUT')}={timeout_text!r}: a number of seconds from 1 to 3600")
    return TrytonSettings(
        url=base_url,
        database=cast(str, values["DATABASE"]),
        login=cast(str, values["USER"]),
        password=password,
        shipping_product=_text(environ, "SHIPPING_PRODUCT") or defaults.shipping_product,
        fee_product=_text(environ, "FEE_PRODUCT") or defaults.fee_product,
        adjustment_product=_text(environ, "ADJUSTMENT_PRODUCT") or defaults.adjustment_product,
        quote=_flag(environ, "QUOTE", defaults.quote),
        confirm=_flag(environ, "CONFIRM", defaults.confirm),
        confirm_statuses=_statuses(environ, "CONFIRM_STATUSES", defaults.confirm_statuses),
        cancel_statuses=_statuses(environ, "CANCEL_STATUSES", defaults.cancel_statuses),
        tax_map=_map(environ, "TAX_MAP", "'1=VAT 20%,US-CA-TAX=7'"),
        carrier_map=_map(environ, "CARRIER_MAP", "'flat_rate=DHL,free_shipping=3'"),
        warehouse=_text(environ, "WAREHOUSE") or defaults.warehouse,
        stock_quantity=cast(Literal["forecast", "available"], stock),
        account_category=_text(environ, "ACCOUNT_CATEGORY") or defaults.account_category,
        timeout=timeout,
    )
