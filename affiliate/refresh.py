"""Runs providers and hands their results to the catalog; the scheduler, CLI and console
all come through here.

A provider failure is recorded on its ProviderState and RefreshRun and logged once per
outage (like Home Assistant's DataUpdateCoordinator); it never escapes to the caller and
never touches stored data.
"""
from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from contextvars import copy_context
from dataclasses import dataclass

from sqlmodel import select

from affiliate import candidates, metrics
from affiliate.catalog import (
    ReconcileStats,
    Removals,
    film_key,
    films_named,
    find_film,
    reconcile,
    store_platforms,
)
from affiliate.config import CatalogSettings, MatchingSettings, Settings
from affiliate.db import Database
from affiliate.due import (
    changed_films_due,
    changes_cursor,
    claim,
    ensure_rows,
    film_ttls,
    finish,
    mark_discovered,
    new_owner,
    release,
    take_changes_turn,
)
from affiliate.limits import ProviderLimiter, shared_buckets
from affiliate.logs import log_context
from affiliate.models import (
    Film,
    FilmExternalId,
    FilmPerson,
    FilmProduct,
    FilmProviderState,
    Product,
    ProviderState,
    RefreshRun,
)
from affiliate.resilience import Clock, ProviderGuard, SystemClock, call_with_retries
from affiliate.sources import build, configured_table, note_source
from affiliate.types import utcnow
from providers.base import (
    FilmKey,
    FilmQuery,
    Person,
    ProductRef,
    Provider,
    ProviderError,
    ProviderResult,
    RateLimited,
)

log = logging.getLogger(__name__)


class UnknownFilm(LookupError):
    pass


@dataclass
class RunReport:
    provider: str
    status: str  # complete | partial | quarantined | failed | skipped
    stats: ReconcileStats | None = None
    # An applied answer that leaves out a suspicious share of the source's rows (catalog).
    warning: str | None = None
    error: str | None = None
    films: int = 0


_COUNTS = ("offers_seen", "offers_added", "offers_changed", "offers_missing",
           "products_seen", "products_added", "products_changed", "products_missing")


def film_queries(db: Database, ref: str, provider_name: str | None = None) -> list[FilmQuery]:
    """What to ask a provider about one film, stored or not yet (named by IMDb or TMDB id)."""
    key = FilmKey.parse(ref)
    with db.session() as session:
        film = find_film(session, key)
    if film is None:
        if key.internal_id is not None:
            raise UnknownFilm(f"no film with internal id {key.internal_id}")
        return [FilmQuery(key=key, title="", imdb_id=key.imdb_id, tmdb_id=key.tmdb_id)]
    return _queries(db, [film], provider_name)


def _queries(db: Database, films: list[Film], provider_name: str | None) -> list[FilmQuery]:
    """FilmQuery for each film, with every id and linked product the catalog knows, and
    whether the provider has searched for its candidates before."""
    ids = [film.id for film in films]
    with db.session() as session:
        discovered = set(session.exec(select(FilmProviderState.film_id).where(
            FilmProviderState.film_id.in_(ids), FilmProviderState.provider == provider_name,
            FilmProviderState.discovered_at.is_not(None))))
        external: dict[int, dict[str, str]] = defaultdict(dict)
        for row in session.exec(select(FilmExternalId).where(FilmExternalId.film_id.in_(ids))):
            external[row.film_id][row.source] = row.external_id
        products: dict[int, list[ProductRef]] = defaultdict(list)
        linked = session.exec(
            select(FilmProduct.film_id, Product.merchant, Product.merchant_id, Product.region)
            .join(Product, Product.id == FilmProduct.product_id)
            .where(FilmProduct.film_id.in_(ids), FilmProduct.status != "rejected")
            .order_by(Product.id))
        for film_id, merchant, merchant_id, region in linked:
            products[film_id].append(ProductRef(merchant, merchant_id, region))
        people: dict[int, list[Person]] = defaultdict(list)
        for row in session.exec(select(FilmPerson).where(FilmPerson.film_id.in_(ids))
                                .order_by(FilmPerson.film_id, FilmPerson.position)):
            people[row.film_id].append(Person(row.name, row.role))
    return [
        FilmQuery(key=film_key(film), title=film.title, year=film.year, imdb_id=film.imdb_id,
                  tmdb_id=film.tmdb_id, director=film.director, external_ids=external[film.id],
                  products=tuple(products[film.id]), original_title=film.original_title,
                  people=tuple(people[film.id]), discovered=film.id in discovered)
        for film in films
    ]


