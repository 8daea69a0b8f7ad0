"""The Apple iTunes Search/Lookup adapter against recorded answers (no network).

The recordings are shaped like Apple's answers: blank lines before the JSON, one result per
line, prices written as Apple writes them (3.99000), `text/javascript` as Content-Type. The
Apple ids and the same-titled 2012 film are illustrative.
"""
from __future__ import annotations

import json
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses
from pydantic import ValidationError
from responses import matchers

from providers import itunes
from providers.base import (
    AuthFailed,
    BadResponse,
    FilmKey,
    FilmQuery,
    FilmRecord,
    OfferKind,
    Person,
    ProductFormat,
    Quality,
    RateLimited,
    Relation,
    Transient,
)
from providers.itunes import ItunesProvider
from providers.pacing import Pacer
from tests.recorded import recorded
from tests.standin import Answer

BASE = "https://itunes.apple.com"
JS = "text/javascript; charset=utf-8"
LLV = FilmKey(imdb_id="tt0113627")
SID = FilmKey(tmdb_id=14924)
LLV_ID = "271256015"
DECOY_ID = "1562341987"
AT, CT = "1010lqWe", "llv-widget"
LLV_LINK = "https://itunes.apple.com/us/movie/leaving-las-vegas/id271256015?uo=4"


@pytest.fixture(autouse=True)
def sleeps(monkeypatch):
    """Apple's pacing is recorded instead of waited for."""
    waited: list[float] = []
    monkeypatch.setattr(Pacer, "sleep", staticmethod(waited.append))
    return waited


def provider(**settings) -> ItunesProvider:
    settings.setdefault("soundtracks", False)
    return ItunesProvider("apple", ItunesProvider.Settings(type="itunes", **settings))


def query(key=LLV, title="Leaving Las Vegas", year=1995, director="Mike Figgis", apple_id=None):
    return FilmQuery(key=key, title=title, year=year, imdb_id=key.imdb_id, tmdb_id=key.tmdb_id,
                     director=director, external_ids={"itunes": apple_id} if apple_id else {})


def edited(name: str, edit) -> str:
    """A recording with its results changed by `edit(results)`."""
    data = json.loads(recorded(f"itunes/{name}"))
    edit(data["results"])
    return json.dumps(data)


def answer(path: str, body: bytes | str, status: int = 200, content_type: str = JS,
           base: str = BASE, **params):
    match = [matchers.query_param_matcher(params, strict_match=False)] if params else []
    responses.add(responses.GET, base + path, body=body, status=status,
                  content_type=content_type, match=match)


def lookup(body=None, **params):
    answer("/lookup", recorded("itunes/lookup_leaving_las_vegas.json") if body is None else body, **params)


def params_of(call) -> dict[str, str]:
    return {name: values[0] for name, values in parse_qs(urlsplit(call.request.url).query).items()}


def offers_by_kind(result):
    return {(offer.kind, offer.quality): offer for offer in result.offers}


# --- offers ---------------------------------------------------------------------------


@responses.activate
def test_lookup_by_stored_id_gives_buy_and_rent_in_sd_and_hd():
    lookup(id=LLV_ID, country="US")

    result = provider().fetch([query(apple_id=LLV_ID)])

    assert result.problems == [] and result.complete and result.covered == {LLV}
    assert result.films == []  # the id was already stored
    offers = offers_by_kind(result)
    assert {key: (offer.price, offer.currency) for key, offer in offers.items()} == {
        (OfferKind.BUY, Quality.SD): (Decimal("9.99"), "USD"),
        (OfferKind.BUY, Quality.HD): (Decimal("12.99"), "USD"),
        (OfferKind.RENT, Quality.SD): (Decimal("3.99"), "USD"),
        (OfferKind.RENT, Quality.HD): (Decimal("3.99"), "USD"),
    }
    rent = offers[OfferKind.RENT, Quality.HD]
    assert str(rent.price) == "3.99"  # Apple's 3.99000, read exactly
    assert (rent.film, rent.region, rent.link, rent.deep_link) == (LLV, "US", LLV_LINK, True)
    platform = rent.platform
    assert (platform.slug, platform.name, platform.namespace, platform.external_id) == (
        "apple-tv", "Apple TV", "itunes", "itunes")


