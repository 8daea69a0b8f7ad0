"""The outbox: events become deliveries, deliveries are claimed when due and their outcome is
recorded with the retry schedule.

Retries follow the schedule Standard Webhooks recommends (immediately, 5 s, 5 min, 30 min,
2 h, 5 h, 10 h, 10 h: about a day in all). A delivery that exhausts it pauses its endpoint,
whose later deliveries wait until an operator resumes it; a 410 Gone stops the endpoint.
"""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import or_
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, select

from affiliate import history
from affiliate.catalog import film_key
from affiliate.config import LinkTag
from affiliate.db import Database
from affiliate.links import tag_link
from affiliate.models import Film, Offer, OfferEvent, Platform, WebhookDelivery, WebhookEndpoint
from affiliate.types import utcnow

RETRY_DELAYS = tuple(dt.timedelta(seconds=s) for s in (5, 300, 1800, 7200, 18000, 36000, 36000))
LEASE = dt.timedelta(minutes=2)  # a sender that died mid-delivery is retried after this
BATCH = 500


@dataclass(frozen=True)
class Claimed:
    delivery_id: int
    endpoint_id: int
    url: str
    secret_ciphertext: str
    message_id: str
    payload: str


def event_kind(event: OfferEvent) -> str | None:
    """What an offer event is called in webhooks; None for those not sent (a price rise)."""
    if event.event == history.PRICE_CHANGED:
        before, after = event.price_before, event.price_after
        return "price_drop" if before is not None and after is not None and after < before else None
    return event.event


def collect(db: Database, link_tags: list[LinkTag], now: dt.datetime | None = None) -> int:
    """Give every endpoint (paused ones too: nothing is lost while paused) a delivery for each
    event past its cursor that its filters choose; return how many were made."""
    now = now or utcnow()
    made = 0
    with db.session() as session:
        endpoint_ids = session.exec(select(WebhookEndpoint.id).where(WebhookEndpoint.state != "gone")).all()
    for endpoint_id in endpoint_ids:
        while True:
            added, more = _collect_one(db, endpoint_id, link_tags, now)
            made += added
            if not more:
                break
    return made


def _collect_one(db: Database, endpoint_id: int, link_tags: list[LinkTag],
                 now: dt.datetime) -> tuple[int, bool]:
    with db.session() as session:
        query = select(WebhookEndpoint).where(WebhookEndpoint.id == endpoint_id)
        if db.engine.dialect.name == "postgresql":
            query = query.with_for_update()  # two schedulers: one collects, the other waits
        endpoint = session.exec(query).first()
        if endpoint is None or endpoint.state == "gone":
            return 0, False
        rows = session.exec(
            select(OfferEvent, Offer, Platform, Film)
            .join(Offer, Offer.id == OfferEvent.offer_id).join(Platform, Platform.id == Offer.platform_id)
            .join(Film, Film.id == OfferEvent.film_id)
            .where(OfferEvent.id > endpoint.cursor).order_by(OfferEvent.id).limit(BATCH)).all()
        if not rows:
            return 0, False
        wanted = set(json.loads(endpoint.events))
        regions, platforms = set(json.loads(endpoint.regions)), set(json.loads(endpoint.platforms))
        films = set(json.loads(endpoint.films))
        values = []
        for event, offer, platform, film in rows:
            kind = event_kind(event)
            if (kind not in wanted or (regions and offer.region not in regions)
                    or (platforms and platform.slug not in platforms) or (films and film.id not in films)):
                continue
            values.append({"endpoint_id": endpoint.id, "message_id": f"evt_{event.id}", "event": kind,
                           "payload": _payload(kind, event, offer, platform, film, link_tags),
                           "status": "pending", "attempts": 0, "next_attempt_at": now, "created_at": now})
        if values:
            insert = pg_insert if db.engine.dialect.name == "postgresql" else sqlite_insert
            session.execute(insert(WebhookDelivery.__table__).values(values)
                            .on_conflict_do_nothing(index_elements=["endpoint_id", "message_id"]))
        endpoint.cursor = rows[-1][0].id
        session.add(endpoint)
    return len(values), len(rows) == BATCH


