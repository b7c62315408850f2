"""A sandbox carrier that behaves like a real one, for development and tests.

- Labels are idempotent: the tracking number is derived from the carrier's name and the
  request's idempotency key, and the same key returns the label already bought, so a retry
  after a timeout never buys a second one (`ledger` lists the labels bought, once each).
- Outages are injectable: `set_outage(True)`, `fail_next(n)` (the next n calls raise
  `CarrierUnavailable`), `set_latency(seconds)` (every call waits that long first).
- A destination without a postal code (or country) is refused with `CarrierRejected`, as a
  real carrier refuses an undeliverable address.
- Parcels move only when told (`advance`), so tracking is deterministic.

Shared and not. The labels sold and where each parcel is live in the database the carrier
is given (the `sandbox_carrier_labels` table: what a remote carrier keeps on its side), so
every instance with the same name over one database — the API's, each worker's, in any
process, before and after a restart — is one carrier account: one label per idempotency
key, whoever asks. The trouble injected (`set_outage`, `fail_next`, `set_latency`) and the
`calls` counter stay in the instance. Each call opens its own short transaction: call it
with no transaction of yours open.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.orm import Session

from openoms.adapters.db.models import Base, SandboxCarrierLabel
from openoms.adapters.db.session import Database, dialect_insert, retry_transient
from openoms.domain.ports import (
    CarrierRejected,
    CarrierUnavailable,
    Label,
    LabelRequest,
    TrackingState,
    TrackingStatus,
)

LABEL_URL = "https://sandbox-carrier.openoms.invalid/{carrier}/labels/{tracking}.pdf"
_LABELS = Base.metadata.tables["sandbox_carrier_labels"]


class SandboxCarrier:
    """The sandbox carrier account `name`, its labels in `db`; tracking numbers start with
    `prefix`."""

    def __init__(
        self,
        db: Database,
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
        self._db = db
        self._latency = latency
        self._sleep = sleep
        self._lock = threading.Lock()
        self._outage = False
        self._fail_next = 0
        self.calls = 0  # every call that reached this instance, failed ones included

    # --- injecting trouble (this instance only) ------------------------------------------

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

    # --- what the sandbox knows (read from its table) ------------------------------------

    @property
    def ledger(self) -> list[Label]:
        """Every label bought, once each, in order."""
        with self._db.reading() as session:
            rows = session.scalars(
                select(SandboxCarrierLabel)
                .where(SandboxCarrierLabel.carrier == self.name)
                .order_by(SandboxCarrierLabel.id)
            )
            return [self._label(row) for row in rows]

    def advance(self, tracking_number: str, state: TrackingState) -> None:
        """Move a parcel, as the carrier's network would (sandbox only)."""

        def move() -> None:
            with self._db.transaction() as session:
                self._parcel(session, tracking_number).state = state.value

        retry_transient(move)

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

        def buy() -> Label:
            with self._db.transaction() as session:
                return self._buy(session, request)

        return retry_transient(buy)

    def track(self, tracking_number: str) -> TrackingStatus:
        self._enter()
        with self._db.reading() as session:
            state = self._parcel(session, tracking_number).state
        return TrackingStatus(tracking_number, TrackingState(state))

    def cancel_label(self, tracking_number: str) -> None:
        self._enter()

        def void() -> None:
            with self._db.transaction() as session:
                parcel = self._parcel(session, tracking_number, lock=True)
                state = TrackingState(parcel.state)
                if state not in (TrackingState.PRE_TRANSIT, TrackingState.VOIDED):
                    raise CarrierRejected(
                        f"label {tracking_number} cannot be voided: the parcel is "
                        f"{state.value.lower().replace('_', ' ')}"
                    )
                parcel.state = TrackingState.VOIDED.value

        retry_transient(void)

    def tracking_number_for(self, idempotency_key: str) -> str:
        """The tracking number a label bought with this key has (deterministic)."""
        digest = hashlib.sha256(f"{self.name}\n{idempotency_key}".encode()).hexdigest()
        return f"{self.prefix}{digest[:16].upper()}"

    # --- internals -----------------------------------------------------------------------

    def _buy(self, session: Session, request: LabelRequest) -> Label:
        """The key's label: sold now, or found sold (by anyone, at any time) before."""
        tracking = self.tracking_number_for(request.idempotency_key)
        session.execute(
            dialect_insert(session, _LABELS)
            .values(
                carrier=self.name,
                idempotency_key=request.idempotency_key,
                tracking_number=tracking,
                label_url=LABEL_URL.format(carrier=self.name, tracking=tracking),
                service=request.service,
                state=TrackingState.PRE_TRANSIT.value,
            )
            .on_conflict_do_nothing()
        )
        sold = session.scalars(
            select(SandboxCarrierLabel).where(
                SandboxCarrierLabel.carrier == self.name,
                SandboxCarrierLabel.idempotency_key == request.idempotency_key,
            )
        ).one()
        return self._label(sold)

    def _label(self, row: SandboxCarrierLabel) -> Label:
        return Label(
            tracking_number=row.tracking_number,
            label_url=row.label_url,
            carrier=self.name,
            service=row.service,
        )

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

    def _parcel(
        self, session: Session, tracking_number: str, *, lock: bool = False
    ) -> SandboxCarrierLabel:
        query = select(SandboxCarrierLabel).where(
            SandboxCarrierLabel.carrier == self.name,
            SandboxCarrierLabel.tracking_number == tracking_number,
        )
        parcel = session.scalar(query.with_for_update() if lock else query)
        if parcel is None:
            raise CarrierRejected(f"{self.name} knows no parcel {tracking_number}")
        return parcel
