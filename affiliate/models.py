"""The database tables. Alembic migrations in affiliate/migrations create and change them.

Enumerated columns (kind, quality, format, ...) are plain strings holding the values of the
enums in `providers.base`, so adding a value never needs a database-specific enum change.
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import Column, ForeignKey, Index, Integer, Text, UniqueConstraint, event
from sqlmodel import Field, SQLModel

from affiliate.matching.titles import fold
from affiliate.types import Money, UTCDateTime, utcnow


def _utc(nullable: bool = False, **kwargs):
    return Field(sa_column=Column(UTCDateTime(), nullable=nullable), **kwargs)


class Film(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    title: str = Field(max_length=300)
    # The title folded as matching compares titles (affiliate.matching.titles.fold): finds a
    # film's namesakes and the films a box set names, by index.
    title_key: str | None = Field(default=None, max_length=300, index=True)
    year: int | None = None
    imdb_id: str | None = Field(default=None, max_length=12, unique=True)
    tmdb_id: int | None = Field(default=None, unique=True)
    runtime_minutes: int | None = None
    director: str | None = Field(default=None, max_length=200)
    original_title: str | None = Field(default=None, max_length=300)
    poster_url: str | None = Field(default=None, max_length=1000)
    created_at: dt.datetime = _utc(default_factory=utcnow)
    # Raised in the same transaction as any change to the film's offers, products or their
    # curation, so a rendered widget can be cached under (film, revision, region, locale).
    revision: int = Field(default=0, sa_column_kwargs={"server_default": "0"})


@event.listens_for(Film, "before_insert")
@event.listens_for(Film, "before_update")
def _keep_title_key(mapper, connection, film: Film) -> None:
    """Every writer of a film's title keeps its key with it."""
    film.title_key = fold(film.title or "")


class FilmPerson(SQLModel, table=True):
    """Someone credited on a film (director, top-billed cast, composer, writer, the source's
    author), in billing order: what matching compares products' credits with, and whose box
    sets are searched for."""

    __tablename__ = "film_person"
    __table_args__ = (Index("ix_film_person_name", "name"),)

    id: int | None = Field(default=None, primary_key=True)
    film_id: int = Field(foreign_key="film.id", index=True)
    name: str = Field(max_length=200)
    role: str = Field(max_length=20)
    position: int = 0


class FilmExternalId(SQLModel, table=True):
    """A film's id at one source (an Apple trackId, a Watchmode id...)."""

    __tablename__ = "film_external_id"
    __table_args__ = (
        UniqueConstraint("source", "external_id"),
        UniqueConstraint("film_id", "source"),
    )

    id: int | None = Field(default=None, primary_key=True)
    film_id: int = Field(foreign_key="film.id", index=True)
    source: str = Field(max_length=64)
    external_id: str = Field(max_length=128)


