"""The `openoms` command line. Each command calls services; none holds business rules.

Command modules register themselves on the shared Typer apps when imported here.
"""

from openoms.cli import main as _main  # noqa: F401  (registers the core commands)
from openoms.cli.common import app

__all__ = ["app"]
