"""The Tryton adapter: woobridge's ERP port on a running ``trytond``, over JSON-RPC.

Store → Tryton
  * orders become ``sale.sale`` records: the party is found by the store customer id (a party identifier
    ``<connection>:customer:<id>``) or the buyer's e-mail, or created; invoice and shipment addresses are reused
    when the party already has the same one; lines find their product by code = SKU; shipping is a line of the
    configured shipping product; taxes map per store tax rate (explicit mapping, else a Tryton percentage tax of
    the same rate); an untaxed adjustment line makes the sale's total equal the store's to the cent. The sale
    is quoted and, once the store order is paid (``confirm_statuses``), confirmed. The sale's ``reference``
    (``<connection>:<order id>``) is searched BEFORE creating, so a retry never makes a second sale.
  * later store changes update the sale while Tryton allows it (draft, quotation, cancelled); a confirmed sale
    whose lines or shipping address changed is an ``ErpRecordError`` (Tryton does not let a confirmed sale be
    edited: amend it there). A store cancellation cancels a draft/quotation sale, or is a record error.
  * refunds become return sales (negative quantities, ``origin`` = the original sale), which Tryton turns into a
    customer return shipment (when restocked) and a credit note.
Tryton → store
  * ``pending_shipments``: customer shipments in state ``done`` of this connection's sales, with
    ``shipping_reference`` as the tracking number and the carrier, not yet acknowledged.
  * ``pending_credit_memos``: return sales made in Tryton (confirmed or later) for this connection's orders.
  * acknowledgements are kept IN Tryton as a note (``ir.note``) on the shipment or return sale, starting with
    ``[woobridge <connection>]``: Tryton users see what woobridge did with each document; deleting the note
    makes woobridge offer the document again.
  * ``stock_levels``: ``forecast_quantity`` (default) or the quantity on hand minus what is assigned
    (``available``) per product code, over the given warehouses (codes or names) or all.
  * ``items``: salable products, one item per template (several products with codes = variants).

Batching: :meth:`TrytonAdapter.put_sales_orders` does the work of many orders in a handful of calls (one search,
one create, one quote, one confirm, …); when Tryton refuses a batch it falls back to one order at a time, so each
refusal is still that one order's record error. ``put_sales_order`` is the one-order case of it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

from woobridge.documents import (
    Address,
    CreditMemo,
    CreditMemoLine,
    Customer,
    CustomerRef,
    Item,
    ItemVariant,
    SalesOrder,
    Shipment,
    ShipmentLine,
    StockLevel,
    TaxAmount,
)
from woobridge.erp.port import Acknowledgement, ErpRecordError, ErpRef, ErpUnavailable
from woobridge.erp.tryton import mapping as m
from woobridge.erp.tryton.rpc import Model, TrytonError, TrytonRpc

EDITABLE = ("draft", "quotation")
CONFIRMED = ("confirmed", "processing", "done")


@dataclass(frozen=True)
class TrytonSettings:
    """How to reach Tryton and how store documents map onto it (see docs/tryton.md)."""

    url: str
    database: str
    login: str
    password: str = field(repr=False)
    shipping_product: str = "SHIPPING"  # product code of shipping lines
    fee_product: str = ""  # product code of fee lines ("" → lines without product)
    adjustment_product: str = ""  # product code of the rounding adjustment line ("" → a line without product)
    adjustment_description: str = "Rounding adjustment (store total)"
    quote: bool = True
    confirm: bool = True
    confirm_statuses: frozenset[str] = frozenset({"processing", "completed"})
    cancel_statuses: frozenset[str] = frozenset({"cancelled", "failed", "trash"})
    # Store tax rate id (as text) or rate code → Tryton tax id or name; unmapped rates match by percentage.
    tax_map: Mapping[str, int | str] = field(default_factory=dict)
    # Store shipping method id (e.g. "flat_rate") → Tryton carrier id or carrier party name.
    carrier_map: Mapping[str, int | str] = field(default_factory=dict)
    warehouse: str = ""  # warehouse code or name for sales; required when Tryton has more than one
    stock_quantity: Literal["forecast", "available"] = "forecast"
    account_category: str = "Goods"  # product.category given to products created by put_items
    skip_warnings: bool = True  # the store already decided: Tryton's "are you sure?" warnings are answered yes
    timeout: float = 60.0


@dataclass
class _Pending:
    """One order on its way through put_sales_orders."""

    index: int
    order: SalesOrder
    reference: str
    sale_id: int = 0
    created: bool = True
    error: ErpRecordError | None = None
    values: dict[str, Any] = field(default_factory=dict)


class TrytonAdapter:
    """ErpPort on Tryton. Caches (products by code, taxes, countries…) live as long as the adapter: one run."""

    name = "tryton"

    def __init__(self, settings: TrytonSettings, rpc: TrytonRpc | None = None) -> None:
        self.settings = settings
        self.rpc = rpc or TrytonRpc(
            settings.url, settings.database, settings.login, settings.password, timeout=settings.timeout
        )
        self.rpc.accept_warnings = settings.skip_warnings
        self._products: dict[str, dict[str, Any]] = {}
        self._taxes_by_ref: dict[str, int] = {}
        self._taxes_by_rate: dict[Decimal, int] | None = None
        self._countries: dict[str, int] | None = None
        self._subdivisions: dict[str, int] | None = None
        self._currencies: dict[str, int] = {}
        self._warehouse_id: int | None = None
        self._carriers: dict[str, int] = {}

    # -- helpers ------------------------------------------------------------------------------------------------
    def _model(self, name: str) -> Model:
        return self.rpc.model(name)

    def close(self) -> None:
        self.rpc.close()

    # -- master data lookups (cached for the adapter's life) ----------------------------------------------------
    def _load_products(self, codes: Iterable[str]) -> None:
        wanted = sorted({c for c in codes if c and c not in self._products})
        if not wanted:
            return
        rows = self._model("product.product").search_read(
            [("code", "in", wanted)], ["code", "type", "default_uom", "template"]
        )
        for row in rows:
            self._products[row["code"]] = row

    def _product(self, code: str, what: str) -> dict[str, Any]:
        self._load_products([code])
        product = self._products.get(code)
        if product is None:
            raise ErpRecordError(
                f"{what}: Tryton has no product with code {code!r}; create it in Tryton (Product → Variants, "
                "Code) or import the catalog first, then retry"
            )
        return product

    def _countries_and_subdivisions(self) -> tuple[dict[str, int], dict[str, int]]:
        if self._countries is None or self._subdivisions is None:
            countries = self._model("country.country").search_read([], ["code"])
            self._countries = {row["code"]: row["id"] for row in countries if row.get("code")}
            subdivisions = self._model("country.subdivision").search_read([], ["code"])
            self._subdivisions = {row["code"]: row["id"] for row in subdivisions if row.get("code")}
        return self._countries, self._subdivisions

    def _currency(self, code: str) -> int:
        if code not in self._currencies:
            ids = self._model("currency.currency").search([("code", "=", code)], limit=1)
            if not ids:
                raise ErpRecordError(f"Tryton has no currency {code!r}; add it in Currency → Currencies")
            self._currencies[code] = ids[0]
        return self._currencies[code]

    def _warehouses(self) -> list[dict[str, Any]]:
        return self._model("stock.location").search_read([("type", "=", "warehouse")], ["code", "name"])

    def _warehouse(self) -> int:
        if self._warehouse_id is None:
            warehouses = self._warehouses()
            wanted = self.settings.warehouse
            if wanted:
                found = [w for w in warehouses if wanted in (w.get("code"), w.get("name"))]
                if not found:
                    raise ErpUnavailable(f"Tryton has no warehouse with code or name {wanted!r}: fix the setting")
            elif len(warehouses) == 1:
                found = warehouses
            else:
                names = ", ".join(str(w.get("code") or w["name"]) for w in warehouses)
                raise ErpUnavailable(
                    f"Tryton has {len(warehouses)} warehouses ({names}): set the adapter's warehouse to the one "
                    "that ships store orders"
                )
            self._warehouse_id = int(found[0]["id"])
        return self._warehouse_id

    def _carrier(self, method_id: str) -> int | None:
        target = self.settings.carrier_map.get(method_id)
        if target is None:
            return None
        if isinstance(target, int):
            return target
        if target not in self._carriers:
            ids = self._model("carrier").search([("party.name", "=", target)], limit=1)
            if not ids:
                raise ErpUnavailable(f"Tryton has no carrier whose party is named {target!r}: fix carrier_map")
            self._carriers[target] = ids[0]
        return self._carriers[target]

    def _tax(self, tax: TaxAmount, where: str) -> int:
        for key in (str(tax.rate_id), tax.rate_code):
            if key and key in self.settings.tax_map:
                target = self.settings.tax_map[key]
                if isinstance(target, int):
                    return target
                if target not in self._taxes_by_ref:
                    ids = self._model("account.tax").search([("name", "=", target)], limit=1)
                    if not ids:
                        raise ErpUnavailable(f"Tryton has no tax named {target!r}: fix tax_map[{key!r}]")
                    self._taxes_by_ref[target] = ids[0]
                return self._taxes_by_ref[target]
        if tax.rate_percent is None:
            raise ErpRecordError(
                f"{where}: the store's tax rate {tax.rate_code or tax.rate_id} has no known percentage; map it to a "
                "Tryton tax in the adapter's tax_map"
            )
        if self._taxes_by_rate is None:
            rows = self._model("account.tax").search_read(
                [("type", "=", "percentage"), ("parent", "=", None)], ["rate"], order=[("id", "ASC")]
            )
            self._taxes_by_rate = {}
            for row in rows:
                self._taxes_by_rate.setdefault(Decimal(row["rate"]).normalize(), row["id"])
        rate = (tax.rate_percent / 100).normalize()
        found = self._taxes_by_rate.get(rate)
        if found is None:
            raise ErpRecordError(
                f"{where}: Tryton has no percentage tax of {tax.rate_percent}% for the store's rate "
                f"{tax.rate_code or tax.rate_id} ({tax.label}); create it in Tryton or map it in tax_map"
            )
        return found

    def _taxes(self, taxes: Sequence[TaxAmount], where: str) -> list[int]:
        ids: list[int] = []
        for tax in taxes:
            explicit = str(tax.rate_id) in self.settings.tax_map or tax.rate_code in self.settings.tax_map
            if tax.amount == 0 and not explicit and not tax.rate_percent:
                continue  # a zero-rated rate: nothing to book
            tax_id = self._tax(tax, where)
            if tax_id not in ids:
                ids.append(tax_id)
        return ids

    # -- parties ------------------------------------------------------------------------------------------------
    @staticmethod
    def _identifier(connection: str, store_customer_id: int) -> str:
        return f"{connection}:customer:{store_customer_id}"

    def _find_parties(self, connection: str, refs: Sequence[CustomerRef]) -> dict[int, int]:
        """Index in ``refs`` → existing party id: by store customer id (identifier) first, then by e-mail."""
        found: dict[int, int] = {}
        codes = {self._identifier(connection, r.store_customer_id): i for i, r in enumerate(refs) if not r.is_guest}
        if codes:
            rows = self._model("party.identifier").search_read([("code", "in", sorted(codes))], ["code", "party"])
            by_code = {row["code"]: row["party"] for row in rows}
            for code, i in codes.items():
                if code in by_code:
                    found[i] = by_code[code]
        emails = {r.email for i, r in enumerate(refs) if i not in found and r.email}
        if emails:
            rows = self._model("party.contact_mechanism").search_read(
                [("type", "=", "email"), ("value", "in", sorted(emails))], ["value", "party"], order=[("id", "ASC")]
            )
            by_email: dict[str, int] = {}
            for row in rows:
                by_email.setdefault(str(row["value"]).strip().lower(), row["party"])
            for i, r in enumerate(refs):
                if i not in found and r.email in by_email:
                    found[i] = by_email[r.email]
        return found

    def _party_addresses(self, party_ids: Iterable[int]) -> dict[int, list[dict[str, Any]]]:
        ids = sorted(set(party_ids))
        result: dict[int, list[dict[str, Any]]] = {i: [] for i in ids}
        if ids:
            for row in self._model("party.address").search_read([("party", "in", ids)], m.ADDRESS_FIELDS):
                result[row["party"]].append(row)
        return result

    def _new_party_values(self, connection: str, ref: CustomerRef, name: str, phone: str = "") -> dict[str, Any]:
        contacts = [{"type": "email", "value": ref.email}] if ref.email else []
        if phone:
            contacts.append({"type": "phone", "value": phone})
        values: dict[str, Any] = {
            "name": name or ref.email or f"Store customer {ref.store_customer_id}",
            "contact_mechanisms": [("create", contacts)],
            "addresses": [("create", [])],  # no default empty address: the order's addresses are added below
        }
        if not ref.is_guest:
            values["identifiers"] = [("create", [{"code": self._identifier(connection, ref.store_customer_id)}])]
        return values

    def _ensure_addresses(self, wanted: list[tuple[int, dict[str, Any]]]) -> list[int]:
        """For each (party id, address values): the id of the party's same address, created when missing."""
        existing = self._party_addresses(p for p, _ in wanted)
        known: dict[tuple[int, tuple[Any, ...]], int] = {}
        for party_id, rows in existing.items():
            for row in rows:
                known.setdefault((party_id, m.tryton_address_key(row)), row["id"])
        to_create: list[dict[str, Any]] = []
        keys: list[tuple[int, tuple[Any, ...]]] = []
        for party_id, values in wanted:
            key = (party_id, m.address_key(values))
            if key not in known and key not in keys:
                keys.append(key)
                to_create.append({**values, "party": party_id})
        for key, new_id in zip(keys, self._model("party.address").create(to_create), strict=True):
            known[key] = new_id
        return [known[(p, m.address_key(v))] for p, v in wanted]

    # -- store → ERP: sales ---------------------------------------------------------------------------------------
    def find_sales_order(self, connection: str, store_order_id: int) -> ErpRef | None:
        rows = self._model("sale.sale").search_read(
            [("reference", "=", m.order_reference(connection, store_order_id))], ["number"], order=[("id", "ASC")]
        )
        return ErpRef(str(rows[0]["id"]), rows[0].get("number") or "", created=False) if rows else None

    def put_sales_order(self, connection: str, order: SalesOrder) -> ErpRef:
        """Create or update the sale for this store order (see the module docstring); raises ErpRecordError."""
        (result,) = self.put_sales_orders(connection, [order])
        if isinstance(result, ErpRecordError):
            raise result
        return result

    def put_sales_orders(self, connection: str, orders: Sequence[SalesOrder]) -> list[ErpRef | ErpRecordError]:
        """Many orders in a few calls. Each result is the order's ErpRef, or the ErpRecordError that refused it;
        ErpUnavailable (Tryton unreachable) is raised for the whole batch."""
        items = [_Pending(i, o, m.order_reference(connection, o.store_order_id)) for i, o in enumerate(orders)]
        existing = {
            row["reference"]: row
            for row in self._model("sale.sale").search_read(
                [("reference", "in", [p.reference for p in items])],
                ["reference", "state", "number"],
                order=[("id", "ASC")],
            )
        }
        new = [p for p in items if p.reference not in existing]
        seen: set[str] = set()
        for p in new:  # the same order twice in one batch: the second one updates the first
            if p.reference in seen:
                p.created = False
            seen.add(p.reference)
        updates = [p for p in items if p.reference in existing or not p.created]
        first_of_new = [p for p in new if p.created]

        self._create_sales(connection, first_of_new)
        for p in updates:
            try:
                row = existing.get(p.reference)
                if row is None:  # duplicate within this batch: the sale was created just now
                    row = self._model("sale.sale").search_read([("reference", "=", p.reference)], ["state", "number"])[
                        0
                    ]
                p.sale_id, p.created = int(row["id"]), False
                self._update_sale(connection, p, str(row["state"]))
            except ErpRecordError as exc:
                p.error = exc
        numbers = {
            row["id"]: row.get("number") or ""
            for row in self._model("sale.sale").read([p.sale_id for p in items if p.sale_id], ["number"])
        }
        return [p.error or ErpRef(str(p.sale_id), numbers.get(p.sale_id, ""), created=p.created) for p in items]

    def _sale_values(self, connection: str, order: SalesOrder, reference: str) -> dict[str, Any]:
        """Header and lines of the sale (without party and addresses, resolved in bulk by the caller)."""
        where = f"store order {order.number or order.store_order_id}"
        self._load_products(
            [line.sku for line in order.lines]
            + [c for c in (self.settings.shipping_product, self.settings.fee_product, self.settings.adjustment_product)]
        )
        lines: list[dict[str, Any]] = []
        for line in order.lines:
            if not line.sku:
                raise ErpRecordError(
                    f"{where}: line {line.store_line_id} ({line.name!r}) has no SKU; give the product a SKU in the "
                    "store (Tryton finds products by code = SKU)"
                )
            product = self._product(line.sku, f"{where}, line {line.store_line_id} ({line.name!r})")
            lines.append(
                {
                    "type": "line",
                    "product": product["id"],
                    "unit": product["default_uom"],
                    "quantity": float(line.quantity),
                    "unit_price": m.unit_price(line.total, line.quantity),
                    "description": line.name or line.sku,
                    "note": m.line_note(line.store_line_id),
                    "taxes": [("add", self._taxes(line.taxes, f"{where}, line {line.store_line_id}"))],
                }
            )
        carrier = None
        for ship in order.shipping_lines:
            carrier = carrier or self._carrier(ship.method_id)
            product = self._product(self.settings.shipping_product, f"{where}, shipping (setting shipping_product)")
            lines.append(
                {
                    "type": "line",
                    "product": product["id"],
                    "unit": product["default_uom"],
                    "quantity": 1.0,
                    "unit_price": m.unit_price(ship.total, Decimal(1)),
                    "description": ship.method_title or "Shipping",
                    "note": m.line_note(ship.store_line_id),
                    "taxes": [("add", self._taxes(ship.taxes, f"{where}, shipping"))],
                }
            )
        for fee in order.fees:
            values: dict[str, Any] = {
                "type": "line",
                "quantity": 1.0,
                "unit_price": m.unit_price(fee.total, Decimal(1)),
                "description": fee.name or "Fee",
                "note": m.line_note(fee.store_line_id),
                "taxes": [("add", self._taxes(fee.taxes, f"{where}, fee {fee.name!r}"))],
            }
            if self.settings.fee_product:
                product = self._product(self.settings.fee_product, f"{where}, fee (setting fee_product)")
                values.update(product=product["id"], unit=product["default_uom"])
            lines.append(values)
        if order.rounding_adjustment:
            lines.append(self._adjustment_line(order.rounding_adjustment))
        for sequence, line_values in enumerate(lines, start=1):
            line_values["sequence"] = sequence
        description = f"Store order #{order.number or order.store_order_id} ({connection})"
        values = {
            "reference": reference,
            "description": description,
            "sale_date": order.created_at.date(),
            "currency": self._currency(order.currency),
            "warehouse": self._warehouse(),
            "shipment_cost_method": None,  # shipping is the store's shipping line, never Tryton's carrier price
            "comment": order.customer_note or None,
            "lines": [("create", lines)],
        }
        if carrier is not None:
            values["carrier"] = carrier
        return values

    def _adjustment_line(self, amount: Decimal) -> dict[str, Any]:
        values: dict[str, Any] = {
            "type": "line",
            "quantity": 1.0,
            "unit_price": amount,
            "description": self.settings.adjustment_description,
            "sequence": 9999,
        }
        if self.settings.adjustment_product:
            product = self._product(self.settings.adjustment_product, "setting adjustment_product")
            values.update(product=product["id"], unit=product["default_uom"])
        return values

    def _resolve_parties(self, connection: str, pending: list[_Pending]) -> None:
        """Set party, invoice_address and shipment_address on each pending order's values (a few calls in all)."""
        if not pending:
            return
        countries, subdivisions = self._countries_and_subdivisions()
        refs = [p.order.customer for p in pending]
        for p in pending:
            if not p.order.customer.email and p.order.billing.email:
                refs[pending.index(p)] = p.order.customer.model_copy(update={"email": p.order.billing.email.lower()})
        found = self._find_parties(connection, refs)
        # New parties: one per distinct customer key in the batch.
        new_keys: dict[str, int] = {}
        to_create: list[dict[str, Any]] = []
        key_of: dict[int, str] = {}
        for i, p in enumerate(pending):
            if i in found:
                continue
            ref = refs[i]
            key = f"id:{ref.store_customer_id}" if not ref.is_guest else f"email:{ref.email or p.reference}"
            key_of[i] = key
            if key not in new_keys:
                new_keys[key] = len(to_create)
                to_create.append(
                    self._new_party_values(connection, ref, m.customer_party_name(p.order), p.order.billing.phone)
                )
        created = self._model("party.party").create(to_create)
        for i, key in key_of.items():
            found[i] = created[new_keys[key]]
        wanted: list[tuple[int, dict[str, Any]]] = []
        for i, p in enumerate(pending):
            billing = m.address_values(p.order.billing, countries, subdivisions)
            shipping_src = p.order.shipping if not p.order.shipping.is_empty else p.order.billing
            shipping = m.address_values(shipping_src, countries, subdivisions)
            wanted += [(found[i], billing), (found[i], shipping)]
        address_ids = self._ensure_addresses(wanted)
        for i, p in enumerate(pending):
            p.values.update(party=found[i], invoice_address=address_ids[2 * i], shipment_address=address_ids[2 * i + 1])

    def _create_sales(self, connection: str, pending: list[_Pending]) -> None:
        ready: list[_Pending] = []
        for p in pending:
            try:
                p.values = self._sale_values(connection, p.order, p.reference)
                ready.append(p)
            except ErpRecordError as exc:
                p.error = exc
        if not ready:
            return
        self._resolve_parties(connection, ready)
        ids = self._each(
            ready,
            lambda batch: self._model("sale.sale").create([p.values for p in batch]),
        )
        for p, sale_id in ids:
            p.sale_id = sale_id
        created = [p for p in ready if p.sale_id]
        self._match_totals(created, lambda p: p.order.total)
        self._advance(created)

    def _each(
        self, batch: list[_Pending], call: Callable[[list[_Pending]], list[int] | None]
    ) -> list[tuple[_Pending, int]]:
        """Run ``call`` on the whole batch; when Tryton refuses it, run it per order so that only the orders at
        fault get a record error. Returns (pending, result id) pairs of those that went through."""
        live = [p for p in batch if p.error is None]
        if not live:
            return []
        try:
            result = call(live)
            return list(zip(live, result or [p.sale_id for p in live], strict=True))
        except TrytonError as exc:
            if len(live) == 1:
                live[0].error = self._explain(live[0], exc)
                return []
        pairs: list[tuple[_Pending, int]] = []
        for p in live:
            pairs += self._each([p], call)
        return pairs

    @staticmethod
    def _explain(p: _Pending, exc: TrytonError) -> ErpRecordError:
        where = f"store order {p.order.number or p.order.store_order_id}"
        return ErpRecordError(f"{where}: {exc}", retryable=exc.retryable)

    def _match_totals(self, pending: list[_Pending], target: Callable[[_Pending], Decimal]) -> None:
        """Make each sale's total equal the store's: add (or extend) an untaxed adjustment line for the cents that
        Tryton's tax rounding or price division computed differently."""
        if not pending:
            return
        totals = {
            row["id"]: row["total_amount"]
            for row in self._model("sale.sale").read([p.sale_id for p in pending], ["total_amount"])
        }
        adjustments = []
        for p in pending:
            difference = target(p) - Decimal(totals[p.sale_id])
            if difference:
                adjustments.append({**self._adjustment_line(difference), "sale": p.sale_id})
        self._model("sale.line").create(adjustments)

    def _advance(self, pending: list[_Pending]) -> None:
        """Quote, then confirm (paid orders only), in one call each; per order when one refuses."""
        if not self.settings.quote:
            return
        sale = self._model("sale.sale")
        cancel = [p for p in pending if p.error is None and p.order.status in self.settings.cancel_statuses]
        self._each(cancel, lambda batch: sale("cancel", [p.sale_id for p in batch]))
        rest = [p for p in pending if p not in cancel]
        self._each(rest, lambda batch: sale("quote", [p.sale_id for p in batch]))
        if self.settings.confirm:
            paid = [p for p in rest if p.error is None and p.order.status in self.settings.confirm_statuses]
            self._each(paid, lambda batch: sale("confirm", [p.sale_id for p in batch]))

    def _update_sale(self, connection: str, p: _Pending, state: str) -> None:
        sale = self._model("sale.sale")
        where = f"store order {p.order.number or p.order.store_order_id}"
        cancelling = p.order.status in self.settings.cancel_statuses
        if state in CONFIRMED:
            if cancelling:
                raise ErpRecordError(
                    f"{where} was {p.order.status} in the store, but its Tryton sale is already {state}; Tryton "
                    "cannot cancel a confirmed sale from outside: cancel its shipments and invoices in Tryton"
                )
            changes = self._confirmed_changes(connection, p)
            if changes:
                raise ErpRecordError(
                    f"{where} changed in the store after its Tryton sale was confirmed ({changes}); Tryton does not "
                    "let a confirmed sale be edited: change the sale in Tryton (e.g. with sale amendments)",
                )
            return
        if state == "cancelled" and cancelling:
            return
        if cancelling and state in EDITABLE:
            self._each([p], lambda batch: sale("cancel", [p.sale_id]))
            return
        # draft, quotation or cancelled: back to draft, replace everything, move on as a new sale would
        if state != "draft":
            sale("draft", [p.sale_id])
        values = self._sale_values(connection, p.order, p.reference)
        self._resolve_parties(connection, [p])
        old_lines = sale.read([p.sale_id], ["lines"])[0]["lines"]
        values["lines"] = [("delete", old_lines), *values["lines"]]
        p.values.update(values)
        self._each([p], lambda batch: sale("write", [p.sale_id], p.values))
        if p.error is None:
            self._match_totals([p], lambda q: q.order.total)
            self._advance([p])

    def _confirmed_changes(self, connection: str, p: _Pending) -> str:
        """What differs between a confirmed sale and the store order, in words ('' when nothing that matters)."""
        row = self._model("sale.sale").read([p.sale_id], ["lines", "shipment_address"])[0]
        lines = self._model("sale.line").read(row["lines"], ["product.code", "quantity", "note"])
        have = sorted(
            ((line.get("product.") or {}).get("code") or "", m.to_decimal(line["quantity"]))
            for line in lines
            if m.store_line_id(line.get("note")) and line.get("product.")
        )
        want = sorted((line.sku, m.to_decimal(line.quantity)) for line in p.order.lines)
        changes = []
        if [h for h in have if h[0] != self.settings.shipping_product] != want:
            changes.append("items or quantities")
        countries, subdivisions = self._countries_and_subdivisions()
        source = p.order.shipping if not p.order.shipping.is_empty else p.order.billing
        address = self._model("party.address").read([row["shipment_address"]], m.ADDRESS_FIELDS)
        if address and m.tryton_address_key(address[0]) != m.address_key(
            m.address_values(source, countries, subdivisions)
        ):
            changes.append("shipping address")
        return " and ".join(changes)

    # -- store → ERP: customers, items, credit memos ---------------------------------------------------------------
    def put_customer(self, connection: str, customer: Customer) -> ErpRef:
        """The party for a store customer (by store customer id, then e-mail), with its addresses."""
        ref = m.customer_ref_of(customer)
        name = m.party_name(
            customer.email, first_name=customer.first_name, last_name=customer.last_name, company=customer.company
        )
        found = self._find_parties(connection, [ref])
        party = self._model("party.party")
        if 0 in found:
            party_id, created = found[0], False
            current = party.read([party_id], ["name", "identifiers.code", "contact_mechanisms.value"])[0]
            values: dict[str, Any] = {"name": name}
            emails = {str(c.get("value", "")).lower() for c in current.get("contact_mechanisms.") or []}
            if customer.email and customer.email not in emails:
                values["contact_mechanisms"] = [("create", [{"type": "email", "value": customer.email}])]
            codes = {c.get("code") for c in current.get("identifiers.") or []}
            code = self._identifier(connection, customer.store_customer_id)
            if not customer.is_guest and code not in codes:
                values["identifiers"] = [("create", [{"code": code}])]
            party.write([party_id], values)
        else:
            (party_id,) = party.create([self._new_party_values(connection, ref, name, customer.phone)])
            created = True
        countries, subdivisions = self._countries_and_subdivisions()
        addresses = [m.address_values(a, countries, subdivisions) for a in m.customer_address_list(customer)]
        self._ensure_addresses([(party_id, a) for a in addresses])
        return ErpRef(str(party_id), "", created=created)

    def put_items(self, connection: str, items: Sequence[Item]) -> list[ErpRef]:
        """Products by SKU (= product code): new ones are created (variants as products of one template), known
        ones get the store's name and price."""
        codes = [v.sku for item in items for v in item.variants] + [i.sku for i in items if not i.variants]
        self._load_products(codes)
        category = self._model("product.category").search([("name", "=", self.settings.account_category)], limit=1)
        uom = self._model("product.uom").search([("name", "=", "Unit")], limit=1)
        if not uom:
            raise ErpUnavailable("Tryton has no unit of measure named 'Unit'")
        template = self._model("product.template")
        refs: list[ErpRef] = []
        creates: list[dict[str, Any]] = []
        create_index: list[int] = []
        for item in items:
            skus = [v.sku for v in item.variants] or [item.sku]
            known = [self._products[s] for s in skus if s in self._products]
            price = item.regular_price if item.regular_price is not None else Decimal(0)
            header: dict[str, Any] = {"name": item.name, "list_price": price}
            if known:
                template.write([known[0]["template"]], header)
                missing = [{"suffix_code": s, "list_price": None} for s in skus if s not in self._products]
                if missing:
                    template.write([known[0]["template"]], {"products": [("create", missing)]})
                refs.append(ErpRef(str(known[0]["template"]), item.sku, created=False))
                continue
            values = {
                **header,
                "type": "goods",
                "default_uom": uom[0],
                "salable": True,
                "sale_uom": uom[0],
                "active": item.status == "active",
                "products": [("create", [{"suffix_code": s} for s in skus])],
            }
            if category:
                values["account_category"] = category[0]
            create_index.append(len(refs))
            refs.append(ErpRef("", item.sku))
            creates.append(values)
        for index, new_id in zip(create_index, template.create(creates), strict=True):
            refs[index] = ErpRef(str(new_id), refs[index].document_no)
        self._products.clear()
        return refs

    def put_credit_memo(self, connection: str, memo: CreditMemo) -> ErpRef:
        """A return sale for a store refund: restocked lines return the product (a return shipment), the rest are
        lines without product; an adjustment line makes the total equal the refund. Keyed on the refund id."""
        if not memo.store_refund_id:
            raise ErpRecordError("a credit memo from the store needs its store_refund_id")
        reference = m.refund_reference(connection, memo.store_refund_id)
        sale = self._model("sale.sale")
        found = sale.search_read([("reference", "=", reference)], ["number"], limit=1)
        if found:
            return ErpRef(str(found[0]["id"]), found[0].get("number") or "", created=False)
        original = sale.search_read(
            [("reference", "=", m.order_reference(connection, memo.store_order_id))],
            ["party", "invoice_address", "shipment_address", "warehouse", "currency", "number", "lines"],
            limit=1,
        )
        if not original:
            raise ErpRecordError(
                f"refund {memo.store_refund_id} of store order {memo.store_order_id}: the order is not in Tryton yet; "
                "it is retried after the orders flow has brought the order",
                retryable=True,
            )
        orig = original[0]
        orig_lines = self._model("sale.line").read(orig["lines"], ["product", "unit", "note", "taxes", "product.code"])
        by_store_line = {m.store_line_id(row.get("note")): row for row in orig_lines}
        by_sku = {(row.get("product.") or {}).get("code"): row for row in orig_lines if row.get("product")}
        where = f"refund {memo.store_refund_id} of store order {memo.store_order_id}"
        lines: list[dict[str, Any]] = []
        for line in memo.lines:
            source = by_store_line.get(line.store_line_id) or by_sku.get(line.sku)
            quantity = abs(line.quantity) or Decimal(1)
            taxes = self._taxes(line.taxes, where) if line.taxes else list((source or {}).get("taxes") or [])
            values: dict[str, Any] = {
                "type": "line",
                "quantity": -float(quantity),
                "unit_price": m.unit_price(abs(line.amount), quantity),
                "description": f"Refund: {line.sku or 'amount'}",
                "note": m.line_note(line.store_line_id),
                "taxes": [("add", taxes)],
            }
            if memo.restock and line.quantity and source and source.get("product"):
                values.update(product=source["product"], unit=source["unit"])
            lines.append(values)
        if not lines:
            lines.append(
                {
                    "type": "line",
                    "quantity": -1.0,
                    "unit_price": m.money(abs(memo.amount)),
                    "description": f"Refund {memo.store_refund_id}" + (f": {memo.reason}" if memo.reason else ""),
                }
            )
        values = {
            "reference": reference,
            "origin": f"sale.sale,{orig['id']}",
            "description": f"Store refund {memo.store_refund_id} of order {orig.get('number') or memo.store_order_id}",
            "party": orig["party"],
            "invoice_address": orig["invoice_address"],
            "shipment_address": orig["shipment_address"],
            "warehouse": orig["warehouse"],
            "currency": orig["currency"],
            "shipment_cost_method": None,
            "comment": memo.reason or None,
            "lines": [("create", lines)],
        }
        (sale_id,) = sale.create([values])
        pending = _Pending(0, _memo_as_order(memo), reference, sale_id=sale_id)
        self._match_totals([pending], lambda _: -abs(memo.amount))
        if self.settings.quote:
            sale("quote", [sale_id])
            if self.settings.confirm:
                sale("confirm", [sale_id])
        number = sale.read([sale_id], ["number"])[0].get("number") or ""
        return ErpRef(str(sale_id), number)

    # -- ERP → store ----------------------------------------------------------------------------------------------
    @staticmethod
    def _marker(connection: str) -> str:
        return f"[woobridge {connection}]"

    def _acknowledged(self, connection: str, model: str, ids: Iterable[int]) -> set[int]:
        resources = [f"{model},{i}" for i in ids]
        if not resources:
            return set()
        marker = self._marker(connection).replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        rows = self._model("ir.note").search_read(
            [("resource", "in", resources), ("message", "like", f"{marker}%")], ["resource"]
        )
        return {int(str(row["resource"]).split(",")[1]) for row in rows}

    def _acknowledge(self, connection: str, resource: str, ack: Acknowledgement) -> None:
        model, _, record = resource.partition(",")
        if int(record) in self._acknowledged(connection, model, [int(record)]):
            return
        detail = " ".join(x for x in (ack.store_ref and f"store ref {ack.store_ref}", ack.message) if x)
        message = f"{self._marker(connection)} {ack.status}" + (f": {detail}" if detail else "")
        self._model("ir.note").create([{"resource": resource, "message": message}])

    def pending_shipments(self, connection: str) -> Sequence[Shipment]:
        """Done customer shipments of this connection's sales not yet acknowledged (oldest first)."""
        prefix = f"{connection}:"
        shipments = self._model("stock.shipment.out").search_read(
            [("state", "=", "done"), ("moves.sale.reference", "like", f"{_escape(prefix)}%")],
            ["number", "effective_date", "shipping_reference", "carrier.party.name", "outgoing_moves"],
            order=[("effective_date", "ASC"), ("id", "ASC")],
        )
        acked = self._acknowledged(connection, "stock.shipment.out", (s["id"] for s in shipments))
        shipments = [s for s in shipments if s["id"] not in acked]
        move_ids = [i for s in shipments for i in s["outgoing_moves"]]
        moves = {
            row["id"]: row
            for row in self._model("stock.move").read(
                move_ids, ["product.code", "quantity", "origin", "origin.note", "sale.reference"]
            )
        }
        result: list[Shipment] = []
        for s in shipments:
            lines: list[ShipmentLine] = []
            order_id: int | None = None
            for move_id in s["outgoing_moves"]:
                move = moves[move_id]
                order_id = order_id or m.parse_order_reference(connection, (move.get("sale.") or {}).get("reference"))
                lines.append(
                    ShipmentLine(
                        store_line_id=m.store_line_id((move.get("origin.") or {}).get("note")),
                        sku=(move.get("product.") or {}).get("code") or "",
                        quantity=m.to_decimal(move["quantity"]),
                    )
                )
            if order_id is None:
                continue  # a refund's reference matched the prefix; not an order of this connection
            shipped = s.get("effective_date")
            result.append(
                Shipment(
                    erp_shipment_id=str(s["id"]),
                    store_order_id=order_id,
                    lines=tuple(lines),
                    carrier=((s.get("carrier.") or {}).get("party.") or {}).get("name") or "",
                    tracking_number=s.get("shipping_reference") or "",
                    shipped_at=dt.datetime.combine(shipped, dt.time(), tzinfo=dt.UTC) if shipped else None,
                )
            )
        return result

    def acknowledge_shipment(self, connection: str, erp_shipment_id: str, ack: Acknowledgement) -> None:
        self._acknowledge(connection, f"stock.shipment.out,{int(erp_shipment_id)}", ack)

    def pending_credit_memos(self, connection: str) -> Sequence[CreditMemo]:
        """Return sales made in Tryton (confirmed or later) for this connection's orders, not yet acknowledged."""
        own = f"{_escape(connection)}:refund:%"
        returns = self._model("sale.sale").search_read(
            [
                ("origin", "like", "sale.sale,%"),
                ("state", "in", list(CONFIRMED)),
                ["OR", ("reference", "=", None), ("reference", "not like", own)],
            ],
            [
                "origin",
                "total_amount",
                "untaxed_amount",
                "tax_amount",
                "sale_date",
                "comment",
                "lines",
                "currency.code",
            ],
            order=[("id", "ASC")],
        )
        acked = self._acknowledged(connection, "sale.sale", (r["id"] for r in returns))
        returns = [r for r in returns if r["id"] not in acked]
        origin_ids = sorted({int(str(r["origin"]).split(",")[1]) for r in returns})
        references = {
            row["id"]: row.get("reference") for row in self._model("sale.sale").read(origin_ids, ["reference"])
        }
        line_ids = [i for r in returns for i in r["lines"]]
        lines = {
            row["id"]: row
            for row in self._model("sale.line").read(
                line_ids, ["product.code", "product.type", "quantity", "amount", "note", "type", "taxes"]
            )
        }
        tax_ids = sorted({t for line in lines.values() for t in line.get("taxes") or []})
        rates = {
            row["id"]: Decimal(row["rate"] or 0)
            for row in self._model("account.tax").read(tax_ids, ["rate"])
            if row.get("type", "percentage") == "percentage"
        }
        memos: list[CreditMemo] = []
        for r in returns:
            order_id = m.parse_order_reference(connection, references.get(int(str(r["origin"]).split(",")[1])))
            if order_id is None:
                continue
            memo_lines = []
            restock = False
            for line_id in r["lines"]:
                line = lines[line_id]
                if line.get("type") != "line":
                    continue
                product = line.get("product.") or {}
                restock = restock or (product.get("type") == "goods" and (line["quantity"] or 0) < 0)
                memo_lines.append(
                    CreditMemoLine(
                        store_line_id=m.store_line_id(line.get("note")),
                        sku=product.get("code") or "",
                        quantity=abs(m.to_decimal(line["quantity"])),
                        amount=abs(Decimal(line["amount"] or 0)),
                        tax=m.money(abs(Decimal(line["amount"] or 0)) * sum(rates.get(t, 0) for t in line["taxes"])),
                    )
                )
            sale_date = r.get("sale_date")
            memos.append(
                CreditMemo(
                    store_order_id=order_id,
                    erp_memo_id=str(r["id"]),
                    lines=tuple(memo_lines),
                    amount=abs(Decimal(r["total_amount"])),
                    reason=r.get("comment") or "",
                    restock=restock,
                    currency=(r.get("currency.") or {}).get("code") or "",
                    created_at=dt.datetime.combine(sale_date, dt.time(), tzinfo=dt.UTC) if sale_date else None,
                )
            )
        return memos

    def acknowledge_credit_memo(self, connection: str, erp_memo_id: str, ack: Acknowledgement) -> None:
        self._acknowledge(connection, f"sale.sale,{int(erp_memo_id)}", ack)

    def stock_levels(self, connection: str, warehouses: Sequence[str] | None = None) -> Iterable[StockLevel]:
        """Quantity per product code, summed over the warehouses (codes or names) given, or all of them."""
        all_warehouses = self._warehouses()
        chosen = [w for w in all_warehouses if not warehouses or w.get("code") in warehouses or w["name"] in warehouses]
        if warehouses and len(chosen) < len(set(warehouses)):
            known = ", ".join(str(w.get("code") or w["name"]) for w in all_warehouses)
            raise ErpUnavailable(f"unknown Tryton warehouse in {list(warehouses)}; Tryton has: {known}")
        context: dict[str, Any] = {"locations": [w["id"] for w in chosen], "with_childs": True}
        if self.settings.stock_quantity == "available":
            context.update(stock_date_end=dt.date.today(), stock_assign=True)
            field_name = "quantity"
        else:
            field_name = "forecast_quantity"
        label = ",".join(str(w.get("code") or w["name"]) for w in chosen) if warehouses else ""
        offset, page = 0, 500
        while True:
            rows = self._model("product.product").search_read(
                [("type", "=", "goods"), ("code", "!=", None)],
                ["code", field_name],
                offset=offset,
                limit=page,
                order=[("id", "ASC")],
                context=context,
            )
            for row in rows:
                yield StockLevel(sku=row["code"], quantity=m.to_decimal(row[field_name]), warehouse=label)
            if len(rows) < page:
                return
            offset += page

    def items(self, connection: str) -> Iterable[Item]:
        """Salable products: one Item per template; a template with several coded products has them as variants."""
        templates = self._model("product.template").search_read(
            [("salable", "=", True), ("type", "=", "goods")],
            ["name", "code", "list_price", "products", "active"],
            order=[("id", "ASC")],
        )
        product_ids = [i for t in templates for i in t["products"]]
        products = {row["id"]: row for row in self._model("product.product").read(product_ids, ["code", "active"])}
        for t in templates:
            coded = [products[i] for i in t["products"] if products[i].get("code")]
            if not coded:
                continue
            status: Literal["active", "inactive"] = "active" if t.get("active", True) else "inactive"
            price = Decimal(t["list_price"]) if t.get("list_price") is not None else None
            if len(coded) == 1:
                yield Item(sku=coded[0]["code"], name=t["name"], regular_price=price, status=status)
                continue
            variants = tuple(
                ItemVariant(
                    sku=p["code"],
                    attributes={"Variant": p["code"]},
                    regular_price=price,
                    status="active" if p.get("active", True) else "inactive",
                )
                for p in coded
            )
            yield Item(
                sku=t.get("code") or f"tryton-template-{t['id']}",
                name=t["name"],
                regular_price=price,
                status=status,
                attributes={"Variant": tuple(p["code"] for p in coded)},
                variants=variants,
            )


def _escape(text: str) -> str:
    """Escape LIKE wildcards (Tryton's LIKE uses backslash as its escape character)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _memo_as_order(memo: CreditMemo) -> SalesOrder:
    """A stand-in order so that the total-matching helper can name the refund in its messages."""
    now = memo.created_at or dt.datetime.now(dt.UTC)
    return SalesOrder(
        store_order_id=memo.store_order_id,
        number=f"refund {memo.store_refund_id}",
        status="refunded",
        currency=memo.currency or "USD",
        created_at=now,
        modified_at=now,
        customer=CustomerRef(),
        billing=Address(),
        shipping=Address(),
        total=-abs(memo.amount),
    )
