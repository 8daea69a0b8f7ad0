"""Runs providers and hands their results to the catalog; the scheduler, CLI and console
all come through here.

A provider failure is recorded on its ProviderState and RefreshRun and logged once per
outage (like Home Assistant's DataUpdateCoordinator); it never escapes to the caller and
never touches stored data.
"""
from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import asdict, dataclass
from typing import Iterable

from sqlmodel import select

from affiliate.catalog import ReconcileStats, film_key, find_film, reconcile, store_platforms
from affiliate.config import CatalogSettings, Settings
from affiliate.db import Database
from affiliate.models import Film, FilmExternalId, FilmProduct, Product, ProviderState, RefreshRun
from affiliate.types import utcnow
from providers.base import FilmKey, FilmQuery, ProductRef, Provider, ProviderError
from providers.registry import build_provider

log = logging.getLogger(__name__)


class UnknownFilm(LookupError):
    pass


class UnknownProvider(LookupError):
    pass


@dataclass
class RunReport:
    provider: str
    status: str  # complete | partial | failed
    stats: ReconcileStats | None = None
    error: str | None = None


def configured_providers(settings: Settings) -> dict[str, Provider]:
    return {name: build_provider(name, raw) for name, raw in settings.providers.items()}


def film_queries(db: Database, ref: str | None) -> list[FilmQuery]:
    """What to ask a provider about: one film (stored or not yet) or every stored film,
    each with every id and linked product the catalog knows."""
    with db.session() as session:
        if ref is None:
            films = list(session.exec(select(Film).order_by(Film.id)))
        else:
            key = FilmKey.parse(ref)
            film = find_film(session, key)
            if film is None:
                if key.internal_id is not None:
                    raise UnknownFilm(f"no film with internal id {key.internal_id}")
                return [FilmQuery(key=key, title="", imdb_id=key.imdb_id, tmdb_id=key.tmdb_id)]
            films = [film]
        ids = [film.id for film in films]
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
    return [
        FilmQuery(key=film_key(film), title=film.title, year=film.year, imdb_id=film.imdb_id,
                  tmdb_id=film.tmdb_id, director=film.director, external_ids=external[film.id],
                  products=tuple(products[film.id]))
        for film in films
    ]


def run_refresh(db: Database, settings: Settings, provider_name: str | None = None,
                film_ref: str | None = None, accept_removals: bool = False) -> list[RunReport]:
    """Refresh one provider or every enabled one, in configured order, for one film or all.

    Films are looked up again before each provider, so ids one source maps (TMDB's for an
    IMDb id, a title for a film added by id) reach the sources after it.
    """
    providers = configured_providers(settings)
    if provider_name is not None:
        if provider_name not in providers:
            known = ", ".join(sorted(providers)) or "none configured"
            raise UnknownProvider(f"no provider named {provider_name!r} (configured: {known})")
        selected = [providers[provider_name]]
    else:
        selected = [p for p in providers.values() if p.settings.enabled]
    rules = settings.catalog
    if accept_removals:  # the operator has checked a quarantined answer and wants it applied
        rules = rules.model_copy(update={"max_hidden_share": 1.0})
    reports = []
    for provider in selected:
        films = None if provider.lists_catalog and film_ref is None else film_queries(db, film_ref)
        reports.append(refresh_provider(db, provider, films, rules))
    return reports


def sync_platforms(db: Database, settings: Settings, region: str) -> dict[str, str]:
    """Store every enabled provider's platform directory for `region`: name -> outcome."""
    outcomes = {}
    for name, provider in configured_providers(settings).items():
        if not provider.settings.enabled:
            continue
        try:
            platforms = provider.platform_directory(region)
        except ProviderError as exc:
            outcomes[name] = f"failed ({exc.kind}): {exc}"
            continue
        if platforms:
            outcomes[name] = f"{store_platforms(db, platforms)} platforms"
    return outcomes


def refresh_provider(db: Database, provider: Provider, films: Iterable[FilmQuery] | None,
                     rules: CatalogSettings) -> RunReport:
    films = list(films) if films is not None else None
    run = RefreshRun(provider=provider.name,
                     films_requested=len(films) if films is not None else None)
    with db.session() as session:
        session.add(run)
    try:
        result = provider.fetch(films)
        stats = reconcile(db, provider.name, result, rules.hide_after_misses, rules.max_hidden_share)
    except ProviderError as exc:
        return _failed(db, provider, run, exc.kind, str(exc))
    except Exception as exc:  # an adapter bug must not stop the scheduler or lose data
        log.exception("provider %s crashed", provider.name)
        return _failed(db, provider, run, "error", f"{type(exc).__name__}: {exc}")
    if stats.quarantined:
        status = "quarantined"
        log.error("provider %s: answer quarantined: %s", provider.name, stats.quarantined)
    else:
        status = "complete" if result.complete and not stats.problems else "partial"
    _finished(db, provider, run, status, stats)
    return RunReport(provider.name, status, stats)


def _state(session, provider: Provider) -> ProviderState:
    state = session.get(ProviderState, provider.name)
    if state is None:
        state = ProviderState(name=provider.name, type=provider.type_name)
    return state


def _finished(db: Database, provider: Provider, run: RefreshRun, status: str,
              stats: ReconcileStats) -> None:
    now = utcnow()
    with db.session() as session:
        state = _state(session, provider)
        if state.consecutive_failures:
            log.info("provider %s recovered after %d failed runs", provider.name,
                     state.consecutive_failures)
        state.last_run_at = state.last_success_at = now
        state.consecutive_failures = 0
        session.add(state)
        run = session.merge(run)
        run.finished_at, run.status = now, status
        for name, value in asdict(stats).items():
            if name != "quarantined":
                setattr(run, name, len(value) if name == "problems" else value)
        notes = ([stats.quarantined] if stats.quarantined else []) + [str(p) for p in stats.problems[:20]]
        run.message = "\n".join(notes)[:4000] or None
        session.add(run)
    for problem in stats.problems:
        log.warning("provider %s: skipped %s", provider.name, problem)


def _failed(db: Database, provider: Provider, run: RefreshRun, kind: str, message: str) -> RunReport:
    now = utcnow()
    with db.session() as session:
        state = _state(session, provider)
        if state.consecutive_failures == 0:
            log.warning("provider %s failed (%s): %s; keeping stored data", provider.name, kind,
                        message)
        state.last_run_at = state.last_error_at = now
        state.last_error_kind, state.last_error = kind, message[:2000]
        state.consecutive_failures += 1
        session.add(state)
        run = session.merge(run)
        run.finished_at, run.status, run.message = now, "failed", f"{kind}: {message}"[:4000]
        session.add(run)
    return RunReport(provider.name, "failed", error=f"{kind}: {message}")
