"""The Tryton ERP adapter (``pip install 'woobridge[tryton]'``): the ERP port on a running trytond, over JSON-RPC.

See ``adapter.py`` for what maps to what, ``rpc.py`` for the wire, ``docs/tryton.md`` for setting it up.
"""

from woobridge.erp.tryton.adapter import TrytonAdapter, TrytonSettings
from woobridge.erp.tryton.rpc import TrytonError, TrytonRpc

__all__ = ["TrytonAdapter", "TrytonError", "TrytonRpc", "TrytonSettings"]
