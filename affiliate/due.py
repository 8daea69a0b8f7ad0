"""What is due: when each (film, provider) is next refreshed, and which process holds it.

Every function takes the time as `now`, so tests and the scheduler share one clock, and each
is one short transaction, so several scheduler processes can share the work.

Refresh interval (`ttl_for`), from the provider's own interval:
- popular films refresh more often: 10 or more widget views in the last 7 days (today and
  the 6 days before, UTC) divide it by 4, 100 or more by 12, never below 15 minutes (nor
  above the provider's interval);
- a film with one of this provider's visible offers leaving within 7 days (or already past
  its leaving date) refreshes at least daily, so the day it leaves is seen;
- a provider whose prices may not be shown past an age (Amazon: 24 h) refreshes at least
  every half of that age, leaving the other half for retries before a price goes stale.

Claim order: the most overdue first, popular films with a head start: a film is treated
as due 1 hour earlier per popularity tier (10+ views: 1 h, 100+ views: 2 h). The head
start is bounded, so an unpopular film waits at most 2 hours behind one that fell due after
it and is never starved; ties go to the lower film id.

Leases: `claim` marks rows with an owner (one per process, `new_owner`) until an expiry.
Another process takes a row over only once that lease has expired (its holder died or
hung); `finish` and `release` touch only rows their owner still holds, so a process whose
work was taken over cannot overwrite its successor's state.

Change feeds (Streaming Availability /changes): one process at a time reads a provider's
feed, once per interval (`take_changes_turn`); the films it names are made due now and the
feed's cursor advances in the same transaction (`changed_films_due`), so a crash between
the two neither loses a change nor skips one.
"""
from __future__ import annotations

import datetime as dt
import os
import secrets
import socket
from collections.abc import Callable, Iterable, Mapping
from functools import cache

from sqlalchemy import Date, Float, Integer, bindparam, case, exists, func, literal, or_, select, update
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from affiliate.db import Database, conflict_insert
from affiliate.models import Film, FilmProviderState, FilmView, Offer, ProviderState
from affiliate.types import UTCDateTime

VIEW_WINDOW_DAYS = 7
# (views in the window, divisor of the provider's interval), most popular first.
POPULARITY_TIERS = ((100, 12), (10, 4))
TTL_FLOOR = dt.timedelta(minutes=15)
LEAVING_WITHIN = dt.timedelta(days=7)
LEAVING_TTL = dt.timedelta(days=1)
HEAD_START_PER_TIER = dt.timedelta(hours=1)
RETRY_MIN = dt.timedelta(minutes=5)
RETRY_CAP = dt.timedelta(hours=6)

_state = FilmProviderState.__table__
_views = FilmView.__table__
_providers = ProviderState.__table__


def new_owner() -> str:
    """A lease owner naming this process, unique even if a pid is reused after a crash."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{secrets.token_hex(4)}"


def record_view(db: Database, film_id: int, now: dt.datetime) -> None:
    """Count one widget view of a film today; one atomic upsert, safe for many web workers."""
    record_views(db, {(film_id, _today(now)): 1})


def record_views(db: Database, counts: Mapping[tuple[int, dt.date], int]) -> None:
    """Add views per (film id, day) in one transaction of atomic upserts (the web processes
    buffer them: affiliate.view_counts). Built as one multi-row INSERT, 10 000 rows cost a
    web process ~2 s of CPU and ~200 000 objects to collect, ~0.3 s as a prepared statement
    run per row; on PostgreSQL they go as three arrays, which cost ~0.03 s. Rows go in key
    order, so processes flushing the same films lock them in the same order and never
    deadlock."""
    if not counts:
        return
    ordered = sorted(counts.items())
    with db.engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            keys, views = zip(*ordered)
            film_ids, days = zip(*keys)
            connection.execute(_pg_view_upsert(), {
                "film_ids": list(film_ids), "days": list(days), "views": list(views)})
        else:
            stmt = conflict_insert(connection, _views)
            connection.execute(stmt.on_conflict_do_update(
                index_elements=["film_id", "day"],
                set_={"views": _views.c.views + stmt.excluded.views}),
                [{"film_id": film_id, "day": day, "views": views}
                 for (film_id, day), views in ordered])


@cache
def _pg_view_upsert():
    from sqlalchemy.dialects.postgresql import ARRAY, insert

    rows = func.unnest(bindparam("film_ids", type_=ARRAY(Integer)),
                       bindparam("days", type_=ARRAY(Date)),
                       bindparam("views", type_=ARRAY(Integer))).table_valued(
        "film_id", "day", "views").render_derived("counted")
    stmt = insert(_views).from_select(["film_id", "day", "views"], select(
        rows.c.film_id, rows.c.day, rows.c.views).order_by(rows.c.film_id, rows.c.day))
    return stmt.on_conflict_do_update(index_elements=["film_id", "day"],
                                      set_={"views": _views.c.views + stmt.excluded.views})


def ttl_for(provider_ttl: dt.timedelta, views_last_7_days: int, leaving_within_week: bool,
            price_max_age: dt.timedelta | None) -> dt.timedelta:
    """How long a film's data from this provider stays fresh (rules in the module docstring)."""
    ttl = provider_ttl
    for threshold, divisor in POPULARITY_TIERS:
        if views_last_7_days >= threshold:
            ttl = max(provider_ttl / divisor, min(TTL_FLOOR, provider_ttl))
            break
    if leaving_within_week:
        ttl = min(ttl, LEAVING_TTL)
    if price_max_age is not None:
        ttl = min(ttl, price_max_age / 2)
    return ttl


