"""The `affiliate` command, also registered on the app as `flask affiliate ...`."""
from __future__ import annotations

import datetime as dt
import logging
import sys

import click
from flask import Flask
from flask.cli import with_appcontext
from sqlalchemy import func
from sqlmodel import select

from affiliate import curation
from affiliate.app import create_app, state
from affiliate.catalog import find_film, prepare
from affiliate.config import ConfigError, load_settings
from affiliate.due import due_summary
from affiliate.history import film_history
from affiliate.models import Film, Offer, Platform, PlatformAlias, ProviderState
from affiliate.refresh import (
    RefreshEngine,
    UnknownFilm,
    UnknownProvider,
    configured_providers,
)
from affiliate.types import utcnow
from providers.base import FilmKey
from providers.regions import normalize_region


def _require_migrated() -> None:
    if state().db.pending_migrations():
        raise click.ClickException(
            "the database schema is not up to date; run `affiliate db upgrade` first")


@click.command()
@click.option("--host", help="Address to listen on [default: service.host]")
@click.option("--port", type=int, help="Port to listen on [default: service.port]")
@click.option("--no-scheduler", is_flag=True, help="Serve only; run `affiliate scheduler` elsewhere.")
@with_appcontext
def serve(host: str | None, port: int | None, no_scheduler: bool) -> None:
    """Serve the widgets (and run the scheduler) in this one process."""
    import waitress
    from flask import current_app

    from affiliate.scheduler import build_scheduler, load_demo_if_empty

    settings, db = state().settings, state().db
    prepare(db)
    if load_demo_if_empty(db, settings):
        click.echo("Loaded the demo catalog into the empty database.")
    engine = RefreshEngine(db, settings)
    scheduler = None if no_scheduler else build_scheduler(current_app._get_current_object(),
                                                          engine=engine)
    if scheduler is not None:
        scheduler.start()
    host, port = host or settings.service.host, port or settings.service.port
    click.echo(f"Serving on http://{host}:{port}/")
    try:
        waitress.serve(current_app._get_current_object(), host=host, port=port, threads=8)
    finally:
        if scheduler is not None:
            scheduler.shutdown(wait=False)
        engine.close()


@click.command()
@with_appcontext
def scheduler() -> None:
    """Run only the scheduler, for deployments whose web workers run elsewhere."""
    from apscheduler.schedulers.blocking import BlockingScheduler
    from flask import current_app

    from affiliate.scheduler import build_scheduler

    _require_migrated()
    engine = RefreshEngine(state().db, state().settings)
    sched = build_scheduler(current_app._get_current_object(), BlockingScheduler, engine)
    click.echo(f"Scheduler running {len(sched.get_jobs())} provider jobs; Ctrl-C stops it.")
    try:
        sched.start()
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        engine.close()


@click.command()
@click.option("--provider", "provider_name", metavar="NAME", help="Only this provider.")
@click.option("--film", "film_ref", metavar="REF", help="Only this film: 17, tmdb:451 or imdb:tt0113627.")
@click.option("--accept-removals", is_flag=True,
              help="Apply an answer even if it hides more than catalog.max_hidden_share of the "
                   "provider's offers (after checking a quarantined run).")
@with_appcontext
def refresh(provider_name: str | None, film_ref: str | None, accept_removals: bool) -> None:
    """Fetch now and store what providers say: a named film, else feeds' whole catalogs and
    the films due at API sources (at most refresh.max_films_per_run each)."""
    _require_migrated()
    db, settings = state().db, state().settings
    engine = RefreshEngine(db, settings)
    try:
        names = [provider_name] if provider_name else [
            name for name in settings.providers if engine.provider(name).settings.enabled]
        reports = [_refresh_one(engine, name, film_ref, accept_removals) for name in names]
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--film") from None
    except (UnknownFilm, UnknownProvider) as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        engine.close()
    if not reports:
        click.echo("No enabled providers; add one under [providers.<name>] in config.toml.")
    for report in reports:
        click.echo(_describe_report(report))
    if any(report.status in ("failed", "quarantined", "skipped") for report in reports):
        sys.exit(1)


def _refresh_one(engine: RefreshEngine, name: str, film_ref: str | None, accept_removals: bool):
    """One provider's run, with a progress bar (films, requests, errors) over its due films."""
    provider = engine.provider(name)
    if film_ref is not None or provider.lists_catalog:
        return engine.run(name, film_ref, accept_removals)[0]
    due, _ = due_summary(engine.db, name, utcnow())
    errors = 0
    with click.progressbar(length=min(due, engine.settings.refresh.max_films_per_run),
                           label=f"{name}: films", show_pos=True,
                           item_show_func=lambda _: f"{engine.requests} requests, {errors} errors") as bar:
        def progress(films: int, requests: int, problems: int) -> None:
            nonlocal errors
            errors += problems
            bar.update(films)

        return engine.run(name, None, accept_removals, progress)[0]


