"""The operator console at /admin: set-up page, login, sessions, CSRF, security headers, and
the provider, film, token and click pages, through Flask's test client."""
from __future__ import annotations

import datetime as dt
import logging
import re

import pytest
from sqlmodel import select

from affiliate.admin import auth
from affiliate.clicks import Destination, record_click
from affiliate.models import ApiToken, Film, FilmProviderState
from affiliate.refresh import run_refresh
from tests.admin_support import (
    PASSWORD,
    SECRET_KEY,
    USERNAME,
    admin_app,
    bearer,
    csrf_from,
    csrf_token,
    fast_password_hashing,
    log_in,
    post,
    shown_once,
)


@pytest.fixture(autouse=True)
def _fast_password_hashing(monkeypatch):
    fast_password_hashing(monkeypatch)


@pytest.fixture
def app(make_settings):
    app = admin_app(make_settings)
    yield app
    app.extensions["affiliate"].db.dispose()


@pytest.fixture
def db(app):
    return app.extensions["affiliate"].db


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def operator(client, db):
    """A client logged in as an operator."""
    log_in(client, db)
    return client


def console_pages(app) -> list[tuple[str, str]]:
    """(method, path) of every console route, with sample values for its arguments."""
    samples = {"name": "demo", "film": "imdb:tt0113627", "link_id": "1", "token_id": "1",
               "endpoint_id": "1", "delivery_id": "1", "row_id": "1", "filename": "admin.css"}
    pages = []
    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith("affiliate_admin.") or rule.endpoint in (
                "affiliate_admin.login", "affiliate_admin.static"):
            continue
        path = re.sub(r"<(?:[^:>]+:)?(\w+)>", lambda found: samples[found[1]], rule.rule)
        pages += [(method, path) for method in rule.methods - {"HEAD", "OPTIONS"}]
    return sorted(pages)


# --- set-up, login, sessions ----------------------------------------------------------------

def test_without_a_secret_key_the_console_says_how_to_set_one_and_the_rest_works(make_settings):
    app = admin_app(make_settings, secret_key=None)
    client = app.test_client()

    page = client.get("/admin/providers")
    login = client.post("/admin/login", data={"username": "x", "password": "y"})

    assert page.status_code == 503 and login.status_code == 503
    text = page.get_data(as_text=True)
    assert "AFFILIATE_ADMIN__SECRET_KEY" in text and "[admin]" in text
    assert page.headers["X-Frame-Options"] == "DENY"
    assert "Set-Cookie" not in page.headers
    assert client.get("/admin/static/admin.css").status_code == 200  # the set-up page's style
    assert client.get("/widgets/how-to-watch/imdb:tt0113627").status_code == 404  # no film: not a 500
    db = app.extensions["affiliate"].db
    assert client.get("/admin/api/v1/films", headers=bearer(db)).status_code == 200
    db.dispose()


def test_a_short_secret_key_stops_start_up_naming_the_key(make_settings):
    from affiliate.config import ConfigError

    with pytest.raises(ConfigError, match=r"admin\.secret_key.*at least 32"):
        make_settings(admin={"secret_key": "short"})


def test_every_console_page_and_action_needs_a_login(app, client, demo):
    pages = console_pages(app)
    assert ("POST", "/admin/films") in pages and ("GET", "/admin/clicks") in pages
    token = csrf_token(client)

    for method, path in pages:
        response = client.open(path, method=method, data={"csrf_token": token, "film": "tmdb:603",
                                                          "name": "x", "action": "hide"})
        assert response.status_code == 303, (method, path)
        assert response.headers["Location"].startswith("/admin/login?next="), (method, path)
    with demo.session() as session:
        assert session.exec(select(Film).where(Film.tmdb_id == 603)).first() is None
        assert session.exec(select(ApiToken)).first() is None


def test_logging_in_leads_to_the_page_asked_for(client, db):
    asked = client.get("/admin/films?q=vegas")
    login_page = client.get(asked.headers["Location"]).get_data(as_text=True)
    auth.create_user(db, USERNAME, PASSWORD)

    response = client.post("/admin/login", data={
        "username": USERNAME, "password": PASSWORD, "csrf_token": csrf_from(login_page),
        "next": "/admin/films?q=vegas"})

    assert response.status_code == 303 and response.headers["Location"] == "/admin/films?q=vegas"
    assert client.get("/admin/films?q=vegas").status_code == 200


@pytest.mark.parametrize("elsewhere", ["https://evil.example/", "//evil.example/admin",
                                       "/\\evil.example", "/widgets/x", "javascript:alert(1)"])