@responses.activate
def test_search_matches_the_film_and_hands_back_its_apple_id():
    answer("/search", recorded("itunes/search_movie_leaving_las_vegas.json"))

    result = provider().fetch([query()])

    assert result.films == [FilmRecord(key=LLV, title=None, external_ids={"itunes": LLV_ID})]
    assert {offer.link for offer in result.offers} == {LLV_LINK}
    assert len(result.offers) == 4 and result.covered == {LLV}
    assert params_of(responses.calls[0]) == {
        "term": "Leaving Las Vegas", "country": "US", "media": "movie", "entity": "movie",
        "limit": "25"}


@pytest.mark.parametrize("title, year, director, expected", [
    ("Leaving Las Vegas", 1995, "Mike Figgis", LLV_ID),
    ("Leaving Las Vegas", 1995, None, LLV_ID),
    ("Leaving Las Vegas", None, "Mike Figgis", LLV_ID),
    ("The Leaving Las Vegas", 1996, None, LLV_ID),  # a year off, and only one such film
    ("LEAVING LAS VEGAS!", 2013, None, DECOY_ID),
    ("Leaving Las Vegas", 2012, "j r whitcombe", DECOY_ID),
])
@responses.activate
def test_matching_on_title_year_and_director(title, year, director, expected):
    answer("/search", recorded("itunes/search_movie_leaving_las_vegas.json"))
    result = provider().fetch([query(title=title, year=year, director=director)])
    assert result.films[0].external_ids == {"itunes": expected} and result.covered == {LLV}


@pytest.mark.parametrize("title, year, director, message", [
    ("Leaving Las Vegas", None, None, "2 films match Leaving Las Vegas (Apple ids 271256015, 1562341987)"),
    ("Leaving Las Vegas", 1995, "Nicolas Cage", "no film matches Leaving Las Vegas, 1995, Nicolas Cage"),
    ("Leaving Las Vegas", 1990, "Mike Figgis", "no film matches"),
    ("Leaving Las Vegas 2", 1995, "Mike Figgis", "among 4 search results"),
])
@responses.activate
def test_no_or_ambiguous_match_is_a_problem_and_keeps_stored_data(title, year, director, message):
    answer("/search", recorded("itunes/search_movie_leaving_las_vegas.json"))

    result = provider().fetch([query(title=title, year=year, director=director)])

    assert (result.offers, result.films, result.covered) == ([], [], set())
    assert result.complete
    problem, = result.problems
    assert problem.where == "imdb:tt0113627" and problem.message.startswith("storefront US: ")
    assert message in problem.message


@responses.activate
def test_a_year_off_counts_only_when_one_film_is():
    def near_1996(results):
        results[1]["releaseDate"] = "1997-03-01T08:00:00Z"

    answer("/search", edited("search_movie_leaving_las_vegas.json", near_1996))
    result = provider().fetch([query(year=1996, director=None)])
    assert "2 films match" in result.problems[0].message and result.offers == []


def test_normalized_titles_and_co_directors():
    normalize = itunes._normalize
    assert normalize("The Lost Weekend") == normalize("lost weekend")
    assert normalize("Fear & Loathing in Las Vegas") == normalize("Fear and Loathing in Las Vegas")
    assert normalize("Amélie") == normalize("AMELIE") and normalize("Se7en") != normalize("Seven")
    assert itunes._directors("Pierre Coffin & Kyle Balda") == {"pierre coffin", "kyle balda"}
    assert itunes._directors("Joel Coen and Ethan Coen") == {"joel coen", "ethan coen"}


@responses.activate
def test_a_film_with_kind_null_is_still_a_film():
    def kind_null(results):
        results[0]["kind"] = None

    answer("/search", edited("search_movie_leaving_las_vegas.json", kind_null))
    result = provider().fetch([query()])
    assert result.films[0].external_ids == {"itunes": LLV_ID} and len(result.offers) == 4


