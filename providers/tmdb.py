"""TMDB watch providers (JustWatch data): the `tmdb` provider.

What TMDB documents, confirmed from developer.themoviedb.org (the errors page itself; the
movie-watch-providers, append-to-response, authentication-application and rate-limiting pages
and the API terms as quoted by public notes and client code) and from answers recorded by
public clients:

- `GET /3/movie/{id}/watch/providers` answers every country at once::

      {"id": 451, "results": {"US": {
          "link": "https://www.themoviedb.org/movie/451-leaving-las-vegas/watch?locale=US",
          "flatrate": [{"logo_path": "/x.jpg", "provider_id": 8, "provider_name": "Netflix",
                        "display_priority": 3}],
          "rent": [...], "buy": [...], "ads": [...], "free": [...]}}}

  Region keys are ISO 3166-1 alpha-2, upper case. A bucket appears only when it has entries
  and a region may be just `{"link": ""}`. `logo_path` is relative to the image CDN and may be
  null. There are no prices, no qualities and no per-platform deep links: `link` is TMDB's own
  watch page for the country ("link to the provided TMDB URL ... and provide the actual deep
  links to the content").
- `GET /3/movie/{id}?append_to_response=credits,watch/providers` gives the film's details
  (`title`, `original_title`, `release_date` "1995-10-27" or "", `imdb_id`, `runtime`,
  `poster_path`), its credits under `"credits"` (`{"cast": [{"name", "character", "order",
  ...}], "crew": [{"name", "job", "department", ...}]}`) and the same providers answer under
  `"watch/providers"` (`{"results": {...}}`), in one request ("append to response" counts as
  one request).
- `GET /3/find/{imdb_id}?external_source=imdb_id` answers `{"movie_results": [{"id": 451,
  "title": ..., "release_date": ..., ...}], "person_results": [], "tv_results": [],
  "tv_episode_results": [], "tv_season_results": []}`.
- `GET /3/watch/providers/movie?watch_region=GB` lists the platform directory: `{"results":
  [{"provider_id", "provider_name", "logo_path", "display_priority", "display_priorities":
  {"GB": 3, ...}}]}`. Provider ids are JustWatch's (Netflix 8, Apple TV Store 2, Google Play
  Movies 3, Amazon Video 10...); names change over time (Apple TV+ is now "Apple TV", 350,
  and the store "Apple TV Store", 2; Max is "HBO Max" again, 1899), ids do not.
- Auth: the v4 "API Read Access Token" as `Authorization: Bearer <token>` ("the default
  method") or the v3 `api_key` query parameter; both give the same access.
- Errors: a JSON body `{"success": false, "status_code": 7, "status_message": "Invalid API key:
  You must be granted a valid key."}` with HTTP 401 (10: suspended key, also 401); 404 with
  34 "The resource you requested could not be found." (or 6, "Invalid id"); 429 with 25 "Your
  request count (#) is over the allowed limit of (40)." and a Retry-After header.
- Limits: the old 40 requests per 10 s was dropped in December 2019; a soft limit "somewhere
  in the 40 requests per second range" remains and may change; back off on 429.
- Terms: "In order to use this data you must attribute the source of the data as JustWatch",
  or TMDB revokes access. The API terms add the TMDB logo and the notice "This [product] uses
  TMDB and the TMDB APIs but is not endorsed, certified, or otherwise approved by TMDB.", no
  caching beyond six months, and a free licence for non-commercial use only: commercial use
  needs a written agreement with TMDB.

Design:

- One request per film (`batch_size` 1) gives every country; `regions` only trims what is kept.
  Films the catalog already names, with their credits, use the small watch/providers answer;
  a film not yet in the catalog (an empty title, as `affiliate refresh --film tmdb:603` asks)
  or whose people are not known yet uses the details call with the credits and providers
  appended, still one request, so the catalog learns its title (kept if it has one), original
  title, year, runtime, IMDb id, poster and people: the top ten of the cast in billing order,
  the director(s), composer(s), screenwriters and the source's author(s), which matching
  compares products with and whose box sets Amazon is searched for. A film known only by IMDb id costs one `/find` request first; the id
  mapping goes back as a FilmRecord whose title is None, so a curated title is not replaced.
- The token goes in a header, never the URL (query strings end up in proxy and server logs);
  `api_key` is used only when no token is set. TMDB's own error text is shown (it tells an
  invalid key from a suspended one) with any secret cut out.
- A 404 carrying TMDB's error body is about that one film: a Problem, the others still count.
  A 404 without it means the base URL does not point at TMDB, which fails the whole fetch.
- An answer whose envelope is wrong (no `results` object...) fails the fetch: TMDB or a proxy
  is answering something else. A wrong region entry (a bad provider, a non-ISO code, offers
  without a link) is a Problem for that film: its other regions are still stored but the film
  stays out of `covered`, so nothing it used to list is marked missing on a partial read.
- Offers carry Quality.UNKNOWN, no price, and TMDB's watch page with deep_link False, so a
  source that knows the platform's own title page can win in the widgets. Provider ids map to
  the canonical platform slugs below; several TMDB ids naming one platform in one bucket (Peacock
  Premium and Premium Plus) give one offer. Add-on channels sold through another storefront
  ("MGM+ Amazon Channel") keep a slug of their own name (a name without letters or digits
  falls back to "tmdb-<id>").
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any, Callable, Iterable

import requests
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from providers.base import (
    AuthFailed,
    BadResponse,
    Credential,
    FilmKey,
    FilmQuery,
    FilmRecord,
    NotFound,
    OfferKind,
    OfferRecord,
    Person,
    PlatformRecord,
    Problem,
    Provider,
    ProviderError,
    ProviderResult,
    ProviderSettings,
    Quality,
    Retry,
)
from providers.fields import base_url, http_url
from providers.http import Http, parse_as, safe_label
from providers.platforms import slugify
from providers.regions import normalize_region
from providers.terms import Attribution, Terms
from providers.testing import ProviderCase, Route

# TMDB's bucket names, in the order offers are listed.
_BUCKETS = (
    ("flatrate", OfferKind.SUBSCRIPTION),
    ("free", OfferKind.FREE),
    ("ads", OfferKind.ADS),
    ("rent", OfferKind.RENT),
    ("buy", OfferKind.BUY),
)

# TMDB (JustWatch) provider id -> canonical platform slug. Ids checked against a US
# directory listing of 2026 and regional answers; 39 (Now TV) and 224 (BFI Player) against
# GB answers quoted by public clients. 287 is "BFI Player Amazon Channel", not BFI Player.
_SLUGS: dict[int, str] = {
    8: "netflix", 1796: "netflix",  # Netflix, Netflix Standard with Ads
    9: "amazon-prime-video", 119: "amazon-prime-video", 10: "amazon-prime-video",
    613: "amazon-prime-video", 2100: "amazon-prime-video",  # Free with Ads, with Ads
    2: "apple-tv", 350: "apple-tv",  # Apple TV Store, Apple TV (formerly Apple TV+)
    3: "google-play-movies",
    7: "vudu", 332: "vudu",  # Fandango At Home, Fandango at Home Free
    192: "youtube", 235: "youtube",  # YouTube, YouTube Free
    1899: "max", 384: "max",  # HBO Max (Max), the earlier HBO Max
    15: "hulu",
    337: "disney-plus",
    531: "paramount-plus", 2303: "paramount-plus", 2616: "paramount-plus",  # Premium, Essential
    386: "peacock", 387: "peacock",  # Peacock Premium, Peacock Premium Plus
    11: "mubi",
    258: "criterion-channel",
    73: "tubi",
    300: "pluto-tv",
    68: "microsoft-store",
    538: "plex",
    191: "kanopy",
    212: "hoopla",
    43: "starz",
    34: "mgm-plus",
    526: "amc-plus",
    151: "britbox",
    39: "now",
    130: "sky-store",
    224: "bfi-player",
    35: "rakuten-tv",
    40: "chili",
}

_IMDB_RE = re.compile(r"^tt\d{7,10}$")
_YEAR_RE = re.compile(r"^(\d{4})-\d{2}-\d{2}$")
# Who a film's credits name (developer.themoviedb.org "Movie Credits": cast ordered by
# `order`, crew by `job`): the top-billed cast, and the crew matching compares products with.
_TOP_BILLED = 10
_CREW_ROLES = {"Director": "director", "Original Music Composer": "composer", "Music": "composer",
               "Songs": "composer", "Screenplay": "writer", "Writer": "writer", "Novel": "author",
               "Book": "author", "Short Story": "author", "Story": "author"}




def _present(secret: SecretStr | None) -> SecretStr | None:
    """A blank secret (an unset environment variable) counts as not set."""
    text = secret.get_secret_value().strip() if secret is not None else ""
    return SecretStr(text) if text else None


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore")


class _Provider(_Model):
    provider_id: int = Field(gt=0)
    provider_name: str = Field(min_length=1)
    logo_path: str | None = None
    display_priority: int | None = None


class _Region(_Model):
    flatrate: list[_Provider] = []
    free: list[_Provider] = []
    ads: list[_Provider] = []
    rent: list[_Provider] = []
    buy: list[_Provider] = []
    # Last, so that its check sees the buckets.
    link: str = ""

    @field_validator("link")
    @classmethod
    def _link(cls, value: str, info) -> str:
        if value.strip():
            return http_url(value)
        if any(info.data.get(bucket) for bucket, _ in _BUCKETS):
            raise ValueError("empty, yet providers are listed")
        return ""


class _Availability(_Model):
    """The envelope only: each region is read on its own, so one bad region spoils one film."""

    results: dict[str, Any]


class _CastMember(_Model):
    name: str = Field(min_length=1)
    order: int = 0


class _CrewMember(_Model):
    name: str = Field(min_length=1)
    job: str = ""


class _Credits(_Model):
    cast: list[_CastMember] = []
    crew: list[_CrewMember] = []

    def people(self) -> tuple[Person, ...]:
        """The top-billed cast in billing order, then the crew whose jobs say who directed,
        scored, wrote or first wrote the story; each person once per role."""
        cast = sorted(self.cast, key=lambda member: member.order)[:_TOP_BILLED]
        people = [Person(member.name, "actor") for member in cast]
        people += [Person(member.name, _CREW_ROLES[member.job]) for member in self.crew
                   if member.job in _CREW_ROLES]
        return tuple(dict.fromkeys(people))


class _Details(_Model):
    id: int = Field(gt=0)
    title: str = Field(min_length=1)
    original_title: str | None = None
    release_date: str | None = None
    imdb_id: str | None = None
    runtime: int | None = None
    poster_path: str | None = None
    credits: _Credits | None = None
    providers: _Availability = Field(alias="watch/providers")

    def record(self, key: FilmKey, poster_base_url: str, titled: bool) -> FilmRecord:
        """`titled`: the catalog already names the film; its title stays."""
        year = _YEAR_RE.match(self.release_date or "")
        return FilmRecord(
            key=key,
            title=None if titled else self.title,
            year=int(year[1]) if year else None,
            imdb_id=self.imdb_id if _IMDB_RE.match(self.imdb_id or "") else None,
            tmdb_id=self.id,
            runtime_minutes=self.runtime or None,  # TMDB says 0 when it does not know
            original_title=self.original_title or None,
            people=self.credits.people() if self.credits is not None else None,
            poster_url=(f"{poster_base_url}/{self.poster_path.lstrip('/')}"
                        if self.poster_path else None),
        )


class _Found(_Model):
    id: int = Field(gt=0)


class _FindResults(_Model):
    movie_results: list[_Found]


class _DirectoryProvider(_Provider):
    display_priorities: dict[str, int] = {}


class _Directory(_Model):
    results: list[_DirectoryProvider]


class _Error(_Model):
    status_code: int
    status_message: str = ""


class _KeyCheck(_Model):
    """`GET /3/authentication` ("Validate Key"): `{"success": true, "status_code": 1,
    "status_message": "Success."}`; a refused key is TMDB's 401 error body."""

    success: bool


