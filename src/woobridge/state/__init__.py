"""woobridge's own state: connections to stores, bindings, cursors, runs, leases and record errors (``models``).

``StateDB(url)`` opens a database and upgrades it to the newest schema; pass it (or its sessions) explicitly to
whatever needs it. ``Locations.from_environment()`` says where the default database and master key live.

``woobridge serve``'s tables (``state.service``: admin login, schedules, webhooks) and the inventory flow's SKU
index (``state.sku_index``) are in the same database and the same metadata, but their classes are built only by
the code that imports them: a ``woobridge sync`` from cron does not pay for them (~10 ms of its start-up).
:func:`full_metadata` is every table, for what compares the models with the migrations (Alembic, the tests).
"""

from sqlalchemy import MetaData

from woobridge.state.database import StateDB
from woobridge.state.locations import Locations
from woobridge.state.models import AUTH_MODES, PERMISSIONS, Base, Connection

__all__ = ["AUTH_MODES", "PERMISSIONS", "Base", "Connection", "Locations", "StateDB", "full_metadata"]


def full_metadata() -> MetaData:
    """``Base.metadata`` with every table of the state database: the models', the service's and the SKU index's."""
    from woobridge.state import service, sku_index  # noqa: F401  (importing them adds their tables)

    return Base.metadata
