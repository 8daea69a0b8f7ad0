"""Validation of the region and locale codes that arrive from sources, URLs and config.

It lives beside the adapters because they validate with it first; `affiliate` imports it
from here, keeping the dependency one-way.
"""
from __future__ import annotations

import datetime as dt
import re
from functools import lru_cache
from zoneinfo import ZoneInfo

from babel import Locale, UnknownLocaleError
from babel.core import get_global

# Babel's territory list also holds groupings (EU, UN, ZZ...) that no storefront sells in.
_NOT_COUNTRIES = {"EU", "EZ", "QO", "UN", "ZZ"}
COUNTRIES = frozenset(
    code for code in Locale("en").territories if len(code) == 2 and code.isalpha()
) - _NOT_COUNTRIES


# The shape of every locale identifier Babel (CLDR) knows, in either separator: language,
# then up to three parts (script, territory, variant): en, en_US, de-DE, sr_Latn_RS, es_419.
LOCALE_PATTERN = "^[A-Za-z]{2,3}(?:[_-][A-Za-z0-9]{2,8}){0,3}$"
_LOCALE_RE = re.compile(LOCALE_PATTERN)


def normalize_region(code: str) -> str:
    """Return the ISO 3166-1 alpha-2 code in upper case, or raise ValueError."""
    region = (code or "").strip().upper()
    if region not in COUNTRIES:
        raise ValueError(f"{code!r} is not an ISO 3166-1 alpha-2 country code such as US or GB")
    return region


@lru_cache(maxsize=256)
def normalize_locale(code: str) -> str:
    """Return a locale identifier Babel knows (en_US, de_DE, fr), or raise ValueError.
    Kept per code: every widget request names one, and Babel reads its locale data to parse
    it."""
    code = (code or "").strip()
    if not _LOCALE_RE.match(code):
        raise ValueError(f"{code!r} is not a locale such as en_US or de_DE")
    try:
        return str(Locale.parse(code.replace("-", "_")))
    except (ValueError, TypeError, UnknownLocaleError):
        raise ValueError(f"{code!r} is not a locale such as en_US or de_DE") from None


@lru_cache(maxsize=4096)
def region_name(code: str, locale: str) -> str:
    return Locale.parse(locale).territories.get(code, code)


# One time zone per country, in which a source's calendar dates are read ("leaving on 31
# July" ends at the end of 31 July there): the country's only zone, or for a country with
# several the zone of its capital or most populous region (docs/embedding.md lists these).
_ZONES_OF_LARGE_COUNTRIES = {
    "AR": "America/Argentina/Buenos_Aires", "AU": "Australia/Sydney", "BR": "America/Sao_Paulo",
    "CA": "America/Toronto", "CD": "Africa/Kinshasa", "CL": "America/Santiago",
    "CN": "Asia/Shanghai", "CY": "Asia/Nicosia", "DE": "Europe/Berlin", "EC": "America/Guayaquil",
    "ES": "Europe/Madrid", "FM": "Pacific/Pohnpei", "GL": "America/Nuuk", "ID": "Asia/Jakarta",
    "KI": "Pacific/Tarawa", "KZ": "Asia/Almaty", "MH": "Pacific/Majuro", "MN": "Asia/Ulaanbaatar",
    "MX": "America/Mexico_City", "MY": "Asia/Kuala_Lumpur", "NZ": "Pacific/Auckland",
    "PF": "Pacific/Tahiti", "PG": "Pacific/Port_Moresby", "PS": "Asia/Hebron", "PT": "Europe/Lisbon",
    "RU": "Europe/Moscow", "UA": "Europe/Kyiv", "UM": "Pacific/Wake", "US": "America/New_York",
    "UZ": "Asia/Tashkent", "XK": "Europe/Belgrade", "IC": "Atlantic/Canary", "EA": "Africa/Ceuta",
}


@lru_cache(maxsize=512)
def region_zone(code: str) -> ZoneInfo:
    """The zone a country's calendar dates are read in; UTC for a code without one."""
    name = _ZONES_OF_LARGE_COUNTRIES.get(code)
    if name is None:
        zones = get_global("territory_zones").get(code, ())
        name = zones[0] if len(zones) == 1 else "UTC"
    return ZoneInfo(name)


def local_date(moment: dt.datetime, region: str) -> dt.date:
    """The calendar day an instant falls on in the country (a stamp of 23:59:59 in São Paulo
    is that day there, though already the next day in UTC)."""
    return moment.astimezone(region_zone(region)).date()


def end_of_day(day: dt.date, region: str) -> dt.datetime:
    """The instant a calendar day ends in the country, in UTC: an offer "until 31 July" is
    gone from then on."""
    start_of_next = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(),
                                        tzinfo=region_zone(region))
    return start_of_next.astimezone(dt.timezone.utc)


def start_of_day(day: dt.date, region: str) -> dt.datetime:
    """The instant a calendar day begins in the country, in UTC."""
    return dt.datetime.combine(day, dt.time(), tzinfo=region_zone(region)).astimezone(dt.timezone.utc)
