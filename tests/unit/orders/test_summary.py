"""The order summary: change orders applied to item summaries, totals and derived status."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from openoms.domain.errors import (
    DomainError,
    QuantityInvalid,
    QuantityInvariantViolated,
    ValidationFailed,
)
from openoms.domain.order import ItemType, Totals
from openoms.domain.quantities import ItemQuantities
from openoms.domain.summary import (
    ChangeKind,
    ChangeLine,
    ChangeOrder,
    ItemState,
    OrderSummaryStatus,
    apply_change,
    change_totals,
    derive_status,
    summary_totals,
)
from tests.unit.factories import make_states
from tests.unit.strategies import item_quantities

EXAMPLE_TOTALS = Totals(product=6800, delivery=499, adjustments=-1100, tax=1460)


def _types(states: dict[str, ItemState]) -> dict[str, ItemType]:
    return {key: state.original.type for key, state in states.items()}


def _shipped(state: ItemState, *, return_initiated: int = 0) -> ItemState:
    """The item allocated and shipped in full, with some of it on its way back."""
    n = state.quantities.ordered
    quantities = ItemQuantities(
        ordered=n, allocated=n, fulfilled=n, return_initiated=return_initiated
    )
    return dataclasses.replace(state, quantities=quantities)


# --- item states ----------------------------------------------------------------------------


def test_states_of_the_example_order() -> None:
    states = make_states()
    assert list(states) == ["line:0", "line:1", "delivery:home"]
    tee = states["line:0"]
    assert tee.quantities == ItemQuantities(ordered=3)
    assert (tee.total_price, tee.adjustments, tee.tax, tee.total) == (6000, -1035, 1200, 6165)
    assert states["delivery:home"].quantities == ItemQuantities(ordered=1)
    assert summary_totals(states.values()) == EXAMPLE_TOTALS
    assert summary_totals(states.values()).grand_total == 7659


# --- apply_change ---------------------------------------------------------------------------


def test_cancel_one_tee() -> None:
    states = make_states()
    snapshot = dict(states)
    # one of three tees: its price, a third of its discounts back, a third of its tax
    change = ChangeOrder(
        ChangeKind.CANCEL,
        "customer changed mind",
        (ChangeLine("line:0", quantity=-1, total_price=-2000, adjustments=345, tax=-400),),
    )
    after = apply_change(states, change)
    tee = after["line:0"]
    assert tee.quantities == ItemQuantities(ordered=3, canceled=1)
    assert tee.quantities.quantity == 2
    assert (tee.total_price, tee.adjustments, tee.tax, tee.total) == (4000, -690, 800, 4110)
    assert tee.original == states["line:0"].original
    assert after["line:1"] is states["line:1"]
    assert change.total == -2055
    assert change_totals(change, _types(states)) == Totals(
        product=-2000, delivery=0, adjustments=345, tax=-400
    )
    assert summary_totals(after.values()) == Totals(
        product=4800, delivery=499, adjustments=-755, tax=1060
    )
    assert summary_totals(after.values()).grand_total == 7659 - 2055
    assert states == snapshot


def test_cancel_with_shipping_refund() -> None:
    states = make_states()
    change = ChangeOrder(
        ChangeKind.CANCEL,
        "out of stock",
        (
            ChangeLine("line:0", quantity=-3, total_price=-6000, adjustments=1035, tax=-1200),
            ChangeLine("delivery:home", quantity=-1, total_price=-499, tax=-100),
        ),
    )
    after = apply_change(states, change)
    assert after["line:0"].quantities == ItemQuantities(ordered=3, canceled=3)
    assert after["line:0"].total == 0
    assert after["delivery:home"].quantities == ItemQuantities(ordered=1, canceled=1)
    assert after["delivery:home"].total == 0
    assert change_totals(change, _types(states)) == Totals(
        product=-6000, delivery=-499, adjustments=1035, tax=-1300
    )
    assert summary_totals(after.values()) == Totals(
        product=800, delivery=0, adjustments=-65, tax=160
    )
    assert summary_totals(after.values()).grand_total == 895


def test_return_received() -> None:
    states = make_states()
    states["line:0"] = _shipped(states["line:0"], return_initiated=2)
    change = ChangeOrder(
        ChangeKind.RETURN,
        "too small",
        (ChangeLine("line:0", quantity=-2, total_price=-4000, adjustments=690, tax=-800),),
    )
    after = apply_change(states, change)
    tee = after["line:0"]
    assert tee.quantities == ItemQuantities(
        ordered=3, allocated=3, fulfilled=3, return_initiated=2, returned=2
    )
    assert tee.quantities.quantity == 1
    assert (tee.total_price, tee.adjustments, tee.tax) == (2000, -345, 400)
    assert summary_totals(after.values()).grand_total == 7659 - 4110


def test_adjust_changes_amounts_only() -> None:
    states = make_states()
    change = ChangeOrder(
        ChangeKind.ADJUST, "chipped mug", (ChangeLine("line:1", adjustments=-200, tax=-40),)
    )
    after = apply_change(states, change)
    mug = after["line:1"]
    assert mug.quantities == ItemQuantities(ordered=1)
    assert (mug.total_price, mug.adjustments, mug.tax, mug.total) == (800, -265, 120, 655)
    assert change_totals(change, _types(states)) == Totals(adjustments=-200, tax=-40)
    assert summary_totals(after.values()) == Totals(
        product=6800, delivery=499, adjustments=-1300, tax=1420
    )


def test_add_more_of_an_item() -> None:
    states = make_states()
    change = ChangeOrder(
        ChangeKind.ADD, "one more", (ChangeLine("line:1", quantity=2, total_price=1600, tax=320),)
    )
    after = apply_change(states, change)
    mug = after["line:1"]
    assert mug.quantities == ItemQuantities(ordered=3)
    assert (mug.total_price, mug.adjustments, mug.tax) == (2400, -65, 480)
    assert mug.as_priced.quantity == 3
    assert mug.as_priced.total_price == 2400
    assert summary_totals(after.values()) == Totals(
        product=8400, delivery=499, adjustments=-1100, tax=1780
    )


def test_two_lines_on_one_item_apply_in_turn() -> None:
    states = make_states()
    change = ChangeOrder(
        ChangeKind.CANCEL,
        "two steps",
        (
            ChangeLine("line:0", quantity=-1, total_price=-2000, adjustments=345, tax=-400),
            ChangeLine("line:0", quantity=-2, total_price=-4000, adjustments=690, tax=-800),
        ),
    )
    after = apply_change(states, change)
    assert after["line:0"].quantities == ItemQuantities(ordered=3, canceled=3)
    assert (after["line:0"].total_price, after["line:0"].adjustments, after["line:0"].tax) == (
        0,
        0,
        0,
    )


INVALID: list[tuple[str, ChangeOrder, type[DomainError], str]] = [
    (
        "unknown item",
        ChangeOrder(ChangeKind.CANCEL, "x", (ChangeLine("line:9", quantity=-1),)),
        ValidationFailed,
        "change order names unknown item 'line:9'",
    ),
    (
        "adjust with a quantity",
        ChangeOrder(ChangeKind.ADJUST, "x", (ChangeLine("line:1", quantity=-1, adjustments=-1),)),
        QuantityInvalid,
        "an adjustment changes amounts only, not quantities",
    ),
    (
        "cancel with a positive quantity",
        ChangeOrder(ChangeKind.CANCEL, "x", (ChangeLine("line:0", quantity=1),)),
        QuantityInvalid,
        "a cancel change order needs negative quantities",
    ),
    (
        "cancel with no quantity",
        ChangeOrder(ChangeKind.CANCEL, "x", (ChangeLine("line:0", total_price=-100),)),
        QuantityInvalid,
        "a cancel change order needs negative quantities",
    ),
    (
        "return with a positive quantity",
        ChangeOrder(ChangeKind.RETURN, "x", (ChangeLine("line:0", quantity=2),)),
        QuantityInvalid,
        "a return change order needs negative quantities",
    ),
    (
        "cancel more than ordered",
        ChangeOrder(ChangeKind.CANCEL, "x", (ChangeLine("line:0", quantity=-4),)),
        QuantityInvariantViolated,
        "cannot cancel 4: only 3 available to cancel",
    ),
    (
        "return of something never shipped",
        ChangeOrder(ChangeKind.RETURN, "x", (ChangeLine("line:0", quantity=-1),)),
        QuantityInvariantViolated,
        "cannot receive 1: only 0 return initiated",
    ),
    (
        "add nothing",
        ChangeOrder(ChangeKind.ADD, "x", (ChangeLine("line:0", quantity=0, total_price=1),)),
        QuantityInvalid,
        "quantity must be a positive whole number, got 0",
    ),
    (
        "add a negative quantity",
        ChangeOrder(ChangeKind.ADD, "x", (ChangeLine("line:0", quantity=-1),)),
        QuantityInvalid,
        "quantity must be a positive whole number, got -1",
    ),
    (
        "valid line followed by an invalid one",
        ChangeOrder(
            ChangeKind.CANCEL,
            "x",
            (
                ChangeLine("line:1", quantity=-1, total_price=-800, adjustments=65),
                ChangeLine("line:0", quantity=-1, total_price=-2000, adjustments=345),
                ChangeLine("line:0", quantity=-3, total_price=-6000, adjustments=1035),
            ),
        ),
        QuantityInvariantViolated,
        "cannot cancel 3: only 2 available to cancel",
    ),
]


@pytest.mark.parametrize(
    ("change", "error", "detail"), [pytest.param(*case[1:], id=case[0]) for case in INVALID]
)
def test_invalid_change_raises_and_changes_nothing(
    change: ChangeOrder, error: type[DomainError], detail: str
) -> None:
    states = make_states()
    snapshot = dict(states)
    with pytest.raises(error) as caught:
        apply_change(states, change)
    assert type(caught.value) is error
    assert caught.value.detail == detail
    assert states == snapshot
    assert summary_totals(states.values()) == EXAMPLE_TOTALS


# --- summary totals over random change sequences ------------------------------------------------


class SummaryLifecycle(RuleBasedStateMachine):
    """Random services and change orders; the totals must stay the sum of their parts."""

    def __init__(self) -> None:
        super().__init__()
        self.states = make_states()
        self.types = _types(self.states)
        self.original = summary_totals(self.states.values())
        self.changes: list[ChangeOrder] = []

    @initialize(data=st.data())
    def somewhere_in_its_life(self, data: st.DataObject) -> None:
        # Counters move without change orders too (allocation, shipment, RMAs), so start
        # each item anywhere in its life; the amounts stay as captured.
        for key, state in self.states.items():
            q = data.draw(item_quantities(ordered=state.quantities.ordered), label=key)
            self.states[key] = dataclasses.replace(state, quantities=q)

    @rule(key=st.sampled_from(["line:0", "line:1", "delivery:home"]), data=st.data())
    def fulfill_or_start_a_return(self, key: str, data: st.DataObject) -> None:
        # What fulfillment and RMAs do between change orders: counters only.
        q = self.states[key].quantities
        room = {
            "allocate": q.available_to_fulfill,
            "fulfill": q.allocated - q.fulfilled,
            "initiate_return": q.available_to_reship,
        }
        possible = [action for action, limit in room.items() if limit > 0]
        if possible:
            action = data.draw(st.sampled_from(possible), label="action")
            quantity = data.draw(st.integers(min_value=1, max_value=room[action]))
            new = getattr(q, action)(quantity)
            self.states[key] = dataclasses.replace(self.states[key], quantities=new)

    @rule(kind=st.sampled_from(list(ChangeKind)), data=st.data())
    def change(self, kind: ChangeKind, data: st.DataObject) -> None:
        lines = []
        for _ in range(data.draw(st.integers(min_value=1, max_value=3), label="lines")):
            fitting = [k for k, v in self.states.items() if self._room(kind, v.quantities)]
            key = data.draw(
                st.one_of(
                    st.sampled_from(fitting) if fitting else st.nothing(),
                    st.sampled_from([*self.states, "line:7"]),
                ),
                label="item",
            )
            quantity = data.draw(
                st.one_of(self._plausible_quantity(kind, key), st.integers(-3, 3)),
                label="quantity",
            )
            drawn = [
                data.draw(st.one_of(st.integers(lo, hi), st.integers(-3000, 3000)))
                for lo, hi in _PLAUSIBLE_RANGES[kind]
            ]
            lines.append(ChangeLine(key, quantity, *drawn))
        self._apply(kind, lines)

    def _plausible_quantity(self, kind: ChangeKind, key: str) -> st.SearchStrategy[int]:
        """A quantity that would fit the item on its own (the line may still be refused)."""
        state = self.states.get(key)
        if kind is ChangeKind.ADJUST or state is None:
            return st.just(0)
        if kind is ChangeKind.ADD:
            return st.integers(min_value=1, max_value=3)
        return st.integers(min_value=-max(self._room(kind, state.quantities), 1), max_value=-1)

    @staticmethod
    def _room(kind: ChangeKind, q: ItemQuantities) -> int:
        if kind is ChangeKind.CANCEL:
            return q.available_to_cancel
        if kind is ChangeKind.RETURN:
            return q.return_initiated - q.returned
        return 1

    def _apply(self, kind: ChangeKind, lines: list[ChangeLine]) -> None:
        change = ChangeOrder(kind, "random", tuple(lines))
        snapshot = dict(self.states)
        try:
            after = apply_change(self.states, change)
        except DomainError:
            assert self.states == snapshot
            assert not self._applies(change)
            event(f"{kind.value} refused")
            return
        event(f"{kind.value} applied")
        assert self._applies(change)
        assert self.states == snapshot
        for key, state in after.items():
            deltas = [ln for ln in change.lines if ln.item_key == key]
            before = self.states[key]
            assert state.total_price == before.total_price + sum(d.total_price for d in deltas)
            assert state.adjustments == before.adjustments + sum(d.adjustments for d in deltas)
            assert state.tax == before.tax + sum(d.tax for d in deltas)
        self.states = after
        self.changes.append(change)

    def _applies(self, change: ChangeOrder) -> bool:
        """Whether every line fits, judged from the counters without the code under test."""
        counters = {k: dataclasses.asdict(s.quantities) for k, s in self.states.items()}
        amounts = {k: [s.total_price, s.adjustments, s.tax] for k, s in self.states.items()}
        for line in change.lines:
            c = counters.get(line.item_key)
            if c is None:
                return False
            if not _signs_fit(change.kind, line):
                return False
            money = amounts[line.item_key]
            money[0] += line.total_price
            money[1] += line.adjustments
            money[2] += line.tax
            if money[0] + money[1] < 0 or money[2] < 0:
                return False
            q = line.quantity
            if change.kind is ChangeKind.ADJUST:
                if q:
                    return False
            elif change.kind is ChangeKind.ADD:
                if q <= 0:
                    return False
                c["ordered"] += q
            elif change.kind is ChangeKind.CANCEL:
                if q >= 0 or -q > c["ordered"] - c["canceled"] - c["allocated"]:
                    return False
                c["canceled"] -= q
            else:
                if q >= 0 or -q > c["return_initiated"] - c["returned"]:
                    return False
                c["returned"] -= q
        return True

    @invariant()
    def totals_are_the_original_plus_the_changes(self) -> None:
        expected = self.original
        for change in self.changes:
            expected = expected + change_totals(change, self.types)
        totals = summary_totals(self.states.values())
        assert totals == expected
        assert totals.grand_total == sum(s.total for s in self.states.values())
        assert totals.grand_total == 7659 + sum(c.total for c in self.changes)


# (total_price, adjustments, tax) ranges that fit each kind's signs, drawn most of the time.
_PLAUSIBLE_RANGES = {
    ChangeKind.CANCEL: ((-2000, 0), (0, 300), (-400, 0)),
    ChangeKind.RETURN: ((-2000, 0), (0, 300), (-400, 0)),
    ChangeKind.ADJUST: ((0, 0), (-300, 0), (-60, 0)),
    ChangeKind.ADD: ((0, 2000), (-300, 0), (0, 400)),
}


def _signs_fit(kind: ChangeKind, line: ChangeLine) -> bool:
    """Credits come off (cancel, return), discounts lower, additions add (DESIGN.md §3)."""
    if kind is ChangeKind.ADJUST:
        return line.total_price == 0 and line.adjustments <= 0 and line.tax <= 0
    if kind is ChangeKind.ADD:
        return line.total_price >= 0 and line.adjustments <= 0 and line.tax >= 0
    return line.total_price <= 0 and line.adjustments >= 0 and line.tax <= 0


SummaryLifecycle.TestCase.settings = settings(
    max_examples=100, stateful_step_count=25, deadline=None
)
TestSummaryLifecycle = SummaryLifecycle.TestCase


# --- derive_status --------------------------------------------------------------------------


def _p(**counters: int) -> tuple[ItemType, ItemQuantities]:
    return (ItemType.PRODUCT, ItemQuantities(**counters))


def _d(**counters: int) -> tuple[ItemType, ItemQuantities]:
    return (ItemType.DELIVERY_CHARGE, ItemQuantities(**counters))


STATUSES: list[tuple[str, list[tuple[ItemType, ItemQuantities]], OrderSummaryStatus]] = [
    ("new", [_p(ordered=3), _p(ordered=1)], OrderSummaryStatus.CREATED),
    ("partly canceled", [_p(ordered=3, canceled=1), _p(ordered=1)], OrderSummaryStatus.CREATED),
    (
        "one item allocated",
        [_p(ordered=3, allocated=1), _p(ordered=1)],
        OrderSummaryStatus.WAITING_TO_FULFILL,
    ),
    (
        "everything allocated",
        [_p(ordered=3, allocated=3), _p(ordered=1, allocated=1)],
        OrderSummaryStatus.WAITING_TO_FULFILL,
    ),
    (
        "one item shipped",
        [_p(ordered=3, allocated=3, fulfilled=3), _p(ordered=1)],
        OrderSummaryStatus.PARTIALLY_FULFILLED,
    ),
    (
        "part of an item shipped",
        [_p(ordered=3, allocated=3, fulfilled=1), _p(ordered=1, allocated=1)],
        OrderSummaryStatus.PARTIALLY_FULFILLED,
    ),
    (
        "everything shipped",
        [_p(ordered=3, allocated=3, fulfilled=3), _p(ordered=1, allocated=1, fulfilled=1)],
        OrderSummaryStatus.FULFILLED,
    ),
    (
        "the rest shipped after a cancel",
        [_p(ordered=3, canceled=1, allocated=2, fulfilled=2), _p(ordered=1, canceled=1)],
        OrderSummaryStatus.FULFILLED,
    ),
    (
        "shipped, one return on its way",
        [
            _p(ordered=3, allocated=3, fulfilled=3, return_initiated=3),
            _p(ordered=1, allocated=1, fulfilled=1),
        ],
        OrderSummaryStatus.FULFILLED,
    ),
    (
        "shipped, part returned",
        [
            _p(ordered=3, allocated=3, fulfilled=3, return_initiated=1, returned=1),
            _p(ordered=1, allocated=1, fulfilled=1),
        ],
        OrderSummaryStatus.FULFILLED,
    ),
    (
        "everything canceled",
        [_p(ordered=3, canceled=3), _p(ordered=1, canceled=1)],
        OrderSummaryStatus.CANCELED,
    ),
    (
        "everything returned",
        [
            _p(ordered=3, allocated=3, fulfilled=3, return_initiated=3, returned=3),
            _p(ordered=1, allocated=1, fulfilled=1, return_initiated=1, returned=1),
        ],
        OrderSummaryStatus.CLOSED,
    ),
    (
        "canceled or returned",
        [
            _p(ordered=3, canceled=1, allocated=2, fulfilled=2, return_initiated=2, returned=2),
            _p(ordered=1, canceled=1),
        ],
        OrderSummaryStatus.CLOSED,
    ),
]


@pytest.mark.parametrize(
    ("items", "status"), [pytest.param(*case[1:], id=case[0]) for case in STATUSES]
)
def test_derive_status(
    items: list[tuple[ItemType, ItemQuantities]], status: OrderSummaryStatus
) -> None:
    assert derive_status(items) is status


_DELIVERY_CHARGES = [
    _d(ordered=1),
    _d(ordered=1, canceled=1),
    _d(ordered=1, allocated=1),
    _d(ordered=1, allocated=1, fulfilled=1),
    _d(ordered=1, allocated=1, fulfilled=1, return_initiated=1, returned=1),
]


@pytest.mark.parametrize(
    ("items", "status"), [pytest.param(*case[1:], id=case[0]) for case in STATUSES]
)
@pytest.mark.parametrize("charge", range(len(_DELIVERY_CHARGES)))
def test_delivery_charges_do_not_affect_status(
    items: list[tuple[ItemType, ItemQuantities]], status: OrderSummaryStatus, charge: int
) -> None:
    charges = [_DELIVERY_CHARGES[charge]]
    assert derive_status([*charges, *items]) is status
    assert derive_status([*items, *charges, *charges]) is status


def test_status_of_the_example_order_through_its_life() -> None:
    states = make_states()

    def status() -> OrderSummaryStatus:
        return derive_status([(s.original.type, s.quantities) for s in states.values()])

    def update(key: str, quantities: ItemQuantities) -> None:
        states[key] = dataclasses.replace(states[key], quantities=quantities)

    assert status() is OrderSummaryStatus.CREATED
    update("line:0", states["line:0"].quantities.allocate(3))
    assert status() is OrderSummaryStatus.WAITING_TO_FULFILL
    update("line:0", states["line:0"].quantities.fulfill(3))
    assert status() is OrderSummaryStatus.PARTIALLY_FULFILLED
    states = apply_change(
        states,
        ChangeOrder(
            ChangeKind.CANCEL,
            "not collected",
            (ChangeLine("line:1", quantity=-1, total_price=-800, adjustments=65, tax=-160),),
        ),
    )
    assert status() is OrderSummaryStatus.FULFILLED
    update("line:0", states["line:0"].quantities.initiate_return(3))
    assert status() is OrderSummaryStatus.FULFILLED
    states = apply_change(
        states,
        ChangeOrder(
            ChangeKind.RETURN,
            "too small",
            (ChangeLine("line:0", quantity=-3, total_price=-6000, adjustments=1035, tax=-1200),),
        ),
    )
    assert status() is OrderSummaryStatus.CLOSED
    # the delivery charge was never canceled or refunded: it is all that is left owed
    assert summary_totals(states.values()).grand_total == 599


@settings(max_examples=200, deadline=None)
@given(
    products=st.lists(item_quantities(), min_size=1, max_size=4),
    charges=st.lists(item_quantities(), max_size=3),
)
def test_status_ignores_delivery_charges(
    products: list[ItemQuantities], charges: list[ItemQuantities]
) -> None:
    items = [(ItemType.PRODUCT, q) for q in products]
    mixed = [*((ItemType.DELIVERY_CHARGE, q) for q in charges), *items]
    status = derive_status(items)
    assert derive_status(mixed) is status
    assert (status is OrderSummaryStatus.CANCELED) == all(q.net_ordered == 0 for q in products)
    everything_shipped = all(q.fulfilled == q.net_ordered for q in products)
    assert (status in (OrderSummaryStatus.FULFILLED, OrderSummaryStatus.CLOSED)) == (
        everything_shipped and status is not OrderSummaryStatus.CANCELED
    )
