"""Settings: config.toml, overridden by AFFILIATE_* environment variables.

pydantic-settings reads both and validates every value, so a wrong or missing setting stops
start-up with a message naming its key instead of failing later in a request.
"""
from __future__ import annotations

import ipaddress
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Callable, ClassVar, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from affiliate.film_pages import check_template
from providers.base import Relation
from providers.regions import normalize_locale, normalize_region
from providers.registry import PROVIDER_TYPES, unknown_type, validate_table

DEFAULT_PROVIDERS: dict[str, dict[str, Any]] = {
    "demo": {"type": "feed", "url": "builtin:demo", "interval_minutes": 360},
}


class ConfigError(Exception):
    """A setting is wrong or missing; the message names its key and what would be right."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ServiceSettings(_Section):
    database_url: str = "sqlite:///affiliate.db"
    default_region: str = "US"
    default_locale: str = "en_US"
    host: str = "127.0.0.1"
    port: int = Field(5000, ge=1, le=65535)
    demo_catalog: bool = True
    redis_url: str | None = None

    @field_validator("default_region")
    @classmethod
    def _region(cls, value: str) -> str:
        return normalize_region(value)

    @field_validator("default_locale")
    @classmethod
    def _locale(cls, value: str) -> str:
        return normalize_locale(value)


class WidgetSettings(_Section):
    # The operator's own disclosure, shown as written; unset, the widgets' default statement
    # in the visitor's language (affiliate.widgets).
    disclosure: str | None = Field(None, min_length=1)
    # The region switcher's choices; the region being shown is always added.
    regions: list[str] = ["US", "GB"]
    # Badges: "New" for this many days after an offer appeared, "Price drop" for this many
    # days after a lower price, "Leaving <date>" from this many days before it leaves.
    # 0 turns a badge off.
    new_days: int = Field(14, ge=0, le=365)
    price_drop_days: int = Field(14, ge=0, le=365)
    leaving_days: int = Field(30, ge=0, le=365)

    @field_validator("regions")
    @classmethod
    def _regions(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(normalize_region(code) for code in value))


class ChangesSettings(_Section):
    """The lists and feeds of availability changes (affiliate.change_lists, change_feeds)."""

    # The host site's page of a film, linked from every list and feed entry: placeholders
    # {imdb} (tt0113627), {tmdb} (451), {id} (the internal id) and {ref}; a film without
    # the id a template needs links nowhere. Unset: entries link no film page.
    film_url: str | None = None
    # Periods a list or feed may ask for ("last N days", "next N days"), and the default.
    max_days: int = Field(90, ge=1, le=365)
    default_days: int = Field(7, ge=1, le=365)
    # An offer whose end falls within this many days (in its region's calendar) is announced
    # once as leaving soon by the scheduler; 0 = never.
    leaving_days: int = Field(30, ge=0, le=365)
    # Entries per Atom feed, newest first.
    feed_entries: int = Field(50, ge=1, le=500)

    @field_validator("film_url")
    @classmethod
    def _film_url(cls, value: str | None) -> str | None:
        return None if value is None else check_template(value)

    @model_validator(mode="after")
    def _default_within_max(self) -> "ChangesSettings":
        if self.default_days > self.max_days:
            raise ValueError(f"default_days ({self.default_days}) is beyond max_days "
                             f"({self.max_days})")
        return self


class CatalogSettings(_Section):
    hide_after_misses: int = Field(3, ge=1)
    # A complete answer that would hide more than this share of a provider's visible offers
    # looks like an outage, not a catalog change: it is quarantined instead of applied.
    max_hidden_share: float = Field(0.2, gt=0, le=1)


class RetryPolicy(BaseModel):
    """How one call is retried; fits a config table such as [refresh.retry] as it is."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    attempts: int = Field(3, ge=1, le=10)  # calls in all, the first one included
    base_delay_seconds: float = Field(1.0, ge=0)
    max_delay_seconds: float = Field(30.0, ge=0)
    # The longest Retry-After worth sleeping in-thread; a longer one pauses the provider.
    max_wait_seconds: float = Field(30.0, ge=0)

    def backoff(self, failures: int, rng: Callable[[], float]) -> float:
        """Full jitter (uniform below the exponential ceiling), so processes that failed
        together do not retry together."""
        ceiling = min(self.max_delay_seconds, self.base_delay_seconds * 2 ** (failures - 1))
        return rng() * ceiling


