"""Catalogs and product feeds read from a file or URL: the `feed` provider.

Operators curate what no API offers (the seed page's editions, collections, soundtracks,
merchandise) and affiliate networks (Awin, CJ, Impact) publish product feeds; both arrive as
one document, so one adapter reads them all. The bundled demo catalog (`builtin:demo`) goes
through this adapter too, which keeps it honest.

`url` is a local path, an http(s) URL or `builtin:demo`. Gzipped bodies are recognised by
their magic bytes. An http(s) feed follows redirects (http(s) only, at most 5) and connects
only to public addresses, each hop checked as it connects (providers.outbound), unless the
feed sets `allow_private_addresses`; its body, and any gzip inside it, is capped at
`max_megabytes`, and the whole download at `max_seconds`. With `format = "auto"` the name (`.json`, `.csv`, either with `.gz`)
decides, then an http Content-Type.

JSON, our own catalog format. Every section is optional; unknown keys are ignored::

    {"platforms": [{"slug": "apple-tv", "name": "Apple TV", "logo_url": null,
                    "homepage": "https://tv.apple.com"}],
     "films": [{"title": "Leaving Las Vegas", "year": 1995, "imdb_id": "tt0113627",
                "tmdb_id": 451, "runtime_minutes": 111, "director": "Mike Figgis",
                "original_title": "Leaving Las Vegas", "poster_url": "https://...",
                "people": [{"name": "Nicolas Cage", "role": "actor"},
                           {"name": "Mike Figgis", "role": "director"}]}],
     "offers": [{"film": "imdb:tt0113627", "platform": "apple-tv", "region": "US",
                 "kind": "rent", "quality": "HD", "price": "3.99", "currency": "USD",
                 "link": "https://...", "expires_on": "2026-12-31"}],
     "products": [{"id": "B000...", "merchant": "Amazon", "title": "...",
                   "format": "blu-ray", "link": "https://...", "image_link": null,
                   "price": "12.99 USD", "availability": "in stock", "gtin": "...",
                   "region": "US",
                   "films": [{"film": "imdb:tt0113627", "relation": "edition",
                              "position": 1}]}]}

A film needs an imdb_id or a tmdb_id; its key is imdb:… when it has one, else tmdb:….
`people` (director, top-billed cast in billing order, composer, writer, and the author of its
source: roles director, actor, composer, writer, author) is what matching compares products'
credits with; a film listed without it keeps the people another source gave.
References (`film`) use the forms `FilmKey.parse` reads; one naming a listed film by another
of its ids is rewritten to that film's key. An offer's `platform` must be a listed slug.
Prices are decimal strings or JSON numbers (read exactly, never as floats), as "12.99 USD"
or as `price` plus `currency`; `region` and `merchant` fall back to the provider settings;
a link's `relation` defaults to "edition". Enumerated values (kind, quality, format,
availability, relation) match their `providers.base` values ignoring case, with "_", "-"
and " " alike, so "in_stock" reads as "in stock".

CSV, Google Merchant style, with a header row; it carries products only. Columns: id,
title, link, image_link, price ("12.99 USD"), availability, gtin (brand, condition and
unknown columns are ignored), plus `format` (or `product_type`), `film` (or
`custom_label_0`; several references separated by commas or spaces tie one product to
several films), `relation` (default "edition") and `position` for those films, `region` and
`merchant`. The columns id, title, link and film are required.

Each bad entry is skipped and reported as a Problem (`offers[3]`, `line 7`); the rest still
loads. A JSON document naming none of the sections (an error object answered with 200) is
refused whole. The result is complete only when nothing was skipped: only then may the
catalog treat something the feed no longer lists as gone. Without a film list, `covered` is every film the
feed lists or mentions; with one, exactly the films asked about.
"""
from __future__ import annotations

import csv
import datetime as dt
import importlib.resources
import io
import json
import re
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from enum import Enum
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Literal, TypeVar
from urllib.parse import urlsplit

from pydantic import Field, ValidationInfo, field_validator

