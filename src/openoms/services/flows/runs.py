"""Running flows (docs/flows.md): the `flows` outbox consumer runs every enabled flow whose
trigger is the event's name, once per (flow, event) — the run row, unique on both, is
inserted first, so a second delivery (or the gate job, gate.py) finds it and does nothing.

A run records its version, whether the condition matched, the actions done and the errors,
in the transaction that applies the actions: never an action applied without its record.
Each action runs in a savepoint; one that fails is rolled back alone, the actions before it
stay done, and the run is FAILED with the error. A failed run raises a process exception
(category `automation`) and queues a `flow_run` job that retries it with backoff from the
first action not done; its success resolves the exception. An agent's retry of the
exception runs the job at once. A run whose flow was disabled meanwhile is CANCELED by its
retry (and its exception resolved): disabling a flow is how a person stops a run that can
never succeed.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy.orm import Session

from openoms.adapters.db import models as m
from openoms.adapters.db.repositories import flows as repo
from openoms.adapters.jobs import JobContext, JobKind, Reschedule, backoff, enqueue
from openoms.adapters.outbox import Consumer, Needs, Outbox, event_envelope
from openoms.domain.errors import DomainError
from openoms.domain.flows import FlowInvalid, evaluate, parse_condition
from openoms.domain.fulfillment import ProcessExceptionCategory
from openoms.services.exceptions import raise_exception, resolve_exception, retry_action
from openoms.services.flows.actions import ACTIONS, ActionContext, Actions
from openoms.services.flows.definitions import TriggerCatalog
from openoms.services.flows.gate import CREATED, gate_still_shut, open_gate_when_ready
from openoms.services.orders import AUTOMATION_GATE_JOB

FLOW_RUN_JOB = "flow_run"
FLOW_RUN_MAX_ATTEMPTS = 20
_TRIGGERS_KEY = "openoms.flows.enabled_triggers"


class RunStatus(StrEnum):
    RUNNING = "running"  # only inside the transaction that runs it
    NOT_MATCHED = "not_matched"
    SUCCEEDED = "succeeded"
    FAILED = "failed"  # an action failed: its job retries it
    CANCELED = "canceled"  # failed, and its flow was disabled before a retry succeeded


def flow_run_job_key(run_id: int) -> str:
    return f"{FLOW_RUN_JOB}:{run_id}"


def exception_key(run_id: int) -> str:
    return f"flow_run:{run_id}"


def run_event_flows(
    session: Session,
    outbox: Outbox,
    catalog: TriggerCatalog,
    event: m.Event,
    *,
    now: datetime,
    actions: Actions = ACTIONS,
) -> int:
    """Run every enabled flow of the event's type that has not run on it; the runs made.
    Opens the order's automation gate when the event is its creation and all went well.
    `actions`: the action types (tests give a registry with a failing one)."""
    spec = catalog.get(event.name)
    if spec is None or event.name not in _enabled_triggers(session):
        return 0
    flows = repo.enabled_flows(session, event.name)
    envelope = event_envelope(event, spec.version)
    made = sum(
        _run_flow(session, outbox, flow, version, event, envelope, now, actions)
        for flow, version in flows
    )
    open_gate_when_ready(session, event)
    return made


def _enabled_triggers(session: Session) -> set[str]:
    """The triggers of the enabled flows, read once per transaction: the relay delivers a
    batch of events in one, and most events have no flow (one query per batch, not per
    event). A flow enabled while a batch runs applies from the next batch; an order captured
    after it was enabled is delivered in a later batch, so its gate sees the flow."""
    triggers = session.info.get(_TRIGGERS_KEY)
    if triggers is None:
        triggers = session.info[_TRIGGERS_KEY] = repo.enabled_triggers(session)
    return set(triggers)


def _run_flow(
    session: Session,
    outbox: Outbox,
    flow: m.Flow,
    version: m.FlowVersion,
    event: m.Event,
    envelope: Mapping[str, Any],
    now: datetime,
    actions: Actions,
) -> bool:
    matched = evaluate(parse_condition(version.when), envelope, version.field_kinds)
    row = {
        "flow_id": flow.id,
        "version": version.version,
        "event_id": event.event_id,
        "event_type": event.name,
        "order_summary_id": event.order_summary_id,
        "matched": matched,
        "status": RunStatus.RUNNING if matched else RunStatus.NOT_MATCHED,
        "actions_done": [],
        "errors": [],
        "attempts": 1,
        "created_at": now,
        "updated_at": now,
    }
    run_id = repo.claim_run(session, row)
    if run_id is None or not matched:
        return run_id is not None
    run = repo.run(session, run_id)
    assert run is not None
    error = _apply(session, outbox, run, flow.ref, version, event, envelope, now, actions)
    if error is not None:
        _record_failure(session, outbox, run, flow.ref, error)
        when = now + backoff(1)
        enqueue(
            session, FLOW_RUN_JOB, flow_run_job_key(run.id), {"run_id": run.id}, available_at=when
        )
    return True


def _apply(
    session: Session,
    outbox: Outbox,
    run: m.FlowRun,
    flow_ref: str,
    version: m.FlowVersion,
    event: m.Event,
    envelope: Mapping[str, Any],
    now: datetime,
    actions: Actions,
) -> dict[str, Any] | None:
    """Apply the version's actions not done yet, in order, each in a savepoint; stop at the
    first failure. The run's record moves with them; returns the error, or None."""
    done = list(run.actions_done)
    skip = {entry["index"] for entry in done}
    for index, params in enumerate(version.actions):
        if index in skip:
            continue
        context = ActionContext(
            session, outbox, flow_ref, run.id, index, envelope, event.order_summary_id, now
        )
        try:
            action = actions.get(params["type"])
            if action is None:  # a type this build no longer has
                raise FlowInvalid(f"no action type {params['type']!r}", field=f"actions[{index}]")
            with session.begin_nested():
                result = action.apply(context, params)
        except Exception as exc:  # recorded on the run, retried by its job
            error = {
                "index": index,
                "type": params["type"],
                "error": describe(exc),
                "at": _iso(now),
            }
            run.actions_done, run.errors = done, [*run.errors, error]
            run.status, run.updated_at = RunStatus.FAILED, now
            return error
        done.append({"index": index, "type": params["type"], "result": result})
    run.actions_done, run.status, run.updated_at = done, RunStatus.SUCCEEDED, now
    return None


