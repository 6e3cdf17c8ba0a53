"""Every flow woobridge supports, in one table: what it moves, which way, the key permission it needs, how often it
runs by default, which webhooks nudge it, and where its code lives.

Each flow lives in its own module (``woobridge.flows.orders`` …), imported when the flow first runs, and offers the
same entry point there, which the scheduler (``woobridge.service.scheduler``) calls by keyword::

    async def run(db, connection, *, erp=None, services=None, holder=None, woo=None, ...) -> Report

``connection`` is the connection's name, ``erp`` an open ERP port, ``services`` the services of the CLI or of
``serve`` (``vault()``, ``environ``, ``on_store_request``), ``holder`` the lease holder's name; the run takes the
lease itself (``LeaseHeld`` when another run of the flow is going on). Each module also registers the handler that
retries its record errors (``@retry_handler(FLOW)``, see ``woobridge.flows.engine``).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from woobridge.flows import FLOW_PERMISSIONS, Permission

Direction = Literal["store → ERP", "ERP → store", "both ways"]


@dataclass(frozen=True)
class FlowSpec:
    """One flow: its name, direction, needed permission, default schedule and webhook topics."""

    name: str
    direction: Direction
    summary: str
    default_interval: int  # seconds
    topics: tuple[str, ...] = ()  # WooCommerce webhook topics that nudge this flow
    entry: str = "run"  # the function in the flow's module that runs it (see the module docstring)

    @property
    def permission(self) -> Permission:
        return FLOW_PERMISSIONS[self.name]

    @property
    def module(self) -> str:
        return f"woobridge.flows.{self.name}"

    def runner(self) -> Callable[..., Any]:
        """The function that runs this flow (its module is imported on first use)."""
        entry: object = getattr(importlib.import_module(self.module), self.entry, None)
        if not callable(entry):
            raise TypeError(f"{self.module} has no {self.entry}() entry point: see woobridge.flows.registry")
        return entry


MINUTE = 60

FLOWS: dict[str, FlowSpec] = {
    spec.name: spec
    for spec in (
        FlowSpec(
            "orders",
            "store → ERP",
            "New and changed orders become ERP sales orders.",
            5 * MINUTE,
            ("order.created", "order.updated"),
        ),
        FlowSpec(
            "fulfillment",
            "ERP → store",
            "Shipments from the ERP complete orders and add tracking numbers.",
            5 * MINUTE,
        ),
        FlowSpec(
            "refunds",
            "both ways",
            "Store refunds become credit memos; ERP credit memos become store refunds.",
            15 * MINUTE,
            ("order.updated",),
        ),
        FlowSpec(
            "inventory",
            "ERP → store",
            "Stock levels from the ERP update product and variation stock.",
            15 * MINUTE,
        ),
        FlowSpec(
            "products",
            "ERP → store",
            "Prices and product data from the ERP.",
            60 * MINUTE,
            ("product.updated",),
        ),
        FlowSpec(
            "customers",
            "store → ERP",
            "Customers become ERP customers.",
            60 * MINUTE,
            ("customer.created", "customer.updated"),
        ),
    )
}
"""flow name → its spec, in the order the connector page lists them."""

# Every flow the permission table knows is described here, and nothing else.
assert set(FLOWS) == set(FLOW_PERMISSIONS), "flows/registry.py and FLOW_PERMISSIONS list different flows"

WEBHOOK_TOPICS: tuple[str, ...] = (
    "order.created",
    "order.updated",
    "product.updated",
    "customer.created",
    "customer.updated",
)
"""The webhooks woobridge registers in a store when a public URL is configured."""


def flows_nudged_by(topic: str) -> list[str]:
    """The flows a delivery of ``topic`` should nudge (``order.updated`` → orders and refunds)."""
    return [spec.name for spec in FLOWS.values() if topic in spec.topics]


def get_flow(name: str) -> FlowSpec:
    """The spec of flow ``name``; raises KeyError naming the known flows."""
    try:
        return FLOWS[name]
    except KeyError:
        raise KeyError(f"unknown flow {name!r}; known flows: {', '.join(FLOWS)}") from None
