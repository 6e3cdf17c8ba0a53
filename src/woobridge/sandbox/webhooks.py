"""Placeholder: webhook routes and deliveries."""

from __future__ import annotations

from typing import TYPE_CHECKING

from woobridge.sandbox.wp import Router

if TYPE_CHECKING:
    from woobridge.sandbox.app import Sandbox


class Deliverer:
    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox


def register(router: Router) -> None:
    del router
