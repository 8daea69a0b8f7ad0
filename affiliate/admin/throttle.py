"""The limit on console logins: failed attempts counted per client address and per username,
in the database so every web process (and one restarted) counts the same.

After `admin.login_attempts_per_address` failures from one address, or
`admin.login_attempts_per_user` for one username from any address, within
`admin.login_lockout_minutes`, that address or name is refused without a password check
until the window ends. Per address stops one guesser; per username stops a guess list spread
over many addresses, at the price that they can lock the operator out for a while:
`affiliate admin unlock NAME` lets them back in. A successful login clears both counts.

Keys are digests: an address is kept only as an HMAC keyed with the console's secret key
(the service keeps no visitor's raw address anywhere), a username as a plain SHA-256, so
any length or character a form sends fits the column.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import math
from dataclasses import dataclass

from sqlalchemy import delete, or_
from sqlalchemy.exc import IntegrityError

from affiliate.config import AdminSettings
from affiliate.db import Database
from affiliate.models import LoginFailure

log = logging.getLogger(__name__)


class LockedOut(Exception):
    """Too many failed logins; `retry_after` seconds until the lock ends."""

    def __init__(self, retry_after: int):
        super().__init__(f"too many failed logins; try again in {retry_after} s")
        self.retry_after = retry_after


@dataclass(frozen=True)
class Attempt:
    """The counts one login attempt touches: each key with its limit."""

    limits: dict[str, int]
    window: dt.timedelta


def attempt(settings: AdminSettings, address: str, username: str) -> Attempt:
    secret = settings.secret_key.get_secret_value().encode() if settings.secret_key else b""
    address_key = "a:" + hmac.new(secret, address.encode(), hashlib.sha256).hexdigest()[:60]
    return Attempt({address_key: settings.login_attempts_per_address,
                    user_key(username): settings.login_attempts_per_user},
                   dt.timedelta(minutes=settings.login_lockout_minutes))


def user_key(username: str) -> str:
    return "u:" + hashlib.sha256(username.encode()).hexdigest()[:60]


def check(db: Database, attempt: Attempt, now: dt.datetime) -> None:
    """Raise LockedOut while any of the attempt's keys is locked."""
    with db.session() as session:
        rows = [session.get(LoginFailure, key) for key in attempt.limits]
    ends = [row.locked_until for row in rows
            if row is not None and row.locked_until is not None and row.locked_until > now]
    if ends:
        raise LockedOut(math.ceil((max(ends) - now).total_seconds()))


def failed(db: Database, attempt: Attempt, now: dt.datetime) -> None:
    """Count a failed login against each key; a key reaching its limit is locked."""
    try:
        _count(db, attempt, now)
    except IntegrityError:  # another process made the same key's row first: count again
        _count(db, attempt, now)


def _count(db: Database, attempt: Attempt, now: dt.datetime) -> None:
    with db.session() as session:
        for key, limit in attempt.limits.items():
            row = session.get(LoginFailure, key, with_for_update=True)
            if row is None or row.since + attempt.window <= now:
                row = row or LoginFailure(key=key)
                row.failures, row.since, row.locked_until = 0, now, None
            row.failures += 1
            if row.failures == limit:
                row.locked_until = now + attempt.window
                log.warning("console logins locked for %s failed attempts %s until %s",
                            row.failures, "from one address" if key.startswith("a:")
                            else "for one username", row.locked_until.isoformat(timespec="seconds"))
            session.add(row)
        session.exec(delete(LoginFailure).where(
            LoginFailure.since <= now - attempt.window,
            or_(LoginFailure.locked_until.is_(None), LoginFailure.locked_until <= now)))


def succeeded(db: Database, attempt: Attempt) -> None:
    with db.session() as session:
        session.exec(delete(LoginFailure).where(LoginFailure.key.in_(list(attempt.limits))))


def unlock(db: Database, username: str, now: dt.datetime) -> bool | None:
    """Clear the count of `username`: True if it was locked, False if only counted, None if
    there was none."""
    with db.session() as session:
        row = session.get(LoginFailure, user_key(username))
        if row is None:
            return None
        session.delete(row)
        return row.locked_until is not None and row.locked_until > now


def unlock_all(db: Database) -> int:
    """Clear every count, by address and by username; how many there were."""
    with db.session() as session:
        return session.exec(delete(LoginFailure)).rowcount
