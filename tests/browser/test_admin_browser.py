"""The operator console in a real browser (Debian's Chromium): log in, enter credentials for a
TMDB provider pointed at a stand-in server, test the connection, refresh a film now and see
its How to Watch widget change."""
from __future__ import annotations


import pytest
from sqlmodel import select

from affiliate import credentials
from affiliate.admin import auth
from affiliate.refresh import run_refresh
from tests.admin_support import PASSWORD, USERNAME, admin_app, fast_password_hashing
from tests.recorded import recorded
from tests.standin import Answer, StandIn

FILM = "tmdb:451"
GOOD_TOKEN = "tmdb-read-access-token-for-the-stand-in"


@pytest.fixture(autouse=True)
def _fast_password_hashing(monkeypatch):
    fast_password_hashing(monkeypatch)


class TmdbStandIn(StandIn):
    """TMDB's documented answers, given only to requests bearing GOOD_TOKEN; any other
    request gets TMDB's 401 "Invalid API key" body, as TMDB answers a wrong token."""

    def answer_for(self, request):
        if request.headers.get("Authorization") != f"Bearer {GOOD_TOKEN}":
            return Answer(401, recorded("tmdb/error_401.json"))
        return super().answer_for(request)


@pytest.fixture
def tmdb():
    server = TmdbStandIn()
    server.route("GET", "/3/authentication",
                 Answer(200, b'{"success": true, "status_code": 1, "status_message": "Success."}'))
    server.route("GET", "/3/movie/451/watch/providers",
                 Answer(200, recorded("tmdb/watch_providers_451.json")))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def console(make_settings, serve_app, tmdb, monkeypatch):
    """The service with the demo catalog and a TMDB provider that has no credentials yet,
    served on a real socket; an operator account exists."""
    monkeypatch.setenv(credentials.KEY_VARIABLE, credentials.generate_key())
    app = admin_app(make_settings, providers={
        "demo": {"type": "feed", "url": "builtin:demo"},
        "tmdb": {"type": "tmdb", "base_url": tmdb.url, "regions": ["US"]},
    # Read the film's revision on every request: by default a web process trusts it for 2 s,
    # and on a quick run the visitor after the refresh came within 2 s of the one before.
    }, http={"revision_check_seconds": 0})
    db = app.extensions["affiliate"].db
    assert [r.status for r in run_refresh(db, app.extensions["affiliate"].settings, "demo")] == ["complete"]
    auth.create_user(db, USERNAME, PASSWORD)
    yield serve_app(app)
    db.dispose()


@pytest.fixture
def visitor(browser):
    """`visitor(url) -> page`: the URL in a new visitor's browser, with a cache of its own
    (widgets may be cached for minutes, so the operator's tab would show the old one)."""
    contexts = []

    def visit(url: str):
        contexts.append(browser.new_context())
        shown = contexts[-1].new_page()
        shown.goto(url)
        return shown

    yield visit
    for context in contexts:
        context.close()


def test_an_operator_sets_credentials_tests_them_and_refreshes_a_film(page, visitor, console, tmdb,
                                                                      screenshot):
    widget = f"{console}/widgets/how-to-watch/{FILM}?region=US"
    before = visitor(widget)
    assert before.get_by_role("heading", name="How to watch Leaving Las Vegas (1995)").count() == 1
    assert before.get_by_text("Peacock").count() == 0

    page.goto(f"{console}/admin/")
    page.get_by_label("Username").fill(USERNAME)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("heading", name="Providers").wait_for()
    tmdb_row = page.get_by_role("row").filter(has=page.get_by_role("link", name="tmdb", exact=True))
    assert "missing" in tmdb_row.get_by_role("cell").nth(1).inner_text()

    tmdb_row.get_by_role("link", name="tmdb", exact=True).click()
    page.get_by_label("Read access token").fill(GOOD_TOKEN)
    page.get_by_role("button", name="Save and test").click()
    page.get_by_text("Saved. TMDB accepted the read access token").wait_for()
    assert GOOD_TOKEN not in page.content()
    page.get_by_role("button", name="Test connection").click()
    page.get_by_text("Connection works: TMDB accepted the read access token").wait_for()
    screenshot(page, "admin-provider-credentials")

    page.get_by_role("link", name="Films").click()
    page.get_by_label("Search by title").fill(FILM)
    page.get_by_role("button", name="Search").click()
    page.get_by_role("link", name="Leaving Las Vegas").click()
    page.get_by_role("button", name="Refresh now").click()
    page.get_by_text("tmdb: complete.").wait_for()
    assert page.get_by_role("cell", name="tmdb", exact=True).count() > 0  # offers with their source
    screenshot(page, "admin-film")

    after = visitor(widget)
    assert after.get_by_role("link", name="Stream Leaving Las Vegas on Peacock").count() == 1
    screenshot(after, "admin-widget-after-refresh")
    assert any(request.path == "/3/movie/451/watch/providers" for request in tmdb.requests)


