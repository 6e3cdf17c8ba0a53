"""The sandbox's admin endpoint (/__sandbox__/): token, modes, settings, faults, keys, clock, deliveries."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from woobridge.sandbox.app import Sandbox
from woobridge.sandbox.state import Settings, Store
from woobridge.sandbox.testing import IN_PROCESS_HOME, Keys


@pytest.fixture
def admin(sandbox: Sandbox) -> dict[str, str]:
    return {"X-Sandbox-Token": sandbox.admin_token}


async def test_every_admin_request_needs_the_token(sandbox: Sandbox, asgi_client: httpx.AsyncClient) -> None:
    for headers in ({}, {"X-Sandbox-Token": "wrong"}, {"X-Sandbox-Token": sandbox.admin_token[:-1]}):
        answer = await asgi_client.get("/__sandbox__/state", headers=headers)
        assert answer.status_code == 401
        assert answer.json()["code"] == "sandbox_unauthorized"
        assert "X-Sandbox-Token" in answer.json()["message"]
    answer = await asgi_client.put("/__sandbox__/modes", json={"maintenance": True})
    assert answer.status_code == 401
    assert sandbox.modes.maintenance is False


async def test_unknown_paths_and_methods_are_json_errors(asgi_client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    answer = await asgi_client.get("/__sandbox__/nothing", headers=admin)
    assert answer.status_code == 404
    assert "GET /__sandbox__/state" in answer.json()["data"]["endpoints"]
    answer = await asgi_client.delete("/__sandbox__/state", headers=admin)
    assert answer.status_code == 405
    assert answer.json()["data"]["allowed"] == ["GET"]
    answer = await asgi_client.put(
        "/__sandbox__/modes", content=b"{not json", headers={**admin, "Content-Type": "application/json"}
    )
    assert answer.status_code == 400
    assert answer.json()["code"] == "sandbox_invalid_json"


async def test_state_shows_modes_settings_faults_and_counts(
    sandbox: Sandbox, keys: Keys, asgi_client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    state = (await asgi_client.get("/__sandbox__/state", headers=admin)).json()
    assert state["modes"]["permalinks"] == "pretty"
    assert state["settings"]["home_url"] == IN_PROCESS_HOME
    assert state["settings"]["wc_version"] == "11.0.1"
    assert state["faults"] == {"seed": 0, "rules": []}
    assert state["fault_counts"] == {}
    assert state["counts"]["order"] == 0
    assert state["counts"]["users"] == 4
    assert state["counts"]["keys"] == 6
    assert "wc/v3" in state["namespaces"]
    assert state["clock"]["offset_seconds"] == 0


async def test_modes_are_updated_partially(
    sandbox: Sandbox, asgi_client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    answer = await asgi_client.put("/__sandbox__/modes", json={"maintenance": True}, headers=admin)
    assert answer.status_code == 200
    assert answer.json()["modes"]["maintenance"] is True
    assert answer.json()["modes"]["permalinks"] == "pretty"
    page = await asgi_client.get("/wp-json/")
    assert page.status_code == 503
    assert page.headers["retry-after"] == "600"

    await asgi_client.put("/__sandbox__/modes", json={"maintenance": False, "permalinks": "plain"}, headers=admin)
    assert (sandbox.modes.maintenance, sandbox.modes.permalinks) == (False, "plain")


@pytest.mark.parametrize(
    ("change", "code", "says"),
    [
        ({"maintenance": True, "pretty_please": 1}, "sandbox_unknown_mode", "pretty_please"),
        ({"permalinks": "fancy"}, "sandbox_invalid_mode", "'pretty', 'plain'"),
        ({"maintenance": "yes"}, "sandbox_invalid_mode", "true or false"),
        ({"canonical_origin": 5}, "sandbox_invalid_mode", "a string"),
    ],
)
async def test_bad_modes_are_refused_whole(
    sandbox: Sandbox,
    asgi_client: httpx.AsyncClient,
    admin: dict[str, str],
    change: dict[str, Any],
    code: str,
    says: str,
) -> None:
    answer = await asgi_client.put("/__sandbox__/modes", json=change, headers=admin)
    assert answer.status_code == 400
    assert answer.json()["code"] == code
    assert says in answer.json()["message"]
    assert sandbox.modes.maintenance is False
    if code == "sandbox_unknown_mode":
        assert "strip_authorization" in answer.json()["data"]["known"]


async def test_settings_change_what_the_store_answers(
    sandbox: Sandbox, asgi_client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    change = {"wc_version": "3.4.0", "currency": "eur", "decimals": 3, "timezone": "Europe/Berlin"}
    answer = await asgi_client.put("/__sandbox__/settings", json=change, headers=admin)
    assert answer.status_code == 200
    settings = answer.json()["settings"]
    assert (settings["currency"], settings["currency_symbol"], settings["decimals"]) == ("EUR", "&euro;", 3)
    index = (await asgi_client.get("/wp-json/")).json()
    assert "wc/v2" in index["namespaces"]
    assert "wc/v3" not in index["namespaces"]
    assert index["timezone_string"] == "Europe/Berlin"

    await asgi_client.put("/__sandbox__/settings", json={"wc_version": "2.6.14"}, headers=admin)
    legacy = await asgi_client.get("/wc-api/v3/")
    assert legacy.json()["store"]["wc_version"] == "2.6.14"


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"timezone": "Mars/Olympus"}, "IANA zone name"),
        ({"wc_version": "latest"}, "a version such as"),
        ({"decimals": "2"}, "a whole number from 0 to 8"),
        ({"manage_stock": 1}, "true or false"),
        ({"batch_limit": 0}, "a whole number from 1"),
        ({"home_url": "ftp://shop"}, "an http(s) URL"),
        ({"currency": "EURO"}, "ISO 4217"),
    ],
)
async def test_bad_settings_are_refused(
    sandbox: Sandbox, asgi_client: httpx.AsyncClient, admin: dict[str, str], change: dict[str, Any], says: str
) -> None:
    answer = await asgi_client.put("/__sandbox__/settings", json={"decimals": 4, **change}, headers=admin)
    assert answer.status_code == 400
    assert says in answer.json()["message"]
    assert sandbox.store.settings.decimals == 2  # nothing applied


async def test_unknown_settings_list_the_known_ones(asgi_client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    answer = await asgi_client.put("/__sandbox__/settings", json={"colour": "blue"}, headers=admin)
    assert answer.status_code == 400
    assert "wc_version" in answer.json()["data"]["known"]


async def test_settings_are_saved_to_the_state_file(tmp_path: Path) -> None:
    path = tmp_path / "store.sqlite"
    sandbox = Sandbox(Store(Settings(home_url=IN_PROCESS_HOME), path=path))
    headers = {"X-Sandbox-Token": sandbox.admin_token}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=sandbox.app), base_url=IN_PROCESS_HOME) as client:
        change = {"home_url": "https://shop.test/store/", "prices_include_tax": True}
        assert (await client.put("/__sandbox__/settings", json=change, headers=headers)).status_code == 200
    sandbox.store.close()
    reopened = Store(path=path)
    assert reopened.settings.home_url == "https://shop.test/store"
    assert reopened.settings.prices_include_tax is True
    reopened.close()


async def test_fault_plans_are_replaced_counted_and_removed(
    sandbox: Sandbox, asgi_client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    plan = {"seed": 3, "rules": ["503=schedule:1,retry_after=30", {"kind": "latency", "ms": 1}]}
    answer = await asgi_client.put("/__sandbox__/faults", json=plan, headers=admin)
    assert answer.status_code == 200
    assert answer.json()["faults"] == {
        "seed": 3,
        "rules": [{"kind": "503", "schedule": [1], "retry_after": 30}, {"kind": "latency", "ms": 1}],
    }
    assert (await asgi_client.get("/wp-json/")).status_code == 503
    assert (await asgi_client.get("/wp-json/")).status_code == 200

    state = (await asgi_client.get("/__sandbox__/state", headers=admin)).json()
    assert state["fault_counts"] == {"latency": 2, "503": 1}
    assert state["fault_rules"][0] == {"spec": "503=schedule=1,retry_after=30", "matched": 2, "injected": 1}

    # A bare list is a plan too; replacing starts the counts afresh.
    await asgi_client.put("/__sandbox__/faults", json=["429=every:2"], headers=admin)
    assert (await asgi_client.get("/__sandbox__/faults", headers=admin)).json()["injected"] == {}

    answer = await asgi_client.delete("/__sandbox__/faults", headers=admin)
    assert answer.json()["faults"]["rules"] == []
    for _ in range(3):
        assert (await asgi_client.get("/wp-json/")).status_code == 200


@pytest.mark.parametrize(
    ("plan", "says"),
    [
        (["429=7"], "schedule:7 or every:7"),
        ({"rules": [{"kind": "reset", "hold": 3}]}, "hold do(es) not apply to reset"),
        ({"rules": [{"kind": "latency"}], "colour": "red"}, "colour"),
        ("429=0.1", "Send a JSON"),
    ],
)
async def test_bad_fault_plans_leave_the_old_one(
    sandbox: Sandbox, asgi_client: httpx.AsyncClient, admin: dict[str, str], plan: Any, says: str
) -> None:
    await asgi_client.put("/__sandbox__/faults", json=["latency=1"], headers=admin)
    answer = await asgi_client.put("/__sandbox__/faults", json=plan, headers=admin)
    assert answer.status_code == 400
    assert says in answer.json()["message"]
    assert [r.kind for r in sandbox.faults.rules] == ["latency"]


async def test_keys_are_issued_with_their_secret_once_and_listed_without(
    sandbox: Sandbox, asgi_client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    answer = await asgi_client.post(
        "/__sandbox__/keys", json={"role": "shop_manager", "permissions": "read", "description": "ERP"}, headers=admin
    )
    assert answer.status_code == 201
    key = answer.json()
    assert key["role"] == "shop_manager"
    assert key["consumer_key"].startswith("ck_")
    assert key["consumer_secret"].startswith("cs_")
    assert key["truncated_key"] == key["consumer_key"][-7:]

    auth = (key["consumer_key"], key["consumer_secret"])
    assert (await asgi_client.get("/wp-json/wc/v3/system_status", auth=auth)).status_code == 200

    listed = (await asgi_client.get("/__sandbox__/keys", headers=admin)).json()["keys"]
    assert [(k["key_id"], k["role"], k["permissions"], k["description"]) for k in listed] == [
        (key["key_id"], "shop_manager", "read", "ERP")
    ]
    assert key["consumer_secret"] not in str(listed)
    assert key["consumer_key"] not in str(listed)

    # Another key for the same user.
    again = await asgi_client.post(
        "/__sandbox__/keys", json={"user_id": key["user_id"], "permissions": "read_write"}, headers=admin
    )
    assert again.status_code == 201
    assert again.json()["user_id"] == key["user_id"]

    revoked = await asgi_client.delete(f"/__sandbox__/keys/{key['key_id']}", headers=admin)
    assert revoked.json() == {"deleted": True, "key_id": key["key_id"]}
    refused = await asgi_client.get("/wp-json/wc/v3/system_status", auth=auth)
    # A revoked key is an unknown key: the request is anonymous, as in recorded/03-unknown-key.txt.
    assert refused.status_code == 401
    assert refused.json()["code"] == "woocommerce_rest_cannot_view"
    assert (await asgi_client.delete(f"/__sandbox__/keys/{key['key_id']}", headers=admin)).status_code == 404


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        ({"role": "editor", "permissions": "read"}, 400, "role must be one of administrator"),
        ({"role": "administrator", "permissions": "all"}, 400, "permissions must be one of read, write, read_write"),
        ({"user_id": 999, "permissions": "read"}, 404, "No user with id 999"),
    ],
)
async def test_bad_key_requests_are_refused(
    asgi_client: httpx.AsyncClient, admin: dict[str, str], body: dict[str, Any], status: int, says: str
) -> None:
    answer = await asgi_client.post("/__sandbox__/keys", json=body, headers=admin)
    assert answer.status_code == status
    assert says in answer.json()["message"]


async def test_the_clock_moves_forward(sandbox: Sandbox, asgi_client: httpx.AsyncClient, admin: dict[str, str]) -> None:
    before = sandbox.store.now()
    answer = await asgi_client.post("/__sandbox__/clock", json={"advance_seconds": 3600}, headers=admin)
    assert answer.status_code == 200
    assert answer.json()["clock"]["offset_seconds"] == 3600
    assert 3590 <= (sandbox.store.now() - before).total_seconds() <= 3610
    bad = await asgi_client.post("/__sandbox__/clock", json={"advance_seconds": "1h"}, headers=admin)
    assert bad.status_code == 400


class FakeDeliverer:
    """Stands in for webhooks.Deliverer: a log and a way to flush the queue."""

    def __init__(self) -> None:
        self.log: list[dict[str, Any]] = [{"webhook_id": 1, "status": 200}]
        self.queue = 2

    async def deliver_pending(self) -> int:
        sent = self.queue
        for _ in range(sent):
            self.log.append({"webhook_id": 1, "status": 200})
        self.queue = 0
        return sent


async def test_deliveries_are_listed_and_run(
    sandbox: Sandbox, asgi_client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    sandbox.deliverer = FakeDeliverer()  # type: ignore[assignment]
    assert (await asgi_client.get("/__sandbox__/deliveries", headers=admin)).json() == {
        "deliveries": [{"webhook_id": 1, "status": 200}]
    }
    ran = (await asgi_client.post("/__sandbox__/deliveries/run", headers=admin)).json()
    assert ran["result"] == 2
    assert len(ran["delivered"]) == 2


async def test_deliveries_with_the_real_deliverer(
    sandbox: Sandbox, asgi_client: httpx.AsyncClient, admin: dict[str, str]
) -> None:
    listed = await asgi_client.get("/__sandbox__/deliveries", headers=admin)
    if not hasattr(sandbox.deliverer, "log"):
        assert listed.status_code == 501
        pytest.skip("webhooks.Deliverer keeps no log yet")
    assert listed.status_code == 200
    assert isinstance(listed.json()["deliveries"], list)
    assert (await asgi_client.post("/__sandbox__/deliveries/run", headers=admin)).status_code == 200
