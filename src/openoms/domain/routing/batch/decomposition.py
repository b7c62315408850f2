"""Contested stock splits a run into independent components (groups that share no contested
(location, SKU) cannot affect each other), and the time budget is shared among them."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

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
