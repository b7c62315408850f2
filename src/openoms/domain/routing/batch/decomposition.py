"""Contested stock splits a run into independent components (groups that share no contested
(location, SKU) cannot affect each other), and the time budget is shared among them."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from openoms.domain.routing.batch.instance import Cell, Instance


def components(inst: Instance) -> list[list[int]]:
    parent = list(range(len(inst.groups)))

    def find(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    owner: dict[Cell, int] = {}
    for gi, cells in enumerate(inst.cells):
        for cell in cells:
            if cell in inst.contested:
                other = owner.setdefault(cell, gi)
                ra, rb = find(other), find(gi)
                if ra != rb:
                    parent[ra] = rb
    comps: dict[int, list[int]] = defaultdict(list)
    for gi in range(len(inst.groups)):
        comps[find(gi)].append(gi)
    return sorted(comps.values(), key=lambda c: c[0])


def share(budget_ms: int, sizes: Sequence[int]) -> list[int]:
    total = sum(sizes) or 1
    return [max(1, budget_ms * s // total) for s in sizes]


@dataclass(slots=True)
class Deadline:
    """The run's time budget as a deadline on the caller's clock (seconds, monotonic). The
    domain reads no clock of its own: without one, only each solve's time limit bounds
    the time (tests, replays that want the same plan every time)."""

    budget_ms: int
    clock: Callable[[], float] | None = None
    end: float = field(init=False, default=0.0)

    def __post_init__(self) -> None:
        if self.clock is not None:
            self.end = self.clock() + self.budget_ms / 1000

    def left_ms(self) -> int:
        if self.clock is None:
            return self.budget_ms
        return max(0, int((self.end - self.clock()) * 1000))
