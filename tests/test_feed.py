"""The feed adapter against recorded files and replayed HTTP answers (no network)."""
from __future__ import annotations

import datetime as dt
import gzip
import json
from decimal import Decimal
from pathlib import Path

import pytest
import requests
import responses
from pydantic import ValidationError

from providers.base import (
    AuthFailed,
    Availability,
    BadResponse,
    FilmKey,
    FilmQuery,
    NotFound,
    OfferKind,
    Person,
    ProductFormat,
    Quality,
    RateLimited,
    Relation,
    Transient,
)
from providers.feed import FeedProvider

FIXTURES = Path(__file__).parent / "recordings" / "feed"
LLV = FilmKey(imdb_id="tt0113627")
SID = FilmKey(tmdb_id=14924)
FEED_URL = "https://feeds.example.com/datafeed/apikey/SECRET123/products"


def fetch(url, films=None, **settings):
    provider = FeedProvider("demo", FeedProvider.Settings(type="feed", url=str(url), **settings))
    return provider.fetch(films)


def by_where(result):
    return {problem.where: problem.message for problem in result.problems}


# --- JSON catalog ---------------------------------------------------------------------


def test_json_catalog_becomes_records():
    result = fetch(FIXTURES / "catalog.json")

    assert result.problems == [] and result.complete
    llv, sid = result.films
    assert (llv.key, llv.title, llv.year, llv.tmdb_id, llv.runtime_minutes) == (
        LLV, "Leaving Las Vegas", 1995, 451, 111)
    assert sid.key == SID and sid.imdb_id is None

    rent, buy, ads = result.offers
    assert rent.platform.name == "Apple TV" and rent.platform.homepage == "https://tv.apple.com"
    assert (rent.region, rent.kind, rent.quality) == ("US", OfferKind.RENT, Quality.HD)
    assert (rent.price, rent.currency) == (Decimal("3.99"), "USD")
    assert rent.expires_on == dt.date(2030, 1, 31)
    assert (buy.quality, buy.currency) == (Quality.UHD, "GBP")
    assert (ads.film, ads.kind, ads.price, ads.currency) == (SID, OfferKind.ADS, None, None)


def test_json_number_prices_are_read_exactly():
    buy = fetch(FIXTURES / "catalog.json").offers[1]
    assert buy.price == Decimal("7.99") and str(buy.price) == "7.99"


def test_reference_by_another_id_of_a_listed_film_uses_the_film_key():
    buy = fetch(FIXTURES / "catalog.json").offers[1]
    assert buy.film == LLV  # the catalog wrote tmdb:451


def test_json_products():
    blu_ray, box = fetch(FIXTURES / "catalog.json").products

    assert (blu_ray.merchant, blu_ray.merchant_id) == ("Amazon", "BD-1")
    assert blu_ray.format is ProductFormat.BLU_RAY
    assert (blu_ray.price, blu_ray.currency) == (Decimal("12.99"), "USD")
    assert blu_ray.availability is Availability.IN_STOCK
    assert blu_ray.gtin == "0027616123456"
    assert blu_ray.image_url == "https://images.example.com/llv.jpg"
    assert [(link.film, link.relation, link.position, link.curated) for link in blu_ray.films] == [
        (LLV, Relation.EDITION, 1, True)]

    assert (box.price, box.currency) == (Decimal("19.50"), "USD")
    assert box.availability is Availability.PREORDER
    assert [(link.film, link.relation, link.position) for link in box.films] == [
        (LLV, Relation.COLLECTION, 2), (SID, Relation.COLLECTION, None)]


def test_curated_setting_reaches_product_links():
    products = fetch(FIXTURES / "catalog.json", curated=False).products
    assert {link.curated for product in products for link in product.films} == {False}


def test_everything_covers_every_listed_film():
    result = fetch(FIXTURES / "catalog.json")
    assert result.covered == {LLV, SID}


