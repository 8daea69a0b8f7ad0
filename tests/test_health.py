"""Each provider's health as `affiliate status` and the console show it: state, next run,
quota (our daily count or the source's own monthly one) and notes such as Amazon's
link-only mode, all read from what every process shares."""
from __future__ import annotations

import datetime as dt
import json
import re

import pytest
import responses
from click.testing import CliRunner

from affiliate import health
from affiliate.__main__ import main
from affiliate.refresh import RefreshEngine, run_refresh
from affiliate.types import utcnow
from providers.base import AuthFailed, RateLimited, Transient
from tests.clock import FakeClock
from tests.recorded import recorded_json, recorded_text

AMAZON = {"type": "amazon", "credential_id": "cred-id", "credential_secret": "cred-secret",
          "credential_version": "2.1", "partner_tag": "yoursite-20", "discover": False}
WATCHMODE = {"type": "watchmode", "api_key": "wm-key", "regions": ["US"]}
TMDB = {"type": "tmdb", "read_access_token": "tmdb-token", "regions": ["US"]}


@pytest.fixture
def engine_for(db, make_settings, monkeypatch):
    monkeypatch.setattr("time.sleep", lambda seconds: None)
    engines = []

    def make(providers, clock=None, **sections):
        settings = make_settings(providers=providers, refresh={"retry": {"attempts": 1},
                                                               "breaker_threshold": 1}, **sections)
        engine = RefreshEngine(db, settings, clock=clock or FakeClock(utcnow()))
        engines.append(engine)
        return engine

    yield make
    for engine in engines:
        engine.close()


def by_name(engine) -> dict[str, health.ProviderHealth]:
    return {h.name: h for h in health.provider_health(engine.db, engine.settings, engine)}


def test_a_new_install_is_ok_and_due_now_and_a_disabled_provider_says_so(demo, engine_for):
    engine = engine_for({"demo": {"type": "feed", "url": "builtin:demo"},
                         "tmdb": {**TMDB, "enabled": False}, "amazon": AMAZON})

    report = by_name(engine)

    assert list(report) == ["demo", "tmdb", "amazon"]
    demo, tmdb, amazon = report.values()
    assert (demo.state, demo.films_due, demo.quota_left, demo.breaker_state) == ("ok", None, None, "closed")
    assert demo.last_success_at is not None and demo.next_run > demo.last_success_at
    assert (tmdb.state, tmdb.next_run, tmdb.next_run_text) == ("disabled", None, "not scheduled (disabled)")
    assert amazon.state == "ok" and amazon.next_run_text == "now (6 films due)"
    assert (amazon.quota_left, amazon.quota_period) == (8640, "day")  # Amazon's daily quota, unused


def test_pause_breaker_and_refused_credentials_each_show_with_their_next_run(demo, engine_for):
    clock = FakeClock(utcnow())
    engine = engine_for({"tmdb": TMDB, "amazon": AMAZON, "watchmode": WATCHMODE}, clock)
    engine.guard(engine.provider("tmdb")).record_failure(RateLimited("429", retry_after=3600))
    engine.guard(engine.provider("amazon")).record_failure(Transient("down"))
    engine.guard(engine.provider("watchmode")).record_failure(AuthFailed("401"))

    report = by_name(engine)

    tmdb, amazon, watchmode = report["tmdb"], report["amazon"], report["watchmode"]
    assert tmdb.state.startswith("paused until ")
    assert tmdb.next_run == clock.now() + dt.timedelta(hours=1)
    assert (amazon.state, amazon.breaker_state) == ("breaker open", "open")
    assert amazon.next_run == clock.now() + dt.timedelta(minutes=15)  # the breaker's trial
    assert any("1 consecutive failures" in note for note in amazon.notes)
    assert watchmode.state == "auth failed: waiting for new credentials"
    assert (watchmode.next_run, watchmode.next_run_text) == (None, "when the credentials change")
    assert any("providers.watchmode.api_key" in note for note in watchmode.notes)
    assert all(h.last_error_at is None for h in report.values())  # guards only; no run failed

    renewed = engine_for({"watchmode": {**WATCHMODE, "api_key": "new-key"}}, clock)
    (watchmode,) = health.provider_health(renewed.db, renewed.settings, renewed)
    assert watchmode.state == "ok" and watchmode.next_run_text.startswith("now")
    assert "credentials changed" in watchmode.notes[0]


@responses.activate
def test_watchmodes_monthly_quota_is_kept_from_its_answer_headers(db, engine_for):
    run_refresh(db, engine_for({"demo": {"type": "feed", "url": "builtin:demo"}}).settings, "demo")
    quota = {"X-Account-Quota": "1000", "X-Account-Quota-Used": "412"}
    responses.add(responses.GET, re.compile(r"https://api\.watchmode\.com/v1/search/.*"),
                  body=recorded_text("watchmode/search_empty.json"),
                  content_type="application/json", headers=quota)
    engine = engine_for({"watchmode": WATCHMODE})

    (report,) = engine.run("watchmode")
    (watchmode,) = health.provider_health(engine.db, engine.settings, engine)

    assert report.status == "partial"  # Watchmode knows none of the films: nothing is lost
    assert (watchmode.quota_left, watchmode.quota_period) == (588, "month")
    assert any(note.startswith("quota as the source reported it at ") for note in watchmode.notes)
    assert watchmode.state == "ok"


@responses.activate
def test_amazons_link_only_mode_is_a_note_until_amazon_answers_again(demo, engine_for):
    responses.post("https://creatorsapi.auth.us-east-1.amazoncognito.com/oauth2/token",
                   json=recorded_json("amazon/token_cognito.json"))
    not_eligible = recorded_json("amazon/not_eligible.json")
    responses.post("https://creatorsapi.amazon/catalog/v1/getItems", json=not_eligible, status=403)
    responses.post("https://creatorsapi.amazon/catalog/v1/getItems",
                   json=recorded_json("amazon/get_items.json"))
    clock = FakeClock(utcnow())
    engine = engine_for({"amazon": AMAZON}, clock)

    engine.run("amazon")
    (link_only,) = health.provider_health(engine.db, engine.settings, engine)
    clock.advance(days=1)
    engine.run("amazon")
    (answered,) = health.provider_health(engine.db, engine.settings, engine)

    assert link_only.state == "ok"
    assert any(note.startswith("link-only mode") for note in link_only.notes)
    assert link_only.quota_left == 8640 - 1
    assert not any("link-only" in note for note in answered.notes)


def test_status_prints_every_providers_health(database_url, demo, engine_for, tmp_path):
    engine = engine_for({"demo": {"type": "feed", "url": "builtin:demo"}, "amazon": AMAZON})
    engine.guard(engine.provider("amazon")).record_failure(AuthFailed("401"))
    (tmp_path / "config.toml").write_text(
        f'[service]\ndatabase_url = "{database_url}"\n'
        '[providers.demo]\ntype = "feed"\nurl = "builtin:demo"\n'
        '[providers.amazon]\n' + "".join(f"{key} = {json.dumps(value)}\n" for key, value in AMAZON.items()))

    output = CliRunner().invoke(main, ["status"]).output

    demo_part, amazon_part = output.split("amazon (amazon)")
    assert demo_part.startswith("demo (feed): ok") and "quota left: no quota; breaker: closed" in demo_part
    assert amazon_part.startswith(": auth failed: waiting for new credentials")
    assert "next run: when the credentials change; quota left: 8640 per day" in amazon_part
    assert "note: set new credentials in providers.amazon.credential_id" in amazon_part
