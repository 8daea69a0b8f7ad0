"""Reconciling provider results: provenance, idempotence and never losing data."""
from __future__ import annotations

from decimal import Decimal

from sqlmodel import select

from affiliate.catalog import reconcile
from affiliate.models import Film, FilmProduct, Offer, Product
from providers.base import (
    FilmKey,
    FilmRecord,
    OfferKind,
    OfferRecord,
    PlatformRecord,
    ProductFormat,
    ProductLink,
    ProductRecord,
    ProviderResult,
    Quality,
    Relation,
)

LLV = FilmKey(imdb_id="tt0113627")
SID = FilmKey(imdb_id="tt0091954")
APPLE = PlatformRecord("apple-tv", "Apple TV", homepage="https://tv.apple.com")
VUDU = PlatformRecord("vudu", "Vudu")


def films():
    return [
        FilmRecord(LLV, "Leaving Las Vegas", 1995, imdb_id="tt0113627", tmdb_id=451),
        FilmRecord(SID, "Sid and Nancy", 1986, imdb_id="tt0091954", tmdb_id=14924),
    ]


def offer(film=LLV, platform=APPLE, kind=OfferKind.RENT, quality=Quality.HD, price="3.99"):
    return OfferRecord(film, platform, "US", kind, quality, f"https://example.com/{platform.slug}",
                       Decimal(price), "USD")


def result(offers, complete=True, covered=(LLV, SID), products=()):
    return ProviderResult(films=films(), offers=list(offers), products=list(products),
                          covered=set(covered), complete=complete)


def offers_in(db):
    with db.session() as session:
        return {(o.film_id, o.platform_id, o.kind, o.quality): o for o in session.exec(select(Offer))}


def snapshot(db):
    """Everything stored except the times a check happened."""
    skip = {"last_seen", "last_checked"}
    with db.session() as session:
        return [
            {k: v for k, v in row.model_dump().items() if k not in skip}
            for model in (Film, Offer, Product, FilmProduct)
            for row in session.exec(select(model).order_by(model.id))
        ]


def test_offers_are_stored_with_their_source_and_exact_price(db):
    stats = reconcile(db, "feed", result([offer(), offer(platform=VUDU, price="2.99")]), 3)

    assert (stats.offers_added, stats.offers_seen) == (2, 2)
    stored = list(offers_in(db).values())
    assert {o.source for o in stored} == {"feed"}
    assert sorted(o.price for o in stored) == [Decimal("2.99"), Decimal("3.99")]
    assert all(o.first_seen.tzinfo is not None for o in stored)


def test_reconciling_the_same_answer_twice_changes_nothing(db):
    answer = result([offer(), offer(kind=OfferKind.BUY, price="12.99")])
    reconcile(db, "feed", answer, 3)
    before = snapshot(db)

    stats = reconcile(db, "feed", answer, 3)

    assert (stats.offers_added, stats.offers_changed, stats.offers_missing) == (0, 0, 0)
    assert snapshot(db) == before


def test_a_price_change_updates_the_offer_in_place(db):
    reconcile(db, "feed", result([offer(price="3.99")]), 3)
    stats = reconcile(db, "feed", result([offer(price="2.49")]), 3)

    assert stats.offers_changed == 1
    (stored,) = offers_in(db).values()
    assert stored.price == Decimal("2.49")


def test_a_partial_answer_never_marks_offers_missing(db):
    reconcile(db, "feed", result([offer(), offer(platform=VUDU)]), 3)

    stats = reconcile(db, "feed", result([offer()], complete=False), 3)

    assert stats.offers_missing == 0
    assert all(o.missing_count == 0 and not o.hidden for o in offers_in(db).values())


def test_offers_are_hidden_after_consecutive_complete_misses_and_return(db):
    reconcile(db, "feed", result([offer(), offer(platform=VUDU)]), 3)
    vudu = [o for o in offers_in(db).values() if o.link.endswith("vudu")][0]

    for expected_misses, expected_hidden in ((1, False), (2, False), (3, True)):
        reconcile(db, "feed", result([offer()]), 3)
        stored = offers_in(db)[(vudu.film_id, vudu.platform_id, "rent", "HD")]
        assert (stored.missing_count, stored.hidden) == (expected_misses, expected_hidden)

    stats = reconcile(db, "feed", result([offer(), offer(platform=VUDU)]), 3)
    stored = offers_in(db)[(vudu.film_id, vudu.platform_id, "rent", "HD")]
    assert (stored.missing_count, stored.hidden, stats.offers_changed) == (0, False, 1)


def test_a_complete_answer_only_speaks_for_the_films_it_covers(db):
    reconcile(db, "feed", result([offer(), offer(film=SID)]), 3)

    stats = reconcile(db, "feed", result([offer()], covered=[LLV]), 3)

    assert stats.offers_missing == 0


def test_another_source_never_touches_these_offers(db):
    reconcile(db, "feed", result([offer()]), 1)

    reconcile(db, "other", result([]), 1)

    (stored,) = offers_in(db).values()
    assert (stored.source, stored.hidden) == ("feed", False)


