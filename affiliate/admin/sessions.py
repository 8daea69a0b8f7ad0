"""Console sessions kept in the database, so ending one (logout, a new password,
`affiliate admin revoke-sessions`, "sign out everywhere") takes effect at once in every web
process, and a session's lifetimes are the server's to enforce, not the cookie's.

The cookie holds a random 256-bit id; the table keeps only its SHA-256 digest (as API tokens
do: for so much randomness a fast digest is as safe as a slow hash and allows an index
lookup), so reading the table gives no cookie that works. A session ends `session_hours`
after login whatever happens, and after `session_idle_minutes` without a request.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
from dataclasses import dataclass

from sqlalchemy import delete, or_, update
from sqlmodel import select

from affiliate.config import AdminSettings
from affiliate.db import Database
from affiliate.models import AdminSession, AdminUser
from affiliate.types import utcnow

_ID = re.compile(r"^[A-Za-z0-9_-]{43}$")  # secrets.token_urlsafe(32)
# last_seen_at is written at most this often per session, not on every request.
SEEN_RESOLUTION = dt.timedelta(minutes=1)


@dataclass(frozen=True)
class Lifetimes:
    absolute: dt.timedelta
    idle: dt.timedelta

    @classmethod
    def of(cls, settings: AdminSettings) -> Lifetimes:
        return cls(dt.timedelta(hours=settings.session_hours),
                   dt.timedelta(minutes=settings.session_idle_minutes))

    def ends_at(self, row: AdminSession) -> dt.datetime:
        return min(row.created_at + self.absolute, row.last_seen_at + self.idle)


def clock() -> dt.datetime:
    """Now, for every session decision (tests move it)."""
    return utcnow()


def new_id() -> str:
    return secrets.token_urlsafe(32)


def well_formed(session_id: str | None) -> bool:
    return bool(session_id) and _ID.match(session_id) is not None


def digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def begin(db: Database, user_id: int | None, agent: str, now: dt.datetime,
          lifetimes: Lifetimes, data: str = "{}") -> str:
    """Store a new session and return its id (for the cookie only); sessions past their end
    are dropped on the way, so the table holds live ones only, give or take."""
    session_id = new_id()
    with db.session() as s:
        s.exec(delete(AdminSession).where(or_(AdminSession.created_at <= now - lifetimes.absolute,
                                              AdminSession.last_seen_at <= now - lifetimes.idle)))
        s.add(AdminSession(id_hash=digest(session_id), user_id=user_id, created_at=now,
                           last_seen_at=now, agent=agent[:80], data=data))
    return session_id


def find(db: Database, session_id: str, now: dt.datetime, lifetimes: Lifetimes) -> AdminSession | None:
    """The live session with this id; one past its end is deleted and not returned."""
    if not well_formed(session_id):
        return None
    with db.session() as s:
        row = s.exec(select(AdminSession).where(AdminSession.id_hash == digest(session_id))).first()
        if row is not None and lifetimes.ends_at(row) <= now:
            s.delete(row)
            return None
    return row


def touch(db: Database, session_id: str, now: dt.datetime, data: str | None = None) -> None:
    """Note a request (and new data) on a stored session. An update, never an insert: a
    session ended by another process meanwhile stays ended."""
    values = {"last_seen_at": now} | ({"data": data} if data is not None else {})
    with db.session() as s:
        s.exec(update(AdminSession).where(AdminSession.id_hash == digest(session_id)).values(**values))


def end(db: Database, session_id: str) -> None:
    with db.session() as s:
        s.exec(delete(AdminSession).where(AdminSession.id_hash == digest(session_id)))


def end_one(db: Database, user_id: int, row_id: int) -> bool:
    """End one of this operator's sessions by its row id; False if they have none such."""
    with db.session() as s:
        return s.exec(delete(AdminSession).where(AdminSession.id == row_id,
                                                 AdminSession.user_id == user_id)).rowcount > 0


def end_all(db: Database, user_id: int) -> int:
    """End every session of this operator; how many there were."""
    with db.session() as s:
        return s.exec(delete(AdminSession).where(AdminSession.user_id == user_id)).rowcount


def live(db: Database, now: dt.datetime, lifetimes: Lifetimes,
         user_id: int | None = None) -> list[tuple[str, AdminSession]]:
    """(username, session) of every live session, or one operator's, newest first."""
    query = (select(AdminUser.username, AdminSession)
             .join(AdminUser, AdminUser.id == AdminSession.user_id)
             .order_by(AdminSession.created_at.desc(), AdminSession.id.desc()))
    if user_id is not None:
        query = query.where(AdminSession.user_id == user_id)
    with db.session() as s:
        rows = list(s.exec(query))
    return [(name, row) for name, row in rows if lifetimes.ends_at(row) > now]


def revoke(db: Database, username: str) -> int:
    """End every session of the operator named `username`; LookupError if there is none."""
    return end_all(db, user_id_of(db, username))


def user_id_of(db: Database, username: str) -> int:
    with db.session() as s:
        user_id = s.exec(select(AdminUser.id).where(AdminUser.username == username)).first()
    if user_id is None:
        raise LookupError(f"no user {username!r}")
    return user_id
