"""Seed a sandbox store with a realistic, reproducible shop: catalogue, buyers, coupons, taxes and orders.

Everything is drawn from ``random.Random(seed)`` and dated relative to a fixed epoch (never the wall clock), so
the same arguments always give the same shop. Objects are built through the same public functions the REST
controllers use (``create_product``, ``create_variation``, ``create_customer``, ``create_order``), so seeded
data obeys the same rules as data a client creates: totals, stock, IDs, events.

It includes the awkward cases a connector meets in real shops: unicode names and addresses, guest buyers, a
line whose product was deleted since, an order with 200 lines, fees, coupons and shipping lines, and orders in
every status.
"""

from __future__ import annotations

import itertools
import random
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from woobridge.sandbox.state import Obj, Store, iso, parse_iso

# Seeded dates are laid out backwards from this instant (UTC), never from the wall clock.
EPOCH = datetime(2026, 11, 1, 9, 0, 0)
ORDER_SPAN_DAYS = 180

# (name, slug) — the catalogue's categories.
CATEGORIES = [
    ("Clothing", "clothing"),
    ("Books", "books"),
    ("Coffee & Tea", "coffee-tea"),
    ("Home", "home"),
    ("Accessories", "accessories"),
]

# What each category sells: nouns, a price range, and whether its products come in sizes and colours.
_CATALOGUE: dict[str, dict[str, Any]] = {
    "clothing": {
        "nouns": ["T-Shirt", "Hoodie", "Polo", "Sweater", "Cap", "Jacket", "Scarf", "Socks"],
        "prices": (9.0, 89.0),
        "variable": True,
    },
    "books": {
        "nouns": ["Cookbook", "Field Guide", "Novel", "Atlas", "Notebook", "Sketchbook"],
        "prices": (6.0, 39.0),
        "variable": False,
        "tax_class": "reduced-rate",
    },
    "coffee-tea": {
        "nouns": ["Espresso Beans", "Green Tea", "Filter Coffee", "Chai Blend", "Decaf Beans", "Matcha"],
        "prices": (5.0, 29.0),
        "variable": False,
    },
    "home": {
        "nouns": ["Mug", "Candle", "Cushion", "Vase", "Tea Towel", "Planter", "Coaster Set"],
        "prices": (4.0, 59.0),
        "variable": False,
    },
    "accessories": {
        "nouns": ["Tote Bag", "Keyring", "Wallet", "Water Bottle", "Sunglasses", "Umbrella"],
        "prices": (5.0, 69.0),
        "variable": True,
    },
}
_ADJECTIVES = [
    "Classic",
    "Organic",
    "Vintage",
    "Everyday",
    "Premium",
    "Recycled",
    "Handmade",
    "Nordic",
    "Coastal",
    "Urban",
    "Alpine",
    "Midnight",
]
_SIZES = ["XS", "S", "M", "L", "XL"]
_COLOURS = ["Black", "White", "Navy", "Forest", "Sand", "Red"]
# Names that test encodings end to end: accents, ligatures, CJK, RTL, emoji.
_UNICODE_PRODUCTS = [
    ("Café Crème – 250 g ☕", "coffee-tea"),
    ("Größe Übergrößen-Pullover", "clothing"),
    ("抹茶 Matcha 茶碗", "coffee-tea"),
    ("Crêpe Pan Ø 24 cm 🥞", "home"),
]

