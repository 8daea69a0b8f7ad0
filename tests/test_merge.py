"""Several sources, one answer: platform identity, merged offers, credits and price rules."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlmodel import select

from affiliate.catalog import reconcile
from affiliate.models import Film, FilmExternalId, FilmProduct, Platform, PlatformAlias, Product
from affiliate.widgets import how_to_watch, related_products
from providers.base import (
    FilmKey,
    FilmRecord,
    OfferKind,
    OfferRecord,
    PlatformRecord,
    ProductFormat,
    ProductLink,
    ProductRecord,
    Provider,
    ProviderResult,
    Quality,
    Relation,
)
from providers.registry import PROVIDER_TYPES
from providers.terms import Attribution, Terms

LLV = FilmKey(imdb_id="tt0113627")
FILM = FilmRecord(LLV, "Leaving Las Vegas", 1995, imdb_id="tt0113627", tmdb_id=451)
TMDB_PAGE = "https://www.themoviedb.org/movie/451-leaving-las-vegas/watch?locale=US"


class FakeTmdb(Provider):
    type_name = "fake-tmdb"
    description = "credits like TMDB"
    terms = Terms(attributions=(Attribution("Streaming data from JustWatch",
                                            "https://www.justwatch.com"),))


class FakeAmazon(Provider):
    type_name = "fake-amazon"
    description = "price rules like Amazon"
    terms = Terms(merchant="Amazon",
                  disclosure="As an Amazon Associate I earn from qualifying purchases.",
                  price_max_age=dt.timedelta(hours=24))


@pytest.fixture
def merged_settings(monkeypatch, make_settings):
    monkeypatch.setitem(PROVIDER_TYPES, "fake-tmdb", FakeTmdb)
    monkeypatch.setitem(PROVIDER_TYPES, "fake-amazon", FakeAmazon)
    return make_settings(providers={"tmdb": {"type": "fake-tmdb"}, "amazon": {"type": "fake-amazon"}})


def offer(platform, kind=OfferKind.RENT, quality=Quality.HD, price=None, link=TMDB_PAGE,
          deep_link=True):
    return OfferRecord(LLV, platform, "US", kind, quality, link,
                       Decimal(price) if price else None, "USD" if price else None,
                       deep_link=deep_link)


def store(db, source, *offers, products=()):
    return reconcile(db, source, ProviderResult(films=[FILM], offers=list(offers),
                                                products=list(products), covered={LLV},
                                                complete=True), 3)


TMDB_APPLE = PlatformRecord("apple-tv", "Apple TV", namespace="tmdb", external_id="2")
ITUNES_APPLE = PlatformRecord("apple-tv", "iTunes", namespace="itunes", external_id="itunes")
TMDB_NETFLIX = PlatformRecord("netflix", "Netflix", namespace="tmdb", external_id="8")


def test_canonical_platforms_are_in_every_database_under_their_own_names(db):
    store(db, "itunes", offer(ITUNES_APPLE, price="3.99"))

    with db.session() as session:
        apple = session.exec(select(Platform).where(Platform.slug == "apple-tv")).one()
        netflix = session.exec(select(Platform).where(Platform.slug == "netflix")).one()
    assert (apple.name, apple.homepage) == ("Apple TV", "https://tv.apple.com")
    assert netflix.name == "Netflix"


def test_sources_share_a_platform_and_its_aliases_are_learned(db):
    store(db, "tmdb", offer(TMDB_APPLE, quality=Quality.UNKNOWN, deep_link=False))
    store(db, "itunes", offer(ITUNES_APPLE, price="3.99", link="https://tv.apple.com/us/movie/x"))
    renamed = PlatformRecord("apple-itunes", "Apple iTunes", namespace="tmdb", external_id="2")
    store(db, "tmdb", offer(renamed, quality=Quality.UNKNOWN, deep_link=False))

    with db.session() as session:
        aliases = {(a.namespace, a.external_id): a.platform_id for a in session.exec(select(PlatformAlias))}
        slugs = set(session.exec(select(Platform.slug)))
    assert len(set(aliases.values())) == 1
    assert set(aliases) == {("tmdb", "2"), ("itunes", "itunes")}
    assert "apple-itunes" not in slugs


def test_priced_deep_links_absorb_an_offer_of_unknown_quality(db, merged_settings):
    store(db, "tmdb", offer(TMDB_APPLE, quality=Quality.UNKNOWN, deep_link=False),
          offer(TMDB_NETFLIX, kind=OfferKind.SUBSCRIPTION, quality=Quality.UNKNOWN, deep_link=False))
    store(db, "itunes", offer(ITUNES_APPLE, quality=Quality.SD, price="2.99",
                              link="https://tv.apple.com/us/movie/llv"),
          offer(ITUNES_APPLE, quality=Quality.HD, price="3.99", link="https://tv.apple.com/us/movie/llv"))

    view = how_to_watch(db, "imdb:tt0113627", "US", "en_US", merged_settings)

    stream, rent = view.groups
    assert [(row.name, row.link, row.prices) for row in stream.rows] == [("Netflix", TMDB_PAGE, ())]
    (apple,) = rent.rows
    assert apple.link == "https://tv.apple.com/us/movie/llv"
    assert [p.label for p in apple.prices] == ["SD $2.99", "HD $3.99"]


def test_a_deep_link_wins_over_a_cheaper_landing_page(db, merged_settings):
    store(db, "tmdb", offer(TMDB_APPLE, price="1.99", deep_link=False))
    store(db, "itunes", offer(ITUNES_APPLE, price="3.99", link="https://tv.apple.com/us/movie/llv"))

    (rent,) = how_to_watch(db, "imdb:tt0113627", "US", "en_US", merged_settings).groups

    (apple,) = rent.rows
    assert apple.lowest_price.text == "$1.99"
    assert apple.link == "https://tv.apple.com/us/movie/llv"


def test_credits_appear_only_while_their_sources_data_is_shown(client, db, merged_settings):
    store(db, "itunes", offer(ITUNES_APPLE, price="3.99"))
    assert how_to_watch(db, "imdb:tt0113627", "US", "en_US", merged_settings).attributions == ()

    store(db, "tmdb", offer(TMDB_NETFLIX, kind=OfferKind.SUBSCRIPTION, quality=Quality.UNKNOWN))
    view = how_to_watch(db, "imdb:tt0113627", "US", "en_US", merged_settings)

    assert view.attributions == FakeTmdb.terms.attributions


def amazon_product(asin="B000000001", candidate=False, relation=Relation.EDITION, curated=False):
    return ProductRecord("Amazon", asin, "Leaving Las Vegas [Blu-ray]", ProductFormat.BLU_RAY,
                         f"https://www.amazon.com/dp/{asin}?tag=site-20", "US",
                         films=(ProductLink(LLV, relation, 1, curated=curated, candidate=candidate),),
                         price=Decimal("12.99"), currency="USD")


def test_amazon_prices_show_their_age_and_vanish_after_a_day(db, merged_settings):
    store(db, "amazon", products=[amazon_product()])

    (card,) = related_products(db, "imdb:tt0113627", "US", "en_US", merged_settings).cards
    assert card.price.text == "$12.99" and card.price_as_of.endswith("UTC")

    with db.session() as session:
        product = session.exec(select(Product)).one()
        product.last_checked -= dt.timedelta(hours=25)
        session.add(product)
    view = related_products(db, "imdb:tt0113627", "US", "en_US", merged_settings)

    assert view.cards[0].price is None and view.cards[0].price_as_of is None
    assert view.disclosures[-1] == "As an Amazon Associate I earn from qualifying purchases."


def test_candidates_wait_for_approval_and_guesses_never_move_a_link(db, merged_settings):
    store(db, "amazon", products=[amazon_product(candidate=True)])
    assert related_products(db, "imdb:tt0113627", "US", "en_US", merged_settings).cards == ()

    with db.session() as session:
        link = session.exec(select(FilmProduct)).one()
        link.status, link.relation = "approved", "collection"
        session.add(link)
    store(db, "amazon", products=[amazon_product(candidate=True, relation=Relation.EDITION)])

    (card,) = related_products(db, "imdb:tt0113627", "US", "en_US", merged_settings).cards
    assert card.relation == "collection"


def test_a_source_that_only_maps_ids_keeps_the_stored_title(db):
    store(db, "feed")
    only_ids = FilmRecord(LLV, title=None, director="Mike Figgis", external_ids={"itunes": "271469518"})

    reconcile(db, "itunes", ProviderResult(films=[only_ids]), 3)

    with db.session() as session:
        film = session.exec(select(Film)).one()
        apple_id = session.exec(select(FilmExternalId.external_id)).one()
    assert (film.title, film.director, apple_id) == ("Leaving Las Vegas", "Mike Figgis", "271469518")


def test_the_associates_statement_follows_amazon_products_whoever_listed_them(db, merged_settings):
    store(db, "feed", products=[amazon_product()])

    view = related_products(db, "imdb:tt0113627", "US", "en_US", merged_settings)

    assert view.disclosures[-1] == "As an Amazon Associate I earn from qualifying purchases."
    assert view.cards[0].price_as_of is None  # only the API's own prices carry an age