@responses.activate
def test_missing_zero_and_negative_prices_make_no_offer():
    def some_prices(results):
        results[0]["trackHdPrice"] = 0
        results[0]["trackRentalPrice"] = -1
        del results[0]["trackPrice"]

    lookup(edited("lookup_leaving_las_vegas.json", some_prices))
    result = provider().fetch([query(apple_id=LLV_ID)])
    assert list(offers_by_kind(result)) == [(OfferKind.RENT, Quality.HD)]
    assert result.covered == {LLV}


@responses.activate
def test_every_storefront_is_asked_and_priced_in_its_currency():
    lookup(country="US")
    lookup(recorded("itunes/lookup_leaving_las_vegas_gb.json"), country="GB")

    result = provider(regions=["us", "gb"]).fetch([query(apple_id=LLV_ID)])

    gb = {(o.kind, o.quality): (o.price, o.currency) for o in result.offers if o.region == "GB"}
    assert gb == {(OfferKind.BUY, Quality.SD): (Decimal("7.99"), "GBP"),
                  (OfferKind.BUY, Quality.HD): (Decimal("7.99"), "GBP"),
                  (OfferKind.RENT, Quality.SD): (Decimal("3.49"), "GBP")}  # no HD rental there
    assert len(result.offers) == 7 and result.covered == {LLV}


@responses.activate
def test_an_id_found_by_search_is_looked_up_in_the_next_storefront():
    answer("/search", recorded("itunes/search_movie_leaving_las_vegas.json"), country="US")
    lookup(recorded("itunes/lookup_leaving_las_vegas_gb.json"), id=LLV_ID, country="GB")

    result = provider(regions=["US", "GB"]).fetch([query()])

    assert [call.request.path_url.split("?")[0] for call in responses.calls] == ["/search", "/lookup"]
    assert result.films[0].external_ids == {"itunes": LLV_ID} and len(result.offers) == 7


@responses.activate
def test_a_storefront_that_no_longer_sells_the_stored_id_answers_for_the_film():
    """Apple's empty lookup of an id it sold is its word that the film is gone there: the
    film is covered, so its GB offers count a miss (and hide after three)."""
    lookup(country="US")
    lookup(recorded("itunes/empty.json"), country="GB")

    result = provider(regions=["US", "GB"]).fetch([query(apple_id=LLV_ID)])

    assert {offer.region for offer in result.offers} == {"US"}
    assert result.problems == []
    assert result.covered == {LLV} and result.complete


@responses.activate
def test_empty_search_answer_is_a_problem():
    answer("/search", recorded("itunes/empty.json"))
    result = provider().fetch([query()])
    assert "no film matches" in result.problems[0].message and "among 0" in result.problems[0].message
    assert result.covered == set() and result.films == []


@responses.activate
def test_raw_control_characters_in_strings_are_read():
    body = recorded("itunes/lookup_control_character.json")
    with pytest.raises(ValueError):
        json.loads(body)  # strict JSON refuses this body, as it refuses Apple's
    lookup(body)
    result = provider().fetch([query(apple_id=LLV_ID)])
    assert len(result.offers) == 4 and result.covered == {LLV}


@responses.activate
def test_affiliate_and_campaign_tokens_are_added_to_links():
    lookup()
    answer("/search", recorded("itunes/search_album_leaving_las_vegas.json"), media="music")

    result = provider(affiliate_token=AT, campaign_token=CT, soundtracks=True).fetch(
        [query(apple_id=LLV_ID)])

    assert {offer.link for offer in result.offers} == {f"{LLV_LINK}&at={AT}&ct={CT}"}
    assert result.products[0].link.endswith(f"/1443155637?uo=4&at={AT}&ct={CT}")


def test_tokens_replace_any_already_in_a_link_and_keep_one_question_mark():
    settings = ItunesProvider.Settings(type="itunes", affiliate_token=AT)
    link = itunes._affiliate_link(f"{LLV_LINK}&at=someone&ct=x", settings, "film")
    assert link == f"{LLV_LINK}&at={AT}" and link.count("?") == 1


@responses.activate
def test_a_film_without_a_title_or_id_cannot_be_searched():
    result = provider().fetch([query(title="  ")])
    assert result.problems[0].message == "storefront US: no title to search Apple for"
    assert len(responses.calls) == 0 and result.covered == set()


