"""Checks before any request: the store URL, the key and secret, and how secrets are kept out of sight."""

from __future__ import annotations

import secrets

import pytest

from woobridge.woo import DIAGNOSES, Credentials, InputError, Secret, check_inputs, redact_url
from woobridge.woo.codes import NAMES, Diagnosis, diagnosis_table_markdown


def make_key() -> str:
    return "ck_" + secrets.token_hex(20)


def make_secret() -> str:
    return "cs_" + secrets.token_hex(20)


def refused(url: str, key: str | None = None, secret: str | None = None) -> Diagnosis:
    with pytest.raises(InputError) as caught:
        check_inputs(url, make_key() if key is None else key, make_secret() if secret is None else secret)
    return caught.value.diagnosis


def test_http_url_is_refused_with_the_guides_words_and_the_https_url_to_use() -> None:
    diagnosis = refused("http://shop.example.com")
    assert diagnosis.code == "WB101"
    assert "woobridge requires HTTPS" in diagnosis.fix
    assert "Let's Encrypt is free" in diagnosis.fix
    assert diagnosis.use_url == "https://shop.example.com"
    assert "nothing was sent" in diagnosis.cause


@pytest.mark.parametrize(
    ("given", "expected", "noted"),
    [
        ("https://shop.example.com", "https://shop.example.com", False),
        ("  https://Shop.Example.com/  ", "https://shop.example.com", True),
        ("https://shop.example.com/wp-json/wc/v3/system_status", "https://shop.example.com", True),
        ("https://shop.example.com/wp-json/", "https://shop.example.com", True),
        ("https://shop.example.com/wc-api/v3/", "https://shop.example.com", True),
        ("https://example.com/store/", "https://example.com/store", True),
        ("https://example.com/store/wp-admin/admin.php?page=wc-settings", None, None),
        ("https://example.com:443/store", "https://example.com/store", False),
        ("https://example.com:8443", "https://example.com:8443", False),
        ("shop.example.com", "https://shop.example.com", True),
    ],
)
def test_store_url_is_reduced_to_origin_and_subfolder(given: str, expected: str | None, noted: bool | None) -> None:
    if expected is None:
        assert refused(given).code == "WB102"
        return
    checked = check_inputs(given, make_key(), make_secret())
    assert checked.store_url == expected
    assert bool(checked.notes) is noted


def test_stripped_suffix_is_named_in_the_note() -> None:
    checked = check_inputs("https://shop.example.com/wp-json/wc/v3", make_key(), make_secret())
    assert any("/wp-json/wc/v3" in note for note in checked.notes)


@pytest.mark.parametrize("url", ["https://shop.example.com/?p=1", "https://shop.example.com/#top"])
def test_query_or_fragment_is_refused(url: str) -> None:
    assert refused(url).code == "WB102"


def test_query_with_credentials_is_refused_without_echoing_the_secret() -> None:
    secret = make_secret()
    diagnosis = refused(f"https://shop.example.com/wp-json/wc/v3/orders?consumer_key=x&consumer_secret={secret}")
    assert diagnosis.code == "WB102"
    assert secret not in str(diagnosis.to_dict())


@pytest.mark.parametrize("url", ["ftp://shop.example.com", "https://", "https://user:pw@shop.example.com", ""])
def test_not_a_store_address(url: str) -> None:
    assert refused(url).code == "WB103"


def test_whitespace_is_trimmed_from_key_and_secret() -> None:
    key, secret = make_key(), make_secret()
    checked = check_inputs("https://shop.example.com", f"  {key}\n", f"\t{secret} ")
    assert checked.consumer_key == key
    assert checked.consumer_secret.reveal() == secret
    assert any("whitespace" in note for note in checked.notes)


def test_swapped_key_and_secret_are_named() -> None:
    diagnosis = refused("https://shop.example.com", make_secret(), make_key())
    assert diagnosis.code == "WB106"
    assert "swapped" in diagnosis.title


@pytest.mark.parametrize(
    ("key", "why"),
    [
        ("ck_" + "a" * 39, "39 characters"),
        ("ck_" + "g" * 40, "0-9 and a-f"),
        ("xx_" + "a" * 40, "does not start with ck_"),
        ("", "empty"),
    ],
)
def test_malformed_key(key: str, why: str) -> None:
    diagnosis = refused("https://shop.example.com", key, make_secret())
    assert diagnosis.code == "WB104"
    assert why in diagnosis.cause


def test_malformed_secret_is_described_without_being_shown() -> None:
    secret = "cs_" + secrets.token_hex(19)
    diagnosis = refused("https://shop.example.com", make_key(), secret)
    assert diagnosis.code == "WB105"
    assert secret not in str(diagnosis) and secret[3:] not in str(diagnosis.to_dict())


def test_secret_is_masked_in_repr_str_and_format() -> None:
    value = make_secret()
    secret = Secret(value)
    assert value not in repr(secret) and value not in str(secret) and value not in f"{secret}"
    assert secret.reveal() == value
    credentials = Credentials("https://shop.example.com", make_key(), value)
    assert value not in repr(credentials)
    assert credentials.fingerprint in repr(credentials)
    assert isinstance(credentials.consumer_secret, Secret)
    checked = check_inputs("https://shop.example.com", make_key(), value)
    assert value not in repr(checked)


def test_urls_are_redacted_for_logs_and_errors() -> None:
    key, secret = make_key(), make_secret()
    shown = redact_url(
        f"https://shop.example.com/wp-json/wc/v3/orders?page=2&consumer_key={key}&consumer_secret={secret}"
    )
    assert secret not in shown
    assert key not in shown and key[-7:] in shown
    assert "page=2" in shown


def test_every_code_is_documented_with_a_title_a_fix_and_a_name() -> None:
    assert len(set(NAMES.values())) == len(NAMES)
    for code, (title, fix) in DIAGNOSES.items():
        assert code.startswith("WB") and len(code) == 5
        assert title and fix
    # The guide's four named errors are recognisable in the codes' text.
    titles = " ".join(title for title, _ in DIAGNOSES.values())
    for named in (
        "401 woocommerce_rest_authentication_error",
        "404 rest_no_route",
        "Connection refused",
        "403 woocommerce_rest_cannot_view",
    ):
        assert named in titles


def test_the_readme_table_lists_every_code() -> None:
    table = diagnosis_table_markdown()
    assert all(f"`{code}`" in table for code in DIAGNOSES)
    assert len(table.strip().splitlines()) == len(DIAGNOSES) + 2
