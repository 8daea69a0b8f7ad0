"""Retention: what a source's terms forbid keeping (TMDB: six months) is deleted, by the
scheduler's job and `affiliate prune`; everything else stays."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from click.testing import CliRunner
from sqlmodel import select

from affiliate import create_app
from affiliate.__main__ import main
from affiliate.catalog import prepare, reconcile
from affiliate.clicks import destination, record_click
from affiliate.models import Click, Film, Offer, OfferEvent, ProviderState
from affiliate.retention import prune
from affiliate.scheduler import build_scheduler, retention_job
from affiliate.types import utcnow
from providers.base import (
    FilmKey,
    FilmRecord,
    OfferKind,
    OfferRecord,
    PlatformRecord,
    ProviderResult,
    Quality,
)

LLV = FilmKey(imdb_id="tt0113627")
FILM = FilmRecord(LLV, "Leaving Las Vegas", 1995, imdb_id="tt0113627")
APPLE, VUDU = PlatformRecord("apple-tv", "Apple TV"), PlatformRecord("vudu", "Vudu")
PROVIDERS = {"tmdb": {"type": "tmdb"}, "shop": {"type": "feed", "url": "builtin:demo"}}
NOW = utcnow()


def offer(platform, price="3.99"):
    return OfferRecord(LLV, platform, "US", OfferKind.RENT, Quality.HD,
                       f"https://example.com/{platform.slug}", Decimal(price), "USD")


def answer(*offers):
    return ProviderResult(films=[FILM], offers=list(offers), covered={LLV}, complete=True)


def ago(days: float) -> dt.datetime:
    return NOW - dt.timedelta(days=days)


@pytest.fixture
def settings(make_settings):
    return make_settings(providers=PROVIDERS)


@pytest.fixture
def app(settings):
    app = create_app(settings)
    prepare(app.extensions["affiliate"].db)
    yield app
    app.extensions["affiliate"].db.dispose()


def offers_of(db, source):
    with db.session() as session:
        return session.exec(select(Offer).where(Offer.source == source)).all()


def events_of(db, source):
    with db.session() as session:
        return session.exec(select(OfferEvent).join(Offer, Offer.id == OfferEvent.offer_id)
                            .where(Offer.source == source)).all()


def revision(db) -> int:
    with db.session() as session:
        return session.exec(select(Film.revision)).one()


def test_offers_tmdb_stopped_confirming_go_with_their_history(db, settings):
    reconcile(db, "tmdb", answer(offer(APPLE), offer(VUDU)), 3, now=ago(200))
    reconcile(db, "tmdb", answer(offer(APPLE, "2.99")), 3, now=ago(10))  # Vudu unseen since
    reconcile(db, "shop", answer(offer(VUDU)), 3, now=ago(400))
    before = revision(db)

    report = prune(db, settings, NOW)

    (kept,) = offers_of(db, "tmdb")
    assert kept.link.endswith("apple-tv") and kept.price == Decimal("2.99")
    # Apple's "appeared" 200 days ago is past the limit; its price change 10 days ago is not.
    assert [event.event for event in events_of(db, "tmdb")] == ["price_changed"]
    assert len(offers_of(db, "shop")) == 1 and len(events_of(db, "shop")) == 1  # no limit
    assert revision(db) == before + 1
    (tmdb,) = report.pruned
    assert (tmdb.source, tmdb.offers, tmdb.events) == ("tmdb", 1, 2)
    assert report.unknown == []


def test_nothing_recent_is_touched(db, settings):
    reconcile(db, "tmdb", answer(offer(APPLE)), 3, now=ago(179))
    before = revision(db)

    (tmdb,) = prune(db, settings, NOW).pruned

    assert (tmdb.offers, tmdb.events) == (0, 0)
    assert len(offers_of(db, "tmdb")) == 1 and len(events_of(db, "tmdb")) == 1
    assert revision(db) == before


def test_clicks_on_a_deleted_offer_keep_their_platform(db, settings):
    reconcile(db, "tmdb", answer(offer(APPLE)), 3, now=ago(200))
    (stale,) = offers_of(db, "tmdb")
    assert record_click(db, destination(db, f"o{stale.id}", settings.link_tags), "redirect",
                        ago(190))

    prune(db, settings, NOW)

    with db.session() as session:
        (click,) = session.exec(select(Click)).all()
    assert click.offer_id is None and click.target == "Apple TV"
    assert offers_of(db, "tmdb") == []


def test_a_source_no_longer_configured_is_judged_by_the_type_it_ran_as(db, make_settings):
    reconcile(db, "old-tmdb", answer(offer(APPLE)), 3, now=ago(200))
    reconcile(db, "gone", answer(offer(VUDU)), 3, now=ago(200))
    with db.session() as session:
        session.add(ProviderState(name="old-tmdb", type="tmdb"))

    report = prune(db, make_settings(providers={}), NOW)

    assert [(p.source, p.offers) for p in report.pruned] == [("old-tmdb", 1)]
    assert report.unknown == ["gone"] and len(offers_of(db, "gone")) == 1


def test_many_stale_offers_are_deleted_in_batches(db, settings, monkeypatch):
    monkeypatch.setattr("affiliate.retention._BATCH", 3)
    platforms = [PlatformRecord(f"platform-{n}", f"Platform {n}") for n in range(8)]
    reconcile(db, "tmdb", answer(*(offer(p) for p in platforms)), 3, now=ago(200))

    (tmdb,) = prune(db, settings, NOW).pruned

    assert tmdb.offers == 8 and offers_of(db, "tmdb") == []


def test_the_scheduler_prunes_every_few_hours_and_survives_errors(app, monkeypatch, caplog):
    jobs = {job.id: job for job in build_scheduler(app).get_jobs()}
    assert jobs["retention"].trigger.interval == dt.timedelta(hours=6)
    assert jobs["retention"].max_instances == 1

    db = app.extensions["affiliate"].db
    reconcile(db, "tmdb", answer(offer(APPLE)), 3, now=ago(200))
    retention_job(app)
    assert offers_of(db, "tmdb") == []

    def broken(*args):
        raise RuntimeError("database went away")

    monkeypatch.setattr("affiliate.scheduler.prune", broken)
    retention_job(app)
    assert "deleting data past its retention failed" in caplog.text


def test_affiliate_prune_says_what_it_deleted(db, database_url, tmp_path):
    reconcile(db, "tmdb", answer(offer(APPLE)), 3, now=ago(200))
    reconcile(db, "gone", answer(offer(VUDU)), 3, now=ago(200))
    config = tmp_path / "config.toml"
    config.write_text('[providers.tmdb]\ntype = "tmdb"\n')

    result = CliRunner().invoke(main, ["--config", str(config), "prune"],
                                env={"AFFILIATE_SERVICE__DATABASE_URL": database_url})

    assert result.exit_code == 0, result.output
    assert "tmdb: kept at most 180 days; deleted 1 offers and 1 history events" in result.output
    assert "gone: not configured and never ran" in result.output
    assert len(offers_of(db, "gone")) == 1


def test_affiliate_prune_says_when_no_source_limits_keeping(db, database_url):
    reconcile(db, "shop", answer(offer(VUDU)), 3, now=ago(400))

    result = CliRunner().invoke(main, ["prune"],
                                env={"AFFILIATE_SERVICE__DATABASE_URL": database_url})

    assert result.exit_code == 0, result.output
    assert "No source with offers here limits how long its data may be kept." in result.output
    assert "shop: not configured" in result.output and len(offers_of(db, "shop")) == 1
