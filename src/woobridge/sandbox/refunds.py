"""Order refunds: /orders/{order_id}/refunds and the global /refunds list (wc/v3, WooCommerce 9.0+).

Refund errors are WooCommerce's own quirk: the controller passes a bare integer as the WP_Error data, so the
client gets HTTP 500 whatever the integer says (``{"code": …, "message": …, "data": 400}``).

``api_refund`` defaults to true: WooCommerce then asks the order's payment gateway to pay the money back, and
the built-in offline gateways (bank transfer, cheque, cash on delivery) cannot, so the refund fails. An ERP
recording a refund paid out elsewhere sends ``api_refund: false``. The sandbox's ``sandbox_card`` gateway
supports automatic refunds.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from woobridge.sandbox.orders import (
    NAMESPACES,
    add_note,
    dec,
    delete_item_meta,
    fmt,
    get_item_meta,
    get_order,
    php_number,
    refund_tax_total,
    render_fee_line,
    render_line_item,
    render_shipping_line,
    render_tax_line,
    set_item_meta,
    set_status,
    stored,
    total_refunded,
)
from woobridge.sandbox.state import Obj, Store, User
from woobridge.sandbox.stock import adjust_stock
from woobridge.sandbox.taxes import rate_code, rate_percent
from woobridge.sandbox.wp import (
    CREATABLE,
    DELETABLE,
    READABLE,
    Arg,
    Call,
    Endpoint,
    Reply,
    RestError,
    Router,
    collection_args,
    date_filter_args,
    needs,
    paginate,
)

# Payment gateways the sandbox store knows: id → (title, supports automatic refunds).
GATEWAYS: dict[str, tuple[str, bool]] = {
    "bacs": ("Direct bank transfer", False),
    "cheque": ("Check payments", False),
    "cod": ("Cash on delivery", False),
    "sandbox_card": ("Sandbox card (test gateway)", True),
}


def _refund_error(message: str) -> RestError:
    return RestError("woocommerce_rest_cannot_create_order_refund", message, 500)


def _normalise_lines(posted: Any) -> dict[int, Obj]:
    """Both line_items forms → {item_id: {"qty", "refund_total", "refund_tax": {rate_id: amount}}}.

    Legacy map: ``{"<item_id>": {"qty", "refund_total", "refund_tax": {"<rate_id>": x}}}``; 9.0+ list:
    ``[{"id", "quantity", "refund_total", "refund_tax": [{"id", "refund_total"}]}]``."""
    result: dict[int, Obj] = {}
    if isinstance(posted, dict):
        entries = [(k, v) for k, v in posted.items() if isinstance(v, dict)]
    elif isinstance(posted, list):
        entries = [(v.get("id"), v) for v in posted if isinstance(v, dict)]
    else:
        return result
    for raw_id, line in entries:
        try:
            item_id = int(str(raw_id))
        except ValueError:
            continue
        tax_posted = line.get("refund_tax")
        refund_tax: dict[int, Decimal] = {}
        if isinstance(tax_posted, dict):
            for rate_id, value in tax_posted.items():
                if str(rate_id).isdigit():
                    refund_tax[int(rate_id)] = dec(value.get("refund_total") if isinstance(value, dict) else value)
        elif isinstance(tax_posted, list):
            for tax in tax_posted:
                if isinstance(tax, dict) and str(tax.get("id", "")).isdigit():
                    refund_tax[int(tax["id"])] = dec(tax.get("refund_total"))
        result[item_id] = {
            "qty": dec(line.get("qty", line.get("quantity"))),
            "refund_total": dec(line.get("refund_total")),
            "refund_tax": refund_tax,
        }
    return result


def _negative_taxes(refund_tax: dict[int, Decimal], *, with_subtotal: bool) -> list[Obj]:
    return [
        {"id": rate_id, "total": stored(-value), "subtotal": stored(-value) if with_subtotal else ""}
        for rate_id, value in refund_tax.items()
    ]


def _refund_meta(store: Store, original_id: int) -> list[Obj]:
    return [
        {
            "id": store.next_id("meta"),
            "key": "_refunded_item_id",
            "value": str(original_id),
            "display_key": "_refunded_item_id",
            "display_value": str(original_id),
        }
    ]


def _build_refund_lines(store: Store, order: Obj, lines: dict[int, Obj]) -> tuple[Obj, dict[str, list[Obj]]]:
    """Refund items mirroring the refunded order items, with negative quantities and amounts."""
    built: dict[str, list[Obj]] = {"line_items": [], "shipping_lines": [], "fee_lines": []}
    for key in ("line_items", "fee_lines", "shipping_lines"):
        for item in order.get(key) or []:
            posted = lines.get(int(item["id"]))
            if posted is None:
                continue
            qty, total, refund_tax = posted["qty"], posted["refund_total"], posted["refund_tax"]
            if not qty and not total and not refund_tax:
                continue
            tax_sum = sum(refund_tax.values(), Decimal(0))
            common = {"id": store.next_id("order_item"), "meta_data": _refund_meta(store, int(item["id"]))}
            if key == "line_items":
                built[key].append(
                    {
                        **common,
                        "name": item.get("name", ""),
                        "product_id": item.get("product_id", 0),
                        "variation_id": item.get("variation_id", 0),
                        "quantity": php_number(-qty),
                        "tax_class": item.get("tax_class", ""),
                        "subtotal": stored(-total),
                        "subtotal_tax": stored(-tax_sum),
                        "total": stored(-total),
                        "total_tax": stored(-tax_sum),
                        "taxes": _negative_taxes(refund_tax, with_subtotal=True),
                        "parent_name": item.get("parent_name"),
                    }
                )
            elif key == "shipping_lines":
                built[key].append(
                    {
                        **common,
                        "method_title": item.get("method_title", ""),
                        "method_id": item.get("method_id", ""),
                        "instance_id": item.get("instance_id", ""),
                        "total": stored(-total),
                        "total_tax": stored(-tax_sum),
                        "taxes": _negative_taxes(refund_tax, with_subtotal=False),
                        "tax_status": item.get("tax_status", "taxable"),
                    }
                )
            else:
                built[key].append(
                    {
                        **common,
                        "name": item.get("name", ""),
                        "tax_class": item.get("tax_class", ""),
                        "tax_status": item.get("tax_status", "taxable"),
                        "amount": "",
                        "total": stored(-total),
                        "total_tax": stored(-tax_sum),
                        "taxes": _negative_taxes(refund_tax, with_subtotal=False),
                    }
                )
    # Tax lines of the refund, per rate (item and fee taxes vs shipping taxes).
    per_rate: dict[int, list[Decimal]] = {}
    for key in ("line_items", "fee_lines", "shipping_lines"):
        for line in built[key]:
            for tax in line["taxes"]:
                sums = per_rate.setdefault(int(tax["id"]), [Decimal(0), Decimal(0)])
                sums[1 if key == "shipping_lines" else 0] += dec(tax["total"])
    known = {int(t["rate_id"]): t for t in order.get("tax_lines") or []}
    tax_lines = []
    for rate_id, (items_tax, shipping_tax) in per_rate.items():
        rate = store.get("tax_rate", rate_id) or {"id": rate_id}
        source = known.get(rate_id) or {}
        tax_lines.append(
            {
                "id": store.next_id("order_item"),
                "rate_code": source.get("rate_code") or rate_code(rate),
                "rate_id": rate_id,
                "label": source.get("label") or str(rate.get("name") or "Tax"),
                "compound": bool(source.get("compound", rate.get("compound", False))),
                "tax_total": stored(items_tax),
                "shipping_tax_total": stored(shipping_tax),
                "rate_percent": source.get("rate_percent", rate_percent(rate)),
                "meta_data": [],
            }
        )
    return {"tax_lines": tax_lines}, built


def _restock(store: Store, order: Obj, lines: dict[int, Obj]) -> None:
    """wc_restock_refunded_items: put refunded quantities back where the order had taken stock."""
    for item in order.get("line_items") or []:
        posted = lines.get(int(item["id"]))
        if posted is None or not posted["qty"]:
            continue
        reduced = get_item_meta(item, "_reduced_stock")
        if reduced is None or not dec(reduced):
            continue
        qty = posted["qty"]
        change = adjust_stock(store, int(item.get("product_id") or 0), int(item.get("variation_id") or 0), qty)
        if change is None:
            continue
        left = dec(reduced) - qty
        set_item_meta(store, item, "_reduced_stock", str(php_number(left)))
        already = dec(get_item_meta(item, "_restock_refunded_items"))
        delete_item_meta(item, "_restock_refunded_items")
        set_item_meta(store, item, "_restock_refunded_items", str(php_number(already + qty)))
        add_note(
            store,
            int(order["id"]),
            f"Item #{change.object_id} stock increased from {php_number(change.before)} to {php_number(change.after)}.",
        )


def create_refund(
    store: Store, order: Obj, payload: Obj, *, user: User | None = None, restock_default: bool = True
) -> Obj:
    """wc_create_refund through the REST controller: validate, build, refund via the gateway, restock, and flip
    the order to refunded when nothing is left. Raises the RestErrors WooCommerce answers with."""
    lines = _normalise_lines(payload.get("line_items"))
    amount_posted = payload.get("amount")
    if amount_posted is None:
        # Since 9.0 the amount may be left out: the line items' refund_total + refund_tax are summed.
        if lines:
            computed = sum(
                (line["refund_total"] + sum(line["refund_tax"].values(), Decimal(0)) for line in lines.values()),
                Decimal(0),
            )
            amount_posted = stored(computed)
        else:
            amount_posted = ""
    amount = dec(amount_posted)
    if amount < 0:
        raise RestError("woocommerce_rest_invalid_order_refund", "Refund amount must be greater than zero.", 400)
    order_id = int(order["id"])
    remaining = dec(order.get("total")) - total_refunded(store, order_id)
    if amount > remaining:
        raise _refund_error("Invalid refund amount.")
    extra, built = _build_refund_lines(store, order, lines)
    api_refund = payload.get("api_refund", True) not in (False, "false", "0", 0)
    refunded_payment = False
    if api_refund:
        gateway = GATEWAYS.get(str(order.get("payment_method") or ""))
        if gateway is None:
            raise _refund_error("The payment gateway for this order does not exist.")
        if not gateway[1]:
            raise _refund_error("The payment gateway for this order does not support automatic refunds.")
        refunded_payment = True
    fully = remaining - amount <= 0
    refund: Obj = {
        "id": store.next_post_id(),
        "parent_id": order_id,
        "date_created_gmt": store.now_iso(),
        "date_modified_gmt": store.now_iso(),
        "amount": stored(amount) if amount_posted != "" else "",
        "reason": str(payload.get("reason") or ""),
        "refunded_by": user.id if user is not None else 0,
        "refunded_payment": refunded_payment,
        "meta_data": [{"id": store.next_id("meta"), "key": "_refund_type", "value": "full" if fully else "partial"}],
        **built,
        **extra,
    }
    for entry in payload.get("meta_data") or []:
        if isinstance(entry, dict) and entry.get("key"):
            refund["meta_data"].append({"id": store.next_id("meta"), "key": entry["key"], "value": entry.get("value")})
    store.put("refund", refund)
    if payload.get("api_restock", restock_default) not in (False, "false", "0", 0):
        _restock(store, order, lines)
    if fully:
        set_status(store, order, "refunded")
    order["date_modified_gmt"] = store.now_iso()
    store.put("order", order)
    store.emit("order", "updated", order_id)
    return refund


def refund_to_rest(
    store: Store,
    refund: Obj,
    rest_root: str,
    dp: int | None = None,
    *,
    namespace: str = "wc/v3",
    user: User | None = None,
    with_parent: bool = False,
) -> Obj:
    """A refund's REST representation (the global /refunds list adds parent_id)."""
    dp = store.settings.decimals if dp is None else dp
    order_id = int(refund["parent_id"])
    data: Obj = {"id": refund["id"]}
    if with_parent:
        data["parent_id"] = order_id
    line_items = []
    for item in refund.get("line_items") or []:
        line_items.append(render_line_item(store, item, dp))
    data.update(
        {
            "date_created": store.settings.local(refund.get("date_created_gmt")),
            "date_created_gmt": refund.get("date_created_gmt"),
            "amount": fmt(refund.get("amount"), dp),
            "reason": refund.get("reason", ""),
            "refunded_by": refund.get("refunded_by", 0),
            "refunded_payment": bool(refund.get("refunded_payment")),
            "meta_data": [{"id": m["id"], "key": m["key"], "value": m["value"]} for m in refund.get("meta_data") or []],
            "line_items": line_items,
            "shipping_lines": [render_shipping_line(s, dp) for s in refund.get("shipping_lines") or []],
            "tax_lines": [render_tax_line(t, dp) for t in refund.get("tax_lines") or []],
            "fee_lines": [render_fee_line(f, dp) for f in refund.get("fee_lines") or []],
        }
    )
    base = f"{rest_root}{namespace}/orders/{order_id}/refunds"
    allow = ["GET"] + (["DELETE"] if user is None or user.can("posts:delete") else [])
    data["_links"] = {
        "self": [{"href": f"{base}/{refund['id']}", "targetHints": {"allow": allow}}],
        "collection": [{"href": base}],
        "up": [{"href": f"{rest_root}{namespace}/orders/{order_id}"}],
    }
    return data


