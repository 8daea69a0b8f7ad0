"""Reconciles provider results into the database: the only writer of offers and products.

Rules (see shared/DESIGN.md): records are upserted and stamped with their source; only a
complete answer may count an offer or product as missing, and even then it is hidden after
`hide_after_misses` consecutive misses, never deleted. Each film's offers change in one
transaction, so an interrupted refresh leaves every film either as before or as after.
"""
from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Iterable

from sqlalchemy import or_
from sqlmodel import Session, select

from affiliate.db import Database
from affiliate.models import (
    Film,
    FilmExternalId,
    FilmProduct,
    Offer,
    Platform,
    PlatformAlias,
    Product,
)
from affiliate.types import utcnow
from providers.base import (
    FilmKey,
    FilmRecord,
    OfferRecord,
    PlatformRecord,
    Problem,
    ProductLink,
    ProductRecord,
    ProviderResult,
)
from providers.platforms import CANONICAL

_OFFER_FIELDS = ("price", "currency", "link", "deep_link", "expires_on", "available_since")
_PRODUCT_FIELDS = ("title", "format", "image_url", "price", "currency", "availability", "gtin", "link")


@dataclass
class ReconcileStats:
    offers_seen: int = 0
    offers_added: int = 0
    offers_changed: int = 0
    offers_missing: int = 0
    products_seen: int = 0
    products_added: int = 0
    products_changed: int = 0
    products_missing: int = 0
    problems: list[Problem] = field(default_factory=list)


def prepare(db: Database) -> None:
    """Migrate the schema and add any canonical platform the database lacks."""
    db.upgrade()
    with db.session() as session:
        known = set(session.exec(select(Platform.slug)))
        for slug, canonical in CANONICAL.items():
            if slug not in known:
                session.add(Platform(slug=slug, name=canonical.name, homepage=canonical.homepage))


def store_platforms(db: Database, records: Iterable[PlatformRecord]) -> int:
    """Learn platforms from a source's directory: names for new ones, logos, aliases."""
    with db.session() as session:
        return len(set(_upsert_platforms(session, set(records)).values()))


def film_key(film: Film) -> FilmKey:
    """The reference shown for a stored film: its IMDb id, else its TMDB id, else its own."""
    if film.imdb_id:
        return FilmKey(imdb_id=film.imdb_id)
    if film.tmdb_id is not None:
        return FilmKey(tmdb_id=film.tmdb_id)
    return FilmKey(internal_id=film.id)


def find_film(session: Session, key: FilmKey) -> Film | None:
    if key.internal_id is not None:
        return session.get(Film, key.internal_id)
    if key.imdb_id:
        return session.exec(select(Film).where(Film.imdb_id == key.imdb_id)).first()
    return session.exec(select(Film).where(Film.tmdb_id == key.tmdb_id)).first()


def reconcile(db: Database, source: str, result: ProviderResult, hide_after_misses: int,
              now: dt.datetime | None = None) -> ReconcileStats:
    """Store `result` as `source`'s current word; return what changed."""
    now = now or utcnow()
    stats = ReconcileStats(problems=list(result.problems))
    with db.session() as session:
        platform_ids = _upsert_platforms(session, {o.platform for o in result.offers})
        film_ids = _upsert_films(session, result.films, stats.problems)
    film_ids.update(_resolve_keys(db, _referenced_keys(result) - film_ids.keys()))

    offers_by_film: dict[int, list[OfferRecord]] = defaultdict(list)
    for index, offer in enumerate(result.offers):
        film_id = film_ids.get(offer.film)
        if film_id is None:
            stats.problems.append(Problem(f"offer {index}", f"unknown film {offer.film}"))
            continue
        offers_by_film[film_id].append(offer)
    covered = {film_ids[key] for key in result.covered if key in film_ids}
    # A problem with one film (an offer naming an unknown film) does not make the answer
    # for the others less complete: adapters leave films they could not read out of `covered`.
    complete = result.complete

    for film_id in sorted(set(offers_by_film) | (covered if complete else set())):
        with db.session() as session:
            _reconcile_film_offers(session, film_id, source, offers_by_film.get(film_id, []),
                                   platform_ids, film_id in covered and complete,
                                   hide_after_misses, now, stats)

    _reconcile_products(db, source, result.products, film_ids, covered if complete else set(),
                        hide_after_misses, now, stats)
    return stats


def _referenced_keys(result: ProviderResult) -> set[FilmKey]:
    keys = {offer.film for offer in result.offers} | set(result.covered)
    keys |= {link.film for product in result.products for link in product.films}
    return keys


