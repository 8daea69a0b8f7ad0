"""The fault matrix: every registered provider type, through the cases it declares
(providers/testing.py), seeded with a good answer through the real refresh path,
then refreshed again while its source fails in each way a source fails.

Whatever the fault, no exception escapes the refresh, no stored offer or product is lost,
changed or hidden, the widgets still show what it showed, the provider's state names the
kind of failure (or none, where the adapter makes a fault a problem of one film's answer),
and no secret reaches a log record, a stored error or a widget. A documented empty answer is
a success: when it is complete it counts one miss, which hides nothing (rows hide after
`hide_after_misses` = 3 consecutive complete misses). A last test repeats the secret check
over a real socket, where urllib3 logs every request at DEBUG.
"""
from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, replace
from email.utils import format_datetime
from itertools import product
from typing import Any, Callable
from urllib.parse import urlsplit

import pytest
import requests
import responses
from responses import matchers
from sqlmodel import select

from affiliate import create_app
from affiliate.catalog import prepare, reconcile
from affiliate.limits import ProviderLimiter
from affiliate.models import Film, FilmPerson, Offer, Product, ProviderState, RefreshRun
from affiliate.refresh import run_refresh
from providers.base import ProviderResult
from providers.pacing import Pacer
from providers.testing import ProviderCase, Route
from tests.provider_cases import Uncovered, covered, every_case, first_cases
from tests.recorded import route_body
from tests.standin import Answer, StandIn

FILM = "imdb:tt0113627"
HIDE_AFTER_MISSES = 3
JSON = "application/json"
WIDGETS = ("how-to-watch", "related-products")


def add_route(mock: responses.RequestsMock, case: ProviderCase, route: Route) -> None:
    match = [matchers.query_param_matcher(dict(route.params), strict_match=False)] if route.params else []
    mock.add(route.method, route.url, body=route_body(case, route), status=route.status,
             content_type=route.content_type, match=match)


def good_body(case: ProviderCase, method: str, url: str) -> bytes:
    return next(route_body(case, route) for route in case.good if route.request == (method, url))


# --- the faults ------------------------------------------------------------------------------


def in_two_minutes() -> str:
    return format_datetime(dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=2), usegmt=True)


@dataclass(frozen=True)
class Fault:
    name: str
    answer: Callable[[bytes], dict[str, Any]] | None  # the good body -> responses.add keywords
    kind: str | None  # ProviderState.last_error_kind afterwards; None: a success


def transport(error: type[requests.RequestException], what: str) -> Callable[[bytes], dict[str, Any]]:
    """A failure before any answer; like requests' own, its text holds the full URL (keys too)."""
    return lambda good: {"callback": lambda request: error(
        f"HTTPSConnectionPool: Max retries exceeded with url: {request.url} ({what})")}


def too_many(retry_after: Callable[[], str]) -> Callable[[bytes], dict[str, Any]]:
    return lambda good: {"status": 429, "headers": {"Retry-After": retry_after()},
                         "json": {"message": "Too many requests"}}


