"""Which adapter serves each provider `type` named in config.toml.

Adding a source means adding its module and one line here.
"""
from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from providers.amazon import AmazonProvider
from providers.base import Provider
from providers.feed import FeedProvider
from providers.itunes import ItunesProvider
from providers.streaming_availability import StreamingAvailabilityProvider
from providers.tmdb import TmdbProvider
from providers.watchmode import WatchmodeProvider

PROVIDER_TYPES: dict[str, type[Provider]] = {
    provider.type_name: provider
    for provider in (FeedProvider, TmdbProvider, ItunesProvider, WatchmodeProvider,
                     StreamingAvailabilityProvider, AmazonProvider)
}


def provider_class(type_name: str) -> type[Provider]:
    try:
        return PROVIDER_TYPES[type_name]
    except KeyError:
        known = ", ".join(sorted(PROVIDER_TYPES))
        raise ValueError(f"unknown provider type {type_name!r}; known types: {known}") from None


def validate_provider_settings(name: str, raw: dict[str, Any]):
    """Validate one [providers.<name>] table; ValueError names the key that is wrong."""
    type_name = raw.get("type")
    if not type_name:
        raise ValueError(f"config key providers.{name}.type is missing; e.g. type = \"feed\"")
    try:
        cls = provider_class(type_name)
    except ValueError as exc:
        raise ValueError(f"config key providers.{name}.type: {exc}") from None
    try:
        return cls.Settings(**raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(part) for part in first["loc"])
        message = first["msg"].removeprefix("Value error, ")
        raise ValueError(f"config key providers.{name}.{key}: {message}") from None


def build_provider(name: str, raw: dict[str, Any]) -> Provider:
    settings = validate_provider_settings(name, raw)
    return provider_class(settings.type)(name, settings)
