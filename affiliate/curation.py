"""Operators' decisions about which products a film shows: approve or reject a source's
candidates. The CLI calls these now; the console will call the same functions."""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlmodel import select

from affiliate.catalog import find_film
from affiliate.db import Database
from affiliate.models import FilmProduct, Product
from providers.base import FilmKey

STATUSES = ("approved", "candidate", "rejected")


@dataclass(frozen=True)
class LinkRow:
    id: int
    status: str
    relation: str
    position: int | None
    pinned: bool
    hidden: bool
    title: str
    format: str
    merchant: str
    merchant_id: str
    region: str
    price: Decimal | None
    currency: str | None
    source: str


def film_links(db: Database, film_ref: str, status: str | None = None) -> list[LinkRow]:
    """The film's product links, candidates first; LookupError for an unknown film."""
    with db.session() as session:
        film = find_film(session, FilmKey.parse(film_ref))
        if film is None:
            raise LookupError(f"no film matches {film_ref}")
        query = (select(FilmProduct, Product).join(Product, Product.id == FilmProduct.product_id)
                 .where(FilmProduct.film_id == film.id))
        if status is not None:
            query = query.where(FilmProduct.status == status)
        rows = session.exec(query).all()
    rows.sort(key=lambda row: (STATUSES.index(row[0].status) != 1, row[0].relation, row[0].id))
    return [
        LinkRow(link.id, link.status, link.relation, link.position, link.pinned, link.hidden,
                product.title, product.format, product.merchant, product.merchant_id,
                product.region, product.price, product.currency, link.source)
        for link, product in rows
    ]


def set_status(db: Database, link_ids: list[int], status: str) -> int:
    """Approve or reject links; all or nothing, so a mistyped id changes nothing."""
    if status not in STATUSES:
        raise ValueError(f"status must be one of {', '.join(STATUSES)}")
    with db.session() as session:
        links = session.exec(select(FilmProduct).where(FilmProduct.id.in_(link_ids))).all()
        missing = sorted(set(link_ids) - {link.id for link in links})
        if missing:
            raise LookupError(f"no product link with id {', '.join(map(str, missing))}")
        for link in links:
            link.status = status
            session.add(link)
    return len(links)
