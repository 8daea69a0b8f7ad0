"""The review queue: candidate product links across every film, with their match scores and
reasons, filtered as an operator narrows them (relation, merchant, score range, film) and
decided many at once. The console, the admin API and `affiliate products review` read and
decide through here; deciding goes through affiliate.curation, so the film's revision rises
and the rules never change the decision again."""
from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from decimal import Decimal

from sqlalchemy import func
from sqlmodel import Session, select

from affiliate import curation
from affiliate.catalog import film_key, find_film
from affiliate.db import Database
from affiliate.links import shown_url
from affiliate.models import Film, FilmProduct, Product
from providers.base import FilmKey, Relation

MAX_PAGE = 500


@dataclass(frozen=True)
class ReviewFilter:
    """What to list; None leaves a criterion open. Scores run from 0 to 1."""

    relation: str | None = None
    merchant: str | None = None
    min_score: float | None = None
    max_score: float | None = None
    film: str | None = None  # a film reference: 17, tmdb:451, imdb:tt0113627
    status: str = "candidate"
    limit: int = 100
    offset: int = 0

    def __post_init__(self) -> None:
        if self.relation is not None and self.relation not in {r.value for r in Relation}:
            raise ValueError(f"relation: {self.relation!r} is not one of "
                             f"{', '.join(r.value for r in Relation)}")
        if self.status not in curation.STATUSES:
            raise ValueError(f"status: {self.status!r} is not one of {', '.join(curation.STATUSES)}")
        for name in ("min_score", "max_score"):
            value = getattr(self, name)
            if value is not None and not 0 <= value <= 1:
                raise ValueError(f"{name}: {value} is not between 0 and 1")
        if self.min_score is not None and self.max_score is not None and self.min_score > self.max_score:
            raise ValueError("min_score: higher than max_score")
        if not 1 <= self.limit <= MAX_PAGE:
            raise ValueError(f"limit: between 1 and {MAX_PAGE}")
        if self.offset < 0:
            raise ValueError("offset: 0 or more")
        if self.film is not None:
            FilmKey.parse(self.film)


FILTER_FIELDS = ("relation", "merchant", "min_score", "max_score", "film", "status", "limit", "offset")


def parse_filter(args: Mapping[str, str], default_limit: int = 100) -> ReviewFilter:
    """A filter from a query string or form (console, admin API): empty values leave a criterion
    open; ValueError names the field and what it takes."""
    def text(name: str) -> str | None:
        value = (args.get(name) or "").strip()
        if "\x00" in value:
            raise ValueError(f"{name}: contains a NUL character")
        return value or None

    def number(name: str, kind: type) -> float | int | None:
        value = text(name)
        if value is None:
            return None
        try:
            parsed = kind(value)
        except ValueError:
            raise ValueError(f"{name}: {value!r} is not {'a number' if kind is float else 'a whole number'}") from None
        if kind is float and not math.isfinite(parsed):
            raise ValueError(f"{name}: {value!r} is not a number between 0 and 1")
        return parsed

    limit = number("limit", int)
    return ReviewFilter(relation=text("relation"), merchant=text("merchant"),
                        min_score=number("min_score", float), max_score=number("max_score", float),
                        film=text("film"), status=text("status") or "candidate",
                        limit=default_limit if limit is None else limit,
                        offset=number("offset", int) or 0)


def filter_args(chosen: ReviewFilter) -> dict[str, str]:
    """The filter as query arguments (criteria left open are left out), to link back to it."""
    values = {field.name: getattr(chosen, field.name) for field in fields(chosen)}
    return {name: str(value) for name, value in values.items()
            if value is not None and name not in ("limit", "offset")
            and not (name == "status" and value == "candidate")}


@dataclass(frozen=True)
class Candidate:
    link_id: int
    status: str
    relation: str
    score: float | None
    reasons: tuple[str, ...]
    film_ref: str
    film_title: str
    film_year: int | None
    product_title: str
    product_format: str
    merchant: str
    merchant_id: str
    region: str
    price: Decimal | None
    currency: str | None
    image_url: str | None
    link: str | None  # None: stored, but not an http(s) URL a page may link


@dataclass(frozen=True)
class Page:
    candidates: tuple[Candidate, ...]
    total: int


def listing(db: Database, chosen: ReviewFilter) -> Page:
    """The links the filter chooses, best score first (unscored last), and how many there are
    in all. LookupError for a film the catalog lacks."""
    with db.session() as session:
        query = _query(session, chosen)
        total = session.exec(select(func.count()).select_from(query.subquery())).one()
        rows = session.exec(query.order_by(FilmProduct.match_score.desc().nulls_last(),
                                           FilmProduct.id)
                            .offset(chosen.offset).limit(chosen.limit)).all()
    return Page(tuple(_candidate(link, product, film) for link, product, film in rows), total)


def merchants(db: Database, status: str = "candidate") -> list[str]:
    """The merchants of links in this status, for a filter's choices."""
    with db.session() as session:
        return sorted(session.exec(select(Product.merchant).distinct()
                                   .join(FilmProduct, FilmProduct.product_id == Product.id)
                                   .where(FilmProduct.status == status)).all(), key=str.casefold)


def decide(db: Database, link_ids: list[int], status: str) -> int:
    """Approve or reject these links at once (all or nothing, as curation.set_status)."""
    if status not in ("approved", "rejected"):
        raise ValueError("status: approved or rejected")
    return curation.set_status(db, link_ids, status)


def decide_matching(db: Database, chosen: ReviewFilter, status: str) -> int:
    """Approve or reject every link the filter chooses (not just one page)."""
    ids: list[int] = []
    offset = 0
    while True:
        page = listing(db, ReviewFilter(**{**chosen.__dict__, "limit": MAX_PAGE, "offset": offset}))
        ids += [candidate.link_id for candidate in page.candidates]
        offset += MAX_PAGE
        if offset >= page.total:
            break
    return decide(db, ids, status) if ids else 0


def _query(session: Session, chosen: ReviewFilter):
    query = (select(FilmProduct, Product, Film)
             .join(Product, Product.id == FilmProduct.product_id)
             .join(Film, Film.id == FilmProduct.film_id)
             .where(FilmProduct.status == chosen.status))
    if chosen.relation is not None:
        query = query.where(FilmProduct.relation == chosen.relation)
    if chosen.merchant is not None:
        query = query.where(func.lower(Product.merchant) == chosen.merchant.lower())
    if chosen.min_score is not None:
        query = query.where(FilmProduct.match_score >= chosen.min_score)
    if chosen.max_score is not None:
        query = query.where(FilmProduct.match_score <= chosen.max_score)
    if chosen.film is not None:
        film = find_film(session, FilmKey.parse(chosen.film))
        if film is None:
            raise LookupError(f"no film matches {chosen.film}")
        query = query.where(FilmProduct.film_id == film.id)
    return query


def _candidate(link: FilmProduct, product: Product, film: Film) -> Candidate:
    return Candidate(
        link_id=link.id, status=link.status, relation=link.relation, score=link.match_score,
        reasons=tuple(json.loads(link.match_reasons)) if link.match_reasons else (),
        film_ref=str(film_key(film)), film_title=film.title, film_year=film.year,
        product_title=product.title, product_format=product.format, merchant=product.merchant,
        merchant_id=product.merchant_id, region=product.region, price=product.price,
        currency=product.currency, image_url=shown_url(product.image_url),
        link=shown_url(product.link))
