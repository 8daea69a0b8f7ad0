"""Caching: ETags and 304s, Cache-Control, the rendered-widget LRU keyed by the film's
revision, what a cached answer costs in SQL, view counting, and no cookies on public answers."""
from __future__ import annotations

import datetime as dt
import gc
import random
import string

import pytest
from flask import session
from flask.sessions import SecureCookieSessionInterface
from sqlmodel import select

from affiliate import blueprint, create_app, revisions, static_files
from affiliate.answer_memo import Answer, AnswerMemo
from affiliate.cache import FragmentCache, Rendered, RenderKey
from affiliate.film_memo import FilmMemo
from affiliate.film_rows import FilmRow
from affiliate.models import Film, FilmView, Offer
from affiliate.view_counts import ViewCounter
from providers.base import FilmKey
from tests.clock import START

LLV = "imdb:tt0113627"
FRAGMENT = f"/widgets/how-to-watch/{LLV}?region=US"
PUBLIC_URLS = [
    FRAGMENT,
    f"/widgets/related-products/{LLV}?region=US",
    f"/widgets/how-to-watch/{LLV}/frame?region=US",
    f"/api/v1/films/{LLV}/offers?region=US",
    f"/api/v1/films/{LLV}/products?region=US&locale=en_US",
]
CACHE_CONTROL = "public, max-age=300, s-maxage=3600, stale-while-revalidate=86400"


def film_id(db) -> int:
    with db.session() as session:
        return session.exec(select(Film.id).where(Film.imdb_id == "tt0113627")).one()


def views(db) -> int:
    with db.session() as session:
        return sum(row.views for row in session.exec(select(FilmView)))


