"""The TMDB watch-providers adapter against recorded answers (no network), plus one run
through a local stand-in server."""
from __future__ import annotations

import datetime as dt
import json
from email.utils import format_datetime
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
    Person,
    Quality,
    RateLimited,
    Transient,
)
from providers.pacing import Pacer
from providers.tmdb import TmdbProvider
from tests.recorded import recorded_text
from tests.standin import Answer

API = "https://api.themoviedb.org"
TOKEN = "eyJhbGciOiJIUzI1NiJ9.SECRET-READ-TOKEN"
KEY = "0123456789abcdefSECRETKEY"
LLV = FilmKey(imdb_id="tt0113627")
SID = FilmKey(tmdb_id=14924)
# Films the catalog names with their credits: their refreshes ask only for the providers.
CREDITED = (Person("Mike Figgis", "director"),)
LLV_QUERY = FilmQuery(key=LLV, title="Leaving Las Vegas", year=1995, imdb_id="tt0113627",
                      tmdb_id=451, people=CREDITED)
SID_QUERY = FilmQuery(key=SID, title="Sid and Nancy", year=1986, tmdb_id=14924, people=CREDITED)
LLV_PROVIDERS = f"{API}/3/movie/451/watch/providers"
SID_PROVIDERS = f"{API}/3/movie/14924/watch/providers"


@pytest.fixture(autouse=True)
def paced(monkeypatch):
    """The default in-process pacing, recorded instead of slept."""
    monkeypatch.setattr(Pacer, "sleep", staticmethod(lambda seconds: None))


def provider(**settings) -> TmdbProvider:
    settings.setdefault("read_access_token", TOKEN)
    return TmdbProvider("tmdb", TmdbProvider.Settings(type="tmdb", **settings))


def fetch(films, **settings):
    return provider(**settings).fetch(films)


def answer(url: str, name: str, status: int = 200, **kwargs) -> None:
    responses.add(responses.GET, url, body=recorded_text(f"tmdb/{name}"), status=status,
                  content_type="application/json", **kwargs)


def offers_by(result, region):
    return {(o.platform.slug, o.kind) for o in result.offers if o.region == region}


def query_of(call) -> dict[str, list[str]]:
    return parse_qs(urlsplit(call.request.url).query)


# --- Reading watch providers -------------------------------------------------------------


@responses.activate
def test_every_region_and_bucket_becomes_offers():
    answer(LLV_PROVIDERS, "watch_providers_451.json")
    result = fetch([LLV_QUERY])

    assert result.complete and result.problems == [] and result.covered == {LLV}
    assert result.films == []  # the catalog already names the film: nothing to learn
    assert offers_by(result, "US") == {
        ("mgm-plus", OfferKind.SUBSCRIPTION),
        ("peacock", OfferKind.SUBSCRIPTION),
        ("mgm-plus-amazon-channel", OfferKind.SUBSCRIPTION),
        ("tubi", OfferKind.ADS), ("pluto-tv", OfferKind.ADS),
        ("kanopy", OfferKind.FREE), ("hoopla", OfferKind.FREE),
        *{(slug, kind)
          for slug in ("amazon-prime-video", "apple-tv", "google-play-movies", "youtube", "vudu")
          for kind in (OfferKind.RENT, OfferKind.BUY)},
    }
    assert offers_by(result, "GB") == {
        ("now", OfferKind.SUBSCRIPTION),
        ("amazon-prime-video", OfferKind.RENT), ("apple-tv", OfferKind.RENT),
        ("sky-store", OfferKind.RENT), ("rakuten-tv", OfferKind.RENT),
        ("amazon-prime-video", OfferKind.BUY), ("apple-tv", OfferKind.BUY),
        ("sky-store", OfferKind.BUY),
    }
    assert {offer.region for offer in result.offers} == {"US", "GB"}  # FR is {"link": ""}