def test_no_films_no_calls():
    result = provider().fetch([])
    assert (result.offers, result.covered, result.complete) == ([], set(), True)


# --- soundtracks -----------------------------------------------------------------------


@responses.activate
def test_soundtrack_albums_become_candidate_products():
    lookup()
    answer("/search", recorded("itunes/search_album_leaving_las_vegas.json"))

    result = provider(soundtracks=True).fetch([query(apple_id=LLV_ID)])

    # Every album found is a candidate with its facts: Sheryl Crow's single and another film's
    # soundtrack too, for the service's scoring to reject (affiliate.matching).
    product, single, other = result.products
    assert (single.facts.people, single.facts.category) == ((Person("Sheryl Crow", "artist"),), "Rock")
    assert other.facts.compilation and other.title.startswith("Fear and Loathing in Las Vegas")
    assert (product.merchant, product.merchant_id, product.region) == ("Apple Music", "1443155637", "US")
    assert product.facts.people == (Person("Mike Figgis", "artist"),)
    assert (product.facts.year, product.facts.category) == (1995, "Soundtrack")
    assert product.title == "Leaving Las Vegas (Original Motion Picture Soundtrack)"
    assert product.format is ProductFormat.DIGITAL_ALBUM
    assert product.link == ("https://music.apple.com/us/album/"
                            "leaving-las-vegas-original-motion-picture-soundtrack/1443155637?uo=4")
    assert product.image_url.endswith("/100x100bb.jpg")
    assert (product.price, product.currency) == (Decimal("9.99"), "USD")
    link, = product.films
    assert (link.film, link.relation, link.candidate, link.curated) == (
        LLV, Relation.SOUNDTRACK, True, False)
    assert params_of(responses.calls[1]) == {
        "term": "Leaving Las Vegas soundtrack", "country": "US", "media": "music",
        "entity": "album", "limit": "25"}
    assert result.covered == {LLV} and len(result.offers) == 4


@responses.activate
def test_an_album_sold_only_in_tracks_has_no_price():
    def no_price(results):
        del results[0]["collectionPrice"]

    lookup()
    answer("/search", edited("search_album_leaving_las_vegas.json", no_price))
    product, *_ = provider(soundtracks=True).fetch([query(apple_id=LLV_ID)]).products
    assert (product.price, product.currency) == (None, None)


@pytest.mark.parametrize("failure", [
    {"status": 500, "body": ""},
    {"status": 200, "body": '{"errorMessage": "Invalid value(s) for key(s): [resultEntity]"}'},
    {"status": 200, "body": requests.Timeout("read timed out")},
])
@responses.activate
def test_a_failed_soundtrack_search_keeps_the_offers_but_not_coverage(failure):
    lookup()
    answer("/search", **failure)

    result = provider(soundtracks=True).fetch([query(apple_id=LLV_ID)])

    assert len(result.offers) == 4 and result.products == []
    assert result.covered == set() and result.problems[0].message.startswith("storefront US: ")


@responses.activate
def test_being_rate_limited_on_the_soundtrack_search_stops_the_fetch():
    lookup()
    answer("/search", "", status=403)
    with pytest.raises(RateLimited):
        provider(soundtracks=True).fetch([query(apple_id=LLV_ID)])


@responses.activate
def test_an_album_with_a_bad_link_is_a_problem():
    def bad_link(results):
        results[0]["collectionViewUrl"] = "javascript:alert(1)"

    lookup()
    answer("/search", edited("search_album_leaving_las_vegas.json", bad_link))
    result = provider(soundtracks=True).fetch([query(apple_id=LLV_ID)])
    assert result.products == [] and "is not an http(s) link" in result.problems[0].message
    assert len(result.offers) == 4 and result.covered == set()


# --- per-film problems and whole-fetch failures ----------------------------------------


