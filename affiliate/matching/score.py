"""A candidate product scored against one film: title, year, people, format, and the signs
of another work (a namesake, remake, sequel or TV series), each kept as a reason.

Points add up to a score from 0 to 1; the relation's rule (config `[matching]`) turns it
into approve, review or reject. Some findings hold approval back whatever the score and the
rule: a title that only resembles the film's, a year, director, cast, composer or author
that belongs to another work, a sequel number, a missing title or binding, or evidence that
fits a same-titled film of the catalog better. A namesake or remake therefore waits for an
operator at best.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

from affiliate.config import MatchingSettings
from affiliate.matching.facts import (
    ACTOR,
    COMPOSER,
    DIRECTOR,
    SOURCE_AUTHOR,
    WRITER,
    CandidateFacts,
    Decision,
    FilmFacts,
    MatchScore,
)
from affiliate.matching.titles import (
    clean_title,
    fold,
    numbers_in,
    other_work_mark,
    remainder,
    same_person,
    says_collection,
    says_companion,
    says_soundtrack,
    sequel_mark,
    similarity,
    years_in,
)
from providers.base import ProductFormat, Relation

_VIDEO = {ProductFormat.BLU_RAY, ProductFormat.DVD, ProductFormat.UHD_BLU_RAY, ProductFormat.COLLECTION}
_MUSIC = {ProductFormat.SOUNDTRACK_CD, ProductFormat.VINYL, ProductFormat.DIGITAL_ALBUM}
# Credits on a music product that are the album's own performers, not the score's makers:
# a conductor or an orchestra re-recording a score is expected, another artist is not.
_PERFORMING = {"artist", "performer"}
_AUTHORING = {"author", "writer"}
# A title this alike (rapidfuzz ratio) may be approved; below it the product only resembles.
_SAME_TITLE = 90
_MATCHING_TITLE = 95
_TITLE_WEIGHT = 0.45


@dataclass
class _Tally:
    points: float = 0.0
    reasons: list[str] = field(default_factory=list)
    held_back: bool = False

    def add(self, points: float, reason: str, hold: bool = False) -> None:
        self.points += points
        self.reasons.append(reason)
        self.held_back = self.held_back or hold


def relation_of(candidate: CandidateFacts, searched: Relation | None = None) -> Relation:
    """How the product would relate to a film, from its format and title; `searched` (what
    the search that found it looked for) decides only when the format is unknown."""
    product_format = candidate.format
    folded = fold(" ".join((candidate.title, *candidate.formats)))
    could_be_video = product_format in _VIDEO or (
        product_format is None and searched in (None, Relation.EDITION, Relation.COLLECTION))
    if could_be_video and (len(candidate.contents) > 1 or says_collection(folded)
                           or product_format is ProductFormat.COLLECTION):
        return Relation.COLLECTION
    if product_format in _VIDEO:
        return Relation.EDITION
    if product_format in _MUSIC:
        return Relation.SOUNDTRACK
    if product_format is ProductFormat.BOOK:
        return Relation.MERCHANDISE if says_companion(fold(candidate.title)) else Relation.SOURCE_NOVEL
    if product_format is ProductFormat.MERCHANDISE:
        return Relation.MERCHANDISE
    if searched is not None:
        return searched
    return Relation.SOUNDTRACK if says_soundtrack(folded) else Relation.EDITION


def score_match(film: FilmFacts, candidate: CandidateFacts, rules: MatchingSettings, *,
                namesakes: Iterable[FilmFacts] = (), searched: Relation | None = None) -> MatchScore:
    """The candidate scored as `film`'s product. `namesakes`: the catalog's other films of
    the same or a similar title, so evidence that fits one of them better holds approval
    back."""
    relation = relation_of(candidate, searched)
    tally = _Tally()
    if relation is Relation.COLLECTION:
        _listed(tally, film, candidate)
    else:
        _title(tally, film, candidate, relation)
    _format(tally, candidate, relation)
    own_fit = _fit(tally, film, candidate, relation)
    for other in namesakes:
        if other is film:
            continue
        fit = _fit(_Tally(), other, candidate, relation)
        # A source novel is shared by a film and its remake; anything else that fits both
        # as well cannot be told apart by its facts.
        if fit > own_fit + 0.05 or (relation is not Relation.SOURCE_NOVEL and fit > 0 and fit >= own_fit):
            tally.add(0, f"fits {other.label} {'better' if fit > own_fit else 'as well'}", hold=True)
    return _verdict(tally, relation, rules)


def _verdict(tally: _Tally, relation: Relation, rules: MatchingSettings) -> MatchScore:
    score = round(min(1.0, max(0.0, tally.points)), 3)
    rule = rules.rule(relation)
    if score >= rule.auto_approve and not tally.held_back:
        decision = Decision.APPROVE
    elif score < rule.reject:
        decision = Decision.REJECT
    else:
        decision = Decision.REVIEW
    return MatchScore(score=score, decision=decision, relation=relation, reasons=tuple(tally.reasons))


def _fit(tally: _Tally, film: FilmFacts, candidate: CandidateFacts, relation: Relation) -> float:
    """The year and people evidence, added to the tally; its points alone are returned so a
    namesake can be weighed against the film."""
    before = tally.points
    _years(tally, film, candidate, relation)
    _people(tally, film, candidate, relation)
    return tally.points - before


def _titles(film: FilmFacts) -> list[str]:
    return list(dict.fromkeys(title for title in (film.title, film.original_title) if title))


def _title(tally: _Tally, film: FilmFacts, candidate: CandidateFacts, relation: Relation) -> None:
    if not candidate.title.strip():
        tally.add(0, "no title", hold=True)
        return
    ratio, title = max(((similarity(clean_title(candidate.title, keep=title), title), title)
                        for title in _titles(film)), default=(0.0, film.title))
    cleaned = clean_title(candidate.title, keep=title)
    main = candidate.title.split(":")[0]
    if relation is Relation.SOURCE_NOVEL and ratio < _SAME_TITLE and main != candidate.title:
        # Books add subtitles of their own: "Fear and Loathing in Las Vegas: A Savage Journey
        # to the Heart of the American Dream". Its author decides whether it is the source.
        main_ratio = similarity(clean_title(main, keep=title), title)
        if main_ratio >= _MATCHING_TITLE:
            tally.add(_TITLE_WEIGHT * main_ratio / 100,
                      f"title before the subtitle matches '{title}' ({main_ratio:.0f})")
            _other_work(tally, candidate.title, clean_title(main, keep=title), title)
            return
    if ratio >= _MATCHING_TITLE:
        tally.add(_TITLE_WEIGHT * ratio / 100, f"title matches '{title}' ({ratio:.0f})")
    elif ratio >= _SAME_TITLE:
        tally.add(_TITLE_WEIGHT * ratio / 100, f"title close to '{title}' ({ratio:.0f})")
    elif relation is Relation.MERCHANDISE and fold(title) and f" {fold(title)} " in f" {cleaned} ":
        # "The Art of Up": merchandise names the film within its own title.
        tally.add(_TITLE_WEIGHT * 0.9, f"title names '{title}'")
    else:
        tally.add(_TITLE_WEIGHT * ratio / 100 - 0.15, f"title differs from '{title}' ({ratio:.0f})",
                  hold=True)
    _other_work(tally, candidate.title, cleaned, title)


def _other_work(tally: _Tally, raw_title: str, cleaned: str, film_title: str) -> None:
    """Sequel numbers, other numbers, "remake", "season": the product is not this film."""
    rest = remainder(cleaned, film_title)
    mark = sequel_mark(rest) if rest != cleaned else None
    if mark:
        tally.add(-0.5, f"sequel number '{mark}' in the title", hold=True)
    else:
        extra = sorted(numbers_in(cleaned) - numbers_in(fold(film_title)))
        if extra:
            tally.add(-0.5, f"another number '{extra[0]}' in the title", hold=True)
    other = other_work_mark(fold(raw_title))
    if other and other not in fold(film_title):
        tally.add(-0.5, f"'{other}' in the title: another work", hold=True)


def _listed(tally: _Tally, film: FilmFacts, candidate: CandidateFacts) -> None:
    """A collection names its films in a contents list (or, failing one, in its title)."""
    listed = [item for title in _titles(film) for item in candidate.contents
              if similarity(clean_title(item, keep=title), title) >= _MATCHING_TITLE]
    if listed:
        # "Scarface (1932) / Scarface (1983)": the entry with the film's year, if any.
        item = max(listed, key=lambda entry: any(abs(year - (film.year or 0)) <= 1
                                                 for year in years_in(entry)))
        tally.add(_TITLE_WEIGHT, f"lists '{item}'")
        _item_year(tally, film, item)
        return
    wanted = film.title
    if candidate.contents:
        tally.add(-0.3, f"its list of films does not include '{wanted}'", hold=True)
    elif any(f" {fold(title)} " in f" {fold(candidate.title)} " for title in _titles(film)):
        tally.add(_TITLE_WEIGHT / 2, f"title names '{wanted}' but lists no contents", hold=True)
    else:
        tally.add(0, "lists no contents", hold=True)


def _item_year(tally: _Tally, film: FilmFacts, item: str) -> None:
    years = years_in(item)
    if film.year and years:
        if any(abs(year - film.year) <= 1 for year in years):
            tally.add(0.1, f"listed with the film's year {film.year}")
        else:
            tally.add(-0.4, f"listed with year {years[0]}, not the film's {film.year}", hold=True)


def _format(tally: _Tally, candidate: CandidateFacts, relation: Relation) -> None:
    if candidate.format is None:
        tally.add(-0.1, "no binding: format unknown", hold=True)
    else:
        tally.add(0.05, f"format {candidate.binding or candidate.format.value}")
    if relation is Relation.SOUNDTRACK:
        folded = fold(candidate.title)
        if says_soundtrack(folded) or fold(candidate.category or "") == "soundtrack":
            tally.add(0.1, "marked as a soundtrack")
        else:
            tally.add(-0.2, "not marked as a soundtrack")


def _years(tally: _Tally, film: FilmFacts, candidate: CandidateFacts, relation: Relation) -> None:
    if not film.year:
        return
    if relation is not Relation.COLLECTION:
        own = set(years_in(fold(film.title)))
        stated = [year for year in years_in(fold(candidate.title)) if year not in own]
        if stated and any(abs(year - film.year) <= 1 for year in stated):
            tally.add(0.15, f"year {film.year} in the title")
        elif stated:
            tally.add(-0.4, f"year {stated[0]} in the title, not the film's {film.year}", hold=True)
    year = candidate.year
    if year is None or relation is Relation.SOURCE_NOVEL:
        return
    # An edition may carry a date a year off the film's (TMDB's year is the first release
    # anywhere); a score album does not come out before its film.
    earliest = film.year if relation is Relation.SOUNDTRACK else film.year - 1
    if year < earliest:
        tally.add(-0.4, f"released {year}, before the film ({film.year})", hold=True)
    elif relation is Relation.SOUNDTRACK and year <= film.year + 1:
        tally.add(0.15, f"album from {year}, with the film")
    elif relation is Relation.SOUNDTRACK:
        tally.add(-0.1, f"album from {year}, {year - film.year} years after the film")
    elif relation is Relation.MERCHANDISE and year <= film.year + 1:
        tally.add(0.1, f"released {year}, with the film")


def _people(tally: _Tally, film: FilmFacts, candidate: CandidateFacts, relation: Relation) -> None:
    if relation is Relation.EDITION:
        _cast_and_director(tally, film, candidate)
    elif relation is Relation.SOUNDTRACK:
        _composer(tally, film, candidate)
    elif relation is Relation.SOURCE_NOVEL:
        _author(tally, film, candidate)
    else:
        _anyone(tally, film, candidate, relation)


def _matching(names: Iterable[str], film_names: Iterable[str]) -> list[str]:
    film_names = list(film_names)
    return [name for name in names if any(same_person(name, other) for other in film_names)]


def _listing(names: Iterable[str], most: int = 3) -> str:
    names = list(dict.fromkeys(names))
    shown = ", ".join(names[:most])
    return shown + (f" and {len(names) - most} more" if len(names) > most else "")


def _cast_and_director(tally: _Tally, film: FilmFacts, candidate: CandidateFacts) -> None:
    directors = [person.name for person in candidate.people if person.role == DIRECTOR]
    actors = [person.name for person in candidate.people if person.role == ACTOR]
    film_directors = film.named(DIRECTOR)
    if directors and film_directors:
        matched = _matching(directors, film_directors)
        if matched:
            tally.add(0.25, f"director {_listing(matched)} matches")
        else:
            tally.add(-0.5, f"director {_listing(directors)} not the film's {_listing(film_directors)}",
                      hold=True)
    cast = film.named(ACTOR, DIRECTOR)
    if actors and cast:
        matched = _matching(actors, cast)
        others = [name for name in actors if name not in matched]
        # Most of the listed cast must be the film's: a remake may share two stars (Cape
        # Fear's Gregory Peck and Robert Mitchum), not its whole billing.
        most = len(matched) >= 2 and len(matched) >= 0.75 * len(actors)
        if matched:
            points = (0.4 if most else 0.3 if len(matched) >= 2 else 0.2) + 0.05 * len(matched) / len(actors)
            tally.add(points, f"{'actors' if len(matched) > 1 else 'actor'} {_listing(matched)} in the "
                              f"film's cast" + (f"; not {_listing(others)}" if others else ""))
        else:
            tally.add(-0.4, f"none of the actors ({_listing(actors)}) is in the film's cast", hold=True)
    if not directors and not actors:
        tally.add(0, "no cast or director listed")


def _composer(tally: _Tally, film: FilmFacts, candidate: CandidateFacts) -> None:
    composers = film.named(COMPOSER)
    names = [person.name for person in candidate.people]
    if candidate.compilation and candidate.year is not None and abs(candidate.year - (film.year or 0)) <= 1:
        # Songs by many artists: nobody to compare, but an album of the film's title, marked
        # as its soundtrack and out with it is the film's.
        tally.add(0.1, "compilation released with the film")
        return
    if candidate.compilation or not names:
        tally.add(0, "compilation: no composer credited" if candidate.compilation else "no artist listed")
        return
    if not composers:
        return
    matched = _matching(names, composers)
    if not matched:
        tally.add(-0.3, f"artist {_listing(names)} is not the film's composer ({_listing(composers)})",
                  hold=True)
        return
    tally.add(0.35, f"composer {_listing(matched)} matches")
    others = [person.name for person in candidate.people
              if person.role in _PERFORMING and person.name not in matched]
    if others:
        tally.add(-0.1, f"also credits {_listing(others)}")


def _author(tally: _Tally, film: FilmFacts, candidate: CandidateFacts) -> None:
    authors = [person.name for person in candidate.people if person.role in _AUTHORING]
    if not authors:
        tally.add(0, "no author listed", hold=True)
        return
    sources, writers = film.named(SOURCE_AUTHOR), film.named(WRITER, DIRECTOR)
    if not sources and not writers:
        return
    wrote_source, wrote_film = _matching(authors, sources), _matching(authors, writers)
    if wrote_source:
        tally.add(0.4, f"author {_listing(wrote_source)} wrote the source")
    elif wrote_film:
        tally.add(0.3, f"author {_listing(wrote_film)} wrote the film")
    else:
        tally.add(-0.4, f"author {_listing(authors)} is not the film's writer or source author",
                  hold=True)


def _anyone(tally: _Tally, film: FilmFacts, candidate: CandidateFacts, relation: Relation) -> None:
    """Collections and merchandise: anyone credited on the product who worked on the film."""
    names = [person.name for person in candidate.people]
    film_names = [person.name for person in film.people]
    matched = _matching(names, film_names)
    if matched:
        tally.add(0.35 if relation is Relation.COLLECTION else 0.2,
                  f"{_listing(matched)} in the film's credits")
    elif names and film_names and relation is Relation.COLLECTION:
        tally.add(-0.4, f"none of its people ({_listing(names)}) worked on the film", hold=True)
