"""The JSON API: the same view models as the widgets, with amounts as decimal strings."""
from __future__ import annotations

from decimal import Decimal

import pytest
from sqlmodel import select

from affiliate.models import Film, Product

LLV = "imdb:tt0113627"
PLATFORMS = ["Amazon Prime Video", "Apple TV", "Google Play Movies", "Vudu"]


def offers(client, film: str = LLV, **params):
    response = client.get(f"/api/v1/films/{film}/offers", query_string=params)
    assert response.status_code == 200, response.json
    return response.json


def products(client, film: str = LLV, **params):
    response = client.get(f"/api/v1/films/{film}/products", query_string=params)
    assert response.status_code == 200, response.json
    return response.json


def test_offers_are_grouped_with_prices_as_strings(client, demo):
    body = offers(client, region="US")
    assert body["film"] == {"id": body["film"]["id"], "ref": LLV, "title": "Leaving Las Vegas",
                            "year": 1995, "imdb_id": "tt0113627", "tmdb_id": 451}
    assert (body["region"], body["region_name"]) == ("US", "United States")
    assert [group["kind"] for group in body["groups"]] == ["rent", "buy"]
    rent, buy = body["groups"]
    assert sorted(p["name"] for p in rent["platforms"]) == PLATFORMS
    assert sorted(p["name"] for p in buy["platforms"]) == PLATFORMS
    vudu = rent["platforms"][0]  # the cheapest rental
    assert (vudu["name"], vudu["lowest_price"]["price"]) == ("Vudu", "1.99")
    assert vudu["offers"] == [
        {"quality": "SD", "price": "1.99", "currency": "USD", "formatted": "$1.99"},
        {"quality": "HD", "price": "3.99", "currency": "USD", "formatted": "$3.99"},
    ]
    assert vudu["link"].startswith("https://www.vudu.com/")
    assert body["sources"] == ["demo"]
    assert body["disclosures"] == ["We may earn a commission when you buy or rent through these "
                                   "links, at no extra cost to you."]


def test_rows_are_cheapest_first(client, demo):
    for group in offers(client)["groups"]:
        lowest = [Decimal(p["lowest_price"]["price"]) for p in group["platforms"]]
        assert lowest == sorted(lowest), group["kind"]


def test_formatted_prices_follow_the_locale(client, demo):
    rent = offers(client, region="US", locale="de_DE")["groups"][0]
    formatted = {o["formatted"] for p in rent["platforms"] for o in p["offers"]}
    assert "3,99\xa0$" in formatted
    assert {o["price"] for p in rent["platforms"] for o in p["offers"]} >= {"3.99"}


def test_every_kind_of_film_reference_works(client, demo):
    with demo.session() as session:
        film_id = session.exec(select(Film.id).where(Film.imdb_id == "tt0113627")).one()
    bodies = [offers(client, ref) for ref in (LLV, "tmdb:451", str(film_id))]
    assert bodies[0] == bodies[1] == bodies[2]
    assert bodies[0]["film"]["id"] == film_id


def test_a_region_without_offers_answers_empty_groups(client, demo):
    body = offers(client, region="fr")
    assert (body["region"], body["groups"], body["sources"]) == ("FR", [], [])


def test_products_come_in_relation_order_with_their_details(client, demo):
    body = products(client, region="US")
    assert [p["relation"] for p in body["products"]] == [
        "edition", "edition", "soundtrack", "collection", "source-novel", "merchandise"]
    blu_ray = body["products"][0]
    assert blu_ray == {
        "title": "Leaving Las Vegas [Blu-ray]", "format": "blu-ray", "format_label": "Blu-ray",
        "relation": "edition", "image_url": None, "price": "12.99", "currency": "USD",
        "formatted": "$12.99", "merchant": "Amazon", "availability": "in stock",
        "link": "https://www.amazon.com/s?k=Leaving+Las+Vegas+Blu-ray", "price_as_of": None,
    }
    assert body["sources"] == ["demo"]


def test_hidden_products_are_left_out(client, demo):
    with demo.session() as session:
        row = session.exec(select(Product).where(Product.format == "merchandise")).one()
        row.hidden = True
        session.add(row)
    formats = [p["format"] for p in products(client)["products"]]
    assert len(formats) == 5 and "merchandise" not in formats


@pytest.mark.settings(service={"default_region": "GB", "default_locale": "en_GB"},
                      link_tags=[{"host": "amazon.co.uk", "params": {"tag": "uk-21"}}])
def test_defaults_come_from_the_settings(client, demo):
    body = offers(client)
    assert body["region"] == "GB"
    amazon = next(p for p in body["groups"][0]["platforms"] if p["slug"] == "amazon-prime-video")
    assert amazon["offers"][0]["formatted"] == "£2.49"
    assert amazon["link"].endswith("tag=uk-21")


@pytest.mark.parametrize("kind", ["offers", "products"])
@pytest.mark.parametrize("film, query, status, error", [
    ("imdb:tt9999999", "", 404, "no film matches imdb:tt9999999"),
    ("tmdb:999999", "", 404, "no film matches tmdb:999999"),
    ("imdb:0113627", "", 400, "film: 'imdb:0113627': an IMDb id looks like imdb:tt0113627"),
    ("tmdb:abc", "", 400, "film: 'tmdb:abc': a TMDB id is a number, as in tmdb:451"),
    ("99999999999", "", 400, "film: '99999999999': ids run from 1 to 2147483647"),
    ("tmdb:0", "", 400, "film: 'tmdb:0': ids run from 1 to 2147483647"),
    (LLV, "?region=USA", 400,
     "region: 'USA' is not an ISO 3166-1 alpha-2 country code such as US or GB"),
    (LLV, "?locale=klingon", 400, "locale: 'klingon' is not a locale such as en_US or de_DE"),
])
def test_errors_answer_json_with_the_reason(client, demo, kind, film, query, status, error):
    response = client.get(f"/api/v1/films/{film}/{kind}{query}")
    assert response.status_code == status
    assert response.json == {"error": error}
