"""A film's revision rises, in the same transaction, with every change its widgets show, and
only then: a refresh that only re-checks leaves it alone."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlmodel import select

from affiliate import curation, history
from affiliate.catalog import reconcile
from affiliate.models import Film, FilmProduct
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
APPLE = PlatformRecord("apple-tv", "Apple TV")
VUDU = PlatformRecord("vudu", "Vudu")
T0 = dt.datetime(2026, 3, 1, 12, tzinfo=dt.timezone.utc)


def films(llv_title="Leaving Las Vegas"):
    return [FilmRecord(LLV, llv_title, 1995, imdb_id="tt0113627"),
            FilmRecord(SID, "Sid and Nancy", 1986, imdb_id="tt0091954")]


def offer(film=LLV, platform=APPLE, price="3.99", kind=OfferKind.RENT):
    return OfferRecord(film, platform, "US", kind, Quality.HD, f"https://example.com/{platform.slug}",
                       Decimal(price), "USD")


def box_set(price="17.99", films_linked=(LLV, SID), candidate=False, position=1):
    return ProductRecord("Amazon", "B0019X3YXQ", "Nicolas Cage: 5-Film Collection",
                         ProductFormat.COLLECTION, "https://www.amazon.com/dp/B0019X3YXQ", "US",
                         films=tuple(ProductLink(f, Relation.COLLECTION, position, candidate=candidate)
                                     for f in films_linked),
                         price=Decimal(price), currency="USD")


def answer(offers=(), products=(), llv_title="Leaving Las Vegas"):
    return ProviderResult(films=films(llv_title), offers=list(offers), products=list(products),
                          covered={LLV, SID}, complete=True)


def revisions(db) -> dict[str, int]:
    with db.session() as session:
        return {film.imdb_id: film.revision for film in session.exec(select(Film))}


def store(db, result, at=T0, **options):
    return reconcile(db, "src", result, 2, now=at, **options)


def test_new_offers_raise_their_films_revision_and_the_same_answer_again_does_not(db):
    store(db, answer([offer(), offer(SID)]))
    assert revisions(db) == {"tt0113627": 1, "tt0091954": 1}

    store(db, answer([offer(), offer(SID)]), T0 + dt.timedelta(hours=1))  # last_checked moves only
    assert revisions(db) == {"tt0113627": 1, "tt0091954": 1}


def test_a_price_change_raises_only_its_films_revision(db):
    store(db, answer([offer(), offer(SID)]))

    store(db, answer([offer(price="2.99"), offer(SID)]))

    assert revisions(db) == {"tt0113627": 2, "tt0091954": 1}


def test_a_miss_raises_it_only_when_the_offer_is_hidden_and_again_when_it_returns(db):
    store(db, answer([offer(), offer(platform=VUDU)]))

    store(db, answer([offer()]))  # first miss: still shown
    assert revisions(db)["tt0113627"] == 1
    store(db, answer([offer()]))  # second miss: hidden
    assert revisions(db)["tt0113627"] == 2
    store(db, answer([offer()]))  # hidden already: nothing changes
    assert revisions(db)["tt0113627"] == 2
    store(db, answer([offer(), offer(platform=VUDU)]))  # back
    assert revisions(db)["tt0113627"] == 3


def test_a_partial_answer_changes_no_revision(db):
    store(db, answer([offer(), offer(SID)]))

    reconcile(db, "src", ProviderResult(films=films(), offers=[offer()], complete=False), 1, now=T0)

    assert revisions(db) == {"tt0113627": 1, "tt0091954": 1}


def test_new_details_of_a_stored_film_raise_its_revision(db):
    store(db, answer([offer()]))

    store(db, answer([offer()], llv_title="Leaving Las Vegas (Director's Cut)"))

    assert revisions(db) == {"tt0113627": 2, "tt0091954": 0}


def test_a_product_change_raises_every_film_that_shows_it(db):
    store(db, answer(products=[box_set()]))
    assert revisions(db) == {"tt0113627": 1, "tt0091954": 1}  # a link each

    store(db, answer(products=[box_set()]))
    assert revisions(db) == {"tt0113627": 1, "tt0091954": 1}

    store(db, answer(products=[box_set(price="14.99")]))
    assert revisions(db) == {"tt0113627": 2, "tt0091954": 2}  # once each, not once per link

    store(db, answer(products=[box_set(price="14.99", position=2)]))
    assert revisions(db) == {"tt0113627": 2, "tt0091954": 2}  # a guessing source moves no link


def test_a_candidate_link_is_not_shown_so_changes_no_revision(db):
    store(db, answer(products=[box_set(films_linked=(LLV,), candidate=True)]))

    assert revisions(db) == {"tt0113627": 0, "tt0091954": 0}


def test_a_dated_price_checked_again_raises_it_because_its_age_is_shown(db):
    store(db, answer(products=[box_set()]), dated_prices=True)

    store(db, answer(products=[box_set()]), T0 + dt.timedelta(hours=12), dated_prices=True)

    assert revisions(db) == {"tt0113627": 2, "tt0091954": 2}


def test_the_revision_commits_with_the_films_change_or_not_at_all(db, monkeypatch):
    store(db, answer([offer(), offer(SID)]))
    record = history.record

    def fail_for_sid(session, changes, now):
        if any(change.film_id == 2 for change in changes):
            raise RuntimeError("database went away")
        record(session, changes, now)

    monkeypatch.setattr(history, "record", fail_for_sid)
    with pytest.raises(RuntimeError):
        store(db, answer([offer(price="2.99"), offer(SID, price="2.99")]))

    assert revisions(db) == {"tt0113627": 2, "tt0091954": 1}


def test_curation_raises_the_revision_of_the_films_it_changes(db):
    store(db, answer(products=[box_set(films_linked=(LLV,), candidate=True)]))
    with db.session() as session:
        (link_id,) = session.exec(select(FilmProduct.id))

    curation.film_links(db, "imdb:tt0113627")
    assert revisions(db)["tt0113627"] == 0
    curation.set_status(db, [link_id], "approved")
    assert revisions(db) == {"tt0113627": 1, "tt0091954": 0}
    curation.set_hidden(db, [link_id], True)
    assert revisions(db)["tt0113627"] == 2
