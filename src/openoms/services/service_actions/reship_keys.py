"""The keys of a reship, per delivery group and round (service_actions/reships.py): its
`route_reship` job, the fresh reservation of each location's replacement units, and its
routing process exception. Round 1 keys carry no round; a later round's end in `:{round}`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

RESHIP_JOB = "route_reship"
RESHIP_JOB_MAX_ATTEMPTS = 20
EXCEPTION_SEVERITY = "medium"
FIRST_ROUND = 1
RESERVATION_PREFIX = "reship:"


def reship_job_key(reship_id: str, group_summary_id: str, round: int = FIRST_ROUND) -> str:
    return _in_round(f"reship:{reship_id}:{group_summary_id}", round)


def job_key(payload: Mapping[str, Any]) -> str:
    """The dedupe key of the job that runs `payload` (a process exception's retry rebuilds it
    from the action's payload); KeyError when the payload lacks the reship or the group."""
    return reship_job_key(
        str(payload["reship_id"]), str(payload["group_summary_id"]), round_of(payload)
    )


def reservation_key(reship_id: str, location_id: str, round: int = FIRST_ROUND) -> str:
    """The fresh reservation of one location's replacement units in one round (owner SYSTEM)."""
    return _in_round(f"{RESERVATION_PREFIX}{reship_id}:{location_id}", round)


def exception_key(group_summary_id: str, reship_id: str, round: int = FIRST_ROUND) -> str:
    return _in_round(f"routing:{group_summary_id}:reship:{reship_id}", round)


def _in_round(key: str, round: int) -> str:
    return key if round == FIRST_ROUND else f"{key}:{round}"


def round_of(payload: Mapping[str, Any]) -> int:
    return int(payload.get("round", FIRST_ROUND))
