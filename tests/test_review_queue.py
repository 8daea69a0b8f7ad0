"""Bulk review: candidate links across every film, with scores and reasons, narrowed by
relation, merchant, score range and film, and decided many at once (CLI and module)."""
from __future__ import annotations

import json
import re

import pytest
from click.testing import CliRunner
from sqlmodel import select

from affiliate import review_queue
from affiliate.__main__ import main
from affiliate.catalog import reconcile
from affiliate.models import FilmProduct, Product
from affiliate.review_queue import ReviewFilter
from providers.base import (
    FilmKey,
    FilmRecord,
    Person,
    ProductFacts,
    ProductFormat,
    ProductLink,
    ProductRecord,
    ProviderResult,
    Relation,
)
from tests.admin_support import admin_app, bearer, fast_password_hashing, log_in, post

FILMS = [FilmRecord(FilmKey(imdb_id=f"tt{n:07d}"), f"Film {n}", 2000 + n, imdb_id=f"tt{n:07d}",
                    people=(Person(f"Director {n}", "director"),)) for n in range(1, 4)]


def guess(n: int, film: FilmRecord, title: str, merchant: str = "Amazon",
          product_format: ProductFormat = ProductFormat.DVD, relation=Relation.EDITION,
          people=()) -> ProductRecord:
    facts = ProductFacts(title=title, people=tuple(people), binding="DVD", format=product_format)
    return ProductRecord(merchant, f"ID{n:08d}", title, product_format, f"https://shop.example/{n}",
                         "US", films=(ProductLink(film.key, relation, candidate=True),), facts=facts)


@pytest.fixture
def queue(db):
    """Two candidates for each of three films (an edition at Amazon, a soundtrack at Apple),
    scored 0.4 to 0.9 as the rules would, and one the rules rejected."""
    products = []
    for n, film in enumerate(FILMS):
        products.append(guess(10 * n + 1, film, f"{film.title} [DVD]"))
        products.append(guess(10 * n + 2, film, f"{film.title} Soundtrack", merchant="Apple Music",
                              product_format=ProductFormat.DIGITAL_ALBUM, relation=Relation.SOUNDTRACK))
    products.append(guess(99, FILMS[0], "Something Else Entirely: Season 4"))
    reconcile(db, "amazon", ProviderResult(films=FILMS, products=products), 3)
    with db.session() as session:
        rows = session.exec(select(FilmProduct, Product).join(Product, Product.id == FilmProduct.product_id)
                            .order_by(Product.merchant_id)).all()
        for index, (link, product) in enumerate(rows):
            link.match_score = round(0.4 + 0.1 * index, 2)
            link.match_reasons = json.dumps([f"reason {index}"])
            link.decided_by = "rules"
            if product.merchant_id == "ID00000099":
                link.status, link.match_score = "rejected", 0.1
            session.add(link)
    return db


def test_the_queue_lists_candidates_across_films_with_scores_and_reasons(queue):
    page = review_queue.listing(queue, ReviewFilter())

    assert page.total == len(page.candidates) == 6
    assert {row.film_title for row in page.candidates} == {"Film 1", "Film 2", "Film 3"}
    scores = [row.score for row in page.candidates]
    assert scores == sorted(scores, reverse=True)
    assert all(row.reasons for row in page.candidates)


@pytest.mark.parametrize("chosen, expected", [
    (ReviewFilter(relation="soundtrack"), 3),
    (ReviewFilter(merchant="apple music"), 3),
    (ReviewFilter(film="imdb:tt0000002"), 2),
    (ReviewFilter(status="rejected"), 1),
    (ReviewFilter(min_score=0.65), 3),
    (ReviewFilter(min_score=0.5, max_score=0.6), 2),
    (ReviewFilter(limit=2), 6),
])
def test_filters_narrow_the_queue(queue, chosen, expected):
    assert review_queue.listing(queue, chosen).total == expected


def test_deciding_everything_a_filter_chooses_at_once(queue):
    count = review_queue.decide_matching(queue, ReviewFilter(relation="soundtrack"), "approved")

    assert count == 3
    assert review_queue.listing(queue, ReviewFilter()).total == 3
    approved = review_queue.listing(queue, ReviewFilter(status="approved"))
    assert {row.relation for row in approved.candidates} == {"soundtrack"}


@pytest.mark.parametrize("arguments, message", [
    (dict(relation="poster"), "relation: 'poster' is not one of"),
    (dict(min_score=1.5), "min_score: 1.5 is not between 0 and 1"),
    (dict(min_score=0.8, max_score=0.2), "min_score: higher than max_score"),
    (dict(limit=0), "limit: between 1 and 500"),
    (dict(film="tmdb:abc"), "a TMDB id is a number"),
])
def test_bad_filters_say_which(arguments, message):
    with pytest.raises(ValueError, match=message):
        ReviewFilter(**arguments)


def test_the_review_command_lists_with_reasons_and_decides_by_filter(queue, settings, tmp_path):
    (tmp_path / "config.toml").write_text(f'[service]\ndatabase_url = "{settings.service.database_url}"\n')
    runner = CliRunner()

    listed = runner.invoke(main, ["products", "review", "--merchant", "Amazon"])
    rejected = runner.invoke(main, ["products", "review", "--film", "imdb:tt0000001", "--reject"])
    unknown = runner.invoke(main, ["products", "review", "--film", "imdb:tt9999999"])
    out_of_range = runner.invoke(main, ["products", "review", "--min-score", "2"])

    assert listed.exit_code == 0 and "Film 1 (2001) [imdb:tt0000001] <- Film 1 [DVD]" in listed.output
    assert "- reason 0" in listed.output
    assert rejected.exit_code == 0 and rejected.output == "Rejected 2 product links.\n"
    assert unknown.exit_code == 1 and "no film matches imdb:tt9999999" in unknown.output
    assert out_of_range.exit_code == 2 and "--min-score" in out_of_range.output