class RefreshSettings(_Section):
    max_films_per_run: int = Field(500, ge=1)
    # Fractions are allowed: tests and small deployments take a dead process's films over sooner.
    lease_minutes: float = Field(10, gt=0)
    # How often a scheduler looks for films that fell due at API sources (and for films a
    # dead scheduler held whose leases expired); each film's own interval decides what is due.
    due_check_minutes: float = Field(15, gt=0)
    breaker_threshold: int = Field(5, ge=1)
    breaker_cooldown_minutes: int = Field(15, ge=1)
    quota_pause_minutes: int = Field(0, ge=0)
    # Share of each provider's request rate left unused, so requests that bunch up in
    # transit still arrive within the source's limit (see affiliate.limits).
    rate_margin: float = Field(0.03, ge=0, lt=0.5)
    retry: RetryPolicy = RetryPolicy()


class AdminSettings(_Section):
    """The operator console at /admin. Without a secret key it only says how to set one; the
    widgets and the token-authenticated admin API work either way."""

    # Keys the console's CSRF tokens and the login limit's address digests; long and random
    # (`python -c "import secrets; print(secrets.token_urlsafe(32))"`), best set as
    # $AFFILIATE_ADMIN__SECRET_KEY.
    secret_key: SecretStr | None = None
    # Send the session cookie over HTTPS only: turn on wherever the console is behind TLS.
    secure_cookie: bool = False
    # A console login ends this long after it began, whatever happens, and after
    # session_idle_minutes without a request; both are checked on the server.
    session_hours: int = Field(12, ge=1, le=24 * 30)
    session_idle_minutes: int = Field(60, ge=5, le=24 * 60 * 30)
    # Failed logins allowed from one client address, and for one username from anywhere,
    # within login_lockout_minutes; then that address or name is refused until the window
    # ends (`affiliate admin unlock` lifts it at once).
    login_attempts_per_address: int = Field(10, ge=1)
    login_attempts_per_user: int = Field(50, ge=1)
    login_lockout_minutes: int = Field(15, ge=1, le=24 * 60)
    # Proxies in front of the service that each append the address they were reached from
    # to X-Forwarded-For; 0: the connection's own address is the client's. The login limit
    # and the click limit ([clicks]) tell clients apart by it.
    proxy_hops: int = Field(0, ge=0, le=5)

    @field_validator("secret_key")
    @classmethod
    def _long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 32:
            raise ValueError("use at least 32 random characters, e.g. from "
                             "python -c \"import secrets; print(secrets.token_urlsafe(32))\"")
        return value