def test_films_asked_about_filter_records_and_set_covered():
    query = FilmQuery(key=FilmKey(internal_id=17), title="Leaving Las Vegas", imdb_id="tt0113627")
    result = fetch(FIXTURES / "catalog.json", [query])

    assert result.covered == {FilmKey(internal_id=17)}
    assert [film.key for film in result.films] == [LLV]
    assert [offer.film for offer in result.offers] == [LLV, LLV]
    assert [product.merchant_id for product in result.products] == ["BD-1", "BOX-2"]
    assert result.complete


def test_film_found_by_a_tmdb_id_the_catalog_also_knows():
    query = FilmQuery(key=FilmKey(tmdb_id=451), title="Leaving Las Vegas", tmdb_id=451)
    result = fetch(FIXTURES / "catalog.json", [query])
    assert len(result.offers) == 2 and result.covered == {FilmKey(tmdb_id=451)}


def test_film_the_feed_does_not_know_is_covered_with_nothing():
    query = FilmQuery(key=FilmKey(tmdb_id=1), title="Another film", tmdb_id=1)
    result = fetch(FIXTURES / "catalog.json", [query])
    assert (result.films, result.offers, result.products) == ([], [], [])
    assert result.covered == {FilmKey(tmdb_id=1)} and result.complete


def test_bad_json_entries_are_skipped_and_reported_by_path():
    result = fetch(FIXTURES / "catalog_bad.json")
    problems = by_where(result)

    assert not result.complete
    assert set(problems) == {
        "platforms[1]", "films[1]", "films[2]",
        "offers[1]", "offers[2]", "offers[3]", "offers[4]", "offers[5]", "offers[6]", "offers[7]",
        "products[1]", "products[2]", "products[3]",
    }
    assert problems["platforms[1]"].startswith("slug:")
    assert problems["films[1]"] == "imdb_id or tmdb_id is required"
    assert problems["films[2]"] == "expected an object, got text"
    assert problems["offers[1]"] == "platform: 'netflix' is not listed in platforms"
    assert problems["offers[2]"] == "link: 'javascript:alert(1)' is not an http(s) URL"
    assert problems["offers[3]"].startswith("kind: 'lease' is not one of")
    assert problems["offers[4]"].startswith("currency: missing")
    assert problems["offers[5]"] == "repeats offers[0]"
    assert problems["offers[6]"].startswith("region:")
    assert problems["offers[7]"].startswith("price: 'NaN'")
    assert problems["products[1]"].startswith("format: 'laserdisc'")
    assert problems["products[2]"].startswith("films[0]: film:")
    assert problems["products[3]"].startswith("price: '12,99'")
    # What was good still loads.
    assert [film.title for film in result.films] == ["Leaving Las Vegas"]
    assert [(o.kind, o.price) for o in result.offers] == [(OfferKind.RENT, Decimal("3.99"))]
    assert [product.merchant_id for product in result.products] == ["DVD-1"]
    assert result.products[0].films[0].relation is Relation.EDITION


@pytest.mark.parametrize(("body", "message"), [
    ('{"offers": {"film": "imdb:tt0113627"}}', "offers: expected a list, got an object"),
    ('[{"film": "imdb:tt0113627"}]', "expected a JSON object at the top level"),
])
def test_json_of_the_wrong_shape_is_a_bad_response(tmp_path, body, message):
    path = tmp_path / "catalog.json"
    path.write_text(body)
    with pytest.raises(BadResponse, match=message):
        fetch(path)


def test_unknown_keys_and_missing_sections_are_fine(tmp_path):
    path = tmp_path / "catalog.json"
    path.write_text('{"demo": true, "films": [{"title": "X", "tmdb_id": 5, "director": "Y"}]}')
    result = fetch(path)
    assert [film.key for film in result.films] == [FilmKey(tmdb_id=5)] and result.complete


def test_region_and_merchant_fall_back_to_settings(tmp_path):
    path = tmp_path / "catalog.json"
    path.write_text('{"products": [{"id": "1", "title": "T", "format": "dvd", '
                    '"link": "https://shop.example.com/1", "films": [{"film": "17"}]}]}')
    product, = fetch(path, region="gb", merchant="Shop").products
    assert (product.region, product.merchant) == ("GB", "Shop")
    assert product.films[0].film == FilmKey(internal_id=17)


