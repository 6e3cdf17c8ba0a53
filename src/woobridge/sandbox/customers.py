"""Customers: WooCommerce 11.0.1's ``/customers`` controller over WordPress users.

A customer *is* a WordPress user (``store.users``: login, e-mail, role, names); what WooCommerce keeps in user meta
(billing and shipping addresses, ``paying_customer``, ``last_update``, custom meta) lives in
``store.objects["customer"]`` under the user's ID. A user created without a profile (an administrator, a key
owner) still lists, with empty addresses, as WordPress would show it.

Rules kept from WooCommerce: the list defaults to ``role=customer``, ``orderby=name``, ``order=asc`` and has no date
filters; ``email`` is required on create and must be unused; the username is derived from the e-mail when empty;
usernames cannot change; DELETE needs ``force=true``; batch needs ``promote_users`` (shop managers lack it); shop
managers may only edit or delete users with the customer role.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Callable
from functools import partial
from typing import Any

from woobridge.sandbox.products import run_batch
from woobridge.sandbox.state import ROLES, Obj, Store, User
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
    needs,
    paginate,
)

NAMESPACES = ("wc/v2", "wc/v3")
BILLING_FIELDS = (
    "first_name",
    "last_name",
    "company",
    "address_1",
    "address_2",
    "city",
    "postcode",
    "country",
    "state",
    "email",
    "phone",
)
SHIPPING_FIELDS = (
    "first_name",
    "last_name",
    "company",
    "address_1",
    "address_2",
    "city",
    "postcode",
    "country",
    "state",
    "phone",
)
# woocommerce_shop_manager_editable_roles: what a shop manager may edit or delete.
SHOP_MANAGER_EDITABLE_ROLES = ("customer",)
# Roles WordPress registers besides the ones the sandbox gives out: valid filter values, never matched.
_OTHER_WP_ROLES = ("editor", "author", "contributor")
_EMAIL = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")


def _user_error(code: str, message: str, status: int = 400) -> RestError:
    return RestError(code, message, {"status": status})


def _is_email(value: str) -> bool:
    """is_email(), near enough: a local part, an @ and a dotted domain."""
    return bool(_EMAIL.match(value)) and len(value) >= 6


def _email_owner(store: Store, email: str) -> User | None:
    """email_exists(): MySQL compares user_email case-insensitively."""
    wanted = email.strip().lower()
    return next((u for u in store.users.values() if u.email.lower() == wanted), None)


def _sanitize_user(login: str) -> str:
    """sanitize_user(strict): letters, digits, space, _ . - @ only."""
    return re.sub(r"[^A-Za-z0-9 _.\-@]", "", login).strip()


def _username_from_email(store: Store, email: str) -> str:
    """wc_create_new_customer_username(): the e-mail's local part; a taken one gets a random 4-digit suffix."""
    local, _, domain = email.partition("@")
    # Generic mailboxes say nothing about the person: WooCommerce uses the domain name instead.
    if local.lower() in ("sales", "hello", "mail", "contact", "info"):
        local = domain.split(".")[0]
    base = _sanitize_user(local).lower() or "customer"
    candidate = base
    taken = {u.login.lower() for u in store.users.values()}
    while candidate.lower() in taken:
        candidate = f"{base}-{secrets.randbelow(10000):04d}"
    return candidate


def empty_profile(user: User) -> Obj:
    """What WooCommerce shows for a user with no customer meta at all."""
    return {
        "id": user.id,
        "date_created_gmt": None,
        "date_modified_gmt": None,
        "billing": dict.fromkeys(BILLING_FIELDS, ""),
        "shipping": dict.fromkeys(SHIPPING_FIELDS, ""),
        "is_paying_customer": False,
        "meta_data": [],
    }


def profile_of(store: Store, user: User) -> Obj:
    """The user's customer profile (not stored until something writes it)."""
    return store.get("customer", user.id) or empty_profile(user)


def avatar_url(email: str) -> str:
    """get_avatar_url(): WordPress 6.8+ hashes the trimmed, lower-cased e-mail with SHA-256 for Gravatar."""
    digest = hashlib.sha256(email.strip().lower().encode()).hexdigest()
    return f"https://secure.gravatar.com/avatar/{digest}?s=96&d=mm&r=g"


