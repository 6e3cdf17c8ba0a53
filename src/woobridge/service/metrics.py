"""``/metrics`` for Prometheus, read from the state database at each scrape (so every ``serve`` process and worker
reports the same numbers, and nothing is lost on restart).

Per connection (and flow where it applies):

* ``woobridge_runs_total{outcome}`` — runs by outcome; ``woobridge_run_duration_seconds`` — a summary of finished
  runs' durations; ``woobridge_last_run_timestamp_seconds`` and ``woobridge_last_run_success``;
* ``woobridge_records_total{result}`` — records read, created, updated, skipped and failed by the runs;
* ``woobridge_store_requests_total`` — requests the runs sent to the store (retries included);
* ``woobridge_record_errors_open`` — the record-error queue;
* ``woobridge_flow_backoff_seconds`` — the current backoff of a throttled flow (0 when none);
* ``woobridge_webhook_deliveries_total{outcome}`` — accepted, duplicate, ping and refused (forged or unsigned);
* ``woobridge_webhooks{status}`` — registered webhooks by the status the last health check saw.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric, SummaryMetricFamily
from prometheus_client.registry import Collector, CollectorRegistry
from sqlalchemy import func, select

from woobridge.state import Connection, StateDB
from woobridge.state.models import RecordError, Run
from woobridge.state.service import FlowSchedule, WebhookCounter, WebhookRegistration

RESULTS = ("read", "created", "updated", "skipped", "failed")


class StateCollector(Collector):
    """Collects woobridge's metrics from the state database."""

    def __init__(self, db: StateDB) -> None:
        self.db = db

    def collect(self) -> Iterator[Metric]:
        runs = CounterMetricFamily("woobridge_runs", "Runs by outcome.", labels=["connection", "flow", "outcome"])
        records = CounterMetricFamily(
            "woobridge_records", "Records handled by runs, by result.", labels=["connection", "flow", "result"]
        )
        requests = CounterMetricFamily(
            "woobridge_store_requests", "Requests runs sent to the store.", labels=["connection", "flow"]
        )
        durations = SummaryMetricFamily(
            "woobridge_run_duration_seconds", "Durations of finished runs.", labels=["connection", "flow"]
        )
        last_run = GaugeMetricFamily(
            "woobridge_last_run_timestamp_seconds", "When the last run started.", labels=["connection", "flow"]
        )
        last_ok = GaugeMetricFamily(
            "woobridge_last_run_success", "1 if the last finished run succeeded.", labels=["connection", "flow"]
        )
        open_errors = GaugeMetricFamily(
            "woobridge_record_errors_open", "Open record errors.", labels=["connection", "flow"]
        )
        backoff = GaugeMetricFamily(
            "woobridge_flow_backoff_seconds", "Current backoff of a throttled flow.", labels=["connection", "flow"]
        )
        deliveries = CounterMetricFamily(
            "woobridge_webhook_deliveries", "Webhook deliveries by outcome.", labels=["connection", "outcome"]
        )
        webhooks = GaugeMetricFamily(
            "woobridge_webhooks", "Registered webhooks by status.", labels=["connection", "status"]
        )
        with self.db.session() as session:
            names: dict[int, str] = {row[0]: row[1] for row in session.execute(select(Connection.id, Connection.name))}
            for connection_id, flow, outcome, n in session.execute(
                select(Run.connection_id, Run.flow, Run.outcome, func.count()).group_by(
                    Run.connection_id, Run.flow, Run.outcome
                )
            ):
                runs.add_metric([names.get(connection_id, "?"), flow, outcome], n)
            sums = session.execute(
                select(
                    Run.connection_id,
                    Run.flow,
                    *(func.coalesce(func.sum(getattr(Run, result)), 0) for result in RESULTS),
                    func.coalesce(func.sum(Run.requests), 0),
                ).group_by(Run.connection_id, Run.flow)
            )
            for row in sums:
                name, flow = names.get(row[0], "?"), row[1]
                for result, value in zip(RESULTS, row[2:7], strict=True):
                    records.add_metric([name, flow, result], float(value))
                requests.add_metric([name, flow], float(row[7]))
            finished = session.execute(
                select(Run.connection_id, Run.flow, Run.started_at, Run.ended_at, Run.outcome)
                .where(Run.ended_at.is_not(None))
                .order_by(Run.started_at)
            )
            totals: dict[tuple[str, str], list[float]] = {}
            last: dict[tuple[str, str], tuple[float, bool]] = {}
            for connection_id, flow, started, ended, outcome in finished:
                if ended is None:
                    continue
                key = (names.get(connection_id, "?"), flow)
                entry = totals.setdefault(key, [0.0, 0.0])
                entry[0] += 1.0
                entry[1] += (ended - started).total_seconds()
                last[key] = (started.timestamp(), outcome == "success")
            for key, (finished_runs, total) in totals.items():
                durations.add_metric(list(key), int(finished_runs), total)
            for key, (started_ts, ok) in last.items():
                last_run.add_metric(list(key), started_ts)
                last_ok.add_metric(list(key), 1.0 if ok else 0.0)
            for connection_id, flow, n in session.execute(
                select(RecordError.connection_id, RecordError.flow, func.count())
                .where(RecordError.resolved_at.is_(None))
                .group_by(RecordError.connection_id, RecordError.flow)
            ):
                open_errors.add_metric([names.get(connection_id, "?"), flow], n)
            for schedule in session.scalars(select(FlowSchedule)):
                backoff.add_metric([names.get(schedule.connection_id, "?"), schedule.flow], schedule.backoff_seconds)
            for counter in session.scalars(select(WebhookCounter)):
                deliveries.add_metric([counter.connection, counter.outcome], counter.count)
            for connection_id, status, n in session.execute(
                select(WebhookRegistration.connection_id, WebhookRegistration.status, func.count()).group_by(
                    WebhookRegistration.connection_id, WebhookRegistration.status
                )
            ):
                webhooks.add_metric([names.get(connection_id, "?"), status], n)
        yield from (runs, records, requests, durations, last_run, last_ok, open_errors, backoff, deliveries, webhooks)


def registry_for(db: StateDB) -> CollectorRegistry:
    """A registry holding only woobridge's collector (no process-global state)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StateCollector(db))
    return registry
