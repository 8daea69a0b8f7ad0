"""The answer front (affiliate.answer_front): a widget request made again is answered before
Flask, byte for byte as the app sent it, with its cache lifetime, view and metrics made anew;
anything else, a conditional request, a changed film or a reloaded config reaches the app."""
from __future__ import annotations

import datetime as dt
import sys

import pytest
from flask import request
from sqlmodel import select

from affiliate import answer_front, blueprint, create_app, revisions
from affiliate.config import load_settings
from affiliate.models import Offer
from tests.test_caching import FRAGMENT, LLV, PUBLIC_URLS, film_id


@pytest.fixture
def reached(app) -> list[str]:
    """The paths of the requests that reached the Flask app."""
    paths: list[str] = []
    app.before_request(lambda: paths.append(request.path) and None)
    return paths


@pytest.mark.parametrize("url", PUBLIC_URLS)
def test_a_widget_asked_again_is_answered_before_flask_exactly_as_it_was_sent(
        client, demo, reached, url):
    first = client.get(url)
    again = client.get(url)
    head = client.head(url)
    assert len(reached) == 1
    assert again.status_code == head.status_code == 200
    assert again.data == first.data and head.data == b""
    assert again.headers == first.headers == head.headers


def test_conditional_requests_and_other_routes_always_reach_the_app(client, demo, reached):
    etag = client.get(FRAGMENT).headers["ETag"]
    assert client.get(FRAGMENT, headers={"If-None-Match": etag}).status_code == 304
    assert client.get(FRAGMENT, headers={"If-None-Match": 'W/"old"'}).status_code == 200
    for _ in range(2):
        client.get("/")
        client.get("/widgets/how-to-watch/imdb:tt0000001")  # a 404 is never kept
        client.post(FRAGMENT)
    assert len(reached) == 9
    assert client.get(FRAGMENT).status_code == 200 and len(reached) == 9


def test_answers_from_the_front_count_views_as_the_app_does(client, demo, reached):
    for url in (FRAGMENT, f"/widgets/related-products/{LLV}?region=US",
                f"/api/v1/films/{LLV}/offers?region=US"):
        for _ in range(3):
            client.get(url)
        client.head(url)
    assert len(reached) == 3
    # Only How to Watch fragments are views, and a HEAD is not.
    assert client.application.extensions["affiliate"].views.flush() == 3


def test_a_changed_film_is_answered_by_the_app_once_its_row_is_no_longer_trusted(
        client, demo, reached, memo_clock):
    assert "Vudu" in client.get(FRAGMENT).text
    with demo.session() as session:
        for offer in session.exec(select(Offer).where(Offer.film_id == film_id(demo))):
            if offer.region == "US" and "vudu" in offer.link:
                offer.hidden = True
                session.add(offer)
        revisions.bump(session, [film_id(demo)])
    memo_clock[0] += 1.9  # http.revision_check_seconds is 2
    assert "Vudu" in client.get(FRAGMENT).text and len(reached) == 1
    memo_clock[0] += 0.1
    assert "Vudu" not in client.get(FRAGMENT).text and len(reached) == 2


def test_the_cache_lifetime_left_is_told_anew_and_an_outdated_answer_is_made_again(
        client, demo, reached, expiring, monkeypatch):
    now = expiring

    def clock(seconds: int) -> None:
        for module in (answer_front, blueprint):
            monkeypatch.setattr(module, "utcnow", lambda: now + dt.timedelta(seconds=seconds))

    clock(0)
    assert client.get(FRAGMENT).headers["Cache-Control"] == "public, max-age=90, s-maxage=90"
    clock(60)
    assert client.get(FRAGMENT).headers["Cache-Control"] == "public, max-age=30, s-maxage=30"
    assert len(reached) == 1
    clock(90)
    client.get(FRAGMENT)
    assert len(reached) == 2


def test_a_reloaded_config_is_applied_to_the_next_request_before_the_front_answers(
        make_settings, demo, tmp_path):
    path = tmp_path / "config.toml"
    path.write_text("[http]\nmax_age = 300\n")
    app = create_app(load_settings(path, service={
        "database_url": make_settings().service.database_url}))
    try:
        client = app.test_client()
        assert "max-age=300," in client.get(FRAGMENT).headers["Cache-Control"]
        assert "max-age=300," in client.get(FRAGMENT).headers["Cache-Control"]
        path.write_text("[http]\nmax_age = 120\n")
        app.extensions["affiliate"].watch.ask()  # what SIGHUP does
        assert "max-age=120," in client.get(FRAGMENT).headers["Cache-Control"]
    finally:
        app.extensions["affiliate"].db.dispose()


def test_an_answer_setting_a_cookie_is_never_sent_again_by_the_front(app, client, demo, reached):
    app.after_request(lambda response: response.set_cookie("seen", "1") or response)
    for _ in range(3):
        assert "seen=1" in client.get(FRAGMENT).headers["Set-Cookie"]
    assert len(reached) == 3


def test_an_answer_a_hook_rewrote_is_never_sent_again_by_the_front(app, client, demo, reached):
    def sign(response):
        response.set_data(response.get_data() + b"<!-- host -->")
        return response

    app.after_request(sign)
    bodies = {client.get(FRAGMENT).data for _ in range(3)}
    assert len(bodies) == 1 and bodies.pop().endswith(b"<!-- host -->")
    assert len(reached) == 3


def test_the_answer_memo_budget_counts_at_least_what_its_answers_hold(client, demo):
    languages = ("en-US", "en-GB,en;q=0.8", "fr-FR", "de")
    for url in PUBLIC_URLS:
        for language in languages:
            for _ in range(2):  # the second is answered by the front: the Wire is kept
                client.get(url, headers={"Accept-Language": language})
    memo = client.application.extensions["affiliate"].answers
    assert len(memo) == len(PUBLIC_URLS) * len(languages)
    seen: set[int] = set()

    def size(value) -> int:
        if id(value) in seen:
            return 0  # held once for every answer sharing it
        seen.add(id(value))
        inner = value if isinstance(value, tuple) else ()
        return sys.getsizeof(value) + sum(size(part) for part in inner)

    held = sum(size(key) + size(entry) for key, entry in memo._answers.items())
    assert held <= memo._held
    # A header line every answer has is held once, not once an answer.
    lines = [line for entry in memo._answers.values() for line in entry[7][1]
             if line == ("X-Content-Type-Options", "nosniff")]
    assert len(lines) == len(memo) and len({id(line) for line in lines}) == 1
