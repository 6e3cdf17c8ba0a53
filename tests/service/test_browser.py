"""``woobridge serve`` in a real browser: Playwright drives Debian's chromium (headless, no browser download) against
the app on a loopback port, connected to the live sandbox over HTTPS. Takes screenshots of the pages; with
``WOOBRIDGE_UPDATE_SCREENSHOTS=1`` they replace the README's in docs/screenshots/ (a plain test run leaves the
tree as it was).

Skipped when /usr/bin/chromium is missing (``make test`` installs it)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from woobridge.commands.services import Services
from woobridge.flows.engine import list_errors, open_run
from woobridge.sandbox.testing import LiveSandbox
from woobridge.service.app import ServeConfig, create_app

from .conftest import PASSWORD, ServedApp, give_password, live_services, wait_for

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--headless",
]
README_SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"

pytestmark = pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian's chromium is not installed")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def served(live: LiveSandbox, tmp_path: Path) -> Iterator[tuple[ServedApp, Services]]:
    services = live_services(tmp_path / "home")
    give_password(services)
    with ServedApp(create_app(services, ServeConfig(tick_seconds=0.2))) as served:
        yield served, services
    services.close()


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if os.environ.get("WOOBRIDGE_UPDATE_SCREENSHOTS") == "1":
        README_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        return README_SCREENSHOTS
    return tmp_path_factory.mktemp("screenshots")


def shot(page: Any, folder: Path, name: str) -> None:
    page.screenshot(path=str(folder / f"{name}.png"), full_page=True)


def fill_connection(page: Any, live: LiveSandbox, key: Any) -> None:
    page.fill("input[name=name]", "shop")
    page.fill("input[name=store_url]", live.base_url)
    page.fill("input[name=consumer_key]", key.consumer_key)
    page.fill("input[name=consumer_secret]", key.consumer_secret)
    page.click("summary:has-text('More options')")
    page.fill("input[name=ca_file]", live.ca_file)
    page.click("button:has-text('Validate and save')")


def test_sign_in_connect_run_orders_and_retry_a_record_error(
    browser: Any, served: tuple[ServedApp, Services], live: LiveSandbox, screenshots: Path
) -> None:
    app, services = served
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()

    # Sign in (a wrong password first).
    page.goto(f"{app.base_url}/connections")
    assert "/login" in page.url
    page.fill("input[name=password]", "not the password")
    page.click("button:has-text('Sign in')")
    assert page.locator("text=Wrong password.").is_visible()
    page.fill("input[name=password]", PASSWORD)
    shot(page, screenshots, "login")
    page.click("button:has-text('Sign in')")
    page.wait_for_url(f"{app.base_url}/connections")
    cookie = next(c for c in context.cookies() if c["name"] == "woobridge_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"

    # A read-only key: the matching diagnosis, nothing saved.
    fill_connection(page, live, live.keys.read)
    diagnosis = page.locator("section.diagnosis")
    diagnosis.wait_for()
    assert "WB305" in diagnosis.inner_text() and "Read/Write" in diagnosis.inner_text()
    assert live.keys.read.consumer_secret not in page.content()
    shot(page, screenshots, "configuration-read-only-key")

    # A good key: saved, and the connector page shows the six flows.
    fill_connection(page, live, live.keys.manager)
    page.wait_for_url(f"{app.base_url}/connections/shop?notice=saved")
    assert live.keys.manager.consumer_secret not in page.content()
    assert page.locator(f"text=…{live.keys.manager.consumer_key[-7:]}").first.is_visible()
    for flow in ("orders", "fulfillment", "refunds", "inventory", "products", "customers"):
        assert page.locator(f"#flow-{flow}").is_visible()
        assert page.locator(f"#flow-{flow} button:has-text('Run now')").is_visible()
    assert page.locator("text=not built yet").count() == 0

    # Run orders now; the scheduler picks it up and the page shows the finished run with its counts.
    page.click("#flow-orders button:has-text('Run now')")
    page.wait_for_url("**notice=run")

    def orders_ran() -> bool:
        page.reload()
        return "success" in page.locator("#flow-orders").inner_text()

    wait_for(orders_ran, timeout=60, interval=0.5, what="the orders run")
    assert "created" in page.locator("#flow-orders").inner_text()
    shot(page, screenshots, "connector")

    # A record error appears in the queue; Retry imports the order and resolves it.
    # (Playwright's sync API runs an event loop in this thread: record the error from another one.)
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, _record_error(services, str(_an_order_id(live)))).result()
    page.goto(f"{app.base_url}/connections/shop/errors")
    row = page.locator("tr[id^=error-]").first
    assert "unknown SKU" in row.inner_text()
    page.click("summary:has-text('Payload')")
    shot(page, screenshots, "errors")
    row.locator("button:has-text('Retry')").click()
    page.wait_for_url("**/errors?notice=*")
    assert list_errors(services.state(), "shop") == []
    assert page.locator("text=No open record errors.").is_visible()

    page.goto(f"{app.base_url}/connections/shop/runs")
    assert page.locator("td:has-text('orders')").count() >= 2
    shot(page, screenshots, "runs")
    context.close()


def _an_order_id(live: LiveSandbox) -> int:
    with live.client(live.keys.admin) as client:
        order_id: int = client.get("/wp-json/wc/v3/orders", params={"per_page": 1, "status": "processing"}).json()[0][
            "id"
        ]
        return order_id


async def _record_error(services: Services, store_id: str) -> None:
    async with open_run(services.state(), "shop", "orders", holder="browser test") as run:
        run.record_error(
            "order",
            store_id,
            ValueError("unknown SKU 'NOPE-1' in the ERP"),
            payload={"id": int(store_id), "sku": "NOPE-1"},
        )
