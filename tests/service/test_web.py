"""``woobridge serve`` over HTTP (Starlette's TestClient), validating against the in-process sandbox: the sign-in and
its throttling, CSRF, the configuration form and its diagnoses, the connector page, flows, runs, record errors,
the JSON API and /metrics — and that no secret ever reaches a page."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

import pytest
from typer.testing import CliRunner

from woobridge.cli import app as cli_app
from woobridge.commands.services import Services
from woobridge.flows.engine import list_errors, open_run
from woobridge.sandbox.testing import Keys
from woobridge.service.auth import MAX_FAILURES
from woobridge.service.scheduler import Outcome, Scheduler, ensure_schedules
from woobridge.state.connections import get_connection
from woobridge.state.service import AdminAccount, AdminSession, FlowSchedule

from .conftest import PASSWORD, Web, csrf_of

# -- sign-in, sessions, CSRF ----------------------------------------------------------------------------------------


def test_every_page_and_api_needs_a_sign_in(web: Web) -> None:
    for path in ("/", "/connections", "/connections/shop", "/connections/shop/runs", "/connections/shop/errors"):
        response = web.client.get(path, follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"].startswith("/login"), path
    for path in ("/api/connections", "/api/connections/shop", "/api/connections/shop/runs"):
        assert web.client.get(path).status_code == 401, path
    assert web.client.post("/api/connections/shop/flows/orders/run").status_code == 401


def test_signing_in_sets_an_httponly_samesite_session_cookie(web: Web) -> None:
    response = web.sign_in()
    assert response.status_code == 303
    cookie = response.headers["set-cookie"].lower()
    assert "woobridge_session=" in cookie and "httponly" in cookie and "samesite=lax" in cookie
    assert "secure" not in cookie.split("woobridge_login")[0]  # plain HTTP on loopback: no Secure flag
    assert web.client.get("/connections").status_code == 200


def test_cookies_are_secure_behind_tls(services: Services, sandbox: object) -> None:
    from woobridge.service.app import ServeConfig, create_app

    from .conftest import TestClient

    app = create_app(services, ServeConfig(scheduler=False, public_url="https://bridge.example.com"))
    with TestClient(app, base_url="https://bridge.example.com") as client:
        page = client.get("/login")
        assert "secure" in page.headers["set-cookie"].lower()
        response = client.post(
            "/login", data={"csrf": csrf_of(page.text), "password": PASSWORD}, follow_redirects=False
        )
        assert "secure" in response.headers["set-cookie"].lower()


def test_the_password_is_stored_as_an_scrypt_hash(services: Services) -> None:
    with services.state().session() as session:
        account = session.get(AdminAccount, 1)
        assert account is not None
        assert account.password_hash.startswith("scrypt$") and PASSWORD not in account.password_hash


def test_a_wrong_password_is_refused_and_repeated_failures_lock_the_client_out(web: Web) -> None:
    for _ in range(MAX_FAILURES - 1):
        response = web.sign_in("not the password")
        assert response.status_code == 401 and "Wrong password" in response.text
    locked = web.sign_in("not the password")
    assert locked.status_code == 429 and "Too many failed sign-ins" in locked.text
    # Locked out: even the right password waits.
    assert web.sign_in().status_code == 429
    assert web.client.get("/connections", follow_redirects=False).status_code == 303


def test_sign_in_without_the_forms_csrf_token_is_refused(web: Web) -> None:
    web.client.get("/login")
    response = web.client.post("/login", data={"csrf": "forged", "password": PASSWORD}, follow_redirects=False)
    assert response.status_code == 403
    web.client.cookies.clear()
    response = web.client.post("/login", data={"csrf": "x", "password": PASSWORD}, follow_redirects=False)
    assert response.status_code == 403


def test_next_never_redirects_off_site(web: Web) -> None:
    page = web.client.get("/login?next=//evil.example/")
    response = web.client.post(
        "/login", data={"csrf": csrf_of(page.text), "password": PASSWORD, "next": "//evil.example/"}
    )
    assert str(response.url).startswith("http://127.0.0.1:8765/")


def test_every_form_post_needs_the_sessions_csrf_token(signed_in: Web, keys: Keys) -> None:
    assert signed_in.connect(keys.manager).status_code == 303
    posts = [
        "/connections",
        "/connections/shop/check",
        "/connections/shop/rotate",
        "/connections/shop/remove",
        "/connections/shop/flows/orders",
        "/connections/shop/flows/orders/run",
        "/connections/shop/errors/retry",
        "/connections/shop/errors/resolve",
        "/logout",
    ]
    for path in posts:
        assert signed_in.client.post(path, data={"csrf": "wrong"}).status_code == 403, path
        assert signed_in.client.post(path, data={}).status_code == 403, path
    api = signed_in.client.post("/api/connections/shop/flows/orders/run")
    assert api.status_code == 403


def test_signing_out_ends_the_session_on_the_server(signed_in: Web) -> None:
    cookie = signed_in.client.cookies.get("woobridge_session")
    response = signed_in.post_form("/logout", {}, follow_redirects=False)
    assert response.status_code == 303
    signed_in.client.cookies.set("woobridge_session", cookie or "")
    assert signed_in.client.get("/connections", follow_redirects=False).status_code == 303
    with signed_in.services.state().session() as session:
        assert session.query(AdminSession).count() == 0


def test_pages_carry_security_headers(signed_in: Web) -> None:
    response = signed_in.client.get("/connections")
    assert response.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert response.headers["cache-control"] == "no-store"


def test_admin_set_password_stores_a_new_hash_and_signs_everyone_out(signed_in: Web) -> None:
    result = CliRunner().invoke(
        cli_app, ["admin", "set-password", "--password-stdin"], input="another long password\n", obj=signed_in.services
    )
    assert result.exit_code == 0, result.output
    assert signed_in.client.get("/connections", follow_redirects=False).status_code == 303
    assert signed_in.sign_in().status_code == 401
    assert signed_in.sign_in("another long password").status_code == 303
    short = CliRunner().invoke(
        cli_app, ["admin", "set-password", "--password-stdin"], input="short\n", obj=signed_in.services
    )
    assert short.exit_code == 2 and "at least 12" in short.output


# -- the configuration form -----------------------------------------------------------------------------------------


def test_a_good_key_is_validated_saved_and_its_secret_never_shown(signed_in: Web, keys: Keys) -> None:
    response = signed_in.connect(keys.manager, follow_redirects=True)
    assert response.status_code == 200
    assert str(response.url).endswith("/connections/shop?notice=saved")
    page = response.text
    assert f"…{keys.manager.consumer_key[-7:]}" in page
    assert "11.0.1" in page and "Read/Write" in page
    for path in ("/connections", "/connections/shop", "/api/connections", "/api/connections/shop"):
        text = signed_in.client.get(path).text
        assert keys.manager.consumer_secret not in text, path
        assert keys.manager.consumer_key not in text, path


def test_a_read_only_key_gets_the_read_only_diagnosis_and_is_not_saved(signed_in: Web, keys: Keys) -> None:
    response = signed_in.connect(keys.read)
    assert response.status_code == 422
    page = response.text
    assert "WB305" in page and "Read-only" in page
    assert "set Permissions to Read/Write" in page  # the fix
    assert "does not have write permissions" in page  # the evidence
    assert keys.read.consumer_secret not in page and keys.read.consumer_key not in page
    assert signed_in.client.get("/api/connections").json() == []


def test_a_read_only_key_is_enough_when_only_reading_flows_are_enabled(signed_in: Web, keys: Keys) -> None:
    response = signed_in.connect(keys.read, flows=["orders", "customers"], follow_redirects=True)
    assert response.status_code == 200
    flows = {f["name"]: f for f in signed_in.client.get("/api/connections/shop").json()["flows"]}
    assert flows["orders"]["enabled"] and not flows["inventory"]["enabled"]
    assert not flows["inventory"]["permitted"]


def test_malformed_inputs_are_diagnosed_before_anything_is_sent(signed_in: Web, keys: Keys) -> None:
    response = signed_in.post_form(
        "/connections",
        {"name": "shop", "store_url": "https://shop.test", "consumer_key": "ck_short", "consumer_secret": "cs_x"},
    )
    assert response.status_code == 400 and "WB104" in response.text
    response = signed_in.post_form(
        "/connections",
        {
            "name": "shop",
            "store_url": "http://shop.test",
            "consumer_key": keys.manager.consumer_key,
            "consumer_secret": keys.manager.consumer_secret,
        },
    )
    assert response.status_code == 400 and "WB101" in response.text and "Let&#39;s Encrypt" in response.text
    assert keys.manager.consumer_secret not in response.text


def test_a_wrong_secret_shows_code_cause_fix_and_evidence(signed_in: Web, keys: Keys) -> None:
    wrong = "cs_" + "0" * 40
    response = signed_in.post_form(
        "/connections",
        {
            "name": "shop",
            "store_url": "https://shop.test",
            "consumer_key": keys.manager.consumer_key,
            "consumer_secret": wrong,
        },
    )
    assert response.status_code == 422
    assert "WB301" in response.text
    for part in ("Cause", "Fix", "Evidence"):
        assert f"<dt>{part}</dt>" in response.text
    assert wrong not in response.text


def test_the_key_age_is_shown_with_a_warning_before_twelve_months(signed_in: Web, keys: Keys) -> None:
    created = (datetime.now(UTC) - timedelta(days=340)).date().isoformat()
    signed_in.connect(keys.manager, key_created=created)
    page = signed_in.client.get("/connections/shop").text
    assert "11 months old" in page
    assert "rotate it before" in page
    key = signed_in.client.get("/api/connections/shop").json()["connection"]["key"]
    assert key["level"] == "warning" and key["created"] == created


def test_rotating_the_key_validates_the_new_one_first(signed_in: Web, keys: Keys) -> None:
    signed_in.connect(keys.manager)
    bad = signed_in.post_form(
        "/connections/shop/rotate",
        {"consumer_key": keys.read.consumer_key, "consumer_secret": keys.read.consumer_secret},
        csrf_from="/connections/shop",
    )
    assert bad.status_code == 422 and "WB305" in bad.text
    assert (
        signed_in.client.get("/api/connections/shop").json()["connection"]["key"]["fingerprint"]
        == (keys.manager.consumer_key[-7:])
    )
    good = signed_in.post_form(
        "/connections/shop/rotate",
        {"consumer_key": keys.admin.consumer_key, "consumer_secret": keys.admin.consumer_secret},
        csrf_from="/connections/shop",
    )
    assert good.status_code == 200 and "Key replaced" in good.text
    assert f"…{keys.admin.consumer_key[-7:]}" in good.text
    assert keys.admin.consumer_secret not in good.text


def test_check_now_validates_the_stored_key_again(signed_in: Web, keys: Keys) -> None:
    signed_in.connect(keys.manager)
    response = signed_in.post_form("/connections/shop/check", {}, csrf_from="/connections/shop")
    assert response.status_code == 200 and "works" in response.text


def test_removing_a_connection_needs_its_name_typed(signed_in: Web, keys: Keys) -> None:
    signed_in.connect(keys.manager)
    refused = signed_in.post_form("/connections/shop/remove", {"confirm": "nope"}, csrf_from="/connections/shop")
    assert refused.status_code == 400
    removed = signed_in.post_form("/connections/shop/remove", {"confirm": "shop"}, csrf_from="/connections/shop")
    assert removed.status_code == 200 and "Connection removed" in removed.text
    assert signed_in.client.get("/api/connections").json() == []


# -- the connector page ---------------------------------------------------------------------------------------------


def test_the_connector_page_lists_all_six_flows_live_with_direction_schedule_and_run_now(
    signed_in: Web, keys: Keys
) -> None:
    signed_in.connect(keys.manager)
    page = signed_in.client.get("/connections/shop").text
    for flow in ("orders", "fulfillment", "refunds", "inventory", "products", "customers"):
        assert f'id="flow-{flow}"' in page
        assert f'action="/connections/shop/flows/{flow}/run"' in page  # its Run now button
    assert "not built yet" not in page
    flows = {f["name"]: f for f in signed_in.client.get("/api/connections/shop").json()["flows"]}
    assert list(flows) == ["orders", "fulfillment", "refunds", "inventory", "products", "customers"]
    assert {name: flow["direction"] for name, flow in flows.items()} == {
        "orders": "store → ERP",
        "fulfillment": "ERP → store",
        "refunds": "both ways",
        "inventory": "ERP → store",
        "products": "ERP → store",
        "customers": "store → ERP",
    }
    assert {name: flow["interval_minutes"] for name, flow in flows.items()} == {
        "orders": 5,
        "fulfillment": 5,
        "refunds": 15,
        "inventory": 15,
        "products": 60,
        "customers": 60,
    }
    assert all(flow["status"] in ("on", "off") for flow in flows.values())


def test_the_switch_and_the_schedule_are_saved(signed_in: Web, keys: Keys) -> None:
    signed_in.connect(keys.manager)
    off = signed_in.post_form("/connections/shop/flows/orders", {"enabled": "off"}, csrf_from="/connections/shop")
    assert off.status_code == 200
    orders = signed_in.client.get("/api/connections/shop").json()["flows"][0]
    assert orders["enabled"] is False and orders["next_run_at"] is None
    signed_in.post_form(
        "/connections/shop/flows/orders", {"enabled": "on", "interval_minutes": "2"}, csrf_from="/connections/shop"
    )
    orders = signed_in.client.get("/api/connections/shop").json()["flows"][0]
    assert orders["enabled"] is True and orders["interval_minutes"] == 2
    too_often = signed_in.post_form(
        "/connections/shop/flows/orders", {"interval_minutes": "0"}, csrf_from="/connections/shop"
    )
    assert too_often.status_code == 400


def test_run_now_makes_the_flow_due_and_the_api_does_too(signed_in: Web, keys: Keys) -> None:
    signed_in.connect(keys.manager)
    services = signed_in.services
    with services.state().session() as session:
        connection = get_connection(session, "shop")
        schedule = ensure_schedules(session, connection, datetime.now(UTC))["orders"]
        schedule.next_run_at = datetime.now(UTC) + timedelta(hours=1)
    response = signed_in.post_form("/connections/shop/flows/orders/run", {}, csrf_from="/connections/shop")
    assert response.status_code == 200 and "Run requested" in response.text
    orders = signed_in.client.get("/api/connections/shop").json()["flows"][0]
    assert orders["requested"] == "run-now" and orders["next_run_due"]
    csrf = signed_in.csrf()
    api = signed_in.client.post("/api/connections/shop/flows/orders/run", headers={"X-CSRF-Token": csrf})
    assert api.status_code == 202
    inventory = signed_in.client.post("/api/connections/shop/flows/inventory/run", headers={"X-CSRF-Token": csrf})
    assert inventory.status_code == 202
    unknown = signed_in.client.post("/api/connections/shop/flows/invoices/run", headers={"X-CSRF-Token": csrf})
    assert unknown.status_code == 404


# -- the scheduler --------------------------------------------------------------------------------------------------


async def test_the_scheduler_runs_due_flows_once_and_backs_off_when_the_store_throttles(
    services: Services, keys: Keys, sandbox: object
) -> None:
    from woobridge.commands.connections import Report, save_connection
    from woobridge.woo import Credentials

    credentials = Credentials("https://shop.test", keys.manager.consumer_key, keys.manager.consumer_secret)
    report = Report("shop", "https://shop.test", credentials.fingerprint, "basic", ["orders"], datetime.now(UTC))
    save_connection(services, report, credentials)
    calls: list[str] = []
    gate = asyncio.Event()

    async def throttled_store(connection: str, spec: object) -> Outcome:
        calls.append(connection)
        await gate.wait()
        return Outcome(ran=True, throttled=True, retry_after=90, problem="429 Too Many Requests")

    scheduler = Scheduler(services.state(), throttled_store)
    assert await scheduler.tick() == [("shop", "orders")]
    assert await scheduler.tick() == []  # still running: never two at once
    gate.set()
    await scheduler.drain()
    with services.state().session() as session:
        schedule = session.get(FlowSchedule, (get_connection(session, "shop").id, "orders"))
        assert schedule is not None
        assert schedule.backoff_seconds == 90  # at least Retry-After
        assert schedule.next_run_at is not None and schedule.next_run_at > datetime.now(UTC) + timedelta(seconds=80)
        assert "throttling" in (schedule.last_problem or "")
        schedule.next_run_at = datetime.now(UTC)
    assert await scheduler.tick() == [("shop", "orders")]
    await scheduler.drain()
    with services.state().session() as session:
        schedule = session.get(FlowSchedule, (get_connection(session, "shop").id, "orders"))
        assert schedule is not None and schedule.backoff_seconds == 180  # doubled
    assert calls == ["shop", "shop"]


# -- runs, record errors, API, metrics ------------------------------------------------------------------------------


async def _record_an_error(services: Services, store_id: str = "4242") -> None:
    async with open_run(services.state(), "shop", "orders") as run:
        run.record_error(
            "order", store_id, ValueError("unknown SKU 'NOPE-1'"), payload={"id": int(store_id), "sku": "NOPE-1"}
        )


def test_runs_and_record_errors_are_listed_with_payload_reason_and_attempts(signed_in: Web, keys: Keys) -> None:
    signed_in.connect(keys.manager)
    asyncio.run(_record_an_error(signed_in.services))
    asyncio.run(_record_an_error(signed_in.services, "4243"))
    runs = signed_in.client.get("/connections/shop/runs").text
    assert "partial" in runs and "orders" in runs
    page = signed_in.client.get("/connections/shop/errors").text
    assert "unknown SKU" in page and "NOPE-1" in page and "order 4242" in page
    api_errors = signed_in.client.get("/api/connections/shop/errors").json()
    assert [e["store_id"] for e in api_errors] == ["4242", "4243"]
    assert api_errors[0]["attempts"] == 1 and api_errors[0]["payload"] == {"id": 4242, "sku": "NOPE-1"}
    api_runs = signed_in.client.get("/api/connections/shop/runs?flow=orders").json()
    assert len(api_runs) == 2 and api_runs[0]["failed"] == 1
    connector = signed_in.client.get("/api/connections/shop").json()["flows"][0]
    assert connector["open_errors"] == 2 and connector["last_run"]["outcome"] == "partial"


def test_record_errors_are_resolved_one_by_one_and_in_bulk(signed_in: Web, keys: Keys) -> None:
    signed_in.connect(keys.manager)
    for store_id in ("1", "2", "3"):
        asyncio.run(_record_an_error(signed_in.services, store_id))
    ids = [e.id for e in list_errors(signed_in.services.state(), "shop")]
    one = signed_in.post_form(
        "/connections/shop/errors/resolve",
        {"one": str(ids[0]), "ids": [str(ids[1])]},
        csrf_from="/connections/shop/errors",
    )
    assert one.status_code == 200 and "Marked resolved" in one.text
    assert [e.id for e in list_errors(signed_in.services.state(), "shop")] == ids[1:]
    csrf = signed_in.csrf()
    bulk = signed_in.client.post(
        "/api/connections/shop/errors/resolve", json={"ids": ids[1:]}, headers={"X-CSRF-Token": csrf}
    )
    assert bulk.status_code == 200 and bulk.json() == {"resolved": ids[1:]}
    assert list_errors(signed_in.services.state(), "shop") == []
    assert "No open record errors" in signed_in.client.get("/connections/shop/errors").text


def test_metrics_expose_runs_records_and_errors_per_connection(signed_in: Web, keys: Keys) -> None:
    signed_in.connect(keys.manager)
    asyncio.run(_record_an_error(signed_in.services))
    text = signed_in.client.get("/metrics").text
    assert 'woobridge_runs_total{connection="shop",flow="orders",outcome="partial"} 1.0' in text
    assert 'woobridge_records_total{connection="shop",flow="orders",result="failed"} 1.0' in text
    assert 'woobridge_record_errors_open{connection="shop",flow="orders"} 1.0' in text
    assert 'woobridge_run_duration_seconds_count{connection="shop",flow="orders"} 1.0' in text
    assert keys.manager.consumer_key[-7:] not in text


def test_no_secret_in_the_log(signed_in: Web, keys: Keys, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    signed_in.connect(keys.read)
    signed_in.connect(keys.manager)
    signed_in.sign_in("wrong password here")
    for key in (keys.read, keys.manager):
        assert key.consumer_secret not in caplog.text
    assert "wrong password here" not in caplog.text
