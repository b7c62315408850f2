"""What a caller bound to some channels sees of the order data: one filter for every query.

A session restricted to channels adds, to every ORM SELECT it runs, the criteria below
(SQLAlchemy's `with_loader_criteria`, applied in the `do_orm_execute` event, which reaches
`Session.get`, joins, subqueries, counts and relationship loads). An order summary of another
channel, and every row that belongs to one, is then simply not there: a lookup by id finds
nothing and answers whatever that service answers for an id that does not exist, a list or a
page leaves the rows out before it is cut, a report does not count them. No service or
endpoint has to remember a check, so a new one cannot forget it.

The rows that belong to an order are found, not listed: every mapped class with an
`order_summary_id` column (and the order summary itself, by its `channel`). A NULL
`order_summary_id` belongs to no order: hidden from a bound caller, except for the classes
in `NO_ORDER_VISIBLE` (a reservation made without an order is a plain stock hold).
Core statements (`insert(table)`, `text(...)`) are not filtered; they are writes, or reads
of stock and jobs, never a lookup an endpoint answers from.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event, or_, select
from sqlalchemy.orm import ORMExecuteState, Session, sessionmaker, with_loader_criteria
from sqlalchemy.sql.elements import ColumnElement

from openoms.adapters.db import models as m

# Rows with no order summary that a bound caller still sees.
NO_ORDER_VISIBLE: frozenset[type[m.Base]] = frozenset({m.Reservation})


def owned_classes() -> list[type[m.Base]]:
    """Every mapped class whose rows belong to an order summary."""
    return sorted(
        (
            mapper.class_
            for mapper in m.Base.registry.mappers
            if "order_summary_id" in mapper.columns
        ),
        key=lambda cls: cls.__name__,
    )


def channel_criteria(channels: frozenset[str]) -> list[Any]:
    """Loader options that hide every order summary outside `channels` and every row that
    belongs to one."""
    visible = select(m.OrderSummary.id).where(m.OrderSummary.channel.in_(sorted(channels)))
    options: list[Any] = [
        with_loader_criteria(
            m.OrderSummary, m.OrderSummary.channel.in_(sorted(channels)), include_aliases=True
        )
    ]
    for cls in owned_classes():
        column = cls.__mapper__.columns["order_summary_id"]
        criterion: ColumnElement[bool] = column.in_(visible)
        if cls in NO_ORDER_VISIBLE:
            criterion = or_(column.is_(None), criterion)
        options.append(with_loader_criteria(cls, criterion, include_aliases=True))
    return options


def restrict_to_channels(factory: sessionmaker[Session], channels: frozenset[str]) -> None:
    """Make every session of `factory` see only the order data of `channels`."""
    options = channel_criteria(channels)

    @event.listens_for(factory, "do_orm_execute")
    def _only_these_channels(state: ORMExecuteState) -> None:
        # Relationship and column loads inherit the options of the query that loaded the
        # parent (propagate_to_loaders), so only top-level SELECTs need them added.
        if state.is_select and not state.is_column_load and not state.is_relationship_load:
            state.statement = state.statement.options(*options)
