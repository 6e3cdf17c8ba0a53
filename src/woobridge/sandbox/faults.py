"""Placeholder: fault injection."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]


class FaultPlan:
    async def run(self, scope: Scope, receive: Receive, send: Send, app: App) -> None:
        await app(scope, receive, send)
