"""What a command checks before it touches the database, in one place for every command
group (`affiliate ...`, `affiliate admin ...`, `affiliate webhooks ...`)."""
from __future__ import annotations

import click

from affiliate.state import state


def require_migrated() -> None:
    """Stop with the fix named when the schema is behind the code."""
    if state().db.pending_migrations():
        raise click.ClickException(
            "the database schema is not up to date; run `affiliate db upgrade` first")
