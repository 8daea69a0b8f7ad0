"""The `amazon` provider: its settings, credentials, limits and terms (see the package's
docstring for what Amazon documents)."""
from __future__ import annotations

import datetime as dt
from typing import Iterable

from providers.amazon.cases import CASES
from providers.amazon.client import Client, NotEligible
from providers.amazon.records import MAX_ITEM_IDS, MERCHANT, Run
from providers.amazon.references import product_reference
from providers.amazon.settings import AmazonSettings
from providers.base import (
    Credential,
    FilmQuery,
    ProductReference,
    Provider,
    ProviderResult,
    ProviderSettings,
)
from providers.link_policy import LinkPolicy
from providers.terms import AccountReport, Terms

# Asked for by check_credentials: Leaving Las Vegas on Blu-ray (Amazon US).
_CHECK_ASIN = "B00C6FBZ8S"


class AmazonProvider(Provider):
    Settings = AmazonSettings

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
    batch_size = MAX_ITEM_IDS
    terms = Terms(merchant=MERCHANT,
                  disclosure="As an Amazon Associate I earn from qualifying purchases.",
                  price_max_age=dt.timedelta(hours=24))
    # The Associates programme forbids a redirect that hides where an Amazon link goes: its
    # stores, short links and Prime Video are linked as they are, whoever stored them.
    link_policy = LinkPolicy(direct_hosts=(r"(.+\.)?amazon\.[a-z]{2,3}(\.[a-z]{2})?",
                                           r"amzn\.(to|eu|asia)", r"(.+\.)?primevideo\.com"))
    # An ASIN Amazon answers as not found or not accessible is gone from the API.
    definitive_misses = True
    tests = CASES

    # Shown in the provider's status while Amazon refuses the account (AssociateNotEligible).
    link_only = False

    def __init__(self, *args, **kwargs):  # Provider's: name, settings, throttle, retry
        super().__init__(*args, **kwargs)
        self._client = Client(self.settings, self.throttle, self.retry)

    def account_report(self) -> AccountReport:
        if not self.link_only:
            return AccountReport()
        return AccountReport(notice="link-only mode: the source refuses this account's API calls; "
                                    "showing tagged links without prices or images")

    @classmethod
    def product_reference(cls, text: str, region: str,
                          configured: list[ProviderSettings]) -> ProductReference | None:
        """An ASIN, or an Amazon product URL (/dp/, /gp/product/, /gp/aw/d/): linked on the
        store the pasted URL names, else the marketplace of the amazon provider configured
        for `region`, else amazon.com."""
        found = product_reference(text, region, configured)
        return None if found is None else ProductReference(MERCHANT, found[0], found[1])

    def check_credentials(self) -> str:
        """A token, then getItems of one ASIN: proves the credential id, secret and version
        and the partner tag in one API call. Amazon not knowing the ASIN still proves them."""
        try:
            self._client.get_items([_CHECK_ASIN])
        except NotEligible as exc:
            return (f"Amazon accepted the credentials, but refuses this account's API calls for "
                    f"now ({exc}); links are shown without prices until it has qualifying sales")
        return "Amazon accepted the credentials and the partner tag"

    def fetch(self, films: Iterable[FilmQuery] | None) -> ProviderResult:
        queries = list(films or ())
        run = Run(self.settings, queries)
        try:
            result = run.read(self._client)
        except NotEligible as exc:
            self.link_only = True
            return run.link_only(str(exc))
        self.link_only = False
        return result
