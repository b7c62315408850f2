"""Batch routing: place many delivery groups together over shared stock (docs/routing-runs.md).

The package: `instance` (groups, plans, checks, routing one group alone), `decomposition`
(independent components, the budget's shares), `mip` (one component's model with HiGHS),
`consolidation` and `neighbourhoods` (improving a big component from its current plan), and
here `plan_batch`, which puts them together. Imports go one way, down that list.

A routing run hands this module every delivery group in its scope, each with the units it
has to place, where those units are placed now, the locations it may ship from (with their
shipping cost to it) and its channel's limit on locations. Stock is one pool: each
location's free stock plus what the run's groups hold there now. The plan places every
group at once so that, in this order of importance:

1. as many units as possible are placed (a waiting group is worth placing);
2. as few shipments as possible are made (a shipment is a location used by a group);
3. shipping cost is least (per shipment plus per unit, integer minor units).

The weights make the order strict per group: one unit placed outweighs any one group's
shipments and cost, one shipment outweighs any one group's cost. A trade across many
groups (one shipment saved at the price of several groups each paying a little more) is
weighed by these sums.

**The promise.** No group is made worse than it is now. A group's promise is the units it
has placed and the shipments they go in: the plan gives it at least as many units placed,
and when it gets no more units, no more shipments. A group placed in full stays in full
with no more shipments than now. A group on a channel that refuses partial orders is
placed in full or not at all.

**The model.** A mixed-integer programme solved by HiGHS: x[g,l,s] units of SKU s of group
g from location l, y[g,l] = 1 when g uses l (x <= min(need, stock) * y), sum_l y <= the
group's max locations, sum_g x[g,l,s] <= stock[l,s], and the promise rows. Only
*contested* stock rows are written: a (location, SKU) whose stock is less than what the
groups that may use it ask for. Groups that share no contested row cannot affect each other,
so the run splits into independent components (union-find over contested rows) and each
is solved alone; a group in no contested row gets its best route exactly without the
solver (the cheapest route with the fewest locations, fewest_splits' search by cost).

**The time budget and the fallback.** The budget is shared among the components in
proportion to their size, and is each solve's `time_limit`. HiGHS starts from the current
assignment (always feasible: it is what the stock holds now). On timeout it returns the
best plan it found, which is never worse than the current assignment; if it found none, or
errs, or its answer fails the checks (stock never exceeded, every promise kept), the
component keeps its current assignment. `status` says which happened. The domain reads no
clock of its own: a caller that passes one (`clock`) makes the budget a deadline for the
whole plan, building and consolidation included.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from openoms.domain.routing.batch.consolidation import consolidate
from openoms.domain.routing.batch.decomposition import Deadline, components, share
from openoms.domain.routing.batch.instance import (
    BatchGroup,
    BatchPlan,
    Cell,
    ExpectedGroup,
    GroupPlan,
    Instance,
    Totals,
    alone,
    as_group,
    assignment_cost,
    better_or_equal,
    check,
    check_expected,
    contested,
    group_plan,
    one_at_a_time,
    totals,
    usable,
)
from openoms.domain.routing.batch.mip import Log, Model, solve_model
from openoms.domain.routing.batch.neighbourhoods import improve

WHOLE_LIMIT = 20000  # a component with more columns is improved neighbourhood by neighbourhood

__all__ = [
    "WHOLE_LIMIT",
    "BatchGroup",
    "BatchPlan",
    "Cell",
    "ExpectedGroup",
    "GroupPlan",
    "Totals",
    "assignment_cost",
    "one_at_a_time",
    "plan_batch",
    "totals",
]


def plan_batch(
    groups: Sequence[BatchGroup],
    stock: Mapping[Cell, int],
    *,
    time_budget_ms: int,
    whole_limit: int = WHOLE_LIMIT,
    clock: Callable[[], float] | None = None,
    expected: Sequence[ExpectedGroup] = (),
) -> BatchPlan:
    """Place every group together (module doc). `stock`: (location, SKU) → free units plus
    the units the groups hold there now. A component of more than `whole_limit` columns is
    improved by consolidation and neighbourhoods instead of solved whole. `clock` (the
    caller's, e.g. time.perf_counter): the budget is then a deadline for the whole plan,
    reading and building included, not only each solve's time limit."""
    deadline = Deadline(time_budget_ms, clock)
    check(groups, stock)
    check_expected(groups, expected)
    inst = Instance(
        [*groups, *(as_group(e) for e in expected)],
        stock,
        weights=[1.0] * len(groups) + [e.weight for e in expected],
        real=len(groups),
    )
    inst.cells = [usable(g, stock) for g in inst.groups]
    inst.contested = contested(inst)
    plan: dict[int, dict[Cell, int]] = {gi: dict(g.current) for gi, g in enumerate(inst.groups)}
    comps = [c for c in components(inst) if c[0] < inst.real]  # members in index order
    hard: list[list[int]] = []
    for comp in comps:
        if len(comp) == 1 and not any(c in inst.contested for c in inst.cells[comp[0]]):
            g = groups[comp[0]]
            best = alone(g, stock)
            if best is not None and better_or_equal(g, best):
                plan[comp[0]] = best
                continue
        hard.append(comp)
    sizes = [sum(len(inst.cells[gi]) for gi in comp) for comp in hard]
    log = Log()
    for comp, budget in zip(hard, share(time_budget_ms, sizes), strict=True):
        budget = max(1, min(budget, deadline.left_ms()))
        if sum(len(inst.cells[gi]) for gi in comp) <= whole_limit:
            log.add(solve_model(Model(inst, comp), budget), plan)
        else:
            # Consolidation takes at most half: the neighbourhoods find what it cannot.
            # Expected groups hold nothing here: they only bid in whole models.
            real = [gi for gi in comp if gi < inst.real]
            half = Deadline(budget // 2, clock)
            log.consolidated += consolidate(inst, real, plan, half)
            improve(inst, real, plan, budget, log, deadline)
    return BatchPlan(
        groups=tuple(group_plan(g, plan[gi]) for gi, g in enumerate(groups)),
        expected=len(expected),
        status=log.status(),
        reason=log.reason(len(groups), len(comps), len(hard)),
        components=len(comps),
        solved=log.solves,
        variables=log.variables,
    )
