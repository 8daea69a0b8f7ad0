"""The Watchmode adapter against recorded answers replayed with `responses` (no network)."""
from __future__ import annotations

import json
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses
from pydantic import ValidationError

from providers.base import (
    AuthFailed,
    BadResponse,
    FilmKey,
    FilmQuery,
    OfferKind,
    Quality,
    RateLimited,
    Transient,
)
from providers.pacing import Pacer
from providers.watchmode import Quota, WatchmodeProvider
from tests.recorded import recorded_json, recorded_text
from tests.standin import Answer

KEY = "wm-SECRET-4f9a2c"
BASE = "https://api.watchmode.com"
SEARCH = f"{BASE}/v1/search/"
LLV_ID = "1266026"
LLV_SOURCES = f"{BASE}/v1/title/{LLV_ID}/sources/"
SID_SOURCES = f"{BASE}/v1/title/1392127/sources/"
QUOTA_HEADERS = {"X-Account-Quota": "1000", "X-Account-Quota-Used": "412",
                 "X-RateLimit-Limit": "120", "X-RateLimit-Remaining": "118"}

LLV = FilmKey(imdb_id="tt0113627")
SID = FilmKey(tmdb_id=14924)
LLV_MAPPED = FilmQuery(key=LLV, title="Leaving Las Vegas", year=1995, imdb_id="tt0113627",
                       tmdb_id=451, external_ids={"watchmode": LLV_ID})
LLV_UNMAPPED = FilmQuery(key=LLV, title="Leaving Las Vegas", year=1995, imdb_id="tt0113627",
                         tmdb_id=451)
SID_MAPPED = FilmQuery(key=SID, title="Sid and Nancy", year=1986, tmdb_id=14924,
                       external_ids={"watchmode": "1392127"})


@pytest.fixture(autouse=True)
def paced(monkeypatch):
    """The default in-process pacing, recorded instead of slept."""
    monkeypatch.setattr(Pacer, "sleep", staticmethod(lambda seconds: None))


def provider(**settings) -> WatchmodeProvider:
    values = {"type": "watchmode", "api_key": KEY, "regions": ["US", "GB"], **settings}
    return WatchmodeProvider("watchmode", WatchmodeProvider.Settings(**values))


def answer(url: str, name: str, status: int = 200, headers: dict | None = None) -> None:
    responses.add(responses.GET, url, body=recorded_text(f"watchmode/{name}"), status=status,
                  content_type="application/json", headers={**QUOTA_HEADERS, **(headers or {})})


def query_of(call) -> dict[str, list[str]]:
    return parse_qs(urlsplit(call.request.url).query)


def offers_by(result):
    return {(o.platform.slug, o.region, o.kind, o.quality): o for o in result.offers}


# --- Offers -------------------------------------------------------------------------------


@responses.activate
def test_sources_become_offers():
    answer(LLV_SOURCES, "sources_1266026.json")
    result = provider().fetch([LLV_MAPPED])

    assert result.problems == [] and result.complete and result.covered == {LLV}
    assert result.films == []  # the id was known: nothing new to map
    offers = offers_by(result)
    assert set(offers) == {
        ("amazon-prime-video", "US", OfferKind.RENT, Quality.HD),
        ("amazon-prime-video", "US", OfferKind.BUY, Quality.HD),
        ("apple-tv", "US", OfferKind.RENT, Quality.SD),
        ("apple-tv", "US", OfferKind.RENT, Quality.HD),
        ("google-play-movies", "US", OfferKind.BUY, Quality.HD),
        ("vudu", "US", OfferKind.BUY, Quality.UHD),  # "4k" in lower case
        ("amazon-prime-video", "GB", OfferKind.SUBSCRIPTION, Quality.HD),
        ("apple-tv", "GB", OfferKind.BUY, Quality.HD),
        ("pluto-tv", "GB", OfferKind.FREE, Quality.UNKNOWN),  # format null
        ("cinema-classics-channel", "US", OfferKind.SUBSCRIPTION, Quality.SD),
        ("microsoft-store", "US", OfferKind.BUY, Quality.HD),
    }
    rent = offers[("amazon-prime-video", "US", OfferKind.RENT, Quality.HD)]
    assert (rent.film, rent.price, rent.currency, rent.deep_link) == (LLV, Decimal("3.99"), "USD", True)
    assert rent.link.startswith("https://www.amazon.com/gp/video/detail/")
    assert (rent.platform.name, rent.platform.namespace, rent.platform.external_id) == (
        "Amazon", "watchmode", "24")
    assert rent.platform.homepage == "https://www.primevideo.com"
    uk_buy = offers[("apple-tv", "GB", OfferKind.BUY, Quality.HD)]
    assert (uk_buy.price, uk_buy.currency) == (Decimal("7.99"), "GBP")


