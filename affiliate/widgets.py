"""View models for the widgets: the database read once, then sorted, formatted, translated and
linked.

Templates and the JSON API only render these plain objects, so every decision about order,
prices, badges, wording and links is made (and tested) here, in one place, without Flask.
Text comes from the catalog of the view's own locale (`affiliate.i18n`); prices and dates are
formatted by Babel for the locale itself.
"""
from __future__ import annotations

import datetime as dt
import functools
import math
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from typing import NamedTuple, Sequence
from urllib.parse import urlsplit

from babel import Locale
from babel.dates import format_date, format_skeleton, format_time, get_datetime_format
from babel.numbers import format_currency
from babel.support import NullTranslations
from sqlalchemy import Row, bindparam, or_
from sqlmodel import select

from affiliate.brands import Brand, brand
from affiliate.catalog import film_key, find_film
from affiliate.clicks import is_direct
from affiliate.config import Settings
from affiliate.db import Database
from affiliate.history import PRICE_CHANGED
from affiliate.i18n import N_, text_language, translations
from affiliate.links import showable, shown_url, tag_link
from affiliate.models import Film, FilmProduct, Offer, OfferEvent, Platform, Product
from affiliate.sources import SourceDirectory, merchant_disclosures
from affiliate.types import utcnow
from providers.base import (
    Availability,
    FilmKey,
    OfferKind,
    ProductFormat,
    Quality,
    Relation,
)
from providers.regions import local_date, region_name, start_of_day
from providers.terms import Attribution

# How a widget may be laid out, the default first: `list`, a row per platform or product;
# `compact`, for sidebars (templates/affiliate/macros.html). The view models are the same.
LAYOUTS = ("list", "compact")


class FilmNotFound(LookupError):
    """The reference is well formed but the catalog holds no such film (a 404, not a 400)."""


# The parts of a view are NamedTuples: a render builds dozens of them, and a tuple is built
# several times faster than a frozen dataclass. The views are frozen dataclasses, so that
# dataclasses.replace can filter them (the JSON API's kind/format filters).
class Price(NamedTuple):
    amount: Decimal
    currency: str
    text: str


class QualityPrice(NamedTuple):
    quality: str
    price: Price | None
    label: str


class Badge(NamedTuple):
    kind: str  # new | price-drop | leaving
    label: str


class PlatformRow(NamedTuple):
    name: str
    slug: str
    logo_url: str | None
    monogram: str
    brand: Brand | None  # the tile's colour where the platform has no logo, or it fails
    link: str  # the stored link with the operator's tags
    go_target: str  # "o<offer id>": /go/<target> counts the click and redirects to `link`
    direct: bool  # `link` must be shown as is (Amazon); its click is counted by beacon
    prices: tuple[QualityPrice, ...]
    lowest_price: Price | None
    action_label: str
    badges: tuple[Badge, ...]
    checked_at: dt.datetime | None  # when the oldest of its prices was last confirmed
    sources: tuple[str, ...]  # whose price or link the row shows


class OfferGroup(NamedTuple):
    kind: str
    heading: str
    action: str
    rows: tuple[PlatformRow, ...]


class FilmSummary(NamedTuple):
    id: int
    ref: str
    title: str
    year: int | None
    imdb_id: str | None
    tmdb_id: int | None


class Labels(NamedTuple):
    """The widget's fixed words, in its language, so templates hold no text of their own."""

    heading: str  # before the film's title
    region: str  # the region switcher's label
    change_region: str  # its button
    see_related: str  # How to Watch's empty state, linking to Related Products
    price_details: str  # opens a price disclaimer


class RegionChoice(NamedTuple):
    code: str
    name: str
    selected: bool