class _FilmProblem(Exception):
    """One film cannot be read; the fetch goes on with the others."""


@dataclass
class _FilmAnswer:
    film: FilmRecord | None
    offers: list[OfferRecord]
    problems: list[Problem]


class TmdbProvider(Provider):
    class Settings(ProviderSettings):
        base_url: str = "https://api.themoviedb.org"
        read_access_token: SecretStr | None = None
        # Validated even when left out, so a missing credential is named at config time.
        api_key: SecretStr | None = Field(None, validate_default=True)
        regions: list[str] | None = None
        image_base_url: str = "https://image.tmdb.org/t/p/w92"
        # Film posters, shown in the lists of new and leaving films.
        poster_base_url: str = "https://image.tmdb.org/t/p/w342"
        timeout_seconds: float = Field(15, gt=0)

        @field_validator("base_url", "image_base_url", "poster_base_url")
        @classmethod
        def _url(cls, value: str) -> str:
            return base_url(value)

        @field_validator("read_access_token")
        @classmethod
        def _token(cls, value: SecretStr | None) -> SecretStr | None:
            return _present(value)

        @field_validator("api_key")
        @classmethod
        def _credential(cls, value: SecretStr | None, info) -> SecretStr | None:
            value = _present(value)
            if value is None and info.data.get("read_access_token") is None:
                raise ValueError(
                    "set read_access_token (TMDB's API Read Access Token, preferred) or api_key "
                    "(the v3 API key); both are under Settings -> API on themoviedb.org")
            return value

        @field_validator("regions")
        @classmethod
        def _regions(cls, value: list[str] | None) -> list[str] | None:
            if value is None:
                return None
            if not value:
                raise ValueError("list at least one region, or leave regions out to keep all")
            return list(dict.fromkeys(normalize_region(code) for code in value))

    type_name = "tmdb"
    description = ("TMDB watch providers (JustWatch data): subscription, free, ads, rent and buy, "
                   "every country")
    credentials = (
        Credential("read_access_token", "themoviedb.org account -> Settings -> API -> "
                   "'API Read Access Token' (preferred: sent in a header, never in URLs)"),
        Credential("api_key", "themoviedb.org account -> Settings -> API -> 'API Key' (v3); "
                   "used only when no read access token is set"),
    )
    # TMDB's soft limit is "somewhere in the 40 requests per second range"; it answers 429 past it.
    requests_per_second = 40
    batch_size = 1
    terms = Terms(
        attributions=(
            Attribution("Streaming data from JustWatch", "https://www.justwatch.com"),
            Attribution("This product uses the TMDB API but is not endorsed or certified by TMDB.",
                        "https://www.themoviedb.org"),
        ),
        # The API terms allow no caching beyond six months; 180 days stays inside that.
        retention=dt.timedelta(days=180),
    )
    tests = (ProviderCase(
        "tmdb", {"type": "tmdb", "base_url": "https://tmdb.fault.test",
                 "api_key": "tmdb-v3-key-SECRET-1f2e3d"}, ("tmdb-v3-key-SECRET-1f2e3d",),
        good=(Route("GET", "https://tmdb.fault.test/3/movie/451/watch/providers",
                    "tmdb/watch_providers_451.json"),),
        shows="MGM+",
        empty=(Route("GET", "https://tmdb.fault.test/3/movie/451/watch/providers",
                     "tmdb/watch_providers_empty.json"),),
        refused=(Route("GET", "https://tmdb.fault.test/", "tmdb/error_401.json", 401),)),)

    def __init__(self, *args, **kwargs):  # Provider's: name, settings, throttle, retry
        super().__init__(*args, **kwargs)
        self._client = _Client(self.settings, self.throttle, self.retry)

    def fetch(self, films: Iterable[FilmQuery] | None) -> ProviderResult:
        result = ProviderResult(complete=True)
        for query in films or ():
            try:
                answer = self._read(query)
            except (NotFound, _FilmProblem) as exc:
                result.problems.append(Problem(str(query.key), str(exc)))
                continue
            if answer.film is not None:
                result.films.append(answer.film)
            result.offers.extend(answer.offers)
            result.problems.extend(answer.problems)
            if not answer.problems:
                result.covered.add(query.key)
        return result

    def check_credentials(self) -> str:
        """TMDB's "Validate Key" call: one small request, authenticated like every other."""
        used = "read access token" if self.settings.read_access_token is not None else "API key"
        if not self._client.get("/3/authentication", _KeyCheck).success:
            raise AuthFailed(f"TMDB did not accept the {used} (success: false)")
        return f"TMDB accepted the {used}"

    def platform_directory(self, region: str) -> list[PlatformRecord]:
        """TMDB's platforms for one region, in JustWatch's display order there."""
        region = normalize_region(region)
        directory = self._client.get("/3/watch/providers/movie", _Directory, watch_region=region)

        def order(provider) -> tuple:
            priority = provider.display_priorities.get(region, provider.display_priority)
            return (priority is None, priority or 0, provider.provider_name.casefold())

        return [self._platform(provider) for provider in sorted(directory.results, key=order)]

    def _read(self, query: FilmQuery) -> _FilmAnswer:
        tmdb_id, film = query.tmdb_id, None
        if tmdb_id is None:
            tmdb_id = self._find(query)
            film = FilmRecord(key=query.key, title=None, imdb_id=query.imdb_id, tmdb_id=tmdb_id)
        if query.title.strip() and query.people:
            regions = self._client.get(f"/3/movie/{tmdb_id}/watch/providers", _Availability).results
        else:  # still one request: the details, credits and providers together
            details = self._client.get(f"/3/movie/{tmdb_id}", _Details,
                                       append_to_response="credits,watch/providers")
            film = details.record(query.key, self.settings.poster_base_url,
                                  titled=bool(query.title.strip()))
            regions = details.providers.results
        offers, problems = self._offers(query.key, regions)
        return _FilmAnswer(film, offers, problems)

    def _find(self, query: FilmQuery) -> int:
        if not query.imdb_id:
            raise _FilmProblem("TMDB needs the film's TMDB or IMDb id")
        found = self._client.get(f"/3/find/{query.imdb_id}", _FindResults,
                                 external_source="imdb_id")
        if not found.movie_results:
            raise _FilmProblem(f"TMDB knows no film with IMDb id {query.imdb_id}")
        return found.movie_results[0].id

    def _offers(self, key: FilmKey, regions: dict[str, Any]) -> tuple[list[OfferRecord], list[Problem]]:
        offers: list[OfferRecord] = []
        problems: list[Problem] = []
        wanted = self.settings.regions
        for code, entry in regions.items():
            if wanted is not None and code.strip().upper() not in wanted:
                continue
            try:
                offers.extend(self._region_offers(key, code, entry))
            except (ValueError, BadResponse) as exc:
                problems.append(Problem(str(key), str(exc)))
        return offers, problems

    def _region_offers(self, key: FilmKey, code: str, entry: Any) -> list[OfferRecord]:
        try:
            region = normalize_region(code)
        except ValueError as exc:
            raise ValueError(f"region {code!r}: {exc}") from None
        answer = parse_as(_Region, entry, f"region {region}")
        offers: dict[tuple[str, OfferKind], OfferRecord] = {}
        for bucket, kind in _BUCKETS:
            for provider in getattr(answer, bucket):
                platform = self._platform(provider)
                offers.setdefault((platform.slug, kind), OfferRecord(
                    film=key, platform=platform, region=region, kind=kind,
                    quality=Quality.UNKNOWN, link=answer.link, deep_link=False))
        return list(offers.values())

    def _platform(self, provider: _Provider) -> PlatformRecord:
        logo = provider.logo_path
        return PlatformRecord(
            slug=(_SLUGS.get(provider.provider_id) or slugify(provider.provider_name)
                  or f"tmdb-{provider.provider_id}"),
            name=provider.provider_name,
            logo_url=f"{self.settings.image_base_url}/{logo.lstrip('/')}" if logo else None,
            namespace=self.type_name,
            external_id=str(provider.provider_id),
        )


