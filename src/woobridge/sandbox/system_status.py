"""``GET /wc/v3/system_status``: what the store says about itself, computed from its settings and data.

The server environment (PHP, MySQL, theme…) is a fixed description of a typical host; everything an
integration reads (versions, currency, decimals, timezone, HPOS, active plugins, counts) comes from the store.
Since WooCommerce 3.9 only the sections named in ``_fields`` are computed; the REST layer trims the rest.
"""

from __future__ import annotations

import copy
import json
from functools import cache
from importlib import resources
from typing import Any

from woobridge.sandbox.wp import READABLE, Call, Endpoint, Reply, Router, needs

TRACKING_PLUGIN = {
    "plugin": "woocommerce-shipment-tracking/woocommerce-shipment-tracking.php",
    "name": "WooCommerce Shipment Tracking",
    "version": "2.9.1",
    "version_latest": "2.9.1",
    "url": "https://woocommerce.com/products/shipment-tracking/",
    "author_name": "WooCommerce",
    "author_url": "https://woocommerce.com",
    "network_activated": False,
}


@cache
def _environment_template() -> dict[str, Any]:
    text = resources.files("woobridge.sandbox").joinpath("system_status.json").read_text()
    data: dict[str, Any] = json.loads(text)
    return data


def system_status(call: Call) -> Reply:
    store = call.store
    settings = store.settings
    data = copy.deepcopy(_environment_template())
    env = data["environment"]
    env.update(
        home_url=settings.home_url,
        site_url=settings.home_url,
        store_id=settings.store_id,
        version=settings.wc_version,
        wp_version=settings.wp_version,
        default_timezone="UTC",
    )
    data["database"]["wc_database_version"] = settings.wc_version
    woo = data["active_plugins"][0]
    woo.update(version=settings.wc_version, version_latest=settings.wc_version)
    if "wc-shipment-tracking/v3" in call.namespaces:
        data["active_plugins"].append(TRACKING_PLUGIN)
    data["settings"].update(
        currency=settings.currency,
        currency_symbol=settings.currency_symbol,
        number_of_decimals=settings.decimals,
        HPOS_enabled=settings.hpos,
        HPOS_sync_enabled=False,
        order_datastore=(
            "Automattic\\WooCommerce\\Internal\\DataStores\\Orders\\OrdersTableDataStore"
            if settings.hpos
            else "WC_Order_Data_Store_CPT"
        ),
    )
    data["security"]["secure_connection"] = settings.home_url.startswith("https://")
    counts = {kind: len(store.objects[kind]) for kind in ("product", "variation", "order")}
    data["post_type_counts"] = [
        {"type": "page", "count": "7"},
        {"type": "product", "count": str(counts["product"])},
        {"type": "product_variation", "count": str(counts["variation"])},
        {"type": "shop_order_placehold" if settings.hpos else "shop_order", "count": str(counts["order"])},
    ]
    return Reply(data)


def register(router: Router) -> None:
    router.add(("wc/v2", "wc/v3"), "/system_status", Endpoint(READABLE, system_status, needs("manager", "list")))
