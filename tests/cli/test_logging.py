"""The redacting log filter: credentials never reach a log line, whatever logger or traceback carries them."""

from __future__ import annotations

import base64
import logging
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from woobridge.logging import protect, redact, setup_logging


@pytest.fixture
def log_file(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "woobridge.log"
    setup_logging("DEBUG", log_file=path)
    yield path
    setup_logging("WARNING")


def test_keys_keep_their_fingerprint_and_secrets_vanish() -> None:
    key, secret = "ck_" + secrets.token_hex(20), "cs_" + secrets.token_hex(20)
    line = redact(f"GET /wp-json/wc/v3/system_status?consumer_key={key}&consumer_secret={secret} key={key}")
    assert secret not in line and key not in line
    assert f"ck_…{key[-7:]}" in line
    assert "consumer_secret=[redacted]" in line


def test_basic_authorization_values_are_masked() -> None:
    key, secret = "ck_" + secrets.token_hex(20), "cs_" + secrets.token_hex(20)
    token = base64.b64encode(f"{key}:{secret}".encode()).decode()
    assert redact(f"Authorization: Basic {token}") == "Authorization: Basic [redacted]"
    assert redact("auth=basic authentication") == "auth=basic authentication"


def test_every_logger_and_traceback_goes_through_the_filter(log_file: Path) -> None:
    secret = "cs_" + secrets.token_hex(20)
    odd_secret = "not-shaped-like-a-secret-" + secrets.token_hex(8)
    protect(odd_secret)
    logging.getLogger("httpx").debug("request with %s", secret)
    try:
        raise RuntimeError(f"failed with {odd_secret}")
    except RuntimeError:
        logging.getLogger("woobridge.anything").exception("boom")
    written = log_file.read_text()
    assert "request with cs_[redacted]" in written
    assert "failed with [redacted]" in written
    assert secret not in written and odd_secret not in written


def test_setting_up_again_replaces_the_handlers(tmp_path: Path) -> None:
    setup_logging("INFO", log_file=tmp_path / "one.log")
    setup_logging("INFO")
    ours = [h for h in logging.getLogger().handlers if getattr(h, "_woobridge_handler", False)]
    assert len(ours) == 1
    setup_logging("WARNING")


def test_an_unknown_level_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown log level"):
        setup_logging("LOUD")
