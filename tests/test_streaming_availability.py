"""The Streaming Availability (Movie of the Night) adapter against recorded v4 answers."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from email.utils import format_datetime

import pytest
import requests
import responses
from pydantic import ValidationError
from responses import matchers

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
from providers.streaming_availability import StreamingAvailabilityProvider
from tests.recorded import recorded, recorded_json
from tests.standin import Answer

KEY = "rapid-SECRET-0a1b2c3d4e5f"
RAPID = "https://streaming-availability.p.rapidapi.com"
DIRECT = "https://api.movieofthenight.com/v4"
LLV_URL = f"{RAPID}/shows/tt0113627"
SID_URL = f"{RAPID}/shows/movie%2F14924"
LLV = FilmQuery(key=FilmKey(imdb_id="tt0113627"), title="Leaving Las Vegas", year=1995,
                imdb_id="tt0113627", tmdb_id=451)
SID = FilmQuery(key=FilmKey(tmdb_id=14924), title="Sid and Nancy", year=1986, tmdb_id=14924)


def provider(**settings) -> StreamingAvailabilityProvider:
    settings = {"type": "streaming-availability", "api_key": KEY, **settings}
    return StreamingAvailabilityProvider("motn", StreamingAvailabilityProvider.Settings(**settings))


def fetch(films=(LLV,), **settings):
    return provider(**settings).fetch(list(films))


def by_platform(offers):
    return {(o.platform.slug, o.kind, o.quality): o for o in offers}


# --- Success ------------------------------------------------------------------------------


@responses.activate
def test_one_region_asks_for_that_country_with_the_key_in_headers():
    responses.get(LLV_URL, json=recorded_json("streaming_availability/show_tt0113627_us.json"), match=[
        matchers.query_param_matcher({"country": "us", "series_granularity": "show"}),
        matchers.header_matcher({"X-RapidAPI-Key": KEY,
                                 "X-RapidAPI-Host": "streaming-availability.p.rapidapi.com"}),
    ])
    result = fetch()

    assert result.complete and result.problems == []
    assert result.covered == {LLV.key}
    assert KEY not in responses.calls[0].request.url


@responses.activate
def test_show_becomes_a_film_record():
    responses.get(LLV_URL, json=recorded_json("streaming_availability/show_tt0113627_us.json"))
    film, = fetch().films

    assert (film.key, film.title, film.year, film.imdb_id, film.tmdb_id) == (
        LLV.key, "Leaving Las Vegas", 1995, "tt0113627", 451)
    assert (film.director, film.runtime_minutes) == ("Mike Figgis", 111)
    assert film.external_ids == {"streaming-availability": "4203"}


@responses.activate
def test_rent_and_buy_options_keep_price_quality_link_and_dates():
    responses.get(LLV_URL, json=recorded_json("streaming_availability/show_tt0113627_us.json"))
    offers = by_platform(fetch().offers)

    rent_sd = offers[("amazon-prime-video", OfferKind.RENT, Quality.SD)]
    assert (rent_sd.film, rent_sd.region) == (LLV.key, "US")
    assert (rent_sd.price, rent_sd.currency) == (Decimal("3.99"), "USD")
    assert str(rent_sd.price) == "3.99"
    assert rent_sd.link == "https://www.amazon.com/gp/video/detail/B000I9YX2Q/ref=atv_dp"
    assert rent_sd.deep_link and rent_sd.expires_on is None
    assert rent_sd.available_since == dt.date(2023, 3, 14)
    assert offers[("amazon-prime-video", OfferKind.BUY, Quality.HD)].price == Decimal("9.99")
    assert offers[("apple-tv", OfferKind.BUY, Quality.UHD)].price == Decimal("9.99")
    assert len(offers) == 7


@responses.activate
def test_platform_records_carry_the_service_id_logo_and_homepage():
    responses.get(LLV_URL, json=recorded_json("streaming_availability/show_tt0113627_us.json"))
    offers = by_platform(fetch().offers)

    apple = offers[("apple-tv", OfferKind.RENT, Quality.HD)].platform
    assert (apple.name, apple.namespace, apple.external_id) == (
        "Apple TV", "streaming-availability", "apple")
    assert apple.logo_url == "https://media.movieofthenight.com/services/apple/logo-light-theme.svg"
    assert apple.homepage == "https://tv.apple.com/"


@responses.activate
def test_addon_is_a_subscription_on_its_own_channel_platform():
    responses.get(LLV_URL, json=recorded_json("streaming_availability/show_tt0113627_us.json"))
    offers = by_platform(fetch().offers)

    channel = offers[("hbo-max-via-prime-video", OfferKind.SUBSCRIPTION, Quality.HD)]
    assert channel.platform.name == "HBO Max via Prime Video"
    assert channel.platform.external_id == "prime.addon.hbomaxus"
    assert channel.platform.logo_url.endswith("/addons/prime/hbomaxus/logo-light-theme.svg")
    assert channel.expires_on == dt.date(2026, 7, 31)
    assert channel.price is None


@responses.activate
def test_a_leaving_date_is_the_countrys_calendar_day_and_the_instant_is_kept():
    responses.get(LLV_URL, json=recorded_json("streaming_availability/show_tt0113627_us.json"))
    free, = [offer for offer in fetch().offers if offer.kind is OfferKind.FREE]

    assert (free.platform.slug, free.quality) == ("peacock", Quality.UNKNOWN)
    # 2026-08-31 03:59 UTC is still the evening of the 30th in New York, the US's zone.
    assert free.expires_on == dt.date(2026, 8, 30)
    assert free.expires_at == dt.datetime(2026, 8, 31, 3, 59, tzinfo=dt.timezone.utc)
    assert free.link.startswith("https://www.peacocktv.com/watch/asset/")


@responses.activate
def test_several_regions_take_one_global_answer_and_keep_only_those_regions():
    responses.get(LLV_URL, json=recorded_json("streaming_availability/show_tt0113627_global.json"),
                  match=[matchers.query_param_matcher({"series_granularity": "show"})])
    result = fetch(regions=["us", "GB"])

    assert len(responses.calls) == 1
    assert {offer.region for offer in result.offers} == {"US", "GB"}  # DE is left out
    gb = by_platform(o for o in result.offers if o.region == "GB")
    assert (gb[("amazon-prime-video", OfferKind.RENT, Quality.HD)].price,
            gb[("amazon-prime-video", OfferKind.RENT, Quality.HD)].currency) == (Decimal("3.49"), "GBP")
    assert gb[("now", OfferKind.SUBSCRIPTION, Quality.HD)].expires_on == dt.date(2026, 11, 14)
    assert result.covered == {LLV.key}


@responses.activate
def test_several_films_and_regions_cost_one_request_a_film_each_after_the_throttle():
    responses.get(LLV_URL, json=recorded_json("streaming_availability/show_tt0113627_global.json"))
    responses.get(SID_URL, json=recorded_json("streaming_availability/show_movie_14924_us.json"))
    calls_before_throttle: list[int] = []
    settings = StreamingAvailabilityProvider.Settings(type="streaming-availability", api_key=KEY,
                                                      regions=["US", "GB"])
    adapter = StreamingAvailabilityProvider(
        "motn", settings, throttle=lambda: calls_before_throttle.append(len(responses.calls)))
    result = adapter.fetch([LLV, SID])

    assert len(responses.calls) == 2 and calls_before_throttle == [0, 1]
    assert all("country" not in call.request.url for call in responses.calls)
    assert result.covered == {LLV.key, SID.key}


@responses.activate
def test_film_known_only_by_tmdb_id_is_asked_for_by_encoded_tmdb_path():
    responses.get(SID_URL, json=recorded_json("streaming_availability/show_movie_14924_us.json"))
    result = fetch([SID])

    film, = result.films
    assert (film.key, film.imdb_id, film.tmdb_id, film.title) == (
        SID.key, "tt0091954", 14924, "Sid and Nancy")
    assert [(o.platform.slug, o.kind) for o in result.offers] == [("apple-tv", OfferKind.RENT)]
    assert result.covered == {SID.key}


@responses.activate
def test_direct_access_uses_the_developer_platform_and_x_api_key():
    responses.get(f"{DIRECT}/shows/tt0113627",
                  json=recorded_json("streaming_availability/show_tt0113627_us.json"),
                  match=[matchers.header_matcher({"X-API-Key": KEY})])
    result = fetch(access="direct")

    assert "X-RapidAPI-Key" not in responses.calls[0].request.headers
    assert result.covered == {LLV.key} and len(result.offers) == 7


@responses.activate
def test_empty_answer_covers_the_film_with_no_offers():
    responses.get(LLV_URL, json=recorded_json("streaming_availability/show_tt0113627_none.json"))
    result = fetch()

    assert result.offers == [] and result.problems == []
    assert result.covered == {LLV.key} and result.complete
    assert result.films[0].title == "Leaving Las Vegas"


@pytest.mark.parametrize(("quality", "expected"), [
    ("sd", Quality.SD), ("hd", Quality.HD), ("qhd", Quality.HD), ("uhd", Quality.UHD),
])
@responses.activate
def test_qualities(quality, expected):
    show = recorded_json("streaming_availability/show_movie_14924_us.json")
    show["streamingOptions"]["us"][0]["quality"] = quality
    responses.get(SID_URL, json=show)
    offer, = fetch([SID]).offers
    assert offer.quality is expected


@responses.activate
def test_film_with_neither_id_is_asked_for_by_the_show_id_recorded_earlier():
    responses.get(f"{RAPID}/shows/4203", json=recorded_json("streaming_availability/show_tt0113627_us.json"))
    film = FilmQuery(key=FilmKey(internal_id=17), title="Leaving Las Vegas",
                     external_ids={"streaming-availability": "4203"})
    result = fetch([film])
    assert result.covered == {FilmKey(internal_id=17)}
    assert result.films[0].imdb_id == "tt0113627"


def test_film_without_any_id_is_a_problem_without_a_request():
    film = FilmQuery(key=FilmKey(internal_id=17), title="Home movie")
    with responses.RequestsMock():  # any request would fail the test
        result = fetch([film])
    assert [(p.where, p.message) for p in result.problems] == [
        ("17", "needs an IMDb or TMDB id to look the film up")]
    assert result.covered == set()


# --- Per-film problems ----------------------------------------------------------------------


@responses.activate
def test_unknown_film_is_a_problem_and_the_other_film_stays_covered():
    responses.get(LLV_URL, status=404, json=recorded_json("streaming_availability/not_found.json"))
    responses.get(SID_URL, json=recorded_json("streaming_availability/show_movie_14924_us.json"))
    result = fetch([LLV, SID])

    assert [(p.where, p.message) for p in result.problems] == [
        ("imdb:tt0113627", "the API does not know tt0113627 (HTTP 404)")]
    assert result.covered == {SID.key} and result.complete
    assert {offer.film for offer in result.offers} == {SID.key}


@responses.activate
def test_wrong_options_are_problems_and_leave_the_film_uncovered():
    responses.get(LLV_URL, json=recorded_json("streaming_availability/show_tt0113627_bad_options.json"))
    result = fetch()

    messages = [p.message for p in result.problems]
    assert {p.where for p in result.problems} == {"imdb:tt0113627"}
    assert messages[0].startswith("streamingOptions.us[1]: link: ")
    assert "'javascript:alert(1)' is not an http(s) URL" in messages[0]
    assert messages[1].startswith("streamingOptions.us[2]: type: ")
    assert len(messages) == 2
    assert result.covered == set()
    # What could be read is still handed on.
    assert [(o.platform.slug, o.kind, o.quality) for o in result.offers] == [
        ("amazon-prime-video", OfferKind.RENT, Quality.HD)]


# --- Failures of the whole fetch -----------------------------------------------------------


@pytest.mark.parametrize("status", [401, 403])
@responses.activate
def test_rejected_key_is_auth_failed(status):
    responses.get(LLV_URL, status=status, json=recorded_json("streaming_availability/not_subscribed.json"))
    with pytest.raises(AuthFailed) as caught:
        fetch()
    assert f"HTTP {status}" in str(caught.value) and KEY not in str(caught.value)


@responses.activate
def test_429_with_retry_after_seconds():
    responses.get(LLV_URL, status=429, json=recorded_json("streaming_availability/quota_exceeded.json"),
                  headers={"Retry-After": "30"})
    with pytest.raises(RateLimited) as caught:
        fetch()
    assert caught.value.retry_after == 30
    assert "exceeded the DAILY quota" in str(caught.value) and KEY not in str(caught.value)


@responses.activate
def test_429_with_retry_after_http_date():
    later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=10)
    responses.get(LLV_URL, status=429, json=recorded_json("streaming_availability/quota_exceeded.json"),
                  headers={"Retry-After": format_datetime(later, usegmt=True)})
    with pytest.raises(RateLimited) as caught:
        fetch()
    assert 590 <= caught.value.retry_after <= 600


@responses.activate
def test_429_for_a_spent_rapidapi_quota_waits_for_its_reset():
    quota_exceeded = recorded_json("streaming_availability/quota_exceeded.json")
    responses.get(LLV_URL, status=429, json=quota_exceeded, headers={
        "X-RateLimit-Requests-Limit": "100",
        "X-RateLimit-Requests-Remaining": "0",
        "X-RateLimit-Requests-Reset": "41234",
    })
    with pytest.raises(RateLimited) as caught:
        fetch()
    assert caught.value.retry_after == 41234


@responses.activate
def test_429_without_any_hint_has_no_retry_after():
    responses.get(LLV_URL, status=429, body="Too many requests", content_type="text/plain")
    with pytest.raises(RateLimited) as caught:
        fetch()
    assert caught.value.retry_after is None


@pytest.mark.parametrize(("status", "body", "content_type"), [
    (500, '{"message": "An error occurred."}', "application/json"),
    (502, "<html><body><h1>502 Bad Gateway</h1></body></html>", "text/html"),
])
@responses.activate
def test_server_errors_are_transient(status, body, content_type):
    responses.get(LLV_URL, status=status, body=body, content_type=content_type)
    with pytest.raises(Transient, match=f"HTTP {status}"):
        fetch()


@pytest.mark.parametrize("failure", [requests.ConnectTimeout("slow"), requests.ConnectionError("down")])
@responses.activate
def test_timeouts_and_connection_errors_are_transient(failure):
    responses.get(LLV_URL, body=failure)
    with pytest.raises(Transient) as caught:
        fetch()
    assert KEY not in str(caught.value)


@pytest.mark.parametrize(("body", "content_type", "message"), [
    ('{"itemType": "show", "title": "Leav', "application/json", "not valid JSON"),
    ("<html><body>Welcome</body></html>", "text/html", "expected JSON, got text/html"),
    ('{"shows": [], "hasMore": false}', "application/json", "tt0113627: id: Field required"),
    ('{"id": "4203", "title": "Leaving Las Vegas", "streamingOptions": {"us": {}}}',
     "application/json", "streamingOptions.us: Input should be a valid list"),
    ("[]", "application/json", r"\(top level\): Input should be a valid dictionary"),
])
@responses.activate
def test_bodies_that_are_not_a_show_are_bad_responses(body, content_type, message):
    responses.get(LLV_URL, body=body, content_type=content_type)
    with pytest.raises(BadResponse, match=message) as caught:
        fetch()
    assert KEY not in str(caught.value)


# --- Settings -------------------------------------------------------------------------------


def test_settings_defaults():
    settings = provider().settings
    assert (settings.access, settings.url, settings.regions, settings.timeout_seconds) == (
        "rapidapi", RAPID, ["US"], 15)
    assert provider(access="direct").settings.url == DIRECT
    assert provider(base_url="http://127.0.0.1:8080/").settings.url == "http://127.0.0.1:8080"
    assert KEY not in repr(settings)


@pytest.mark.parametrize(("settings", "key"), [
    ({"api_key": "  "}, "api_key"),
    ({"access": "proxy"}, "access"),
    ({"base_url": "ftp://example.com"}, "base_url"),
    ({"regions": ["XX"]}, "regions"),
    ({"regions": []}, "regions"),
    ({"timeout_seconds": 0}, "timeout_seconds"),
])
def test_settings_are_validated(settings, key):
    with pytest.raises(ValidationError) as caught:
        provider(**settings)
    assert caught.value.errors()[0]["loc"][0] == key


def test_attribution_follows_the_terms():
    (attribution,) = StreamingAvailabilityProvider.terms.attributions
    assert "Streaming Availability API by Movie of the Night" in attribution.text
    assert attribution.url == "https://www.movieofthenight.com/about/api"


# --- Over a real socket --------------------------------------------------------------------


def test_stand_in_server_through_the_configured_base_url(standin):
    standin.route("GET", "/v4/shows/movie%2F14924",
                  Answer(200, recorded("streaming_availability/show_movie_14924_us.json")))
    result = fetch([SID], access="direct", base_url=f"{standin.url}/v4", regions=["US"])

    assert result.covered == {SID.key}
    assert [(o.platform.slug, o.price, o.currency) for o in result.offers] == [
        ("apple-tv", Decimal("3.99"), "USD")]
    request, = standin.requests
    assert request.query == {"country": ["us"], "series_granularity": ["show"]}
    assert {name.lower(): value for name, value in request.headers.items()}["x-api-key"] == KEY
