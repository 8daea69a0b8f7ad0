"""Lists of availability changes (what's new, leaving soon, price drops), their Atom feeds and
leaving-soon events, over a catalog whose offers change between refreshes: every consumer
shows the same events, once each."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import feedparser
import pytest
from lxml import etree
from sqlalchemy import update

from affiliate import change_routes
from affiliate.catalog import reconcile
from affiliate.change_events import EventFilter, event_uuid, find_events
from affiliate.change_lists import LEAVING, NEW, PRICE_DROPS, ListQuery, changes_view
from affiliate.config import ConfigError
from affiliate.leaving_soon import raise_leaving_soon
from affiliate.models import Film
from affiliate.types import utcnow
from affiliate.negotiation import BadParameter
from providers.base import FilmKey, FilmRecord, OfferKind, OfferRecord, PlatformRecord, ProviderResult, Quality
from tests.clock import FakeClock
from tests.test_openapi import schema_validator

LLV = FilmKey(imdb_id="tt0113627")
FILM = FilmRecord(LLV, "Leaving Las Vegas", 1995, imdb_id="tt0113627", tmdb_id=451,
                  poster_url="https://image.example/llv.jpg")
T0 = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.timezone.utc)
NETFLIX, APPLE, VUDU = (PlatformRecord("netflix", "Netflix"), PlatformRecord("apple-tv", "Apple TV"),
                        PlatformRecord("vudu", "Vudu"))
ATOM = "{http://www.w3.org/2005/Atom}"


def day(n: float) -> dt.datetime:
    return T0 + dt.timedelta(days=n)


def stream(platform=NETFLIX, ends: dt.date | None = None):
    return OfferRecord(LLV, platform, "US", OfferKind.SUBSCRIPTION, Quality.HD,
                       f"https://{platform.slug}.example/title/451", expires_on=ends)


def rent(platform, price="3.99"):
    return OfferRecord(LLV, platform, "US", OfferKind.RENT, Quality.HD,
                       f"https://{platform.slug}.example/film/451", Decimal(price), "USD")


def refresh(db, now, *offers):
    reconcile(db, "feed", ProviderResult(films=[FILM], offers=list(offers), covered={LLV},
                                         complete=True), 1, now=now)


LEAVES = day(20).date()


@pytest.fixture
def history(db, settings):
    """Day 0: the film enters the catalog, for rent on Apple TV (its first fetch: no news).
    Day 3: Netflix streams it (until day 20) and Vudu rents it. Day 5: Apple TV's price drops.
    Day 6: the scheduler finds Netflix's end within the window."""
    refresh(db, day(0), rent(APPLE))
    with db.session() as session:
        session.execute(update(Film).values(created_at=day(0)))
    refresh(db, day(3), rent(APPLE), stream(ends=LEAVES), rent(VUDU))
    refresh(db, day(5), rent(APPLE, "2.99"), stream(ends=LEAVES), rent(VUDU))
    assert raise_leaving_soon(db, settings, day(6)) == 1
    return db


def recent_changes(db, settings, now: dt.datetime) -> None:
    """An entry in every list as of `now`, whatever else the catalog holds (its films are
    made a month old, so their offers' events are news)."""
    with db.session() as session:
        session.execute(update(Film).values(created_at=now - dt.timedelta(days=30)))
    refresh(db, now - dt.timedelta(days=2), rent(APPLE), rent(VUDU))
    refresh(db, now - dt.timedelta(days=1), rent(APPLE, "2.99"), rent(VUDU),
            stream(ends=(now + dt.timedelta(days=5)).date()))
    raise_leaving_soon(db, settings, now - dt.timedelta(hours=1))


@pytest.fixture
def clock(monkeypatch):
    clock = FakeClock(day(7))
    monkeypatch.setattr(change_routes, "utcnow", clock.now)
    return clock


def entries(view):
    return [(group.day, entry.film.title, entry.platform, entry.kind, entry.event)
            for group in view.groups for entry in group.entries]


def test_each_list_shows_its_changes_by_day(history, settings):
    view = lambda name, days=7, **filters: changes_view(  # noqa: E731
        history, name, "US", "en_US", settings,
        ListQuery(frozenset(filters.get("platforms", ())), frozenset(filters.get("kinds", ())),
                  days), now=day(7))

    assert entries(view(NEW)) == [
        (day(3).date(), "Leaving Las Vegas", "Netflix", "stream", "appeared"),
        (day(3).date(), "Leaving Las Vegas", "Vudu", "rent", "appeared"),
    ]
    assert entries(view(NEW, kinds={"stream"})) == [entries(view(NEW))[0]]
    assert entries(view(NEW, platforms={"vudu"})) == [entries(view(NEW))[1]]
    assert entries(view(NEW, days=3)) == []  # day 3 is before the last three days
    drops = view(PRICE_DROPS)
    assert entries(drops) == [(day(5).date(), "Leaving Las Vegas", "Apple TV", "rent", "price_drop")]
    entry = drops.groups[0].entries[0]
    assert (entry.price_before.text, entry.price.text) == ("$3.99", "$2.99")
    assert entry.text == "Price drop on Apple TV" and entry.action_label == "Rent Leaving Las Vegas on Apple TV"
    assert entry.poster_url == "https://image.example/llv.jpg"
    assert drops.groups[0].label == "Friday, March 6, 2026"
    assert entries(view(LEAVING, days=14)) == [(LEAVES, "Leaving Las Vegas", "Netflix", "stream", "leaving_soon")]
    assert entries(view(LEAVING, days=13)) == []  # day 20 is the fourteenth day from day 7
    # The next midnight in New York (summer time from 8 March).
    assert view(LEAVING, days=14).fresh_until == dt.datetime(2026, 3, 9, 4, 0, tzinfo=dt.timezone.utc)


