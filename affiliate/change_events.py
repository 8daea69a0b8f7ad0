"""Availability changes across the whole catalog: the offer events (affiliate.history) with
their film, platform and offer, filtered as lists, feeds and webhooks filter them.

One query, so every consumer sees the same events under the same names. An event's id is its
identity everywhere (Atom entry ids, list entries, webhook message ids): stored events are
never rewritten, so an id never names two different changes.
"""
from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Iterable

from sqlalchemy import Numeric, and_, cast, func, or_, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from affiliate.catalog import key_of
from affiliate.db import Database
from affiliate.history import APPEARED, LEAVING_SOON, LEFT, PRICE_CHANGED, RETURNED
from affiliate.models import Film, Offer, OfferEvent, Platform
from affiliate.types import UTCDateTime
from providers.base import OfferKind

# The events as consumers name them: a stored price change is a drop or a rise.
PRICE_DROP, PRICE_RISE = "price_drop", "price_rise"
EVENT_KINDS = (APPEARED, RETURNED, LEFT, PRICE_DROP, PRICE_RISE, LEAVING_SOON)
# The kinds of offer a visitor tells apart, and the stored kinds each covers.
OFFER_KINDS: dict[str, tuple[str, ...]] = {
    "stream": (OfferKind.SUBSCRIPTION.value,),
    "free": (OfferKind.FREE.value, OfferKind.ADS.value),
    "rent": (OfferKind.RENT.value,),
    "buy": (OfferKind.BUY.value,),
}
_KIND_OF = {stored: kind for kind, stored_kinds in OFFER_KINDS.items() for stored in stored_kinds}
# Entry ids of feeds (and message ids of webhooks) are UUIDs named after the event id in
# this namespace: the same event has the same id whatever host or path it is read from.
EVENT_NAMESPACE = uuid.UUID("6f1c2b9e-3f5d-5a57-9a4e-2d7c1e0b8a41")


@dataclass(frozen=True)
class EventFilter:
    """Which events to read; an empty set means any."""

    regions: frozenset[str] = frozenset()
    platforms: frozenset[str] = frozenset()  # platform slugs
    kinds: frozenset[str] = frozenset()  # keys of OFFER_KINDS
    events: frozenset[str] = frozenset()  # EVENT_KINDS
    film_ids: frozenset[int] = frozenset()
    since: dt.datetime | None = None  # at or after
    until: dt.datetime | None = None  # before
    after_id: int | None = None  # only events stored after this one (a consumer's cursor)
    limit: int | None = None
    # An offer that appeared within a day of its film entering the catalog came with the
    # film's first fetches (as the widgets' "New" badge says): when it really arrived on the
    # platform is unknown, so it is no news unless asked for.
    first_fetches: bool = False


@dataclass(frozen=True)
class ChangeEvent:
    id: int
    at: dt.datetime
    event: str  # one of EVENT_KINDS
    film_id: int
    film_ref: str  # imdb:tt…, tmdb:… or the internal id
    title: str
    year: int | None
    imdb_id: str | None
    tmdb_id: int | None
    poster_url: str | None
    offer_id: int
    platform: str  # slug
    platform_name: str
    platform_logo_url: str | None
    region: str
    kind: str  # key of OFFER_KINDS
    offer_kind: str  # the stored kind (subscription, ads...)
    quality: str
    source: str
    price_before: Decimal | None
    price_after: Decimal | None
    currency: str | None
    price_now: Decimal | None  # the offer's price as stored now
    link: str  # the stored link, before the operator's tags
    deep_link: bool
    ends_on: dt.date | None  # the offer's last day as known now
    ends_at: dt.datetime | None
    offer_visible: bool  # shown now: not hidden and not past its end (as of the query's `now`)

    @property
    def uuid(self) -> uuid.UUID:
        return event_uuid(self.id)


def event_uuid(event_id: int) -> uuid.UUID:
    """The event's id for the world outside: an Atom entry's id, a webhook's message id."""
    return uuid.uuid5(EVENT_NAMESPACE, f"offer-event/{event_id}")


def unknown_platforms(db: Database, slugs: Iterable[str]) -> list[str]:
    """The slugs no stored platform has, sorted (a filter naming one is a 400)."""
    wanted = set(slugs)
    if not wanted:
        return []
    with db.reader.connect() as connection:
        known = set(connection.execute(
            select(Platform.slug).where(Platform.slug.in_(sorted(wanted)))).scalars())
    return sorted(wanted - known)


def newest_event_id(db: Database) -> int:
    """The id of the latest event stored (0 before any): what changes with every event, so
    lists and feeds are cached and validated under it."""
    with db.reader.connect() as connection:
        return connection.execute(select(func.max(OfferEvent.id))).scalar() or 0