# -- controllers --------------------------------------------------------------------------------------------------


def _dp(call: Call) -> int:
    value = call.params.get("dp")
    return int(value) if value not in (None, "") else call.store.settings.decimals


def _render(call: Call, refund: Obj, *, with_parent: bool = False) -> Obj:
    return refund_to_rest(
        call.store,
        refund,
        call.rest_root,
        _dp(call),
        namespace=call.namespace,
        user=call.user,
        with_parent=with_parent,
    )


def _sorted(refunds: list[Obj], params: Obj) -> list[Obj]:
    orderby = str(params.get("orderby") or "date")
    descending = str(params.get("order") or "desc") == "desc"
    if orderby == "id":
        return sorted(refunds, key=lambda r: int(r["id"]), reverse=descending)
    if orderby == "modified":
        return sorted(refunds, key=lambda r: (str(r["date_modified_gmt"]), int(r["id"])), reverse=descending)
    return sorted(refunds, key=lambda r: (str(r["date_created_gmt"]), int(r["id"])), reverse=descending)


def _date_filtered(store: Store, refunds: list[Obj], params: Obj) -> list[Obj]:
    from woobridge.sandbox.orders import _param_time

    gmt = bool(params.get("dates_are_gmt"))
    result = refunds
    for name, field, later in (
        ("after", "date_created_gmt", True),
        ("before", "date_created_gmt", False),
        ("modified_after", "date_modified_gmt", True),
        ("modified_before", "date_modified_gmt", False),
    ):
        if params.get(name):
            bound = _param_time(store, params[name], gmt)
            result = [r for r in result if (str(r[field]) > bound if later else str(r[field]) < bound)]
    return result


