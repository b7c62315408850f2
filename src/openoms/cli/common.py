"""What every command module shares: the Typer apps, consoles, database opening, errors."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from openoms.adapters.db.migrate import upgrade
from openoms.adapters.db.session import Database
from openoms.config import Settings, SettingsInvalid

app = typer.Typer(
    help="openoms: an open-source order management system. Runs on SQLite by default; "
    "set OPENOMS_DATABASE_URL=postgresql://… for PostgreSQL.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
keys_app = typer.Typer(help="API keys and their scopes.", no_args_is_help=True)
import_app = typer.Typer(help="Bulk imports from files.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(keys_app, name="keys")
app.add_typer(import_app, name="import")

console = Console()
err = Console(stderr=True)


def load_settings() -> Settings:
    """The environment's settings; a bad OPENOMS_* value is an error naming it (exit 1)."""
    try:
        return Settings.from_env()
    except SettingsInvalid as exc:
        raise fail(str(exc)) from None


def open_database(*, migrate: bool = True) -> tuple[Settings, Database]:
    settings = load_settings()
    if migrate:
        upgrade(settings.database_url)
    return settings, Database(settings.database_url)


def fail(message: str) -> typer.Exit:
    err.print(f"[red]error:[/red] {message}")
    return typer.Exit(code=1)


def progress_bar() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
    )
