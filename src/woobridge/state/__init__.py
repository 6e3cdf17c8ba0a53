"""woobridge's own state: connections to stores (and, later, bindings, cursors and runs).

``StateDB(url)`` opens a database and upgrades it to the newest schema; pass it (or its sessions) explicitly to
whatever needs it. ``Locations.from_environment()`` says where the default database and master key live.
"""

from woobridge.state.database import StateDB
from woobridge.state.locations import Locations
from woobridge.state.models import AUTH_MODES, PERMISSIONS, Base, Connection

__all__ = ["AUTH_MODES", "PERMISSIONS", "Base", "Connection", "Locations", "StateDB"]

# The service's tables (admin login, schedules, webhooks) belong to the same metadata: import them with the models.
from woobridge.state import service as _service_tables  # noqa: F401
from woobridge.state import sku_index as _sku_index_table  # noqa: F401  (the inventory flow's SKU index)
