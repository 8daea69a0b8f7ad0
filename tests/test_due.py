"""The due queue: refresh intervals, claim order, leases and takeover, on a fake clock."""
from __future__ import annotations

import datetime as dt
import threading

import pytest
from sqlalchemy import event
from sqlmodel import select

from affiliate.due import (
    claim,
    due_summary,
    ensure_rows,
    film_ttls,
    finish,
    new_owner,
    record_view,
    record_views,
    release,
    ttl_for,
)
from affiliate.models import Film, FilmProviderState, FilmView, Offer, Platform

NOW = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.timezone.utc)
TODAY = NOW.date()
HOUR = dt.timedelta(hours=1)
DAY = dt.timedelta(days=1)
LEASE = dt.timedelta(minutes=10)


def add_films(db, count):
    with db.session() as session:
        films = [Film(title=f"Film {n}") for n in range(count)]
        session.add_all(films)
    return [film.id for film in films]


def set_due(db, provider, due_by_film):
    with db.session() as session:
        for film_id, due_at in due_by_film.items():
            session.add(FilmProviderState(film_id=film_id, provider=provider, due_at=due_at))


def add_views(db, film_id, views, day=TODAY):
    with db.session() as session:
        session.add(FilmView(film_id=film_id, day=day, views=views))


def state(db, film_id, provider="p"):
    with db.session() as session:
        return session.exec(select(FilmProviderState).where(
            FilmProviderState.film_id == film_id, FilmProviderState.provider == provider)).one()


def always(ttl):
    return lambda _film_id: ttl


class TestTtl:
    def test_the_providers_interval_for_a_quiet_film(self):
        assert ttl_for(6 * HOUR, 9, False, None) == 6 * HOUR

    def test_popular_films_refresh_more_often(self):
        assert ttl_for(6 * HOUR, 10, False, None) == 90 * dt.timedelta(minutes=1)
        assert ttl_for(6 * HOUR, 100, False, None) == 30 * dt.timedelta(minutes=1)

    def test_popularity_never_goes_below_the_floor_nor_above_the_interval(self):
        assert ttl_for(HOUR, 1000, False, None) == dt.timedelta(minutes=15)
        assert ttl_for(dt.timedelta(minutes=10), 1000, False, None) == dt.timedelta(minutes=10)

    def test_offers_leaving_within_a_week_refresh_daily(self):
        assert ttl_for(7 * DAY, 0, True, None) == DAY
        assert ttl_for(6 * HOUR, 0, True, None) == 6 * HOUR

    def test_prices_with_a_maximum_age_are_refreshed_within_half_of_it(self):
        assert ttl_for(7 * DAY, 0, False, 24 * HOUR) == 12 * HOUR
        assert ttl_for(6 * HOUR, 0, False, 24 * HOUR) == 6 * HOUR


def test_film_ttls_reads_views_of_the_last_seven_days_and_this_providers_leaving_offers(db):
    quiet, popular, stale_views, leaving, hidden, other_source, leaving_later = add_films(db, 7)
    add_views(db, popular, 6)
    add_views(db, popular, 4, TODAY - dt.timedelta(days=6))
    add_views(db, stale_views, 50, TODAY - dt.timedelta(days=7))
    with db.session() as session:
        platform_id = session.exec(select(Platform.id)).first()

        def offer(film_id, source="p", expires=TODAY + dt.timedelta(days=7), **kw):
            session.add(Offer(film_id=film_id, platform_id=platform_id, region="US", kind="rent",
                              quality="HD", link="https://example.com", source=source,
                              expires_on=expires, **kw))

        offer(leaving)
        offer(hidden, hidden=True)
        offer(other_source, source="other")
        offer(leaving_later, expires=TODAY + dt.timedelta(days=8))
    ttls = film_ttls(db, "p", [quiet, popular, stale_views, leaving, hidden, other_source, leaving_later],
                     7 * DAY, None, NOW)
    assert ttls == {quiet: 7 * DAY, popular: 7 * DAY / 4, stale_views: 7 * DAY, leaving: DAY,
                    hidden: 7 * DAY, other_source: 7 * DAY, leaving_later: 7 * DAY}


def test_record_view_counts_views_per_film_and_day(db):
    first, second = add_films(db, 2)
    record_view(db, first, NOW)
    record_view(db, first, NOW + HOUR)
    record_view(db, first, NOW + DAY)
    record_view(db, second, NOW)
    with db.session() as session:
        counts = {(v.film_id, v.day): v.views for v in session.exec(select(FilmView))}
    assert counts == {(first, TODAY): 2, (first, TODAY + DAY): 1, (second, TODAY): 1}