def film_queries_for(db: Database, film_ids: list[int], provider_name: str) -> list[FilmQuery]:
    """Queries for the films a due-queue claim handed this process."""
    with db.session() as session:
        films = list(session.exec(select(Film).where(Film.id.in_(film_ids)).order_by(Film.id)))
    return _queries(db, films, provider_name)


class RefreshEngine:
    """One process's refresh machinery: providers throttled by limiters every process
    shares, guards whose pause and breaker every process sees, one lease owner name for
    the due queue, and one clock (a fake one in tests)."""

    def __init__(self, db: Database, settings: Settings, clock: Clock | None = None,
                 owner: str | None = None):
        self.db, self.settings = db, settings
        self.clock = clock or SystemClock()
        self.owner = owner or new_owner()
        self.requests = 0
        self._buckets = shared_buckets(db.engine, settings.service.redis_url)
        self._limiters: dict[str, ProviderLimiter] = {}
        for name in settings.providers:  # up front: scheduler threads then only read them
            self.provider(name)

    def apply(self, settings: Settings) -> None:
        """Run with reloaded settings: a provider whose table changed or went gets a new
        limiter (its rate may have changed), made up front as at start."""
        old = self.settings
        self.settings = settings
        for name in list(self._limiters):
            if settings.providers.get(name) != old.providers.get(name):
                release(self.db, name, self.owner)
                self._limiters.pop(name).close()
        for name in settings.providers:
            self.provider(name)

    def provider(self, name: str) -> Provider:
        configured_table(self.settings, name)  # UnknownProvider for a name config lacks

        def throttle() -> None:
            try:
                self._limiters[name].acquire()
            except RateLimited as exc:
                exc.held_by_limiter = True  # not the source's refusal (counted in retry)
                metrics.provider_request(name, "held")
                raise
            self.requests += 1
            metrics.provider_request(name, "sent")

        def counted(call):
            def attempt():
                try:
                    return call()
                except RateLimited as exc:
                    if not getattr(exc, "held_by_limiter", False):
                        metrics.provider_request(name, "refused")
                    raise
            return attempt

        def retry(call):
            return call_with_retries(counted(call), self.settings.refresh.retry, self.clock)

        # Built afresh on every call with the stored credentials read again, so credentials
        # saved from the CLI or the console reach a long-running scheduler's next run.
        provider = build(self.db, self.settings, name, throttle=throttle, retry=retry)
        if name not in self._limiters:
            self._limiters[name] = ProviderLimiter.for_provider(
                name, type(provider), provider.settings, self._buckets, clock=self.clock,
                max_wait=self.settings.refresh.retry.max_wait_seconds,
                margin=self.settings.refresh.rate_margin)
        return provider

    def quota_left(self, name: str) -> int | None:
        self.provider(name)
        return self._limiters[name].quota_left()

    def guard(self, provider: Provider) -> ProviderGuard:
        refresh = self.settings.refresh
        return ProviderGuard(
            self.db, provider, self.clock, refresh.breaker_threshold,
            dt.timedelta(minutes=refresh.breaker_cooldown_minutes),
            dt.timedelta(minutes=refresh.quota_pause_minutes) if refresh.quota_pause_minutes else None)

    def run(self, provider_name: str | None = None, film_ref: str | None = None,
            accept_removals: bool = False, progress: Progress | None = None) -> list[RunReport]:
        """Refresh one provider or every enabled one, in configured order: one film when
        named, else the whole catalog for feeds and the films now due for API sources.

        Films are looked up again before each provider, so ids one source maps (TMDB's for
        an IMDb id, a title for a film added by id) reach the sources after it.
        """
        names = [provider_name] if provider_name is not None else [
            name for name in self.settings.providers if self.provider(name).settings.enabled]
        rules = self.settings.catalog
        if accept_removals:  # the operator has checked a quarantined answer and wants it applied
            rules = rules.model_copy(update={"max_hidden_share": 1.0})
        reports = []
        for name in names:
            with log_context(provider=name, film=film_ref):  # on every line this run logs
                reports.append(self._run_one(name, film_ref, rules, progress))
        return reports

    def _run_one(self, name: str, film_ref: str | None, rules: CatalogSettings,
                 progress: Progress | None) -> RunReport:
        provider = self.provider(name)
        if film_ref is not None:
            films = film_queries(self.db, film_ref, name)
        elif provider.lists_catalog:
            films = None
        else:
            return self.refresh_due(provider, rules, progress)
        return refresh_provider(self.db, provider, films, rules, self.guard(provider),
                                self.settings.matching)

    def refresh_due(self, provider: Provider, rules: CatalogSettings,
                    progress: Progress | None = None) -> RunReport:
        """Claim due films in chunks (leased, so no other process runs them), fetch and
        store each chunk, and schedule each film's next refresh by how it went.

        While one chunk is stored the next is already being fetched in a worker thread, so
        a source's rate limit, not the database, sets the pace."""
        name = provider.name
        ensure_rows(self.db, name, self.clock.now())
        guard = self.guard(provider)
        self.follow_changes(provider, guard)
        total = _RunTotal(name)
        budget = self.settings.refresh.max_films_per_run  # per run; jobs share this engine
        gave_up = False

        def start_chunk():
            """Claim the next chunk and start fetching it: (ids, attempt, future) or None."""
            nonlocal budget
            if budget <= 0:
                return None
            chunk = claim(self.db, name, self.owner, min(_chunk_size(provider), budget),
                          dt.timedelta(minutes=self.settings.refresh.lease_minutes), self.clock.now())
            if not chunk:
                return None
            budget -= len(chunk)
            attempt = _Attempt.start(self.db, provider, film_queries_for(self.db, chunk, name),
                                     guard)
            # The fetch thread logs with this run's context (its provider).
            fetch = None if attempt.report else pool.submit(copy_context().run, attempt.fetch)
            return chunk, attempt, fetch

        so_far = None  # what the run's earlier chunks left out: the run is judged whole
        try:
            with ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"fetch-{name}") as pool:
                pending = start_chunk()
                while pending is not None:
                    chunk, attempt, fetched = pending
                    pending = start_chunk() if fetched else None
                    report = attempt.report or attempt.store(self.db, rules, fetched.result(), so_far,
                                                             self.settings.matching)
                    if report.stats is not None and report.stats.removals is not None:
                        so_far = report.stats.removals
                    total.add(report)
                    if report.status in ("failed", "skipped"):
                        gave_up, budget = True, 0  # no new chunks; one in flight is stored
                        continue
                    self._finish_chunk(provider, chunk, report, progress)
        except BaseException:
            # Storing failed (the database went away, a bug): the films stay due now, for
            # this process's next run or another's, rather than held until the lease expires.
            release(self.db, name, self.owner)
            raise
        if gave_up:
            # The provider, not these films, failed: they stay due; the guard's pause or
            # breaker does the backing off.
            release(self.db, name, self.owner)
        return total.report()

    def follow_changes(self, provider: Provider, guard: ProviderGuard) -> int | None:
        """Read the provider's change feed if it keeps one and this process's turn has come
        (one process per `changes_every`), and make the tracked films it names due now; the
        feed's cursor advances only with them. Returns the films brought forward, None when
        the feed was not read. A failure is the provider's, as a fetch's would be."""
        if provider.changes_every is None:
            return None
        now = self.clock.now()
        # Read-only: a pause, a block or an open breaker waits, and a breaker's trial call is
        # left to the run's own fetch.
        if guard.status() is not None or not take_changes_turn(self.db, provider.name,
                                                                provider.changes_every, now):
            return None
        try:
            changed = provider.changes(changes_cursor(self.db, provider.name), now)
        except Exception as exc:  # like a fetch: recorded on the guard, never raised
            failures = guard.record_failure(exc)
            kind = exc.kind if isinstance(exc, ProviderError) else "error"
            _note_error(self.db, provider, kind, f"change feed: {exc}", first=failures == 1)
            return None
        guard.record_success()
        for problem in changed.problems:
            log.warning("provider %s: change feed: skipped %s", provider.name, problem)
        films = films_named(self.db, provider.type_name, changed.films)
        moved = changed_films_due(self.db, provider.name, films, changed.cursor, now)
        if moved:
            log.info("provider %s: change feed made %d films due", provider.name, moved)
        return moved

    def _finish_chunk(self, provider: Provider, chunk: list[int], report: RunReport,
                      progress: Progress | None) -> None:
        now = self.clock.now()
        ttls = film_ttls(self.db, provider.name, chunk,
                         dt.timedelta(minutes=provider.settings.interval_minutes),
                         provider.terms.price_max_age, now)
        finish(self.db, provider.name, self.owner, chunk, report.stats.covered_films, now,
               ttls.__getitem__)
        if progress is not None:
            progress(len(chunk), self.requests, len(report.stats.problems))

    def sync_platforms(self, region: str) -> dict[str, str]:
        """Store every enabled provider's platform directory for `region`: name -> outcome."""
        outcomes = {}
        for name in self.settings.providers:
            provider = self.provider(name)
            if not provider.settings.enabled:
                continue
            try:
                platforms = provider.platform_directory(region)
            except ProviderError as exc:
                outcomes[name] = f"failed ({exc.kind}): {exc}"
                continue
            if platforms:
                outcomes[name] = f"{store_platforms(self.db, platforms)} platforms"
        return outcomes

    def close(self) -> None:
        """Give back this process's leases (its films stay due) and close the limiters."""
        for name, limiter in self._limiters.items():
            release(self.db, name, self.owner)
            limiter.close()