def _payload(kind: str, event: OfferEvent, offer: Offer, platform: Platform, film: Film,
             link_tags: list[LinkTag]) -> str:
    """The Standard Webhooks shape: type, timestamp and the event's data."""
    return json.dumps({
        "type": f"offer.{kind}",
        "timestamp": event.at.isoformat(),
        "data": {
            "event_id": event.id,
            "film": {"ref": str(film_key(film)), "title": film.title, "year": film.year,
                     "imdb_id": film.imdb_id, "tmdb_id": film.tmdb_id},
            "region": offer.region, "platform": {"slug": platform.slug, "name": platform.name},
            "kind": offer.kind, "quality": offer.quality,
            "price": _money(event.price_after), "price_before": _money(event.price_before),
            "currency": event.currency,
            "expires_on": offer.expires_on.isoformat() if offer.expires_on else None,
            "link": tag_link(offer.link, link_tags),
        },
    }, separators=(",", ":"), ensure_ascii=False)


def _money(amount: Decimal | None) -> str | None:
    return None if amount is None else str(amount)


def claim(db: Database, now: dt.datetime, limit: int = 50) -> list[Claimed]:
    """Due deliveries of active endpoints, oldest first, leased to this sender for LEASE so
    another process does not send them meanwhile."""
    with db.session() as session:
        query = (select(WebhookDelivery, WebhookEndpoint)
                 .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
                 .where(WebhookDelivery.status == "pending", WebhookEndpoint.state == "active",
                        WebhookDelivery.next_attempt_at <= now,
                        or_(WebhookDelivery.lease_until.is_(None), WebhookDelivery.lease_until < now))
                 .order_by(WebhookDelivery.id).limit(limit))
        if db.engine.dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True, of=WebhookDelivery)
        claimed = []
        for delivery, endpoint in session.exec(query).all():
            delivery.lease_until = now + LEASE
            session.add(delivery)
            claimed.append(Claimed(delivery.id, endpoint.id, endpoint.url, endpoint.secret_ciphertext,
                                   delivery.message_id, delivery.payload))
    return claimed


def delivered(db: Database, delivery_id: int, status: int, now: dt.datetime) -> None:
    with db.session() as session:
        delivery = session.get(WebhookDelivery, delivery_id)
        delivery.status, delivery.delivered_at, delivery.last_status = "delivered", now, status
        delivery.attempts += 1
        delivery.last_attempt_at, delivery.lease_until, delivery.last_error = now, None, None
        session.add(delivery)


def failed(db: Database, delivery_id: int, status: int | None, error: str, now: dt.datetime) -> None:
    """Record a failed attempt: retry on the schedule, or give up and pause the endpoint; a
    410 Gone stops the endpoint at once."""
    with db.session() as session:
        delivery = session.get(WebhookDelivery, delivery_id)
        endpoint = session.get(WebhookEndpoint, delivery.endpoint_id)
        delivery.attempts += 1
        delivery.last_attempt_at, delivery.lease_until = now, None
        delivery.last_status, delivery.last_error = status, error[:500]
        if status == 410:
            delivery.status = "failed"
            _set_state(endpoint, "gone", "the receiver answered 410 Gone: nothing more is sent to it", now)
        elif delivery.attempts > len(RETRY_DELAYS):
            delivery.status = "failed"
            _set_state(endpoint, "paused", f"delivery {delivery.message_id} failed {delivery.attempts} "
                       f"times over a day ({error[:200]}); resume the webhook when its receiver works", now)
        else:
            delivery.next_attempt_at = now + RETRY_DELAYS[delivery.attempts - 1]
        session.add_all([delivery, endpoint])


def _set_state(endpoint: WebhookEndpoint, state: str, reason: str, now: dt.datetime) -> None:
    if endpoint.state != "active":
        return
    endpoint.state, endpoint.state_reason, endpoint.state_changed_at = state, reason[:500], now


def has_endpoints(session: Session) -> bool:
    return session.exec(select(WebhookEndpoint.id).where(WebhookEndpoint.state != "gone")
                        .limit(1)).first() is not None
