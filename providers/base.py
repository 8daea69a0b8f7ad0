"""The contract every source adapter fulfils.

An adapter fetches and parses one external source and hands back plain records. It never
touches the database or Flask: `affiliate.refresh` calls it and `affiliate.catalog` stores
what it returns. Keeping adapters pure lets each one be tested against recorded responses
alone.
"""
from __future__ import annotations

import datetime as dt
import enum
import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Iterable

from pydantic import BaseModel, ConfigDict, Field

from providers.link_policy import LinkPolicy
from providers.pacing import Pacer
from providers.terms import AccountReport, Terms

if TYPE_CHECKING:
    from providers.testing import ProviderCase


class OfferKind(str, enum.Enum):
    SUBSCRIPTION = "subscription"
    FREE = "free"
    ADS = "ads"
    RENT = "rent"
    BUY = "buy"


class Quality(str, enum.Enum):
    SD = "SD"
    HD = "HD"
    UHD = "4K"
    # TMDB (JustWatch) says which platforms carry a film but not in what quality.
    UNKNOWN = "unknown"


class ProductFormat(str, enum.Enum):
    BLU_RAY = "blu-ray"
    DVD = "dvd"
    UHD_BLU_RAY = "4k-uhd"
    SOUNDTRACK_CD = "soundtrack-cd"
    VINYL = "vinyl"
    DIGITAL_ALBUM = "digital-album"
    COLLECTION = "collection"
    BOOK = "book"
    MERCHANDISE = "merchandise"


class Availability(str, enum.Enum):
    IN_STOCK = "in stock"
    OUT_OF_STOCK = "out of stock"
    PREORDER = "preorder"


class Relation(str, enum.Enum):
    """How a product relates to a film; also the default display order of the groups."""

    EDITION = "edition"
    SOUNDTRACK = "soundtrack"
    COLLECTION = "collection"
    SOURCE_NOVEL = "source-novel"
    MERCHANDISE = "merchandise"


_IMDB_RE = re.compile(r"^tt[0-9]{7,10}$")
_REF_RE = re.compile(r"^(?:(?P<scheme>tmdb|imdb):(?P<value>.+)|(?P<internal>[0-9]+))$")


MAX_ID = 2**31 - 1  # ids are stored in 32-bit integer columns


def _id_in_range(digits: str, text: str) -> int:
    number = int(digits)
    if not 0 < number <= MAX_ID:
        raise ValueError(f"{text!r}: ids run from 1 to {MAX_ID}")
    if digits != str(number):
        raise ValueError(f"{text!r}: write the id without leading zeros")
    return number


def decimal_pattern(limit: int) -> str:
    """A regular expression (Python's and ECMA-262's alike) for the numbers 1 to `limit`
    written without leading zeros, so a JSON Schema can state an id's range on a string."""
    digits = str(limit)
    shorter = [f"[1-9][0-9]{{0,{len(digits) - 2}}}"] if len(digits) > 1 else []
    # As long as `limit`: its first i digits, a smaller digit, then any digits.
    same_length = [f"{digits[:i]}[{'1' if i == 0 else '0'}-{int(digit) - 1}]"
                   + (f"[0-9]{{{len(digits) - i - 1}}}" if i < len(digits) - 1 else "")
                   for i, digit in enumerate(digits) if int(digit) > (1 if i == 0 else 0)]
    return "(?:" + "|".join([*shorter, *same_length, digits]) + ")"


# Exactly the references FilmKey.parse reads (after stripping white space): the OpenAPI
# document describes film parameters with it.
FILM_REF_PATTERN = f"^(?:(?:tmdb:)?{decimal_pattern(MAX_ID)}|imdb:tt[0-9]{{7,10}})$"


@dataclass(frozen=True)
class FilmKey:
    """How a source names a film: by IMDb id, TMDB id or the service's internal id.

    The string forms `imdb:tt0113627`, `tmdb:451` and `17` are used in URLs, the CLI,
    the API and feeds alike.
    """

    imdb_id: str | None = None
    tmdb_id: int | None = None
    internal_id: int | None = None

    @classmethod
    def parse(cls, text: str) -> "FilmKey":
        """Parse a film reference; ValueError names what a valid one looks like."""
        match = _REF_RE.match((text or "").strip())
        if not match:
            raise ValueError(
                f"{text!r} is not a film reference; use an internal id (17), "
                "tmdb:<id> (tmdb:451) or imdb:<id> (imdb:tt0113627)"
            )
        if match["internal"]:
            return cls(internal_id=_id_in_range(match["internal"], text))
        scheme, value = match["scheme"], match["value"]
        if scheme == "tmdb":
            if not re.fullmatch("[0-9]+", value):
                raise ValueError(f"{text!r}: a TMDB id is a number, as in tmdb:451")
            return cls(tmdb_id=_id_in_range(value, text))
        if not _IMDB_RE.match(value):
            raise ValueError(f"{text!r}: an IMDb id looks like imdb:tt0113627")
        return cls(imdb_id=value)

    def __str__(self) -> str:
        if self.imdb_id:
            return f"imdb:{self.imdb_id}"
        if self.tmdb_id is not None:
            return f"tmdb:{self.tmdb_id}"
        return str(self.internal_id)


