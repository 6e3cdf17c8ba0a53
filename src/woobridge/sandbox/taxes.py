"""Tax rates as WooCommerce applies them to order lines (WC_Tax::find_rates / calc_tax, exclusive prices).

Rates live in ``store.objects["tax_rate"]`` in their REST shape (``country``, ``state``, ``postcode(s)``,
``city``/``cities``, ``rate`` as a percentage string, ``name``, ``priority``, ``compound``, ``shipping``, ``class``
with ``"standard"`` for the standard class). For one location and tax class WooCommerce uses at most one rate per
priority (the first match), applies the non-compound rates to the net amount and then each compound rate to the
net amount plus the taxes before it. Each rate's tax is rounded per line (the store default
``woocommerce_tax_round_at_subtotal = no``).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from woobridge.sandbox.state import Obj, Store


@dataclass(frozen=True)
class Location:
    """Where the order is taxed: WooCommerce's default is the shipping address, else the billing address."""

    country: str
    state: str = ""
    postcode: str = ""
    city: str = ""


def order_location(order: Obj) -> Location | None:
    """The tax location of an order, or None when it has no address (no tax is charged)."""
    for kind in ("shipping", "billing"):
        address = order.get(kind) or {}
        if address.get("country"):
            return Location(
                str(address.get("country", "")).upper(),
                str(address.get("state", "")).upper(),
                str(address.get("postcode", "")).upper().replace(" ", ""),
                str(address.get("city", "")).upper(),
            )
    return None


def _class_slug(tax_class: str | None) -> str:
    return "" if tax_class in (None, "", "standard") else str(tax_class)


def _matches(pattern_list: list[str], value: str) -> bool:
    if not pattern_list:
        return True
    for pattern in pattern_list:
        pattern = pattern.upper().replace(" ", "")
        if pattern.endswith("*") and value.startswith(pattern[:-1]):
            return True
        if pattern == value:
            return True
    return False


def _list_field(rate: Obj, single: str, plural: str) -> list[str]:
    values = [str(v) for v in rate.get(plural) or [] if str(v)]
    if not values and rate.get(single):
        values = [v for v in str(rate[single]).split(";") if v]
    return values


def find_rates(store: Store, location: Location | None, tax_class: str | None, *, shipping: bool = False) -> list[Obj]:
    """The rates that apply to one line, in the order WooCommerce applies them (priority, then rate order)."""
    if location is None:
        return []
    wanted = _class_slug(tax_class)
    candidates = []
    for rate in store.all("tax_rate"):
        if _class_slug(rate.get("class")) != wanted:
            continue
        if shipping and not rate.get("shipping", True):
            continue
        country = str(rate.get("country") or "").upper()
        state = str(rate.get("state") or "").upper()
        if country and country != location.country:
            continue
        if state and state != location.state:
            continue
        if not _matches(_list_field(rate, "postcode", "postcodes"), location.postcode):
            continue
        if not _matches(_list_field(rate, "city", "cities"), location.city):
            continue
        # More specific rates win within one priority (WooCommerce sorts by how much of the location matched).
        specificity = -(bool(country) + bool(state))
        candidates.append((int(rate.get("priority") or 1), specificity, int(rate.get("order") or 0), rate["id"], rate))
    candidates.sort(key=lambda c: c[:4])
    chosen: list[Obj] = []
    seen_priorities: set[int] = set()
    for priority, _spec, _order, _id, rate in candidates:
        if priority in seen_priorities:
            continue
        seen_priorities.add(priority)
        chosen.append(rate)
    return chosen


def calc_tax(amount: Decimal, rates: list[Obj]) -> dict[int, Decimal]:
    """Unrounded tax per rate id on a tax-exclusive amount (compound rates apply on top of the others)."""
    taxes: dict[int, Decimal] = {}
    for rate in rates:
        if not rate.get("compound"):
            taxes[int(rate["id"])] = amount * Decimal(str(rate.get("rate") or 0)) / 100
    for rate in rates:
        if rate.get("compound"):
            base = amount + sum(taxes.values(), Decimal(0))
            taxes[int(rate["id"])] = base * Decimal(str(rate.get("rate") or 0)) / 100
    return taxes


def round_taxes(taxes: dict[int, Decimal], dp: int) -> dict[int, Decimal]:
    quantum = Decimal(1).scaleb(-dp)
    return {rate_id: value.quantize(quantum, rounding=ROUND_HALF_UP) for rate_id, value in taxes.items()}


def rate_code(rate: Obj) -> str:
    """WC_Tax::get_rate_code: COUNTRY-STATE-NAME-PRIORITY, upper case, empty parts left out."""
    parts = [
        str(rate.get("country") or ""),
        str(rate.get("state") or ""),
        str(rate.get("name") or "TAX"),
        str(rate.get("priority") or 1),
    ]
    return "-".join(p for p in parts if p).upper()


def rate_percent(rate: Obj) -> Any:
    """The percentage as the JSON number WooCommerce shows (8.25, 5)."""
    value = Decimal(str(rate.get("rate") or 0))
    return int(value) if value == value.to_integral_value() else float(value)
