"""Logging for woobridge: one setup for the command line, and a filter that keeps credentials out of every line.

The filter masks anything shaped like a WooCommerce consumer key (``ck_`` + 40 hex: shown as its fingerprint, the
last 7 characters, as WooCommerce itself does) or consumer secret (``cs_`` + 40 hex: never shown), credentials in
query strings (``consumer_key=``, ``consumer_secret=``, ``oauth_signature=``), ``Authorization: Basic`` values, and
any exact string registered with :func:`protect` (a secret that doesn't have the usual shape). It runs on the
handlers, so it covers every logger that propagates to the root: woobridge's, httpx's, alembic's.
"""

from __future__ import annotations

import logging
import re
import sys
from pathlib import Path

KEY_SHAPE = re.compile(r"\bck_([0-9a-fA-F]{33})([0-9a-fA-F]{7})\b")
SECRET_SHAPE = re.compile(r"\bcs_[0-9a-fA-F]{40}\b")
QUERY_CREDENTIAL = re.compile(r"(?i)\b(consumer_key|consumer_secret|oauth_signature)=([^&\s\"'<>]+)")
BASIC_CREDENTIAL = re.compile(r"(?i)\b(basic)\s+[A-Za-z0-9+/_-]{40,}=*")
REDACTED = "[redacted]"
# Registering very short strings would mask ordinary words; real secrets are never that short.
_SHORTEST_PROTECTED = 6

DEFAULT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_OURS = "_woobridge_handler"


def redact(text: str, known: frozenset[str] | set[str] = frozenset()) -> str:
    """``text`` with credentials masked (see the module docstring)."""
    for value in sorted(known, key=len, reverse=True):
        if value in text:
            text = text.replace(value, REDACTED)
    text = SECRET_SHAPE.sub("cs_" + REDACTED, text)
    text = KEY_SHAPE.sub(lambda m: f"ck_…{m.group(2)}", text)
    text = QUERY_CREDENTIAL.sub(lambda m: _mask_query(m), text)
    return BASIC_CREDENTIAL.sub(lambda m: f"{m.group(1)} {REDACTED}", text)


def _mask_query(match: re.Match[str]) -> str:
    name, value = match.group(1), match.group(2)
    if name.lower() == "consumer_key" and value.startswith("ck_…"):
        return match.group(0)  # already reduced to its fingerprint
    return f"{name}={REDACTED}"


class RedactingFilter(logging.Filter):
    """Rewrites each record's message (and traceback) with credentials masked, before any formatter sees it."""

    def __init__(self) -> None:
        super().__init__()
        self._known: set[str] = set()

    def __repr__(self) -> str:
        return f"RedactingFilter({len(self._known)} protected values)"

    def protect(self, value: str) -> None:
        if len(value) >= _SHORTEST_PROTECTED:
            self._known.add(value)

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage(), self._known)
        record.args = ()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text, self._known)
        if record.stack_info:
            record.stack_info = redact(record.stack_info, self._known)
        return True


def protect(value: str) -> None:
    """Mask ``value`` wherever it appears in log output from now on (for secrets of an unusual shape)."""
    for handler in logging.getLogger().handlers:
        for flt in handler.filters:
            if isinstance(flt, RedactingFilter):
                flt.protect(value)


def setup_logging(level: str | int = logging.WARNING, *, log_file: Path | None = None) -> None:
    """Send log records to stderr (and ``log_file``) at ``level``, through the redacting filter.

    Calling it again replaces what an earlier call installed (tests run many commands in one process)."""
    numeric = logging.getLevelName(level.upper()) if isinstance(level, str) else level
    if not isinstance(numeric, int):
        raise ValueError(f"unknown log level {level!r}; use DEBUG, INFO, WARNING or ERROR")
    root = logging.getLogger()
    for handler in [h for h in root.handlers if getattr(h, _OURS, False)]:
        root.removeHandler(handler)
        handler.close()
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_file, encoding="utf-8"))
    redactor = RedactingFilter()
    for handler in handlers:
        setattr(handler, _OURS, True)
        handler.addFilter(redactor)
        handler.setFormatter(logging.Formatter(DEFAULT_FORMAT))
        root.addHandler(handler)
    root.setLevel(numeric)
