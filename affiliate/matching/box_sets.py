"""Which catalog films a box set contains: "Nicolas Cage: 5-Film Collection" is linked to
each of its five films the catalog holds, each link scored and explained like any match."""
from __future__ import annotations

from typing import Sequence

from affiliate.config import MatchingSettings
from affiliate.matching.facts import CandidateFacts, Decision, FilmFacts, MatchScore
from affiliate.matching.score import relation_of, score_match
from affiliate.matching.titles import clean_title, fold, similarity
from providers.base import Relation


def films_in_collection(candidate: CandidateFacts, films: Sequence[FilmFacts],
                        rules: MatchingSettings) -> list[tuple[FilmFacts, MatchScore]]:
    """The films of `films` the collection contains (approved, or waiting for review), best
    first. A product that is not a collection contains none; a film the collection does not
    name is not scored at all, so a large catalog costs little."""
    if relation_of(candidate, Relation.COLLECTION) is not Relation.COLLECTION:
        return []
    found = []
    for film in films:
        if not _names(candidate, film):
            continue
        namesakes = [other for other in films if other is not film and fold(other.title) == fold(film.title)]
        match = score_match(film, candidate, rules, namesakes=namesakes, searched=Relation.COLLECTION)
        if match.decision is not Decision.REJECT:
            found.append((film, match))
    return sorted(found, key=lambda pair: -pair[1].score)


def _names(candidate: CandidateFacts, film: FilmFacts) -> bool:
    """Whether the collection's list of films, or its title, names the film at all."""
    for title in filter(None, (film.title, film.original_title)):
        if any(similarity(clean_title(item, keep=title), title) >= 90 for item in candidate.contents):
            return True
        if f" {fold(title)} " in f" {fold(candidate.title)} ":
            return True
    return False