def to_rest(
    store: Store,
    obj: Obj,
    rest_root: str,
    *,
    namespace: str = "wc/v3",
    viewer: User | None = None,
) -> dict[str, Any]:
    """GET /customers/{id}. ``obj`` is the customer profile (or any dict with the user's ``id``).

    v3 shows ``meta_data`` to administrators only; payloads built outside a request (webhooks) include it."""
    user = store.users.get(int(obj["id"]))
    if user is None:
        raise RestError("woocommerce_rest_invalid_id", "Invalid resource ID.", {"status": 404})
    profile = {**empty_profile(user), **(store.get("customer", user.id) or {}), **obj}
    billing = {**dict.fromkeys(BILLING_FIELDS, ""), **profile.get("billing", {})}
    shipping = {**dict.fromkeys(SHIPPING_FIELDS, ""), **profile.get("shipping", {})}
    data: dict[str, Any] = {
        "id": user.id,
        "date_created": store.settings.local(profile.get("date_created_gmt")),
        "date_created_gmt": profile.get("date_created_gmt"),
        "date_modified": store.settings.local(profile.get("date_modified_gmt")),
        "date_modified_gmt": profile.get("date_modified_gmt"),
        "email": user.email,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "role": user.role,
        "username": user.login,
        "billing": {k: billing[k] for k in BILLING_FIELDS},
        "shipping": {k: shipping[k] for k in SHIPPING_FIELDS},
        "is_paying_customer": bool(profile.get("is_paying_customer")),
        "avatar_url": avatar_url(user.email),
    }
    if namespace != "wc/v3" or viewer is None or viewer.role == "administrator":
        data["meta_data"] = [dict(m) for m in profile.get("meta_data", []) if not str(m.get("key", "")).startswith("_")]
    data["_links"] = {
        "self": [{"href": f"{rest_root}{namespace}/customers/{user.id}"}],
        "collection": [{"href": f"{rest_root}{namespace}/customers"}],
    }
    return data


# -- writing -----------------------------------------------------------------------------------------------------


def _apply_profile(store: Store, user: User, profile: Obj, payload: dict[str, Any]) -> None:
    """update_customer_meta_fields(): names, addresses (field by field) and meta."""
    if payload.get("first_name") is not None:
        user.first_name = str(payload["first_name"])
    if payload.get("last_name") is not None:
        user.last_name = str(payload["last_name"])
    for section, fields in (("billing", BILLING_FIELDS), ("shipping", SHIPPING_FIELDS)):
        given = payload.get(section)
        if isinstance(given, dict):
            current = {**dict.fromkeys(fields, ""), **profile.get(section, {})}
            for key in fields:
                if given.get(key) is not None:
                    current[key] = str(given[key])
            profile[section] = current
    if isinstance(payload.get("meta_data"), list):
        meta = profile.setdefault("meta_data", [])
        for item in payload["meta_data"]:
            if not isinstance(item, dict) or "key" not in item:
                continue
            existing = next((m for m in meta if m.get("key") == item["key"]), None)
            if existing is not None:
                existing["value"] = item.get("value")
            else:
                meta.append({"id": store.next_id("usermeta"), "key": item["key"], "value": item.get("value")})
    del store


def create_customer(store: Store, payload: dict[str, Any]) -> Obj:
    """POST /customers: a new user with the customer role and its profile; emits customer.created.

    Raises the errors wc_create_new_customer() gives (invalid or taken e-mail, taken username)."""
    email = str(payload.get("email") or "").strip()
    if not email or not _is_email(email):
        raise _user_error("registration-error-invalid-email", "Please provide a valid email address.")
    if _email_owner(store, email) is not None:
        raise _user_error(
            "registration-error-email-exists",
            "An account is already registered with your email address. "
            '<a href="#" class="showlogin">Please log in.</a>',
        )
    username = str(payload.get("username") or "").strip()
    if username:
        if _sanitize_user(username) != username or not username:
            raise _user_error("registration-error-invalid-username", "Please enter a valid account username.")
        if any(u.login.lower() == username.lower() for u in store.users.values()):
            raise _user_error(
                "registration-error-username-exists",
                "An account is already registered with that username. Please choose another.",
            )
    else:
        username = _username_from_email(store, email)
    user = store.add_user("customer", username, email)
    now = store.now_iso()
    profile = {**empty_profile(user), "date_created_gmt": now, "date_modified_gmt": now}
    _apply_profile(store, user, profile, payload)
    store.save_settings()  # persists users (the name is the store's; it writes all meta rows)
    saved = store.put("customer", profile)
    store.emit("customer", "created", user.id)
    return saved