from providers.base import (
    PERSON_ROLES,
    Availability,
    BadResponse,
    FilmKey,
    FilmQuery,
    FilmRecord,
    NotFound,
    OfferKind,
    OfferRecord,
    Person,
    PlatformRecord,
    Problem,
    ProductFormat,
    ProductLink,
    ProductRecord,
    Provider,
    ProviderResult,
    ProviderSettings,
    Quality,
    Relation,
    Retry,
)
from providers.fields import http_url, is_http_url
from providers.http import Http, safe_label
from providers.outbound import Limits, LimitExceeded, address_rule, gunzip
from providers.regions import normalize_region
from providers.testing import ProviderCase, Route

BUILTIN_DEMO = "builtin:demo"
_SECTIONS = ("platforms", "films", "offers", "products")
_CSV_REQUIRED = ("id", "title", "link", "film")
_CSV_ALIASES = {"film": "custom_label_0", "format": "product_type"}
_GZIP_MAGIC = b"\x1f\x8b"
_CURRENCY_RE = re.compile(r"^[A-Z]{3}$")
_SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9-]*$")
_GTIN_LENGTHS = (8, 12, 13, 14)

E = TypeVar("E", bound=Enum)
R = TypeVar("R")


class FeedProvider(Provider):
    class Settings(ProviderSettings):
        # Loopback, private and link-local addresses are refused unless the operator says
        # the feed lives there; cloud metadata addresses are refused always. (Declared
        # before `url`, whose check reads it.)
        allow_private_addresses: bool = False
        url: str
        format: Literal["auto", "json", "csv"] = "auto"
        timeout_seconds: float = Field(30, gt=0)
        # Whole-download limits, against a feed that never ends or inflates without end.
        max_megabytes: float = Field(200, gt=0)
        max_seconds: float = Field(600, gt=0)
        region: str | None = None
        merchant: str | None = None
        curated: bool = True

        @field_validator("url")
        @classmethod
        def _url(cls, value: str, info: ValidationInfo) -> str:
            value = value.strip()
            if not value:
                raise ValueError(f"set a local path, an http(s) URL or {BUILTIN_DEMO}")
            if value.startswith("builtin:") and value != BUILTIN_DEMO:
                raise ValueError(f"{value!r}: the only built-in feed is {BUILTIN_DEMO}")
            scheme = re.match(r"^([a-zA-Z][a-zA-Z0-9+.-]*)://", value)
            if scheme and scheme[1].lower() not in ("http", "https"):
                raise ValueError(f"{value!r}: use an http(s) URL, a local path or {BUILTIN_DEMO}")
            if scheme:
                _refuse_address_literal(value, info.data.get("allow_private_addresses", False))
            return value

        @field_validator("region")
        @classmethod
        def _region(cls, value: str | None) -> str | None:
            return None if value is None else normalize_region(value)

    type_name = "feed"
    lists_catalog = True
    description = "A JSON catalog or a Google Merchant-style CSV product feed, from a file or URL"
    tests = (ProviderCase(
        "feed", {"type": "feed", "url": "https://feed.fault.test/catalog.json?token=feed-token-SECRET-7c1d"},
        ("feed-token-SECRET-7c1d",),
        good=(Route("GET", "https://feed.fault.test/catalog.json", "feed/catalog.json"),),
        shows="Leaving Las Vegas [Blu-ray]",
        empty=(Route("GET", "https://feed.fault.test/catalog.json",
                     b'{"films": [], "offers": [], "products": []}'),),
        # A feed follows redirects to any public host (a CDN); the matrix's other host is down.
        outcomes={"redirect-elsewhere": "transient"},
        local_config={"allow_private_addresses": True},
        notes="An affiliate network's feed, its key in the URL."),)

    def fetch(self, films: Iterable[FilmQuery] | None) -> ProviderResult:
        source = _Source(self.settings, self.throttle, self.retry)
        body, name, content_type = source.read()
        text = _decode(_gunzip(body, source.max_bytes, source.label), source.label)
        json_format = self._format(name, content_type, source.label) == "json"
        parse = _parse_json if json_format else _parse_csv
        return parse(text, _Rules(self.settings), source.label).select(films)

    def _format(self, name: str, content_type: str | None, label: str) -> str:
        if self.settings.format != "auto":
            return self.settings.format
        stem = name.lower().removesuffix(".gz")
        for candidate in ("json", "csv"):
            if stem.endswith(f".{candidate}"):
                return candidate
        media = (content_type or "").split(";")[0].strip().lower()
        if media in ("application/json", "text/json") or media.endswith("+json"):
            return "json"
        if media in ("text/csv", "application/csv"):
            return "csv"
        raise BadResponse(f'{label}: cannot tell JSON from CSV; set format = "json" or "csv"')


