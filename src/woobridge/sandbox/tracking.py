"""The WooCommerce Shipment Tracking extension's REST routes (REFERENCE §9.1).

Active only when ``sandbox.modes.shipment_tracking`` is on: the extension registers ``wc-shipment-tracking/v3``
and, for compatibility, the same routes under ``wc/v1`` and ``wc/v2``. Tracking items live in the order meta
``_wc_shipment_tracking_items`` (so they also show in the order's ``meta_data``); adding or deleting one saves
the order, which fires ``order.updated``.
"""

from __future__ import annotations

import hashlib
import re
import time
import unicodedata
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from woobridge.sandbox.state import Obj, Store
from woobridge.sandbox.wp import (
    CREATABLE,
    DELETABLE,
    READABLE,
    Arg,
    Call,
    Endpoint,
    Permission,
    Reply,
    RestError,
    Router,
    needs,
    not_found_route,
)

NAMESPACE = "wc-shipment-tracking/v3"
META_KEY = "_wc_shipment_tracking_items"

# The extension's predefined providers by country, with tracking URL templates (%1$s tracking number,
# %2$s postcode, %3$s country, %4$s order id). A representative part of its list.
PROVIDERS: dict[str, dict[str, str]] = {
    "Australia": {
        "Australia Post": "https://auspost.com.au/mypost/track/#/details/%1$s",
        "Fastway Couriers": "https://www.fastway.com.au/tools/track/?l=%1$s",
    },
    "Canada": {
        "Canada Post": "https://www.canadapost-postescanada.ca/track-reperage/en#/resultList?searchFor=%1$s",
        "Purolator": "https://www.purolator.com/purolator/ship-track/tracking-summary.page?pin=%1$s",
    },
    "France": {"Colissimo": "https://www.laposte.fr/outils/suivre-vos-envois?code=%1$s"},
    "Germany": {
        "DHL Intraship (DE)": "https://www.dhl.de/de/privatkunden/pakete-empfangen/verfolgen.html?lang=de&idc=%1$s&rfn=&extendedSearch=true",
        "Hermes": "https://www.myhermes.de/empfangen/sendungsverfolgung/sendungsinformation/#%1$s",
        "Deutsche Post DHL": "https://www.dhl.de/de/privatkunden/pakete-empfangen/verfolgen.html?lang=de&idc=%1$s",
        "DPD.de": "https://tracking.dpd.de/parcelstatus?query=%1$s&locale=en_DE",
    },
    "Netherlands": {
        "PostNL": "https://postnl.nl/tracktrace/?B=%1$s&P=%2$s&D=%3$s&T=C",
        "DPD.NL": "https://tracking.dpd.de/status/en_US/parcel/%1$s",
    },
    "United Kingdom": {
        "DHL": "https://www.dhl.com/content/g0/en/express/tracking.shtml?brand=DHL&AWB=%1$s",
        "DPD Local": "https://apis.track.dpdlocal.co.uk/v1/track?postcode=%2$s&parcel=%1$s",
        "EVRi": "https://www.evri.com/track/parcel/%1$s",
        "ParcelForce": "https://www.parcelforce.com/track-trace?trackNumber=%1$s",
        "Royal Mail": "https://www3.royalmail.com/track-your-item#/tracking-results/%1$s",
    },
    "United States": {
        "DHL US": "https://www.logistics.dhl/us-en/home/tracking/tracking-ecommerce.html?tracking-id=%1$s",
        "Fedex": "https://www.fedex.com/apps/fedextrack/?action=track&action=track&tracknumbers=%1$s",
        "OnTrac": "https://www.ontrac.com/tracking/?number=%1$s",
        "UPS": "https://www.ups.com/track?loc=en_US&tracknum=%1$s",
        "USPS": "https://tools.usps.com/go/TrackConfirmAction_input?qtc_tLabels1=%1$s",
    },
}


def sanitize_title(text: Any) -> str:
    """WordPress' sanitize_title(): accents removed, lower case, dots and spaces to dashes, the rest dropped."""
    value = unicodedata.normalize("NFKD", str(text or "")).encode("ascii", "ignore").decode()
    value = re.sub(r"<[^>]*>", "", value).lower().replace(".", "-")
    value = re.sub(r"[^a-z0-9 _-]", "", value)
    value = re.sub(r"\s+", "-", value)
    return re.sub(r"-+", "-", value).strip("-")


