"""Each configured provider's health, as `affiliate status` and the console show it.

Read only: building it takes no breaker trial, clears no block and sends no request, so
looking at a provider never changes what is reported. Everything comes from the shared
ProviderState row, the due queue and the shared limiter, so every process sees the same.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlmodel import select

from affiliate.config import Settings
from affiliate.db import Database
from affiliate.due import due_summary
from affiliate.models import ProviderState
from affiliate.refresh import RefreshEngine
from affiliate.resilience import CLOSED, HALF_OPEN, OPEN

OK = "ok"
DISABLED = "disabled"
AUTH_FAILED = "auth failed: waiting for new credentials"
BREAKER_OPEN = "breaker open"
BREAKER_TRIAL = "breaker half-open: one trial call"
QUOTA_SPENT = "quota spent"


@dataclass(frozen=True)
class ProviderHealth:
    name: str
    type_name: str
    enabled: bool
    state: str  # one short text: see the constants above, or "paused until ..."
    last_success_at: dt.datetime | None
    last_error_at: dt.datetime | None
    last_error_kind: str | None
    last_error: str | None
    next_run: dt.datetime | None  # None: no run is coming (disabled, credentials refused, no films)
    next_run_text: str
    films_due: int | None  # None for feeds, which refresh their whole catalog
    quota_left: int | None  # None: no quota known
    quota_period: str | None  # "day" | "month" | None
    breaker_state: str  # closed | open | half-open
    notes: tuple[str, ...] = ()

    @property
    def healthy(self) -> bool:
        return self.state == OK


def provider_health(db: Database, settings: Settings, engine: RefreshEngine,
                    now: dt.datetime | None = None) -> list[ProviderHealth]:
    """One ProviderHealth per configured provider, in configured order."""
    now = now or engine.clock.now()
    with db.session() as session:
        states = {row.name: row for row in session.exec(select(ProviderState))}
    return [_health(db, engine, name, states.get(name), now) for name in settings.providers]


def when(moment: dt.datetime | None) -> str:
    return moment.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC") if moment else "never"


def _health(db: Database, engine: RefreshEngine, name: str, row: ProviderState | None,
            now: dt.datetime) -> ProviderHealth:
    provider = engine.provider(name)
    guard = engine.guard(provider)
    row = row or ProviderState(name=name, type=provider.type_name)
    enabled = provider.settings.enabled
    notes: list[str] = []
    quota_left, period = _quota(engine, name, row, notes)

    blocked = row.auth_blocked_fingerprint is not None
    refused_now = blocked and row.auth_blocked_fingerprint == guard.fingerprint
    paused = row.paused_until if row.paused_until and row.paused_until > now else None
    breaker = row.breaker_state or CLOSED
    if blocked and not refused_now:
        # The next check clears the block and the breaker (ProviderGuard._clear_auth_block).
        notes.append("credentials changed since they were refused; the next run tries them")
        breaker = CLOSED
    trial_at = (row.breaker_opened_at + guard.breaker_cooldown
                if breaker != CLOSED and row.breaker_opened_at else None)

    if not enabled:
        state = DISABLED
    elif refused_now:
        state = AUTH_FAILED
        notes.append(f"set new credentials in {guard.credential_keys()}")
    elif paused:
        state = f"paused until {when(paused)}"
    elif breaker == OPEN:
        state = BREAKER_OPEN
        notes.append(f"opened after {row.consecutive_failures} consecutive failures; "
                     f"trial call at {when(trial_at)}")
    elif breaker == HALF_OPEN:
        state = BREAKER_TRIAL
    elif quota_left == 0:
        state = QUOTA_SPENT
    else:
        state = OK
    if row.notice:
        notes.append(f"{row.notice} (since {when(row.notice_since)})")
    if row.drop_warning:
        notes.append(f"warning: {row.drop_warning} (last answer {when(row.drop_warning_at)})")
    if provider.changes_every is not None and enabled:
        notes.append(f"change feed: last read {when(row.changes_read_at)}, "
                     f"read every {provider.changes_every.total_seconds() / 3600:g} h")

    films_due = None
    if provider.lists_catalog:
        interval = dt.timedelta(minutes=provider.settings.interval_minutes)
        next_run = now if row.last_success_at is None else max(now, row.last_success_at + interval)
        next_text = None
    else:
        films_due, earliest = due_summary(db, name, now)
        next_run = None if earliest is None else max(now, earliest)
        next_text = (f"now ({films_due} films due)" if films_due
                     else None if earliest else "when a film is added")
    if not enabled:
        next_run, next_text = None, "not scheduled (disabled)"
    elif refused_now:
        next_run, next_text = None, "when the credentials change"
    elif next_run is not None:
        # The guard holds calls back until the pause ends or the breaker's trial is due.
        held_until = max([t for t in (paused, trial_at if breaker == OPEN else None) if t], default=None)
        if held_until is not None and held_until > next_run:
            next_run, next_text = held_until, None
    if next_text is None:
        next_text = "now" if next_run is not None and next_run <= now else when(next_run)

    return ProviderHealth(
        name=name, type_name=provider.type_name, enabled=enabled, state=state,
        last_success_at=row.last_success_at, last_error_at=row.last_error_at,
        last_error_kind=row.last_error_kind, last_error=row.last_error,
        next_run=next_run, next_run_text=next_text, films_due=films_due,
        quota_left=quota_left, quota_period=period, breaker_state=breaker, notes=tuple(notes))


def _quota(engine: RefreshEngine, name: str, row: ProviderState,
           notes: list[str]) -> tuple[int | None, str | None]:
    """The daily quota our shared limiter counts, else what the source last reported."""
    left = engine.quota_left(name)
    if left is not None:
        return left, "day"
    if row.quota_remaining is not None:
        notes.append(f"quota as the source reported it at {when(row.quota_checked_at)}")
        return row.quota_remaining, row.quota_period
    return None, None