def update_customer(store: Store, user: User, payload: dict[str, Any]) -> Obj:
    """PUT /customers/{id}: e-mail (unless another user has it), names, addresses, meta; emits customer.updated."""
    email = payload.get("email")
    if email:
        owner = _email_owner(store, str(email))
        if owner is not None and owner.id != user.id:
            raise _user_error("woocommerce_rest_customer_invalid_email", "Email address is invalid.")
        if not _is_email(str(email).strip()):
            raise _user_error("woocommerce_rest_customer_invalid_email", "Email address is invalid.")
    username = payload.get("username")
    if username and str(username) != user.login:
        raise _user_error("woocommerce_rest_customer_invalid_argument", "Username isn't editable.")
    profile = {**profile_of(store, user)}
    profile["billing"] = dict(profile.get("billing", {}))
    profile["shipping"] = dict(profile.get("shipping", {}))
    profile["meta_data"] = [dict(m) for m in profile.get("meta_data", [])]
    if email:
        user.email = str(email).strip()
    _apply_profile(store, user, profile, payload)
    profile["date_modified_gmt"] = store.now_iso()
    store.save_settings()
    saved = store.put("customer", profile)
    store.emit("customer", "updated", user.id)
    return saved


def delete_customer(store: Store, user: User) -> None:
    """wp_delete_user(): the user and its meta go; emits customer.deleted."""
    store.users.pop(user.id, None)
    store.remove("customer", user.id)
    store.save_settings()
    store.emit("customer", "deleted", user.id)


# -- request handling --------------------------------------------------------------------------------------------


def _render(call: Call, user: User) -> dict[str, Any]:
    return to_rest(call.store, profile_of(call.store, user), call.rest_root, namespace=call.namespace, viewer=call.user)


def _user_or_404(call: Call, message: str = "Invalid resource ID.") -> User:
    user = call.store.users.get(call.int_param("id"))
    if user is None:
        raise RestError("woocommerce_rest_invalid_id", message, {"status": 404})
    return user


def _id_list(value: Any) -> list[int]:
    if value in (None, ""):
        return []
    items = value if isinstance(value, list) else re.split(r"[\s,]+", str(value))
    return [int(i) for i in items if str(i).strip().lstrip("-").isdigit()]


def _display_name(user: User, store: Store) -> str:
    profile = store.get("customer", user.id) or {}
    return str(profile.get("display_name") or user.login)


def list_customers(call: Call) -> Reply:
    store = call.store
    params = call.params
    role = str(params.get("role") or "customer")
    users = list(store.users.values())
    if role != "all":
        users = [u for u in users if u.role == role]
    if params.get("email"):
        wanted = str(params["email"]).strip().lower()
        users = [u for u in users if u.email.lower() == wanted]
    if params.get("search"):
        # WP_User_Query wraps the term in *…*: a substring of login, e-mail, URL, nicename or display name.
        term = str(params["search"]).strip("*").lower()
        users = [
            u for u in users if any(term in field.lower() for field in (u.login, u.email, _display_name(u, store)))
        ]
    include = _id_list(params.get("include"))
    if include:
        users = [u for u in users if u.id in include]
    exclude = set(_id_list(params.get("exclude")))
    users = [u for u in users if u.id not in exclude]
    orderby = str(params.get("orderby") or "name")
    descending = str(params.get("order") or "asc").lower() == "desc"
    if orderby == "include" and include:
        users.sort(key=lambda u: include.index(u.id))
    elif orderby == "id":
        users.sort(key=lambda u: u.id, reverse=descending)
    elif orderby == "registered_date":
        users.sort(key=lambda u: (str(profile_of(store, u).get("date_created_gmt") or ""), u.id), reverse=descending)
    else:
        users.sort(key=lambda u: (_display_name(u, store).lower(), u.id), reverse=descending)
    page, headers = paginate(call, users)
    return Reply([_render(call, u) for u in page], headers=headers)


def get_customer(call: Call) -> Reply:
    return Reply(_render(call, _user_or_404(call)))


def _create_checked(call: Call, payload: dict[str, Any]) -> dict[str, Any]:
    if payload.get("id"):
        raise _user_error("woocommerce_rest_customer_exists", "Cannot create existing resource.")
    if not payload.get("email"):
        raise RestError(
            "rest_missing_callback_param", "Missing parameter(s): email", {"status": 400, "params": ["email"]}
        )
    profile = create_customer(call.store, payload)
    return _render(call, call.store.users[int(profile["id"])])


def create_customer_endpoint(call: Call) -> Reply:
    payload = call.body_dict() or {k: v for k, v in call.params.items() if k not in call.url_params}
    email = payload.get("email")
    if isinstance(email, str) and email and not _is_email(email.strip()):
        raise RestError(
            "rest_invalid_param",
            "Invalid parameter(s): email",
            {
                "status": 400,
                "params": {"email": "Invalid email address."},
                "details": {"email": {"code": "rest_invalid_email", "message": "Invalid email address.", "data": None}},
            },
        )
    data = _create_checked(call, payload)
    location = call.rest_url(f"/{call.namespace}/customers/{data['id']}")
    return Reply(data, status=201, headers=[("Location", location)])