def test_an_offer_for_an_unknown_film_is_reported_and_stored_offers_stay(db):
    reconcile(db, "feed", result([offer(), offer(platform=VUDU)]), 1)
    stray = offer(film=FilmKey(imdb_id="tt9999999"))

    stats = reconcile(db, "feed", ProviderResult(offers=[offer(), offer(platform=VUDU), stray],
                                                 covered={LLV}, complete=True), 1)

    assert [p.message for p in stats.problems] == ["unknown film imdb:tt9999999"]
    assert (stats.offers_seen, stats.offers_missing) == (2, 0)
    assert not any(o.hidden for o in offers_in(db).values())


def test_films_left_out_of_covered_keep_their_offers_in_a_complete_answer(db):
    reconcile(db, "feed", result([offer(), offer(film=SID)]), 1)

    stats = reconcile(db, "feed", result([], covered=[LLV]), 1)

    assert stats.offers_missing == 1
    hidden = {o.film_id: o.hidden for o in offers_in(db).values()}
    assert sorted(hidden.values()) == [False, True]


def product(merchant_id="B0001", price="12.99", position=1):
    return ProductRecord("Amazon", merchant_id, "Leaving Las Vegas (Blu-ray)", ProductFormat.BLU_RAY,
                         "https://www.amazon.com/dp/" + merchant_id, "US",
                         films=(ProductLink(LLV, Relation.EDITION, position, curated=True),),
                         price=Decimal(price), currency="USD")


def test_products_are_linked_to_their_films(db):
    stats = reconcile(db, "feed", result([], products=[product()]), 3)

    assert stats.products_added == 1
    with db.session() as session:
        link = session.exec(select(FilmProduct)).one()
        stored = session.get(Product, link.product_id)
    assert (link.relation, link.origin, link.position) == ("edition", "curated", 1)
    assert (stored.format, stored.price, stored.source) == ("blu-ray", Decimal("12.99"), "feed")


def test_a_pinned_link_keeps_the_operators_position(db):
    reconcile(db, "feed", result([], products=[product(position=1)]), 3)
    with db.session() as session:
        link = session.exec(select(FilmProduct)).one()
        link.pinned, link.position = True, 9
        session.add(link)

    reconcile(db, "feed", result([], products=[product(position=2)]), 3)

    with db.session() as session:
        assert session.exec(select(FilmProduct)).one().position == 9


def test_products_missing_from_complete_answers_are_hidden_not_deleted(db):
    reconcile(db, "feed", result([], products=[product("B0001"), product("B0002")]), 2)

    reconcile(db, "feed", result([], products=[product("B0001")]), 2)
    reconcile(db, "feed", result([], products=[product("B0001")], complete=False), 2)
    reconcile(db, "feed", result([], products=[product("B0001")]), 2)

    with db.session() as session:
        gone = session.exec(select(Product).where(Product.merchant_id == "B0002")).one()
    assert (gone.missing_count, gone.hidden) == (2, True)


def test_one_source_id_matched_to_two_films_is_reported_not_stored_twice(db):
    reconcile(db, "feed", result([]), 3)
    same_id = [FilmRecord(LLV, external_ids={"itunes": "271469518"}),
               FilmRecord(SID, external_ids={"itunes": "271469518"})]

    stats = reconcile(db, "itunes", ProviderResult(films=same_id), 3)

    assert [p.message for p in stats.problems] == ["itunes id 271469518 already belongs to film 1"]


def test_an_imdb_id_another_film_holds_is_reported_and_the_rest_stored(db):
    with db.session() as session:
        session.add_all([Film(title="Leaving Las Vegas", imdb_id="tt0113627"), Film(title="Film 2", tmdb_id=2)])
    mixed_up = FilmRecord(FilmKey(tmdb_id=2), "Film 2", 1995, imdb_id="tt0113627", tmdb_id=2,
                          runtime_minutes=111)

    stats = reconcile(db, "tmdb", ProviderResult(films=[mixed_up], covered={mixed_up.key}), 3)

    assert [p.message for p in stats.problems] == ["imdb_id tt0113627 already belongs to film 1"]
    with db.session() as session:
        second = session.get(Film, 2)
        assert (second.imdb_id, second.year, second.runtime_minutes) == (None, 1995, 111)
        assert session.get(Film, 1).imdb_id == "tt0113627"


def test_a_link_only_answer_keeps_what_is_known_but_drops_price_and_image(db):
    reconcile(db, "amazon", result([], products=[product("B0001")]), 3)
    link_only = ProductRecord("Amazon", "B0001", "B0001", ProductFormat.MERCHANDISE,
                              "https://www.amazon.com/dp/B0001?tag=site-20", "US",
                              films=(ProductLink(LLV, Relation.MERCHANDISE),), link_only=True)

    reconcile(db, "amazon", result([], products=[link_only], complete=False), 3)

    with db.session() as session:
        stored = session.exec(select(Product)).one()
    assert (stored.title, stored.format) == ("Leaving Las Vegas (Blu-ray)", "blu-ray")
    assert (stored.price, stored.image_url, stored.link) == (
        None, None, "https://www.amazon.com/dp/B0001?tag=site-20")
