"""Placeholder: the admin endpoint."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

if TYPE_CHECKING:
    from woobridge.sandbox.app import Sandbox


async def handle(sandbox: Sandbox, request: Request) -> Response:
    del sandbox, request
    return JSONResponse({"error": "not implemented"}, status_code=501)
