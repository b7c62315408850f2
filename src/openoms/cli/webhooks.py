"""`openoms webhooks …` commands: list and register endpoints, read an endpoint's
deliveries. (The API does the rest: docs/webhooks.md.)"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.markup import escape

from openoms.cli.common import app, console, fail, open_database
from openoms.cli.tables import print_table
from openoms.domain.errors import DomainError
from openoms.schemas.events import BY_NAME
from openoms.services import webhooks as service

webhooks_app = typer.Typer(help="Webhook endpoints and their deliveries.", no_args_is_help=True)
app.add_typer(webhooks_app, name="webhooks")


def _settings() -> service.WebhookSettings:
    try:
        return service.WebhookSettings.from_env()
    except ValueError as exc:
        raise fail(str(exc)) from None


@webhooks_app.command("list")
def webhooks_list() -> None:
    """List the endpoints (never their secrets)."""
    _, db = open_database()
    try:
        with db.reading() as session:
            views = [service.endpoint_view(e) for e in service.list_endpoints(session)]
    finally:
        db.dispose()
    rows = [
        (
            v["id"],
            escape(v["url"]),
            "yes" if v["enabled"] else f"no ({escape(v['disabled_reason'] or '')})",
            ", ".join(v["event_types"]) if v["event_types"] is not None else "all",
            ", ".join(v["channels"]) if v["channels"] is not None else "all",
            escape(v["description"]),
        )
        for v in views
    ]
    print_table(
        console,
        ("id", "url", "enabled", "events", "channels", "description"),
        rows,
        keep=("id", "url"),
    )


@webhooks_app.command("create")
def webhooks_create(
    url: Annotated[str, typer.Argument(help="The receiver's http(s) URL.")],
    event_type: Annotated[
        list[str] | None,
        typer.Option("--event-type", "-e", help="Send only this event type (repeat); default all."),
    ] = None,
    channel: Annotated[
        list[str] | None,
        typer.Option("--channel", "-c", help="Only orders of this channel (repeat); default all."),
    ] = None,
    description: Annotated[str, typer.Option(help="What the endpoint is for.")] = "",
) -> None:
    """Register an endpoint; its signing secret is printed once."""
    unknown = sorted(set(event_type or ()) - set(BY_NAME))
    if unknown:
        raise fail(f"unknown event types: {', '.join(unknown)} (see docs/events.md)")
    allow_private = _settings().allow_private
    _, db = open_database()
    try:
        with db.transaction() as session:
            endpoint = service.create_endpoint(
                session,
                url=url,
                event_types=event_type or None,
                channels=channel or None,
                description=description,
                allow_private=allow_private,
            )
            endpoint_id, secret = endpoint.id, endpoint.secret
    except DomainError as exc:
        raise fail(exc.detail) from None
    finally:
        db.dispose()
    console.print(f"{endpoint_id}  {escape(url)}", highlight=False)
    console.print(secret, soft_wrap=True, highlight=False)


@webhooks_app.command("deliveries")
def webhooks_deliveries(
    endpoint_id: Annotated[str, typer.Argument(help="The endpoint's id (whe_…).")],
    status: Annotated[
        str | None, typer.Option(help="pending, succeeded or failed; default every one.")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="How many, newest first.")] = 50,
) -> None:
    """An endpoint's deliveries, newest first, with their attempts."""
    if status is not None and status not in service.DELIVERY_STATUSES:
        raise fail(f"--status must be one of {', '.join(service.DELIVERY_STATUSES)}")
    _, db = open_database()
    try:
        with db.reading() as session:
            views = service.list_deliveries(
                session, endpoint_id, status=status, after_id=None, limit=limit
            )
    except DomainError as exc:
        raise fail(exc.detail) from None
    finally:
        db.dispose()
    rows = [_delivery_row(v) for v in views]
    header = (
        "id",
        "event",
        "webhook-id",
        "status",
        "attempts",
        "last code",
        "last error",
        "created",
    )
    print_table(console, header, rows, keep=("id", "event", "webhook-id", "status"))


def _delivery_row(view: dict[str, Any]) -> tuple[str, ...]:
    code = view["last_status_code"]
    return (
        str(view["id"]),
        view["event_type"],
        view["webhook_id"],
        view["status"],
        str(view["attempt_count"]),
        "" if code is None else str(code),
        escape(view["last_error"] or ""),
        view["created_at"] or "",
    )
