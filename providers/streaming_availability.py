"""Streaming Availability API v4 by Movie of the Night: the `streaming-availability` provider.

Unlike TMDB's watch providers it gives, per country, the platform's own deep link, the
quality, the rent/buy price with its currency, and the date an option leaves the platform.

Facts confirmed from the API's OpenAPI 4.x description (github.com/movieofthenight/
streaming-availability-api, openapi.yaml), its README and TERMS.md, and public clients:

- Access. Two doors to the same API, each with its own kind of key:
  * RapidAPI (the `servers` entry of openapi.yaml): `https://streaming-availability.p.rapidapi.com`,
    headers `X-RapidAPI-Key` (the security scheme) and `X-RapidAPI-Host:
    streaming-availability.p.rapidapi.com`. Free plan: 100 requests per day (README).
  * Direct, Movie of the Night's developer platform (developers.movieofthenight.com):
    `https://api.movieofthenight.com/v4`, header `X-API-Key`. Its free plan's allowance is
    not published on a public page.
  Paths are the same under both bases. Both keys travel in headers, never in the URL.
- `GET /shows/{id}` with id `tt0113627` (IMDb) or `movie/451` (TMDB, the slash
  percent-encoded: `/shows/movie%2F451`). `country` is optional: without it the answer
  holds every country, with it only that one. `series_granularity=show` leaves out seasons
  (movies are unaffected). 404 with `{"message": "Not Found"}` when the show is unknown;
  other errors carry the same `{"message": ...}` body.
- The show: `{itemType: "show", showType: "movie", id, imdbId, tmdbId: "movie/451", title,
  releaseYear, runtime, directors: [..], ..., streamingOptions: {"us": [option, ...]}}`;
  country keys are lower-case ISO 3166-1 alpha-2.
- An option: `service {id, name, homePage, themeColorCode, imageSet {lightThemeImage,
  darkThemeImage, whiteImage}}`, `type` (subscription | free | rent | buy | addon), `addon`
  (same shape as a service; only when type is addon), `link` (deep link to the title page,
  always present), `videoLink?`, `quality?` (sd | hd | qhd | uhd: the best available),
  `audios`, `subtitles`, `price? {amount: "3.99", currency: "USD", formatted: "3.99 USD"}`,
  `expiresSoon`, `expiresOn?` (Unix time of the last day to watch), `availableSince`
  (Unix time the option was first seen).
- Service ids seen in the README, its countries listings and clients: netflix, prime,
  disney, hbo, hulu, peacock, paramount, starz, showtime, apple, mubi, stan, now, crave,
  all4, iplayer, britbox, hotstar, zee5, curiosity, wow, crunchyroll, sonyliv, fubo,
  criterion, skyshowtime.
- Errors on RapidAPI: 401/403 `{"message": "You are not subscribed to this API."}`, 429
  `{"message": "You have exceeded the DAILY quota ..."}`; RapidAPI reports its quota in
  `X-RateLimit-Requests-Limit/-Remaining/-Reset` (reset: seconds until the window renews).
- Terms: whoever displays the data must state that the streaming availability information
  is provided by Streaming Availability API by Movie of the Night, with a link to
  https://www.movieofthenight.com/about/api. Reselling or redistributing the data is not
  allowed.
- `GET /changes` (openapi.yaml `getChanges`, schemas `change` and `changesResult`):
  `country` (required, one), `change_type` (required: new | removed | updated | expiring |
  upcoming; "updated" includes recent additions and removals, plus options whose link,
  subtitles or video quality changed), `item_type` (required: show | season | episode),
  `show_type` (movie | series), `catalogs` (optional; all of the country's when omitted),
  `from` and `to` (Unix seconds, inclusive; past changes only from today back to 31 days
  ago, `from` defaulting to 31 days ago and `to` to today), `order_direction` (asc | desc),
  `cursor`. Results are ordered by the date of the change, 25 a page. The answer is
  `{changes: [change], shows: {showId: show}, hasMore, nextCursor?}` (changes, shows and
  hasMore required); a change is `{changeType, itemType, showId, showType, service,
  streamingOptionType}` (required) with `season?`, `episode?`, `addon?`, `timestamp?` (Unix
  seconds; always there for new, removed and updated) and `link?`. `shows` holds the full
  show objects the changes name. Each page is one request of the plan's quota.

Design:
- `access` picks the door ("rapidapi", the default, or "direct"); `base_url` defaults to
  that door's address and can point anywhere else (a stand-in server).
- One request per film whatever the number of regions: with one region the request names
  that country (smaller answer); with several it omits `country` and keeps the configured
  regions from the global answer. A region missing from the answer has no options there.
- Mapping: subscription -> SUBSCRIPTION; free -> FREE (the API does not say whether free
  means with ads, so ADS is never produced); rent -> RENT; buy -> BUY; addon ->
  SUBSCRIPTION on a platform of its own, "<addon> via <service>" (as JustWatch lists
  "Starz Amazon Channel" apart from Starz): the offer needs a subscription to that channel,
  not to the service, and the link opens the service. Its external id is the API's own
  catalog name for it, `<service>.addon.<addon>`. Quality: sd -> SD, hd and qhd -> HD (no
  1440p bucket), uhd -> 4K, absent -> unknown. `expiresOn` is the instant the option ends
  (hidden from then on); its date, and `availableSince`'s, are the calendar days those
  instants fall on in the country (providers.regions.local_date: a stamp of 23:59:59 in São
  Paulo is that day there, though already the next day in UTC).
- Errors: 401/403 -> AuthFailed, 429 -> RateLimited (Retry-After, else RapidAPI's quota
  reset), timeouts/5xx -> Transient, a body that is not a show -> BadResponse. A 404, or an
  option of the wrong shape, is a Problem for that film, which is then not covered.
- The change feed (`changes`): every `changes_interval_minutes` (0: never), per region,
  `change_type=updated&item_type=show&show_type=movie` from where the last read ended to
  now, oldest first, at most `changes_max_pages` pages. It names films by the show's id
  and, from `shows`, its IMDb and TMDB ids; refresh makes the ones it tracks due now, so
  they are fetched whole by `fetch` (a change alone does not say everything a film has in
  every configured region). The cursor is `us:<unix seconds>,gb:<...>`, where each
  region's next read starts: the `to` of a read that reached the end, else the timestamp
  of the last change read (`from` is inclusive: re-reading a change only marks a film due
  twice). A first read, or a region new to the config, starts now; a read more than 31
  days behind starts 31 days back, as far as the API goes.
"""
from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import Annotated, Any, Iterable, Literal
from urllib.parse import quote

