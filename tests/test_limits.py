"""Provider limits shared by every process: two limiters on one database stand for two
processes. Time is a fake clock that moves only when slept through or advanced."""
from __future__ import annotations

import datetime as dt
import multiprocessing
import os
import uuid
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest
import responses
from sqlalchemy import create_engine, text

from affiliate.db import Database
from affiliate.limits import (
    RATE_MARGIN,
    ProviderLimiter,
    QuotaExhausted,
    _EnginePool,
    limits_file,
    shared_buckets,
)
from affiliate.resilience import quota_exhausted
from providers.amazon import AmazonProvider
from providers.base import FilmKey, FilmQuery, RateLimited
from providers.itunes import ItunesProvider
from providers.registry import validate_provider_settings
from providers.streaming_availability import StreamingAvailabilityProvider
from tests.clock import FakeClock

REDIS_URL = os.environ.get("AFFILIATE_TEST_REDIS_URL")
START = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.timezone.utc)
DAY = 86_400


@pytest.fixture
def database(database_url):
    database = Database(database_url)
    yield database
    database.dispose()


@pytest.fixture
def clock():
    return FakeClock(START)


@pytest.fixture
def limiter(database, clock):
    """Builds limiters as separate processes would: each with its own bucket and connection."""
    made: list[ProviderLimiter] = []

    def make(name="amazon", per_second=None, quota=None, margin=0.0, **options):
        """Exact rates (no margin) unless `margin` is given, so waits read as the rate."""
        built = ProviderLimiter(name, per_second, quota, shared_buckets(database.engine),
                                clock=clock, margin=margin, **options)
        made.append(built)
        return built

    yield make
    for built in made:
        built.close()


def test_two_processes_share_one_rate(limiter, clock):
    first, second = limiter(per_second=1), limiter(per_second=1)
    first.acquire()
    second.acquire()  # the other process's request counts: wait for the next second
    assert clock.slept == [pytest.approx(1.001)]
    first.acquire()
    assert clock.slept == [pytest.approx(1.001)] * 2


def test_providers_do_not_share_each_others_rate(limiter, clock):
    limiter("amazon", per_second=1).acquire()
    limiter("itunes", per_second=1).acquire()
    limiter("amazon-de", per_second=1).acquire()
    limiter("amazon_de", per_second=1).acquire()  # a different name, however close
    assert clock.slept == []


def test_a_rate_below_one_a_second_spaces_requests(limiter, clock):
    apple = limiter("itunes", per_second=ItunesProvider.requests_per_second)
    apple.acquire()
    apple.acquire()
    assert clock.slept == [pytest.approx(3.001)]  # 20 a minute: one every 3 s


def test_a_whole_second_of_rate_may_go_at_once(limiter, clock):
    tmdb = limiter("tmdb", per_second=40)
    for _ in range(40):
        tmdb.acquire()
    assert clock.slept == []
    tmdb.acquire()
    assert clock.slept == [pytest.approx(1.001)]


def test_the_default_margin_stretches_the_window_not_the_burst(limiter, clock):
    tmdb = limiter("tmdb", per_second=40, margin=RATE_MARGIN)
    for _ in range(40):
        tmdb.acquire()
    tmdb.acquire()
    # 40 requests per 1.031 s: 38.8 a second, 97 % of the published 40.
    assert RATE_MARGIN == 0.03 and clock.slept == [pytest.approx(1.032)]
    apple = limiter("itunes", per_second=ItunesProvider.requests_per_second, margin=RATE_MARGIN)
    apple.acquire()
    apple.acquire()
    assert clock.slept[1:] == [pytest.approx(3.094)]  # one every 3.093 s instead of 3


def test_a_margin_outside_zero_to_one_is_refused(limiter):
    with pytest.raises(ValueError, match="tmdb: the rate margin must be"):
        limiter("tmdb", per_second=40, margin=1)


def test_quota_counts_down_across_processes_then_raises_until_the_window_frees(limiter, clock):
    first, second = limiter("motn", quota=3), limiter("motn", quota=3)
    assert first.quota_left() == 3
    first.acquire()
    clock.advance(hours=1)
    second.acquire()
    assert (first.quota_left(), second.quota_left()) == (1, 1)
    clock.advance(hours=1)
    first.acquire()
    assert second.quota_left() == 0

    clock.advance(hours=1)
    with pytest.raises(QuotaExhausted) as raised:
        second.acquire()
    # The first request, three hours ago, leaves the 24-hour window in 21 hours.
    assert raised.value.retry_after == pytest.approx(21 * 3600 + 0.001)
    assert isinstance(raised.value, RateLimited) and quota_exhausted(raised.value)
    assert "motn" in str(raised.value) and clock.slept == []

    clock.advance(seconds=raised.value.retry_after)
    assert first.quota_left() == 1
    second.acquire()
    assert first.quota_left() == 0