# Called after each chunk with (films done in it, requests so far, problems in it).
Progress = Callable[[int, int, int], None]


def _chunk_size(provider: Provider) -> int:
    """About half a minute of requests per claim (at least one batch), so leases stay short."""
    per_second = provider.requests_per_second or 10
    films = max(provider.batch_size, int(per_second * 30))
    return min(films, 200)


class _RunTotal:
    """What a run's chunks add up to, added as each is stored: counts, problems, the worst
    outcome and the last warning. A chunk's per-film sets (covered_films and the rest) go
    with the chunk, so a run over the whole catalog holds no more than a chunk's films."""

    def __init__(self, name: str):
        self.name = name
        self.stats = ReconcileStats()
        self.worst: RunReport | None = None
        self.partial = False
        self.warning: str | None = None
        self.films = 0

    def add(self, report: RunReport) -> None:
        if report.stats is not None:
            for field_name in _COUNTS:
                setattr(self.stats, field_name,
                        getattr(self.stats, field_name) + getattr(report.stats, field_name))
            self.stats.problems += report.stats.problems
        if self.worst is None and report.status in ("failed", "skipped", "quarantined"):
            self.worst = report
        self.partial = self.partial or report.status == "partial"
        # Chunks add up what the run leaves out: the last one speaks for the run.
        self.warning = report.warning or self.warning
        self.films += report.films

    def report(self) -> RunReport:
        worst = self.worst
        status = worst.status if worst else "partial" if self.partial else "complete"
        return RunReport(self.name, status, self.stats, error=worst.error if worst else None,
                         warning=self.warning, films=self.films)


