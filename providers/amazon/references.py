"""Amazon product references an operator pastes: a bare ASIN or a product page URL."""
from __future__ import annotations

import re
from urllib.parse import urlsplit

from providers.amazon.settings import AmazonSettings

ASIN = re.compile(r"^[A-Z0-9]{10}$")
_STORE_HOST = re.compile(r"^(?:www\.)?amazon\.[a-z]{2,3}(?:\.[a-z]{2})?$")
_PRODUCT_PATH = re.compile(r"/(?:dp|gp/product|gp/aw/d)/([A-Z0-9]{10})(?:[/?]|$)")
DEFAULT_MARKETPLACE = "www.amazon.com"


def product_reference(text: str, region: str,
                      configured: list[AmazonSettings]) -> tuple[str, str] | None:
    """(ASIN, product page) that `text` names, or None."""
    text = text.strip()
    if ASIN.match(text.upper()) and "/" not in text:
        asin = text.upper()
        return asin, f"https://{marketplace(region, configured)}/dp/{asin}"
    try:
        parts = urlsplit(text)
    except ValueError:
        return None
    found = _PRODUCT_PATH.search(parts.path or "")
    if parts.scheme in ("http", "https") and found and _STORE_HOST.match(parts.hostname or ""):
        return found[1], f"https://{parts.hostname}/dp/{found[1]}"
    return None


def marketplace(region: str, configured: list[AmazonSettings]) -> str:
    """The store the amazon provider configured for `region` tags for; amazon.com if none."""
    for settings in configured:
        if settings.region == region:
            return settings.marketplace
    return DEFAULT_MARKETPLACE
