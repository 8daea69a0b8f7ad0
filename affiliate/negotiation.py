"""Which region and locale a widget is rendered for, and which request headers decided it.

The order (docs/embedding.md):
- region: the `region` parameter; else the trusted country header a CDN or proxy sets
  (`http.country_header`, none by default); else the country of the visitor's preferred
  Accept-Language tag (`en-GB` -> GB; `de, de-AT` -> AT); else `service.default_region`;
- locale: the `locale` parameter; else the visitor's most wanted Accept-Language tag in a
  language the widgets are translated into (or the default locale's language), kept whole
  for its formats (en-GB -> en_GB); else `service.default_locale`.

A malformed parameter is the caller's bug and raises BadParameter (a 400); a header that
names no usable country or locale is only skipped, since browsers and CDNs send all sorts.
Every header that was consulted is listed in `vary`, so a shared cache keeps one copy per
value of it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable, Iterator, Mapping

from babel import Locale, UnknownLocaleError
from werkzeug.datastructures import LanguageAccept
from werkzeug.http import parse_accept_header

from providers.regions import normalize_locale, normalize_region

ACCEPT_LANGUAGE = "Accept-Language"


class BadParameter(ValueError):
    """A malformed parameter; the message starts with its name ("region: ...")."""


@dataclass(frozen=True)
class Negotiated:
    region: str
    locale: str
    vary: tuple[str, ...]  # the request headers that region and locale depend on


@dataclass(frozen=True)
class Preferences:
    """What the service may choose from: its defaults, the locales it has translations for
    and the one country header it trusts (if any)."""

    default_region: str
    default_locale: str
    available_locales: tuple[str, ...] = ()
    country_header: str | None = None


def negotiate(region: str | None, locale: str | None, headers: Mapping[str, str],
              preferences: Preferences) -> Negotiated:
    """Region and locale for this request; empty parameters count as absent."""
    vary: list[str] = []
    if region:
        region = checked("region", normalize_region, region)
    else:
        trusted = None
        if preferences.country_header:
            vary.append(preferences.country_header)
            trusted = _country(headers.get(preferences.country_header, ""))
        vary.append(ACCEPT_LANGUAGE)
        region = (trusted or _region_from_languages(headers.get(ACCEPT_LANGUAGE, ""))
                  or preferences.default_region)
    if locale:
        locale = checked("locale", normalize_locale, locale)
    else:
        vary.append(ACCEPT_LANGUAGE)
        default = Locale.parse(preferences.default_locale)
        speaks = (*preferences.available_locales, str(default), default.language)
        locale = (_best_locale(headers.get(ACCEPT_LANGUAGE, ""), speaks)
                  or preferences.default_locale)
    return Negotiated(region, locale, tuple(dict.fromkeys(vary)))


def checked(name: str, parse: Callable, value: str):
    """`parse(value)`, with a ValueError turned into BadParameter naming the parameter."""
    try:
        return parse(value)
    except ValueError as exc:
        raise BadParameter(f"{name}: {exc}") from None


def _country(value: str) -> str | None:
    """A country code, or None for what CDNs send when they do not know (XX, T1 for Tor)."""
    try:
        return normalize_region(value)
    except ValueError:
        return None


def _region_from_languages(header: str) -> str | None:
    """The country in the visitor's preferred language's tags: only that language counts,
    so "da, en-US;q=0.5" (a Danish reader who also reads English) says nothing about where
    the visitor is."""
    accepted = list(_accepted(header))
    if not accepted:
        return None
    language = accepted[0].language
    return next((country for locale in accepted if locale.language == language
                 if (country := _country(locale.territory or ""))), None)


def _best_locale(header: str, speaks: Iterable[str]) -> str | None:
    """The visitor's most wanted locale whose language the widgets speak, kept whole so its
    own formats apply: en-GB gives en_GB (English text, British dates)."""
    speaks = set(speaks)
    return next((str(locale) for locale in _accepted(header)
                 if str(locale) in speaks or locale.language in speaks), None)


def _accepted(header: str) -> Iterator[Locale]:
    """The Accept-Language tags Babel knows, most wanted first."""
    for tag, quality in parse_accept_header(header, LanguageAccept):
        if tag == "*" or quality <= 0:
            continue
        try:
            yield Locale.parse(tag, sep="-")
        except (ValueError, UnknownLocaleError):
            continue