def _refuse_address_literal(url: str, allow_private: bool) -> None:
    """A URL naming a refused address outright is refused with the config, naming the rule;
    host names are checked as the feed is fetched (what they resolve to may change)."""
    host = urlsplit(url).hostname or ""
    try:
        rule = address_rule(host, allow_private)
    except ValueError:  # a host name, not an address
        return
    if rule:
        hint = ("" if rule == "cloud metadata"
                else "; set allow_private_addresses = true if the feed lives there")
        raise ValueError(f"{host} is a {rule} address{hint}")


class _Source:
    """Where the feed's bytes come from; failures become the ProviderError refresh expects."""

    def __init__(self, settings: FeedProvider.Settings, throttle: Callable[[], None], retry: Retry):
        self.settings = settings
        self.throttle = throttle
        self.retry = retry
        self.url = settings.url
        self.max_bytes = int(settings.max_megabytes * 1024 * 1024)
        parts = urlsplit(self.url)
        self.is_http = parts.scheme.lower() in ("http", "https")
        # Feed URLs often carry an API key in the path or query: name only the host.
        self.label = safe_label(self.url, show_path=False) if self.is_http else self.url

    def read(self) -> tuple[bytes, str, str | None]:
        """Return the body, a name that may tell its format, and its Content-Type if any."""
        if self.is_http:
            return self._download()
        if self.url == BUILTIN_DEMO:
            return self._read_file(importlib.resources.files("affiliate") / "demo" / "catalog.json")
        return self._read_file(Path(self.url).expanduser())

    def _read_file(self, path: Any) -> tuple[bytes, str, None]:
        try:
            return path.read_bytes(), path.name, None
        except FileNotFoundError:
            raise NotFound(f"feed file {self.url} does not exist") from None
        except OSError as exc:
            raise NotFound(f"feed file {self.url} cannot be read: {exc.strerror or exc}") from None

    def _download(self) -> tuple[bytes, str, str | None]:
        # Affiliate networks put the account's key in the feed's path: name only the host.
        # The key is the feed's own and goes wherever the network redirects, so any redirect
        # is followed; every hop's address is checked as it connects.
        limits = Limits(max_bytes=self.max_bytes, max_seconds=self.settings.max_seconds)
        response = Http(self.settings.timeout_seconds, show_path=False,
                        before_request=self.throttle, retry=self.retry, redirects="any",
                        check_addresses=True,
                        allow_private=self.settings.allow_private_addresses,
                        limits=limits).request("GET", self.url)
        return response.content, urlsplit(self.url).path, response.headers.get("Content-Type")


def _gunzip(body: bytes, max_bytes: int, label: str) -> bytes:
    if not body.startswith(_GZIP_MAGIC):
        return body
    try:
        return gunzip(body, max_bytes)
    except LimitExceeded as exc:
        raise BadResponse(f"{label}: {exc}; raise max_megabytes if the feed is that big") from None
    except ValueError as exc:
        raise BadResponse(f"{label}: damaged gzip data ({exc})") from None


def _decode(body: bytes, label: str) -> str:
    try:
        return body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise BadResponse(f"{label}: not UTF-8 text (byte {exc.start})") from None


