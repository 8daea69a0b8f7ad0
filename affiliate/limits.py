"""Each provider's request rate and daily quota, kept for every process that calls its source.

A provider's limiter is one pyrate-limiter bucket: a sliding-window log of the requests sent,
checked and written in one atomic step by whichever process asks, so several scheduler
processes (and a CLI refresh beside them) share one rate and one quota. Where the log lives
follows the deployment (`shared_buckets`):

- Redis, when the service names one: RedisBucket, one sorted set per provider, checked by a
  Lua script.
- PostgreSQL: PostgresBucket, one table per provider (`ratelimit___<provider>`, created by
  the library), reached through the service's own SQLAlchemy engine: no second pool, no
  background threads.
- SQLite: SQLiteBucket in a file beside the database (`affiliate.db` -> `affiliate-limits.db`),
  guarded by a file lock. Not the database itself: SQLite has one writer per file, and the
  limiter writes a row per request, which must neither wait behind a catalog transaction nor
  hold one up; the log is disposable, and deleting the file only forgets recent counts.
- An in-memory SQLite database cannot be shared: InMemoryBucket.

The rate is "n requests per d seconds", the smallest such pair for `requests_per_second`
(40 -> 40 per second, Apple's 20 a minute -> 1 per 3 s), with the window stretched by a
safety margin (`refresh.rate_margin`, 3 % by default: 40 per 1.031 s, 38.8 a second).
Requests bunch up in transit (a thread waiting for the GIL or the collector, a busy server
reading its queue late), and a source that counts arrivals refuses a request that lands
inside the second of the one n before it; each such 429 costs a Retry-After, far more than
the margin. The margin lets either arrive up to 31 ms late; bench/RESULTS.md measures how
late they do (at most 24 ms in 20 000 requests, once the collector and PostgreSQL's disk
flushes were out of the way: 5 % had been chosen when both made requests 50–175 ms late).

The daily quota is a rolling 24 hours, which never lets more through than a calendar day
would; it has no margin, since the source counts the same requests we do. A limit that can
never bind beside the other (a quota below the rate's burst, or above what the rate lets
through in a day) is left to the other.

`acquire` never sleeps longer than `max_wait` in all: a spent quota raises QuotaExhausted
with the seconds until the oldest request of the window ages out, and a rate wait past the
budget raises RateLimited, so refresh pauses the provider instead of holding a thread. The
clock is injected (affiliate.resilience.Clock), so tests never sleep.
"""
from __future__ import annotations

import datetime as dt
import math
import re
import threading
import zlib
from contextlib import contextmanager
from fractions import Fraction
from pathlib import Path
from typing import Callable, Iterator

from pyrate_limiter import (
    AbstractBucket,
    Decision,
    Duration,
    InMemoryBucket,
    PostgresBucket,
    Rate,
    RateItem,
    RedisBucket,
    SQLiteBucket,
)
from sqlalchemy.engine import Engine

from affiliate.config import RefreshSettings
from affiliate.resilience import Clock, SystemClock
from providers.base import Provider, ProviderSettings, RateLimited

MAX_WAIT_SECONDS = 30.0
RATE_MARGIN = RefreshSettings.model_fields["rate_margin"].default
_DAY_MS = Duration.DAY.value
# PostgresBucket answers "no" without a wait when another process holds its table lock.
_CONTENTION_MS = 50
# How often one limiter deletes requests older than every window from the shared log.
_LEAK_EVERY_MS = 60_000
_PLAIN_KEY = re.compile(r"^[a-z0-9_]{1,40}$")
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
_MS = dt.timedelta(milliseconds=1)

BucketMaker = Callable[[str, list[Rate]], AbstractBucket]


class QuotaExhausted(RateLimited):
    """The provider's daily quota is spent; `retry_after` is when the window frees a request.
    Waiting in-thread cannot help: affiliate.resilience pauses the provider instead."""

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message, retry_after=retry_after, quota_exhausted=True)


