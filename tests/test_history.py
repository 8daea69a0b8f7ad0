"""Offer history and quarantine: what changed is recorded; suspicious answers are held back."""
from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

from click.testing import CliRunner
from sqlmodel import select

from affiliate.__main__ import main
from affiliate.catalog import reconcile
from affiliate.history import film_history
from affiliate.models import Offer
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
T0 = dt.datetime(2026, 11, 1, tzinfo=dt.timezone.utc)
PLATFORMS = [PlatformRecord(f"platform-{n}", f"Platform {n}") for n in range(10)]


def offer(platform, price="3.99"):
    return OfferRecord(LLV, platform, "US", OfferKind.RENT, Quality.HD,
                       f"https://example.com/{platform.slug}", Decimal(price), "USD")


def answer(*offers, complete=True):
    return ProviderResult(films=[FILM], offers=list(offers), covered={LLV}, complete=complete)


def day(n):
    return T0 + dt.timedelta(days=n)


def test_events_record_appearance_price_changes_departure_and_return(db):
    apple, vudu = PLATFORMS[:2]
    reconcile(db, "feed", answer(offer(apple), offer(vudu)), 1, now=day(0))
    reconcile(db, "feed", answer(offer(apple, "2.99"), offer(vudu)), 1, now=day(1))
    reconcile(db, "feed", answer(offer(apple, "2.99")), 1, now=day(2))
    reconcile(db, "feed", answer(offer(apple, "2.99"), offer(vudu)), 1, now=day(3))

    with db.session() as session:
        film_id = session.exec(select(Offer.film_id)).first()
    events = [(e.at, e.event, e.platform, e.price_before, e.price_after)
              for e in film_history(db, film_id)]

    assert events == [
        (day(3), "returned", "Platform 1", None, Decimal("3.99")),
        (day(2), "left", "Platform 1", None, Decimal("3.99")),
        (day(1), "price_changed", "Platform 0", Decimal("3.99"), Decimal("2.99")),
        (day(0), "appeared", "Platform 1", None, Decimal("3.99")),
        (day(0), "appeared", "Platform 0", None, Decimal("3.99")),
    ]


def test_an_unchanged_answer_writes_no_history(db):
    reconcile(db, "feed", answer(offer(PLATFORMS[0])), 3, now=day(0))
    reconcile(db, "feed", answer(offer(PLATFORMS[0])), 3, now=day(1))

    with db.session() as session:
        film_id = session.exec(select(Offer.film_id)).first()
    assert [e.event for e in film_history(db, film_id)] == ["appeared"]


def test_an_answer_hiding_too_much_is_quarantined_and_nothing_applied(db):
    reconcile(db, "feed", answer(*(offer(p) for p in PLATFORMS)), 1, 0.2, now=day(0))

    stats = reconcile(db, "feed", answer(*(offer(p, "1.99") for p in PLATFORMS[:7])), 1, 0.2,
                      now=day(1))

    assert stats.quarantined.startswith("the answer would hide 3 of 10 visible offers, more than 20%")
    with db.session() as session:
        offers = session.exec(select(Offer)).all()
    assert all(not o.hidden and o.price == Decimal("3.99") for o in offers)


def test_an_answer_within_the_share_is_applied(db):
    reconcile(db, "feed", answer(*(offer(p) for p in PLATFORMS)), 1, 0.2, now=day(0))

    stats = reconcile(db, "feed", answer(*(offer(p) for p in PLATFORMS[:8])), 1, 0.2, now=day(1))

    assert stats.quarantined is None and stats.offers_missing == 2


def test_the_cli_reports_quarantine_and_applies_when_told(database_url, tmp_path, db):
    feed = tmp_path / "feed.json"

    def write(platforms):
        feed.write_text(json.dumps({
            "platforms": [{"slug": p.slug, "name": p.name} for p in PLATFORMS],
            "films": [{"title": "Leaving Las Vegas", "year": 1995, "imdb_id": "tt0113627"}],
            "offers": [{"film": "imdb:tt0113627", "platform": p.slug, "region": "US", "kind": "rent",
                        "quality": "HD", "price": "3.99", "currency": "USD",
                        "link": f"https://example.com/{p.slug}"} for p in platforms]}))

    (tmp_path / "config.toml").write_text(
        f'[service]\ndatabase_url = "{database_url}"\n[catalog]\nhide_after_misses = 1\n'
        f'[providers.shop]\ntype = "feed"\nurl = "{feed}"\n')
    runner = CliRunner()
    write(PLATFORMS)
    assert runner.invoke(main, ["refresh"]).exit_code == 0
    write(PLATFORMS[:5])

    held = runner.invoke(main, ["refresh"])
    applied = runner.invoke(main, ["refresh", "--accept-removals"])

    assert held.exit_code == 1
    assert "shop: quarantined, stored data kept: the answer would hide 5 of 10" in held.output
    assert applied.exit_code == 0 and "5 missing" in applied.output
    history = runner.invoke(main, ["films", "history", "imdb:tt0113627", "--region", "US"]).output
    assert history.count(" left ") == 5 and history.count(" appeared ") == 10
