"""The refresh engine follows Streaming Availability's change feed: tracked films it names
are refreshed now instead of at their interval, one process reads the feed per interval, and
the cursor moves only with the films it made due."""
from __future__ import annotations

import datetime as dt
import json
import re

import pytest
import responses
from responses import matchers

from affiliate import refresh
from affiliate.due import changes_cursor
from affiliate.health import provider_health
from affiliate.models import ProviderState
from affiliate.refresh import RefreshEngine
from tests.clock import FakeClock
from tests.recorded import recorded_json

API = "https://streaming-availability.p.rapidapi.com"
T0 = dt.datetime(2026, 3, 1, 0, 0, tzinfo=dt.timezone.utc)
NOON = T0 + dt.timedelta(hours=12)
# The demo's films as the API knows them: (imdb, tmdb, the API's show id, title).
DEMO = {"tt0113627": (451, "4203", "Leaving Las Vegas"), "tt0037884": (28580, "7790", "The Lost Weekend"),
        "tt0055895": (32084, "8061", "Days of Wine and Roses"),
        "tt0120669": (1878, "1702", "Fear and Loathing in Las Vegas"),
        "tt0180093": (641, "1130", "Requiem for a Dream"), "tt0091954": (14924, "9817", "Sid and Nancy")}


def show_answer(request):
    """Leaving Las Vegas and Sid and Nancy as recorded; the other demo films with no options."""
    imdb = request.path_url.split("?")[0].rsplit("/", 1)[1]
    if imdb == "tt0113627":
        return 200, {}, json.dumps(recorded_json("streaming_availability/show_tt0113627_us.json"))
    if imdb == "tt0091954":
        return 200, {}, json.dumps(recorded_json("streaming_availability/show_movie_14924_us.json"))
    tmdb, show_id, title = DEMO[imdb]
    body = {**recorded_json("streaming_availability/show_tt0113627_none.json"), "id": show_id, "imdbId": imdb,
            "tmdbId": f"movie/{tmdb}", "title": title, "originalTitle": title}
    return 200, {}, json.dumps(body)


def shows_asked() -> list[str]:
    return [call.request.path_url.split("?")[0].rsplit("/", 1)[1] for call in responses.calls
            if "/shows/" in call.request.url]


def feed_reads() -> int:
    return sum(1 for call in responses.calls if "/changes" in call.request.url)


def changes_pages(since: dt.datetime, to: dt.datetime) -> None:
    query = {"country": "us", "change_type": "updated", "item_type": "show", "show_type": "movie",
             "from": str(int(since.timestamp())), "to": str(int(to.timestamp())), "order_direction": "asc"}
    responses.get(f"{API}/changes",
                  json=recorded_json("streaming_availability/changes_updated_us_page1.json"),
                  match=[matchers.query_param_matcher(query)])
    responses.get(f"{API}/changes",
                  json=recorded_json("streaming_availability/changes_updated_us_page2.json"),
                  match=[matchers.query_param_matcher({**query, "cursor": "1772348400:5342:prime:rent"})])


@pytest.fixture
def engine(demo, make_settings, monkeypatch):
    monkeypatch.setattr("time.sleep", lambda seconds: None)
    responses.add_callback(responses.GET, re.compile(rf"{re.escape(API)}/shows/.*"), callback=show_answer,
                           content_type="application/json")
    settings = make_settings(
        providers={"motn": {"type": "streaming-availability", "api_key": "k", "interval_minutes": 1440}},
        refresh={"retry": {"attempts": 1}})
    engine = RefreshEngine(demo, settings, clock=FakeClock(T0))
    yield engine
    engine.close()


@responses.activate
def test_films_the_feed_names_are_refreshed_now_and_the_others_wait(engine):
    (first,) = engine.run("motn")
    assert first.status == "complete" and first.films == 6
    assert feed_reads() == 0  # the first turn only starts the feed
    assert changes_cursor(engine.db, "motn") == f"us:{int(T0.timestamp())}"

    engine.clock.advance(hours=12)
    changes_pages(T0, NOON)
    responses.calls.reset()
    (second,) = engine.run("motn")

    assert feed_reads() == 2
    assert sorted(shows_asked()) == ["tt0091954", "tt0113627"]  # Barfly is not in the catalog
    assert second.films == 2
    assert changes_cursor(engine.db, "motn") == f"us:{int(NOON.timestamp())}"

    responses.calls.reset()
    (third,) = engine.run("motn")
    assert (feed_reads(), third.films) == (0, 0)  # the feed's next turn is in 6 hours
    (motn,) = provider_health(engine.db, engine.settings, engine)
    assert "change feed: last read 2026-03-01 12:00 UTC, read every 6 h" in motn.notes


@responses.activate
def test_one_process_reads_the_feed_per_interval(engine, make_settings):
    engine.run("motn")
    engine.clock.advance(hours=12)
    changes_pages(T0, NOON)
    other = RefreshEngine(engine.db, engine.settings, clock=engine.clock)
    try:
        guard = engine.guard(engine.provider("motn"))
        assert engine.follow_changes(engine.provider("motn"), guard) == 2
        assert other.follow_changes(other.provider("motn"), other.guard(other.provider("motn"))) is None
    finally:
        other.close()
    assert feed_reads() == 2  # the two pages, read once


@responses.activate
def test_a_failed_read_keeps_the_cursor_and_is_recorded(engine):
    engine.run("motn")
    engine.clock.advance(hours=12)
    responses.get(f"{API}/changes", json={"message": "Internal Server Error"}, status=500)
    responses.calls.reset()

    (run,) = engine.run("motn")

    assert changes_cursor(engine.db, "motn") == f"us:{int(T0.timestamp())}"
    assert shows_asked() == [] and run.films == 0
    with engine.db.session() as session:
        state = session.get(ProviderState, "motn")
    assert state.last_error_kind == "transient" and state.last_error.startswith("change feed: ")


@responses.activate
def test_the_cursor_stays_when_the_films_could_not_be_stored(engine, monkeypatch):
    engine.run("motn")
    engine.clock.advance(hours=12)
    changes_pages(T0, NOON)

    def database_gone(*args):
        raise RuntimeError("database went away")

    monkeypatch.setattr(refresh, "films_named", database_gone)
    with pytest.raises(RuntimeError):
        engine.follow_changes(engine.provider("motn"), engine.guard(engine.provider("motn")))

    assert changes_cursor(engine.db, "motn") == f"us:{int(T0.timestamp())}"
