"""Operators' decisions about which products a film shows: approve or reject a source's
candidates, link a product by ASIN, GTIN or URL, order, pin and hide links. The CLI and the
admin console call these same functions.

Every change raises the film's revision in the same transaction, so a cached widget is
rendered again with the change. Operators' choices outrank sources': a pinned link keeps
its place whatever a curated feed says, and nothing here deletes a product or a link.
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from decimal import Decimal
from urllib.parse import urlsplit

from sqlalchemy import func
from sqlmodel import Session, select

from affiliate import revisions
from affiliate.catalog import find_film
from affiliate.config import Settings
from affiliate.db import Database
from affiliate.links import shown_url
from affiliate.models import Film, FilmProduct, Product
from affiliate.sources import product_reference
from affiliate.widgets import card_order as widget_order
from providers.base import FilmKey, ProductFormat, ProductReference, Relation
from providers.fields import http_url

STATUSES = ("approved", "candidate", "rejected")
# The source stamped on products and links an operator adds by hand; no provider has it, so
# no provider's complete answer ever counts them missing.
OPERATOR = "operator"
# Who decided a link's status (FilmProduct.decided_by): the rules never change an operator's.
OPERATOR_DECISION = "operator"
_GTIN_LENGTHS = (8, 12, 13, 14)


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
    origin: str = "discovered"
    link: str | None = ""  # None: stored, but not an http(s) URL a page may link
    gtin: str | None = None
    product_source: str = ""
    product_hidden: bool = False
    image_url: str | None = None
    score: float | None = None
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True)
class ProductRef:
    """What an operator names a product by: exactly one of an ASIN, a GTIN or a URL.

    `title` and `format` describe a product the catalog does not hold yet (a URL of another
    shop, an ASIN before Amazon's refresh fills it in)."""

    asin: str | None = None
    gtin: str | None = None
    url: str | None = None
    title: str | None = None
    format: str | None = None


def film_links(db: Database, film_ref: str, status: str | None = None) -> list[LinkRow]:
    """The film's product links, candidates first, then in the order the widget shows them;
    LookupError for an unknown film."""
    with db.session() as session:
        film = _film(session, film_ref)
        query = (select(FilmProduct, Product).join(Product, Product.id == FilmProduct.product_id)
                 .where(FilmProduct.film_id == film.id))
        if status is not None:
            query = query.where(FilmProduct.status == status)
        rows = session.exec(query).all()
    rows.sort(key=lambda row: (row[0].status != "candidate", widget_order(*row)))
    return [_row(link, product) for link, product in rows]


def set_status(db: Database, link_ids: list[int], status: str) -> int:
    """Approve or reject links; all or nothing, so a mistyped id changes nothing."""
    if status not in STATUSES:
        raise ValueError(f"status must be one of {', '.join(STATUSES)}")
    with db.session() as session:
        links = _links(session, link_ids)
        for link in links:
            link.status, link.decided_by = status, OPERATOR_DECISION
            session.add(link)
        revisions.bump(session, [link.film_id for link in links])
    return len(links)


def set_pinned(db: Database, link_ids: list[int], pinned: bool) -> int:
    """Pin links (shown first, in their order, and never moved by a source) or unpin them
    (back to the widget's order by relation); a newly pinned link goes after the pinned ones."""
    with db.session() as session:
        links = _links(session, link_ids)
        for link in links:
            if pinned and not link.pinned:
                link.position = _next_pinned_position(session, link.film_id)
            link.pinned = pinned
            session.add(link)
            session.flush()
        revisions.bump(session, [link.film_id for link in links])
    return len(links)


def set_hidden(db: Database, link_ids: list[int], hidden: bool) -> int:
    """Hide links from the widget, or show them again; the link and product are kept."""
    with db.session() as session:
        links = _links(session, link_ids)
        for link in links:
            link.hidden = hidden
            session.add(link)
        revisions.bump(session, [link.film_id for link in links])
    return len(links)


def reorder(db: Database, film_ref: str, link_ids: list[int]) -> list[LinkRow]:
    """Show these links first, in this order: each is pinned at its place (an operator's
    order, which sources no longer change); the film's other pinned links follow in their
    order, the rest keep theirs. All or nothing: a link of another film, or one named twice,
    changes nothing."""
    if len(set(link_ids)) != len(link_ids):
        raise ValueError("each product link may appear only once in the order")
    with db.session() as session:
        film = _film(session, film_ref)
        links = {link.id: link for link in _links(session, link_ids)}
        strangers = [str(i) for i in link_ids if links[i].film_id != film.id]
        if strangers:
            raise LookupError(f"product link {', '.join(strangers)} does not belong to film {film_ref}")
        others = session.exec(select(FilmProduct).where(
            FilmProduct.film_id == film.id, FilmProduct.pinned == True,
            FilmProduct.id.not_in(link_ids))).all()
        ordered = [links[i] for i in link_ids]
        ordered += sorted(others, key=lambda link: (link.position is None, link.position or 0, link.id))
        for position, link in enumerate(ordered):
            link.pinned, link.position = True, position
            session.add(link)
        revisions.bump(session, [film.id])
    return film_links(db, film_ref)


def move(db: Database, film_ref: str, link_id: int, offset: int) -> list[LinkRow]:
    """Move a shown link `offset` places up (-) or down (+) among the links the film's
    widget shows in the link's region; the links up to its new place are pinned in the new
    order (see `reorder`)."""
    shown = [row for row in film_links(db, film_ref, "approved") if not row.hidden]
    region = next((row.region for row in shown if row.id == link_id), None)
    if region is None:
        raise LookupError(f"product link {link_id} is not shown with film {film_ref}")
    order = [row.id for row in shown if row.region == region]
    old = order.index(link_id)
    new = min(max(old + offset, 0), len(order) - 1)
    order.insert(new, order.pop(old))
    return reorder(db, film_ref, order[:max(old, new) + 1])


def link_product(db: Database, film_ref: str, ref: ProductRef, region: str,
                 relation: str = Relation.EDITION.value,
                 settings: Settings | None = None) -> list[LinkRow]:
    """Link the named product to the film as the operator's choice (approved and shown).

    An ASIN, or a URL a source recognises as one of its merchant's products (an Amazon
    product URL), names that merchant's product in `region`, stored with its id as its title
    until the source's next refresh fills in the rest; `settings` say which store each
    source is configured for (affiliate.sources.product_reference). A GTIN
    names products the catalog already holds in `region` (from any merchant). Another URL
    names a stored product with that link, else a new product of the shop at that host, for
    which `title` and `format` are needed. A link that exists already is approved and shown.
    ValueError for malformed input, LookupError for a film or GTIN the catalog lacks.
    """
    relation = _choice("relation", relation, [r.value for r in Relation])
    with db.session() as session:
        film = _film(session, film_ref)
        products = _products_for(session, ref, region, settings or Settings())
        links = [_link(session, film, product, relation) for product in products]
        revisions.bump(session, [film.id])
        rows = [_row(link, product) for link, product in zip(links, products, strict=True)]
    return rows


def parse_gtin(text: str) -> str:
    """A GTIN-8, -12 (UPC), -13 (EAN) or -14 whose check digit is right."""
    digits = re.sub(r"[\s-]", "", text)
    if not digits.isdigit() or len(digits) not in _GTIN_LENGTHS:
        raise ValueError(f"{text.strip()[:40]!r} is not a GTIN (8, 12, 13 or 14 digits)")
    body, check = digits[:-1], int(digits[-1])
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    if (10 - total % 10) % 10 != check:
        raise ValueError(f"{digits}: the check digit is wrong; copy the GTIN again")
    return digits


def _products_for(session: Session, ref: ProductRef, region: str,
                  settings: Settings) -> list[Product]:
    named = [name for name in ("asin", "gtin", "url") if getattr(ref, name)]
    if len(named) != 1:
        raise ValueError("name the product by exactly one of asin, gtin or url")
    if ref.gtin:
        gtin = parse_gtin(ref.gtin)
        found = session.exec(select(Product).where(Product.gtin == gtin, Product.region == region)
                             .order_by(Product.id)).all()
        if not found:
            raise LookupError(f"no stored product in {region} has GTIN {gtin}; link it by ASIN "
                              "or URL, or add it to a product feed")
        return list(found)
    if ref.asin:
        found = product_reference(settings, ref.asin, region)
        if found is None:
            raise ValueError(f"asin: {ref.asin.strip()[:40]!r} is not an ASIN any configured source "
                             "recognises (ten letters and digits, as B000FQJAIA)")
        return [_referenced_product(session, found, ref, region)]
    url = http_url(ref.url)
    found = product_reference(settings, url, region)
    if found is not None:
        return [_referenced_product(session, found, ref, region)]
    stored = session.exec(select(Product).where(Product.link == url, Product.region == region)).first()
    return [stored or _shop_product(session, url, ref, region)]


def _referenced_product(session: Session, found: ProductReference, ref: ProductRef,
                        region: str) -> Product:
    product = session.exec(select(Product).where(
        Product.merchant == found.merchant, Product.merchant_id == found.merchant_id,
        Product.region == region)).first()
    if product is not None:
        return product
    return _new_product(session, found.merchant, found.merchant_id, found.link, region,
                        (ref.title or "").strip() or found.merchant_id,
                        _choice("format", ref.format or ProductFormat.BLU_RAY.value,
                                [f.value for f in ProductFormat]))


def _shop_product(session: Session, url: str, ref: ProductRef, region: str) -> Product:
    title = (ref.title or "").strip()
    if not title or not ref.format:
        raise ValueError("no stored product has this URL: give its title and format to add it")
    host = urlsplit(url).hostname.removeprefix("www.")
    # A URL can outgrow merchant_id; its digest names the product as uniquely.
    merchant_id = "url-" + hashlib.sha256(url.encode()).hexdigest()[:32]
    existing = session.exec(select(Product).where(
        Product.merchant == host, Product.merchant_id == merchant_id, Product.region == region)).first()
    return existing or _new_product(session, host, merchant_id, url, region, title,
                                    _choice("format", ref.format, [f.value for f in ProductFormat]))


def _new_product(session: Session, merchant: str, merchant_id: str, link: str, region: str,
                 title: str, product_format: str) -> Product:
    if len(title) > 500:
        raise ValueError("title: at most 500 characters")
    product = Product(merchant=merchant, merchant_id=merchant_id, title=title, format=product_format,
                      link=link, region=region, source=OPERATOR)
    session.add(product)
    session.flush()
    return product


def _link(session: Session, film: Film, product: Product, relation: str) -> FilmProduct:
    link = session.exec(select(FilmProduct).where(
        FilmProduct.film_id == film.id, FilmProduct.product_id == product.id)).first()
    if link is None:
        link = FilmProduct(film_id=film.id, product_id=product.id, relation=relation,
                           origin="curated", source=OPERATOR)
    link.status, link.hidden, link.decided_by = "approved", False, OPERATOR_DECISION
    session.add(link)
    session.flush()
    return link


def _next_pinned_position(session: Session, film_id: int) -> int:
    last = session.exec(select(func.max(FilmProduct.position)).where(
        FilmProduct.film_id == film_id, FilmProduct.pinned == True)).one()
    return 0 if last is None else last + 1


def _film(session: Session, film_ref: str) -> Film:
    film = find_film(session, FilmKey.parse(film_ref))
    if film is None:
        raise LookupError(f"no film matches {film_ref}")
    return film


def _links(session: Session, link_ids: list[int]) -> list[FilmProduct]:
    """The links by id; an id beyond the 32-bit column is one no link has, not a database error."""
    storable = [i for i in link_ids if 0 < i < 2**31]
    links = session.exec(select(FilmProduct).where(FilmProduct.id.in_(storable))).all() if storable else []
    missing = sorted(set(link_ids) - {link.id for link in links})
    if missing:
        raise LookupError(f"no product link with id {', '.join(map(str, missing))}")
    return list(links)


def _choice(name: str, value: str, allowed: list[str]) -> str:
    if value not in allowed:
        raise ValueError(f"{name}: {value!r} is not one of {', '.join(allowed)}")
    return value


def _row(link: FilmProduct, product: Product) -> LinkRow:
    return LinkRow(link.id, link.status, link.relation, link.position, link.pinned, link.hidden,
                   product.title, product.format, product.merchant, product.merchant_id,
                   product.region, product.price, product.currency, link.source,
                   origin=link.origin, link=shown_url(product.link), gtin=product.gtin,
                   product_source=product.source, product_hidden=product.hidden,
                   image_url=shown_url(product.image_url), score=link.match_score,
                   reasons=tuple(json.loads(link.match_reasons)) if link.match_reasons else ())