@dataclass(frozen=True)
class HowToWatch:
    film: FilmSummary
    region: str
    region_name: str
    locale: str  # as asked for: prices and dates are formatted for it
    language: str  # the language of the text (the locale's catalog, else "en")
    labels: Labels
    regions: tuple[RegionChoice, ...]
    groups: tuple[OfferGroup, ...]
    sources: tuple[str, ...]
    attributions: tuple[Attribution, ...]
    disclosure: str
    empty_message: str
    checked_at: dt.datetime | None  # when the oldest price shown was last confirmed
    prices_as_of: str | None  # "Prices as of ...", from checked_at
    fresh_until: dt.datetime | None  # the first time a badge changes by the clock alone


class ProductCard(NamedTuple):
    title: str
    format: str
    format_label: str
    relation: str
    image_url: str | None
    price: Price | None
    merchant: str
    link: str  # the stored link with the operator's tags
    go_target: str  # "p<product id>", see PlatformRow
    direct: bool
    availability: str
    availability_label: str | None
    action: str
    action_label: str
    price_as_of: str | None  # when the source's rules want the price's age shown
    price_as_of_label: str | None  # "as of <price_as_of>"
    price_disclaimer: str | None  # the statement those rules want beside such a price


@dataclass(frozen=True)
class RelatedProducts:
    film: FilmSummary
    region: str
    region_name: str
    locale: str
    language: str
    labels: Labels
    regions: tuple[RegionChoice, ...]
    cards: tuple[ProductCard, ...]
    sources: tuple[str, ...]
    attributions: tuple[Attribution, ...]
    disclosures: tuple[str, ...]  # the site's disclosure, then any a source requires
    empty_message: str
    fresh_until: dt.datetime | None  # when a shown price passes its source's age limit


class _GroupText(NamedTuple):
    heading: str
    action: str
    label: str  # what the link does, for screen readers


class _Words(NamedTuple):
    """One render's text (its locale's catalog) and the locale numbers and dates follow."""

    t: NullTranslations
    language: str
    locale: str


DEFAULT_DISCLOSURE = N_("We may earn a commission when you buy or rent through these links, "
                        "at no extra cost to you.")
_PRICED_KINDS = {OfferKind.RENT.value, OfferKind.BUY.value}
_UNKNOWN_QUALITY = Quality.UNKNOWN.value
_QUALITY_RANK = {quality.value: rank for rank, quality in enumerate(Quality)}
_RELATION_RANK = {relation.value: rank for rank, relation in enumerate(Relation)}

_FORMAT_LABELS = {
    ProductFormat.BLU_RAY.value: N_("Blu-ray"),
    ProductFormat.DVD.value: N_("DVD"),
    ProductFormat.UHD_BLU_RAY.value: N_("4K Ultra HD"),
    ProductFormat.SOUNDTRACK_CD.value: N_("Soundtrack CD"),
    ProductFormat.VINYL.value: N_("Vinyl"),
    ProductFormat.DIGITAL_ALBUM.value: N_("Digital album"),
    ProductFormat.COLLECTION.value: N_("Collection"),
    ProductFormat.BOOK.value: N_("Book"),
    ProductFormat.MERCHANDISE.value: N_("Merchandise"),
}
# English names that read "in the ...": the rest of the rule is in _needs_the.
_REGIONS_WITH_THE = frozenset({"BS", "GM", "MV", "NL", "PH"})
# An offer first seen this soon after its film entered the catalog came with the film's first
# fetches: when it really appeared on the platform is unknown, so it is not called new.
_ARRIVED_WITH_FILM = dt.timedelta(days=1)


def list_films(db: Database) -> list[FilmSummary]:
    """Every film in the order it was added, so a catalog's lead film comes first."""
    with db.session() as session:
        films = session.exec(select(Film).order_by(Film.id)).all()
    return [_summary(film) for film in films]