@dataclass
class _Catalog:
    """Everything a feed held; `select` cuts it down to the films a fetch asked about."""

    films: list[FilmRecord]
    offers: list[OfferRecord]
    products: list[ProductRecord]
    problems: list[Problem]
    known: dict[FilmKey, FilmRecord]

    def select(self, queries: Iterable[FilmQuery] | None) -> ProviderResult:
        if queries is None:
            covered = {film.key for film in self.films} | {offer.film for offer in self.offers}
            covered |= {link.film for product in self.products for link in product.films}
            return self._result(self.films, self.offers, self.products, covered)
        wanted = {key: query.key for query in queries for key in _keys_of(query)}

        def hit(key: FilmKey) -> bool:
            return any(alias in wanted for alias in self._aliases(key))

        return self._result(
            [film for film in self.films if hit(film.key)],
            [offer for offer in self.offers if hit(offer.film)],
            [p for p in self.products if any(hit(link.film) for link in p.films)],
            set(wanted.values()),
        )

    def _aliases(self, key: FilmKey) -> set[FilmKey]:
        film = self.known.get(key)
        return _keys_of(film) if film else {key}

    def _result(self, films, offers, products, covered) -> ProviderResult:
        return ProviderResult(
            films=films,
            offers=offers,
            products=products,
            covered=covered,
            complete=not self.problems,
            problems=list(self.problems),
        )


def _keys_of(film: FilmRecord | FilmQuery) -> set[FilmKey]:
    """Every key a film may be named by: its own and one per id it has."""
    keys = {film.key}
    if film.imdb_id:
        keys.add(FilmKey(imdb_id=film.imdb_id))
    if film.tmdb_id is not None:
        keys.add(FilmKey(tmdb_id=film.tmdb_id))
    return keys


def _parse_json(text: str, rules: "_Rules", label: str) -> _Catalog:
    sections = _json_sections(text, label)
    problems: list[Problem] = []

    def collect(name: str, parse: Callable[[Any], R], identity: Callable[[R], Any]) -> list[R]:
        entries = ((f"{name}[{index}]", entry) for index, entry in enumerate(sections[name]))
        return _collect(entries, parse, identity, problems)

    platforms = collect("platforms", _platform, lambda platform: platform.slug)
    films = collect("films", _film, lambda film: film.key)
    rules.learn(platforms, films)
    offers = collect("offers", rules.offer, _offer_identity)
    products = collect("products", rules.product, _product_identity)
    return _Catalog(films, offers, products, problems, rules.known)


