"""Unit-test fixtures: the sandboxes keep their state in a database, so their unit tests get
a migrated SQLite file of their own (no server needed)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from openoms.adapters.db.session import Database


@pytest.fixture
def sandbox_db(sqlite_template: Path, tmp_path: Path) -> Iterator[Database]:
    """A migrated, empty SQLite database in a file."""
    path = tmp_path / "sandbox.db"
    shutil.copy(sqlite_template, path)
    database = Database(f"sqlite:///{path}")
    yield database
    database.dispose()