_FIRST = ["Jane", "John", "Maria", "Ahmed", "Chen", "Olivia", "Lucas", "Amara", "Noah", "Sofia", "Liam", "Mia"]
_FIRST += ["Ethan", "Ava", "Mateo", "Hana", "Yusuf", "Elena", "Kofi", "Ingrid", "Raj", "Chloe", "Diego", "Aiko"]
_LAST = ["Doe", "Smith", "Garcia", "Khan", "Wang", "Brown", "Martin", "Okafor", "Rossi", "Novak", "Kim", "Silva"]
_LAST += ["Müller", "Dubois", "Jensen", "Patel", "Cohen", "Nakamura", "Larsen", "Moreau", "Ivanova", "Costa"]
_UNICODE_PEOPLE = [
    ("Zoë", "Ångström-Łukasiewicz"),
    ("山田", "太郎"),
    ("José", "Peña Ñúñez"),
    ("Σοφία", "Παπαδοπούλου"),
    ("محمد", "الأحمد"),
    ("Renée", "O'Brien-Fàbregas"),
]
# (city, state, postcode, country, street, phone prefix)
_PLACES = [
    ("Austin", "TX", "78701", "US", "Congress Ave", "+1 512 555"),
    ("Houston", "TX", "77002", "US", "Main St", "+1 713 555"),
    ("Los Angeles", "CA", "90012", "US", "Spring St", "+1 213 555"),
    ("San Francisco", "CA", "94103", "US", "Market St", "+1 415 555"),
    ("Portland", "OR", "97204", "US", "SW Broadway", "+1 503 555"),
    ("New York", "NY", "10001", "US", "W 34th St", "+1 212 555"),
    ("Chicago", "IL", "60601", "US", "N Michigan Ave", "+1 312 555"),
    ("Paris", "", "75011", "FR", "Rue de la Roquette", "+33 1 55"),
    ("Berlin", "", "10115", "DE", "Invalidenstraße", "+49 30 555"),
    ("Toronto", "ON", "M5V 2T6", "CA", "King St W", "+1 416 555"),
    ("Tokyo", "", "150-0001", "JP", "Jingumae", "+81 3 5555"),
]
_EMAIL_DOMAINS = ["example.com", "example.org", "example.net"]
# (method id, title, paid online)
_PAYMENTS = [
    ("bacs", "Direct bank transfer", False),
    ("stripe", "Credit Card (Stripe)", True),
    ("paypal", "PayPal", True),
    ("cod", "Cash on delivery", False),
    ("cheque", "Check payments", False),
]
_SHIPPING = [("flat_rate", "Flat rate", "10.00"), ("free_shipping", "Free shipping", "0.00")]
_SHIPPING += [("local_pickup", "Local pickup", "0.00"), ("flat_rate", "Express", "24.90")]
# Status mix of a live shop's order list, most recent orders skewed to the open statuses below.
_STATUSES = [
    ("completed", 56),
    ("processing", 14),
    ("on-hold", 5),
    ("pending", 8),
    ("cancelled", 7),
    ("refunded", 4),
    ("failed", 4),
]
_PAID = {"processing", "completed", "refunded"}
_OPEN_RECENT = ["processing", "on-hold", "pending"]

# Tax rates as the captured store had them (REFERENCE: real-data/setup), plus two EU ones.
TAX_RATES = [
    {"country": "US", "state": "TX", "rate": "8.2500", "name": "TX Sales Tax", "priority": 1, "compound": False,
     "shipping": True, "class": "standard"},
    {"country": "US", "state": "TX", "rate": "5.0000", "name": "TX Reduced", "priority": 1, "compound": False,
     "shipping": False, "class": "reduced-rate"},
    {"country": "US", "state": "CA", "rate": "7.2500", "name": "CA State Tax", "priority": 1, "compound": False,
     "shipping": False, "class": "standard"},
    {"country": "US", "state": "CA", "rate": "1.5000", "name": "CA District Tax", "priority": 2, "compound": True,
     "shipping": False, "class": "standard"},
    {"country": "FR", "state": "", "rate": "20.0000", "name": "TVA", "priority": 1, "compound": False,
     "shipping": True, "class": "standard"},
    {"country": "DE", "state": "", "rate": "19.0000", "name": "MwSt", "priority": 1, "compound": False,
     "shipping": True, "class": "standard"},
]  # fmt: skip
COUPONS = [
    {"code": "welcome10", "discount_type": "percent", "amount": "10", "description": "10% off a first order"},
    {"code": "summer15", "discount_type": "percent", "amount": "15", "description": "Summer sale"},
    {"code": "5off", "discount_type": "fixed_cart", "amount": "5.00", "description": "5.00 off the cart"},
    {"code": "bigspender", "discount_type": "fixed_cart", "amount": "20.00", "description": "20.00 off over 150",
     "minimum_amount": "150.00"},
]  # fmt: skip


