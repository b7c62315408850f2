"""One component's mixed-integer programme, solved by HiGHS from the current assignment, and
the log of what each solve gave (package doc)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import highspy
import numpy as np

from openoms.domain.routing.batch.instance import BatchGroup, Cell, Instance, valid

# With expected groups: what moving a placed group to a location it does not use costs, in
# shipments (without it, runs move groups back and forth for small expected savings).
MOVE_SHARE = 0.25
STAY = 0.5  # shared by the locations groups use now: breaks ties (never a real saving)


def weights(groups: Sequence[BatchGroup]) -> tuple[int, int]:
    """(per shipment, per unit placed) weights that make the objective's order strict per
    group (module doc)."""
    ship_max = max((r.per_shipment for g in groups for r in g.rates.values()), default=0)
    unit_max = max((r.per_unit for g in groups for r in g.rates.values()), default=0)
    biggest = max((sum(g.need.values()) for g in groups), default=0)
    most = max((g.max_locations for g in groups), default=1)
    per_shipment = ship_max * most + unit_max * biggest + 1  # more than any group's cost
    # A unit placed in a new shipment gains more than the solver's gap (half a shipment):
    # a plan that leaves a unit unplaced is never accepted as optimal.
    per_unit = 2 * per_shipment + ship_max + unit_max + 1
    return per_shipment, per_unit


class Model:
    """One component's MIP, column-wise (see module doc)."""

    def __init__(self, inst: Instance, members: Sequence[int]) -> None:
        self.inst = inst
        self.members = list(members)
        groups = [inst.groups[gi] for gi in members]
        self.ship_w, self.unit_w = weights(groups)
        # Expected groups (package doc, look-ahead) are continuous: `weight` copies of the
        # group, relaxed. Taking a unit from them loses them at most `unit_w`, so a real
        # group's unit, worth twice that, always wins: they never keep a unit from a real
        # group that waits for it.
        expected = [inst.weights[gi] for gi in members if inst.expected(gi)]
        self.real_unit_w = self.unit_w * (2 if expected else 1)
        # Proof to within half a shipment; with expected groups, to within half of the
        # smallest one's share of a shipment (a twentieth at least).
        least = max(0.05, min([1.0, *expected]))
        self.gap = max(0.999 * least, self.ship_w * least / 2)
        self.expected_any = bool(expected)
        self.stay = STAY * least  # a tie-break under the least weighted shipment
        self.xs: list[tuple[int, Cell, float]] = []  # (group index, cell, upper bound)
        self.ys: list[tuple[int, str]] = []
        self.ws: list[int] = []  # groups with a "more units" switch
        self.zs: list[int] = []  # all-or-nothing groups
        for gi in self.members:
            g = inst.groups[gi]
            locs: set[str] = set()
            copies = inst.weights[gi]
            for cell in inst.cells[gi]:
                cap = min(g.need[cell[1]] * copies, inst.stock.get(cell, 0))
                self.xs.append((gi, cell, cap))
                locs.add(cell[0])
            self.ys += [(gi, loc) for loc in sorted(locs)]
            total, now = sum(g.need.values()), sum(g.current.values())
            if inst.expected(gi):
                continue  # no promise: no switch, partial
            if now < total:
                self.ws.append(gi)
            if not g.allow_partial:
                self.zs.append(gi)

    @property
    def size(self) -> int:
        return len(self.xs) + len(self.ys)

    def solve(self, budget_ms: int) -> tuple[str, dict[int, dict[Cell, int]] | None]:
        inst = self.inst
        nx, ny, nw = len(self.xs), len(self.ys), len(self.ws)
        ncol = nx + ny + nw + len(self.zs)
        y_at = {key: nx + k for k, key in enumerate(self.ys)}
        w_at = {gi: nx + ny + k for k, gi in enumerate(self.ws)}
        z_at = {gi: nx + ny + nw + k for k, gi in enumerate(self.zs)}
        cost = np.zeros(ncol)
        upper = np.ones(ncol)
        wants_more = set(self.ws)
        for t, (gi, (loc, _), cap) in enumerate(self.xs):
            if inst.expected(gi):
                reward = self.unit_w
            else:  # a group placed in full now stays so (its promise row): no reward needed
                reward = self.real_unit_w if gi in wants_more else 0
            cost[t] = inst.groups[gi].rates[loc].per_unit - reward
            upper[t] = cap
        used_now = {gi: {loc for loc, _ in inst.groups[gi].current} for gi in self.members}
        staying = [col for (gi, loc), col in y_at.items() if loc in used_now[gi]]
        # With expected groups, a placed group that ships from a location it does not use
        # now pays a quarter shipment: a move must be worth that much of the day to come.
        move = MOVE_SHARE * self.ship_w if self.expected_any else 0.0
        for (gi, loc), col in y_at.items():
            cost[col] = self.ship_w + inst.groups[gi].rates[loc].per_shipment
            if move and not inst.expected(gi) and used_now[gi] and loc not in used_now[gi]:
                cost[col] += move
            upper[col] = inst.weights[gi]  # an expected group's copies shipping from loc
        for col in staying:  # a tie keeps groups where they are; all of it is under 1
            cost[col] -= self.stay / (len(staying) + 1)
        rows: list[tuple[dict[int, float], float, float]] = []
        inf = highspy.kHighsInf
        x_of: dict[int, list[int]] = defaultdict(list)
        cell_rows: dict[Cell, dict[int, float]] = defaultdict(dict)
        for t, (gi, cell, cap) in enumerate(self.xs):
            x_of[gi].append(t)
            # x <= cap*y; an expected group's copies: x <= need*y
            per = float(inst.groups[gi].need[cell[1]]) if inst.expected(gi) else float(cap)
            rows.append(({t: 1.0, y_at[gi, cell[0]]: -per}, -inf, 0.0))
            if cell in inst.contested:
                cell_rows[cell][t] = 1.0
        for cell, coeffs in sorted(cell_rows.items()):
            rows.append((coeffs, -inf, float(inst.stock[cell])))
        y_of: dict[int, list[int]] = defaultdict(list)
        for (gi, _), col in y_at.items():
            y_of[gi].append(col)
        for gi in self.members:
            self._group_rows(gi, rows, x_of[gi], y_of[gi], w_at, z_at)
        return self._run(rows, cost, upper, budget_ms)

    def _group_rows(
        self,
        gi: int,
        rows: list[tuple[dict[int, float], float, float]],
        x_cols: list[int],
        y_cols: list[int],
        w_at: Mapping[int, int],
        z_at: Mapping[int, int],
    ) -> None:
        g = self.inst.groups[gi]
        inf = highspy.kHighsInf
        by_sku: dict[str, dict[int, float]] = defaultdict(dict)
        for t in x_cols:
            by_sku[self.xs[t][1][1]][t] = 1.0
        copies = self.inst.weights[gi]  # 1 for a real group
        for sku, need in sorted(g.need.items()):
            coeffs = dict(by_sku.get(sku, {}))
            if gi in z_at:  # all or nothing: sum_l x = need * z
                coeffs[z_at[gi]] = -float(need)
                rows.append((coeffs, 0.0, 0.0))
            else:
                rows.append((coeffs, -inf, need * copies))
        rows.append(({c: 1.0 for c in y_cols}, -inf, g.max_locations * copies))
        if self.inst.expected(gi):
            return  # no promise
        now = float(sum(g.current.values()))
        ships_now = float(len({loc for (loc, _), q in g.current.items() if q > 0}))
        placed = {t: 1.0 for t in x_cols}
        if gi in w_at:  # more units (w = 1), or as many in no more shipments (w = 0)
            w = w_at[gi]
            rows.append(({**placed, w: -1.0}, now, inf))
            rows.append(({**{c: 1.0 for c in y_cols}, w: -float(g.max_locations)}, -inf, ships_now))
        else:
            rows.append((placed, now, inf))
            rows.append(({c: 1.0 for c in y_cols}, -inf, ships_now))

    def _integrality(self, ncol: int) -> np.ndarray:
        """Every column integer but the expected groups': their relaxed plan prices the
        stock they bid for, and leaves the model's integer part as it was."""
        out = np.ones(ncol, dtype=np.int32)
        for t, (gi, _, _) in enumerate(self.xs):
            if self.inst.expected(gi):
                out[t] = 0
        nx = len(self.xs)
        for k, (gi, _) in enumerate(self.ys):
            if self.inst.expected(gi):
                out[nx + k] = 0
        return out

    def _start(self, ncol: int) -> list[float]:
        """The current assignment as a starting solution."""
        inst = self.inst
        values = [0.0] * ncol
        used: set[tuple[int, str]] = set()
        for t, (gi, cell, _) in enumerate(self.xs):
            q = inst.groups[gi].current.get(cell, 0)
            values[t] = float(q)
            if q:
                used.add((gi, cell[0]))
        nx = len(self.xs)
        for k, key in enumerate(self.ys):
            values[nx + k] = 1.0 if key in used else 0.0
        # w = 0 and z = (placed in full) hold for the current assignment.
        for k, gi in enumerate(self.zs):
            g = inst.groups[gi]
            full = sum(g.current.values()) == sum(g.need.values()) and sum(g.need.values()) > 0
            values[nx + len(self.ys) + len(self.ws) + k] = 1.0 if full else 0.0
        return values

    def _run(
        self,
        rows: list[tuple[dict[int, float], float, float]],
        cost: np.ndarray,
        upper: np.ndarray,
        budget_ms: int,
    ) -> tuple[str, dict[int, dict[Cell, int]] | None]:
        ncol = len(cost)
        starts: list[int] = []
        index: list[int] = []
        value: list[float] = []
        for coeffs, _, _ in rows:
            starts.append(len(index))
            for col, v in sorted(coeffs.items()):
                index.append(col)
                value.append(v)
        h = highspy.Highs()  # type: ignore[no-untyped-call]  # highspy leaves __init__ unannotated
        h.setOptionValue("output_flag", False)
        h.setOptionValue("time_limit", max(budget_ms, 1) / 1000)
        h.setOptionValue("mip_rel_gap", 0.0)
        # Proof to within half a (weighted) shipment: the shipments are exact, the cost
        # nearly so.
        h.setOptionValue("mip_abs_gap", self.gap)
        h.setOptionValue("threads", 1)
        h.passModel(
            ncol,
            len(rows),
            len(index),
            2,  # row-wise matrix
            1,  # minimise
            0.0,
            cost,
            np.zeros(ncol),
            upper,
            np.array([lo for _, lo, _ in rows], dtype=np.float64),
            np.array([hi for _, _, hi in rows], dtype=np.float64),
            np.array(starts, dtype=np.int32),
            np.array(index, dtype=np.int32),
            np.array(value, dtype=np.float64),
            self._integrality(ncol),
        )
        start = highspy.HighsSolution()
        start.col_value = self._start(ncol)
        start.value_valid = True
        h.setSolution(start)
        h.run()
        status = h.modelStatusToString(h.getModelStatus())
        if h.getInfo().primal_solution_status != 2:  # 2: a feasible solution is held
            return status, None
        solution = h.getSolution().col_value
        # The expected groups' plan is dropped (and may be fractional).
        out: dict[int, dict[Cell, int]] = {
            gi: {} for gi in self.members if not self.inst.expected(gi)
        }
        for t, (gi, cell, _) in enumerate(self.xs):
            q = round(solution[t])
            if q > 0 and gi in out:
                out[gi][cell] = q
        return status, out