@responses.activate
def test_a_404_for_one_film_leaves_the_other_covered():
    lookup(id=LLV_ID)
    answer("/lookup", "{}", status=404, id="12345")

    result = provider().fetch([query(key=SID, title="Sid and Nancy", apple_id="12345"),
                               query(apple_id=LLV_ID)])

    assert result.covered == {LLV} and {offer.film for offer in result.offers} == {LLV}
    problem, = result.problems
    assert problem.where == "tmdb:14924" and "HTTP 404" in problem.message


@responses.activate
def test_a_wrong_shaped_entry_spoils_only_its_film():
    def bad_entry(results):
        results[0]["trackHdPrice"] = "free"

    lookup(edited("lookup_leaving_las_vegas.json", bad_entry), id="12345")
    lookup(id=LLV_ID)

    result = provider().fetch([query(key=SID, title="Sid and Nancy", apple_id="12345"),
                               query(apple_id=LLV_ID)])

    # The entry is skipped, so no film is left either; the film is not covered for it.
    assert result.covered == {LLV} and {offer.film for offer in result.offers} == {LLV}
    (bad_entry,) = result.problems
    assert bad_entry.where == "tmdb:14924"
    assert bad_entry.message == ("storefront US: https://itunes.apple.com/lookup: "
                                 "results[0]: trackHdPrice: Input should be a valid decimal")


@responses.activate
def test_an_offer_without_a_currency_is_a_problem():
    def no_currency(results):
        del results[0]["currency"]

    lookup(edited("lookup_leaving_las_vegas.json", no_currency))
    result = provider().fetch([query(apple_id=LLV_ID)])
    assert result.offers == [] and "currency None" in result.problems[0].message


@pytest.mark.parametrize("status, body, error, message", [
    (401, "", AuthFailed, "HTTP 401"),
    (429, "", RateLimited, "HTTP 429"),
    (500, "", Transient, "HTTP 500"),
    (502, "<html><body><h1>502 Bad Gateway</h1></body></html>", Transient, "HTTP 502"),
    (400, '{"errorMessage":"Invalid value(s) for key(s): [country]"}', BadResponse,
     r"HTTP 400: Invalid value\(s\) for key\(s\): \[country\]"),
])
@responses.activate
def test_http_failures_fail_the_fetch(status, body, error, message):
    lookup(body, status=status)
    with pytest.raises(error, match=message) as raised:
        provider(affiliate_token=AT).fetch([query(apple_id=LLV_ID)])
    assert str(raised.value).startswith("https://itunes.apple.com/lookup: ")
    assert AT not in str(raised.value) and LLV_ID not in str(raised.value)


@responses.activate
def test_apple_throttling_403_is_rate_limited_for_a_minute():
    lookup("", status=403)
    with pytest.raises(RateLimited, match="HTTP 403") as raised:
        provider().fetch([query(apple_id=LLV_ID)])
    assert raised.value.retry_after == 60


@pytest.mark.parametrize("retry_after, low, high", [
    ("120", 120, 120),
    ("Wed, 21 Oct 2015 07:28:00 GMT", 0, 0),  # a date in the past: retry now
])
@responses.activate
def test_retry_after_is_read_in_seconds_or_as_a_date(retry_after, low, high):
    responses.add(responses.GET, f"{BASE}/lookup", status=429, headers={"Retry-After": retry_after})
    with pytest.raises(RateLimited) as raised:
        provider().fetch([query(apple_id=LLV_ID)])
    assert low <= raised.value.retry_after <= high


@pytest.mark.parametrize("failure", [requests.Timeout("read timed out"),
                                     requests.ConnectionError("connection refused")])
@responses.activate
def test_timeouts_and_connection_errors_are_transient(failure):
    lookup(failure)
    with pytest.raises(Transient, match="https://itunes.apple.com/lookup"):
        provider().fetch([query(apple_id=LLV_ID)])


@pytest.mark.parametrize("body, content_type, message", [
    ('{"resultCount":1, "results": [', JS, "not valid JSON"),
    ('{"errorMessage":"Invalid value(s) for key(s): [id]"}', JS, "resultCount: Field required"),
    ('{"resultCount":1, "results": {"trackId": 1}}', "application/json", "results: Input should be"),
    ("<html><head><title>Error</title></head><body>Your request produced an error."
     "  <BR>[newNullResponse]</body></html>", "text/html", "expected JSON, got text/html"),
])
@responses.activate
def test_bodies_that_are_not_apples_envelope_are_bad_responses(body, content_type, message):
    lookup(body, content_type=content_type)
    with pytest.raises(BadResponse, match=message):
        provider().fetch([query(apple_id=LLV_ID)])


