"""ERP adapters behind one port (``woobridge.erp.port``): ``staging`` (SQL interface tables, the default), …"""

from woobridge.erp.port import Acknowledgement, ErpError, ErpPort, ErpRecordError, ErpRef, ErpUnavailable

__all__ = ["Acknowledgement", "ErpError", "ErpPort", "ErpRecordError", "ErpRef", "ErpUnavailable"]
