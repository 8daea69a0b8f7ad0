"""Which adapter serves each provider `type` named in config.toml.

Every module in this package that defines a Provider subclass with a `type_name` is an
adapter, found without a list to edit; an installed package can add its own through the
`film_affiliate.providers` entry-point group.
"""
from __future__ import annotations

import importlib
import inspect
import pkgutil
from importlib.metadata import entry_points
from typing import Any

from pydantic import ValidationError

import providers
from providers.base import Provider

ENTRY_POINT_GROUP = "film_affiliate.providers"


def _discover() -> dict[str, type[Provider]]:
    found: dict[str, type[Provider]] = {}
    for module_info in pkgutil.iter_modules(providers.__path__):
        if module_info.name == "registry":
            continue
        module = importlib.import_module(f"providers.{module_info.name}")
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, Provider) and cls.__module__ == module.__name__ and "type_name" in vars(cls):
                found[cls.type_name] = cls
    for entry_point in entry_points(group=ENTRY_POINT_GROUP):
        cls = entry_point.load()
        found[cls.type_name] = cls
    return found


PROVIDER_TYPES: dict[str, type[Provider]] = _discover()


def provider_class(type_name: str) -> type[Provider]:
    try:
        return PROVIDER_TYPES[type_name]
    except KeyError:
        known = ", ".join(sorted(PROVIDER_TYPES))
        raise ValueError(f"unknown provider type {type_name!r}; known types: {known}") from None


def configured_class(name: str, raw: dict[str, Any]) -> type[Provider]:
    """The adapter a [providers.<name>] table names; ValueError names its `type` key."""
    type_name = raw.get("type")
    if not type_name:
        raise ValueError(f"config key providers.{name}.type is missing; e.g. type = \"feed\"")
    try:
        return provider_class(type_name)
    except ValueError as exc:
        raise ValueError(f"config key providers.{name}.type: {exc}") from None


def error_message(error: dict) -> str:
    """A pydantic error's message without its "Value error, " prefix."""
    return error["msg"].removeprefix("Value error, ")


def validate_provider_settings(name: str, raw: dict[str, Any]):
    """Validate one [providers.<name>] table; ValueError names the key that is wrong."""
    cls = configured_class(name, raw)
    try:
        return cls.Settings(**raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(part) for part in first["loc"])
        raise ValueError(f"config key providers.{name}.{key}: {error_message(first)}") from None


def build_provider(name: str, raw: dict[str, Any]) -> Provider:
    settings = validate_provider_settings(name, raw)
    return provider_class(settings.type)(name, settings)
