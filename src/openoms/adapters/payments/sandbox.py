"""A sandbox payment gateway that behaves like a real one, in memory, for development and tests.

It keeps its own ledger of authorizations, captures, refunds and reversals, so a test can
check what the gateway saw: each movement appears once, however often it was asked for.

Idempotency. A final answer (SUCCESS or PERMANENT_FAIL) is remembered per (operation,
idempotency key): the same key answers the same again and never moves money twice. The
same key with a different amount, token or reference is PERMANENT_FAIL, as a real gateway
refuses a reused key. DECLINE and INDETERMINATE are not final: the same key may be sent
again and succeed.

Test tokens (any other token is approved like `tok_visa`):
- `tok_visa` approves.
- `tok_soft_decline` → DECLINE on authorize and capture until `recover(token)`.
- `tok_hard_decline` → PERMANENT_FAIL on authorize and capture.
- `tok_timeout` → INDETERMINATE for the first `timeout_calls` calls with each key; with
  `timeout_moves_money` (the default) the movement is made and recorded anyway ("charged,
  answer lost"), so a retry with the same key gets SUCCESS, the same reference, one charge.
- `tok_flaky` → INDETERMINATE on a seeded share (`flaky_rate`) of calls, half of them after
  the movement was made; deterministic for a given `seed`.
- `tok_partial` → authorizations approve half the amount asked (rounded down).

Rules a real gateway enforces: a capture needs a known authorization of the same currency
and at most what is left on it (authorized − captured − reversed); a refund at most what is
left of the capture (captured − refunded); amounts are positive. Breaking one is
PERMANENT_FAIL with nothing moved.

`preauthorize` records an authorization without any token behaviour (what a storefront did at
checkout); `fail_next` makes the next calls answer a given result with nothing moved.
"""

from __future__ import annotations

import hashlib
import random
import threading
from dataclasses import dataclass

from openoms.services.ports import GatewayRequest, GatewayResponse, GatewayResult

APPROVE = "tok_visa"
SOFT_DECLINE = "tok_soft_decline"
HARD_DECLINE = "tok_hard_decline"
TIMEOUT = "tok_timeout"
FLAKY = "tok_flaky"
PARTIAL = "tok_partial"

_PREFIX = {"authorize": "auth", "capture": "ch", "refund": "re", "reverse": "rv"}
_FINAL = (GatewayResult.SUCCESS, GatewayResult.PERMANENT_FAIL)


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


@dataclass(slots=True)
class _Authorization:
    token: str
    amount: int
    currency: str
    captured: int = 0
    reversed: int = 0


@dataclass(slots=True)
class _Capture:
    authorization: str
    token: str
    amount: int
    currency: str
    refunded: int = 0


