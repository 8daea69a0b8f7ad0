"""Amazon products through the Creators API (PA-API 5 was retired in May 2026): the `amazon`
provider.

What Amazon documents, confirmed against the Creators API pages (affiliate-program.amazon.com
/creatorsapi/docs/en-us: "Using cURL", "Common Request Headers and Parameters", "GetItems",
"SearchItems", "ItemInfo", "OffersV2", "Error Codes and Messages", "Processing of Errors",
"Migrating to Creators API from Product Advertising API") and against Amazon's own Python SDK
(`creatorsapi_python_sdk`, bundled in python-amazon-paapi 7.1.0):

- Auth is OAuth2 client credentials with a credential id, secret and version. Versions 2.1,
  2.2 and 2.3 (North America, Europe, Far East) get tokens from Cognito
  (`https://creatorsapi.auth.<us-east-1|eu-south-2|us-west-2>.amazoncognito.com/oauth2/token`,
  form-encoded, scope `creatorsapi/default`, the credentials in the body or as HTTP Basic);
  3.1, 3.2 and 3.3 from Login with Amazon (`https://api.amazon.com|.co.uk|.co.jp
  /auth/o2/token`, a JSON body with the credentials, scope `creatorsapi::default`). The answer
  is `{"access_token": ..., "expires_in": 3600, "token_type": "Bearer"}`; tokens "should be
  cached until they expire". A refused credential is an OAuth error (RFC 6749, not shown on
  Amazon's pages): `{"error": "invalid_client"}` with 400, or 401; both are read as such.
- Calls are `POST https://creatorsapi.amazon/catalog/v1/getItems` and `.../searchItems` with
  `Authorization: Bearer <token>, Version <version>` (2.x) or `Bearer <token>` (3.x),
  `x-marketplace: www.amazon.com` and a lowerCamelCase JSON body: `partnerTag`,
  `marketplace`, `resources`, and `itemIds` (at most 10; one call counts once) or a search
  (`searchIndex`, `title` or `keywords`, `itemCount` up to 10).
- getItems answers `{"itemsResult": {"items": [...]}, "errors": [...]}`; searchItems
  `{"searchResult": {"items": [...], "totalResultCount": n, "searchURL": ...}}`. An item has
  `asin`, `detailPageURL` (already tagged with the partner tag), `itemInfo.title.displayValue`,
  `itemInfo.classifications.binding.displayValue` ("Blu-ray", "DVD", "Audio CD", "Paperback"...),
  `itemInfo.externalIds.{eans,upcs,isbns}.displayValues` (`eans`, not `eaNs`),
  `itemInfo.technicalInfo.formats.displayValues` ("4K", "Box set"...),
  `images.primary.medium.url`, and `offersV2.listings[]` with
  `price.money.{amount, currency, displayAmount}` (amount a JSON number) and
  `availability.{type, message}`, type one of AVAILABLE_DATE, IN_STOCK, IN_STOCK_SCARCE,
  LEADTIME, OUT_OF_STOCK, PREORDER, UNAVAILABLE, UNKNOWN. Items come in any order.
- Partial failures are a 200 whose `errors[]` holds `{"code", "message"}` per failed ASIN
  (`ItemNotAccessible`: "The ItemId B01180YUXS is not accessible through the Creators API.",
  `InvalidParameterValue`); the ASIN is named only inside the message. When every ASIN of a
  call fails the answer is a 404 `ResourceNotFoundException` instead, and a search without
  results is a 404 too.
- Errors are `{"type", "message", "reason"?, "retryAfterSeconds"?}`: 401
  UnauthorizedException (reasons TokenExpired, InvalidToken...), 403 AccessDeniedException
  with reason `AssociateNotEligible` ("Your account does not currently meet the eligibility
  requirements": fewer than 10 qualified sales in the trailing 30 days; access returns by
  itself within days of new sales), 400 ValidationException (InvalidAssociate,
  InvalidPartnerTag, FieldValidationFailed...), 429 ThrottleException that "may include a
  retryAfterSeconds field", 500 InternalServerException.
- Associates rules: prices only from the API, shown with their "as of" time and not once older
  than 24 hours; images hot-linked from Amazon, never copied; the statement "As an Amazon
  Associate I earn from qualifying purchases" wherever the products are shown; links are the
  API's own `detailPageURL`, never hidden behind a redirect.

Not confirmed: the Creators API's own rates page was not found. It promises PA-API 5's
functionality, whose limits start at 1 request per second and 8640 per day and grow with
sales; those are the values used. The GetItems reference page once spells the envelope
`itemResults`; every other page and the SDK say `itemsResult`, which is what is read.

Why a small client instead of python-amazon-paapi 7.1.0: the library can be pointed at a stand-in
(`host=`, `auth_endpoint=`) and speaks both operations, but tried against one it
- drops the wait Amazon asks for: TooManyRequestsError carries neither `retryAfterSeconds` nor
  Retry-After, and by default it sleeps and retries inside the call (up to 30 s a try);
- reports a token endpoint that is down (503, timeout) as AuthenticationError, the same as
  refused credentials, so an outage would read as a credentials problem;
- lets a raw JSONDecodeError or pydantic ValidationError escape for a malformed 200, turns an
  unrelated JSON body into "no items found", and keeps prices as floats;
- gives up the whole `get_items` when one batch of ten is all unknown (a 404), dropping the
  batches already read, and names AssociateNotEligible only in a message text;
- sends its API calls through urllib3 directly, so the recorded answers cannot be replayed
  with `responses` the way every other adapter's are.
Working around that would mean reading its private exception causes. The API is two POSTs and
a token, so this module speaks it through `providers.http`, which already maps statuses,
timeouts and bodies to the errors refresh acts on.

Design:

- fetch() refreshes the Amazon products the catalog already links to the films: every ref
  with merchant "Amazon" in `region`, ten ASINs a call. Products keep the tie to their films
  as non-curated links; the catalog never moves an existing link for such a source, so the
  relation given (from the binding: disc → edition, music → soundtrack, book → source novel,
  a title saying collection or box set → collection, anything else → merchandise) only
  matters for a new link. An ASIN that Amazon reports as failed, leaves out, or answers with an
  entry of the wrong shape is a Problem for each film holding it, and those films stay out of
  `covered`: only a film whose every ASIN was read can have a product counted as gone.
- With `discover` on, a film that has no Amazon product in `region` yet (and a title) gets
  three searches, one request each, for candidates an operator approves: editions by title in
  MoviesAndTV, the soundtrack by "<title> soundtrack" in Music, the novel by title in Books.
  Once candidates are linked the film has Amazon products and is not searched again, so a
  film costs three requests once, not three per run. The year is not sent: product titles
  rarely carry it and a title search would then miss. Hits whose title does not contain the
  film's title, Prime Video entries (streaming, not products) and ASINs already linked are
  dropped. Box sets "by actor" need the cast, which FilmQuery does not carry: not searched.
- A 403 AssociateNotEligible switches to link-only mode (`self.link_only`): no more calls, and
  every ref comes back with a plain tagged link `https://<marketplace>/dp/<ASIN>?tag=<tag>`,
  no price and no image, plus one Problem saying why. Nothing is covered then. The next fetch
  tries the API again.
- Every getItems and searchItems call, a retry after a 401 included, first passes the
  provider's throttle (refresh's limiter shared by every process, else an in-process pacer at
  requests_per_second). Token requests do not: Amazon's request rate and daily quota count API
  operations, and a token is fetched about once an hour. The token is cached on the instance
  until 60 s before it expires; a 401 on a call drops it and retries once.
- 429 waits `retryAfterSeconds` from the body, else Retry-After. InvalidAssociate and
  InvalidPartnerTag are configuration the operator must fix: AuthFailed, like a refused token.
"""
from __future__ import annotations

