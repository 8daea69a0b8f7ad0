"""Outbox rows for new offer events, written by affiliate.history.record in the transaction
that stores the events: an event and its deliveries are committed together or not at all,
whatever other transactions do meanwhile (a cursor over event ids would skip an event whose
transaction commits after a later one's)."""
from __future__ import annotations

import datetime as dt
import json

from sqlalchemy import insert
from sqlmodel import Session, select

from affiliate.models import Film, Offer, Platform, WebhookDelivery, WebhookEndpoint
from affiliate.webhooks.kinds import message_id, webhook_kind

FIRST_FETCH = dt.timedelta(days=1)


def listening(session: Session) -> list[WebhookEndpoint]:
    """Endpoints that take events (a paused one queues them until resumed; a gone one not)."""
    return list(session.exec(select(WebhookEndpoint).where(WebhookEndpoint.state != "gone")))


def enqueue(session: Session, endpoints: list[WebhookEndpoint], events: list[dict],
            now: dt.datetime) -> int:
    """A pending delivery per event and endpoint whose filters choose it; how many."""
    offers = {row[0]: row[1:] for row in session.exec(
        select(Offer.id, Offer.region, Offer.available_since, Platform.slug)
        .join(Platform, Platform.id == Offer.platform_id)
        .where(Offer.id.in_({event["offer_id"] for event in events})))}
    created = dict(session.exec(select(Film.id, Film.created_at)
                                .where(Film.id.in_({event["film_id"] for event in events}))).all())
    chosen = [(endpoint, set(json.loads(endpoint.events)), set(json.loads(endpoint.regions)),
               set(json.loads(endpoint.platforms)), set(json.loads(endpoint.films)))
              for endpoint in endpoints]
    rows = []
    for event in events:
        kind = webhook_kind(event["event"], event["price_before"], event["price_after"])
        region, available_since, platform = offers[event["offer_id"]]
        # As lists and feeds: an offer found with its film's first fetches is no news.
        if kind is None or (kind == "appeared" and available_since is None
                            and event["at"] < created[event["film_id"]] + FIRST_FETCH):
            continue
        for endpoint, kinds, regions, platforms, films in chosen:
            if (kind in kinds and (not regions or region in regions)
                    and (not platforms or platform in platforms) and (not films or event["film_id"] in films)):
                rows.append({"endpoint_id": endpoint.id, "message_id": message_id(event["id"]),
                             "event": kind, "event_id": event["id"], "payload": None,
                             "status": "pending", "attempts": 0, "next_attempt_at": now,
                             "created_at": now})
    if rows:
        session.execute(insert(WebhookDelivery.__table__), rows)
    return len(rows)