def _describe_report(report) -> str:
    if report.status == "skipped":
        return f"{report.provider}: skipped, {report.error}"
    if report.status == "failed":
        return f"{report.provider}: failed, stored data kept. {report.error}"
    if report.status == "quarantined":
        return f"{report.provider}: quarantined, stored data kept: {report.stats.quarantined}"
    s = report.stats
    lines = [
        f"{report.provider}: {report.status}. "
        f"Offers: {s.offers_seen} seen, {s.offers_added} added, {s.offers_changed} changed, "
        f"{s.offers_missing} missing. Products: {s.products_seen} seen, {s.products_added} "
        f"added, {s.products_changed} changed, {s.products_missing} missing."
    ]
    lines += [f"  skipped {problem}" for problem in s.problems]
    return "\n".join(lines)


@click.command()
@with_appcontext
def status() -> None:
    """Per provider: last success and error, next run, quota left, breaker state."""
    _require_migrated()
    db, settings = state().db, state().settings
    engine = RefreshEngine(db, settings)
    try:
        with db.session() as session:
            states = {s.name: s for s in session.exec(select(ProviderState))}
        for name in settings.providers:
            provider = engine.provider(name)
            s = states.get(name)
            blocked = engine.guard(provider).status()
            quota = engine.quota_left(name)
            click.echo(f"{name} ({provider.type_name}): "
                       + ("disabled" if not provider.settings.enabled else blocked or "ok"))
            click.echo(f"  last success: {_when(s and s.last_success_at)}; last error: "
                       f"{_when(s and s.last_error_at)}"
                       + (f" ({s.last_error_kind}: {s.last_error})" if s and s.last_error_at else ""))
            click.echo(f"  next run: {_next_run(db, provider, s)}; quota left: "
                       f"{'no daily quota' if quota is None else quota}; breaker: "
                       f"{s.breaker_state if s else 'closed'}")
    finally:
        engine.close()


def _next_run(db, provider, provider_state) -> str:
    if provider.lists_catalog:
        last = provider_state.last_success_at if provider_state else None
        interval = dt.timedelta(minutes=provider.settings.interval_minutes)
        return "now" if last is None else _when(max(utcnow(), last + interval))
    due, earliest = due_summary(db, provider.name, utcnow())
    if due:
        return f"now ({due} films due)"
    return _when(earliest) if earliest else "when a film is added"


@click.group()
def db() -> None:
    """Database schema."""


@db.command()
@with_appcontext
def upgrade() -> None:
    """Create the database or migrate it to the current schema."""
    prepare(state().db)
    click.echo("Database is up to date.")


@click.group()
def films() -> None:
    """Films in the catalog."""


@films.command("list")
@with_appcontext
def films_list() -> None:
    """List films with their ids and how many offers are shown."""
    _require_migrated()
    with state().db.session() as session:
        visible = func.count(Offer.id).filter(Offer.hidden == False)  # noqa: E712
        rows = session.exec(
            select(Film, visible).outerjoin(Offer, Offer.film_id == Film.id)
            .group_by(Film.id).order_by(Film.title)
        ).all()
    if not rows:
        click.echo("No films yet; run `affiliate refresh` or `affiliate serve`.")
    for film, offers in rows:
        ids = " ".join(i for i in (f"imdb:{film.imdb_id}" if film.imdb_id else "",
                                   f"tmdb:{film.tmdb_id}" if film.tmdb_id else "") if i)
        click.echo(f"{film.id:>5}  {film.title} ({film.year or '?'})  {ids}  {offers} offers")


@films.command("history")
@click.argument("film_ref", metavar="FILM")
@click.option("--region", default=None, metavar="CC", help="Only this country.")
@with_appcontext
def films_history(film_ref: str, region: str | None) -> None:
    """Offer events for FILM, newest first: appeared, price_changed, left, returned."""
    _require_migrated()
    try:
        key = FilmKey.parse(film_ref)
        region = normalize_region(region) if region else None
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    with state().db.session() as session:
        film = find_film(session, key)
    if film is None:
        raise click.ClickException(f"no film matches {key}")
    events = film_history(state().db, film.id, region)
    if not events:
        click.echo("No offer events yet.")
    for e in events:
        price = ""
        if e.event == "price_changed":
            price = f" {e.price_before} -> {e.price_after} {e.currency}"
        elif e.price_after is not None:
            price = f" {e.price_after} {e.currency}"
        click.echo(f"{_when(e.at)}  {e.event:<13} {e.platform} {e.region} {e.kind} {e.quality}"
                   f"{price} (from {e.source})")


@click.group()
def providers() -> None:
    """Configured providers."""


