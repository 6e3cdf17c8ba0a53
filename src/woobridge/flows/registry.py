"""Every flow woobridge supports, in one table: what it moves, which way, the key permission it needs, how often it
runs by default, which webhooks nudge it, and where its code lives.

A flow's code is found lazily in its own module (``woobridge.flows.orders`` …): a flow whose module does not exist
yet is listed as "not built yet" — the connector page shows it, it is never hidden and never scheduled.
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
    entry: str = "run"  # the function in the flow's module that runs it (see woobridge.service.scheduler)

    @property
    def permission(self) -> Permission:
        return FLOW_PERMISSIONS[self.name]

    @property
    def module(self) -> str:
        return f"woobridge.flows.{self.name}"

    def runner(self) -> Callable[..., Any] | None:
        """The function that runs this flow, or None when the flow is not built yet."""
        try:
            module = importlib.import_module(self.module)
        except ModuleNotFoundError as error:
            if error.name == self.module:
                return None
            raise  # the flow exists but something it imports is missing: that is a real error
        entry = getattr(module, self.entry, None)
        return entry if callable(entry) else None

    @property
    def built(self) -> bool:
        return self.runner() is not None


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
