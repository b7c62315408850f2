"""What the stateful property tests share: an empty database per example, decimal strings
to minor units, and how a state machine runs on one backend."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, Phase, settings
from hypothesis.stateful import RuleBasedStateMachine, run_state_machine_as_test
from sqlalchemy import delete

from openoms.adapters.db.models import Base
from openoms.adapters.db.session import Database
from tests.conftest import empty_postgres


def minor(amount: str) -> int:
    units, _, cents = amount.partition(".")
    sign = -1 if units.startswith("-") else 1
    return sign * (abs(int(units)) * 100 + int(cents.ljust(2, "0")))


def reset(db: Database) -> None:
    """Empty every table (faster than a new database per example)."""
    if db.dialect == "postgresql":
        empty_postgres(db)
        return
    with db.engine.begin() as connection:
        for table in reversed(Base.metadata.sorted_tables):
            connection.execute(delete(table))


def run_machine(
    machine: type[RuleBasedStateMachine],
    db: Database,
    *,
    env: str,
    examples: int,
    steps: int,
    postgres_examples: int | None = None,
) -> None:
    """Run `machine` on `db` (set as its `db`): `examples` runs of up to `steps` steps
    (`postgres_examples` on PostgreSQL when given: the machine's logic is the same on both,
    and the slower database need not replay every sequence to check its SQL),
    derandomized unless OPENOMS_{env}_RANDOM is set, more with OPENOMS_{env}_EXAMPLES;
    NOSHRINK skips shrinking a failure."""
    if postgres_examples is not None and db.dialect == "postgresql":
        examples = postgres_examples

    class OnThisBackend(machine):  # type: ignore[valid-type, misc]
        pass

    OnThisBackend.db = db
    run_state_machine_as_test(
        OnThisBackend,
        settings=settings(
            max_examples=int(os.environ.get(f"OPENOMS_{env}_EXAMPLES", examples)),
            stateful_step_count=steps,
            deadline=None,
            derandomize=not os.environ.get(f"OPENOMS_{env}_RANDOM"),
            phases=[Phase.explicit, Phase.generate] if os.environ.get("NOSHRINK") else list(Phase),
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
