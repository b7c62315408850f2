"""fewest_splits: the smallest number of locations that fulfils the whole group (Salesforce
semantics), ties by average distance to the destination, then by cost.

The search never enumerates combinations blindly. Sets of locations are bitsets over the
problem's preference order, and for k = 1, 2, … it runs a depth-first search that only
ever adds a location covering something still missing:

- branching: a completion of d more locations must contain a holder of every missing
  SKU, and (pigeonhole) a location touching at least ⌈missing / d⌉ of the missing SKUs;
  the search branches on whichever of those two sets is smaller, and excludes earlier
  siblings from later branches so no set is visited twice;
- bounds: each missing SKU must still be reachable (some allowed location holds at least
  ⌈residual / d⌉ of it); the last location is found by intersecting "holds at least the
  residual" bitsets; in best-only mode branches are visited nearest first and cut as soon
  as (distance, cost) lower bounds exceed the best set found;
- dominance (best-only mode, k >= 3, where the search is big enough to repay it): a
  location with at least k others that are no farther, no dearer and hold at least as much
  of every needed SKU can be swapped for one of them in any k-set, so it is left out.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from openoms.domain.routing.model import (
    Candidate,
    Destination,
    Problem,
    Route,
    RoutingItem,
    RoutingPolicy,
    RoutingResult,
    prepare,
    result,
)

_NO_KEY = (1 << 62, 1 << 62)


def _bits(b: int) -> Iterator[int]:
    """Indexes of the set bits, lowest (most preferred) first."""
    while b:
        low = b & -b
        yield low.bit_length() - 1
        b ^= low


class Search:
    """Minimum-cardinality covers of one problem: best-only, or every one."""

    def __init__(self, problem: Problem, *, by_cost: bool = False) -> None:
        # by_cost: rank sets by (cost, distance) instead of (distance, cost).
        self.p = problem
        self.by_cost = by_cost
        n = len(problem.locations)
        self.all = (1 << n) - 1
        self._holders = problem.holders
        self._ge: dict[tuple[int, int], int] = {}
        # cnt_ge[c]: locations holding at least c of the needed SKUs.
        m = len(problem.skus)
        self.cnt_ge = [0] * (m + 2)
        for i, mask in enumerate(problem.masks):
            self.cnt_ge[mask.bit_count()] |= 1 << i
        for c in range(m - 1, -1, -1):
            self.cnt_ge[c] |= self.cnt_ge[c + 1]
        self.ship_min = min(problem.ship, default=0)
        # Least unit cost of the whole group: each SKU at its cheapest holder's rate.
        self.unit_lb = sum(
            r * min((problem.unit[i] for _, i in h), default=0)
            for r, h in zip(problem.req, problem.holders, strict=True)
        )
        # Cost mode visits branches cheapest shipment first, so its bound can stop early.
        self._rank = [0] * n
        if by_cost:
            for r, i in enumerate(sorted(range(n), key=lambda i: (problem.ship[i], i))):
                self._rank[i] = r
        self._dominators: list[int] | None = None
        self.best_only = True
        self.best: tuple[int, int] = _NO_KEY
        self.best_set: tuple[int, ...] | None = None
        self.found: list[tuple[int, ...]] = []

    def ge(self, j: int, q: int) -> int:
        """Locations holding at least q units of SKU j."""
        key = (j, q)
        bits = self._ge.get(key)
        if bits is None:
            bits = 0
            for c, i in self._holders[j]:
                if c >= q:
                    bits |= 1 << i
            self._ge[key] = bits
        return bits

    def lower_bound_k(self) -> int | None:
        """Fewest locations any complete route needs, or None when none exists at all."""
        p = self.p
        k = 1
        for j, need in enumerate(p.req):
            got = 0
            used = 0
            for c in sorted((c for c, _ in self._holders[j]), reverse=True):
                got += c
                used += 1
                if got >= need:
                    break
            if got < need:
                return None
            k = max(k, used)
        counts = sorted((m.bit_count() for m in p.masks), reverse=True)
        covered = 0
        for used, c in enumerate(counts, start=1):
            covered += c
            if covered >= len(p.req):
                return max(k, used)
        return None

    def undominated(self, k: int) -> int:
        """Locations that are not dominated by k or more others (see module doc)."""
        if self._dominators is None:
            self._dominators = self._count_dominators(k)
        keep = self.all
        for i, count in enumerate(self._dominators):
            if count >= k:
                keep &= ~(1 << i)
        return keep

    def _count_dominators(self, k: int) -> list[int]:
        """Per location, how many others dominate it; counts below k are only known to be
        below k, which is all a larger k needs."""
        p = self.p
        ship_le = _le_bits(p.ship)
        unit_le = _le_bits(p.unit)
        counts = [0] * len(p.locations)
        for i in range(k, len(p.locations)):
            dom = ((1 << i) - 1) & ship_le[p.ship[i]] & unit_le[p.unit[i]]
            if dom.bit_count() < k:
                continue
            for j, c in p.caps[i].items():
                dom &= self.ge(j, c)
                if not dom:
                    break
            counts[i] = dom.bit_count()
        return counts

    def run(self, k: int, universe: int) -> None:
        residual = dict(enumerate(self.p.req))
        mask = (1 << len(self.p.req)) - 1
        self._dfs((), residual, mask, universe, k, 0, 0)

    def _offer(self, members: tuple[int, ...]) -> None:
        if not self.best_only:
            self.found.append(members)
            return
        dist, cost = self.p.key_of(members)
        key = (cost, dist) if self.by_cost else (dist, cost)
        if key < self.best:
            self.best = key
            self.best_set = members

    def _ordered(self, bits: int) -> Iterator[int] | list[int]:
        """Branch order along which the bound grows: preference order (nearest first), or
        cheapest shipment first in cost mode."""
        if self.by_cost:
            return sorted(_bits(bits), key=self._rank.__getitem__)
        return _bits(bits)

    def _bound(self, dist_lb: int, cost_lb: int) -> bool:
        """Whether sets with these lower bounds cannot beat the best found (an equal set
        cannot either: among equals the first found, in preference order, stays)."""
        if self.by_cost:
            return (cost_lb, dist_lb) >= self.best
        return (dist_lb, cost_lb) >= self.best

    def _dfs(
        self,
        chosen: tuple[int, ...],
        residual: dict[int, int],
        mask: int,
        allowed: int,
        d: int,
        dsum: int,
        ssum: int,
    ) -> None:
        p = self.p
        if d == 1:
            cand = allowed
            for j, q in residual.items():
                cand &= self.ge(j, q)
                if not cand:
                    return
            for i in self._ordered(cand):
                if self.best_only and self._bound(
                    dsum + p.dist[i], ssum + p.ship[i] + self.unit_lb
                ):
                    break
                self._offer((*chosen, i))
            return
        need = -(-mask.bit_count() // d)
        big = allowed & self.cnt_ge[need]
        if not big:
            return
        branch = 0
        branch_n = 1 << 30
        for j, q in residual.items():
            if not allowed & self.ge(j, -(-q // d)):
                return
            holders = allowed & self.ge(j, 1)
            n = holders.bit_count()
            if n < branch_n:
                branch, branch_n = holders, n
        if big.bit_count() < branch_n:
            branch = 0
            for i in _bits(big):
                if (p.masks[i] & mask).bit_count() >= need:
                    branch |= 1 << i
        low = allowed & -allowed
        dmin = p.dist[low.bit_length() - 1]
        rest_d = (d - 1) * dmin
        rest_s = (d - 1) * self.ship_min + self.unit_lb
        for i in self._ordered(branch):
            if self.best_only and self._bound(dsum + p.dist[i] + rest_d, ssum + p.ship[i] + rest_s):
                break
            allowed &= ~(1 << i)
            caps = p.caps[i]
            left: dict[int, int] = {}
            left_mask = mask
            for j, q in residual.items():
                c = caps.get(j, 0)
                if c >= q:
                    left_mask &= ~(1 << j)
                else:
                    left[j] = q - c
            if not left:  # only when called with more room than the minimum needs
                self._offer((*chosen, i))
                continue
            self._dfs(
                (*chosen, i), left, left_mask, allowed, d - 1, dsum + p.dist[i], ssum + p.ship[i]
            )


def _le_bits(values: Sequence[int]) -> dict[int, int]:
    """value -> bitset of indexes whose value is at most that value."""
    by_value: dict[int, int] = {}
    for i, v in enumerate(values):
        by_value[v] = by_value.get(v, 0) | (1 << i)
    out: dict[int, int] = {}
    acc = 0
    for v in sorted(by_value):
        acc |= by_value[v]
        out[v] = acc
    return out


def _nearest_singles(problem: Problem) -> list[tuple[int, ...]]:
    """The locations that alone hold the whole group and are nearest (ties included)."""
    out: list[tuple[int, ...]] = []
    for i in _bits(problem.full):
        if out and problem.dist[i] > problem.dist[out[0][0]]:
            break
        out.append((i,))
    return out


def best_cover(
    problem: Problem, max_locations: int, *, by_cost: bool = False
) -> tuple[int, ...] | None:
    """The best set of fewest locations (at most max_locations) covering the group: by
    (average distance, cost), or by (cost, average distance)."""
    if not problem.skus:
        return ()
    if problem.full and not by_cost:
        return min(_nearest_singles(problem), key=lambda c: (problem.key_of(c), c))
    search = Search(problem, by_cost=by_cost)
    start = search.lower_bound_k()
    if start is None:
        return None
    for k in range(start, max_locations + 1):
        # Dominance pays only where the search is big: from three locations on.
        universe = search.all if k < 3 else search.undominated(k)
        search.run(k, universe)
        if search.best_set is not None:
            return search.best_set
    return None


def all_covers(problem: Problem, max_locations: int) -> list[tuple[int, ...]]:
    """Every set of fewest locations (at most max_locations) covering the group."""
    if not problem.skus:
        return []
    if problem.full:
        return [(i,) for i in _bits(problem.full)]
    search = Search(problem)
    search.best_only = False
    start = search.lower_bound_k()
    if start is None:
        return []
    for k in range(start, max_locations + 1):
        search.run(k, search.all)
        if search.found:
            return search.found
    return []


def best_partial(problem: Problem, max_locations: int) -> dict[tuple[int, int], int]:
    """Most units from at most max_locations locations, greedily: each step adds the
    location that adds the most units (ties by preference order)."""
    remaining = list(problem.req)
    units: dict[tuple[int, int], int] = {}
    used: set[int] = set()
    for _ in range(max_locations):
        best_i, best_gain = -1, 0
        for i, caps in enumerate(problem.caps):
            if i in used:
                continue
            gain = sum(min(c, remaining[j]) for j, c in caps.items())
            if gain > best_gain:
                best_i, best_gain = i, gain
        if best_i < 0:
            break
        used.add(best_i)
        for j, c in problem.caps[best_i].items():
            take = min(c, remaining[j])
            if take:
                units[best_i, j] = take
                remaining[j] -= take
    return units


def no_route(problem: Problem, policy: RoutingPolicy, strategy: str, why: str) -> RoutingResult:
    """The answer when no complete route exists within max_splits."""
    limit = policy.max_splits + 1
    if policy.allow_partial:
        units = best_partial(problem, limit)
        placed = sum(units.values())
        return result(
            problem,
            units,
            strategy=strategy,
            reason=f"{why}; partial allocation of {placed} of {problem.total_units} unit(s) "
            f"from the locations adding the most units (at most {limit})",
            split_penalty=policy.split_penalty,
        )
    return result(
        problem,
        {},
        strategy=strategy,
        reason=f"{why}; partial allocation not allowed",
        split_penalty=policy.split_penalty,
    )


def route_from(
    problem: Problem, policy: RoutingPolicy, members: Sequence[int], *, prefix: str = ""
) -> RoutingResult:
    """The fewest_splits result for a covering set of locations."""
    avg = problem.average_distance_km(members)
    where = f", average distance {avg} km" if avg is not None else ""
    return result(
        problem,
        problem.fill(members),
        strategy="fewest_splits",
        reason=f"{prefix}fewest_splits: {len(members)} location(s){where}",
        split_penalty=policy.split_penalty,
    )


def solve(problem: Problem, policy: RoutingPolicy, *, prefix: str = "") -> RoutingResult:
    limit = policy.max_splits + 1
    found = best_cover(problem, limit)
    if found is None:
        return no_route(
            problem,
            policy,
            "fewest_splits",
            f"{prefix}fewest_splits: no complete route from at most {limit} location(s)",
        )
    return route_from(problem, policy, found, prefix=prefix)


def fewest_splits(
    items: Sequence[RoutingItem],
    candidates: Sequence[Candidate],
    destination: Destination | None,
    policy: RoutingPolicy,
) -> RoutingResult:
    return solve(prepare(items, candidates, destination), policy)


def complete_route_exists(
    items: Sequence[RoutingItem], candidates: Sequence[Candidate], max_splits: int
) -> bool:
    """Whether at most max_splits + 1 of the candidates fulfil every item. Every strategy
    answers a complete route exactly when this holds (the greedy ones and `optimal` fall
    back to fewest_splits' search), so capture asks it to refuse what routing never could
    place."""
    return best_cover(prepare(items, candidates, None), max_splits + 1) is not None


def find_routes_with_fewest_splits(
    items: Sequence[RoutingItem],
    candidates: Sequence[Candidate],
    max_splits: int,
    destination: Destination | None,
    *,
    limit: int | None = None,
) -> list[Route]:
    """Every route that fulfils the whole group from the fewest locations possible (at most
    max_splits + 1), best first: by average distance to the destination, then cost, then
    location ids. No route → []. `limit` keeps only the first routes."""
    RoutingPolicy(max_splits=max_splits)  # validates max_splits
    problem = prepare(items, candidates, destination)
    covers = all_covers(problem, max_splits + 1)
    ranked = sorted(
        (problem.key_of(c), sorted(problem.locations[i].location_id for i in c), c) for c in covers
    )
    if limit is not None:
        ranked = ranked[:limit]
    routes: list[Route] = []
    for (_, cost), _, members in ranked:
        ordered = sorted(members)
        routes.append(
            Route(
                locations=tuple(problem.locations[i].location_id for i in ordered),
                allocations=problem.allocations(problem.fill(ordered)),
                average_distance_km=problem.average_distance_km(ordered),
                cost=cost,
            )
        )
    return routes
