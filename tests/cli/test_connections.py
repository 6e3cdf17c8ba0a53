"""``woobridge connect``, ``check``, ``rotate`` and ``connections`` against the in-process sandbox."""

from __future__ import annotations

import json
import secrets

import pytest
from click.testing import Result

from woobridge.commands import connections
from woobridge.sandbox.state import IssuedKey
from woobridge.sandbox.testing import Keys
from woobridge.state import Connection, StateDB
from woobridge.state.connections import get_connection

from .conftest import Cli, output, utc


def connect(cli: Cli, key: IssuedKey, *extra: str, name: str = "shop", url: str = "https://shop.test") -> Result:
    """``woobridge connect NAME --url URL --key ck_… --secret-stdin`` with the secret piped in."""
    args = ["connect", name, "--url", url, "--key", key.consumer_key, "--secret-stdin", *extra]
    return cli.run(*args, input=key.consumer_secret + "\n")


def stored(cli: Cli, name: str = "shop") -> Connection:
    """The connection as the state database has it now."""
    db = StateDB(f"sqlite:///{cli.home / 'state.sqlite'}")
    try:
        with db.session() as session:
            connection = get_connection(session, name)
            session.expunge(connection)
            return connection
    finally:
        db.close()


# -- connect --------------------------------------------------------------------------------------------------------


def test_a_healthy_store_connects_and_shows_what_system_status_told(cli: Cli, keys: Keys) -> None:
    result = connect(cli, keys.manager, url="https://shop.test/wp-json/")
    text = output(result)
    assert result.exit_code == 0, text
    for expected in ("WooCommerce  11.0.1", "Currency", "USD (2 decimals)", "Time zone", "HPOS", "Read/Write"):
        assert expected in text
    assert f"…{keys.manager.consumer_key[-7:]}" in text
    assert "fulfillment ✓" in text
    assert "Removed '/wp-json/'" in text
    assert "Saved connection 'shop'." in text
    connection = stored(cli)
    assert connection.store_url == "https://shop.test"
    assert connection.permission == "read_write"
    assert connection.key_fingerprint == keys.manager.consumer_key[-7:]
    assert connection.last_check_ok is True
    assert connection.store_info["wc_version"] == "11.0.1"


def test_connections_lists_names_urls_and_fingerprints_only(cli: Cli, keys: Keys) -> None:
    connect(cli, keys.manager)
    connect(cli, keys.admin, name="backoffice")
    listed = json.loads(cli.run("connections", "--json").stdout)
    assert listed == [
        {"name": "backoffice", "store_url": "https://shop.test", "fingerprint": keys.admin.consumer_key[-7:]},
        {"name": "shop", "store_url": "https://shop.test", "fingerprint": keys.manager.consumer_key[-7:]},
    ]
    table = cli.run("connections").stdout
    assert "backoffice" in table and f"…{keys.manager.consumer_key[-7:]}" in table
    assert keys.manager.consumer_key not in table


def test_plain_http_is_refused_before_anything_is_sent(cli: Cli, keys: Keys) -> None:
    result = connect(cli, keys.manager, url="http://shop.test")
    assert result.exit_code == 2
    assert "WB101" in result.stdout and "Let's Encrypt is free" in result.stdout
    assert json.loads(cli.run("connections", "--json").stdout) == []


def test_swapped_key_and_secret_are_named(cli: Cli, keys: Keys) -> None:
    result = cli.run(
        "connect",
        "shop",
        "--url",
        "https://shop.test",
        "--key",
        keys.manager.consumer_secret,
        "--secret-stdin",
        input=keys.manager.consumer_key + "\n",
    )
    assert result.exit_code == 2
    assert "WB106" in result.stdout and "swapped" in result.stdout


def test_a_wrong_secret_is_diagnosed_and_nothing_is_saved(cli: Cli, keys: Keys) -> None:
    result = cli.run(
        "connect",
        "shop",
        "--url",
        "https://shop.test",
        "--key",
        keys.manager.consumer_key,
        "--secret-stdin",
        input="cs_" + secrets.token_hex(20) + "\n",
    )
    assert result.exit_code == 1
    assert "WB301" in result.stdout and "woocommerce_rest_authentication_error" in result.stdout
    assert "not saved" in result.stdout
    assert json.loads(cli.run("connections", "--json").stdout) == []


def test_a_customer_key_is_diagnosed_as_lacking_the_role(cli: Cli, keys: Keys) -> None:
    result = connect(cli, keys.customer)
    assert result.exit_code == 1
    assert "WB304" in result.stdout and "woocommerce_rest_cannot_view" in result.stdout