class HttpSettings(_Section):
    """How widget and API responses are negotiated, cached and framed (docs/embedding.md)."""

    # A request header your CDN or proxy sets to the visitor's country (Cloudflare:
    # CF-IPCountry). Unset, no such header is trusted: visitors could send any value.
    country_header: str | None = Field(None, pattern=r"^[A-Za-z0-9-]+$")
    # Cache-Control of widgets and the JSON API: browsers keep them max_age seconds, shared
    # caches (CDNs) s_maxage, and may serve them stale while revalidating for this long.
    max_age: int = Field(300, ge=0)
    s_maxage: int = Field(3600, ge=0)
    stale_while_revalidate: int = Field(86400, ge=0)
    # Rendered widgets kept in each web process (least recently used dropped first); 0 = none.
    fragment_cache_size: int = Field(2048, ge=0)
    # Answers to repeated widget requests kept in each web process, answered before the web
    # framework (affiliate.answer_memo), in megabytes of what they hold; 0 = none.
    answer_memo_megabytes: float = Field(64, ge=0)
    # Rendered widgets also kept in service.redis_url, where every web process finds what any
    # one rendered (affiliate.fragment_store): for sites with more films than one process keeps.
    shared_fragments: bool = False
    # Seconds each web process trusts a film's revision (its cache key) before reading it
    # again: a change to a film shows after at most this long; 0 = read it every request. On
    # PostgreSQL, only while the process is not hearing changes (affiliate.revision_watch).
    revision_check_seconds: float = Field(2, ge=0)
    # On PostgreSQL, hear film changes as they commit (LISTEN) and keep film rows until they
    # change. Off behind a pooler that does not keep LISTEN (PgBouncer's transaction mode).
    listen_for_changes: bool = True
    # Seconds browsers and CDNs keep a static file asked for by its bare URL, as a host page
    # asks for embed.js; the service's own pages ask by versioned URL, kept for a year.
    static_max_age: int = Field(3600, ge=0)
    # Sites allowed to show the iframe widgets (CSP frame-ancestors sources); "*" = any.
    frame_ancestors: list[Annotated[str, Field(pattern=r"^[^\s;,']+$")]] = Field(
        default_factory=lambda: ["*"], min_length=1)


class ClickSettings(_Section):
    """Which clicks on widget links count (affiliate.clicks, affiliate.click_limit)."""

    # One visitor (address and user agent) adds at most per_visitor clicks to one link within
    # any window_minutes; more clicks still reach the store, uncounted.
    per_visitor: int = Field(3, ge=1, le=1000)
    window_minutes: int = Field(60, ge=1, le=24 * 60)


class LoggingSettings(_Section):
    """How every process logs (affiliate.logs): one JSON object a line for a log collector,
    or plain text for a terminal. The CLI shows libraries' INFO lines only with --verbose."""

    format: Literal["text", "json"] = "text"
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"


class MetricsSettings(_Section):
    """Prometheus metrics at /metrics (affiliate.metrics_export); off by default. When on,
    a scrape must come from one of `allow_addresses` or carry `token` (Authorization:
    Bearer), so at least one of them is required."""

    enabled: bool = False
    # Networks whose connections may scrape ("10.0.0.0/8", "127.0.0.1"). The connection's
    # own address counts: behind a reverse proxy on the same host every visitor arrives
    # from the proxy's address, so use the token there, or refuse /metrics at the proxy.
    allow_addresses: list[str] = []
    # Long and random, best set as $AFFILIATE_METRICS__TOKEN.
    token: SecretStr | None = None
    # `affiliate scheduler` serves its own /metrics (provider requests it sent and was
    # refused) on this port, under the same guard; unset, it serves none.
    scheduler_port: int | None = Field(None, ge=1, le=65535)
    scheduler_host: str = "127.0.0.1"

    @field_validator("allow_addresses")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for network in value:
            try:
                ipaddress.ip_network(network, strict=False)
            except ValueError:
                raise ValueError(f"{network!r} is not an IP address or network "
                                 "(e.g. 10.0.0.0/8 or 127.0.0.1)") from None
        return value

    @field_validator("token")
    @classmethod
    def _token_long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < 32:
            raise ValueError("use at least 32 random characters, e.g. from "
                             "python -c \"import secrets; print(secrets.token_urlsafe(32))\"")
        return value

    @model_validator(mode="after")
    def _guarded(self) -> "MetricsSettings":
        if self.enabled and not self.allow_addresses and self.token is None:
            raise ValueError("metrics are enabled but nobody may read them: set "
                             "metrics.allow_addresses, metrics.token or both")
        return self


class LinkTag(_Section):
    """Query parameters added to every link whose host ends with `host` (affiliate tags)."""

    host: str = Field(min_length=3)
    params: dict[str, str]


