"""APScheduler jobs: one interval job per enabled provider, each running the process's
RefreshEngine for that provider, and one deleting data kept past its source's retention.

Only `affiliate serve` and `affiliate scheduler` build a scheduler; `create_app` never
does, so web workers under gunicorn do not each start one.
"""
from __future__ import annotations

import datetime as dt
import logging

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.triggers.interval import IntervalTrigger
from flask import Flask

from affiliate.config import Settings
from affiliate.db import Database
from affiliate.models import ProviderState
from affiliate.refresh import RefreshEngine, refresh_provider
from affiliate.retention import prune
from affiliate.types import utcnow
from providers.feed import FeedProvider

log = logging.getLogger(__name__)


# API sources are checked this often for films that fell due; each film's own interval
# (the provider's interval_minutes, shortened for popular or leaving films) decides.
DUE_CHECK = dt.timedelta(minutes=15)
# Data past a source's retention (TMDB: six months) is looked for this often.
RETENTION_CHECK = dt.timedelta(hours=6)


def build_scheduler(app: Flask, scheduler_cls: type[BaseScheduler] = BackgroundScheduler,
                    engine: RefreshEngine | None = None) -> BaseScheduler:
    """One interval job per enabled provider, all sharing one engine (this process's
    limiters and lease owner); the caller closes the engine when the scheduler stops."""
    state = app.extensions["affiliate"]
    engine = engine or RefreshEngine(state.db, state.settings)
    scheduler = scheduler_cls(timezone=dt.timezone.utc)
    for name in state.settings.providers:
        provider = engine.provider(name)
        if not provider.settings.enabled:
            continue
        interval = dt.timedelta(minutes=provider.settings.interval_minutes)
        tick = interval if provider.lists_catalog else min(interval, DUE_CHECK)
        scheduler.add_job(
            refresh_job, IntervalTrigger(seconds=tick.total_seconds(), timezone=dt.timezone.utc),
            args=(app, engine, name), id=f"refresh:{name}", name=f"refresh {name}",
            max_instances=1, coalesce=True,
            next_run_time=first_run(state.db, name, interval) if provider.lists_catalog else utcnow(),
        )
    scheduler.add_job(
        retention_job, IntervalTrigger(seconds=RETENTION_CHECK.total_seconds(),
                                       timezone=dt.timezone.utc),
        args=(app,), id="retention", name="delete data past its source's retention",
        max_instances=1, coalesce=True, next_run_time=utcnow())
    return scheduler


def retention_job(app: Flask) -> None:
    """Delete what sources' terms forbid keeping any longer (affiliate.retention); whatever
    happens, the scheduler thread lives on."""
    state = app.extensions["affiliate"]
    try:
        prune(state.db, state.settings, utcnow())
    except Exception:
        log.exception("deleting data past its retention failed")


def first_run(db: Database, provider_name: str, interval: dt.timedelta) -> dt.datetime:
    """Due now if the provider never succeeded or its data is older than its interval."""
    with db.session() as session:
        provider_state = session.get(ProviderState, provider_name)
    now = utcnow()
    if provider_state is None or provider_state.last_success_at is None:
        return now
    return max(now, provider_state.last_success_at + interval)


def refresh_job(app: Flask, engine: RefreshEngine, provider_name: str) -> None:
    """One scheduled run; whatever happens, the scheduler thread lives on."""
    with app.app_context():
        try:
            engine.run(provider_name)
        except Exception:
            log.exception("scheduled refresh of %s failed", provider_name)


def load_demo_if_empty(db: Database, settings: Settings) -> bool:
    """Fill an empty database with the bundled demo catalog, so a new install shows something."""
    if not settings.service.demo_catalog or not db.is_empty():
        return False
    demo = FeedProvider("demo", FeedProvider.Settings(type="feed", url="builtin:demo"))
    report = refresh_provider(db, demo, None, settings.catalog)
    return report.status != "failed"
