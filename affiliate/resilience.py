"""Faults: retries with backoff that honour Retry-After, and a guard per provider (pause,
circuit breaker, auth block) kept in its ProviderState row so every process sees it.

Retries sleep only for short waits. A long Retry-After or a spent quota becomes a pause in
the database instead, so no scheduler thread sleeps for minutes and every process stops
calling. The clock is injected so tests never sleep.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import random
import time
from typing import Any, Callable, Protocol, TypeVar

from pydantic import SecretStr
from sqlalchemy import update

from affiliate.config import RetryPolicy
from affiliate.db import Database, conflict_insert
from affiliate.models import ProviderState
from affiliate.types import utcnow
from providers.base import AuthFailed, Provider, RateLimited, Transient

log = logging.getLogger(__name__)

T = TypeVar("T")

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half-open"
# Longer than any quota window (a month): a Retry-After beyond it is garbage, not advice.
LONGEST_PAUSE = dt.timedelta(days=32)
TRIAL_DUE = "circuit breaker cooled down: the next call is its trial"
TRIAL_RUNNING = "circuit breaker half-open: another process is making the trial call"


class Clock(Protocol):
    def now(self) -> dt.datetime:
        """The current time, timezone-aware UTC."""

    def sleep(self, seconds: float) -> None:
        """Wait; the only place a retry blocks its thread."""


class SystemClock:
    def now(self) -> dt.datetime:
        return utcnow()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


def quota_exhausted(error: RateLimited) -> bool:
    """True when the source or our own limiter says the quota is spent (Watchmode's 402,
    affiliate.limits.QuotaExhausted): no in-thread wait is worth it, even a short
    Retry-After, which only pauses the provider."""
    return error.quota_exhausted


def call_with_retries(fn: Callable[[], T], policy: RetryPolicy, clock: Clock,
                      rng: Callable[[], float] = random.random) -> T:
    """fn(), retrying a Transient or a short RateLimited.

    Every other error, a spent quota and a Retry-After longer than max_wait_seconds are
    raised at once: the caller records them on the ProviderGuard, which pauses the provider.
    """
    failures = 0
    while True:
        try:
            return fn()
        except (Transient, RateLimited) as error:
            failures += 1
            delay = _retry_delay(error, failures, policy, rng)
            if delay is None or failures >= policy.attempts:
                raise
            log.info("%s; retry %d of %d in %.1f s", error, failures, policy.attempts - 1, delay)
            clock.sleep(delay)


def _retry_delay(error: Transient | RateLimited, failures: int, policy: RetryPolicy,
                 rng: Callable[[], float]) -> float | None:
    """Seconds to wait before the next call, or None if waiting in-thread cannot help."""
    if isinstance(error, RateLimited):
        if quota_exhausted(error):
            return None
        if error.retry_after is not None:
            return error.retry_after if error.retry_after <= policy.max_wait_seconds else None
    return policy.backoff(failures, rng)


def credentials_fingerprint(provider: Provider) -> str:
    """16 hex digits of a sha256 over the provider's credential values.

    It tells "the operator changed the credentials" from "still the refused ones" without
    storing or logging them, and is the same in every process. A provider that declares no
    credentials is fingerprinted over its whole settings table, since whatever it
    authenticates with (a feed URL holding a key) lives there.
    """
    settings = provider.settings
    names = [credential.name for credential in provider.credentials] or sorted(type(settings).model_fields)
    values = {name: _plain(getattr(settings, name, None)) for name in names}
    digest = hashlib.sha256(json.dumps(values, sort_keys=True, default=str).encode())
    return digest.hexdigest()[:16]


def _plain(value: Any) -> Any:
    return value.get_secret_value() if isinstance(value, SecretStr) else value


def next_utc_midnight(now: dt.datetime) -> dt.datetime:
    tomorrow = now.astimezone(dt.timezone.utc).date() + dt.timedelta(days=1)
    return dt.datetime.combine(tomorrow, dt.time(), tzinfo=dt.timezone.utc)


def _when(moment: dt.datetime) -> str:
    return moment.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


class ProviderGuard:
    """One provider's pause, circuit breaker and auth block, in its ProviderState row.

    The guard owns `consecutive_failures`. Each method is one short transaction that reads
    the row afresh. Changes another process could race are decided by the database: a
    failure is counted by an UPDATE that holds the row until commit, and the half-open
    trial goes to whichever process's conditional UPDATE changes the row.

    `quota_pause` is how long a spent quota without a Retry-After pauses the provider;
    None pauses until the next UTC midnight, when daily quotas (RapidAPI's) renew, and a
    monthly quota renewing on an unstated billing day (Watchmode's) costs one refused call
    a day to notice.
    """

    def __init__(self, db: Database, provider: Provider, clock: Clock, breaker_threshold: int = 5,
                 breaker_cooldown: dt.timedelta = dt.timedelta(minutes=15),
                 quota_pause: dt.timedelta | None = None):
        if breaker_threshold < 1:
            raise ValueError("breaker_threshold must be at least 1")
        self.db = db
        self.provider = provider
        self.clock = clock
        self.breaker_threshold = breaker_threshold
        self.breaker_cooldown = breaker_cooldown
        self.quota_pause = quota_pause
        self.fingerprint = credentials_fingerprint(provider)
        self._row_exists = False

    @property
    def name(self) -> str:
        return self.provider.name

    def check(self) -> str | None:
        """None if a call may go ahead, else why not (for the run report).

        After the cooldown an open breaker lets exactly one process make one trial call.
        """
        now = self.clock.now()
        state = self._read()
        if state.auth_blocked_fingerprint not in (None, self.fingerprint):
            self._clear_auth_block(state.auth_blocked_fingerprint)
            state = self._read()
        reason = self._verdict(state, now)
        if reason != TRIAL_DUE:
            return reason
        if self._take_trial(now):
            log.info("provider %s: circuit breaker half-open, trying one call", self.name)
            return None
        return TRIAL_RUNNING

    def status(self) -> str | None:
        """What check() would answer, without taking a trial or clearing a block: for
        `affiliate status`, which must not change what it reports on."""
        return self._verdict(self._read(), self.clock.now())

    def record_success(self) -> int:
        """Close the breaker and clear any pause; returns the failures that preceded it."""
        self._ensure_row()
        with self.db.session() as session:
            state = session.get(ProviderState, self.name, with_for_update=True)
            failures = state.consecutive_failures
            state.consecutive_failures = 0
            state.breaker_state, state.breaker_opened_at = CLOSED, None
            state.paused_until = state.auth_blocked_fingerprint = None
            session.add(state)
        return failures

    def record_failure(self, error: Exception) -> int:
        """Count a failed call and act on its kind; returns the consecutive failures now.

        The breaker opens at the threshold, and at once when the half-open trial fails. A
        RateLimited pauses the provider for its Retry-After (or, quota spent, see the class);
        an AuthFailed blocks calls until the credentials change and tells the operator once.
        """
        now = self.clock.now()
        self._ensure_row()
        with self.db.session() as session:
            # Writing first holds the row (the database, on SQLite) until commit, so what is
            # read below is not changed by another process before this one decides.
            session.exec(update(ProviderState).where(ProviderState.name == self.name)
                         .values(consecutive_failures=ProviderState.consecutive_failures + 1)
                         .execution_options(synchronize_session=False))
            state = session.get(ProviderState, self.name)
            paused = self._pause(state, error, now)
            blocked = isinstance(error, AuthFailed) and state.auth_blocked_fingerprint != self.fingerprint
            if blocked:
                state.auth_blocked_fingerprint = self.fingerprint
            was = state.breaker_state
            opened = was == HALF_OPEN or (was == CLOSED and state.consecutive_failures >= self.breaker_threshold)
            if opened:
                state.breaker_state, state.breaker_opened_at = OPEN, now
            session.add(state)
            failures = state.consecutive_failures
        if blocked:
            log.error("provider %s: credentials refused (%s); no calls until %s change in the "
                      "config", self.name, error, self.credential_keys())
        if paused:
            log.warning("provider %s: %s; paused until %s", self.name, error, _when(state.paused_until))
        if opened:
            cause = "the trial call failed" if was == HALF_OPEN else f"{failures} consecutive failures"
            log.warning("provider %s: circuit breaker open after %s (%s); next trial at %s", self.name,
                        cause, error, _when(now + self.breaker_cooldown))
        return failures

    def _verdict(self, state: ProviderState, now: dt.datetime) -> str | None:
        """Why calls must wait, from one reading of the row; TRIAL_DUE once a cooldown is over."""
        if state.auth_blocked_fingerprint == self.fingerprint:
            return f"credentials refused; calls stop until {self.credential_keys()} change"
        if state.paused_until is not None and state.paused_until > now:
            return f"paused until {_when(state.paused_until)}"
        if state.breaker_state == CLOSED:
            return None
        trial_at = state.breaker_opened_at + self.breaker_cooldown
        if now >= trial_at:
            return TRIAL_DUE
        if state.breaker_state == OPEN:
            return (f"circuit breaker open after {state.consecutive_failures} consecutive "
                    f"failures; next trial at {_when(trial_at)}")
        return TRIAL_RUNNING

    def credential_keys(self) -> str:
        """The config keys an operator updates after an auth failure."""
        names = [credential.name for credential in self.provider.credentials]
        if not names:
            return f"the settings in [providers.{self.name}]"
        return " / ".join(f"providers.{self.name}.{name}" for name in names)

    def _pause(self, state: ProviderState, error: Exception, now: dt.datetime) -> bool:
        """Extend the pause a RateLimited asks for; True if calls were not paused before."""
        if not isinstance(error, RateLimited):
            return False
        if error.retry_after is not None:
            until = now + min(dt.timedelta(seconds=error.retry_after), LONGEST_PAUSE)
        elif quota_exhausted(error):
            until = now + self.quota_pause if self.quota_pause is not None else next_utc_midnight(now)
        else:
            return False
        before = state.paused_until
        if before is None or before < until:
            state.paused_until = until
        return (before is None or before <= now) and until > now

    def _take_trial(self, now: dt.datetime) -> bool:
        """Move the breaker to half-open for this process alone. A half-open breaker whose
        trial outlived a cooldown (its process died) is taken over the same way."""
        with self.db.session() as session:
            result = session.exec(
                update(ProviderState)
                .where(ProviderState.name == self.name,
                       ProviderState.breaker_state.in_((OPEN, HALF_OPEN)),
                       ProviderState.breaker_opened_at <= now - self.breaker_cooldown)
                .values(breaker_state=HALF_OPEN, breaker_opened_at=now)
                .execution_options(synchronize_session=False))
            return result.rowcount == 1

    def _clear_auth_block(self, blocked: str) -> None:
        """New credentials start afresh: the block, the breaker and the failure count go."""
        with self.db.session() as session:
            result = session.exec(
                update(ProviderState)
                .where(ProviderState.name == self.name,
                       ProviderState.auth_blocked_fingerprint == blocked)
                .values(auth_blocked_fingerprint=None, breaker_state=CLOSED, breaker_opened_at=None,
                        consecutive_failures=0)
                .execution_options(synchronize_session=False))
            cleared = result.rowcount == 1
        if cleared:
            log.info("provider %s: credentials changed; calls resume", self.name)

    def _read(self) -> ProviderState:
        self._ensure_row()
        with self.db.session() as session:
            return session.get(ProviderState, self.name)

    def _ensure_row(self) -> None:
        """Create the row if no process has yet; rows are never deleted, so once is enough."""
        if self._row_exists:
            return
        with self.db.session() as session:
            session.exec(conflict_insert(session.get_bind(), ProviderState.__table__)
                         .values(name=self.name, type=self.provider.type_name, breaker_state=CLOSED,
                                 consecutive_failures=0)
                         .on_conflict_do_nothing(index_elements=["name"]))
        self._row_exists = True
