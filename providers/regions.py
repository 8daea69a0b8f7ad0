"""Validation of the region and locale codes that arrive from sources, URLs and config.

It lives beside the adapters because they validate with it first; `affiliate` imports it
from here, keeping the dependency one-way.
"""
from __future__ import annotations

from functools import lru_cache

from babel import Locale, UnknownLocaleError

# Babel's territory list also holds groupings (EU, UN, ZZ...) that no storefront sells in.
_NOT_COUNTRIES = {"EU", "EZ", "QO", "UN", "ZZ"}
_COUNTRIES = frozenset(
    code for code in Locale("en").territories if len(code) == 2 and code.isalpha()
) - _NOT_COUNTRIES


def normalize_region(code: str) -> str:
    """Return the ISO 3166-1 alpha-2 code in upper case, or raise ValueError."""
    region = (code or "").strip().upper()
    if region not in _COUNTRIES:
        raise ValueError(f"{code!r} is not an ISO 3166-1 alpha-2 country code such as US or GB")
    return region


@lru_cache(maxsize=256)
def normalize_locale(code: str) -> str:
    """Return a locale identifier Babel knows (en_US, de_DE, fr), or raise ValueError.
    Kept per code: every widget request names one, and Babel reads its locale data to parse
    it."""
    try:
        return str(Locale.parse((code or "").strip().replace("-", "_")))
    except (ValueError, TypeError, UnknownLocaleError):
        raise ValueError(f"{code!r} is not a locale such as en_US or de_DE") from None


@lru_cache(maxsize=4096)
def region_name(code: str, locale: str) -> str:
    return Locale.parse(locale).territories.get(code, code)
