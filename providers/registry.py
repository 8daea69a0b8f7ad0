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

from pydantic import SecretStr, ValidationError

import providers
from providers.base import Provider, ProviderSettings

ENTRY_POINT_GROUP = "film_affiliate.providers"


def _discover() -> dict[str, type[Provider]]:
    found: dict[str, type[Provider]] = {}
    for module_info in pkgutil.iter_modules(providers.__path__):
        if module_info.name == "registry":
            continue
        module = importlib.import_module(f"providers.{module_info.name}")
        for _, cls in inspect.getmembers(module, inspect.isclass):
            # A module's own adapter, or a package's (providers/amazon/provider.py).
            own = cls.__module__ == module.__name__ or cls.__module__.startswith(module.__name__ + ".")
            if issubclass(cls, Provider) and own and "type_name" in vars(cls):
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
    if type_name not in PROVIDER_TYPES:
        raise unknown_type(name, type_name)
    return PROVIDER_TYPES[type_name]


def unknown_type(name: str, type_name: str) -> ValueError:
    known = ", ".join(sorted(PROVIDER_TYPES))
    return ValueError(f"config key providers.{name}.type: unknown provider type {type_name!r}; "
                      f"known types: {known}")


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


def validate_table(name: str, raw: dict[str, Any]) -> tuple[ProviderSettings | None, str | None]:
    """Validate a [providers.<name>] table whose credentials may still be missing (they can
    come from the service's credential store, which config loading cannot see).

    Returns (settings, None), or (None, what is missing) when only absent credentials keep
    the table from validating. Raises ValueError, naming the key, for any other mistake.
    """
    cls = configured_class(name, raw)
    try:
        return cls.Settings(**raw), None
    except ValidationError as exc:
        errors = exc.errors()
    absent = {c.name for c in cls.credentials if blank(raw.get(c.name))}
    wrong = [error for error in errors if not (error["loc"] and error["loc"][0] in absent)]
    if wrong:
        key = ".".join(str(part) for part in wrong[0]["loc"])
        raise ValueError(f"config key providers.{name}.{key}: {error_message(wrong[0])}")
    missing = [f"{error['loc'][0]} is not set" if error["type"] == "missing" else error_message(error)
               for error in errors]
    return None, "; ".join(dict.fromkeys(missing))


def blank(value: Any) -> bool:
    """An unset credential: missing, empty or only white space."""
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    return value is None or (isinstance(value, str) and not value.strip())


def build_provider(name: str, raw: dict[str, Any]) -> Provider:
    """An adapter from its table alone (tests, scripts); the service builds providers with
    their stored credentials, limits and retries through affiliate.sources."""
    settings = validate_provider_settings(name, raw)
    return provider_class(settings.type)(name, settings)