import base64
import datetime as dt
import re
import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Annotated, Any, Callable, Iterable, Literal
from urllib.parse import quote

import requests
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
)
from pydantic.alias_generators import to_camel

from providers.base import (
    AuthFailed,
    Availability,
    BadResponse,
    Credential,
    FilmKey,
    FilmQuery,
    NotFound,
    Problem,
    ProductFormat,
    ProductLink,
    ProductRecord,
    Provider,
    ProviderError,
    ProviderResult,
    ProviderSettings,
    RateLimited,
    Relation,
    Retry,
)
from providers.fields import base_url, http_url
from providers.http import Http, parse_as, retry_after_seconds, safe_label
from providers.regions import normalize_region

MERCHANT = "Amazon"
_TOKEN_URLS = {
    "2.1": "https://creatorsapi.auth.us-east-1.amazoncognito.com/oauth2/token",
    "2.2": "https://creatorsapi.auth.eu-south-2.amazoncognito.com/oauth2/token",
    "2.3": "https://creatorsapi.auth.us-west-2.amazoncognito.com/oauth2/token",
    "3.1": "https://api.amazon.com/auth/o2/token",
    "3.2": "https://api.amazon.co.uk/auth/o2/token",
    "3.3": "https://api.amazon.co.jp/auth/o2/token",
}
_TOKEN_MARGIN_SECONDS = 60
_MAX_ITEM_IDS = 10
# Asked for by check_credentials: Leaving Las Vegas on Blu-ray (Amazon US).
_CHECK_ASIN = "B00C6FBZ8S"
_RESOURCES = [
    "itemInfo.title",
    "itemInfo.classifications",
    "itemInfo.externalIds",
    "itemInfo.technicalInfo",
    "images.primary.medium",
    "offersV2.listings.price",
    "offersV2.listings.availability",
]
_ASIN_RE = re.compile(r"^[A-Z0-9]{10}$")
_HOST_RE = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$")
_CURRENCY_RE = r"^[A-Z]{3}$"
_UHD_RE = re.compile(r"\b(4k|uhd|ultra hd)\b", re.IGNORECASE)
_COLLECTION_RE = re.compile(r"\b(collection|box ?set|\d+[- ]film)\b", re.IGNORECASE)
_GTIN_LENGTHS = (8, 12, 13, 14)

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