class _Client:
    """TMDB's HTTP side: authentication, its error bodies, and validation of answers."""

    def __init__(self, settings: TmdbProvider.Settings, throttle: Callable[[], None], retry: Retry):
        self.base_url = settings.base_url
        headers = {"Accept": "application/json"}
        self.auth_params: dict[str, str] = {}
        if settings.read_access_token is not None:
            headers["Authorization"] = f"Bearer {settings.read_access_token.get_secret_value()}"
        else:
            self.auth_params["api_key"] = settings.api_key.get_secret_value()
        self.secrets = [secret.get_secret_value() for secret in
                        (settings.read_access_token, settings.api_key) if secret is not None]
        self.http = Http(settings.timeout_seconds, headers, classify=self._classify,
                         before_request=throttle, retry=retry)

    def get(self, path: str, model: type[_Model], **params: str):
        url = self.base_url + path
        data = self.http.json("GET", url, params={**params, **self.auth_params})
        return parse_as(model, data, safe_label(url))

    def _classify(self, response: requests.Response, label: str) -> ProviderError | None:
        error = self._tmdb_error(response)
        if response.status_code == 404:
            if error is None:
                return BadResponse(f"{label}: HTTP 404 without TMDB's error body; "
                                   "does base_url point at the TMDB API?")
            return NotFound(f"{label}: HTTP 404 ({error})")
        if response.status_code in (401, 403) and error is not None:
            return AuthFailed(f"{label}: HTTP {response.status_code} ({error})")
        return None

    def _tmdb_error(self, response: requests.Response) -> str | None:
        """TMDB's `status_code` and `status_message`, if the body is its error envelope."""
        try:
            error = _Error.model_validate_json(response.content)
        except ValidationError:
            return None
        message = error.status_message[:200]
        for secret in self.secrets:
            message = message.replace(secret, "[redacted]")
        return f"TMDB status {error.status_code}: {message}"
