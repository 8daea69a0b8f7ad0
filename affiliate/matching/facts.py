"""What matching compares: a film's facts, a candidate product's facts (read by its adapter,
`providers.base.ProductFacts`) and the verdict with its reasons."""
from __future__ import annotations

import enum
import json
from dataclasses import asdict, dataclass

from providers.base import Person, ProductFacts, ProductFormat, Relation

# The kinds of credit a film's people carry (TMDB credits: cast, and crew jobs Director,
# Original Music Composer, Screenplay/Writer, Novel/Book/Short Story).
DIRECTOR = "director"
ACTOR = "actor"
COMPOSER = "composer"
WRITER = "writer"
SOURCE_AUTHOR = "author"


class Decision(str, enum.Enum):
    APPROVE = "approve"
    REVIEW = "review"
    REJECT = "reject"


@dataclass(frozen=True)
class FilmFacts:
    """A catalog film as matching sees it. `people`: its director(s), top-billed cast,
    composer(s), screenwriter(s) and the author(s) of its source, each with one of the roles
    above. `ref` is how the caller names the film ("tmdb:451"), handed back as given."""

    title: str
    year: int | None = None
    original_title: str | None = None
    people: tuple[Person, ...] = ()
    ref: str = ""

    def named(self, *roles: str) -> tuple[str, ...]:
        return tuple(person.name for person in self.people if person.role in roles)

    @property
    def label(self) -> str:
        return f"{self.title} ({self.year})" if self.year else self.title


@dataclass(frozen=True)
class MatchScore:
    """How well a product fits a film as `relation`, 0 to 1, what follows from the rules,
    and why, in short texts an operator reads."""

    score: float
    decision: Decision
    relation: Relation
    reasons: tuple[str, ...]


CandidateFacts = ProductFacts


def facts_to_json(facts: ProductFacts) -> str:
    """Plain JSON of what a product said about itself, as the catalog keeps it."""
    data = asdict(facts)
    data["format"] = facts.format.value if facts.format else None
    return json.dumps(data, sort_keys=True)


def facts_from_json(text: str) -> ProductFacts:
    data = json.loads(text)
    return ProductFacts(
        title=data.get("title") or "", people=tuple(Person(**person) for person in data.get("people", ())),
        year=data.get("year"), binding=data.get("binding"),
        format=ProductFormat(data["format"]) if data.get("format") else None,
        formats=tuple(data.get("formats", ())), contents=tuple(data.get("contents", ())),
        category=data.get("category"), compilation=bool(data.get("compilation")))
