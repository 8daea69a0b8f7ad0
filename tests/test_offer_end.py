"""Expired offers are never shown: an offer is hidden from the instant its source says it ends
(Movie of the Night's `expiresOn`), or, from a source that gives only a date, from the end of
that day in the country's zone. No refresh is needed, and no cached rendering, memo or ETag
outlives the end. "Leaving <date>" is the country's calendar day."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlmodel import select

from affiliate import blueprint, widgets
from affiliate.catalog import reconcile
from affiliate.models import Film
from providers.base import (
    FilmKey,
    FilmRecord,
    OfferKind,
    OfferRecord,
    PlatformRecord,
    ProviderResult,
    Quality,
)
from tests.clock import FakeClock

LLV = FilmKey(imdb_id="tt0113627")
FILM = FilmRecord(LLV, "Leaving Las Vegas", 1995, imdb_id="tt0113627")
NETFLIX = PlatformRecord("netflix", "Netflix")
MUBI = PlatformRecord("mubi", "MUBI")
# 19:00 in New York on 30 August 2026 (UTC-4).
EVENING = dt.datetime(2026, 8, 30, 23, 0, tzinfo=dt.timezone.utc)
WIDGET = "/widgets/how-to-watch/imdb:tt0113627?region=US"
ROUTES = (WIDGET, "/widgets/how-to-watch/imdb:tt0113627/frame?region=US",
          "/api/v1/films/imdb:tt0113627/offers?region=US")


def offer(platform, *, expires_at=None, expires_on=None, region="US"):
    return OfferRecord(LLV, platform, region, OfferKind.SUBSCRIPTION, Quality.HD,
                       f"https://{platform.slug}.example/title/1", expires_at=expires_at,
                       expires_on=expires_on)


def store(db, *offers, now=EVENING - dt.timedelta(days=40)):
    reconcile(db, "src", ProviderResult(films=[FILM], offers=list(offers), covered={LLV},
                                        complete=True), 3, now=now)


@pytest.fixture
def clock(monkeypatch):
    """The clock the widget routes and view builders read."""
    fake = FakeClock(EVENING)
    monkeypatch.setattr(blueprint, "utcnow", fake.now)
    monkeypatch.setattr(widgets, "utcnow", fake.now)
    return fake


def shows(client, platform: str) -> list[bool]:
    return [platform in client.get(route).text for route in ROUTES]


def test_an_offer_is_hidden_from_the_instant_its_source_ends_it_everywhere(app, db, client, clock):
    ends = EVENING + dt.timedelta(minutes=30)
    store(db, offer(NETFLIX, expires_at=ends, expires_on=dt.date(2026, 8, 30)), offer(MUBI))

    assert shows(client, "Netflix") == [True, True, True]
    clock.advance(minutes=29)
    assert shows(client, "Netflix") == [True, True, True]  # cached, still true
    clock.advance(minutes=1)
    assert shows(client, "Netflix") == [False, False, False]
    assert shows(client, "MUBI") == [True, True, True]


def test_a_cached_rendering_ends_with_the_first_offer_it_shows(app, db, client, clock):
    store(db, offer(NETFLIX, expires_at=EVENING + dt.timedelta(minutes=10)))

    first = client.get(WIDGET)
    max_age = int(first.headers["Cache-Control"].split("max-age=")[1].split(",")[0])
    clock.advance(minutes=11)
    again = client.get(WIDGET, headers={"If-None-Match": first.headers["ETag"]})

    assert max_age <= 600  # browsers and CDNs keep it no longer than the offer lasts
    assert again.status_code == 200 and again.headers["ETag"] != first.headers["ETag"]
    assert "Netflix" not in again.text


def test_a_date_ends_when_that_day_ends_in_the_countrys_zone(app, db, client, clock):
    store(db, offer(NETFLIX, expires_on=dt.date(2026, 8, 30)),
          offer(NETFLIX, expires_on=dt.date(2026, 8, 30), region="GB"))

    # 19:00 in New York: still the 30th there; 00:00 on the 31st in London already.
    assert "Netflix" in client.get(WIDGET).text
    assert "Netflix" not in client.get("/widgets/how-to-watch/imdb:tt0113627?region=GB").text
    clock.current = dt.datetime(2026, 8, 31, 3, 59, tzinfo=dt.timezone.utc)  # 23:59 New York
    assert "Netflix" in client.get(WIDGET).text
    clock.current = dt.datetime(2026, 8, 31, 4, 0, tzinfo=dt.timezone.utc)  # midnight
    assert "Netflix" not in client.get(WIDGET).text


def test_leaving_shows_the_countrys_calendar_day(db, settings, clock):
    # Movie of the Night's stamp for "the last day is the 30th" in New York.
    store(db, offer(NETFLIX, expires_at=dt.datetime(2026, 8, 31, 3, 59, tzinfo=dt.timezone.utc),
                    expires_on=dt.date(2026, 8, 30)))

    view = widgets.how_to_watch(db, "imdb:tt0113627", "US", "en_US", settings, now=EVENING)

    (row,) = view.groups[0].rows
    assert [badge.label for badge in row.badges] == ["Leaving Aug 30"]
    assert view.fresh_until == dt.datetime(2026, 8, 31, 3, 59, tzinfo=dt.timezone.utc)


def test_the_end_of_an_offer_needs_no_refresh_and_changes_no_stored_row(db, settings):
    store(db, offer(NETFLIX, expires_at=EVENING), offer(MUBI))
    revision = film_revision(db)
    before = widgets.how_to_watch(db, "imdb:tt0113627", "US", "en_US", settings,
                                  now=EVENING - dt.timedelta(seconds=1))
    after = widgets.how_to_watch(db, "imdb:tt0113627", "US", "en_US", settings, now=EVENING)

    assert [row.name for group in before.groups for row in group.rows] == ["MUBI", "Netflix"]
    assert [row.name for group in after.groups for row in group.rows] == ["MUBI"]
    assert film_revision(db) == revision  # the clock alone hid it: nothing was written


def film_revision(db) -> int:
    with db.session() as session:
        return session.exec(select(Film.revision)).one()
