"""Streaming Availability's change feed (/changes) against recorded answers shaped like the
API's `changesResult`: what is asked, which films come back, and where the cursor goes."""
from __future__ import annotations

import datetime as dt

import pytest
import responses
from responses import matchers

from providers.base import BadResponse, ChangedFilm, RateLimited
from providers.streaming_availability import StreamingAvailabilityProvider
from tests.recorded import recorded_json

CHANGES = "https://streaming-availability.p.rapidapi.com/changes"
NOW = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.timezone.utc)
NOW_TS = int(NOW.timestamp())
SINCE = NOW_TS - 6 * 3600  # 06:00, when the last read ended
LLV = ChangedFilm(imdb_id="tt0113627", tmdb_id=451, source_id="4203")
BARFLY = ChangedFilm(imdb_id="tt0092618", tmdb_id=10996, source_id="5342")
SID = ChangedFilm(imdb_id="tt0091954", tmdb_id=14924, source_id="9817")


def provider(**settings) -> StreamingAvailabilityProvider:
    settings = {"type": "streaming-availability", "api_key": "k", **settings}
    return StreamingAvailabilityProvider("motn", StreamingAvailabilityProvider.Settings(**settings))


def query(since=SINCE, country="us", **more):
    return {"country": country, "change_type": "updated", "item_type": "show", "show_type": "movie",
            "from": str(since), "to": str(NOW_TS), "order_direction": "asc", **more}


def pages(since=SINCE):
    first = responses.get(CHANGES, json=recorded_json("streaming_availability/changes_updated_us_page1.json"),
                          match=[matchers.query_param_matcher(query(since))])
    second = responses.get(CHANGES,
                           json=recorded_json("streaming_availability/changes_updated_us_page2.json"),
                           match=[matchers.query_param_matcher(
                               query(since, cursor="1772348400:5342:prime:rent"))])
    return first, second


@responses.activate
def test_a_first_read_starts_the_feed_now_without_a_request():
    changed = provider(regions=["US", "GB"]).changes(None, NOW)

    assert changed.films == [] and len(responses.calls) == 0
    assert changed.cursor == f"us:{NOW_TS},gb:{NOW_TS}"


@responses.activate
def test_every_page_is_read_and_the_cursor_moves_to_the_end_of_the_read():
    first, second = pages()

    changed = provider().changes(f"us:{SINCE}", NOW)

    assert (first.call_count, second.call_count) == (1, 1)
    assert changed.films == [LLV, BARFLY, SID] and changed.problems == []
    assert changed.cursor == f"us:{NOW_TS}"


@responses.activate
def test_out_of_pages_the_next_read_starts_at_the_last_change_read():
    first, second = pages()

    changed = provider(changes_max_pages=1).changes(f"us:{SINCE}", NOW)

    assert (first.call_count, second.call_count) == (1, 0)
    assert changed.films == [LLV, BARFLY]
    assert changed.cursor == "us:1772348400"  # Barfly's change, 07:00: `from` is inclusive


@responses.activate
def test_each_region_reads_from_its_own_position_and_a_new_one_starts_now():
    pages()
    responses.get(CHANGES, json={"changes": [], "shows": {}, "hasMore": False},
                  match=[matchers.query_param_matcher(query(SINCE - 3600, country="gb"))])

    changed = provider(regions=["US", "GB", "DE"]).changes(f"us:{SINCE},gb:{SINCE - 3600},xx", NOW)

    assert changed.cursor == f"us:{NOW_TS},gb:{NOW_TS},de:{NOW_TS}"
    assert [call.request.params["country"] for call in responses.calls] == ["us", "us", "gb"]


@responses.activate
def test_a_read_further_back_than_the_api_reaches_starts_31_days_back():
    reach = NOW_TS - 31 * 86400 + 3600
    responses.get(CHANGES, json={"changes": [], "shows": {}, "hasMore": False},
                  match=[matchers.query_param_matcher(query(reach))])

    changed = provider().changes(f"us:{NOW_TS - 60 * 86400}", NOW)

    assert changed.cursor == f"us:{NOW_TS}"


@responses.activate
def test_a_change_of_the_wrong_shape_is_skipped_and_reported():
    body = recorded_json("streaming_availability/changes_updated_us_page2.json")
    body["changes"].insert(0, {"changeType": "updated", "itemType": "show"})  # no showId
    body["shows"]["9817"]["tmdbId"] = "tv/1396"  # not a movie id: the other ids still match
    responses.get(CHANGES, json=body)

    changed = provider().changes(f"us:{SINCE}", NOW)

    assert changed.films == [ChangedFilm(imdb_id="tt0091954", source_id="9817")]
    (problem,) = changed.problems
    assert problem.where == "/changes us changes[0]" and "showId" in problem.message


@responses.activate
def test_more_pages_without_a_cursor_is_a_bad_response():
    body = recorded_json("streaming_availability/changes_updated_us_page1.json")
    del body["nextCursor"]
    responses.get(CHANGES, json=body)

    with pytest.raises(BadResponse, match="hasMore is true but there is no nextCursor"):
        provider().changes(f"us:{SINCE}", NOW)


@responses.activate
def test_a_spent_quota_on_the_feed_is_rate_limited():
    responses.get(CHANGES, json=recorded_json("streaming_availability/quota_exceeded.json"), status=429,
                  headers={"X-RateLimit-Requests-Remaining": "0", "X-RateLimit-Requests-Reset": "3600"})

    with pytest.raises(RateLimited) as raised:
        provider().changes(f"us:{SINCE}", NOW)
    assert raised.value.retry_after == 3600


def test_the_feed_can_be_turned_off():
    assert provider().changes_every == dt.timedelta(hours=6)
    assert provider(changes_interval_minutes=0).changes_every is None