# --- CSV feeds --------------------------------------------------------------------------


def test_csv_feed_becomes_products():
    result = fetch(FIXTURES / "products.csv", region="US", merchant="Example Shop")

    assert result.problems == [] and result.complete
    assert (result.films, result.offers) == ([], [])
    blu_ray, soundtrack, box = result.products
    assert (blu_ray.merchant, blu_ray.merchant_id) == ("Example Shop", "LLV-BD")
    assert blu_ray.region == "US"
    assert blu_ray.format is ProductFormat.BLU_RAY  # from the product_type column
    assert (blu_ray.price, blu_ray.currency) == (Decimal("12.99"), "USD")
    assert blu_ray.gtin == "0027616123456"
    assert blu_ray.image_url == "https://shop.example.com/i/llv-bd.jpg"
    assert [(link.film, link.relation) for link in blu_ray.films] == [(LLV, Relation.EDITION)]
    assert (soundtrack.merchant, soundtrack.region) == ("Music Shop", "GB")
    assert (soundtrack.price, soundtrack.currency) == (Decimal("9.99"), "GBP")
    assert soundtrack.availability is Availability.OUT_OF_STOCK
    assert soundtrack.films[0].relation is Relation.SOUNDTRACK
    assert [link.film for link in box.films] == [LLV, FilmKey(tmdb_id=9837)]
    assert result.covered == {LLV, FilmKey(tmdb_id=9837)}


def test_bad_csv_rows_are_skipped_with_their_line_numbers():
    result = fetch(FIXTURES / "products_bad.csv")
    assert not result.complete
    assert [problem.where for problem in result.problems] == ["line 5", "line 7"]
    assert result.problems[0].message.startswith("link: 'javascript:")
    assert result.problems[1].message.startswith("film:")
    assert [product.merchant_id for product in result.products] == ["A1", "A2", "A5"]
    assert result.products[1].title == "Two-line\ntitle"


def test_csv_row_without_merchant_or_default_is_a_problem():
    result = fetch(FIXTURES / "products.csv", region="US")
    assert by_where(result) == {
        "line 2": "merchant: missing, and the provider sets no default merchant",
        "line 4": "merchant: missing, and the provider sets no default merchant",
    }
    assert [product.merchant_id for product in result.products] == ["LLV-OST"]


def test_csv_row_with_more_fields_than_the_header_is_a_problem(tmp_path):
    path = tmp_path / "products.csv"
    path.write_text(
        "id,title,link,film,format\n"
        "1,One,https://shop.example.com/1,imdb:tt0113627,dvd,surplus\n"
        "2,Two,https://shop.example.com/2,imdb:tt0113627,dvd\n"
    )
    result = fetch(path, region="US", merchant="Shop")
    assert by_where(result) == {"line 2": "6 fields, but the header has 5"}
    assert [product.merchant_id for product in result.products] == ["2"]


def test_csv_without_required_columns_is_a_bad_response():
    with pytest.raises(BadResponse, match="lacks the columns title, link$"):
        fetch(FIXTURES / "missing_columns.csv")


def test_gzipped_csv_file(tmp_path):
    path = tmp_path / "products.csv.gz"
    path.write_bytes(gzip.compress((FIXTURES / "products.csv").read_bytes()))
    result = fetch(path, region="US", merchant="Example Shop")
    assert [product.merchant_id for product in result.products] == ["LLV-BD", "LLV-OST", "CAGE-5"]


@responses.activate
def test_gzipped_csv_url():
    body = gzip.compress((FIXTURES / "products.csv").read_bytes())
    url = "https://feeds.example.com/products.csv.gz"
    responses.add(responses.GET, url, body=body, content_type="application/octet-stream")
    result = fetch(url, region="US", merchant="Example Shop")
    assert len(result.products) == 3 and result.complete


# --- Where the feed comes from ------------------------------------------------------------


