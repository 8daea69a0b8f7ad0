"""The `amazon` provider's cases for the suite's harnesses (providers/testing.py): lookups of
the products an operator linked (searches are covered by tests/test_amazon.py)."""
from __future__ import annotations

from providers.base import FilmKey, ProductFormat, ProductLink, ProductRecord, Relation
from providers.testing import ProviderCase, Route

_HOST = "https://creators.fault.test"
_TOKEN, _ITEMS = f"{_HOST}/auth/o2/token", f"{_HOST}/catalog/v1/getItems"
_ID, _SECRET = "amzn-credential-id-SECRET-42", "amzn-credential-secret-SECRET-43"
_ACCESS = "Atc|MQICIJvSKVTZ-example-lwa-token"  # what amazon/token_lwa.json hands out
_CONFIG = {"type": "amazon", "base_url": _HOST, "token_url": _TOKEN, "credential_id": _ID,
           "credential_secret": _SECRET, "credential_version": "3.1",
           "partner_tag": "filmsite-20", "discover": False}
_GOOD = (Route("POST", _TOKEN, "amazon/token_lwa.json"), Route("POST", _ITEMS, "amazon/get_items.json"))
_LINKED = tuple(
    ProductRecord(merchant="Amazon", merchant_id=asin, title=asin, format=ProductFormat.MERCHANDISE,
                  link=f"https://www.amazon.com/dp/{asin}", region="US",
                  films=(ProductLink(FilmKey(imdb_id="tt0113627"), Relation.EDITION),))
    for asin in ("B00C6FBZ8S", "0802135331", "B0019X3YXQ", "B000002OUW", "B00004Z4WK"))
_REFUSED = (Route("POST", _TOKEN, "amazon/token_invalid_client_lwa.json", 400),)

CASES = (
    ProviderCase("amazon", _CONFIG, (_ID, _SECRET, _ACCESS), good=_GOOD,
                 shows="Leaving Las Vegas [Blu-ray]",
                 empty=(Route("POST", _ITEMS, "amazon/items_not_found.json", 404),),
                 linked=_LINKED, refused=_REFUSED,
                 notes="Amazon answers a call whose every ASIN it does not know with a 404: "
                       "they are gone."),
    ProviderCase("amazon-token", _CONFIG, (_ID, _SECRET, _ACCESS), good=_GOOD,
                 shows="Leaving Las Vegas [Blu-ray]", faulted=(("POST", _TOKEN),), empty=None,
                 linked=_LINKED, refused=_REFUSED),
)