def test_a_list_shows_only_what_is_still_true(history, settings):
    refresh(history, day(6.5), rent(APPLE, "3.49"), rent(VUDU))  # Netflix gone, Apple's price up
    query = ListQuery(frozenset(), frozenset(), 14)
    for name in (LEAVING, PRICE_DROPS):
        assert entries(changes_view(history, name, "US", "en_US", settings, query, now=day(7))) == []
    assert [e[2] for e in entries(changes_view(history, NEW, "US", "en_US", settings, query,
                                               now=day(7)))] == ["Vudu"]


def test_leaving_soon_is_raised_once_per_offer_until_it_returns(history, settings):
    assert raise_leaving_soon(history, settings, day(6.5)) == 0
    assert raise_leaving_soon(history, settings, day(8)) == 0
    refresh(history, day(9), rent(APPLE, "2.99"), rent(VUDU))  # Netflix left...
    assert raise_leaving_soon(history, settings, day(9.5)) == 0  # ...so nothing is leaving
    refresh(history, day(10), rent(APPLE, "2.99"), stream(ends=LEAVES), rent(VUDU))  # ...and returned
    assert raise_leaving_soon(history, settings, day(10.5)) == 1
    events = find_events(history, EventFilter(events=frozenset({"leaving_soon"})), day(11))
    assert [event.at for event in events] == [day(10.5), day(6)]


def test_an_end_beyond_the_window_is_announced_when_it_comes_within(db, make_settings):
    settings = make_settings(changes={"leaving_days": 7})
    refresh(db, day(0), stream(ends=day(10).date()))
    assert raise_leaving_soon(db, settings, day(2)) == 0
    assert raise_leaving_soon(db, settings, day(3)) == 1  # day 10 is within 7 days of day 3


def test_the_api_answers_with_its_schema_and_an_etag_keyed_on_the_newest_event(
        client, history, clock):
    document = client.get("/api/v1/openapi.json").json
    response = client.get("/api/v1/changes/new?region=US&kind=stream,rent")
    assert response.status_code == 200
    assert list(schema_validator(document, "Changes").iter_errors(response.json)) == []
    entry = response.json["days"][0]["entries"][0]
    assert entry["film"]["poster_url"] == "https://image.example/llv.jpg"
    assert entry["link"] == "https://netflix.example/title/451"
    etag = response.headers["ETag"]
    assert client.get("/api/v1/changes/new?region=US&kind=stream,rent",
                      headers={"If-None-Match": etag}).status_code == 304

    refresh(history, day(6.9), rent(APPLE, "2.99"), stream(ends=LEAVES), rent(VUDU), rent(NETFLIX, "1.99"))
    again = client.get("/api/v1/changes/new?region=US&kind=stream,rent", headers={"If-None-Match": etag})
    assert again.status_code == 200 and again.headers["ETag"] != etag
    assert "Netflix" in [e["platform"]["name"] for d in again.json["days"] for e in d["entries"]
                         if e["kind"] == "rent"]


def test_the_film_page_comes_from_the_configured_template(make_settings, db):
    settings = make_settings(changes={"film_url": "https://site.example/films/{imdb}"})
    refresh(db, day(0), rent(APPLE))
    with db.session() as session:
        session.execute(update(Film).values(created_at=day(-30)))  # offers are news
    view = changes_view(db, NEW, "US", "en_US", settings, ListQuery(frozenset(), frozenset(), 7),
                        now=day(1))
    assert view.groups[0].entries[0].film_url == "https://site.example/films/tt0113627"


@pytest.mark.parametrize("template", ["https://site.example/films/{imbd}", "films/{imdb}",
                                      "https://site.example/{imdb", "https://site.example/films"])
def test_a_malformed_film_page_template_stops_start_up_naming_the_key(make_settings, template):
    with pytest.raises(ConfigError, match=r"changes\.film_url"):
        make_settings(changes={"film_url": template})


