"""Deleting what a source's terms forbid keeping any longer (TMDB: six months).

For each source whose adapter declares a `retention`, offers it last confirmed longer ago than
that, and history events older than that, are deleted. Clicks keep their copied platform name
and lose only their link to the offer. Films that lose offers get a new revision, so no cached
widget keeps showing them. A refreshed film is untouched: each refresh confirms its offers
again.

A source is a provider's name; its retention is its adapter's, looked up by affiliate.sources
(config first, then the type it last ran as, then the terms stored with it). Offers of a
source nothing is known of are kept and named in the report, since nothing says what their
terms are.
"""
from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field

from sqlalchemy import delete, update
from sqlmodel import select

from affiliate import revisions
from affiliate.config import Settings
from affiliate.db import Database
from affiliate.models import Click, Offer, OfferEvent
from affiliate.sources import SourceDirectory

log = logging.getLogger(__name__)
_BATCH = 500  # offers deleted per statement, so IN lists stay small on every backend


@dataclass(frozen=True)
class Pruned:
    source: str
    retention: dt.timedelta
    offers: int
    events: int


@dataclass
class PruneReport:
    pruned: list[Pruned] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)  # sources with offers and no known terms


def prune(db: Database, settings: Settings, now: dt.datetime) -> PruneReport:
    with db.session() as session:
        stored = sorted(set(session.exec(select(Offer.source).distinct()).all()))
    directory = SourceDirectory(db, settings)
    infos = [directory.info(source) for source in stored]
    # A source with no known adapter and no stored terms (never run by this service): kept.
    report = PruneReport(unknown=[info.name for info in infos if info.type_name is None])
    limits = {info.name: info.terms.retention for info in infos if info.terms.retention}
    for source, retention in limits.items():
        pruned = _prune_source(db, source, retention, now - retention)
        report.pruned.append(pruned)
        if pruned.offers or pruned.events:
            log.info("deleted %d offers and %d history events of %s kept longer than %d days",
                     pruned.offers, pruned.events, source, retention.days)
    return report


def _prune_source(db: Database, source: str, retention: dt.timedelta,
                  cutoff: dt.datetime) -> Pruned:
    offers = events = 0
    with db.session() as session:
        events += session.execute(delete(OfferEvent).where(
            OfferEvent.at < cutoff,
            OfferEvent.offer_id.in_(select(Offer.id).where(Offer.source == source)))).rowcount
    while True:
        with db.session() as session:
            stale = session.exec(
                select(Offer.id, Offer.film_id).where(Offer.source == source,
                                                      Offer.last_seen < cutoff)
                .order_by(Offer.id).limit(_BATCH)).all()
            if not stale:
                break
            ids = [offer_id for offer_id, _ in stale]
            events += session.execute(delete(OfferEvent).where(OfferEvent.offer_id.in_(ids))).rowcount
            session.execute(update(Click).where(Click.offer_id.in_(ids)).values(offer_id=None))
            offers += session.execute(delete(Offer).where(Offer.id.in_(ids))).rowcount
            revisions.bump(session, (film_id for _, film_id in stale))
    return Pruned(source, retention, offers, events)

