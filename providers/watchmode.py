"""Watchmode (https://api.watchmode.com): where a film streams, rents and sells, per region,
in SD / HD / 4K, with rent and purchase prices: the `watchmode` provider.

Facts confirmed from Watchmode's API reference (api.watchmode.com/docs, /llms-full.txt) and
from public clients replaying its answers:

- Auth: the key goes in the `X-API-Key` header (the reference also accepts a Bearer header
  or an `apiKey` query parameter, and advises against keys in URLs); we use the header, so
  the key never reaches a URL, a log line or an error message.
- Ids: `GET /v1/search/?search_field=imdb_id|tmdb_movie_id&search_value=..` answers
  `{"title_results": [{"resultType": "title", "id": 1266026, "name": .., "type": "movie",
  "year": .., "imdb_id": .., "tmdb_id": .., "tmdb_type": "movie"}], "people_results": []}`.
  The id found is handed back as `FilmRecord.external_ids["watchmode"]`, so the catalog
  keeps it and later refreshes skip the search (each call costs one credit).
- Sources: `GET /v1/title/{id}/sources/?regions=US,GB` answers a bare array of
  `{source_id, name, type (sub|rent|buy|free|tve), region, ios_url, android_url, web_url,
  format (SD|HD|4K, sometimes lower case, may be null), price (number or null),
  seasons, episodes}`, one entry per source, kind, format and region. `price` carries no
  currency: it is in the region's own. Free plans answer the deep-link fields (`ios_url`,
  `android_url`) with the text "Deeplinks available for paid plans only."; `web_url` is a
  real link on every plan but may be null.
- Errors: 401 bad key, 402 over the plan's quota, 404 unknown title, 429 too fast (with
  `Retry-After` seconds), 50X server errors; bodies are JSON such as
  `{"success": false, "statusCode": 429, "statusMessage": "The rate limit was exceeded."}`.
- Quota: every answer carries `X-Account-Quota` (the plan's monthly credits) and
  `X-Account-Quota-Used`, plus `X-RateLimit-Limit` / `X-RateLimit-Remaining`. The reference
  states 120 requests per minute. Public clients report 1,000 credits a month on the free
  plan (paid plans up to 100,000+); there is no daily quota.

Design:
- `sub` maps to SUBSCRIPTION, `free` to FREE, `rent` to RENT, `buy` to BUY. `tve` (TV
  Everywhere: a channel's app unlocked by a cable or satellite login) is skipped: no
  OfferKind says "needs a pay-TV package", and calling it a subscription to the channel
  would mislead. Skipping it on purpose leaves the film complete.
- Prices only for rent and buy, in the region's currency from Babel; a region with more
  than one currency in use (Panama: PAB and USD) gets no price rather than a guessed one.
- The link is `web_url`. When it is missing or not an http(s) URL, a platform with a known
  homepage links there with `deep_link=False`; any other entry is reported and the film
  left out of `covered`, as is a film with an entry of the wrong shape, so an incomplete
  answer never marks stored offers gone.
- The quota headers are read on every answer, errors included, into `self.quota`, so refresh
  and status pages can show the credits left after a fetch.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Iterable
from urllib.parse import urlsplit

import requests
from babel.numbers import get_territory_currencies
from pydantic import BaseModel, ConfigDict, Field, RootModel, SecretStr, field_validator

from providers.base import (
    BadResponse,
    Credential,
    FilmKey,
    FilmQuery,
    FilmRecord,
    NotFound,
    OfferKind,
    OfferRecord,
    PlatformRecord,
    Problem,
    Provider,
    ProviderError,
    ProviderResult,
    ProviderSettings,
    Quality,
    RateLimited,
)
from providers.fields import base_url, region_list
from providers.http import Http, decode_json, parse_as, safe_label
from providers.link_policy import AMAZON, APPLE, FANDANGO, GOOGLE_PLAY, MICROSOFT, LinkPolicy
from providers.platforms import CANONICAL, slugify
from providers.regions import normalize_region
from providers.terms import AccountReport, Attribution, Terms
from providers.testing import ProviderCase, Route

# None: TV Everywhere, skipped on purpose (see the module docstring).
_KINDS: dict[str, OfferKind | None] = {
    "sub": OfferKind.SUBSCRIPTION,
    "free": OfferKind.FREE,
    "rent": OfferKind.RENT,
    "buy": OfferKind.BUY,
    "tve": None,
}
_QUALITIES = {"SD": Quality.SD, "HD": Quality.HD, "4K": Quality.UHD}
_PRICED = (OfferKind.RENT, OfferKind.BUY)

# Watchmode source ids seen in its reference and in copies of its /v1/sources/ answer.
_SOURCE_SLUGS = {
    24: "amazon-prime-video",  # "Amazon" (rent / buy)
    26: "amazon-prime-video",  # "Amazon Prime" / "Prime Video" (subscription)
    140: "google-play-movies",  # "Google Play"
    157: "hulu",
    203: "netflix",
    232: "starz",
    307: "vudu",  # "VUDU", now "Fandango at Home"
    344: "youtube",
    349: "apple-tv",  # "iTunes", now "AppleTV" (rent / buy)
    367: "kanopy",
    371: "apple-tv",  # "AppleTV+"
    372: "disney-plus",
    387: "max",  # "HBO MAX", now "Max"
    389: "peacock",  # "Peacock Premium"
    398: "microsoft-store",
    444: "paramount-plus",
}
# Other sources, by the slug of the name Watchmode gives them.
_NAME_SLUGS = {
    "amazon": "amazon-prime-video",
    "prime-video": "amazon-prime-video",
    "itunes": "apple-tv",
    "appletv": "apple-tv",
    "appletv-plus": "apple-tv",
    "google-play": "google-play-movies",
    "fandango-at-home": "vudu",
    "hbo-max": "max",
    "peacock-premium": "peacock",
    "tubi-tv": "tubi",
    "the-criterion-channel": "criterion-channel",
    "now-tv": "now",
    "britbox-uk": "britbox",
    "windows-store": "microsoft-store",
}


@dataclass(frozen=True)
class Quota:
    """The plan's monthly API credits, as Watchmode's answer headers last reported them."""

    limit: int
    used: int

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.used)


class _FilmProblem(Exception):
    """One film cannot be read; the others still can."""


class _TitleHit(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: int


class _Search(BaseModel):
    model_config = ConfigDict(extra="ignore")

    title_results: list[_TitleHit]


class _Status(BaseModel):
    model_config = ConfigDict(extra="ignore")

    quota: int | None = Field(None, ge=0)
    quotaUsed: int | None = Field(None, ge=0)


class _Sources(RootModel[list[Any]]):
    """The bare array; each entry is checked on its own so one bad entry costs one film."""


class _Source(BaseModel):
    model_config = ConfigDict(extra="ignore")

    source_id: int
    name: str = Field(min_length=1)
    type: str
    region: str
    web_url: str | None = None
    format: str | None = None
    price: Decimal | None = Field(None, ge=0)


class WatchmodeProvider(Provider):
    class Settings(ProviderSettings):
        base_url: str = "https://api.watchmode.com"
        api_key: SecretStr
        regions: list[str] = Field(default_factory=lambda: ["US"], min_length=1)
        timeout_seconds: float = Field(15, gt=0)
        # Daily: the free plan's ~1,000 credits a month allow one refresh a day for ~30 films.
        interval_minutes: int = Field(1440, ge=1)

        @field_validator("base_url")
        @classmethod
        def _base_url(cls, value: str) -> str:
            return base_url(value)

        @field_validator("api_key")
        @classmethod
        def _api_key(cls, value: SecretStr) -> SecretStr:
            if not value.get_secret_value().strip():
                raise ValueError("set the Watchmode API key")
            return value

        @field_validator("regions")
        @classmethod
        def _regions(cls, value: list[str]) -> list[str]:
            return region_list(value)

    type_name = "watchmode"
    description = "Watchmode: subscription, free, rent and buy offers per region, with prices"
    credentials = (
        Credential("api_key", "Request a key at https://api.watchmode.com/requestApiKey "
                              "(free plan: 1,000 calls a month)"),
    )
    requests_per_second = 2.0  # 120 a minute
    batch_size = 1
    terms = Terms(attributions=(Attribution("Streaming availability by Watchmode",
                                            "https://www.watchmode.com"),))
    # Watchmode's deep links carry its own affiliate parameters (Apple's `at`, Fandango/Vudu's
    # and Google Play's PAffiliateID, an empty Amazon `tag=`).
    link_policy = LinkPolicy(third_party=(APPLE, AMAZON, GOOGLE_PLAY, FANDANGO, MICROSOFT))
    tests = (ProviderCase(
        "watchmode", {"type": "watchmode", "base_url": "https://watchmode.fault.test",
                      "api_key": "wm-key-SECRET-9a8b7c"}, ("wm-key-SECRET-9a8b7c",),
        good=(Route("GET", "https://watchmode.fault.test/v1/search/", "watchmode/search_tt0113627.json"),
              Route("GET", "https://watchmode.fault.test/v1/title/1266026/sources/",
                    "watchmode/sources_1266026.json")),
        shows="Streaming availability by Watchmode",
        faulted=(("GET", "https://watchmode.fault.test/v1/search/"),
                 ("GET", "https://watchmode.fault.test/v1/title/1266026/sources/")),
        empty=(Route("GET", "https://watchmode.fault.test/v1/title/1266026/sources/", b"[]"),),
        refused=(Route("GET", "https://watchmode.fault.test/", "watchmode/error_401.json", 401),)),)

    # The credits left, as of the last answer; None until Watchmode has answered.
    quota: Quota | None = None

    def fetch(self, films: Iterable[FilmQuery] | None) -> ProviderResult:
        http = self._http()
        result = ProviderResult(complete=True)
        for query in films or ():
            self._fetch_film(http, query, result)
        return result

    def account_report(self) -> AccountReport:
        """The month's credits left, as Watchmode's last answer counted them."""
        if self.quota is None:
            return AccountReport()
        return AccountReport(quota_remaining=self.quota.remaining, quota_period="month")

    def check_credentials(self) -> str:
        """`GET /v1/status/`, the account's quota: `{"quota": 1000, "quotaUsed": 412}`.
        Clients use it as the free call that proves a key works."""
        status = self._get(self._http(), "/v1/status/", {}, _Status)
        if status.quota is not None and status.quotaUsed is not None:
            self.quota = Quota(limit=status.quota, used=status.quotaUsed)
        if self.quota is None:
            return "Watchmode accepted the key"
        return (f"Watchmode accepted the key; {self.quota.remaining} of {self.quota.limit} "
                "monthly credits left")

    def _http(self) -> Http:
        key = self.settings.api_key.get_secret_value()
        return Http(self.settings.timeout_seconds, classify=self._classify,
                    headers={"X-API-Key": key, "Accept": "application/json"},
                    before_request=self.throttle, retry=self.retry)

    def _fetch_film(self, http: Http, query: FilmQuery, result: ProviderResult) -> None:
        where = str(query.key)
        try:
            title_id = self._title_id(http, query, result)
            entries = self._sources(http, title_id)
        except _FilmProblem as exc:
            result.problems.append(Problem(where, str(exc)))
            return
        offers, problems = _offers(query.key, entries)
        result.offers.extend(offers)
        result.problems.extend(Problem(where, message) for message in problems)
        if not problems:
            result.covered.add(query.key)

    def _title_id(self, http: Http, query: FilmQuery, result: ProviderResult) -> str:
        """The film's Watchmode id: the one the catalog kept, else found by IMDb or TMDB id."""
        known = query.external_ids.get(self.type_name)
        if known:
            if not known.isdigit():
                raise _FilmProblem(f"{known!r} is not a Watchmode title id")
            return known
        field, value = _search_key(query)
        search = self._get(http, "/v1/search/", {"search_field": field, "search_value": value},
                           _Search)
        if not search.title_results:
            raise _FilmProblem(f"Watchmode knows no title with {field} {value}")
        title_id = str(search.title_results[0].id)
        result.films.append(FilmRecord(key=query.key, external_ids={self.type_name: title_id}))
        return title_id

    def _sources(self, http: Http, title_id: str) -> list[Any]:
        params = {"regions": ",".join(self.settings.regions)}
        try:
            return self._get(http, f"/v1/title/{title_id}/sources/", params, _Sources).root
        except NotFound:
            raise _FilmProblem(f"Watchmode has no title {title_id} (HTTP 404)") from None

    def _get(self, http: Http, path: str, params: dict[str, str], model: type[BaseModel]):
        url = self.settings.base_url + path
        response = http.request("GET", url, params=params)
        self._note_quota(response)
        label = safe_label(url)
        return parse_as(model, decode_json(response, label), label)

    def _classify(self, response: requests.Response, label: str) -> ProviderError | None:
        """Keep the quota headers of failed answers too; 402 means the month's credits are spent."""
        self._note_quota(response)
        if response.status_code != 402:
            return None
        spent = f" ({self.quota.used} of {self.quota.limit} used)" if self.quota else ""
        # The quota resets with the plan's billing month, a date no answer tells.
        return RateLimited(f"{label}: HTTP 402, the plan's API quota is used up{spent}",
                           quota_exhausted=True)

    def _note_quota(self, response: requests.Response) -> None:
        limit = _header_int(response, "X-Account-Quota")
        used = _header_int(response, "X-Account-Quota-Used")
        if limit is not None and used is not None:
            self.quota = Quota(limit=limit, used=used)


