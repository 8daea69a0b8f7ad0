"""Sources: the one place that builds providers and turns a stored source name into its
adapter and terms.

A source is a provider's name as config.toml gives it (`[providers.<name>]`); every offer and
product carries the name of the source that said so. Whatever config did since the data was
stored, the data keeps the terms of the adapter that stored it: a name is looked up in the
config first, then as the adapter type it last ran as (kept in its provider_state row), and,
when that type is no longer installed, by the terms stored with the row when it last ran.
Everything else the service asks of a source (credits, price age, retention, link policy,
product references) comes through here, from the contract in providers/base.py.
"""
from __future__ import annotations

import functools
import inspect
import json
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from sqlmodel import select

from affiliate import credential_store
from affiliate.config import Settings
from affiliate.db import Database, conflict_insert
from affiliate.models import ProviderState
from affiliate.resilience import CLOSED
from providers.base import ProductReference, Provider, ProviderSettings, Retry
from providers.registry import PROVIDER_TYPES, all_types, configured_class, validate_table
from providers.terms import Terms

log = logging.getLogger(__name__)

_SET_THEM = ("set them with `affiliate providers set-credentials {name}`, in the admin console, "
             "in config.toml or as AFFILIATE_PROVIDERS__{NAME}__<FIELD>")
# How long a web process trusts what it read about a source no longer in its config.
_STORED_TERMS_SECONDS = 60.0


class UnknownProvider(LookupError):
    """No provider of that name is configured; the message lists the ones that are."""


def unknown_provider(settings: Settings, name: str) -> UnknownProvider:
    known = ", ".join(sorted(settings.providers)) or "none configured"
    return UnknownProvider(f"no provider named {name!r} (configured: {known})")


def configured_table(settings: Settings, name: str) -> tuple[dict[str, Any], type[Provider]]:
    """The provider's config table and its adapter class; UnknownProvider for a name config
    does not define, ValueError naming the key for a type no adapter has."""
    if name not in settings.providers:
        raise unknown_provider(settings, name)
    raw = dict(settings.providers[name])
    return raw, configured_class(name, raw)


def effective_table(db: Database | None, settings: Settings, name: str) -> dict[str, Any]:
    """The provider's table with its credentials merged in by precedence (environment,
    stored, config); CredentialsUnavailable when a stored value cannot be decrypted."""
    raw, cls = configured_table(settings, name)
    return credential_store.effective_table(db, name, raw, {c.name for c in cls.credentials})


def build(db: Database | None, settings: Settings, name: str,
          throttle: Callable[[], None] | None = None, retry: Retry | None = None) -> Provider:
    """The provider with its effective credentials (affiliate.credential_store); a stand-in
    that says why on every call when they are missing or unreadable, so the service still
    starts, lists and schedules it, and its guard holds its calls until they change."""
    raw, _ = configured_table(settings, name)
    return build_table(db, name, raw, throttle, retry)


def build_table(db: Database | None, name: str, raw: dict[str, Any],
                throttle: Callable[[], None] | None = None, retry: Retry | None = None) -> Provider:
    """`build` for a table given whole (the bundled demo feed, loaded into an empty database
    whatever config names)."""
    cls = configured_class(name, raw)
    try:
        merged = credential_store.effective_table(db, name, raw, {c.name for c in cls.credentials})
    except credential_store.CredentialsUnavailable as exc:
        return _stand_in(cls, name, raw, str(exc), throttle, retry)
    options, missing = validate_table(name, merged)
    if options is None:
        reason = f"credentials missing: {missing}; " + _SET_THEM.format(name=name, NAME=name.upper())
        return _stand_in(cls, name, raw, reason, throttle, retry)
    return cls(name, options, throttle=throttle, retry=retry)


def build_all(settings: Settings, db: Database | None = None) -> dict[str, Provider]:
    """Every configured provider, for listing; calls go through a RefreshEngine's, which are
    throttled and retried."""
    return {name: build(db, settings, name) for name in settings.providers}


def note_source(db: Database, provider: Provider) -> None:
    """Remember the adapter type and terms a source runs as, before any of its data is
    stored, so its data keeps them whatever config does later."""
    cls = type(provider)
    values = {"type": provider.type_name,
              "terms": json.dumps(cls.terms.to_json(), sort_keys=True)}
    with db.session() as session:
        session.exec(conflict_insert(session.get_bind(), ProviderState.__table__)
                     .values(name=provider.name, breaker_state=CLOSED, consecutive_failures=0,
                             **values)
                     .on_conflict_do_update(index_elements=["name"], set_=values))


def direct_link(url: str) -> bool:
    """Whether a link must be shown as it is (its clicks counted by beacon): some installed
    adapter's merchant programme says so for its host (Amazon's)."""
    return any(cls.link_policy.is_direct(url) for cls in all_types().values())


def directory_types() -> list[str]:
    """The installed types whose adapter keeps a platform directory (`platform_directory`)."""
    return [name for name, cls in all_types().items()
            if cls.platform_directory is not Provider.platform_directory]


