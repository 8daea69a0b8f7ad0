"""View models for the widgets: the database read once, then sorted, formatted and linked.

Templates and the JSON API only render these plain objects, so every decision about order,
prices and links is made (and tested) here, in one place, without Flask.
"""
from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from typing import NamedTuple

from babel.numbers import format_currency
from sqlmodel import Session, select

from affiliate.catalog import film_key, find_film
from affiliate.config import Settings
from affiliate.db import Database
from affiliate.links import tag_link
from affiliate.models import Film, FilmProduct, Offer, Platform, Product
from providers.regions import region_name
from providers.base import Availability, FilmKey, OfferKind, ProductFormat, Quality, Relation


class FilmNotFound(LookupError):
    """The reference is well formed but the catalog holds no such film (a 404, not a 400)."""


@dataclass(frozen=True)
class Price:
    amount: Decimal
    currency: str
    text: str


@dataclass(frozen=True)
class QualityPrice:
    quality: str
    price: Price | None
    label: str


@dataclass(frozen=True)
class PlatformRow:
    name: str
    slug: str
    logo_url: str | None
    monogram: str
    link: str
    prices: tuple[QualityPrice, ...]
    lowest_price: Price | None
    action_label: str


@dataclass(frozen=True)
class OfferGroup:
    kind: str
    heading: str
    action: str
    rows: tuple[PlatformRow, ...]


@dataclass(frozen=True)
class FilmSummary:
    id: int
    ref: str
    title: str
    year: int | None
    imdb_id: str | None
    tmdb_id: int | None


@dataclass(frozen=True)
class HowToWatch:
    film: FilmSummary
    region: str
    region_name: str
    locale: str
    groups: tuple[OfferGroup, ...]
    sources: tuple[str, ...]
    disclosure: str
    empty_message: str


@dataclass(frozen=True)
class ProductCard:
    title: str
    format: str
    format_label: str
    relation: str
    image_url: str | None
    price: Price | None
    merchant: str
    link: str
    availability: str
    availability_label: str | None
    action: str
    action_label: str


@dataclass(frozen=True)
class RelatedProducts:
    film: FilmSummary
    region: str
    region_name: str
    locale: str
    cards: tuple[ProductCard, ...]
    sources: tuple[str, ...]
    disclosure: str
    empty_message: str


class _GroupText(NamedTuple):
    heading: str
    action: str
    label: str  # what the link does, for screen readers


# Insertion order is the display order of the groups.
_GROUP_TEXT = {
    OfferKind.SUBSCRIPTION.value: _GroupText("Stream", "Stream", "Stream {film} on {platform}"),
    OfferKind.FREE.value: _GroupText("Free", "Watch", "Watch {film} free on {platform}"),
    OfferKind.ADS.value: _GroupText("With ads", "Watch", "Watch {film} with ads on {platform}"),
    OfferKind.RENT.value: _GroupText("Rent", "Rent", "Rent {film} on {platform}"),
    OfferKind.BUY.value: _GroupText("Buy", "Buy", "Buy {film} on {platform}"),
}
_PRICED_KINDS = {OfferKind.RENT.value, OfferKind.BUY.value}
_QUALITY_RANK = {quality.value: rank for rank, quality in enumerate(Quality)}
_RELATION_RANK = {relation.value: rank for rank, relation in enumerate(Relation)}

_FORMAT_LABELS = {
    ProductFormat.BLU_RAY.value: "Blu-ray",
    ProductFormat.DVD.value: "DVD",
    ProductFormat.UHD_BLU_RAY.value: "4K Ultra HD",
    ProductFormat.SOUNDTRACK_CD.value: "Soundtrack CD",
    ProductFormat.VINYL.value: "Vinyl",
    ProductFormat.DIGITAL_ALBUM.value: "Digital album",
    ProductFormat.COLLECTION.value: "Collection",
    ProductFormat.BOOK.value: "Book",
    ProductFormat.MERCHANDISE.value: "Merchandise",
}
# In stock needs no badge; the other states change what the visitor can do.
_AVAILABILITY = {
    Availability.IN_STOCK.value: (None, "Buy"),
    Availability.PREORDER.value: ("Pre-order", "Pre-order"),
    Availability.OUT_OF_STOCK.value: ("Out of stock", "View"),
}
# English names that read "in the ...": the rest of the rule is in _in_region.
_REGIONS_WITH_THE = frozenset({"BS", "GM", "MV", "NL", "PH"})


