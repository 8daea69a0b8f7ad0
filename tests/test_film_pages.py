"""A film's page on the host site from the operator's template: each placeholder's value,
and no link for a film that lacks the id its template needs."""
from __future__ import annotations

import pytest

from affiliate.film_pages import film_page


@pytest.mark.parametrize(("imdb_id", "tmdb_id", "page"), [
    ("tt0113627", 451, "/films/imdb:tt0113627"),  # the reference the widgets' URLs use
    (None, 451, "/films/tmdb:451"),
    (None, None, "/films/17"),
])
def test_ref_is_the_films_reference_as_urls_and_the_api_write_it(imdb_id, tmdb_id, page):
    assert film_page("/films/{ref}", 17, imdb_id, tmdb_id) == page


def test_each_id_fills_its_own_placeholder():
    assert (film_page("https://site.example/f/{id}/{imdb}/{tmdb}", 17, "tt0113627", 451)
            == "https://site.example/f/17/tt0113627/451")


@pytest.mark.parametrize(("template", "imdb_id", "tmdb_id"), [
    ("/films/{imdb}", None, 451),
    ("/films/{tmdb}", "tt0113627", None),
])
def test_a_film_without_the_id_its_template_needs_has_no_page(template, imdb_id, tmdb_id):
    assert film_page(template, 17, imdb_id, tmdb_id) is None


def test_without_a_template_there_is_no_page():
    assert film_page(None, 17, "tt0113627", 451) is None
