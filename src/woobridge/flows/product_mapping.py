"""ERP items ↔ WooCommerce products, as pure functions (no I/O): what a product should look like, which of its
fields differ from the store's, and the store's catalog read back as items for the first import.

Comparisons follow what WooCommerce does to what it is sent, so that a value it merely reformatted is not a
change: descriptions come back wrapped in ``<p>`` (``wpautop``), prices and weights are strings in any format
(``"5"``, ``"5.00"``), category names come back HTML-escaped (``&amp;``), and images are copied into the media
library under a new URL that keeps the file's name.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import unquote, urlsplit

from woobridge.documents import Item, ItemVariant

# What the products flow asks for when it reads the catalog: what it compares, a fraction of a product's size.
CATALOG_FIELDS = (
    "id,sku,name,type,status,description,short_description,regular_price,sale_price,weight,dimensions,"
    "categories,attributes,images,variations,date_modified_gmt"
)
VARIATION_FIELDS = "id,sku,status,regular_price,sale_price,weight,attributes,date_modified_gmt"

# Store statuses a product the ERP removed may keep: it is already out of the shop.
HIDDEN_STATUSES = frozenset({"draft", "pending", "private"})


class ItemInvalid(ValueError):
    """The ERP item cannot become a store product as it is; ``reason`` says what to fix on the ERP side."""

    def __init__(self, sku: str, reason: str) -> None:
        super().__init__(f"item {sku}: {reason}")
        self.sku = sku
        self.reason = reason


# -- comparing values the way WooCommerce stores them --------------------------------------------------------------


def plain_text(value: Any) -> str:
    """A description without what ``wpautop`` adds (``<p>``, ``<br />``) and with whitespace collapsed."""
    text = str(value or "")
    text = re.sub(r"</?p\s*>", "\n", text, flags=re.IGNORECASE)
    text = re.sub(r"<br\s*/?>", "\n", text, flags=re.IGNORECASE)
    return " ".join(text.split())


def same_text(store_value: Any, erp_value: str) -> bool:
    return plain_text(store_value) == plain_text(erp_value)


def store_amount(value: Any) -> Decimal | None:
    """A price or measure as the store sent it (a string, maybe empty) → Decimal, or None when empty or junk."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def same_amount(store_value: Any, erp_value: Decimal | None) -> bool:
    """``"5"`` and ``"5.00"`` are the same price; an empty store value equals None."""
    return store_amount(store_value) == erp_value


def amount_text(value: Decimal | None) -> str:
    """A price as WooCommerce takes it ("" clears the field): no exponent, at least cents (``"7.50"``)."""
    if value is None:
        return ""
    whole, _, fraction = format(value.normalize(), "f").partition(".")
    return f"{whole}.{fraction.ljust(2, '0')}"


def measure_text(value: Decimal | None) -> str:
    """A weight or dimension as WooCommerce takes it: no exponent, no trailing zeros (``"9.5"``)."""
    return "" if value is None else format(value.normalize(), "f")


def fold(name: str) -> str:
    """Attribute and category names are matched without regard to case, spacing or HTML escaping."""
    return " ".join(html.unescape(str(name)).split()).casefold()


def image_stem(url: str) -> str:
    """The file name an image keeps in the media library: ``…/front-1.JPG`` → ``front``, ``front-scaled`` →
    ``front`` (WordPress adds ``-1``, ``-scaled``, ``-150x150`` to copies)."""
    name = unquote(urlsplit(str(url)).path.rsplit("/", 1)[-1]).rsplit(".", 1)[0].lower()
    return re.sub(r"(-scaled|-\d+x\d+|-\d+)+$", "", name)


def same_images(store_images: Any, urls: Sequence[str]) -> bool:
    images = [i for i in store_images if isinstance(i, Mapping)] if isinstance(store_images, list) else []
    if len(images) != len(urls):
        return False
    return all(image_stem(str(i.get("src", ""))) == image_stem(u) for i, u in zip(images, urls, strict=True))


def product_status(item_status: str) -> str:
    return "publish" if item_status == "active" else "draft"


def variation_status(variant_status: str) -> str:
    """A variation is enabled (publish) or disabled (private): WooCommerce has no draft variation."""
    return "publish" if variant_status == "active" else "private"


# -- checking an item ---------------------------------------------------------------------------------------------


