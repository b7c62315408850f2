"""`openoms flows apply|list|runs` against the `db` fixture, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from openoms.adapters.db.session import Database
from openoms.cli import app
from tests.integration.flows.world import capture_total, flow_tables, note_flow
from tests.integration.worker import drain_db
from tests.network import stock_network

runner = CliRunner()
EXAMPLES = Path(__file__).parents[3] / "examples" / "flows"


@pytest.fixture(autouse=True)
def _database_url(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENOMS_DATABASE_URL", db.engine.url.render_as_string(hide_password=False))


def invoke(*args: str) -> Any:
    return runner.invoke(app, list(args))


def said(result: Any, words: str) -> bool:
    """Whether the command's output holds `words`, however the console wrapped it."""
    return "".join(words.split()) in "".join(result.output.split())


def write(tmp_path: Path, content: Any) -> Path:
    file = tmp_path / "flows.json"
    file.write_text(json.dumps(content), encoding="utf-8")
    return file


def test_the_example_flows_apply_disabled(db: Database) -> None:
    for name in sorted(p.name for p in EXAMPLES.glob("*.json")):
        result = invoke("flows", "apply", str(EXAMPLES / name))
        assert result.exit_code == 0, result.output
        assert result.stdout == f"{name.removesuffix('.json')}  version 1  created\n"
    listed = invoke("flows", "list")
    assert listed.exit_code == 0, listed.output
    lines = listed.stdout.splitlines()
    assert lines[0].split("\t") == ["ref", "version", "trigger", "enabled", "description"]
    assert [line.split("\t")[:4] for line in lines[1:]] == [
        ["high-value-review", "1", "order_summary.created", "no"],
        ["second-rejection", "1", "order_summary.reroute_requested", "no"],
    ]


def test_apply_a_list_then_list_the_runs(db: Database, tmp_path: Path) -> None:
    stock_network(db)
    file = write(tmp_path, [{"ref": "big", **note_flow("100.00")}])
    assert invoke("flows", "apply", str(file)).stdout == "big  version 1  created\n"
    assert invoke("flows", "apply", str(file)).stdout == "big  version 2  updated\n"
    order = capture_total(db, "150.00", reference="A")
    drain_db(db)
    result = invoke("flows", "runs", "big")
    assert result.exit_code == 0, result.output
    header, row = result.stdout.splitlines()
    assert header.split("\t")[:7] == [
        "run",
        "event type",
        "event",
        "order summary",
        "version",
        "matched",
        "status",
    ]
    cells = row.split("\t")
    assert (cells[1], cells[3], cells[4], cells[5], cells[6], cells[7]) == (
        "order_summary.created",
        order,
        "2",
        "yes",
        "succeeded",
        "0:add_note",
    )


def test_an_invalid_flow_names_the_file_the_flow_and_the_field(
    db: Database, tmp_path: Path
) -> None:
    good = {"ref": "ok", **note_flow()}
    bad = {
        "ref": "bad",
        **note_flow(),
        "when": {"all": [{"field": "data.channel", "op": "gt", "value": "a"}]},
    }
    file = write(tmp_path, [good, bad])
    result = invoke("flows", "apply", str(file))
    assert result.exit_code == 1
    assert said(result, f"{file}: [1].when.all[0].op: op gt does not fit 'data.channel'")
    assert flow_tables(db) == {"flows": 0, "flow_versions": 0, "flow_runs": 0}  # all or none

    file = write(tmp_path, {"ref": "x", **note_flow(), "colour": "red"})
    result = invoke("flows", "apply", str(file))
    assert (result.exit_code, said(result, f"{file}: colour: Extra inputs are not permitted")) == (
        1,
        True,
    )
    (tmp_path / "broken.json").write_text("{", encoding="utf-8")
    result = invoke("flows", "apply", str(tmp_path / "broken.json"))
    assert result.exit_code == 1
    assert said(result, f"{tmp_path / 'broken.json'}: not JSON: line 1 column 2")
    assert invoke("flows", "runs", "nope").exit_code == 1
