"""validate(): every diagnosis against the sandbox switch (or key) that produces it, in process over ASGI."""

from __future__ import annotations

import json
import logging
import secrets
from typing import Any

import httpx
import pytest

from woobridge.sandbox.app import Sandbox
from woobridge.sandbox.faults import FaultRule
from woobridge.sandbox.state import IssuedKey
from woobridge.sandbox.testing import IN_PROCESS_HOME, Keys
from woobridge.woo import Credentials, Validation, validate


async def connect(
    sandbox: Sandbox,
    key: IssuedKey,
    *,
    secret: str | None = None,
    auth: Any = "basic",
    store_url: str = IN_PROCESS_HOME,
    **options: Any,
) -> Validation:
    credentials = Credentials(store_url, key.consumer_key, secret or key.consumer_secret, auth=auth)
    return await validate(credentials, transport=httpx.ASGITransport(app=sandbox.app), **options)


def shown(validation: Validation) -> str:
    """Everything a user could see of the validation: its JSON and the diagnosis' text."""
    return json.dumps(validation.to_dict(), ensure_ascii=False) + " " + str(validation.diagnosis)


def code_of(validation: Validation) -> str | None:
    return validation.diagnosis.code if validation.diagnosis else None


# -- success ---------------------------------------------------------------------------------------------------


async def test_healthy_store_connects_in_three_requests_and_tells_about_itself(sandbox: Sandbox, keys: Keys) -> None:
    settings = sandbox.store.settings
    settings.currency, settings.decimals, settings.timezone, settings.hpos = "EUR", 3, "Europe/Berlin", False
    result = await connect(sandbox, keys.admin)
    assert result.ok, shown(result)
    assert result.requests <= 3
    assert result.elapsed < 2
    assert result.store is not None
    assert result.store.to_dict() == {
        "wc_version": "11.0.1",
        "wp_version": "7.1",
        "currency": "EUR",
        "decimals": 3,
        "timezone": "Europe/Berlin",
        "hpos": False,
        "plugins": [],
        "namespace": "wc/v3",
    }
    assert result.key_fingerprint == keys.admin.consumer_key[-7:]
    assert result.permission == "read_write"
    assert all(result.flows.values()) and "orders" in result.flows


async def test_shop_manager_key_connects(sandbox: Sandbox, keys: Keys) -> None:
    result = await connect(sandbox, keys.manager)
    assert result.ok and result.permission == "read_write"


async def test_integration_plugins_are_reported(sandbox: Sandbox, keys: Keys) -> None:
    sandbox.modes.shipment_tracking = True
    result = await connect(sandbox, keys.admin)
    assert result.store is not None and result.store.plugins == ["shipment-tracking"]


async def test_read_key_is_enough_when_no_flow_writes(sandbox: Sandbox, keys: Keys) -> None:
    result = await connect(sandbox, keys.read, need_write=False)
    assert result.ok
    assert result.permission == "read"
    assert result.flows["orders"] and result.flows["customers"]
    assert not result.flows["inventory"] and not result.flows["refunds"]


async def test_woocommerce_3_0_to_3_4_works_on_wc_v2_and_says_so(sandbox: Sandbox, keys: Keys) -> None:
    sandbox.store.settings.wc_version = "3.4.7"
    result = await connect(sandbox, keys.admin)
    assert result.ok, shown(result)
    assert result.store is not None and result.store.namespace == "wc/v2"
    assert any("WB404" in note and "wc/v2" in note for note in result.notes)


# -- the key ---------------------------------------------------------------------------------------------------


async def test_wrong_secret(sandbox: Sandbox, keys: Keys) -> None:
    wrong = "cs_" + secrets.token_hex(20)
    result = await connect(sandbox, keys.admin, secret=wrong)
    assert code_of(result) == "WB301"
    assert "401 woocommerce_rest_authentication_error" in shown(result)
    assert "Consumer secret is invalid." in shown(result)
    assert result.diagnosis is not None and result.diagnosis.evidence["status"] == 401
    assert wrong not in shown(result)