def _resolve_keys(db: Database, keys: Iterable[FilmKey]) -> dict[FilmKey, int]:
    resolved = {}
    with db.session() as session:
        for key in keys:
            film = find_film(session, key)
            if film is not None:
                resolved[key] = film.id
    return resolved


def _upsert_platforms(session: Session, records: set[PlatformRecord]) -> dict[PlatformRecord, int]:
    """Map each record to a platform: by the source's own id (alias), else by slug; a
    platform first seen is created under the source's name and slug."""
    ids = {}
    for record in records:
        platform = _platform_for(session, record)
        # A source that knows no logo or homepage does not erase another source's.
        platform.logo_url = platform.logo_url or record.logo_url
        platform.homepage = platform.homepage or record.homepage
        session.add(platform)
        session.flush()
        if record.namespace and record.external_id:
            _learn_alias(session, platform.id, record)
        ids[record] = platform.id
    return ids


def _platform_for(session: Session, record: PlatformRecord) -> Platform:
    if record.namespace and record.external_id:
        aliased = session.exec(
            select(Platform).join(PlatformAlias, PlatformAlias.platform_id == Platform.id)
            .where(PlatformAlias.namespace == record.namespace,
                   PlatformAlias.external_id == record.external_id)).first()
        if aliased is not None:
            return aliased
    platform = session.exec(select(Platform).where(Platform.slug == record.slug)).first()
    return platform or Platform(slug=record.slug, name=record.name)


def _learn_alias(session: Session, platform_id: int, record: PlatformRecord) -> None:
    exists = session.exec(select(PlatformAlias.id).where(
        PlatformAlias.namespace == record.namespace,
        PlatformAlias.external_id == record.external_id)).first()
    if exists is None:
        session.add(PlatformAlias(platform_id=platform_id, namespace=record.namespace,
                                  external_id=record.external_id))


def _upsert_films(session: Session, records: list[FilmRecord],
                  problems: list[Problem]) -> dict[FilmKey, int]:
    ids: dict[FilmKey, int] = {}
    for record in records:
        film = _find_film_for_record(session, record)
        if film is None:
            film = Film(title=record.title or str(record.key))
        film.title = record.title or film.title
        for attr in ("year", "imdb_id", "tmdb_id", "runtime_minutes", "director"):
            value = getattr(record, attr)
            if value is not None:
                setattr(film, attr, value)
        session.add(film)
        session.flush()
        for id_source, external_id in record.external_ids.items():
            _upsert_external_id(session, film.id, id_source, external_id, problems)
        ids[record.key] = film.id
    return ids


def _find_film_for_record(session: Session, record: FilmRecord) -> Film | None:
    conditions = []
    if record.imdb_id:
        conditions.append(Film.imdb_id == record.imdb_id)
    if record.tmdb_id is not None:
        conditions.append(Film.tmdb_id == record.tmdb_id)
    if not conditions:
        return find_film(session, record.key)
    return session.exec(select(Film).where(or_(*conditions))).first()


def _upsert_external_id(session: Session, film_id: int, source: str, external_id: str,
                        problems: list[Problem]) -> None:
    holder = session.exec(select(FilmExternalId.film_id).where(
        FilmExternalId.source == source, FilmExternalId.external_id == external_id)).first()
    if holder is not None and holder != film_id:
        # Two films matched to one source id: keep the first, let an operator decide.
        problems.append(Problem(f"film {film_id}",
                                f"{source} id {external_id} already belongs to film {holder}"))
        return
    row = session.exec(
        select(FilmExternalId).where(FilmExternalId.film_id == film_id,
                                     FilmExternalId.source == source)
    ).first()
    if row is None:
        row = FilmExternalId(film_id=film_id, source=source, external_id=external_id)
    row.external_id = external_id
    session.add(row)


def _reconcile_film_offers(session: Session, film_id: int, source: str,
                           records: list[OfferRecord], platform_ids: dict[str, int],
                           may_mark_missing: bool, hide_after_misses: int,
                           now: dt.datetime, stats: ReconcileStats) -> None:
    stored = {
        (o.platform_id, o.region, o.kind, o.quality): o
        for o in session.exec(select(Offer).where(Offer.film_id == film_id, Offer.source == source))
    }
    seen = set()
    for record in records:
        key = (platform_ids[record.platform], record.region, record.kind.value,
               record.quality.value)
        if key in seen:
            continue
        seen.add(key)
        stats.offers_seen += 1
        offer = stored.get(key)
        values = {attr: getattr(record, attr) for attr in _OFFER_FIELDS}
        if offer is None:
            stats.offers_added += 1
            offer = Offer(film_id=film_id, platform_id=key[0], region=key[1], kind=key[2],
                          quality=key[3], source=source, first_seen=now, **values)
        elif _apply(offer, values) or offer.hidden:
            stats.offers_changed += 1
        _mark_seen(session, offer, now)
    if not may_mark_missing:
        return
    for key, offer in stored.items():
        if key not in seen and not offer.hidden:
            _mark_missing(session, offer, now, hide_after_misses)
            stats.offers_missing += 1


