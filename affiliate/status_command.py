"""`affiliate status`, apart from affiliate.cli so that it imports only what it reports from
(affiliate.health) and starts in the bare command app (affiliate.__main__)."""
from __future__ import annotations

import click
from flask.cli import with_appcontext

from affiliate.command_checks import require_migrated
from affiliate.state import state


@click.command()
@with_appcontext
def status() -> None:
    """Per provider: health, last success and error, next run, quota left, breaker state."""
    from affiliate.health import provider_health, when
    from affiliate.refresh import RefreshEngine

    require_migrated()
    db, settings = state().db, state().settings
    engine = RefreshEngine(db, settings)
    try:
        report = provider_health(db, settings, engine)
    finally:
        engine.close()
    for h in report:
        click.echo(f"{h.name} ({h.type_name}): {h.state}")
        click.echo(f"  last success: {when(h.last_success_at)}; last error: {when(h.last_error_at)}"
                   + (f" ({h.last_error_kind}: {h.last_error})" if h.last_error_at else ""))
        quota = "no quota" if h.quota_left is None else f"{h.quota_left} per {h.quota_period or 'period'}"
        click.echo(f"  next run: {h.next_run_text}; quota left: {quota}; breaker: {h.breaker_state}")
        for note in h.notes:
            click.echo(f"  note: {note}")