def _update_checked(call: Call, user_id: int, payload: dict[str, Any]) -> dict[str, Any]:
    user = call.store.users.get(user_id)
    if user is None:
        raise _user_error("woocommerce_rest_invalid_id", "Invalid resource ID.")
    _check_manager_may_edit(call, user)
    update_customer(call.store, user, payload)
    return _render(call, user)


def update_customer_endpoint(call: Call) -> Reply:
    payload = call.body_dict() or {k: v for k, v in call.params.items() if k not in call.url_params}
    return Reply(_update_checked(call, call.int_param("id"), payload))


def _delete_checked(call: Call, user_id: int, force: bool, reassign: int | None = None) -> dict[str, Any]:
    if not force:
        raise RestError("woocommerce_rest_trash_not_supported", "Customers do not support trashing.", {"status": 501})
    user = call.store.users.get(user_id)
    if user is None:
        raise _user_error("woocommerce_rest_invalid_id", "Invalid resource id.")
    if reassign and (reassign == user_id or reassign not in call.store.users):
        raise _user_error("woocommerce_rest_customer_invalid_reassign", "Invalid resource id for reassignment.")
    before = _render(call, user)
    delete_customer(call.store, user)
    return before


def delete_customer_endpoint(call: Call) -> Reply:
    force = call.params.get("force") is True
    reassign = call.params.get("reassign")
    return Reply(_delete_checked(call, call.int_param("id"), force, int(reassign) if reassign else None))


def batch_customers(call: Call) -> Reply:
    return run_batch(
        call,
        partial(_create_checked, call),
        partial(_update_checked, call),
        lambda user_id: _delete_checked(call, user_id, True),
    )


# -- permissions -------------------------------------------------------------------------------------------------


def _check_manager_may_edit(call: Call, target: User) -> None:
    """Shop managers may only touch users whose role is in woocommerce_shop_manager_editable_roles."""
    actor = call.user
    if actor is not None and actor.role == "shop_manager" and target.role not in SHOP_MANAGER_EDITABLE_ROLES:
        raise RestError(
            "woocommerce_rest_cannot_edit", "Sorry, you are not allowed to edit this resource.", {"status": 403}
        )


def _item_permission(action: str) -> Callable[[Call], None]:
    check = needs("users", action)

    def permission(call: Call) -> None:
        check(call)
        if action in ("edit", "delete"):
            target = call.store.users.get(int(call.url_params.get("id", 0)))
            manager = call.user is not None and call.user.role == "shop_manager"
            if target is not None and manager and target.role not in SHOP_MANAGER_EDITABLE_ROLES:
                code = "woocommerce_rest_cannot_edit" if action == "edit" else "woocommerce_rest_cannot_delete"
                message = (
                    "Sorry, you are not allowed to edit this resource."
                    if action == "edit"
                    else "Sorry, you are not allowed to delete this resource."
                )
                raise RestError(code, message, {"status": 403})

    return permission


def register(router: Router) -> None:
    list_args = {
        **collection_args(order="asc", orderby="name", orderby_enum=("id", "include", "name", "registered_date")),
        "email": Arg("string"),
        "role": Arg("string", default="customer", enum=("all", *ROLES, *_OTHER_WP_ROLES)),
    }
    router.add(
        NAMESPACES,
        "/customers",
        Endpoint(READABLE, list_customers, needs("users", "list"), list_args),
        Endpoint(
            ("POST",),
            create_customer_endpoint,
            needs("users", "create"),
            {"email": Arg("string", required=True), "username": Arg("string"), "password": Arg("string")},
        ),
    )
    router.add(NAMESPACES, "/customers/batch", Endpoint(EDITABLE, batch_customers, needs("users", "batch")))
    router.add(
        NAMESPACES,
        r"/customers/(?P<id>[\d]+)",
        Endpoint(READABLE, get_customer, _item_permission("read"), {"context": Arg("string", enum=("view", "edit"))}),
        Endpoint(EDITABLE, update_customer_endpoint, _item_permission("edit"), {"email": Arg("string")}),
        Endpoint(
            DELETABLE,
            delete_customer_endpoint,
            _item_permission("delete"),
            {"force": Arg("boolean", default=False), "reassign": Arg("integer")},
        ),
    )
