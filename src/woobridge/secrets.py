"""Secrets at rest: consumer keys and secrets are encrypted with a master key before they reach the database.

The master key comes from ``WOOBRIDGE_MASTER_KEY`` (one or more Fernet keys, comma-separated: the first encrypts,
all decrypt, so the master key can be rotated) or, when that is unset, from a key file that is created with mode
0600 on first use. Encryption is Fernet (AES-128-CBC with HMAC-SHA256): a stored value cannot be read nor altered
without the master key, and tampering is detected on decryption.
"""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Mapping, Sequence
from pathlib import Path

from woobridge.state.locations import Locations, ensure_private_dir

MASTER_KEY_ENV = "WOOBRIDGE_MASTER_KEY"

log = logging.getLogger(__name__)

_GENERATE_HINT = 'python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"'


class MasterKeyError(Exception):
    """The master key is missing, malformed, or not the one the stored secrets were encrypted with."""


class Vault:
    """Encrypts and decrypts credentials with the master key. Its repr never shows the key."""

    def __init__(self, keys: Sequence[bytes], source: str) -> None:
        if not keys:
            raise MasterKeyError("no master key given")
        # Imported here, when a secret is to be sealed or unsealed: commands that never do (runs, errors, serve's
        # pages) do not load cryptography's bindings (~40 ms of start-up).
        from cryptography.fernet import Fernet, MultiFernet

        try:
            self._fernet = MultiFernet([Fernet(key) for key in keys])
        except ValueError:
            raise MasterKeyError(
                f"the master key from {source} is not a Fernet key (32 url-safe base64-encoded bytes). "
                f"Generate one with: {_GENERATE_HINT}"
            ) from None
        self.source = source

    def __repr__(self) -> str:
        return f"Vault(source={self.source!r})"

    def seal(self, plaintext: str) -> str:
        """Encrypt ``plaintext``; the result is ASCII and safe to store."""
        return self._fernet.encrypt(plaintext.encode("utf-8")).decode("ascii")

    def unseal(self, token: str, what: str = "a stored secret") -> str:
        """Decrypt a value made by :meth:`seal`; raises :class:`MasterKeyError` with the way out when it can't."""
        from cryptography.fernet import InvalidToken

        try:
            return self._fernet.decrypt(token.encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeError):
            raise MasterKeyError(
                f"cannot decrypt {what} with the master key from {self.source}: it was encrypted with another "
                "master key (or was altered). Restore the original master key, or connect again with a new key "
                "(woobridge rotate NAME)."
            ) from None


def open_vault(locations: Locations, environ: Mapping[str, str] | None = None) -> Vault:
    """The vault for this installation: keys from ``WOOBRIDGE_MASTER_KEY``, else the key file (created if absent)."""
    env = os.environ if environ is None else environ
    from_env = env.get(MASTER_KEY_ENV, "").strip()
    if from_env:
        keys = [part.strip().encode("ascii") for part in from_env.split(",") if part.strip()]
        return Vault(keys, f"${MASTER_KEY_ENV}")
    return Vault([_read_or_create_key_file(locations.master_key_file)], str(locations.master_key_file))


def _read_or_create_key_file(path: Path) -> bytes:
    ensure_private_dir(path.parent)
    try:
        # O_EXCL: two processes starting at once must not each write a different key.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read_key_file(path)
    from cryptography.fernet import Fernet

    key = Fernet.generate_key()
    with os.fdopen(fd, "wb") as handle:
        handle.write(key + b"\n")
    log.info("created master key file %s (mode 0600); back it up: without it stored secrets cannot be read", path)
    return key


def _read_key_file(path: Path) -> bytes:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        log.warning("master key file %s is readable by other users (mode %o); run: chmod 600 %s", path, mode, path)
    key = path.read_bytes().strip()
    if not key:
        raise MasterKeyError(f"master key file {path} is empty; restore it from your backup")
    return key