@dataclass(frozen=True)
class _Search:
    """One discovery search: a category and how the film's title is put to it."""

    index: str
    parameter: Literal["title", "keywords"]
    template: str
    count: int


_SEARCHES = (
    _Search("MoviesAndTV", "title", "{title}", 6),
    _Search("Music", "keywords", "{title} soundtrack", 3),
    _Search("Books", "title", "{title}", 3),
)




_HttpUrl = Annotated[str, AfterValidator(http_url)]


class _Wire(BaseModel):
    """The Creators API's lowerCamelCase shapes; fields not used here are ignored."""

    model_config = ConfigDict(extra="ignore", alias_generator=to_camel)


class _Text(_Wire):
    display_value: str = Field(min_length=1)


class _Texts(_Wire):
    display_values: list[str] = []


class _Classifications(_Wire):
    binding: _Text | None = None


class _ExternalIds(_Wire):
    eans: _Texts | None = None
    upcs: _Texts | None = None


class _TechnicalInfo(_Wire):
    formats: _Texts | None = None


class _ItemInfo(_Wire):
    title: _Text
    classifications: _Classifications | None = None
    external_ids: _ExternalIds | None = None
    technical_info: _TechnicalInfo | None = None


class _ImageSize(_Wire):
    url: _HttpUrl


class _ImageType(_Wire):
    medium: _ImageSize | None = None


class _Images(_Wire):
    primary: _ImageType | None = None


class _Money(_Wire):
    amount: Decimal = Field(ge=0, allow_inf_nan=False)
    currency: str = Field(pattern=_CURRENCY_RE)


class _Price(_Wire):
    money: _Money | None = None