@responses.activate
def test_offer_fields_carry_no_price_or_quality_and_link_to_tmdb():
    answer(LLV_PROVIDERS, "watch_providers_451.json")
    result = fetch([LLV_QUERY])
    rent = next(o for o in result.offers if o.region == "US" and o.kind is OfferKind.RENT)

    assert rent.film == LLV and rent.quality is Quality.UNKNOWN
    assert (rent.price, rent.currency, rent.deep_link) == (None, None, False)
    assert rent.link == "https://www.themoviedb.org/movie/451-leaving-las-vegas/watch?locale=US"
    assert rent.platform.name == "Amazon Video"
    assert (rent.platform.namespace, rent.platform.external_id) == ("tmdb", "10")
    assert rent.platform.logo_url == "https://image.tmdb.org/t/p/w92/seGSXajazLMCKGB5hnRCidtjay1.jpg"
    assert all(o.link.endswith("locale=GB") for o in result.offers if o.region == "GB")


@responses.activate
def test_two_tmdb_ids_of_one_platform_in_one_bucket_give_one_offer():
    answer(LLV_PROVIDERS, "watch_providers_451.json")
    result = fetch([LLV_QUERY])
    peacock = [o for o in result.offers if o.platform.slug == "peacock"]
    assert [(o.platform.external_id, o.platform.name) for o in peacock] == [("386", "Peacock Premium")]


@responses.activate
def test_provider_name_without_letters_or_digits_gets_an_id_slug():
    entry = {"link": "https://www.themoviedb.org/movie/451/watch?locale=US",
             "rent": [{"provider_id": 4242, "provider_name": "***", "logo_path": None}]}
    responses.add(responses.GET, LLV_PROVIDERS, body=region_body(US=entry),
                  content_type="application/json")
    offer, = fetch([LLV_QUERY]).offers
    assert (offer.platform.slug, offer.platform.name) == ("tmdb-4242", "***")


@responses.activate
def test_image_base_url_setting_builds_logo_urls():
    answer(LLV_PROVIDERS, "watch_providers_451.json")
    result = fetch([LLV_QUERY], image_base_url="https://images.example.com/t/p/w185/")
    assert result.offers[0].platform.logo_url.startswith("https://images.example.com/t/p/w185/")


@responses.activate
def test_regions_setting_keeps_only_those_regions():
    answer(LLV_PROVIDERS, "watch_providers_451.json")
    result = fetch([LLV_QUERY], regions=["gb", "de"])
    assert {offer.region for offer in result.offers} == {"GB"}
    assert result.covered == {LLV}


@responses.activate
def test_empty_answer_covers_the_film_with_nothing():
    answer(LLV_PROVIDERS, "watch_providers_empty.json")
    result = fetch([LLV_QUERY])
    assert result.offers == [] and result.covered == {LLV} and result.complete


@responses.activate
def test_bearer_token_goes_in_a_header_never_the_url():
    answer(LLV_PROVIDERS, "watch_providers_451.json")
    fetch([LLV_QUERY], api_key=KEY)
    call, = responses.calls
    assert call.request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert "api_key" not in query_of(call) and KEY not in call.request.url


@responses.activate
def test_v3_api_key_goes_in_the_query_when_no_token_is_set():
    answer(LLV_PROVIDERS, "watch_providers_451.json")
    fetch([LLV_QUERY], read_access_token=None, api_key=KEY)
    call, = responses.calls
    assert query_of(call)["api_key"] == [KEY]
    assert "Authorization" not in call.request.headers


@responses.activate
def test_one_request_per_film_gives_every_region_each_request_after_the_throttle():
    answer(LLV_PROVIDERS, "watch_providers_451.json")
    answer(SID_PROVIDERS, "watch_providers_14924.json")
    calls_before_throttle: list[int] = []
    adapter = TmdbProvider("tmdb", TmdbProvider.Settings(type="tmdb", read_access_token=TOKEN,
                                                         regions=["US", "GB"]),
                           throttle=lambda: calls_before_throttle.append(len(responses.calls)))
    result = adapter.fetch([LLV_QUERY, SID_QUERY])

    assert len(responses.calls) == 2 and calls_before_throttle == [0, 1]
    assert result.covered == {LLV, SID}
    assert {(offer.film, offer.region) for offer in result.offers} >= {(LLV, "US"), (LLV, "GB")}


# --- Films known by IMDb id only, and films not yet in the catalog ---------------------------


