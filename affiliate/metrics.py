"""What a process counts for Prometheus: its requests, fragment-cache lookups, clicks and the
provider requests it sent. Gauges that describe the service as a whole (quota, breaker,
visible offers, last success) are read from the database when scraped instead
(affiliate.metrics_export), so every process reports them alike.

Counting is off until `enable()` (metrics.enabled at start-up): the functions below then
cost nothing but a check, and prometheus_client is not even imported. Under gunicorn with
PROMETHEUS_MULTIPROC_DIR set (affiliate.gunicorn_conf sets it), the counters are kept in
files every worker writes, so a scrape of any worker adds up all of them.

Labels name routes, widgets, providers and outcomes only: never a visitor's address, URL,
film or anything they sent.
"""
from __future__ import annotations

from typing import Literal

# The WSGI environ entry naming the route a request was counted under, so a request answered
# again without Flask (affiliate.answer_front) is counted under the same one.
ROUTE = "affiliate.route"
# Seconds; widget answers from the cache take a few milliseconds, renders tens of them.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class _Metrics:
    def __init__(self):
        from prometheus_client import Counter, Histogram, disable_created_metrics

        disable_created_metrics()  # the *_created series only double what a scrape holds
        self.requests = Counter("affiliate_http_requests", "HTTP requests answered, by route "
                                "(the URL rule, or 'unmatched') and status.", ["route", "status"])
        self.latency = Histogram("affiliate_http_request_duration_seconds",
                                 "Time to answer an HTTP request, by route.", ["route"],
                                 buckets=LATENCY_BUCKETS)
        self.fragments = Counter("affiliate_fragment_cache_lookups", "Rendered-widget cache "
                                 "lookups in the web processes, by result (hit or miss).",
                                 ["result"])
        self.clicks = Counter("affiliate_clicks", "Widget link clicks counted, by widget and "
                              "how (redirect or beacon).", ["widget", "via"])
        self.provider_requests = Counter(
            "affiliate_provider_requests", "Requests to providers: sent (let through by the "
            "shared limiter), held (kept back by the limiter: rate or quota spent) and refused "
            "(the source answered over its limit).", ["provider", "result"])


_metrics: _Metrics | None = None


def enable() -> None:
    """Start counting in this process (idempotent)."""
    global _metrics
    if _metrics is None:
        _metrics = _Metrics()


def enabled() -> bool:
    return _metrics is not None


def request_done(route: str, status: int, seconds: float) -> None:
    if _metrics is not None:
        _metrics.requests.labels(route, str(status)).inc()
        _metrics.latency.labels(route).observe(seconds)


def fragment_lookup(hit: bool) -> None:
    if _metrics is not None:
        _metrics.fragments.labels("hit" if hit else "miss").inc()


def click(widget: str, via: str) -> None:
    if _metrics is not None:
        _metrics.clicks.labels(widget, via).inc()


def provider_request(provider: str, result: Literal["sent", "held", "refused"]) -> None:
    if _metrics is not None:
        _metrics.provider_requests.labels(provider, result).inc()
