"""Offer history: what appeared, changed price, left, returned or will soon leave, and when.

The catalog writes events in the same transaction as the change itself, so history never
disagrees with the offers; widgets read it for "new", "price drop" and "leaving" badges.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import insert
from sqlmodel import Session, select

from affiliate.db import Database
from affiliate.models import Offer, OfferEvent, Platform
from affiliate.webhooks import queue as webhook_queue

APPEARED, PRICE_CHANGED, LEFT, RETURNED = "appeared", "price_changed", "left", "returned"
# Raised by the scheduler, not the catalog: the offer's end came within the window
# (affiliate.leaving_soon), once per offer until it leaves and returns.
LEAVING_SOON = "leaving_soon"


@dataclass(frozen=True)
class Change:
    offer_id: int
    film_id: int
    event: str
    price_after: Decimal | None
    currency: str | None
    price_before: Decimal | None = None

    @classmethod
    def of(cls, offer: Offer, event: str, price_before: Decimal | None = None) -> "Change":
        return cls(offer.id, offer.film_id, event, offer.price, offer.currency, price_before)


def record(session: Session, changes: list[Change], now: dt.datetime) -> None:
    """Store changes with one executemany, in the caller's transaction: the one writer of
    offer events, so anything that must happen with an event (an outbox row) goes here."""
    if not changes:
        return
    rows = [{"offer_id": c.offer_id, "film_id": c.film_id, "event": c.event, "at": now,
             "price_before": c.price_before, "price_after": c.price_after, "currency": c.currency}
            for c in changes]
    endpoints = webhook_queue.listening(session)
    if not endpoints:
        session.execute(insert(OfferEvent.__table__), rows)
        return
    table = OfferEvent.__table__
    ids = session.execute(insert(table).returning(table.c.id, sort_by_parameter_order=True), rows).scalars().all()
    webhook_queue.enqueue(session, endpoints, [{**row, "id": id_} for row, id_ in zip(rows, ids, strict=True)],
                          now)


@dataclass(frozen=True)
class EventRow:
    at: dt.datetime
    event: str
    platform: str
    region: str
    kind: str
    quality: str
    source: str
    price_before: Decimal | None
    price_after: Decimal | None
    currency: str | None


def film_history(db: Database, film_id: int, region: str | None = None,
                 since: dt.datetime | None = None) -> list[EventRow]:
    """A film's offer events, newest first."""
    query = (select(OfferEvent, Offer, Platform)
             .join(Offer, Offer.id == OfferEvent.offer_id)
             .join(Platform, Platform.id == Offer.platform_id)
             .where(OfferEvent.film_id == film_id))
    if region is not None:
        query = query.where(Offer.region == region)
    if since is not None:
        query = query.where(OfferEvent.at >= since)
    with db.session() as session:
        rows = session.exec(query.order_by(OfferEvent.at.desc(), OfferEvent.id.desc())).all()
    return [EventRow(event.at, event.event, platform.name, offer.region, offer.kind, offer.quality,
                     offer.source, event.price_before, event.price_after, event.currency)
            for event, offer, platform in rows]