def describe(exc: Exception) -> str:
    """An action's failure as a run shows it: the domain error's code and detail."""
    text = (
        f"{exc.code}: {exc.detail}"
        if isinstance(exc, DomainError)
        else f"{type(exc).__name__}: {exc}"
    )
    return text[:1000]


def _record_failure(
    session: Session, outbox: Outbox, run: m.FlowRun, flow_ref: str, error: Mapping[str, Any]
) -> None:
    """Open (or refresh) the run's automation exception; its action retries the run."""
    raise_exception(
        session,
        outbox,
        order_summary_id=run.order_summary_id,
        category=ProcessExceptionCategory.AUTOMATION,
        severity="medium",
        dedupe_key=exception_key(run.id),
        message=(
            f"flow '{flow_ref}' (version {run.version}) failed on {run.event_type} "
            f"{run.event_id}: action {error['index']} ({error['type']}): {error['error']}; "
            "retried with backoff from that action (disable the flow to cancel the run)"
        ),
        action=retry_action(FLOW_RUN_JOB, {"run_id": run.id}, key=flow_run_job_key(run.id)),
    )


def retry_run(
    session: Session,
    outbox: Outbox,
    catalog: TriggerCatalog,
    run_id: int,
    *,
    now: datetime,
    actions: Actions = ACTIONS,
) -> str | None:
    """Run a failed run again from its first action not done: None when it is settled
    (succeeded, canceled, or not failed at all), else the error."""
    run = repo.run(session, run_id, lock=True)
    if run is None or run.status != RunStatus.FAILED:
        return None
    flow = session.get(m.Flow, run.flow_id)
    event = repo.event_by_public_id(session, run.event_id)
    version = repo.version(session, run.flow_id, run.version)
    spec = catalog.get(run.event_type)
    assert flow is not None
    assert event is not None
    assert version is not None
    run.attempts += 1
    if not flow.enabled or spec is None:
        run.status, run.updated_at = RunStatus.CANCELED, now
        note = f"flow '{flow.ref}' was disabled: its failed run was canceled"
        resolve_exception(session, outbox, exception_key(run.id), note=note)
        open_gate_when_ready(session, event)
        return None
    envelope = event_envelope(event, spec.version)
    error = _apply(session, outbox, run, flow.ref, version, event, envelope, now, actions)
    if error is not None:
        _record_failure(session, outbox, run, flow.ref, error)
        return str(error["error"])
    resolve_exception(session, outbox, exception_key(run.id), note="the flow run succeeded")
    open_gate_when_ready(session, event)
    return None


