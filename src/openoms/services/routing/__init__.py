"""Routing: deciding which locations ship a delivery group (fewest splits, lowest cost,
within the channel's limits), holding and transferring its stock, creating the
fulfillment orders, and routing again when stock comes back or a location rejects.

This is the area's face: other areas, the API, the CLI and the worker import only these
names.
"""

from openoms.services.routing.actions import (
    CostedQuestion,
    RoutingQuestion,
    find_optimal_route,
    find_routes,
    rank_by_average_distance,
)
from openoms.services.routing.consumers import (
    reroute_after_rejection,
    routing_consumers,
)
from openoms.services.routing.fulfillment_orders import (
    create_fulfillment_orders,
    created_event,
)
from openoms.services.routing.jobs import (
    reschedule_for,
    routing_job_kinds,
)
from openoms.services.routing.plan import (
    plan_route,
    rejected_locations,
)
from openoms.services.routing.rounds import (
    ROUTE_JOB,
    schedule_routing,
)
from openoms.services.routing.route import (
    HELD_REASON,
    RouteOutcome,
    RouteStatus,
    route_delivery_group,
)
from openoms.services.routing.run_jobs import (
    RUN_JOB,
    run_job_kinds,
    run_routing,
    schedule_runs,
)
from openoms.services.routing.runs import (
    DEFAULT_BUDGET_MS,
    RoutingRunNotFound,
    RunBudgetInvalid,
    RunRequest,
    RunScope,
    get_run,
    list_runs,
    run_view,
)
from openoms.services.routing.stock import (
    StockPlan,
    hold_stock,
    plan_stock,
    release_group_holds,
)

__all__ = [
    "DEFAULT_BUDGET_MS",
    "HELD_REASON",
    "ROUTE_JOB",
    "RUN_JOB",
    "CostedQuestion",
    "RouteOutcome",
    "RouteStatus",
    "RoutingQuestion",
    "RoutingRunNotFound",
    "RunBudgetInvalid",
    "RunRequest",
    "RunScope",
    "StockPlan",
    "create_fulfillment_orders",
    "created_event",
    "find_optimal_route",
    "find_routes",
    "get_run",
    "hold_stock",
    "list_runs",
    "plan_route",
    "plan_stock",
    "rank_by_average_distance",
    "rejected_locations",
    "release_group_holds",
    "reroute_after_rejection",
    "reschedule_for",
    "route_delivery_group",
    "routing_consumers",
    "routing_job_kinds",
    "run_job_kinds",
    "run_routing",
    "run_view",
    "schedule_routing",
    "schedule_runs",
]
