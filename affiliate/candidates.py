"""Candidate product links, scored and decided by the rules (affiliate.matching): what a
source only guessed (an Amazon search hit, an Apple album) is approved, left for review or
rejected by its score against the film, and a box set is linked to every catalog film it
contains.

Refresh calls this after each stored answer for the films it touched; `affiliate products
rescore` does it for the whole catalog (after the rules change). The rules decide only links
waiting for review and the ones they decided themselves: an operator's decision stands, and so
does a link a source made approved. Every change of what a widget shows raises the film's
revision in the same transaction.
"""
from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from sqlalchemy import or_
from sqlmodel import Session, select

from affiliate import revisions
from affiliate.config import MatchingSettings
from affiliate.db import Database
from affiliate.matching import (
    CandidateFacts,
    Decision,
    FilmFacts,
    MatchScore,
    films_in_collection,
    score_match,
)
from affiliate.matching.facts import facts_from_json
from affiliate.matching.score import relation_of
from affiliate.matching.titles import clean_title, fold
from affiliate.models import Film, FilmPerson, FilmProduct, Product
from providers.base import Person, ProductFormat, Relation

RULES = "rules"  # FilmProduct.decided_by of links the rules decided (curation's: "operator")
_STATUS = {Decision.APPROVE: "approved", Decision.REVIEW: "candidate", Decision.REJECT: "rejected"}
_BATCH = 200  # films scored per transaction
_LONGEST_TITLE = 12  # words of a film title looked for in a box set's title


@dataclass
class ReviewStats:
    scored: int = 0
    approved: int = 0
    rejected: int = 0
    waiting: int = 0
    collections_linked: int = 0
    films_changed: set[int] = field(default_factory=set)


def review(db: Database, rules: MatchingSettings, film_ids: Iterable[int] | None = None,
           product_ids: Iterable[int] = ()) -> ReviewStats:
    """Link the collections among `product_ids` to the catalog films they contain, then score
    the undecided links of `film_ids` (every film when None) and of those collections."""
    stats = ReviewStats()
    films = None if film_ids is None else set(film_ids)
    for film_id in _link_collections(db, rules, set(product_ids), stats):
        if films is not None:
            films.add(film_id)
    ids = films if films is not None else _films_with_undecided_links(db)
    ordered = sorted(ids)
    for start in range(0, len(ordered), _BATCH):
        with db.session() as session:
            _score_films(session, rules, ordered[start:start + _BATCH], stats)
    return stats


def _films_with_undecided_links(db: Database) -> set[int]:
    with db.session() as session:
        return set(session.exec(select(FilmProduct.film_id).where(_undecided()).distinct()))


def _undecided():
    return or_(FilmProduct.status == "candidate", FilmProduct.decided_by == RULES)


def _score_films(session: Session, rules: MatchingSettings, film_ids: list[int],
                 stats: ReviewStats) -> None:
    rows = session.exec(
        select(FilmProduct, Product).join(Product, Product.id == FilmProduct.product_id)
        .where(FilmProduct.film_id.in_(film_ids), _undecided())).all()
    if not rows:
        return
    films = film_facts(session, {link.film_id for link, _ in rows})
    namesakes = _namesakes(session, films.values())
    changed = set()
    for link, product in rows:
        film = films[link.film_id]
        others = [other for other in namesakes.get(fold(film.title), ()) if other.ref != film.ref]
        match = score_match(film, product_facts(product), rules, namesakes=others,
                            searched=Relation(link.relation))
        if _apply(link, match):
            changed.add(link.film_id)
        session.add(link)
        stats.scored += 1
        stats.approved += link.status == "approved"
        stats.rejected += link.status == "rejected"
        stats.waiting += link.status == "candidate"
    revisions.bump(session, changed)
    stats.films_changed |= changed


