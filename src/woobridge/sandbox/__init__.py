"""A local WooCommerce 11 stand-in for tests, the demo and benchmarks."""

from woobridge.sandbox.app import Sandbox
from woobridge.sandbox.state import IssuedKey, Settings, Store

__all__ = ["IssuedKey", "Sandbox", "Settings", "Store"]
