"""Apple's iTunes Search and Lookup API: Apple TV buy and rent prices, and soundtrack albums.

Facts confirmed from Apple's documentation (developer.apple.com "iTunes Search API":
Overview, Constructing Searches, Understanding Search Results; performance-partners.apple.com
"Linking Guide") and from public client code and issue threads:

- No key, no account. `GET /search?term=..&country=..&media=movie&entity=movie&limit=..` and
  `GET /lookup?id=<trackId>&country=..` both answer `{"resultCount": n, "results": [..]}`,
  UTF-8 JSON. `country` is the storefront's two-letter code; Apple's examples write it in
  either case (`country=US`, `country=ca`), so we send ISO alpha-2 upper case.
- A film is `wrapperType` "track", `kind` "feature-movie" (client code reports newer answers
  with `kind` null for video, so null is read as a film too): `trackId`, `trackName`,
  `artistName` (the director), `releaseDate` ("1995-10-27T07:00:00Z"), `trackViewUrl`,
  `currency`, `artworkUrl100`, and the prices `trackPrice` (buy SD), `trackHdPrice` (buy HD),
  `trackRentalPrice` (rent SD), `trackHdRentalPrice` (rent HD). A field is absent when that
  way to watch is not offered; prices may be written `3.99000`. `collectionPrice` on a film
  is the price of a bundle it is sold in, so it is not read. `country` is alpha-3 ("USA").
- There are no IMDb or TMDB ids: a film without a stored Apple id is matched on title, year
  and director, and the id found is handed back (FilmRecord.external_ids["itunes"]) so later
  refreshes look it up by id. Stored ids are looked up in every configured storefront.
- Albums (`media=music&entity=album`): `wrapperType` "collection", `collectionId`,
  `collectionName`, `collectionViewUrl` (music.apple.com), `collectionPrice` (absent when
  the album is not sold on its own), `currency`, `artworkUrl100`.
- Real bodies hold raw control characters inside strings (descriptions): decoded with
  `strict=False`. Apple labels them `text/javascript; charset=utf-8`, which Http accepts.
- Limit: "approximately 20 calls per minute (subject to change)". Over it Apple answers
  403 with an empty body and no Retry-After (Vinelab/iTunes#5, app-store-scraper#194,
  get_cover_art#16), sometimes 429. With no key a 403 cannot mean bad credentials, so it
  is RateLimited, retried after a minute. A bad parameter (an unknown storefront) is 400
  `{"errorMessage": "Invalid value(s) for key(s): [country]"}`: BadResponse with that text.
  Apple occasionally answers 200 with an HTML error page: BadResponse.
- Affiliate links: the operator's affiliate token `at=` and optional campaign `ct=` are
  appended to Apple's links (lower-case names; `ct` at most 40 characters without `?`, `!`
  or `&`; one `?` per link), keeping the parameters Apple put there (`uo=4`).
- Terms: promotional content (artwork) may only promote store content and must be shown
  near an Apple store badge.

Design:
- One fetch makes, per film and storefront, one film call (lookup or search) and, with
  `soundtracks` on, one album search. Each call first passes the provider's throttle (refresh's
  limiter shared by every process, else an in-process pacer at `requests_per_second`), so
  every request counts, however many a film costs.
- A film is in `covered` only when every storefront's film call was answered in full (album
  search included). A lookup of a stored Apple id that a storefront answers without that
  film is a complete answer: Apple no longer sells it there, so its offers there count a
  miss. A search without a unique match, a 404 or a wrong-shaped entry is a Problem and keeps
  stored data as it is, because localized titles make an empty search no proof of anything.
- Soundtracks are search hits, so their product links are candidates: every album the
  "<title> soundtrack" search finds comes with its facts (artists, year, genre), and the
  service scores it against the film (affiliate.matching) to approve, reject or leave it for
  an operator.
  They are sold as Apple Music albums (the link opens music.apple.com), so the merchant is
  "Apple Music". A failed album search (timeout, 5xx, bad body) is a Problem for that film
  and leaves its offers in the result; being rate-limited stops the whole fetch, since every
  later call would fail the same way.
"""
from __future__ import annotations