def find_events(db: Database, which: EventFilter, now: dt.datetime,
                newest_first: bool = True) -> list[ChangeEvent]:
    """The events `which` selects, newest first (or oldest first, for a consumer catching up
    from `after_id`), in one query."""
    query = _statement(which)
    order = (OfferEvent.at.desc(), OfferEvent.id.desc()) if newest_first else (
        OfferEvent.at, OfferEvent.id)
    query = query.order_by(*order)
    if which.limit is not None:
        query = query.limit(which.limit)
    with db.reader.connect() as connection:
        rows = connection.execute(query).all()
    return [_event(row, now) for row in rows]


_COLUMNS = (OfferEvent.id, OfferEvent.at, OfferEvent.event, OfferEvent.price_before,
            OfferEvent.price_after, OfferEvent.currency, Film.id.label("film_id"), Film.title,
            Film.year, Film.imdb_id, Film.tmdb_id, Film.poster_url, Offer.id.label("offer_id"),
            Offer.region, Offer.kind, Offer.quality, Offer.source, Offer.link, Offer.deep_link,
            Offer.expires_on, Offer.expires_at, Offer.hidden, Offer.price.label("price_now"),
            Platform.slug,
            Platform.name.label("platform_name"), Platform.logo_url)


def _statement(which: EventFilter):
    query = (select(*_COLUMNS).select_from(OfferEvent)
             .join(Offer, Offer.id == OfferEvent.offer_id)
             .join(Film, Film.id == OfferEvent.film_id)
             .join(Platform, Platform.id == Offer.platform_id))
    if which.regions:
        query = query.where(Offer.region.in_(sorted(which.regions)))
    if which.platforms:
        query = query.where(Platform.slug.in_(sorted(which.platforms)))
    if which.kinds:
        query = query.where(Offer.kind.in_(sorted(
            stored for kind in which.kinds for stored in OFFER_KINDS[kind])))
    if which.events:
        query = query.where(or_(*(_event_condition(name) for name in sorted(which.events))))
    if which.film_ids:
        query = query.where(OfferEvent.film_id.in_(sorted(which.film_ids)))
    if which.since is not None:
        query = query.where(OfferEvent.at >= which.since)
    if which.until is not None:
        query = query.where(OfferEvent.at < which.until)
    if which.after_id is not None:
        query = query.where(OfferEvent.id > which.after_id)
    if not which.first_fetches:
        query = query.where(~and_(OfferEvent.event == APPEARED, Offer.available_since.is_(None),
                                  OfferEvent.at < _day_after(Film.created_at)))
    return query


class _day_after(FunctionElement):
    """A stored time plus one day, in each database's own date arithmetic."""

    type = UTCDateTime()
    inherit_cache = True


@compiles(_day_after)
def _day_after_sql(element, compiler, **kw):
    return f"({compiler.process(element.clauses, **kw)} + INTERVAL '1 day')"


@compiles(_day_after, "sqlite")
def _day_after_sqlite(element, compiler, **kw):
    # Stored as 'YYYY-MM-DD HH:MM:SS.ffffff' (UTC), which compares as text with datetime()'s.
    return f"datetime({compiler.process(element.clauses, **kw)}, '+1 day')"


def _amount(column):
    """Amounts compared as numbers: SQLite stores them as text (affiliate.types.Money)."""
    return cast(column, Numeric(14, 4))


def _event_condition(name: str):
    dropped = _amount(OfferEvent.price_after) < _amount(OfferEvent.price_before)
    if name == PRICE_DROP:
        return and_(OfferEvent.event == PRICE_CHANGED, dropped)
    if name == PRICE_RISE:
        return and_(OfferEvent.event == PRICE_CHANGED,
                    or_(~dropped, OfferEvent.price_after.is_(None),
                        OfferEvent.price_before.is_(None)))
    if name not in EVENT_KINDS:
        raise ValueError(f"{name!r} is not one of {', '.join(EVENT_KINDS)}")
    return OfferEvent.event == name


def _public_name(stored: str, before: Decimal | None, after: Decimal | None) -> str:
    if stored != PRICE_CHANGED:
        return stored
    return PRICE_DROP if before is not None and after is not None and after < before else PRICE_RISE


def _event(row, now: dt.datetime) -> ChangeEvent:
    return ChangeEvent(
        id=row.id, at=row.at, event=_public_name(row.event, row.price_before, row.price_after),
        film_id=row.film_id, film_ref=str(key_of(row.film_id, row.imdb_id, row.tmdb_id)), title=row.title, year=row.year,
        imdb_id=row.imdb_id, tmdb_id=row.tmdb_id, poster_url=row.poster_url,
        offer_id=row.offer_id, platform=row.slug, platform_name=row.platform_name,
        platform_logo_url=row.logo_url, region=row.region,
        kind=_KIND_OF.get(row.kind, row.kind), offer_kind=row.kind, quality=row.quality,
        source=row.source, price_before=row.price_before, price_after=row.price_after,
        currency=row.currency, price_now=row.price_now, link=row.link, deep_link=row.deep_link,
        ends_on=row.expires_on, ends_at=row.expires_at,
        offer_visible=not row.hidden and (row.expires_at is None or row.expires_at > now))