# The roles a film's people carry (FilmRecord.people); products name more (artist...).
PERSON_ROLES = ("director", "actor", "composer", "writer", "author")


@dataclass(frozen=True)
class Person:
    """Someone credited on a product or a film, with the kind of credit in lower case
    ("actor", "director", "composer", "author", "artist"...)."""

    name: str
    role: str


@dataclass(frozen=True)
class ProductFacts:
    """The facts one product gives about itself; None or empty where the source is silent."""

    title: str
    people: tuple[Person, ...] = ()
    year: int | None = None
    binding: str | None = None
    format: ProductFormat | None = None
    formats: tuple[str, ...] = ()
    contents: tuple[str, ...] = ()
    # The source's own category: Amazon's product group ("DVD", "Book"), Apple's primary
    # genre ("Soundtrack").
    category: str | None = None
    compilation: bool = False


@dataclass(frozen=True)
class FilmRecord:
    """What a source says about a film itself."""

    key: FilmKey
    title: str | None = None  # None: the source only maps ids and keeps the stored title
    year: int | None = None
    imdb_id: str | None = None
    tmdb_id: int | None = None
    runtime_minutes: int | None = None
    director: str | None = None
    external_ids: dict[str, str] = field(default_factory=dict)
    original_title: str | None = None
    # Its director(s), top-billed cast, composer(s), screenwriter(s) and source's author(s),
    # in billing order (roles: director, actor, composer, writer, author); None: this source
    # did not say, so what is stored stays.
    people: tuple[Person, ...] | None = None
    poster_url: str | None = None


@dataclass(frozen=True)
class PlatformRecord:
    """A streaming or retail platform as a source names it.

    `namespace` and `external_id` are the source's own id for it (TMDB provider 2, Watchmode
    source 371...): the catalog's alias table maps them to one platform across sources,
    and `slug` names a new platform when no alias is known yet.
    """

    slug: str
    name: str
    logo_url: str | None = None
    homepage: str | None = None
    namespace: str | None = None
    external_id: str | None = None


@dataclass(frozen=True)
class OfferRecord:
    """One way to watch a film: a platform, a region, a kind and a quality."""

    film: FilmKey
    platform: PlatformRecord
    region: str
    kind: OfferKind
    quality: Quality
    link: str
    price: Decimal | None = None
    currency: str | None = None
    # The last day to watch, as the country's calendar reads it, and the instant the offer
    # ends where the source gives one; with only a date, it ends when that day ends in the
    # country (providers.regions.end_of_day).
    expires_on: dt.date | None = None
    expires_at: dt.datetime | None = None
    available_since: dt.date | None = None
    # False for a source's own landing page (TMDB's watch page), not the platform's title page.
    deep_link: bool = True


@dataclass(frozen=True)
class ProductLink:
    """A product's tie to one film.

    `curated` marks an operator's own choice; `candidate` a source's guess (a search hit)
    that stays out of the widgets until an operator approves it.
    """

    film: FilmKey
    relation: Relation
    position: int | None = None
    curated: bool = False
    candidate: bool = False


@dataclass(frozen=True)
class ProductRecord:
    """Something to buy that relates to one or more films."""

    merchant: str
    merchant_id: str
    title: str | None  # None: the source did not say this time; the stored title stays
    format: ProductFormat | None  # None: likewise, the stored format stays
    link: str
    region: str
    films: tuple[ProductLink, ...] = ()
    image_url: str | None = None
    price: Decimal | None = None
    currency: str | None = None
    availability: Availability = Availability.IN_STOCK
    gtin: str | None = None
    # Only the link is known (Amazon's link-only mode): keep what is stored about the rest,
    # but drop a price and image the source may no longer show.
    link_only: bool = False
    # What the product says about itself (providers.product_facts), for matching it to films.
    facts: ProductFacts | None = None


@dataclass(frozen=True)
class Problem:
    """A part of an answer that could not be used, with where it was found."""

    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


