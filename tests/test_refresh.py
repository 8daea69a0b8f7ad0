"""Refresh runs providers and records outcomes; failures never touch stored data."""
from __future__ import annotations

import logging
from decimal import Decimal

import pytest
import responses
from sqlmodel import select

from affiliate.config import CatalogSettings
from affiliate.models import Offer, ProviderState, RefreshRun
from affiliate.refresh import (
    RefreshEngine,
    UnknownFilm,
    film_queries,
    refresh_provider,
    run_refresh,
)
from affiliate.sources import UnknownProvider
from providers.base import (
    AuthFailed,
    FilmKey,
    FilmQuery,
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
    refresh_provider(db, provider, None, RULES)

    report = refresh_provider(db, provider, None, RULES)

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
            refresh_provider(db, provider, None, RULES)

    messages = [r.getMessage() for r in caplog.records]
    assert sum(m.startswith("provider scripted failed") for m in messages) == 1
    assert any("recovered after 3 failed runs" in m for m in messages)


def test_film_queries_carry_the_ids_the_catalog_knows(db):
    refresh_provider(db, ScriptedProvider(good_answer()), None, RULES)

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


@responses.activate
def test_the_engine_retries_each_request_not_the_whole_fetch(db, make_settings):
    """A 503 and a 429 (Retry-After: 7) on one film repeat that film's request only."""
    url = "https://api.watchmode.com/v1/title/{}/sources/"
    responses.get(url.format(1), json=[])
    responses.get(url.format(2), status=503)
    responses.get(url.format(2), status=429, headers={"Retry-After": "7"})
    responses.get(url.format(2), json=[])
    settings = make_settings(providers={"wm": {"type": "watchmode", "api_key": "k-0123456789"}})
    clock = FakeClock()
    engine = RefreshEngine(db, settings, clock=clock)
    films = [FilmQuery(FilmKey(imdb_id=f"tt000000{n}"), "Film", external_ids={"watchmode": str(n)})
             for n in (1, 2)]

    result = engine.provider("wm").fetch(films)
    engine.close()

    assert result.covered == {f.key for f in films}
    assert [call.request.url.split("/")[-3] for call in responses.calls] == ["1", "2", "2", "2"]
    assert clock.slept[-1] == 7
