"""woobridge: a self-hosted WooCommerce ↔ ERP connector."""

__version__ = "0.1.0"
