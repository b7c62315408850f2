"""A fast first pass on a big component: ship split groups from one location fewer by moving
other groups' units to locations that cost them no extra shipment."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence

from openoms.domain.routing.batch.decomposition import Deadline
from openoms.domain.routing.batch.instance import Cell, Instance

CONSOLIDATION_PASSES = 4


def consolidate(
    inst: Instance,
    comp: Sequence[int],
    plan: dict[int, dict[Cell, int]],
    deadline: Deadline | None = None,
) -> int:
    """A fast first pass on a big component: ship each split group from one location,
    when the units it lacks there can be freed by moving other groups' units of those SKUs
    to locations those groups already ship from (so none of them ships more). Every step
    keeps every promise and the stock; returns how many groups were consolidated. Stops
    at the `deadline`."""
    members = set(comp)
    free: dict[Cell, int] = dict(inst.stock)
    holders: dict[Cell, set[int]] = defaultdict(set)
    for gi, units in plan.items():
        for cell, q in units.items():
            free[cell] = free.get(cell, 0) - q
            if gi in members:
                holders[cell].add(gi)
    done = 0
    for _ in range(CONSOLIDATION_PASSES):
        split = [gi for gi in comp if len({loc for loc, _ in plan[gi]}) > 1]
        split.sort(key=lambda gi: (-len({loc for loc, _ in plan[gi]}), gi))
        found = 0
        for gi in split:
            if deadline is not None and deadline.left_ms() == 0:
                return done + found
            found += _one_location(inst, gi, plan, free, holders)
        done += found
        if not found:
            break
    return done


def _one_location(
    inst: Instance,
    gi: int,
    plan: dict[int, dict[Cell, int]],
    free: dict[Cell, int],
    holders: dict[Cell, set[int]],
) -> bool:
    """Ship group gi from one location fewer: everything from one location, else the
    units of its smallest location from another location it already uses."""
    g = inst.groups[gi]
    mine = plan[gi]
    if sum(mine.values()) != sum(g.need.values()):
        return False
    used = sorted({loc for loc, _ in mine})
    ranked = sorted(
        g.rates,
        key=lambda loc: (-sum(min(q, mine.get((loc, s), 0)) for s, q in g.need.items()), loc),
    )
    options: list[tuple[str, dict[Cell, int]]] = [
        (loc, {(loc, s): q for s, q in g.need.items()}) for loc in ranked
    ]
    if len(used) > 2:
        by_size = sorted(
            used, key=lambda loc: (sum(q for (ol, _), q in mine.items() if ol == loc), loc)
        )
        drop = by_size[0]
        for loc in by_size[1:]:
            target = {cell: q for cell, q in mine.items() if cell[0] != drop}
            for (ol, s), q in mine.items():
                if ol == drop:
                    target[loc, s] = target.get((loc, s), 0) + q
            options.append((loc, target))
    for loc, target in options:
        wants = {s: q for (ol, s), q in target.items() if ol == loc}
        if any(inst.stock.get((loc, s), 0) < q for s, q in wants.items()):
            continue
        moves = _free_up(inst, gi, loc, wants, plan, free, holders)
        if moves is None:
            continue
        for other, (src, dst, sku, q) in moves:
            _shift(plan, free, holders, other, (src, sku), -q)
            _shift(plan, free, holders, other, (dst, sku), q)
        for cell, q in list(mine.items()):
            _shift(plan, free, holders, gi, cell, -q)
        for cell, q in target.items():
            _shift(plan, free, holders, gi, cell, q)
        return True
    return False


def _free_up(
    inst: Instance,
    gi: int,
    loc: str,
    wants: Mapping[str, int],
    plan: Mapping[int, Mapping[Cell, int]],
    free: Mapping[Cell, int],
    holders: Mapping[Cell, set[int]],
) -> list[tuple[int, tuple[str, str, str, int]]] | None:
    """Moves of other groups' units that leave `loc` enough for group gi, or None. A group
    that gives way moves everything it ships from `loc` to one other location (one it
    already ships from, else a new one): it never ships from more locations than before."""
    pool = dict(free)
    for cell, q in plan[gi].items():  # what gi gives up is free for the others
        pool[cell] = pool.get(cell, 0) + q
    moves: list[tuple[int, tuple[str, str, str, int]]] = []
    moved: set[int] = set()
    for sku, need in sorted(wants.items()):
        for other in sorted(holders.get((loc, sku), ())):
            if need - pool.get((loc, sku), 0) <= 0:
                break
            if other == gi or other in moved:
                continue
            o = inst.groups[other]
            at_loc = {s: q for (ol, s), q in plan[other].items() if ol == loc}
            used = {ol for ol, _ in plan[other]}
            for dst in sorted(o.rates, key=lambda d: (d not in used, o.rates[d].per_shipment, d)):
                if dst == loc or any(pool.get((dst, s), 0) < q for s, q in at_loc.items()):
                    continue
                for s, q in at_loc.items():
                    moves.append((other, (loc, dst, s, q)))
                    pool[dst, s] -= q
                    pool[loc, s] = pool.get((loc, s), 0) + q
                moved.add(other)
                break
        if need - pool.get((loc, sku), 0) > 0:
            return None
    return moves


def _shift(
    plan: dict[int, dict[Cell, int]],
    free: dict[Cell, int],
    holders: dict[Cell, set[int]],
    gi: int,
    cell: Cell,
    q: int,
) -> None:
    units = plan[gi]
    units[cell] = units.get(cell, 0) + q
    free[cell] = free.get(cell, 0) - q
    if units[cell] == 0:
        del units[cell]
        holders[cell].discard(gi)
    else:
        holders[cell].add(gi)