import datetime as dt
import re
import unicodedata
from decimal import Decimal
from typing import Any, Callable, Iterable
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import requests
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from providers.base import (
    BadResponse,
    FilmQuery,
    FilmRecord,
    NotFound,
    OfferKind,
    OfferRecord,
    PlatformRecord,
    Problem,
    ProductFacts,
    ProductFormat,
    ProductLink,
    ProductRecord,
    Provider,
    ProviderError,
    ProviderResult,
    ProviderSettings,
    Quality,
    RateLimited,
    Relation,
    Retry,
    Transient,
)
from providers.fields import base_url, is_http_url, region_list
from providers.http import Http, parse_as, retry_after_seconds, safe_label
from providers.platforms import CANONICAL
from providers.product_facts import itunes_album_facts
from providers.testing import ProviderCase, Route

ID_SOURCE = "itunes"
MERCHANT = "Apple Music"
_PLATFORM = PlatformRecord(
    slug="apple-tv",
    name=CANONICAL["apple-tv"].name,
    homepage=CANONICAL["apple-tv"].homepage,
    namespace="itunes",
    external_id="itunes",
)
# Apple's price field -> what it sells.
_PRICES = (
    ("trackPrice", OfferKind.BUY, Quality.SD),
    ("trackHdPrice", OfferKind.BUY, Quality.HD),
    ("trackRentalPrice", OfferKind.RENT, Quality.SD),
    ("trackHdRentalPrice", OfferKind.RENT, Quality.HD),
)
_SEARCH_LIMIT = 25
_THROTTLED_RETRY_SECONDS = 60.0  # Apple's limit is per minute and it sends no Retry-After
_TOKEN_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_CURRENCY_RE = re.compile(r"^[A-Z]{3}$")

# What the suite's harnesses replay (providers/testing.py): Apple serves JavaScript-typed JSON.
_APPLE, _APPLE_JSON = "https://itunes.fault.test", "text/javascript; charset=utf-8"
_CONFIG = {"type": "itunes", "base_url": _APPLE, "affiliate_token": "1000lABC"}
_GOOD = (
    Route("GET", f"{_APPLE}/search", "itunes/search_movie_leaving_las_vegas.json",
          content_type=_APPLE_JSON, params={"media": "movie"}),
    Route("GET", f"{_APPLE}/search", "itunes/search_album_leaving_las_vegas.json",
          content_type=_APPLE_JSON, params={"media": "music"}),
    Route("GET", f"{_APPLE}/lookup", "itunes/lookup_leaving_las_vegas.json", content_type=_APPLE_JSON))
_EMPTY_SEARCH = Route("GET", f"{_APPLE}/search", "itunes/empty.json", content_type=_APPLE_JSON)
_EMPTY_LOOKUP = Route("GET", f"{_APPLE}/lookup", "itunes/empty.json", content_type=_APPLE_JSON)


class _Unusable(Exception):
    """A part of one film's answer that cannot be used; it becomes a Problem."""


class _Item(BaseModel):
    """One entry of `results`: a film or an album (the fields we read)."""

    model_config = ConfigDict(extra="ignore")

    wrapperType: str | None = None
    kind: str | None = None
    trackId: int | None = None
    trackName: str | None = None
    artistName: str | None = None
    releaseDate: dt.datetime | None = None
    trackViewUrl: str | None = None
    trackPrice: Decimal | None = None
    trackHdPrice: Decimal | None = None
    trackRentalPrice: Decimal | None = None
    trackHdRentalPrice: Decimal | None = None
    collectionId: int | None = None
    collectionName: str | None = None
    collectionViewUrl: str | None = None
    collectionPrice: Decimal | None = None
    currency: str | None = None
    artworkUrl100: str | None = None

    @property
    def is_film(self) -> bool:
        return (self.wrapperType == "track" and self.kind in (None, "feature-movie")
                and self.trackId is not None)

    @property
    def is_album(self) -> bool:
        return self.wrapperType == "collection" and self.collectionId is not None

    @property
    def year(self) -> int | None:
        return self.releaseDate.year if self.releaseDate else None


