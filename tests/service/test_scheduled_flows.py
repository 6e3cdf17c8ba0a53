"""Every flow runs on ``serve``'s schedule: the app's own scheduler and invoker (the flow module's ``run`` entry point,
the staging ERP of the home, the connection's sealed credentials) against the live sandbox over HTTPS. Each run is
recorded, the schedule moves on by the flow's interval, and ``/metrics`` shows the store's request latency for the
connection."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from woobridge.commands.connections import Report, assess, save_connection
from woobridge.commands.services import Services
from woobridge.flows.engine import list_runs
from woobridge.flows.registry import FLOWS
from woobridge.sandbox.faults import FaultRule
from woobridge.sandbox.testing import LiveSandbox
from woobridge.service.app import ServeConfig, create_app
from woobridge.service.scheduler import ensure_schedules
from woobridge.state.connections import get_connection
from woobridge.woo import Credentials

from .conftest import live_services


def connect_every_flow(services: Services, live: LiveSandbox) -> None:
    key = live.keys.manager
    credentials = Credentials(live.base_url, key.consumer_key, key.consumer_secret, "basic", live.ca_file)
    report = Report("shop", live.base_url, credentials.fingerprint, "basic", list(FLOWS), datetime.now(UTC))
    assess(services, report, credentials)
    assert report.ok, report.to_dict()
    save_connection(services, report, credentials)


def due_only(services: Services, flow: str) -> None:
    """Make ``flow`` due now and every other flow of the connection an hour away."""
    now = datetime.now(UTC)
    with services.state().session() as session:
        schedules = ensure_schedules(session, get_connection(session, "shop"), now)
        for name, schedule in schedules.items():
            assert schedule.enabled, name
            schedule.next_run_at = now - timedelta(seconds=1) if name == flow else now + timedelta(hours=1)


@pytest.mark.parametrize("flow", list(FLOWS))
async def test_a_scheduled_run_of_every_flow_works_in_serve(flow: str, live: LiveSandbox, tmp_path: Path) -> None:
    services = live_services(tmp_path / "home")
    try:
        await asyncio.to_thread(connect_every_flow, services, live)  # connect runs its own event loop
        app = create_app(services, ServeConfig(scheduler=False))
        scheduler = app.state.context.scheduler
        due_only(services, flow)

        assert await scheduler.tick() == [("shop", flow)]
        await scheduler.drain()

        runs = list_runs(services.state(), "shop", flow)
        assert [run.outcome for run in runs] == ["success"], runs[0].message if runs else "no run"
        if flow != "fulfillment":  # (fulfillment asks the store only about the ERP's pending shipments: none here)
            assert runs[0].requests > 0  # it reached the store through the connection's own credentials
        with services.state().session() as session:
            schedule = ensure_schedules(session, get_connection(session, "shop"), datetime.now(UTC))[flow]
            assert schedule.last_problem is None and schedule.requested is None
            assert schedule.next_run_at is not None
            next_in = schedule.next_run_at.replace(tzinfo=UTC) - datetime.now(UTC)
            assert timedelta(0) < next_in <= timedelta(seconds=FLOWS[flow].default_interval)

        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1") as client:
            metrics = (await client.get("/metrics")).text
        count = re.search(r'woobridge_store_request_seconds_count\{connection="shop",method="GET"\} (\S+)', metrics)
        if flow != "fulfillment":
            assert count is not None and float(count.group(1)) >= 1, metrics
        assert f'woobridge_runs_total{{connection="shop",flow="{flow}",outcome="success"}} 1.0' in metrics
    finally:
        services.close()


async def test_metrics_count_the_store_requests_a_scheduled_run_had_to_retry(live: LiveSandbox, tmp_path: Path) -> None:
    services = live_services(tmp_path / "home")
    try:
        await asyncio.to_thread(connect_every_flow, services, live)
        app = create_app(services, ServeConfig(scheduler=False))
        scheduler = app.state.context.scheduler
        due_only(services, "orders")
        live.sandbox.faults.replace([FaultRule(kind="503", schedule=(1,))])  # the run's first request: retried

        assert await scheduler.tick() == [("shop", "orders")]
        await scheduler.drain()

        assert [run.outcome for run in list_runs(services.state(), "shop", "orders")] == ["success"]
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://127.0.0.1") as client:
            metrics = (await client.get("/metrics")).text
        assert 'woobridge_store_request_retries_total{connection="shop"} 1.0' in metrics
        assert 'woobridge_store_request_seconds_bucket{connection="shop",le="+Inf",method="GET"}' in metrics
    finally:
        services.close()
