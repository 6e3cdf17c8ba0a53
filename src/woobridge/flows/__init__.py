"""The sync flows woobridge runs, and the API key permission each one needs.

``FLOW_PERMISSIONS`` is what ``woobridge connect``/``check`` compare the key against: a flow that only reads
from WooCommerce needs a key with Read (or Read/Write) permission; a flow that writes to the store (order status,
tracking, refunds, stock, products) needs Read/Write. Keys are made in WooCommerce → Settings → Advanced → REST API.
"""

from __future__ import annotations

from typing import Literal

Permission = Literal["read", "read_write"]

FLOW_PERMISSIONS: dict[str, Permission] = {
    "orders": "read",  # new and changed orders into the ERP
    "customers": "read",  # customers into the ERP
    "fulfillment": "read_write",  # shipped orders: status completed + tracking numbers
    "refunds": "read_write",  # refunds decided in the ERP recorded on the orders
    "inventory": "read_write",  # stock levels from the ERP
    "products": "read_write",  # prices and product data from the ERP
}
"""flow name → the key permission it needs (``read`` or ``read_write``)."""
