"""The `example` provider: a source that answers one film's offers at
`GET {base_url}/titles/{imdb_id}/offers` with the key in an `X-Api-Key` header, as
`{"offers": [{"platform": ..., "name": ..., "kind": ..., "quality": ..., "price": ...,
"currency": ..., "link": ...}]}`; `{"offers": []}` when it offers the film nowhere.

`UncoveredProvider` is the same source declaring no case, which every harness must fail.
"""
from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Iterable

from pydantic import BaseModel, SecretStr

from providers.base import (
    Credential,
    FilmQuery,
    OfferKind,
    OfferRecord,
    PlatformRecord,
    Problem,
    Provider,
    ProviderResult,
    ProviderSettings,
    Quality,
)
from providers.http import Http, decode_json, parse_as, safe_label
from providers.terms import Attribution, Terms
from providers.testing import ProviderCase, Route

HOST = "https://example.fault.test"
OFFERS = f"{HOST}/titles/tt0113627/offers"
KEY = "example-key-SECRET-3c4d5e"


class _Offer(BaseModel):
    platform: str
    name: str
    kind: OfferKind
    quality: Quality
    price: Decimal | None = None
    currency: str | None = None
    link: str


class _Answer(BaseModel):
    offers: list[_Offer]


class ExampleProvider(Provider):
    class Settings(ProviderSettings):
        base_url: str = HOST
        api_key: SecretStr

    type_name = "example"
    description = "An example source from another package (tests only)"
    credentials = (Credential("api_key", "the example source's account page"),)
    terms = Terms(attributions=(Attribution("Offers by Example", HOST),))
    tests = (ProviderCase(
        "example", {"type": "example", "base_url": HOST, "api_key": KEY}, (KEY,),
        good=(Route("GET", OFFERS, "example/offers_tt0113627.json"),),
        shows="Offers by Example",
        empty=(Route("GET", OFFERS, b'{"offers": []}'),),
        refused=(Route("GET", f"{HOST}/", "example/error_401.json", 401),),
        recordings=str(Path(__file__).parent / "recordings")),)

    def fetch(self, films: Iterable[FilmQuery] | None) -> ProviderResult:
        http = Http(15, headers={"X-Api-Key": self.settings.api_key.get_secret_value()},
                    before_request=self.throttle, retry=self.retry)
        result = ProviderResult(complete=True)
        for query in films or ():
            if not query.imdb_id:
                result.problems.append(Problem(str(query.key), "no IMDb id"))
                continue
            url = f"{self.settings.base_url}/titles/{query.imdb_id}/offers"
            label = safe_label(url)
            answer = parse_as(_Answer, decode_json(http.request("GET", url), label), label)
            result.offers.extend(
                OfferRecord(film=query.key, platform=PlatformRecord(slug=offer.platform, name=offer.name),
                            region="US", kind=offer.kind, quality=offer.quality, link=offer.link,
                            price=offer.price, currency=offer.currency)
                for offer in answer.offers)
            result.covered.add(query.key)
        return result

    def check_credentials(self) -> str:
        Http(15, headers={"X-Api-Key": self.settings.api_key.get_secret_value()}).request(
            "GET", f"{self.settings.base_url}/account")
        return "the example source accepted the key"


class UncoveredProvider(ExampleProvider):
    type_name = "uncovered"
    tests = ()
