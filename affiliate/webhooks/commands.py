"""`affiliate webhooks ...`: register endpoints, read their delivery log, send again. The
modules doing the work are imported by each command, so `affiliate --help` stays quick."""
from __future__ import annotations

import click
from flask.cli import with_appcontext

from affiliate.command_checks import require_migrated
from affiliate.state import state
from affiliate.webhooks.kinds import EVENT_KINDS


def _on_endpoint(call, see: str):
    """Run `call`; an id no endpoint or delivery has is a message naming where to look."""
    try:
        return call()
    except LookupError as exc:
        raise click.ClickException(f"{exc}; see `affiliate webhooks {see}`") from None


def _split(values: tuple[str, ...]) -> list[str]:
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


@click.group()
def webhooks() -> None:
    """Signed availability events (Standard Webhooks) to your endpoints."""


@webhooks.command("add")
@click.argument("url")
@click.option("--event", "events", multiple=True, required=True,
              help=f"Event kinds, repeatable or comma-separated: {', '.join(EVENT_KINDS)}.")
@click.option("--region", "regions", multiple=True, metavar="CC", help="Only these countries.")
@click.option("--platform", "platforms", multiple=True, metavar="SLUG", help="Only these platforms.")
@click.option("--film", "films", multiple=True, metavar="REF", help="Only these films (17, tmdb:451, imdb:tt...).")
@click.option("--description", default="", help="A note for operators.")
@with_appcontext
def add(url, events, regions, platforms, films, description) -> None:
    """Register URL and print its signing secret, once."""
    require_migrated()
    from affiliate.webhooks import endpoints
    try:
        hook, secret = endpoints.register(
            state().db, url, _split(events), regions=_split(regions), platforms=_split(platforms),
            films=_split(films), description=description,
            allow_local=state().settings.webhooks.allow_local_endpoints)
    except (ValueError, LookupError) as exc:
        raise click.ClickException(str(exc.args[0] if exc.args else exc)) from None
    click.echo(f"Webhook {hook.id} for {', '.join(hook.events)}; its signing secret, shown only now:",
               err=True)
    click.echo(secret)


@webhooks.command("list")
@with_appcontext
def list_endpoints() -> None:
    """Endpoints with their filters, state and delivery counts."""
    require_migrated()
    from affiliate.webhooks import endpoints
    hooks = endpoints.listing(state().db)
    if not hooks:
        click.echo("No webhooks; `affiliate webhooks add URL --event appeared` makes one.")
    for hook in hooks:
        filters = "; ".join(f"{name} {', '.join(values)}" for name, values in (
            ("regions", hook.regions), ("platforms", hook.platforms), ("films", hook.films)) if values)
        click.echo(f"{hook.id:>4}  {hook.state:<6} {hook.url}  [{', '.join(hook.events)}]"
                   f"{'  ' + filters if filters else ''}  {hook.delivered} delivered, "
                   f"{hook.pending} waiting, {hook.failed} failed")
        if hook.state_reason:
            click.echo(f"      {hook.state_reason}")


@webhooks.command("deliveries")
@click.argument("endpoint_id", type=click.IntRange(1))
@with_appcontext
def deliveries(endpoint_id: int) -> None:
    """The endpoint's delivery log, newest first."""
    require_migrated()
    from affiliate.webhooks import endpoints
    rows = _on_endpoint(lambda: endpoints.deliveries(state().db, endpoint_id), "list")
    if not rows:
        click.echo("No deliveries yet.")
    for row in rows:
        answer = f"answered {row.last_status}" if row.last_status else (row.last_error or "not sent yet")
        click.echo(f"{row.id:>6}  {row.message_id}  {row.event:<12} {row.status:<9} "
                   f"{row.attempts} attempt{'s' * (row.attempts != 1)}, {answer}")


@webhooks.command("send-again")
@click.argument("endpoint_id", type=click.IntRange(1))
@click.argument("delivery_id", type=click.IntRange(1))
@with_appcontext
def send_again(endpoint_id: int, delivery_id: int) -> None:
    """Queue a delivery again under its same message id; the scheduler sends it."""
    require_migrated()
    from affiliate.webhooks import endpoints
    _on_endpoint(lambda: endpoints.send_again(state().db, endpoint_id, delivery_id),
                 f"deliveries {endpoint_id}")
    click.echo(f"Delivery {delivery_id} queued again.")


@webhooks.command("resume")
@click.argument("endpoint_id", type=click.IntRange(1))
@with_appcontext
def resume(endpoint_id: int) -> None:
    """Deliver again to a paused (or gone) endpoint; what waited is sent first."""
    require_migrated()
    from affiliate.webhooks import endpoints
    _on_endpoint(lambda: endpoints.resume(state().db, endpoint_id), "list")
    click.echo(f"Webhook {endpoint_id} active again.")


@webhooks.command("remove")
@click.argument("endpoint_id", type=click.IntRange(1))
@with_appcontext
def remove(endpoint_id: int) -> None:
    """Delete an endpoint and its delivery log."""
    require_migrated()
    from affiliate.webhooks import endpoints
    _on_endpoint(lambda: endpoints.remove(state().db, endpoint_id), "list")
    click.echo(f"Webhook {endpoint_id} removed.")


@webhooks.command("send")
@with_appcontext
def send() -> None:
    """Send what is due now, as the scheduler does every [webhooks] interval_seconds."""
    require_migrated()
    from affiliate.webhooks import sender
    sent = sender.run(state().db, state().settings)
    click.echo(f"{sent.delivered} delivered, {sent.failed} failed (retried on the schedule).")