class _Answer(BaseModel):
    """The envelope; entries are validated one by one so one bad entry spoils one film only."""

    model_config = ConfigDict(extra="ignore")

    resultCount: int
    results: list[Any]


class ItunesProvider(Provider):
    class Settings(ProviderSettings):
        base_url: str = "https://itunes.apple.com"
        regions: list[str] = Field(default_factory=lambda: ["US"])
        affiliate_token: str | None = None
        campaign_token: str | None = None
        soundtracks: bool = True
        timeout_seconds: float = Field(15, gt=0)

        @field_validator("base_url")
        @classmethod
        def _base_url(cls, value: str) -> str:
            return base_url(value)

        @field_validator("regions")
        @classmethod
        def _regions(cls, value: list[str]) -> list[str]:
            return region_list(value)

        @field_validator("affiliate_token")
        @classmethod
        def _affiliate_token(cls, value: str | None) -> str | None:
            value = (value or "").strip() or None
            if value is not None and not _TOKEN_RE.match(value):
                raise ValueError("an Apple affiliate token is letters and digits; copy it "
                                 "from the Partnerize dashboard")
            return value

        @field_validator("campaign_token")
        @classmethod
        def _campaign_token(cls, value: str | None) -> str | None:
            value = (value or "").strip() or None
            if value is not None and (len(value) > 40 or any(c in value for c in "?!&")):
                raise ValueError("Apple allows at most 40 characters and no ?, ! or &")
            return value

        @model_validator(mode="after")
        def _campaign_needs_affiliate(self):
            if self.campaign_token and not self.affiliate_token:
                raise ValueError("campaign_token only counts with an affiliate_token")
            return self

    type_name = "itunes"
    description = "Apple TV (iTunes Store) buy and rent prices and soundtrack albums, per storefront"
    # A lookup of a stored Apple id that Apple answers without that film is definitive.
    definitive_misses = True
    requests_per_second = 20 / 60
    batch_size = 1
    tests = (
        ProviderCase("itunes", _CONFIG, (), good=_GOOD, shows="Apple TV",
                     empty=(_EMPTY_LOOKUP, _EMPTY_SEARCH),
                     notes="A stored Apple id is looked up; an empty lookup is Apple's word it "
                           "stopped selling."),
        ProviderCase("itunes-soundtracks", _CONFIG, (), good=_GOOD, shows="Apple TV",
                     empty=(_EMPTY_SEARCH,), tolerates=("transient", "bad_response"),
                     notes="The film's lookup answers; its soundtrack search fails. Only being "
                           "rate-limited stops the fetch: other failures cost the film its "
                           "coverage, not its offers."),
    )

    def fetch(self, films: Iterable[FilmQuery] | None) -> ProviderResult:
        client = _Client(self.settings, self.throttle, self.retry)
        result = ProviderResult(complete=True)
        for query in films or ():
            _FilmFetch(client, self.settings, query, result).run()
        return result


class _Client:
    """GETs against the configured base URL, each after the provider's throttle, as checked
    envelopes."""

    def __init__(self, settings: ItunesProvider.Settings, throttle: Callable[[], None], retry: Retry):
        self.http = Http(settings.timeout_seconds, headers={"Accept": "application/json"},
                         classify=_classify, before_request=throttle, retry=retry)
        self.base_url = settings.base_url

    def get(self, path: str, **params: Any) -> tuple[_Answer, str]:
        url = f"{self.base_url}{path}"
        label = safe_label(url)
        data = self.http.json("GET", url, strict=False, params=params)
        return parse_as(_Answer, data, label), label