def check_item(item: Item) -> None:
    """Refuse an item WooCommerce would store wrongly or not at all (``ItemInvalid``): variants must pick one of
    the item's offered values for each of its attributes, have their own SKU, and differ from each other."""
    if not item.name.strip():
        raise ItemInvalid(item.sku, "has no name")
    offered = {fold(name): {fold(v) for v in values} for name, values in item.attributes.items()}
    skus: set[str] = {item.sku}
    combinations: set[tuple[tuple[str, str], ...]] = set()
    for variant in item.variants:
        if variant.sku in skus:
            raise ItemInvalid(item.sku, f"variant SKU {variant.sku!r} is used twice (SKUs are unique in the store)")
        skus.add(variant.sku)
        if not variant.attributes:
            raise ItemInvalid(item.sku, f"variant {variant.sku} has no attribute values")
        for name, value in variant.attributes.items():
            if fold(name) not in offered:
                raise ItemInvalid(
                    item.sku,
                    f"variant {variant.sku}: invalid attribute {name!r}, not one of the item's attributes "
                    f"({', '.join(item.attributes) or 'none'}); add it to items.attributes",
                )
            if fold(value) not in offered[fold(name)]:
                raise ItemInvalid(
                    item.sku,
                    f"variant {variant.sku}: invalid attribute value {name}={value!r}, not one of "
                    f"{list(item.attributes[_original(item, name)])}",
                )
        combination = tuple(sorted((fold(k), fold(v)) for k, v in variant.attributes.items()))
        if combination in combinations:
            raise ItemInvalid(item.sku, f"variant {variant.sku} repeats another variant's attribute values")
        combinations.add(combination)


def _original(item: Item, name: str) -> str:
    return next(key for key in item.attributes if fold(key) == fold(name))


# -- what a product should be --------------------------------------------------------------------------------------


def _attributes(item: Item) -> list[dict[str, Any]]:
    used = {fold(name) for variant in item.variants for name in variant.attributes}
    return [
        {
            "name": name,
            "position": position,
            "visible": True,
            "variation": fold(name) in used,
            "options": list(values),
        }
        for position, (name, values) in enumerate(item.attributes.items())
    ]


def _dimensions(item: Item) -> dict[str, str]:
    return {
        name: measure_text(value)
        for name, value in (("length", item.length), ("width", item.width), ("height", item.height))
        if value is not None
    }


def new_product(item: Item, category_id: int | None) -> dict[str, Any]:
    """The ``products/batch`` create body of an item (variations are written afterwards, under their parent)."""
    body: dict[str, Any] = {
        "sku": item.sku,
        "name": item.name,
        "type": "variable" if item.variants else "simple",
        "status": product_status(item.status),
        "description": item.description,
        "short_description": item.short_description,
    }
    if not item.variants:
        if item.regular_price is not None:
            body["regular_price"] = amount_text(item.regular_price)
        body["sale_price"] = amount_text(item.sale_price)
    if item.weight is not None:
        body["weight"] = measure_text(item.weight)
    if _dimensions(item):
        body["dimensions"] = _dimensions(item)
    if item.attributes:
        body["attributes"] = _attributes(item)
    if category_id is not None:
        body["categories"] = [{"id": category_id}]
    if item.image_urls:
        body["images"] = [{"src": url} for url in item.image_urls]
    return body


def category_matches(path: Sequence[str], store_categories: Any) -> bool:
    """Whether the product already sits in the path's last category (matched by name; an empty path: yes)."""
    if not path:
        return True
    names = {fold(c.get("name", "")) for c in store_categories or [] if isinstance(c, Mapping)}
    return fold(path[-1]) in names


def _attributes_match(item: Item, store_attributes: Any) -> bool:
    have: dict[str, tuple[frozenset[str], bool]] = {}
    for attribute in store_attributes or []:
        if isinstance(attribute, Mapping):
            options = frozenset(fold(o) for o in attribute.get("options") or [])
            have[fold(attribute.get("name", ""))] = (options, bool(attribute.get("variation")))
    want = {a["name"]: a for a in _attributes(item)}
    if {fold(name) for name in want} != set(have):
        return False
    for name, attribute in want.items():
        options, variation = have[fold(name)]
        if options != frozenset(fold(o) for o in attribute["options"]):
            return False
        if item.variants and variation != attribute["variation"]:
            return False
    return True


