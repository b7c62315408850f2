"""The NATS JetStream server the event stream tests publish to (OPENOMS_TEST_NATS_URL,
default the one on 127.0.0.1:4222), and reading back what a stream holds.

Each test uses a stream of its own (`unique_stream_name`: its subjects are the name
lower-cased, so no two overlap) and deletes it afterwards, so tests run side by side and
leave nothing behind. nats-py is asyncio: each helper runs one short connection."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import threading
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import nats
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, StreamConfig
from nats.js.errors import NotFoundError

NATS_URL = os.environ.get("OPENOMS_TEST_NATS_URL", "nats://127.0.0.1:4222")
FETCH_SECONDS = 2.0


def nats_unreachable(url: str = NATS_URL) -> str | None:
    """Why the NATS server cannot be reached, or None when it can."""
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "", parts.port or 4222), timeout=2):
            return None
    except OSError as exc:
        return f"no NATS server at {parts.hostname}:{parts.port} ({exc})"


def unique_stream_name() -> str:
    return f"OPENOMSTEST{uuid.uuid4().hex[:12].upper()}"


@dataclass(frozen=True)
class Received:
    """One message as a consumer of the stream gets it."""

    sequence: int
    subject: str
    msg_id: str | None
    body: dict[str, Any]


def read_stream(url: str, stream: str) -> list[Received]:
    """Every message of `stream`, in stream order, through an ephemeral pull consumer
    (what a big consumer runs, durable there); none if there is no such stream."""
    return asyncio.run(_read(url, stream))


async def _read(url: str, stream: str) -> list[Received]:
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        config = ConsumerConfig(deliver_policy=DeliverPolicy.ALL, ack_policy=AckPolicy.EXPLICIT)
        try:
            sub = await js.pull_subscribe(f"{stream.lower()}.>", stream=stream, config=config)
        except NotFoundError:
            return []
        received: list[Received] = []
        while True:
            try:
                batch = await sub.fetch(100, timeout=FETCH_SECONDS)
            except (TimeoutError, nats.errors.TimeoutError):  # nothing more to fetch
                return received
            for msg in batch:
                received.append(
                    Received(
                        sequence=msg.metadata.sequence.stream,
                        subject=msg.subject,
                        msg_id=(msg.headers or {}).get("Nats-Msg-Id"),
                        body=json.loads(msg.data),
                    )
                )
                await msg.ack()
    finally:
        await nc.close()


def stream_messages(url: str, stream: str) -> int | None:
    """How many messages `stream` holds (None: there is no such stream)."""

    async def count() -> int | None:
        nc = await nats.connect(url)
        try:
            info = await nc.jetstream().stream_info(stream)
            return int(info.state.messages)
        except NotFoundError:
            return None
        finally:
            await nc.close()

    return asyncio.run(count())


def delete_stream(url: str, stream: str) -> None:
    """Delete `stream` if it exists."""

    async def delete() -> None:
        nc = await nats.connect(url)
        try:
            await nc.jetstream().delete_stream(stream)
        except NotFoundError:
            pass
        finally:
            await nc.close()

    asyncio.run(delete())


class TcpProxy:
    """A TCP proxy on a port of its own to the NATS server, that can be cut (the listener
    and every connection closed: NATS is down, for the client) and restored on the same
    port, to test reconnecting without stopping the shared server."""

    def __init__(self, url: str = NATS_URL) -> None:
        parts = urlsplit(url)
        self.target = (parts.hostname or "127.0.0.1", parts.port or 4222)
        self._listener: socket.socket | None = None
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = int(probe.getsockname()[1])

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def restore(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen()
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self) -> None:
        with self._lock:
            closing = [s for s in (self._listener, *self._sockets) if s is not None]
            self._listener, self._sockets = None, []
        for sock in closing:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:  # cut
                return
            server = socket.create_connection(self.target)
            with self._lock:
                self._sockets += [client, server]
            for source, sink in ((client, server), (server, client)):
                threading.Thread(target=_pump, args=(source, sink), daemon=True).start()


def _pump(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        for sock in (source, sink):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


def stream_config_of(url: str, stream: str) -> StreamConfig:
    async def read() -> StreamConfig:
        nc = await nats.connect(url)
        try:
            return (await nc.jetstream().stream_info(stream)).config
        finally:
            await nc.close()

    return asyncio.run(read())


def make_stream(url: str, stream: str, *, subjects: list[str], max_age: float) -> None:
    """A stream as an operator might create it: a 10 minute duplicate window."""

    async def make() -> None:
        nc = await nats.connect(url)
        try:
            config = StreamConfig(
                name=stream, subjects=subjects, max_age=max_age, duplicate_window=600.0
            )
            await nc.jetstream().add_stream(config)
        finally:
            await nc.close()

    asyncio.run(make())