def _link_defaults(call: Call) -> list[tuple[str, str]]:
    given = {k.split("[", 1)[0] for k, _ in call.query_pairs}
    return [] if "dp" in given else [("dp", str(call.store.settings.decimals))]


def list_order_refunds(call: Call) -> Reply:
    order_id = call.int_param("order_id")
    refunds = call.store.children("refund", order_id)
    refunds = _sorted(_date_filtered(call.store, refunds, call.params), call.params)
    chunk, headers = paginate(call, refunds, link_defaults=_link_defaults(call))
    return Reply([_render(call, r) for r in chunk], headers=headers)


def list_all_refunds(call: Call) -> Reply:
    refunds = _sorted(_date_filtered(call.store, list(call.store.all("refund")), call.params), call.params)
    chunk, headers = paginate(call, refunds, link_defaults=_link_defaults(call))
    return Reply([_render(call, r, with_parent=True) for r in chunk], headers=headers)


def _find_refund(call: Call) -> Obj:
    refund = call.store.get("refund", call.int_param("id"))
    if refund is None:
        raise RestError("woocommerce_rest_shop_order_refund_invalid_id", "Invalid ID.", {"status": 404})
    if get_order(call.store, call.int_param("order_id")) is None:
        raise RestError("woocommerce_rest_invalid_order_id", "Invalid order ID.", 404)
    if int(refund.get("parent_id", 0)) != call.int_param("order_id"):
        raise RestError("woocommerce_rest_invalid_order_refund_id", "Invalid order refund ID.", 404)
    return refund


