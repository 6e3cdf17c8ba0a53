"""Diagnosis codes: one stable code per thing that can keep woobridge from connecting to a store.

Codes never change meaning once released; new situations get new codes. Families:

* ``WB1xx`` — the inputs (store URL, consumer key and secret), checked before anything is sent;
* ``WB2xx`` — reaching the store: DNS, TCP, TLS, timeouts, redirects;
* ``WB3xx`` — the API key: secret, revocation, permissions, the role of its owner;
* ``WB4xx`` — WordPress and WooCommerce setup: permalinks, plugin, versions, blocked REST API;
* ``WB5xx`` — the host is busy or failing: throttling, maintenance, server errors (retryable).

``DIAGNOSES`` maps each code to its title and fix; the README renders it as the table of diagnosis codes.
"""

from __future__ import annotations

from dataclasses import KW_ONLY, dataclass, field
from typing import Any

# code: (name, title, fix)
_TABLE: dict[str, tuple[str, str, str]] = {
    "WB101": (
        "https-required",
        "HTTPS required",
        "woobridge requires HTTPS; install a TLS certificate — Let's Encrypt is free — and use the https:// address.",
    ),
    "WB102": (
        "url-query-or-fragment",
        "Store URL has a query or fragment",
        "Give the store's address only, e.g. https://shop.example.com (no ?… or #…).",
    ),
    "WB103": (
        "url-invalid",
        "Store URL is not a web address",
        "Give the full address of the store, e.g. https://shop.example.com.",
    ),
    "WB104": (
        "key-format",
        "Consumer key is malformed",
        "Copy the Consumer key again from WooCommerce → Settings → Advanced → REST API: ck_ followed by 40 hex "
        "characters.",
    ),
    "WB105": (
        "secret-format",
        "Consumer secret is malformed",
        "Copy the Consumer secret again (it is shown only once, when the key is created; otherwise create a new "
        "key): cs_ followed by 40 hex characters.",
    ),
    "WB106": (
        "key-secret-swapped",
        "Consumer key and secret are swapped",
        "Give the value starting with ck_ as the Consumer key and the one starting with cs_ as the Consumer secret.",
    ),
    "WB201": (
        "dns-failure",
        "Store host name does not resolve (DNS)",
        "Check the spelling of the store URL; if it is right, check the domain's DNS records.",
    ),
    "WB202": (
        "connection-refused",
        "Connection refused",
        "Make sure the web server is running and serves HTTPS on this host and port; a store that only listens "
        "on plain HTTP needs a TLS certificate (Let's Encrypt is free).",
    ),
    "WB203": (
        "timeout",
        "The store did not answer in time",
        "Try again; if it keeps happening, the host or a firewall is slow or dropping connections — check the "
        "server, or raise the timeout.",
    ),
    "WB204": (
        "tls-self-signed",
        "TLS certificate is self-signed",
        "Install a certificate from a public CA (Let's Encrypt is free), or give woobridge the certificate with "
        "--ca-file if you trust it.",
    ),
    "WB205": (
        "tls-expired",
        "TLS certificate has expired (or is not valid yet)",
        "Renew the store's TLS certificate (and check the server's clock).",
    ),
    "WB206": (
        "tls-hostname-mismatch",
        "TLS certificate is for another host name",
        "Use the host name the certificate was issued for (often www. vs no www.), or get a certificate that "
        "covers this name.",
    ),
    "WB207": (
        "tls-unknown-ca",
        "TLS certificate is signed by an unknown authority",
        "Install the full certificate chain on the server, or give woobridge the CA with --ca-file.",
    ),
    "WB208": (
        "tls-failure",
        "TLS handshake failed",
        "Check the store's HTTPS setup (certificate, protocol versions) with an online SSL checker.",
    ),
    "WB209": (
        "connection-reset",
        "The connection was closed before the answer arrived",
        "Try again; if it persists, a firewall, proxy or PHP crash is cutting connections — check the server logs.",
    ),
    "WB210": (
        "redirect-other-origin",
        "The store redirects to another address",
        "Use the address the store redirects to as the Store URL (woobridge never sends keys across a redirect).",
    ),
    "WB211": (
        "redirect-to-http",
        "The store redirects HTTPS to plain HTTP",
        "Set WordPress Address and Site Address (Settings → General) to https:// and remove the redirect to http.",
    ),
    "WB301": (
        "wrong-secret",
        "Consumer secret is invalid (401 woocommerce_rest_authentication_error)",
        "Copy the Consumer secret again; if it is lost, revoke the key and create a new one (Settings → Advanced → "
        "REST API).",
    ),
    "WB302": (
        "key-not-recognised",
        "Consumer key not recognised: revoked, deleted or mistyped (401 woocommerce_rest_cannot_view)",
        "Check the key is still listed under WooCommerce → Settings → Advanced → REST API (its last 7 characters "
        "are shown); otherwise create a new key.",
    ),
    "WB303": (
        "authorization-header-stripped",
        "The web server drops the Authorization header (401 woocommerce_rest_cannot_view)",
        "Store the connection with query-string authentication, or make the server pass the header "
        "(Apache: CGIPassAuth On, or RewriteRule .* - [E=HTTP_AUTHORIZATION:%{HTTP:Authorization}]).",
    ),
    "WB304": (
        "insufficient-role",
        "The key's owner is not a Shop Manager or Administrator (403 woocommerce_rest_cannot_view)",
        "Create the key for a user with the Shop Manager or Administrator role (a dedicated integration user).",
    ),
    "WB305": (
        "read-only-key",
        "The key is Read-only but write flows are enabled",
        "Edit the key in WooCommerce → Settings → Advanced → REST API and set Permissions to Read/Write, or "
        "disable the flows that write.",
    ),
    "WB306": (
        "write-only-key",
        "The key is Write-only (401 does not have read permissions)",
        "Edit the key in WooCommerce → Settings → Advanced → REST API and set Permissions to Read/Write.",
    ),
    "WB307": (
        "https-not-detected",
        "WordPress does not see the connection as HTTPS (a proxy hides it), so it ignores the key",
        "Make the TLS-terminating proxy send X-Forwarded-Proto: https and have WordPress honour it (e.g. in "
        "wp-config.php: if X-Forwarded-Proto is https, set $_SERVER['HTTPS'] = 'on').",
    ),
    "WB308": (
        "cannot-write",
        "The key's owner may not change products (403 woocommerce_rest_cannot_batch)",
        "Create the key for a user with the Shop Manager or Administrator role.",
    ),
    "WB401": (
        "plain-permalinks",
        "Plain permalinks: the REST API is not reachable at /wp-json/",
        "In WordPress go to Settings → Permalinks → choose anything other than Plain, and save.",
    ),
    "WB402": (
        "woocommerce-not-found",
        "WooCommerce REST API not found (404 rest_no_route)",
        "Install and activate WooCommerce (Plugins), or check the Store URL points at the WordPress site that runs it.",
    ),
    "WB403": (
        "woocommerce-too-old",
        "WooCommerce older than 3.0: only the legacy /wc-api/ answers",
        "Update WooCommerce; woobridge needs WooCommerce 3.0 or later (3.5+ recommended).",
    ),
    "WB404": (
        "woocommerce-wc-v2",
        "WooCommerce 3.0–3.4: works on the older wc/v2 API",
        "Nothing to do: woobridge uses wc/v2. Updating WooCommerce to 3.5 or later enables wc/v3.",
    ),
    "WB405": (
        "rest-blocked",
        "The REST API is blocked by a security plugin or firewall",
        "Allow /wp-json/wc/ in the security plugin or web application firewall (or allow woobridge's IP address).",
    ),
    "WB406": (
        "not-woocommerce",
        "The address does not answer like a WordPress site",
        "Check the Store URL: it must be the address of the WordPress site (the one in Settings → General).",
    ),
    "WB501": (
        "rate-limited",
        "The host is throttling requests (429)",
        "Wait and try again; if it keeps happening, ask the host to raise the limit or allow woobridge's IP.",
    ),
    "WB502": (
        "unavailable",
        "The store is in maintenance or temporarily unavailable (503)",
        "Wait for the maintenance or update to finish and try again.",
    ),
    "WB503": (
        "server-error",
        "The store answered with a server error (5xx)",
        "Try again later; if it persists, check the PHP error log (WooCommerce → Status → Logs).",
    ),
    "WB599": (
        "unexpected",
        "Unexpected answer from the store",
        "Try again; if it persists, report it with the evidence shown (no secrets are included).",
    ),
}

