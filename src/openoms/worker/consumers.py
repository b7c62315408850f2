"""The consumers a worker runs: one place to see who reacts to which events.

Each area adds its consumers and job kinds here (routing on `order_summary.created` and on
stock coming back; later payments, webhook delivery, automation flows), each handler living
in its own area's module.
"""

from __future__ import annotations

from openoms.adapters.carriers import Carriers, default_carriers
from openoms.adapters.jobs import JobRegistry
from openoms.adapters.outbox import ConsumerRegistry
from openoms.services.labels import label_job
from openoms.services.routing import routing_consumers, routing_job_kinds
from openoms.services.shipping import LABEL_JOB


def default_registry() -> ConsumerRegistry:
    """A fresh registry with every built-in consumer (built per call: no module state)."""
    return ConsumerRegistry([*routing_consumers()])


def default_jobs(carriers: Carriers | None = None) -> JobRegistry:
    """Every built-in job kind (routing, labels, …), built per call. Pass the process's
    `carriers` (the ones the API uses) so both share one set of carrier accounts."""
    registry = JobRegistry()
    for kind, job_kind in routing_job_kinds().items():
        registry.register(kind, job_kind)
    registry.register(LABEL_JOB, label_job(carriers or default_carriers()))
    return registry