def how_to_watch(db: Database, film_ref: str | Film | Row, region: str, locale: str,
                 settings: Settings, now: dt.datetime | None = None,
                 sources: SourceDirectory | None = None) -> HowToWatch:
    """Where a film can be watched in `region`; raises FilmNotFound or ValueError.

    `film_ref` is a reference, or the film's row if the caller has read it already. Two
    queries whatever the number of offers (one if given the row): the film, and its visible
    offers in the region, each with its latest recent price change (for the badges)."""
    now = now or utcnow()
    sources = sources or SourceDirectory(db, settings)
    words = _words(locale)
    t = words.t
    film = _get_film(db, film_ref)
    since = now - dt.timedelta(days=settings.widgets.price_drop_days)
    with db.reader.connect() as connection:
        rows = connection.execute(
            _OFFERS, {"film_id": film.id, "region": region, "since": since, "now": now}).all()
    found = [offer for offer in map(_OfferRow._make, rows) if showable(offer.link)]
    badges = _BadgeRules(film, region, _price_drops(found, settings), now, settings, words)
    for offer in found:  # a cached rendering ends with the first offer it shows
        if offer.expires_at is not None:
            badges.changes_at(offer.expires_at)
    by_kind = _by_kind_and_platform(found)
    groups = tuple(
        _offer_group(kind, text, by_kind[kind].values(), film.title, badges, settings, words)
        for kind, text in _group_texts(words.language).items() if by_kind.get(kind)
    )
    name = region_name(region, words.language)
    shown_sources = tuple(sorted({s for group in groups for row in group.rows for s in row.sources}))
    checked_at = min((row.checked_at for group in groups for row in group.rows if row.checked_at),
                     default=None)
    return HowToWatch(
        film=_summary(film), region=region, region_name=name, locale=locale,
        language=words.language, labels=_labels(t, t.gettext("How to watch")),
        regions=_region_choices(region, settings, words), groups=groups, sources=shown_sources,
        attributions=_attributions(shown_sources, sources),
        disclosure=_disclosure(settings, t),
        empty_message=_in_region(
            region, name, words,
            t.gettext("{film} isn't available to stream, rent or buy in the {region} yet."),
            t.gettext("{film} isn't available to stream, rent or buy in {region} yet."),
        ).format(film=film.title, region=name),
        checked_at=checked_at,
        prices_as_of=(t.gettext("Prices as of {time}").format(time=_moment(checked_at, locale))
                      if checked_at else None),
        fresh_until=badges.fresh_until,
    )


def related_products(db: Database, film_ref: str | Film | Row, region: str, locale: str,
                     settings: Settings, now: dt.datetime | None = None,
                     sources: SourceDirectory | None = None) -> RelatedProducts:
    """Products shown with a film in `region`; raises FilmNotFound or ValueError. Two queries
    (one if given the film's row), as `how_to_watch`."""
    now = now or utcnow()
    sources = sources or SourceDirectory(db, settings)
    words = _words(locale)
    t = words.t
    film = _get_film(db, film_ref)
    with db.reader.connect() as connection:
        rows = connection.execute(_PRODUCTS, {"film_id": film.id, "region": region}).all()
    found = [product for product in map(_ProductRow._make, rows) if showable(product.link)]
    ordered = sorted(found, key=lambda row: card_order(row, row))
    name = region_name(region, words.language)
    shown_sources = tuple(sorted({product.source for product in found}))
    cards = [_card(product, now, settings, words, sources) for product in ordered]
    return RelatedProducts(
        film=_summary(film), region=region, region_name=name, locale=locale,
        language=words.language, labels=_labels(t, t.gettext("Related products for")),
        regions=_region_choices(region, settings, words),
        cards=tuple(card for card, _ in cards),
        sources=shown_sources,
        attributions=_attributions(shown_sources, sources),
        disclosures=(_disclosure(settings, t),
                     *_merchant_statements(found, shown_sources, sources)),
        empty_message=_in_region(
            region, name, words,
            t.gettext("There are no related products for {film} in the {region} yet."),
            t.gettext("There are no related products for {film} in {region} yet."),
        ).format(film=film.title, region=name),
        fresh_until=min((until for _, until in cards if until), default=None),
    )


