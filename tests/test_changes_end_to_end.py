"""Availability changes end to end, in real processes: a feed stand-in whose catalog changes
between refreshes; `affiliate scheduler` stores the changes and is killed -9 before it sends
any webhook; a second scheduler delivers them. The lists, both Atom feeds and a local webhook
receiver (verifying every signature with `standardwebhooks`) show the same events, once each.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import feedparser
import pytest
from sqlalchemy import create_engine, func, select, update
from standardwebhooks import Webhook

from affiliate.app import create_app
from affiliate.change_events import event_uuid
from affiliate.config import load_settings
from affiliate.models import Film, OfferEvent, ProviderState, WebhookDelivery
from tests.standin import Answer

ROOT = Path(__file__).resolve().parents[1]
LLV, SID = "imdb:tt0113627", "imdb:tt0091954"
TIMEOUT = 90


def catalog(*offers) -> str:
    """The feed's document: two films, the platforms, and these offers as (film, platform,
    kind, price)."""
    return json.dumps({
        "platforms": [{"slug": slug, "name": name} for slug, name in (
            ("apple-tv", "Apple TV"), ("netflix", "Netflix"), ("vudu", "Vudu"))],
        "films": [{"title": "Leaving Las Vegas", "year": 1995, "imdb_id": "tt0113627"},
                  {"title": "Sid and Nancy", "year": 1986, "imdb_id": "tt0091954"}],
        "offers": [{"film": film, "platform": platform, "region": "US", "kind": kind, "quality": "HD",
                    "link": f"https://{platform}.example/watch/{film}",
                    **({"price": price, "currency": "USD"} if price else {})}
                   for film, platform, kind, price in offers],
    })


@pytest.fixture
def shop(standin):
    """The feed stand-in; `shop.serve(*offers)` changes what it lists."""
    def serve(*offers):
        standin.routes = [("GET", "/catalog.json", {}, Answer(200, catalog(*offers)))]
    standin.serve = serve
    return standin


@pytest.fixture
def receiver():
    from tests.standin import StandIn

    server = StandIn()
    server.route("POST", "/hook", Answer(204, b""))
    server.start()
    yield server
    server.stop()


def affiliate(config: Path, *args: str, env: dict | None = None, **kwargs):
    return subprocess.run([sys.executable, "-m", "affiliate", "--config", str(config), *args],
                          capture_output=True, text=True, cwd=ROOT, timeout=TIMEOUT,
                          env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}, **kwargs)


def scheduler(config: Path, log: Path, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "affiliate", "--config", str(config), "scheduler"],
                            stdout=log.open("w"), stderr=subprocess.STDOUT, cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})})


def count(engine, model) -> int:
    with engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(model)).scalar()


def wait_for(condition, what: str, log: Path) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not condition():
        assert time.monotonic() < deadline, f"{what} did not happen:\n{log.read_text()[-3000:]}"
        time.sleep(0.2)


def test_lists_feeds_and_webhooks_show_the_same_events_across_a_kill(tmp_path, shop, receiver, monkeypatch):
    from affiliate import credential_store

    key = credential_store.generate_key()
    monkeypatch.setenv(credential_store.KEY_VARIABLE, key)
    database = f"sqlite:///{tmp_path / 'changes.db'}"
    config = tmp_path / "config.toml"
    config.write_text(f"""\
[service]
database_url = "{database}"
demo_catalog = false

[catalog]
hide_after_misses = 1
max_hidden_share = 0.5  # Netflix leaving is one of the feed's three offers

[webhooks]
allow_local_endpoints = true
# The first scheduler must store the changes, then die before its first webhook pass.
interval_seconds = 3600

[changes]
film_url = "https://site.example/films/{{imdb}}"