# --- the console's review page and the admin API ---------------------------------------------

@pytest.fixture
def console(queue, make_settings, monkeypatch):
    fast_password_hashing(monkeypatch)
    app = admin_app(make_settings)
    client = app.test_client()
    log_in(client, app.extensions["affiliate"].db)
    yield client
    app.extensions["affiliate"].db.dispose()


def ticks(html: str) -> list[int]:
    return [int(value) for value in re.findall(r'name="link" value="(\d+)"', html)]


def test_the_console_lists_the_queue_with_scores_reasons_and_filters(console):
    page = console.get("/admin/review").get_data(as_text=True)
    soundtracks = console.get("/admin/review?relation=soundtrack&min_score=&film=").get_data(as_text=True)

    assert len(ticks(page)) == 6 and "6 links waiting for review" in page
    assert "reason 0" in page and "0.90" in page
    assert '<option selected>soundtrack</option>' in soundtracks and len(ticks(soundtracks)) == 3


def test_the_console_decides_ticked_links_at_once(console, queue):
    chosen = ticks(console.get("/admin/review?merchant=Amazon").get_data(as_text=True))

    answer = post(console, "/admin/review", {"action": "approve", "link": chosen, "merchant": "Amazon"},
                  page="/admin/review")
    after = console.get(answer.headers["Location"]).get_data(as_text=True)

    assert answer.status_code == 303 and answer.headers["Location"] == "/admin/review?merchant=Amazon"
    assert "Approved 3 product links." in after and ticks(after) == []
    assert review_queue.listing(queue, ReviewFilter(status="approved")).total == 3


def test_the_console_decides_every_link_a_filter_chooses(console, queue):
    answer = post(console, "/admin/review", {"action": "reject", "scope": "matching", "max_score": "0.6"},
                  page="/admin/review")

    assert answer.status_code == 303
    assert review_queue.listing(queue, ReviewFilter(status="rejected")).total == 1 + 3


@pytest.mark.parametrize("form, message", [
    ({"action": "approve"}, "tick at least one link"),
    ({"action": "keep", "link": ["1"]}, "choose approve or reject"),
    ({"action": "approve", "link": ["1", "x1"]}, "is not a link id"),
    ({"action": "approve", "link": ["99999999999999"]}, "no product link with id 99999999999999"),
    ({"action": "approve", "scope": "matching", "min_score": "lots"}, "min_score: &#39;lots&#39; is not a number"),
])
def test_a_bad_review_form_names_the_fix_and_changes_nothing(console, queue, form, message):
    answer = post(console, "/admin/review", form, page="/admin/review")

    assert answer.status_code in (400, 404) and message in answer.get_data(as_text=True)
    assert review_queue.listing(queue, ReviewFilter()).total == 6


def test_the_admin_api_lists_and_decides_by_ids_or_by_filter(queue, make_settings):
    app = admin_app(make_settings)
    client, headers = app.test_client(), bearer(queue)

    listed = client.get("/admin/api/v1/review?relation=edition&limit=2", headers=headers).get_json()
    by_ids = client.post("/admin/api/v1/review", headers=headers,
                         json={"status": "approved", "links": [row["link_id"] for row in listed["links"]]})
    by_filter = client.post("/admin/api/v1/review", headers=headers,
                            json={"status": "rejected", "filter": {"relation": "soundtrack", "max_score": 0.7}})

    assert listed["total"] == 3 and len(listed["links"]) == 2
    assert listed["links"][0]["score"] >= listed["links"][1]["score"] and listed["links"][0]["reasons"]
    assert by_ids.get_json() == {"decided": 2}
    assert by_filter.get_json() == {"decided": 2}
    app.extensions["affiliate"].db.dispose()


@pytest.mark.parametrize("method, path, body, message", [
    ("get", "/admin/api/v1/review?colour=red", None, "unknown parameter colour"),
    ("get", "/admin/api/v1/review?min_score=nan", None, "min_score: 'nan' is not a number"),
    ("get", "/admin/api/v1/review?film=imdb:tt9999999", None, "no film matches imdb:tt9999999"),
    ("post", "/admin/api/v1/review", {"status": "approved"}, "either links (ids) or filter"),
    ("post", "/admin/api/v1/review", {"status": "maybe", "links": [1]}, "status: one of approved, rejected"),
    ("post", "/admin/api/v1/review", {"status": "approved", "links": [1, 2**70]}, "links.1: breaks maximum 2147483647"),
    ("post", "/admin/api/v1/review", {"status": "approved", "links": [1, 99]}, "no product link with id"),
    ("post", "/admin/api/v1/review", {"status": "approved", "filter": {"colour": "red"}}, "unknown property colour"),
])
def test_the_admin_api_refuses_bad_review_requests(queue, make_settings, method, path, body, message):
    app = admin_app(make_settings)
    answer = getattr(app.test_client(), method)(path, headers=bearer(queue), json=body)

    assert answer.status_code in (400, 404) and message in answer.get_json()["error"]
    assert review_queue.listing(queue, ReviewFilter()).total == 6
    app.extensions["affiliate"].db.dispose()