def _words(locale: str) -> _Words:
    return _Words(translations(locale), text_language(locale), locale)


def _labels(t: NullTranslations, heading: str) -> Labels:
    return Labels(heading=heading, region=t.gettext("Region"),
                  change_region=t.pgettext("button", "Change"),
                  see_related=t.gettext("See related products"),
                  price_details=t.gettext("Details"))


@functools.lru_cache(maxsize=None)
def _group_texts(language: str) -> dict[str, _GroupText]:
    """Insertion order is the display order of the groups. Kept per language (there are
    only as many as shipped catalogs): they were a tenth of building a view."""
    t = translations(language)
    return {
        OfferKind.SUBSCRIPTION.value: _GroupText(
            t.pgettext("offer group", "Stream"), t.gettext("Stream"),
            t.gettext("Stream {film} on {platform}")),
        OfferKind.FREE.value: _GroupText(
            t.pgettext("offer group", "Free"), t.gettext("Watch"),
            t.gettext("Watch {film} free on {platform}")),
        OfferKind.ADS.value: _GroupText(
            t.pgettext("offer group", "With ads"), t.gettext("Watch"),
            t.gettext("Watch {film} with ads on {platform}")),
        OfferKind.RENT.value: _GroupText(
            t.pgettext("offer group", "Rent"), t.gettext("Rent"),
            t.gettext("Rent {film} on {platform}")),
        OfferKind.BUY.value: _GroupText(
            t.pgettext("offer group", "Buy"), t.gettext("Buy"),
            t.gettext("Buy {film} on {platform}")),
    }


@functools.lru_cache(maxsize=None)
def _availability_texts(language: str) -> dict[str, tuple[str | None, str]]:
    """Per availability, the card's note and its button. In stock needs no note; the other
    states change what the visitor can do. Kept per language, as _group_texts."""
    t = translations(language)
    return {
        Availability.IN_STOCK.value: (None, t.gettext("Buy")),
        Availability.PREORDER.value: (t.pgettext("availability", "Pre-order"), t.gettext("Pre-order")),
        Availability.OUT_OF_STOCK.value: (t.pgettext("availability", "Out of stock"), t.gettext("View")),
    }


def _region_choices(region: str, settings: Settings, words: _Words) -> tuple[RegionChoice, ...]:
    """The configured regions, and the one shown if it is not among them."""
    codes = dict.fromkeys((*settings.widgets.regions, region))
    return tuple(RegionChoice(code, region_name(code, words.language), code == region)
                 for code in codes)


def _get_film(db: Database, film_ref: str | Film | Row) -> Film | Row:
    """The film `film_ref` names, or the row itself if the caller read it (a Film, or its
    columns as affiliate.film_rows reads them)."""
    if not isinstance(film_ref, str):
        return film_ref
    key = FilmKey.parse(film_ref)
    with db.session() as session:
        film = find_film(session, key)
    if film is None:
        raise FilmNotFound(f"no film matches {key}")
    return film


def _summary(film: Film) -> FilmSummary:
    return FilmSummary(id=film.id, ref=str(film_key(film)), title=film.title, year=film.year,
                       imdb_id=film.imdb_id, tmdb_id=film.tmdb_id)


class _OfferRow(NamedTuple):
    """An offer as the widget reads it, with its platform and its latest price change within
    the "Price drop" window (or Nones). A plain tuple: reading a SQLAlchemy Row's
    attributes cost more than all the rest of building a row."""

    id: int
    platform_id: int
    kind: str
    quality: str
    price: Decimal | None
    currency: str | None
    link: str
    deep_link: bool
    source: str
    first_seen: dt.datetime
    available_since: dt.date | None
    expires_on: dt.date | None
    expires_at: dt.datetime | None
    last_checked: dt.datetime
    platform_name: str
    platform_slug: str
    platform_logo_url: str | None
    change_at: dt.datetime | None
    change_before: Decimal | None
    change_after: Decimal | None