@responses.activate
def test_subscription_and_free_offers_carry_no_price():
    answer(LLV_SOURCES, "sources_1266026.json")
    offers = offers_by(provider().fetch([LLV_MAPPED]))
    for identity in (("amazon-prime-video", "GB", OfferKind.SUBSCRIPTION, Quality.HD),
                     ("pluto-tv", "GB", OfferKind.FREE, Quality.UNKNOWN)):
        assert (offers[identity].price, offers[identity].currency) == (None, None)


@responses.activate
def test_tv_everywhere_is_left_out_and_the_film_stays_complete():
    answer(LLV_SOURCES, "sources_1266026.json")
    result = provider().fetch([LLV_MAPPED])
    assert "1011" not in {offer.platform.external_id for offer in result.offers}  # TNT, tve
    assert result.covered == {LLV} and result.problems == []


@responses.activate
def test_request_asks_for_the_configured_regions_with_the_key_in_a_header():
    answer(LLV_SOURCES, "sources_1266026.json")
    provider(regions=["us", "GB", "US"]).fetch([LLV_MAPPED])

    call, = responses.calls
    assert query_of(call) == {"regions": ["US,GB"]}
    assert call.request.headers["X-API-Key"] == KEY
    assert KEY not in call.request.url


@responses.activate
def test_one_sources_request_per_film_for_every_region_each_after_the_throttle():
    answer(LLV_SOURCES, "sources_1266026.json")
    answer(SID_SOURCES, "sources_1266026.json")
    calls_before_throttle: list[int] = []
    adapter = WatchmodeProvider(
        "watchmode", WatchmodeProvider.Settings(type="watchmode", api_key=KEY, regions=["US", "GB"]),
        throttle=lambda: calls_before_throttle.append(len(responses.calls)))
    result = adapter.fetch([LLV_MAPPED, SID_MAPPED])

    assert [query_of(call) for call in responses.calls] == [{"regions": ["US,GB"]}] * 2
    assert calls_before_throttle == [0, 1] and result.covered == {LLV, SID}


@responses.activate
def test_empty_answer_covers_the_film_with_no_offers():
    responses.add(responses.GET, LLV_SOURCES, json=[], headers=QUOTA_HEADERS)
    result = provider().fetch([LLV_MAPPED])
    assert (result.offers, result.problems) == ([], [])
    assert result.covered == {LLV} and result.complete


@responses.activate
def test_price_is_left_out_where_the_region_uses_two_currencies():
    entry = json.loads(recorded_text("watchmode/sources_1266026.json"))[0] | {"region": "PA"}  # PAB and USD
    responses.add(responses.GET, LLV_SOURCES, json=[entry], headers=QUOTA_HEADERS)
    offer, = provider(regions=["PA"]).fetch([LLV_MAPPED]).offers
    assert (offer.region, offer.kind, offer.price, offer.currency) == ("PA", OfferKind.RENT, None, None)


@responses.activate
def test_unusable_entries_are_reported_and_keep_the_film_out_of_covered():
    answer(LLV_SOURCES, "sources_unusable.json")
    result = provider().fetch([LLV_MAPPED])

    assert result.covered == set() and result.complete
    assert {problem.where for problem in result.problems} == {"imdb:tt0113627"}
    messages = [problem.message for problem in result.problems]
    assert messages[0] == ("sources[1]: web_url: missing, not an http(s) link, "
                           "and 'Indie Films Online' has no known homepage")
    assert messages[1].startswith("sources[2]: type: 'lease' is not one of sub, free, rent, buy, tve")
    assert messages[2].startswith("sources[3]: 'UK' is not an ISO 3166-1 alpha-2")
    assert messages[3].startswith("sources[4]: price:")
    assert messages[4].startswith("sources[5]: source_id:")
    assert messages[5].startswith("sources[6]: (top level):")
    assert len(messages) == 6
    # What was usable still arrives.
    offers = offers_by(result)
    assert set(offers) == {("netflix", "US", OfferKind.SUBSCRIPTION, Quality.HD),
                           ("apple-tv", "US", OfferKind.BUY, Quality.HD)}


