"""ERP adapters behind one port (``woobridge.erp.port``): ``staging`` (SQL interface tables, the default), …"""

from __future__ import annotations

import os
from collections.abc import Mapping

from woobridge.erp.port import Acknowledgement, ErpError, ErpPort, ErpRecordError, ErpRef, ErpUnavailable

STAGING_URL_ENV = "WOOBRIDGE_STAGING_URL"
KINDS = ("staging",)

__all__ = [
    "KINDS",
    "STAGING_URL_ENV",
    "Acknowledgement",
    "ErpError",
    "ErpPort",
    "ErpRecordError",
    "ErpRef",
    "ErpUnavailable",
    "default_staging_url",
    "open_erp",
]


def default_staging_url(environ: Mapping[str, str] | None = None) -> str:
    """``WOOBRIDGE_STAGING_URL`` when set, else a SQLite file ``staging.sqlite`` in woobridge's home directory."""
    from woobridge.state.locations import Locations

    env = os.environ if environ is None else environ
    return env.get(STAGING_URL_ENV) or f"sqlite:///{Locations.from_environment(env).home / 'staging.sqlite'}"


def open_erp(kind: str = "staging", url: str | None = None) -> ErpPort:
    """Open the ERP adapter ``kind`` at ``url`` (for ``staging``: see ``default_staging_url``). The caller closes
    it. Raises ``ValueError`` for an unknown kind and ``ErpUnavailable`` when the ERP cannot be reached."""
    if kind == "staging":
        from woobridge.erp.staging import StagingErp

        return StagingErp(url or default_staging_url())
    raise ValueError(f"unknown ERP adapter {kind!r}; woobridge has: {', '.join(KINDS)}")
