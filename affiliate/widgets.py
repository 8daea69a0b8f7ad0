"""View models for the widgets: the database read once, then sorted, formatted and linked.

Templates and the JSON API only render these plain objects, so every decision about order,
prices and links is made (and tested) here, in one place, without Flask.
"""
from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from typing import NamedTuple

from babel.dates import format_datetime
from babel.numbers import format_currency
from sqlmodel import Session, select

from affiliate.catalog import film_key, find_film
from affiliate.config import Settings
from affiliate.db import Database
from affiliate.links import tag_link
from affiliate.models import Film, FilmProduct, Offer, Platform, Product
from affiliate.types import utcnow
from providers.base import (
    Attribution,
    Availability,
    FilmKey,
    OfferKind,
    ProductFormat,
    Provider,
    Quality,
    Relation,
)
from providers.regions import region_name
from providers.registry import PROVIDER_TYPES


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
    sources: tuple[str, ...]  # whose price or link the row shows


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
    attributions: tuple[Attribution, ...]
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
    price_as_of: str | None  # when the source's rules want the price's age shown


@dataclass(frozen=True)
class RelatedProducts:
    film: FilmSummary
    region: str
    region_name: str
    locale: str
    cards: tuple[ProductCard, ...]
    sources: tuple[str, ...]
    attributions: tuple[Attribution, ...]
    disclosures: tuple[str, ...]  # the site's disclosure, then any a source requires
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
    offers = _known_qualities_first(found)
    by_kind = _by_kind_and_platform(offers)
    groups = tuple(
        _offer_group(kind, text, by_kind[kind].values(), film.title, locale, settings)
        for kind, text in _GROUP_TEXT.items() if by_kind.get(kind)
    )
    name = region_name(region, locale)
    sources = tuple(sorted({s for group in groups for row in group.rows for s in row.sources}))
    return HowToWatch(
        film=_summary(film), region=region, region_name=name, locale=locale, groups=groups,
        sources=sources,
        attributions=_attributions(sources, settings),
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
                   FilmProduct.status == "approved",
                   FilmProduct.hidden == False, Product.hidden == False)  # noqa: E712
        ).all()
    ordered = sorted(found, key=_card_order)
    name = region_name(region, locale)
    sources = tuple(sorted({product.source for _, product in found}))
    return RelatedProducts(
        film=_summary(film), region=region, region_name=name, locale=locale,
        cards=tuple(_card(link, product, locale, settings) for link, product in ordered),
        sources=sources,
        attributions=_attributions(sources, settings),
        disclosures=(settings.widgets.disclosure,
                     *_merchant_disclosures({product.merchant for _, product in found})),
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


def _known_qualities_first(found) -> list[tuple[Offer, Platform]]:
    """An offer of unknown quality (TMDB's) only stands where no source knows a quality."""
    known = {(platform.id, offer.kind) for offer, platform in found
             if offer.quality != Quality.UNKNOWN.value}
    return [(offer, platform) for offer, platform in found
            if offer.quality != Quality.UNKNOWN.value or (platform.id, offer.kind) not in known]


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
    """One row per platform, merged across sources: each quality at its best-known price,
    and the link to the platform's own page for the film wherever any source knows it."""
    platform = offers[0][1]
    every = [offer for offer, _ in offers]
    best: dict[str, Offer] = {}
    for offer in sorted(every, key=_cheapness):
        best.setdefault(offer.quality, offer)
    by_quality = sorted(best.values(), key=_quality_rank)
    cheapest = min(by_quality, key=_cheapness)
    linked = min(every, key=lambda offer: (not offer.deep_link, *_cheapness(offer)))
    return PlatformRow(
        name=platform.name, slug=platform.slug, logo_url=platform.logo_url,
        monogram=_monogram(platform.name),
        link=tag_link(linked.link, settings.link_tags),
        prices=tuple(_quality_price(offer, locale) for offer in by_quality
                     if offer.quality != Quality.UNKNOWN.value),
        lowest_price=_price(cheapest.price, cheapest.currency, locale),
        action_label=text.label.format(film=film_title, platform=platform.name),
        sources=tuple(sorted({offer.source for offer in (*by_quality, linked)})),
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
    max_age = getattr(_provider_type(product.source, settings), "price_max_age", None)
    # Amazon's rule: a price older than its limit is not shown; a fresh one says when it was.
    fresh = max_age is None or utcnow() - product.last_checked <= max_age
    return ProductCard(
        title=product.title, format=product.format,
        format_label=_FORMAT_LABELS.get(product.format, product.format),
        relation=link.relation, image_url=product.image_url,
        price=_price(product.price, product.currency, locale) if fresh else None,
        merchant=product.merchant,
        link=tag_link(product.link, settings.link_tags), availability=product.availability,
        availability_label=badge, action=action,
        action_label=f"{action} {product.title} at {product.merchant}",
        price_as_of=(format_datetime(product.last_checked, "medium", tzinfo=dt.timezone.utc,
                                     locale=locale) + " UTC"
                     if max_age is not None and fresh and product.price is not None else None),
    )


def _provider_type(source: str, settings: Settings) -> type[Provider] | None:
    """The adapter class behind a stored source name, if it is still configured."""
    return PROVIDER_TYPES.get(settings.providers.get(source, {}).get("type"))


def _attributions(sources: tuple[str, ...], settings: Settings) -> tuple[Attribution, ...]:
    found = (credit for source in sources
             for credit in getattr(_provider_type(source, settings), "attributions", ()))
    return tuple(dict.fromkeys(found))


def _merchant_disclosures(merchants: set[str]) -> tuple[str, ...]:
    found = (cls.disclosure for cls in PROVIDER_TYPES.values()
             if cls.disclosure and cls.merchant in merchants)
    return tuple(dict.fromkeys(found))


def _in_region(code: str, name: str, locale: str) -> str:
    """English puts "the" before some names: "in the United Kingdom" but "in France"."""
    needs_the = locale.split("_")[0] == "en" and (
        code in _REGIONS_WITH_THE or name.startswith("United ")
        or name.endswith(("Islands", "Republic")))
    return f"in the {name}" if needs_the else f"in {name}"
