"""The `openoms` command line. Each command calls services; none holds business rules.

Command modules register themselves on the shared Typer apps when imported here.
"""

from openoms.cli import finance as _finance  # noqa: F401  (each module registers)
from openoms.cli import flows as _flows  # noqa: F401
from openoms.cli import inventory as _inventory  # noqa: F401
from openoms.cli import locations as _locations  # noqa: F401
from openoms.cli import main as _main  # noqa: F401
from openoms.cli import users as _users  # noqa: F401
from openoms.cli import webhooks as _webhooks  # noqa: F401
from openoms.cli.common import app

__all__ = ["app"]
