"""One fetch's reading of Amazon's answers into product records: the ASINs the catalog links,
ten a call; discovery searches for films with none; link-only records while Amazon refuses
the account."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from providers.amazon.client import SEARCHES, Client
from providers.amazon.references import ASIN
from providers.amazon.settings import AmazonSettings
from providers.amazon.wire import ErrorData, Item, Listing, OfferAvailability
from providers.base import (
    Availability,
    BadResponse,
    FilmKey,
    FilmQuery,
    Problem,
    ProductFormat,
    ProductLink,
    ProductRecord,
    ProviderResult,
    Relation,
)
from providers.http import parse_as

MERCHANT = "Amazon"
MAX_ITEM_IDS = 10
_UHD_RE = re.compile(r"\b(4k|uhd|ultra hd)\b", re.IGNORECASE)
_COLLECTION_RE = re.compile(r"\b(collection|box ?set|\d+[- ]film)\b", re.IGNORECASE)
_GTIN_LENGTHS = (8, 12, 13, 14)
# Errors by which Amazon answers that an ASIN it was asked about is no item it offers through
# the API ("not accessible", and the "invalid" ItemId of a batch with valid ones, the per-item
# form of the 404 it gives a batch of only such ASINs): a definitive miss of that product.
_GONE = {"ItemNotAccessible", "InvalidParameterValue"}

# Bindings (lower case) as Amazon US names them; "Blu-ray" also covers 4K discs, which say so
# in the title or the technical formats.
_BINDING_FORMATS = {
    "blu-ray": ProductFormat.BLU_RAY,
    "dvd": ProductFormat.DVD,
    "4k": ProductFormat.UHD_BLU_RAY,
    "blu-ray 4k": ProductFormat.UHD_BLU_RAY,
    "4k ultra hd": ProductFormat.UHD_BLU_RAY,
    "audio cd": ProductFormat.SOUNDTRACK_CD,
    "vinyl": ProductFormat.VINYL,
    "mp3 music": ProductFormat.DIGITAL_ALBUM,
    "paperback": ProductFormat.BOOK,
    "hardcover": ProductFormat.BOOK,
    "kindle edition": ProductFormat.BOOK,
    "mass market paperback": ProductFormat.BOOK,
}
# Streaming entries that video searches return: not products anyone ships.
_STREAMING_BINDINGS = {"amazon video", "prime video"}
_RELATIONS = {
    ProductFormat.BLU_RAY: Relation.EDITION,
    ProductFormat.DVD: Relation.EDITION,
    ProductFormat.UHD_BLU_RAY: Relation.EDITION,
    ProductFormat.SOUNDTRACK_CD: Relation.SOUNDTRACK,
    ProductFormat.VINYL: Relation.SOUNDTRACK,
    ProductFormat.DIGITAL_ALBUM: Relation.SOUNDTRACK,
    ProductFormat.BOOK: Relation.SOURCE_NOVEL,
}
_AVAILABILITY = {
    "IN_STOCK": Availability.IN_STOCK,
    "IN_STOCK_SCARCE": Availability.IN_STOCK,
    "LEADTIME": Availability.IN_STOCK,
    "PREORDER": Availability.PREORDER,
    "AVAILABLE_DATE": Availability.PREORDER,
    "OUT_OF_STOCK": Availability.OUT_OF_STOCK,
    "UNAVAILABLE": Availability.OUT_OF_STOCK,
}
_AVAILABILITY_MESSAGES = (
    (re.compile(r"pre-?order", re.IGNORECASE), Availability.PREORDER),
    (re.compile(r"out of stock|unavailable", re.IGNORECASE), Availability.OUT_OF_STOCK),
)


@dataclass
class _Answers:
    """What Amazon said: items by ASIN, why the asked-for ones failed (`failed`: nothing is
    known of them; `gone`: Amazon answered that it has no such item), search hits by film."""

    items: dict[str, Item] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    gone: dict[str, str] = field(default_factory=dict)
    found: dict[str, Item] = field(default_factory=dict)
    candidates: dict[str, list[FilmKey]] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)


class Run:
    """One fetch: the refs asked about, the answers read, the records made."""

    def __init__(self, settings: AmazonSettings, queries: list[FilmQuery]):
        self.settings = settings
        self.queries = queries
        self.answers = _Answers()
        self.refs = self._refs()

    def _refs(self) -> dict[str, list[FilmKey]]:
        """The films holding each Amazon id of this region; a malformed id fails its films."""
        refs: dict[str, list[FilmKey]] = {}
        for query in self.queries:
            for ref in query.products:
                if ref.merchant.casefold() != MERCHANT.casefold() or ref.region != self.settings.region:
                    continue
                if not ASIN.match(ref.merchant_id):
                    self.answers.failed[ref.merchant_id] = "not an ASIN (ten capital letters and digits)"
                films = refs.setdefault(ref.merchant_id, [])
                if query.key not in films:
                    films.append(query.key)
        return refs

    def read(self, client: Client) -> ProviderResult:
        asins = [asin for asin in self.refs if asin not in self.answers.failed]
        for start in range(0, len(asins), MAX_ITEM_IDS):
            self._read_batch(client, asins[start:start + MAX_ITEM_IDS])
        if self.settings.discover:
            linked = {film for films in self.refs.values() for film in films}
            for query in self.queries:
                if query.title.strip() and query.key not in linked:
                    self._discover(client, query)
        return self._result()

    def _read_batch(self, client: Client, asins: list[str]) -> None:
        answer = client.get_items(asins)
        if answer is None:  # Amazon's 404: it knows none of them
            for asin in asins:
                self.answers.gone[asin] = "Amazon knows none of the ASINs asked with it (404)"
            return
        label = client.label("getItems")
        items, bad = _parse_items(answer.items_result.items, label)
        for asin, message in bad:
            if asin in asins:
                self.answers.failed[asin] = message
            else:
                self.answers.problems.append(Problem(label, message))
        self.answers.items.update({asin: item for asin, item in items.items() if asin in asins})
        for asin in asins:
            if asin not in self.answers.items and asin not in self.answers.failed:
                error = _error_for(asin, answer.errors)
                if error is not None and error.code in _GONE:
                    self.answers.gone[asin] = f"{error.code}: {error.message}"
                else:
                    self.answers.failed[asin] = (f"{error.code}: {error.message}" if error
                                                 else "missing from Amazon's answer")

    def _discover(self, client: Client, query: FilmQuery) -> None:
        where = str(query.key)
        for search in SEARCHES:
            answer = client.search(search, query.title.strip())
            if answer is None:
                continue
            items, bad = _parse_items(answer.search_result.items, client.label("searchItems"))
            notes = [f"{error.code}: {error.message}" for error in answer.errors]
            self.answers.problems += [Problem(where, f"{search.index} search: {note}")
                                      for note in notes + [message for _, message in bad]]
            for asin, item in items.items():
                if _is_candidate(item, query.title):
                    self.answers.found[asin] = item
                    films = self.answers.candidates.setdefault(asin, [])
                    if query.key not in films:
                        films.append(query.key)

    def _result(self) -> ProviderResult:
        items = dict(self.answers.items)
        for asin, item in self.answers.found.items():
            items.setdefault(asin, item)
        products = [self._record(item, self.refs.get(asin, []) if asin in self.answers.items else [],
                                 self.answers.candidates.get(asin, []))
                    for asin, item in items.items()]
        problems = [Problem(str(film), f"Amazon {asin}: {reason}")
                    for asin, reason in self.answers.failed.items() for film in self.refs[asin]]
        unread = {film for asin in self.answers.failed for film in self.refs[asin]}
        return ProviderResult(
            products=products,
            covered={query.key for query in self.queries} - unread,
            complete=True,
            problems=problems + self.answers.problems,
        )

    def _record(self, item: Item, linked: list[FilmKey], candidates: list[FilmKey]) -> ProductRecord:
        product_format = _format(item)
        relation = _relation(item, product_format)
        listing = _first_listing(item)
        money = listing.price.money if listing and listing.price else None
        films = [ProductLink(film=film, relation=relation) for film in linked]
        films += [ProductLink(film=film, relation=relation, candidate=True)
                  for film in candidates if film not in linked]
        return ProductRecord(
            merchant=MERCHANT,
            merchant_id=item.asin,
            title=_title(item),
            format=product_format,
            link=item.detail_page_url,
            region=self.settings.region,
            films=tuple(films),
            image_url=_image(item),
            price=money.amount if money else None,
            currency=money.currency if money else None,
            availability=_availability(listing),
            gtin=_gtin(item),
        )

    def link_only(self, reason: str) -> ProviderResult:
        """Tagged links without prices or images, for every ref, while Amazon refuses the account."""
        tag = quote(self.settings.partner_tag, safe="")
        products = [
            ProductRecord(
                merchant=MERCHANT, merchant_id=asin, title=asin, format=ProductFormat.MERCHANDISE,
                link=f"https://{self.settings.marketplace}/dp/{asin}?tag={tag}",
                region=self.settings.region, link_only=True,
                films=tuple(ProductLink(film=film, relation=Relation.MERCHANDISE) for film in films))
            for asin, films in self.refs.items() if ASIN.match(asin)
        ]
        notice = Problem("Creators API", f"link-only mode: {reason}; showing tagged links without "
                                         "prices or images until Amazon allows the account again")
        return ProviderResult(products=products, covered=set(), complete=True, problems=[notice])



def _parse_items(entries: list[Any], label: str) -> tuple[dict[str, Item], list[tuple[str | None, str]]]:
    """Each entry read on its own, so a bad one costs only its ASIN (when it names one)."""
    items: dict[str, Item] = {}
    bad: list[tuple[str | None, str]] = []
    for index, entry in enumerate(entries):
        try:
            item = parse_as(Item, entry, f"{label}: items[{index}]")
        except BadResponse as exc:
            asin = entry.get("asin") if isinstance(entry, dict) else None
            bad.append((asin if isinstance(asin, str) else None, f"wrong shape: {exc}"))
            continue
        items[item.asin] = item
    return items, bad


def _error_for(asin: str, errors: list[ErrorData]) -> ErrorData | None:
    """Amazon names a failed ASIN only inside the error's message."""
    return next((error for error in errors if asin in error.message), None)


