"""docs/events.md is what scripts/events_doc.py makes of the catalog (no drift)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from openoms.schemas.events import EVENT_TYPES

ROOT = Path(__file__).resolve().parents[3]


def test_docs_events_md_is_generated_from_the_catalog() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "events_doc.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_the_catalog_is_sorted_and_names_each_event_once() -> None:
    names = [t.name for t in EVENT_TYPES]
    assert names == sorted(set(names))
    assert all(t.version == 1 for t in EVENT_TYPES)
