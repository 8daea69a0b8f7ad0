"""Checks every adapter applies to what sources and settings give it: links and base URLs
must be http(s) (never `javascript:`), regions ISO 3166-1 country codes."""
from __future__ import annotations

from urllib.parse import urlsplit

from providers.regions import normalize_region


def is_http_url(value: str | None) -> bool:
    if not value or any(char.isspace() or ord(char) < 32 for char in value):
        return False
    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.hostname)


def http_url(value: str) -> str:
    """The link itself, or ValueError for anything that is not an http(s) URL."""
    value = value.strip()
    if not is_http_url(value):
        raise ValueError(f"{value[:100]!r} is not an http(s) URL")
    return value


def base_url(value: str) -> str:
    """A configured base URL, without the trailing slash paths are joined onto."""
    return http_url(value).rstrip("/")


def region_list(value: list[str]) -> list[str]:
    """Configured regions as upper-case country codes, each once, at least one."""
    regions = list(dict.fromkeys(normalize_region(code) for code in value))
    if not regions:
        raise ValueError('name at least one country, e.g. ["US"]')
    return regions
