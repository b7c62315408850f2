"""What a flow can do (docs/flows.md): each action type, its parameters (checked when the flow
is stored) and what applying it does, inside the transaction that records the run.

An action type is one `FlowAction` in `ACTIONS`: adding one is one `apply` function and its
parameters. Each returns a short note of what it did, shown in the run's `actions_done`.
An action that needs an order (most do) runs on the event's order; the flow is refused at
PUT when its trigger's events carry none.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from openoms.adapters.outbox import Outbox
from openoms.domain.flows import FlowInvalid
from openoms.domain.fulfillment import ProcessExceptionCategory
from openoms.services.exceptions import raise_exception
from openoms.services.orders import (
    RoutingStrategy,
    add_note,
    is_held,
    place_hold,
    release_hold,
    set_routing_strategy,
)
from openoms.services.payments import queue_refunds
from openoms.services.service_actions import cancel_open_units
from openoms.services.webhooks import send_event_to_endpoint

MAX_TEXT = 2000
MAX_HOLD_REASON = 500  # what a hold keeps (services/orders/holds.py)
SEVERITIES = ("low", "medium", "high")


@dataclass(frozen=True, slots=True)
class Param:
    """An action parameter: `text` (a non-empty string), `flag` (true/false) or `choice`
    (one of `choices`)."""

    kind: str
    required: bool = True
    choices: tuple[str, ...] = ()
    default: Any = None
    max_length: int = MAX_TEXT


@dataclass(frozen=True, slots=True)
class ActionContext:
    """Where an action runs: the run's transaction, the flow, the event as delivered and its
    order (None for events of no order)."""

    session: Session
    outbox: Outbox
    flow_ref: str
    run_id: int
    index: int  # the action's position in the flow
    event: Mapping[str, Any]
    order_summary_id: str | None
    now: datetime

    @property
    def author(self) -> str:
        return f"flow:{self.flow_ref}"

    @property
    def order(self) -> str:
        if self.order_summary_id is None:
            raise FlowInvalid("this event belongs to no order", field=f"actions[{self.index}]")
        return self.order_summary_id


Apply = Callable[[ActionContext, Mapping[str, Any]], str]


@dataclass(frozen=True, slots=True)
class FlowAction:
    apply: Apply
    params: Mapping[str, Param] = field(default_factory=dict)
    needs_order: bool = True
    # The events it records that make it a new event to run on each time (a note, a hold):
    # a flow on one of them with no condition would run again without end.
    emits: frozenset[str] = frozenset()


def _hold(context: ActionContext, params: Mapping[str, Any]) -> str:
    hold = place_hold(
        context.session,
        context.outbox,
        order_summary_id=context.order,
        reason=params["reason"],
        held_by=context.author,
    )
    return f"held ({hold.id})"


def _release_hold(context: ActionContext, params: Mapping[str, Any]) -> str:
    # An order with no active hold has nothing to release: done, not a failure to retry.
    if not is_held(context.session, context.order):
        return "no active hold"
    released = release_hold(
        context.session,
        context.outbox,
        order_summary_id=context.order,
        released_by=context.author,
        reason=params["reason"],
    )
    return "released " + ", ".join(h.id for h in released)


def _raise_exception(context: ActionContext, params: Mapping[str, Any]) -> str:
    event_id = context.event["id"]
    exception, new = raise_exception(
        context.session,
        context.outbox,
        order_summary_id=context.order_summary_id,
        category=ProcessExceptionCategory(params["category"]),
        severity=params["severity"],
        # One exception per (flow, event, action): a retried run never raises it twice.
        dedupe_key=f"flow:{context.flow_ref}:{event_id}:{context.index}",
        message=params["message"],
        action={"kind": "flow", "payload": {"flow": context.flow_ref, "event_id": event_id}},
    )
    return f"raised {exception.id}" if new else f"{exception.id} was open already"


def _add_note(context: ActionContext, params: Mapping[str, Any]) -> str:
    add_note(
        context.session,
        context.outbox,
        order_summary_id=context.order,
        note=params["note"],
        author=context.author,
    )
    return "note added"


def _set_routing_strategy(context: ActionContext, params: Mapping[str, Any]) -> str:
    changed = set_routing_strategy(
        context.session,
        context.outbox,
        order_summary_id=context.order,
        strategy=params["strategy"],
        set_by=context.author,
    )
    return f"routing strategy {params['strategy']}" + ("" if changed else " (already set)")


def _cancel_order(context: ActionContext, params: Mapping[str, Any]) -> str:
    recorded = cancel_open_units(
        context.session,
        context.outbox,
        context.order,
        reason=params["reason"],
        refund_shipping=params["refund_shipping"],
    )
    if not recorded:
        return "nothing left to cancel"
    return "canceled by " + ", ".join(r.change_order_id for r in recorded)


def _ensure_refunds(context: ActionContext, params: Mapping[str, Any]) -> str:
    queued = queue_refunds(
        context.session, context.order, reason_key=f"flow:{context.flow_ref}:{context.event['id']}"
    )
    return "ensure-refunds queued" if queued else "ensure-refunds was queued already"


def _send_webhook(context: ActionContext, params: Mapping[str, Any]) -> str:
    # The event as delivered goes to that one endpoint, whatever its type and channel
    # filters, with the event's id as its webhook-id: a retried run queues it once.
    endpoint = params["endpoint_id"]
    queued = send_event_to_endpoint(
        context.session, endpoint_id=endpoint, event_id=str(context.event["id"])
    )
    if queued is None:
        return f"{endpoint} has this event already"
    return f"delivery {queued} queued to {endpoint}"


def _text(required: bool = True, max_length: int = MAX_TEXT) -> Param:
    return Param("text", required=required, max_length=max_length)


Actions = Mapping[str, FlowAction]

ACTIONS: Actions = {
    "hold": FlowAction(
        _hold,
        {"reason": _text(max_length=MAX_HOLD_REASON)},
        emits=frozenset({"order_summary.held"}),
    ),
    "release_hold": FlowAction(
        _release_hold,
        {"reason": _text(required=False, max_length=MAX_HOLD_REASON)},
        emits=frozenset({"order_summary.released"}),
    ),
    "raise_exception": FlowAction(
        _raise_exception,
        {
            "category": Param("choice", choices=tuple(c.value for c in ProcessExceptionCategory)),
            "severity": Param("choice", required=False, choices=SEVERITIES, default="medium"),
            "message": _text(),
        },
        needs_order=False,
        emits=frozenset({"process_exception.raised"}),
    ),
    "add_note": FlowAction(
        _add_note, {"note": _text()}, emits=frozenset({"order_summary.note_added"})
    ),
    "set_routing_strategy": FlowAction(
        _set_routing_strategy,
        {"strategy": Param("choice", choices=tuple(s.value for s in RoutingStrategy))},
    ),
    "cancel_order": FlowAction(
        _cancel_order,
        {"reason": _text(), "refund_shipping": Param("flag", required=False, default=True)},
    ),
    "ensure_refunds": FlowAction(_ensure_refunds),
    "send_webhook": FlowAction(_send_webhook, {"endpoint_id": _text()}, needs_order=False),
}


def check_actions(
    documents: Any, *, order_bound: bool, trigger: str, conditional: bool
) -> list[dict[str, Any]]:
    """The flow's actions with their defaults filled in; FlowInvalid names the first
    `actions[i].…` path at fault (an unknown type or parameter, a missing or bad value, an
    action that needs an order on a trigger with none)."""
    if not isinstance(documents, list) or not documents:
        raise FlowInvalid("a flow needs a non-empty list of actions", field="actions")
    checked = [_check_action(doc, f"actions[{i}]", order_bound) for i, doc in enumerate(documents)]
    for index, action in enumerate(checked):
        if not conditional and trigger in ACTIONS[action["type"]].emits:
            raise FlowInvalid(
                f"{action['type']} records {trigger}, this flow's trigger: with no condition "
                "the flow would run again on its own event without end; add a `when` that "
                "its own events do not meet",
                field=f"actions[{index}].type",
            )
    return checked


def _check_action(document: Any, path: str, order_bound: bool) -> dict[str, Any]:
    if not isinstance(document, Mapping):
        raise FlowInvalid("an action is an object with a `type`", field=path)
    kind = document.get("type")
    action = ACTIONS.get(kind) if isinstance(kind, str) else None
    if action is None:
        known = ", ".join(sorted(ACTIONS))
        raise FlowInvalid(f"unknown action type {kind!r}; one of {known}", field=f"{path}.type")
    if action.needs_order and not order_bound:
        raise FlowInvalid(
            f"{kind} acts on an order, and this trigger's events belong to none",
            field=f"{path}.type",
        )
    unknown = sorted(set(document) - {"type", *action.params})
    if unknown:
        raise FlowInvalid(f"{kind} takes no parameter {unknown[0]!r}", field=f"{path}.{unknown[0]}")
    checked: dict[str, Any] = {"type": kind}
    for name, param in action.params.items():
        checked[name] = _check_param(document.get(name), param, f"{path}.{name}")
    return checked


def _check_param(value: Any, param: Param, where: str) -> Any:
    if value is None:
        if param.required:
            raise FlowInvalid("this parameter is required", field=where)
        return param.default
    if param.kind == "flag":
        if not isinstance(value, bool):
            raise FlowInvalid("true or false", field=where)
        return value
    if not isinstance(value, str) or not value.strip():
        raise FlowInvalid("a non-empty string", field=where)
    if param.kind == "choice" and value not in param.choices:
        raise FlowInvalid(f"{value!r} is not one of {', '.join(param.choices)}", field=where)
    if len(value) > param.max_length:
        raise FlowInvalid(f"at most {param.max_length} characters", field=where)
    return value
