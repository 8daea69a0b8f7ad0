"""The fault matrix: every API adapter, seeded with a good answer through the real refresh path,
then refreshed again while its source fails in each way a source fails.

Whatever the fault, no exception escapes the refresh, no stored offer or product is lost,
changed or hidden, the widget still shows what it showed, the provider's state names the
kind of failure (or none, where the adapter makes a fault a problem of one film's answer),
and no secret reaches a log record, a stored error or a widget. A documented empty answer is
a success: when it is complete it counts one miss, which hides nothing (rows hide after
`hide_after_misses` = 3 consecutive complete misses). A last test repeats the secret check
over a real socket, where urllib3 logs every request at DEBUG.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import dataclass, field, replace
from email.utils import format_datetime
from itertools import product
from pathlib import Path
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
from providers.base import FilmKey, ProductFormat, ProductLink, ProductRecord, ProviderResult, Relation
from providers.pacing import Pacer
from tests.standin import Answer, StandIn

RECORDINGS = Path(__file__).parent / "recordings"
FILM = "imdb:tt0113627"
LLV = FilmKey(imdb_id="tt0113627")
HIDE_AFTER_MISSES = 3
JSON = "application/json"
APPLE_JSON = "text/javascript; charset=utf-8"


def recorded(name: str) -> bytes:
    return (RECORDINGS / name).read_bytes()


# --- the adapters ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    """One recorded answer at one URL (query parameters narrow it when a URL serves several)."""

    method: str
    url: str
    body: bytes
    status: int = 200
    content_type: str = JSON
    params: dict[str, str] = field(default_factory=dict)

    def add(self, mock: responses.RequestsMock) -> None:
        match = [matchers.query_param_matcher(self.params, strict_match=False)] if self.params else []
        mock.add(self.method, self.url, body=self.body, status=self.status,
                 content_type=self.content_type, match=match)


@dataclass(frozen=True)
class Adapter:
    id: str
    config: dict[str, Any]  # its [providers.<name>] table
    secrets: tuple[str, ...]
    good: tuple[Route, ...]  # what seeds the catalog
    faulted: tuple[tuple[str, str], ...]  # (method, URL) answered with the fault
    empty: tuple[Route, ...] | None  # the source's documented "nothing", at the faulted URLs
    empty_is_complete: bool  # the empty answer covers the film, so it counts one miss
    widget: str
    shows: str  # something the seeded widget must show
    linked_asins: tuple[str, ...] = ()  # Amazon refreshes only products already linked
    # A fault kind the adapter turns into a problem for the film (a partial answer, no failure).
    tolerates: tuple[str, ...] = ()

    @property
    def source(self) -> str:
        """The provider's name in the config, which stored rows carry as their source."""
        return self.config["type"]

    def good_body(self, method: str, url: str) -> bytes:
        return next(route.body for route in self.good if (route.method, route.url) == (method, url))


TMDB, TMDB_KEY = "https://tmdb.fault.test", "tmdb-v3-key-SECRET-1f2e3d"
TMDB_PROVIDERS = f"{TMDB}/3/movie/451/watch/providers"
WM, WM_KEY = "https://watchmode.fault.test", "wm-key-SECRET-9a8b7c"
WM_SEARCH, WM_SOURCES = f"{WM}/v1/search/", f"{WM}/v1/title/1266026/sources/"
SA, SA_KEY = "https://motn.fault.test", "rapidapi-key-SECRET-5e6f7a"
SA_SHOW = f"{SA}/shows/tt0113627"
APPLE = "https://itunes.fault.test"
AMZ = "https://creators.fault.test"
AMZ_TOKEN, AMZ_ITEMS = f"{AMZ}/auth/o2/token", f"{AMZ}/catalog/v1/getItems"
AMZ_ID, AMZ_SECRET = "amzn-credential-id-SECRET-42", "amzn-credential-secret-SECRET-43"
AMZ_ACCESS = json.loads(recorded("amazon/token_lwa.json"))["access_token"]
AMAZON_CONFIG = {"type": "amazon", "base_url": AMZ, "token_url": AMZ_TOKEN, "credential_id": AMZ_ID,
                 "credential_secret": AMZ_SECRET, "credential_version": "3.1",
                 "partner_tag": "filmsite-20", "discover": False}  # lookups here; searches: test_amazon