class MatchRule(_Section):
    """What a candidate's match score (affiliate.matching) leads to: at or above auto_approve
    it is linked at once, below reject it is dropped, in between it waits for an operator."""

    auto_approve: float = Field(ge=0, le=1)
    reject: float = Field(ge=0, le=1)

    @model_validator(mode="after")
    def _reject_below_approve(self) -> "MatchRule":
        if self.reject >= self.auto_approve:
            raise ValueError(f"reject ({self.reject}) must be lower than auto_approve "
                             f"({self.auto_approve}), or nothing would wait for review")
        return self


# Conservative: only a match whose title, people and year all agree is approved unasked
# (a namesake, remake or sequel never is, whatever the rule); merchandise rarely says enough.
_MATCH_RULES = {
    "edition": {"auto_approve": 0.85, "reject": 0.35},
    "soundtrack": {"auto_approve": 0.85, "reject": 0.35},
    "collection": {"auto_approve": 0.85, "reject": 0.35},
    "book": {"auto_approve": 0.9, "reject": 0.35},
    "merchandise": {"auto_approve": 0.95, "reject": 0.4},
}
_RULE_KEYS = {Relation.EDITION: "edition", Relation.SOUNDTRACK: "soundtrack",
              Relation.COLLECTION: "collection", Relation.SOURCE_NOVEL: "book",
              Relation.MERCHANDISE: "merchandise"}


class MatchingSettings(_Section):
    """One rule per relation a candidate product can have to a film; a table that sets one
    key keeps the default of the other."""

    edition: MatchRule = MatchRule(**_MATCH_RULES["edition"])
    soundtrack: MatchRule = MatchRule(**_MATCH_RULES["soundtrack"])
    collection: MatchRule = MatchRule(**_MATCH_RULES["collection"])
    book: MatchRule = MatchRule(**_MATCH_RULES["book"])
    merchandise: MatchRule = MatchRule(**_MATCH_RULES["merchandise"])

    @model_validator(mode="before")
    @classmethod
    def _over_defaults(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        return {key: {**_MATCH_RULES[key], **value}
                if key in _MATCH_RULES and isinstance(value, dict) else value
                for key, value in data.items()}

    def rule(self, relation: Relation) -> MatchRule:
        return getattr(self, _RULE_KEYS[relation])


class WebhookSettings(_Section):
    """Signed availability events to endpoints operators register (affiliate.webhooks)."""

    # How often the scheduler turns new events into deliveries and sends those due.
    interval_seconds: int = Field(10, ge=1, le=3600)
    timeout_seconds: float = Field(10, gt=0, le=60)
    # Endpoints must be https and resolve to public addresses; true allows http and
    # private, loopback and link-local addresses, for a receiver on this machine or network.
    allow_local_endpoints: bool = False


@dataclass(frozen=True)
class ConfigOrigin:
    """What load_settings was asked: the file named (None: $AFFILIATE_CONFIG or ./config.toml,
    looked for again each time) and the overrides given in code."""

    path: str | None
    overrides: dict[str, Any]

    def file(self) -> Path | None:
        """The file these settings are read from now, if any."""
        return find_config_file(self.path)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="AFFILIATE_", env_nested_delimiter="__", extra="forbid"
    )

    service: ServiceSettings = ServiceSettings()
    widgets: WidgetSettings = WidgetSettings()
    changes: ChangesSettings = ChangesSettings()
    catalog: CatalogSettings = CatalogSettings()
    refresh: RefreshSettings = RefreshSettings()
    http: HttpSettings = HttpSettings()
    admin: AdminSettings = AdminSettings()
    clicks: ClickSettings = ClickSettings()
    matching: MatchingSettings = MatchingSettings()
    webhooks: WebhookSettings = WebhookSettings()
    logging: LoggingSettings = LoggingSettings()
    metrics: MetricsSettings = MetricsSettings()
    link_tags: list[LinkTag] = []
    providers: dict[str, dict[str, Any]] = Field(default_factory=lambda: dict(DEFAULT_PROVIDERS))

    _toml_path: ClassVar[Path | None] = None
    # How these settings were read (the file asked for and the overrides), so a running
    # process can read them again (affiliate.config_reload); set by load_settings.
    _origin: ConfigOrigin | None = PrivateAttr(default=None)
    # Provider tables whose type no adapter installed here serves: name -> why. They are left
    # out of `providers` (nothing runs them); their stored data keeps its stored terms.
    _uninstalled: dict[str, str] = PrivateAttr(default_factory=dict)

    @model_validator(mode="after")
    def _shared_fragments_need_redis(self) -> "Settings":
        if self.http.shared_fragments and not self.service.redis_url:
            raise ValueError("http.shared_fragments keeps rendered widgets in Redis: "
                             "set service.redis_url too")
        return self

    @property
    def origin(self) -> ConfigOrigin | None:
        return self._origin

    @property
    def uninstalled_providers(self) -> dict[str, str]:
        return dict(self._uninstalled)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: tuple[PydanticBaseSettingsSource, ...] = (init_settings, env_settings)
        if cls._toml_path is not None:
            sources += (TomlConfigSettingsSource(settings_cls, toml_file=cls._toml_path),)
        return sources