def _search_key(query: FilmQuery) -> tuple[str, str]:
    if query.imdb_id:
        return "imdb_id", query.imdb_id
    if query.tmdb_id is not None:
        return "tmdb_movie_id", str(query.tmdb_id)
    raise _FilmProblem("no IMDb or TMDB id to find the film on Watchmode by")


def _header_int(response: requests.Response, name: str) -> int | None:
    value = (response.headers.get(name) or "").strip()
    return int(value) if value.isascii() and value.isdigit() else None


def _offers(film: FilmKey, entries: list[Any]) -> tuple[list[OfferRecord], list[str]]:
    """Offers from the entries that can be used, and a message for each that cannot.

    Watchmode may list one offer twice (two source ids for one platform); the first stays.
    """
    offers: dict[tuple, OfferRecord] = {}
    problems: list[str] = []
    for index, entry in enumerate(entries):
        where = f"sources[{index}]"
        try:
            offer = _offer(film, parse_as(_Source, entry, where))
        except BadResponse as exc:
            problems.append(str(exc))
            continue
        except ValueError as exc:
            problems.append(f"{where}: {exc}")
            continue
        if offer is not None:
            identity = (offer.platform.slug, offer.region, offer.kind, offer.quality)
            offers.setdefault(identity, offer)
    return list(offers.values()), problems


