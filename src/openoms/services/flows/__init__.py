"""Flows: declarative automation (docs/flows.md). A flow names a trigger (an event type of
the catalog), a condition over the event as delivered and actions; each PUT stores a new
version; the `flows` consumer runs every enabled flow once per (flow, event), recording the
run with its actions in one transaction; failed runs raise an `automation` exception and
are retried by a job; flows on `order_summary.created` hold routing back until they ran
(the automation gate).

This area sits at the top of the layers. This is its face: the API, the CLI and the worker
import only these names.
"""

from openoms.services.flows.actions import (
    ACTIONS,
    ActionContext,
    Actions,
    FlowAction,
    Param,
)
from openoms.services.flows.definitions import (
    CheckedFlow,
    FlowDocument,
    FlowNotFound,
    TriggerCatalog,
    TriggerSpec,
    check_flow,
    flow_view,
    get_flow,
    list_flows,
    put_flow,
    version_view,
)
from openoms.services.flows.history import list_runs, run_view
from openoms.services.flows.runs import (
    FLOW_RUN_JOB,
    RunStatus,
    exception_key,
    flow_job_kinds,
    flow_run_job_key,
    flows_consumer,
    retry_run,
    run_event_flows,
)
from openoms.services.flows.trial import FlowEventNotFound, FlowTriggerMismatch, try_flow

__all__ = [
    "ACTIONS",
    "FLOW_RUN_JOB",
    "ActionContext",
    "Actions",
    "CheckedFlow",
    "FlowAction",
    "FlowDocument",
    "FlowEventNotFound",
    "FlowNotFound",
    "FlowTriggerMismatch",
    "Param",
    "RunStatus",
    "TriggerCatalog",
    "TriggerSpec",
    "check_flow",
    "exception_key",
    "flow_job_kinds",
    "flow_run_job_key",
    "flow_view",
    "flows_consumer",
    "get_flow",
    "list_flows",
    "list_runs",
    "put_flow",
    "retry_run",
    "run_event_flows",
    "run_view",
    "try_flow",
    "version_view",
]
