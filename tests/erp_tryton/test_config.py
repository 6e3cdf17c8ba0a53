"""``WOOBRIDGE_ERP=tryton``: the adapter built from the environment, as every command that opens the ERP does."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

import pytest

from woobridge.erp import ErpConfigError, open_erp
from woobridge.erp.tryton import TrytonAdapter, devserver
from woobridge.erp.tryton.config import settings_from_environment

BASE = {
    "WOOBRIDGE_ERP": "tryton",
    "WOOBRIDGE_TRYTON_URL": "http://127.0.0.1:8000",
    "WOOBRIDGE_TRYTON_DATABASE": "shop",
    "WOOBRIDGE_TRYTON_USER": "woobridge",
    "WOOBRIDGE_TRYTON_PASSWORD": "not-the-real-one-8d1f",
}


def test_settings_come_from_the_environment() -> None:
    env = {
        **BASE,
        "WOOBRIDGE_TRYTON_SHIPPING_PRODUCT": "SHIP",
        "WOOBRIDGE_TRYTON_TAX_MAP": "1=VAT 20%, US-CA-TAX=7",
        "WOOBRIDGE_TRYTON_CARRIER_MAP": '{"flat_rate": "DHL", "local_pickup": 3}',
        "WOOBRIDGE_TRYTON_CONFIRM": "no",
        "WOOBRIDGE_TRYTON_CONFIRM_STATUSES": "processing, wc-completed",
        "WOOBRIDGE_TRYTON_WAREHOUSE": "WH",
        "WOOBRIDGE_TRYTON_STOCK_QUANTITY": "available",
    }
    settings = settings_from_environment(env)
    assert (settings.url, settings.database, settings.login) == ("http://127.0.0.1:8000", "shop", "woobridge")
    assert settings.shipping_product == "SHIP"
    assert settings.tax_map == {"1": "VAT 20%", "US-CA-TAX": 7}
    assert settings.carrier_map == {"flat_rate": "DHL", "local_pickup": 3}
    assert settings.confirm is False and settings.quote is True
    assert settings.confirm_statuses == {"processing", "completed"}
    assert (settings.warehouse, settings.stock_quantity) == ("WH", "available")
    assert BASE["WOOBRIDGE_TRYTON_PASSWORD"] not in repr(settings)


def test_the_password_can_come_from_a_file(tmp_path: Path) -> None:
    secret = tmp_path / "tryton-password"
    secret.write_text("from-a-file-51c2\n")
    env = {k: v for k, v in BASE.items() if k != "WOOBRIDGE_TRYTON_PASSWORD"}
    settings = settings_from_environment({**env, "WOOBRIDGE_TRYTON_PASSWORD_FILE": str(secret)})
    assert settings.password == "from-a-file-51c2"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"WOOBRIDGE_TRYTON_URL": ""}, "needs WOOBRIDGE_TRYTON_URL"),
        ({"WOOBRIDGE_TRYTON_DATABASE": "", "WOOBRIDGE_TRYTON_USER": " "}, "WOOBRIDGE_TRYTON_DATABASE, WOOBRIDGE_"),
        ({"WOOBRIDGE_TRYTON_PASSWORD": ""}, "set WOOBRIDGE_TRYTON_PASSWORD"),
        ({"WOOBRIDGE_TRYTON_URL": "127.0.0.1:8000"}, "must start with http"),
        ({"WOOBRIDGE_TRYTON_TAX_MAP": "VAT"}, "'VAT' is not store=tryton"),
        ({"WOOBRIDGE_TRYTON_CARRIER_MAP": "{nope"}, "not valid JSON"),
        ({"WOOBRIDGE_TRYTON_CONFIRM": "maybe"}, "use yes or no"),
        ({"WOOBRIDGE_TRYTON_STOCK_QUANTITY": "all"}, "forecast or available"),
        ({"WOOBRIDGE_TRYTON_TIMEOUT": "soon"}, "seconds"),
        ({"WOOBRIDGE_ERP": "sap"}, "WOOBRIDGE_ERP='sap' is not an ERP adapter"),
    ],
)
def test_bad_settings_say_which_variable(change: dict[str, str], message: str) -> None:
    with pytest.raises(ErpConfigError, match=message) as caught:
        open_erp(environ={**BASE, **change})
    assert BASE["WOOBRIDGE_TRYTON_PASSWORD"] not in str(caught.value)


def test_the_password_is_masked_in_logs() -> None:
    from woobridge.logging import setup_logging

    setup_logging(logging.INFO)
    try:
        settings = settings_from_environment(BASE)
        (handler,) = [h for h in logging.getLogger().handlers if getattr(h, "_woobridge_handler", False)]
        record = logging.LogRecord("woobridge", logging.WARNING, __file__, 1, "pw=%s", (settings.password,), None)
        assert all(f.filter(record) for f in handler.filters)
        assert settings.password not in record.getMessage()
    finally:
        setup_logging(logging.WARNING)


def test_open_erp_reaches_a_real_tryton(tryton_server: devserver.TrytonServer) -> None:
    env = {
        "WOOBRIDGE_ERP": "tryton",
        "WOOBRIDGE_TRYTON_URL": tryton_server.url,
        "WOOBRIDGE_TRYTON_DATABASE": tryton_server.database,
        "WOOBRIDGE_TRYTON_USER": tryton_server.login,
        "WOOBRIDGE_TRYTON_PASSWORD": tryton_server.password,
    }
    erp = open_erp(environ=env)
    try:
        assert isinstance(erp, TrytonAdapter)
        assert erp.find_sales_order("shop", 1) is None
    finally:
        erp.close()
    with pytest.raises(ErpConfigError):
        open_erp(environ={k: v for k, v in env.items() if k != "WOOBRIDGE_TRYTON_PASSWORD"})


@pytest.mark.parametrize(
    "command", [["sync", "orders"], ["sync", "refunds"], ["sync", "inventory"], ["sync", "products"]]
)
def test_every_sync_opens_the_erp_from_the_environment(tmp_path: Path, command: list[str]) -> None:
    from typer.testing import CliRunner

    from woobridge.cli import app
    from woobridge.commands.services import Services
    from woobridge.state import Connection, Locations, StateDB

    env = {**BASE, "WOOBRIDGE_HOME": str(tmp_path / "home"), "WOOBRIDGE_TRYTON_DATABASE": ""}
    services = Services(Locations.from_environment(env), env)
    db = StateDB(services.locations.state_url)
    with db.session() as session:
        session.add(
            Connection(
                name="shop", store_url="https://shop.example.com", auth="basic",
                key_created_at=datetime(2026, 1, 1, tzinfo=UTC), consumer_key_sealed="-", consumer_secret_sealed="-",
                key_fingerprint="abcdef1", flows=["orders", "refunds", "inventory", "products"],
            )
        )  # fmt: skip
    db.close()
    result = CliRunner().invoke(app, command, obj=services, env={"COLUMNS": "200"}, catch_exceptions=False)
    assert result.exit_code == 2, result.output
    assert "WOOBRIDGE_ERP=tryton needs WOOBRIDGE_TRYTON_DATABASE" in result.output
    assert BASE["WOOBRIDGE_TRYTON_PASSWORD"] not in result.output