def film_ttls(db: Database, provider_name: str, film_ids: Iterable[int], provider_ttl: dt.timedelta,
              price_max_age: dt.timedelta | None, now: dt.datetime) -> dict[int, dt.timedelta]:
    """`ttl_for` of each film, reading views and leaving dates in two queries."""
    ids = list(film_ids)
    today = _today(now)
    with db.engine.connect() as connection:
        views = dict(connection.execute(
            select(_views.c.film_id, func.sum(_views.c.views))
            .where(_views.c.film_id.in_(ids), _views.c.day >= _window_start(now))
            .group_by(_views.c.film_id)).all())
        leaving = set(connection.execute(
            select(Offer.film_id).distinct()
            .where(Offer.film_id.in_(ids), Offer.source == provider_name, Offer.hidden.is_(False),
                   Offer.expires_on.is_not(None), Offer.expires_on <= today + LEAVING_WITHIN)).scalars())
    return {film_id: ttl_for(provider_ttl, views.get(film_id, 0), film_id in leaving, price_max_age)
            for film_id in ids}


def ensure_rows(db: Database, provider_name: str, now: dt.datetime) -> int:
    """Give every film without a state row for this provider one, due now; return how many.

    One INSERT ... SELECT; ON CONFLICT DO NOTHING lets two processes run it at once. Counted
    by the row count, not read back: a new catalog's first run would hold every film's id.
    """
    missing = select(Film.id, literal(provider_name), literal(now, UTCDateTime())).where(
        ~exists().where(_state.c.film_id == Film.id, _state.c.provider == provider_name))
    stmt = (conflict_insert(db.engine, _state)
            .from_select(["film_id", "provider", "due_at"], missing)
            .on_conflict_do_nothing(index_elements=["film_id", "provider"]))
    with db.engine.begin() as connection:
        # Kept only when asked for: the INSERT's cursor is closed at once, and psycopg's then says -1.
        return connection.execute(stmt, execution_options={"preserve_rowcount": True}).rowcount


def mark_discovered(db: Database, provider_name: str, film_ids: set[int], now: dt.datetime) -> None:
    """The provider has searched for these films' candidate products (FilmQuery.discovered);
    a film refreshed by name, outside the due queue, gets its row here."""
    if not film_ids:
        return
    stmt = conflict_insert(db.engine, _state).values([
        {"film_id": film_id, "provider": provider_name, "due_at": now, "discovered_at": now}
        for film_id in sorted(film_ids)])
    with db.engine.begin() as connection:
        connection.execute(stmt.on_conflict_do_update(
            index_elements=["film_id", "provider"], set_={"discovered_at": now}))


