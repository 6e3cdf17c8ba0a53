"""What a Tryton user does in the Tryton client, done over RPC: receive stock, ship a sale, make a return.

The adapter never does these (they are the ERP side's work); tests, the benchmark and ``make demo-tryton`` use
them to play the warehouse and the back office.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from woobridge.erp.tryton.rpc import TrytonRpc


# Packing a shipment without a carrier is a Tryton warning; a user would click "yes", so do we.
def _yes(rpc: TrytonRpc) -> TrytonRpc:
    rpc.accept_warnings = True
    return rpc


def _storage_and_supplier(rpc: TrytonRpc) -> tuple[int, int]:
    (warehouse,) = rpc.model("stock.location").search_read([("type", "=", "warehouse")], ["storage_location"], limit=1)
    (supplier,) = rpc.model("stock.location").search([("type", "=", "supplier")], limit=1)
    return int(warehouse["storage_location"]), supplier


def receive_stock(rpc: TrytonRpc, quantities: dict[str, Decimal | int]) -> None:
    """Goods arrive from a supplier into the (first) warehouse: one done move per product code."""
    rpc = _yes(rpc)
    storage, supplier = _storage_and_supplier(rpc)
    products = {
        row["code"]: row
        for row in rpc.model("product.product").search_read(
            [("code", "in", list(quantities))], ["code", "default_uom", "cost_price"]
        )
    }
    missing = set(quantities) - set(products)
    if missing:
        raise ValueError(f"no Tryton product with code {sorted(missing)}")
    currency = rpc.context.get("company") and rpc.model("company.company").read([rpc.context["company"]], ["currency"])
    moves = [
        {
            "product": products[code]["id"],
            "unit": products[code]["default_uom"],
            "quantity": float(quantity),
            "from_location": supplier,
            "to_location": storage,
            "unit_price": Decimal("1.00"),
            "currency": currency[0]["currency"] if currency else None,
            "effective_date": dt.date.today(),
        }
        for code, quantity in quantities.items()
    ]
    ids = rpc.model("stock.move").create(moves)
    rpc.call("model.stock.move.do", ids)


def ship_sale(rpc: TrytonRpc, sale_id: int, tracking_number: str = "") -> list[int]:
    """Pick, pack and send every waiting customer shipment of a sale, with a tracking number; returns their ids.
    Stock must be there (see :func:`receive_stock`): Tryton assigns it before picking."""
    rpc = _yes(rpc)
    (sale,) = rpc.model("sale.sale").read([sale_id], ["shipments"])
    shipment = rpc.model("stock.shipment.out")
    ids = [s["id"] for s in shipment.read(sale["shipments"], ["state"]) if s["state"] not in ("done", "cancelled")]
    if not ids:
        return []
    if tracking_number:
        shipment.write(ids, {"shipping_reference": tracking_number})
    shipment("assign_try", ids)
    states = {s["state"] for s in shipment.read(ids, ["state"])}
    if states != {"assigned"}:
        raise RuntimeError(f"Tryton could not assign stock to shipments {ids} (states {states}): receive stock first")
    for step in ("pick", "pack", "do"):
        shipment(step, ids)
    return ids


def return_sale(rpc: TrytonRpc, sale_id: int, quantities: dict[str, Decimal | int] | None = None) -> int:
    """The "Return Sale" wizard (a copy with negative quantities and ``origin`` = the sale), optionally keeping
    only some quantities per product code, then quoted and confirmed; returns the return sale's id."""
    rpc = _yes(rpc)
    session_id, _, _ = rpc.call("wizard.sale.return_sale.create")
    context = {"active_model": "sale.sale", "active_id": sale_id, "active_ids": [sale_id]}
    result: dict[str, Any] = rpc.call("wizard.sale.return_sale.execute", session_id, {}, "return_", context=context)
    rpc.call("wizard.sale.return_sale.delete", session_id)
    actions = result.get("actions") or []
    (return_id,) = actions[0][1]["res_id"]
    if quantities is not None:
        lines = rpc.model("sale.line").search_read(
            [("sale", "=", return_id), ("type", "=", "line")], ["product.code", "quantity"]
        )
        delete, update = [], []
        for line in lines:
            code = (line.get("product.") or {}).get("code")
            if code in quantities:
                update.append((line["id"], -float(quantities[code])))
            else:
                delete.append(line["id"])
        rpc.model("sale.line").delete(delete)
        for line_id, quantity in update:
            rpc.model("sale.line").write([line_id], {"quantity": quantity})
    rpc.call("model.sale.sale.quote", [return_id])
    rpc.call("model.sale.sale.confirm", [return_id])
    return int(return_id)