def _offers_statement():
    """The film's visible offers in the region as _OfferRow's columns, in one query, built
    once with bound parameters: composing it took as long as running it."""
    latest_change = (
        select(OfferEvent.id)
        .where(OfferEvent.offer_id == Offer.id, OfferEvent.event == PRICE_CHANGED,
               OfferEvent.at >= bindparam("since"))
        .order_by(OfferEvent.at.desc(), OfferEvent.id.desc()).limit(1)
        .correlate(Offer).scalar_subquery())
    columns = (Offer.id, Offer.platform_id, Offer.kind, Offer.quality, Offer.price,
               Offer.currency, Offer.link, Offer.deep_link, Offer.source, Offer.first_seen,
               Offer.available_since, Offer.expires_on, Offer.expires_at, Offer.last_checked,
               Platform.name,
               Platform.slug, Platform.logo_url, OfferEvent.at, OfferEvent.price_before,
               OfferEvent.price_after)
    return (select(*(column.label(name) for column, name in zip(columns, _OfferRow._fields,
                                                                strict=True)))
            .join(Platform, Platform.id == Offer.platform_id)
            .outerjoin(OfferEvent, OfferEvent.id == latest_change)
            .where(Offer.film_id == bindparam("film_id"), Offer.region == bindparam("region"),
                   Offer.hidden == False,  # noqa: E712  (SQL comparison)
                   or_(Offer.expires_at.is_(None), Offer.expires_at > bindparam("now")))
            .order_by(Offer.id))


_OFFERS = _offers_statement()


class _ProductRow(NamedTuple):
    """A product shown with the film, with how it is linked to the film; a plain tuple for
    the same reason as _OfferRow."""

    id: int
    title: str
    format: str
    image_url: str | None
    price: Decimal | None
    currency: str | None
    availability: str
    merchant: str
    link: str
    source: str
    last_checked: dt.datetime
    relation: str
    position: int | None
    pinned: bool


def _products_statement():
    """The film's approved, visible products in the region as _ProductRow's columns."""
    columns = (Product.id, Product.title, Product.format, Product.image_url, Product.price,
               Product.currency, Product.availability, Product.merchant, Product.link,
               Product.source, Product.last_checked, FilmProduct.relation, FilmProduct.position,
               FilmProduct.pinned)
    return (select(*(column.label(name) for column, name in zip(columns, _ProductRow._fields,
                                                                strict=True)))
            .select_from(FilmProduct).join(Product, Product.id == FilmProduct.product_id)
            .where(FilmProduct.film_id == bindparam("film_id"),
                   Product.region == bindparam("region"), FilmProduct.status == "approved",
                   FilmProduct.hidden == False, Product.hidden == False))  # noqa: E712


_PRODUCTS = _products_statement()


def _price_drops(found: Sequence[_OfferRow], settings: Settings) -> dict[int, dt.datetime]:
    """The offers whose latest recent price change lowered the price, with that change's
    time."""
    if not settings.widgets.price_drop_days:
        return {}
    return {offer.id: offer.change_at for offer in found
            if offer.change_before is not None and offer.change_after is not None
            and offer.change_after < offer.change_before}