def claim(db: Database, provider_name: str, owner: str, limit: int, lease: dt.timedelta,
          now: dt.datetime) -> list[int]:
    """Lease up to `limit` due films to `owner` until now + lease; return their ids, sorted.

    One statement: UPDATE ... WHERE id IN (SELECT ... ORDER BY priority LIMIT n FOR UPDATE
    SKIP LOCKED) AND lease free RETURNING film_id. On PostgreSQL the sub-select locks the
    rows it picks and skips rows another claim has locked, and the outer condition is
    checked again on the row as committed, so two processes never take the same row. SQLite
    renders no FOR UPDATE: it runs a writing statement under the database's single write
    lock (taken before the statement reads), so the pick and the update are atomic there.
    """
    if limit <= 0:
        return []
    free = _lease_free(now)
    picked = (select(_state.c.id)
              .where(_state.c.provider == provider_name, _state.c.due_at <= now, free)
              .order_by(_priority(now), _state.c.film_id)
              .limit(limit)
              .with_for_update(skip_locked=True))
    stmt = (update(_state).where(_state.c.id.in_(picked), free)
            .values(lease_owner=owner, lease_expires_at=now + lease)
            .returning(_state.c.film_id))
    with db.engine.begin() as connection:
        return sorted(connection.execute(stmt).scalars())


def finish(db: Database, provider_name: str, owner: str, film_ids: Iterable[int],
           succeeded: set[int], now: dt.datetime,
           ttl_of: Callable[[int], dt.timedelta]) -> set[int]:
    """Record the outcome of films `owner` still holds and release them; return their ids.

    A success is next due after the film's TTL; a failure is retried after a delay that
    starts at 5 minutes and doubles with each consecutive failure (twice the time since the
    last failed attempt), capped at 6 hours and at the film's TTL. Rows another owner has
    taken over are left alone.
    """
    held = _held(provider_name, owner, list(film_ids))
    with db.engine.begin() as connection:
        rows = connection.execute(
            select(_state.c.film_id, _state.c.last_attempt_at, _state.c.last_success_at)
            .where(held).with_for_update()).all()
        if not rows:
            return set()
        due, success = {}, {}
        for film_id, last_attempt_at, last_success_at in rows:
            ttl = ttl_of(film_id)
            if film_id in succeeded:
                due[film_id], success[film_id] = now + ttl, now
            else:
                due[film_id] = now + _retry_delay(last_attempt_at, last_success_at, now, ttl)
        success_at = (case({f: literal(at, UTCDateTime()) for f, at in success.items()},
                           value=_state.c.film_id, else_=_state.c.last_success_at)
                      if success else _state.c.last_success_at)
        stmt = (update(_state).where(held, _state.c.film_id.in_(due))
                .values(due_at=case({f: literal(at, UTCDateTime()) for f, at in due.items()},
                                    value=_state.c.film_id),
                        last_success_at=success_at, last_attempt_at=now,
                        lease_owner=None, lease_expires_at=None)
                .returning(_state.c.film_id))
        return set(connection.execute(stmt).scalars())


def release(db: Database, provider_name: str, owner: str) -> int:
    """Give back every lease `owner` holds (at shutdown), leaving the films due as they were."""
    stmt = (update(_state).where(_state.c.provider == provider_name, _state.c.lease_owner == owner)
            .values(lease_owner=None, lease_expires_at=None))
    with db.engine.begin() as connection:
        return connection.execute(stmt).rowcount


def make_due(db: Database, provider_name: str, now: dt.datetime) -> int:
    """Make every film due now for this provider (an operator's "refresh now"); return how
    many were not due yet. Leases are left alone: a film being fetched finishes as it is."""
    ensure_rows(db, provider_name, now)
    stmt = (update(_state).where(_state.c.provider == provider_name, _state.c.due_at > now)
            .values(due_at=now))
    with db.engine.begin() as connection:
        return connection.execute(stmt).rowcount


def take_changes_turn(db: Database, provider_name: str, every: dt.timedelta, now: dt.datetime) -> bool:
    """True if this process is to read the provider's change feed now: its last reading
    began at least `every` ago. One conditional UPDATE decides between processes, as the
    breaker's trial does; the provider's row exists (its guard made it)."""
    stmt = (update(_providers)
            .where(_providers.c.name == provider_name,
                   or_(_providers.c.changes_read_at.is_(None), _providers.c.changes_read_at <= now - every))
            .values(changes_read_at=now))
    with db.engine.begin() as connection:
        return connection.execute(stmt).rowcount == 1