async def test_revoked_key_is_told_apart_from_a_stripped_header(sandbox: Sandbox, keys: Keys) -> None:
    sandbox.store.revoke_key(keys.admin.key_id)
    result = await connect(sandbox, keys.admin)
    assert code_of(result) == "WB302"
    assert "401 woocommerce_rest_cannot_view" in shown(result)
    assert result.diagnosis is not None and not result.diagnosis.suggest_query_auth
    assert result.diagnosis.evidence["status"] == 401
    assert result.diagnosis.evidence["code"] == "woocommerce_rest_cannot_view"
    assert keys.admin.consumer_key[-7:] in result.diagnosis.cause


async def test_unknown_key(sandbox: Sandbox, keys: Keys) -> None:
    stranger = IssuedKey(0, 0, "administrator", "read_write", "ck_" + secrets.token_hex(20), "cs_" + "0" * 40)
    assert code_of(await connect(sandbox, stranger)) == "WB302"


async def test_stripped_authorization_header_suggests_query_string_auth(sandbox: Sandbox, keys: Keys) -> None:
    sandbox.modes.strip_authorization = True
    result = await connect(sandbox, keys.admin)
    assert code_of(result) == "WB303"
    assert result.diagnosis is not None and result.diagnosis.suggest_query_auth
    assert result.auth == "query"
    # The rest of the checks ran with query-string credentials, so the store is described anyway.
    assert result.store is not None and result.permission == "read_write"
    assert keys.admin.consumer_secret not in shown(result)
    stored_that_way = await connect(sandbox, keys.admin, auth="query")
    assert stored_that_way.ok and stored_that_way.requests <= 3


async def test_proxy_hiding_https_from_wordpress(sandbox: Sandbox, keys: Keys) -> None:
    sandbox.modes.https_not_detected = True
    result = await connect(sandbox, keys.admin)
    assert code_of(result) == "WB307"
    assert "HTTPS" in shown(result)


@pytest.mark.parametrize("role", ["subscriber", "customer"])
async def test_key_owner_without_shop_manager_rights(sandbox: Sandbox, keys: Keys, role: str) -> None:
    result = await connect(sandbox, getattr(keys, role))
    assert code_of(result) == "WB304"
    assert "403 woocommerce_rest_cannot_view" in shown(result)
    assert "Shop Manager" in shown(result)


async def test_read_only_key_while_write_flows_are_on(sandbox: Sandbox, keys: Keys) -> None:
    products_before = len(sandbox.store.objects["product"])
    result = await connect(sandbox, keys.read, need_write=True)
    assert code_of(result) == "WB305"
    assert "Read/Write" in shown(result)
    assert result.permission == "read"
    assert result.store is not None  # the read part worked
    assert len(sandbox.store.objects["product"]) == products_before  # the write probe changed nothing


async def test_write_only_key(sandbox: Sandbox, keys: Keys) -> None:
    result = await connect(sandbox, keys.write)
    assert code_of(result) == "WB306"
    assert "does not have read permissions" in shown(result)
    assert result.permission == "write"
    assert not any(result.flows.values())


# -- WordPress and WooCommerce setup --------------------------------------------------------------------------


async def test_plain_permalinks(sandbox: Sandbox, keys: Keys) -> None:
    sandbox.modes.permalinks = "plain"
    result = await connect(sandbox, keys.admin)
    assert code_of(result) == "WB401"
    assert "Settings → Permalinks → choose anything other than Plain" in shown(result)
    assert result.diagnosis is not None and "rest_route" in result.diagnosis.evidence["discovery_link"]


