"""One fetch's reading of Amazon's answers into product records: the ASINs the catalog links,
ten a call; discovery searches for films with none; link-only records while Amazon refuses
the account."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from providers.amazon.client import ACTOR_SETS, DIRECTOR_SETS, SEARCHES, Client, Search
from providers.amazon.references import ASIN
from providers.amazon.settings import AmazonSettings
from providers.amazon.wire import ErrorData, Item, Listing, OfferAvailability
from providers.base import (
    Availability,
    BadResponse,
    FilmKey,
    FilmQuery,
    Problem,
    ProductFacts,
    ProductFormat,
    ProductLink,
    ProductRecord,
    ProviderResult,
    Relation,
)
from providers.http import parse_as
from providers.product_facts import amazon_item_facts

MERCHANT = "Amazon"
MAX_ITEM_IDS = 10
_COLLECTION_RE = re.compile(r"\b(collection|box ?set|\d+[- ]film)\b", re.IGNORECASE)
_GTIN_LENGTHS = (8, 12, 13, 14)
# Errors by which Amazon answers that an ASIN it was asked about is no item it offers through
# the API ("not accessible", and the "invalid" ItemId of a batch with valid ones, the per-item
# form of the 404 it gives a batch of only such ASINs): a definitive miss of that product.
_GONE = {"ItemNotAccessible", "InvalidParameterValue"}

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
    facts: dict[str, ProductFacts] = field(default_factory=dict)
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
        # Each search's hits, so a person starring in several films is searched once.
        self.searched: dict[tuple, list[str]] = {}
        self.discovered: set[FilmKey] = set()

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
            for query in self.queries:
                if query.title.strip() and not query.discovered:
                    self._discover(client, query)
                    self.discovered.add(query.key)
        return self._result()

    def _read_batch(self, client: Client, asins: list[str]) -> None:
        answer = client.get_items(asins)
        if answer is None:  # Amazon's 404: it knows none of them
            for asin in asins:
                self.answers.gone[asin] = "Amazon knows none of the ASINs asked with it (404)"
            return
        label = client.label("getItems")
        items, bad = _parse_items(answer.items_result.items, label, self.answers.facts)
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
        """The title searches, then the box sets of the film's top-billed actors and its
        director (each person searched once per fetch); every hit but a streaming entry is
        a candidate for the service to score."""
        title = query.title.strip()
        for search in SEARCHES:
            self._search(client, query, search, title=title)
        actors = [p.name for p in query.people if p.role == "actor"][:self.settings.cast_searches]
        directors = [p.name for p in query.people if p.role == "director"][:1]
        if not self.settings.cast_searches:
            return
        for search, names in ((ACTOR_SETS, actors), (DIRECTOR_SETS, directors)):
            for name in names:
                self._search(client, query, search, name=name)

    def _search(self, client: Client, query: FilmQuery, search: Search, **names: str) -> None:
        key = (search, tuple(sorted(names.items())))
        if key not in self.searched:
            answer = client.search(search, **names)
            self.searched[key] = self._hits(client, query, search, answer)
        for asin in self.searched[key]:
            films = self.answers.candidates.setdefault(asin, [])
            if query.key not in films:
                films.append(query.key)

    def _hits(self, client: Client, query: FilmQuery, search: Search, answer) -> list[str]:
        if answer is None:
            return []
        items, bad = _parse_items(answer.search_result.items, client.label("searchItems"),
                                  self.answers.facts)
        notes = [f"{error.code}: {error.message}" for error in answer.errors]
        self.answers.problems += [Problem(str(query.key), f"{search.index} search: {note}")
                                  for note in notes + [message for _, message in bad]]
        hits = [asin for asin, item in items.items() if _is_candidate(item)]
        self.answers.found.update({asin: items[asin] for asin in hits})
        return hits

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
            discovered=self.discovered,
        )

    def _record(self, item: Item, linked: list[FilmKey], candidates: list[FilmKey]) -> ProductRecord:
        facts = self.answers.facts.get(item.asin)
        product_format = _format(item, facts)
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
            facts=facts if item.item_info is not None else None,
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



def _parse_items(entries: list[Any], label: str, facts: dict[str, ProductFacts],
                 ) -> tuple[dict[str, Item], list[tuple[str | None, str]]]:
    """Each entry read on its own, so a bad one costs only its ASIN (when it names one); what
    a good one says about itself goes into `facts` (providers.product_facts)."""
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
        facts[item.asin] = amazon_item_facts(entry)
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


def _format(item: Item, facts: ProductFacts | None) -> ProductFormat | None:
    """None when Amazon sent no item information: the stored format stays. An item with
    information but a binding no table knows is merchandise."""
    if item.item_info is None:
        return None
    return facts.format if facts is not None and facts.format else ProductFormat.MERCHANDISE


def _relation(item: Item, product_format: ProductFormat | None) -> Relation:
    if _COLLECTION_RE.search(" ".join([_title(item) or "", *_formats(item)])):
        return Relation.COLLECTION
    return _RELATIONS.get(product_format, Relation.MERCHANDISE)


def _is_candidate(item: Item) -> bool:
    """A search hit the service scores: anything shippable that says what it is."""
    return item.item_info is not None and _binding(item).lower() not in _STREAMING_BINDINGS


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