class _BadgeRules:
    """Decides a row's badges and remembers the first moment one would change by the clock
    alone, so a cached widget knows when it goes stale without any data changing."""

    def __init__(self, film: Film, region: str, drops: dict[int, dt.datetime], now: dt.datetime,
                 settings: Settings, words: _Words):
        self.film, self.region, self.drops, self.now, self.words = film, region, drops, now, words
        self.today = local_date(now, region)  # dates are the region's calendar days
        self.widgets = settings.widgets
        self.fresh_until: dt.datetime | None = None

    def for_row(self, every: list[_OfferRow], shown: list[_OfferRow]) -> tuple[Badge, ...]:
        t = self.words.t
        badges = []
        if self._is_new(every):
            badges.append(Badge("new", t.gettext("New")))
        if self._dropped(shown):
            badges.append(Badge("price-drop", t.gettext("Price drop")))
        leaving = self._leaving(every)
        if leaving:
            date = format_skeleton("MMMd", leaving, locale=_babel(self.words.locale))
            badges.append(Badge("leaving", t.gettext("Leaving {date}").format(date=date)))
        return tuple(badges)

    def _is_new(self, offers: list[_OfferRow]) -> bool:
        """New on the platform: every offer of the row appeared within the window."""
        days = self.widgets.new_days
        appeared = [self._appeared_on(offer) for offer in offers]
        if not days or None in appeared:
            return False
        ends = min(appeared) + dt.timedelta(days=days)
        self.changes_at(self._midnight(ends))
        return ends > self.today

    def _appeared_on(self, offer: _OfferRow) -> dt.date | None:
        if offer.available_since is not None:
            return offer.available_since
        if offer.first_seen - self.film.created_at < _ARRIVED_WITH_FILM:
            return None
        return local_date(offer.first_seen, self.region)

    def _dropped(self, shown: list[_OfferRow]) -> bool:
        """A price the row shows was lowered within the window (drops holds only those)."""
        lowered = [self.drops[offer.id] for offer in shown if offer.id in self.drops]
        if lowered:
            self.changes_at(max(lowered) + dt.timedelta(days=self.widgets.price_drop_days))
        return bool(lowered)

    def _leaving(self, offers: list[_OfferRow]) -> dt.date | None:
        """The earliest date a source gives for the platform dropping the film, once it is
        within the window (and until it has passed)."""
        days = self.widgets.leaving_days
        dates = [offer.expires_on for offer in offers
                 if offer.expires_on is not None and offer.expires_on >= self.today]
        if not days or not dates:
            return None
        leaving = min(dates)
        starts = leaving - dt.timedelta(days=days)
        if starts > self.today:
            self.changes_at(self._midnight(starts))
            return None
        self.changes_at(self._midnight(leaving + dt.timedelta(days=1)))
        return leaving

    def _midnight(self, day: dt.date) -> dt.datetime:
        """When `day` begins in the region: badges turn on and off with its calendar."""
        return start_of_day(day, self.region)

    def changes_at(self, moment: dt.datetime) -> None:
        if moment > self.now and (self.fresh_until is None or moment < self.fresh_until):
            self.fresh_until = moment


def _by_kind_and_platform(offers: Sequence[_OfferRow]) -> dict[str, dict[int, list[_OfferRow]]]:
    grouped: dict = defaultdict(lambda: defaultdict(list))
    for offer in offers:
        grouped[offer.kind][offer.platform_id].append(offer)
    return grouped


def _cheapness(offer: _OfferRow) -> tuple:
    return (offer.price is None, offer.price or Decimal(0), _quality_rank(offer))


def _quality_rank(offer: _OfferRow) -> int:
    return _QUALITY_RANK.get(offer.quality, len(_QUALITY_RANK))


def _offer_group(kind: str, text: _GroupText, platforms, film_title: str, badges: _BadgeRules,
                 settings: Settings, words: _Words) -> OfferGroup:
    rows = [_platform_row(offers, text, film_title, badges, settings, words) for offers in platforms]
    rows.sort(key=_row_order if kind in _PRICED_KINDS else lambda row: row.name.casefold())
    return OfferGroup(kind=kind, heading=text.heading, action=text.action, rows=tuple(rows))


def _row_order(row: PlatformRow) -> tuple:
    """Cheapest first; platforms that name no price go last."""
    lowest = row.lowest_price
    return (lowest is None, lowest.amount if lowest else 0, row.name.casefold())