@responses.activate
def test_imdb_id_only_is_mapped_through_find():
    answer(f"{API}/3/find/tt0113627", "find_tt0113627.json")
    answer(LLV_PROVIDERS, "watch_providers_451.json")
    query = FilmQuery(key=LLV, title="Leaving Las Vegas", imdb_id="tt0113627", people=CREDITED)
    result = fetch([query])

    assert query_of(responses.calls[0])["external_source"] == ["imdb_id"]
    film, = result.films
    assert (film.key, film.tmdb_id, film.imdb_id) == (LLV, 451, "tt0113627")
    assert film.title is None  # the stored, perhaps curated, title stays
    assert result.covered == {LLV} and {o.film for o in result.offers} == {LLV}


@responses.activate
def test_film_not_in_the_catalog_gets_its_details_in_the_same_request():
    key = FilmKey(tmdb_id=451)
    answer(f"{API}/3/movie/451", "details_451.json")
    result = fetch([FilmQuery(key=key, title="", tmdb_id=451)])

    call, = responses.calls
    assert query_of(call)["append_to_response"] == ["credits,watch/providers"]
    film, = result.films
    assert (film.key, film.title, film.year, film.runtime_minutes) == (
        key, "Leaving Las Vegas", 1995, 111)
    assert (film.imdb_id, film.tmdb_id) == ("tt0113627", 451)
    assert film.original_title == "Leaving Las Vegas"
    assert film.poster_url == "https://image.tmdb.org/t/p/w342/37qHRJxnSh5YkuaN2FI2B1fqnqb.jpg"
    assert offers_by(result, "US") == {("amazon-prime-video", OfferKind.RENT),
                                       ("apple-tv", OfferKind.RENT),
                                       ("amazon-prime-video", OfferKind.BUY)}
    assert result.covered == {key}


@responses.activate
def test_a_titled_film_without_its_people_gets_credits_in_its_one_request():
    """Its title stays (None: the catalog keeps its own); the people are the top-billed cast
    in billing order (ten at most), then the director, writer, composer and novelist."""
    answer(f"{API}/3/movie/451", "details_451.json")
    result = fetch([FilmQuery(key=LLV, title="Leaving Las Vegas", imdb_id="tt0113627", tmdb_id=451)])

    assert len(responses.calls) == 1 and result.covered == {LLV}
    film, = result.films
    assert film.title is None
    people = film.people
    assert [p.name for p in people if p.role == "actor"] == [
        "Nicolas Cage", "Elisabeth Shue", "Julian Sands", "Richard Lewis", "Steven Weber",
        "Kim Adams", "Emily Procter", "Valeria Golino", "Graham Beckel", "Laurie Metcalf"]
    assert [(p.name, p.role) for p in people if p.role != "actor"] == [
        ("Mike Figgis", "director"), ("Mike Figgis", "writer"), ("Mike Figgis", "composer"),
        ("John O'Brien", "author")]


@responses.activate
def test_new_film_by_imdb_id_costs_find_plus_details():
    answer(f"{API}/3/find/tt0113627", "find_tt0113627.json")
    answer(f"{API}/3/movie/451", "details_451.json")
    result = fetch([FilmQuery(key=LLV, title="", imdb_id="tt0113627")])
    assert len(responses.calls) == 2
    assert [(f.key, f.title, f.tmdb_id) for f in result.films] == [(LLV, "Leaving Las Vegas", 451)]


@responses.activate
def test_imdb_id_tmdb_does_not_know_is_a_problem_and_others_still_count():
    answer(f"{API}/3/find/tt9999999", "find_empty.json")
    answer(SID_PROVIDERS, "watch_providers_14924.json")
    unknown = FilmKey(imdb_id="tt9999999")
    result = fetch([FilmQuery(key=unknown, title="Unknown", imdb_id="tt9999999", people=CREDITED),
                    SID_QUERY])

    assert [(p.where, p.message) for p in result.problems] == [
        ("imdb:tt9999999", "TMDB knows no film with IMDb id tt9999999")]
    assert result.covered == {SID} and result.complete
    assert offers_by(result, "US") == {("criterion-channel", OfferKind.SUBSCRIPTION),
                                       ("apple-tv", OfferKind.RENT)}