def list_films(db: Database) -> list[FilmSummary]:
    """Every film in the order it was added, so a catalog's lead film comes first."""
    with db.session() as session:
        films = session.exec(select(Film).order_by(Film.id)).all()
    return [_summary(film) for film in films]


def how_to_watch(db: Database, film_ref: str, region: str, locale: str,
                 settings: Settings) -> HowToWatch:
    """Where `film_ref` can be watched in `region`; raises FilmNotFound or ValueError."""
    with db.session() as session:
        film = _get_film(session, film_ref)
        found = session.exec(
            select(Offer, Platform).join(Platform, Platform.id == Offer.platform_id)
            .where(Offer.film_id == film.id, Offer.region == region,
                   Offer.hidden == False)  # noqa: E712  (SQL comparison)
            .order_by(Offer.id)
        ).all()
    offers = _cheapest_per_quality(found)
    by_kind = _by_kind_and_platform(offers)
    groups = tuple(
        _offer_group(kind, text, by_kind[kind].values(), film.title, locale, settings)
        for kind, text in _GROUP_TEXT.items() if by_kind.get(kind)
    )
    name = region_name(region, locale)
    return HowToWatch(
        film=_summary(film), region=region, region_name=name, locale=locale, groups=groups,
        sources=tuple(sorted({offer.source for offer, _ in offers})),
        disclosure=settings.widgets.disclosure,
        empty_message=(f"{film.title} isn't available to stream, rent or buy "
                       f"{_in_region(region, name, locale)} yet."),
    )


def related_products(db: Database, film_ref: str, region: str, locale: str,
                     settings: Settings) -> RelatedProducts:
    """Products shown with `film_ref` in `region`; raises FilmNotFound or ValueError."""
    with db.session() as session:
        film = _get_film(session, film_ref)
        found = session.exec(
            select(FilmProduct, Product).join(Product, Product.id == FilmProduct.product_id)
            .where(FilmProduct.film_id == film.id, Product.region == region,
                   FilmProduct.hidden == False, Product.hidden == False)  # noqa: E712
        ).all()
    ordered = sorted(found, key=_card_order)
    name = region_name(region, locale)
    return RelatedProducts(
        film=_summary(film), region=region, region_name=name, locale=locale,
        cards=tuple(_card(link, product, locale, settings) for link, product in ordered),
        sources=tuple(sorted({product.source for _, product in found})),
        disclosure=settings.widgets.disclosure,
        empty_message=(f"There are no related products for {film.title} "
                       f"{_in_region(region, name, locale)} yet."),
    )


def _get_film(session: Session, film_ref: str) -> Film:
    key = FilmKey.parse(film_ref)
    film = find_film(session, key)
    if film is None:
        raise FilmNotFound(f"no film matches {key}")
    return film


def _summary(film: Film) -> FilmSummary:
    return FilmSummary(id=film.id, ref=str(film_key(film)), title=film.title, year=film.year,
                       imdb_id=film.imdb_id, tmdb_id=film.tmdb_id)


def _cheapest_per_quality(found) -> list[tuple[Offer, Platform]]:
    """Several sources may report one platform/kind/quality; a visitor wants the best price."""
    best: dict[tuple, tuple[Offer, Platform]] = {}
    for offer, platform in found:
        key = (platform.id, offer.kind, offer.quality)
        if key not in best or _cheapness(offer) < _cheapness(best[key][0]):
            best[key] = (offer, platform)
    return list(best.values())