class _OfferAvailability(_Wire):
    type: str | None = None
    message: str | None = None


class _Listing(_Wire):
    price: _Price | None = None
    availability: _OfferAvailability | None = None


class _Offers(_Wire):
    listings: list[_Listing] = []


class _Item(_Wire):
    asin: str = Field(min_length=1)
    detail_page_url: _HttpUrl = Field(alias="detailPageURL")
    item_info: _ItemInfo
    images: _Images | None = None
    offers_v2: _Offers | None = None


class _ErrorData(_Wire):
    code: str
    message: str


class _Entries(_Wire):
    """A list of items, each read on its own so one bad entry costs only its ASIN."""

    items: list[Any] = []


class _GetItemsAnswer(_Wire):
    items_result: _Entries
    errors: list[_ErrorData] = []


class _SearchAnswer(_Wire):
    search_result: _Entries
    errors: list[_ErrorData] = []


class _ErrorBody(_Wire):
    message: str | None = None
    reason: str | None = None
    retry_after_seconds: float | None = Field(None, ge=0)


class _TokenAnswer(BaseModel):
    model_config = ConfigDict(extra="ignore")

    access_token: str = Field(min_length=1)
    expires_in: int = Field(3600, gt=0)


class _OAuthError(BaseModel):
    model_config = ConfigDict(extra="ignore")

    error: str = Field(pattern=r"^[a-z_]{1,64}$")


class _TokenRejected(AuthFailed):
    """A 401 on a call: the cached token is dropped and the call tried once more."""


class _NotEligible(ProviderError):
    """403 AssociateNotEligible: the account may not use the API until it has sales again."""

    kind = "not_eligible"


class AmazonProvider(Provider):
    class Settings(ProviderSettings):
        credential_id: SecretStr
        credential_secret: SecretStr
        credential_version: Literal["2.1", "2.2", "2.3", "3.1", "3.2", "3.3"]
        partner_tag: str
        marketplace: str = "www.amazon.com"
        region: str = "US"
        base_url: str = "https://creatorsapi.amazon"
        token_url: str | None = None
        timeout_seconds: float = Field(15, gt=0)
        discover: bool = True

        @field_validator("partner_tag")
        @classmethod
        def _partner_tag(cls, value: str) -> str:
            value = value.strip()
            if not value or len(value) > 64 or any(char.isspace() for char in value):
                raise ValueError("set the Associates tracking id for this marketplace, e.g. yoursite-20")
            return value

        @field_validator("marketplace")
        @classmethod
        def _marketplace(cls, value: str) -> str:
            value = value.strip().lower()
            if not _HOST_RE.match(value):
                raise ValueError(f"{value!r} is not a marketplace host such as www.amazon.com")
            return value

        @field_validator("region")
        @classmethod
        def _region(cls, value: str) -> str:
            return normalize_region(value)

        @field_validator("base_url", "token_url")
        @classmethod
        def _url(cls, value: str | None) -> str | None:
            return None if value is None else base_url(value)

    type_name = "amazon"
    description = "Amazon products (editions, soundtracks, books) through the Creators API"
    credentials = (
        Credential("credential_id", "Associates Central → Tools → Creators API → Create "
                   "Application → Create Credential: the Credential ID"),
        Credential("credential_secret", "shown once, next to the Credential ID, when the "
                   "credential is created; create a new one if it is lost"),
        Credential("credential_version", "shown with the credential: 2.1/2.2/2.3 for North "
                   "America/Europe/Far East, or 3.1/3.2/3.3 for newer credentials", secret=False),
        Credential("partner_tag", "your Associates store or tracking id for this marketplace, "
                   "e.g. yoursite-20 (Associates Central → Tools → Tracking ID Manager)",
                   secret=False),
    )
    requests_per_second = 1
    daily_quota = 8640
    batch_size = _MAX_ITEM_IDS
    merchant = MERCHANT
    disclosure = "As an Amazon Associate I earn from qualifying purchases."
    price_max_age = dt.timedelta(hours=24)

    def __init__(self, *args, **kwargs):  # Provider's: name, settings, throttle, retry
        super().__init__(*args, **kwargs)
        # Shown in the provider's status while Amazon refuses the account (AssociateNotEligible).
        self.link_only = False
        self._client = _Client(self.settings, self.throttle, self.retry)

    def check_credentials(self) -> str:
        """A token, then getItems of one ASIN: proves the credential id, secret and version
        and the partner tag in one API call. Amazon not knowing the ASIN still proves them."""
        try:
            self._client.get_items([_CHECK_ASIN])
        except _NotEligible as exc:
            return (f"Amazon accepted the credentials, but refuses this account's API calls for "
                    f"now ({exc}); links are shown without prices until it has qualifying sales")
        return "Amazon accepted the credentials and the partner tag"

    def fetch(self, films: Iterable[FilmQuery] | None) -> ProviderResult:
        queries = list(films or ())
        run = _Run(self.settings, queries)
        try:
            result = run.read(self._client)
        except _NotEligible as exc:
            self.link_only = True
            return run.link_only(str(exc))
        self.link_only = False
        return result


