"""APScheduler jobs: one interval job per enabled provider, each running the process's
RefreshEngine for that provider, one deleting data kept past its source's retention, and one
announcing offers that leave soon.

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

from affiliate.config import DEFAULT_PROVIDERS, Settings
from affiliate.db import Database
from affiliate.leaving_soon import raise_leaving_soon
from affiliate.models import ProviderState
from affiliate.refresh import RefreshEngine, refresh_provider
from affiliate.retention import prune
from affiliate.sources import build_table
from affiliate.types import utcnow
from affiliate.webhooks import sender as webhook_sender

log = logging.getLogger(__name__)


# Data past a source's retention (its adapter's terms) is looked for this often.
RETENTION_CHECK = dt.timedelta(hours=6)
# Offers whose end came within the leaving window are looked for this often (an end date
# arrives with a refresh; a day boundary in some country brings others into the window).
LEAVING_CHECK = dt.timedelta(hours=1)
# How often a scheduler process looks at its config file (SIGHUP makes the next look read it).
CONFIG_CHECK = dt.timedelta(seconds=10)


def build_scheduler(app: Flask, scheduler_cls: type[BaseScheduler] = BackgroundScheduler,
                    engine: RefreshEngine | None = None) -> BaseScheduler:
    """One interval job per enabled provider, all sharing one engine (this process's
    limiters and lease owner); the caller closes the engine when the scheduler stops. The
    jobs follow config reloads: providers added, removed or retimed get their jobs changed,
    and the webhooks' pass its new interval."""
    state = app.extensions["affiliate"]
    engine = engine or RefreshEngine(state.db, state.settings)
    scheduler = scheduler_cls(timezone=dt.UTC)
    sync_jobs(scheduler, app, engine)
    scheduler.add_job(
        retention_job, IntervalTrigger(seconds=RETENTION_CHECK.total_seconds(),
                                       timezone=dt.UTC),
        args=(app,), id="retention", name="delete data past its source's retention",
        max_instances=1, coalesce=True, next_run_time=utcnow())
    scheduler.add_job(
        leaving_soon_job, IntervalTrigger(seconds=LEAVING_CHECK.total_seconds(), timezone=dt.UTC),
        args=(app,), id="leaving-soon", name="announce offers that leave soon",
        max_instances=1, coalesce=True, next_run_time=utcnow())
    scheduler.add_job(
        webhooks_job, IntervalTrigger(seconds=state.settings.webhooks.interval_seconds, timezone=dt.UTC),
        args=(app,), id="webhooks", name="send webhook deliveries", max_instances=1, coalesce=True)
    # A scheduler-only process serves no requests: this job looks at the config file.
    scheduler.add_job(config_job, IntervalTrigger(seconds=CONFIG_CHECK.total_seconds(),
                                                  timezone=dt.UTC),
                      args=(app,), id="config", name="reload config when it changes",
                      max_instances=1, coalesce=True)

    def reloaded(settings: Settings) -> None:
        engine.apply(settings)
        sync_jobs(scheduler, app, engine)
        webhooks = IntervalTrigger(seconds=settings.webhooks.interval_seconds, timezone=dt.UTC)
        if scheduler.get_job("webhooks").trigger.interval != webhooks.interval:
            scheduler.reschedule_job("webhooks", trigger=webhooks)

    state.listeners.append(reloaded)
    return scheduler


def sync_jobs(scheduler: BaseScheduler, app: Flask, engine: RefreshEngine) -> None:
    """One refresh job per enabled provider of the engine's settings: missing ones added,
    ones whose provider went or was disabled removed, changed intervals retimed."""
    wanted = {}
    for name in engine.settings.providers:
        provider = engine.provider(name)
        if not provider.settings.enabled:
            continue
        interval = dt.timedelta(minutes=provider.settings.interval_minutes)
        # API sources are checked for films that fell due (each film's own interval, shortened
        # for popular or leaving films, decides) every refresh.due_check_minutes.
        due_check = dt.timedelta(minutes=engine.settings.refresh.due_check_minutes)
        tick = interval if provider.lists_catalog else min(interval, due_check)
        wanted[f"refresh:{name}"] = (name, provider, interval, tick)
    for job in scheduler.get_jobs():
        if job.id.startswith("refresh:") and job.id not in wanted:
            scheduler.remove_job(job.id)
    for job_id, (name, provider, interval, tick) in wanted.items():
        trigger = IntervalTrigger(seconds=tick.total_seconds(), timezone=dt.UTC)
        job = scheduler.get_job(job_id)
        if job is not None:
            if job.trigger.interval != trigger.interval:
                scheduler.reschedule_job(job_id, trigger=trigger)
            continue
        scheduler.add_job(
            refresh_job, trigger, args=(app, engine, name), id=job_id, name=f"refresh {name}",
            max_instances=1, coalesce=True,
            next_run_time=first_run(engine.db, name, interval) if provider.lists_catalog else utcnow(),
        )


def config_job(app: Flask) -> None:
    """Apply the config file if it changed; reloads reach the jobs through the state's
    listeners (a web request of `affiliate serve` may have applied it first)."""
    try:
        app.extensions["affiliate"].refresh_settings()
    except Exception:
        log.exception("reloading the config failed; the running config stays")


def retention_job(app: Flask) -> None:
    """Delete what sources' terms forbid keeping any longer (affiliate.retention); whatever
    happens, the scheduler thread lives on."""
    state = app.extensions["affiliate"]
    try:
        prune(state.db, state.settings, utcnow())
    except Exception:
        log.exception("deleting data past its retention failed")


def leaving_soon_job(app: Flask) -> None:
    """Announce offers newly within the leaving window (affiliate.leaving_soon); whatever
    happens, the scheduler thread lives on."""
    state = app.extensions["affiliate"]
    try:
        raise_leaving_soon(state.db, state.settings, utcnow())
    except Exception:
        log.exception("announcing offers that leave soon failed")


def webhooks_job(app: Flask) -> None:
    """Send the webhook deliveries that are due (affiliate.webhooks)."""
    state = app.extensions["affiliate"]
    try:
        sent = webhook_sender.run(state.db, state.settings)
    except Exception:  # one bad pass must not stop the scheduler; the outbox keeps the work
        log.exception("webhooks: the delivery pass failed; it runs again at the next interval")
        return
    if sent.delivered or sent.failed:
        log.info("webhooks: %d delivered, %d failed (retried later)", sent.delivered, sent.failed)


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
    demo = build_table(None, "demo", DEFAULT_PROVIDERS["demo"])
    report = refresh_provider(db, demo, None, settings.catalog, matching=settings.matching)
    return report.status != "failed"
