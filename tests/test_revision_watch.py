"""Film rows kept until their film changes while the process hears of changes
(affiliate.film_memo, affiliate.revision_watch), and only for `revision_check_seconds`
while it does not."""
from __future__ import annotations

import time

import pytest
from sqlalchemy import text
from sqlmodel import select

from affiliate import create_app, revision_watch, revisions
from affiliate.film_memo import FilmMemo, key_parts
from affiliate.film_rows import FilmRow
from affiliate.models import Film
from affiliate.revisions import payloads
from providers.base import FilmKey
from tests.clock import START

LLV = "imdb:tt0113627"
FRAGMENT = f"/widgets/how-to-watch/{LLV}?region=US"


class Loads:
    """A load function per film id that counts its calls."""

    def __init__(self):
        self.calls: list[int] = []

    def __call__(self, film_id: int):
        def load():
            self.calls.append(film_id)
            return FilmRow(film_id, len(self.calls), f"Film {film_id}", None, None, None, START)
        return load


@pytest.fixture
def clocked() -> tuple[FilmMemo, list[float], Loads]:
    clock = [0.0]
    return FilmMemo(2, clock=lambda: clock[0]), clock, Loads()


def test_a_row_read_while_hearing_is_kept_until_its_film_changes(clocked):
    memo, clock, loads = clocked
    memo.watching(True)
    first = memo.get(FilmKey(internal_id=1), loads(1))
    memo.get(FilmKey(tmdb_id=10), loads(1))  # the same film by another reference
    clock[0] += 3600
    assert memo.get(FilmKey(internal_id=1), loads(1)) == first
    assert memo.trusts(key_parts(FilmKey(internal_id=1)), first)
    memo.changed([2])  # another film
    assert memo.get(FilmKey(internal_id=1), loads(1)) == first
    memo.changed([1])
    assert len(memo) == 0  # every reference to the film is forgotten
    assert not memo.trusts(key_parts(FilmKey(internal_id=1)), first)
    assert memo.get(FilmKey(internal_id=1), loads(1)) != first
    assert loads.calls == [1, 1, 1]


def test_while_not_hearing_a_row_is_trusted_for_its_seconds_only(clocked):
    memo, clock, loads = clocked
    memo.get(FilmKey(internal_id=1), loads(1))  # read before the watch listens
    memo.watching(True)
    clock[0] += 2
    memo.get(FilmKey(internal_id=1), loads(1))  # read again, now while hearing
    memo.watching(False)  # the connection failed: changes may be missed from now on
    clock[0] += 2
    memo.get(FilmKey(internal_id=1), loads(1))
    memo.watching(True)  # a new listening spell: rows of the old one are not trusted
    clock[0] += 2
    memo.get(FilmKey(internal_id=1), loads(1))
    assert loads.calls == [1, 1, 1, 1]


def test_a_change_heard_during_a_read_leaves_the_row_trusted_for_seconds_only(clocked):
    memo, clock, loads = clocked
    memo.watching(True)

    def load_while_a_change_is_heard():
        row = loads(1)()
        memo.changed([1])  # heard while the row was on its way: it may be older
        return row

    memo.get(FilmKey(internal_id=1), load_while_a_change_is_heard)
    clock[0] += 1
    memo.get(FilmKey(internal_id=1), loads(1))
    clock[0] += 1
    memo.get(FilmKey(internal_id=1), loads(1))
    assert loads.calls == [1, 1]


def test_a_forked_process_does_not_trust_what_its_parent_heard(clocked, monkeypatch):
    memo, clock, loads = clocked
    memo.watching(True)
    memo.get(FilmKey(internal_id=1), loads(1))
    monkeypatch.setattr("affiliate.film_memo.os.getpid", lambda: -1)  # the child: no thread
    clock[0] += 2
    memo.get(FilmKey(internal_id=1), loads(1))
    assert loads.calls == [1, 1]


def test_evicted_rows_leave_no_index_behind():
    memo, loads = FilmMemo(2, size=2, clock=lambda: 0.0), Loads()
    for film_id in (1, 2, 3):
        memo.get(FilmKey(internal_id=film_id), loads(film_id))
    assert len(memo) == 2 and set(memo._keys_of) == {2, 3}