def test_missing_file_is_not_found(tmp_path):
    path = tmp_path / "nowhere.json"
    with pytest.raises(NotFound, match="nowhere.json"):
        fetch(path)


@responses.activate
def test_format_from_content_type():
    responses.add(responses.GET, FEED_URL, body=(FIXTURES / "catalog.json").read_bytes(),
                  content_type="application/json; charset=utf-8")
    assert len(fetch(FEED_URL).offers) == 3


@responses.activate
def test_one_download_serves_every_film_asked_about_after_the_throttle():
    responses.add(responses.GET, FEED_URL, body=(FIXTURES / "catalog.json").read_bytes(),
                  content_type="application/json")
    throttled: list[int] = []
    settings = FeedProvider.Settings(type="feed", url=FEED_URL)
    adapter = FeedProvider("network", settings, throttle=lambda: throttled.append(len(responses.calls)))
    result = adapter.fetch([FilmQuery(key=FilmKey(imdb_id="tt0113627"), title="Leaving Las Vegas"),
                            FilmQuery(key=FilmKey(tmdb_id=14924), title="Sid and Nancy")])
    assert len(responses.calls) == 1 and throttled == [0]
    assert result.covered == {FilmKey(imdb_id="tt0113627"), FilmKey(tmdb_id=14924)}


@responses.activate
def test_unknown_format_asks_for_the_setting():
    responses.add(responses.GET, FEED_URL, body='{"offers": []}', content_type="application/octet-stream")
    with pytest.raises(BadResponse, match='set format = "json" or "csv"'):
        fetch(FEED_URL)
    assert fetch(FEED_URL, format="json").complete


@responses.activate
def test_a_json_document_naming_no_section_is_no_catalog():
    """An error object answered with 200 would otherwise read as a feed listing nothing."""
    responses.add(responses.GET, FEED_URL, json={"error": "quota exceeded"})
    with pytest.raises(BadResponse, match="names none of platforms, films, offers, products"):
        fetch(FEED_URL)


@responses.activate
def test_invalid_json_body_is_a_bad_response():
    responses.add(responses.GET, FEED_URL, body='{"offers": [', content_type="application/json")
    with pytest.raises(BadResponse, match="not valid JSON"):
        fetch(FEED_URL)


@pytest.mark.parametrize(("status", "error"), [
    (500, Transient), (503, Transient), (401, AuthFailed), (403, AuthFailed), (404, NotFound),
])
@responses.activate
def test_http_failures(status, error):
    responses.add(responses.GET, FEED_URL, status=status)
    with pytest.raises(error) as caught:
        fetch(FEED_URL)
    assert f"HTTP {status}" in str(caught.value)
    assert "SECRET123" not in str(caught.value)


@responses.activate
def test_rate_limited_with_retry_after():
    responses.add(responses.GET, FEED_URL, status=429, headers={"Retry-After": "120"})
    with pytest.raises(RateLimited) as caught:
        fetch(FEED_URL)
    assert caught.value.retry_after == 120


@responses.activate
def test_retry_after_as_a_past_http_date_means_now():
    responses.add(responses.GET, FEED_URL, status=429,
                  headers={"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"})
    with pytest.raises(RateLimited) as caught:
        fetch(FEED_URL)
    assert caught.value.retry_after == 0


@responses.activate
def test_rate_limited_without_retry_after():
    responses.add(responses.GET, FEED_URL, status=429)
    with pytest.raises(RateLimited) as caught:
        fetch(FEED_URL)
    assert caught.value.retry_after is None


@pytest.mark.parametrize("failure", [requests.Timeout("slow"), requests.ConnectionError("refused")])
@responses.activate
def test_timeouts_and_connection_errors_are_transient(failure):
    responses.add(responses.GET, FEED_URL, body=failure)
    with pytest.raises(Transient) as caught:
        fetch(FEED_URL, timeout_seconds=5)
    assert "SECRET123" not in str(caught.value)