@responses.activate
def test_free_plan_placeholder_link_falls_back_to_the_platform_homepage():
    answer(LLV_SOURCES, "sources_unusable.json")
    netflix = offers_by(provider().fetch([LLV_MAPPED]))[("netflix", "US", OfferKind.SUBSCRIPTION, Quality.HD)]
    assert (netflix.link, netflix.deep_link) == ("https://www.netflix.com", False)


@responses.activate
def test_placeholder_link_of_a_platform_without_a_homepage_is_reported():
    entry = json.loads(recorded_text("watchmode/sources_1266026.json"))[9]  # Cinema Classics Channel
    entry["web_url"] = "Deeplinks available for paid plans only."
    responses.add(responses.GET, LLV_SOURCES, json=[entry], headers=QUOTA_HEADERS)
    result = provider().fetch([LLV_MAPPED])
    assert result.offers == [] and result.covered == set()
    assert result.problems[0].message == (
        "sources[0]: web_url: 'Deeplinks available for paid plans only.', not an http(s) link, "
        "and 'Cinema Classics Channel' has no known homepage")


@responses.activate
def test_a_platform_listed_twice_keeps_its_first_entry():
    first = json.loads(recorded_text("watchmode/sources_1266026.json"))[0]
    again = first | {"source_id": 26, "name": "Prime Video", "price": 5.99}
    responses.add(responses.GET, LLV_SOURCES, json=[first, again], headers=QUOTA_HEADERS)
    offer, = provider().fetch([LLV_MAPPED]).offers
    assert (offer.platform.external_id, offer.price) == ("24", Decimal("3.99"))


@pytest.mark.parametrize(("source_id", "name", "slug"), [
    (371, "AppleTV+", "apple-tv"),
    (387, "Max", "max"),
    (9001, "Disney+", "disney-plus"),
    (9002, "AMC+", "amc-plus"),
    (9003, "AMC", "amc"),
    (9004, "Tubi TV", "tubi"),
    (9005, "The Criterion Channel", "criterion-channel"),
    (9006, "Fandango at Home", "vudu"),
    (9007, "Curzon Home Cinema", "curzon-home-cinema"),
])
@responses.activate
def test_platform_slugs(source_id, name, slug):
    entry = recorded_json("watchmode/sources_1266026.json")[0] | {"source_id": source_id, "name": name}
    responses.add(responses.GET, LLV_SOURCES, json=[entry], headers=QUOTA_HEADERS)
    offer, = provider().fetch([LLV_MAPPED]).offers
    assert (offer.platform.slug, offer.platform.name, offer.platform.external_id) == (
        slug, name, str(source_id))


# --- Id mapping ----------------------------------------------------------------------------


@responses.activate
def test_film_is_found_by_imdb_id_and_the_mapping_handed_back():
    answer(SEARCH, "search_tt0113627.json")
    answer(LLV_SOURCES, "sources_1266026.json")
    result = provider().fetch([LLV_UNMAPPED])

    search, sources = responses.calls
    assert query_of(search) == {"search_field": ["imdb_id"], "search_value": ["tt0113627"]}
    assert urlsplit(sources.request.url).path == f"/v1/title/{LLV_ID}/sources/"
    film, = result.films
    assert (film.key, film.title, film.external_ids) == (LLV, None, {"watchmode": LLV_ID})
    assert result.covered == {LLV} and len(result.offers) == 11