def test_notice_payloads_fit_postgresql_and_carry_every_id():
    ids = list(range(1_000_000, 1_003_000))
    chunks = list(payloads(ids))
    assert len(chunks) > 1 and all(len(chunk) < 8000 for chunk in chunks)
    assert [int(part) for chunk in chunks for part in chunk.split(",")] == ids


# --- On PostgreSQL, end to end ------------------------------------------------------------

def wait_for(condition, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("not within %s s" % seconds)
        time.sleep(0.02)


@pytest.fixture
def heard(app, db, demo, monkeypatch):
    """The app's film memo on a clock the test moves, hearing changes (PostgreSQL only)."""
    if not db.keeps_connections:
        pytest.skip("SQLite has no LISTEN/NOTIFY: rows are kept for revision_check_seconds")
    monkeypatch.setattr(revision_watch, "RETRY_SECONDS", 0.05)
    affiliate = app.extensions["affiliate"]
    clock = [0.0]
    affiliate.films.clock = lambda: clock[0]
    client = app.test_client()
    assert client.get(FRAGMENT).status_code == 200  # starts the watch
    wait_for(lambda: affiliate.films._current_spell() is not None)
    return affiliate.films, clock, client


def film_id(db) -> int:
    with db.session() as session:
        return session.exec(select(Film.id).where(Film.imdb_id == "tt0113627")).one()


def test_a_kept_row_serves_without_sql_until_a_change_commits(db, heard, statements):
    memo, clock, client = heard
    clock[0] += 10  # the first read came before the watch listened: read again
    first = client.get(FRAGMENT)
    clock[0] += 3600
    statements.clear()
    assert client.get(FRAGMENT, headers={"If-None-Match": first.headers["ETag"]}).status_code == 304
    assert statements == []

    with db.session() as session:
        revisions.bump(session, [film_id(db)])
        wait = time.monotonic() + 0.3  # not heard before the commit
        while time.monotonic() < wait:
            assert len(memo) == 1
    wait_for(lambda: len(memo) == 0)
    after = client.get(FRAGMENT, headers={"If-None-Match": first.headers["ETag"]})
    assert after.status_code == 200 and after.headers["ETag"] != first.headers["ETag"]


def test_a_rolled_back_change_is_never_heard(db, heard):
    memo, clock, client = heard
    clock[0] += 10
    client.get(FRAGMENT)
    with pytest.raises(RuntimeError), db.session() as session:
        revisions.bump(session, [film_id(db)])
        raise RuntimeError("the refresh failed")
    time.sleep(0.3)
    assert len(memo) == 1


def test_when_the_watch_loses_its_connection_rows_are_read_again_then_heard(db, heard, caplog):
    memo, clock, client = heard
    caplog.set_level("WARNING", logger=revision_watch.__name__)
    spell = memo._current_spell()
    with db.engine.connect() as connection:
        ended = connection.execute(text(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND query LIKE 'LISTEN%'")).all()
        connection.commit()
    assert ended == [(True,)]
    wait_for(lambda: memo._current_spell() not in (None, spell))  # listening again
    clock[0] += 10
    client.get(FRAGMENT)
    with db.session() as session:
        revisions.bump(session, [film_id(db)])
    wait_for(lambda: len(memo) == 0)
    said = [record.getMessage() for record in caplog.records
            if record.name == revision_watch.__name__]
    assert len(said) == 2  # one line when it stops hearing, one when it hears again
    assert said[0].startswith("not hearing film changes (") and "revision_check_seconds" in said[0]
    assert said[1].startswith("hearing film changes again")


@pytest.mark.parametrize("listen", [True, False])
def test_listening_is_for_postgresql_and_can_be_turned_off(make_settings, listen):
    """Behind a pooler that does not keep LISTEN (PgBouncer's transaction mode) an operator
    turns it off, and rows are trusted for revision_check_seconds only."""
    app = create_app(make_settings(http={"listen_for_changes": listen}))
    try:
        affiliate = app.extensions["affiliate"]
        hears = listen and affiliate.db.keeps_connections
        assert (affiliate.films.watch is not None) == hears
    finally:
        app.extensions["affiliate"].db.dispose()