def find_config_file(explicit: str | os.PathLike | None = None) -> Path | None:
    """The file to read: the one named, else $AFFILIATE_CONFIG, else ./config.toml if any."""
    named = explicit or os.environ.get("AFFILIATE_CONFIG")
    if named:
        path = Path(named)
        if not path.is_file():
            raise ConfigError(f"config file {path} does not exist; copy config.example.toml there")
        return path
    default = Path("config.toml")
    return default if default.is_file() else None


# A [providers.<name>] table's name: it appears in admin URLs and environment variables.
PROVIDER_NAME_PATTERN = "^[A-Za-z0-9_-]{1,64}$"


def load_settings(path: str | os.PathLike | None = None, **overrides: Any) -> Settings:
    """Read and validate the settings, or raise ConfigError naming the offending key. A
    provider table whose type is not installed is set aside (Settings.uninstalled_providers)
    rather than refused, so the service still starts and shows that source's stored data."""
    toml_path = find_config_file(path)

    class _FileSettings(Settings):
        _toml_path: ClassVar[Path | None] = toml_path

    try:
        settings = _FileSettings(**overrides)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, toml_path)) from None
    except ValueError as exc:  # a TOML syntax error
        raise ConfigError(f"{toml_path}: {exc}") from None
    # Credentials may be left out here: they can be stored with `affiliate providers
    # set-credentials` or the console (affiliate.credential_store), which this file cannot see.
    uninstalled = {}
    for name, raw in list(settings.providers.items()):
        if not re.fullmatch(PROVIDER_NAME_PATTERN, name):
            raise ConfigError(f"[providers.{name}]: a provider's name is 1 to 64 letters, digits, "
                              "- or _ (it is part of URLs and environment variable names)")
        if raw.get("type") and raw["type"] not in PROVIDER_TYPES:
            uninstalled[name] = str(unknown_type(name, raw["type"]))
            del settings.providers[name]
            continue
        try:
            validate_table(name, raw)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
    settings._uninstalled = uninstalled
    settings._origin = ConfigOrigin(None if path is None else str(path), dict(overrides))
    return settings


def _describe(exc: ValidationError, toml_path: Path | None) -> str:
    where = f" in {toml_path}" if toml_path else ""
    lines = []
    for error in exc.errors():
        key = ".".join(str(part) for part in error["loc"])
        message = error["msg"].removeprefix("Value error, ")
        env = "AFFILIATE_" + "__".join(str(p).upper() for p in error["loc"])
        lines.append(f"config key {key}{where} (or ${env}): {message}")
    return "\n".join(lines)
