"""Leaving-soon events: an offer whose end comes within `changes.leaving_days` (in its
region's calendar) is announced once, by the scheduler, as an offer event like the catalog's.

Once per offer: an offer announced is not announced again until it has left and returned
(a 'returned' event after the announcement). Several scheduler processes may run this at
once on PostgreSQL: the offers are locked while they are checked, so the second process
sees what the first wrote.
"""
from __future__ import annotations

import datetime as dt
from collections import defaultdict

from sqlmodel import select

from affiliate import history
from affiliate.config import Settings
from affiliate.db import Database
from affiliate.models import Offer, OfferEvent
from providers.regions import local_date

# A country's calendar is at most this far ahead of UTC's (Kiribati, UTC+14).
_AHEAD_OF_UTC = dt.timedelta(days=1)


def raise_leaving_soon(db: Database, settings: Settings, now: dt.datetime) -> int:
    """Record 'leaving_soon' for every visible offer newly within the window; how many."""
    days = settings.changes.leaving_days
    if not days:
        return 0
    latest_end = (now + _AHEAD_OF_UTC).date() + dt.timedelta(days=days)
    with db.session() as session:
        candidates = session.exec(
            select(Offer).where(Offer.hidden == False,  # noqa: E712  (SQL comparison)
                                Offer.expires_on.is_not(None), Offer.expires_on <= latest_end,
                                Offer.expires_at > now)
            .order_by(Offer.id).with_for_update()).all()
        due = [offer for offer in candidates
               if offer.expires_on <= local_date(now, offer.region) + dt.timedelta(days=days)]
        announced = _announced(session, [offer.id for offer in due])
        changes = [history.Change.of(offer, history.LEAVING_SOON)
                   for offer in due if offer.id not in announced]
        history.record(session, changes, now)
    return len(changes)


def _announced(session, offer_ids: list[int]) -> set[int]:
    """The offers whose latest leaving-soon event is later than their latest return."""
    if not offer_ids:
        return set()
    latest: dict[int, dict[str, int]] = defaultdict(dict)
    rows = session.exec(
        select(OfferEvent.offer_id, OfferEvent.event, OfferEvent.id)
        .where(OfferEvent.offer_id.in_(offer_ids),
               OfferEvent.event.in_((history.LEAVING_SOON, history.RETURNED)))).all()
    for offer_id, event, event_id in rows:
        latest[offer_id][event] = max(event_id, latest[offer_id].get(event, 0))
    return {offer_id for offer_id, seen in latest.items()
            if seen.get(history.LEAVING_SOON, 0) > seen.get(history.RETURNED, 0)}
