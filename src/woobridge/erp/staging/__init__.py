"""The ``staging`` ERP adapter: interface tables in a SQL database (docs/staging.md describes them for ERP teams).

``StagingErp(url)`` implements ``woobridge.erp.port.ErpPort``; ``models`` holds the tables, ``migrations`` the
Alembic scripts that create them (own version table: ``woobridge_staging_version``).
"""

from woobridge.erp.staging.adapter import AlsoInTransaction, StagingErp
from woobridge.erp.staging.models import INBOUND, OUTBOUND, VERSION_TABLE, metadata

__all__ = ["INBOUND", "OUTBOUND", "VERSION_TABLE", "AlsoInTransaction", "StagingErp", "metadata"]