def test_a_login_never_leads_off_the_console(client, db, elsewhere):
    auth.create_user(db, USERNAME, PASSWORD)

    response = client.post("/admin/login", data={
        "username": USERNAME, "password": PASSWORD, "csrf_token": csrf_token(client),
        "next": elsewhere})

    assert response.headers["Location"] == "/admin/providers"


def test_a_wrong_password_or_unknown_user_is_refused_alike(client, db):
    auth.create_user(db, USERNAME, PASSWORD)

    wrong = client.post("/admin/login", data={"username": USERNAME, "password": "not the one",
                                              "csrf_token": csrf_token(client)})
    unknown = client.post("/admin/login", data={"username": "nobody", "password": PASSWORD,
                                                "csrf_token": csrf_token(client)})

    for response in (wrong, unknown):
        assert response.status_code == 401
        assert "Wrong username or password." in response.get_data(as_text=True)
    assert client.get("/admin/providers").status_code == 303


def test_the_session_cookie_is_http_only_same_site_and_scoped_to_the_console(client, db):
    response = log_in(client, db)

    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("affiliate_admin=")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/admin" in cookie
    assert "Secure" not in cookie


def test_secure_cookies_when_configured(make_settings):
    app = admin_app(make_settings, admin={"secure_cookie": True})
    client = app.test_client()

    response = log_in(client, app.extensions["affiliate"].db)

    assert "Secure" in response.headers["Set-Cookie"]
    app.extensions["affiliate"].db.dispose()


def test_logging_out_ends_the_session(operator):
    response = post(operator, "/admin/logout")

    assert response.status_code == 303
    assert operator.get("/admin/providers").status_code == 303


def test_a_new_password_ends_other_sessions(operator, db):
    auth.set_password(db, USERNAME, "another long password")

    assert operator.get("/admin/providers").status_code == 303


def test_passwords_are_stored_hashed_and_never_logged_or_shown(client, db, caplog):
    caplog.set_level(logging.DEBUG)
    log_in(client, db)
    pages = [client.get(path).get_data(as_text=True)
             for path in ("/admin/providers", "/admin/films", "/admin/tokens")]

    with db.session() as session:
        stored = session.exec(select(auth.AdminUser)).one().password_hash
    assert PASSWORD not in stored and stored.startswith("scrypt:")
    assert all(PASSWORD not in page for page in pages)
    assert PASSWORD not in caplog.text


# --- CSRF and headers -----------------------------------------------------------------------

@pytest.mark.parametrize("token", [None, "", "forged-token", "ü-non-ascii"])
def test_a_form_without_this_sessions_csrf_token_is_refused_and_changes_nothing(operator, db, token):
    data = {"name": "scripted"} | ({"csrf_token": token} if token is not None else {})

    response = operator.post("/admin/tokens", data=data)

    assert response.status_code == 400
    assert "CSRF token is missing or wrong" in response.get_data(as_text=True)
    with db.session() as session:
        assert session.exec(select(ApiToken)).first() is None


def test_a_token_from_another_session_is_refused(app, operator, db):
    other = app.test_client()
    foreign = csrf_token(other)

    response = operator.post("/admin/tokens", data={"name": "x", "csrf_token": foreign})

    assert response.status_code == 400


def test_the_csrf_token_may_come_as_a_header(operator, db):
    token = csrf_token(operator, "/admin/tokens")

    response = operator.post("/admin/tokens", data={"name": "from a script"},
                             headers={"X-CSRF-Token": token})

    assert response.status_code == 201


def test_the_login_form_is_csrf_checked_too(client, db):
    auth.create_user(db, USERNAME, PASSWORD)

    response = client.post("/admin/login", data={"username": USERNAME, "password": PASSWORD})

    assert response.status_code == 400
    assert client.get("/admin/providers").status_code == 303


@pytest.mark.parametrize("path", ["/admin/login", "/admin/providers", "/admin/nowhere",
                                  "/admin/static/admin.css", "/admin/api/v1/films"])
def test_every_admin_response_forbids_framing_and_caching(client, path):
    response = client.get(path)

    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Cache-Control"] == "no-store"


def test_public_pages_keep_their_own_headers(client):
    assert client.get("/").headers.get("X-Frame-Options") != "DENY"


def test_console_pages_load_nothing_from_elsewhere(operator, demo):
    for path in ("/admin/providers", "/admin/films/imdb:tt0113627", "/admin/clicks"):
        html = operator.get(path).get_data(as_text=True)
        assert "<script" not in html and " style=" not in html and "<style" not in html
        loaded = re.findall(r'(?:src="|<link[^>]*href=")([^"]+)"', html)
        assert loaded == ["/admin/static/admin.css"], loaded


