"""getItems and searchItems: throttled, with the token and one retry after a 401, and Amazon's
own reading of failed answers."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Literal

import requests
from pydantic import ValidationError

from providers.amazon.auth import Token
from providers.amazon.settings import AmazonSettings
from providers.amazon.wire import ErrorBody, GetItemsAnswer, SearchAnswer, Wire
from providers.base import (
    AuthFailed,
    BadResponse,
    NotFound,
    ProviderError,
    RateLimited,
    Relation,
    Retry,
)
from providers.http import Http, parse_as, retry_after_seconds, safe_label

RESOURCES = [
    "itemInfo.title",
    "itemInfo.byLineInfo",
    "itemInfo.contentInfo",
    "itemInfo.productInfo",
    "itemInfo.classifications",
    "itemInfo.externalIds",
    "itemInfo.technicalInfo",
    "images.primary.medium",
    "offersV2.listings.price",
    "offersV2.listings.availability",
]


@dataclass(frozen=True)
class Search:
    """One discovery search: a category, its parameters (templates filled with the film's
    title or a person's name) and what it looks for."""

    index: str
    parameters: tuple[tuple[Literal["title", "keywords", "actor"], str], ...]
    count: int
    looks_for: Relation

    def body(self, **names: str) -> dict[str, Any]:
        return {"searchIndex": self.index, "itemCount": self.count,
                **{name: template.format(**names) for name, template in self.parameters}}


SEARCHES = (
    Search("MoviesAndTV", (("title", "{title}"),), 10, Relation.EDITION),
    Search("Music", (("keywords", "{title} soundtrack"),), 5, Relation.SOUNDTRACK),
    Search("Books", (("title", "{title}"),), 5, Relation.SOURCE_NOVEL),
)
# Box sets of a film's top-billed actors and of its director.
ACTOR_SETS = Search("MoviesAndTV", (("actor", "{name}"), ("keywords", "collection")), 10,
                    Relation.COLLECTION)
DIRECTOR_SETS = Search("MoviesAndTV", (("keywords", "{name} collection"),), 10, Relation.COLLECTION)


class TokenRejected(AuthFailed):
    """A 401 on a call: the cached token is dropped and the call tried once more."""


class NotEligible(ProviderError):
    """403 AssociateNotEligible: the account may not use the API until it has sales again."""

    kind = "not_eligible"


def classify(response: requests.Response, label: str) -> ProviderError | None:
    """Amazon's own reading of a failed call; None leaves it to providers.http."""
    error = _error_body(response)
    message = f"{label}: HTTP {response.status_code}{_detail(error)}"
    status = response.status_code
    if status == 401:
        return TokenRejected(message)
    if status == 403 and error.reason == "AssociateNotEligible":
        return NotEligible(message)
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


def _error_body(response: requests.Response) -> ErrorBody:
    try:
        return ErrorBody.model_validate_json(response.content)
    except ValidationError:
        return ErrorBody()


def _detail(error: ErrorBody) -> str:
    text = ": ".join(part for part in (error.reason, error.message) if part)
    return f" ({text[:300]})" if text else ""



class Client:
    """getItems and searchItems, throttled, with the token and one retry on a 401."""

    def __init__(self, settings: AmazonSettings, throttle: Callable[[], None], retry: Retry):
        self.settings = settings
        self.token = Token(settings)
        self.http = Http(settings.timeout_seconds, headers={"x-marketplace": settings.marketplace},
                         classify=classify, before_request=throttle, retry=retry)

    def get_items(self, asins: list[str]) -> GetItemsAnswer | None:
        """The answer for up to ten ASINs; None when Amazon knows none of them (404)."""
        return self._answer("getItems", {"itemIds": asins, "itemIdType": "ASIN"}, GetItemsAnswer)

    def search(self, search: Search, **names: str) -> SearchAnswer | None:
        """One search; None when it finds nothing (404)."""
        return self._answer("searchItems", search.body(**names), SearchAnswer)

    def label(self, operation: str) -> str:
        return safe_label(self._url(operation))

    def _url(self, operation: str) -> str:
        return f"{self.settings.base_url}/catalog/v1/{operation}"

    def _answer(self, operation: str, body: dict, model: type[Wire]):
        try:
            data = self._post(self._url(operation), body)
        except NotFound:
            return None
        return parse_as(model, data, self.label(operation))

    def _post(self, url: str, body: dict) -> Any:
        body = {**body, "partnerTag": self.settings.partner_tag,
                "marketplace": self.settings.marketplace, "resources": RESOURCES}
        try:
            return self._send(url, body)
        except TokenRejected:
            self.token.drop()
            return self._send(url, body)

    def _send(self, url: str, body: dict) -> Any:
        return self.http.json("POST", url, json=body, headers={"Authorization": self.token.header()})

