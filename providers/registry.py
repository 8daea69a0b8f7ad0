"""Which adapter serves each provider `type` named in config.toml.

A type's adapter is the module (or package) of the same name in this package, `-` written
`_` (type `streaming-availability` is providers/streaming_availability.py), found without a
list to edit; an installed package can add its own through the `film_affiliate.providers`
entry-point group, under the entry point's name. A module is imported the first time its
type is asked for, so a command loads only the adapters its config names (importing them all
was ~0.1 s of every command's start-up: Amazon's client, requests' dependents). Listing every
type imports every adapter: error messages, the shared test harnesses and questions about
any installed adapter (affiliate.sources) do that through `all_types`.
"""
from __future__ import annotations

import importlib
import importlib.util
import inspect
import pkgutil
from collections.abc import Iterator, MutableMapping
from importlib.metadata import entry_points
from types import ModuleType
from typing import Any

from pydantic import SecretStr, ValidationError

import providers
from providers.base import Provider, ProviderSettings

ENTRY_POINT_GROUP = "film_affiliate.providers"


def module_name(type_name: str) -> str:
    """The module of this package that holds a type's adapter."""
    return type_name.replace("-", "_")


def module_adapters(module: ModuleType) -> list[type[Provider]]:
    """The adapters a module defines: its own, or its package's (providers/amazon/provider.py)."""
    return [cls for _, cls in inspect.getmembers(module, inspect.isclass)
            if issubclass(cls, Provider) and "type_name" in vars(cls)
            and (cls.__module__ == module.__name__ or cls.__module__.startswith(module.__name__ + "."))]


def _from_module(type_name: str) -> type[Provider] | None:
    name = module_name(type_name)
    if not name.isidentifier() or name == "registry":
        return None
    if importlib.util.find_spec(f"providers.{name}") is None:
        return None
    module = importlib.import_module(f"providers.{name}")
    return next((cls for cls in module_adapters(module) if cls.type_name == type_name), None)


def _from_entry_point(entry_point) -> type[Provider]:
    cls = entry_point.load()
    if cls.type_name != entry_point.name:
        raise ValueError(f"entry point {entry_point.name!r} ({ENTRY_POINT_GROUP}) loads provider "
                         f"type {cls.type_name!r}: the two names must be the same")
    return cls


class ProviderTypes(MutableMapping):
    """Type name -> adapter class, each adapter imported when its type is first asked for.
    Iterating lists every type, which imports every adapter. Tests add and remove types
    with monkeypatch.setitem / delitem; a removed type is as good as uninstalled."""

    def __init__(self) -> None:
        self._classes: dict[str, type[Provider] | None] = {}  # None: not installed
        self._listed = False

    def __getitem__(self, type_name: str) -> type[Provider]:
        if type_name not in self._classes:
            self._classes[type_name] = self._load(type_name)
        cls = self._classes[type_name]
        if cls is None:
            raise KeyError(type_name)
        return cls

    def __setitem__(self, type_name: str, cls: type[Provider]) -> None:
        self._classes[type_name] = cls

    def __delitem__(self, type_name: str) -> None:
        self[type_name]  # KeyError when it is not there
        self._classes[type_name] = None

    def __iter__(self) -> Iterator[str]:
        if not self._listed:
            self._list()
        return iter(sorted(name for name, cls in list(self._classes.items()) if cls is not None))

    def __len__(self) -> int:
        return sum(1 for _ in self)

    @staticmethod
    def _load(type_name: str) -> type[Provider] | None:
        cls = _from_module(type_name)
        if cls is not None:
            return cls
        found = [ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name == type_name]
        return _from_entry_point(found[0]) if found else None

    def _list(self) -> None:
        # setdefault: a type already looked up, added or removed stays as it is.
        for module_info in pkgutil.iter_modules(providers.__path__):
            if module_info.name != "registry":
                module = importlib.import_module(f"providers.{module_info.name}")
                for cls in module_adapters(module):
                    self._classes.setdefault(cls.type_name, cls)
        for entry_point in entry_points(group=ENTRY_POINT_GROUP):
            if entry_point.name not in self._classes:
                self._classes[entry_point.name] = _from_entry_point(entry_point)
        self._listed = True


PROVIDER_TYPES = ProviderTypes()


def all_types() -> dict[str, type[Provider]]:
    """Every installed type's adapter, importing them all: for what any installed adapter may
    answer (link policies, merchants' disclosures) and for the harnesses that run them all."""
    return dict(PROVIDER_TYPES.items())


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
