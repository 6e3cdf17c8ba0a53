"""Products and variations: the catalog controllers of WooCommerce 11.0.1 (``/products``, ``/products/batch``,
``/products/{id}/variations``).

Stored objects keep what WooCommerce keeps (prices as entered, run through ``wc_format_decimal``; stock fields;
taxonomy terms as ``{id, name, slug}``); everything WooCommerce derives on read (``price``, ``on_sale``,
``price_html``, ``permalink``, ``variations``, ``related_ids``, stock inherited from a parent…) is computed in
:func:`to_rest` / :func:`variation_to_rest`, so it can never go stale when orders move stock.

Behaviour worth knowing (and tested):

* ``?sku=`` is an exact match, a comma list also matches the whole string, and it searches products *and*
  variations, so a variation can come back from ``/products`` (rendered with the product fields, type
  ``variation``).
* Stock fields are applied only when the store's "Manage stock" setting is on; ``stock_status`` of a variable
  product is always derived from its children; a managed product's status follows its quantity and backorders.
* DELETE without ``force`` trashes and answers with the product as it was *before* trashing (the recorded
  order trash shows the same); a trashed product is not listed by ``status=any``.
* Webhook hooks fire as WooCommerce's do: created/updated (variations included), ``deleted`` only on trash,
  ``restored`` when a trashed product gets another status.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable
from datetime import datetime
from decimal import Decimal, InvalidOperation
from functools import partial
from typing import Any

from woobridge.sandbox.state import Obj, Store, User, iso, money, parse_iso
from woobridge.sandbox.wp import (
    DELETABLE,
    EDITABLE,
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

NAMESPACES = ("wc/v2", "wc/v3")
PRODUCT_TYPES = ("simple", "grouped", "external", "variable")
POST_STATUSES = ("draft", "pending", "private", "publish", "future", "auto-draft", "trash")
STOCK_STATUSES = ("instock", "outofstock", "onbackorder")
BACKORDERS = ("no", "notify", "yes")
ORDERBY = ("date", "id", "include", "title", "slug", "modified", "price", "popularity", "rating", "menu_order")
# WordPress creates terms 1…14 on install (the post category, product types, visibilities), so the first
# product category a fresh WooCommerce store has, "Uncategorized", is term 15, as the recordings show.
_FIRST_TERM_ID = 15
_RELATED_LIMIT = 5
_CATEGORY_ORDERBY = ("id", "include", "name", "slug", "term_group", "description", "count")

# Body fields the product schema types as strings: WordPress rejects a JSON number there (a classic client bug).
_STRING_FIELDS = (
    "name",
    "slug",
    "description",
    "short_description",
    "sku",
    "global_unique_id",
    "regular_price",
    "sale_price",
    "tax_class",
    "weight",
    "purchase_note",
    "external_url",
    "button_text",
    "shipping_class",
    "post_password",
)


# -- small WordPress/WooCommerce helpers -------------------------------------------------------------------------


def sanitize_title(text: str) -> str:
    """sanitize_title(): accents removed, lower case, anything but a-z0-9_- turned into single dashes."""
    text = unicodedata.normalize("NFKD", re.sub(r"<[^>]*>", "", text)).encode("ascii", "ignore").decode()
    text = re.sub(r"&.+?;", "", text.lower())
    text = re.sub(r"[^a-z0-9 _-]", "", text)
    return re.sub(r"[\s-]+", "-", text).strip("-")


def wc_format_decimal(value: Any) -> str:
    """wc_format_decimal() without dp: keeps what was entered ("5" stays "5"), drops junk characters."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else ""
    if isinstance(value, float):
        text = f"{value:.6f}".rstrip("0").rstrip(".")
        return text
    text = str(value).strip()
    return re.sub(r"[^0-9.,-]", "", text)