def test_film_without_tmdb_or_imdb_id_is_a_problem():
    result = fetch([FilmQuery(key=FilmKey(internal_id=17), title="Home movie")])
    assert [(p.where, p.message) for p in result.problems] == [
        ("17", "TMDB needs the film's TMDB or IMDb id")]
    assert result.covered == set()


# --- Per-film problems -------------------------------------------------------------------


@responses.activate
def test_film_tmdb_answers_404_is_a_problem_and_others_still_count():
    answer(LLV_PROVIDERS, "error_404.json", status=404)
    answer(SID_PROVIDERS, "watch_providers_14924.json")
    result = fetch([LLV_QUERY, SID_QUERY])

    problem, = result.problems
    assert problem.where == "imdb:tt0113627"
    assert "HTTP 404" in problem.message and "TMDB status 34" in problem.message
    assert result.covered == {SID} and result.complete
    assert {offer.film for offer in result.offers} == {SID}


def region_body(**regions):
    return json.dumps({"id": 451, "results": regions})


GOOD_US = {"link": "https://www.themoviedb.org/movie/451/watch?locale=US",
           "rent": [{"provider_id": 2, "provider_name": "Apple TV Store", "logo_path": None,
                     "display_priority": 9}]}


@pytest.mark.parametrize(("region", "entry", "message"), [
    ("GB", {"link": "https://www.themoviedb.org/movie/451/watch?locale=GB",
            "buy": [{"provider_name": "Sky Store"}]}, "region GB: buy.0.provider_id: Field required"),
    ("GB", {"link": "", "rent": [{"provider_id": 130, "provider_name": "Sky Store"}]},
     "region GB: link: empty, yet providers are listed"),
    ("GB", {"link": "javascript:alert(1)"}, "region GB: link: 'javascript:alert(1)' is"),
    ("GB", ["not", "an", "object"], "region GB: (top level): Input should be a valid dictionary"),
    ("XX", {"link": ""}, "region 'XX': 'XX' is not an ISO 3166-1 alpha-2 country code"),
])
@responses.activate
def test_wrong_region_entry_keeps_other_regions_but_leaves_the_film_uncovered(region, entry, message):
    responses.add(responses.GET, LLV_PROVIDERS, body=region_body(US=GOOD_US, **{region: entry}),
                  content_type="application/json")
    result = fetch([LLV_QUERY])

    problem, = result.problems
    assert problem.where == "imdb:tt0113627" and problem.message.startswith(message)
    assert result.covered == set() and result.complete
    assert [(o.region, o.platform.slug) for o in result.offers] == [("US", "apple-tv")]


# --- Whole-fetch failures ----------------------------------------------------------------


@responses.activate
def test_invalid_credentials_fail_the_fetch_with_tmdbs_reason():
    answer(LLV_PROVIDERS, "error_401.json", status=401)
    with pytest.raises(AuthFailed) as caught:
        fetch([LLV_QUERY, SID_QUERY], api_key=KEY)
    message = str(caught.value)
    assert "HTTP 401" in message and "TMDB status 7: Invalid API key" in message
    assert TOKEN not in message and KEY not in message


@responses.activate
def test_a_secret_echoed_in_an_error_body_is_cut_out():
    body = {"success": False, "status_code": 3, "status_message": f"Authentication failed: {KEY}"}
    responses.add(responses.GET, LLV_PROVIDERS, json=body, status=401)
    with pytest.raises(AuthFailed) as caught:
        fetch([LLV_QUERY], read_access_token=None, api_key=KEY)
    assert KEY not in str(caught.value) and "[redacted]" in str(caught.value)


@responses.activate
def test_404_without_tmdbs_error_body_points_at_the_base_url():
    responses.add(responses.GET, LLV_PROVIDERS, body="<html>Not Found</html>", status=404,
                  content_type="text/html")
    with pytest.raises(BadResponse, match="does base_url point at the TMDB API"):
        fetch([LLV_QUERY])


@responses.activate
def test_rate_limited_with_retry_after_seconds():
    answer(LLV_PROVIDERS, "error_429.json", status=429, headers={"Retry-After": "10"})
    with pytest.raises(RateLimited) as caught:
        fetch([LLV_QUERY])
    assert caught.value.retry_after == 10