DIAGNOSES: dict[str, tuple[str, str]] = {code: (title, fix) for code, (_, title, fix) in _TABLE.items()}
"""code → (title, fix), for documentation."""

NAMES: dict[str, str] = {code: name for code, (name, _, _) in _TABLE.items()}
"""code → short stable name, e.g. ``WB101`` → ``https-required``."""


def diagnosis_table_markdown() -> str:
    """The diagnosis codes as a Markdown table (code, name, what it means, fix), for the README."""
    lines = ["| Code | Name | What it means | Fix |", "|---|---|---|---|"]
    for code, (name, title, fix) in _TABLE.items():
        cells = [f"`{code}`", f"`{name}`", title, fix]
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return "\n".join(lines) + "\n"


@dataclass
class Diagnosis:
    """Why a store could not be connected: stable ``code``, one-line ``cause``, the ``fix`` and the ``evidence``."""

    code: str
    cause: str
    evidence: dict[str, Any] = field(default_factory=dict)
    _: KW_ONLY
    fix: str = ""
    title: str = ""
    retryable: bool = False
    retry_after: float | None = None
    suggest_query_auth: bool = False
    use_url: str | None = None

    def __post_init__(self) -> None:
        title, fix = DIAGNOSES[self.code]
        self.title = self.title or title
        self.fix = self.fix or fix

    @property
    def name(self) -> str:
        return NAMES[self.code]

    def __str__(self) -> str:
        return f"{self.code} {self.name}: {self.title}. {self.cause} Fix: {self.fix}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "name": self.name,
            "title": self.title,
            "cause": self.cause,
            "fix": self.fix,
            "evidence": dict(self.evidence),
            "retryable": self.retryable,
            "retry_after": self.retry_after,
            "suggest_query_auth": self.suggest_query_auth,
            "use_url": self.use_url,
        }