def _binding(item: Item) -> str:
    classifications = item.item_info.classifications if item.item_info else None
    binding = classifications.binding if classifications else None
    return binding.display_value.strip() if binding else ""


def _formats(item: Item) -> list[str]:
    info = item.item_info.technical_info if item.item_info else None
    return info.formats.display_values if info and info.formats else []


def _title(item: Item) -> str | None:
    return item.item_info.title.display_value if item.item_info else None


def _format(item: Item) -> ProductFormat | None:
    """None when Amazon sent no item information: the stored format stays."""
    if item.item_info is None:
        return None
    product_format = _BINDING_FORMATS.get(_binding(item).lower(), ProductFormat.MERCHANDISE)
    described = " ".join([_title(item), *_formats(item)])
    if product_format is ProductFormat.BLU_RAY and _UHD_RE.search(described):
        return ProductFormat.UHD_BLU_RAY
    return product_format


def _relation(item: Item, product_format: ProductFormat | None) -> Relation:
    if _COLLECTION_RE.search(" ".join([_title(item) or "", *_formats(item)])):
        return Relation.COLLECTION
    return _RELATIONS.get(product_format, Relation.MERCHANDISE)


def _is_candidate(item: Item, film_title: str) -> bool:
    """A search hit worth an operator's look: a shippable product naming the film."""
    if item.item_info is None or _binding(item).lower() in _STREAMING_BINDINGS:
        return False
    return _fold(film_title) in _fold(_title(item))


def _fold(text: str) -> str:
    return " ".join(re.sub(r"[^0-9a-z]+", " ", text.lower()).split())


def _first_listing(item: Item) -> Listing | None:
    listings = item.offers_v2.listings if item.offers_v2 else []
    return listings[0] if listings else None


def _availability(listing: Listing | None) -> Availability:
    """No offer means nothing to buy; an offer Amazon does not qualify is taken as buyable."""
    if listing is None:
        return Availability.OUT_OF_STOCK
    offer = listing.availability or OfferAvailability()
    if offer.type in _AVAILABILITY:
        return _AVAILABILITY[offer.type]
    for pattern, availability in _AVAILABILITY_MESSAGES:
        if offer.message and pattern.search(offer.message):
            return availability
    return Availability.IN_STOCK


def _image(item: Item) -> str | None:
    primary = item.images.primary if item.images else None
    return primary.medium.url if primary and primary.medium else None


def _gtin(item: Item) -> str | None:
    ids = item.item_info.external_ids if item.item_info else None
    for group in (ids.eans, ids.upcs) if ids else ():
        for value in group.display_values if group else ():
            if value.isascii() and value.isdigit() and len(value) in _GTIN_LENGTHS:
                return value
    return None