def solve_model(
    mdl: Model, budget_ms: int
) -> tuple[str, dict[int, dict[Cell, int]] | None, str, int]:
    """(HiGHS status, the model's plan or None for "keep the current", why not, size)."""
    try:
        status, found = mdl.solve(budget_ms)
    except Exception as exc:  # a solver failure must not fail the run
        why = f"solver error {type(exc).__name__}: kept the current assignment"
        return "error", None, why, mdl.size
    if found is None:
        why = f"solver found no plan ({status}): kept the current assignment"
        return status, None, why, mdl.size
    if not valid(mdl.inst, found):
        return (
            status,
            None,
            "solver's plan failed the checks: kept the current assignment",
            mdl.size,
        )
    return status, found, "", mdl.size


@dataclass(slots=True)
class Log:
    statuses: set[str] = field(default_factory=set)
    notes: set[str] = field(default_factory=set)
    solves: int = 0
    variables: int = 0
    neighbourhoods: int = 0
    consolidated: int = 0

    def add(
        self,
        outcome: tuple[str, dict[int, dict[Cell, int]] | None, str, int],
        plan: dict[int, dict[Cell, int]],
    ) -> None:
        status, found, note, size = outcome
        self.solves += 1
        self.variables += size
        self.statuses.add(status)
        if found is not None:
            plan.update(found)
        elif note:
            self.notes.add(note)

    def status(self) -> str:
        if self.notes:
            return "fallback"
        if self.statuses - {"Optimal"}:
            return "time_limit"
        return "optimal" if not self.neighbourhoods else "improved"

    def reason(self, groups: int, comps: int, hard: int) -> str:
        why = (
            f"{groups} group(s) in {comps} independent component(s); {hard} component(s) "
            f"solved with HiGHS in {self.solves} model(s) ({self.variables} variables), "
            "the rest routed alone"
        )
        if self.consolidated:
            why += f"; {self.consolidated} split group(s) consolidated by moving others' units"
        if self.neighbourhoods:
            why += (
                f"; large components improved from the current assignment in "
                f"{self.neighbourhoods} neighbourhood(s), a local optimum"
            )
        if "Time limit reached" in self.statuses:
            why += "; the time budget ran out in some model(s): best plan found kept"
        if self.notes:
            why += "; " + "; ".join(sorted(self.notes))
        return why