@responses.activate
def test_film_without_imdb_id_is_found_by_tmdb_id():
    answer(SEARCH, "search_tt0113627.json")
    answer(LLV_SOURCES, "sources_1266026.json")
    query = FilmQuery(key=FilmKey(tmdb_id=451), title="Leaving Las Vegas", tmdb_id=451)
    result = provider().fetch([query])
    assert query_of(responses.calls[0]) == {"search_field": ["tmdb_movie_id"], "search_value": ["451"]}
    assert result.covered == {FilmKey(tmdb_id=451)}


@responses.activate
def test_film_watchmode_does_not_know_is_a_problem_and_the_others_still_count():
    answer(SEARCH, "search_empty.json")
    answer(SID_SOURCES, "sources_1266026.json")
    result = provider().fetch([LLV_UNMAPPED, SID_MAPPED])

    problem, = result.problems
    assert (problem.where, problem.message) == (
        "imdb:tt0113627", "Watchmode knows no title with imdb_id tt0113627")
    assert result.covered == {SID} and result.films == [] and result.complete
    assert {offer.film for offer in result.offers} == {SID}


def test_film_without_any_id_is_a_problem():
    query = FilmQuery(key=FilmKey(internal_id=17), title="Leaving Las Vegas")
    result = provider().fetch([query])
    assert [(p.where, p.message) for p in result.problems] == [
        ("17", "no IMDb or TMDB id to find the film on Watchmode by")]
    assert result.covered == set()


def test_stored_id_that_is_not_a_number_is_a_problem():
    query = FilmQuery(key=LLV, title="Leaving Las Vegas", external_ids={"watchmode": "../../status"})
    problem, = provider().fetch([query]).problems
    assert problem.message == "'../../status' is not a Watchmode title id"


@responses.activate
def test_per_film_404_leaves_the_other_films_covered():
    answer(LLV_SOURCES, "error_404.json", status=404)
    answer(SID_SOURCES, "sources_1266026.json")
    result = provider().fetch([LLV_MAPPED, SID_MAPPED])

    problem, = result.problems
    assert (problem.where, problem.message) == (
        "imdb:tt0113627", f"Watchmode has no title {LLV_ID} (HTTP 404)")
    assert result.covered == {SID} and result.complete


# --- Quota -----------------------------------------------------------------------------------


def test_quota_is_unknown_before_any_answer():
    assert provider().quota is None


@responses.activate
def test_quota_headers_are_kept_after_a_fetch():
    answer(SEARCH, "search_tt0113627.json", headers={"X-Account-Quota-Used": "411"})
    answer(LLV_SOURCES, "sources_1266026.json")
    wm = provider()
    wm.fetch([LLV_UNMAPPED])
    assert wm.quota == Quota(limit=1000, used=412) and wm.quota.remaining == 588


@responses.activate
def test_answer_without_quota_headers_keeps_the_last_known_quota():
    answer(LLV_SOURCES, "sources_1266026.json")
    wm = provider()
    wm.fetch([LLV_MAPPED])
    responses.replace(responses.GET, LLV_SOURCES, json=[])
    wm.fetch([LLV_MAPPED])
    assert wm.quota == Quota(limit=1000, used=412)


@responses.activate
def test_over_quota_is_rate_limited_and_the_quota_recorded():
    answer(LLV_SOURCES, "error_402.json", status=402,
           headers={"X-Account-Quota": "1000", "X-Account-Quota-Used": "1000"})
    wm = provider()
    with pytest.raises(RateLimited) as caught:
        wm.fetch([LLV_MAPPED])
    assert caught.value.retry_after is None
    assert "HTTP 402" in str(caught.value) and "(1000 of 1000 used)" in str(caught.value)
    assert wm.quota == Quota(limit=1000, used=1000) and wm.quota.remaining == 0


# --- Whole-fetch failures ----------------------------------------------------------------------


def fails(error, **settings):
    with pytest.raises(error) as caught:
        provider(**settings).fetch([LLV_MAPPED])
    assert KEY not in str(caught.value)
    return caught.value


@responses.activate
def test_bad_key_is_auth_failed():
    answer(LLV_SOURCES, "error_401.json", status=401)
    assert "HTTP 401" in str(fails(AuthFailed))


@responses.activate
def test_too_fast_is_rate_limited_for_retry_after_seconds():
    answer(LLV_SOURCES, "error_429.json", status=429, headers={"Retry-After": "19"})
    assert fails(RateLimited).retry_after == 19