def _platform_row(every: list[_OfferRow], text: _GroupText, film_title: str,
                  badges: _BadgeRules, settings: Settings, words: _Words) -> PlatformRow:
    """One row per platform (`every`: its offers, each row naming the platform too), merged
    across sources: each quality at its best-known price, and the link to the platform's
    own page for the film wherever any source knows it. An offer of unknown quality
    (TMDB's) only stands where no source knows a quality."""
    platform = every[0]
    known = [offer for offer in every if offer.quality != _UNKNOWN_QUALITY]
    ranked = sorted(known or every, key=_cheapness)  # stable: ties keep the query's order
    best: dict[str, _OfferRow] = {}
    for offer in ranked:
        best.setdefault(offer.quality, offer)
    by_quality = sorted(best.values(), key=_quality_rank)
    cheapest = ranked[0]  # the cheapest of its quality, so among by_quality too
    linked = next((offer for offer in ranked if offer.deep_link), cheapest)
    link = tag_link(linked.link, settings.link_tags)
    priced = [offer for offer in by_quality if offer.quality != _UNKNOWN_QUALITY]
    return PlatformRow(
        name=platform.platform_name, slug=platform.platform_slug,
        logo_url=shown_url(platform.platform_logo_url), monogram=_monogram(platform.platform_name),
        brand=brand(platform.platform_slug),
        link=link, go_target=f"o{linked.id}", direct=is_direct(link),
        prices=tuple(_quality_price(offer, words.locale) for offer in priced),
        lowest_price=_price(cheapest.price, cheapest.currency, words.locale),
        action_label=text.label.format(film=film_title, platform=platform.platform_name),
        badges=badges.for_row(every, by_quality),
        checked_at=min((offer.last_checked for offer in priced if offer.price is not None),
                       default=None),
        sources=tuple(sorted({offer.source for offer in (*by_quality, linked)})),
    )


def _quality_price(offer: _OfferRow, locale: str) -> QualityPrice:
    price = _price(offer.price, offer.currency, locale)
    label = f"{offer.quality} {price.text}" if price else offer.quality
    return QualityPrice(quality=offer.quality, price=price, label=label)


def _price(amount: Decimal | None, currency: str | None, locale: str) -> Price | None:
    if amount is None or not currency:
        return None
    return Price(amount=amount, currency=currency, text=price_text(amount, currency, locale))


@functools.lru_cache(maxsize=8192)
def price_text(amount: Decimal, currency: str, locale: str) -> str:
    """A price as the widgets write it (the console shows prices alike). Kept: a catalog
    repeats the same few prices (3.99, 14.99) in every film, and Babel's pattern formatting
    took most of an uncached render's time."""
    return format_currency(amount, currency, locale=_babel(locale))


@functools.lru_cache(maxsize=64)
def _babel(locale: str) -> Locale:
    """The parsed locale, kept: Babel parses a locale string on every call it is given,
    which cost most of an uncached render (one call per price)."""
    return Locale.parse(locale)


@functools.lru_cache(maxsize=1024)
def _moment(moment: dt.datetime, locale: str) -> str:
    """A date and a time to the minute, in UTC, as the locale writes them. Kept: a film's
    "prices as of" moment stays the same until its next refresh, and Babel's date and time
    patterns took as long as building all of a film's rows."""
    utc = dt.timezone.utc
    parsed = _babel(locale)
    return (get_datetime_format("medium", locale=parsed).replace("'", "")
            .replace("{0}", format_time(moment, "short", tzinfo=utc, locale=parsed))
            .replace("{1}", format_date(moment.astimezone(utc).date(), "medium", locale=parsed))
            + " UTC")


def _monogram(name: str) -> str:
    """Initials for a platform without a logo: "Apple TV" -> "AT", "Vudu" -> "V"."""
    return "".join(word[0] for word in name.split()[:2]).upper()


def card_order(link: FilmProduct | _ProductRow, product: Product | _ProductRow) -> tuple:
    """Operators' pins first in their order; then by relation (editions, soundtrack,
    collections, the book, merchandise), the source's position, title. `link` gives the
    pin, relation and position, `product` the title (a _ProductRow gives both)."""
    position = link.position if link.position is not None else math.inf
    title = product.title.casefold()
    if link.pinned:
        return (0, position, title)
    return (1, _RELATION_RANK.get(link.relation, len(_RELATION_RANK)), position, title)