def _by_kind_and_platform(offers) -> dict[str, dict[int, list[tuple[Offer, Platform]]]]:
    grouped: dict = defaultdict(lambda: defaultdict(list))
    for offer, platform in offers:
        grouped[offer.kind][platform.id].append((offer, platform))
    return grouped


def _cheapness(offer: Offer) -> tuple:
    return (offer.price is None, offer.price or Decimal(0), _quality_rank(offer))


def _quality_rank(offer: Offer) -> int:
    return _QUALITY_RANK.get(offer.quality, len(_QUALITY_RANK))


def _offer_group(kind: str, text: _GroupText, platforms, film_title: str, locale: str,
                 settings: Settings) -> OfferGroup:
    rows = [_platform_row(offers, text, film_title, locale, settings) for offers in platforms]
    rows.sort(key=_row_order if kind in _PRICED_KINDS else lambda row: row.name.casefold())
    return OfferGroup(kind=kind, heading=text.heading, action=text.action, rows=tuple(rows))


def _row_order(row: PlatformRow) -> tuple:
    """Cheapest first; platforms that name no price go last."""
    lowest = row.lowest_price
    return (lowest is None, lowest.amount if lowest else 0, row.name.casefold())


def _platform_row(offers: list[tuple[Offer, Platform]], text: _GroupText, film_title: str,
                  locale: str, settings: Settings) -> PlatformRow:
    platform = offers[0][1]
    by_quality = sorted((offer for offer, _ in offers), key=_quality_rank)
    # The link goes to the cheapest offer, the one the row's lowest price advertises.
    cheapest = min(by_quality, key=_cheapness)
    return PlatformRow(
        name=platform.name, slug=platform.slug, logo_url=platform.logo_url,
        monogram=_monogram(platform.name),
        link=tag_link(cheapest.link, settings.link_tags),
        prices=tuple(_quality_price(offer, locale) for offer in by_quality),
        lowest_price=_price(cheapest.price, cheapest.currency, locale),
        action_label=text.label.format(film=film_title, platform=platform.name),
    )


def _quality_price(offer: Offer, locale: str) -> QualityPrice:
    price = _price(offer.price, offer.currency, locale)
    label = f"{offer.quality} {price.text}" if price else offer.quality
    return QualityPrice(quality=offer.quality, price=price, label=label)


def _price(amount: Decimal | None, currency: str | None, locale: str) -> Price | None:
    if amount is None or not currency:
        return None
    return Price(amount=amount, currency=currency,
                 text=format_currency(amount, currency, locale=locale))


def _monogram(name: str) -> str:
    """Initials for a platform without a logo: "Apple TV" -> "AT", "Vudu" -> "V"."""
    return "".join(word[0] for word in name.split()[:2]).upper()


def _card_order(row: tuple[FilmProduct, Product]) -> tuple:
    """Operators' pins first in their order; then by relation, the source's position, title."""
    link, product = row
    position = link.position if link.position is not None else math.inf
    title = product.title.casefold()
    if link.pinned:
        return (0, position, title)
    return (1, _RELATION_RANK.get(link.relation, len(_RELATION_RANK)), position, title)


def _card(link: FilmProduct, product: Product, locale: str, settings: Settings) -> ProductCard:
    badge, action = _AVAILABILITY.get(product.availability, (None, "Buy"))
    return ProductCard(
        title=product.title, format=product.format,
        format_label=_FORMAT_LABELS.get(product.format, product.format),
        relation=link.relation, image_url=product.image_url,
        price=_price(product.price, product.currency, locale), merchant=product.merchant,
        link=tag_link(product.link, settings.link_tags), availability=product.availability,
        availability_label=badge, action=action,
        action_label=f"{action} {product.title} at {product.merchant}",
    )


def _in_region(code: str, name: str, locale: str) -> str:
    """English puts "the" before some names: "in the United Kingdom" but "in France"."""
    needs_the = locale.split("_")[0] == "en" and (
        code in _REGIONS_WITH_THE or name.startswith("United ")
        or name.endswith(("Islands", "Republic")))
    return f"in the {name}" if needs_the else f"in {name}"
