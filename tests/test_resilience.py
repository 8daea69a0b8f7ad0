"""Retries, pauses, the circuit breaker and the auth block, on a fake clock: nothing sleeps.

Two guards on two engines over one database stand for two processes.
"""
from __future__ import annotations

import datetime as dt
import logging
import os
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from email.utils import format_datetime
from pathlib import Path

import pytest
import responses
from sqlmodel import select

from affiliate.db import Database
from affiliate.models import ProviderState
from affiliate.resilience import (
    ProviderGuard,
    RetryPolicy,
    SystemClock,
    call_with_retries,
    credentials_fingerprint,
)
from providers.base import AuthFailed, BadResponse, NotFound, RateLimited, Transient
from providers.http import Http
from providers.registry import build_provider
from tests.clock import START, FakeClock

COOLDOWN = dt.timedelta(minutes=15)
KEY_1 = "wm-SECRET-first-7c1d"
KEY_2 = "wm-SECRET-second-93ab"
URL = "https://api.watchmode.com/v1/search/"


def scripted(*outcomes):
    """A call that raises or returns each outcome in turn and counts its calls."""
    calls = []

    def call():
        outcome = outcomes[len(calls)]
        calls.append(outcome)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    call.calls = calls
    return call


def sequence(*values):
    return iter(values).__next__


def no_jitter_expected():
    raise AssertionError("the delay was the source's Retry-After, not a backoff")


def watchmode(key: str = KEY_1):
    return build_provider("wm", {"type": "watchmode", "api_key": key})


def spent_quota(retry_after: float | None = None) -> RateLimited:
    error = RateLimited(f"{URL}: HTTP 402, the plan's API quota is used up", retry_after=retry_after)
    error.quota_exhausted = True
    return error


@pytest.fixture
def clock():
    return FakeClock()


@pytest.fixture
def engines(db):
    """More processes' connections to the test database; each test asks for what it needs."""
    opened = []

    def another() -> Database:
        opened.append(Database(db.url))
        return opened[-1]

    yield another
    for database in opened:
        database.dispose()


@pytest.fixture
def guards(db, engines, clock):
    """Guard factory: the first on the fixture's engine, every later one on its own."""
    made = []

    def guard(provider=None, **options):
        options.setdefault("breaker_threshold", 3)
        database = db if not made else engines()
        made.append(ProviderGuard(database, provider or watchmode(), clock, **options))
        return made[-1]

    return guard


def stored(db) -> ProviderState:
    with db.session() as session:
        return session.exec(select(ProviderState).where(ProviderState.name == "wm")).one()


def open_breaker(guard, failures: int = 3) -> None:
    for _ in range(failures):
        guard.record_failure(Transient(f"{URL}: HTTP 503"))


# --- retries -------------------------------------------------------------------------------

def test_backoff_doubles_up_to_the_cap_with_full_jitter(clock):
    policy = RetryPolicy(attempts=5, base_delay_seconds=1, max_delay_seconds=5)
    call = scripted(*[Transient("HTTP 503")] * 4, "answer")

    assert call_with_retries(call, policy, clock, rng=sequence(0.9, 0.1, 0.6, 0.999)) == "answer"

    # Ceilings 1, 2, 4, then capped at 5; each delay is the jitter share of its ceiling.
    assert clock.slept == pytest.approx([0.9, 0.2, 2.4, 4.995])
    assert len(call.calls) == 5


@pytest.mark.parametrize("share", [0.0, 0.999999])
def test_jitter_stays_between_zero_and_the_ceiling(clock, share):
    policy = RetryPolicy(attempts=4, base_delay_seconds=2, max_delay_seconds=30)
    call_with_retries(scripted(*[Transient("HTTP 502")] * 3, "answer"), policy, clock,
                      rng=lambda: share)

    for delay, ceiling in zip(clock.slept, [2, 4, 8], strict=True):
        assert 0 <= delay < ceiling


def test_gives_up_after_the_configured_attempts(clock):
    errors = [Transient(f"HTTP 503 #{n}") for n in range(3)]
    call = scripted(*errors)

    with pytest.raises(Transient) as raised:
        call_with_retries(call, RetryPolicy(attempts=3), clock, rng=lambda: 0.5)

    assert raised.value is errors[-1]
    assert len(call.calls) == 3
    assert clock.slept == [0.5, 1.0]


