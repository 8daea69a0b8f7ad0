"""Most of the `affiliate` commands, also `flask affiliate ...` (listed, and imported when run,
by affiliate.command_index)."""
from __future__ import annotations

import sys

import click
from flask.cli import with_appcontext
from sqlalchemy import func
from sqlmodel import select

from affiliate import candidates, credentials, curation, retention, review_queue
from affiliate.backup import backup_command
from affiliate.catalog import find_film, prepare
from affiliate.command_checks import require_migrated
from affiliate.config_reload import reload_on_sighup
from affiliate.due import due_summary
from affiliate.history import film_history
from affiliate.models import Film, Offer, Platform, PlatformAlias, ProviderState
from affiliate.refresh import RefreshEngine, UnknownFilm
from affiliate.sources import UnknownProvider, build_all, directory_types, uninstalled_sources
from affiliate.state import state
from affiliate.types import utcnow
from providers.base import FilmKey, Relation
from providers.regions import normalize_region


@click.command()
@click.option("--host", help="Address to listen on [default: service.host]")
@click.option("--port", type=int, help="Port to listen on [default: service.port]")
@click.option("--no-scheduler", is_flag=True, help="Serve only; run `affiliate scheduler` elsewhere.")
@with_appcontext
def serve(host: str | None, port: int | None, no_scheduler: bool) -> None:
    """Serve the widgets (and run the scheduler) in this one process."""
    import waitress
    from flask import current_app

    from affiliate.long_lived import settle
    from affiliate.scheduler import build_scheduler, load_demo_if_empty

    settings, db = state().settings, state().db
    prepare(db)
    _name_uninstalled_sources()
    reload_on_sighup(state().watch)
    if load_demo_if_empty(db, settings):
        click.echo("Loaded the demo catalog into the empty database.")
    engine = RefreshEngine(db, settings)
    scheduler = None if no_scheduler else build_scheduler(current_app._get_current_object(),
                                                          engine=engine)
    if scheduler is not None:
        scheduler.start()
    host, port = host or settings.service.host, port or settings.service.port
    click.echo(f"Serving on http://{host}:{port}/")
    settle()
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

    from affiliate.long_lived import settle
    from affiliate.metrics_export import serve_scheduler_metrics
    from affiliate.scheduler import build_scheduler

    require_migrated()
    _name_uninstalled_sources()
    reload_on_sighup(state().watch)
    serve_scheduler_metrics(state())
    engine = RefreshEngine(state().db, state().settings)
    sched = build_scheduler(current_app._get_current_object(), BlockingScheduler, engine)
    settle()  # a full collection between a request's turn and its sending makes it late
    click.echo(f"Scheduler running {len(sched.get_jobs())} provider jobs; Ctrl-C stops it.")
    try:
        sched.start()
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        engine.close()


def _name_uninstalled_sources() -> None:
    """Start-up says which stored sources no installed adapter serves; their data stays
    shown with the terms stored with it (affiliate.sources)."""
    for source in uninstalled_sources(state().db, state().settings):
        click.echo(f"Source {source}: no installed adapter has this type; its stored data is "
                   "still shown with the credits stored with it, and it is not refreshed.", err=True)


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
    require_migrated()
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
    if any(report.status in ("failed", "quarantined", "skipped") or report.warning
           for report in reports):
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
    if report.warning:
        lines.append(f"  WARNING: {report.warning}")
    lines += [f"  skipped {problem}" for problem in s.problems]
    return "\n".join(lines)


@click.command()
@with_appcontext
def prune() -> None:
    """Delete data kept longer than its source's terms allow (each adapter declares how
    long); the scheduler does this every few hours."""
    require_migrated()
    report = retention.prune(state().db, state().settings, utcnow())
    for pruned in report.pruned:
        click.echo(f"{pruned.source}: kept at most {pruned.retention.days} days; deleted "
                   f"{pruned.offers} offers and {pruned.events} history events older than that")
    if not report.pruned:
        click.echo("No source with offers here limits how long its data may be kept.")
    for source in report.unknown:
        click.echo(f"{source}: not configured and never ran, so its terms are unknown; its "
                   "offers are kept")


@click.group()
def db() -> None:
    """Database schema."""


