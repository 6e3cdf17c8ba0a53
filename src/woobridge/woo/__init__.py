"""woobridge's WooCommerce side: the REST client, credential checks and connection diagnoses.

Public surface::

    Credentials, Secret                      what a connection needs (the secret is masked everywhere)
    check_inputs(url, key, secret)           normalize + check before anything is sent → CheckedInputs | InputError
    await validate(credentials, need_write=) connect and diagnose → Validation (.ok, .diagnosis, .store, …)
    DIAGNOSES                                code → (title, fix), the documented diagnosis codes
    WooClient                                the async REST client (pagination, batches, retries)
    WooError and subclasses                  the exception tree (see woobridge.woo.errors)
"""

from woobridge.flows import FLOW_PERMISSIONS
from woobridge.woo.auth import Credentials, Secret, fingerprint, redact_url
from woobridge.woo.client import (
    NO_RETRY,
    BatchItem,
    BatchResult,
    Page,
    RequestObserver,
    RetryPolicy,
    Timeouts,
    WooClient,
    WooResponse,
)
from woobridge.woo.codes import DIAGNOSES, NAMES, Diagnosis
from woobridge.woo.diagnose import StoreInfo, Validation, diagnose_error, flows_for, validate
from woobridge.woo.errors import (
    AuthenticationError,
    ConnectionRefused,
    ConnectionReset,
    DNSFailure,
    HTTPError,
    InsecureURL,
    InvalidResponse,
    NotFound,
    PermissionDenied,
    RateLimited,
    RedirectRefused,
    RequestTooLarge,
    ServerError,
    ServiceUnavailable,
    Timeout,
    TLSFailure,
    TransportError,
    WooError,
    WriteOutcomeUnknown,
)
from woobridge.woo.urls import CheckedInputs, InputError, check_inputs

__all__ = [
    "DIAGNOSES",
    "FLOW_PERMISSIONS",
    "NAMES",
    "NO_RETRY",
    "AuthenticationError",
    "BatchItem",
    "BatchResult",
    "CheckedInputs",
    "ConnectionRefused",
    "ConnectionReset",
    "Credentials",
    "DNSFailure",
    "Diagnosis",
    "HTTPError",
    "InputError",
    "InsecureURL",
    "InvalidResponse",
    "NotFound",
    "Page",
    "PermissionDenied",
    "RateLimited",
    "RedirectRefused",
    "RequestObserver",
    "RequestTooLarge",
    "RetryPolicy",
    "Secret",
    "ServerError",
    "ServiceUnavailable",
    "StoreInfo",
    "TLSFailure",
    "Timeout",
    "Timeouts",
    "TransportError",
    "Validation",
    "WooClient",
    "WooError",
    "WooResponse",
    "WriteOutcomeUnknown",
    "check_inputs",
    "diagnose_error",
    "fingerprint",
    "flows_for",
    "redact_url",
    "validate",
]
