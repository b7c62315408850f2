"""Carriers: the registry of carrier accounts a process uses, and the rules that choose one.

Choosing. A shipment's carrier is chosen when it ships, by the first matching `CarrierRule`
over its `ShipmentRoute` (delivery method, origin and destination country, service level).
The rules come from `OPENOMS_CARRIER_RULES` (a JSON list) or `DEFAULT_RULES`:

    [{"method": "pickup", "carrier": "pickup"},
     {"international": true, "carrier": "sandbox-international"},
     {"carrier": "sandbox-domestic"}]

A rule's keys: `carrier` (required, a registered name), `service` (asked of the carrier;
default the delivery group's service), `method` ("ship" | "pickup"), `international`
(destination country ≠ the location's country; unknown countries count as domestic) and
`countries` (destination countries). Absent keys match anything. End with a catch-all
rule: a shipment no rule matches cannot ship (400 `carrier_rule_missing`).

Plugging in a real carrier. Implement `openoms.services.ports.Carrier` (`create_label`,
`track`, `cancel_label`) in a module of this package, e.g. `adapters/carriers/dhl.py`:
- honour `LabelRequest.idempotency_key` (send it as the carrier's idempotency header, or
  look the label up by reference before buying): the label job retries after timeouts;
- raise `CarrierUnavailable` for anything worth retrying (timeouts, 5xx, 429) and
  `CarrierRejected` for refusals (bad address, unknown service); nothing else;
- set your own HTTP timeouts: the call runs in a worker or a request thread, never inside a
  database transaction.
Then register it by name where the process builds its carriers (`default_carriers(db, extra=
{"dhl": DhlCarrier(...)})`, or `Carriers.register`) and name it in the rules. Nothing else
changes: shipments store the carrier's name, and the label job looks it up here.

The sandbox accounts keep their labels and parcels in the database they are given, so
every process over one database sees the same labels (see `adapters/carriers/sandbox.py`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from openoms.adapters.carriers.sandbox import SandboxCarrier
from openoms.adapters.db.session import Database
from openoms.domain.errors import ValidationFailed
from openoms.domain.ports import Carrier, CarrierChoice, ShipmentRoute

RULES_ENV = "OPENOMS_CARRIER_RULES"


class CarrierUnknown(ValidationFailed):
    code = "carrier_unknown"
    title = "Carrier is not registered"


class CarrierRuleMissing(ValidationFailed):
    code = "carrier_rule_missing"
    title = "No carrier rule matches the shipment"


class CarrierRulesInvalid(ValueError):
    """The configured rules cannot be used (raised at start-up, not per request)."""


@dataclass(frozen=True, slots=True)
class CarrierRule:
    carrier: str
    service: str | None = None
    method: str | None = None
    international: bool | None = None
    countries: tuple[str, ...] = ()

    def matches(self, route: ShipmentRoute) -> bool:
        if self.method is not None and route.method != self.method:
            return False
        if self.international is not None and route.international != self.international:
            return False
        country = (route.destination_country or "").upper()
        return not self.countries or country in self.countries


@dataclass(frozen=True, slots=True)
class CarrierRules:
    rules: tuple[CarrierRule, ...]

    def choose(self, route: ShipmentRoute) -> CarrierChoice:
        """The first matching rule's carrier, with its service or else the route's."""
        for rule in self.rules:
            if rule.matches(route):
                return CarrierChoice(rule.carrier, rule.service or route.service)
        raise CarrierRuleMissing(
            f"no carrier rule matches a {route.method} shipment from "
            f"{route.origin_country or 'an unknown country'} to "
            f"{route.destination_country or 'an unknown country'}; add a catch-all rule to "
            f"{RULES_ENV}"
        )

    def __iter__(self) -> Iterator[CarrierRule]:
        return iter(self.rules)


DEFAULT_RULES = CarrierRules(
    (
        CarrierRule(carrier="pickup", method="pickup"),
        CarrierRule(carrier="sandbox-international", international=True),
        CarrierRule(carrier="sandbox-domestic"),
    )
)

_RULE_KEYS = {"carrier", "service", "method", "international", "countries"}


def parse_rules(text: str) -> CarrierRules:
    """Rules from JSON (see the module docstring); CarrierRulesInvalid says what is wrong."""
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CarrierRulesInvalid(f"{RULES_ENV} is not JSON: {exc}") from None
    if not isinstance(raw, list) or not raw:
        raise CarrierRulesInvalid(f"{RULES_ENV} must be a non-empty JSON list of rules")
    return CarrierRules(tuple(_rule(n, entry) for n, entry in enumerate(raw)))


def _rule(n: int, entry: Any) -> CarrierRule:
    where = f"{RULES_ENV}[{n}]"
    if not isinstance(entry, dict):
        raise CarrierRulesInvalid(f"{where} must be an object")
    if unknown := sorted(set(entry) - _RULE_KEYS):
        raise CarrierRulesInvalid(f"{where} has unknown keys {unknown}")
    carrier, method = entry.get("carrier"), entry.get("method")
    countries = entry.get("countries", [])
    if not isinstance(carrier, str) or not carrier:
        raise CarrierRulesInvalid(f"{where}.carrier must name a carrier")
    if method not in (None, "ship", "pickup"):
        raise CarrierRulesInvalid(f"{where}.method must be 'ship' or 'pickup'")
    if entry.get("international") not in (None, True, False):
        raise CarrierRulesInvalid(f"{where}.international must be true or false")
    if not isinstance(countries, list) or not all(isinstance(c, str) for c in countries):
        raise CarrierRulesInvalid(f"{where}.countries must be a list of country codes")
    service = entry.get("service")
    if service is not None and not isinstance(service, str):
        raise CarrierRulesInvalid(f"{where}.service must be a string")
    return CarrierRule(
        carrier=carrier,
        service=service,
        method=method,
        international=entry.get("international"),
        countries=tuple(c.upper() for c in countries),
    )


def rules_from_env(env: Mapping[str, str] | None = None) -> CarrierRules:
    text = (os.environ if env is None else env).get(RULES_ENV, "").strip()
    return parse_rules(text) if text else DEFAULT_RULES


class Carriers:
    """Carrier accounts by name plus the rules that choose among them (a CarrierSelector).

    Build one per process and share it between the API and the worker, so a sandbox's
    outage switches are the same for both (its labels are in the database: shared by
    every process)."""

    def __init__(self, carriers: Mapping[str, Carrier], rules: CarrierRules) -> None:
        self._carriers = dict(carriers)
        self.rules = rules
        missing = sorted({r.carrier for r in rules} - self._carriers.keys())
        if missing:
            raise CarrierRulesInvalid(f"carrier rules name unregistered carriers: {missing}")
        self._wrap: Callable[[str, Carrier], Carrier] | None = None

    def register(self, name: str, carrier: Carrier) -> None:
        if name in self._carriers:
            raise ValueError(f"carrier {name!r} is already registered")
        self._carriers[name] = carrier if self._wrap is None else self._wrap(name, carrier)

    def instrument(self, wrap: Callable[[str, Carrier], Carrier]) -> None:
        """Wrap every carrier, now and as registered (metrics: adapters/metrics.py); once."""
        if self._wrap is None:
            self._wrap = wrap
            self._carriers = {name: wrap(name, c) for name, c in self._carriers.items()}

    def get(self, name: str) -> Carrier:
        carrier = self._carriers.get(name)
        if carrier is None:
            raise CarrierUnknown(
                f"no carrier {name!r} is registered (known: {', '.join(self.names())})",
                carrier=name,
            )
        return carrier

    def names(self) -> list[str]:
        return sorted(self._carriers)

    def choose(self, route: ShipmentRoute) -> CarrierChoice:
        return self.rules.choose(route)


def sandbox_carriers(db: Database) -> dict[str, SandboxCarrier]:
    """The built-in accounts, their labels in `db`: domestic and international sandboxes,
    and in-store pickup (a handover slip: no postal code needed, never down unless told)."""
    return {
        "sandbox-domestic": SandboxCarrier(db, "sandbox-domestic", prefix="SBD"),
        "sandbox-international": SandboxCarrier(db, "sandbox-international", prefix="SBI"),
        "pickup": SandboxCarrier(db, "pickup", prefix="PU", require_postal_code=False),
    }


def default_carriers(
    db: Database,
    *,
    env: Mapping[str, str] | None = None,
    extra: Mapping[str, Carrier] | None = None,
) -> Carriers:
    """The sandbox accounts (their labels in `db`) plus `extra`, chosen by the rules from
    the environment."""
    carriers: dict[str, Carrier] = {**sandbox_carriers(db), **(extra or {})}
    return Carriers(carriers, rules_from_env(env))


def carriers_of(state: Any) -> Carriers:
    """An app's carriers (`state` is its `app.state`), built over its database from the
    environment on first use and instrumented with its metrics. The API and the console
    ship through these same carriers. A process that also runs a worker should set
    `state.carriers` to the ones its label jobs use."""
    carriers: Carriers | None = getattr(state, "carriers", None)
    if carriers is None:
        carriers = state.carriers = default_carriers(state.db)
        carriers.instrument(state.metrics.carrier)
    return carriers