def test_a_read_key_fails_when_write_flows_are_on_and_fits_read_only_flows(cli: Cli, keys: Keys) -> None:
    result = connect(cli, keys.read)
    assert result.exit_code == 4
    assert "WB305" in result.stdout and "Read/Write" in result.stdout
    result = connect(cli, keys.read, "--flows", "orders,customers")
    assert result.exit_code == 0, output(result)
    assert stored(cli).flows == ["orders", "customers"]


def test_a_read_write_key_for_reporting_only_gets_a_note(cli: Cli, keys: Keys) -> None:
    result = connect(cli, keys.manager, "--flows", "orders")
    assert result.exit_code == 0
    assert "Read is enough for reporting-only use" in result.stdout
    assert result.stdout.count("Read is enough") == 1


def test_unknown_flows_are_refused(cli: Cli, keys: Keys) -> None:
    result = connect(cli, keys.manager, "--flows", "orders,bananas")
    assert result.exit_code == 2
    assert "bananas" in output(result) and "fulfillment" in output(result)


def test_a_stripped_authorization_header_offers_query_string_auth(cli: Cli, keys: Keys) -> None:
    cli.sandbox.modes.strip_authorization = True
    refused = connect(cli, keys.manager)
    assert refused.exit_code == 1
    assert "WB303" in refused.stdout and "--query-auth" in refused.stdout
    accepted = connect(cli, keys.manager, "--query-auth")
    assert accepted.exit_code == 0, output(accepted)
    assert stored(cli).auth == "query"
    assert cli.run("check", "shop").exit_code == 0


def test_the_secret_can_come_from_the_environment_but_never_from_an_argument(cli: Cli, keys: Keys) -> None:
    result = cli.run(
        "connect",
        "shop",
        "--url",
        "https://shop.test",
        "--key",
        keys.manager.consumer_key,
        env={"WOOBRIDGE_CONSUMER_SECRET": keys.manager.consumer_secret},
    )
    assert result.exit_code == 0, output(result)
    missing = cli.run("connect", "other", "--url", "https://shop.test", "--key", keys.manager.consumer_key)
    assert missing.exit_code == 2
    assert "--secret-stdin" in output(missing) and "WOOBRIDGE_CONSUMER_SECRET" in output(missing)
    no_such_option = cli.run("connect", "x", "--url", "https://shop.test", "--key", "ck_", "--secret", "cs_")
    assert no_such_option.exit_code == 2


def test_an_existing_name_is_kept_unless_replaced(cli: Cli, keys: Keys) -> None:
    connect(cli, keys.manager)
    again = connect(cli, keys.admin)
    assert again.exit_code == 2 and "woobridge rotate shop" in output(again)
    assert connect(cli, keys.admin, "--replace").exit_code == 0
    assert stored(cli).key_fingerprint == keys.admin.consumer_key[-7:]


def test_maintenance_is_retryable(cli: Cli, keys: Keys) -> None:
    cli.sandbox.modes.maintenance = True
    result = connect(cli, keys.manager, "--json")
    assert result.exit_code == 5
    document = json.loads(result.stdout)
    assert document["diagnosis"]["code"] == "WB502" and document["diagnosis"]["retryable"] is True
    assert document["saved"] is False


def test_connect_json_says_everything_a_script_needs(cli: Cli, keys: Keys) -> None:
    result = connect(cli, keys.manager, "--json")
    document = json.loads(result.stdout)
    assert document["ok"] is True and document["saved"] is True and document["exit_code"] == 0
    assert document["fingerprint"] == keys.manager.consumer_key[-7:]
    assert document["permission"] == "read_write"
    assert document["store"]["currency"] == "USD"
    assert document["can_run"]["fulfillment"] is True
    assert document["requests"] <= 3


# -- check ----------------------------------------------------------------------------------------------------------


def test_check_warns_from_eleven_months_and_fails_past_twelve(cli: Cli, keys: Keys) -> None:
    cli.now = utc(2026, 1, 15)
    assert connect(cli, keys.manager, "--key-created", "2025-02-01").exit_code == 0
    warned = cli.run("check", "shop")
    assert warned.exit_code == 0
    assert "warning:" in warned.stdout and "rotate it before 2026-02-01" in warned.stdout
    cli.now = utc(2026, 2, 2)
    failed = cli.run("check", "shop", "--json")
    assert failed.exit_code == 3
    finding = json.loads(failed.stdout)["connections"][0]["findings"][0]
    assert finding["code"] == "key-too-old" and "rotate the key" in finding["message"]
    assert "woobridge rotate shop" in finding["message"]


