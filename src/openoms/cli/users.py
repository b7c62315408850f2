"""Console users: `openoms users create|list|disable`, and the demo admin `make run` prints."""

from __future__ import annotations

import secrets
import sys
from typing import Annotated

import typer
from rich.markup import escape

from openoms.cli.common import app, console, fail, open_database
from openoms.cli.tables import print_table
from openoms.domain.errors import DomainError
from openoms.services.access import (
    ConsoleRole,
    create_console_user,
    disable_console_user,
    ensure_console_user,
    list_console_users,
)

users_app = typer.Typer(help="People who sign in to the console.", no_args_is_help=True)
app.add_typer(users_app, name="users")

DEMO_ADMIN = "admin@demo.openoms.test"


def _problem(exc: DomainError) -> str:
    """`field: detail` so the user knows which argument to change."""
    return f"{exc.field}: {exc.detail}" if exc.field else exc.detail


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    password: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    return password


@users_app.command("create")
def users_create(
    email: Annotated[str, typer.Argument(help="The user's email: how they sign in.")],
    role: Annotated[
        ConsoleRole, typer.Option("--role", "-r", help="agent, warehouse, finance or admin.")
    ],
    name: Annotated[
        str | None, typer.Option(help="Shown in the console (default: the email's name).")
    ] = None,
    location: Annotated[
        list[str] | None,
        typer.Option(
            "--location",
            "-l",
            help="Limit a warehouse user to this location ref (repeat for several).",
        ),
    ] = None,
    password_stdin: Annotated[
        bool,
        typer.Option("--password-stdin", help="Read the password from the first line of stdin."),
    ] = False,
) -> None:
    """Create a console user. Without --password-stdin the password is prompted for (hidden,
    twice); it is stored only as an argon2 hash."""
    _, db = open_database()
    password = _read_password(password_stdin)
    try:
        with db.transaction() as session:
            user = create_console_user(
                session,
                email=email,
                role=role.value,
                password=password,
                name=name,
                locations=location or (),
            )
    except DomainError as exc:
        raise fail(_problem(exc)) from None
    where = f"  locations: {', '.join(user.locations)}" if user.locations else ""
    console.print(
        f"{user.id}  {user.email}  role: {user.role}{where}", highlight=False, soft_wrap=True
    )


@users_app.command("list")
def users_list() -> None:
    """List console users (never their passwords)."""
    _, db = open_database()
    with db.reading() as session:
        users = list_console_users(session)
    rows = [
        (
            u.id,
            escape(u.email),
            escape(u.name),
            u.role,
            ", ".join(u.locations) if u.locations is not None else "all",
            "disabled" if u.disabled else "active",
            u.created_at.isoformat(sep=" ", timespec="seconds"),
        )
        for u in users
    ]
    columns = ("id", "email", "name", "role", "locations", "state", "created")
    print_table(console, columns, rows, keep=("id", "email"))


@users_app.command("disable")
def users_disable(email: Annotated[str, typer.Argument(help="The user's email.")]) -> None:
    """Disable a user: they can no longer sign in, and their open sessions end at once."""
    _, db = open_database()
    try:
        with db.transaction() as session:
            ended = disable_console_user(session, email)
    except DomainError as exc:
        raise fail(_problem(exc)) from None
    console.print(
        f"disabled {email.strip().lower()}; {ended} session(s) ended",
        highlight=False,
        soft_wrap=True,
    )


@users_app.command("demo-admin", hidden=True)
def users_demo_admin(
    url: Annotated[
        str, typer.Option(help="The console's address, to print.")
    ] = "http://127.0.0.1:8000/console/",
) -> None:
    """Make sure the demo admin exists with a fresh password, and print the login (what
    `make run` shows). The password is new on every run and shown only here."""
    _, db = open_database()
    password = secrets.token_urlsafe(12)
    with db.transaction() as session:
        ensure_console_user(
            session, email=DEMO_ADMIN, role=ConsoleRole.ADMIN, password=password, name="Demo admin"
        )
    console.print(
        f"console: {url}\n  sign in as {DEMO_ADMIN} with password {password}", highlight=False
    )
