"""/metrics: off by default, guarded by addresses or a token, counters of this process (every
gunicorn worker's in multiprocess mode) and gauges from the database; never a secret or
anything a visitor sent."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from affiliate import create_app
from affiliate.catalog import prepare
from affiliate.config import ConfigError, load_settings
from affiliate.refresh import run_refresh
from tests.test_clicks import BROWSER, offer_id

TOKEN = "metrics-token-0123456789-abcdefghijklmnop"
LLV = "/widgets/how-to-watch/imdb:tt0113627"


def samples(text: str) -> dict[tuple, float]:
    """{(name, sorted labels...): value} of every sample in a scrape."""
    return {(sample.name, *sorted(sample.labels.items())): sample.value
            for family in text_string_to_metric_families(text) for sample in family.samples}


@pytest.fixture
def metrics_app(make_settings):
    def make(**metrics):
        app = create_app(make_settings(metrics={"enabled": True, **metrics}))
        app.config["TESTING"] = True
        db = app.extensions["affiliate"].db
        prepare(db)
        return app, db

    made = []
    yield lambda **metrics: made.append(make(**metrics)) or made[-1]
    for _, db in made:
        db.dispose()


def test_off_by_default(client):
    response = client.get("/metrics")
    assert response.status_code == 404
    assert response.headers["Cache-Control"] == "no-store"


def test_on_without_a_guard_is_refused_naming_the_keys():
    with pytest.raises(ConfigError, match="metrics.allow_addresses, metrics.token"):
        load_settings(metrics={"enabled": True})
    with pytest.raises(ConfigError, match="config key metrics.allow_addresses"):
        load_settings(metrics={"enabled": True, "allow_addresses": ["not-an-address"]})
    with pytest.raises(ConfigError, match="config key metrics.token"):
        load_settings(metrics={"enabled": True, "token": "short"})


def test_only_allowed_addresses_or_the_token_may_scrape(metrics_app):
    app, _ = metrics_app(allow_addresses=["10.0.0.0/8"], token=TOKEN)
    client = app.test_client()

    def scrape(address, token=None):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return client.get("/metrics", headers=headers, environ_base={"REMOTE_ADDR": address})

    assert scrape("10.1.2.3").status_code == 200
    refused = scrape("192.0.2.7")
    assert refused.status_code == 403 and "metrics.allow_addresses" in refused.text
    assert scrape("192.0.2.7", TOKEN).status_code == 200
    assert scrape("192.0.2.7", TOKEN + "x").status_code == 403
    # A proxy's X-Forwarded-For is not the connection's address.
    assert client.get("/metrics", headers={"X-Forwarded-For": "10.0.0.1"},
                      environ_base={"REMOTE_ADDR": "192.0.2.7"}).status_code == 403


def test_what_a_scrape_reports(metrics_app):
    app, db = metrics_app(allow_addresses=["127.0.0.1"])
    assert run_refresh(db, app.extensions["affiliate"].settings, "demo")[0].status == "complete"
    client = app.test_client()
    before = samples(client.get("/metrics").text)
    for _ in range(3):
        assert client.get(LLV + "?region=US&locale=en_US").status_code == 200
    assert client.get("/widgets/how-to-watch/imdb:tt0000001").status_code == 404
    assert client.get(f"/go/o{offer_id(db, 'Vudu')}", headers=BROWSER).status_code == 302
    now = samples(client.get("/metrics").text)

    def delta(*key):
        return now.get(key, 0) - before.get(key, 0)

    route = ("route", "/widgets/<widget>/<film>")
    assert delta("affiliate_http_requests_total", route, ("status", "200")) == 3
    assert delta("affiliate_http_requests_total", route, ("status", "404")) == 1
    assert delta("affiliate_http_request_duration_seconds_count", route) == 4
    assert delta("affiliate_fragment_cache_lookups_total", ("result", "miss")) == 1
    assert delta("affiliate_clicks_total", ("via", "redirect"), ("widget", "how-to-watch")) == 1
    demo = ("provider", "demo")
    assert now[("affiliate_database_up",)] == 1
    assert now[("affiliate_provider_runs_total", ("outcome", "complete"), demo)] == 1
    assert now[("affiliate_provider_visible_offers", demo)] > 10
    assert now[("affiliate_provider_breaker_state", demo, ("state", "closed"))] == 1
    assert now[("affiliate_provider_breaker_state", demo, ("state", "open"))] == 0
    assert now[("affiliate_provider_healthy", demo)] == 1
    assert 0 <= now[("affiliate_provider_seconds_since_success", demo)] < 3600


def test_quota_and_provider_requests(metrics_app, db, make_settings, monkeypatch):
    """A provider with a daily quota reports what is left, read from the shared limiter."""
    import responses

    from affiliate.refresh import RefreshEngine

    app, db = metrics_app(allow_addresses=["127.0.0.1"])
    settings = make_settings(metrics={"enabled": True, "allow_addresses": ["127.0.0.1"]},
                             providers={"shop": {"type": "feed", "url": "https://feeds.example/f.json",
                                                 "daily_quota": 100}})
    app.extensions["affiliate"].apply(settings)
    engine = RefreshEngine(db, settings)
    with responses.RequestsMock() as mocked:
        mocked.get("https://feeds.example/f.json", status=429, headers={"Retry-After": "3600"})
        engine.run("shop")
    engine.close()
    scraped = samples(app.test_client().get("/metrics").text)
    shop = ("provider", "shop")
    assert scraped[("affiliate_provider_quota_left", ("period", "day"), shop)] == 99
    assert scraped[("affiliate_provider_requests_total", shop, ("result", "sent"))] >= 1
    assert scraped[("affiliate_provider_requests_total", shop, ("result", "refused"))] >= 1
    assert scraped[("affiliate_provider_runs_total", ("outcome", "failed"), shop)] == 1


def test_metrics_carry_no_secret_and_nothing_a_visitor_sent(metrics_app, make_settings, leak_watch):
    app, db = metrics_app(token=TOKEN)
    secret = "tmdb-secret-read-access-token-0123456789"
    settings = make_settings(metrics={"enabled": True, "token": TOKEN},
                             service={"redis_url": None},
                             providers={"tmdb": {"type": "tmdb", "read_access_token": secret}})
    app.extensions["affiliate"].apply(settings)
    client = app.test_client()
    client.get(LLV + "?region=US&utm_source=visitor-marker", headers={
        "User-Agent": "visitor-agent-marker", "X-Forwarded-For": "198.51.100.23"},
        environ_base={"REMOTE_ADDR": "203.0.113.99"})
    client.get("/widgets/how-to-watch/visitor-path-marker")
    body = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).text
    assert "affiliate_provider_breaker_state" in body and 'provider="tmdb"' in body
    for marker in (secret, TOKEN, "visitor", "198.51.100.23", "203.0.113.99", "tt0113627",
                   str(db.url)):
        assert marker not in body


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.skipif(shutil.which("gunicorn", path=os.path.dirname(sys.executable)) is None,
                    reason="gunicorn is not installed beside this Python")
def test_gunicorn_workers_add_up(tmp_path, database_url):
    """Every worker counts into the shared directory: whichever worker answers a scrape,
    it reports every worker's requests."""
    if not database_url.startswith("sqlite"):
        pytest.skip("one database is enough for the process test")
    port = _free_port()
    env = {**os.environ, "AFFILIATE_SERVICE__DATABASE_URL": database_url,
           "AFFILIATE_METRICS__ENABLED": "true",
           "AFFILIATE_METRICS__ALLOW_ADDRESSES": '["127.0.0.1"]'}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    affiliate = os.path.join(os.path.dirname(sys.executable), "affiliate")
    subprocess.run([affiliate, "db", "upgrade"], env=env, cwd=tmp_path, check=True,
                   capture_output=True)
    gunicorn = subprocess.Popen(
        [os.path.join(os.path.dirname(sys.executable), "gunicorn"), "-c",
         "python:affiliate.gunicorn_conf", "--workers", "2", "--bind", f"127.0.0.1:{port}",
         "affiliate.app:create_app()"], env=env, cwd=tmp_path,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if urllib.request.urlopen(base + "/readyz", timeout=2).status == 200:
                    break
            except OSError:
                time.sleep(0.1)
        else:
            pytest.fail("gunicorn did not get ready")
        for _ in range(20):
            urllib.request.urlopen(base + "/healthz", timeout=5).read()
        counts = set()
        for _ in range(6):  # each scrape may be answered by either worker
            text = urllib.request.urlopen(base + "/metrics", timeout=10).read().decode()
            counts.add(samples(text)[("affiliate_http_requests_total", ("route", "/healthz"),
                                      ("status", "200"))])
        assert counts == {20.0}
    finally:
        gunicorn.terminate()
        _, errors = gunicorn.communicate(timeout=30)
    assert b"Traceback" not in errors, errors.decode()


def test_the_scheduler_serves_its_own_metrics_under_the_same_guard(metrics_app):
    from affiliate.metrics_export import serve_scheduler_metrics

    port = _free_port()
    app, _ = metrics_app(token=TOKEN, scheduler_port=port)
    server = serve_scheduler_metrics(app.extensions["affiliate"])
    try:
        url = f"http://127.0.0.1:{port}/metrics"
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(url, timeout=10)
        assert refused.value.code == 403
        allowed = urllib.request.urlopen(urllib.request.Request(
            url, headers={"Authorization": f"Bearer {TOKEN}"}), timeout=10)
        body = allowed.read().decode()
        assert "affiliate_provider_requests_total" in body and "affiliate_database_up 1.0" in body
        assert TOKEN not in body
    finally:
        server.shutdown()
        server.server_close()
