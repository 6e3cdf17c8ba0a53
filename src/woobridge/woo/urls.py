"""Checks on the store URL, consumer key and consumer secret, done before anything is sent.

The guide asks for the Store URL as a full origin (``https://shop.example.com``, no trailing slash); people paste
all sorts of things, so woobridge reduces what it gets to origin + path (the path only for WordPress installed in
a subfolder), says what it changed, and refuses what it cannot fix safely: plain HTTP (the key would travel in
clear), a query or fragment, malformed or swapped keys.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from woobridge.woo.auth import Secret, redact_url
from woobridge.woo.codes import Diagnosis

KEY_PATTERN = re.compile(r"ck_[0-9a-f]{40}")
SECRET_PATTERN = re.compile(r"cs_[0-9a-f]{40}")
HTTPS_REQUIRED = "woobridge requires HTTPS; install a TLS certificate — Let's Encrypt is free"

# Path suffixes people paste along with the store address; everything from them on is dropped.
_SUFFIXES = ("/wp-json", "/wc-api", "/wp-admin", "/wp-login.php", "/index.php")


class InputError(ValueError):
    """An input cannot be used; ``diagnosis`` says which, why and what to do. Nothing was sent."""

    def __init__(self, diagnosis: Diagnosis) -> None:
        super().__init__(str(diagnosis))
        self.diagnosis = diagnosis


@dataclass
class CheckedInputs:
    """Inputs ready to use: the normalized store URL, the trimmed key and secret, and what was changed."""

    store_url: str
    consumer_key: str
    consumer_secret: Secret
    notes: list[str] = field(default_factory=list)

    def __repr__(self) -> str:
        return f"CheckedInputs(store_url={self.store_url!r}, key='…{self.consumer_key[-7:]}', notes={self.notes!r})"


def normalize_store_url(raw: str) -> tuple[str, list[str]]:
    """The store URL as origin + optional subfolder path, and notes on what was changed. Raises InputError."""
    notes: list[str] = []
    text = raw.strip()
    if not text:
        raise InputError(Diagnosis("WB103", "The Store URL is empty."))
    if "://" not in text:
        text = "https://" + text
        notes.append(f"No scheme given: using {text}.")
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as error:
        raise InputError(Diagnosis("WB103", f"{redact_url(text)!r} is not a valid URL ({error}).")) from None
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    shown = redact_url(text)
    if scheme == "http":
        https_url = "https://" + text.split("://", 1)[1]
        raise InputError(
            Diagnosis(
                "WB101",
                f"The Store URL {shown} uses plain HTTP, where the API key would travel unencrypted; nothing was sent.",
                {"url": shown},
                fix=f"{HTTPS_REQUIRED}. Then use {redact_url(https_url)}.",
                use_url=redact_url(https_url.split("?")[0].split("#")[0]).rstrip("/"),
            )
        )
    if scheme != "https":
        raise InputError(Diagnosis("WB103", f"The Store URL {shown} is not an https:// address.", {"url": shown}))
    if not host:
        raise InputError(Diagnosis("WB103", f"The Store URL {shown} has no host name.", {"url": shown}))
    if parts.username is not None or parts.password is not None:
        raise InputError(
            Diagnosis("WB103", "The Store URL contains a user name or password; give the address only.", {})
        )
    if parts.query or parts.fragment or text.endswith(("?", "#")):
        raise InputError(
            Diagnosis(
                "WB102",
                f"The Store URL {shown} has a query string or fragment; woobridge needs the store's address only.",
                {"url": shown},
            )
        )
    path = parts.path
    lowered = path.lower()
    for suffix in _SUFFIXES:
        at = _segment_index(lowered, suffix)
        if at is not None:
            notes.append(f"Removed {path[at:]!r} from the Store URL: woobridge adds the API path itself.")
            path = path[:at]
            lowered = path.lower()
    if path.endswith("/"):
        notes.append("Removed the trailing slash from the Store URL.")
        path = path.rstrip("/")
    netloc = host if ":" not in host else f"[{host}]"
    if port is not None and port != 443:
        netloc += f":{port}"
    return f"https://{netloc}{path}", notes


def _segment_index(path: str, suffix: str) -> int | None:
    """Where ``suffix`` starts as a whole path segment in ``path`` (``/wp-json`` but not ``/wp-jsonx``)."""
    start = 0
    while True:
        at = path.find(suffix, start)
        if at < 0:
            return None
        end = at + len(suffix)
        if end == len(path) or path[end] in "/":
            return at
        start = at + 1


def _shape_problem(value: str, prefix: str) -> str | None:
    """What is wrong with a ck_/cs_ value, without repeating it."""
    if not value:
        return "it is empty"
    if not value.startswith(prefix):
        if value.lower().startswith(prefix):
            return f"it must start with {prefix} in lower case"
        return f"it does not start with {prefix}"
    body = value[len(prefix) :]
    if re.fullmatch(r"[0-9a-fA-F]*", body) is None:
        return "it contains characters other than 0-9 and a-f (a space or a quote copied along?)"
    if len(body) != 40:
        return f"it has {len(body)} characters after {prefix}; WooCommerce keys have 40"
    if body != body.lower():
        return "its hex characters must be lower case"
    return None


def check_inputs(store_url: str, consumer_key: str, consumer_secret: Secret | str) -> CheckedInputs:
    """Check and normalize what the merchant gave, before any request. Raises ``InputError(diagnosis)``."""
    url, notes = normalize_store_url(store_url)
    key = consumer_key.strip()
    raw_secret = consumer_secret.reveal() if isinstance(consumer_secret, Secret) else consumer_secret
    secret = raw_secret.strip()
    if key != consumer_key or secret != raw_secret:
        notes.append("Removed surrounding whitespace from the key or secret.")
    if key.startswith("cs_") and secret.startswith("ck_"):
        raise InputError(
            Diagnosis(
                "WB106",
                "The value given as Consumer key starts with cs_ and the one given as Consumer secret with ck_.",
            )
        )
    if key.startswith("cs_"):
        raise InputError(Diagnosis("WB106", "The value given as Consumer key starts with cs_: that is a secret."))
    if secret.startswith("ck_"):
        raise InputError(Diagnosis("WB106", "The value given as Consumer secret starts with ck_: that is a key."))
    problem = _shape_problem(key, "ck_")
    if problem:
        raise InputError(Diagnosis("WB104", f"The Consumer key is not ck_ followed by 40 hex characters: {problem}."))
    problem = _shape_problem(secret, "cs_")
    if problem:
        raise InputError(
            Diagnosis("WB105", f"The Consumer secret is not cs_ followed by 40 hex characters: {problem}.")
        )
    return CheckedInputs(url, key, Secret(secret), notes)


def origin_of(url: str) -> str:
    """scheme://host[:port] of a URL, lower-cased, default ports dropped."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    port = parts.port
    default = {"https": 443, "http": 80}.get(scheme)
    return f"{scheme}://{host}" + (f":{port}" if port is not None and port != default else "")


def store_url_from(url: str) -> str:
    """The store URL a REST or page URL belongs to: origin plus the path before /wp-json, /wc-api or /index.php."""
    parts = urlsplit(url)
    path = parts.path
    lowered = path.lower()
    for suffix in _SUFFIXES:
        at = _segment_index(lowered, suffix)
        if at is not None:
            path = path[:at]
            lowered = path.lower()
    return origin_of(url) + path.rstrip("/")
