"""The consumers a worker runs: one place to see who reacts to which events.

Nothing is registered yet. Later areas add theirs here (routing on
`order_summary.created`, payments ensuring funds and refunds, webhook delivery, automation
flows), each as a `Consumer` whose handler lives in its own area's module.
"""

from __future__ import annotations

from openoms.adapters.jobs import JobRegistry
from openoms.adapters.outbox import ConsumerRegistry


def default_registry() -> ConsumerRegistry:
    """A fresh registry with every built-in consumer (built per call: no module state)."""
    return ConsumerRegistry()


def default_jobs() -> JobRegistry:
    """Every built-in job kind (routing, labels, …), built per call."""
    return JobRegistry()