def _offer(film: FilmKey, source: _Source) -> OfferRecord | None:
    """The offer an entry describes, None for TV Everywhere; ValueError names a bad field."""
    kind_name = source.type.strip().lower()
    if kind_name not in _KINDS:
        raise ValueError(f"type: {source.type!r} is not one of {', '.join(_KINDS)}")
    kind = _KINDS[kind_name]
    if kind is None:
        return None
    region = normalize_region(source.region)
    platform = _platform(source)
    link, deep_link = _link(source.web_url, platform)
    price, currency = _price(source, kind, region)
    return OfferRecord(
        film=film,
        platform=platform,
        region=region,
        kind=kind,
        quality=_QUALITIES.get((source.format or "").strip().upper(), Quality.UNKNOWN),
        link=link,
        price=price,
        currency=currency,
        deep_link=deep_link,
    )


def _platform(source: _Source) -> PlatformRecord:
    slug = _SOURCE_SLUGS.get(source.source_id)
    if slug is None:
        named = slugify(source.name)
        slug = _NAME_SLUGS.get(named, named)
    known = CANONICAL.get(slug)
    return PlatformRecord(
        slug=slug,
        name=source.name,
        homepage=known.homepage if known else None,
        namespace=WatchmodeProvider.type_name,
        external_id=str(source.source_id),
    )


def _link(web_url: str | None, platform: PlatformRecord) -> tuple[str, bool]:
    """The title's page, else the platform's homepage (not a deep link)."""
    url = (web_url or "").strip()
    parts = urlsplit(url)
    if parts.scheme in ("http", "https") and parts.netloc:
        return url, True
    if platform.homepage:
        return platform.homepage, False
    shown = repr(url if len(url) <= 60 else url[:57] + "...") if url else "missing"
    raise ValueError(f"web_url: {shown}, not an http(s) link, and {platform.name!r} "
                     "has no known homepage")


def _price(source: _Source, kind: OfferKind, region: str) -> tuple[Decimal | None, str | None]:
    if kind not in _PRICED or source.price is None:
        return None, None
    currencies = get_territory_currencies(region)
    if len(currencies) != 1:
        return None, None
    return source.price, currencies[0]
