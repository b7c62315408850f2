"""NATS JetStream as the event stream, through nats-py.

nats-py is asyncio and the worker is threads (and processes), so each `NatsEventStream`
owns one connection on an event loop of its own, run by a daemon thread started at the
first `start` or `publish`. `publish` hands the coroutine to that loop and blocks until
the stream's acknowledgement (PubAck) arrives, or raises EventStreamUnavailable: the
outbox relay then retries the delivery with backoff, and the retry carries the same
`Nats-Msg-Id`, which JetStream's duplicate window drops if the first one was stored after
all. One object per process (the composition root builds one for the process's worker),
so one connection per worker process; `close` ends it at shutdown.

Outages: once connected, nats-py reconnects by itself, forever; while it is disconnected
a publish fails at once rather than queueing in the client's buffer. A first connection
that fails, and any failed publish, make the publishes of the next `cool_down` seconds fail
at once too, so a relay batch of 100 deliveries does not wait out 100 timeouts inside its
database transaction.

The stream is created at the first connection if it is missing (`ensure_stream`), and
again if it disappears; an existing stream keeps its configuration, but gets our subjects
if it lacks them. Credentials in the server URLs are never logged.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import threading
import time
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, TypeVar

import nats.errors
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import StorageType, StreamConfig
from nats.js.errors import BadRequestError, NoStreamResponseError, NotFoundError

from openoms.config import DEFAULT_EVENT_STREAM_NAME
from openoms.domain.ports import EventStreamUnavailable, StreamAck, StreamMessage

log = logging.getLogger(__name__)

T = TypeVar("T")

MSG_ID_HEADER = "Nats-Msg-Id"
# The relay retries a delivery at most an hour after the attempt before it (its backoff
# cap), so a message stored whose acknowledgement was lost is still remembered when the
# retry comes. JetStream keeps the ids of the window in memory: two hours of events.
DUPLICATE_WINDOW_SECONDS = 2 * 3600.0
MAX_AGE_SECONDS = 7 * 24 * 3600.0  # for a stream we create; edit it with `nats stream edit`
ACK_TIMEOUT_SECONDS = 5.0
CONNECT_TIMEOUT_SECONDS = 2  # nats-py takes whole seconds
COOL_DOWN_SECONDS = 2.0
CLOSE_TIMEOUT_SECONDS = 5.0
RECONNECT_WAIT_SECONDS = 1
# What a NATS call raises when the server is down, slow or refuses (nats-py's own errors
# include its JetStream API errors); asyncio's TimeoutError is the builtin one.
_FAILURES = (nats.errors.Error, OSError, TimeoutError)
_NAME_IN_USE = 10058  # JetStream: "stream name already in use with a different configuration"


def stream_config(name: str) -> StreamConfig:
    """The stream openoms creates when it is missing: subjects `<name lower-cased>.>`, on
    disk, events kept 7 days, retries dropped within the duplicate window."""
    return StreamConfig(
        name=name,
        description="openoms events (docs/event-stream.md)",
        subjects=[f"{name.lower()}.>"],
        storage=StorageType.FILE,
        duplicate_window=DUPLICATE_WINDOW_SECONDS,
        max_age=MAX_AGE_SECONDS,
    )


async def ensure_stream(js: JetStreamContext, config: StreamConfig) -> None:
    """Create the stream if it is missing, else add our subjects to it if it lacks them.
    Idempotent and safe when several workers start at once: JetStream accepts a create of
    the same configuration twice, and a stream another created differently is kept."""
    name, wanted = config.name or "", config.subjects or []
    try:
        info = await js.stream_info(name)
    except NotFoundError:
        try:
            await js.add_stream(config)
            log.info("created JetStream stream %s (subjects %s)", name, wanted)
            return
        except BadRequestError as exc:
            if exc.err_code != _NAME_IN_USE:
                raise
            info = await js.stream_info(name)  # created meanwhile, configured otherwise
    subjects = list(info.config.subjects or [])
    missing = [s for s in wanted if s not in subjects]
    if missing:
        await js.update_stream(info.config.evolve(subjects=subjects + missing))
        log.info("added subjects %s to JetStream stream %s", missing, name)


class NatsEventStream:
    """The event stream on NATS JetStream (see the module). Safe to call from any thread."""

    def __init__(
        self,
        servers: str | Sequence[str],
        *,
        stream: str = DEFAULT_EVENT_STREAM_NAME,
        ack_timeout: float = ACK_TIMEOUT_SECONDS,
        connect_timeout: int = CONNECT_TIMEOUT_SECONDS,
        cool_down: float = COOL_DOWN_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if isinstance(servers, str):
            servers = servers.split(",")
        self.servers = [s.strip() for s in servers if s.strip()]
        self.stream = stream
        self.config = stream_config(stream)
        self.ack_timeout = ack_timeout
        self.connect_timeout = connect_timeout
        self.cool_down = cool_down
        self._clock = clock
        self._lock = threading.Lock()  # guards the loop's start and stop
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._closed = False
        self._cool_until = 0.0
        # Used only on the loop's thread:
        self._nc: Client | None = None
        self._connecting: asyncio.Lock | None = None
        self._stream_ready = False

    @property
    def subject_prefix(self) -> str:
        return self.stream.lower()

    def start(self) -> None:
        """Connect and create (or update) the stream now, rather than at the first publish;
        raises EventStreamUnavailable if NATS cannot be reached."""
        self._call(self._ready)

    def publish(self, message: StreamMessage) -> StreamAck:
        """Store `message` in the stream and return the acknowledgement; raise
        EventStreamUnavailable when there is none (the message may be stored or not)."""
        return self._call(lambda: self._publish(message))

    def close(self) -> None:
        """Close the connection and stop the loop's thread; later publishes raise."""
        with self._lock:
            self._closed = True
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
        if loop is None or thread is None:
            return
        try:
            asyncio.run_coroutine_threadsafe(self._disconnect(), loop).result(CLOSE_TIMEOUT_SECONDS)
        except Exception as exc:  # closing must not fail a shutdown
            log.warning("closing the NATS connection failed: %s", type(exc).__name__)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(CLOSE_TIMEOUT_SECONDS)
        if not thread.is_alive():
            loop.close()

    # --- the calling threads' side --------------------------------------------------------

    def _call(self, make: Callable[[], Coroutine[Any, Any, T]]) -> T:
        loop = self._running_loop()
        if self._clock() < self._cool_until:
            raise EventStreamUnavailable(
                f"NATS failed less than {self.cool_down:g} s ago; not trying again yet"
            )
        future = asyncio.run_coroutine_threadsafe(make(), loop)
        try:
            # A safety net only: connecting, the stream's check and the publish are each
            # bounded on the loop.
            return future.result(self.connect_timeout + 3 * self.ack_timeout + 1.0)
        except concurrent.futures.TimeoutError as exc:
            future.cancel()
            self._cool_until = self._clock() + self.cool_down
            raise EventStreamUnavailable("NATS did not answer in time") from exc
        except EventStreamUnavailable:
            self._cool_until = self._clock() + self.cool_down
            raise

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._closed:
                raise EventStreamUnavailable("the event stream is closed")
            if self._loop is None:
                loop = asyncio.new_event_loop()
                thread = threading.Thread(
                    target=loop.run_forever, name="openoms-event-stream", daemon=True
                )
                thread.start()
                self._loop, self._thread = loop, thread
            return self._loop

    # --- the loop's side ------------------------------------------------------------------

    async def _publish(self, message: StreamMessage) -> StreamAck:
        js = await self._ready()
        try:
            ack = await js.publish(
                message.subject,
                message.body,
                timeout=self.ack_timeout,
                stream=self.stream,  # refused, not stored elsewhere, if another owns it
                headers={MSG_ID_HEADER: message.message_id},
            )
        except NoStreamResponseError as exc:
            self._stream_ready = False  # deleted under us: create it again next time
            raise EventStreamUnavailable(f"no JetStream stream {self.stream} answered") from exc
        except _FAILURES as exc:
            raise EventStreamUnavailable(f"publish failed: {_describe(exc)}") from exc
        return StreamAck(ack.stream, ack.seq, bool(ack.duplicate))

    async def _ready(self) -> JetStreamContext:
        """The JetStream context of a live connection with the stream in place."""
        if self._connecting is None:
            self._connecting = asyncio.Lock()
        async with self._connecting:
            if self._nc is None or self._nc.is_closed:
                self._nc = await self._connect()
                self._stream_ready = False
            if not self._nc.is_connected:  # nats-py is reconnecting: do not queue
                raise EventStreamUnavailable("NATS is disconnected (reconnecting)")
            js = self._nc.jetstream(timeout=self.ack_timeout)
            if not self._stream_ready:
                try:
                    await ensure_stream(js, self.config)
                except _FAILURES as exc:
                    raise EventStreamUnavailable(
                        f"cannot create or update stream {self.stream}: {_describe(exc)}"
                    ) from exc
                self._stream_ready = True
            return js

    async def _connect(self) -> Client:
        # Reconnects forever once connected; the first connection is bounded here instead
        # (nats-py would otherwise retry it forever too).
        nc = Client()
        try:
            await asyncio.wait_for(
                nc.connect(
                    servers=self.servers,
                    name=f"openoms-{os.getpid()}",
                    connect_timeout=self.connect_timeout,
                    allow_reconnect=True,
                    max_reconnect_attempts=-1,
                    reconnect_time_wait=RECONNECT_WAIT_SECONDS,
                    error_cb=_on_error,
                    disconnected_cb=self._on_disconnect,
                    reconnected_cb=_on_reconnect,
                ),
                self.connect_timeout,
            )
        except _FAILURES as exc:
            await _quietly_close(nc)
            raise EventStreamUnavailable(f"cannot connect to NATS: {_describe(exc)}") from exc
        log.info("connected to NATS for event stream %s", self.stream)
        return nc

    async def _on_disconnect(self) -> None:
        # A live connection dropped, not `close` nor a first connection that failed.
        if not self._closed and self._nc is not None and not self._nc.is_closed:
            log.warning("disconnected from NATS; reconnecting (publishes fail meanwhile)")

    async def _disconnect(self) -> None:
        if self._nc is not None:
            await _quietly_close(self._nc)
            self._nc = None


def _describe(exc: BaseException) -> str:
    """The error's type and message: nats-py never puts the URL's credentials in them."""
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


async def _quietly_close(nc: Client) -> None:
    if nc.is_closed:
        return
    try:
        await nc.close()
    except Exception as exc:  # a half-open connection may fail to close; it is dropped
        log.debug("closing a NATS connection: %s", _describe(exc))


async def _on_error(exc: Exception) -> None:
    # Each failed reconnect attempt lands here, every second while NATS is down: the
    # disconnect itself is logged as a warning once.
    log.debug("NATS: %s", _describe(exc))


async def _on_reconnect() -> None:
    log.info("reconnected to NATS")