@pytest.mark.parametrize("url", PUBLIC_URLS)
def test_a_current_etag_gets_a_304_with_the_same_headers(client, demo, url):
    first = client.get(url)
    assert first.status_code == 200
    etag = first.headers["ETag"]
    assert etag.startswith('W/"') and first.headers["Cache-Control"] == CACHE_CONTROL

    again = client.get(url, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.data == b""
    for header in ("ETag", "Cache-Control", "Vary", "Access-Control-Allow-Origin"):
        assert again.headers.get(header) == first.headers.get(header), header
    assert client.get(url, headers={"If-None-Match": 'W/"other"'}).status_code == 200
    # A cache that holds several renderings sends them all.
    assert client.get(url, headers={"If-None-Match": f'W/"other", {etag}'}).status_code == 304


def test_etags_differ_by_region_locale_widget_and_mode(client, demo):
    urls = [FRAGMENT, f"/widgets/how-to-watch/{LLV}?region=GB",
            f"/widgets/how-to-watch/{LLV}?region=US&locale=en_GB",
            f"/widgets/related-products/{LLV}?region=US",
            f"/widgets/how-to-watch/{LLV}/frame?region=US",
            f"/api/v1/films/{LLV}/offers?region=US",
            f"/api/v1/films/{LLV}/offers?region=US&kind=rent"]
    etags = {client.get(url).headers["ETag"] for url in urls}
    assert len(etags) == len(urls)
    # Every way of naming the film is the same film.
    assert client.get("/widgets/how-to-watch/tmdb:451?region=US").headers["ETag"] in etags


def test_a_change_to_the_film_raises_its_revision_and_renews_etag_and_content(
        client, demo, memo_clock):
    first = client.get(FRAGMENT)
    assert "Vudu" in first.text
    with demo.session() as session:
        for offer in session.exec(select(Offer).where(Offer.film_id == film_id(demo))):
            if offer.region == "US" and "vudu" in offer.link:
                offer.hidden = True
                session.add(offer)
        revisions.bump(session, [film_id(demo)])

    # The process trusts the revision it read for http.revision_check_seconds (2).
    memo_clock[0] += 1.9
    assert client.get(FRAGMENT, headers={"If-None-Match": first.headers["ETag"]}).status_code == 304
    memo_clock[0] += 0.1
    after = client.get(FRAGMENT, headers={"If-None-Match": first.headers["ETag"]})
    assert after.status_code == 200
    assert after.headers["ETag"] != first.headers["ETag"]
    assert "Vudu" not in after.text


def test_the_same_rendering_has_the_same_etag_in_every_process(make_settings, demo, settings):
    """Two apps (as two gunicorn workers) name the same content alike, so a CDN's ETag
    from one worker gets a 304 from another."""
    other = create_app(settings)
    try:
        first = other.test_client().get(FRAGMENT)
    finally:
        other.extensions["affiliate"].db.dispose()
    ours = create_app(settings)
    try:
        assert ours.test_client().get(
            FRAGMENT, headers={"If-None-Match": first.headers["ETag"]}).status_code == 304
    finally:
        ours.extensions["affiliate"].db.dispose()


def test_settings_that_change_the_rendering_change_the_etag(make_settings, demo):
    etags = []
    for tags in ([], [{"host": "amazon.com", "params": {"tag": "site-20"}}]):
        app = create_app(make_settings(link_tags=tags))
        try:
            etags.append(app.test_client().get(FRAGMENT).headers["ETag"])
        finally:
            app.extensions["affiliate"].db.dispose()
    assert etags[0] != etags[1]


def test_cache_lifetimes_come_from_the_settings(make_settings, demo):
    app = create_app(make_settings(http={"max_age": 60, "s_maxage": 600,
                                         "stale_while_revalidate": 30}))
    try:
        response = app.test_client().get(FRAGMENT)
        assert response.headers["Cache-Control"] == (
            "public, max-age=60, s-maxage=600, stale-while-revalidate=30")
    finally:
        app.extensions["affiliate"].db.dispose()


def test_content_that_the_clock_outdates_is_cached_only_until_then(client, demo, expiring):
    """A view whose content changes at `fresh_until` (a price reaching its age limit) is
    kept by no cache past that moment, nor served stale."""
    cache_control = client.get(FRAGMENT).headers["Cache-Control"]
    max_age = int(cache_control.split("max-age=")[1].split(",")[0])
    assert 0 < max_age <= 90 and f"s-maxage={max_age}" in cache_control
    assert "stale-while-revalidate" not in cache_control


# --- What a cached answer costs -----------------------------------------------------------

@pytest.mark.parametrize("url", [FRAGMENT, f"/widgets/related-products/{LLV}?region=US"])
def test_a_cache_hit_and_a_304_run_no_sql(client, demo, statements, url):
    etag = client.get(url).headers["ETag"]

    statements.clear()
    assert client.get(url).status_code == 200
    assert client.get(url, headers={"If-None-Match": etag}).status_code == 304
    assert statements == []


def test_with_no_revision_memo_a_304_reads_the_film_once(make_settings, demo, statements):
    app = create_app(make_settings(http={"revision_check_seconds": 0}))
    try:
        client = app.test_client()
        etag = client.get(FRAGMENT).headers["ETag"]
        statements.clear()
        assert client.get(FRAGMENT, headers={"If-None-Match": etag}).status_code == 304
        assert len(statements) == 1 and statements[0].lstrip().startswith("SELECT"), statements
    finally:
        app.extensions["affiliate"].db.dispose()


def test_a_304_is_a_view_and_a_head_is_not(client, demo, statements):
    etag = client.get(FRAGMENT).headers["ETag"]
    client.get(FRAGMENT, headers={"If-None-Match": etag})
    client.get(f"/widgets/how-to-watch/{LLV}/frame?region=US")
    client.head(FRAGMENT)
    client.get(f"/api/v1/films/{LLV}/offers")  # the API is data, not a page view
    assert not any("film_view" in statement for statement in statements)  # none written yet

    assert client.application.extensions["affiliate"].views.flush() == 3
    assert views(demo) == 3


def test_buffered_views_add_to_the_stored_counts_per_film_and_day(demo):
    counter = ViewCounter(demo)
    film = film_id(demo)
    for moment in (START, START, START + dt.timedelta(days=1)):
        counter.add(film, moment)
    assert counter.flush() == 3 and counter.flush() == 0
    counter.add(film, START)
    assert counter.flush() == 1
    with demo.session() as session:
        stored = {row.day: row.views for row in session.exec(select(FilmView))}
    assert stored == {START.date(): 3, START.date() + dt.timedelta(days=1): 1}


def test_the_film_memo_keeps_rows_for_its_seconds_and_at_most_its_size():
    clock = [0.0]
    memo = FilmMemo(2, size=2, clock=lambda: clock[0])
    loads: list[str] = []

    def load(ref):
        def run():
            loads.append(ref)
            return film_row(len(loads), ref)
        return run

    first = memo.get(FilmKey.parse("1"), load("1"))
    assert memo.get(FilmKey.parse("1"), load("1")) == first
    clock[0] = 2.0
    assert memo.get(FilmKey.parse("1"), load("1")) != first
    memo.get(FilmKey.parse("2"), load("2"))
    memo.get(FilmKey.parse("3"), load("3"))  # pushes out "1", the least recently used
    memo.get(FilmKey.parse("1"), load("1"))
    assert loads == ["1", "1", "2", "3", "1"] and len(memo) == 2
    assert memo.get(FilmKey.parse("4"), lambda: None) is None and len(memo) == 2


def test_the_film_memo_keeps_nothing_the_garbage_collector_scans():
    """Plain tuples of plain values: a full collection takes no longer for a full memo."""
    memo = FilmMemo(2, size=10, clock=lambda: 0.0)
    for number in range(1, 6):
        memo.get(FilmKey(internal_id=number), lambda number=number: film_row(number, "Film"))
    memo.get(FilmKey(tmdb_id=99), lambda: film_row(1, "Film"))  # film 1 by a second name
    for _ in range(2):  # a tuple is untracked once what it holds is: the inner ones first
        gc.collect()
    kept = [*memo._rows.items(), *memo._keys_of.items()]
    assert len(kept) == 6 + 5 and len(memo._keys_of[1]) == 2
    assert not any(gc.is_tracked(part) for pair in kept for part in pair)


def test_a_gunicorn_worker_freezes_what_loading_the_app_made():
    """Full collections then scan only what serving made (affiliate.long_lived.settle)."""
    from affiliate import gunicorn_conf

    try:
        gc.unfreeze()
        gunicorn_conf.post_worker_init(worker=None)
        assert gc.get_freeze_count() > 1000
    finally:
        gc.unfreeze()


def film_row(film_id: int, title: str, revision: int = 1) -> FilmRow:
    return FilmRow(film_id, revision, title, None, None, None, START)


# --- Static files (affiliate.static_files) ---------------------------------------------------

def test_the_widgets_link_static_files_by_versioned_urls_kept_for_a_year(client, demo):
    version = static_files.version()
    fragment = client.get(FRAGMENT).text
    frame = client.get(f"/widgets/how-to-watch/{LLV}/frame?region=US").text
    assert f"/affiliate/static/widgets.css?v={version}" in fragment
    for name in ("widgets.css", "frame.js", "beacon.js"):
        assert f"/affiliate/static/{name}?v={version}" in frame, name
    response = client.get(f"/affiliate/static/widgets.css?v={version}")
    assert response.status_code == 200 and b"--aff-" in response.data
    assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert "Set-Cookie" not in response.headers


def test_static_files_asked_for_by_bare_or_outdated_urls_are_kept_briefly(make_settings, demo):
    app = create_app(make_settings(http={"static_max_age": 120}))
    try:
        client = app.test_client()
        for url in ("/affiliate/static/embed.js", "/affiliate/static/embed.js?v=0ld"):
            response = client.get(url)
            assert response.status_code == 200, url
            assert response.headers["Cache-Control"] == "public, max-age=120", url
        again = client.get("/affiliate/static/embed.js",
                           headers={"If-None-Match": response.headers["ETag"]})
        assert again.status_code == 304
        assert again.headers["Cache-Control"] == "public, max-age=120"
        assert client.get("/affiliate/static/missing.js").status_code == 404
    finally:
        app.extensions["affiliate"].db.dispose()


def test_the_static_version_changes_with_any_static_file(monkeypatch, tmp_path):
    (tmp_path / "embed.js").write_text("one")
    monkeypatch.setattr(static_files, "STATIC_FOLDER", tmp_path)
    static_files.version.cache_clear()
    try:
        first = static_files.version()
        (tmp_path / "embed.js").write_text("two")
        static_files.version.cache_clear()
        assert static_files.version() != first
    finally:
        static_files.version.cache_clear()


# --- The answer memo (affiliate.answer_memo) --------------------------------------------------

def test_a_repeated_request_is_answered_without_negotiating_or_rendering_again(
        client, demo, monkeypatch):
    first = client.get(FRAGMENT)

    def unexpected(*args):
        raise AssertionError("the memo should have answered")

    monkeypatch.setattr(blueprint, "_negotiate", unexpected)
    monkeypatch.setattr(blueprint, "_rendered", unexpected)
    again = client.get(FRAGMENT)
    assert again.status_code == 200 and again.data == first.data
    assert again.headers == first.headers
    assert client.get(FRAGMENT, headers={"If-None-Match": first.headers["ETag"]}).status_code == 304
    with pytest.raises(AssertionError):  # a request that differs is negotiated
        client.get(FRAGMENT + "&locale=de_DE")


def test_requests_that_differ_in_what_decides_the_answer_get_answers_of_their_own(
        make_settings, demo):
    app = create_app(make_settings(http={"country_header": "X-Country-Code"}))
    try:
        client = app.test_client()
        url = f"/widgets/how-to-watch/{LLV}"
        asked = {
            "us": ({"X-Country-Code": "US", "Accept-Language": "en-US"}, "http://localhost/"),
            "gb": ({"X-Country-Code": "GB", "Accept-Language": "en-US"}, "http://localhost/"),
            "de": ({"X-Country-Code": "US", "Accept-Language": "de-DE"}, "http://localhost/"),
            "host": ({"X-Country-Code": "US", "Accept-Language": "en-US"}, "https://films.example/"),
        }
        answers = {name: client.get(url, headers=headers, base_url=base).text
                   for name, (headers, base) in asked.items()}
        assert "$3.99" in answers["us"] and "£" in answers["gb"]
        assert 'lang="de"' in answers["de"] and 'lang="en"' in answers["us"]
        assert "https://films.example/go/" in answers["host"]
        assert "http://localhost/go/" in answers["us"]
        for name, (headers, base) in asked.items():  # asked again: each from the memo
            assert client.get(url, headers=headers, base_url=base).text == answers[name], name
        assert len(app.extensions["affiliate"].answers) == len(asked)
    finally:
        app.extensions["affiliate"].db.dispose()


def test_with_no_answer_memo_no_answer_is_kept(make_settings, demo):
    app = create_app(make_settings(http={"answer_memo_megabytes": 0}))
    try:
        client = app.test_client()
        assert client.get(FRAGMENT).data == client.get(FRAGMENT).data
        assert len(app.extensions["affiliate"].answers) == 0
    finally:
        app.extensions["affiliate"].db.dispose()


def noise(length: int) -> str:
    """Text zlib cannot shrink below ~3/4 of its length, with a character outside Latin-1."""
    rng = random.Random(length)
    return "€" + "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(length))


def test_the_answer_memo_keeps_answers_while_their_film_row_is_trusted_and_within_its_budget():
    clock = [0.0]
    films = FilmMemo(2, clock=lambda: clock[0])
    content = noise(5000)  # ~3.8 kB compressed
    memo = AnswerMemo(0.013, "CF-IPCountry", films)  # 13 000 bytes: two answers of ~5 kB
    rendered = Rendered(content, "etag", None)
    environ = {"PATH_INFO": "/widgets/how-to-watch/451", "QUERY_STRING": "",
               "HTTP_HOST": "a.example", "wsgi.url_scheme": "https"}
    keys = [memo.key({**environ, "HTTP_CF_IPCOUNTRY": country}) for country in "ABC"]
    assert len(set(keys)) == 3  # the configured country header is part of the key
    film = FilmKey(tmdb_id=451)
    row = films.get(film, lambda: film_row(1, "LLV"))
    memo.put(keys[0], Answer(1, rendered, ()), film, row)
    clock[0] = 1.9
    assert memo.get(keys[0]) == Answer(1, rendered, ())
    clock[0] = 2.0  # the row is no longer trusted: neither is the answer made from it
    assert memo.get(keys[0]) is None and len(memo) == 0
    newer = films.get(film, lambda: film_row(1, "LLV", revision=2))
    memo.put(keys[0], Answer(1, rendered, ()), film, row)  # made from the replaced row
    assert memo.get(keys[0]) is None
    for number, key in enumerate(keys):
        memo.put(key, Answer(number, rendered, ()), film, newer)
    assert memo.get(keys[0]) is None and memo.get(keys[2]).film_id == 2
    assert len(memo) == 2
    memo.put(keys[0], Answer(0, Rendered(noise(20000), "huge", None), ()), film, newer)
    assert memo.get(keys[0]) is None and len(memo) == 2  # more than the whole budget
    memo.put(keys[0], Answer(0, Rendered(noise(10000), "big", None), ()), film, newer)
    assert len(memo) == 1 and memo.get(keys[0]).film_id == 0  # the others made room
    for _ in range(2):
        gc.collect()
    assert not any(gc.is_tracked(part) for pair in memo._answers.items() for part in pair)
    nothing = AnswerMemo(0, None, films)
    nothing.put(keys[0], Answer(1, rendered, ()), film, newer)
    assert nothing.get(keys[0]) is None


# --- The LRU --------------------------------------------------------------------------------

def key(film: int, revision: int = 0) -> RenderKey:
    return RenderKey("how-to-watch", "fragment", film, revision, "US", "en_US", "http://x/")


def test_the_cache_keeps_the_most_recently_used_entries_up_to_its_size():
    cache = FragmentCache(2, "v1")
    rendered: list[int] = []

    def render(film):
        def run():
            rendered.append(film)
            return f"film {film}", None
        return run

    for film in (1, 2, 1, 3, 1, 2):  # 3 pushes out 2 (1 was used since), then 2 pushes out 3
        assert cache.get_or_render(key(film), START, render(film)).content == f"film {film}"
    assert rendered == [1, 2, 3, 2] and len(cache) == 2


def test_a_new_revision_is_a_new_entry_and_no_cache_keeps_nothing():
    cache = FragmentCache(10, "v1")
    first = cache.get_or_render(key(1, 0), START, lambda: ("old", None))
    second = cache.get_or_render(key(1, 1), START, lambda: ("new", None))
    assert (first.content, second.content) == ("old", "new") and first.etag != second.etag

    none = FragmentCache(0, "v1")
    none.get_or_render(key(1), START, lambda: ("a", None))
    assert len(none) == 0
    assert none.get_or_render(key(1), START, lambda: ("b", None)).content == "b"


def test_an_entry_past_its_fresh_until_is_rendered_again_under_a_new_etag():
    cache = FragmentCache(10, "v1")
    until = START + dt.timedelta(hours=1)
    first = cache.get_or_render(key(1), START, lambda: ("price shown", until))
    assert cache.get_or_render(key(1), until - dt.timedelta(seconds=1),
                               lambda: ("unused", None)) is first
    later = cache.get_or_render(key(1), until, lambda: ("price hidden", None))
    assert later.content == "price hidden" and later.etag != first.etag


# --- No cookies -----------------------------------------------------------------------------

@pytest.fixture
def session_app(make_settings, demo):
    """The service in an app that keeps a session for every visitor, with a page of its own
    (/account)."""
    app = create_app(make_settings())
    app.secret_key = "a secret key long enough for a signed session cookie"

    @app.before_request
    def remember_visit():
        session["visits"] = session.get("visits", 0) + 1

    @app.get("/account")
    def account():
        return "yours"

    yield app
    app.extensions["affiliate"].db.dispose()


def test_public_answers_carry_no_cookie_even_when_the_app_uses_sessions(session_app):
    client = session_app.test_client()
    for url in [*PUBLIC_URLS, "/api/v1/openapi.json", "/affiliate/static/embed.js",
                "/widgets/how-to-watch/imdb:tt9999999"]:
        response = client.get(url)
        assert "Set-Cookie" not in response.headers, url
        assert "Cookie" not in response.headers.get("Vary", ""), url
    # The app's own pages keep their session.
    assert "Set-Cookie" in client.get("/account").headers


def test_a_session_interface_installed_after_the_extension_is_wrapped_too(session_app):
    """As Flask-Session's Session(app) does when set up after Affiliate(app)."""

    class EverySessionSaved(SecureCookieSessionInterface):
        def should_set_cookie(self, app, session):
            return True

    session_app.session_interface = EverySessionSaved()
    client = session_app.test_client()
    assert "Set-Cookie" in client.get("/account").headers  # the app's own session
    for url in PUBLIC_URLS:
        assert "Set-Cookie" not in client.get(url).headers, url
    assert "Set-Cookie" in client.get("/account").headers
    assert isinstance(session_app.session_interface.inner, EverySessionSaved)


def test_errors_are_readable_cross_origin_and_never_stored(client, demo):
    for url in ("/widgets/how-to-watch/imdb:tt9999999", f"/api/v1/films/{LLV}/offers?kind=x"):
        response = client.get(url)
        assert response.status_code in (400, 404)
        assert response.headers["Cache-Control"] == "no-store"
        assert response.headers["Access-Control-Allow-Origin"] == "*"
        assert "ETag" not in response.headers


def test_the_host_app_runs_no_sql_for_a_cached_widget(app, demo, statements):
    with app.test_request_context("/films/llv"):
        blueprint.render_related_products(LLV, region="US")
        statements.clear()
        assert "Leaving Las Vegas" in blueprint.render_related_products(LLV, region="US")
    assert statements == []