def _mark_seen(session: Session, row: Offer | Product, now: dt.datetime) -> None:
    row.last_seen = row.last_checked = now
    row.missing_count = 0
    row.hidden = False
    session.add(row)


def _mark_missing(session: Session, row: Offer | Product, now: dt.datetime,
                  hide_after_misses: int) -> None:
    """One more complete answer without this row; hidden (kept as history) at the limit."""
    row.missing_count += 1
    row.last_checked = now
    row.hidden = row.missing_count >= hide_after_misses
    session.add(row)


def _apply(row, values: dict) -> bool:
    changed = False
    for attr, value in values.items():
        if getattr(row, attr) != value:
            setattr(row, attr, value)
            changed = True
    return changed


def _reconcile_products(db: Database, source: str, records: list[ProductRecord],
                        film_ids: dict[FilmKey, int], covered: set[int], hide_after_misses: int,
                        now: dt.datetime, stats: ReconcileStats) -> None:
    seen_ids: set[int] = set()
    for record in records:
        links = [(film_ids.get(link.film), link) for link in record.films]
        unknown = [str(link.film) for film_id, link in links if film_id is None]
        if unknown:
            stats.problems.append(
                Problem(f"product {record.merchant_id}", f"unknown film {', '.join(unknown)}"))
        with db.session() as session:
            product = _upsert_product(session, source, record, now, stats)
            seen_ids.add(product.id)
            for film_id, link in links:
                if film_id is not None:
                    _upsert_film_product(session, film_id, product.id, link, source)
    if covered:
        _mark_missing_products(db, source, covered, seen_ids, hide_after_misses, now, stats)


def _upsert_product(session: Session, source: str, record: ProductRecord, now: dt.datetime,
                    stats: ReconcileStats) -> Product:
    stats.products_seen += 1
    product = session.exec(select(Product).where(
        Product.merchant == record.merchant, Product.merchant_id == record.merchant_id,
        Product.region == record.region)).first()
    values = {attr: getattr(record, attr) for attr in _PRODUCT_FIELDS}
    values["format"] = record.format.value
    values["availability"] = record.availability.value
    if product is not None and record.link_only:
        values = {"link": record.link, "price": None, "currency": None, "image_url": None}
    if product is None:
        stats.products_added += 1
        product = Product(merchant=record.merchant, merchant_id=record.merchant_id,
                          region=record.region, source=source, first_seen=now, **values)
    elif _apply(product, values) or product.hidden or product.source != source:
        stats.products_changed += 1
    product.source = source
    _mark_seen(session, product, now)
    session.flush()
    return product


def _upsert_film_product(session: Session, film_id: int, product_id: int, link: ProductLink,
                         source: str) -> None:
    """Create the link, or let a curated source update its place; a guessing source never
    moves or re-approves a link that exists, and an operator's pin fixes the position."""
    row = session.exec(select(FilmProduct).where(
        FilmProduct.film_id == film_id, FilmProduct.product_id == product_id)).first()
    if row is None:
        row = FilmProduct(film_id=film_id, product_id=product_id, relation=link.relation.value,
                          position=link.position, source=source,
                          origin="curated" if link.curated else "discovered",
                          status="candidate" if link.candidate else "approved")
    elif link.curated and not row.pinned:
        row.position = link.position
        row.relation = link.relation.value
    session.add(row)


def _mark_missing_products(db: Database, source: str, covered: set[int], seen_ids: set[int],
                           hide_after_misses: int, now: dt.datetime, stats: ReconcileStats) -> None:
    with db.session() as session:
        query = (select(Product).join(FilmProduct, FilmProduct.product_id == Product.id)
                 .where(Product.source == source, FilmProduct.film_id.in_(covered),
                        Product.hidden == False)  # noqa: E712  (SQL comparison)
                 .distinct())
        for product in session.exec(query):
            if product.id not in seen_ids:
                _mark_missing(session, product, now, hide_after_misses)
                stats.products_missing += 1