async def test_woocommerce_inactive(sandbox: Sandbox, keys: Keys) -> None:
    sandbox.modes.woocommerce_active = False
    result = await connect(sandbox, keys.admin)
    assert code_of(result) == "WB402"
    assert "404 rest_no_route" in shown(result)
    assert result.diagnosis is not None and result.diagnosis.evidence.get("code") == "rest_no_route"


async def test_only_the_legacy_api_answers(sandbox: Sandbox, keys: Keys) -> None:
    sandbox.store.settings.wc_version = "2.6.14"
    result = await connect(sandbox, keys.admin)
    assert code_of(result) == "WB403"
    assert "2.6.14" in shown(result)


@pytest.mark.parametrize(("block", "status"), [("plugin", 401), ("waf", 403)])
async def test_rest_api_blocked(sandbox: Sandbox, keys: Keys, block: Any, status: int) -> None:
    sandbox.modes.rest_blocked = block
    result = await connect(sandbox, keys.admin)
    assert code_of(result) == "WB405"
    assert result.diagnosis is not None and result.diagnosis.evidence["status"] == status


# -- the host ------------------------------------------------------------------------------------------------


async def test_maintenance_is_retryable_and_says_when(sandbox: Sandbox, keys: Keys) -> None:
    sandbox.modes.maintenance = True
    result = await connect(sandbox, keys.admin)
    assert code_of(result) == "WB502"
    assert result.diagnosis is not None
    assert result.diagnosis.retryable and result.diagnosis.retry_after == 600
    assert "10 minutes" in result.diagnosis.cause


async def test_throttling_is_retryable_and_says_when(sandbox: Sandbox, keys: Keys) -> None:
    sandbox.faults.replace([FaultRule(kind="429", retry_after=30)])
    result = await connect(sandbox, keys.admin)
    assert code_of(result) == "WB501"
    assert result.diagnosis is not None and result.diagnosis.retryable and result.diagnosis.retry_after == 30
    assert "30 seconds" in result.diagnosis.cause


async def test_timeout(sandbox: Sandbox, keys: Keys) -> None:
    sandbox.faults.replace([FaultRule(kind="latency", ms=3000)])
    result = await connect(sandbox, keys.admin, timeout=0.2)
    assert code_of(result) == "WB203"
    assert result.diagnosis is not None and result.diagnosis.retryable


async def test_redirect_to_another_origin_names_the_url_to_use(sandbox: Sandbox, keys: Keys) -> None:
    sandbox.modes.canonical_origin = "https://www.shop.test"
    result = await connect(sandbox, keys.admin)
    assert code_of(result) == "WB210"
    assert result.diagnosis is not None and result.diagnosis.use_url == "https://www.shop.test"
    assert "https://www.shop.test" in result.diagnosis.fix
    assert result.requests == 1  # nothing was sent to the other origin


async def test_redirect_from_https_to_plain_http(sandbox: Sandbox, keys: Keys) -> None:
    sandbox.modes.canonical_origin = "http://shop.test"
    result = await connect(sandbox, keys.admin)
    assert code_of(result) == "WB211"
    assert result.requests == 1


async def test_http_store_url_sends_nothing(sandbox: Sandbox, keys: Keys) -> None:
    result = await connect(sandbox, keys.admin, store_url="http://shop.test")
    assert code_of(result) == "WB101" and result.requests == 0


async def test_secrets_stay_out_of_results_and_debug_logs(
    sandbox: Sandbox, keys: Keys, caplog: pytest.LogCaptureFixture
) -> None:
    sandbox.modes.strip_authorization = True  # makes the client put the secret into query strings
    with caplog.at_level(logging.DEBUG):
        results = [await connect(sandbox, keys.admin), await connect(sandbox, keys.admin, secret="cs_" + "1" * 40)]
    assert any("system_status" in record.getMessage() for record in caplog.records)
    for text in [*(shown(r) for r in results), caplog.text, *(repr(r) for r in results)]:
        assert keys.admin.consumer_secret not in text
        assert "cs_" + "1" * 40 not in text