@responses.activate
def test_rate_limited_with_retry_after_as_an_http_date():
    when = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=120)
    answer(LLV_PROVIDERS, "error_429.json", status=429,
           headers={"Retry-After": format_datetime(when, usegmt=True)})
    with pytest.raises(RateLimited) as caught:
        fetch([LLV_QUERY])
    assert 100 < caught.value.retry_after <= 120


@responses.activate
def test_rate_limited_without_retry_after():
    answer(LLV_PROVIDERS, "error_429.json", status=429)
    with pytest.raises(RateLimited) as caught:
        fetch([LLV_QUERY])
    assert caught.value.retry_after is None


@pytest.mark.parametrize(("status", "body", "content_type"), [
    (500, '{"success": false, "status_code": 11, "status_message": "Internal error: Something '
          'went wrong, contact TMDB."}', "application/json"),
    (502, "<html><body><h1>502 Bad Gateway</h1></body></html>", "text/html"),
    (503, '{"success": false, "status_code": 9, "status_message": "Service offline: This '
          'service is temporarily offline, try again later."}', "application/json"),
])
@responses.activate
def test_server_errors_are_transient(status, body, content_type):
    responses.add(responses.GET, LLV_PROVIDERS, body=body, status=status, content_type=content_type)
    with pytest.raises(Transient, match=f"HTTP {status}"):
        fetch([LLV_QUERY], read_access_token=None, api_key=KEY)


@pytest.mark.parametrize("failure", [requests.Timeout("read timed out"),
                                     requests.ConnectionError(f"refused {API}?api_key={KEY}")])
@responses.activate
def test_timeouts_and_connection_errors_are_transient(failure):
    responses.add(responses.GET, LLV_PROVIDERS, body=failure)
    with pytest.raises(Transient) as caught:
        fetch([LLV_QUERY], read_access_token=None, api_key=KEY)
    assert KEY not in str(caught.value)


@pytest.mark.parametrize(("body", "content_type", "message"), [
    ('{"id": 451, "results": {"US": ', "application/json", "not valid JSON"),
    ('{"id": 451, "results": []}', "application/json", "watch/providers: results: Input should be"),
    ('{"success": true}', "application/json", "watch/providers: results: Field required"),
    ("<!DOCTYPE html><html><title>TMDB</title></html>", "text/html", "expected JSON, got text/html"),
])
@responses.activate
def test_answers_that_are_not_tmdbs_envelope_are_bad_responses(body, content_type, message):
    responses.add(responses.GET, LLV_PROVIDERS, body=body, content_type=content_type)
    with pytest.raises(BadResponse, match=message):
        fetch([LLV_QUERY])


@responses.activate
def test_find_answer_of_the_wrong_shape_is_a_bad_response():
    responses.add(responses.GET, f"{API}/3/find/tt0113627", json={"movie_results": {"id": 451}})
    with pytest.raises(BadResponse, match="find/tt0113627: movie_results: Input should be a valid list"):
        fetch([FilmQuery(key=LLV, title="Leaving Las Vegas", imdb_id="tt0113627", people=CREDITED)])


# --- The platform directory ----------------------------------------------------------------


@responses.activate
def test_platform_directory_for_a_region_in_display_order():
    answer(f"{API}/3/watch/providers/movie", "providers_movie_gb.json")
    platforms = provider().platform_directory("gb")

    assert query_of(responses.calls[0])["watch_region"] == ["GB"]
    assert [p.slug for p in platforms] == [  # GB's display priorities: 1, 2, 3, 16, 40, 233
        "netflix", "amazon-prime-video", "amazon-prime-video", "sky-store",
        "curzon-home-cinema", "bfi-player-amazon-channel"]
    sky = platforms[3]
    assert (sky.name, sky.namespace, sky.external_id) == ("Sky Store", "tmdb", "130")
    assert sky.logo_url == "https://image.tmdb.org/t/p/w92/6AKbY2ayaEuH4zKg2prqoVQ9iaY.jpg"
    assert platforms[4].logo_url is None


def test_platform_directory_rejects_a_region_that_is_not_a_country():
    with pytest.raises(ValueError, match="ISO 3166-1"):
        provider().platform_directory("EU")


# --- Settings -----------------------------------------------------------------------------