@db.command()
@with_appcontext
def upgrade() -> None:
    """Create the database or migrate it to the current schema."""
    db = state().db
    before, _ = db.schema_revisions()
    prepare(db)
    after, _ = db.schema_revisions()
    if before != after:  # Alembic's own lines show with --verbose
        click.echo(f"Migrated the database from {', '.join(sorted(before)) or 'empty'} to "
                   f"{', '.join(sorted(after))}.")
    click.echo("Database is up to date.")


db.add_command(backup_command)


@click.group()
def films() -> None:
    """Films in the catalog."""


@films.command("list")
@with_appcontext
def films_list() -> None:
    """List films with their ids and how many offers are shown."""
    require_migrated()
    with state().db.session() as session:
        visible = func.count(Offer.id).filter(Offer.hidden == False)
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
    require_migrated()
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
    require_migrated()
    with state().db.session() as session:
        states = {s.name: s for s in session.exec(select(ProviderState))}
    db, settings = state().db, state().settings
    for name, provider in build_all(settings, db).items():
        s = states.get(name)
        enabled = "enabled" if provider.settings.enabled else "disabled"
        click.echo(f"{name} ({provider.type_name}, {enabled}, every "
                   f"{provider.settings.interval_minutes} min): {provider.description}")
        report = credentials.status(db, settings, name)
        if report.fields:
            click.echo(f"  credentials: {report.state}")
        for line in _credential_lines(report):
            click.echo(line)
        click.echo(f"  last success: {_when(s and s.last_success_at)}; "
                   f"last error: {_when(s and s.last_error_at)}"
                   + (f" ({s.last_error_kind}: {s.last_error})" if s and s.last_error_at else ""))


@providers.command("credentials")
@click.argument("name")
@with_appcontext
def providers_credentials(name: str) -> None:
    """Where NAME's credentials come from (masked) and whether NAME accepted them."""
    require_migrated()
    report = _credentials_status(name)
    checked = f" (checked {_when(report.checked_at)})" if report.checked_at else ""
    click.echo(f"{name}: {report.state}{checked}")
    for line in _credential_lines(report):
        click.echo(line)


@providers.command("set-credentials")
@click.argument("name")
@click.option("--stdin", "from_stdin", is_flag=True,
              help="Read FIELD=value lines from standard input instead of prompting (for scripts).")
@click.option("--no-check", is_flag=True, help="Store them without the test request.")
@with_appcontext
def providers_set_credentials(name: str, from_stdin: bool, no_check: bool) -> None:
    """Store NAME's credentials encrypted, then test them with one real request.

    Values are read from a hidden prompt (a blank answer keeps what is stored) or, with
    --stdin, from FIELD=value lines; never from the command line, where shell history and
    process lists would keep them. Needs AFFILIATE_CREDENTIALS_KEY.
    """
    require_migrated()
    report = _credentials_status(name)
    if not report.fields:
        raise click.ClickException(f"{name} takes no credentials")
    values = _credentials_from_stdin() if from_stdin else _credentials_from_prompt(report)
    try:
        result = credentials.save(state().db, state().settings, name, values, verify=not no_check)
    except credentials.CredentialsError as exc:
        raise click.ClickException(f"{exc}; nothing was stored") from None
    stored = ", ".join(sorted(field for field, value in values.items() if value.strip()))
    click.echo(f"Stored {stored} for {name}, encrypted.")
    if no_check:
        click.echo(f"Not checked; `affiliate providers test {name}` sends the test request.")
        return
    click.echo(f"Check {'passed' if result.ok else 'failed'}: {result.message}")
    if not result.ok:
        sys.exit(1)


@providers.command("test")
@click.argument("name")
@with_appcontext
def providers_test(name: str) -> None:
    """Test NAME's credentials with its cheapest real request (it counts against the
    source's quota like any other)."""
    require_migrated()
    _credentials_status(name)
    result = credentials.check(state().db, state().settings, name)
    click.echo(f"{name}: {'ok' if result.ok else 'failed'}: {result.message}")
    if not result.ok:
        sys.exit(1)