def flows_consumer(outbox: Outbox, catalog: TriggerCatalog, actions: Actions = ACTIONS) -> Consumer:
    """The `flows` consumer: every event, in case a flow has its type as trigger."""

    def handle(session: Session, event: m.Event) -> None:
        run_event_flows(session, outbox, catalog, event, now=m.utcnow(), actions=actions)

    def needs(session: Session) -> Needs:
        # An event no enabled flow has as its trigger gets no delivery. Read afresh whenever
        # the outbox's subscriptions version changed, which a flow's creation, deletion or
        # change of `enabled` or `trigger` does in its own transaction (migration 0017), so
        # a flow enabled in any process runs on the events recorded after it.
        return Needs(frozenset(repo.enabled_triggers(session)))

    return Consumer("flows", ("*",), handle, needs=needs)


def flow_job_kinds(catalog: TriggerCatalog, actions: Actions = ACTIONS) -> dict[str, JobKind]:
    """`flow_run` (retry a failed run) and the automation gate's job (gate.py)."""

    def retry(context: JobContext, session: Session, payload: dict[str, Any]) -> Reschedule | None:
        run_id = int(payload["run_id"])
        error = retry_run(
            session, context.outbox, catalog, run_id, now=context.now, actions=actions
        )
        return None if error is None else Reschedule(error)

    def retry_dead(
        context: JobContext, session: Session, payload: dict[str, Any], why: str
    ) -> None:
        run = repo.run(session, int(payload["run_id"]))
        if run is None:
            return
        flow = session.get(m.Flow, run.flow_id)
        error = {
            "index": "-",
            "type": "-",
            "error": f"stopped retrying after {context.attempt} attempts: {why}",
        }
        _record_failure(session, context.outbox, run, flow.ref if flow else run.flow_id, error)

    def gate(context: JobContext, session: Session, payload: dict[str, Any]) -> Reschedule | None:
        summary_id = str(payload["order_summary_id"])
        return run_gate(
            session, context.outbox, catalog, summary_id, now=context.now, actions=actions
        )

    return {
        FLOW_RUN_JOB: JobKind(retry, max_attempts=FLOW_RUN_MAX_ATTEMPTS, on_dead=retry_dead),
        AUTOMATION_GATE_JOB: JobKind(gate, max_attempts=FLOW_RUN_MAX_ATTEMPTS),
    }


def run_gate(
    session: Session,
    outbox: Outbox,
    catalog: TriggerCatalog,
    order_summary_id: str,
    *,
    now: datetime,
    actions: Actions = ACTIONS,
) -> Reschedule | None:
    """The automation gate's job, due `GATE_WAIT` after capture: run the flows on the order's
    creation (if its delivery to the consumer has not) and open the gate. A failed run keeps
    it shut: the job waits for the run's retry, which opens it."""
    event = repo.order_event(session, order_summary_id, CREATED)
    assert event is not None  # capture records it with the gate, in one transaction
    run_event_flows(session, outbox, catalog, event, now=now, actions=actions)
    if open_gate_when_ready(session, event) or not gate_still_shut(session, order_summary_id):
        return None
    return Reschedule("a flow run on the order's creation failed; its retry opens the gate")


def _iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")