class SandboxGateway:
    """An in-memory gateway named `name`. Thread-safe; state lives in the instance."""

    def __init__(
        self,
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
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self._recovered: set[str] = set()
        self._fail_next: list[tuple[GatewayResult, str | None]] = []
        self._answers: dict[tuple[str, str], tuple[GatewayRequest, GatewayResponse]] = {}
        self._timeouts_seen: dict[tuple[str, str], int] = {}
        self._authorizations: dict[str, _Authorization] = {}
        self._captures: dict[str, _Capture] = {}
        self._ledger: list[LedgerEntry] = []
        self._made: set[str] = set()  # references of the movements in the ledger
        self.calls = 0  # every call that reached the gateway, failed ones included

    # --- steering the sandbox ------------------------------------------------------------

    def recover(self, token: str) -> None:
        """A soft-declining token approves from now on (the customer topped up)."""
        with self._lock:
            self._recovered.add(token)

    def fail_next(self, calls: int, result: GatewayResult, *, operation: str | None = None) -> None:
        """The next `calls` calls (of `operation`, or any) answer `result`, nothing moved."""
        with self._lock:
            self._fail_next.extend([(result, operation)] * calls)

    def preauthorize(self, token: str, amount: int, currency: str, *, key: str) -> str:
        """Record an authorization as approved at checkout (no token behaviour); returns its
        reference, the same for the same key."""
        request = GatewayRequest(key, token, amount, currency)
        with self._lock:
            return self._move("authorize", request, amount).reference or ""

    # --- what the gateway knows -----------------------------------------------------------

    @property
    def ledger(self) -> list[LedgerEntry]:
        """Every movement made, once each, in order."""
        with self._lock:
            return list(self._ledger)

    def movements(self, operation: str) -> list[LedgerEntry]:
        return [e for e in self.ledger if e.operation == operation]

    def captured_on(self, authorization: str) -> int:
        with self._lock:
            return self._authorizations[authorization].captured

    # --- the PaymentGateway protocol -------------------------------------------------------

    def authorize(self, request: GatewayRequest) -> GatewayResponse:
        return self._call("authorize", request)

    def capture(self, request: GatewayRequest) -> GatewayResponse:
        return self._call("capture", request)

    def refund(self, request: GatewayRequest) -> GatewayResponse:
        return self._call("refund", request)

    def reverse_authorization(self, request: GatewayRequest) -> GatewayResponse:
        return self._call("reverse", request)

    # --- internals -----------------------------------------------------------------------

    def _call(self, operation: str, request: GatewayRequest) -> GatewayResponse:
        with self._lock:
            self.calls += 1
            if request.token == TIMEOUT:
                key = (operation, request.idempotency_key)
                seen = self._timeouts_seen.get(key, 0)
                if seen < self.timeout_calls:
                    self._timeouts_seen[key] = seen + 1
                    moved = self.timeout_moves_money and key not in self._answers
                    return self._lost(operation, request, moved=moved)
            remembered = self._answers.get((operation, request.idempotency_key))
            if remembered is not None:
                first, answer = remembered
                if first != request:
                    return _fail(f"idempotency key {request.idempotency_key} reused differently")
                return answer
            injected = self._injected(operation)
            if injected is not None:
                return GatewayResponse(injected, 0, None, f"sandbox: injected {injected.value}")
            trouble = self._trouble(operation, request)
            if trouble is not None:
                return trouble
            answer = self._perform(operation, request)
            if answer.result in _FINAL:
                self._answers[(operation, request.idempotency_key)] = (request, answer)
            return answer

    def _injected(self, operation: str) -> GatewayResult | None:
        for n, (result, only) in enumerate(self._fail_next):
            if only is None or only == operation:
                del self._fail_next[n]
                return result
        return None

    def _trouble(self, operation: str, request: GatewayRequest) -> GatewayResponse | None:
        """The token's misbehaviour for this call, if any (None: process normally)."""
        token = request.token
        takes_money = operation in ("authorize", "capture")
        if takes_money and token == SOFT_DECLINE and token not in self._recovered:
            return GatewayResponse(GatewayResult.DECLINE, 0, None, "insufficient funds")
        if takes_money and token == HARD_DECLINE:
            return _fail("card reported stolen")
        if token == FLAKY and self._random.random() < self.flaky_rate:
            return self._lost(operation, request, moved=self._random.random() < 0.5)
        return None

    def _lost(self, operation: str, request: GatewayRequest, *, moved: bool) -> GatewayResponse:
        """A timeout: when `moved`, the gateway did the work but the answer never arrived."""
        if moved:
            answer = self._perform(operation, request)
            if answer.result in _FINAL:
                self._answers[(operation, request.idempotency_key)] = (request, answer)
        return GatewayResponse(GatewayResult.INDETERMINATE, 0, None, "sandbox: timed out")

    def _perform(self, operation: str, request: GatewayRequest) -> GatewayResponse:
        if request.amount <= 0:
            return _fail(f"amount must be positive, got {request.amount}")
        if operation == "authorize":
            amount = request.amount // 2 if request.token == PARTIAL else request.amount
            return self._move(operation, request, amount) if amount else _fail("nothing approved")
        if operation in ("capture", "reverse"):
            auth = self._authorizations.get(request.reference or "")
            if auth is None:
                return _fail(f"no authorization {request.reference}")
            if auth.currency != request.currency:
                return _fail(f"authorization is in {auth.currency}, not {request.currency}")
            left = auth.amount - auth.captured - auth.reversed
            if request.amount > left:
                return _fail(f"{request.amount} exceeds the {left} left on the authorization")
            return self._move(operation, request, request.amount)
        capture = self._captures.get(request.reference or "")
        if capture is None:
            return _fail(f"no capture {request.reference}")
        if capture.currency != request.currency:
            return _fail(f"capture is in {capture.currency}, not {request.currency}")
        left = capture.amount - capture.refunded
        if request.amount > left:
            return _fail(f"{request.amount} exceeds the {left} left to refund on the capture")
        return self._move(operation, request, request.amount)

    def _move(self, operation: str, request: GatewayRequest, amount: int) -> GatewayResponse:
        """Make the movement (once per key) and answer SUCCESS with its reference."""
        reference = self._reference(operation, request.idempotency_key)
        if reference not in self._made:
            self._made.add(reference)
            if operation == "authorize":
                self._authorizations[reference] = _Authorization(
                    request.token, amount, request.currency
                )
            elif operation == "capture":
                self._authorizations[request.reference or ""].captured += amount
                self._captures[reference] = _Capture(
                    request.reference or "", request.token, amount, request.currency
                )
            elif operation == "reverse":
                self._authorizations[request.reference or ""].reversed += amount
            else:
                self._captures[request.reference or ""].refunded += amount
            self._ledger.append(
                LedgerEntry(
                    operation,
                    request.idempotency_key,
                    reference,
                    request.token,
                    amount,
                    request.currency,
                    request.reference,
                )
            )
        return GatewayResponse(GatewayResult.SUCCESS, amount, reference, "approved")

    def _reference(self, operation: str, key: str) -> str:
        digest = hashlib.sha256(f"{self.name}\n{operation}\n{key}".encode()).hexdigest()
        return f"{_PREFIX[operation]}_{digest[:20]}"


def _fail(message: str) -> GatewayResponse:
    return GatewayResponse(GatewayResult.PERMANENT_FAIL, 0, None, message)
