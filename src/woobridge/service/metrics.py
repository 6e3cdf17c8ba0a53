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

Two more are counted in the ``serve`` process itself (:class:`StoreRequestMetrics`, fed by the ``WooClient`` of
every run the process starts, scheduled or "Run now", and of record-error retries); like any process counter they
start again from zero when the process restarts, which Prometheus' ``rate()`` takes in its stride:

* ``woobridge_store_request_seconds{connection, method}`` — a histogram of store response times (one observation
  per HTTP exchange, failed ones included; its ``_count`` is the number of requests);
* ``woobridge_store_request_retries_total{connection}`` — requests that were a retry of an earlier attempt
  (throttling, 5xx, timeouts, resets): a store that needs many is slow or overloaded.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric, SummaryMetricFamily
from prometheus_client.registry import Collector, CollectorRegistry
from sqlalchemy import func, select

from woobridge.state import Connection, StateDB
from woobridge.state.models import RecordError, Run
from woobridge.state.service import FlowSchedule, WebhookCounter, WebhookRegistration

RESULTS = ("read", "created", "updated", "skipped", "failed")
# Store answers range from ~50 ms (a cached page) to the 60 s read timeout (a page of big orders on shared hosting).
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)


class StoreRequestMetrics:
    """Store request latency and retries per connection, counted in this process. Hand :meth:`observe` to the
    services (``services.on_store_request``) so that every client a flow builds reports to it."""

    def __init__(self) -> None:
        # Not registered anywhere at creation (no process-global registry): registry_for() adds them per scrape.
        self.latency = Histogram(
            "woobridge_store_request_seconds",
            "Store response times, per HTTP exchange (failed ones included).",
            ["connection", "method"],
            buckets=LATENCY_BUCKETS,
            registry=None,
        )
        self.retries = Counter(
            "woobridge_store_request_retries",
            "Store requests that were a retry of an earlier attempt.",
            ["connection"],
            registry=None,
        )

    def observe(
        self, connection: str, method: str, route: str, status: int | None, seconds: float, attempt: int
    ) -> None:
        """One exchange with ``connection``'s store (a ``WooClient`` ``on_request`` with the connection in front)."""
        self.latency.labels(connection, method).observe(seconds)
        if attempt > 1:
            self.retries.labels(connection).inc()


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


def registry_for(db: StateDB, requests: StoreRequestMetrics | None = None) -> CollectorRegistry:
    """A registry holding only woobridge's collectors (no process-global state): the state database's, and this
    process' store request metrics when given."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StateCollector(db))
    if requests is not None:
        registry.register(requests.latency)
        registry.register(requests.retries)
    return registry
