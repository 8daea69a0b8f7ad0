"""The shared fragment store (`http.shared_fragments`): a widget one web process rendered is
read back by another instead of rendered again, a change to the film makes a new entry, and
an unreachable Redis costs only the rendering.

Two apps on one database stand for two web processes; the store is a dict with Redis'
get/set, except in the last test, which uses a real Redis when AFFILIATE_TEST_REDIS_URL
names one."""
from __future__ import annotations

import logging
import os
import socket

import pytest
from sqlmodel import select

from affiliate import create_app, revisions
from affiliate.catalog import prepare
from affiliate.config import ConfigError, load_settings
from affiliate.fragment_store import SharedFragments
from affiliate.models import Film
from affiliate.refresh import run_refresh

FRAGMENT = "/widgets/how-to-watch/imdb:tt0113627?region=US&locale=en_US"
REDIS_URL = os.environ.get("AFFILIATE_TEST_REDIS_URL")


class DictRedis:
    """What SharedFragments asks of a Redis client."""

    def __init__(self):
        self.entries: dict[str, bytes] = {}
        self.expiries: dict[str, int] = {}

    def get(self, key):
        return self.entries.get(key)

    def set(self, key, value, ex=None):
        self.entries[key] = value.encode()
        self.expiries[key] = ex


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"redis://127.0.0.1:{sock.getsockname()[1]}/0"


@pytest.fixture
def processes(make_settings):
    """Two apps ("web processes") on one database with the demo catalog, sharing one store;
    each reads a film's revision on every request."""
    settings = make_settings(service={"redis_url": closed_port_url()},
                             http={"shared_fragments": True, "revision_check_seconds": 0})
    store = DictRedis()
    apps = []
    for _ in range(2):
        app = create_app(settings)
        app.extensions["affiliate"].fragments.shared.client = store
        apps.append(app)
    db = apps[0].extensions["affiliate"].db
    prepare(db)
    run_refresh(db, settings, "demo")
    yield apps, store
    for app in apps:
        app.extensions["affiliate"].db.dispose()


def test_a_widget_rendered_by_one_process_is_read_by_the_other(processes, statements):
    (first, second), store = processes
    rendered = first.test_client().get(FRAGMENT)
    assert rendered.status_code == 200
    assert len(store.entries) == 1
    assert set(store.expiries.values()) == {24 * 3600}

    statements.clear()
    shared = second.test_client().get(FRAGMENT)
    assert shared.status_code == 200
    assert shared.get_data() == rendered.get_data()
    assert shared.headers["ETag"] == rendered.headers["ETag"]
    assert len(statements) == 1 and "FROM film" in statements[0]  # the revision; no offers read


def test_a_change_to_the_film_is_rendered_again_and_shared_under_a_new_key(processes):
    (first, second), store = processes
    before = first.test_client().get(FRAGMENT)
    db = first.extensions["affiliate"].db
    with db.session() as session:
        film = session.exec(select(Film).where(Film.imdb_id == "tt0113627")).one()
        revisions.bump(session, [film.id])
        session.commit()
    after = second.test_client().get(FRAGMENT)
    assert after.headers["ETag"] != before.headers["ETag"]
    assert len(store.entries) == 2
    assert first.test_client().get(FRAGMENT).headers["ETag"] == after.headers["ETag"]


def test_an_unreachable_store_costs_only_the_rendering(make_settings, caplog):
    settings = make_settings(service={"redis_url": closed_port_url()},
                             http={"shared_fragments": True})
    app = create_app(settings)
    db = app.extensions["affiliate"].db
    prepare(db)
    run_refresh(db, settings, "demo")
    client = app.test_client()
    caplog.set_level(logging.WARNING, logger="affiliate.fragment_store")
    assert client.get(FRAGMENT).status_code == 200
    assert client.get(FRAGMENT.replace("US", "GB")).status_code == 200
    assert len([r for r in caplog.records if "unreachable" in r.getMessage()]) == 1
    store = app.extensions["affiliate"].fragments.shared
    store.client = DictRedis()  # back: asked again once its rest is over
    store._retry_at = 0
    assert client.get(FRAGMENT.replace("US", "DE")).status_code == 200
    assert len(store.client.entries) == 1
    assert any("reachable again" in r.getMessage() for r in caplog.records)
    db.dispose()


def test_shared_fragments_need_a_redis_url():
    with pytest.raises(ConfigError, match=r"http\.shared_fragments.*service\.redis_url"):
        load_settings(http={"shared_fragments": True})


@pytest.mark.skipif(not REDIS_URL, reason="set AFFILIATE_TEST_REDIS_URL (e.g. redis://127.0.0.1:6379/0)")
def test_entries_round_trip_through_redis():
    import datetime as dt
    import secrets

    from affiliate.cache import RenderKey

    store = SharedFragments.from_url(REDIS_URL, secrets.token_hex(4))  # a version no one else uses
    key = RenderKey("how-to-watch", "fragment", 1, 3, "US", "en_US", "http://localhost/")
    until = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
    assert store.get(key) is None
    store.put(key, "<div>rendered</div>", until)
    assert store.get(key) == ("<div>rendered</div>", until)
    assert store.get(RenderKey("how-to-watch", "fragment", 1, 4, "US", "en_US", "http://localhost/")) is None
    store.client.delete(store.key(key))