AMAZON_GOOD = (Route("POST", AMZ_TOKEN, recorded("amazon/token_lwa.json")),
               Route("POST", AMZ_ITEMS, recorded("amazon/get_items.json")))
ITUNES_GOOD = (
    Route("GET", f"{APPLE}/search", recorded("itunes/search_movie_leaving_las_vegas.json"),
          content_type=APPLE_JSON, params={"media": "movie"}),
    Route("GET", f"{APPLE}/search", recorded("itunes/search_album_leaving_las_vegas.json"),
          content_type=APPLE_JSON, params={"media": "music"}),
    Route("GET", f"{APPLE}/lookup", recorded("itunes/lookup_leaving_las_vegas.json"),
          content_type=APPLE_JSON))
ASINS = ("B00C6FBZ8S", "0802135331", "B0019X3YXQ", "B000002OUW", "B00004Z4WK")

ADAPTERS = (
    Adapter(
        "tmdb", {"type": "tmdb", "base_url": TMDB, "api_key": TMDB_KEY}, (TMDB_KEY,),
        good=(Route("GET", TMDB_PROVIDERS, recorded("tmdb/watch_providers_451.json")),),
        faulted=(("GET", TMDB_PROVIDERS),),
        empty=(Route("GET", TMDB_PROVIDERS, recorded("tmdb/watch_providers_empty.json")),),
        empty_is_complete=True, widget="how-to-watch", shows="MGM+"),
    Adapter(
        "watchmode", {"type": "watchmode", "base_url": WM, "api_key": WM_KEY}, (WM_KEY,),
        good=(Route("GET", WM_SEARCH, recorded("watchmode/search_tt0113627.json")),
              Route("GET", WM_SOURCES, recorded("watchmode/sources_1266026.json"))),
        faulted=(("GET", WM_SEARCH), ("GET", WM_SOURCES)),
        empty=(Route("GET", WM_SOURCES, b"[]"),),
        empty_is_complete=True, widget="how-to-watch", shows="Streaming availability by Watchmode"),
    Adapter(
        "streaming-availability",
        {"type": "streaming-availability", "base_url": SA, "api_key": SA_KEY}, (SA_KEY,),
        good=(Route("GET", SA_SHOW, recorded("streaming_availability/show_tt0113627_us.json")),),
        faulted=(("GET", SA_SHOW),),
        empty=(Route("GET", SA_SHOW, recorded("streaming_availability/show_tt0113627_none.json")),),
        empty_is_complete=True, widget="how-to-watch", shows="Movie of the Night"),
    Adapter(
        # A stored Apple id is looked up; an empty lookup is Apple's word it stopped selling.
        "itunes", {"type": "itunes", "base_url": APPLE, "affiliate_token": "1000lABC"}, (),
        good=ITUNES_GOOD,
        faulted=(("GET", f"{APPLE}/lookup"), ("GET", f"{APPLE}/search")),
        empty=(Route("GET", f"{APPLE}/lookup", recorded("itunes/empty.json"), content_type=APPLE_JSON),
               Route("GET", f"{APPLE}/search", recorded("itunes/empty.json"), content_type=APPLE_JSON)),
        empty_is_complete=True, widget="how-to-watch", shows="Apple TV"),
    Adapter(
        # The film's lookup answers; its soundtrack search fails. Only being rate-limited
        # stops the fetch: other failures cost the film its coverage, not its offers.
        "itunes-soundtracks", {"type": "itunes", "base_url": APPLE, "affiliate_token": "1000lABC"}, (),
        good=ITUNES_GOOD, faulted=(("GET", f"{APPLE}/search"),),
        empty=(Route("GET", f"{APPLE}/search", recorded("itunes/empty.json"), content_type=APPLE_JSON),),
        empty_is_complete=True, widget="how-to-watch", shows="Apple TV",
        tolerates=("transient", "bad_response")),
    Adapter(
        # Amazon answers a call whose every ASIN it does not know with a 404: they are gone.
        "amazon", AMAZON_CONFIG, (AMZ_ID, AMZ_SECRET, AMZ_ACCESS), good=AMAZON_GOOD,
        faulted=(("POST", AMZ_ITEMS),),
        empty=(Route("POST", AMZ_ITEMS, recorded("amazon/items_not_found.json"), status=404),),
        empty_is_complete=True, widget="related-products", shows="Leaving Las Vegas [Blu-ray]",
        linked_asins=ASINS),
    Adapter(
        "amazon-token", AMAZON_CONFIG, (AMZ_ID, AMZ_SECRET, AMZ_ACCESS), good=AMAZON_GOOD,
        faulted=(("POST", AMZ_TOKEN),), empty=None, empty_is_complete=False,
        widget="related-products", shows="Leaving Las Vegas [Blu-ray]", linked_asins=ASINS),
)


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