def merchant_disclosures(merchants: Iterable[str]) -> tuple[str, ...]:
    """The statements merchants' programmes require wherever their products show, whoever
    listed them, in the programme's own words."""
    merchants = set(merchants)
    found = (cls.terms.disclosure for cls in all_types().values()
             if cls.terms.disclosure and cls.terms.merchant in merchants)
    return tuple(dict.fromkeys(found))


def product_reference(settings: Settings, text: str, region: str) -> ProductReference | None:
    """The product a pasted URL or id names at some source's merchant (an ASIN, an Amazon
    product URL), linked to the store configured for `region`; None if no adapter knows it."""
    for type_name, cls in all_types().items():
        configured = [_settings(cls, name, raw) for name, raw in settings.providers.items()
                      if raw.get("type") == type_name]
        found = cls.product_reference(text, region, [s for s in configured if s is not None])
        if found is not None:
            return found
    return None


def _settings(cls: type[Provider], name: str, raw: dict[str, Any]) -> ProviderSettings | None:
    settings, _ = validate_table(name, raw)
    return settings


@dataclass(frozen=True)
class SourceInfo:
    """What the service knows of one stored source name: the adapter behind it (None when its
    type is not installed) and the terms its data keeps."""

    name: str
    type_name: str | None
    adapter: type[Provider] | None
    terms: Terms


_NO_TERMS = Terms()


class SourceDirectory:
    """Stored source names -> SourceInfo, for one process's config. Config names are answered
    from the config; other names from their provider_state rows, each trusted for a minute
    (a source's row is written before any of its data, so a name seen in data is found)."""

    def __init__(self, db: Database, settings: Settings, clock: Callable[[], float] = time.monotonic):
        self.db, self.settings, self.clock = db, settings, clock
        self._stored: dict[str, tuple[float, SourceInfo]] = {}
        self._lock = threading.Lock()

    def info(self, source: str) -> SourceInfo:
        raw = self.settings.providers.get(source)
        if raw is not None and raw.get("type") in PROVIDER_TYPES:
            adapter = PROVIDER_TYPES[raw["type"]]
            return SourceInfo(source, raw["type"], adapter, adapter.terms)
        now = self.clock()
        with self._lock:
            kept = self._stored.get(source)
        if kept is not None and now - kept[0] < _STORED_TERMS_SECONDS:
            return kept[1]
        info = self._read(source)
        with self._lock:
            self._stored[source] = (now, info)
        return info

    def terms(self, source: str) -> Terms:
        return self.info(source).terms

    def _read(self, source: str) -> SourceInfo:
        with self.db.session() as session:
            row = session.get(ProviderState, source)
        if row is None:
            return SourceInfo(source, None, None, _NO_TERMS)  # the operator's own, or unknown
        adapter = PROVIDER_TYPES.get(row.type)
        if adapter is not None:
            return SourceInfo(source, row.type, adapter, adapter.terms)
        terms = Terms.from_json(json.loads(row.terms)) if row.terms else _NO_TERMS
        return SourceInfo(source, row.type, None, terms)


def uninstalled_sources(db: Database, settings: Settings) -> list[str]:
    """Sources whose data is kept but whose adapter type is not installed (a package removed,
    a type renamed): start-up names them; their data keeps the terms stored with them."""
    with db.session() as session:
        rows = session.exec(select(ProviderState.name, ProviderState.type)).all()
    return [f"{name} (type {type_name!r})" for name, type_name in rows
            if name not in settings.providers and type_name not in PROVIDER_TYPES]


def _stand_in(cls: type[Provider], name: str, raw: dict[str, Any], reason: str,
              throttle, retry: Retry | None) -> Provider:
    # The keys every provider has (enabled, interval, limits), with the adapter's defaults.
    common = {key: raw.get(key, cls.Settings.model_fields[key].default)
              for key in ProviderSettings.model_fields}
    settings = ProviderSettings(**common)
    return _without_credentials(cls)(name, settings, reason, throttle=throttle, retry=retry)


@functools.cache
def _without_credentials(cls: type[Provider]) -> type[Provider]:
    """A subclass of the adapter (so its limits, terms and kind are all there) that skips the
    adapter's set-up, which needs the credentials, and refuses every public method: fetch,
    platform_directory, check_credentials and any the adapter adds."""

    def __init__(self, name, settings, reason, throttle=None, retry=None):
        Provider.__init__(self, name, settings, throttle, retry)
        self.credentials_problem = reason

    def refuse(self, *args, **kwargs):
        raise credential_store.CredentialsUnavailable(self.credentials_problem)

    calls = {name: refuse for name, _ in inspect.getmembers(cls, inspect.isfunction)
             if not name.startswith("_") and name != "account_report"}
    return type(cls.__name__, (cls,), {
        **calls, "__init__": __init__, "__module__": __name__,
        "__doc__": f"{cls.__name__} without usable credentials: every call says why."})
