"""An event stream in memory, for tests where a NATS server is not the point."""

from __future__ import annotations

import threading

from openoms.config import DEFAULT_EVENT_STREAM_NAME
from openoms.domain.ports import EventStreamUnavailable, StreamAck, StreamMessage


class InMemoryEventStream:
    """Keeps the messages it stored, in order, and drops one whose id it already stored (as
    JetStream does within its duplicate window). `fail_next(n)` makes the next `n` publishes
    raise without storing (the server is down); `lose_next_acks(n)` makes them store and
    then raise (the acknowledgement was lost on the way back)."""

    def __init__(self, name: str = DEFAULT_EVENT_STREAM_NAME) -> None:
        self.name = name
        self.messages: list[StreamMessage] = []
        self.published = 0  # every publish that reached the stream, duplicates included
        self.closed = False
        self._sequences: dict[str, int] = {}
        self._failures = 0
        self._lost_acks = 0
        self._lock = threading.Lock()

    @property
    def subject_prefix(self) -> str:
        return self.name.lower()

    def fail_next(self, count: int) -> None:
        self._failures = count

    def lose_next_acks(self, count: int) -> None:
        self._lost_acks = count

    def start(self) -> None:
        if self.closed:
            raise EventStreamUnavailable("the event stream is closed")

    def publish(self, message: StreamMessage) -> StreamAck:
        with self._lock:
            if self.closed:
                raise EventStreamUnavailable("the event stream is closed")
            if self._failures:
                self._failures -= 1
                raise EventStreamUnavailable("the in-memory stream is down")
            self.published += 1
            duplicate = message.message_id in self._sequences
            if not duplicate:
                self.messages.append(message)
                self._sequences[message.message_id] = len(self.messages)
            ack = StreamAck(self.name, self._sequences[message.message_id], duplicate)
            if self._lost_acks:
                self._lost_acks -= 1
                raise EventStreamUnavailable("the acknowledgement was lost")
            return ack

    def close(self) -> None:
        self.closed = True
