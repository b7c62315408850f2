"""A sandbox payment gateway that behaves like a real one, for development and tests.

It keeps its own ledger of authorizations, captures, refunds and reversals in the database
it is given (its own `sandbox_gateway_*` tables: the storage a remote gateway has on its
side), so a test can check what the gateway saw: each movement appears once, however often
it was asked for.

Shared and not. Everything that decides an answer lives in those tables, so every instance
over one database — the API's, each worker's, in any process, before and after a restart —
is one gateway: the ledger with what is left on each authorization and capture, the final
answer per (operation, idempotency key), and the per-key call counts that `tok_timeout`
and `tok_flaky` go by. What steers the sandbox in a test stays in the instance: `recover`,
`fail_next`, the `calls` counter and the constructor's settings (`seed`, `timeout_calls`,
`timeout_moves_money`, `flaky_rate`; give every instance the same). Each call opens its own
short transaction on the database: call it with no transaction of yours open (on SQLite a
caller holding the write lock would wait for itself).

Idempotency. A final answer (SUCCESS or PERMANENT_FAIL) is remembered per (operation,
idempotency key): the same key answers the same again and never moves money twice, even
sent by two processes at once (the key's attempt row is locked for the call). The same key
with a different amount, token or reference is PERMANENT_FAIL, as a real gateway refuses a
reused key. DECLINE and INDETERMINATE are not final: the same key may be sent again and
succeed.

Test tokens (any other token is approved like `tok_visa`):
- `tok_visa` approves.
- `tok_soft_decline` → DECLINE on authorize and capture until `recover(token)`.
- `tok_hard_decline` → PERMANENT_FAIL on authorize and capture.
- `tok_timeout` → INDETERMINATE for the first `timeout_calls` calls with each key; with
  `timeout_moves_money` (the default) the movement is made and recorded anyway ("charged,
  answer lost"), so a retry with the same key gets SUCCESS, the same reference, one charge.
- `tok_flaky` → INDETERMINATE on a share (`flaky_rate`) of calls, half of them after the
  movement was made; drawn from (`seed`, operation, key, attempt number), so every process
  draws the same.
- `tok_partial` → authorizations approve half the amount asked (rounded down).

Rules a real gateway enforces: a capture needs a known authorization of the same currency
and at most what is left on it (authorized − captured − reversed); a refund at most what is
left of the capture (captured − refunded); amounts are positive. Breaking one is
PERMANENT_FAIL with nothing moved.

`preauthorize` records an authorization without any token behaviour (what a storefront did at
checkout); `fail_next` makes the next calls answer a given result with nothing moved
(operation "lookup": `get_authorization` raises GatewayUnavailable).
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from openoms.adapters.db.models import Base, SandboxGatewayAnswer, SandboxGatewayMovement
from openoms.adapters.db.session import Database, dialect_insert, retry_transient
from openoms.domain.ports import (
    AuthorizationLookup,
    AuthorizationState,
    GatewayRequest,
    GatewayResponse,
    GatewayResult,
    GatewayUnavailable,
)

APPROVE = "tok_visa"
SOFT_DECLINE = "tok_soft_decline"
HARD_DECLINE = "tok_hard_decline"
TIMEOUT = "tok_timeout"
FLAKY = "tok_flaky"
PARTIAL = "tok_partial"

_PREFIX = {"authorize": "auth", "capture": "ch", "refund": "re", "reverse": "rv"}
_FINAL = (GatewayResult.SUCCESS, GatewayResult.PERMANENT_FAIL)
_Movement = SandboxGatewayMovement
_MOVEMENTS = Base.metadata.tables["sandbox_gateway_movements"]
_ATTEMPTS = Base.metadata.tables["sandbox_gateway_attempts"]


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """One movement the gateway made: `reference` is its id, `on` what it acted on."""

    operation: str  # authorize | capture | refund | reverse
    idempotency_key: str
    reference: str
    token: str
    amount: int
    currency: str
    on: str | None = None


class SandboxGateway:
    """The sandbox gateway named `name`, its state in `db` (see the module docstring)."""

    def __init__(
        self,
        db: Database,
        name: str = "sandbox",
        *,
        seed: int = 0,
        timeout_calls: int = 1,
        timeout_moves_money: bool = True,
        flaky_rate: float = 0.5,
    ) -> None:
        self.name = name
        self.timeout_calls = timeout_calls
        self.timeout_moves_money = timeout_moves_money
        self.flaky_rate = flaky_rate
        self._db = db
        self._seed = seed
        self._lock = threading.Lock()
        self._recovered: set[str] = set()
        self._fail_next: list[tuple[GatewayResult, str | None]] = []
        self.calls = 0  # calls this instance made, failed ones included

    # --- steering the sandbox (this instance only) ---------------------------------------

    def recover(self, token: str) -> None:
        """A soft-declining token approves from now on (the customer topped up)."""
        with self._lock:
            self._recovered.add(token)

    def fail_next(self, calls: int, result: GatewayResult, *, operation: str | None = None) -> None:
        """The next `calls` calls (of `operation`, or any) answer `result`, nothing moved."""
        with self._lock:
            self._fail_next.extend([(result, operation)] * calls)

    def clear_faults(self) -> None:
        """Forget the calls `fail_next` asked to fail that have not been made."""
        with self._lock:
            self._fail_next.clear()

    def preauthorize(self, token: str, amount: int, currency: str, *, key: str) -> str:
        """Record an authorization as approved at checkout (no token behaviour); returns its
        reference, the same for the same key."""
        request = GatewayRequest(key, token, amount, currency)

        def record() -> str:
            with self._db.transaction() as session:
                return self._move(session, "authorize", request, amount).reference or ""

        return retry_transient(record)

    def reference_for(self, operation: str, key: str) -> str:
        """The reference a movement made with this key has (deterministic), made or not."""
        digest = hashlib.sha256(f"{self.name}\n{operation}\n{key}".encode()).hexdigest()
        return f"{_PREFIX[operation]}_{digest[:20]}"

    # --- what the gateway knows (read from its tables) ----------------------------------

    @property
    def ledger(self) -> list[LedgerEntry]:
        """Every movement made, once each, in order."""
        return self._entries()

    def movements(self, operation: str) -> list[LedgerEntry]:
        return self._entries(operation)

    def captured_on(self, authorization: str) -> int:
        with self._db.reading() as session:
            found = self._movement(session, "authorize", authorization)
            return 0 if found is None else found.captured

    # --- the PaymentGateway protocol -------------------------------------------------------

    def authorize(self, request: GatewayRequest) -> GatewayResponse:
        return self._call("authorize", request)

    def capture(self, request: GatewayRequest) -> GatewayResponse:
        return self._call("capture", request)

    def refund(self, request: GatewayRequest) -> GatewayResponse:
        return self._call("refund", request)

    def reverse_authorization(self, request: GatewayRequest) -> GatewayResponse:
        return self._call("reverse", request)

    def get_authorization(self, reference: str) -> AuthorizationLookup:
        with self._lock:
            self.calls += 1
            injected = self._injected("lookup")
        if injected is not None:
            raise GatewayUnavailable(f"sandbox: injected {injected.value}")
        with self._db.reading() as session:
            auth = self._movement(session, "authorize", reference)
            if auth is None:
                return AuthorizationLookup(reference, AuthorizationState.UNKNOWN)
            left = auth.amount - auth.captured - auth.reversed
            state = AuthorizationState.OPEN
            if left <= 0:
                state = (
                    AuthorizationState.REVERSED if auth.reversed else AuthorizationState.CAPTURED
                )
            return AuthorizationLookup(reference, state, auth.amount, auth.currency, left)

    # --- internals -----------------------------------------------------------------------

    def _entries(self, operation: str | None = None) -> list[LedgerEntry]:
        query = select(_Movement).where(_Movement.gateway == self.name).order_by(_Movement.id)
        if operation is not None:
            query = query.where(_Movement.operation == operation)
        with self._db.reading() as session:
            return [
                LedgerEntry(
                    e.operation,
                    e.idempotency_key,
                    e.reference,
                    e.token,
                    e.amount,
                    e.currency,
                    e.on_reference,
                )
                for e in session.scalars(query)
            ]

    def _call(self, operation: str, request: GatewayRequest) -> GatewayResponse:
        with self._lock:
            self.calls += 1

        def answer() -> GatewayResponse:
            with self._db.transaction() as session:
                return self._answer(session, operation, request)

        return retry_transient(answer)

    def _answer(self, session: Session, operation: str, request: GatewayRequest) -> GatewayResponse:
        attempt = self._count_attempt(session, operation, request.idempotency_key)
        remembered = session.get(
            SandboxGatewayAnswer, (self.name, operation, request.idempotency_key)
        )
        if request.token == TIMEOUT and attempt <= self.timeout_calls:
            moved = self.timeout_moves_money and remembered is None
            return self._lost(session, operation, request, moved=moved)
        if remembered is not None:
            if _request_of(remembered) != request:
                return _fail(f"idempotency key {request.idempotency_key} reused differently")
            return _response_of(remembered)
        with self._lock:
            injected = self._injected(operation)
        if injected is not None:
            return GatewayResponse(injected, 0, None, f"sandbox: injected {injected.value}")
        trouble = self._trouble(session, operation, request, attempt)
        if trouble is not None:
            return trouble
        return self._perform_and_remember(session, operation, request)

    def _count_attempt(self, session: Session, operation: str, key: str) -> int:
        """This call's number among the calls with (operation, key), from 1. The upsert
        locks the key's row until commit: concurrent calls with one key take turns."""
        statement = (
            dialect_insert(session, _ATTEMPTS)
            .values(gateway=self.name, operation=operation, idempotency_key=key, calls=1)
            .on_conflict_do_update(
                index_elements=["gateway", "operation", "idempotency_key"],
                set_={"calls": _ATTEMPTS.c.calls + 1},
            )
            .returning(_ATTEMPTS.c.calls)
        )
        return int(session.execute(statement).scalar_one())

    def _injected(self, operation: str) -> GatewayResult | None:
        for n, (result, only) in enumerate(self._fail_next):
            if only is None or only == operation:
                del self._fail_next[n]
                return result
        return None

    def _trouble(
        self, session: Session, operation: str, request: GatewayRequest, attempt: int
    ) -> GatewayResponse | None:
        """The token's misbehaviour for this call, if any (None: process normally)."""
        token = request.token
        takes_money = operation in ("authorize", "capture")
        with self._lock:
            declining = token == SOFT_DECLINE and token not in self._recovered
        if takes_money and declining:
            return GatewayResponse(GatewayResult.DECLINE, 0, None, "insufficient funds")
        if takes_money and token == HARD_DECLINE:
            return _fail("card reported stolen")
        if token == FLAKY and self._draw(operation, request, attempt, "lost") < self.flaky_rate:
            moved = self._draw(operation, request, attempt, "moved") < 0.5
            return self._lost(session, operation, request, moved=moved)
        return None

    def _draw(self, operation: str, request: GatewayRequest, attempt: int, what: str) -> float:
        """A number in [0, 1) fixed by the seed, the call and `what` it decides."""
        text = f"{self._seed}\n{operation}\n{request.idempotency_key}\n{attempt}\n{what}"
        return int(hashlib.sha256(text.encode()).hexdigest()[:13], 16) / 16**13

    def _lost(
        self, session: Session, operation: str, request: GatewayRequest, *, moved: bool
    ) -> GatewayResponse:
        """A timeout: when `moved`, the gateway did the work but the answer never arrived."""
        if moved:
            self._perform_and_remember(session, operation, request)
        return GatewayResponse(GatewayResult.INDETERMINATE, 0, None, "sandbox: timed out")

    def _perform_and_remember(
        self, session: Session, operation: str, request: GatewayRequest
    ) -> GatewayResponse:
        answer = self._perform(session, operation, request)
        if answer.result in _FINAL:
            session.add(_answer_row(self.name, operation, request, answer))
        return answer

    def _perform(
        self, session: Session, operation: str, request: GatewayRequest
    ) -> GatewayResponse:
        if request.amount <= 0:
            return _fail(f"amount must be positive, got {request.amount}")
        if operation == "authorize":
            amount = request.amount // 2 if request.token == PARTIAL else request.amount
            return (
                self._move(session, operation, request, amount)
                if amount
                else _fail("nothing approved")
            )
        on_authorization = operation in ("capture", "reverse")
        acts_on = "authorize" if on_authorization else "capture"
        target = self._movement(session, acts_on, request.reference or "", lock=True)
        what = "authorization" if on_authorization else "capture"
        if target is None:
            return _fail(f"no {what} {request.reference}")
        if target.currency != request.currency:
            return _fail(f"{what} is in {target.currency}, not {request.currency}")
        if on_authorization:
            left, where = target.amount - target.captured - target.reversed, "on the authorization"
        else:
            left, where = target.amount - target.refunded, "to refund on the capture"
        if request.amount > left:
            return _fail(f"{request.amount} exceeds the {left} left {where}")
        return self._move(session, operation, request, request.amount, target=target)

    def _movement(
        self, session: Session, operation: str, reference: str, *, lock: bool = False
    ) -> SandboxGatewayMovement | None:
        query = select(_Movement).where(
            _Movement.gateway == self.name,
            _Movement.operation == operation,
            _Movement.reference == reference,
        )
        return session.scalar(query.with_for_update() if lock else query)

    def _move(
        self,
        session: Session,
        operation: str,
        request: GatewayRequest,
        amount: int,
        *,
        target: SandboxGatewayMovement | None = None,
    ) -> GatewayResponse:
        """Make the movement (once per key: a second insert finds the first) and answer
        SUCCESS with its reference; `target` (locked) is what it takes from."""
        reference = self.reference_for(operation, request.idempotency_key)
        inserted = session.execute(
            dialect_insert(session, _MOVEMENTS)
            .values(
                gateway=self.name,
                operation=operation,
                idempotency_key=request.idempotency_key,
                reference=reference,
                token=request.token,
                amount=amount,
                currency=request.currency,
                on_reference=request.reference,
                captured=0,
                reversed=0,
                refunded=0,
            )
            .on_conflict_do_nothing()
            .returning(_MOVEMENTS.c.id)
        ).scalar()
        if inserted is None:  # made before: answer what was made
            made = self._movement(session, operation, reference)
            assert made is not None
            return GatewayResponse(GatewayResult.SUCCESS, made.amount, reference, "approved")
        if target is not None:
            column = {"capture": "captured", "reverse": "reversed", "refund": "refunded"}
            setattr(target, column[operation], getattr(target, column[operation]) + amount)
        return GatewayResponse(GatewayResult.SUCCESS, amount, reference, "approved")


def _answer_row(
    gateway: str, operation: str, request: GatewayRequest, answer: GatewayResponse
) -> SandboxGatewayAnswer:
    return SandboxGatewayAnswer(
        gateway=gateway,
        operation=operation,
        idempotency_key=request.idempotency_key,
        token=request.token,
        amount=request.amount,
        currency=request.currency,
        on_reference=request.reference,
        result=answer.result.value,
        answered_amount=answer.amount,
        answered_reference=answer.reference,
        message=answer.message,
    )


def _request_of(row: SandboxGatewayAnswer) -> GatewayRequest:
    return GatewayRequest(
        row.idempotency_key, row.token, row.amount, row.currency, row.on_reference
    )


def _response_of(row: SandboxGatewayAnswer) -> GatewayResponse:
    return GatewayResponse(
        GatewayResult(row.result), row.answered_amount, row.answered_reference, row.message
    )


def _fail(message: str) -> GatewayResponse:
    return GatewayResponse(GatewayResult.PERMANENT_FAIL, 0, None, message)