@pytest.fixture
def hundred_candidates(make_settings, serve_app):
    """The service with 100 scored candidate links over 20 films, served on a real socket."""
    from decimal import Decimal

    from affiliate.catalog import reconcile
    from affiliate.models import FilmProduct
    from providers.base import (FilmKey, FilmRecord, ProductFormat, ProductLink, ProductRecord,
                                ProviderResult, Relation)

    app = admin_app(make_settings)
    db = app.extensions["affiliate"].db
    films = [FilmRecord(FilmKey(imdb_id=f"tt{n:07d}"), f"Film {n}", 1990 + n, imdb_id=f"tt{n:07d}")
             for n in range(1, 21)]
    products = [ProductRecord("Amazon", f"B{n:09d}", f"{films[n % 20].title} [DVD] edition {n}",
                              ProductFormat.DVD, f"https://www.amazon.com/dp/B{n:09d}", "US",
                              price=Decimal("9.99"), currency="USD",
                              films=(ProductLink(films[n % 20].key, Relation.EDITION, candidate=True),))
                for n in range(100)]
    reconcile(db, "amazon", ProviderResult(films=films, products=products), 3)
    with db.session() as session:
        for index, link in enumerate(session.exec(select(FilmProduct)).all()):
            link.match_score, link.match_reasons = round(0.3 + index / 200, 3), '["title agrees"]'
            session.add(link)
    auth.create_user(db, USERNAME, PASSWORD)
    yield serve_app(app), db
    db.dispose()


def test_an_operator_reviews_a_hundred_candidates_on_one_page_by_keyboard(page, hundred_candidates):
    from affiliate import review_queue

    url, db = hundred_candidates
    page.goto(f"{url}/admin/review")
    page.get_by_label("Username").fill(USERNAME)
    page.get_by_label("Password").fill(PASSWORD)
    page.keyboard.press("Enter")
    page.get_by_role("heading", name="Review product links").wait_for()
    assert page.get_by_role("checkbox").count() == 100

    for key in "jxjxjx":  # the three best: tick each, then approve them with one key
        page.keyboard.press(key)
    page.keyboard.press("a")
    page.get_by_text("Approved 3 product links.").wait_for()

    page.get_by_label("to", exact=True).fill("0.5")
    page.get_by_role("button", name="Filter").click()
    page.get_by_role("button", name="Reject all 41").click()
    page.get_by_text("Rejected 41 product links.").wait_for()

    counts = {status: review_queue.listing(db, review_queue.ReviewFilter(status=status)).total
              for status in ("approved", "rejected", "candidate")}
    assert counts == {"approved": 3, "rejected": 41, "candidate": 56}
    best = review_queue.listing(db, review_queue.ReviewFilter(status="approved")).candidates
    assert [row.score for row in best] == [0.795, 0.79, 0.785]


def test_a_copied_console_cookie_dies_with_logout_in_another_web_process(browser, page, context,
                                                                         make_settings, serve_app):
    """Two web processes on one database: the operator logs in on the first, a copy of the
    cookie works on the second until the operator logs out, then not even there."""
    first, second = admin_app(make_settings), admin_app(make_settings)
    auth.create_user(first.extensions["affiliate"].db, USERNAME, PASSWORD)
    one, two = serve_app(first), serve_app(second)
    page.goto(f"{one}/admin/login")
    page.get_by_label("Username").fill(USERNAME)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("heading", name="Providers").wait_for()
    page.get_by_role("link", name="Sessions").click()
    assert "Chrome on Linux" in page.get_by_role("row").nth(1).inner_text()

    cookie = next(c for c in context.cookies() if c["name"] == "affiliate_admin")
    thief = browser.new_context()
    thief.add_cookies([{"name": cookie["name"], "value": cookie["value"], "url": f"{two}/admin/"}])
    stolen = thief.new_page()
    stolen.goto(f"{two}/admin/providers")
    assert stolen.get_by_role("heading", name="Providers").count() == 1

    page.get_by_role("button", name="Log out").click()
    page.get_by_text("Logged out.").wait_for()
    stolen.goto(f"{two}/admin/providers")

    assert stolen.get_by_role("heading", name="Log in").count() == 1
    thief.close()
    for app in (first, second):
        app.extensions["affiliate"].db.dispose()