def _card(product: _ProductRow, now: dt.datetime, settings: Settings, words: _Words,
          sources: SourceDirectory) -> tuple[ProductCard, dt.datetime | None]:
    """The card, and when its price stops being shown (if its source limits a price's age)."""
    t = words.t
    texts = _availability_texts(words.language)
    note, action = texts.get(product.availability, texts[Availability.IN_STOCK.value])
    max_age = sources.terms(product.source).price_max_age
    # Amazon's rule: a price older than its limit is not shown; a fresh one says when it was
    # checked, with Amazon's statement that the price on its site at purchase applies.
    fresh = max_age is None or now - product.last_checked <= max_age
    aged = max_age is not None and fresh and product.price is not None
    as_of = _moment(product.last_checked, words.locale) if aged else None
    target_url = tag_link(product.link, settings.link_tags)
    card = ProductCard(
        title=product.title, format=product.format,
        format_label=t.gettext(_FORMAT_LABELS.get(product.format, product.format)),
        relation=product.relation, image_url=shown_url(product.image_url),
        price=_price(product.price, product.currency, words.locale) if fresh else None,
        merchant=product.merchant, link=target_url, go_target=f"p{product.id}",
        direct=is_direct(target_url), availability=product.availability,
        availability_label=note, action=action,
        action_label=t.gettext("{action} {title} at {merchant}").format(
            action=action, title=product.title, merchant=product.merchant),
        price_as_of=as_of,
        price_as_of_label=t.gettext("as of {time}").format(time=as_of) if as_of else None,
        price_disclaimer=t.gettext(
            "Product prices and availability are accurate as of the date/time indicated and are "
            "subject to change. Any price and availability information displayed on {site} at "
            "the time of purchase will apply to the purchase of this product."
        ).format(site=_site_name(product)) if as_of else None,
    )
    return card, (product.last_checked + max_age if aged else None)


def _site_name(product: _ProductRow) -> str:
    """The store a link leads to, as its owner writes it: "Amazon.co.uk"."""
    host = (urlsplit(product.link).hostname or "").removeprefix("www.")
    return host[:1].upper() + host[1:] if host else product.merchant


def _attributions(shown: tuple[str, ...], sources: SourceDirectory) -> tuple[Attribution, ...]:
    """The credits the terms of every source whose data shows require, each once."""
    return tuple(dict.fromkeys(credit for source in shown
                               for credit in sources.terms(source).attributions))


def _merchant_statements(found: Sequence[_ProductRow], shown: tuple[str, ...],
                         sources: SourceDirectory) -> tuple[str, ...]:
    """The statements the programmes of the merchants shown require, whoever listed their
    products: the installed adapters', and those stored with the sources shown (an adapter no
    longer installed keeps its programme's rule), in the programme's own words."""
    merchants = {product.merchant for product in found}
    stored = (terms.disclosure for terms in map(sources.terms, shown)
              if terms.disclosure and terms.merchant in merchants)
    return tuple(dict.fromkeys((*merchant_disclosures(merchants), *stored)))


def _disclosure(settings: Settings, t: NullTranslations) -> str:
    """The operator's own statement as written, else the default in the visitor's language."""
    return settings.widgets.disclosure or t.gettext(DEFAULT_DISCLOSURE)


def _in_region(code: str, name: str, words: _Words, with_the: str, without: str) -> str:
    """English puts "the" before some names: "in the United Kingdom" but "in France"; other
    languages translate both sentences alike."""
    needs_the = words.language == "en" and (
        code in _REGIONS_WITH_THE or name.startswith("United ")
        or name.endswith(("Islands", "Republic")))
    return with_the if needs_the else without