def test_retry_after_seconds_are_slept_as_given(clock):
    call = scripted(RateLimited("HTTP 429", retry_after=7.0), "answer")

    assert call_with_retries(call, RetryPolicy(), clock, rng=no_jitter_expected) == "answer"
    assert clock.slept == [7.0]


@responses.activate
def test_retry_after_http_date_is_slept_as_the_adapter_read_it(clock):
    when = dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=20)
    responses.get(URL, status=429, headers={"Retry-After": format_datetime(when, usegmt=True)})
    responses.get(URL, json={"title_results": []})
    seen = []

    def call():
        try:
            return Http(5).request("GET", URL).json()
        except RateLimited as error:
            seen.append(error.retry_after)
            raise

    assert call_with_retries(call, RetryPolicy(), clock, rng=no_jitter_expected) == {"title_results": []}
    assert seen[0] is not None and 0 < seen[0] <= 20
    assert clock.slept == seen


@responses.activate
def test_garbage_retry_after_falls_back_to_backoff(clock):
    responses.get(URL, status=429, headers={"Retry-After": "in a little while"})
    responses.get(URL, json={"title_results": []})

    call_with_retries(lambda: Http(5).request("GET", URL), RetryPolicy(base_delay_seconds=4), clock,
                      rng=lambda: 0.25)

    assert clock.slept == [1.0]


@pytest.mark.parametrize("error", [AuthFailed("HTTP 401"), NotFound("HTTP 404"),
                                   BadResponse("title_results: field required"),
                                   ValueError("an adapter bug")])
def test_other_failures_are_never_retried(clock, error):
    call = scripted(error, "answer")

    with pytest.raises(type(error)):
        call_with_retries(call, RetryPolicy(attempts=5), clock)

    assert len(call.calls) == 1
    assert clock.slept == []


@pytest.mark.parametrize("retry_after", [None, 5.0])
def test_spent_quota_is_not_retried_even_with_a_short_retry_after(clock, retry_after):
    call = scripted(spent_quota(retry_after), "answer")

    with pytest.raises(RateLimited):
        call_with_retries(call, RetryPolicy(attempts=5), clock)

    assert len(call.calls) == 1
    assert clock.slept == []


def test_system_clock_tells_aware_utc():
    assert SystemClock().now().utcoffset() == dt.timedelta(0)


# --- pauses --------------------------------------------------------------------------------

@responses.activate
def test_long_retry_after_is_raised_at_once_and_pauses_every_process(clock, guards):
    responses.get(URL, status=429, headers={"Retry-After": "3600"})
    first, second = guards(), guards()

    with pytest.raises(RateLimited) as raised:
        call_with_retries(lambda: Http(5).request("GET", URL), RetryPolicy(max_wait_seconds=30), clock)
    assert clock.slept == [] and len(responses.calls) == 1

    first.record_failure(raised.value)

    assert second.check() == "paused until 2026-03-01 13:00:00 UTC"
    clock.advance(seconds=3599)
    assert first.check() is not None
    clock.advance(seconds=1)
    assert second.check() is None


def test_a_pause_is_extended_but_never_shortened(clock, guards, db):
    first, second = guards(), guards()
    first.record_failure(RateLimited("HTTP 429", retry_after=3600))
    second.record_failure(RateLimited("HTTP 429", retry_after=60))
    assert stored(db).paused_until == START + dt.timedelta(hours=1)

    second.record_failure(RateLimited("HTTP 429", retry_after=7200))
    assert stored(db).paused_until == START + dt.timedelta(hours=2)


def test_rate_limit_without_retry_after_counts_but_does_not_pause(guards, db):
    guard = guards()

    assert guard.record_failure(RateLimited("HTTP 429")) == 1

    assert stored(db).paused_until is None
    assert guard.check() is None


def test_spent_quota_pauses_until_the_next_utc_midnight(clock, guards):
    first, second = guards(), guards()
    first.record_failure(spent_quota())

    assert second.check() == "paused until 2026-03-02 00:00:00 UTC"
    clock.advance(hours=11, minutes=59, seconds=59)
    assert second.check() is not None
    clock.advance(seconds=1)
    assert first.check() is None


def test_spent_quota_with_a_retry_after_pauses_for_it(guards):
    guard = guards()
    guard.record_failure(spent_quota(retry_after=5))

    assert guard.check() == "paused until 2026-03-01 12:00:05 UTC"


