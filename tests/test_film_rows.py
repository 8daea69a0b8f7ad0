"""The widget routes' film reads (affiliate.film_rows): every kind of reference, and on
PostgreSQL a kept connection that the server dropped is replaced without failing a request."""
from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlmodel import select

from affiliate.film_rows import FilmRows
from affiliate.models import Film
from affiliate.revisions import bump
from providers.base import FilmKey

LLV = "imdb:tt0113627"
FRAGMENT = f"/widgets/how-to-watch/{LLV}?region=US"


def stored(db) -> Film:
    with db.session() as session:
        return session.exec(select(Film).where(Film.imdb_id == "tt0113627")).one()


def test_a_film_is_found_by_each_kind_of_reference(db, demo):
    film, rows = stored(db), FilmRows(db)
    for key in (FilmKey(imdb_id="tt0113627"), FilmKey(tmdb_id=film.tmdb_id),
                FilmKey(internal_id=film.id)):
        row = rows.find(key)
        assert (row.id, row.revision, row.title) == (film.id, film.revision, film.title)
    assert rows.find(FilmKey(imdb_id="tt9999999")) is None


def test_a_changed_revision_is_read_at_once(db, demo):
    """Autocommit: a kept connection holds no snapshot that would hide a later change."""
    film, rows = stored(db), FilmRows(db)
    assert rows.find(FilmKey(internal_id=film.id)).revision == film.revision
    with db.session() as session:
        bump(session, [film.id])
    assert rows.find(FilmKey(internal_id=film.id)).revision > film.revision


def test_a_dropped_connection_is_replaced_and_the_widget_still_served(app, client, db, demo):
    if not db.keeps_connections:
        pytest.skip("SQLite reads through the shared pool: there is no kept connection to drop")
    app.extensions["affiliate"].films.seconds = 0  # read the film on every request
    assert client.get(FRAGMENT).status_code == 200
    with db.engine.connect() as connection:
        ended = connection.execute(text(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid() "
            "AND query LIKE '%FROM film%'")).all()
        connection.commit()
    assert ended and all(row[0] for row in ended)
    again = client.get(FRAGMENT)
    assert again.status_code == 200 and "Leaving Las Vegas" in again.get_data(as_text=True)


def test_dispose_closes_the_kept_connections(db, demo):
    if not db.keeps_connections:
        pytest.skip("SQLite reads through the shared pool: nothing is kept")
    FilmRows(db).find(FilmKey(imdb_id="tt0113627"))
    kept = list(db._kept)
    assert len(kept) == 1 and not kept[0].closed
    db.dispose()
    assert kept[0].closed and db._kept == []