def product_changes(item: Item, product: Mapping[str, Any], category_id: int | None) -> dict[str, Any]:
    """The fields of the store's ``product`` that differ from the ``item`` (only those: an unchanged product gives
    ``{}``). ``category_id`` is the path's last category, needed only when :func:`category_matches` is false."""
    changes: dict[str, Any] = {}
    if product.get("name") != item.name and fold(product.get("name", "")) != fold(item.name):
        changes["name"] = item.name
    wanted_type = "variable" if item.variants else "simple"
    if product.get("type") != wanted_type:
        changes["type"] = wanted_type
    status = str(product.get("status", ""))
    if item.status == "active" and status != "publish":
        changes["status"] = "publish"
    elif item.status == "inactive" and status not in HIDDEN_STATUSES:
        changes["status"] = "draft"
    for field in ("description", "short_description"):
        if not same_text(product.get(field), getattr(item, field)):
            changes[field] = getattr(item, field)
    if not item.variants:
        if item.regular_price is not None and not same_amount(product.get("regular_price"), item.regular_price):
            changes["regular_price"] = amount_text(item.regular_price)
        if not same_amount(product.get("sale_price"), item.sale_price):
            changes["sale_price"] = amount_text(item.sale_price)
    if item.weight is not None and not same_amount(product.get("weight"), item.weight):
        changes["weight"] = measure_text(item.weight)
    dimensions = product.get("dimensions") if isinstance(product.get("dimensions"), Mapping) else {}
    assert isinstance(dimensions, Mapping)
    wanted_dimensions = {
        name: measure_text(value)
        for name, value in (("length", item.length), ("width", item.width), ("height", item.height))
        if value is not None and not same_amount(dimensions.get(name), value)
    }
    if wanted_dimensions:
        changes["dimensions"] = wanted_dimensions
    if item.attributes and not _attributes_match(item, product.get("attributes")):
        changes["attributes"] = _attributes(item)
    if not category_matches(item.category_path, product.get("categories")) and category_id is not None:
        changes["categories"] = [{"id": category_id}]
    if item.image_urls and not same_images(product.get("images"), item.image_urls):
        changes["images"] = [{"src": url} for url in item.image_urls]
    return changes


def hide_changes(product: Mapping[str, Any]) -> dict[str, Any]:
    """A product the ERP removed (inactive, or no longer in its items) becomes a draft; it is never deleted."""
    return {} if str(product.get("status", "")) in HIDDEN_STATUSES else {"status": "draft"}


# -- variations ----------------------------------------------------------------------------------------------------


def _variant_prices(item: Item, variant: ItemVariant) -> tuple[Decimal | None, Decimal | None, Decimal | None]:
    """A variant's regular price, sale price and weight. An empty price is the item's (WooCommerce has no price on
    a variable parent); an empty sale price means no sale; an empty weight is left empty, which WooCommerce reads
    as the parent's weight — the same meaning the ERP's table gives it."""
    regular = variant.regular_price if variant.regular_price is not None else item.regular_price
    return regular, variant.sale_price, variant.weight


def new_variation(item: Item, variant: ItemVariant) -> dict[str, Any]:
    regular, sale, weight = _variant_prices(item, variant)
    body: dict[str, Any] = {
        "sku": variant.sku,
        "status": variation_status(variant.status),
        "attributes": [{"name": _original(item, name), "option": value} for name, value in variant.attributes.items()],
        "sale_price": amount_text(sale),
    }
    if regular is not None:
        body["regular_price"] = amount_text(regular)
    if weight is not None:
        body["weight"] = measure_text(weight)
    return body