@responses.activate
def test_retry_after_as_an_http_date():
    answer(LLV_SOURCES, "error_429.json", status=429,
           headers={"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"})
    assert fails(RateLimited).retry_after == 0


@responses.activate
def test_server_error_is_transient():
    answer(LLV_SOURCES, "error_429.json", status=500)
    assert "HTTP 500" in str(fails(Transient))


@responses.activate
def test_bad_gateway_with_an_html_body_is_transient():
    responses.add(responses.GET, LLV_SOURCES, status=502, content_type="text/html",
                  body="<html><body><h1>502 Bad Gateway</h1></body></html>")
    assert "HTTP 502" in str(fails(Transient))


@pytest.mark.parametrize("failure", [requests.Timeout("slow"), requests.ConnectionError("refused")])
@responses.activate
def test_timeouts_and_connection_errors_are_transient(failure):
    responses.add(responses.GET, LLV_SOURCES, body=failure)
    fails(Transient, timeout_seconds=5)


@responses.activate
def test_invalid_json_is_a_bad_response():
    responses.add(responses.GET, LLV_SOURCES, body='[{"source_id": 24,', content_type="application/json")
    assert "not valid JSON" in str(fails(BadResponse))


@responses.activate
def test_html_with_status_200_is_a_bad_response():
    responses.add(responses.GET, LLV_SOURCES, body="<html>Maintenance</html>", content_type="text/html")
    assert "expected JSON, got text/html" in str(fails(BadResponse))


@responses.activate
def test_sources_answer_that_is_not_an_array_is_a_bad_response():
    answer(LLV_SOURCES, "error_404.json")  # an object where the array belongs
    assert "(top level): Input should be a valid list" in str(fails(BadResponse))


@responses.activate
def test_search_answer_of_the_wrong_shape_is_a_bad_response():
    responses.add(responses.GET, SEARCH, json={"results": []})
    with pytest.raises(BadResponse, match="title_results: Field required"):
        provider().fetch([LLV_UNMAPPED])


# --- Settings ----------------------------------------------------------------------------------


def test_settings_defaults():
    settings = WatchmodeProvider.Settings(type="watchmode", api_key=KEY)
    assert (settings.base_url, settings.regions, settings.timeout_seconds) == (BASE, ["US"], 15)
    assert KEY not in repr(settings)


@pytest.mark.parametrize(("settings", "key"), [
    ({}, "api_key"),
    ({"api_key": "  "}, "api_key"),
    ({"api_key": KEY, "regions": ["XX"]}, "regions"),
    ({"api_key": KEY, "regions": []}, "regions"),
    ({"api_key": KEY, "base_url": "ftp://api.watchmode.com"}, "base_url"),
])
def test_settings_are_validated(settings, key):
    with pytest.raises(ValidationError) as caught:
        WatchmodeProvider.Settings(type="watchmode", **settings)
    assert caught.value.errors()[0]["loc"][0] == key
    assert KEY not in str(caught.value)


# --- Over a real socket ------------------------------------------------------------------------


def test_works_through_the_configured_base_url(standin):
    standin.route("GET", "/v1/search/", Answer(200, recorded_text("watchmode/search_tt0113627.json"),
                                               {"Content-Type": "application/json", **QUOTA_HEADERS}))
    standin.route("GET", f"/v1/title/{LLV_ID}/sources/",
                  Answer(200, recorded_text("watchmode/sources_1266026.json"),
                         {"Content-Type": "application/json", **QUOTA_HEADERS}))
    wm = provider(base_url=standin.url + "/")
    result = wm.fetch([LLV_UNMAPPED])

    assert result.covered == {LLV} and len(result.offers) == 11
    assert result.films[0].external_ids == {"watchmode": LLV_ID}
    assert [request.path for request in standin.requests] == ["/v1/search/", f"/v1/title/{LLV_ID}/sources/"]
    assert all(request.headers["X-API-Key"] == KEY for request in standin.requests)
    assert standin.requests[1].query == {"regions": ["US,GB"]}
    assert wm.quota == Quota(limit=1000, used=412)
