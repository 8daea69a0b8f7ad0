"""The refresh engine end to end: due films in bounded, leased chunks; failures give films
back; the guard skips a provider whose breaker is open; operators see it all in status."""
from __future__ import annotations

import datetime as dt
import gc
import weakref
from decimal import Decimal

import pytest
from click.testing import CliRunner
from sqlmodel import select

from affiliate import refresh
from affiliate.__main__ import main
from affiliate.models import FilmProviderState
from affiliate.refresh import RefreshEngine, run_refresh
from affiliate.types import utcnow
from providers.base import (
    OfferKind,
    OfferRecord,
    PlatformRecord,
    Provider,
    ProviderResult,
    ProviderSettings,
    Quality,
    Transient,
)
from providers.registry import PROVIDER_TYPES
from tests.clock import FakeClock

ASKED: list[list[str]] = []
FAILING: list[bool] = []


class CountingSource(Provider):
    """An API source that prices every film it is asked about, or fails when told to."""

    type_name = "counting"
    description = "test source"
    batch_size = 2

    class Settings(ProviderSettings):
        base_url: str = "http://127.0.0.1:9"

    def fetch(self, films):
        films = list(films)
        self.throttle()
        if FAILING:
            raise Transient("source down")
        ASKED.append([str(f.key) for f in films])
        platform = PlatformRecord("vudu", "Vudu", namespace="counting", external_id="1")
        return ProviderResult(
            offers=[OfferRecord(f.key, platform, "US", OfferKind.RENT, Quality.HD,
                                "https://www.vudu.com/x", Decimal("3.99"), "USD") for f in films],
            covered={f.key for f in films}, complete=True)


@pytest.fixture
def settings(monkeypatch, make_settings):
    monkeypatch.setitem(PROVIDER_TYPES, "counting", CountingSource)
    monkeypatch.setattr("time.sleep", lambda seconds: None)
    ASKED.clear()
    FAILING.clear()
    return make_settings(
        providers={"demo": {"type": "feed", "url": "builtin:demo"}, "api": {"type": "counting"}},
        refresh={"max_films_per_run": 4, "breaker_threshold": 1,
                 "retry": {"attempts": 1}})


def films_asked() -> list[str]:
    return [film for chunk in ASKED for film in chunk]


def test_due_films_are_fetched_in_bounded_runs_until_none_is_due(db, settings, demo):
    first = run_refresh(db, settings, "api")
    second = run_refresh(db, settings, "api")
    third = run_refresh(db, settings, "api")

    assert [r.films for r in first + second + third] == [4, 2, 0]
    assert len(films_asked()) == len(set(films_asked())) == 6
    assert first[0].status == "complete" and first[0].stats.offers_added == 4


def test_a_run_holds_one_finished_chunks_films_at_a_time(db, make_settings, settings, monkeypatch, demo):
    """However many chunks a run takes (the whole catalog, with a large max_films_per_run),
    a stored chunk's per-film sets are let go once the next is stored: the run's report
    adds up counts, so memory stays flat with the catalog's size."""
    whole_catalog = make_settings(providers={"api": {"type": "counting"}},
                                  refresh={"max_films_per_run": 100, "retry": {"attempts": 1}})
    monkeypatch.setattr(refresh, "_chunk_size", lambda provider: 2)
    stored: list[weakref.ref] = []  # each chunk's ReconcileStats, as it was stored
    alive_at_each_store = []
    store = refresh._Attempt.store

    def watched(self, *args, **kwargs):
        gc.collect()
        alive_at_each_store.append(sum(ref() is not None for ref in stored))
        report = store(self, *args, **kwargs)
        stored.append(weakref.ref(report.stats))
        return report

    monkeypatch.setattr(refresh._Attempt, "store", watched)
    (report,) = run_refresh(db, whole_catalog, "api")

    assert len(stored) == 3 and report.films == 6
    assert report.status == "complete" and report.stats.offers_added == 6
    assert max(alive_at_each_store) <= 1  # the one just stored, until the loop moves on


def test_a_failing_source_gives_its_films_back_and_its_breaker_skips_the_next_run(db, settings, demo):
    FAILING.append(True)

    failed = run_refresh(db, settings, "api")
    skipped = run_refresh(db, settings, "api")

    assert failed[0].status == "failed" and "source down" in failed[0].error
    assert skipped[0].status == "skipped" and "breaker open" in skipped[0].error
    FAILING.clear()
    engine = RefreshEngine(db, settings, clock=FakeClock(utcnow() + dt.timedelta(minutes=16)))
    (after_cooldown,) = engine.run("api")  # the breaker's one trial, after its cooldown
    engine.close()
    assert after_cooldown.status == "complete" and after_cooldown.films == 4


def test_a_store_that_crashes_gives_its_films_back_at_once(db, settings, monkeypatch, demo):
    def database_gone(*args, **kwargs):
        raise RuntimeError("database went away")

    reconcile = refresh.reconcile
    monkeypatch.setattr(refresh, "reconcile", database_gone)
    with pytest.raises(RuntimeError):
        run_refresh(db, settings, "api")

    with db.session() as session:
        held = session.exec(select(FilmProviderState).where(FilmProviderState.lease_owner.is_not(None))).all()
    assert held == []
    monkeypatch.setattr(refresh, "reconcile", reconcile)
    (report,) = run_refresh(db, settings, "api")  # due at once, not after the lease
    assert report.films == 4


def test_status_shows_each_providers_health_and_next_run(database_url, settings, db, tmp_path, demo):
    run_refresh(db, settings, "api")
    (tmp_path / "config.toml").write_text(
        f'[service]\ndatabase_url = "{database_url}"\n'
        '[providers.demo]\ntype = "feed"\nurl = "builtin:demo"\n'
        '[providers.api]\ntype = "counting"\n')

    output = CliRunner().invoke(main, ["status"]).output

    demo, api = output.split("api (counting)")
    assert demo.startswith("demo (feed): ok") and "last error: never" in demo
    assert api.startswith(": ok") and "next run: now (2 films due)" in api
    assert "quota left: no quota; breaker: closed" in api


def test_refresh_shows_progress_and_a_summary(database_url, settings, db, tmp_path, demo):
    (tmp_path / "config.toml").write_text(
        f'[service]\ndatabase_url = "{database_url}"\n[providers.api]\ntype = "counting"\n')

    result = CliRunner().invoke(main, ["refresh"])

    assert result.exit_code == 0, result.output
    assert "api: films" in result.output  # the progress bar's label
    assert "api: complete. Offers: 6 seen, 6 added" in result.output
