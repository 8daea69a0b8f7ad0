"""The catalog as an operator sees it: films found by title or id, every offer of a film with
the source behind it (hidden ones too), and films added by TMDB or IMDb id.

Read-only except `add_film`, which creates only the film row: its offers and products come
from the refresh that follows, through the catalog like any other.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import func
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from affiliate import curation
from affiliate.catalog import film_key, find_film
from affiliate.db import Database
from affiliate.links import shown_url
from affiliate.models import Film, FilmExternalId, FilmProduct, Offer, Platform
from providers.base import FilmKey

SEARCH_LIMIT = 50


@dataclass(frozen=True)
class FilmRow:
    id: int
    ref: str
    title: str  # empty until a source names the film
    year: int | None
    imdb_id: str | None
    tmdb_id: int | None
    visible_offers: int
    product_links: int

    @property
    def label(self) -> str:
        return self.title or f"{self.ref} (title not known yet)"


@dataclass(frozen=True)
class OfferRow:
    id: int
    platform: str
    region: str
    kind: str
    quality: str
    price: Decimal | None
    currency: str | None
    link: str | None  # None: stored, but not an http(s) URL a page may link
    deep_link: bool
    expires_on: dt.date | None
    source: str
    first_seen: dt.datetime
    last_seen: dt.datetime
    last_checked: dt.datetime
    missing_count: int
    hidden: bool


@dataclass(frozen=True)
class FilmDetail:
    film: FilmRow
    runtime_minutes: int | None
    director: str | None
    revision: int
    external_ids: dict[str, str]
    offers: list[OfferRow]  # by region, kind, platform; hidden ones last in each region
    links: list[curation.LinkRow]


def search_films(db: Database, query: str = "", limit: int = SEARCH_LIMIT) -> list[FilmRow]:
    """Films whose title contains `query` (any case), or the one a film reference names;
    every film (up to `limit`) for an empty query."""
    query = query.strip()
    with db.session() as session:
        statement = select(Film)
        key = _as_key(query)
        if key is not None:
            film = find_film(session, key)
            films = [film] if film is not None else []
        else:
            if query:
                statement = statement.where(func.lower(Film.title).contains(query.lower(), autoescape=True))
            films = list(session.exec(statement.order_by(Film.title, Film.id).limit(limit)))
        return _rows(session, films)


def film_detail(db: Database, film_ref: str) -> FilmDetail:
    """Everything stored about one film; ValueError for a malformed reference, LookupError
    for an unknown film."""
    with db.session() as session:
        film = find_film(session, FilmKey.parse(film_ref))
        if film is None:
            raise LookupError(f"no film matches {film_ref}")
        found = session.exec(
            select(Offer, Platform).join(Platform, Platform.id == Offer.platform_id)
            .where(Offer.film_id == film.id)).all()
        external = {row.source: row.external_id for row in session.exec(
            select(FilmExternalId).where(FilmExternalId.film_id == film.id))}
        row = _rows(session, [film])[0]
    offers = sorted((_offer_row(offer, platform) for offer, platform in found),
                    key=lambda o: (o.region, o.hidden, o.kind, o.platform.casefold(), o.quality, o.source))
    return FilmDetail(film=row, runtime_minutes=film.runtime_minutes, director=film.director,
                      revision=film.revision, external_ids=external, offers=offers,
                      links=curation.film_links(db, str(row.id)))


def add_film(db: Database, film_ref: str) -> tuple[FilmRow, bool]:
    """Add a film by `tmdb:<id>` or `imdb:tt…`: (the film, whether it was new). Its title
    stays empty until a source names it (an empty title is what tells TMDB's adapter to ask
    for the details). ValueError for anything but a TMDB or IMDb reference."""
    key = FilmKey.parse(film_ref)
    if key.internal_id is not None:
        raise ValueError("add a film by its TMDB or IMDb id (tmdb:451, imdb:tt0113627); "
                         f"{film_ref} names a film by its internal id")
    try:
        with db.session() as session:
            film = find_film(session, key)
            created = film is None
            if created:
                film = Film(title="", imdb_id=key.imdb_id, tmdb_id=key.tmdb_id)
                session.add(film)
                session.flush()
            row = _rows(session, [film])[0]
    except IntegrityError:  # added by another request between the lookup and the insert
        with db.session() as session:
            row, created = _rows(session, [find_film(session, key)])[0], False
    return row, created


def _as_key(query: str) -> FilmKey | None:
    try:
        return FilmKey.parse(query) if query else None
    except ValueError:
        return None


def _rows(session: Session, films: list[Film]) -> list[FilmRow]:
    ids = [film.id for film in films]
    visible = dict(session.exec(
        select(Offer.film_id, func.count())
        .where(Offer.film_id.in_(ids), Offer.hidden == False)  # noqa: E712  (SQL comparison)
        .group_by(Offer.film_id)).all())
    links = dict(session.exec(
        select(FilmProduct.film_id, func.count()).where(FilmProduct.film_id.in_(ids))
        .group_by(FilmProduct.film_id)).all())
    return [FilmRow(id=film.id, ref=str(film_key(film)), title=film.title, year=film.year,
                    imdb_id=film.imdb_id, tmdb_id=film.tmdb_id,
                    visible_offers=visible.get(film.id, 0), product_links=links.get(film.id, 0))
            for film in films]


def _offer_row(offer: Offer, platform: Platform) -> OfferRow:
    return OfferRow(id=offer.id, platform=platform.name, region=offer.region, kind=offer.kind,
                    quality=offer.quality, price=offer.price, currency=offer.currency,
                    link=shown_url(offer.link), deep_link=offer.deep_link, expires_on=offer.expires_on,
                    source=offer.source, first_seen=offer.first_seen, last_seen=offer.last_seen,
                    last_checked=offer.last_checked, missing_count=offer.missing_count,
                    hidden=offer.hidden)