def _classify(response: requests.Response, label: str) -> ProviderError | None:
    """Apple throttles with 403 (there is no key to be wrong) and rejects bad parameters
    with a 400 that says which."""
    if response.status_code == 403:
        retry_after = retry_after_seconds(response.headers.get("Retry-After"))
        return RateLimited(f"{label}: HTTP 403, Apple's answer above about 20 calls a minute",
                           retry_after=_THROTTLED_RETRY_SECONDS if retry_after is None else retry_after)
    if response.status_code == 400:
        try:
            message = response.json().get("errorMessage")
        except (ValueError, AttributeError):
            message = None
        if isinstance(message, str):
            return BadResponse(f"{label}: HTTP 400: {message[:200]}")
    return None


class _FilmFetch:
    """Everything one film needs, in every storefront, added to the shared result."""

    def __init__(self, client: _Client, settings: ItunesProvider.Settings, query: FilmQuery,
                 result: ProviderResult):
        self.client = client
        self.settings = settings
        self.query = query
        self.result = result
        self.apple_id = query.external_ids.get(ID_SOURCE)
        self.read_in_full = True

    def run(self) -> None:
        for region in self.settings.regions:
            self._guard(region, self._offers)
            if self.settings.soundtracks:
                self._guard(region, self._soundtracks, (Transient, BadResponse))
        if self.apple_id and self.apple_id != self.query.external_ids.get(ID_SOURCE):
            self.result.films.append(FilmRecord(key=self.query.key, title=None,
                                                external_ids={ID_SOURCE: self.apple_id}))
        if self.read_in_full:
            self.result.covered.add(self.query.key)

    def _guard(self, region: str, part, also: tuple[type[ProviderError], ...] = ()) -> None:
        """Run one part for one storefront; what spoils only this film becomes a Problem."""
        try:
            part(region)
        except (_Unusable, NotFound, *also) as exc:
            self._problem(region, str(exc))

    def _problem(self, region: str, message: str) -> None:
        self.read_in_full = False
        self.result.problems.append(Problem(str(self.query.key), f"storefront {region}: {message}"))

    def _offers(self, region: str) -> None:
        film = self._lookup(region) if self.apple_id else self._search(region)
        if film is None:  # Apple answered: it does not sell this film here
            return
        self.apple_id = str(film.trackId)
        self.result.offers.extend(_offers(self.query, film, region, self.settings))

    def _lookup(self, region: str) -> _Item | None:
        """The stored id's film in this storefront; None when Apple's answer has none, which
        is its word that the film is not sold there (any more)."""
        films = self._items(self.client.get("/lookup", id=self.apple_id, country=region), region)
        match = [film for film in films if film.is_film and str(film.trackId) == self.apple_id]
        return match[0] if match else None

    def _search(self, region: str) -> _Item:
        title = self.query.title.strip()
        if not title:
            raise _Unusable("no title to search Apple for")
        answer = self.client.get("/search", term=title, country=region, media="movie",
                                 entity="movie", limit=_SEARCH_LIMIT)
        films = [item for item in self._items(answer, region) if item.is_film]
        return _match(self.query, films)

    def _soundtracks(self, region: str) -> None:
        title = self.query.title.strip()
        if not title:
            raise _Unusable("no title to search soundtracks for")
        answer = self.client.get("/search", term=f"{title} soundtrack", country=region,
                                 media="music", entity="album", limit=_SEARCH_LIMIT)
        # Built in full before being added: one unusable album spoils this storefront's lot.
        # Every album the search finds is a candidate the service scores (affiliate.matching)
        # on what it says about itself: its artists, year and genre.
        self.result.products.extend([
            _soundtrack(self.query, album, region, self.settings, itunes_album_facts(raw))
            for album, raw in self._items_with_raw(answer, region) if album.is_album])

    def _items(self, fetched: tuple[_Answer, str], region: str) -> list[_Item]:
        """The well-formed entries; each malformed one is a Problem for this film."""
        return [item for item, _ in self._items_with_raw(fetched, region)]

    def _items_with_raw(self, fetched: tuple[_Answer, str], region: str) -> list[tuple[_Item, Any]]:
        answer, label = fetched
        items = []
        for index, entry in enumerate(answer.results):
            try:
                items.append((parse_as(_Item, entry, f"{label}: results[{index}]"), entry))
            except BadResponse as exc:
                self._problem(region, str(exc))
        return items


