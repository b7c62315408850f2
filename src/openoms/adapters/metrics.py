"""Prometheus metrics: what this process counts and times, and what the database holds.

`Metrics` owns the process-local counters and histograms (captures, job runs and routing
rounds, gateway and carrier calls), registered in a registry of its own, so two apps in one
process (the tests) never share figures. Under `PROMETHEUS_MULTIPROC_DIR`
prometheus-client writes every value to files in that directory instead, and a scrape
reads all processes' files (`scrape_registry`): the API and any `openoms worker` then add up.

`DatabaseCollector` reads, at scrape time and in one short read transaction, what every
process sees alike: the job queue, the outbox and the open process exceptions.

Instrumentation stays here and at the edge (api, worker wiring): services never import it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from typing import TypeVar

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from sqlalchemy import func, select

from openoms.adapters.db.models import EventDelivery, Job, ProcessException, utcnow
from openoms.adapters.db.session import Database
from openoms.domain.errors import ChannelUnknown
from openoms.domain.fulfillment import ACTIVE_EXCEPTION_STATUSES
from openoms.domain.ports import (
    AuthorizationLookup,
    Carrier,
    CarrierRejected,
    CarrierUnavailable,
    GatewayRequest,
    GatewayResponse,
    Label,
    LabelRequest,
    PaymentGateway,
    TrackingStatus,
)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
# A routing round is one run of a routing job (the kinds the composition names).
# Calls to a gateway or carrier: 5 ms … 30 s.
CALL_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)

T = TypeVar("T")


def multiprocess() -> bool:
    """True when prometheus-client keeps its values in PROMETHEUS_MULTIPROC_DIR."""
    return bool(os.environ.get(MULTIPROC_ENV))


class Metrics:
    """The process-local metrics. Build one per process (or per app in tests) and hand it
    to the app, the job registry, the gateways and the carriers."""

    def __init__(self, *, routing_kinds: Iterable[str]) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.routing_kinds = frozenset(routing_kinds)
        r = self.registry
        self.captures = Counter(
            "openoms_captures",
            "Order captures by channel and outcome (created, duplicate, refused).",
            ["channel", "outcome"],
            registry=r,
        )
        self.job_seconds = Histogram(
            "openoms_job_duration_seconds",
            "Job runs by kind and outcome (done, rescheduled, failed), seconds.",
            ["kind", "outcome"],
            registry=r,
        )
        self.routing_seconds = Histogram(
            "openoms_routing_round_duration_seconds",
            "Routing rounds (one routing job run), seconds.",
            registry=r,
        )
        self.gateway_seconds = Histogram(
            "openoms_gateway_call_duration_seconds",
            "Payment gateway calls by gateway and operation, seconds.",
            ["gateway", "operation"],
            buckets=CALL_BUCKETS,
            registry=r,
        )
        self.gateway_errors = Counter(
            "openoms_gateway_call_errors",
            "Payment gateway calls that did not succeed, by gateway, operation and result.",
            ["gateway", "operation", "result"],
            registry=r,
        )
        self.carrier_seconds = Histogram(
            "openoms_carrier_call_duration_seconds",
            "Carrier calls by carrier and operation, seconds.",
            ["carrier", "operation"],
            buckets=CALL_BUCKETS,
            registry=r,
        )
        self.carrier_errors = Counter(
            "openoms_carrier_call_errors",
            "Carrier calls that failed, by carrier, operation and result (rejected, "
            "unavailable, error).",
            ["carrier", "operation", "result"],
            registry=r,
        )

    def capture(self, channel: str, outcome: str) -> None:
        self.captures.labels(channel=channel, outcome=outcome).inc()

    def refused_capture(self, channel: str, error: Exception) -> None:
        # An unknown channel is not a label value: any caller could mint new series.
        self.capture("unknown" if isinstance(error, ChannelUnknown) else channel, "refused")

    def job_ran(self, kind: str, outcome: str, seconds: float) -> None:
        self.job_seconds.labels(kind=kind, outcome=outcome).observe(seconds)
        if kind in self.routing_kinds:
            self.routing_seconds.observe(seconds)

    def gateway(self, name: str, gateway: PaymentGateway) -> PaymentGateway:
        return MeteredGateway(name, gateway, self)

    def carrier(self, name: str, carrier: Carrier) -> Carrier:
        return MeteredCarrier(name, carrier, self)


class MeteredGateway:
    """A PaymentGateway that times each call and counts what did not succeed."""

    def __init__(self, name: str, inner: PaymentGateway, metrics: Metrics) -> None:
        self.name = inner.name
        self._label = name
        self._inner = inner
        self._metrics = metrics

    def _call(self, operation: str, call: Callable[[], T], result: Callable[[T], str]) -> T:
        started = time.perf_counter()
        outcome = "error"
        try:
            answer = call()
            outcome = result(answer)
            return answer
        finally:
            self._metrics.gateway_seconds.labels(self._label, operation).observe(
                time.perf_counter() - started
            )
            if outcome != "success":
                self._metrics.gateway_errors.labels(self._label, operation, outcome).inc()

    def _money(self, operation: str, call: Callable[[], GatewayResponse]) -> GatewayResponse:
        return self._call(operation, call, lambda answer: answer.result.value.lower())

    def get_authorization(self, reference: str) -> AuthorizationLookup:
        return self._call(
            "get_authorization",
            lambda: self._inner.get_authorization(reference),
            lambda _answer: "success",
        )

    def authorize(self, request: GatewayRequest) -> GatewayResponse:
        return self._money("authorize", lambda: self._inner.authorize(request))

    def capture(self, request: GatewayRequest) -> GatewayResponse:
        return self._money("capture", lambda: self._inner.capture(request))

    def refund(self, request: GatewayRequest) -> GatewayResponse:
        return self._money("refund", lambda: self._inner.refund(request))

    def reverse_authorization(self, request: GatewayRequest) -> GatewayResponse:
        return self._money(
            "reverse_authorization", lambda: self._inner.reverse_authorization(request)
        )


class MeteredCarrier:
    """A Carrier that times each call and counts failures (rejected, unavailable, error)."""

    def __init__(self, name: str, inner: Carrier, metrics: Metrics) -> None:
        self._label = name
        self._inner = inner
        self._metrics = metrics

    def _call(self, operation: str, call: Callable[[], T]) -> T:
        started = time.perf_counter()
        outcome = "success"
        try:
            return call()
        except CarrierRejected:
            outcome = "rejected"
            raise
        except CarrierUnavailable:
            outcome = "unavailable"
            raise
        except Exception:
            outcome = "error"
            raise
        finally:
            self._metrics.carrier_seconds.labels(self._label, operation).observe(
                time.perf_counter() - started
            )
            if outcome != "success":
                self._metrics.carrier_errors.labels(self._label, operation, outcome).inc()

    def create_label(self, request: LabelRequest) -> Label:
        return self._call("create_label", lambda: self._inner.create_label(request))

    def track(self, tracking_number: str) -> TrackingStatus:
        return self._call("track", lambda: self._inner.track(tracking_number))

    def cancel_label(self, tracking_number: str) -> None:
        self._call("cancel_label", lambda: self._inner.cancel_label(tracking_number))


class DatabaseCollector(Collector):
    """Figures read from the database at scrape time, so any process scraped tells the
    same: pending jobs by kind, the age of the oldest due job, pending outbox deliveries and
    the age of the oldest, open process exceptions by category."""

    def __init__(self, db: Database, *, clock: Callable[[], datetime] = utcnow) -> None:
        self._db = db
        self._clock = clock

    def collect(self) -> Iterator[Metric]:
        jobs = Job.__table__
        deliveries = EventDelivery.__table__
        exceptions = ProcessException.__table__
        now = self._clock()
        with self._db.reading() as session:
            depth = session.execute(
                select(jobs.c.kind, func.count())
                .where(jobs.c.status == "pending")
                .group_by(jobs.c.kind)
            ).all()
            oldest_job = session.execute(
                select(func.min(jobs.c.available_at)).where(
                    jobs.c.status == "pending", jobs.c.available_at <= now
                )
            ).scalar()
            pending, oldest_delivery = session.execute(
                select(func.count(), func.min(deliveries.c.available_at)).where(
                    deliveries.c.status == "pending"
                )
            ).one()
            open_exceptions = session.execute(
                select(exceptions.c.category, func.count())
                .where(exceptions.c.status.in_([s.value for s in ACTIVE_EXCEPTION_STATUSES]))
                .group_by(exceptions.c.category)
            ).all()
        queue = GaugeMetricFamily(
            "openoms_job_queue_depth", "Pending jobs by kind.", labels=["kind"]
        )
        for kind, count in sorted(depth):
            queue.add_metric([kind], count)
        yield queue
        yield GaugeMetricFamily(
            "openoms_job_oldest_due_age_seconds",
            "How long the oldest due pending job has waited (0 when none is due).",
            value=_age(now, oldest_job),
        )
        yield GaugeMetricFamily(
            "openoms_outbox_pending_deliveries",
            "Outbox deliveries not yet handled.",
            value=pending,
        )
        yield GaugeMetricFamily(
            "openoms_outbox_lag_seconds",
            "Age of the oldest pending outbox delivery (0 when none is pending).",
            value=_age(now, oldest_delivery),
        )
        open_family = GaugeMetricFamily(
            "openoms_process_exceptions_open",
            "Open process exceptions (new, triaged, paused) by category.",
            labels=["category"],
        )
        for category, count in sorted(open_exceptions):
            open_family.add_metric([category], count)
        yield open_family


def _age(now: datetime, then: datetime | None) -> float:
    if then is None:
        return 0.0
    if then.tzinfo is None and now.tzinfo is not None:
        now = now.replace(tzinfo=None)
    return max((now - then).total_seconds(), 0.0)


def scrape_registry(metrics: Metrics, db: Database) -> CollectorRegistry:
    """The registry a scrape renders: this process's metrics (every process's, from the
    files, under PROMETHEUS_MULTIPROC_DIR) plus the database's figures."""
    registry = CollectorRegistry()
    if multiprocess():
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:
        registry.register(_Forward(metrics.registry))
    registry.register(DatabaseCollector(db))
    return registry


class _Forward(Collector):
    def __init__(self, registry: CollectorRegistry) -> None:
        self._registry = registry

    def collect(self) -> Iterator[Metric]:
        return iter(self._registry.collect())
