"""Candidates decided by their score: what a source only guessed is approved, rejected or left
for review against the film and its namesakes, with its reasons kept; box sets are linked to
every catalog film they name; an operator's decision stands."""
from __future__ import annotations

import json

from sqlmodel import select

from affiliate import candidates, curation
from affiliate.catalog import reconcile
from affiliate.config import MatchingSettings
from affiliate.models import Film, FilmProduct, Product
from affiliate.widgets import related_products
from providers.base import (
    FilmKey,
    FilmRecord,
    Person,
    ProductFacts,
    ProductFormat,
    ProductLink,
    ProductRecord,
    ProviderResult,
    Relation,
)

RULES = MatchingSettings()
LLV = FilmKey(imdb_id="tt0113627")
ARIZONA = FilmKey(imdb_id="tt0093822")
LLV_PEOPLE = (Person("Nicolas Cage", "actor"), Person("Elisabeth Shue", "actor"),
              Person("Mike Figgis", "director"), Person("Mike Figgis", "composer"),
              Person("John O'Brien", "author"))
FILMS = [FilmRecord(LLV, "Leaving Las Vegas", 1995, imdb_id="tt0113627", people=LLV_PEOPLE),
         FilmRecord(ARIZONA, "Raising Arizona", 1987, imdb_id="tt0093822",
                    people=(Person("Nicolas Cage", "actor"), Person("Joel Coen", "director")))]


def guess(asin: str, title: str, product_format: ProductFormat, relation: Relation,
          people=(), year=None, binding="Blu-ray", film=LLV) -> ProductRecord:
    facts = ProductFacts(title=title, people=tuple(people), year=year, binding=binding,
                         format=product_format)
    return ProductRecord("Amazon", asin, title, product_format, f"https://www.amazon.com/dp/{asin}",
                         "US", films=(ProductLink(film, relation, candidate=True),), facts=facts)


SOUNDTRACK = guess("B000002OUW", "Leaving Las Vegas: Music From The Original Motion Picture Soundtrack",
                   ProductFormat.SOUNDTRACK_CD, Relation.SOUNDTRACK, [Person("Mike Figgis", "composer")],
                   1995, "Audio CD")
SERIES = guess("B000HEWEJ0", "Las Vegas: Season 1", ProductFormat.DVD, Relation.EDITION,
               [Person("James Caan", "actor")], 2004, "DVD")
BOX_SET = guess("B0019X3YXQ", "Nicolas Cage: 5-Film Collection (Leaving Las Vegas / Raising Arizona / "
                "Moonstruck / Adaptation / The Weather Man)", ProductFormat.DVD, Relation.COLLECTION,
                [Person("Nicolas Cage", "actor")], 2008, "DVD")


def store(db, *products, films=FILMS):
    stats = reconcile(db, "amazon", ProviderResult(films=list(films), products=list(products)), 3)
    return candidates.review(db, RULES, stats.films_touched, stats.products_stored)


def links(db) -> dict[tuple[str, str], FilmProduct]:
    with db.session() as session:
        rows = session.exec(select(FilmProduct, Product, Film)
                            .join(Product, Product.id == FilmProduct.product_id)
                            .join(Film, Film.id == FilmProduct.film_id)).all()
    return {(product.merchant_id, film.title): link for link, product, film in rows}


def test_a_match_is_approved_and_a_namesake_rejected_each_with_its_reasons(db, settings):
    stats = store(db, SOUNDTRACK, SERIES)

    found = links(db)
    soundtrack = found[("B000002OUW", "Leaving Las Vegas")]
    series = found[("B000HEWEJ0", "Leaving Las Vegas")]
    assert (soundtrack.status, soundtrack.decided_by) == ("approved", "rules")
    assert soundtrack.match_score >= RULES.soundtrack.auto_approve
    assert any("Mike Figgis" in reason for reason in json.loads(soundtrack.match_reasons))
    assert (series.status, series.decided_by) == ("rejected", "rules")
    assert series.match_score < RULES.edition.reject
    assert (stats.approved, stats.rejected) == (1, 1)
    titles = [card.title for card in related_products(db, "imdb:tt0113627", "US", "en_US", settings).cards]
    assert titles == [SOUNDTRACK.title]


def test_a_box_set_is_linked_to_every_catalog_film_it_names(db):
    store(db, BOX_SET)

    found = links(db)
    assert {title for asin, title in found if asin == "B0019X3YXQ"} == {"Leaving Las Vegas",
                                                                       "Raising Arizona"}
    arizona = found[("B0019X3YXQ", "Raising Arizona")]
    assert arizona.relation == "collection" and arizona.decided_by == "rules"
    assert arizona.status in ("approved", "candidate") and arizona.match_reasons


def test_an_operators_decision_stands_when_the_rules_score_again(db):
    store(db, SERIES)
    series = links(db)[("B000HEWEJ0", "Leaving Las Vegas")]
    curation.set_status(db, [series.id], "approved")

    candidates.review(db, RULES)  # `affiliate products rescore`

    series = links(db)[("B000HEWEJ0", "Leaving Las Vegas")]
    assert (series.status, series.decided_by) == ("approved", "operator")


def test_a_candidate_waiting_for_its_films_credits_is_decided_when_they_arrive(db):
    untitled = [FilmRecord(LLV, "Leaving Las Vegas", 1995, imdb_id="tt0113627")]  # no people yet
    store(db, SOUNDTRACK, films=untitled)
    before = links(db)[("B000002OUW", "Leaving Las Vegas")]

    reconcile(db, "tmdb", ProviderResult(films=FILMS[:1]), 3)  # TMDB's credits
    candidates.review(db, RULES, {before.film_id})

    after = links(db)[("B000002OUW", "Leaving Las Vegas")]
    assert before.status != "approved" and after.status == "approved"
    assert after.match_score > before.match_score


def test_the_rules_score_again_what_they_decided_when_the_rules_change(db):
    store(db, SERIES)
    lenient = MatchingSettings(edition={"auto_approve": 0.5, "reject": 0.0})

    candidates.review(db, lenient)

    series = links(db)[("B000HEWEJ0", "Leaving Las Vegas")]
    # Below nothing's reject line now, but its title marks another work: it waits for review.
    assert (series.status, series.decided_by) == ("candidate", "rules")