FAULTS = (
    Fault("connect-timeout", transport(requests.ConnectTimeout, "connect timeout=15"), "transient"),
    Fault("read-timeout", transport(requests.ReadTimeout, "read timeout=15"), "transient"),
    Fault("reset", transport(requests.ConnectionError, "Connection reset by peer"), "transient"),
    Fault("500", lambda good: {"status": 500, "json": {"message": "Internal Server Error"}},
          "transient"),
    Fault("502-html", lambda good: {"status": 502, "content_type": "text/html",
                                    "body": "<html><body><h1>502 Bad Gateway</h1></body></html>"},
          "transient"),
    Fault("429-seconds", too_many(lambda: "120"), "rate_limited"),
    Fault("429-http-date", too_many(in_two_minutes), "rate_limited"),
    Fault("429-garbage", too_many(lambda: "soon"), "rate_limited"),
    Fault("truncated-json", lambda good: {"body": good[:len(good) // 2], "content_type": JSON},
          "bad_response"),
    Fault("wrong-shape", lambda good: {"json": {"error": "unexpected", "data": [1, 2, 3]}},
          "bad_response"),
    Fault("200-html", lambda good: {"content_type": "text/html",
                                    "body": "<html><body>Down for maintenance</body></html>"},
          "bad_response"),
    # Another host's answer could be anything; its request would carry the key (outbound).
    Fault("redirect-elsewhere", lambda good: {"status": 307, "headers": {
        "Location": "https://elsewhere.fault.test/moved"}}, "refused"),
    Fault("empty-answer", None, None),
)

def param(*values, case_id: str):
    return pytest.param(*values, id=case_id)


FAULT_CASES = [param(case, fault, case_id=f"{case.name}-{fault.name}")
               for case, fault in product(every_case(), FAULTS)
               if isinstance(case, Uncovered) or fault.answer is not None or case.empty is not None]
# Each type once: what a socket logs does not depend on which of its URLs fails.
SOCKET_CASES = [param(case, case_id=f"{case.name}-socket") for case in first_cases()]


# --- the test --------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def no_sleeping(monkeypatch):
    """Pacing and any backoff run instantly, and the shared rate limiter (tested on its own
    in test_limits.py) lets every request through: this test is about faults, not limits."""
    monkeypatch.setattr(Pacer, "sleep", staticmethod(lambda seconds: None))
    monkeypatch.setattr("time.sleep", lambda seconds: None)
    monkeypatch.setattr(ProviderLimiter, "acquire", lambda self: None)


@pytest.fixture
def service(make_settings):
    """The app and database, with Leaving Las Vegas stored as a site's catalog would hold it
    (and the products an operator linked to it, for a source that refreshes only those)."""

    def start(case: ProviderCase):
        settings = make_settings(providers={case.type_name: dict(case.config)},
                                 catalog={"hide_after_misses": HIDE_AFTER_MISSES},
                                 service={"demo_catalog": False})
        app = create_app(settings)
        app.config["TESTING"] = True
        db = app.extensions["affiliate"].db
        prepare(db)
        with db.session() as session:
            film = Film(title="Leaving Las Vegas", year=1995, imdb_id="tt0113627", tmdb_id=451,
                        director="Mike Figgis")
            session.add(film)
            session.flush()  # with its credits: TMDB then asks for the providers alone
            session.add(FilmPerson(film_id=film.id, name="Mike Figgis", role="director"))
        if case.linked:
            reconcile(db, case.type_name, ProviderResult(products=list(case.linked)),
                      hide_after_misses=HIDE_AFTER_MISSES)
        started.append(db)
        return app, db, settings

    started = []
    yield start
    for db in started:
        db.dispose()


def stored(db, source: str) -> tuple[list[tuple], list[tuple]]:
    """Every offer and product the source stored, as a widget or an operator would compare them."""
    with db.session() as session:
        offers = session.exec(select(Offer).where(Offer.source == source)).all()
        products = session.exec(select(Product).where(Product.source == source)).all()
    return (sorted((o.film_id, o.platform_id, o.region, o.kind, o.quality, o.price, o.currency,
                    o.link, o.hidden) for o in offers),
            sorted((p.merchant_id, p.region, p.title, p.format, p.price, p.currency, p.link,
                    p.hidden) for p in products))


def missing_counts(db, source: str) -> set[int]:
    with db.session() as session:
        return {row.missing_count for model in (Offer, Product)
                for row in session.exec(select(model).where(model.source == source))}


def widgets(app) -> str:
    """The film's widgets, offers and products."""
    pages = [app.test_client().get(f"/widgets/{name}/{FILM}?region=US") for name in WIDGETS]
    assert [page.status_code for page in pages] == [200] * len(WIDGETS)
    return "\n".join(page.text for page in pages)


def serve_fault(mock: responses.RequestsMock, case: ProviderCase, fault: Fault) -> None:
    if fault.answer is None:
        for route in case.empty:
            add_route(mock, case, route)
    else:
        for method, url in case.faulted_requests:
            answer = fault.answer(good_body(case, method, url))
            (mock.add_callback if "callback" in answer else mock.add)(method, url, **answer)
    for route in case.good:  # what the fault spares (Amazon's token) still answers
        if route.request not in case.faulted_requests:
            add_route(mock, case, route)


@pytest.mark.parametrize("case, fault", FAULT_CASES)
def test_a_failing_source_loses_hides_and_leaks_nothing(service, case, fault, caplog):
    case = covered(case)
    caplog.set_level(logging.DEBUG)
    app, db, settings = service(case)
    source = case.type_name
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        for route in case.good:
            add_route(mock, case, route)
        run_refresh(db, settings, source, FILM)
    with db.session() as session:
        seeded = session.get(ProviderState, source)
    assert seeded.last_success_at is not None and seeded.last_error_kind is None, seeded.last_error
    before, shown_before = stored(db, source), widgets(app)
    assert any(not row[-1] for rows in before for row in rows)
    assert case.shows in shown_before

    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        serve_fault(mock, case, fault)
        run_refresh(db, settings, source, FILM)  # raises nothing
        faulted = {url for _, url in case.faulted_requests}
        assert any(call.request.url.split("?")[0] in faulted for call in mock.calls)

    assert stored(db, source) == before
    assert widgets(app) == shown_before
    # A complete empty answer counts one miss (of three before anything hides); nothing else does.
    counted = 1 if fault.answer is None and case.empty_counts_a_miss else 0
    assert max(missing_counts(db, source)) == counted
    with db.session() as session:
        state = session.get(ProviderState, source)
        messages = [run.message for run in session.exec(select(RefreshRun))]
    failure = None if fault.kind in case.tolerates else case.outcomes.get(fault.name, fault.kind)
    assert state.last_error_kind == failure, state.last_error
    assert (state.consecutive_failures > 0) == (failure is not None)
    assert leaked(case, caplog, state.last_error, shown_before, *messages) == []


def leaked(case: ProviderCase, caplog, *written: str | None) -> list[str]:
    """The case's secrets found in a log record (any level) or in anything else written."""
    texts = [caplog.text, *(record.getMessage() for record in caplog.records), *written]
    return [secret for secret in case.secrets if any(secret in (text or "") for text in texts)]


def served_at(case: ProviderCase, origin: str) -> ProviderCase:
    """The case configured for, and its recordings served at, another origin."""
    own = "{0.scheme}://{0.netloc}".format(urlsplit(case.good[0].url))
    config = {key: value.replace(own, origin) if isinstance(value, str) else value
              for key, value in {**case.config, **case.local_config}.items()}
    good = tuple(replace(route, url=route.url.replace(own, origin)) for route in case.good)
    return replace(case, config=config, good=good)


@pytest.mark.parametrize("case", SOCKET_CASES)
def test_over_a_real_socket_no_secret_is_logged_even_at_debug(service, standin, case, caplog):
    """`responses` stands in for urllib3, which logs every request line at DEBUG; a real
    socket shows what an operator's debug log would hold, and requests' own errors."""
    case = covered(case)
    caplog.set_level(logging.DEBUG)
    local = served_at(case, standin.url)
    for route in local.good:
        standin.route(route.method, urlsplit(route.url).path,
                      Answer(route.status, route_body(local, route), {"Content-Type": route.content_type}),
                      when=dict(route.params))
    app, db, settings = service(local)
    run_refresh(db, settings, local.type_name, FILM)
    standin.stop()  # the source goes away: requests' own ConnectionError, naming the URL
    run_refresh(db, settings, local.type_name, FILM)

    with db.session() as session:
        state = session.get(ProviderState, local.type_name)
        messages = [run.message for run in session.exec(select(RefreshRun))]
    assert state.last_success_at is not None and state.last_error_kind == "transient"
    assert any(record.name.startswith("urllib3") for record in caplog.records)
    assert leaked(local, caplog, state.last_error, *messages) == []


@pytest.mark.parametrize("case", SOCKET_CASES)
def test_over_a_real_socket_a_redirect_to_another_host_carries_nothing_there(service, standin, case,
                                                                             caplog):
    """Every call the adapter makes answers 307 to a second local server that would answer
    well: the adapter refuses to follow, so that server never sees a request (or a key)."""
    case = covered(case)
    if case.outcomes.get("redirect-elsewhere", "refused") != "refused":
        pytest.skip(f"{case.type_name} follows redirects to other hosts by design")
    caplog.set_level(logging.DEBUG)  # urllib3's request lines pass the redacting filter
    elsewhere = StandIn().start()
    try:
        local = served_at(case, standin.url)
        for route in local.good:
            path = urlsplit(route.url).path
            standin.route(route.method, path, Answer(307, b"", {"Location": elsewhere.url + path}))
            elsewhere.route(route.method, path, Answer(route.status, route_body(local, route),
                                                       {"Content-Type": route.content_type}))
        app, db, settings = service(local)
        run_refresh(db, settings, local.type_name, FILM)
    finally:
        elsewhere.stop()
    with db.session() as session:
        state = session.get(ProviderState, local.type_name)
    assert elsewhere.requests == [] and standin.requests
    assert state.last_error_kind == "refused"
    assert f"redirected to {elsewhere.url}: another host" in state.last_error