@pytest.mark.parametrize(("settings", "key"), [
    ({"url": "builtin:other"}, "url"),
    ({"url": "ftp://feeds.example.com/products.csv"}, "url"),
    ({"url": "builtin:demo", "region": "XX"}, "region"),
    ({"url": "builtin:demo", "format": "xml"}, "format"),
])
def test_settings_are_validated(settings, key):
    with pytest.raises(ValidationError) as caught:
        FeedProvider.Settings(type="feed", **settings)
    assert caught.value.errors()[0]["loc"] == (key,)


# --- The bundled demo catalog ---------------------------------------------------------------


@pytest.fixture(scope="module")
def demo():
    return fetch("builtin:demo")


def test_demo_catalog_loads_cleanly(demo):
    assert demo.problems == [] and demo.complete
    assert len(demo.films) == 6 and len(demo.covered) == 6
    assert demo.films[0].title == "Leaving Las Vegas" and demo.films[0].key == LLV


def test_demo_leaving_las_vegas_rent_and_buy_in_the_us(demo):
    stores = {"amazon-prime-video", "apple-tv", "google-play-movies", "vudu"}
    us = [offer for offer in demo.offers if offer.film == LLV and offer.region == "US"]
    assert {(o.platform.slug, o.kind, o.quality) for o in us} == {
        (slug, kind, quality)
        for slug in stores
        for kind in (OfferKind.RENT, OfferKind.BUY)
        for quality in (Quality.SD, Quality.HD)
    }
    assert len(us) == 16 and all(offer.currency == "USD" and offer.price > 0 for offer in us)


def test_demo_leaving_las_vegas_products(demo):
    products = [p for p in demo.products if any(link.film == LLV for link in p.films)]
    assert len(products) == 6
    assert {(p.format, p.films[0].relation) for p in products} == {
        (ProductFormat.BLU_RAY, Relation.EDITION),
        (ProductFormat.DVD, Relation.EDITION),
        (ProductFormat.COLLECTION, Relation.COLLECTION),
        (ProductFormat.SOUNDTRACK_CD, Relation.SOUNDTRACK),
        (ProductFormat.MERCHANDISE, Relation.MERCHANDISE),
        (ProductFormat.BOOK, Relation.SOURCE_NOVEL),
    }


def test_films_may_carry_their_people_original_title_and_poster(tmp_path):
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps({"films": [
        {"title": "Dune", "year": 1984, "imdb_id": "tt0087182", "original_title": "Dune",
         "poster_url": "https://images.example.com/dune.jpg",
         "people": [{"name": "David Lynch", "role": "Director"},
                    {"name": "Kyle MacLachlan", "role": "actor"}]},
        {"title": "Heat", "year": 1995, "imdb_id": "tt0113277"}]}))

    dune, heat = fetch(path).films

    assert dune.people == (Person("David Lynch", "director"), Person("Kyle MacLachlan", "actor"))
    assert (dune.original_title, dune.poster_url) == ("Dune", "https://images.example.com/dune.jpg")
    assert heat.people is None  # not said: the people another source gave stay


def test_a_film_with_people_of_an_unknown_role_is_a_problem(tmp_path):
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps({"films": [
        {"title": "Dune", "imdb_id": "tt0087182", "people": [{"name": "X", "role": "caterer"}]}]}))

    result = fetch(path)

    assert result.films == [] and not result.complete
    assert "people[0].role: 'caterer' is not one of director, actor, composer, writer, author" in str(
        result.problems[0])


def test_a_nul_character_is_a_bad_entry_not_a_database_error(tmp_path):
    document = {"films": [{"title": "Nul\x00Film", "year": 1995, "imdb_id": "tt0113627"},
                          {"title": "Sid and Nancy", "year": 1986, "imdb_id": "tt0091954"}]}
    path = tmp_path / "nul.json"
    path.write_text(json.dumps(document))

    result = fetch(path)

    assert [film.title for film in result.films] == ["Sid and Nancy"] and not result.complete
    assert by_where(result) == {"films[0]": "title: holds a NUL character, which PostgreSQL cannot store"}