def test_processes_writing_the_same_films_views_at_once_never_deadlock(db):
    # Two web processes flush overlapping counts, each in its own order; rows locked in
    # different orders deadlocked PostgreSQL, which dropped one flush to retry later.
    films = add_films(db, 400)
    counts = {(film_id, day): 1 for film_id in films for day in (TODAY, TODAY + DAY)}
    orders = [dict(counts), dict(reversed(counts.items()))]
    rounds = 5
    barrier = threading.Barrier(len(orders))
    failures = []

    def flush(order):
        for _ in range(rounds):
            barrier.wait()
            try:
                record_views(db, order)
            except Exception as exc:  # noqa: BLE001 - reported below
                failures.append(exc)

    threads = [threading.Thread(target=flush, args=(order,)) for order in orders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    with db.session() as session:
        assert {v.views for v in session.exec(select(FilmView))} == {rounds * len(orders)}


def test_ensure_rows_adds_each_missing_film_once_due_now(db):
    films = add_films(db, 3)
    assert ensure_rows(db, "p", NOW) == 3
    assert ensure_rows(db, "p", NOW + HOUR) == 0
    [late] = add_films(db, 1)
    assert ensure_rows(db, "p", NOW + HOUR) == 1
    assert ensure_rows(db, "q", NOW) == 4
    assert [state(db, f).due_at for f in films] == [NOW] * 3
    assert state(db, late).due_at == NOW + HOUR


def test_ensure_rows_counts_in_the_database_and_reads_no_film_back(db):
    """A new catalog's first run must not hold one row per film in the process."""
    add_films(db, 3)
    described = []

    def watch(conn, cursor, statement, parameters, context, executemany):
        described.append(cursor.description)  # None: the statement returned no rows

    event.listen(db.engine, "after_cursor_execute", watch)
    try:
        assert ensure_rows(db, "p", NOW) == 3
    finally:
        event.remove(db.engine, "after_cursor_execute", watch)
    assert described == [None]


def test_claim_takes_the_most_overdue_films_first_and_no_more_than_the_limit(db):
    a, b, c, future = add_films(db, 4)
    set_due(db, "p", {a: NOW - 3 * HOUR, b: NOW - HOUR, c: NOW - 2 * HOUR, future: NOW + HOUR})
    assert claim(db, "p", "one", 2, LEASE, NOW) == sorted([a, c])
    assert claim(db, "p", "one", 10, LEASE, NOW) == [b]
    assert claim(db, "p", "one", 10, LEASE, NOW) == []
    assert claim(db, "p", "one", 0, LEASE, NOW + 2 * HOUR) == []


def test_popular_films_get_a_bounded_head_start(db):
    popular, overdue, very_popular, long_overdue = add_films(db, 4)
    set_due(db, "p", {popular: NOW - dt.timedelta(minutes=30), overdue: NOW - HOUR,
                      very_popular: NOW - dt.timedelta(minutes=30), long_overdue: NOW - 3 * HOUR})
    add_views(db, popular, 10)
    add_views(db, very_popular, 100)
    add_views(db, overdue, 500, TODAY - dt.timedelta(days=7))  # too old to count
    # Effective due times: long_overdue -3 h, very_popular -2.5 h, popular -1.5 h, overdue -1 h.
    assert claim(db, "p", "one", 1, LEASE, NOW) == [long_overdue]
    assert claim(db, "p", "one", 1, LEASE, NOW) == [very_popular]
    assert claim(db, "p", "one", 1, LEASE, NOW) == [popular]
    assert claim(db, "p", "one", 1, LEASE, NOW) == [overdue]


def test_new_films_due_together_go_by_popularity_then_id(db):
    films = add_films(db, 3)
    ensure_rows(db, "p", NOW)
    add_views(db, films[2], 10)
    assert claim(db, "p", "one", 2, LEASE, NOW) == sorted([films[2], films[0]])


def test_a_leased_film_is_not_claimed_by_another_owner_until_released(db):
    films = add_films(db, 3)
    ensure_rows(db, "p", NOW)
    ensure_rows(db, "q", NOW)
    assert claim(db, "p", "one", 10, LEASE, NOW) == films
    assert claim(db, "p", "two", 10, LEASE, NOW + LEASE / 2) == []
    assert claim(db, "q", "two", 10, LEASE, NOW) == films  # another provider's rows are apart
    assert release(db, "p", "one") == 3
    assert claim(db, "p", "two", 10, LEASE, NOW) == films
    assert {state(db, f).lease_owner for f in films} == {"two"}


def test_an_expired_lease_is_taken_over_and_its_old_owner_cannot_finish(db):
    films = add_films(db, 2)
    ensure_rows(db, "p", NOW)
    assert claim(db, "p", "dead", 10, LEASE, NOW) == films
    assert claim(db, "p", "heir", 10, LEASE, NOW + LEASE - dt.timedelta(seconds=1)) == []
    taken_at = NOW + LEASE
    assert claim(db, "p", "heir", 10, LEASE, taken_at) == films

    assert finish(db, "p", "dead", films, set(films), taken_at + HOUR, always(DAY)) == set()
    row = state(db, films[0])
    assert (row.lease_owner, row.lease_expires_at, row.due_at, row.last_success_at) == (
        "heir", taken_at + LEASE, NOW, None)

    assert finish(db, "p", "heir", films, set(films), taken_at, always(DAY)) == set(films)
    assert state(db, films[0]).due_at == taken_at + DAY


def test_finish_schedules_successes_after_their_ttl_and_releases_them(db):
    done, popular, failed, not_claimed = add_films(db, 4)
    ensure_rows(db, "p", NOW)
    claimed = claim(db, "p", "one", 3, LEASE, NOW)
    assert claimed == [done, popular, failed]
    ttl = {done: DAY, popular: HOUR, failed: DAY}.__getitem__
    assert finish(db, "p", "one", [*claimed, not_claimed], {done, popular}, NOW, ttl) == set(claimed)
    rows = {f: state(db, f) for f in (done, popular, failed, not_claimed)}
    assert [(r.due_at, r.last_success_at, r.last_attempt_at, r.lease_owner, r.lease_expires_at)
            for r in rows.values()] == [
        (NOW + DAY, NOW, NOW, None, None),
        (NOW + HOUR, NOW, NOW, None, None),
        (NOW + dt.timedelta(minutes=5), None, NOW, None, None),
        (NOW, None, None, None, None),
    ]


def test_failures_back_off_doubling_up_to_the_ttl_and_a_success_resets_them(db):
    [film] = add_films(db, 1)
    ensure_rows(db, "p", NOW)
    now, delays = NOW, []
    for outcome in (False, False, False, False, True, False):
        assert claim(db, "p", "one", 1, LEASE, now) == [film]
        finish(db, "p", "one", [film], {film} if outcome else set(), now, always(30 * dt.timedelta(minutes=1)))
        delays.append(state(db, film).due_at - now)
        now = state(db, film).due_at
    minutes = [d / dt.timedelta(minutes=1) for d in delays]
    assert minutes == [5, 10, 20, 30, 30, 5]


def test_retries_are_capped_at_six_hours(db):
    [film] = add_films(db, 1)
    ensure_rows(db, "p", NOW)
    claim(db, "p", "one", 1, LEASE, NOW)
    finish(db, "p", "one", [film], set(), NOW, always(7 * DAY))
    later = NOW + 2 * DAY  # the scheduler was down for two days
    claim(db, "p", "one", 1, LEASE, later)
    finish(db, "p", "one", [film], set(), later, always(7 * DAY))
    assert state(db, film).due_at == later + 6 * HOUR


def test_due_summary_counts_due_films_including_those_without_a_row(db):
    assert due_summary(db, "p", NOW) == (0, None)
    a, b, c = add_films(db, 3)
    assert due_summary(db, "p", NOW) == (3, NOW)
    set_due(db, "p", {a: NOW - HOUR, b: NOW + HOUR})
    assert due_summary(db, "p", NOW) == (2, NOW - HOUR)
    set_due(db, "p", {c: NOW + 2 * HOUR})
    assert due_summary(db, "p", NOW) == (1, NOW - HOUR)
    claim(db, "p", "one", 1, LEASE, NOW)
    finish(db, "p", "one", [a], {a}, NOW, always(DAY))
    assert due_summary(db, "p", NOW) == (0, NOW + HOUR)


def test_owners_are_unique_per_call_and_fit_the_column():
    owners = {new_owner() for _ in range(3)}
    assert len(owners) == 3
    assert all(len(owner) <= 64 for owner in owners)


@pytest.mark.parametrize("bad_now", [dt.datetime(2026, 3, 1, 12)])
def test_naive_times_are_refused(db, bad_now):
    add_films(db, 1)
    with pytest.raises(Exception, match="naive datetime"):
        ensure_rows(db, "p", bad_now)
