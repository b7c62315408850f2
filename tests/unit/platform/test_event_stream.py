"""The event stream's settings (OPENOMS_EVENT_STREAM_URL, OPENOMS_EVENT_STREAM_NAME), its
wiring in the composition root, the message built from an event, the stream created when
missing, and the in-memory stream the tests use. No NATS server here: the tests against the
real one are in tests/integration/platform/test_event_stream.py."""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC, datetime

import pytest

from openoms.adapters.db.models import Event
from openoms.adapters.event_stream import (
    DUPLICATE_WINDOW_SECONDS,
    STREAM_CONSUMER,
    STREAM_MAX_ATTEMPTS,
    InMemoryEventStream,
    NatsEventStream,
    stream_config,
    stream_message,
)
from openoms.cli.processes import start_event_stream
from openoms.config import Settings, SettingsInvalid
from openoms.domain.ports import EventStreamUnavailable, StreamAck, StreamMessage
from openoms.schemas.events import BY_NAME
from openoms.worker.consumers import catalog_versions, default_registry, open_event_stream

SECRET_URL = "nats://user:s3cret@nats.internal:4222"


def an_event() -> Event:
    return Event(
        event_id="evt_01ABC",
        name="order_summary.created",
        aggregate_type="order_summary",
        aggregate_id="os_1",
        order_summary_id="os_1",
        payload={"channel": "web-uk", "grand_total": "76.59", "note": "café"},
        occurred_at=datetime(2026, 12, 7, 11, 0, 0, 123456, tzinfo=UTC),
    )


def test_the_stream_is_off_unless_a_url_is_set() -> None:
    settings = Settings.from_env({})
    assert (settings.event_stream_url, settings.event_stream_name) == (None, "OPENOMS")
    assert open_event_stream(settings) is None
    assert STREAM_CONSUMER not in {c.name for c in default_registry(settings)}


def test_a_url_turns_the_stream_on_for_every_event() -> None:
    env = {"OPENOMS_EVENT_STREAM_URL": " nats://a:4222, tls://b:4222 "}
    settings = Settings.from_env(env)
    assert settings.event_stream_url == "nats://a:4222,tls://b:4222"
    stream = open_event_stream(settings)
    assert isinstance(stream, NatsEventStream)
    assert (stream.servers, stream.stream, stream.subject_prefix) == (
        ["nats://a:4222", "tls://b:4222"],
        "OPENOMS",
        "openoms",
    )
    consumer = default_registry(settings).get(STREAM_CONSUMER)
    assert consumer is not None
    assert (consumer.subscribes, consumer.max_attempts) == (("*",), STREAM_MAX_ATTEMPTS)
    assert [consumer.wants(name) for name in BY_NAME] == [True] * len(BY_NAME)


def test_the_registry_reads_the_setting_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENOMS_EVENT_STREAM_URL", "nats://127.0.0.1:4222")
    assert STREAM_CONSUMER in {c.name for c in default_registry()}
    monkeypatch.delenv("OPENOMS_EVENT_STREAM_URL")
    assert STREAM_CONSUMER not in {c.name for c in default_registry()}


def test_the_stream_name_sets_the_subjects() -> None:
    settings = Settings.from_env(
        {"OPENOMS_EVENT_STREAM_URL": "nats://x:4222", "OPENOMS_EVENT_STREAM_NAME": "OMS_EU-1"}
    )
    stream = open_event_stream(settings)
    assert stream is not None
    assert (stream.stream, stream.subject_prefix) == ("OMS_EU-1", "oms_eu-1")
    assert stream.config.subjects == ["oms_eu-1.>"]


@pytest.mark.parametrize(
    "value", ["http://x:4222", "nats://", "127.0.0.1:4222", "nats://a:4222,,nats://b"]
)
def test_a_bad_url_is_refused_without_echoing_it(value: str) -> None:
    with pytest.raises(SettingsInvalid) as caught:
        Settings.from_env({"OPENOMS_EVENT_STREAM_URL": value})
    assert str(caught.value) == (
        "OPENOMS_EVENT_STREAM_URL must be one or more nats:// (or tls://) server URLs, "
        "separated by commas"
    )


def test_a_url_with_credentials_is_accepted_and_never_in_a_refusal() -> None:
    assert Settings.from_env({"OPENOMS_EVENT_STREAM_URL": SECRET_URL}).event_stream_url == (
        SECRET_URL
    )
    with pytest.raises(SettingsInvalid) as caught:
        Settings.from_env({"OPENOMS_EVENT_STREAM_URL": SECRET_URL + ",http://s3cret@x"})
    assert "s3cret" not in str(caught.value)