@pytest.mark.parametrize("settings", [{}, {"read_access_token": "  ", "api_key": ""}])
def test_a_credential_is_required_and_both_are_named(settings):
    with pytest.raises(ValidationError) as caught:
        TmdbProvider.Settings(type="tmdb", **settings)
    error, = caught.value.errors()
    assert error["loc"] == ("api_key",)
    assert "read_access_token" in error["msg"] and "api_key" in error["msg"]


def test_either_credential_is_enough_and_defaults_hold():
    by_key = TmdbProvider.Settings(type="tmdb", api_key=KEY)
    assert by_key.read_access_token is None and by_key.api_key.get_secret_value() == KEY
    settings = TmdbProvider.Settings(type="tmdb", read_access_token=TOKEN)
    assert (settings.base_url, settings.image_base_url, settings.regions, settings.timeout_seconds) == (
        "https://api.themoviedb.org", "https://image.tmdb.org/t/p/w92", None, 15)
    assert TOKEN not in repr(settings)


def test_base_urls_lose_a_trailing_slash_so_paths_join_cleanly():
    settings = TmdbProvider.Settings(type="tmdb", api_key=KEY, base_url=" http://127.0.0.1:8080/ ")
    assert settings.base_url == "http://127.0.0.1:8080"


def test_regions_are_normalised_and_deduplicated():
    settings = TmdbProvider.Settings(type="tmdb", api_key=KEY, regions=["us", " GB", "US"])
    assert settings.regions == ["US", "GB"]


@pytest.mark.parametrize(("settings", "key"), [
    ({"regions": ["XX"]}, "regions"),
    ({"regions": []}, "regions"),
    ({"base_url": "ftp://api.themoviedb.org"}, "base_url"),
    ({"image_base_url": "image.tmdb.org/t/p/w92"}, "image_base_url"),
    ({"timeout_seconds": 0}, "timeout_seconds"),
    ({"apikey": KEY}, "apikey"),
])
def test_settings_are_validated(settings, key):
    with pytest.raises(ValidationError) as caught:
        TmdbProvider.Settings(type="tmdb", api_key=KEY, **settings)
    assert caught.value.errors()[0]["loc"][0] == key


def test_class_attributes_document_terms_and_limits():
    assert TmdbProvider.type_name == "tmdb" and TmdbProvider.batch_size == 1
    assert TmdbProvider.requests_per_second == 40
    justwatch, tmdb = TmdbProvider.terms.attributions
    assert (justwatch.text, justwatch.url) == ("Streaming data from JustWatch", "https://www.justwatch.com")
    assert "uses the TMDB API but is not endorsed or certified by TMDB" in tmdb.text
    assert [c.name for c in TmdbProvider.credentials] == ["read_access_token", "api_key"]
    assert all(c.secret for c in TmdbProvider.credentials)


# --- Over a real socket ----------------------------------------------------------------------


def test_through_the_configured_base_url(standin):
    standin.route("GET", "/3/find/tt0113627", Answer(200, recorded_text("tmdb/find_tt0113627.json")))
    standin.route("GET", "/3/movie/451/watch/providers",
                  Answer(200, recorded_text("tmdb/watch_providers_451.json")))
    standin.route("GET", "/3/movie/14924/watch/providers",
                  Answer(404, recorded_text("tmdb/error_404.json")))
    result = fetch([FilmQuery(key=LLV, title="Leaving Las Vegas", imdb_id="tt0113627",
                              people=CREDITED), SID_QUERY],
                   base_url=standin.url + "/", regions=["US"])

    assert [(r.method, r.path) for r in standin.requests] == [
        ("GET", "/3/find/tt0113627"), ("GET", "/3/movie/451/watch/providers"),
        ("GET", "/3/movie/14924/watch/providers")]
    assert all(r.headers["Authorization"] == f"Bearer {TOKEN}" for r in standin.requests)
    assert standin.requests[0].query == {"external_source": ["imdb_id"]}
    assert result.covered == {LLV} and [p.where for p in result.problems] == ["tmdb:14924"]
    assert [(f.key, f.tmdb_id) for f in result.films] == [(LLV, 451)]
    assert len(result.offers) == 17 and {o.region for o in result.offers} == {"US"}
