"""Refresh runs providers and records outcomes; failures never touch stored data."""
from __future__ import annotations

import logging
from decimal import Decimal

import pytest
from sqlmodel import select

from affiliate.config import CatalogSettings
from affiliate.models import Offer, ProviderState, RefreshRun
from affiliate.refresh import UnknownFilm, UnknownProvider, film_queries, refresh_provider, run_refresh
from affiliate.resilience import RetryPolicy
from providers.base import (
    AuthFailed,
    FilmKey,
    FilmRecord,
    OfferKind,
    OfferRecord,
    PlatformRecord,
    Provider,
    ProviderResult,
    ProviderSettings,
    Quality,
    RateLimited,
    Transient,
)
from tests.clock import FakeClock

LLV = FilmKey(imdb_id="tt0113627")
RULES = CatalogSettings(hide_after_misses=1)
NO_RETRY = RetryPolicy(attempts=1)


class ScriptedProvider(Provider):
    """Answers each fetch with the next scripted result or raises the next scripted error."""

    type_name = "scripted"
    description = "test double"

    def __init__(self, *answers):
        super().__init__("scripted", ProviderSettings(type="scripted"))
        self.answers = list(answers)
        self.asked = []

    def fetch(self, films):
        self.asked.append(films)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def good_answer():
    platform = PlatformRecord("vudu", "Vudu")
    return ProviderResult(
        films=[FilmRecord(LLV, "Leaving Las Vegas", 1995, imdb_id="tt0113627", tmdb_id=451)],
        offers=[OfferRecord(LLV, platform, "US", OfferKind.RENT, Quality.HD, "https://vudu.com/x",
                            Decimal("3.99"), "USD")],
        covered={LLV}, complete=True)


def visible_offers(db):
    with db.session() as session:
        return session.exec(select(Offer).where(Offer.hidden == False)).all()  # noqa: E712


@pytest.mark.parametrize("error", [
    AuthFailed("401 from source"), RateLimited("slow down", retry_after=30),
    Transient("connection reset"), ValueError("an adapter bug"),
])
def test_a_failed_fetch_keeps_every_offer_and_is_recorded(db, error):
    provider = ScriptedProvider(good_answer(), error)
    refresh_provider(db, provider, None, RULES, retry=NO_RETRY, clock=FakeClock())

    report = refresh_provider(db, provider, None, RULES, retry=NO_RETRY, clock=FakeClock())

    assert report.status == "failed"
    assert len(visible_offers(db)) == 1
    with db.session() as session:
        state = session.get(ProviderState, "scripted")
        runs = session.exec(select(RefreshRun).order_by(RefreshRun.id)).all()
    assert state.consecutive_failures == 1 and state.last_success_at is not None
    assert [r.status for r in runs] == ["complete", "failed"]
    assert str(error) in runs[-1].message


def test_an_outage_is_logged_once_and_its_end_once(db, caplog):
    provider = ScriptedProvider(Transient("down"), Transient("down"), Transient("down"), good_answer())
    with caplog.at_level(logging.INFO, logger="affiliate.refresh"):
        for _ in range(4):
            refresh_provider(db, provider, None, RULES, retry=NO_RETRY, clock=FakeClock())

    messages = [r.getMessage() for r in caplog.records]
    assert sum(m.startswith("provider scripted failed") for m in messages) == 1
    assert any("recovered after 3 failed runs" in m for m in messages)


def test_film_queries_carry_the_ids_the_catalog_knows(db):
    refresh_provider(db, ScriptedProvider(good_answer()), None, RULES, clock=FakeClock())

    (query,) = film_queries(db, "tmdb:451")

    assert (query.key, query.title, query.year, query.tmdb_id) == (LLV, "Leaving Las Vegas", 1995, 451)


def test_a_film_not_yet_stored_can_still_be_asked_for_by_imdb_id(db):
    (query,) = film_queries(db, "imdb:tt0120669")

    assert query.imdb_id == "tt0120669" and query.title == ""


def test_an_unknown_internal_id_is_an_error(db):
    with pytest.raises(UnknownFilm, match="no film with internal id 999"):
        film_queries(db, "999")


def test_an_unknown_provider_name_lists_the_configured_ones(db, settings):
    with pytest.raises(UnknownProvider, match=r"no provider named 'nope' \(configured: demo\)"):
        run_refresh(db, settings, "nope")


def test_transient_failures_are_retried_with_backoff_within_one_run(db):
    clock = FakeClock()
    provider = ScriptedProvider(Transient("reset"), RateLimited("slow down", retry_after=7), good_answer())

    report = refresh_provider(db, provider, None, RULES, clock=clock)

    assert report.status == "complete" and len(provider.asked) == 3
    assert clock.slept[1] == 7  # the second wait is the source's Retry-After
    assert len(visible_offers(db)) == 1
