"""The outbox consumer that publishes every event to the event stream.

The body is `event_envelope` as JSON, the subject `<prefix>.<event name>` and the message
id the event's id. A publish the stream does not acknowledge raises, so the relay retries
the delivery with backoff; a retry of a message the stream did store (the acknowledgement
was lost, or the worker died before marking the delivery done) carries the same id and
the stream drops it. Each event is thus stored once, as long as retries fall within the
stream's duplicate window (see jetstream.DUPLICATE_WINDOW_SECONDS).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping

from sqlalchemy.orm import Session

from openoms.adapters.db.models import Event
from openoms.adapters.outbox import Consumer, event_envelope
from openoms.domain.ports import EventStream, StreamMessage

log = logging.getLogger(__name__)

STREAM_CONSUMER = "event_stream"
# Backoff doubles from 2 s up to an hour a retry: 25 attempts ride out an outage of about
# 14 hours before a delivery is dead-lettered (and `replay` brings it back).
STREAM_MAX_ATTEMPTS = 25


def stream_message(event: Event, version: int, prefix: str) -> StreamMessage:
    """`event` as the stream carries it, with `version` from the event catalog."""
    body = json.dumps(event_envelope(event, version), separators=(",", ":"), ensure_ascii=False)
    return StreamMessage(
        subject=f"{prefix}.{event.name}", message_id=event.event_id, body=body.encode()
    )


def stream_consumer(stream: EventStream, versions: Mapping[str, int]) -> Consumer:
    """A consumer of every event that publishes it to `stream`; `versions` maps each event
    name to its version in the catalog (which adapters cannot import)."""

    def publish(_session: Session, event: Event) -> None:
        version = versions.get(event.name)
        if version is None:  # the catalog test keeps this from happening
            raise LookupError(f"event {event.name!r} is not in the event catalog")
        ack = stream.publish(stream_message(event, version, stream.subject_prefix))
        if ack.duplicate:
            log.info(
                "event %s was already in stream %s (sequence %d): a retry, dropped there",
                event.event_id,
                ack.stream,
                ack.sequence,
            )

    return Consumer(STREAM_CONSUMER, ("*",), publish, max_attempts=STREAM_MAX_ATTEMPTS)