@dataclass
class SeedSummary:
    """What was created, and where the awkward cases are (tests and the demo point at them)."""

    categories: list[int] = field(default_factory=list)
    tax_rates: list[int] = field(default_factory=list)
    coupons: list[int] = field(default_factory=list)
    products: list[int] = field(default_factory=list)
    variations: list[int] = field(default_factory=list)
    customers: list[int] = field(default_factory=list)
    orders: list[int] = field(default_factory=list)
    deleted_product_id: int | None = None
    order_with_deleted_product: int | None = None
    big_order_id: int | None = None
    unicode_order_id: int | None = None

    def counts(self) -> dict[str, int]:
        return {
            "categories": len(self.categories),
            "tax rates": len(self.tax_rates),
            "coupons": len(self.coupons),
            "products": len(self.products),
            "variations": len(self.variations),
            "customers": len(self.customers),
            "orders": len(self.orders),
        }


def parse_seed_spec(spec: str) -> dict[str, int]:
    """``"products=50,orders=1000,customers=80"`` → keyword arguments for ``seed``."""
    allowed = {"products", "orders", "customers", "seed"}
    counts: dict[str, int] = {}
    for part in filter(None, (p.strip() for p in spec.split(","))):
        name, sep, value = part.partition("=")
        name = name.strip()
        if not sep or name not in allowed:
            raise ValueError(f"bad seed spec part {part!r}: expected name=number with name in {sorted(allowed)}")
        try:
            counts[name] = int(value)
        except ValueError:
            raise ValueError(f"bad seed spec part {part!r}: {value.strip()!r} is not a whole number") from None
        if counts[name] < 0:
            raise ValueError(f"bad seed spec part {part!r}: counts cannot be negative")
    return counts


def seed(store: Store, products: int = 40, orders: int = 200, customers: int = 30, seed: int = 1) -> SeedSummary:
    """Fill ``store`` with a reproducible shop; returns what was made. Call on an empty store."""
    # One transaction: a state file gets the whole shop in one commit, and a crash mid-seed leaves it as it was.
    with store.lock, store.transaction():
        return _Seeder(store, random.Random(seed)).run(products, orders, customers)


