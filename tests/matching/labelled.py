"""The labelled set: for each film its facts as TMDB credits give them and the raw answers
its searches got (Amazon Creators API searchItems, iTunes Search albums), every hit labelled
with what an operator would do; plus cast-collection searches labelled with the catalog
films each box set contains. `measure` scores them all as the service would.

Files: films/<key>.json (`film`, `searches[]` of `source`, `request`, `answer`, `labels`:
product id -> "approve:<relation>" or "reject:<why>") and cast_collections.json
(`searches[]` with `contains`: product id -> film keys).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from affiliate.config import MatchingSettings
from affiliate.matching import Decision, FilmFacts, MatchScore, films_in_collection, score_match
from affiliate.matching.facts import ACTOR, COMPOSER, DIRECTOR, SOURCE_AUTHOR, WRITER
from affiliate.matching.titles import fold
from providers.base import Person, ProductFacts, Relation
from providers.product_facts import amazon_item_facts, itunes_album_facts

HERE = Path(__file__).parent
# TMDB crew jobs -> the roles matching compares; cast members billed this high count.
_JOBS = {"Director": DIRECTOR, "Original Music Composer": COMPOSER, "Music": COMPOSER, "Songs": COMPOSER,
         "Screenplay": WRITER, "Writer": WRITER, "Novel": SOURCE_AUTHOR, "Book": SOURCE_AUTHOR,
         "Short Story": SOURCE_AUTHOR, "Story": SOURCE_AUTHOR}
_TOP_BILLED = 10
_SEARCHED = {"MoviesAndTV": Relation.EDITION, "Music": Relation.SOUNDTRACK, "Books": Relation.SOURCE_NOVEL}
_LABEL_RELATIONS = {"edition": Relation.EDITION, "soundtrack": Relation.SOUNDTRACK,
                    "collection": Relation.COLLECTION, "book": Relation.SOURCE_NOVEL,
                    "merchandise": Relation.MERCHANDISE}


@dataclass(frozen=True)
class Hit:
    """One search hit for one film, with the operator's label."""

    film: FilmFacts
    facts: ProductFacts
    source: str
    product_id: str
    searched: Relation
    label: str

    @property
    def approvable(self) -> bool:
        return self.label.startswith("approve:")

    @property
    def relation(self) -> Relation | None:
        return _LABEL_RELATIONS[self.label.split(":")[1]] if self.approvable else None

    @property
    def why_rejected(self) -> str | None:
        return None if self.approvable else self.label.split(":")[1]


@dataclass(frozen=True)
class BoxSet:
    facts: ProductFacts
    product_id: str
    contains: frozenset[str]


def film_facts(raw: dict) -> FilmFacts:
    """A film from TMDB-shaped facts: title, original title, year, credits."""
    credits = raw["credits"]
    people = [Person(member["name"], ACTOR) for member in credits["cast"] if member["order"] < _TOP_BILLED]
    people += [Person(member["name"], _JOBS[member["job"]]) for member in credits["crew"]
               if member["job"] in _JOBS]
    return FilmFacts(title=raw["title"], year=raw["year"], original_title=raw.get("original_title"),
                     people=tuple(dict.fromkeys(people)), ref=raw["key"])


def _answers(search: dict) -> list[tuple[str, ProductFacts]]:
    if search["source"] == "amazon":
        return [(item["asin"], amazon_item_facts(item)) for item in search["answer"]["searchResult"]["items"]]
    return [(str(album["collectionId"]), itunes_album_facts(album)) for album in search["answer"]["results"]]


@cache
def hits() -> tuple[Hit, ...]:
    found = []
    for path in sorted((HERE / "films").glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        film = film_facts(data["film"])
        for search in data["searches"]:
            searched = _SEARCHED.get(search["request"].get("searchIndex"), Relation.SOUNDTRACK)
            for product_id, facts in _answers(search):
                found.append(Hit(film, facts, search["source"], product_id, searched,
                                 search["labels"][product_id]))
    return tuple(found)


@cache
def catalog() -> tuple[FilmFacts, ...]:
    return tuple(dict.fromkeys(hit.film for hit in hits()))


@cache
def box_sets() -> tuple[BoxSet, ...]:
    data = json.loads((HERE / "cast_collections.json").read_text(encoding="utf-8"))
    return tuple(BoxSet(facts, product_id, frozenset(search["contains"][product_id]))
                 for search in data["searches"] for product_id, facts in _answers(search))


def namesakes(film: FilmFacts) -> list[FilmFacts]:
    """The catalog's other films of the same title, as the service would pass them."""
    return [other for other in catalog() if other.ref != film.ref and fold(other.title) == fold(film.title)]


def score(hit: Hit, rules: MatchingSettings) -> MatchScore:
    return score_match(hit.film, hit.facts, rules, namesakes=namesakes(hit.film), searched=hit.searched)


@dataclass
class _Rates:
    """expected: what an operator would link; approved: what was linked unasked; correct:
    approved and expected (with the expected relation)."""

    expected: int = 0
    approved: int = 0
    correct: int = 0

    @property
    def precision(self) -> float:
        return self.correct / self.approved if self.approved else 1.0

    @property
    def recall(self) -> float:
        return self.correct / self.expected if self.expected else 1.0


@dataclass
class Figures(_Rates):
    """Auto-approval of search hits against their labels."""

    review: int = 0
    rejected: int = 0
    wrong: list[tuple[Hit, MatchScore]] = field(default_factory=list)
    missed: list[tuple[Hit, MatchScore]] = field(default_factory=list)
    lost: list[tuple[Hit, MatchScore]] = field(default_factory=list)

    def add(self, hit: Hit, match: MatchScore) -> None:
        self.expected += hit.approvable
        self.review += match.decision is Decision.REVIEW
        self.rejected += match.decision is Decision.REJECT
        if match.decision is Decision.APPROVE:
            self.approved += 1
            if hit.approvable and hit.relation is match.relation:
                self.correct += 1
            else:
                self.wrong.append((hit, match))
        elif hit.approvable:
            self.missed.append((hit, match))
            if match.decision is Decision.REJECT:
                self.lost.append((hit, match))


@dataclass
class BoxSetFigures(_Rates):
    """Links from cast-collection box sets to catalog films."""

    for_review: int = 0
    wrong: list[tuple[BoxSet, str]] = field(default_factory=list)


def measure(rules: MatchingSettings) -> tuple[Figures, dict[str, Figures], BoxSetFigures]:
    """Every hit scored: overall figures, figures per labelled relation or rejection reason,
    and the box-set links."""
    overall, by_label = Figures(), {}
    for hit in hits():
        match = score(hit, rules)
        overall.add(hit, match)
        by_label.setdefault(hit.label, Figures()).add(hit, match)
    boxes = BoxSetFigures()
    for box in box_sets():
        boxes.expected += len(box.contains)
        for film, match in films_in_collection(box.facts, catalog(), rules):
            if match.decision is Decision.REVIEW:
                boxes.for_review += 1
                continue
            boxes.approved += 1
            if film.ref in box.contains:
                boxes.correct += 1
            else:
                boxes.wrong.append((box, film.ref))
    return overall, by_label, boxes