def test_check_finds_a_revoked_key_and_records_it(cli: Cli, keys: Keys) -> None:
    connect(cli, keys.manager)
    cli.sandbox.store.revoke_key(keys.manager.key_id)
    result = cli.run("check")
    assert result.exit_code == 1
    assert "WB302" in result.stdout
    connection = stored(cli)
    assert connection.last_check_ok is False and connection.last_check_code == "WB302"


def test_check_says_when_the_key_has_less_than_the_flows_need(cli: Cli, keys: Keys) -> None:
    connect(cli, keys.manager)
    cli.sandbox.store.keys[keys.manager.key_id].permissions = "read"  # someone edited the key in WooCommerce
    result = cli.run("check", "shop")
    assert result.exit_code == 4
    assert "WB305" in result.stdout


def test_check_of_several_exits_with_the_worst(cli: Cli, keys: Keys) -> None:
    connect(cli, keys.manager)
    connect(cli, keys.admin, name="second")
    cli.sandbox.store.revoke_key(keys.admin.key_id)
    result = cli.run("check", "--json")
    document = json.loads(result.stdout)
    assert result.exit_code == 1 and document["exit_code"] == 1 and document["ok"] is False
    assert {c["name"]: c["ok"] for c in document["connections"]} == {"second": False, "shop": True}


def test_check_of_an_unknown_name_is_a_usage_error(cli: Cli, keys: Keys) -> None:
    connect(cli, keys.manager)
    result = cli.run("check", "nope")
    assert result.exit_code == 2 and "known: shop" in output(result)


def test_check_with_another_master_key_is_a_state_error(cli: Cli, keys: Keys) -> None:
    from cryptography.fernet import Fernet

    connect(cli, keys.manager)
    result = cli.run("check", "--json", env={"WOOBRIDGE_MASTER_KEY": Fernet.generate_key().decode()})
    assert result.exit_code == 6
    assert "another master key" in result.stdout


# -- rotate ---------------------------------------------------------------------------------------------------------


def test_rotate_replaces_the_key_only_after_the_new_one_validates(cli: Cli, keys: Keys) -> None:
    cli.now = utc(2026, 1, 15)
    too_old = connect(cli, keys.manager, "--key-created", "2024-12-01")
    assert too_old.exit_code == 3 and "not saved" in too_old.stdout
    connect(cli, keys.manager, "--key-created", "2025-02-01")
    cli.now = utc(2026, 3, 1)
    assert cli.run("check").exit_code == 3
    new = cli.sandbox.store.issue_key(cli.sandbox.store.users[keys.manager.user_id], "read_write")
    bad = cli.run("rotate", "shop", "--key", new.consumer_key, "--secret-stdin", input="cs_" + "0" * 40 + "\n")
    assert bad.exit_code == 1 and "WB301" in bad.stdout
    assert stored(cli).key_fingerprint == keys.manager.consumer_key[-7:]
    good = cli.run("rotate", "shop", "--key", new.consumer_key, "--secret-stdin", input=new.consumer_secret + "\n")
    assert good.exit_code == 0, output(good)
    assert f"…{keys.manager.consumer_key[-7:]} → …{new.consumer_key[-7:]}" in good.stdout
    connection = stored(cli)
    assert connection.key_fingerprint == new.consumer_key[-7:]
    assert connection.key_created_at == utc(2026, 3, 1)
    assert cli.run("check").exit_code == 0


def test_rotate_of_an_unknown_connection(cli: Cli, keys: Keys) -> None:
    result = cli.run("rotate", "nope", "--key", keys.manager.consumer_key, "--secret-stdin", input="x\n")
    assert result.exit_code == 2 and "none yet" in output(result)


def test_help_documents_the_exit_codes(cli: Cli) -> None:
    for command in ("connect", "check", "rotate"):
        text = cli.run(command, "--help").stdout
        assert "Exit codes" in text and "rotate the key" in text


def test_at_a_terminal_the_secret_is_prompted_for_hidden_and_query_auth_is_offered(
    cli: Cli, keys: Keys, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(connections, "_stdin_is_terminal", lambda: True)
    monkeypatch.setattr(connections, "_interactive", lambda: True)
    cli.sandbox.modes.strip_authorization = True
    args = ["connect", "shop", "--url", "https://shop.test", "--key", keys.manager.consumer_key]
    result = cli.run(*args, input=keys.manager.consumer_secret + "\ny\n")
    assert result.exit_code == 0, output(result)
    assert "Consumer secret (cs_…, input hidden):" in result.stdout
    assert keys.manager.consumer_secret not in result.stdout  # not echoed
    assert "query-string authentication?" in result.stdout
    assert stored(cli).auth == "query"