def _match(query: FilmQuery, films: list[_Item]) -> _Item:
    """The one film with the query's title and director, released in its year (or, only
    when no film is from that year, the one film released a year off)."""
    title = _normalize(query.title)
    candidates = {film.trackId: film for film in films if _normalize(film.trackName or "") == title}
    if query.director:
        director = _normalize(query.director)
        candidates = {key: film for key, film in candidates.items()
                      if director in _directors(film.artistName or "")}
    found = list(candidates.values())
    if query.year is not None:
        same_year = [film for film in found if film.year == query.year]
        found = same_year or [film for film in found
                              if film.year is not None and abs(film.year - query.year) == 1]
    wanted = ", ".join(str(part) for part in (query.title, query.year, query.director) if part)
    if not found:
        raise _Unusable(f"no film matches {wanted} among {len(films)} search results")
    if len(found) > 1:
        ids = ", ".join(str(film.trackId) for film in found)
        raise _Unusable(f"{len(found)} films match {wanted} (Apple ids {ids}); "
                        "store the right id to choose")
    return found[0]


def _normalize(text: str) -> str:
    """Case, accents, punctuation, "&" and a leading "The" do not tell titles apart."""
    text = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    text = re.sub(r"[\W_]+", " ", text.casefold().replace("&", " and ")).strip()
    return text.removeprefix("the ")


def _directors(artist_name: str) -> set[str]:
    """Apple names co-directors in one string: "Pierre Coffin & Kyle Balda"."""
    names = re.split(r"\s*(?:&|,|\band\b)\s*", artist_name, flags=re.IGNORECASE)
    return {_normalize(name) for name in names if name}


def _offers(query: FilmQuery, film: _Item, region: str,
            settings: ItunesProvider.Settings) -> list[OfferRecord]:
    prices = [(kind, quality, getattr(film, field)) for field, kind, quality in _PRICES]
    prices = [(kind, quality, price) for kind, quality, price in prices if price and price > 0]
    if not prices:
        return []
    link = _affiliate_link(film.trackViewUrl, settings, f"film {film.trackId}: trackViewUrl")
    currency = _currency(film, f"film {film.trackId}")
    return [OfferRecord(film=query.key, platform=_PLATFORM, region=region, kind=kind,
                        quality=quality, link=link, price=price, currency=currency)
            for kind, quality, price in prices]


def _soundtrack(query: FilmQuery, album: _Item, region: str, settings: ItunesProvider.Settings,
                facts: ProductFacts) -> ProductRecord:
    where = f"album {album.collectionId}"
    price = album.collectionPrice if album.collectionPrice and album.collectionPrice > 0 else None
    return ProductRecord(
        merchant=MERCHANT,
        merchant_id=str(album.collectionId),
        title=album.collectionName or "",
        format=ProductFormat.DIGITAL_ALBUM,
        link=_affiliate_link(album.collectionViewUrl, settings, f"{where}: collectionViewUrl"),
        region=region,
        films=(ProductLink(film=query.key, relation=Relation.SOUNDTRACK, candidate=True),),
        image_url=album.artworkUrl100 if is_http_url(album.artworkUrl100) else None,
        price=price,
        currency=_currency(album, where) if price is not None else None,
        facts=facts,
    )


def _currency(item: _Item, where: str) -> str:
    if not item.currency or not _CURRENCY_RE.match(item.currency):
        raise _Unusable(f"{where}: currency {item.currency!r} is not an ISO 4217 code")
    return item.currency




def _affiliate_link(url: str | None, settings: ItunesProvider.Settings, where: str) -> str:
    """Apple's link with the operator's `at`/`ct` added, keeping Apple's own parameters."""
    if not is_http_url(url):
        raise _Unusable(f"{where}: {url!r} is not an http(s) link")
    if not settings.affiliate_token:
        return url
    parts = urlsplit(url)
    tokens = {"at": settings.affiliate_token, "ct": settings.campaign_token}
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in tokens]
    query += [(k, v) for k, v in tokens.items() if v]
    return urlunsplit(parts._replace(query=urlencode(query)))