class _Seeder:
    def __init__(self, store: Store, rng: random.Random) -> None:
        from woobridge.sandbox import customers, orders, products

        self.store = store
        self.rng = rng
        self.products_mod = products
        self.customers_mod = customers
        self.orders_mod = orders
        self.summary = SeedSummary()
        self.category_by_slug: dict[str, int] = {}
        # What an order line can point at: (product_id, variation_id).
        self.sellable: list[tuple[int, int]] = []
        self.buyers: list[Obj] = []

    def run(self, products: int, orders: int, customers: int) -> SeedSummary:
        self.make_categories()
        self.make_tax_rates()
        self.make_coupons()
        self.make_products(products, orders)
        self.make_customers(customers)
        self.make_orders(orders)
        return self.summary

    # -- reference data: categories through the catalogue; tax rates and coupons stored in their REST shape ----

    def make_categories(self) -> None:
        known = {int(c["id"]) for c in self.store.all("category")}
        for name, slug in CATEGORIES:
            category = self.products_mod.ensure_category(self.store, name, slug)
            self.category_by_slug[slug] = int(category["id"])
            if int(category["id"]) not in known:
                self.summary.categories.append(int(category["id"]))

    def make_tax_rates(self) -> None:
        for order, rate in enumerate(TAX_RATES):
            rate_id = self.store.next_id("tax_rate")
            self.store.put(
                "tax_rate",
                {"id": rate_id, "postcode": "", "city": "", "order": order, "postcodes": [], "cities": [], **rate},
            )
            self.summary.tax_rates.append(rate_id)

    def make_coupons(self) -> None:
        created = iso(EPOCH - timedelta(days=ORDER_SPAN_DAYS + 30))
        for coupon in COUPONS:
            coupon_id = self.store.next_post_id()
            self.store.put(
                "coupon",
                {
                    "id": coupon_id,
                    "code": coupon["code"],
                    "amount": coupon["amount"],
                    "status": "publish",
                    "date_created_gmt": created,
                    "date_modified_gmt": created,
                    "discount_type": coupon["discount_type"],
                    "description": coupon["description"],
                    "date_expires_gmt": None,
                    "usage_count": 0,
                    "individual_use": False,
                    "product_ids": [],
                    "excluded_product_ids": [],
                    "usage_limit": None,
                    "usage_limit_per_user": None,
                    "limit_usage_to_x_items": None,
                    "free_shipping": False,
                    "product_categories": [],
                    "excluded_product_categories": [],
                    "exclude_sale_items": False,
                    "minimum_amount": coupon.get("minimum_amount", "0"),
                    "maximum_amount": "0",
                    "email_restrictions": [],
                    "used_by": [],
                    "meta_data": [],
                },
            )
            self.summary.coupons.append(coupon_id)

    # -- catalogue ----

    def make_products(self, count: int, orders: int) -> None:
        rng = self.rng
        slugs = list(_CATALOGUE)
        # Enough stock that the seeded orders (about 2.5 units each) never drive a product negative.
        stock_floor = max(20, (orders * 4) // max(count, 1))
        names_used: set[str] = set()
        category_names = {slug: name.lower() for name, slug in CATEGORIES}
        for index in range(count):
            slug = slugs[index % len(slugs)]
            if index < len(_UNICODE_PRODUCTS) and count >= 10:
                name, slug = _UNICODE_PRODUCTS[index]
            else:
                name = self._unique_name(_CATALOGUE[slug]["nouns"], names_used)
            spec = _CATALOGUE[slug]
            names_used.add(name)
            low, high = spec["prices"]
            price = f"{rng.randint(int(low), int(high))}.{rng.choice(['99', '95', '50', '00', '49'])}"
            sku = f"WB-{slug[:3].upper()}-{index + 1:04d}"
            variable = spec["variable"] and rng.random() < 0.45
            payload: dict[str, Any] = {
                "name": name,
                "type": "variable" if variable else "simple",
                "status": "publish",
                "sku": sku,
                # Plain text: WordPress adds the paragraphs (wpautop) as it does for the editor's content.
                "description": f"{name}: part of our {category_names[slug]} range.",
                "short_description": name,
                "categories": [{"id": self.category_by_slug[slug]}],
                "tax_class": spec.get("tax_class", ""),
                "weight": f"{rng.randint(1, 40) / 10:.1f}",
            }
            out_of_stock = not variable and rng.random() < 0.05
            if variable:
                sizes = sorted(rng.sample(_SIZES, rng.randint(2, 4)), key=_SIZES.index)
                colours = rng.sample(_COLOURS, rng.randint(1, 2))
                payload["attributes"] = [
                    {"name": "Size", "options": sizes, "visible": True, "variation": True},
                    {"name": "Colour", "options": colours, "visible": True, "variation": True},
                ]
            else:
                payload["regular_price"] = price
                if rng.random() < 0.15:
                    payload["sale_price"] = f"{float(price) * 0.8:.2f}"
                payload["manage_stock"] = True
                payload["stock_quantity"] = 0 if out_of_stock else stock_floor + rng.randint(0, 150)
            product = self.products_mod.create_product(self.store, payload)
            product_id = int(product["id"])
            self.summary.products.append(product_id)
            listed = EPOCH - timedelta(days=ORDER_SPAN_DAYS + 60 - index % 50)
            if variable:
                for size in payload["attributes"][0]["options"]:
                    for colour in payload["attributes"][1]["options"]:
                        variation = self.products_mod.create_variation(
                            self.store,
                            product,
                            {
                                "regular_price": price,
                                "sku": f"{sku}-{size}-{colour[:3].upper()}",
                                "attributes": [{"name": "Size", "option": size}, {"name": "Colour", "option": colour}],
                                "manage_stock": True,
                                "stock_quantity": stock_floor // 2 + rng.randint(0, 40),
                            },
                        )
                        self.summary.variations.append(int(variation["id"]))
                        self.sellable.append((product_id, int(variation["id"])))
                        self._backdate(variation, "variation", listed)
            elif not out_of_stock:
                self.sellable.append((product_id, 0))
            # After the variations: adding one touches the parent's date_modified.
            self._backdate(self.store.objects["product"][product_id], "product", listed)

    def _unique_name(self, nouns: list[str], used: set[str]) -> str:
        for _ in range(50):
            name = f"{self.rng.choice(_ADJECTIVES)} {self.rng.choice(nouns)}"
            if name not in used:
                return name
        return f"{self.rng.choice(_ADJECTIVES)} {self.rng.choice(nouns)} {len(used) + 1}"

    # -- buyers ----

    def _person(self, index: int) -> tuple[str, str]:
        if index % 17 == 3:
            return _UNICODE_PEOPLE[(index // 17) % len(_UNICODE_PEOPLE)]
        return self.rng.choice(_FIRST), self.rng.choice(_LAST)

    def _address(self, first: str, last: str, email: str) -> tuple[dict[str, str], dict[str, str]]:
        city, state, postcode, country, street, phone = self.rng.choice(_PLACES)
        line = f"{self.rng.randint(1, 999)} {street}"
        company = self.rng.choice(["", "", "", "Acme Corp", "Globex GmbH", "Initech"])
        billing = {
            "first_name": first,
            "last_name": last,
            "company": company,
            "address_1": line,
            "address_2": self.rng.choice(["", "", "", "Apt 4B", "Suite 210"]),
            "city": city,
            "state": state,
            "postcode": postcode,
            "country": country,
            "email": email,
            "phone": f"{phone} {self.rng.randint(100, 9999):04d}",
        }
        shipping = {k: v for k, v in billing.items() if k not in ("email", "phone")}
        shipping["phone"] = ""
        return billing, shipping

    def _email(self, first: str, last: str, index: int) -> str:
        ascii_name = unicodedata.normalize("NFKD", f"{first}.{last}").encode("ascii", "ignore").decode().lower()
        local = "".join(ch for ch in ascii_name if ch.isalnum() or ch == ".")
        local = local.strip(".") or "buyer"
        return f"{local}{index}@{self.rng.choice(_EMAIL_DOMAINS)}"

    def make_customers(self, count: int) -> None:
        for index in range(count):
            first, last = self._person(index)
            email = self._email(first, last, index + 1)
            billing, shipping = self._address(first, last, email)
            customer = self.customers_mod.create_customer(
                self.store,
                {
                    "email": email,
                    "first_name": first,
                    "last_name": last,
                    "username": email.split("@")[0],
                    "billing": billing,
                    "shipping": shipping,
                },
            )
            self.summary.customers.append(int(customer["id"]))
            self._backdate(customer, "customer", EPOCH - timedelta(days=ORDER_SPAN_DAYS + 20 - index % 20))
            self.buyers.append(customer)

    # -- orders ----

    def make_orders(self, count: int) -> None:
        if count <= 0 or not self.sellable:
            return
        rng = self.rng
        statuses, weights = zip(*_STATUSES, strict=True)
        special = self._special_slots(count)
        for index in range(count):
            # Oldest first, so IDs grow with dates as they do in a real shop.
            created = EPOCH - timedelta(seconds=int((count - index) * ORDER_SPAN_DAYS * 86400 / count))
            created += timedelta(seconds=rng.randint(0, 3600))
            recent = index >= count - max(3, count // 50)
            status = rng.choice(_OPEN_RECENT) if recent else rng.choices(statuses, weights)[0]
            kind = special.get(index)
            if kind is not None:
                status = "processing" if kind == "unicode" else "completed"
            payload = self._order_payload(index, status, kind)
            notes_before = len(self.store.objects["note"])
            order = self.orders_mod.create_order(self.store, payload)
            order_id = int(order["id"])
            self.summary.orders.append(order_id)
            new_notes = len(self.store.objects["note"]) - notes_before
            self._date_order(order, created, status, new_notes)
            if kind == "deleted-product":
                self._delete_product_of(order)
            elif kind == "big":
                self.summary.big_order_id = order_id
            elif kind == "unicode":
                self.summary.unicode_order_id = order_id

    def _special_slots(self, count: int) -> dict[int, str]:
        """Where the awkward orders go: spread out, never in the open-status tail."""
        if count < 4:
            return {}
        slots = {count // 5: "unicode", count // 3: "deleted-product"}
        if count >= 20:
            slots[count // 2] = "big"
        return slots

    def _order_payload(self, index: int, status: str, kind: str | None) -> dict[str, Any]:
        rng = self.rng
        guest = not self.buyers or rng.random() < 0.3 or kind == "unicode"
        if guest:
            if kind == "unicode":
                first, last = _UNICODE_PEOPLE[index % len(_UNICODE_PEOPLE)]
            else:
                first, last = self._person(index)
            email = self._email(first, last, 10_000 + index)
            billing, shipping = self._address(first, last, email)
            customer_id = 0
        else:
            buyer = rng.choice(self.buyers)
            customer_id = int(buyer["id"])
            billing = dict(buyer.get("billing") or {})
            shipping = dict(buyer.get("shipping") or {})
        method, title, online = rng.choice(_PAYMENTS)
        if kind == "big":
            picks = [self.sellable[i % len(self.sellable)] for i in range(200)]
        elif kind == "deleted-product":
            simple = [s for s in self.sellable if s[1] == 0]
            picks = [simple[-1]] if simple else [self.sellable[0]]
            picks += rng.sample(self.sellable, min(len(self.sellable), rng.randint(0, 2)))
        else:
            lines = min(len(self.sellable), rng.choices([1, 2, 3, 4, 6], [40, 30, 15, 10, 5])[0])
            picks = rng.sample(self.sellable, lines)
        line_items = []
        for product_id, variation_id in picks:
            line: dict[str, Any] = {"product_id": product_id, "quantity": rng.choices([1, 2, 3, 5], [70, 20, 7, 3])[0]}
            if variation_id:
                line["variation_id"] = variation_id
            line_items.append(line)
        ship_id, ship_title, ship_total = rng.choice(_SHIPPING)
        payload: dict[str, Any] = {
            "status": status,
            "customer_id": customer_id,
            "payment_method": method,
            "payment_method_title": title,
            "set_paid": status in _PAID,
            "billing": billing,
            "shipping": shipping,
            "line_items": line_items,
            "shipping_lines": [{"method_id": ship_id, "method_title": ship_title, "total": ship_total}],
        }
        if online and status in _PAID:
            payload["transaction_id"] = f"txn_{rng.getrandbits(48):012x}"
        if rng.random() < 0.06:
            payload["fee_lines"] = [
                rng.choice(
                    [
                        {"name": "Gift wrap", "total": "2.50", "tax_status": "taxable", "tax_class": ""},
                        {"name": "Cash on delivery fee", "total": "3.00", "tax_status": "none", "tax_class": ""},
                        {"name": "Loyalty discount", "total": "-5.00", "tax_status": "taxable", "tax_class": ""},
                    ]
                )
            ]
        if rng.random() < 0.12:
            payload["coupon_lines"] = [{"code": rng.choice(COUPONS[:3])["code"]}]
        if kind == "unicode":
            payload["customer_note"] = "Bitte vor 12 Uhr liefern — merci 🎁 ありがとう"
        elif rng.random() < 0.05:
            payload["customer_note"] = rng.choice(["Please leave at the door.", "Gift — no invoice in the box."])
        return payload

    def _date_order(self, order: Obj, created: datetime, status: str, new_notes: int) -> None:
        """Move an order's dates from "now" to its place in the shop's history (notes follow their order)."""
        now = parse_iso(order.get("date_created_gmt") or iso(created))
        delta = created - now
        for name, value in list(order.items()):
            if name.endswith("_gmt") and isinstance(value, str) and value:
                order[name] = iso(parse_iso(value) + delta)
        modified = created + timedelta(minutes=self.rng.randint(1, 90))
        if order.get("date_paid_gmt"):
            order["date_paid_gmt"] = iso(created + timedelta(minutes=self.rng.randint(0, 5)))
        if status == "completed":
            done = created + timedelta(days=self.rng.randint(1, 6), hours=self.rng.randint(0, 8))
            order["date_completed_gmt"] = iso(done)
            modified = done
        order["date_modified_gmt"] = iso(modified)
        self.store.put("order", order)
        # The notes create_order just added (status changes, stock) are the newest ones in the store.
        for note in itertools.islice(reversed(self.store.objects["note"].values()), new_notes):
            for name, value in list(note.items()):
                if name.endswith("_gmt") and isinstance(value, str) and value:
                    note[name] = iso(parse_iso(value) + delta)
            self.store.put("note", note)

    def _backdate(self, obj: Obj, kind: str, when: datetime) -> None:
        obj["date_created_gmt"] = iso(when)
        obj["date_modified_gmt"] = iso(when)
        self.store.put(kind, obj)

    def _delete_product_of(self, order: Obj) -> None:
        """The shop later deleted the first product of this order for good: the line stays, the product goes."""
        product_id = int(order["line_items"][0]["product_id"])
        self.store.remove("product", product_id)
        self.sellable = [s for s in self.sellable if s[0] != product_id]
        self.summary.deleted_product_id = product_id
        self.summary.order_with_deleted_product = int(order["id"])
