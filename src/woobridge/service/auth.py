"""The admin login: one password (scrypt hash in the state database), server-side sessions, CSRF tokens and
throttling of failed sign-ins.

* The password is set with ``woobridge admin set-password``; only ``scrypt$n$r$p$salt$hash`` is stored.
* A session is a random token in an HttpOnly, SameSite=Lax cookie (Secure when served over TLS); the database keeps
  the token's SHA-256, a CSRF token and an expiry. Signing out deletes the row, so a stolen cookie dies with it.
* Every form carries the session's CSRF token (the sign-in form a token bound to a pre-session cookie), compared in
  constant time.
* After ``MAX_FAILURES`` failed sign-ins from one address within ``FAILURE_WINDOW``, that address waits
  ``LOCKOUT`` before it may try again — also with the right password.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from woobridge.state.service import AdminAccount, AdminSession, LoginThrottle

SESSION_COOKIE = "woobridge_session"
LOGIN_COOKIE = "woobridge_login"  # binds the sign-in form's CSRF token to the browser that loaded it
SESSION_LIFETIME = timedelta(hours=12)
MIN_PASSWORD_LENGTH = 12
MAX_FAILURES = 5
FAILURE_WINDOW = timedelta(minutes=15)
LOCKOUT = timedelta(minutes=15)

# scrypt's recommended interactive parameters: 16 MiB of memory and ~50 ms per check on a small server.
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**14, 8, 1
_SCRYPT_MAXMEM = 64 * 1024 * 1024


class PasswordTooWeak(ValueError):
    """The password was refused before it was stored."""


def hash_password(password: str) -> str:
    """``scrypt$N$r$p$salt$hash`` (salt and hash base64) for ``password``."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise PasswordTooWeak(f"the password must be at least {MIN_PASSWORD_LENGTH} characters long")
    salt = secrets.token_bytes(16)
    digest = _scrypt(password, salt, _SCRYPT_N, _SCRYPT_R, _SCRYPT_P)
    return "$".join(("scrypt", str(_SCRYPT_N), str(_SCRYPT_R), str(_SCRYPT_P), _b64(salt), _b64(digest)))


def verify_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches a hash made by :func:`hash_password` (constant-time comparison)."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        actual = _scrypt(password, base64.b64decode(salt), int(n), int(r), int(p))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(password.encode("utf-8"), salt=salt, n=n, r=r, p=p, maxmem=_SCRYPT_MAXMEM, dklen=32)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def tokens_match(given: str | None, expected: str) -> bool:
    """Constant-time comparison of a submitted token with the expected one."""
    return bool(given) and hmac.compare_digest(str(given).encode("utf-8"), expected.encode("utf-8"))


def login_csrf(login_cookie: str, key: bytes) -> str:
    """The sign-in form's CSRF token: an HMAC of the pre-session cookie, so a forged form can't carry one."""
    return hmac.new(key, login_cookie.encode("utf-8"), hashlib.sha256).hexdigest()


# -- the account -------------------------------------------------------------------------------------------------


def set_password(session: Session, password: str, now: datetime) -> None:
    """Store a new admin password (hashed) and sign every browser out."""
    hashed = hash_password(password)
    account = session.get(AdminAccount, 1)
    if account is None:
        session.add(AdminAccount(id=1, password_hash=hashed, changed_at=now))
    else:
        account.password_hash = hashed
        account.changed_at = now
    session.execute(delete(AdminSession))


def has_password(session: Session) -> bool:
    return session.get(AdminAccount, 1) is not None


# -- throttling --------------------------------------------------------------------------------------------------


def locked_until(session: Session, client: str, now: datetime) -> datetime | None:
    """When ``client`` may try again, or None if it may try now."""
    throttle = session.get(LoginThrottle, client)
    if throttle is None or throttle.locked_until is None or throttle.locked_until <= now:
        return None
    return throttle.locked_until


def record_failure(session: Session, client: str, now: datetime) -> datetime | None:
    """Count a failed sign-in; returns the lockout's end when this failure reached the limit."""
    throttle = session.get(LoginThrottle, client)
    if throttle is None or now - throttle.first_failure_at > FAILURE_WINDOW:
        if throttle is None:
            throttle = LoginThrottle(client=client)
            session.add(throttle)
        throttle.failures = 0
        throttle.first_failure_at = now
        throttle.locked_until = None
    throttle.failures += 1
    if throttle.failures >= MAX_FAILURES:
        throttle.locked_until = now + LOCKOUT
        throttle.failures = 0
        throttle.first_failure_at = now
        return throttle.locked_until
    return None


def clear_failures(session: Session, client: str) -> None:
    session.execute(delete(LoginThrottle).where(LoginThrottle.client == client))


# -- sessions ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SignedIn:
    """A valid session: its CSRF token goes into every form the page renders."""

    token_hash: str
    csrf_token: str


def sign_in(session: Session, password: str, now: datetime) -> str | None:
    """Check the password; on success open a session and return the cookie's token (else None)."""
    account = session.get(AdminAccount, 1)
    if account is None or not verify_password(password, account.password_hash):
        return None
    token = secrets.token_urlsafe(32)
    session.add(
        AdminSession(
            token_hash=token_hash(token),
            csrf_token=secrets.token_urlsafe(32),
            created_at=now,
            expires_at=now + SESSION_LIFETIME,
        )
    )
    # Forget expired sessions while we are here.
    session.execute(delete(AdminSession).where(AdminSession.expires_at < now))
    return token


def current(session: Session, token: str | None, now: datetime) -> SignedIn | None:
    """The session for a cookie token, if it exists and has not expired."""
    if not token:
        return None
    row = session.scalar(select(AdminSession).where(AdminSession.token_hash == token_hash(token)))
    if row is None or row.expires_at <= now:
        return None
    return SignedIn(row.token_hash, row.csrf_token)


def sign_out(session: Session, token: str | None) -> None:
    if token:
        session.execute(delete(AdminSession).where(AdminSession.token_hash == token_hash(token)))