def run_refresh(db: Database, settings: Settings, provider_name: str | None = None,
                film_ref: str | None = None, accept_removals: bool = False) -> list[RunReport]:
    """One refresh with an engine of its own, for callers that hold none (tests, a console)."""
    engine = RefreshEngine(db, settings)
    try:
        return engine.run(provider_name, film_ref, accept_removals)
    finally:
        engine.close()


def refresh_provider(db: Database, provider: Provider, films: Iterable[FilmQuery] | None,
                     rules: CatalogSettings, guard: ProviderGuard | None = None,
                     matching: MatchingSettings | None = None) -> RunReport:
    """Fetch `films` (None: the whole catalog of a feed), unless the provider's guard says
    no, and reconcile the answer; the provider retries each request as it was built to.
    Never raises for a provider's failure."""
    guard = guard or ProviderGuard(db, provider, SystemClock())
    attempt = _Attempt.start(db, provider, films, guard)
    return attempt.report if attempt.report else attempt.store(db, rules, attempt.fetch(),
                                                               matching=matching)


@dataclass
class _Attempt:
    """One fetch, split so that the fetching (network only, no database) can run in another
    thread while the previous chunk is stored: start and store run where the caller is."""

    provider: Provider
    guard: ProviderGuard
    run: RefreshRun | None = None
    films: list[FilmQuery] | None = None
    report: RunReport | None = None  # set when the guard said no

    @classmethod
    def start(cls, db: Database, provider: Provider, films: Iterable[FilmQuery] | None,
              guard: ProviderGuard) -> _Attempt:
        reason = guard.check()
        if reason is not None:
            return cls(provider, guard, report=RunReport(provider.name, "skipped", error=reason))
        films = list(films) if films is not None else None
        note_source(db, provider)  # before any of its data: the data keeps these terms
        run = RefreshRun(provider=provider.name,
                         films_requested=len(films) if films is not None else None)
        with db.session() as session:
            session.add(run)
        return cls(provider, guard, run, films)

    def fetch(self) -> ProviderResult | BaseException:
        try:
            return self.provider.fetch(self.films)
        except Exception as exc:  # an adapter bug must not stop the scheduler or lose data
            return exc

    def store(self, db: Database, rules: CatalogSettings, outcome: ProviderResult | BaseException,
              so_far: Removals | None = None, matching: MatchingSettings | None = None) -> RunReport:
        """Store the answer; with `matching`, score the candidate links of the films it spoke
        of and link the box sets it holds (affiliate.candidates)."""
        provider = self.provider
        note_reported_state(db, provider, utcnow())
        if isinstance(outcome, BaseException):
            failures = self.guard.record_failure(outcome)
            if isinstance(outcome, ProviderError):
                kind, message = outcome.kind, str(outcome)
            else:
                log.error("provider %s crashed", provider.name, exc_info=outcome)
                kind, message = "error", f"{type(outcome).__name__}: {outcome}"
            return _failed(db, provider, self.run, kind, message, first=failures == 1)
        previous_failures = self.guard.record_success()
        # A quarantine or a bad record is not the provider's failure: it answered.
        stats = reconcile(db, provider.name, outcome, rules.hide_after_misses, rules.max_hidden_share,
                          dated_prices=provider.terms.price_max_age is not None,
                          link_policy=provider.link_policy, so_far=so_far)
        if stats.quarantined:
            status = "quarantined"
            log.error("provider %s: answer quarantined: %s", provider.name, stats.quarantined)
        else:
            status = "complete" if outcome.complete and not stats.problems else "partial"
        if stats.drop_warning:
            log.error("provider %s: %s", provider.name, stats.drop_warning)
        if not stats.quarantined:
            mark_discovered(db, provider.name, stats.film_ids_of(outcome.discovered), utcnow())
        if matching is not None and not stats.quarantined:
            candidates.review(db, matching, stats.films_touched, stats.products_stored)
        _finished(db, provider, self.run, status, stats, previous_failures)
        return RunReport(provider.name, status, stats, warning=stats.drop_warning,
                         films=len(self.films) if self.films is not None else 0)