def get_refund(call: Call) -> Reply:
    return Reply(_render(call, _find_refund(call)))


def create_refund_endpoint(call: Call) -> Reply:
    order = get_order(call.store, call.int_param("order_id"))
    if order is None:
        raise RestError("woocommerce_rest_invalid_order_id", "Invalid order ID.", 404)
    payload = {k: v for k, v in call.params.items() if k not in ("order_id",)}
    if call.version < 3:
        payload.pop("api_restock", None)  # v2 always restocks
    refund = create_refund(call.store, order, payload, user=call.user)
    # WooCommerce builds the Location from the route pattern, not the URL: clients must not parse it.
    location = call.rest_url(f"/{call.namespace}/orders/(?P<order_id>[\\d]+)/refunds/{refund['id']}")
    return Reply(_render(call, refund), 201, [("Location", location)])


def delete_refund(call: Call) -> Reply:
    refund = _find_refund(call)
    if not call.params.get("force"):
        raise RestError("woocommerce_rest_trash_not_supported", "Refunds do not support trashing.", {"status": 501})
    previous = _render(call, refund)
    call.store.remove("refund", int(refund["id"]))
    return Reply(previous)


def _list_args() -> dict[str, Arg]:
    return {
        **collection_args(orderby_enum=("date", "id", "include", "title", "slug", "modified")),
        **date_filter_args(),
        "parent": Arg("array"),
        "parent_exclude": Arg("array"),
        "dp": Arg("integer"),
    }


def register(router: Router) -> None:
    router.add(
        NAMESPACES,
        r"/orders/(?P<order_id>[\d]+)/refunds",
        Endpoint(READABLE, list_order_refunds, needs("posts", "list"), _list_args()),
        Endpoint(
            CREATABLE,
            create_refund_endpoint,
            needs("posts", "create"),
            {"api_refund": Arg("boolean"), "api_restock": Arg("boolean"), "dp": Arg("integer")},
        ),
    )
    router.add(
        NAMESPACES,
        r"/orders/(?P<order_id>[\d]+)/refunds/(?P<id>[\d]+)",
        Endpoint(READABLE, get_refund, needs("posts", "read"), {"dp": Arg("integer")}),
        Endpoint(DELETABLE, delete_refund, needs("posts", "delete"), {"force": Arg("boolean", default=False)}),
    )
    router.add(("wc/v3",), "/refunds", Endpoint(READABLE, list_all_refunds, needs("posts", "list"), _list_args()))


__all__ = ["GATEWAYS", "create_refund", "refund_tax_total", "refund_to_rest"]