def test_rate_and_quota_together(limiter, clock):
    amazon = limiter(per_second=AmazonProvider.requests_per_second, quota=2)
    amazon.acquire()
    amazon.acquire()
    assert clock.slept == [pytest.approx(1.001)]
    with pytest.raises(QuotaExhausted) as raised:
        amazon.acquire()
    # The rate is checked first, so the quota is found spent one rate wait later; the first
    # request (2.002 s ago) leaves the window a day after it was sent.
    assert clock.slept == [pytest.approx(1.001)] * 2
    assert raised.value.retry_after == pytest.approx(DAY + 0.001 - 2.002)
    assert amazon.quota_left() == 0


def test_never_sleeps_longer_than_max_wait(limiter, clock):
    slow = limiter("slow", per_second=1 / 60, max_wait=30)
    slow.acquire()
    with pytest.raises(RateLimited) as raised:
        slow.acquire()
    assert not isinstance(raised.value, QuotaExhausted)
    assert raised.value.retry_after == pytest.approx(60.001)
    assert clock.slept == []  # it says so at once instead of sleeping 30 s first


def test_waits_add_up_to_max_wait_at_most(limiter, clock):
    ours, others = limiter("busy", per_second=1, max_wait=2.5), limiter("busy", per_second=1)
    ours.acquire()

    def another_process_takes_every_slot(seconds):
        FakeClock.sleep(clock, seconds)
        others.acquire()

    clock.sleep = another_process_takes_every_slot
    with pytest.raises(RateLimited):
        ours.acquire()
    assert sum(clock.slept) <= 2.5 and len(clock.slept) == 2


def test_without_limits_nothing_is_stored_or_waited_for(limiter, clock):
    feed = limiter("demo")
    for _ in range(3):
        feed.acquire()
    assert feed.quota_left() is None and clock.slept == []


def test_a_quota_below_the_rates_burst_is_the_only_limit(limiter, clock):
    tmdb = limiter("tmdb", per_second=40, quota=10)
    for _ in range(10):
        tmdb.acquire()
    assert clock.slept == [] and tmdb.quota_left() == 0
    with pytest.raises(QuotaExhausted):
        tmdb.acquire()


def test_a_quota_the_rate_cannot_reach_in_a_day_is_still_counted(limiter, clock):
    slow = limiter("slow", per_second=1, quota=100_000)
    slow.acquire()
    slow.acquire()
    assert clock.slept == [pytest.approx(1.001)] and slow.quota_left() == 100_000 - 2


def motn_settings(**table):
    return StreamingAvailabilityProvider.Settings(type="streaming-availability", api_key="k", **table)


def test_for_provider_reads_the_class_limits(database, clock):
    motn = ProviderLimiter.for_provider("motn", StreamingAvailabilityProvider, motn_settings(),
                                        shared_buckets(database.engine), clock=clock)
    try:
        assert motn.quota_left() == StreamingAvailabilityProvider.daily_quota == 100
    finally:
        motn.close()


def test_a_paid_plans_limits_in_the_provider_table_replace_the_published_ones(database, clock):
    settings = motn_settings(daily_quota=25_000, requests_per_second=10)
    motn = ProviderLimiter.for_provider("motn", StreamingAvailabilityProvider, settings,
                                        shared_buckets(database.engine), clock=clock, margin=0)
    adapter = StreamingAvailabilityProvider("motn", settings)
    try:
        for _ in range(11):
            motn.acquire()
        assert clock.slept == [pytest.approx(1.001)]  # 10 a second
        assert motn.quota_left() == 25_000 - 11
        assert (adapter.requests_per_second, adapter.daily_quota) == (10, 25_000)
        assert StreamingAvailabilityProvider.daily_quota == 100  # the class keeps its own
    finally:
        motn.close()


@pytest.mark.parametrize("key, value, message", [
    ("requests_per_second", 0, "greater than 0"),
    ("requests_per_second", "fast", "valid number"),
    ("daily_quota", 0, "greater than or equal to 1"),
])
def test_a_wrong_limit_in_a_provider_table_names_its_key(key, value, message):
    with pytest.raises(ValueError, match=f"config key providers.motn.{key}: .*{message}"):
        validate_provider_settings("motn", {"type": "streaming-availability", "api_key": "k", key: value})


@responses.activate
def test_a_spent_quota_stops_an_adapter_before_its_request(limiter):
    url = "https://streaming-availability.p.rapidapi.com/shows/"
    responses.get(url + "tt0113627", json={"id": "1", "title": "Leaving Las Vegas",
                                           "streamingOptions": {}})
    settings = StreamingAvailabilityProvider.Settings(type="streaming-availability", api_key="k")
    adapter = StreamingAvailabilityProvider("motn", settings, throttle=limiter("motn", quota=1).acquire)
    films = [FilmQuery(key=FilmKey(imdb_id=imdb), title="", imdb_id=imdb)
             for imdb in ("tt0113627", "tt0091954")]

    with pytest.raises(QuotaExhausted):
        adapter.fetch(films)
    assert [call.request.url.split("?")[0] for call in responses.calls] == [url + "tt0113627"]


