"""Large-neighbourhood search on a big component: free a few groups that could do better and
the groups holding the stock they could use, and solve them exactly over what is left."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import replace

from openoms.domain.routing.batch.decomposition import Deadline, share
from openoms.domain.routing.batch.instance import BatchGroup, Cell, Instance, contested
from openoms.domain.routing.batch.mip import Log, Model, solve_model

NEIGHBOURHOOD = 20  # groups to improve per neighbourhood
NEIGHBOURHOOD_GROUPS = 200  # at most this many groups freed per neighbourhood
NEIGHBOURHOOD_MS = 400  # the least time a neighbourhood gets: fewer are tried on a short budget


def improve(
    inst: Instance,
    comp: Sequence[int],
    plan: dict[int, dict[Cell, int]],
    budget: int,
    log: Log,
    deadline: Deadline | None = None,
) -> None:
    """Large-neighbourhood search on one big component: each neighbourhood frees a few
    groups that could do better (split, or not placed in full) and the groups holding the
    contested stock they could use; the rest keep their plan, and the freed groups are
    solved exactly over what is left (their current plan is the start, so no step makes
    anything worse). No neighbourhood starts after the `deadline`, and none runs past it."""
    targets = [gi for gi in comp if could_improve(inst.groups[gi], plan[gi])]
    chunks = [targets[k : k + NEIGHBOURHOOD] for k in range(0, len(targets), NEIGHBOURHOOD)]
    chunks = chunks[: max(1, budget // NEIGHBOURHOOD_MS)]
    if not targets:
        return
    holders: dict[Cell, set[int]] = defaultdict(set)
    for gi in comp:
        for cell in plan[gi]:
            holders[cell].add(gi)
    for chunk, part in zip(chunks, share(budget, [1] * len(chunks)), strict=True):
        if deadline is not None:
            part = min(part, deadline.left_ms())
            if part < NEIGHBOURHOOD_MS // 4:
                break
        freed = neighbourhood(inst, chunk, plan, holders)
        log.neighbourhoods += 1
        sub = sub_instance(inst, freed, plan)
        outcome = solve_model(Model(sub, list(range(len(freed)))), part)
        status, found, note, size = outcome
        if found is not None:
            found = {freed[k]: units for k, units in found.items()}
            for gi in freed:
                for cell in plan[gi]:
                    holders[cell].discard(gi)
                for cell in found[gi]:
                    holders[cell].add(gi)
        log.add((status, found, note, size), plan)


def could_improve(g: BatchGroup, units: Mapping[Cell, int]) -> bool:
    ships = len({loc for (loc, _), q in units.items() if q > 0})
    return ships > 1 or sum(units.values()) < sum(g.need.values())


def neighbourhood(
    inst: Instance,
    chunk: Sequence[int],
    plan: Mapping[int, Mapping[Cell, int]],
    holders: Mapping[Cell, set[int]],
) -> list[int]:
    """The chunk, then the groups holding the stock that stands between a chunk group and
    fewer shipments: at each location holding some of a group's SKUs, the holders of the
    SKUs it lacks there, most useful first."""
    weight: dict[int, int] = defaultdict(int)
    for gi in chunk:
        g = inst.groups[gi]
        mine = plan[gi]
        at: dict[str, set[str]] = defaultdict(set)
        for loc, sku in inst.cells[gi]:
            at[loc].add(sku)
        for loc, skus in at.items():
            for sku in g.need:
                cell = (loc, sku)
                if mine.get(cell, 0) >= g.need[sku]:
                    continue
                for other in holders.get(cell, ()):
                    if other != gi:
                        weight[other] += len(skus)
    chosen = list(dict.fromkeys(chunk))
    taken = set(chosen)
    room = NEIGHBOURHOOD_GROUPS - len(chosen)
    ranked = sorted((gi for gi in weight if gi not in taken), key=lambda gi: (-weight[gi], gi))
    return sorted(chosen + ranked[: max(room, 0)])


def sub_instance(
    inst: Instance, freed: Sequence[int], plan: Mapping[int, Mapping[Cell, int]]
) -> Instance:
    """The freed groups over the stock the others leave (their current plan as `current`)."""
    members = set(freed)
    groups = [replace(inst.groups[gi], current=dict(plan[gi])) for gi in freed]
    # The pool: all stock the freed groups could use, less what everyone else holds there.
    cells = {cell for gi in freed for cell in inst.cells[gi]}
    left = {cell: inst.stock.get(cell, 0) for cell in cells}
    for gi, units in plan.items():
        if gi in members:
            continue
        for cell, q in units.items():
            if cell in left:
                left[cell] -= q
    sub = Instance(groups, left)
    sub.cells = [[c for c in inst.cells[gi] if left.get(c, 0) > 0] for gi in freed]
    sub.contested = contested(sub)
    return sub