@providers.command("clear-credentials")
@click.argument("name")
@click.option("--field", "field_names", multiple=True, metavar="FIELD", help="Only this field (repeatable).")
@with_appcontext
def providers_clear_credentials(name: str, field_names: tuple[str, ...]) -> None:
    """Forget NAME's stored credentials; values from config.toml or the environment stay."""
    require_migrated()
    _credentials_status(name)
    removed = credentials.delete(state().db, state().settings, name, list(field_names) or None)
    click.echo(f"Removed {removed} stored credential{'s' if removed != 1 else ''} of {name}.")


def _credentials_status(name: str) -> credentials.CredentialStatus:
    try:
        return credentials.status(state().db, state().settings, name)
    except UnknownProvider as exc:
        raise click.ClickException(str(exc)) from None


def _credential_lines(report: credentials.CredentialStatus) -> list[str]:
    """One line per field: masked value and where it comes from; never the value."""
    lines = []
    for field in report.fields:
        source = report.source[field.name]
        if source == credentials.MISSING:
            lines.append(f"  {field.name}: not set ({field.how_to_obtain})")
        elif source == credentials.ENVIRONMENT:
            lines.append(f"  {field.name}: {report.masked[field.name]} (set by environment: "
                         f"{report.env_vars[field.name]})")
        else:
            lines.append(f"  {field.name}: {report.masked[field.name]} ({source})")
    return lines


def _credentials_from_prompt(report: credentials.CredentialStatus) -> dict[str, str]:
    values = {}
    for field in report.fields:
        if report.source[field.name] == credentials.ENVIRONMENT:
            click.echo(f"{field.name}: set by environment ({report.env_vars[field.name]}); skipped")
            continue
        if report.source[field.name] == credentials.MISSING:
            click.echo(f"{field.name}: {field.how_to_obtain}")
        current = report.masked[field.name] or "not set"
        values[field.name] = click.prompt(f"{field.label} [{current}; Enter keeps it]", default="",
                                          show_default=False, hide_input=field.secret)
    return values


