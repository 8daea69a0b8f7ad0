"""Scheduler jobs: one per enabled provider, due from the last success, and the retention job
(tests/test_retention.py); jobs never raise."""
from __future__ import annotations

import datetime as dt

from apscheduler.schedulers.background import BackgroundScheduler
from sqlmodel import select

from affiliate import create_app
from affiliate.catalog import prepare
from affiliate.models import Offer, ProviderState
from affiliate.refresh import RefreshEngine
from affiliate.scheduler import build_scheduler, load_demo_if_empty, refresh_job
from affiliate.types import utcnow

TWO_FEEDS = {
    "demo": {"type": "feed", "url": "builtin:demo", "interval_minutes": 30},
    "off": {"type": "feed", "url": "builtin:demo", "enabled": False},
}


def test_one_job_per_enabled_provider_on_its_interval(make_settings):
    app = create_app(make_settings(providers=TWO_FEEDS))
    prepare(app.extensions["affiliate"].db)

    jobs = build_scheduler(app, BackgroundScheduler).get_jobs()

    assert [job.id for job in jobs] == ["refresh:demo", "retention", "leaving-soon", "webhooks", "config"]
    assert jobs[0].trigger.interval == dt.timedelta(minutes=30)
    assert jobs[0].max_instances == 1 and jobs[0].coalesce


def test_a_provider_refreshed_recently_is_due_after_its_interval(app, db):
    last = utcnow() - dt.timedelta(minutes=60)
    with db.session() as session:
        session.add(ProviderState(name="demo", type="feed", last_success_at=last))

    job = build_scheduler(app, BackgroundScheduler).get_job("refresh:demo")

    assert job.next_run_time == last + dt.timedelta(minutes=360)


def engine(app):
    state = app.extensions["affiliate"]
    return RefreshEngine(state.db, state.settings)


def test_the_job_refreshes_its_provider(app, db):
    refresh_job(app, engine(app), "demo")

    with db.session() as session:
        assert session.exec(select(Offer)).first() is not None
        assert session.get(ProviderState, "demo").last_success_at is not None


def test_the_job_survives_an_unexpected_error(app, monkeypatch, caplog):
    def broken(*args):
        raise RuntimeError("database went away")

    monkeypatch.setattr(RefreshEngine, "run", broken)

    refresh_job(app, engine(app), "demo")

    assert "scheduled refresh of demo failed" in caplog.text


def test_the_demo_loads_only_into_an_empty_database(db, settings, make_settings):
    assert load_demo_if_empty(db, settings)
    assert not load_demo_if_empty(db, settings)
    assert not load_demo_if_empty(db, make_settings(service={"demo_catalog": False}))


def test_a_reload_retimes_the_webhooks_pass(make_settings):
    app = create_app(make_settings(providers=TWO_FEEDS))
    prepare(app.extensions["affiliate"].db)
    scheduler = build_scheduler(app, BackgroundScheduler)
    assert scheduler.get_job("webhooks").trigger.interval == dt.timedelta(seconds=10)

    for listener in app.extensions["affiliate"].listeners:
        listener(make_settings(providers=TWO_FEEDS, webhooks={"interval_seconds": 60}))

    assert scheduler.get_job("webhooks").trigger.interval == dt.timedelta(seconds=60)