@dataclass
class ProviderResult:
    """What one fetch produced.

    `complete` is the adapter's promise that, for every film in `covered`, the answer lists
    everything the source knows. Only such an answer may later mark stored offers or
    products missing. A film the adapter could not read in full (a 404 for it, an entry of
    the wrong shape) is reported in `problems` and left out of `covered`; an adapter that
    cannot tell which films a skipped entry concerned (a bad feed row) sets complete False.
    """

    films: list[FilmRecord] = field(default_factory=list)
    offers: list[OfferRecord] = field(default_factory=list)
    products: list[ProductRecord] = field(default_factory=list)
    covered: set[FilmKey] = field(default_factory=set)
    complete: bool = False
    problems: list[Problem] = field(default_factory=list)
    # The films whose candidate products this fetch searched for (FilmQuery.discovered).
    discovered: set[FilmKey] = field(default_factory=set)


@dataclass(frozen=True)
class ChangedFilm:
    """A film a source's change feed named, by whichever ids the feed gave."""

    imdb_id: str | None = None
    tmdb_id: int | None = None
    source_id: str | None = None  # the source's own id, as in FilmRecord.external_ids[type_name]


@dataclass
class ChangeSet:
    """What a change feed said since the last cursor: the films it named, and the cursor to
    continue from, which refresh stores only together with what it did about those films."""

    films: list[ChangedFilm] = field(default_factory=list)
    cursor: str | None = None
    problems: list[Problem] = field(default_factory=list)


@dataclass(frozen=True)
class FilmQuery:
    """A film the service asks a provider about, with every id it already knows."""

    key: FilmKey
    title: str
    year: int | None = None
    imdb_id: str | None = None
    tmdb_id: int | None = None
    director: str | None = None
    external_ids: dict[str, str] = field(default_factory=dict)
    products: tuple["ProductRef", ...] = ()
    original_title: str | None = None
    people: tuple[Person, ...] = ()  # as stored (FilmRecord.people); empty until a source says
    # This provider searched for the film's candidate products before (ProviderResult.
    # discovered): a source that searches once per film need not again.
    discovered: bool = False


@dataclass(frozen=True)
class ProductRef:
    """A product already linked to a film, so a merchant's adapter can refresh its price."""

    merchant: str
    merchant_id: str
    region: str


@dataclass(frozen=True)
class ProductReference:
    """The product an operator's pasted URL or id names at a source's merchant (an Amazon
    product URL or a bare ASIN), with the product page to link until the source fills in
    the rest."""

    merchant: str
    merchant_id: str
    link: str


class ProviderError(Exception):
    """A fetch failed as a whole; subclasses say how, so refresh knows what to do next."""

    kind: ClassVar[str] = "error"


class AuthFailed(ProviderError):
    kind = "auth_failed"


class RateLimited(ProviderError):
    """Too many calls. `retry_after`: seconds the source asked to wait. `quota_exhausted`: the
    quota itself is spent (Watchmode's 402, the daily quota the service counts), so no wait
    within a run can help: the provider is paused instead."""

    kind = "rate_limited"

    def __init__(self, message: str, retry_after: float | None = None,
                 quota_exhausted: bool = False):
        super().__init__(message)
        self.retry_after = retry_after
        self.quota_exhausted = quota_exhausted


class Transient(ProviderError):
    kind = "transient"


class NotFound(ProviderError):
    kind = "not_found"


class Refused(ProviderError):
    """The request was not sent or not followed: its address, a redirect or the size of its
    answer broke the outbound rules (providers.outbound); the message names which."""

    kind = "refused"


class BadResponse(ProviderError):
    """The source answered, but not in the shape its documentation promises."""

    kind = "bad_response"


@dataclass(frozen=True)
class Credential:
    """A secret or setting an adapter needs, and where an operator gets it."""

    name: str
    how_to_obtain: str
    secret: bool = True


class ProviderSettings(BaseModel):
    """Keys every provider table in config.toml has; adapters subclass it for their own."""

    model_config = ConfigDict(extra="forbid")

    type: str
    enabled: bool = True
    interval_minutes: int = Field(60, ge=1)
    # The operator's plan, where it allows more (or should use less) than the adapter's
    # published free-plan limits; unset, those apply.
    requests_per_second: float | None = Field(None, gt=0, le=1000)
    daily_quota: int | None = Field(None, ge=1)


# Runs one request (a zero-argument call) and returns its result, retrying as it sees fit.
Retry = Callable[[Callable[[], Any]], Any]


def _once(call: Callable[[], Any]) -> Any:
    return call()


