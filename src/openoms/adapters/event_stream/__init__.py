"""The event stream: every outbox event also published to NATS JetStream for big consumers
(docs/event-stream.md). `stream_consumer` is the outbox consumer that publishes; the
composition root (worker/consumers.py) registers it when OPENOMS_EVENT_STREAM_URL is set."""

from openoms.adapters.event_stream.consumer import (
    STREAM_CONSUMER,
    STREAM_MAX_ATTEMPTS,
    stream_consumer,
    stream_message,
)
from openoms.adapters.event_stream.jetstream import (
    DUPLICATE_WINDOW_SECONDS,
    MAX_AGE_SECONDS,
    MSG_ID_HEADER,
    NatsEventStream,
    stream_config,
)
from openoms.adapters.event_stream.memory import InMemoryEventStream

__all__ = [
    "DUPLICATE_WINDOW_SECONDS",
    "MAX_AGE_SECONDS",
    "MSG_ID_HEADER",
    "STREAM_CONSUMER",
    "STREAM_MAX_ATTEMPTS",
    "InMemoryEventStream",
    "NatsEventStream",
    "stream_config",
    "stream_consumer",
    "stream_message",
]