def _apply(link: FilmProduct, match: MatchScore) -> bool:
    """Set the link as the rules decide; True if what the film's widget shows changed."""
    shown_before = link.status == "approved"
    link.status = _STATUS[match.decision]
    link.relation = match.relation.value
    link.match_score = match.score
    link.match_reasons = json.dumps(list(match.reasons))
    link.decided_by = RULES
    return shown_before != (link.status == "approved") or (shown_before and not link.hidden)


def film_facts(session: Session, film_ids: set[int]) -> dict[int, FilmFacts]:
    """The films as matching sees them: title, original title, year and people."""
    people: dict[int, list[Person]] = defaultdict(list)
    for row in session.exec(select(FilmPerson).where(FilmPerson.film_id.in_(film_ids))
                            .order_by(FilmPerson.film_id, FilmPerson.position)):
        people[row.film_id].append(Person(row.name, row.role))
    return {film.id: _facts(film, people[film.id])
            for film in session.exec(select(Film).where(Film.id.in_(film_ids)))}


def _facts(film: Film, people: list[Person]) -> FilmFacts:
    if not people and film.director:  # a film no source has credited yet
        people = [Person(film.director, "director")]
    return FilmFacts(title=film.title, year=film.year, original_title=film.original_title,
                     people=tuple(people), ref=str(film.id))


def product_facts(product: Product) -> CandidateFacts:
    """What the product said about itself; a product no source described (an operator's URL)
    is scored on its title and format alone."""
    if product.facts:
        return facts_from_json(product.facts)
    return CandidateFacts(title=product.title, format=ProductFormat(product.format))


def _namesakes(session: Session, films: Iterable[FilmFacts]) -> dict[str, tuple[FilmFacts, ...]]:
    """Catalog films that share a title with each of `films` (remakes, namesakes), by folded
    title: evidence that fits one of them as well holds approval back."""
    keys = {fold(film.title) for film in films}
    found = session.exec(select(Film.id, Film.title_key).where(Film.title_key.in_(keys))).all()
    facts = film_facts(session, {film_id for film_id, _ in found})
    by_title: dict[str, list[FilmFacts]] = defaultdict(list)
    for film_id, key in found:
        by_title[key].append(facts[film_id])
    return {key: tuple(others) for key, others in by_title.items()}


def _link_collections(db: Database, rules: MatchingSettings, product_ids: set[int],
                      stats: ReviewStats) -> set[int]:
    """Link each box set among the products to every catalog film it contains, as a
    candidate the scoring then decides; returns the films given a new link."""
    if not product_ids:
        return set()
    linked: set[int] = set()
    with db.session() as session:
        products = session.exec(select(Product).where(Product.id.in_(product_ids))).all()
        for product in products:
            facts = product_facts(product)
            if relation_of(facts, Relation.COLLECTION) is not Relation.COLLECTION:
                continue
            named = _films_named(session, facts)
            if not named:
                continue
            existing = set(session.exec(select(FilmProduct.film_id)
                                        .where(FilmProduct.product_id == product.id)))
            for film, _match in films_in_collection(facts, list(named.values()), rules):
                film_id = int(film.ref)
                if film_id in existing:
                    continue
                session.add(FilmProduct(film_id=film_id, product_id=product.id,
                                        relation=Relation.COLLECTION.value, source=product.source,
                                        origin="discovered", status="candidate"))
                linked.add(film_id)
                stats.collections_linked += 1
    return linked


def _films_named(session: Session, facts: CandidateFacts) -> dict[int, FilmFacts]:
    """The catalog films whose titles the box set's contents list or title names: looked up
    by folded title (every run of words of the set's title), so a large catalog costs what
    the set names, not what the catalog holds."""
    words = fold(facts.title).split()
    keys = {fold(clean_title(item)) for item in facts.contents}
    keys |= {" ".join(words[start:end]) for start in range(len(words))
             for end in range(start + 1, min(len(words), start + _LONGEST_TITLE) + 1)}
    ids = set(session.exec(select(Film.id).where(Film.title_key.in_(keys - {""}))))
    return {int(film.ref): film for film in film_facts(session, ids).values()} if ids else {}
