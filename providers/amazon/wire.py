"""The Creators API's answers as Amazon documents them (lowerCamelCase), validated with
pydantic; fields the adapter does not use are ignored."""
from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from providers.fields import http_url

_CURRENCY_RE = r"^[A-Z]{3}$"
_HttpUrl = Annotated[str, AfterValidator(http_url)]


class Wire(BaseModel):
    """The Creators API's lowerCamelCase shapes; fields not used here are ignored."""

    model_config = ConfigDict(extra="ignore", alias_generator=to_camel)


class Text(Wire):
    display_value: str = Field(min_length=1)


class Texts(Wire):
    display_values: list[str] = []


class Classifications(Wire):
    binding: Text | None = None


class ExternalIds(Wire):
    eans: Texts | None = None
    upcs: Texts | None = None


class TechnicalInfo(Wire):
    formats: Texts | None = None


class ItemInfo(Wire):
    title: Text
    classifications: Classifications | None = None
    external_ids: ExternalIds | None = None
    technical_info: TechnicalInfo | None = None


class ImageSize(Wire):
    url: _HttpUrl


class ImageType(Wire):
    medium: ImageSize | None = None


class Images(Wire):
    primary: ImageType | None = None


class Money(Wire):
    amount: Decimal = Field(ge=0, allow_inf_nan=False)
    currency: str = Field(pattern=_CURRENCY_RE)


class Price(Wire):
    money: Money | None = None


class OfferAvailability(Wire):
    type: str | None = None
    message: str | None = None


class Listing(Wire):
    price: Price | None = None
    availability: OfferAvailability | None = None


class Offers(Wire):
    listings: list[Listing] = []


class Item(Wire):
    asin: str = Field(min_length=1)
    detail_page_url: _HttpUrl = Field(alias="detailPageURL")
    # Absent when the resources asked for hold no item information (an offers-only set).
    item_info: ItemInfo | None = None
    images: Images | None = None
    offers_v2: Offers | None = None


class ErrorData(Wire):
    code: str
    message: str


class Entries(Wire):
    """A list of items, each read on its own so one bad entry costs only its ASIN."""

    items: list[Any] = []


class GetItemsAnswer(Wire):
    items_result: Entries
    errors: list[ErrorData] = []


class SearchAnswer(Wire):
    search_result: Entries
    errors: list[ErrorData] = []


class ErrorBody(Wire):
    message: str | None = None
    reason: str | None = None
    retry_after_seconds: float | None = Field(None, ge=0)


class TokenAnswer(BaseModel):
    model_config = ConfigDict(extra="ignore")

    access_token: str = Field(min_length=1)
    expires_in: int = Field(3600, gt=0)


class OAuthError(BaseModel):
    model_config = ConfigDict(extra="ignore")

    error: str = Field(pattern=r"^[a-z_]{1,64}$")