# --- pacing, settings and a real socket --------------------------------------------------


@responses.activate
def test_calls_are_spaced_to_about_twenty_a_minute(sleeps):
    lookup()
    answer("/search", recorded("itunes/search_album_leaving_las_vegas.json"))
    provider(soundtracks=True).fetch([query(apple_id=LLV_ID)])
    assert len(sleeps) == 1 and 2.5 < sleeps[0] <= 3.0
    assert ItunesProvider.requests_per_second == pytest.approx(1 / 3)


@responses.activate
def test_each_film_costs_one_lookup_and_one_album_search_per_storefront():
    lookup()
    answer("/search", recorded("itunes/search_album_leaving_las_vegas.json"))
    calls_before_throttle: list[int] = []
    adapter = ItunesProvider("apple", ItunesProvider.Settings(type="itunes", regions=["US", "GB"]),
                             throttle=lambda: calls_before_throttle.append(len(responses.calls)))
    adapter.fetch([query(apple_id=LLV_ID), query(key=SID, apple_id=LLV_ID)])

    asked = [(call.request.path_url.split("?")[0], params_of(call)["country"])
             for call in responses.calls]
    assert asked == [("/lookup", "US"), ("/search", "US"), ("/lookup", "GB"), ("/search", "GB")] * 2
    assert calls_before_throttle == list(range(8))


def test_settings_defaults_and_normalization():
    settings = ItunesProvider.Settings(type="itunes", regions=["us", "GB", "gb"],
                                       base_url="http://127.0.0.1:8080/")
    assert settings.regions == ["US", "GB"] and settings.base_url == "http://127.0.0.1:8080"
    defaults = ItunesProvider.Settings(type="itunes")
    assert (defaults.base_url, defaults.regions, defaults.soundtracks, defaults.timeout_seconds) == (
        "https://itunes.apple.com", ["US"], True, 15)
    assert (defaults.affiliate_token, defaults.campaign_token) == (None, None)
    assert ItunesProvider.credentials == () and ItunesProvider.batch_size == 1


@pytest.mark.parametrize("settings, message", [
    ({"regions": ["XX"]}, "ISO 3166-1"),
    ({"regions": []}, "at least one country"),
    ({"base_url": "ftp://itunes.apple.com"}, "http"),
    ({"affiliate_token": "abc def"}, "letters and digits"),
    ({"affiliate_token": AT, "campaign_token": "a&b"}, "no \\?, ! or &"),
    ({"affiliate_token": AT, "campaign_token": "x" * 41}, "at most 40"),
    ({"campaign_token": CT}, "only counts with an affiliate_token"),
    ({"api_key": "nope"}, "Extra inputs"),
])
def test_settings_are_validated(settings, message):
    with pytest.raises(ValidationError, match=message):
        ItunesProvider.Settings(type="itunes", **settings)


def test_works_through_the_configured_base_url_over_a_socket(standin):
    headers = {"Content-Type": JS}
    standin.route("GET", "/lookup", Answer(200, recorded("itunes/lookup_control_character.json"), headers))
    standin.route("GET", "/search",
                  Answer(200, recorded("itunes/search_album_leaving_las_vegas.json"), headers))

    result = ItunesProvider("apple", ItunesProvider.Settings(
        type="itunes", base_url=standin.url, affiliate_token=AT)).fetch([query(apple_id=LLV_ID)])

    assert result.covered == {LLV} and len(result.offers) == 4 and len(result.products) == 3
    lookup_request, album_request = standin.requests
    assert lookup_request.query == {"id": [LLV_ID], "country": ["US"]}
    assert album_request.query["entity"] == ["album"]
    assert lookup_request.headers["Accept"] == "application/json"
    assert all(offer.link.endswith(f"&at={AT}") for offer in result.offers)
