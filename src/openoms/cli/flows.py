"""`openoms flows …` commands: apply flows from a JSON file, list them, list a flow's runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.markup import escape

from openoms.adapters.outbox import Outbox
from openoms.cli.common import app, console, fail, open_database
from openoms.cli.tables import print_table
from openoms.domain.errors import DomainError
from openoms.schemas import field_path
from openoms.schemas.flows import FlowIn, trigger_catalog
from openoms.services import flows as service
from openoms.worker.consumers import default_registry

flows_app = typer.Typer(help="Automation flows (docs/flows.md).", no_args_is_help=True)
app.add_typer(flows_app, name="flows")


@flows_app.command("apply")
def apply_command(
    file: Annotated[Path, typer.Argument(help="A JSON file: one flow, or a list of flows.")],
) -> None:
    """Store each flow in FILE as its next version (as PUT /api/v1/flows/{ref} does), all or
    none: an invalid flow stores nothing and names the file, the flow and the field. Each
    flow is an object with its `ref` and the PUT body (trigger, when, actions, enabled)."""
    flows = _read(file)
    _, db = open_database()
    try:
        with db.transaction() as session:
            stored = []
            for where, ref, flow in flows:
                try:
                    _, version, created = service.put_flow(
                        session, Outbox(default_registry()), trigger_catalog(), ref, flow
                    )
                except DomainError as exc:
                    raise fail(f"{file}: {where}{exc.field or 'ref'}: {exc.detail}") from None
                stored.append((ref, version.version, created))
    finally:
        db.dispose()
    for ref, number, created in stored:
        console.print(f"{ref}  version {number}  {'created' if created else 'updated'}")


def _read(file: Path) -> list[tuple[str, str, service.FlowDocument]]:
    """(where in the file, ref, flow) of each flow; an unreadable file or flow is an error
    naming the file and the field."""
    try:
        document = json.loads(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise fail(f"{file}: cannot read it: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise fail(f"{file}: not JSON: line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    listed = isinstance(document, list)
    items = document if listed else [document]
    found = []
    for index, item in enumerate(items):
        where = f"[{index}]." if listed else ""
        if not isinstance(item, dict) or not isinstance(item.get("ref"), str):
            raise fail(f"{file}: {where}ref: each flow is an object with a string `ref`")
        body: dict[str, Any] = {k: v for k, v in item.items() if k != "ref"}
        try:
            flow = FlowIn.model_validate(body)
        except ValidationError as exc:
            error = exc.errors()[0]
            path = field_path(tuple(error["loc"]))
            raise fail(f"{file}: {where}{path}: {error['msg']}") from None
        found.append((where, item["ref"], flow.to_document()))
    return found


@flows_app.command("list")
def list_command() -> None:
    """Every flow: its ref, current version, trigger, enabled and description."""
    _, db = open_database()
    try:
        with db.reading() as session:
            rows = [
                (
                    f.ref,
                    str(v.version),
                    v.trigger,
                    "yes" if f.enabled else "no",
                    escape(v.description or ""),
                )
                for f, v in service.list_flows(session)
            ]
    finally:
        db.dispose()
    print_table(
        console,
        ("ref", "version", "trigger", "enabled", "description"),
        rows,
        keep=("ref", "trigger"),
    )


@flows_app.command("runs")
def runs_command(
    ref: Annotated[str, typer.Argument(help="The flow's ref.")],
    limit: Annotated[
        int, typer.Option(min=1, max=1000, help="At most this many, newest first.")
    ] = 50,
) -> None:
    """A flow's runs, newest first: event, order, version, matched, status, actions done and
    errors."""
    _, db = open_database()
    try:
        with db.reading() as session:
            views = [service.run_view(r, ref) for r in service.list_runs(session, ref, limit=limit)]
    except DomainError as exc:
        raise fail(exc.detail) from None
    finally:
        db.dispose()
    rows = [_run_row(v) for v in views]
    header = (
        "run",
        "event type",
        "event",
        "order summary",
        "version",
        "matched",
        "status",
        "done",
        "errors",
    )
    print_table(console, header, rows, keep=("event", "order summary"))


def _run_row(view: dict[str, Any]) -> tuple[str, ...]:
    return (
        str(view["id"]),
        view["event_type"],
        view["event_id"],
        view["order_summary_id"] or "",
        str(view["version"]),
        "yes" if view["matched"] else "no",
        view["status"],
        ", ".join(f"{a['index']}:{a['type']}" for a in view["actions_done"]),
        escape("; ".join(str(e["error"]) for e in view["errors"])),
    )