# --- providers ------------------------------------------------------------------------------

def test_the_providers_page_shows_each_providers_health(operator, demo):
    html = operator.get("/admin/providers").get_data(as_text=True)

    assert ">demo</a>" in html and "feed" in html
    assert "Last success" in html and "Next run" in html and "Quota left" in html
    assert "Refresh now" in html and "closed" in html


def test_refresh_now_for_a_provider_makes_its_films_due_and_runs_it(make_settings, demo_feed_with_api):
    app, client = demo_feed_with_api
    db = app.extensions["affiliate"].db
    later = dt.datetime(2100, 1, 1, tzinfo=dt.timezone.utc)
    with db.session() as session:
        for row in session.exec(select(FilmProviderState)):
            row.due_at = later
            session.add(row)

    response = post(client, "/admin/providers/apple/refresh")

    assert response.status_code == 303
    follow = client.get("/admin/providers").get_data(as_text=True)
    assert "films made due now" in follow and "Refresh of apple started" in follow
    with db.session() as session:
        assert all(row.due_at < later for row in session.exec(select(FilmProviderState)))


@pytest.fixture
def demo_feed_with_api(make_settings, responses_off):
    """The demo feed plus an Apple (iTunes) provider whose every call fails fast: enough to
    see a provider's films made due and its run recorded."""
    app = admin_app(make_settings, providers={
        "demo": {"type": "feed", "url": "builtin:demo"},
        "apple": {"type": "itunes", "base_url": "http://127.0.0.1:9", "regions": ["US"]},
    })
    db = app.extensions["affiliate"].db
    run_refresh(db, app.extensions["affiliate"].settings, "demo")
    from affiliate.due import ensure_rows
    ensure_rows(db, "apple", dt.datetime.now(dt.timezone.utc))
    client = app.test_client()
    log_in(client, db)
    yield app, client
    db.dispose()


@pytest.fixture
def responses_off():
    """No real network: every request fails as a connection error."""
    import responses

    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        yield mocked


def test_an_unknown_provider_is_a_404_naming_the_configured_ones(operator):
    for response in (operator.get("/admin/providers/nope"),
                     post(operator, "/admin/providers/nope/refresh")):
        assert response.status_code == 404
        assert "no provider named &#39;nope&#39; (configured: demo)" in response.get_data(as_text=True)


def test_a_provider_without_credentials_says_so(operator):
    html = operator.get("/admin/providers/demo").get_data(as_text=True)

    assert "This provider needs no credentials." in html


# --- films ----------------------------------------------------------------------------------

def test_films_are_found_by_title_or_id(operator, demo):
    by_title = operator.get("/admin/films?q=VEGAS").get_data(as_text=True)
    by_id = operator.get("/admin/films?q=imdb:tt0113627").get_data(as_text=True)
    nothing = operator.get("/admin/films?q=Casablanca").get_data(as_text=True)

    assert "Leaving Las Vegas" in by_title and "Fear and Loathing in Las Vegas" in by_title
    assert "Requiem" not in by_title
    assert "Leaving Las Vegas" in by_id and "Fear and Loathing" not in by_id
    assert "No films match" in nothing


def test_a_film_page_shows_every_offer_with_its_source(operator, demo):
    html = operator.get("/admin/films/imdb:tt0113627").get_data(as_text=True)

    assert "Leaving Las Vegas (1995)" in html
    assert "Apple TV" in html and "Vudu" in html and '<td data-label="Source">demo</td>' in html
    # Prices as the widget writes them, not "2.99 USD".
    assert '<td data-label="Price" class="price">$2.99</td>' in html and " USD" not in html
    assert "Shown in the widget" in html and "Nicolas Cage: 5-Film Collection" in html


def test_adding_a_film_by_id_creates_it_and_refreshes_it(operator, demo):
    response = post(operator, "/admin/films", {"film": "tmdb:603"}, page="/admin/films")

    assert response.status_code == 303 and response.headers["Location"] == "/admin/films/tmdb:603"
    html = operator.get("/admin/films/tmdb:603").get_data(as_text=True)
    assert "tmdb:603 (title not known yet)" in html
    assert "Added tmdb:603. demo: complete" in html
    with demo.session() as session:
        film = session.exec(select(Film).where(Film.tmdb_id == 603)).one()
    assert film.title == ""