@pytest.mark.parametrize("value", ["OPEN.OMS", "OPEN OMS", "OMS>", "*", "a/b", "x" * 65])
def test_a_stream_name_that_is_no_subject_token_is_refused(value: str) -> None:
    with pytest.raises(SettingsInvalid) as caught:
        Settings.from_env({"OPENOMS_EVENT_STREAM_NAME": value})
    assert str(caught.value) == (
        f"OPENOMS_EVENT_STREAM_NAME must be 1 to 64 letters, digits, '-' or '_', not {value!r}"
    )


def test_the_message_is_the_envelope_under_the_event_s_subject_and_id() -> None:
    message = stream_message(an_event(), 1, "openoms")
    assert (message.subject, message.message_id) == (
        "openoms.order_summary.created",
        "evt_01ABC",
    )
    assert json.loads(message.body) == {
        "id": "evt_01ABC",
        "type": "order_summary.created",
        "version": 1,
        "occurred_at": "2026-12-07T11:00:00.123456Z",
        "data": {"channel": "web-uk", "grand_total": "76.59", "note": "café"},
    }
    assert "café".encode() in message.body  # UTF-8, not \\u escapes


def test_the_versions_are_the_catalog_s() -> None:
    versions = catalog_versions()
    assert versions == {name: t.version for name, t in BY_NAME.items()}
    assert versions["order_summary.created"] == 1


def test_the_consumer_publishes_with_the_catalog_version_and_refuses_unknown_events() -> None:
    stream = InMemoryEventStream("EU")
    consumer = default_registry(Settings.from_env({}), event_stream=stream).get(STREAM_CONSUMER)
    assert consumer is not None
    event = an_event()
    consumer.handler(None, event)  # type: ignore[arg-type]  # the handler never reads it
    assert stream.messages == [stream_message(event, 1, "eu")]
    event.name = "order_summary.teleported"
    with pytest.raises(LookupError) as caught:
        consumer.handler(None, event)  # type: ignore[arg-type]
    assert str(caught.value) == "event 'order_summary.teleported' is not in the event catalog"
    assert len(stream.messages) == 1


def test_a_stream_we_create_is_on_disk_with_a_window_longer_than_any_backoff() -> None:
    config = stream_config("OPENOMS")
    assert (config.name, config.subjects, config.storage) == ("OPENOMS", ["openoms.>"], "file")
    assert config.duplicate_window == DUPLICATE_WINDOW_SECONDS == 7200
    assert config.max_age == 7 * 24 * 3600


def test_the_in_memory_stream_drops_a_second_copy_and_fails_when_told() -> None:
    stream = InMemoryEventStream()
    first, other = (
        StreamMessage("openoms.a", "evt_1", b"1"),
        StreamMessage("openoms.b", "evt_2", b"2"),
    )
    assert stream.publish(first) == StreamAck("OPENOMS", 1, duplicate=False)
    assert stream.publish(first) == StreamAck("OPENOMS", 1, duplicate=True)
    stream.fail_next(1)
    with pytest.raises(EventStreamUnavailable, match="down"):
        stream.publish(other)
    stream.lose_next_acks(1)
    with pytest.raises(EventStreamUnavailable, match="lost"):
        stream.publish(other)
    assert stream.publish(other) == StreamAck("OPENOMS", 2, duplicate=True)
    assert (stream.messages, stream.published) == ([first, other], 4)
    stream.close()
    with pytest.raises(EventStreamUnavailable, match="closed"):
        stream.publish(other)


def test_a_closed_nats_stream_refuses_to_publish_without_connecting() -> None:
    stream = NatsEventStream("nats://127.0.0.1:1")
    stream.close()
    with pytest.raises(EventStreamUnavailable, match="the event stream is closed"):
        stream.publish(StreamMessage("openoms.a", "evt_1", b"{}"))
    with pytest.raises(EventStreamUnavailable, match="the event stream is closed"):
        stream.start()


def test_nats_down_at_start_up_is_a_warning_and_publishes_then_fail_fast(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Nothing listens on port 1: the worker's start-up says so and goes on; the publishes
    of the cool-down that follows fail at once, without another 1 s connect attempt."""
    stream = NatsEventStream("nats://127.0.0.1:1", connect_timeout=1, cool_down=600.0)
    try:
        with caplog.at_level(logging.WARNING, logger="openoms.cli.processes"):
            start_event_stream(stream)
        (record,) = [r for r in caplog.records if r.name == "openoms.cli.processes"]
        assert record.getMessage() == (
            "event stream unavailable at start-up (publishes will retry): "
            "cannot connect to NATS: TimeoutError"
        )
        started = time.monotonic()
        with pytest.raises(EventStreamUnavailable) as caught:
            stream.publish(StreamMessage("openoms.a", "evt_1", b"{}"))
        assert time.monotonic() - started < 0.5
        assert str(caught.value) == "NATS failed less than 600 s ago; not trying again yet"
    finally:
        stream.close()
