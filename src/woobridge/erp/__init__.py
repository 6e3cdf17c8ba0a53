"""ERP adapters behind one port (``woobridge.erp.port``): ``staging`` (SQL interface tables, the default) and
``tryton`` (a running trytond, ``pip install 'woobridge[tryton]'``). ``WOOBRIDGE_ERP`` picks one for every command
that opens the ERP (``woobridge sync …``, ``errors retry``, ``serve``); :func:`open_erp` builds it from the
environment."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping

from woobridge.erp.port import Acknowledgement, ErpError, ErpPort, ErpRecordError, ErpRef, ErpUnavailable

ERP_ENV = "WOOBRIDGE_ERP"
STAGING_URL_ENV = "WOOBRIDGE_STAGING_URL"
KINDS = ("staging", "tryton")

__all__ = [
    "ERP_ENV",
    "KINDS",
    "STAGING_URL_ENV",
    "Acknowledgement",
    "ErpConfigError",
    "ErpError",
    "ErpPort",
    "ErpRecordError",
    "ErpRef",
    "ErpUnavailable",
    "default_staging_url",
    "erp_kind",
    "erp_opener",
    "open_erp",
]


class ErpConfigError(ErpError, ValueError):
    """The ERP settings (``WOOBRIDGE_ERP`` and the adapter's variables) are missing or wrong; the message names the
    variable and what it needs. Nothing was read or written."""


def default_staging_url(environ: Mapping[str, str] | None = None) -> str:
    """``WOOBRIDGE_STAGING_URL`` when set, else a SQLite file ``staging.sqlite`` in woobridge's home directory."""
    from woobridge.state.locations import Locations

    env = os.environ if environ is None else environ
    return env.get(STAGING_URL_ENV) or f"sqlite:///{Locations.from_environment(env).home / 'staging.sqlite'}"


def erp_kind(environ: Mapping[str, str] | None = None) -> str:
    """The adapter ``WOOBRIDGE_ERP`` names (``staging`` when unset); ``ErpConfigError`` for an unknown one."""
    env = os.environ if environ is None else environ
    kind = env.get(ERP_ENV, "").strip().lower() or "staging"
    if kind not in KINDS:
        raise ErpConfigError(f"{ERP_ENV}={kind!r} is not an ERP adapter woobridge has; use one of: {', '.join(KINDS)}")
    return kind


def open_erp(kind: str | None = None, url: str | None = None, *, environ: Mapping[str, str] | None = None) -> ErpPort:
    """Open the ERP adapter ``kind`` (default: ``WOOBRIDGE_ERP``, else ``staging``), configured from ``environ``
    (default: the process environment). ``url`` overrides the adapter's address: for ``staging`` a database URL
    (default :func:`default_staging_url`), for ``tryton`` the server's URL (default ``WOOBRIDGE_TRYTON_URL``; the
    other settings are read from ``WOOBRIDGE_TRYTON_*``, see ``woobridge.erp.tryton.config``). The caller closes it.

    Raises ``ErpConfigError`` (a ``ValueError``) for an unknown kind or missing/invalid settings, ``ErpUnavailable``
    when the ERP cannot be reached."""
    return erp_opener(kind, url, environ=environ)()


def erp_opener(
    kind: str | None = None, url: str | None = None, *, environ: Mapping[str, str] | None = None
) -> Callable[[], ErpPort]:
    """:func:`open_erp` in two steps: the settings are read and checked now (``ErpConfigError``), and the function
    returned opens the ERP (imports the adapter, connects, checks or creates its schema: ``ErpUnavailable``), e.g.
    in a worker thread while a sync waits for the store's first page."""
    env = os.environ if environ is None else environ
    chosen = erp_kind(env) if kind is None else kind
    if chosen == "staging":
        staging_url = url or default_staging_url(env)

        def open_staging() -> ErpPort:
            from woobridge.erp.staging import StagingErp

            return StagingErp(staging_url)

        return open_staging
    if chosen == "tryton":
        from woobridge.erp.tryton.config import settings_from_environment

        settings = settings_from_environment(env, url=url)

        def open_tryton() -> ErpPort:
            from woobridge.erp.tryton.adapter import TrytonAdapter

            return TrytonAdapter(settings)

        return open_tryton
    raise ErpConfigError(f"unknown ERP adapter {chosen!r}; woobridge has: {', '.join(KINDS)}")