def note_reported_state(db: Database, provider: Provider, now: dt.datetime) -> None:
    """Store what the source said about the account (Provider.account_report) on the
    provider's row, so every process and `affiliate status` see it; a quota the source did not
    report this time is kept as last reported, a notice that is over is cleared."""
    report = provider.account_report()
    with db.session() as session:
        state = _state(session, provider)
        if report.quota_remaining is not None:
            state.quota_remaining, state.quota_period = report.quota_remaining, report.quota_period
            state.quota_checked_at = now
        if report.notice != state.notice:
            state.notice, state.notice_since = report.notice, now if report.notice else None
        session.add(state)


def _state(session, provider: Provider) -> ProviderState:
    state = session.get(ProviderState, provider.name)
    if state is None:
        state = ProviderState(name=provider.name, type=provider.type_name)
    return state


def _finished(db: Database, provider: Provider, run: RefreshRun, status: str,
              stats: ReconcileStats, previous_failures: int) -> None:
    now = utcnow()
    if previous_failures:
        log.info("provider %s recovered after %d failed runs", provider.name, previous_failures)
    with db.session() as session:
        state = _state(session, provider)
        state.last_run_at = state.last_success_at = now
        # Until an answer no longer leaves out that much (a quarantine keeps it standing).
        if stats.drop_warning or not stats.quarantined:
            state.drop_warning = stats.drop_warning
            state.drop_warning_at = now if stats.drop_warning else None
        session.add(state)
        run = session.merge(run)
        run.finished_at, run.status = now, status
        for name in _COUNTS:
            setattr(run, name, getattr(stats, name))
        run.problems = len(stats.problems)
        notes = [note for note in (stats.quarantined, stats.drop_warning) if note]
        notes += [str(p) for p in stats.problems[:20]]
        run.message = "\n".join(notes)[:4000] or None
        session.add(run)
    for problem in stats.problems:
        log.warning("provider %s: skipped %s", provider.name, problem)


def _note_error(db: Database, provider: Provider, kind: str, message: str, first: bool) -> None:
    """Record a provider's failure on its state row; log it once per outage, not once per run."""
    if first:
        log.warning("provider %s failed (%s): %s; keeping stored data", provider.name, kind, message)
    with db.session() as session:
        state = _state(session, provider)
        state.last_run_at = state.last_error_at = utcnow()
        state.last_error_kind, state.last_error = kind, message[:2000]
        session.add(state)


def _failed(db: Database, provider: Provider, run: RefreshRun, kind: str, message: str,
            first: bool) -> RunReport:
    _note_error(db, provider, kind, message, first)
    now = utcnow()
    with db.session() as session:
        run = session.merge(run)
        run.finished_at, run.status, run.message = now, "failed", f"{kind}: {message}"[:4000]
        session.add(run)
    return RunReport(provider.name, "failed", error=f"{kind}: {message}")
