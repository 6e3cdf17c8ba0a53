"""Where woobridge keeps its state on this machine.

Everything lives under one directory (``WOOBRIDGE_HOME``, default ``.woobridge`` in the working directory) unless
an environment variable points elsewhere: ``WOOBRIDGE_STATE_URL`` for the database (any SQLAlchemy URL, e.g. a
PostgreSQL server shared by several workers) and ``WOOBRIDGE_MASTER_KEY`` for the key that encrypts secrets.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

HOME_ENV = "WOOBRIDGE_HOME"
STATE_URL_ENV = "WOOBRIDGE_STATE_URL"
DEFAULT_HOME = ".woobridge"


@dataclass(frozen=True)
class Locations:
    """The state directory, the database URL and the master key file of one woobridge installation."""

    home: Path
    state_url: str

    @property
    def master_key_file(self) -> Path:
        return self.home / "master.key"

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> Locations:
        """Read ``WOOBRIDGE_HOME`` and ``WOOBRIDGE_STATE_URL`` (defaults: ``.woobridge/`` and a SQLite file in it)."""
        env = os.environ if environ is None else environ
        home = Path(env.get(HOME_ENV) or DEFAULT_HOME)
        url = env.get(STATE_URL_ENV) or f"sqlite:///{home / 'state.sqlite'}"
        return cls(home=home, state_url=url)


def ensure_private_dir(path: Path) -> None:
    """Create ``path`` readable by the owner only; it holds the master key and the credentials database."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
