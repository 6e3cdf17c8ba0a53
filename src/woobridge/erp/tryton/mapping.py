"""Pure mapping between woobridge documents and Tryton records (no RPC here).

Tryton facts this relies on (8.x):

* A sale's ``reference`` holds the store key (``<connection>:<store order id>``), a return sale made by woobridge
  for a store refund has ``<connection>:refund:<store refund id>``. Tryton's "Return Sale" wizard clears the
  reference and sets ``origin`` to the original sale, which is how returns made in Tryton are found.
* ``sale.line.quantity`` is a float; ``unit_price`` has 4 decimals and excludes tax; the line amount is
  ``quantity × unit_price`` rounded to the currency. Each line's ``note`` keeps the store line id
  (``store line 123``) so that shipments and returns can name the store line they concern.
* Addresses: ``party_name`` (the person or company shipped to), ``street_unstructured``, ``postal_code``,
  ``city``, ``country`` and ``subdivision`` (ISO 3166-2 code such as ``US-CA``).
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from woobridge.documents import Address, Customer, CustomerRef, SalesOrder

PRICE = Decimal("0.0001")
CENT = Decimal("0.01")
_LINE_NOTE = re.compile(r"store line (\d+)")


def order_reference(connection: str, store_order_id: int) -> str:
    """The sale's ``reference`` for a store order: the idempotency key woobridge checks before creating."""
    return f"{connection}:{store_order_id}"


def refund_reference(connection: str, store_refund_id: int) -> str:
    return f"{connection}:refund:{store_refund_id}"


def parse_order_reference(connection: str, reference: str | None) -> int | None:
    """The store order id in a sale reference of this connection, or None for anything else."""
    prefix = f"{connection}:"
    if not reference or not reference.startswith(prefix):
        return None
    rest = reference[len(prefix) :]
    return int(rest) if rest.isdigit() else None


def line_note(store_line_id: int) -> str:
    return f"store line {store_line_id}" if store_line_id else ""


def store_line_id(note: str | None) -> int:
    match = _LINE_NOTE.search(note or "")
    return int(match.group(1)) if match else 0


def unit_price(total: Decimal, quantity: Decimal) -> Decimal:
    """The excl.-tax unit price that makes ``quantity × price`` come to ``total`` (Tryton keeps 4 decimals; what
    a division cannot make exact is caught by the sale's adjustment line)."""
    if not quantity:
        return total.quantize(PRICE, ROUND_HALF_EVEN)
    return (total / quantity).quantize(PRICE, ROUND_HALF_EVEN)


def _clean(value: str) -> str:
    return " ".join(value.split()).casefold()


def party_name(email: str, *, first_name: str = "", last_name: str = "", company: str = "", name: str = "") -> str:
    person = " ".join(p for p in (first_name.strip(), last_name.strip()) if p) or name.strip()
    return company.strip() or person or email


def customer_party_name(order: SalesOrder) -> str:
    b = order.billing
    return party_name(
        order.customer.email or b.email, first_name=b.first_name, last_name=b.last_name, company=b.company,
        name=order.customer.name,
    )  # fmt: skip


def address_values(address: Address, countries: dict[str, int], subdivisions: dict[str, int]) -> dict[str, Any]:
    """Tryton ``party.address`` values for a store address; unknown countries/subdivisions are left empty (the
    text still says where to ship) rather than refusing the order."""
    person = " ".join(p for p in (address.first_name.strip(), address.last_name.strip()) if p)
    country = address.country.upper()
    state = address.state.upper()
    subdivision_code = state if "-" in state else f"{country}-{state}" if state else ""
    return {
        "party_name": address.company.strip() or person or None,
        "attn": person if address.company.strip() and person else None,
        "street_unstructured": "\n".join(s.strip() for s in (address.address_1, address.address_2) if s.strip())
        or None,
        "postal_code": address.postcode.strip() or None,
        "city": address.city.strip() or None,
        "country": countries.get(country),
        "subdivision": subdivisions.get(subdivision_code),
    }


def address_key(values: dict[str, Any]) -> tuple[Any, ...]:
    """What makes two addresses the same (spacing and letter case aside)."""
    return (
        _clean(values.get("party_name") or ""),
        _clean(values.get("attn") or ""),
        _clean(values.get("street_unstructured") or ""),
        _clean(values.get("postal_code") or ""),
        _clean(values.get("city") or ""),
        values.get("country"),
        values.get("subdivision"),
    )


def tryton_address_key(record: dict[str, Any]) -> tuple[Any, ...]:
    """:func:`address_key` for an address read from Tryton (Many2One fields come back as ids)."""
    return address_key({**record, "street_unstructured": record.get("street_unstructured") or ""})


ADDRESS_FIELDS = ["party", "party_name", "attn", "street_unstructured", "postal_code", "city", "country", "subdivision"]


def customer_address_list(customer: Customer) -> list[Address]:
    return [a for a in (customer.billing, customer.shipping) if not a.is_empty]


def customer_ref_of(customer: Customer) -> CustomerRef:
    name = " ".join(p for p in (customer.first_name, customer.last_name) if p)
    return CustomerRef(store_customer_id=customer.store_customer_id, email=customer.email, name=name)


def to_decimal(value: Any) -> Decimal:
    """Tryton floats (quantities) as Decimal without binary noise."""
    number = value if isinstance(value, Decimal) else Decimal(repr(float(value or 0)))
    return number.quantize(Decimal(1)) if number == number.to_integral_value() else number.normalize()


def money(value: Decimal) -> Decimal:
    return value.quantize(CENT, ROUND_HALF_EVEN)