def case(*values, case_id: str):
    return pytest.param(*values, id=case_id)


FAULT_CASES = [case(adapter, fault, case_id=f"{adapter.id}-{fault.name}")
               for adapter, fault in product(ADAPTERS, FAULTS)
               if fault.answer is not None or adapter.empty is not None]
# Each source once: what a socket logs does not depend on which of its URLs fails.
SOCKET_CASES = [case(adapter, case_id=f"{adapter.id}-socket") for adapter in ADAPTERS
                if adapter.id == adapter.source]


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
    """The app and database, with Leaving Las Vegas stored as a site's catalog would hold it."""

    def start(adapter: Adapter):
        settings = make_settings(providers={adapter.source: adapter.config},
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
        if adapter.linked_asins:
            link_amazon_products(db, adapter.source, adapter.linked_asins)
        started.append(db)
        return app, db, settings

    started = []
    yield start
    for db in started:
        db.dispose()


def link_amazon_products(db, source: str, asins: tuple[str, ...]) -> None:
    """The film's Amazon products, as an operator's approved links leave them."""
    records = [ProductRecord(merchant="Amazon", merchant_id=asin, title=asin,
                             format=ProductFormat.MERCHANDISE, link=f"https://www.amazon.com/dp/{asin}",
                             region="US", films=(ProductLink(LLV, Relation.EDITION),))
               for asin in asins]
    reconcile(db, source, ProviderResult(products=records), hide_after_misses=HIDE_AFTER_MISSES)


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


def widget(app, adapter: Adapter) -> str:
    response = app.test_client().get(f"/widgets/{adapter.widget}/{FILM}?region=US")
    assert response.status_code == 200
    return response.text


def serve_fault(mock: responses.RequestsMock, adapter: Adapter, fault: Fault) -> None:
    if fault.answer is None:
        for route in adapter.empty:
            route.add(mock)
    else:
        for method, url in adapter.faulted:
            answer = fault.answer(adapter.good_body(method, url))
            (mock.add_callback if "callback" in answer else mock.add)(method, url, **answer)
    for route in adapter.good:  # what the fault spares (Amazon's token) still answers
        if (route.method, route.url) not in adapter.faulted:
            route.add(mock)


@pytest.mark.parametrize("adapter, fault", FAULT_CASES)
def test_a_failing_source_loses_hides_and_leaks_nothing(service, adapter, fault, caplog):
    caplog.set_level(logging.DEBUG)
    app, db, settings = service(adapter)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        for route in adapter.good:
            route.add(mock)
        run_refresh(db, settings, adapter.source, FILM)
    with db.session() as session:
        seeded = session.get(ProviderState, adapter.source)
    assert seeded.last_success_at is not None and seeded.last_error_kind is None, seeded.last_error
    before, shown_before = stored(db, adapter.source), widget(app, adapter)
    assert any(not row[-1] for rows in before for row in rows)
    assert adapter.shows in shown_before

    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        serve_fault(mock, adapter, fault)
        run_refresh(db, settings, adapter.source, FILM)  # raises nothing
        faulted = {url for _, url in adapter.faulted}
        assert any(call.request.url.split("?")[0] in faulted for call in mock.calls)

    assert stored(db, adapter.source) == before
    assert widget(app, adapter) == shown_before
    # A complete empty answer counts one miss (of three before anything hides); nothing else does.
    counted = 1 if fault.answer is None and adapter.empty_is_complete else 0
    assert max(missing_counts(db, adapter.source)) == counted
    with db.session() as session:
        state = session.get(ProviderState, adapter.source)
        messages = [run.message for run in session.exec(select(RefreshRun))]
    failure = None if fault.kind in adapter.tolerates else fault.kind
    assert state.last_error_kind == failure, state.last_error
    assert (state.consecutive_failures > 0) == (failure is not None)
    assert leaked(adapter, caplog, state.last_error, shown_before, *messages) == []


def leaked(adapter: Adapter, caplog, *written: str | None) -> list[str]:
    """The adapter's secrets found in a log record (any level) or in anything else written."""
    texts = [caplog.text, *(record.getMessage() for record in caplog.records), *written]
    return [secret for secret in adapter.secrets if any(secret in (text or "") for text in texts)]


def served_at(adapter: Adapter, origin: str) -> Adapter:
    """The adapter configured for, and its recordings served at, another origin."""
    own = "{0.scheme}://{0.netloc}".format(urlsplit(adapter.config["base_url"]))
    config = {key: value.replace(own, origin) if isinstance(value, str) else value
              for key, value in adapter.config.items()}
    good = tuple(replace(route, url=route.url.replace(own, origin)) for route in adapter.good)
    return replace(adapter, config=config, good=good)


@pytest.mark.parametrize("adapter", SOCKET_CASES)
def test_over_a_real_socket_no_secret_is_logged_even_at_debug(service, standin, adapter, caplog):
    """`responses` stands in for urllib3, which logs every request line at DEBUG; a real
    socket shows what an operator's debug log would hold, and requests' own errors."""
    caplog.set_level(logging.DEBUG)
    local = served_at(adapter, standin.url)
    for route in local.good:
        standin.route(route.method, urlsplit(route.url).path,
                      Answer(route.status, route.body, {"Content-Type": route.content_type}),
                      when=route.params)
    app, db, settings = service(local)
    run_refresh(db, settings, local.source, FILM)
    standin.stop()  # the source goes away: requests' own ConnectionError, naming the URL
    run_refresh(db, settings, local.source, FILM)

    with db.session() as session:
        state = session.get(ProviderState, local.source)
        messages = [run.message for run in session.exec(select(RefreshRun))]
    assert state.last_success_at is not None and state.last_error_kind == "transient"
    assert any(record.name.startswith("urllib3") for record in caplog.records)
    assert leaked(local, caplog, state.last_error, *messages) == []


@pytest.mark.parametrize("adapter", SOCKET_CASES)
def test_over_a_real_socket_a_redirect_to_another_host_carries_nothing_there(service, standin, adapter,
                                                                             caplog):
    """Every call the adapter makes answers 307 to a second local server that would answer
    well: the adapter refuses to follow, so that server never sees a request (or a key)."""
    caplog.set_level(logging.DEBUG)  # urllib3's request lines pass the redacting filter
    elsewhere = StandIn().start()
    try:
        local = served_at(adapter, standin.url)
        for route in local.good:
            path = urlsplit(route.url).path
            standin.route(route.method, path, Answer(307, b"", {"Location": elsewhere.url + path}))
            elsewhere.route(route.method, path, Answer(route.status, route.body,
                                                       {"Content-Type": route.content_type}))
        app, db, settings = service(local)
        run_refresh(db, settings, local.source, FILM)
    finally:
        elsewhere.stop()
    with db.session() as session:
        state = session.get(ProviderState, local.source)
    assert elsewhere.requests == [] and standin.requests
    assert state.last_error_kind == "refused"
    assert f"redirected to {elsewhere.url}: another host" in state.last_error