def test_spent_quota_pause_can_be_configured(guards):
    guard = guards(quota_pause=dt.timedelta(hours=6))
    guard.record_failure(spent_quota())

    assert guard.check() == "paused until 2026-03-01 18:00:00 UTC"


def test_success_clears_pause_and_failures(guards, db):
    first, second = guards(), guards()
    first.record_failure(Transient("HTTP 503"))
    first.record_failure(RateLimited("HTTP 429", retry_after=600))

    assert second.record_success() == 2

    state = stored(db)
    assert (state.consecutive_failures, state.paused_until, state.breaker_state) == (0, None, "closed")
    assert first.check() is None


# --- circuit breaker -----------------------------------------------------------------------

def test_breaker_opens_after_threshold_failures_counted_across_processes(clock, guards, caplog):
    first, second = guards(), guards()

    assert first.record_failure(Transient("HTTP 503")) == 1
    assert second.record_failure(ValueError("an adapter bug")) == 2
    assert first.check() is None and second.check() is None
    with caplog.at_level(logging.WARNING, logger="affiliate.resilience"):
        assert second.record_failure(BadResponse("title_results: field required")) == 3

    reason = "circuit breaker open after 3 consecutive failures; next trial at 2026-03-01 12:15:00 UTC"
    assert first.check() == reason and second.check() == reason
    assert [r.levelname for r in caplog.records] == ["WARNING"]
    assert "circuit breaker open" in caplog.text


def test_check_creates_a_closed_row(guards, db):
    assert guards().check() is None

    state = stored(db)
    assert (state.type, state.breaker_state, state.consecutive_failures) == ("watchmode", "closed", 0)


def test_after_the_cooldown_exactly_one_process_gets_the_trial(clock, guards):
    first, second = guards(), guards()
    open_breaker(first)

    clock.advance(minutes=14, seconds=59)
    assert first.check() is not None and second.check() is not None

    clock.advance(seconds=1)
    assert second.check() is None
    assert first.check() == "circuit breaker half-open: another process is making the trial call"
    assert second.check() is not None


def test_the_trial_goes_to_whoever_changes_the_row_first(clock, guards, monkeypatch):
    """A process that read the breaker open just before another took the trial is refused."""
    first, second = guards(), guards()
    open_breaker(first)
    clock.advance(minutes=15)
    stale = second._read()
    assert stale.breaker_state == "open"

    assert first.check() is None
    monkeypatch.setattr(second, "_read", lambda: stale)

    assert second.check() == "circuit breaker half-open: another process is making the trial call"


def test_concurrent_checks_take_one_trial(clock, guards):
    contenders = [guards() for _ in range(4)]
    open_breaker(contenders[0])
    clock.advance(minutes=15)
    start = threading.Barrier(len(contenders))

    def check(guard):
        start.wait()
        return guard.check()

    with ThreadPoolExecutor(len(contenders)) as pool:
        outcomes = list(pool.map(check, contenders))

    assert outcomes.count(None) == 1


def test_a_successful_trial_closes_the_breaker(clock, guards, db):
    first, second = guards(), guards()
    open_breaker(first)
    clock.advance(minutes=15)
    assert first.check() is None

    assert first.record_success() == 3

    assert second.check() is None and first.check() is None
    assert (stored(db).breaker_state, stored(db).breaker_opened_at) == ("closed", None)


def test_a_failed_trial_reopens_the_breaker_at_once(clock, guards, caplog):
    first, second = guards(breaker_threshold=50), guards(breaker_threshold=50)
    open_breaker(first, failures=50)
    clock.advance(minutes=15)
    assert second.check() is None

    with caplog.at_level(logging.WARNING, logger="affiliate.resilience"):
        second.record_failure(Transient("HTTP 503"))

    assert first.check() == ("circuit breaker open after 51 consecutive failures; "
                             "next trial at 2026-03-01 12:30:00 UTC")
    assert "the trial call failed" in caplog.text
    clock.advance(minutes=15)
    assert first.check() is None


def test_a_trial_whose_process_died_is_taken_over_after_a_cooldown(clock, guards):
    first, second = guards(), guards()
    open_breaker(first)
    clock.advance(minutes=15)
    assert first.check() is None  # ... and this process is killed before it reports

    clock.advance(minutes=14)
    assert second.check() is not None
    clock.advance(minutes=1)
    assert second.check() is None