def test_sqlite_keeps_the_log_beside_the_database_not_in_it(tmp_path, clock):
    database = Database(f"sqlite:///{tmp_path / 'affiliate.db'}")
    try:
        limiter = ProviderLimiter("amazon", 1, None, shared_buckets(database.engine), clock=clock,
                                  margin=0)
        limiter.acquire()
        limiter.close()
        assert limits_file(tmp_path / "affiliate.db") == tmp_path / "affiliate-limits.db"
        assert (tmp_path / "affiliate-limits.db").is_file()
        with database.engine.connect() as connection:
            tables = connection.execute(text("SELECT name FROM sqlite_master")).scalars().all()
        assert not [name for name in tables if "amazon" in name]
    finally:
        database.dispose()


def test_an_in_memory_database_limits_this_process_only(clock):
    database = Database("sqlite://")
    try:
        limiter = ProviderLimiter("amazon", 1, 5, shared_buckets(database.engine), clock=clock,
                                  margin=0)
        limiter.acquire()
        limiter.acquire()
        assert clock.slept == [pytest.approx(1.001)] and limiter.quota_left() == 3
    finally:
        database.dispose()


def test_postgres_waits_briefly_while_another_process_holds_the_log(database, limiter, clock):
    if database.engine.url.get_backend_name() != "postgresql":
        pytest.skip("the table lock is PostgreSQL's")
    amazon = limiter(per_second=1)
    amazon.acquire()
    clock.advance(seconds=1.001)  # the rate allows the next request: only the lock is in the way
    other = create_engine(database.engine.url)
    holder = other.connect()
    holder.execute(text('LOCK TABLE "ratelimit___amazon" IN EXCLUSIVE MODE'))

    def release(seconds):
        FakeClock.sleep(clock, seconds)
        holder.rollback()

    clock.sleep = release
    try:
        amazon.acquire()
        assert clock.slept == [0.05]
    finally:
        holder.close()
        other.dispose()


def test_postgres_log_writes_skip_the_disk_flush_and_leave_the_connection_as_found(database):
    """A limiter's write commits before PostgreSQL flushes it: the request it lets go is
    sent at once, not after a catalog commit's flush (the log is disposable)."""
    if database.engine.url.get_backend_name() != "postgresql":
        pytest.skip("synchronous_commit is PostgreSQL's")
    with _EnginePool(database.engine).connection() as connection:
        assert connection.execute("SHOW synchronous_commit").fetchone()[0] == "off"
        assert connection.execute("SHOW TIME ZONE").fetchone()[0] == "UTC"
    with database.engine.connect() as connection:  # the same pooled connection, settings back
        assert connection.execute(text("SHOW synchronous_commit")).scalar() == "on"


@pytest.mark.skipif(not REDIS_URL, reason="set AFFILIATE_TEST_REDIS_URL (e.g. redis://127.0.0.1:6379/0)")
def test_redis_shares_rate_and_quota(clock):
    name = f"test-{uuid.uuid4().hex[:8]}"
    engine = create_engine("sqlite://")  # named Redis wins over the database
    first, second = (ProviderLimiter(name, 1, 2, shared_buckets(engine, REDIS_URL), clock=clock,
                                     margin=0)
                     for _ in range(2))
    try:
        first.acquire()
        second.acquire()
        assert clock.slept == [pytest.approx(1.001)] and first.quota_left() == 0
        with pytest.raises(QuotaExhausted) as raised:
            second.acquire()
        assert raised.value.retry_after == pytest.approx(DAY + 0.001 - 2.002)
    finally:
        first._bucket.flush()
        first.close()
        second.close()
        engine.dispose()


def _requests_granted(database_url: str, attempts: int) -> int:
    """One process's share of a quota: how many of its attempts were let through."""
    database = Database(database_url)
    limiter = ProviderLimiter("motn", None, 40, shared_buckets(database.engine),
                              clock=FakeClock(START))  # waits for another's lock: not slept
    granted = 0
    try:
        for _ in range(attempts):
            try:
                limiter.acquire()
            except QuotaExhausted:
                continue
            granted += 1
    finally:
        limiter.close()
        database.dispose()
    return granted


def test_processes_racing_for_a_quota_never_exceed_it(database_url):
    with ProcessPoolExecutor(4, mp_context=multiprocessing.get_context("fork")) as pool:
        shares = list(pool.map(_requests_granted, [database_url] * 4, [20] * 4))
    assert sum(shares) == 40


def test_limits_file_keeps_suffixless_names():
    assert limits_file(Path("/srv/data/affiliate")) == Path("/srv/data/affiliate-limits")
