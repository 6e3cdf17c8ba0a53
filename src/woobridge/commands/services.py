"""What the connection commands work with: the state database, the vault, the validator and the clock.

Built from the environment for a real run; tests hand their own to the CLI (``CliRunner.invoke(app, args,
obj=Services(...))``), e.g. a validator that talks to an in-process sandbox. Opened lazily, closed by the command.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from woobridge.secrets import Vault, open_vault
from woobridge.state import Locations, StateDB

if TYPE_CHECKING:
    from woobridge.woo import Credentials, Validation

Validator = Callable[["Credentials", bool], Coroutine[Any, Any, "Validation"]]
StoreRequestObserver = Callable[[str, str, str, int | None, float, int], None]
"""``(connection, method, route, status, seconds, attempt)``: a ``WooClient`` ``on_request`` observer with the
connection's name in front; flows hand it to the clients they build (``woobridge.flows.context.client_for``)."""


async def validate_over_network(credentials: Credentials, need_write: bool) -> Validation:
    """The real thing: a signed request to the store's system_status (plus the probes a failure needs)."""
    from woobridge.woo import validate

    return await validate(credentials, need_write=need_write)


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class Services:
    locations: Locations
    environ: Mapping[str, str]
    validate: Validator = validate_over_network
    now: Callable[[], datetime] = _utcnow
    on_store_request: StoreRequestObserver | None = None  # serve: per-connection request metrics
    _state: StateDB | None = field(default=None, repr=False)
    _vault: Vault | None = field(default=None, repr=False)

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> Services:
        env = dict(os.environ if environ is None else environ)
        return cls(Locations.from_environment(env), env)

    def state(self) -> StateDB:
        """The state database, upgraded to the newest schema on first use."""
        if self._state is None:
            self._state = StateDB(self.locations.state_url)
        return self._state

    def vault(self) -> Vault:
        if self._vault is None:
            self._vault = open_vault(self.locations, self.environ)
        return self._vault

    def close(self) -> None:
        if self._state is not None:
            self._state.close()
            self._state = None