@pytest.mark.parametrize("query, parameter", [
    ("platform=nope", "platform"), ("platform=%00", "platform"), ("kind=cable", "kind"), ("days=91", "days"),
    ("days=week", "days"), ("region=XX1", "region"),
])
def test_bad_parameters_are_a_400_naming_them(client, history, clock, query, parameter):
    for path in ("/api/v1/changes/new", "/widgets/changes/new", "/feeds/changes.atom"):
        response = client.get(f"{path}?{query}")
        assert response.status_code == 400, path
        assert parameter in response.text, path
        assert response.headers["Cache-Control"] == "no-store"


def test_leaving_looks_no_further_than_its_window(client, history, clock):
    assert client.get("/api/v1/changes/leaving?days=30").status_code == 200
    response = client.get("/api/v1/changes/leaving?days=31")
    assert response.status_code == 400 and "days: 31" in response.json["error"]


def test_the_macro_checks_a_template_given_in_code(app, history):
    with app.test_request_context("/"):
        with pytest.raises(BadParameter, match="film_url"):
            app.jinja_env.globals["render_changes"]("new", region="US", film_url="/films/{nope}")
        html = app.jinja_env.globals["render_changes"]("new", region="US", film_url="/films/{tmdb}")
    assert "aff-changes" in html


def test_fragment_and_frame_render_the_list(client, history, clock):
    fragment = client.get("/widgets/changes/leaving?region=US&days=14").text
    assert 'id="affiliate-changes-leaving-US"' in fragment and "Leaving Netflix" in fragment
    assert '<time datetime="2026-03-21">Saturday, March 21, 2026</time>' in fragment
    frame = client.get("/widgets/changes/price-drops/frame?region=US&locale=es").text
    assert "<title>Bajadas de precio</title>" in frame and "2,99" in frame


def parsed(client, url):
    response = client.get(url)
    assert response.status_code == 200 and response.mimetype == "application/atom+xml"
    etree.fromstring(response.data)  # well-formed XML, or this raises
    feed = feedparser.parse(response.data)
    assert not feed.bozo, feed.get("bozo_exception")
    assert feed.version == "atom10"
    return feed


def test_the_feeds_carry_each_event_once_with_stable_ids(client, history, clock):
    events = find_events(history, EventFilter(), day(7))
    feed = parsed(client, "/feeds/changes.atom?region=US")
    assert [entry.id for entry in feed.entries] == [event_uuid(event.id).urn for event in events]
    assert [entry.updated_parsed[:5] for entry in feed.entries] == [
        event.at.utctimetuple()[:5] for event in events]
    assert [entry.title for entry in feed.entries] == [
        "Leaving Las Vegas (1995): Leaving Netflix",
        "Leaving Las Vegas (1995): Price drop on Apple TV",
        "Leaving Las Vegas (1995): New on Vudu",
        "Leaving Las Vegas (1995): New on Netflix",
    ]
    assert feed.entries[0].summary == "United States · Stream · last day March 21, 2026"

    refresh(history, day(6.9), rent(APPLE, "2.49"), stream(ends=LEAVES), rent(VUDU))
    later = parsed(client, "/feeds/changes.atom?region=US")
    assert [entry.id for entry in later.entries[1:]] == [entry.id for entry in feed.entries]
    assert later.entries[0].title.endswith("Price drop on Apple TV")

    streaming = parsed(client, "/feeds/changes.atom?region=US&platform=netflix&kind=stream")
    assert [entry.title.split(": ")[1] for entry in streaming.entries] == [
        "Leaving Netflix", "New on Netflix"]
    assert parsed(client, "/feeds/changes.atom?region=GB").entries == []


def test_the_film_feed_and_the_lists_show_the_same_events(client, history, clock):
    film = parsed(client, "/feeds/films/imdb:tt0113627.atom")
    listed = {event_id
              for name, days in (("new", 7), ("leaving", 30), ("price-drops", 7))
              for group in client.get(f"/api/v1/changes/{name}?region=US&days={days}").json["days"]
              for entry in group["entries"] for event_id in entry["event_ids"]}
    assert {entry.id for entry in film.entries} == {event_uuid(event_id).urn for event_id in listed}
    assert client.get("/feeds/films/imdb:tt9999999.atom").status_code == 404


def test_a_feed_answers_304_until_an_event_happens(client, history, clock):
    first = client.get("/feeds/changes.atom")
    assert client.get("/feeds/changes.atom",
                      headers={"If-None-Match": first.headers["ETag"]}).status_code == 304


def test_the_scheduler_job_announces_and_survives_errors(app, db, monkeypatch, caplog):
    from affiliate import scheduler

    refresh(db, utcnow() - dt.timedelta(days=2), stream(ends=(utcnow() + dt.timedelta(days=3)).date()))
    scheduler.leaving_soon_job(app)
    assert [e.event for e in find_events(db, EventFilter(first_fetches=True), utcnow())][0] == "leaving_soon"

    def broken(*args):
        raise RuntimeError("database gone")

    monkeypatch.setattr(scheduler, "raise_leaving_soon", broken)
    scheduler.leaving_soon_job(app)
    assert "announcing offers that leave soon failed" in caplog.text
