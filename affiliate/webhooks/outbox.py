"""The outbox's deliveries: claimed when due, given their payload on the first try, and their
outcome recorded with the retry schedule.

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
from sqlmodel import Session, select

from affiliate.change_events import ChangeEvent, EventFilter, find_events
from affiliate.config import LinkTag
from affiliate.db import Database
from affiliate.links import tag_link
from affiliate.models import WebhookDelivery, WebhookEndpoint

RETRY_DELAYS = tuple(dt.timedelta(seconds=s) for s in (5, 300, 1800, 7200, 18000, 36000, 36000))
LEASE = dt.timedelta(minutes=2)  # a sender that died mid-delivery is retried after this


@dataclass(frozen=True)
class Claimed:
    delivery_id: int
    endpoint_id: int
    url: str
    secret_ciphertext: str
    message_id: str
    event: str
    event_id: int | None
    payload: str | None


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
                                   delivery.message_id, delivery.event, delivery.event_id, delivery.payload))
    return claimed


def payload(db: Database, item: Claimed, link_tags: list[LinkTag], now: dt.datetime) -> str | None:
    """The delivery's body, made from its event on the first try and kept for every retry;
    None if the event is no longer stored (pruned under a source's retention)."""
    if item.payload is not None:
        return item.payload
    found = find_events(db, EventFilter(after_id=item.event_id - 1, limit=1, first_fetches=True), now,
                        newest_first=False) if item.event_id else []
    if not found or found[0].id != item.event_id:
        return None
    body = _body(item.event, found[0], link_tags)
    with db.session() as session:
        delivery = session.get(WebhookDelivery, item.delivery_id)
        delivery.payload = body
        session.add(delivery)
    return body


def _body(kind: str, event: ChangeEvent, link_tags: list[LinkTag]) -> str:
    """The Standard Webhooks shape: type, timestamp and the event's data."""
    return json.dumps({
        "type": f"offer.{kind}",
        "timestamp": event.at.isoformat(),
        "data": {
            "event_id": event.id,
            "film": {"ref": event.film_ref, "title": event.title, "year": event.year,
                     "imdb_id": event.imdb_id, "tmdb_id": event.tmdb_id, "poster_url": event.poster_url},
            "region": event.region, "platform": {"slug": event.platform, "name": event.platform_name},
            "kind": event.offer_kind, "quality": event.quality,
            "price": _money(event.price_after), "price_before": _money(event.price_before),
            "currency": event.currency,
            "ends_on": event.ends_on.isoformat() if event.ends_on else None,
            "link": tag_link(event.link, link_tags),
        },
    }, separators=(",", ":"), ensure_ascii=False)


def _money(amount: Decimal | None) -> str | None:
    return None if amount is None else str(amount)


def delivered(db: Database, delivery_id: int, status: int, now: dt.datetime) -> None:
    with db.session() as session:
        delivery = session.get(WebhookDelivery, delivery_id)
        delivery.status, delivery.delivered_at, delivery.last_status = "delivered", now, status
        delivery.attempts += 1
        delivery.last_attempt_at, delivery.lease_until, delivery.last_error = now, None, None
        session.add(delivery)


def failed(db: Database, delivery_id: int, status: int | None, error: str, now: dt.datetime,
           final: bool = False) -> None:
    """Record a failed attempt: retry on the schedule, or give up and pause the endpoint; a
    410 Gone stops the endpoint at once; `final` gives up on this delivery alone."""
    with db.session() as session:
        delivery = session.get(WebhookDelivery, delivery_id)
        endpoint = session.get(WebhookEndpoint, delivery.endpoint_id)
        delivery.attempts += 1
        delivery.last_attempt_at, delivery.lease_until = now, None
        delivery.last_status, delivery.last_error = status, error[:500]
        if final:
            delivery.status = "failed"
        elif status == 410:
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


def has_work(session: Session) -> bool:
    return session.exec(select(WebhookDelivery.id).where(WebhookDelivery.status == "pending")
                        .limit(1)).first() is not None
