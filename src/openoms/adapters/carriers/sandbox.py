"""A sandbox carrier that behaves like a real one, in memory, for development and tests.

- Labels are idempotent: the tracking number is derived from the carrier's name and the
  request's idempotency key, and the same key returns the label already bought, so a retry
  after a timeout never buys a second one (`ledger` lists the labels bought, once each).
- Outages are injectable: `set_outage(True)`, `fail_next(n)` (the next n calls raise
  `CarrierUnavailable`), `set_latency(seconds)` (every call waits that long first).
- A destination without a postal code (or country) is refused with `CarrierRejected`, as a
  real carrier refuses an undeliverable address.
- Parcels move only when told (`advance`), so tracking is deterministic.

State lives in the instance: two instances share nothing but the tracking numbers they
derive, which agree because they depend on the key alone.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from openoms.services.ports import (
    CarrierRejected,
    CarrierUnavailable,
    Label,
    LabelRequest,
    TrackingState,
    TrackingStatus,
)

LABEL_URL = "https://sandbox-carrier.openoms.invalid/{carrier}/labels/{tracking}.pdf"


@dataclass(slots=True)
class _Parcel:
    label: Label
    state: TrackingState


class SandboxCarrier:
    """An in-memory carrier account named `name`; tracking numbers start with `prefix`."""

    def __init__(
        self,
        name: str = "sandbox",
        *,
        prefix: str = "SBX",
        require_postal_code: bool = True,
        latency: float = 0.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.name = name
        self.prefix = prefix
        self.require_postal_code = require_postal_code
        self._latency = latency
        self._sleep = sleep
        self._lock = threading.Lock()
        self._outage = False
        self._fail_next = 0
        self._by_key: dict[str, Label] = {}
        self._parcels: dict[str, _Parcel] = {}
        self._ledger: list[Label] = []
        self.calls = 0  # every call that reached the carrier, failed ones included

    # --- injecting trouble ----------------------------------------------------------------

    def set_outage(self, down: bool) -> None:
        """While down, every call raises CarrierUnavailable."""
        with self._lock:
            self._outage = down

    def fail_next(self, calls: int) -> None:
        """The next `calls` calls raise CarrierUnavailable, then service resumes."""
        with self._lock:
            self._fail_next = calls

    def set_latency(self, seconds: float) -> None:
        self._latency = seconds

    # --- what the sandbox knows ----------------------------------------------------------

    @property
    def ledger(self) -> list[Label]:
        """Every label bought, once each, in order."""
        with self._lock:
            return list(self._ledger)

    def advance(self, tracking_number: str, state: TrackingState) -> None:
        """Move a parcel, as the carrier's network would (sandbox only)."""
        with self._lock:
            self._parcel(tracking_number).state = state

    # --- the Carrier protocol ------------------------------------------------------------

    def create_label(self, request: LabelRequest) -> Label:
        self._enter()
        address = request.ship_to
        if not address.country or (self.require_postal_code and not address.postal_code):
            missing = "country" if not address.country else "postal code"
            raise CarrierRejected(
                f"{self.name} cannot deliver to an address without a {missing} "
                f"(shipment {request.reference}); correct the address and retry"
            )
        with self._lock:
            label = self._by_key.get(request.idempotency_key)
            if label is None:
                tracking = self.tracking_number_for(request.idempotency_key)
                label = Label(
                    tracking_number=tracking,
                    label_url=LABEL_URL.format(carrier=self.name, tracking=tracking),
                    carrier=self.name,
                    service=request.service,
                )
                self._by_key[request.idempotency_key] = label
                self._parcels[tracking] = _Parcel(label, TrackingState.PRE_TRANSIT)
                self._ledger.append(label)
            return label

    def track(self, tracking_number: str) -> TrackingStatus:
        self._enter()
        with self._lock:
            parcel = self._parcel(tracking_number)
            return TrackingStatus(tracking_number, parcel.state)

    def cancel_label(self, tracking_number: str) -> None:
        self._enter()
        with self._lock:
            parcel = self._parcel(tracking_number)
            if parcel.state not in (TrackingState.PRE_TRANSIT, TrackingState.VOIDED):
                raise CarrierRejected(
                    f"label {tracking_number} cannot be voided: the parcel is "
                    f"{parcel.state.value.lower().replace('_', ' ')}"
                )
            parcel.state = TrackingState.VOIDED

    def tracking_number_for(self, idempotency_key: str) -> str:
        """The tracking number a label bought with this key has (deterministic)."""
        digest = hashlib.sha256(f"{self.name}\n{idempotency_key}".encode()).hexdigest()
        return f"{self.prefix}{digest[:16].upper()}"

    # --- internals -----------------------------------------------------------------------

    def _enter(self) -> None:
        with self._lock:
            self.calls += 1
            failing = self._outage or self._fail_next > 0
            if self._fail_next > 0:
                self._fail_next -= 1
        if self._latency:
            self._sleep(self._latency)  # outside the lock: calls overlap as on a network
        if failing:
            raise CarrierUnavailable(f"{self.name} is not answering (sandbox outage)")

    def _parcel(self, tracking_number: str) -> _Parcel:
        parcel = self._parcels.get(tracking_number)
        if parcel is None:
            raise CarrierRejected(f"{self.name} knows no parcel {tracking_number}")
        return parcel
