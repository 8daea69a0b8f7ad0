"""A visitor's clicks on one link count at most `clicks.per_visitor` times within any
`clicks.window_minutes`, in every web process, and no address is stored to know it."""
from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlmodel import select

from affiliate import click_limit, create_app
from affiliate.catalog import prepare
from affiliate.models import ClickWindow, VisitorClicks
from affiliate.refresh import run_refresh
from tests.clock import FakeClock
from tests.test_clicks import BROWSER, offer_id, stored_clicks

# Half a minute before a window boundary (windows of one minute start on the minute).
START = dt.datetime(2026, 3, 1, 12, 0, 30, tzinfo=dt.timezone.utc)


@pytest.fixture
def settings(make_settings):
    return make_settings(clicks={"per_visitor": 3, "window_minutes": 1},
                         admin={"proxy_hops": 1})


@pytest.fixture
def clock(monkeypatch):
    clock = FakeClock(START)
    monkeypatch.setattr("affiliate.clicks_redirect.utcnow", clock.now)
    return clock


def visitor(address: str = "198.51.100.7", agent: str = BROWSER["User-Agent"]) -> dict:
    return {"User-Agent": agent, "X-Forwarded-For": address}


def test_a_hundred_clicks_in_a_minute_count_three_times(client, demo, clock):
    """The burst crosses a window boundary: it still counts no more than the limit."""
    vudu = offer_id(demo, "Vudu")
    for _ in range(100):
        response = client.get(f"/go/o{vudu}", headers=visitor())
        assert response.status_code == 302  # every click still gets there
        clock.advance(seconds=0.6)
    assert clock.now() - START == dt.timedelta(seconds=60)
    assert len(stored_clicks(demo)) == 3


def test_the_limit_is_per_visitor_and_per_link(client, demo, clock):
    vudu, apple = offer_id(demo, "Vudu"), offer_id(demo, "Apple TV")
    amazon = offer_id(demo, "Amazon Prime Video")
    for _ in range(5):
        client.get(f"/go/o{vudu}", headers=visitor())
        client.get(f"/go/o{apple}", headers=visitor())
        client.post(f"/go/o{amazon}/beacon", headers=visitor())  # beacons count alike
        client.get(f"/go/o{vudu}", headers=visitor("198.51.100.8"))  # another address
        client.get(f"/go/o{vudu}", headers=visitor(agent=BROWSER["User-Agent"] + " Edg/126.0"))
    counted = [(c.offer_id, c.via) for c in stored_clicks(demo)]
    assert counted.count((vudu, "redirect")) == 9
    assert counted.count((apple, "redirect")) == 3
    assert counted.count((amazon, "beacon")) == 3


def test_a_visitor_counts_again_once_a_whole_window_has_passed(client, demo, clock):
    vudu = offer_id(demo, "Vudu")
    for _ in range(4):
        client.get(f"/go/o{vudu}", headers=visitor())
    clock.advance(seconds=30)  # the next window: the last one's clicks still weigh
    client.get(f"/go/o{vudu}", headers=visitor())
    assert len(stored_clicks(demo)) == 3
    clock.advance(seconds=60)
    for _ in range(4):
        client.get(f"/go/o{vudu}", headers=visitor())
    assert len(stored_clicks(demo)) == 6


def test_only_keyed_digests_are_kept_and_only_for_two_windows(client, demo, clock):
    vudu = offer_id(demo, "Vudu")
    for minute in range(4):
        client.get(f"/go/o{vudu}", headers=visitor())
        clock.advance(minutes=1)
    client.get(f"/go/o{vudu}", headers=visitor())

    with demo.session() as session:
        windows = session.exec(select(ClickWindow).order_by(ClickWindow.starts_at)).all()
        counts = session.exec(select(VisitorClicks).order_by(VisitorClicks.starts_at)).all()
    # This window and the one before; the three before those are gone, keys and counts alike.
    assert [w.starts_at for w in windows] == [dt.datetime(2026, 3, 1, 12, 3, tzinfo=dt.timezone.utc),
                                              dt.datetime(2026, 3, 1, 12, 4, tzinfo=dt.timezone.utc)]
    assert windows[0].key != windows[1].key  # a new random key every window
    assert [c.starts_at for c in counts] == [w.starts_at for w in windows]
    assert counts[0].visitor != counts[1].visitor  # unlinkable across windows
    for row in counts:
        assert re.fullmatch(r"[0-9a-f]{64}", row.visitor)
        assert "198.51.100.7" not in row.visitor


def test_every_web_process_counts_against_the_same_limit(make_settings, settings, clock):
    """Two apps on one database stand for two web processes: each has its own memory."""
    first, second = create_app(settings), create_app(settings)
    db = first.extensions["affiliate"].db
    prepare(db)
    run_refresh(db, settings, "demo")
    try:
        vudu = offer_id(db, "Vudu")
        for _ in range(3):
            for app in (first, second):
                assert app.test_client().get(f"/go/o{vudu}", headers=visitor()).status_code == 302
        assert len(stored_clicks(db)) == 3
    finally:
        for app in (first, second):
            app.extensions["affiliate"].db.dispose()


def test_without_proxy_hops_the_connections_address_is_the_visitors(make_settings, clock):
    """A forwarded address a visitor made up does not make them another visitor."""
    settings = make_settings(clicks={"per_visitor": 2})
    app = create_app(settings)
    db = app.extensions["affiliate"].db
    prepare(db)
    run_refresh(db, settings, "demo")
    try:
        client, vudu = app.test_client(), offer_id(db, "Vudu")
        for n in range(5):
            client.get(f"/go/o{vudu}", headers=visitor(f"192.0.2.{n}"))
        assert len(stored_clicks(db)) == 2
    finally:
        db.dispose()


def test_windows_start_on_multiples_of_their_length():
    at = dt.datetime(2026, 3, 1, 12, 47, 5, tzinfo=dt.timezone.utc)
    assert click_limit.window_start(at, 60) == dt.datetime(2026, 3, 1, 12, tzinfo=dt.timezone.utc)
    assert click_limit.window_start(at, 15) == dt.datetime(2026, 3, 1, 12, 45, tzinfo=dt.timezone.utc)
    assert click_limit.window_start(at, 1) == dt.datetime(2026, 3, 1, 12, 47, tzinfo=dt.timezone.utc)