class _Token:
    """The OAuth2 client-credentials token, cached until shortly before it expires."""

    def __init__(self, settings: AmazonProvider.Settings):
        self.settings = settings
        self.url = settings.token_url or _TOKEN_URLS[settings.credential_version]
        self.http = Http(settings.timeout_seconds, classify=_token_refused)
        self._value: str | None = None
        self._expires = 0.0

    def header(self) -> str:
        """The Authorization value: v2.x credentials name their version, v3.x do not."""
        token = self._current()
        if self.settings.credential_version.startswith("2."):
            return f"Bearer {token}, Version {self.settings.credential_version}"
        return f"Bearer {token}"

    def drop(self) -> None:
        self._value = None

    def _current(self) -> str:
        if self._value is None or time.monotonic() >= self._expires:
            answer = parse_as(_TokenAnswer, self._request(), safe_label(self.url))
            self._value = answer.access_token
            self._expires = time.monotonic() + answer.expires_in - _TOKEN_MARGIN_SECONDS
        return self._value

    def _request(self) -> Any:
        credential_id = self.settings.credential_id.get_secret_value()
        secret = self.settings.credential_secret.get_secret_value()
        if self.settings.credential_version.startswith("2."):
            # Cognito takes the credentials as HTTP Basic: they stay out of the body.
            basic = base64.b64encode(f"{credential_id}:{secret}".encode()).decode()
            return self.http.json("POST", self.url, headers={"Authorization": f"Basic {basic}"},
                                  data={"grant_type": "client_credentials",
                                        "scope": "creatorsapi/default"})
        return self.http.json("POST", self.url, json={
            "grant_type": "client_credentials", "client_id": credential_id,
            "client_secret": secret, "scope": "creatorsapi::default"})


def _token_refused(response: requests.Response, label: str) -> ProviderError | None:
    """400/401 from the token endpoint mean the credentials were refused, not a bad request."""
    if response.status_code not in (400, 401):
        return None
    try:
        code = _OAuthError.model_validate_json(response.content).error
    except ValidationError:
        code = "no OAuth error code"
    return AuthFailed(f"{label}: HTTP {response.status_code}: the token endpoint refused the "
                      f"credentials ({code})")


def _classify(response: requests.Response, label: str) -> ProviderError | None:
    """Amazon's own reading of a failed call; None leaves it to providers.http."""
    error = _error_body(response)
    message = f"{label}: HTTP {response.status_code}{_detail(error)}"
    status = response.status_code
    if status == 401:
        return _TokenRejected(message)
    if status == 403 and error.reason == "AssociateNotEligible":
        return _NotEligible(message)
    if status == 403 or (status == 400 and error.reason in ("InvalidAssociate", "InvalidPartnerTag")):
        return AuthFailed(message)
    if status == 400:
        return BadResponse(message)
    if status == 429:
        wait = error.retry_after_seconds
        if wait is None:
            wait = retry_after_seconds(response.headers.get("Retry-After"))
        return RateLimited(message, retry_after=wait)
    return None


