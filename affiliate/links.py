"""Affiliate tagging of stored links, from the operator's [[link_tags]] rules, and which
stored URLs a page may show at all.

Tags are added when a link is rendered, not when it is stored, so changing a tag in
config.toml takes effect everywhere at once. Only configuration chooses the parameters.
"""
from __future__ import annotations

from functools import lru_cache
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from affiliate.config import LinkTag
from providers.fields import is_http_url


@lru_cache(maxsize=8192)
def showable(url: str | None) -> bool:
    """Whether a stored URL may become a link or a picture on any page: http(s) only.
    Sources are checked as they are read; this keeps a row stored any other way (an older
    release, a hand edit) off every page. Kept per URL: a render asks it of every row."""
    return is_http_url(url)


def shown_url(url: str | None) -> str | None:
    """The URL if a page may show it, else None (the page shows no link or picture)."""
    return url if url and showable(url) else None


def tag_link(url: str, rules: list[LinkTag]) -> str:
    if not rules:  # called for every link a widget shows
        return url
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    params = {}
    for rule in rules:
        suffix = rule.host.lower().lstrip(".")
        if host == suffix or host.endswith("." + suffix):
            params.update(rule.params)
    if not params:
        return url
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in params]
    query.extend(params.items())
    return urlunsplit(parts._replace(query=urlencode(query)))