def wc_stock_amount(value: Any) -> int:
    """wc_stock_amount(): intval, as PHP does it (floats truncate, junk becomes 0)."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    try:
        return int(Decimal(str(value).strip()))
    except (InvalidOperation, ValueError):
        match = re.match(r"\s*-?\d+", str(value))
        return int(match.group()) if match else 0


def _bool(value: Any) -> bool:
    """wc_string_to_bool()."""
    if isinstance(value, str):
        return value.strip().lower() in ("1", "yes", "true", "on")
    return bool(value)


def _decimal(value: Any) -> Decimal | None:
    try:
        return Decimal(str(value)) if value not in (None, "") else None
    except InvalidOperation:
        return None


def wpautop(text: str) -> str:
    """The part of wpautop() a plain description needs: paragraphs in <p>, single newlines as <br />."""
    text = text.strip()
    if not text:
        return ""
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", text.replace("\r\n", "\n")) if p.strip()]
    return "".join("<p>" + p.replace("\n", "<br />\n") + "</p>\n" for p in paragraphs)


def wc_price(store: Store, amount: Any) -> str:
    """wc_price(): the HTML WooCommerce prints for an amount (symbol before, thousands separator, store dp)."""
    dp = store.settings.decimals
    value = Decimal(str(amount))
    negative = value < 0
    number = f"{abs(value):,.{dp}f}"
    symbol = f'<span class="woocommerce-Price-currencySymbol" translate="no">{store.settings.currency_symbol}</span>'
    return f'<span class="woocommerce-Price-amount amount"><bdi>{"-" if negative else ""}{symbol}{number}</bdi></span>'


def _strip_tags(html: str) -> str:
    return re.sub(r"<[^>]*>", "", html)


def _format_sale_price(store: Store, regular: Any, sale: Any) -> str:
    was, now = wc_price(store, regular), wc_price(store, sale)
    return (
        f'<del aria-hidden="true">{was}</del> <span class="screen-reader-text">Original price was: '
        f'{_strip_tags(was)}.</span><ins aria-hidden="true">{now}</ins><span class="screen-reader-text">'
        f"Current price is: {_strip_tags(now)}.</span>"
    )


def _format_price_range(store: Store, low: Any, high: Any) -> str:
    a, b = wc_price(store, low), wc_price(store, high)
    return (
        f'{a} <span aria-hidden="true">&ndash;</span> {b}<span class="screen-reader-text">Price range: '
        f"{_strip_tags(a)} through {_strip_tags(b)}</span>"
    )


# -- terms (categories and tags) ---------------------------------------------------------------------------------


def _next_term_id(store: Store) -> int:
    if "term" not in store.sequences:
        store.sequences["term"] = _FIRST_TERM_ID - 1
    return store.next_id("term")


def default_category(store: Store) -> Obj:
    """The "Uncategorized" product category (default_product_cat), created on first use."""
    for category in store.all("category"):
        if category.get("slug") == "uncategorized":
            return category
    category = {"id": _next_term_id(store), "name": "Uncategorized", "slug": "uncategorized", "parent": 0}
    return store.put("category", category)


def ensure_category(store: Store, name: str, slug: str | None = None) -> Obj:
    """A product category by name (created if missing): lets seeds and tests build a catalog."""
    slug = slug or sanitize_title(name)
    for category in store.all("category"):
        if category.get("slug") == slug:
            return category
    return store.put("category", {"id": _next_term_id(store), "name": name, "slug": slug, "parent": 0})


def _categories_from(store: Store, items: Any) -> list[dict[str, Any]]:
    """wp_set_object_terms with term ids: unknown ids are skipped; none left → the default category."""
    found: list[dict[str, Any]] = []
    for item in items if isinstance(items, list) else []:
        term_id = wc_stock_amount(item.get("id")) if isinstance(item, dict) else wc_stock_amount(item)
        category = store.get("category", term_id) if term_id else None
        if category is not None and all(c["id"] != category["id"] for c in found):
            found.append({"id": category["id"], "name": category["name"], "slug": category["slug"]})
    if not found:
        category = default_category(store)
        found.append({"id": category["id"], "name": category["name"], "slug": category["slug"]})
    return found


def _known_tags(store: Store) -> dict[int, dict[str, Any]]:
    tags: dict[int, dict[str, Any]] = {}
    for product in store.all("product"):
        for tag in product.get("tags", []):
            tags[int(tag["id"])] = tag
    return tags


def _tags_from(store: Store, items: Any) -> list[dict[str, Any]]:
    """Tags by id (existing only) or by name (created when new), as the v3 controller does."""
    known = _known_tags(store)
    by_name = {t["name"]: t for t in known.values()}
    found: list[dict[str, Any]] = []
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict):
            continue
        tag: dict[str, Any] | None = None
        if item.get("name"):
            name = str(item["name"])
            tag = by_name.get(name) or {"id": _next_term_id(store), "name": name, "slug": sanitize_title(name)}
            by_name[name] = tag
        elif item.get("id"):
            tag = known.get(wc_stock_amount(item["id"]))
        if tag is not None and all(t["id"] != tag["id"] for t in found):
            found.append(dict(tag))
    return found


# -- attributes --------------------------------------------------------------------------------------------------


def _global_attribute_name(store: Store, attribute_id: int) -> str | None:
    """The label of a global attribute (pa_*) as some product in the store already uses it."""
    for product in store.all("product"):
        for attribute in product.get("attributes", []):
            if int(attribute.get("id") or 0) == attribute_id and attribute.get("name"):
                return str(attribute["name"])
    return None


def _product_attributes_from(store: Store, items: Any) -> list[dict[str, Any]]:
    attributes: list[dict[str, Any]] = []
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict):
            continue
        attribute_id = wc_stock_amount(item.get("id") or 0)
        name = str(item.get("name") or "")
        if attribute_id:
            name = _global_attribute_name(store, attribute_id) or name
        if not attribute_id and not name:
            continue
        options = item.get("options", [])
        if isinstance(options, str):
            options = [o.strip() for o in options.split("|")]
        options = [str(o) for o in options if str(o) != ""]
        if attribute_id and not options:
            continue  # a global attribute without terms is dropped, as WooCommerce does
        attributes.append(
            {
                "id": attribute_id,
                "name": name,
                "slug": f"pa_{sanitize_title(name)}" if attribute_id else sanitize_title(name),
                "position": wc_stock_amount(item.get("position", len(attributes))),
                "visible": _bool(item.get("visible", False)),
                "variation": _bool(item.get("variation", False)),
                "options": options,
            }
        )
    return attributes


def _variation_attributes_from(parent: Obj, items: Any) -> list[dict[str, Any]]:
    """Only attributes the parent declares "used for variations" are kept (others are silently dropped)."""
    chosen: list[dict[str, Any]] = []
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict):
            continue
        attribute_id = wc_stock_amount(item.get("id") or 0)
        wanted = sanitize_title(str(item.get("name") or ""))
        for attribute in parent.get("attributes", []):
            same = (attribute_id and int(attribute["id"]) == attribute_id) or (
                not attribute_id
                and wanted
                and sanitize_title(attribute["name"]) in (wanted, wanted.removeprefix("pa-"))
            )
            if same and attribute.get("variation"):
                chosen.append(
                    {
                        "id": int(attribute["id"]),
                        "name": attribute["name"],
                        "slug": attribute["slug"],
                        "option": str(item.get("option", "")),
                    }
                )
                break
    return chosen


# -- lookups -----------------------------------------------------------------------------------------------------


def get_product_or_variation(store: Store, object_id: int) -> tuple[str, Obj] | None:
    """wc_get_product(): products and variations share the post ID space."""
    product = store.get("product", object_id)
    if product is not None:
        return "product", product
    variation = store.get("variation", object_id)
    if variation is not None:
        return "variation", variation
    return None


def find_by_sku(store: Store, sku: str) -> tuple[str, Obj] | None:
    """wc_get_product_id_by_sku(): the product or variation holding this SKU (trashed ones don't count)."""
    if not sku:
        return None
    for kind in ("product", "variation"):
        for obj in store.find(kind, "sku", sku):
            if obj.get("status") != "trash":
                return kind, obj
    return None


def children(store: Store, product: Obj) -> list[Obj]:
    """A variable product's variations, in menu order then ID (get_children)."""
    found = store.children("variation", int(product["id"]))
    return sorted(found, key=lambda v: (int(v.get("menu_order", 0)), int(v["id"])))


def _check_unique_sku(store: Store, sku: str, own_id: int | None) -> None:
    if not sku:
        return
    holder = find_by_sku(store, sku)
    if holder is None or int(holder[1]["id"]) == own_id:
        return
    index = 1
    while find_by_sku(store, f"{sku}-{index}") is not None:
        index += 1
    raise RestError(
        "product_invalid_sku",
        "Invalid or duplicated SKU.",
        {"status": 400, "resource_id": int(holder[1]["id"]), "unique_sku": f"{sku}-{index}"},
    )


def _unique_slug(store: Store, slug: str, own_id: int | None) -> str:
    """wp_unique_post_slug(): a taken slug gets -2, -3…"""

    def taken(candidate: str) -> bool:
        return any(int(p["id"]) != own_id for p in store.find("product", "slug", candidate))

    if not taken(slug):
        return slug
    suffix = 2
    while taken(f"{slug}-{suffix}"):
        suffix += 1
    return f"{slug}-{suffix}"


# -- stock -------------------------------------------------------------------------------------------------------


def stock_status_for(quantity: Any, backorders: str) -> str:
    """validate_props(): a managed product's status follows its quantity (notify-no-stock amount 0)."""
    if wc_stock_amount(quantity or 0) > 0:
        return "instock"
    return "outofstock" if backorders == "no" else "onbackorder"


def _variable_stock_status(store: Store, product: Obj) -> str:
    """A variable product that does not manage stock takes its status from its children."""
    statuses = [_variation_stock_view(store, v, product)[2] for v in children(store, product)]
    if "instock" in statuses:
        return "instock"
    if "onbackorder" in statuses:
        return "onbackorder"
    return "outofstock"


def _variation_stock_view(store: Store, variation: Obj, parent: Obj | None) -> tuple[bool | str, Any, str, str]:
    """(manage_stock, stock_quantity, stock_status, backorders) as the variation's view context shows them."""
    global_on = store.settings.manage_stock
    own = bool(variation.get("manage_stock"))
    parent_manages = parent is not None and bool(parent.get("manage_stock"))
    if global_on and not own and parent_manages and parent is not None:
        backorders = str(parent.get("backorders", "no"))
        quantity = parent.get("stock_quantity")
        return "parent", quantity, stock_status_for(quantity, backorders), backorders
    managed: bool | str = own and global_on
    return (
        managed,
        variation.get("stock_quantity"),
        str(variation.get("stock_status", "instock")),
        str(variation.get("backorders", "no")),
    )


def _apply_product_stock(store: Store, product: Obj, payload: dict[str, Any]) -> None:
    """The stock part of prepare_object_for_database for products."""
    kind = product["type"]
    status = payload.get("stock_status")
    status = str(status) if status in STOCK_STATUSES else product.get("stock_status", "instock")
    if not store.settings.manage_stock:
        # WooCommerce → Settings → Products → Inventory → Manage stock is off: only stock_status is honoured.
        if kind != "variable":
            product["stock_status"] = status
        return
    if payload.get("manage_stock") is not None:
        product["manage_stock"] = _bool(payload["manage_stock"])
    if payload.get("backorders") is not None and payload["backorders"] in BACKORDERS:
        product["backorders"] = payload["backorders"]
    if kind in ("grouped", "external"):
        product.update(manage_stock=False, backorders="no", stock_quantity=None, low_stock_amount=None)
        product["stock_status"] = "instock" if kind == "external" else status
    elif product.get("manage_stock"):
        if payload.get("stock_quantity") is not None:
            product["stock_quantity"] = wc_stock_amount(payload["stock_quantity"])
        elif payload.get("inventory_delta") is not None:
            product["stock_quantity"] = wc_stock_amount(product.get("stock_quantity") or 0) + wc_stock_amount(
                payload["inventory_delta"]
            )
        if product.get("stock_quantity") is None:
            product["stock_quantity"] = 0
        if "low_stock_amount" in payload:
            low = payload["low_stock_amount"]
            product["low_stock_amount"] = None if low is None else wc_stock_amount(low)
        product["stock_status"] = stock_status_for(product["stock_quantity"], product.get("backorders", "no"))
    else:
        product.update(manage_stock=False, stock_quantity=None, low_stock_amount=None)
        if kind != "variable":
            product["stock_status"] = status


def _apply_variation_stock(store: Store, variation: Obj, parent: Obj, payload: dict[str, Any]) -> None:
    """The stock part of the variations controller (manage_stock "parent" means: not managed here)."""
    if not store.settings.manage_stock:
        if payload.get("stock_status") in STOCK_STATUSES:
            variation["stock_status"] = payload["stock_status"]
        return
    if payload.get("manage_stock") is not None:
        value = payload["manage_stock"]
        variation["manage_stock"] = False if value == "parent" else _bool(value)
    if payload.get("stock_status") in STOCK_STATUSES:
        variation["stock_status"] = payload["stock_status"]
    if payload.get("backorders") in BACKORDERS:
        variation["backorders"] = payload["backorders"]
    managing = bool(variation.get("manage_stock")) or bool(parent.get("manage_stock"))
    if managing:
        # With a parent-managed variation the quantity is written but never used (woocommerce#15526).
        if payload.get("stock_quantity") is not None:
            variation["stock_quantity"] = wc_stock_amount(payload["stock_quantity"])
        elif payload.get("inventory_delta") is not None:
            variation["stock_quantity"] = wc_stock_amount(variation.get("stock_quantity") or 0) + wc_stock_amount(
                payload["inventory_delta"]
            )
        if "low_stock_amount" in payload:
            low = payload["low_stock_amount"]
            variation["low_stock_amount"] = None if low is None else wc_stock_amount(low)
        if variation.get("manage_stock"):
            if variation.get("stock_quantity") is None:
                variation["stock_quantity"] = 0
            variation["stock_status"] = stock_status_for(variation["stock_quantity"], variation.get("backorders", "no"))
    else:
        variation.update(backorders="no", stock_quantity=None, low_stock_amount=None)


# -- prices ------------------------------------------------------------------------------------------------------


def _sale_active(store: Store, obj: Obj) -> bool:
    regular, sale = _decimal(obj.get("regular_price")), _decimal(obj.get("sale_price"))
    if sale is None or regular is None or sale >= regular:
        return False
    now = store.now()
    start, end = obj.get("date_on_sale_from_gmt"), obj.get("date_on_sale_to_gmt")
    if start and parse_iso(start) > now:
        return False
    return not (end and parse_iso(end) < now)


def _current_price(store: Store, obj: Obj) -> str:
    """The _price WooCommerce keeps: the sale price while the sale runs, else the regular price."""
    return str(obj.get("sale_price")) if _sale_active(store, obj) else str(obj.get("regular_price") or "")


def _visible_child_prices(store: Store, product: Obj) -> list[tuple[Decimal, Decimal, bool]]:
    prices = []
    for variation in children(store, product):
        if variation.get("status") not in ("publish", None):
            continue
        price = _decimal(_current_price(store, variation))
        if price is None:
            continue
        regular = _decimal(variation.get("regular_price")) or price
        prices.append((price, regular, _sale_active(store, variation)))
    return prices


def _price_and_html(store: Store, product: Obj) -> tuple[str, str, bool]:
    """(price, price_html, on_sale) for a product."""
    dp = store.settings.decimals
    if product["type"] == "variable":
        prices = _visible_child_prices(store, product)
        if not prices:
            return "", "", False
        low, high = min(p[0] for p in prices), max(p[0] for p in prices)
        on_sale = any(p[2] for p in prices)
        if low != high:
            html = _format_price_range(store, low, high)
        else:
            regular_low = min(p[1] for p in prices)
            regular_high = max(p[1] for p in prices)
            html = (
                _format_sale_price(store, regular_low, low)
                if on_sale and regular_low == regular_high and regular_low > low
                else wc_price(store, low)
            )
        return money(low, dp), html, on_sale
    if product["type"] == "grouped":
        members = [store.get("product", int(i)) for i in product.get("grouped_products", [])]
        values = [_decimal(_current_price(store, m)) for m in members if m is not None]
        numbers = [v for v in values if v is not None]
        if not numbers:
            return "", "", False
        low, high = min(numbers), max(numbers)
        html = wc_price(store, low) if low == high else _format_price_range(store, low, high)
        return money(low, dp), html, False
    price = _current_price(store, product)
    if price == "":
        return "", "", False
    on_sale = _sale_active(store, product)
    html = _format_sale_price(store, product["regular_price"], price) if on_sale else wc_price(store, price)
    return price, html, on_sale


# -- rendering ---------------------------------------------------------------------------------------------------


def _date_pair(store: Store, gmt: str | None) -> tuple[str | None, str | None]:
    return store.settings.local(gmt), gmt


def _permalink(store: Store, product: Obj) -> str:
    if product.get("status") in ("draft", "pending", "auto-draft") or not product.get("slug"):
        return f"{store.settings.home_url}/?post_type=product&p={product['id']}"
    return f"{store.settings.home_url}/product/{product['slug']}/"


def _variation_permalink(store: Store, variation: Obj, parent: Obj | None) -> str:
    base = _permalink(store, parent) if parent is not None else store.settings.home_url + "/"
    query = "&".join(
        f"attribute_{a['slug'] if a.get('id') else sanitize_title(a['name'])}="
        + (sanitize_title(a["option"]) if a.get("id") else a["option"])
        for a in variation.get("attributes", [])
    )
    if not query:
        return base
    return base + ("&" if "?" in base else "?") + query


def _variation_title(variation: Obj, parent: Obj | None) -> str:
    """The variation's post title: parent name plus option values when there are at most two attributes."""
    name = str(parent.get("name", "")) if parent is not None else ""
    options = [a["option"] for a in variation.get("attributes", []) if a.get("option")]
    if options and len(variation.get("attributes", [])) <= 2:
        return f"{name} - {', '.join(options)}"
    return name


def _allowed_methods(user: User | None) -> list[str]:
    if user is None:
        return ["GET", "POST", "PUT", "PATCH", "DELETE"]
    allowed = []
    if user.can("posts:read"):
        allowed.append("GET")
    if user.can("posts:edit"):
        allowed += ["POST", "PUT", "PATCH"]
    if user.can("posts:delete"):
        allowed.append("DELETE")
    return allowed


def _related_ids(store: Store, product: Obj) -> list[int]:
    """wc_get_related_products(): published products sharing a category or tag (WooCommerce shuffles them; the
    sandbox gives the newest, so answers are reproducible)."""
    terms = {("c", c["id"]) for c in product.get("categories", [])} | {("t", t["id"]) for t in product.get("tags", [])}
    skip = {int(product["id"]), *map(int, product.get("upsell_ids", [])), *map(int, product.get("cross_sell_ids", []))}
    related: list[int] = []
    # Newest first (the store keeps objects in ID order), stopping at the limit: a large catalog is not scanned
    # whole for every product drawn.
    for other in reversed(store.objects["product"].values()):
        if int(other["id"]) in skip or other.get("status") != "publish" or other.get("catalog_visibility") == "hidden":
            continue
        other_terms = {("c", c["id"]) for c in other.get("categories", [])} | {
            ("t", t["id"]) for t in other.get("tags", [])
        }
        if terms & other_terms:
            related.append(int(other["id"]))
            if len(related) == _RELATED_LIMIT:
                break
    return sorted(related, reverse=True)


def _meta(obj: Obj) -> list[dict[str, Any]]:
    return [dict(m) for m in obj.get("meta_data", []) if not str(m.get("key", "")).startswith("_")]


def to_rest(
    store: Store,
    obj: Obj,
    rest_root: str,
    *,
    context: str = "view",
    namespace: str = "wc/v3",
    user: User | None = None,
) -> dict[str, Any]:
    """GET /products/{id}: a product (or a variation found through /products) with the product fields."""
    # Stored variations carry no "type" (it is always "variation"); products always do.
    if obj.get("type", "variation") == "variation":
        return _variation_as_product(store, obj, rest_root, context=context, namespace=namespace, user=user)
    product = obj
    view = context == "view"
    price, price_html, on_sale = _price_and_html(store, product)
    manage = bool(product.get("manage_stock")) and store.settings.manage_stock
    backorders = str(product.get("backorders", "no"))
    stock_status = (
        _variable_stock_status(store, product)
        if product["type"] == "variable" and not manage
        else str(product.get("stock_status", "instock"))
    )
    virtual = bool(product.get("virtual"))
    kids = [int(v["id"]) for v in children(store, product)] if product["type"] == "variable" else []
    date_created, date_created_gmt = _date_pair(store, product.get("date_created_gmt"))
    date_modified, date_modified_gmt = _date_pair(store, product.get("date_modified_gmt"))
    sale_from, sale_from_gmt = _date_pair(store, product.get("date_on_sale_from_gmt"))
    sale_to, sale_to_gmt = _date_pair(store, product.get("date_on_sale_to_gmt"))
    purchasable = product["type"] not in ("external", "grouped") and price != ""
    if product["type"] == "external":
        purchasable = False
    data: dict[str, Any] = {
        "id": int(product["id"]),
        "name": product.get("name", ""),
        "slug": product.get("slug", ""),
        "permalink": _permalink(store, product),
        "date_created": date_created,
        "date_created_gmt": date_created_gmt,
        "date_modified": date_modified,
        "date_modified_gmt": date_modified_gmt,
        "type": product["type"],
        "status": product.get("status", "publish"),
        "featured": bool(product.get("featured")),
        "catalog_visibility": product.get("catalog_visibility", "visible"),
        "description": wpautop(product.get("description", "")) if view else product.get("description", ""),
        "short_description": (
            wpautop(product.get("short_description", "")) if view else product.get("short_description", "")
        ),
        "sku": product.get("sku", ""),
        "price": price,
        "regular_price": product.get("regular_price", ""),
        "sale_price": product.get("sale_price", ""),
        "date_on_sale_from": sale_from,
        "date_on_sale_from_gmt": sale_from_gmt,
        "date_on_sale_to": sale_to,
        "date_on_sale_to_gmt": sale_to_gmt,
        "on_sale": on_sale,
        "purchasable": purchasable,
        "total_sales": int(product.get("total_sales", 0)),
        "virtual": virtual,
        "downloadable": bool(product.get("downloadable")),
        "downloads": list(product.get("downloads", [])),
        "download_limit": int(product.get("download_limit", -1)),
        "download_expiry": int(product.get("download_expiry", -1)),
        "external_url": product.get("external_url", ""),
        "button_text": product.get("button_text", ""),
        "tax_status": product.get("tax_status", "taxable"),
        "tax_class": product.get("tax_class", ""),
        "manage_stock": manage,
        "stock_quantity": product.get("stock_quantity"),
        "backorders": backorders,
        "backorders_allowed": backorders != "no",
        "backordered": False,
        "low_stock_amount": product.get("low_stock_amount"),
        "sold_individually": bool(product.get("sold_individually")),
        "weight": product.get("weight", ""),
        "dimensions": dict(product.get("dimensions") or {"length": "", "width": "", "height": ""}),
        "shipping_required": not virtual,
        "shipping_taxable": not virtual and product.get("tax_status", "taxable") in ("taxable", "shipping"),
        "shipping_class": product.get("shipping_class", ""),
        "shipping_class_id": int(product.get("shipping_class_id", 0)),
        "reviews_allowed": bool(product.get("reviews_allowed", True)),
        "average_rating": str(product.get("average_rating", "0")),
        "rating_count": int(product.get("rating_count", 0)),
        "upsell_ids": [int(i) for i in product.get("upsell_ids", [])],
        "cross_sell_ids": [int(i) for i in product.get("cross_sell_ids", [])],
        "parent_id": int(product.get("parent_id", 0)),
        "purchase_note": product.get("purchase_note", ""),
        "categories": [dict(c) for c in product.get("categories", [])],
        "brands": [dict(b) for b in product.get("brands", [])],
        "tags": [dict(t) for t in product.get("tags", [])],
        "images": [dict(i) for i in product.get("images", [])],
        "attributes": [dict(a) for a in product.get("attributes", [])],
        "default_attributes": [dict(a) for a in product.get("default_attributes", [])],
        "variations": kids,
        "grouped_products": [int(i) for i in product.get("grouped_products", [])],
        "menu_order": int(product.get("menu_order", 0)),
        "price_html": price_html,
        "related_ids": _related_ids(store, product),
        "meta_data": _meta(product),
        "stock_status": stock_status,
        "has_options": product["type"] in ("variable", "grouped"),
        "post_password": product.get("post_password", ""),
        "global_unique_id": product.get("global_unique_id", ""),
    }
    if not view:
        data["permalink_template"] = f"{store.settings.home_url}/product/%pagename%/"
        data["generated_slug"] = sanitize_title(product.get("name", "")) or product.get("slug", "")
    data["_links"] = _product_links(store, rest_root, namespace, int(product["id"]), None, user)
    return data


def _product_links(
    store: Store, rest_root: str, namespace: str, object_id: int, parent_id: int | None, user: User | None
) -> dict[str, Any]:
    del store
    links: dict[str, Any] = {
        "self": [
            {
                "href": f"{rest_root}{namespace}/products/{object_id}",
                "targetHints": {"allow": _allowed_methods(user)},
            }
        ],
        "collection": [{"href": f"{rest_root}{namespace}/products"}],
    }
    if parent_id:
        links["up"] = [{"href": f"{rest_root}{namespace}/products/{parent_id}"}]
    return links


def _variation_as_product(
    store: Store, variation: Obj, rest_root: str, *, context: str, namespace: str, user: User | None
) -> dict[str, Any]:
    """A variation rendered by the products controller (what ?sku= returns for a variation's SKU)."""
    parent = store.get("product", int(variation["parent_id"]))
    rest = variation_to_rest(store, variation, rest_root, context=context, namespace=namespace, user=user)
    price = rest["price"]
    on_sale = rest["on_sale"]
    regular = variation.get("regular_price", "")
    if price == "":
        html = ""
    elif on_sale:
        html = _format_sale_price(store, regular, price)
    else:
        html = wc_price(store, price)
    virtual = rest["virtual"]
    data: dict[str, Any] = {
        "id": rest["id"],
        "name": _variation_title(variation, parent),
        "slug": sanitize_title(_variation_title(variation, parent)),
        "permalink": rest["permalink"],
        "date_created": rest["date_created"],
        "date_created_gmt": rest["date_created_gmt"],
        "date_modified": rest["date_modified"],
        "date_modified_gmt": rest["date_modified_gmt"],
        "type": "variation",
        "status": rest["status"],
        "featured": False,
        "catalog_visibility": "visible",
        "description": rest["description"],
        "short_description": (parent or {}).get("short_description", "") if context != "view" else "",
        "sku": rest["sku"],
        "price": price,
        "regular_price": rest["regular_price"],
        "sale_price": rest["sale_price"],
        "date_on_sale_from": rest["date_on_sale_from"],
        "date_on_sale_from_gmt": rest["date_on_sale_from_gmt"],
        "date_on_sale_to": rest["date_on_sale_to"],
        "date_on_sale_to_gmt": rest["date_on_sale_to_gmt"],
        "on_sale": on_sale,
        "purchasable": rest["purchasable"],
        "total_sales": int(variation.get("total_sales", 0)),
        "virtual": virtual,
        "downloadable": rest["downloadable"],
        "downloads": rest["downloads"],
        "download_limit": rest["download_limit"],
        "download_expiry": rest["download_expiry"],
        "external_url": "",
        "button_text": "",
        "tax_status": rest["tax_status"],
        "tax_class": rest["tax_class"],
        "manage_stock": rest["manage_stock"],
        "stock_quantity": rest["stock_quantity"],
        "backorders": rest["backorders"],
        "backorders_allowed": rest["backorders_allowed"],
        "backordered": False,
        "low_stock_amount": rest["low_stock_amount"],
        "sold_individually": bool((parent or {}).get("sold_individually")),
        "weight": rest["weight"],
        "dimensions": rest["dimensions"],
        "shipping_required": not virtual,
        "shipping_taxable": not virtual and rest["tax_status"] in ("taxable", "shipping"),
        "shipping_class": rest["shipping_class"],
        "shipping_class_id": rest["shipping_class_id"],
        "reviews_allowed": False,
        "average_rating": "0",
        "rating_count": 0,
        "upsell_ids": [],
        "cross_sell_ids": [],
        "parent_id": int(variation["parent_id"]),
        "purchase_note": "",
        "categories": [dict(c) for c in (parent or {}).get("categories", [])],
        "brands": [],
        "tags": [],
        "images": [rest["image"]] if rest["image"] else [],
        "attributes": [
            {"id": a["id"], "name": a["name"], "slug": a["slug"], "option": a["option"]} for a in rest["attributes"]
        ],
        "default_attributes": [],
        "variations": [],
        "grouped_products": [],
        "menu_order": rest["menu_order"],
        "price_html": html,
        "related_ids": _related_ids(store, parent) if parent is not None else [],
        "meta_data": rest["meta_data"],
        "stock_status": rest["stock_status"],
        "has_options": False,
        "post_password": "",
        "global_unique_id": rest["global_unique_id"],
    }
    if context != "view":
        data["permalink_template"] = f"{store.settings.home_url}/product/%pagename%/"
        data["generated_slug"] = data["slug"]
    data["_links"] = _product_links(store, rest_root, namespace, rest["id"], int(variation["parent_id"]), user)
    return data


def variation_to_rest(
    store: Store,
    obj: Obj,
    rest_root: str,
    *,
    context: str = "view",
    namespace: str = "wc/v3",
    user: User | None = None,
) -> dict[str, Any]:
    """GET /products/{parent}/variations/{id} as WooCommerce 11.0.1's v3 variations controller renders it."""
    variation = obj
    parent = store.get("product", int(variation.get("parent_id", 0)))
    manage, quantity, stock_status, backorders = _variation_stock_view(store, variation, parent)
    price = _current_price(store, variation)
    tax_class = variation.get("tax_class", "parent")
    if tax_class == "parent" and context == "view":
        tax_class = (parent or {}).get("tax_class", "")
    date_created, date_created_gmt = _date_pair(store, variation.get("date_created_gmt"))
    date_modified, date_modified_gmt = _date_pair(store, variation.get("date_modified_gmt"))
    sale_from, sale_from_gmt = _date_pair(store, variation.get("date_on_sale_from_gmt"))
    sale_to, sale_to_gmt = _date_pair(store, variation.get("date_on_sale_to_gmt"))
    low = variation.get("low_stock_amount")
    if manage == "parent" and parent is not None:
        low = parent.get("low_stock_amount")
    parent_id = int(variation.get("parent_id", 0))
    data: dict[str, Any] = {
        "id": int(variation["id"]),
        "type": "variation",
        "date_created": date_created,
        "date_created_gmt": date_created_gmt,
        "date_modified": date_modified,
        "date_modified_gmt": date_modified_gmt,
        "description": wpautop(variation.get("description", ""))
        if context == "view"
        else variation.get("description", ""),
        "permalink": _variation_permalink(store, variation, parent),
        "sku": variation.get("sku", ""),
        "global_unique_id": variation.get("global_unique_id", ""),
        "price": price,
        "regular_price": variation.get("regular_price", ""),
        "sale_price": variation.get("sale_price", ""),
        "date_on_sale_from": sale_from,
        "date_on_sale_from_gmt": sale_from_gmt,
        "date_on_sale_to": sale_to,
        "date_on_sale_to_gmt": sale_to_gmt,
        "on_sale": _sale_active(store, variation),
        "status": variation.get("status", "publish"),
        "purchasable": price != "" and (parent is None or parent.get("status") != "trash"),
        "virtual": bool(variation.get("virtual")),
        "downloadable": bool(variation.get("downloadable")),
        "downloads": list(variation.get("downloads", [])),
        "download_limit": int(variation.get("download_limit", -1)),
        "download_expiry": int(variation.get("download_expiry", -1)),
        "tax_status": variation.get("tax_status", "taxable"),
        "tax_class": tax_class,
        "manage_stock": manage,
        "stock_quantity": quantity,
        "stock_status": stock_status,
        "backorders": backorders,
        "backorders_allowed": backorders != "no",
        "backordered": False,
        "low_stock_amount": low,
        "weight": variation.get("weight", ""),
        "dimensions": dict(variation.get("dimensions") or {"length": "", "width": "", "height": ""}),
        "shipping_class": variation.get("shipping_class", ""),
        "shipping_class_id": int(variation.get("shipping_class_id", 0)),
        "image": dict(variation["image"]) if variation.get("image") else None,
        "attributes": [
            {"id": int(a["id"]), "name": a["name"], "slug": a["slug"], "option": a["option"]}
            for a in variation.get("attributes", [])
        ],
        "menu_order": int(variation.get("menu_order", 0)),
        "meta_data": _meta(variation),
        "name": ", ".join(a["option"] for a in variation.get("attributes", []) if a.get("option")),
        "parent_id": parent_id,
        "_links": {
            "self": [
                {
                    "href": f"{rest_root}{namespace}/products/{parent_id}/variations/{variation['id']}",
                    "targetHints": {"allow": _allowed_methods(user)},
                }
            ],
            "collection": [{"href": f"{rest_root}{namespace}/products/{parent_id}/variations"}],
            "up": [{"href": f"{rest_root}{namespace}/products/{parent_id}"}],
        },
    }
    return data


# -- writing -----------------------------------------------------------------------------------------------------


def _new_product(store: Store) -> Obj:
    now = store.now_iso()
    return {
        "id": 0,
        "name": "",
        "slug": "",
        "date_created_gmt": now,
        "date_modified_gmt": now,
        "type": "simple",
        "status": "publish",
        "featured": False,
        "catalog_visibility": "visible",
        "description": "",
        "short_description": "",
        "sku": "",
        "regular_price": "",
        "sale_price": "",
        "date_on_sale_from_gmt": None,
        "date_on_sale_to_gmt": None,
        "total_sales": 0,
        "virtual": False,
        "downloadable": False,
        "downloads": [],
        "download_limit": -1,
        "download_expiry": -1,
        "external_url": "",
        "button_text": "",
        "tax_status": "taxable",
        "tax_class": "",
        "manage_stock": False,
        "stock_quantity": None,
        "backorders": "no",
        "low_stock_amount": None,
        "sold_individually": False,
        "weight": "",
        "dimensions": {"length": "", "width": "", "height": ""},
        "shipping_class": "",
        "shipping_class_id": 0,
        "reviews_allowed": True,
        "average_rating": "0",
        "rating_count": 0,
        "upsell_ids": [],
        "cross_sell_ids": [],
        "parent_id": 0,
        "purchase_note": "",
        "categories": [],
        "brands": [],
        "tags": [],
        "images": [],
        "attributes": [],
        "default_attributes": [],
        "grouped_products": [],
        "menu_order": 0,
        "meta_data": [],
        "stock_status": "instock",
        "post_password": "",
        "global_unique_id": "",
    }


def _date_gmt_from(store: Store, payload: dict[str, Any], local_key: str, gmt_key: str) -> tuple[bool, str | None]:
    """A date given as site-local or GMT (the _gmt one wins); empty clears it."""
    for key, is_gmt in ((gmt_key, True), (local_key, False)):
        if key in payload and payload[key] is not None:
            value = payload[key]
            if value == "":
                return True, None
            try:
                parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00")).replace(tzinfo=None)
            except ValueError:
                continue
            return True, iso(parsed if is_gmt else store.settings.to_gmt(parsed))
    return False, None


def _apply_meta(obj: Obj, items: Any) -> None:
    if not isinstance(items, list):
        return
    meta = obj.setdefault("meta_data", [])
    for item in items:
        if not isinstance(item, dict) or "key" not in item:
            continue
        existing = next(
            (m for m in meta if (item.get("id") and m.get("id") == item["id"]) or m.get("key") == item["key"]), None
        )
        if existing is not None:
            existing["value"] = item.get("value")
        else:
            meta.append(
                {"id": len(meta) + 1 + int(obj.get("id", 0)) * 100, "key": item["key"], "value": item.get("value")}
            )


def _set_common(store: Store, obj: Obj, payload: dict[str, Any]) -> None:
    """Fields products and variations write the same way (isset semantics: null means "leave alone")."""
    for key in ("regular_price", "sale_price"):
        if payload.get(key) is not None:
            obj[key] = wc_format_decimal(payload[key])
    for local_key in ("date_on_sale_from", "date_on_sale_to"):
        given, value = _date_gmt_from(store, payload, local_key, local_key + "_gmt")
        if given:
            obj[local_key + "_gmt"] = value
    for key in ("virtual", "downloadable"):
        if payload.get(key) is not None:
            obj[key] = _bool(payload[key])
    if obj.get("downloadable"):
        if isinstance(payload.get("downloads"), list):
            obj["downloads"] = [
                {"id": str(d.get("id") or ""), "name": str(d.get("name", "")), "file": str(d.get("file", ""))}
                for d in payload["downloads"]
                if isinstance(d, dict)
            ]
        for key in ("download_limit", "download_expiry"):
            if payload.get(key) is not None:
                obj[key] = wc_stock_amount(payload[key])
    for key in ("tax_status", "tax_class", "weight", "shipping_class"):
        if payload.get(key) is not None:
            obj[key] = str(payload[key])
    if isinstance(payload.get("dimensions"), dict):
        dims = dict(obj.get("dimensions") or {"length": "", "width": "", "height": ""})
        for key in ("length", "width", "height"):
            if payload["dimensions"].get(key) is not None:
                dims[key] = str(payload["dimensions"][key])
        obj["dimensions"] = dims
    if payload.get("global_unique_id") is not None:
        obj["global_unique_id"] = str(payload["global_unique_id"]).strip()
    _apply_meta(obj, payload.get("meta_data"))


def _apply_product_payload(store: Store, product: Obj, payload: dict[str, Any], creating: bool) -> None:
    if payload.get("type") is not None:
        product["type"] = payload["type"] if payload["type"] in PRODUCT_TYPES else "simple"
    if payload.get("name") is not None:
        product["name"] = str(payload["name"])
    for key in ("description", "short_description", "purchase_note", "post_password"):
        if payload.get(key) is not None:
            product[key] = str(payload[key])
    if payload.get("status") is not None:
        product["status"] = payload["status"] if payload["status"] in POST_STATUSES else "draft"
    if payload.get("slug") is not None and str(payload["slug"]) != "":
        product["slug"] = sanitize_title(str(payload["slug"]))
    for key in ("menu_order",):
        if payload.get(key) is not None:
            product[key] = wc_stock_amount(payload[key])
    for key in ("reviews_allowed", "featured", "sold_individually"):
        if payload.get(key) is not None:
            product[key] = _bool(payload[key])
    if payload.get("catalog_visibility") in ("visible", "catalog", "search", "hidden"):
        product["catalog_visibility"] = payload["catalog_visibility"]
    if payload.get("sku") is not None:
        product["sku"] = str(payload["sku"]).strip()
    if payload.get("attributes") is not None:
        product["attributes"] = _product_attributes_from(store, payload["attributes"])
    _set_common(store, product, payload)
    if product["type"] in ("variable", "grouped"):
        product.update(regular_price="", sale_price="", date_on_sale_from_gmt=None, date_on_sale_to_gmt=None)
    if payload.get("parent_id") is not None:
        product["parent_id"] = wc_stock_amount(payload["parent_id"])
    _apply_product_stock(store, product, payload)
    for key in ("upsell_ids", "cross_sell_ids"):
        if isinstance(payload.get(key), list):
            product[key] = [wc_stock_amount(i) for i in payload[key] if wc_stock_amount(i) > 0]
    if isinstance(payload.get("categories"), list) or (creating and not product.get("categories")):
        product["categories"] = _categories_from(store, payload.get("categories"))
    if isinstance(payload.get("tags"), list):
        product["tags"] = _tags_from(store, payload["tags"])
    if product["type"] == "external":
        for key in ("external_url", "button_text"):
            if payload.get(key) is not None:
                product[key] = str(payload[key])
    if product["type"] == "variable" and isinstance(payload.get("default_attributes"), list):
        product["default_attributes"] = [
            {"id": int(a["id"]), "name": a["name"], "option": str(d.get("option", ""))}
            for d in payload["default_attributes"]
            if isinstance(d, dict)
            for a in product.get("attributes", [])
            if (d.get("id") and int(d["id"]) == int(a["id"])) or (d.get("name") and d["name"] == a["name"])
        ]
    if product["type"] == "grouped" and isinstance(payload.get("grouped_products"), list):
        product["grouped_products"] = [wc_stock_amount(i) for i in payload["grouped_products"]]
    if isinstance(payload.get("images"), list):
        product["images"] = [dict(i) for i in payload["images"] if isinstance(i, dict)]
    given, created = _date_gmt_from(store, payload, "date_created", "date_created_gmt")
    if given and created:
        product["date_created_gmt"] = created


def _check_strings(payload: dict[str, Any], names: Iterable[str] = _STRING_FIELDS) -> None:
    """The schema's string types, as rest_validate_value_from_schema enforces them on single requests."""
    invalid = {n: f"{n} is not of type string." for n in names if n in payload and not isinstance(payload[n], str)}
    if invalid:
        raise RestError(
            "rest_invalid_param",
            f"Invalid parameter(s): {', '.join(invalid)}",
            {
                "status": 400,
                "params": invalid,
                "details": {n: {"code": "rest_invalid_type", "message": m, "data": None} for n, m in invalid.items()},
            },
        )


def _save_product(store: Store, product: Obj, payload: dict[str, Any], creating: bool) -> Obj:
    own_id = None if creating else int(product["id"])
    _apply_product_payload(store, product, payload, creating)
    _check_unique_sku(store, product.get("sku", ""), own_id)
    if creating:
        product["id"] = store.next_post_id()
    if not product.get("slug") and product.get("status") not in ("draft", "pending", "auto-draft"):
        product["slug"] = sanitize_title(product.get("name", "")) or str(product["id"])
    if product.get("slug"):
        product["slug"] = _unique_slug(store, product["slug"], int(product["id"]))
    product["date_modified_gmt"] = store.now_iso()
    if creating:
        product["date_created_gmt"] = product.get("date_created_gmt") or product["date_modified_gmt"]
    return store.put("product", product)


def create_product(store: Store, payload: dict[str, Any]) -> Obj:
    """POST /products: build and store a product from a request body; emits product.created.

    Raises RestError (``product_invalid_sku`` …) without storing anything when the body is refused."""
    product = _new_product(store)
    saved = _save_product(store, product, dict(payload), creating=True)
    store.emit("product", "created", int(saved["id"]))
    return saved


def update_product(store: Store, product: Obj, payload: dict[str, Any]) -> Obj:
    """PUT /products/{id}: apply a body to a stored product; emits product.updated (and restored)."""
    working = {**product, "meta_data": [dict(m) for m in product.get("meta_data", [])]}
    was_trashed = product.get("status") == "trash"
    saved = _save_product(store, working, dict(payload), creating=False)
    if was_trashed and saved.get("status") != "trash":
        store.emit("product", "restored", int(saved["id"]))
    store.emit("product", "updated", int(saved["id"]))
    return saved


def _new_variation(store: Store, parent: Obj) -> Obj:
    now = store.now_iso()
    return {
        "id": 0,
        "parent_id": int(parent["id"]),
        "date_created_gmt": now,
        "date_modified_gmt": now,
        "description": "",
        "sku": "",
        "global_unique_id": "",
        "regular_price": "",
        "sale_price": "",
        "date_on_sale_from_gmt": None,
        "date_on_sale_to_gmt": None,
        "status": "publish",
        "virtual": False,
        "downloadable": False,
        "downloads": [],
        "download_limit": -1,
        "download_expiry": -1,
        "tax_status": "taxable",
        "tax_class": "parent",
        "manage_stock": False,
        "stock_quantity": None,
        "stock_status": "instock",
        "backorders": "no",
        "low_stock_amount": None,
        "weight": "",
        "dimensions": {"length": "", "width": "", "height": ""},
        "shipping_class": "",
        "shipping_class_id": 0,
        "image": None,
        "attributes": [],
        "menu_order": 0,
        "meta_data": [],
        "total_sales": 0,
    }


def _save_variation(store: Store, parent: Obj, variation: Obj, payload: dict[str, Any], creating: bool) -> Obj:
    if payload.get("status") is not None:
        variation["status"] = payload["status"] if payload["status"] in POST_STATUSES else "draft"
    if payload.get("sku") is not None:
        variation["sku"] = str(payload["sku"]).strip()
    if payload.get("description") is not None:
        variation["description"] = str(payload["description"])
    if "image" in payload:
        image = payload["image"]
        variation["image"] = dict(image) if isinstance(image, dict) and image else None
    _set_common(store, variation, payload)
    _apply_variation_stock(store, variation, parent, payload)
    if payload.get("attributes") is not None:
        variation["attributes"] = _variation_attributes_from(parent, payload["attributes"])
    if payload.get("menu_order"):
        variation["menu_order"] = wc_stock_amount(payload["menu_order"])
    _check_unique_sku(store, variation.get("sku", ""), None if creating else int(variation["id"]))
    if creating:
        variation["id"] = store.next_post_id()
    variation["date_modified_gmt"] = store.now_iso()
    saved = store.put("variation", variation)
    # Saving a variation re-syncs its parent (price and stock status are derived, date_modified moves).
    parent["date_modified_gmt"] = saved["date_modified_gmt"]
    store.put("product", parent)
    return saved


def create_variation(store: Store, parent: Obj, payload: dict[str, Any]) -> Obj:
    """POST /products/{parent}/variations: store a variation of a variable product; emits product.created."""
    variation = _new_variation(store, parent)
    saved = _save_variation(store, parent, variation, dict(payload), creating=True)
    store.emit("product", "created", int(saved["id"]))
    return saved


def update_variation(store: Store, parent: Obj, variation: Obj, payload: dict[str, Any]) -> Obj:
    """PUT /products/{parent}/variations/{id}; emits product.updated for the variation."""
    working = {**variation, "meta_data": [dict(m) for m in variation.get("meta_data", [])]}
    saved = _save_variation(store, parent, working, dict(payload), creating=False)
    store.emit("product", "updated", int(saved["id"]))
    return saved


def _delete_product(store: Store, product: Obj, force: bool) -> None:
    if force:
        if product["type"] == "variable":
            for variation in children(store, product):
                store.remove("variation", int(variation["id"]))
        store.remove("product", int(product["id"]))
        return
    if product.get("status") == "trash":
        raise RestError("woocommerce_rest_already_trashed", "The product has already been deleted.", {"status": 410})
    trashed = {**product, "status": "trash", "date_modified_gmt": store.now_iso()}
    store.put("product", trashed)
    store.emit("product", "deleted", int(product["id"]))


def _delete_variation(store: Store, variation: Obj, force: bool) -> None:
    """Variations have a post status, so the CRUD controller trashes them too unless forced."""
    if not force:
        if variation.get("status") == "trash":
            raise RestError(
                "woocommerce_rest_already_trashed", "The product_variation has already been deleted.", {"status": 410}
            )
        store.put("variation", {**variation, "status": "trash", "date_modified_gmt": store.now_iso()})
        store.emit("product", "deleted", int(variation["id"]))
    else:
        store.remove("variation", int(variation["id"]))
    parent = store.get("product", int(variation.get("parent_id", 0)))
    if parent is not None:
        store.put("product", {**parent, "date_modified_gmt": store.now_iso()})


# -- request handling --------------------------------------------------------------------------------------------


def _links_ctx(call: Call) -> dict[str, Any]:
    return {"namespace": call.namespace, "user": call.user}


def _render(call: Call, kind: str, obj: Obj, context: str | None = None) -> dict[str, Any]:
    ctx = context or str(call.params.get("context") or "view")
    if kind == "variation" and "/variations" in call.route:
        return variation_to_rest(call.store, obj, call.rest_root, context=ctx, **_links_ctx(call))
    return to_rest(call.store, obj, call.rest_root, context=ctx, **_links_ctx(call))


def _invalid_id(status: int, post_type: str = "product") -> RestError:
    return RestError(f"woocommerce_rest_{post_type}_invalid_id", "Invalid ID.", {"status": status})


def _gmt_filter_value(call: Call, name: str) -> datetime | None:
    value = call.params.get(name)
    if not value:
        return None
    # A trailing Z or offset is not a conversion: WordPress compares the naive wall-clock value.
    text = re.sub(r"(Z|[+-]\d{2}:?\d{2})$", "", str(value)).replace(" ", "T")
    parsed = datetime.fromisoformat(text.split(".")[0])
    return parsed


def _date_filter(call: Call, objects: list[Obj]) -> list[Obj]:
    gmt = bool(call.params.get("dates_are_gmt"))

    def column(obj: Obj, key: str) -> datetime:
        value = obj.get(key + "_gmt") or "1970-01-01T00:00:00"
        return parse_iso(value if gmt else (call.store.settings.local(value) or value))

    checks: list[Callable[[Obj], bool]] = []
    for param, key, after in (
        ("after", "date_created", True),
        ("before", "date_created", False),
        ("modified_after", "date_modified", True),
        ("modified_before", "date_modified", False),
    ):
        bound = _gmt_filter_value(call, param)
        if bound is None:
            continue
        checks.append(_bound_check(column, key, bound, after))
    return [o for o in objects if all(check(o) for check in checks)]


def _bound_check(
    column: Callable[[Obj, str], datetime], key: str, bound: datetime, after: bool
) -> Callable[[Obj], bool]:
    """WP date_query after/before are exclusive."""

    def check(obj: Obj) -> bool:
        value = column(obj, key)
        return value > bound if after else value < bound

    return check


def _search_match(obj: Obj, term: str, fields: Iterable[str]) -> bool:
    words = [w for w in term.split() if w]
    haystack = " ".join(str(obj.get(f, "")) for f in fields).lower()
    return all(w.lower() in haystack for w in words)


def _order_objects(call: Call, objects: list[Obj], include: list[int]) -> list[Obj]:
    orderby = str(call.params.get("orderby") or "date")
    descending = str(call.params.get("order") or "desc").lower() == "desc"
    keys: dict[str, Callable[[Obj], Any]] = {
        "date": lambda o: (o.get("date_created_gmt") or "", int(o["id"])),
        "modified": lambda o: (o.get("date_modified_gmt") or "", int(o["id"])),
        "id": lambda o: int(o["id"]),
        "title": lambda o: (str(o.get("name", "")).lower(), int(o["id"])),
        "slug": lambda o: (str(o.get("slug", "")), int(o["id"])),
        "menu_order": lambda o: (int(o.get("menu_order", 0)), str(o.get("name", "")).lower()),
        "price": lambda o: (_decimal(_current_price(call.store, o)) or Decimal(0), int(o["id"])),
        "popularity": lambda o: (int(o.get("total_sales", 0)), int(o["id"])),
        "rating": lambda o: (Decimal(str(o.get("average_rating", "0"))), int(o["id"])),
    }
    if orderby == "include" and include:
        position = {object_id: index for index, object_id in enumerate(include)}
        return sorted(objects, key=lambda o: position.get(int(o["id"]), len(position)))
    key = keys.get(orderby, keys["date"])
    return sorted(objects, key=key, reverse=descending)


def _id_list(value: Any) -> list[int]:
    if value in (None, ""):
        return []
    items = value if isinstance(value, list) else re.split(r"[\s,]+", str(value))
    return [wc_stock_amount(i) for i in items if str(i).strip() != ""]


def _filter_common(call: Call, candidates: list[tuple[str, Obj]]) -> list[tuple[str, Obj]]:
    params = call.params
    include = _id_list(params.get("include"))
    exclude = set(_id_list(params.get("exclude")))
    status = str(params.get("status") or "any")
    result = []
    for kind, obj in candidates:
        object_id = int(obj["id"])
        if include and object_id not in include:
            continue
        if object_id in exclude:
            continue
        obj_status = str(obj.get("status", "publish"))
        if status == "any":
            if obj_status in ("trash", "auto-draft"):
                continue
        elif obj_status != status:
            continue
        result.append((kind, obj))
    return result


def list_products(call: Call) -> Reply:
    store = call.store
    params = call.params
    sku = params.get("sku")
    candidates: list[tuple[str, Obj]] = [("product", p) for p in store.all("product")]
    if sku:
        # Exact match on each comma-separated SKU and on the whole string; variations are searched too.
        wanted = str(sku).split(",")
        if len(wanted) > 1:
            wanted.append(str(sku))
        candidates += [("variation", v) for v in store.all("variation")]
        candidates = [(k, o) for k, o in candidates if o.get("sku") and o.get("sku") in wanted]
    candidates = _filter_common(call, candidates)
    if params.get("type"):
        candidates = [(k, o) for k, o in candidates if k == "product" and o.get("type") == params["type"]]
    if params.get("search"):
        candidates = [
            (k, o)
            for k, o in candidates
            if _search_match(o, str(params["search"]), ("name", "description", "short_description"))
        ]
    parents = _id_list(params.get("parent"))
    if parents:
        candidates = [(k, o) for k, o in candidates if int(o.get("parent_id", 0)) in parents]
    parent_exclude = set(_id_list(params.get("parent_exclude")))
    if parent_exclude:
        candidates = [(k, o) for k, o in candidates if int(o.get("parent_id", 0)) not in parent_exclude]
    if params.get("category"):
        wanted_cats = set(_id_list(params["category"]))
        candidates = [(k, o) for k, o in candidates if wanted_cats & {int(c["id"]) for c in o.get("categories", [])}]
    if params.get("tag"):
        wanted_tags = set(_id_list(params["tag"]))
        candidates = [(k, o) for k, o in candidates if wanted_tags & {int(t["id"]) for t in o.get("tags", [])}]
    if params.get("featured") is not None and "featured" in call.query:
        featured = _bool(params["featured"])
        candidates = [(k, o) for k, o in candidates if bool(o.get("featured")) == featured]
    if params.get("stock_status"):
        candidates = [(k, o) for k, o in candidates if _render_stock_status(store, k, o) == str(params["stock_status"])]
    if params.get("on_sale") is not None and "on_sale" in call.query:
        wanted_sale = _bool(params["on_sale"])
        candidates = [(k, o) for k, o in candidates if _on_sale(store, k, o) == wanted_sale]
    kinds = {int(o["id"]): k for k, o in candidates}
    objects = _date_filter(call, [o for _, o in candidates])
    objects = _order_objects(call, objects, _id_list(params.get("include")))
    page, headers = paginate(call, objects)
    body = [_render(call, kinds[int(o["id"])], o) for o in page]
    return Reply(body, headers=headers)


def _render_stock_status(store: Store, kind: str, obj: Obj) -> str:
    if kind == "variation":
        return _variation_stock_view(store, obj, store.get("product", int(obj["parent_id"])))[2]
    if obj.get("type") == "variable" and not (obj.get("manage_stock") and store.settings.manage_stock):
        return _variable_stock_status(store, obj)
    return str(obj.get("stock_status", "instock"))


def _on_sale(store: Store, kind: str, obj: Obj) -> bool:
    if kind == "product" and obj.get("type") in ("variable", "grouped"):
        return _price_and_html(store, obj)[2]
    return _sale_active(store, obj)


def get_product(call: Call) -> Reply:
    found = get_product_or_variation(call.store, call.int_param("id"))
    if found is None:
        raise _invalid_id(404)
    kind, obj = found
    return Reply(_render(call, kind, obj))


def _location(call: Call, path: str) -> list[tuple[str, str]]:
    return [("Location", call.rest_url(f"/{call.namespace}{path}"))]


def create_product_endpoint(call: Call) -> Reply:
    payload = call.body_dict() or {k: v for k, v in call.params.items() if k not in call.url_params}
    _check_strings(payload)
    if payload.get("id"):
        raise RestError("woocommerce_rest_product_exists", "Cannot create existing product.", {"status": 400})
    product = create_product(call.store, payload)
    return Reply(
        _render(call, "product", product, "edit"), status=201, headers=_location(call, f"/products/{product['id']}")
    )


def _update_one(call: Call, object_id: int, payload: dict[str, Any]) -> dict[str, Any]:
    found = get_product_or_variation(call.store, object_id)
    if found is None:
        raise _invalid_id(400)
    kind, obj = found
    if kind == "variation":
        raise RestError(
            "woocommerce_rest_invalid_product_id",
            "To manipulate product variations you should use the /products/&lt;product_id&gt;/variations/&lt;id&gt; "
            "endpoint.",
            {"status": 404},
        )
    saved = update_product(call.store, obj, payload)
    return _render(call, "product", saved, "edit")


def update_product_endpoint(call: Call) -> Reply:
    payload = call.body_dict() or {k: v for k, v in call.params.items() if k not in call.url_params}
    _check_strings(payload)
    return Reply(_update_one(call, call.int_param("id"), payload))


def _delete_one(call: Call, object_id: int, force: bool) -> dict[str, Any]:
    found = get_product_or_variation(call.store, object_id)
    if found is None:
        raise _invalid_id(404)
    kind, obj = found
    # WooCommerce prepares the answer before deleting: a trashed product comes back as it was.
    before = _render(call, kind, obj, "edit")
    if kind == "variation":
        _delete_variation(call.store, obj, force)
        return before
    _delete_product(call.store, obj, force)
    return before


def delete_product_endpoint(call: Call) -> Reply:
    return Reply(_delete_one(call, call.int_param("id"), _bool(call.params.get("force", False))))


def run_batch(
    call: Call,
    create: Callable[[dict[str, Any]], dict[str, Any]],
    update: Callable[[int, dict[str, Any]], dict[str, Any]],
    delete: Callable[[int], dict[str, Any]],
) -> Reply:
    """batch_items(): create, then update, then delete; each element is the resource or {id, error}."""
    body = call.body_dict()
    items = {key: body.get(key) for key in ("create", "update", "delete") if body.get(key)}
    count = sum(len(v) if isinstance(v, (list, dict)) else 1 for v in items.values())
    limit = call.store.settings.batch_limit
    if count > limit:
        raise RestError(
            "woocommerce_rest_request_entity_too_large",
            f"Unable to accept more than {limit} items for this request.",
            {"status": 413},
        )
    result: dict[str, list[dict[str, Any]]] = {}

    def run(object_id: int, action: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        try:
            return action()
        except RestError as error:
            return {"id": object_id, "error": {"code": error.code, "message": error.message, "data": error.data}}

    for item in _as_list(items.get("create")):
        payload = item if isinstance(item, dict) else {}
        result.setdefault("create", []).append(run(0, partial(create, payload)))
    for item in _as_list(items.get("update")):
        payload = item if isinstance(item, dict) else {}
        object_id = wc_stock_amount(payload.get("id", 0))
        result.setdefault("update", []).append(run(object_id, partial(update, object_id, payload)))
    for raw in _as_list(items.get("delete")):
        object_id = wc_stock_amount(raw.get("id", 0) if isinstance(raw, dict) else raw)
        if object_id == 0:
            continue
        result.setdefault("delete", []).append(run(object_id, partial(delete, object_id)))
    # PHP encodes an empty array as [] (the recorded write probe with body {}), a filled one as an object.
    return Reply(result if result else [])


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, dict):
        return list(value.values())
    return value if isinstance(value, list) else [value]


def batch_products(call: Call) -> Reply:
    def create(payload: dict[str, Any]) -> dict[str, Any]:
        if payload.get("id"):
            raise RestError("woocommerce_rest_product_exists", "Cannot create existing product.", {"status": 400})
        return _render(call, "product", create_product(call.store, payload), "edit")

    return run_batch(
        call,
        create,
        lambda object_id, payload: _update_one(call, object_id, payload),
        lambda object_id: _delete_one(call, object_id, True),
    )


# -- variations endpoints ----------------------------------------------------------------------------------------


def _parent_of(call: Call) -> Obj | None:
    return call.store.get("product", int(call.url_params["product_id"]))


def _variation_in(call: Call, variation_id: int) -> Obj:
    """check_variation_parent(): the variation must exist and belong to the product in the URL."""
    variation = call.store.get("variation", variation_id)
    parent = _parent_of(call)
    if variation is None or parent is None or int(variation["parent_id"]) != int(parent["id"]):
        raise _invalid_id(404, "product_variation")
    return variation


def _variation_permission(action: str) -> Callable[[Call], None]:
    """Unknown variations answer 404 before the capability check, as WooCommerce's permission callbacks do."""
    check = needs("posts", action)

    def permission(call: Call) -> None:
        if action in ("read", "edit", "delete"):
            _variation_in(call, int(call.url_params["id"]))
        check(call)

    return permission


def list_variations(call: Call) -> Reply:
    parent_id = int(call.url_params["product_id"])
    found = [("variation", v) for v in call.store.children("variation", parent_id)]
    params = call.params
    if params.get("sku"):
        wanted = str(params["sku"]).split(",")
        if len(wanted) > 1:
            wanted.append(str(params["sku"]))
        found = [(k, o) for k, o in found if o.get("sku") and o.get("sku") in wanted]
    found = _filter_common(call, found)
    if params.get("search"):
        found = [(k, o) for k, o in found if _search_match(o, str(params["search"]), ("description", "sku"))]
    if params.get("stock_status"):
        found = [(k, o) for k, o in found if _render_stock_status(call.store, k, o) == str(params["stock_status"])]
    objects = _date_filter(call, [o for _, o in found])
    objects = _order_objects(call, objects, _id_list(params.get("include")))
    page, headers = paginate(call, objects)
    return Reply([_render(call, "variation", o) for o in page], headers=headers)


def get_variation(call: Call) -> Reply:
    return Reply(_render(call, "variation", _variation_in(call, call.int_param("id"))))


def _create_variation_checked(call: Call, payload: dict[str, Any]) -> dict[str, Any]:
    parent = _parent_of(call)
    if parent is None:
        raise RestError(
            "woocommerce_rest_product_variation_invalid_parent",
            "Cannot set attributes due to invalid parent product.",
            {"status": 404},
        )
    if payload.get("id"):
        raise RestError(
            "woocommerce_rest_product_variation_exists", "Cannot create existing product_variation.", {"status": 400}
        )
    variation = create_variation(call.store, parent, payload)
    return _render(call, "variation", variation, "edit")


def create_variation_endpoint(call: Call) -> Reply:
    payload = call.body_dict()
    _check_strings(payload)
    data = _create_variation_checked(call, payload)
    parent_id = call.url_params["product_id"]
    return Reply(data, status=201, headers=_location(call, f"/products/{parent_id}/variations/{data['id']}"))


def _update_variation_checked(call: Call, variation_id: int, payload: dict[str, Any]) -> dict[str, Any]:
    variation = call.store.get("variation", variation_id)
    parent = _parent_of(call)
    if variation is None or parent is None or int(variation["parent_id"]) != int(parent["id"]):
        raise _invalid_id(400, "product_variation")
    saved = update_variation(call.store, parent, variation, payload)
    return _render(call, "variation", saved, "edit")


def update_variation_endpoint(call: Call) -> Reply:
    payload = call.body_dict()
    _check_strings(payload)
    return Reply(_update_variation_checked(call, call.int_param("id"), payload))


def _delete_variation_checked(call: Call, variation_id: int, force: bool) -> dict[str, Any]:
    variation = call.store.get("variation", variation_id)
    parent = _parent_of(call)
    if variation is None or parent is None or int(variation["parent_id"]) != int(parent["id"]):
        raise _invalid_id(404, "product_variation")
    before = _render(call, "variation", variation, "edit")
    _delete_variation(call.store, variation, force)
    return before


def delete_variation_endpoint(call: Call) -> Reply:
    return Reply(_delete_variation_checked(call, call.int_param("id"), _bool(call.params.get("force", False))))


def batch_variations(call: Call) -> Reply:
    return run_batch(
        call,
        lambda payload: _create_variation_checked(call, payload),
        lambda object_id, payload: _update_variation_checked(call, object_id, payload),
        lambda object_id: _delete_variation_checked(call, object_id, True),
    )


# -- product categories (/products/categories) -------------------------------------------------------------------
# Terms of the hierarchical product_cat taxonomy, as WC_REST_Product_Categories_Controller serves them.


def _category_name(name: str) -> str:
    """What wp_insert_term stores for a name: trimmed, and kses turns a bare ``&`` into ``&amp;``."""
    return re.sub(r"&(?!(?:[a-zA-Z]+|#\d+|#x[0-9a-fA-F]+);)", "&amp;", name.strip())


def category_to_rest(store: Store, category: Obj, rest_root: str, namespace: str = "wc/v3") -> dict[str, Any]:
    """GET /products/categories/{id}."""
    term_id = int(category["id"])
    count = sum(1 for p in store.all("product") if any(int(c["id"]) == term_id for c in p.get("categories", [])))
    links: dict[str, Any] = {
        "self": [{"href": f"{rest_root}{namespace}/products/categories/{term_id}"}],
        "collection": [{"href": f"{rest_root}{namespace}/products/categories"}],
    }
    if int(category.get("parent", 0)):
        links["up"] = [{"href": f"{rest_root}{namespace}/products/categories/{int(category['parent'])}"}]
    return {
        "id": term_id,
        "name": category.get("name", ""),
        "slug": category.get("slug", ""),
        "parent": int(category.get("parent", 0)),
        "description": category.get("description", ""),
        "display": category.get("display", "default"),
        "image": category.get("image"),
        "menu_order": int(category.get("menu_order", 0)),
        "count": count,
        "_links": links,
    }


def create_category(store: Store, payload: dict[str, Any]) -> Obj:
    """wp_insert_term() for product_cat: a name is required; the same name under the same parent is refused with
    ``term_exists`` (its ``resource_id`` is the existing term); a taken slug gets the parent's slug or -2, -3…"""
    name = _category_name(str(payload.get("name") or ""))
    if not name:
        raise RestError("empty_term_name", "A name is required for this term.", {"status": 400})
    parent = wc_stock_amount(payload.get("parent") or 0)
    if parent and store.get("category", parent) is None:
        raise RestError("missing_parent", "Parent term does not exist.", {"status": 400})
    slug = sanitize_title(str(payload.get("slug") or "")) or sanitize_title(name) or str(_next_term_id(store))
    for category in store.all("category"):
        same_name = str(category.get("name", "")).lower() == name.lower() or category.get("slug") == slug
        if same_name and int(category.get("parent", 0)) == parent:
            raise RestError(
                "term_exists",
                "A term with the name provided already exists with this parent.",
                {"status": 400, "resource_id": int(category["id"])},
            )
    taken = {str(c.get("slug")) for c in store.all("category")}
    if slug in taken:
        parent_obj = store.get("category", parent) if parent else None
        candidate = f"{slug}-{parent_obj['slug']}" if parent_obj is not None else slug
        index = 2
        base = candidate
        while candidate in taken:
            candidate = f"{base}-{index}"
            index += 1
        slug = candidate
    category = {
        "id": _next_term_id(store),
        "name": name,
        "slug": slug,
        "parent": parent,
        "description": str(payload.get("description") or ""),
        "display": "default",
        "image": None,
        "menu_order": wc_stock_amount(payload.get("menu_order") or 0),
    }
    return store.put("category", category)


def list_categories(call: Call) -> Reply:
    params = call.params
    found = list(call.store.all("category"))
    if params.get("search"):
        term = str(params["search"]).lower()
        found = [c for c in found if term in str(c.get("name", "")).lower() or term in str(c.get("slug", ""))]
    if params.get("parent") not in (None, ""):
        parent = wc_stock_amount(params["parent"])
        found = [c for c in found if int(c.get("parent", 0)) == parent]
    if params.get("slug"):
        found = [c for c in found if c.get("slug") == str(params["slug"])]
    include = _id_list(params.get("include"))
    if include:
        found = [c for c in found if int(c["id"]) in include]
    exclude = set(_id_list(params.get("exclude")))
    found = [c for c in found if int(c["id"]) not in exclude]
    orderby = str(params.get("orderby") or "name")
    keys: dict[str, Callable[[Obj], Any]] = {
        "id": lambda c: int(c["id"]),
        "include": lambda c: include.index(int(c["id"])) if int(c["id"]) in include else len(include),
        "name": lambda c: (str(c.get("name", "")).lower(), int(c["id"])),
        "slug": lambda c: (str(c.get("slug", "")), int(c["id"])),
        "term_group": lambda c: int(c["id"]),
        "description": lambda c: (str(c.get("description", "")), int(c["id"])),
    }
    found.sort(key=keys.get(orderby, keys["name"]), reverse=str(params.get("order") or "asc").lower() == "desc")
    page, headers = paginate(call, found)
    return Reply([category_to_rest(call.store, c, call.rest_root, call.namespace) for c in page], headers=headers)


def create_category_endpoint(call: Call) -> Reply:
    category = create_category(call.store, call.body_dict() or dict(call.params))
    data = category_to_rest(call.store, category, call.rest_root, call.namespace)
    return Reply(data, status=201, headers=_location(call, f"/products/categories/{category['id']}"))


def get_category(call: Call) -> Reply:
    category = call.store.get("category", call.int_param("id"))
    if category is None:
        raise RestError("woocommerce_rest_term_invalid", "Resource does not exist.", {"status": 404})
    return Reply(category_to_rest(call.store, category, call.rest_root, call.namespace))


# -- routes ------------------------------------------------------------------------------------------------------


def _item_permission(action: str) -> Callable[[Call], None]:
    """WooCommerce checks the capability only for an existing object; an unknown ID reaches the callback."""
    check = needs("posts", action)

    def permission(call: Call) -> None:
        object_id = int(call.url_params.get("id", 0))
        if get_product_or_variation(call.store, object_id) is None and call.user is not None:
            return
        check(call)

    return permission


def _list_args() -> dict[str, Arg]:
    return {
        **collection_args(orderby_enum=ORDERBY),
        **date_filter_args(),
        "parent": Arg("array"),
        "parent_exclude": Arg("array"),
        "status": Arg("string", default="any", enum=("any", *POST_STATUSES)),
        "stock_status": Arg("string", enum=STOCK_STATUSES),
        "featured": Arg("boolean"),
        "on_sale": Arg("boolean"),
    }


def _write_args() -> dict[str, Arg]:
    # Validated before the permission check, as WordPress does with the item schema.
    return {
        "stock_quantity": Arg("integer"),
        "low_stock_amount": Arg("integer"),
        "manage_stock": Arg("boolean"),
        "stock_status": Arg("string", enum=STOCK_STATUSES),
        "backorders": Arg("string", enum=BACKORDERS),
        "status": Arg("string", enum=POST_STATUSES),
        "menu_order": Arg("integer"),
    }


def register(router: Router) -> None:
    product_write = {**_write_args(), "type": Arg("string", enum=PRODUCT_TYPES)}
    list_args = {**_list_args(), "type": Arg("string", enum=PRODUCT_TYPES)}
    router.add(
        NAMESPACES,
        "/products",
        Endpoint(READABLE, list_products, needs("posts", "list"), list_args),
        Endpoint(("POST",), create_product_endpoint, needs("posts", "create"), product_write),
    )
    router.add(
        NAMESPACES,
        "/products/categories",
        Endpoint(
            READABLE,
            list_categories,
            needs("posts", "list"),
            {
                **collection_args(order="asc", orderby="name", orderby_enum=_CATEGORY_ORDERBY),
                "parent": Arg("integer"),
                "slug": Arg("string"),
                "hide_empty": Arg("boolean"),
                "product": Arg("integer"),
            },
        ),
        Endpoint(
            ("POST",),
            create_category_endpoint,
            needs("posts", "create"),
            {"name": Arg("string", required=True), "parent": Arg("integer"), "slug": Arg("string")},
        ),
    )
    router.add(
        NAMESPACES,
        r"/products/categories/(?P<id>[\d]+)",
        Endpoint(READABLE, get_category, needs("posts", "read"), {"context": Arg("string", enum=("view", "edit"))}),
    )
    router.add(
        NAMESPACES,
        "/products/batch",
        Endpoint(EDITABLE, batch_products, needs("posts", "batch")),
    )
    router.add(
        NAMESPACES,
        r"/products/(?P<id>[\d]+)",
        Endpoint(READABLE, get_product, _item_permission("read"), {"context": Arg("string", enum=("view", "edit"))}),
        Endpoint(EDITABLE, update_product_endpoint, _item_permission("edit"), product_write),
        Endpoint(DELETABLE, delete_product_endpoint, _item_permission("delete"), {"force": Arg("boolean")}),
    )
    variation_write = {**_write_args(), "manage_stock": Arg("string")}
    router.add(
        NAMESPACES,
        r"/products/(?P<product_id>[\d]+)/variations",
        Endpoint(READABLE, list_variations, needs("posts", "list"), _list_args()),
        Endpoint(("POST",), create_variation_endpoint, needs("posts", "create"), variation_write),
    )
    router.add(
        NAMESPACES,
        r"/products/(?P<product_id>[\d]+)/variations/batch",
        Endpoint(EDITABLE, batch_variations, needs("posts", "batch")),
    )
    router.add(
        NAMESPACES,
        r"/products/(?P<product_id>[\d]+)/variations/(?P<id>[\d]+)",
        Endpoint(
            READABLE, get_variation, _variation_permission("read"), {"context": Arg("string", enum=("view", "edit"))}
        ),
        Endpoint(EDITABLE, update_variation_endpoint, _variation_permission("edit"), variation_write),
        Endpoint(DELETABLE, delete_variation_endpoint, _variation_permission("delete"), {"force": Arg("boolean")}),
    )