def test_adding_a_film_that_exists_changes_nothing(operator, demo):
    response = post(operator, "/admin/films", {"film": "imdb:tt0113627"}, page="/admin/films")

    assert response.headers["Location"] == "/admin/films/imdb:tt0113627"
    assert "is in the catalog already" in operator.get(response.headers["Location"]).get_data(as_text=True)


@pytest.mark.parametrize("ref, reason", [
    ("tt0113627", "is not a film reference"),
    ("imdb:0113627", "an IMDb id looks like imdb:tt0113627"),
    ("17", "add a film by its TMDB or IMDb id"),
])
def test_adding_a_film_by_a_bad_reference_is_a_400_with_the_reason(operator, demo, ref, reason):
    response = post(operator, "/admin/films", {"film": ref}, page="/admin/films")

    assert response.status_code == 400
    assert reason in response.get_data(as_text=True)


def test_refresh_now_for_a_film_runs_at_once_and_reports(operator, demo):
    response = post(operator, "/admin/films/imdb:tt0113627/refresh")

    assert response.status_code == 303
    assert "demo: complete." in operator.get("/admin/films/imdb:tt0113627").get_data(as_text=True)


def test_an_unknown_film_is_a_404(operator, demo):
    assert operator.get("/admin/films/tmdb:999999").status_code == 404
    assert post(operator, "/admin/films/tmdb:999999/refresh").status_code == 404


# --- tokens and clicks ----------------------------------------------------------------------

def test_a_token_is_shown_once_and_works_until_revoked(operator, db, caplog, leak_watch):
    caplog.set_level(logging.DEBUG)
    created = post(operator, "/admin/tokens", {"name": "deploy script"}, page="/admin/tokens")
    html = created.get_data(as_text=True)
    secret = html.split('id="new-token">')[1].split("<")[0]
    shown_once(leak_watch, secret)
    headers = {"Authorization": f"Bearer {secret}"}

    assert created.status_code == 201 and secret.startswith("aff_")
    assert secret not in operator.get("/admin/tokens").get_data(as_text=True)
    assert secret not in created.headers.get("Set-Cookie", "")
    assert operator.get("/admin/api/v1/films", headers=headers).status_code == 200
    with db.session() as session:
        token = session.exec(select(ApiToken)).one()
    assert token.token_hash != secret and secret not in token.token_hash

    assert post(operator, f"/admin/tokens/{token.id}/revoke", page="/admin/tokens").status_code == 303
    assert operator.get("/admin/api/v1/films", headers=headers).status_code == 401
    assert secret not in caplog.text


def test_a_token_needs_a_name(operator, db):
    response = post(operator, "/admin/tokens", {"name": " "}, page="/admin/tokens")

    assert response.status_code == 400 and "name the token" in response.get_data(as_text=True)


def test_the_click_report_draws_charts_with_their_numbers_in_tables(operator, demo):
    today = dt.datetime.now(dt.timezone.utc)
    with demo.session() as session:
        film = session.exec(select(Film).where(Film.imdb_id == "tt0113627")).one()
    for name, region in (("Apple TV", "US"), ("Apple TV", "US"), ("Vudu", "GB")):
        record_click(demo, Destination(target="o1", url="https://example.com", direct=False,
                                       film_id=film.id, offer_id=None, product_id=None, name=name,
                                       region=region, kind="rent", widget="how-to-watch"),
                     "redirect", today)

    html = operator.get("/admin/clicks").get_data(as_text=True)

    assert "3 clicks from" in html
    assert html.count('<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img"') == 3
    assert "Clicks per day by platform" in html and "Clicks per day by region" in html
    assert f"<title>{today.date()}: Apple TV 2</title>" in html  # the bar's tooltip
    assert "<th scope=\"row\">Leaving Las Vegas (1995)</th><td>3</td>" in html


@pytest.mark.parametrize("query, reason", [
    ("since=yesterday", "since: &#39;yesterday&#39; is not a date"),
    ("since=2026-03-10&until=2026-03-01", "is after until"),
    ("since=2020-01-01&until=2026-01-01", "at most 366 days"),
])
def test_a_bad_report_period_is_a_400_with_the_reason(operator, query, reason):
    response = operator.get(f"/admin/clicks?{query}")

    assert response.status_code == 400 and reason in response.get_data(as_text=True)


def test_the_secret_key_never_reaches_a_page(operator, demo):
    for path in ("/admin/providers", "/admin/films", "/admin/tokens", "/admin/clicks"):
        assert SECRET_KEY not in operator.get(path).get_data(as_text=True)