def _error_body(response: requests.Response) -> _ErrorBody:
    try:
        return _ErrorBody.model_validate_json(response.content)
    except ValidationError:
        return _ErrorBody()


def _detail(error: _ErrorBody) -> str:
    text = ": ".join(part for part in (error.reason, error.message) if part)
    return f" ({text[:300]})" if text else ""


class _Client:
    """getItems and searchItems, throttled, with the token and one retry on a 401."""

    def __init__(self, settings: AmazonProvider.Settings, throttle: Callable[[], None], retry: Retry):
        self.settings = settings
        self.token = _Token(settings)
        self.http = Http(settings.timeout_seconds, headers={"x-marketplace": settings.marketplace},
                         classify=_classify, before_request=throttle, retry=retry)

    def get_items(self, asins: list[str]) -> _GetItemsAnswer | None:
        """The answer for up to ten ASINs; None when Amazon knows none of them (404)."""
        return self._answer("getItems", {"itemIds": asins, "itemIdType": "ASIN"}, _GetItemsAnswer)

    def search(self, search: _Search, title: str) -> _SearchAnswer | None:
        """One search; None when it finds nothing (404)."""
        body = {"searchIndex": search.index, search.parameter: search.template.format(title=title),
                "itemCount": search.count}
        return self._answer("searchItems", body, _SearchAnswer)

    def label(self, operation: str) -> str:
        return safe_label(self._url(operation))

    def _url(self, operation: str) -> str:
        return f"{self.settings.base_url}/catalog/v1/{operation}"

    def _answer(self, operation: str, body: dict, model: type[_Wire]):
        try:
            data = self._post(self._url(operation), body)
        except NotFound:
            return None
        return parse_as(model, data, self.label(operation))

    def _post(self, url: str, body: dict) -> Any:
        body = {**body, "partnerTag": self.settings.partner_tag,
                "marketplace": self.settings.marketplace, "resources": _RESOURCES}
        try:
            return self._send(url, body)
        except _TokenRejected:
            self.token.drop()
            return self._send(url, body)

    def _send(self, url: str, body: dict) -> Any:
        return self.http.json("POST", url, json=body, headers={"Authorization": self.token.header()})


@dataclass
class _Answers:
    """What Amazon said: items by ASIN, why the asked-for ones failed, search hits by film."""

    items: dict[str, _Item] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    found: dict[str, _Item] = field(default_factory=dict)
    candidates: dict[str, list[FilmKey]] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)


class _Run:
    """One fetch: the refs asked about, the answers read, the records made."""

    def __init__(self, settings: AmazonProvider.Settings, queries: list[FilmQuery]):
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
                if not _ASIN_RE.match(ref.merchant_id):
                    self.answers.failed[ref.merchant_id] = "not an ASIN (ten capital letters and digits)"
                films = refs.setdefault(ref.merchant_id, [])
                if query.key not in films:
                    films.append(query.key)
        return refs

    def read(self, client: _Client) -> ProviderResult:
        asins = [asin for asin in self.refs if asin not in self.answers.failed]
        for start in range(0, len(asins), _MAX_ITEM_IDS):
            self._read_batch(client, asins[start:start + _MAX_ITEM_IDS])
        if self.settings.discover:
            linked = {film for films in self.refs.values() for film in films}
            for query in self.queries:
                if query.title.strip() and query.key not in linked:
                    self._discover(client, query)
        return self._result()

    def _read_batch(self, client: _Client, asins: list[str]) -> None:
        answer = client.get_items(asins)
        if answer is None:
            for asin in asins:
                self.answers.failed[asin] = "Amazon knows none of the ASINs asked with it (404)"
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
                self.answers.failed[asin] = _reason(asin, answer.errors)

    def _discover(self, client: _Client, query: FilmQuery) -> None:
        where = str(query.key)
        for search in _SEARCHES:
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

    def _record(self, item: _Item, linked: list[FilmKey], candidates: list[FilmKey]) -> ProductRecord:
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
            title=item.item_info.title.display_value,
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
            for asin, films in self.refs.items() if _ASIN_RE.match(asin)
        ]
        notice = Problem("Creators API", f"link-only mode: {reason}; showing tagged links without "
                                         "prices or images until Amazon allows the account again")
        return ProviderResult(products=products, covered=set(), complete=True, problems=[notice])