import requests
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    RootModel,
    SecretStr,
    field_validator,
    model_validator,
)

from providers.base import (
    AuthFailed,
    BadResponse,
    ChangedFilm,
    ChangeSet,
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
from providers.fields import base_url, http_url, region_list
from providers.http import Http, decode_json, parse_as, retry_after_seconds, safe_label
from providers.link_policy import AMAZON, APPLE, FANDANGO, GOOGLE_PLAY, MICROSOFT, LinkPolicy
from providers.platforms import slugify
from providers.regions import local_date
from providers.terms import Attribution, Terms
from providers.testing import ProviderCase, Route

TYPE_NAME = "streaming-availability"
RAPIDAPI_HOST = "streaming-availability.p.rapidapi.com"
BASE_URLS = {
    "rapidapi": f"https://{RAPIDAPI_HOST}",
    "direct": "https://api.movieofthenight.com/v4",
}

# The API's service ids -> our canonical platform slugs; other services slugify their name.
SERVICE_SLUGS = {
    "netflix": "netflix",
    "prime": "amazon-prime-video",
    "apple": "apple-tv",
    "hbo": "max",
    "hulu": "hulu",
    "disney": "disney-plus",
    "paramount": "paramount-plus",
    "peacock": "peacock",
    "mubi": "mubi",
    "criterion": "criterion-channel",
    "starz": "starz",
    "britbox": "britbox",
    "now": "now",
    "curiosity": "curiosity-stream",
    "iplayer": "bbc-iplayer",
    "all4": "channel-4",
}

_KINDS = {
    "subscription": OfferKind.SUBSCRIPTION,
    "addon": OfferKind.SUBSCRIPTION,
    "free": OfferKind.FREE,
    "rent": OfferKind.RENT,
    "buy": OfferKind.BUY,
}
_QUALITIES = {"sd": Quality.SD, "hd": Quality.HD, "qhd": Quality.HD, "uhd": Quality.UHD}
_IMDB_RE = re.compile(r"^tt\d{7,10}$")
_TMDB_MOVIE_RE = re.compile(r"^movie/(\d{1,10})$")
_CURSOR_RE = re.compile(r"^([a-z]{2}):(\d{1,12})$")
# How far back /changes reaches (31 days), less an hour for clocks that disagree.
_CHANGES_REACH = dt.timedelta(days=31) - dt.timedelta(hours=1)




def _unix_time(value: Any) -> dt.datetime:
    """Unix seconds -> the instant, in UTC; the API stamps options with them."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{value!r} is not a Unix time in seconds")
    try:
        return dt.datetime.fromtimestamp(value, dt.timezone.utc)
    except (OverflowError, OSError, ValueError):
        raise ValueError(f"{value!r} is not a Unix time in seconds") from None


_Url = Annotated[str, AfterValidator(http_url)]
_UnixTime = Annotated[dt.datetime, BeforeValidator(_unix_time)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore")


class _ImageSet(_Model):
    lightThemeImage: _Url | None = None


class _Brand(_Model):
    """A service or an addon: both have the same shape."""

    id: str = Field(min_length=1)
    name: str = Field(min_length=1)
    homePage: _Url | None = None
    imageSet: _ImageSet | None = None


class _Price(_Model):
    amount: Decimal = Field(ge=0, allow_inf_nan=False)
    currency: str = Field(pattern=r"^[A-Z]{3}$")


class _Option(_Model):
    service: _Brand
    type: Literal["subscription", "free", "rent", "buy", "addon"]
    addon: _Brand | None = None
    link: _Url
    quality: Literal["sd", "hd", "qhd", "uhd"] | None = None
    price: _Price | None = None
    expiresOn: _UnixTime | None = None
    availableSince: _UnixTime | None = None

    @model_validator(mode="after")
    def _addon_named(self) -> "_Option":
        if self.type == "addon" and self.addon is None:
            raise ValueError("type is addon, but the option names no addon")
        return self


class _Show(_Model):
    id: str
    title: str
    imdbId: str | None = None
    tmdbId: str | None = None
    releaseYear: int | None = None
    runtime: int | None = None
    directors: list[str] = []
    # Options are read one by one, so one odd entry costs its film, not the whole answer.
    streamingOptions: dict[str, list[Any]]


class _Change(_Model):
    showId: str = Field(min_length=1)
    timestamp: int | None = Field(None, ge=0)


class _ChangedShow(_Model):
    imdbId: str | None = None
    tmdbId: str | None = None


class _ChangePage(_Model):
    # Entries are read one by one, so one odd change costs only itself.
    changes: list[Any]
    shows: dict[str, Any]
    hasMore: bool
    nextCursor: str | None = None


class _Genre(_Model):
    id: str = Field(min_length=1)
    name: str


class _Genres(RootModel[list[_Genre]]):
    """`GET /genres`: `[{"id": "action", "name": "Action"}, ...]`, the API's smallest answer."""


class StreamingAvailabilityProvider(Provider):
    class Settings(ProviderSettings):
        api_key: SecretStr
        access: Literal["rapidapi", "direct"] = "rapidapi"
        base_url: str | None = None
        regions: list[str] = Field(default_factory=lambda: ["US"], min_length=1)
        timeout_seconds: float = Field(15, gt=0)
        # The /changes feed: how often it is read (0: never) and at most how many pages per
        # region each time; every page is one request of the plan's quota.
        changes_interval_minutes: int = Field(360, ge=0)
        changes_max_pages: int = Field(4, ge=1, le=100)

        @field_validator("api_key")
        @classmethod
        def _key(cls, value: SecretStr) -> SecretStr:
            if not value.get_secret_value().strip():
                raise ValueError("set the RapidAPI key, or the developer-platform key with "
                                 'access = "direct"')
            return SecretStr(value.get_secret_value().strip())

        @field_validator("base_url")
        @classmethod
        def _base_url(cls, value: str | None) -> str | None:
            return None if value is None else base_url(value)

        @field_validator("regions")
        @classmethod
        def _regions(cls, value: list[str]) -> list[str]:
            return region_list(value)

        @property
        def url(self) -> str:
            return self.base_url or BASE_URLS[self.access]

    type_name = TYPE_NAME
    description = ("Streaming Availability API by Movie of the Night: per-country subscription, "
                   "free, rent and buy options with deep links, prices, quality and leaving dates")
    credentials = (
        Credential(
            "api_key",
            "RapidAPI: subscribe to Streaming Availability (free plan available) at "
            "https://rapidapi.com/movie-of-the-night-movie-of-the-night-default/api/"
            "streaming-availability/pricing and copy your X-RapidAPI-Key. Or create a key on "
            'https://developers.movieofthenight.com and set access = "direct".',
        ),
    )
    daily_quota = 100  # RapidAPI's free plan; paid plans and the direct platform allow more
    batch_size = 1
    terms = Terms(attributions=(Attribution(
        "Streaming availability information is provided by Streaming Availability API "
        "by Movie of the Night",
        "https://www.movieofthenight.com/about/api",
    ),))
    # Its deep links to stores may carry the stores' affiliate parameters of others.
    link_policy = LinkPolicy(third_party=(APPLE, AMAZON, GOOGLE_PLAY, FANDANGO, MICROSOFT))
    tests = (ProviderCase(
        "streaming-availability",
        {"type": TYPE_NAME, "base_url": "https://motn.fault.test", "api_key": "rapidapi-key-SECRET-5e6f7a"},
        ("rapidapi-key-SECRET-5e6f7a",),
        good=(Route("GET", "https://motn.fault.test/shows/tt0113627",
                    "streaming_availability/show_tt0113627_us.json"),),
        shows="Movie of the Night",
        empty=(Route("GET", "https://motn.fault.test/shows/tt0113627",
                     "streaming_availability/show_tt0113627_none.json"),),
        refused=(Route("GET", "https://motn.fault.test/", "streaming_availability/not_subscribed.json",
                       403),)),)

    def __init__(self, *args, **kwargs):  # Provider's: name, settings, throttle, retry
        super().__init__(*args, **kwargs)
        minutes = self.settings.changes_interval_minutes
        self.changes_every = dt.timedelta(minutes=minutes) if minutes else None

    def fetch(self, films: Iterable[FilmQuery] | None) -> ProviderResult:
        result = ProviderResult(complete=True)
        http = self._http()
        for film in films or ():
            self._fetch_film(http, film, result)
        return result

    def changes(self, cursor: str | None, now: dt.datetime) -> ChangeSet:
        """The movies /changes lists as updated in each region since `cursor` (see the
        module docstring); a region without a position starts now, without a request."""
        started = _read_cursor(cursor)
        to = int(now.timestamp())
        reach = int((now - _CHANGES_REACH).timestamp())
        result = ChangeSet()
        positions = {}
        http = self._http()
        for country in (region.lower() for region in self.settings.regions):
            start = started.get(country)
            positions[country] = to if start is None else self._read_changes(
                http, country, max(start, reach), to, result)
        result.cursor = ",".join(f"{country}:{at}" for country, at in positions.items())
        return result

    def _read_changes(self, http: Http, country: str, start: int, to: int, result: ChangeSet) -> int:
        """Read one region's pages; return where its next read starts."""
        url = f"{self.settings.url}/changes"
        params = {"country": country, "change_type": "updated", "item_type": "show",
                  "show_type": "movie", "from": str(start), "to": str(to), "order_direction": "asc"}
        last = start
        for _ in range(self.settings.changes_max_pages):
            page = parse_as(_ChangePage, http.json("GET", url, params=params), safe_label(url))
            for index, entry in enumerate(page.changes):
                where = f"/changes {country} changes[{index}]"
                try:
                    change = parse_as(_Change, entry, where)
                except BadResponse as exc:
                    result.problems.append(Problem(where, str(exc)))
                    continue
                result.films.append(_changed_film(change.showId, page.shows.get(change.showId)))
                last = max(last, change.timestamp or last)
            if not page.hasMore:
                return to
            if not page.nextCursor:
                raise BadResponse(f"{safe_label(url)}: hasMore is true but there is no nextCursor")
            params["cursor"] = page.nextCursor
        # Out of pages: continue after the last change read, and past a second so crowded
        # with changes that the pages ran out inside it (its films refresh on their interval).
        return last if last > start else last + 1

    def _http(self) -> Http:
        return Http(self.settings.timeout_seconds, headers=self._headers(), classify=_classify,
                    before_request=self.throttle, retry=self.retry)

    def check_credentials(self) -> str:
        """`GET /genres`: one request (it counts against a RapidAPI plan's daily quota like
        any other), the smallest answer the API gives, authenticated like every call."""
        http = Http(self.settings.timeout_seconds, headers=self._headers(), classify=_classify_check,
                    before_request=self.throttle, retry=self.retry)
        url = f"{self.settings.url}/genres"
        response = http.request("GET", url)
        parse_as(_Genres, decode_json(response, safe_label(url)), safe_label(url))
        left = response.headers.get("X-RateLimit-Requests-Remaining", "").strip()
        limit = response.headers.get("X-RateLimit-Requests-Limit", "").strip()
        if left.isdigit() and limit.isdigit():
            return (f"Streaming Availability accepted the key; {left} of {limit} requests left "
                    "in the plan's period")
        return "Streaming Availability accepted the key"

    def _headers(self) -> dict[str, str]:
        key = self.settings.api_key.get_secret_value()
        if self.settings.access == "direct":
            return {"X-API-Key": key}
        return {"X-RapidAPI-Key": key, "X-RapidAPI-Host": RAPIDAPI_HOST}

    def _fetch_film(self, http: Http, film: FilmQuery, result: ProviderResult) -> None:
        where = str(film.key)
        show_id = film.imdb_id or (film.tmdb_id and f"movie/{film.tmdb_id}")
        show_id = show_id or film.external_ids.get(TYPE_NAME)
        if not show_id:
            result.problems.append(Problem(where, "needs an IMDb or TMDB id to look the film up"))
            return
        url = f"{self.settings.url}/shows/{quote(show_id, safe='')}"
        try:
            body = http.json("GET", url, params=self._params())
        except NotFound:
            result.problems.append(Problem(where, f"the API does not know {show_id} (HTTP 404)"))
            return
        show = parse_as(_Show, body, safe_label(url))
        result.films.append(_film_record(film.key, show))
        offers, problems = self._offers(film.key, show)
        result.offers.extend(offers)
        result.problems.extend(Problem(where, message) for message in problems)
        if not problems:
            result.covered.add(film.key)

    def _params(self) -> dict[str, str]:
        params = {"series_granularity": "show"}
        if len(self.settings.regions) == 1:
            params["country"] = self.settings.regions[0].lower()
        return params

    def _offers(self, key: FilmKey, show: _Show) -> tuple[list[OfferRecord], list[str]]:
        offers: list[OfferRecord] = []
        problems: list[str] = []
        for country, entries in show.streamingOptions.items():
            if country.upper() not in self.settings.regions:
                continue
            for index, entry in enumerate(entries):
                where = f"streamingOptions.{country}[{index}]"
                try:
                    offers.append(_offer(key, country.upper(), parse_as(_Option, entry, where)))
                except BadResponse as exc:
                    problems.append(str(exc))
                except ValueError as exc:
                    problems.append(f"{where}: {exc}")
        return offers, problems


def _read_cursor(cursor: str | None) -> dict[str, int]:
    """Each region's position in a cursor `changes` wrote; a part it cannot read starts now."""
    positions = {}
    for part in (cursor or "").split(","):
        match = _CURSOR_RE.match(part.strip())
        if match:
            positions[match[1]] = int(match[2])
    return positions


def _changed_film(show_id: str, show: Any) -> ChangedFilm:
    """The ids a change gives for its film: the show's own, and IMDb's and TMDB's from the
    answer's `shows` when it holds the show in a readable shape."""
    try:
        ids = _ChangedShow.model_validate(show) if show is not None else _ChangedShow()
    except ValueError:
        ids = _ChangedShow()
    tmdb = _TMDB_MOVIE_RE.match(ids.tmdbId or "")
    return ChangedFilm(imdb_id=ids.imdbId if ids.imdbId and _IMDB_RE.match(ids.imdbId) else None,
                       tmdb_id=int(tmdb[1]) if tmdb else None, source_id=show_id)


def _film_record(key: FilmKey, show: _Show) -> FilmRecord:
    tmdb = _TMDB_MOVIE_RE.match(show.tmdbId or "")
    return FilmRecord(
        key=key,
        title=show.title,
        year=show.releaseYear,
        imdb_id=show.imdbId if show.imdbId and _IMDB_RE.match(show.imdbId) else None,
        tmdb_id=int(tmdb[1]) if tmdb else None,
        runtime_minutes=show.runtime,
        director=show.directors[0] if show.directors else None,
        external_ids={TYPE_NAME: show.id},
    )


def _offer(key: FilmKey, region: str, option: _Option) -> OfferRecord:
    return OfferRecord(
        film=key,
        platform=_platform(option),
        region=region,
        kind=_KINDS[option.type],
        quality=_QUALITIES[option.quality] if option.quality else Quality.UNKNOWN,
        link=option.link,
        price=option.price.amount if option.price else None,
        currency=option.price.currency if option.price else None,
        expires_on=local_date(option.expiresOn, region) if option.expiresOn else None,
        expires_at=option.expiresOn,
        available_since=local_date(option.availableSince, region) if option.availableSince else None,
    )


def _platform(option: _Option) -> PlatformRecord:
    service, addon = option.service, option.addon
    if addon is None:
        return _brand_platform(service, service.name, service.id, SERVICE_SLUGS.get(service.id))
    return _brand_platform(addon, f"{addon.name} via {service.name}",
                           f"{service.id}.addon.{addon.id}")


def _brand_platform(brand: _Brand, name: str, external_id: str,
                    slug: str | None = None) -> PlatformRecord:
    slug = slug or slugify(name) or slugify(external_id)
    if not slug:
        raise ValueError(f"service: cannot make a platform slug from {name!r}")
    return PlatformRecord(
        slug=slug,
        name=name,
        logo_url=brand.imageSet.lightThemeImage if brand.imageSet else None,
        homepage=brand.homePage,
        namespace=TYPE_NAME,
        external_id=external_id,
    )


def _classify(response: requests.Response, label: str) -> RateLimited | None:
    """429: RapidAPI sends no Retry-After when a plan's quota is spent, only when it renews."""
    if response.status_code != 429:
        return None
    headers = response.headers
    wait = retry_after_seconds(headers.get("Retry-After"))
    if wait is None and headers.get("X-RateLimit-Requests-Remaining", "").strip() == "0":
        wait = retry_after_seconds(headers.get("X-RateLimit-Requests-Reset"))
    return RateLimited(f"{label}: HTTP 429{_message(response)}", retry_after=wait)


def _classify_check(response: requests.Response, label: str) -> ProviderError | None:
    """As _classify, and a refused key keeps the API's reason ("You are not subscribed to
    this API.") for the operator who just entered it."""
    if response.status_code in (401, 403):
        return AuthFailed(f"{label}: HTTP {response.status_code}{_message(response)}")
    return _classify(response, label)


def _message(response: requests.Response) -> str:
    """The `{"message": ...}` an error body carries, shortened; empty if there is none."""
    try:
        message = response.json().get("message")
    except (ValueError, AttributeError):
        return ""
    return f" ({message.strip()[:200]})" if isinstance(message, str) and message.strip() else ""