def variation_changes(item: Item, variant: ItemVariant, variation: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of a store variation that differ from the ERP variant (``{}``: nothing to send)."""
    regular, sale, weight = _variant_prices(item, variant)
    changes: dict[str, Any] = {}
    status = variation_status(variant.status)
    if variation.get("status") != status:
        changes["status"] = status
    if regular is not None and not same_amount(variation.get("regular_price"), regular):
        changes["regular_price"] = amount_text(regular)
    if not same_amount(variation.get("sale_price"), sale):
        changes["sale_price"] = amount_text(sale)
    if weight is not None and not same_amount(variation.get("weight"), weight):
        changes["weight"] = measure_text(weight)
    have = {
        fold(a.get("name", "")): fold(a.get("option", ""))
        for a in variation.get("attributes") or []
        if isinstance(a, Mapping)
    }
    want = {fold(name): fold(value) for name, value in variant.attributes.items()}
    if have != want:
        changes["attributes"] = new_variation(item, variant)["attributes"]
    return changes


def attributes_taken(sent: Mapping[str, Any], answer: Mapping[str, Any]) -> bool:
    """Whether the store kept every attribute value a variation was sent with (WooCommerce silently drops a value
    for an attribute the parent does not declare "used for variations")."""
    if "attributes" not in sent:
        return True
    kept = {fold(a.get("name", "")) for a in answer.get("attributes") or [] if isinstance(a, Mapping)}
    return all(fold(a["name"]) in kept for a in sent["attributes"])


# -- the store's catalog as ERP items (the first import) ---------------------------------------------------------


def category_paths(categories: Iterable[Mapping[str, Any]]) -> dict[int, tuple[str, ...]]:
    """Each category's path from the top (``{18: ("Clothing", "Shirts")}``), from the ``products/categories``
    list; names unescaped."""
    by_id = {int(c["id"]): c for c in categories if isinstance(c.get("id"), int)}
    paths: dict[int, tuple[str, ...]] = {}

    def path(term_id: int, seen: frozenset[int] = frozenset()) -> tuple[str, ...]:
        if term_id in paths:
            return paths[term_id]
        category = by_id.get(term_id)
        if category is None or term_id in seen:
            return ()
        parent = int(category.get("parent") or 0)
        found = (*path(parent, seen | {term_id}), html.unescape(str(category.get("name", ""))))
        paths[term_id] = found
        return found

    for term_id in by_id:
        path(term_id)
    return paths


def _status_of(store_status: Any) -> str:
    return "active" if store_status == "publish" else "inactive"


def item_from_store(
    product: Mapping[str, Any], variations: Sequence[Mapping[str, Any]], paths: Mapping[int, tuple[str, ...]]
) -> tuple[Item, list[str]]:
    """The store product (read with ``context=edit``: descriptions as entered) as an ERP item, and the problems
    that need a person (variations without a SKU, which are left out)."""
    problems: list[str] = []
    dimensions = product.get("dimensions") if isinstance(product.get("dimensions"), Mapping) else {}
    assert isinstance(dimensions, Mapping)
    categories = [c for c in product.get("categories") or [] if isinstance(c, Mapping)]
    deepest = max(
        (paths.get(int(c.get("id") or 0), ()) for c in categories),
        key=len,
        default=(),
    )
    if deepest == ("Uncategorized",):
        deepest = ()
    attributes = {
        html.unescape(str(a.get("name", ""))): tuple(str(o) for o in a.get("options") or [])
        for a in product.get("attributes") or []
        if isinstance(a, Mapping) and a.get("name")
    }
    variants: list[ItemVariant] = []
    for variation in variations:
        sku = str(variation.get("sku") or "").strip()
        if not sku:
            problems.append(f"variation {variation.get('id')} of product {product.get('sku')} has no SKU: left out")
            continue
        variants.append(
            ItemVariant(
                sku=sku,
                attributes={
                    html.unescape(str(a.get("name", ""))): str(a.get("option", ""))
                    for a in variation.get("attributes") or []
                    if isinstance(a, Mapping)
                },
                regular_price=store_amount(variation.get("regular_price")),
                sale_price=store_amount(variation.get("sale_price")),
                weight=store_amount(variation.get("weight")),
                status=_status_of(variation.get("status")),  # type: ignore[arg-type]
                store_variation_id=int(variation.get("id") or 0),
            )
        )
    item = Item(
        sku=str(product.get("sku") or "").strip(),
        name=html.unescape(str(product.get("name") or "")),
        description=str(product.get("description") or ""),
        short_description=str(product.get("short_description") or ""),
        regular_price=None if variants else store_amount(product.get("regular_price")),
        sale_price=None if variants else store_amount(product.get("sale_price")),
        weight=store_amount(product.get("weight")),
        length=store_amount(dimensions.get("length")),
        width=store_amount(dimensions.get("width")),
        height=store_amount(dimensions.get("height")),
        status=_status_of(product.get("status")),  # type: ignore[arg-type]
        category_path=deepest,
        attributes=attributes,
        variants=tuple(variants),
        image_urls=tuple(str(i.get("src")) for i in product.get("images") or [] if isinstance(i, Mapping)),
        store_product_id=int(product.get("id") or 0),
    )
    return item, problems