def _parse_items(entries: list[Any], label: str) -> tuple[dict[str, _Item], list[tuple[str | None, str]]]:
    """Each entry read on its own, so a bad one costs only its ASIN (when it names one)."""
    items: dict[str, _Item] = {}
    bad: list[tuple[str | None, str]] = []
    for index, entry in enumerate(entries):
        try:
            item = parse_as(_Item, entry, f"{label}: items[{index}]")
        except BadResponse as exc:
            asin = entry.get("asin") if isinstance(entry, dict) else None
            bad.append((asin if isinstance(asin, str) else None, f"wrong shape: {exc}"))
            continue
        items[item.asin] = item
    return items, bad


def _reason(asin: str, errors: list[_ErrorData]) -> str:
    """Amazon names a failed ASIN only inside the error's message."""
    for error in errors:
        if asin in error.message:
            return f"{error.code}: {error.message}"
    return "missing from Amazon's answer"


def _binding(item: _Item) -> str:
    classifications = item.item_info.classifications
    binding = classifications.binding if classifications else None
    return binding.display_value.strip() if binding else ""


def _formats(item: _Item) -> list[str]:
    info = item.item_info.technical_info
    return info.formats.display_values if info and info.formats else []


def _format(item: _Item) -> ProductFormat:
    product_format = _BINDING_FORMATS.get(_binding(item).lower(), ProductFormat.MERCHANDISE)
    described = " ".join([item.item_info.title.display_value, *_formats(item)])
    if product_format is ProductFormat.BLU_RAY and _UHD_RE.search(described):
        return ProductFormat.UHD_BLU_RAY
    return product_format


def _relation(item: _Item, product_format: ProductFormat) -> Relation:
    if _COLLECTION_RE.search(" ".join([item.item_info.title.display_value, *_formats(item)])):
        return Relation.COLLECTION
    return _RELATIONS.get(product_format, Relation.MERCHANDISE)


def _is_candidate(item: _Item, film_title: str) -> bool:
    """A search hit worth an operator's look: a shippable product naming the film."""
    if _binding(item).lower() in _STREAMING_BINDINGS:
        return False
    return _fold(film_title) in _fold(item.item_info.title.display_value)


def _fold(text: str) -> str:
    return " ".join(re.sub(r"[^0-9a-z]+", " ", text.lower()).split())


def _first_listing(item: _Item) -> _Listing | None:
    listings = item.offers_v2.listings if item.offers_v2 else []
    return listings[0] if listings else None


def _availability(listing: _Listing | None) -> Availability:
    """No offer means nothing to buy; an offer Amazon does not qualify is taken as buyable."""
    if listing is None:
        return Availability.OUT_OF_STOCK
    offer = listing.availability or _OfferAvailability()
    if offer.type in _AVAILABILITY:
        return _AVAILABILITY[offer.type]
    for pattern, availability in _AVAILABILITY_MESSAGES:
        if offer.message and pattern.search(offer.message):
            return availability
    return Availability.IN_STOCK


def _image(item: _Item) -> str | None:
    primary = item.images.primary if item.images else None
    return primary.medium.url if primary and primary.medium else None


def _gtin(item: _Item) -> str | None:
    ids = item.item_info.external_ids
    for group in (ids.eans, ids.upcs) if ids else ():
        for value in group.display_values if group else ():
            if value.isascii() and value.isdigit() and len(value) in _GTIN_LENGTHS:
                return value
    return None