class ProviderLimiter:
    """One provider's shared rate and daily quota; `acquire` is the provider's throttle."""

    def __init__(self, name: str, requests_per_second: float | None, daily_quota: int | None,
                 make_bucket: BucketMaker, *, max_wait: float = MAX_WAIT_SECONDS,
                 clock: Clock | None = None, margin: float = RATE_MARGIN):
        if not 0 <= margin < 1:
            raise ValueError(f"{name}: the rate margin must be at least 0 and below 1, not {margin:g}")
        self.name = name
        self.daily_quota = daily_quota
        self.max_wait = max_wait
        self.clock = clock or SystemClock()
        rates = _rates(requests_per_second, daily_quota, margin)
        self._bucket = make_bucket(_key(name), rates) if rates else None
        self._lock = threading.Lock()  # a bucket reports its last verdict on the instance
        self._leaked_at = 0

    @classmethod
    def for_provider(cls, name: str, provider: type[Provider], settings: ProviderSettings,
                     make_bucket: BucketMaker, **options) -> "ProviderLimiter":
        """A provider's limiter: its limits as its table sets them (a paid plan's), else as
        its adapter publishes them."""
        per_second, daily_quota = provider.configured_limits(settings)
        return cls(name, per_second, daily_quota, make_bucket, **options)

    def acquire(self) -> None:
        """Return once one more request is allowed, having slept at most `max_wait` seconds.

        Raises QuotaExhausted when the daily quota is spent, and RateLimited when the rate
        would keep this request waiting past `max_wait` (many processes queueing for it).
        """
        if self._bucket is None:
            return
        slept_ms = 0
        while True:
            now = self._now_ms()
            decision = self._put(now)
            if decision.allowed:
                return
            if decision.retry_after_ms is None:
                wait_ms = _CONTENTION_MS
            elif decision.failing_rate.interval == _DAY_MS:
                raise QuotaExhausted(
                    f"{self.name}: the daily quota of {self.daily_quota} requests is spent",
                    retry_after=decision.retry_after_ms / 1000)
            else:
                wait_ms = max(decision.retry_after_ms, 1)
            if slept_ms + wait_ms > self.max_wait * 1000:
                raise RateLimited(
                    f"{self.name}: the shared request rate would hold this request longer than "
                    f"{self.max_wait:g} s", retry_after=wait_ms / 1000)
            self.clock.sleep(wait_ms / 1000)
            slept_ms += wait_ms

    def quota_left(self) -> int | None:
        """Requests left in the last 24 hours across every process; None without a quota."""
        if self.daily_quota is None:
            return None
        with self._lock:
            self._leak(self._now_ms())
            return max(0, self.daily_quota - self._bucket.count())

    def close(self) -> None:
        if self._bucket is not None:
            self._bucket.close()

    def _put(self, now: int) -> Decision:
        with self._lock:
            if now - self._leaked_at >= _LEAK_EVERY_MS:
                self._leak(now)
            return self._bucket.put_decision(RateItem(self.name, now))

    def _leak(self, now: int) -> None:
        self._bucket.leak(now)
        self._leaked_at = now

    def _now_ms(self) -> int:
        return (self.clock.now() - _EPOCH) // _MS  # exact: float seconds would drift by a ms


def _rates(per_second: float | None, daily_quota: int | None, margin: float) -> list[Rate]:
    """The windows one bucket checks, shortest first. pyrate-limiter takes only lists in which
    each longer window allows more requests but fewer per millisecond, so a limit that can
    never bind beside the other is dropped (a quota below the rate's burst leaves the quota
    alone) or capped at what the rate lets through in a day (so the bucket still counts the
    day's requests for `quota_left`)."""
    rate = None
    if per_second is not None:
        share = Fraction(per_second).limit_denominator(1000)
        rate = Rate(share.numerator, math.ceil(Duration.SECOND * share.denominator / (1 - margin)))
    if daily_quota is None:
        return [rate] if rate else []
    if rate is None or rate.limit >= daily_quota:
        return [Rate(daily_quota, Duration.DAY)]
    most_in_a_day = rate.limit * _DAY_MS // rate.interval
    return [rate, Rate(min(daily_quota, most_in_a_day), Duration.DAY)]


def _key(name: str) -> str:
    """A table or key name for a provider: its own name when plain, else a slug and a hash
    (so "amazon-de" and "amazon_de" stay apart)."""
    if _PLAIN_KEY.match(name):
        return name
    slug = re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")[:30]
    return f"{slug}_{zlib.crc32(name.encode()):08x}"


def shared_buckets(engine: Engine, redis_url: str | None = None) -> BucketMaker:
    """Where this deployment's limiters keep their logs: Redis if named, else the database."""
    if redis_url:
        from redis import Redis  # optional: installed only where a Redis is used

        client = Redis.from_url(redis_url)
        return lambda key, rates: RedisBucket.init(rates, client, f"affiliate:limits:{key}")
    url = engine.url
    if url.get_backend_name() == "postgresql":
        pool = _EnginePool(engine)
        return lambda key, rates: PostgresBucket(pool, key, rates)
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        path = str(limits_file(Path(url.database)))
        return lambda key, rates: SQLiteBucket.init_from_file(rates, table=key, db_path=path,
                                                              use_file_lock=True)
    return lambda key, rates: InMemoryBucket(rates)


def limits_file(database: Path) -> Path:
    """The SQLite file beside the database that holds the limiters' logs."""
    return database.with_name(f"{database.stem}-limits{database.suffix}")


class _EnginePool:
    """The one part of a psycopg ConnectionPool that PostgresBucket uses, served by the
    service's SQLAlchemy engine, so limiters share its connections."""

    closed = False

    def __init__(self, engine: Engine):
        self.engine = engine

    @contextmanager
    def connection(self) -> Iterator:
        """A psycopg connection in a transaction that commits when the block ends, as the
        pool's does; timestamps are read and written in UTC whatever the server's zone.

        The commit does not wait for the disk (synchronous_commit off, for this transaction
        only): the request it lets go is stamped before the commit, and waiting behind a
        catalog commit's flush made it arrive up to ~50 ms late. A crash loses at most the
        last moment of a disposable log."""
        from psycopg.pq import TransactionStatus  # only PostgreSQL's limiter loads the driver

        proxied = self.engine.raw_connection()
        connection = proxied.driver_connection
        try:
            connection.execute("SELECT set_config('TimeZone', 'UTC', true),"
                               " set_config('synchronous_commit', 'off', true)")
            yield connection
            if connection.info.transaction_status == TransactionStatus.INERROR:
                connection.rollback()  # the bucket's NOWAIT lock was refused
            else:
                connection.commit()
        except BaseException:
            connection.rollback()
            raise
        finally:
            proxied.close()

    def close(self) -> None:
        """The engine belongs to the service's Database, which disposes of it."""