@providers.command("list")
@with_appcontext
def providers_list() -> None:
    """List configured providers, their limits and their last run."""
    _require_migrated()
    with state().db.session() as session:
        states = {s.name: s for s in session.exec(select(ProviderState))}
    for name, provider in configured_providers(state().settings).items():
        s = states.get(name)
        enabled = "enabled" if provider.settings.enabled else "disabled"
        click.echo(f"{name} ({provider.type_name}, {enabled}, every "
                   f"{provider.settings.interval_minutes} min): {provider.description}")
        for credential in provider.credentials:
            present = getattr(provider.settings, credential.name, None) is not None
            click.echo(f"  {credential.name}: {'set' if present else 'not set'}"
                       + ("" if present else f" ({credential.how_to_obtain})"))
        click.echo(f"  last success: {_when(s and s.last_success_at)}; "
                   f"last error: {_when(s and s.last_error_at)}"
                   + (f" ({s.last_error_kind}: {s.last_error})" if s and s.last_error_at else ""))


@click.group()
def products() -> None:
    """Products shown with films: review sources' candidates."""


@products.command("list")
@click.argument("film_ref", metavar="FILM")
@click.option("--status", type=click.Choice(curation.STATUSES), help="Only links with this status.")
@with_appcontext
def products_list(film_ref: str, status: str | None) -> None:
    """List FILM's product links (17, tmdb:451 or imdb:tt0113627), candidates first."""
    _require_migrated()
    try:
        rows = curation.film_links(state().db, film_ref, status)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="FILM") from None
    except LookupError as exc:
        raise click.ClickException(str(exc)) from None
    if not rows:
        click.echo("No product links.")
    for row in rows:
        price = f"{row.price} {row.currency}" if row.price is not None else "no price"
        click.echo(f"{row.id:>5}  {row.status:<9} {row.relation:<13} {row.title} "
                   f"[{row.format}, {row.merchant} {row.merchant_id}, {row.region}, {price}] "
                   f"from {row.source}")


def _status_command(status: str, verb: str):
    @click.argument("link_ids", metavar="LINK_ID...", nargs=-1, required=True, type=int)
    @with_appcontext
    def command(link_ids: tuple[int, ...]) -> None:
        _require_migrated()
        try:
            count = curation.set_status(state().db, list(link_ids), status)
        except LookupError as exc:
            raise click.ClickException(f"{exc}; nothing changed (see `affiliate products list`)") from None
        click.echo(f"{verb} {count} product link{'s' if count != 1 else ''}.")

    command.__doc__ = f"{verb} product links (ids from `affiliate products list`)."
    return command


products.command("approve")(_status_command("approved", "Approved"))
products.command("reject")(_status_command("rejected", "Rejected"))


@click.group()
def platforms() -> None:
    """Platforms shown in How to Watch."""


@platforms.command("sync")
@click.option("--region", default=None, metavar="CC", help="Country [default: service.default_region].")
@with_appcontext
def platforms_sync(region: str | None) -> None:
    """Learn platform logos and source ids from providers' directories (TMDB's)."""
    _require_migrated()
    settings = state().settings
    try:
        region = normalize_region(region or settings.service.default_region)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--region") from None
    engine = RefreshEngine(state().db, settings)
    try:
        outcomes = engine.sync_platforms(region)
    finally:
        engine.close()
    if not outcomes:
        click.echo("No enabled provider keeps a platform directory (TMDB does).")
    for name, outcome in outcomes.items():
        click.echo(f"{name}: {outcome}")


@platforms.command("list")
@with_appcontext
def platforms_list() -> None:
    """List platforms with the source ids mapped to them."""
    _require_migrated()
    with state().db.session() as session:
        rows = session.exec(select(Platform).order_by(Platform.name)).all()
        aliases = session.exec(select(PlatformAlias)).all()
    by_platform: dict[int, list[str]] = {}
    for alias in aliases:
        by_platform.setdefault(alias.platform_id, []).append(f"{alias.namespace}:{alias.external_id}")
    for platform in rows:
        known = " ".join(sorted(by_platform.get(platform.id, []))) or "-"
        logo = "logo" if platform.logo_url else "no logo"
        click.echo(f"{platform.slug:<28} {platform.name} ({logo}) {known}")


def _when(moment) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else "never"


COMMANDS = (serve, scheduler, refresh, status, db, films, providers, products, platforms)


def register_commands(app: Flask) -> None:
    """`flask affiliate <command>` in any app that uses the extension."""
    group = click.Group("affiliate", help="Affiliate widgets service.")
    for command in COMMANDS:
        group.add_command(command)
    app.cli.add_command(group)


@click.group()
@click.option("--config", "config_path", type=click.Path(dir_okay=False), envvar="AFFILIATE_CONFIG",
              help="Config file [default: ./config.toml if present].")
@click.pass_context
def main(ctx: click.Context, config_path: str | None) -> None:
    """Self-hosted How to Watch and Related Products widgets for film sites."""
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings = load_settings(config_path)
    except ConfigError as exc:
        raise click.ClickException(f"{exc}\nFix the value, or see config.example.toml.") from None
    ctx.with_resource(create_app(settings).app_context())


for _command in COMMANDS:
    main.add_command(_command)