class Platform(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    slug: str = Field(max_length=64, unique=True)
    name: str = Field(max_length=120)
    logo_url: str | None = Field(default=None, max_length=1000)
    homepage: str | None = Field(default=None, max_length=1000)


class PlatformAlias(SQLModel, table=True):
    """One platform's id at one source (TMDB provider 2, Watchmode source 349, ...), so every
    source's offers land on the same platform."""

    __tablename__ = "platform_alias"
    __table_args__ = (UniqueConstraint("namespace", "external_id"),)

    id: int | None = Field(default=None, primary_key=True)
    platform_id: int = Field(foreign_key="platform.id", index=True)
    namespace: str = Field(max_length=32)
    external_id: str = Field(max_length=64)


class Offer(SQLModel, table=True):
    """One source's word that a film can be watched somewhere, with when it last said so."""

    __table_args__ = (
        UniqueConstraint("film_id", "platform_id", "region", "kind", "quality", "source"),
        Index("ix_offer_film_region", "film_id", "region"),
    )

    id: int | None = Field(default=None, primary_key=True)
    film_id: int = Field(foreign_key="film.id")
    platform_id: int = Field(foreign_key="platform.id")
    region: str = Field(max_length=2)
    kind: str = Field(max_length=16)
    quality: str = Field(max_length=8)
    price: Decimal | None = Field(default=None, sa_column=Column(Money(), nullable=True))
    currency: str | None = Field(default=None, max_length=3)
    link: str = Field(max_length=2000)
    deep_link: bool = True
    # The last day to watch in the region's calendar, and the instant the offer is hidden
    # from (the source's own, else the end of that day in the region's zone).
    expires_on: dt.date | None = None
    expires_at: dt.datetime | None = _utc(nullable=True, default=None)
    available_since: dt.date | None = None
    source: str = Field(max_length=64)
    first_seen: dt.datetime = _utc(default_factory=utcnow)
    last_seen: dt.datetime = _utc(default_factory=utcnow)
    last_checked: dt.datetime = _utc(default_factory=utcnow)
    missing_count: int = 0
    hidden: bool = False


class Product(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("merchant", "merchant_id", "region"),)

    id: int | None = Field(default=None, primary_key=True)
    merchant: str = Field(max_length=120)
    merchant_id: str = Field(max_length=128)
    title: str = Field(max_length=500)
    format: str = Field(max_length=20)
    image_url: str | None = Field(default=None, max_length=2000)
    price: Decimal | None = Field(default=None, sa_column=Column(Money(), nullable=True))
    currency: str | None = Field(default=None, max_length=3)
    availability: str = Field(default="in stock", max_length=16)
    gtin: str | None = Field(default=None, max_length=14)
    link: str = Field(max_length=2000)
    region: str = Field(max_length=2)
    source: str = Field(max_length=64)
    # What the product says about itself (JSON of providers.base.ProductFacts), for matching.
    facts: str | None = Field(default=None, max_length=20000)
    first_seen: dt.datetime = _utc(default_factory=utcnow)
    last_seen: dt.datetime = _utc(default_factory=utcnow)
    last_checked: dt.datetime = _utc(default_factory=utcnow)
    missing_count: int = 0
    hidden: bool = False


class FilmProduct(SQLModel, table=True):
    """A product shown with a film. Operators' choices (pinned, hidden, status) outrank
    sources'. A source's guess starts as a candidate and is shown once approved."""

    __tablename__ = "film_product"
    __table_args__ = (UniqueConstraint("film_id", "product_id"),)

    id: int | None = Field(default=None, primary_key=True)
    film_id: int = Field(foreign_key="film.id", index=True)
    product_id: int = Field(foreign_key="product.id")
    relation: str = Field(max_length=20)
    position: int | None = None
    pinned: bool = False
    hidden: bool = False
    origin: str = Field(default="discovered", max_length=12)
    status: str = Field(default="approved", max_length=12)  # approved | candidate | rejected
    source: str = Field(max_length=64)
    created_at: dt.datetime = _utc(default_factory=utcnow)
    # A source's guess, scored against the film (affiliate.matching): 0-1, and why. Who set
    # the status: "rules" (scored again when the film's facts or the rules change) or
    # "operator" (never changed by a source or by the rules); None for a link made approved.
    match_score: float | None = None
    match_reasons: str | None = Field(default=None, max_length=4000)
    decided_by: str | None = Field(default=None, max_length=10)


class ProviderState(SQLModel, table=True):
    __tablename__ = "provider_state"

    name: str = Field(primary_key=True, max_length=64)
    # The adapter type the source last ran as, and the terms that type declared then
    # (JSON of providers.terms.Terms): its data keeps them whatever config does later.
    type: str = Field(max_length=32)
    terms: str | None = Field(default=None, max_length=8000)
    last_run_at: dt.datetime | None = _utc(nullable=True, default=None)
    last_success_at: dt.datetime | None = _utc(nullable=True, default=None)
    last_error_at: dt.datetime | None = _utc(nullable=True, default=None)
    last_error_kind: str | None = Field(default=None, max_length=32)
    last_error: str | None = Field(default=None, max_length=2000)
    consecutive_failures: int = 0
    # Shared by every process: a long Retry-After or a spent quota pauses the provider; the
    # breaker opens after repeated failures; an auth failure blocks calls until the
    # credentials (their fingerprint, never their value) change.
    paused_until: dt.datetime | None = _utc(nullable=True, default=None)
    breaker_state: str = Field(default="closed", max_length=12)  # closed | open | half-open
    breaker_opened_at: dt.datetime | None = _utc(nullable=True, default=None)
    auth_blocked_fingerprint: str | None = Field(default=None, max_length=64)
    # A quota the source itself reports (Watchmode's monthly credits), as of its last answer;
    # daily quotas are counted by affiliate.limits instead.
    quota_remaining: int | None = None
    quota_checked_at: dt.datetime | None = _utc(nullable=True, default=None)
    quota_period: str | None = Field(default=None, max_length=8)  # day | month
    # A condition the source put the provider in on its last answer (Amazon's link-only
    # mode), shown by `affiliate status` until an answer says it is over.
    notice: str | None = Field(default=None, max_length=500)
    notice_since: dt.datetime | None = _utc(nullable=True, default=None)
    # The last complete answer left out a suspicious share of the source's rows (catalog
    # Removals.drop_warning): shown until an answer no longer does.
    drop_warning: str | None = Field(default=None, max_length=500)
    drop_warning_at: dt.datetime | None = _utc(nullable=True, default=None)
    # Where an incremental source (Streaming Availability /changes) left off, and when a
    # process last took its turn to read the feed (one process per interval).
    changes_cursor: str | None = Field(default=None, max_length=512)
    changes_read_at: dt.datetime | None = _utc(nullable=True, default=None)
    # The last "test connection" of the credentials: when, and what the provider said.
    credentials_checked_at: dt.datetime | None = _utc(nullable=True, default=None)
    credentials_ok: bool | None = None
    credentials_message: str | None = Field(default=None, max_length=500)
    # Which credentials that check was about (affiliate.resilience.credentials_fingerprint),
    # so a check of older credentials is not shown as the verdict on the current ones.
    credentials_checked_fingerprint: str | None = Field(default=None, max_length=64)


class FilmProviderState(SQLModel, table=True):
    """When one provider is next due for one film, and which process holds it now."""

    __tablename__ = "film_provider_state"
    __table_args__ = (
        UniqueConstraint("film_id", "provider"),
        Index("ix_film_provider_state_due", "provider", "due_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    film_id: int = Field(foreign_key="film.id")
    provider: str = Field(max_length=64)
    due_at: dt.datetime = _utc(default_factory=utcnow)
    last_attempt_at: dt.datetime | None = _utc(nullable=True, default=None)
    last_success_at: dt.datetime | None = _utc(nullable=True, default=None)
    lease_owner: str | None = Field(default=None, max_length=64)
    lease_expires_at: dt.datetime | None = _utc(nullable=True, default=None)
    # When this provider last searched for the film's candidate products (Amazon's discovery):
    # once is enough, whatever products other films' searches linked to it since.
    discovered_at: dt.datetime | None = _utc(nullable=True, default=None)


class OfferEvent(SQLModel, table=True):
    """What changed about an offer, when: appeared, price_changed, left, returned."""

    __tablename__ = "offer_event"
    __table_args__ = (Index("ix_offer_event_film_at", "film_id", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    offer_id: int = Field(foreign_key="offer.id", index=True)
    film_id: int = Field(foreign_key="film.id")
    event: str = Field(max_length=16)
    price_before: Decimal | None = Field(default=None, sa_column=Column(Money(), nullable=True))
    price_after: Decimal | None = Field(default=None, sa_column=Column(Money(), nullable=True))
    currency: str | None = Field(default=None, max_length=3)
    at: dt.datetime = _utc(default_factory=utcnow)


class FilmView(SQLModel, table=True):
    """Widget views per film and day: popular films are refreshed more often."""

    __tablename__ = "film_view"
    __table_args__ = (UniqueConstraint("film_id", "day"),)

    id: int | None = Field(default=None, primary_key=True)
    film_id: int = Field(foreign_key="film.id")
    day: dt.date
    views: int = 0


class RefreshRun(SQLModel, table=True):
    __tablename__ = "refresh_run"

    id: int | None = Field(default=None, primary_key=True)
    provider: str = Field(max_length=64, index=True)
    started_at: dt.datetime = _utc(default_factory=utcnow)
    finished_at: dt.datetime | None = _utc(nullable=True, default=None)
    status: str = Field(default="running", max_length=16)
    films_requested: int | None = None
    offers_seen: int = 0
    offers_added: int = 0
    offers_changed: int = 0
    offers_missing: int = 0
    products_seen: int = 0
    products_added: int = 0
    products_changed: int = 0
    products_missing: int = 0
    problems: int = 0
    message: str | None = Field(default=None, max_length=4000)


class Click(SQLModel, table=True):
    """One visitor's click on a widget link. No IP address, no cookie, no user agent: only
    what the click reports need. The platform or merchant name is copied so a report still
    reads right after the offer or product is gone."""

    __table_args__ = (Index("ix_click_day", "day"), Index("ix_click_film_day", "film_id", "day"))

    id: int | None = Field(default=None, primary_key=True)
    at: dt.datetime = _utc(default_factory=utcnow)
    day: dt.date
    film_id: int = Field(foreign_key="film.id")
    offer_id: int | None = Field(default=None, foreign_key="offer.id")
    product_id: int | None = Field(default=None, foreign_key="product.id")
    target: str = Field(max_length=120)  # platform or merchant name
    region: str = Field(max_length=2)
    kind: str = Field(max_length=20)  # offer kind (rent, subscription...) or product format
    widget: str = Field(max_length=20)  # how-to-watch | related-products
    via: str = Field(max_length=10)  # redirect (/go/<id>) | beacon (direct Amazon links)


class AdminUser(SQLModel, table=True):
    __tablename__ = "admin_user"

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=80, unique=True)
    password_hash: str = Field(max_length=255)
    created_at: dt.datetime = _utc(default_factory=utcnow)
    last_login_at: dt.datetime | None = _utc(nullable=True, default=None)


class AdminSession(SQLModel, table=True):
    """A console session (affiliate.admin.sessions). The cookie holds a random id; this row
    only its SHA-256 digest, so a copy of the table gives no live cookie, and deleting the row
    ends the session in every web process at once. A row without a user holds only the
    notices shown to a browser after it logged out."""

    __tablename__ = "admin_session"

    id: int | None = Field(default=None, primary_key=True)
    id_hash: str = Field(max_length=64, unique=True)
    user_id: int | None = Field(default=None, sa_column=Column(
        Integer, ForeignKey("admin_user.id", ondelete="CASCADE"), nullable=True, index=True))
    created_at: dt.datetime = _utc()
    last_seen_at: dt.datetime = _utc()
    # "Firefox on Linux": a browser and system family from a fixed list, never the raw header.
    agent: str = Field(default="", max_length=80)
    # The Flask session's own data as JSON (the console keeps only flashed notices there).
    data: str = Field(default="{}", sa_column=Column(Text, nullable=False))


class LoginFailure(SQLModel, table=True):
    """Failed console logins of one client address or one username within the current window
    (affiliate.admin.throttle); kept in the database so every web process counts them."""

    __tablename__ = "login_failure"

    key: str = Field(primary_key=True, max_length=64)
    failures: int = 0
    since: dt.datetime = _utc()
    locked_until: dt.datetime | None = _utc(nullable=True, default=None)


class ApiToken(SQLModel, table=True):
    """An admin API token; only its hash is kept, the token is shown once when created."""

    __tablename__ = "api_token"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=80)
    token_hash: str = Field(max_length=128, unique=True)
    created_at: dt.datetime = _utc(default_factory=utcnow)
    last_used_at: dt.datetime | None = _utc(nullable=True, default=None)
    revoked_at: dt.datetime | None = _utc(nullable=True, default=None)


class ProviderCredential(SQLModel, table=True):
    """One credential field of one provider, set from the CLI or the console, encrypted
    (Fernet) with the key from the environment; `hint` is at most its last 4 characters."""

    __tablename__ = "provider_credential"
    __table_args__ = (UniqueConstraint("provider", "field"),)

    id: int | None = Field(default=None, primary_key=True)
    provider: str = Field(max_length=64)
    field: str = Field(max_length=64)
    ciphertext: str = Field(max_length=4000)
    hint: str | None = Field(default=None, max_length=4)
    updated_at: dt.datetime = _utc(default_factory=utcnow)


class WebhookEndpoint(SQLModel, table=True):
    """A receiver an operator registered for availability events, with its filters. Events
    reach it through webhook_delivery rows, written with each offer_event
    (affiliate.webhooks.queue)."""

    __tablename__ = "webhook_endpoint"

    id: int | None = Field(default=None, primary_key=True)
    url: str = Field(max_length=2000)
    description: str = Field(default="", max_length=200)
    secret_ciphertext: str  # Fernet under AFFILIATE_CREDENTIALS_KEY, as provider credentials
    events: str  # JSON list of event kinds
    regions: str = "[]"  # JSON lists; empty: any
    platforms: str = "[]"
    films: str = "[]"  # film ids
    state: str = Field(default="active", max_length=10)  # active, paused, gone
    state_reason: str | None = Field(default=None, max_length=500)
    state_changed_at: dt.datetime | None = _utc(nullable=True, default=None)
    created_at: dt.datetime = _utc(default_factory=utcnow)


class WebhookDelivery(SQLModel, table=True):
    """One event for one endpoint: the durable outbox row, and its delivery log. The message
    id stays the same on every retry and on "send again", so receivers can drop repeats."""

    __tablename__ = "webhook_delivery"
    __table_args__ = (UniqueConstraint("endpoint_id", "message_id"),
                      Index("ix_webhook_delivery_due", "status", "next_attempt_at"))

    id: int | None = Field(default=None, primary_key=True)
    endpoint_id: int = Field(foreign_key="webhook_endpoint.id", index=True)
    message_id: str = Field(max_length=64)
    event: str = Field(max_length=16)
    event_id: int | None = None  # the offer_event; kept when the event is pruned
    payload: str | None = None  # made when first sent, then the same on every retry
    status: str = Field(default="pending", max_length=10)  # pending, delivered, failed
    attempts: int = 0
    next_attempt_at: dt.datetime | None = _utc(nullable=True, default=None)
    lease_until: dt.datetime | None = _utc(nullable=True, default=None)
    last_attempt_at: dt.datetime | None = _utc(nullable=True, default=None)
    last_status: int | None = None
    last_error: str | None = Field(default=None, max_length=500)
    created_at: dt.datetime = _utc(default_factory=utcnow)
    delivered_at: dt.datetime | None = _utc(nullable=True, default=None)
