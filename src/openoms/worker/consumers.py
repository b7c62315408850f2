"""The composition root: one place to see who reacts to which events and which job kinds
a worker runs.

Each area defines its consumers and job kinds in its own modules and exports them from its
face; they are wired together only here. An effect that must go up or sideways in the
layers (docs/architecture.md) is an event with a consumer here, or a job registered here:
a rejected fulfillment order is routed again by routing's and reships' consumers of
`fulfillment_order.rejected`, not by fulfillment calling up into them.
"""

from __future__ import annotations

from openoms.adapters.carriers import Carriers, default_carriers
from openoms.adapters.channels import ChannelConnectors, default_connectors
from openoms.adapters.db.session import Database
from openoms.adapters.event_stream import NatsEventStream, stream_consumer
from openoms.adapters.jobs import JobRegistry
from openoms.adapters.metrics import Metrics
from openoms.adapters.outbox import ConsumerRegistry, Outbox
from openoms.adapters.payments import Gateways, default_gateways
from openoms.config import Settings
from openoms.domain.ports import EventStream
from openoms.schemas.events import BY_NAME
from openoms.schemas.flows import trigger_catalog
from openoms.services.channels import INBOX_JOB, SYNC_JOB, inbox_job, sync_consumer, sync_job
from openoms.services.finance import invoicing_consumers
from openoms.services.flows import flow_job_kinds, flows_consumer
from openoms.services.fulfillment import LABEL_JOB, label_job
from openoms.services.orders import ROUTE_ORDER_JOB, VERIFY_JOB
from openoms.services.payments import (
    REFUND_JOB,
    REVERSE_JOB,
    authorize_after_routing,
    payment_consumers,
    payment_job_kinds,
    refund_consumers,
    refund_job,
    reversal_consumers,
    reversal_job,
    verification_job,
)
from openoms.services.routing import ROUTE_JOB, routing_consumers, routing_job_kinds
from openoms.services.service_actions import RESHIP_JOB, reship_consumers, reship_job_kind
from openoms.services.webhooks import WEBHOOK_JOB, WebhookSender, WebhookSettings, webhook_consumer


def default_registry(
    settings: Settings | None = None, *, event_stream: EventStream | None = None
) -> ConsumerRegistry:
    """A fresh registry with every built-in consumer (built per call: no module state).

    With OPENOMS_EVENT_STREAM_URL set (in `settings`, by default the environment's), every
    event is also published to the event stream: to `event_stream` if given, else to a
    `NatsEventStream` built here, which connects only if it publishes. Every process that
    records events must see the same setting, since capture writes a delivery for each
    subscribed consumer; the process that runs the worker passes its own stream in, to
    close it at shutdown (cli/processes.py)."""
    registry = ConsumerRegistry()
    # Consumers that record events from inside a delivery (routing's and reships' reroute
    # requests, invoicing's `invoice.created`) record them to this registry's outbox.
    outbox = Outbox(registry)
    for consumer in [
        *routing_consumers(outbox),  # route new orders, and again when stock comes back
        *reship_consumers(outbox),  # a rejected reship's units are routed again
        *payment_consumers(),  # authorize, ensure funds for invoices, capture on order
        *refund_consumers(),  # pay back credit memos and excess funds
        *invoicing_consumers(outbox),  # invoice what shipped
        *reversal_consumers(),  # release what is still authorized once an order is settled
        flows_consumer(outbox, trigger_catalog()),  # automation flows, on every event
        webhook_consumer(),  # every event: a delivery per endpoint that wants it
        sync_consumer(),  # shipments and cancels back to an adapter channel's platform
    ]:
        registry.register(consumer)
    stream = event_stream
    if stream is None:
        stream = open_event_stream(settings or Settings.from_env())
    if stream is not None:  # every event, to the stream for big consumers
        registry.register(stream_consumer(stream, catalog_versions()))
    return registry


def open_event_stream(settings: Settings) -> NatsEventStream | None:
    """The NATS JetStream stream the settings name (not connected yet), or None when
    OPENOMS_EVENT_STREAM_URL is unset."""
    if settings.event_stream_url is None:
        return None
    return NatsEventStream(settings.event_stream_url, stream=settings.event_stream_name)


def catalog_versions() -> dict[str, int]:
    """Each event name's version in the event catalog (the envelope's `version`)."""
    return {name: event_type.version for name, event_type in BY_NAME.items()}


def default_jobs(
    db: Database,
    carriers: Carriers | None = None,
    gateways: Gateways | None = None,
    connectors: ChannelConnectors | None = None,
) -> JobRegistry:
    """Every built-in job kind (routing, labels, refunds, …), built per call. Pass the
    process's `carriers` and payment `gateways` (the ones the API uses) so both share one
    set of accounts; by default they are built over `db`, as are the channel `connectors`."""
    gateways = gateways or default_gateways(db)  # one set for payments and refunds
    registry = JobRegistry()
    routing = routing_job_kinds()
    # A new order's first authorization is made by its routing job: one job and one commit.
    routing[ROUTE_ORDER_JOB] = authorize_after_routing(routing[ROUTE_ORDER_JOB], gateways)
    for kind, job_kind in routing.items():
        registry.register(kind, job_kind)
    registry.register(RESHIP_JOB, reship_job_kind())
    registry.register(LABEL_JOB, label_job(carriers or default_carriers(db)))
    for kind, job_kind in payment_job_kinds(gateways).items():
        registry.register(kind, job_kind)
    registry.register(REFUND_JOB, refund_job(gateways))
    registry.register(REVERSE_JOB, reversal_job(gateways))
    registry.register(VERIFY_JOB, verification_job(gateways))
    for kind, job_kind in flow_job_kinds(trigger_catalog()).items():  # retries, the gate
        registry.register(kind, job_kind)
    registry.register(WEBHOOK_JOB, webhook_sender().job_kind())
    registry.register(INBOX_JOB, inbox_job())  # a channel's stored webhook delivery
    registry.register(SYNC_JOB, sync_job(connectors or default_connectors(db)))
    return registry


def webhook_sender(settings: WebhookSettings | None = None) -> WebhookSender:
    """The webhook sender with the catalog's versions and the environment's settings
    (OPENOMS_WEBHOOK_*) unless given."""
    return WebhookSender(catalog_versions(), settings or WebhookSettings.from_env())


def default_metrics() -> Metrics:
    """A process's metrics, with the job kinds that route units (a routing round each)."""
    return Metrics(routing_kinds=(ROUTE_JOB, ROUTE_ORDER_JOB, RESHIP_JOB))
