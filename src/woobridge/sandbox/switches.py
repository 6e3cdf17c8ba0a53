"""Misconfigurations a real store can have, each a switch the tests and the CLI can flip.

Faults (latency, 429, dropped connections…) live in ``faults.py``; these are the settings and server setups
that the setup guide's diagnoses are about.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Literal

Permalinks = Literal["pretty", "plain"]
RestBlock = Literal["", "plugin", "waf"]


@dataclass
class Modes:
    # Settings → Permalinks: "plain" means /wp-json/ is not routed (301 then HTML) and only ?rest_route= works.
    permalinks: Permalinks = "pretty"
    # The web server drops the Authorization header (Apache CGI/FastCGI): Basic arrives as anonymous.
    strip_authorization: bool = False
    # A TLS-terminating proxy that does not tell WordPress: is_ssl() is false, Basic is silently skipped.
    https_not_detected: bool = False
    # The WooCommerce plugin is deactivated: wc/* namespaces are gone (rest_no_route).
    woocommerce_active: bool = True
    # A security plugin (401 rest_cannot_access) or a WAF (HTML 403 page) in front of the REST API.
    rest_blocked: RestBlock = ""
    # WordPress maintenance mode during updates: 503 with Retry-After: 600.
    maintenance: bool = False
    # Every request is redirected (301) to this origin, as a www ↔ non-www canonical host rule does.
    canonical_origin: str = ""
    # On a plain-HTTP listener: 301 every request to this https origin, as an nginx "return 301" does.
    redirect_to_https: str = ""
    # The Shipment Tracking extension is active (wc-shipment-tracking/v3 routes).
    shipment_tracking: bool = False

    def update(self, changes: dict[str, Any]) -> None:
        known = {f.name for f in fields(self)}
        unknown = set(changes) - known
        if unknown:
            raise ValueError(f"unknown mode(s): {', '.join(sorted(unknown))}; known: {', '.join(sorted(known))}")
        for name, value in changes.items():
            setattr(self, name, value)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split(".") if part.isdigit())


def wc_namespaces(wc_version: str, modes: Modes) -> set[str]:
    """The REST namespaces a store of this WooCommerce version registers (wc/v3 from 3.5, wc/v2 from 3.0)."""
    if not modes.woocommerce_active:
        return set()
    version = version_tuple(wc_version)
    namespaces: set[str] = set()
    if version >= (3, 0):
        namespaces |= {"wc/v1", "wc/v2"}
    if version >= (3, 5):
        namespaces.add("wc/v3")
    if modes.shipment_tracking:
        namespaces.add("wc-shipment-tracking/v3")
    return namespaces