class Provider:
    """Base class: one subclass per source, registered in `providers.registry`.

    Subclasses set the class attributes and implement `fetch`. `settings` is the
    provider's own table from config.toml, validated by the subclass's `Settings` model.
    """

    Settings: ClassVar[type[ProviderSettings]] = ProviderSettings

    type_name: ClassVar[str]
    description: ClassVar[str]
    credentials: ClassVar[tuple[Credential, ...]] = ()
    requests_per_second: ClassVar[float | None] = None
    daily_quota: ClassVar[int | None] = None
    batch_size: ClassVar[int] = 1
    # True if fetch(None) can list the source's whole catalog (a feed); API adapters are
    # always handed the films to ask about.
    lists_catalog: ClassVar[bool] = False
    # What its terms require wherever its data shows and how long it may be kept.
    terms: ClassVar[Terms] = Terms()
    # Third-party affiliate parameters its links carry, and links that must stay direct.
    link_policy: ClassVar[LinkPolicy] = LinkPolicy()
    # True when an empty or not-found answer to a lookup of a film (or item) the source has
    # identified before is a definitive miss: that film is covered and what it held there
    # counts one miss. False for sources whose empty answers prove nothing.
    definitive_misses: ClassVar[bool] = False
    # How the suite runs it against its recorded answers (providers/testing.py): the fault
    # matrix, the leak suite and the registry test run every registered type's cases.
    tests: ClassVar[tuple[ProviderCase, ...]] = ()
    # How often refresh reads the source's change feed (`changes`); None: it has none.
    changes_every: dt.timedelta | None = None
    # Why this provider cannot call its source (its credentials are missing or unreadable);
    # set on the stand-in affiliate.sources builds in its place, None otherwise.
    credentials_problem: str | None = None

    def __init__(self, name: str, settings: ProviderSettings,
                 throttle: Callable[[], None] | None = None, retry: Retry | None = None):
        """`throttle` is called before every request the adapter sends (its Http's
        `before_request`): refresh passes a limiter shared by every process; alone, an
        adapter spaces its own calls to `requests_per_second`. `retry` wraps each request
        (refresh retries transient failures and short Retry-Afters per request, so a failure
        repeats one request, not a whole batch); alone, a request is tried once."""
        self.name = name
        self.settings = settings
        self.requests_per_second, self.daily_quota = self.configured_limits(settings)
        self.throttle = throttle or _own_pace(self.requests_per_second)
        self.retry = retry or _once

    @classmethod
    def configured_limits(cls, settings: ProviderSettings) -> tuple[float | None, int | None]:
        """(requests per second, daily quota): the provider table's, where it sets them,
        else the adapter's published ones."""
        per_second = getattr(settings, "requests_per_second", None)
        daily_quota = getattr(settings, "daily_quota", None)
        return (per_second if per_second is not None else cls.requests_per_second,
                daily_quota if daily_quota is not None else cls.daily_quota)

    def account_report(self) -> AccountReport:
        """What the source said about the account on its last answer (its own quota count,
        a notice such as link-only mode); nothing by default."""
        return AccountReport()

    @classmethod
    def product_reference(cls, text: str, region: str,
                          configured: list[ProviderSettings]) -> ProductReference | None:
        """The product `text` (a pasted product URL or id) names at this source's merchant in
        `region`, or None when it is not one of this source's references. `configured`: the
        provider tables of this type, to link the store they are set up for."""
        return None

    def platform_directory(self, region: str) -> list[PlatformRecord]:
        """The platforms the source knows in `region`, best known first; [] if it keeps no
        directory. Lets operators learn logos and aliases before any film names them."""
        return []

    def check_credentials(self) -> str | None:
        """Make the cheapest request that proves the credentials work ("test connection")
        and say what the source answered, for the operator; never include a secret.

        Raises a ProviderError as fetch does (AuthFailed when the source refuses them).
        None: the adapter has no such request, so only a refresh tries its credentials.
        Adapters that declare credentials override it."""
        return None

    def changes(self, cursor: str | None, now: dt.datetime) -> ChangeSet:
        """For a source with a change feed (`changes_every` set): the films it says changed
        since `cursor`, and the cursor to continue from; None starts the feed at `now`.
        Raises a ProviderError as fetch does."""
        raise NotImplementedError(f"{self.type_name} keeps no change feed")

    def fetch(self, films: Iterable[FilmQuery] | None) -> ProviderResult:
        """Fetch offers and products for `films`, or everything the source has if None.

        Raises a ProviderError subclass when the fetch fails as a whole.
        """
        raise NotImplementedError


def _own_pace(per_second: float | None) -> Callable[[], None]:
    """Without a shared limiter an adapter still keeps to its source's rate in this process."""
    if per_second is None:
        return lambda: None
    return Pacer(per_second).wait
