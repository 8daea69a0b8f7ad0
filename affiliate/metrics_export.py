"""/metrics: Prometheus's text format, for whoever [metrics] lets read it.

Off by default (404). When on, a scrape must come from one of `metrics.allow_addresses` (the
connection's own address) or carry `Authorization: Bearer <metrics.token>`; anyone else gets
403. What is served: this process's counters (affiliate.metrics; every gunicorn worker's
added up in multiprocess mode), and gauges read from the database at scrape time, so they
are the same whichever process answers: provider runs by outcome, quota left, breaker
state, health, films due, visible offers and seconds since each provider's last success.

`affiliate scheduler` serves the same on `metrics.scheduler_port` (its own provider
requests; the database's gauges).
"""
from __future__ import annotations

import hmac
import ipaddress
import logging
import os
import re
import threading
import time
from functools import cache

from flask import Flask, Response, request
from sqlalchemy import func
from sqlmodel import select

from affiliate import metrics
from affiliate.config import MetricsSettings
from affiliate.delivery import keep_sessions_cookieless
from affiliate.models import Offer, RefreshRun
from affiliate.resilience import CLOSED, HALF_OPEN, OPEN
from affiliate.state import AffiliateState

log = logging.getLogger(__name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def refusal(settings: MetricsSettings, address: str | None, authorization: str | None) -> tuple[int, str] | None:
    """None when this scrape may read the metrics, else (status, why)."""
    if not settings.enabled:
        return 404, "metrics are off (metrics.enabled)\n"
    if settings.token is not None and authorization:
        scheme, _, sent = authorization.partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(
                sent.strip().encode(), settings.token.get_secret_value().encode()):
            return None
    if address and settings.allow_addresses:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            ip = None
        if ip is not None and any(ip in ipaddress.ip_network(network, strict=False)
                                  for network in settings.allow_addresses):
            return None
    return 403, ("metrics: not allowed; scrape from an address in metrics.allow_addresses or "
                 "send Authorization: Bearer <metrics.token>\n")


def exposition(affiliate: AffiliateState) -> bytes:
    """This process's counters (or every worker's) followed by the database's gauges."""
    from prometheus_client import REGISTRY, CollectorRegistry, generate_latest

    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        counters = CollectorRegistry()
        multiprocess.MultiProcessCollector(counters)
    else:
        counters = REGISTRY
    gauges = CollectorRegistry(auto_describe=False)
    gauges.register(DatabaseCollector(affiliate))
    return generate_latest(counters) + generate_latest(gauges)


def init_metrics(app: Flask) -> None:
    """The /metrics route, and when metrics are on at start-up, request counting. Who may
    scrape follows config reloads; turning metrics on or off takes a restart."""
    affiliate: AffiliateState = app.extensions["affiliate"]
    if affiliate.settings.metrics.enabled:
        metrics.enable()
        _count_requests(app)

    @app.get("/metrics", endpoint="affiliate_metrics")
    def scrape() -> Response:
        refused = refusal(affiliate.settings.metrics, request.remote_addr,
                          request.headers.get("Authorization"))
        if refused is not None:
            status, why = refused
            return Response(why, status=status, mimetype="text/plain",
                            headers={"Cache-Control": "no-store"})
        return Response(exposition(affiliate), content_type=CONTENT_TYPE,
                        headers={"Cache-Control": "no-store"})

    keep_sessions_cookieless(app, {"affiliate_metrics"})


def _count_requests(app: Flask) -> None:
    def start() -> None:
        request.environ["affiliate.started"] = time.perf_counter()

    def done(response: Response) -> Response:
        started = request.environ.get("affiliate.started")
        if started is not None:
            rule = request.url_rule
            route = route_label(rule.rule) if rule is not None else "unmatched"
            request.environ[metrics.ROUTE] = route
            metrics.request_done(route, response.status_code, time.perf_counter() - started)
        return response

    app.before_request_funcs.setdefault(None, []).insert(0, start)  # before any other
    app.after_request(done)


@cache
def route_label(rule: str) -> str:
    """A URL rule without its converters: /widgets/<widget>/<film>."""
    return _CONVERTER.sub(r"<\1>", rule)


_CONVERTER = re.compile(r"<(?:[^<>]*:)?([^<>:]+)>")


class DatabaseCollector:
    """Gauges read from what every process shares (the database, the limiter's store) when
    scraped; a database that does not answer gives affiliate_database_up 0 and no others."""

    def __init__(self, affiliate: AffiliateState):
        self.affiliate = affiliate

    def collect(self):
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        up = GaugeMetricFamily("affiliate_database_up", "1 if the database answered this scrape.")
        try:
            families = list(self._families(CounterMetricFamily, GaugeMetricFamily))
        except Exception as exc:
            log.warning("metrics: could not read the database (%s)", type(exc).__name__)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from families

    def _families(self, CounterMetricFamily, GaugeMetricFamily):
        from affiliate.health import provider_health

        affiliate = self.affiliate
        db, settings = affiliate.db, affiliate.settings
        runs = CounterMetricFamily("affiliate_provider_runs", "Provider runs (refresh chunks) "
                                   "finished, by outcome: complete, partial, quarantined, failed.",
                                   labels=["provider", "outcome"])
        offers = GaugeMetricFamily("affiliate_provider_visible_offers",
                                   "Offers each source has stored that widgets may show.",
                                   labels=["provider"])
        with db.session() as session:
            for provider, outcome, count in session.exec(
                    select(RefreshRun.provider, RefreshRun.status, func.count())
                    .where(RefreshRun.status != "running")
                    .group_by(RefreshRun.provider, RefreshRun.status)):
                runs.add_metric([provider, outcome], count)
            for source, count in session.exec(
                    select(Offer.source, func.count()).where(Offer.hidden == False)  # noqa: E712
                    .group_by(Offer.source)):
                offers.add_metric([source], count)
        yield runs
        yield offers

        quota = GaugeMetricFamily("affiliate_provider_quota_left", "Requests left in the "
                                  "provider's quota period (period label: day or month).",
                                  labels=["provider", "period"])
        breaker = GaugeMetricFamily("affiliate_provider_breaker_state", "1 for the provider's "
                                    "circuit breaker state (closed, open, half-open).",
                                    labels=["provider", "state"])
        healthy = GaugeMetricFamily("affiliate_provider_healthy", "1 if the provider is enabled "
                                    "and nothing holds it back (no pause, breaker, block, spent "
                                    "quota).", labels=["provider"])
        since = GaugeMetricFamily("affiliate_provider_seconds_since_success", "Seconds since "
                                  "the provider's last successful run (absent: never).",
                                  labels=["provider"])
        due = GaugeMetricFamily("affiliate_provider_films_due", "Films due for a refresh at an "
                                "API source.", labels=["provider"])
        engine = self._engine()
        now = engine.clock.now()
        for health in provider_health(db, settings, engine, now):
            name = health.name
            if health.quota_left is not None:
                quota.add_metric([name, health.quota_period or "day"], health.quota_left)
            for state in (CLOSED, OPEN, HALF_OPEN):
                breaker.add_metric([name, state], 1 if health.breaker_state == state else 0)
            healthy.add_metric([name], 1 if health.healthy else 0)
            if health.last_success_at is not None:
                since.add_metric([name], max(0.0, (now - health.last_success_at).total_seconds()))
            if health.films_due is not None:
                due.add_metric([name], health.films_due)
        yield from (quota, breaker, healthy, since, due)

    def _engine(self):
        """One RefreshEngine per process for reading limiter counts; it follows reloads.
        It never refreshes anything, so it holds no lease."""
        from affiliate.refresh import RefreshEngine

        affiliate = self.affiliate
        with _ENGINE_LOCK:
            engine = getattr(affiliate, "_metrics_engine", None)
            if engine is None:
                engine = affiliate._metrics_engine = RefreshEngine(affiliate.db, affiliate.settings)
                affiliate.listeners.append(engine.apply)
            return engine


_ENGINE_LOCK = threading.Lock()


def serve_scheduler_metrics(affiliate: AffiliateState):
    """`affiliate scheduler`'s /metrics on metrics.scheduler_port, in a daemon thread: the
    server (to shut down), or None when not configured."""
    settings = affiliate.settings.metrics
    if not settings.enabled or settings.scheduler_port is None:
        return None
    from wsgiref.simple_server import WSGIRequestHandler, make_server

    metrics.enable()

    def app(environ, start_response):
        headers = [("Cache-Control", "no-store")]
        if environ.get("PATH_INFO") != "/metrics":
            start_response("404 Not Found", [("Content-Type", "text/plain"), *headers])
            return [b"not found\n"]
        refused = refusal(affiliate.settings.metrics, environ.get("REMOTE_ADDR"),
                          environ.get("HTTP_AUTHORIZATION"))
        if refused is not None:
            status, why = refused
            start_response(f"{status} {'Not Found' if status == 404 else 'Forbidden'}",
                           [("Content-Type", "text/plain"), *headers])
            return [why.encode()]
        start_response("200 OK", [("Content-Type", CONTENT_TYPE), *headers])
        return [exposition(affiliate)]

    class Quiet(WSGIRequestHandler):
        def log_message(self, *args) -> None:  # scrapes are not worth a line each
            pass

    server = make_server(settings.scheduler_host, settings.scheduler_port, app,
                         handler_class=Quiet)
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()
    log.info("metrics served on http://%s:%d/metrics", settings.scheduler_host,
             settings.scheduler_port)
    return server