def _clean(value: Any) -> str:
    """wc_clean() on a scalar: trimmed text without tags or line breaks."""
    if value is None:
        return ""
    text = re.sub(r"<[^>]*>", "", str(value))
    return re.sub(r"[\r\n\t ]+", " ", text).strip()


def _sprintf(template: str, values: list[str]) -> str:
    """PHP sprintf for the positional ``%N$s`` placeholders the provider templates use."""

    def fill(match: re.Match[str]) -> str:
        if match.group(0) == "%%":
            return "%"
        index = int(match.group(1)) - 1
        return values[index] if 0 <= index < len(values) else ""

    return re.sub(r"%%|%(\d+)\$s", fill, template)


def _shipped_timestamp(store: Store, value: str) -> str | int:
    """strtotime() of date_shipped (WordPress runs PHP in UTC); unparseable or empty → now.

    The extension keeps the wc_clean()ed strtotime() result, a string, but the time() fallback as an int."""
    text = value.strip()
    now = store.now()
    relative = {"now": now, "today": now.replace(hour=0, minute=0, second=0)}
    relative |= {"yesterday": relative["today"] - timedelta(days=1), "tomorrow": relative["today"] + timedelta(1)}
    parsed: datetime | None = relative.get(text.lower())
    if parsed is None and text:
        try:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace(" ", "T", 1))
        except ValueError:
            parsed = None
    if parsed is None:
        return int(now.replace(tzinfo=UTC).timestamp())
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return str(int(parsed.timestamp()))


def _order(store: Store, order_id: int) -> Obj:
    order = store.get("order", order_id)
    if order is None:
        raise RestError("woocommerce_rest_order_invalid_id", "Invalid order ID.", {"status": 404})
    return order


def tracking_items(order: Obj) -> list[dict[str, Any]]:
    for meta in order.get("meta_data") or []:
        if meta.get("key") == META_KEY:
            value = meta.get("value")
            return list(value) if isinstance(value, list) else []
    return []


def _save_items(store: Store, order: Obj, items: list[dict[str, Any]]) -> None:
    """$order->update_meta_data(META_KEY, items); $order->save() — which fires order.updated."""
    meta_data = order.setdefault("meta_data", [])
    for meta in meta_data:
        if meta.get("key") == META_KEY:
            meta["value"] = items
            break
    else:
        meta_data.append({"id": store.next_id("meta"), "key": META_KEY, "value": items})
    order["date_modified_gmt"] = store.now_iso()
    store.put("order", order)
    store.emit("order", "updated", int(order["id"]))


def _formatted(order: Obj, item: dict[str, Any]) -> tuple[str, str]:
    """get_formatted_tracking_item(): the provider's display name and the filled-in tracking link."""
    shipping, billing = order.get("shipping") or {}, order.get("billing") or {}
    postcode = shipping.get("postcode") or billing.get("postcode") or ""
    normalized = re.sub(r"[\s\-]", "", str(postcode)).strip().upper()
    values = [str(item["tracking_number"]), quote(normalized, safe=""), str(shipping.get("country") or "")]
    values.append(str(order["id"]))
    if item.get("custom_tracking_provider"):
        return item["custom_tracking_provider"], _sprintf(item.get("custom_tracking_link") or "", values)
    for providers in PROVIDERS.values():
        for name, template in providers.items():
            if item["tracking_provider"] in (_clean(name), sanitize_title(name)):
                return name, _sprintf(template, values)
    return "", ""


def to_rest(call: Call, order: Obj, item: dict[str, Any]) -> dict[str, Any]:
    provider, link = _formatted(order, item)
    order_id = int(order["id"])
    base = call.rest_url(f"/{call.namespace}/orders/{order_id}/shipment-trackings")
    return {
        "tracking_id": item["tracking_id"],
        "tracking_provider": provider,
        "tracking_link": link,
        "tracking_number": item["tracking_number"],
        "date_shipped": datetime.fromtimestamp(int(item["date_shipped"]), UTC).strftime("%Y-%m-%d"),
        "_links": {
            "self": [{"href": f"{base}/{item['tracking_id']}"}],
            "collection": [{"href": base}],
            "up": [{"href": call.rest_url(f"/{call.namespace}/orders/{order_id}")}],
        },
    }