[providers.shop]
type = "feed"
url = "{shop.url}/catalog.json"
allow_private_addresses = true
interval_minutes = 60
""")
    engine = create_engine(database)

    # The catalog as the site has held it for a month: its offers are no news.
    shop.serve((LLV, "apple-tv", "rent", "3.99"), (LLV, "netflix", "subscription", None),
               (SID, "apple-tv", "buy", "9.99"))
    assert affiliate(config, "db", "upgrade").returncode == 0
    first = affiliate(config, "refresh", "--provider", "shop")
    assert first.returncode == 0, first.stdout + first.stderr
    month_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=30)
    with engine.begin() as connection:
        connection.execute(update(Film).values(created_at=month_ago))
        connection.execute(update(OfferEvent).values(at=month_ago))
        # ...and last read from the feed two hours ago: the scheduler finds it due at once.
        connection.execute(update(ProviderState).values(
            last_success_at=dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)))
        before = connection.execute(select(func.max(OfferEvent.id))).scalar()
    added = affiliate(config, "webhooks", "add", f"{receiver.url}/hook",
                      "--event", "appeared,left,returned,price_drop,leaving_soon")
    assert added.returncode == 0, added.stderr
    secret = added.stdout.strip()

    # Then Apple's price drops, Netflix leaves, Vudu arrives, Sid and Nancy streams on Netflix.
    shop.serve((LLV, "apple-tv", "rent", "2.99"), (LLV, "vudu", "rent", "3.99"),
               (SID, "apple-tv", "buy", "9.99"), (SID, "netflix", "subscription", None))
    log = tmp_path / "scheduler1.log"
    first_scheduler = scheduler(config, log)
    try:
        wait_for(lambda: count(engine, WebhookDelivery) >= 4, "the changes' deliveries being queued", log)
        first_scheduler.send_signal(signal.SIGKILL)
        first_scheduler.wait(timeout=10)
    finally:
        if first_scheduler.poll() is None:
            first_scheduler.kill()
    assert receiver.requests == []  # killed between the events and their delivery
    with engine.connect() as connection:
        stored = dict(connection.execute(select(OfferEvent.id, OfferEvent.event)
                                         .where(OfferEvent.id > before)).all())

    log = tmp_path / "scheduler2.log"
    second_scheduler = scheduler(config, log, env={"AFFILIATE_WEBHOOKS__INTERVAL_SECONDS": "1"})
    try:
        wait_for(lambda: len(receiver.requests) >= 4, "the deliveries", log)
        time.sleep(2)  # a second pass, which must send nothing again
    finally:
        second_scheduler.terminate()
        second_scheduler.wait(timeout=20)

    hooked = {}
    for request in receiver.requests:
        headers = {name.lower(): value for name, value in request.headers.items()}
        body = Webhook(secret).verify(request.body, headers)
        assert headers["webhook-id"] not in hooked, "a webhook was delivered twice"
        hooked[headers["webhook-id"]] = (body["data"]["event_id"], body["type"].removeprefix("offer."),
                                         body["data"]["film"]["ref"], body["data"]["platform"]["slug"])
    by_event = {event_id: (kind, film, platform) for event_id, kind, film, platform in hooked.values()}
    assert sorted(by_event.values()) == sorted([
        ("appeared", LLV, "vudu"), ("appeared", SID, "netflix"), ("left", LLV, "netflix"),
        ("price_drop", LLV, "apple-tv")])
    assert set(by_event) == set(stored)

    app = create_app(load_settings(str(config)))
    client = app.test_client()
    feed = feedparser.parse(client.get("/feeds/changes.atom?region=US").data)
    assert sorted(entry.id for entry in feed.entries) == sorted(event_uuid(i).urn for i in by_event)
    film_feed = feedparser.parse(client.get(f"/feeds/films/{LLV}.atom").data)
    assert sorted(entry.id for entry in film_feed.entries) == sorted(
        event_uuid(i).urn for i, (_, film, _) in by_event.items() if film == LLV)
    listed = {}
    for name in ("new", "price-drops"):
        for day in client.get(f"/api/v1/changes/{name}?region=US").json["days"]:
            for entry in day["entries"]:
                for event_id in entry["event_ids"]:
                    assert event_id not in listed, "an event listed twice"
                    listed[event_id] = (entry["event"], entry["film"]["ref"], entry["platform"]["slug"],
                                        entry["film"]["page_url"])
    assert {i: v[:3] for i, v in listed.items()} == {
        i: v for i, v in by_event.items() if v[0] in ("appeared", "price_drop")}
    assert {v[3] for v in listed.values()} == {"https://site.example/films/tt0113627",
                                              "https://site.example/films/tt0091954"}
    app.extensions["affiliate"].db.dispose()
    engine.dispose()