def _json_sections(text: str, label: str) -> dict[str, list]:
    try:
        # Numbers become Decimals (exact prices); NaN and Infinity stay text and fail later.
        data = json.loads(text, parse_float=Decimal, parse_constant=str)
    except (ValueError, RecursionError) as exc:
        raise BadResponse(f"{label}: not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise BadResponse(f"{label}: expected a JSON object at the top level")
    if not data.keys() & set(_SECTIONS):
        # An error object answered with 200 is no catalog: reading it as an empty one would
        # count a miss for everything the feed lists.
        raise BadResponse(f"{label}: names none of {', '.join(_SECTIONS)}; not a catalog")
    sections = {name: [] if data.get(name) is None else data[name] for name in _SECTIONS}
    for name, value in sections.items():
        if not isinstance(value, list):
            raise BadResponse(f"{label}: {name}: expected a list, got {_kind(value)}")
    return sections


def _parse_csv(text: str, rules: "_Rules", label: str) -> _Catalog:
    reader = csv.reader(io.StringIO(text, newline=""))
    header = _csv_header(reader, label)
    problems: list[Problem] = []

    def parse(cells: list[str]) -> ProductRecord:
        if len(cells) > len(header):
            raise ValueError(f"{len(cells)} fields, but the header has {len(header)}")
        return rules.csv_product(dict(zip(header, cells, strict=False)))

    products = _collect(_csv_rows(reader, label), parse, _product_identity, problems)
    return _Catalog([], [], products, problems, {})


def _csv_header(reader: Iterator[list[str]], label: str) -> list[str]:
    try:
        header = [name.strip().lower() for name in next(reader, [])]
    except csv.Error as exc:
        raise BadResponse(f"{label}: line 1: {exc}") from None
    for column, alias in _CSV_ALIASES.items():
        if column not in header and alias in header:
            header[header.index(alias)] = column
    missing = [column for column in _CSV_REQUIRED if column not in header]
    if missing:
        raise BadResponse(f"{label}: CSV header lacks the columns {', '.join(missing)}")
    return header


def _csv_rows(reader: Any, label: str) -> Iterator[tuple[str, list[str]]]:
    """Yield each non-blank row with the physical line it starts on."""
    start = reader.line_num + 1
    while True:
        try:
            cells = next(reader, None)
        except csv.Error as exc:
            raise BadResponse(f"{label}: line {start}: {exc}") from None
        if cells is None:
            return
        if any(cell.strip() for cell in cells):
            yield f"line {start}", cells
        start = reader.line_num + 1


def _collect(
    entries: Iterable[tuple[str, Any]],
    parse: Callable[[Any], R],
    identity: Callable[[R], Any],
    problems: list[Problem],
) -> list[R]:
    """Parse each entry, skipping and reporting bad ones and repeats of an earlier one."""
    records: list[R] = []
    seen: dict[Any, str] = {}
    for where, entry in entries:
        try:
            record = parse(entry)
        except ValueError as exc:
            problems.append(Problem(where, str(exc)))
            continue
        first = seen.setdefault(identity(record), where)
        if first != where:
            problems.append(Problem(where, f"repeats {first}"))
            continue
        records.append(record)
    return records


def _offer_identity(offer: OfferRecord):
    return offer.film, offer.platform.slug, offer.region, offer.kind, offer.quality


def _product_identity(product: ProductRecord):
    return product.merchant, product.merchant_id, product.region


def _platform(entry: Any) -> PlatformRecord:
    entry = _object(entry)
    slug = _text(entry, "slug", required=True, max_length=64)
    if not _SLUG_RE.match(slug):
        raise ValueError(f"slug: {slug!r} should be lower-case letters, digits and dashes")
    return PlatformRecord(
        slug=slug,
        name=_text(entry, "name", required=True, max_length=120),
        logo_url=_url(entry, "logo_url", max_length=1000),
        homepage=_url(entry, "homepage", max_length=1000),
    )


def _film(entry: Any) -> FilmRecord:
    entry = _object(entry)
    imdb_id = _text(entry, "imdb_id")
    if imdb_id:
        imdb_id = _checked("imdb_id", lambda v: FilmKey.parse(f"imdb:{v}").imdb_id, imdb_id)
    tmdb_id = _int(entry, "tmdb_id", low=1)
    if not imdb_id and tmdb_id is None:
        raise ValueError("imdb_id or tmdb_id is required")
    poster = _text(entry, "poster_url", max_length=1000)
    return FilmRecord(
        key=FilmKey(imdb_id=imdb_id) if imdb_id else FilmKey(tmdb_id=tmdb_id),
        title=_text(entry, "title", required=True, max_length=300),
        year=_int(entry, "year", low=1870, high=2200),
        imdb_id=imdb_id,
        tmdb_id=tmdb_id,
        runtime_minutes=_int(entry, "runtime_minutes", low=1),
        director=_text(entry, "director", max_length=200),
        original_title=_text(entry, "original_title", max_length=300),
        people=_people(entry["people"]) if "people" in entry else None,
        poster_url=_checked("poster_url", http_url, poster) if poster else None,
    )


def _people(value: Any) -> tuple[Person, ...]:
    if not isinstance(value, list):
        raise ValueError("people: a list of {\"name\": ..., \"role\": ...} is expected")
    people = []
    for index, entry in enumerate(value):
        entry = _object(entry)
        name = _text(entry, "name", required=True, max_length=200)
        role = (_text(entry, "role", required=True) or "").lower()
        if role not in PERSON_ROLES:
            raise ValueError(f"people[{index}].role: {role!r} is not one of {', '.join(PERSON_ROLES)}")
        people.append(Person(name, role))
    return tuple(people)


class _Rules:
    """Parses offers and products, which depend on settings and on the listed platforms/films.

    Every method raises ValueError whose text starts with the offending field.
    """

    def __init__(self, settings: FeedProvider.Settings):
        self.settings = settings
        self.platforms: dict[str, PlatformRecord] = {}
        self.known: dict[FilmKey, FilmRecord] = {}

    def learn(self, platforms: list[PlatformRecord], films: list[FilmRecord]) -> None:
        self.platforms = {platform.slug: platform for platform in platforms}
        self.known = {key: film for film in films for key in _keys_of(film)}

    def offer(self, entry: Any) -> OfferRecord:
        entry = _object(entry)
        slug = _text(entry, "platform", required=True)
        if slug not in self.platforms:
            raise ValueError(f"platform: {slug!r} is not listed in platforms")
        price, currency = _price(entry)
        return OfferRecord(
            film=self._film_ref(entry),
            platform=self.platforms[slug],
            region=self._region(entry),
            kind=_choice(entry, "kind", OfferKind),
            quality=_choice(entry, "quality", Quality),
            link=_url(entry, "link", required=True),
            price=price,
            currency=currency,
            expires_on=_date(entry, "expires_on"),
        )

    def product(self, entry: Any) -> ProductRecord:
        entry = _object(entry)
        items = entry.get("films")
        if not isinstance(items, list) or not items:
            raise ValueError("films: expected a non-empty list of {film, relation, position}")
        links = [self._indexed_link(index, item) for index, item in enumerate(items)]
        return self._product(entry, links)

    def csv_product(self, row: dict[str, str]) -> ProductRecord:
        """A CSV row names its films in one cell, all with the row's relation."""
        references = (row.get("film") or "").replace(",", " ").split()
        if not references:
            raise ValueError("film: missing")
        links = [self._link({**row, "film": reference}) for reference in references]
        return self._product(row, links)

    def _product(self, entry: dict, links: list[ProductLink]) -> ProductRecord:
        counts = Counter(link.film for link in links)
        repeated = sorted(str(film) for film, count in counts.items() if count > 1)
        if repeated:
            raise ValueError(f"films: {', '.join(repeated)} listed more than once")
        price, currency = _price(entry)
        merchant = _text(entry, "merchant", max_length=120) or self.settings.merchant
        if not merchant:
            raise ValueError("merchant: missing, and the provider sets no default merchant")
        return ProductRecord(
            merchant=merchant,
            merchant_id=_text(entry, "id", required=True, max_length=128),
            title=_text(entry, "title", required=True, max_length=500),
            format=_choice(entry, "format", ProductFormat),
            link=_url(entry, "link", required=True),
            region=self._region(entry),
            films=tuple(links),
            image_url=_url(entry, "image_link"),
            price=price,
            currency=currency,
            availability=_choice(entry, "availability", Availability, Availability.IN_STOCK),
            gtin=_gtin(entry),
        )

    def _indexed_link(self, index: int, item: Any) -> ProductLink:
        try:
            return self._link(_object(item))
        except ValueError as exc:
            raise ValueError(f"films[{index}]: {exc}") from None

    def _link(self, item: dict) -> ProductLink:
        return ProductLink(
            film=self._film_ref(item),
            relation=_choice(item, "relation", Relation, Relation.EDITION),
            position=_int(item, "position", low=0),
            curated=self.settings.curated,
        )

    def _film_ref(self, entry: dict) -> FilmKey:
        key = _checked("film", FilmKey.parse, _text(entry, "film", required=True))
        film = self.known.get(key)
        return film.key if film else key

    def _region(self, entry: dict) -> str:
        region = _text(entry, "region") or self.settings.region
        if not region:
            raise ValueError("region: missing, and the provider sets no default region")
        return _checked("region", normalize_region, region)


def _checked(key: str, convert: Callable[[Any], R], value: Any) -> R:
    try:
        return convert(value)
    except ValueError as exc:
        raise ValueError(f"{key}: {exc}") from None


def _object(entry: Any) -> dict:
    if not isinstance(entry, dict):
        raise ValueError(f"expected an object, got {_kind(entry)}")
    return entry


def _kind(value: Any) -> str:
    names = {dict: "an object", list: "a list", bool: "true/false", str: "text", type(None): "null"}
    return names.get(type(value), "a number")


def _text(entry: dict, key: str, required: bool = False, max_length: int = 2000) -> str | None:
    """Read a text field. Limits match the columns in `affiliate.models`, so what passes stores."""
    value = entry.get(key)
    if value is not None and not isinstance(value, str):
        raise ValueError(f"{key}: expected text, got {_kind(value)}")
    value = (value or "").strip()
    if not value:
        if required:
            raise ValueError(f"{key}: missing")
        return None
    if len(value) > max_length:
        raise ValueError(f"{key}: longer than {max_length} characters")
    if "\x00" in value:
        raise ValueError(f"{key}: holds a NUL character, which PostgreSQL cannot store")
    return value


def _int(entry: dict, key: str, low: int | None = None, high: int | None = None) -> int | None:
    value = entry.get(key)
    if value is None or value == "":
        return None
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{key}: {value!r} is not a whole number")
    if low is not None and value < low:
        raise ValueError(f"{key}: {value} is less than {low}")
    if high is not None and value > high:
        raise ValueError(f"{key}: {value} is more than {high}")
    return value


def _choice(entry: dict, key: str, enum: type[E], default: E | None = None) -> E:
    text = _text(entry, key)
    if text is None:
        if default is None:
            raise ValueError(f"{key}: missing")
        return default
    for member in enum:
        if _fold(member.value) == _fold(text):
            return member
    allowed = ", ".join(member.value for member in enum)
    raise ValueError(f"{key}: {text!r} is not one of {allowed}")


def _fold(text: str) -> str:
    return re.sub(r"[\s_-]+", " ", text.strip().lower())


def _url(entry: dict, key: str, required: bool = False, max_length: int = 2000) -> str | None:
    value = _text(entry, key, required, max_length)
    if value is not None and not is_http_url(value):
        raise ValueError(f"{key}: {value!r} is not an http(s) URL")
    return value




def _price(entry: dict) -> tuple[Decimal | None, str | None]:
    """Read "12.99 USD", or `price` with `currency`; a price always comes with its currency."""
    raw = entry.get("price")
    currency = _text(entry, "currency")
    if raw is None or raw == "":
        return None, None
    if isinstance(raw, str) and " " in raw.strip():
        raw, _, given = raw.strip().rpartition(" ")
        if currency and currency.upper() != given.upper():
            raise ValueError(f"price: names {given}, but currency is {currency}")
        currency = given
    if not currency:
        raise ValueError("currency: missing; a price needs one, as in \"12.99 USD\"")
    currency = currency.upper()
    if not _CURRENCY_RE.match(currency):
        raise ValueError(f"currency: {currency!r} is not a three-letter code such as USD")
    return _amount(raw), currency


def _amount(raw: Any) -> Decimal:
    problem = ValueError(f"price: {raw!r} is not an amount such as 12.99")
    if isinstance(raw, bool) or not isinstance(raw, (int, Decimal, str)):
        raise problem
    try:
        amount = Decimal(str(raw).strip())
    except InvalidOperation:
        raise problem from None
    if not amount.is_finite() or amount < 0:
        raise problem
    return amount


def _date(entry: dict, key: str) -> dt.date | None:
    text = _text(entry, key)
    return None if text is None else _checked(key, dt.date.fromisoformat, text)


def _gtin(entry: dict) -> str | None:
    gtin = _text(entry, "gtin")
    if gtin is None:
        return None
    if not (gtin.isascii() and gtin.isdigit() and len(gtin) in _GTIN_LENGTHS):
        raise ValueError(f"gtin: {gtin!r} is not a GTIN of 8, 12, 13 or 14 digits")
    return gtin