def _credentials_from_stdin() -> dict[str, str]:
    """FIELD=value lines; blank lines and # comments are skipped. Errors name the line
    number, never its text."""
    values: dict[str, str] = {}
    for number, line in enumerate(sys.stdin.read().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        field, equals, value = line.partition("=")
        field = field.strip()
        if not equals or not field:
            raise click.ClickException(f"standard input line {number}: expected FIELD=value; "
                                       "nothing was stored")
        if field in values:
            raise click.ClickException(f"standard input line {number}: {field} is given twice; "
                                       "nothing was stored")
        values[field] = value
    if not values:
        raise click.ClickException("standard input held no FIELD=value line; nothing was stored")
    return values


@click.group("credentials")
def credentials_group() -> None:
    """The key that encrypts stored provider credentials."""


@credentials_group.command("generate-key")
def credentials_generate_key() -> None:
    """Print a new key for AFFILIATE_CREDENTIALS_KEY."""
    click.echo(credentials.generate_key())
    click.echo("Set it as AFFILIATE_CREDENTIALS_KEY for every affiliate process. To rotate, put the "
               "new key first (AFFILIATE_CREDENTIALS_KEY=new,old), run `affiliate credentials "
               "rotate`, then remove the old key.", err=True)


@credentials_group.command("rotate")
@with_appcontext
def credentials_rotate() -> None:
    """Re-encrypt every stored credential with the first key of AFFILIATE_CREDENTIALS_KEY."""
    require_migrated()
    try:
        report = credentials.rotate(state().db)
    except credentials.CredentialsError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Re-encrypted {report.rotated} stored credentials with the first key.")
    if report.unreadable:
        click.echo(f"No configured key opens {', '.join(report.unreadable)}: add the key they were "
                   "saved with and rotate again, or save them again. Keep the old keys until then.",
                   err=True)
        sys.exit(1)
    click.echo("The other keys in AFFILIATE_CREDENTIALS_KEY can now be removed.")


@click.group()
def products() -> None:
    """Products shown with films: review sources' candidates."""


@products.command("list")
@click.argument("film_ref", metavar="FILM")
@click.option("--status", type=click.Choice(curation.STATUSES), help="Only links with this status.")
@with_appcontext
def products_list(film_ref: str, status: str | None) -> None:
    """List FILM's product links (17, tmdb:451 or imdb:tt0113627), candidates first."""
    require_migrated()
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
        require_migrated()
        try:
            count = curation.set_status(state().db, list(link_ids), status)
        except LookupError as exc:
            raise click.ClickException(f"{exc}; nothing changed (see `affiliate products list`)") from None
        click.echo(f"{verb} {count} product link{'s' if count != 1 else ''}.")

    command.__doc__ = f"{verb} product links (ids from `affiliate products list`)."
    return command


products.command("approve")(_status_command("approved", "Approved"))
products.command("reject")(_status_command("rejected", "Rejected"))


@products.command("review")
@click.option("--relation", type=click.Choice([r.value for r in Relation]), help="Only this relation.")
@click.option("--merchant", help="Only this merchant (Amazon, Apple Music...).")
@click.option("--min-score", type=click.FloatRange(0, 1), help="Only scores at or above this.")
@click.option("--max-score", type=click.FloatRange(0, 1), help="Only scores at or below this.")
@click.option("--film", "film_ref", metavar="REF", help="Only this film: 17, tmdb:451 or imdb:tt0113627.")
@click.option("--status", type=click.Choice(curation.STATUSES), default="candidate", show_default=True)
@click.option("--limit", type=click.IntRange(1, review_queue.MAX_PAGE), default=50, show_default=True)
@click.option("--approve", "decision", flag_value="approved", help="Approve every link listed by the filters.")
@click.option("--reject", "decision", flag_value="rejected", help="Reject every link listed by the filters.")
@with_appcontext
def products_review(relation, merchant, min_score, max_score, film_ref, status, limit, decision) -> None:
    """Candidate product links across every film, best score first, with the reasons for each
    score; --approve or --reject decides every link the filters choose (not only those shown)."""
    require_migrated()
    try:
        chosen = review_queue.ReviewFilter(relation=relation, merchant=merchant, min_score=min_score,
                                           max_score=max_score, film=film_ref, status=status,
                                           limit=limit)
        if decision is not None:
            count = review_queue.decide_matching(state().db, chosen, decision)
            click.echo(f"{decision.capitalize()} {count} product link{'s' if count != 1 else ''}.")
            return
        page = review_queue.listing(state().db, chosen)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    except LookupError as exc:
        raise click.ClickException(str(exc)) from None
    if not page.candidates:
        click.echo("No product links match.")
    for row in page.candidates:
        score = f"{row.score:.2f}" if row.score is not None else "  - "
        year = f" ({row.film_year})" if row.film_year else ""
        click.echo(f"{row.link_id:>6}  {score}  {row.relation:<12} {row.film_title}{year} "
                   f"[{row.film_ref}] <- {row.product_title} [{row.product_format}, {row.merchant} "
                   f"{row.merchant_id}, {row.region}]")
        for reason in row.reasons:
            click.echo(f"{'':14}- {reason}")
    if page.total > len(page.candidates):
        click.echo(f"{len(page.candidates)} of {page.total} shown; narrow the filters or raise --limit.")


@products.command("rescore")
@with_appcontext
def products_rescore() -> None:
    """Score every link the rules decide or that waits for review again, with the [matching]
    rules as they are now (after changing them); an operator's decisions stay."""
    require_migrated()
    stats = candidates.review(state().db, state().settings.matching)
    click.echo(f"Scored {stats.scored} links: {stats.approved} approved, {stats.rejected} rejected, "
               f"{stats.waiting} waiting for review.")


@click.group()
def platforms() -> None:
    """Platforms shown in How to Watch."""


@platforms.command("sync")
@click.option("--region", default=None, metavar="CC", help="Country [default: service.default_region].")
@with_appcontext
def platforms_sync(region: str | None) -> None:
    """Learn platform logos and source ids from the directories enabled providers keep."""
    require_migrated()
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
        keeping = directory_types()
        click.echo("No enabled provider keeps a platform directory"
                   + (f"; installed types that do: {', '.join(keeping)}." if keeping else "."))
    for name, outcome in outcomes.items():
        click.echo(f"{name}: {outcome}")


@platforms.command("list")
@with_appcontext
def platforms_list() -> None:
    """List platforms with the source ids mapped to them."""
    require_migrated()
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