def _find(order: Obj, tracking_id: str) -> dict[str, Any]:
    for item in tracking_items(order):
        if item.get("tracking_id") == tracking_id:
            return item
    raise RestError(
        "woocommerce_rest_order_shipment_tracking_invalid_id", "Invalid shipment tracking ID.", {"status": 404}
    )


# -- controllers -------------------------------------------------------------------------------------------------


def _list(call: Call) -> Reply:
    order = _order(call.store, call.int_param("order_id"))
    return Reply([to_rest(call, order, item) for item in tracking_items(order)])


def _create(call: Call) -> Reply:
    params = call.params
    if params.get("tracking_id"):
        raise RestError(
            "woocommerce_rest_shop_order_shipment_tracking_exists",
            "Cannot create existing order shipment tracking.",
            {"status": 400},
        )
    store = call.store
    order = _order(store, call.int_param("order_id"))
    item: dict[str, Any] = {
        "tracking_provider": _clean(sanitize_title(params.get("tracking_provider"))),
        "custom_tracking_provider": _clean(params.get("custom_tracking_provider")),
        "custom_tracking_link": _clean(params.get("custom_tracking_link")),
        "tracking_number": _clean(params.get("tracking_number")),
        "date_shipped": _shipped_timestamp(store, _clean(params.get("date_shipped"))),
    }
    provider = item["custom_tracking_provider"] or item["tracking_provider"]
    seed = f"{provider}-{item['tracking_number']}{time.time():.8f}"
    # md5 is the id format (32 hex), not a security measure.
    item["tracking_id"] = hashlib.md5(seed.encode(), usedforsecurity=False).hexdigest()
    _save_items(store, order, [*tracking_items(order), item])
    # The extension formats the Location with %d, so only the id's leading digits survive (often "0").
    digits = re.match(r"\d*", item["tracking_id"])
    location_id = int(digits.group(0)) if digits and digits.group(0) else 0
    location = call.rest_url(f"/{call.namespace}/orders/{order['id']}/shipment-trackings/{location_id}")
    return Reply(to_rest(call, order, item), 201, headers=[("Location", location)])


def _get(call: Call) -> Reply:
    order = _order(call.store, call.int_param("order_id"))
    return Reply(to_rest(call, order, _find(order, call.url_params["id"])))


def _delete(call: Call) -> Reply:
    store = call.store
    order = _order(store, call.int_param("order_id"))
    item = _find(order, call.url_params["id"])
    response = to_rest(call, order, item)
    _save_items(store, order, [i for i in tracking_items(order) if i is not item])
    return Reply(response)


def _providers(call: Call) -> Reply:
    del call
    return Reply(PROVIDERS)


def _when_active(permission: Permission | None) -> Permission:
    """The routes exist only while the extension is active (its wc/v1 and wc/v2 aliases included)."""

    def check(call: Call) -> None:
        if NAMESPACE not in call.namespaces:
            raise not_found_route()
        if permission is not None:
            permission(call)

    return check


def register(router: Router) -> None:
    namespaces = (NAMESPACE, "wc/v1", "wc/v2")
    context = {"context": Arg("string", default="view", enum=("view", "edit"))}
    orders = r"/orders/(?P<order_id>[\d]+)/shipment-trackings"
    router.add(
        namespaces,
        orders,
        Endpoint(READABLE, _list, _when_active(needs("posts", "list")), context),
        Endpoint(
            CREATABLE,
            _create,
            _when_active(needs("posts", "create")),
            {"tracking_number": Arg("string", required=True)},
        ),
    )
    # The providers lists need no authentication at all (no permission callback in the extension).
    router.add(namespaces, orders + "/providers", Endpoint(READABLE, _providers, _when_active(None)))
    router.add(
        namespaces,
        orders + r"/(?P<id>[a-fA-F0-9]{0,32})",
        Endpoint(READABLE, _get, _when_active(needs("posts", "read")), context),
        Endpoint(DELETABLE, _delete, _when_active(needs("posts", "delete"))),
    )
    router.add(namespaces, "/shipment-trackings/providers", Endpoint(READABLE, _providers, _when_active(None)))
