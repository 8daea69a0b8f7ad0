"""Affiliate tagging of stored links, from the operator's [[link_tags]] rules.

Tags are added when a link is rendered, not when it is stored, so changing a tag in
config.toml takes effect everywhere at once. Only configuration chooses the parameters.
"""
from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from affiliate.config import LinkTag


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