def test_status_reports_without_taking_the_trial(clock, guards, db):
    first, second = guards(), guards()
    open_breaker(first)
    assert second.status() == first.check()
    clock.advance(minutes=15)

    assert first.status() == second.status() == "circuit breaker cooled down: the next call is its trial"
    assert stored(db).breaker_state == "open"
    assert second.check() is None
    assert first.status() == "circuit breaker half-open: another process is making the trial call"


# --- auth ----------------------------------------------------------------------------------

def test_auth_failure_blocks_every_process_until_the_credentials_change(clock, guards, db, caplog):
    first, second = guards(watchmode(KEY_1)), guards(watchmode(KEY_1))
    refused = AuthFailed(f"{URL}: HTTP 401")

    with caplog.at_level(logging.DEBUG):
        first.record_failure(refused)
        second.record_failure(refused)
        reason = "credentials refused; calls stop until providers.wm.api_key change"
        assert first.check() == reason and second.check() == reason
        clock.advance(days=30)
        assert guards(watchmode(KEY_1)).check() == reason

        renewed = guards(watchmode(KEY_2))
        assert renewed.status() is None
        assert stored(db).auth_blocked_fingerprint == first.fingerprint
        assert renewed.check() is None

    errors = [r for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 1
    assert "providers.wm.api_key" in errors[0].getMessage()
    assert "credentials changed" in caplog.text
    state = stored(db)
    assert (state.auth_blocked_fingerprint, state.consecutive_failures) == (None, 0)
    assert KEY_1 not in caplog.text and KEY_2 not in caplog.text


def test_new_credentials_refused_too_are_blocked_again(guards, caplog):
    old, new = guards(watchmode(KEY_1)), guards(watchmode(KEY_2))
    old.record_failure(AuthFailed("HTTP 401"))
    assert new.check() is None
    caplog.clear()

    with caplog.at_level(logging.ERROR):
        new.record_failure(AuthFailed("HTTP 401"))

    assert new.check() is not None
    assert len(caplog.records) == 1


def test_provider_state_keeps_no_secret(guards, db):
    guard = guards(watchmode(KEY_1))
    guard.record_failure(AuthFailed("HTTP 401"))
    guard.record_failure(RateLimited("HTTP 429", retry_after=90))

    values = [str(value) for value in stored(db).model_dump().values()]
    assert stored(db).auth_blocked_fingerprint == credentials_fingerprint(watchmode(KEY_1))
    assert not any(KEY_1 in value for value in values)


# --- fingerprints --------------------------------------------------------------------------

def amazon(**changes):
    settings = {"type": "amazon", "credential_id": "amzn-ID-1", "credential_secret": "amzn-SECRET-1",
                "credential_version": "2.1", "partner_tag": "site-20"}
    return build_provider("amazon", {**settings, **changes})


def test_fingerprint_is_short_hex_and_changes_only_with_credentials():
    fingerprint = credentials_fingerprint(watchmode(KEY_1))

    assert len(fingerprint) == 16 and int(fingerprint, 16) >= 0
    assert credentials_fingerprint(watchmode(KEY_1)) == fingerprint
    assert credentials_fingerprint(watchmode(KEY_2)) != fingerprint
    assert KEY_1 not in fingerprint
    base = credentials_fingerprint(amazon())
    assert credentials_fingerprint(amazon(timeout_seconds=5)) == base
    assert credentials_fingerprint(amazon(credential_secret="amzn-SECRET-2")) != base
    assert credentials_fingerprint(amazon(partner_tag="site-21")) != base


def test_fingerprint_without_declared_credentials_covers_the_settings():
    feed = build_provider("shop", {"type": "feed", "url": "https://feeds.example/k3y/catalog.json"})
    moved = build_provider("shop", {"type": "feed", "url": "https://feeds.example/n3w/catalog.json"})

    assert credentials_fingerprint(feed) != credentials_fingerprint(moved)


def test_fingerprint_is_the_same_in_another_process():
    code = ("from providers.registry import build_provider; from affiliate.resilience import "
            "credentials_fingerprint as f; "
            f"print(f(build_provider('wm', {{'type': 'watchmode', 'api_key': {KEY_1!r}}})))")
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "PYTHONHASHSEED": "12345", "PYTHONPATH": str(root)}
    answer = subprocess.run([sys.executable, "-c", code], env=env, cwd=root, capture_output=True,
                            text=True, check=True)

    assert answer.stdout.strip() == credentials_fingerprint(watchmode(KEY_1))
