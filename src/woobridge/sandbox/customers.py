"""Placeholder: routes for customers are registered here."""

from __future__ import annotations

from woobridge.sandbox.wp import Router


def register(router: Router) -> None:
    del router