def changes_cursor(db: Database, provider_name: str) -> str | None:
    with db.engine.connect() as connection:
        return connection.execute(select(_providers.c.changes_cursor)
                                  .where(_providers.c.name == provider_name)).scalar()


def changed_films_due(db: Database, provider_name: str, film_ids: Iterable[int], cursor: str | None,
                      now: dt.datetime) -> int:
    """Make these films due now for the provider (none is put off) and store the feed's new
    cursor, in one transaction; return how many films were brought forward."""
    ids = sorted(set(film_ids))
    with db.engine.begin() as connection:
        moved = 0
        if ids:
            moved = connection.execute(
                update(_state).where(_state.c.provider == provider_name, _state.c.film_id.in_(ids),
                                     _state.c.due_at > now)
                .values(due_at=now)).rowcount
        connection.execute(update(_providers).where(_providers.c.name == provider_name)
                           .values(changes_cursor=cursor))
    return moved


def due_summary(db: Database, provider_name: str, now: dt.datetime) -> tuple[int, dt.datetime | None]:
    """(films due now, earliest due time) for `affiliate status`.

    Films without a state row yet count as due now. The earliest due time is in the past
    when work is overdue (how far behind the provider is); None when there are no films.
    """
    with db.engine.connect() as connection:
        due, earliest = connection.execute(
            select(func.count().filter(_state.c.due_at <= now), func.min(_state.c.due_at))
            .where(_state.c.provider == provider_name)).one()
        missing = connection.execute(select(func.count()).select_from(Film.__table__).where(
            ~exists().where(_state.c.film_id == Film.id, _state.c.provider == provider_name))).scalar_one()
    if missing:
        earliest = now if earliest is None else min(earliest, now)
    return due + missing, earliest


class _epoch_seconds(FunctionElement):
    """Seconds since 1970 of a timestamp, so times can be shifted in ORDER BY on both databases."""

    type = Float()
    inherit_cache = True


@compiles(_epoch_seconds, "postgresql")
def _epoch_postgresql(element, compiler, **kw):
    return f"extract(epoch from {compiler.process(element.clauses, **kw)})"


@compiles(_epoch_seconds, "sqlite")
def _epoch_sqlite(element, compiler, **kw):
    return f"(julianday({compiler.process(element.clauses, **kw)}) * 86400.0)"


def _priority(now: dt.datetime):
    """Due time less the popularity head start: lower is claimed first."""
    views = func.coalesce(func.sum(_views.c.views), 0)
    tier = (select(case(*[(views >= threshold, len(POPULARITY_TIERS) - rank)
                          for rank, (threshold, _divisor) in enumerate(POPULARITY_TIERS)], else_=0))
            .where(_views.c.film_id == _state.c.film_id, _views.c.day >= _window_start(now))
            .scalar_subquery())
    return _epoch_seconds(_state.c.due_at) - tier * HEAD_START_PER_TIER.total_seconds()


def _lease_free(now: dt.datetime):
    return or_(_state.c.lease_owner.is_(None), _state.c.lease_expires_at <= now)


def _held(provider_name: str, owner: str, film_ids: list[int]):
    return ((_state.c.provider == provider_name) & (_state.c.lease_owner == owner)
            & _state.c.film_id.in_(film_ids))


def _retry_delay(last_attempt_at: dt.datetime | None, last_success_at: dt.datetime | None,
                 now: dt.datetime, ttl: dt.timedelta) -> dt.timedelta:
    failing = last_attempt_at is not None and (last_success_at is None or last_success_at < last_attempt_at)
    delay = 2 * (now - last_attempt_at) if failing else RETRY_MIN
    return min(max(delay, RETRY_MIN), RETRY_CAP, ttl)


def _today(now: dt.datetime) -> dt.date:
    return now.astimezone(dt.UTC).date()


def _window_start(now: dt.datetime) -> dt.date:
    return _today(now) - dt.timedelta(days=VIEW_WINDOW_DAYS - 1)
