"""One visitor adds at most `clicks.per_visitor` clicks to one link within any
`clicks.window_minutes`, and no address is stored to know it.

Time is cut into windows of that length. Each window has a random key, made by the first
click in it; a visitor is the HMAC-SHA256, under that key, of their address, user agent and
the link, so the same visitor on the same link is the same digest for one window and
unrelated digests in any other. A click counts while the visitor's clicks in this window and
the one before add up to fewer than the limit: any span as long as a window lies within two
of them, so a burst across a boundary counts no more than one inside a window.

Key and counts are kept in the database, so every web process (and one restarted) agrees;
both are deleted when the window after theirs ends, so a key outlives its window by one
window at most and never sits beside anything that names an address. Counting is one
conditional UPDATE (or INSERT), atomic in SQLite and PostgreSQL alike: two processes
counting the same visitor at once cannot both take the last click.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets

from sqlalchemy import delete, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from affiliate.config import ClickSettings
from affiliate.db import Database
from affiliate.models import ClickWindow, VisitorClicks

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


def window_start(now: dt.datetime, minutes: int) -> dt.datetime:
    """The start of the window `now` falls in (windows are counted from 1970)."""
    length = dt.timedelta(minutes=minutes)
    return _EPOCH + ((now - _EPOCH) // length) * length


def take(db: Database, limits: ClickSettings, address: str, user_agent: str, target: str,
         now: dt.datetime) -> bool:
    """Count one click of this visitor on `target`: False once they reached the limit."""
    current = window_start(now, limits.window_minutes)
    previous = current - dt.timedelta(minutes=limits.window_minutes)
    visitor = "\0".join((address, user_agent, target)).encode()
    keys = _keys(db, current, previous)
    earlier = 0
    if previous in keys:
        with db.session() as session:
            row = session.get(VisitorClicks, (previous, _digest(keys[previous], visitor)))
            earlier = row.clicks if row is not None else 0
    allowed = limits.per_visitor - earlier
    if allowed <= 0:
        return False
    digest = _digest(keys[current], visitor)
    try:
        return _increment(db, current, digest, allowed)
    except IntegrityError:  # another process inserted the same visitor's row first
        return _increment(db, current, digest, allowed)


def _keys(db: Database, current: dt.datetime, previous: dt.datetime) -> dict[dt.datetime, bytes]:
    """The keys of this window (made now if it has none) and the one before, if any."""
    with db.session() as session:
        rows = session.exec(select(ClickWindow).where(ClickWindow.starts_at >= previous)).all()
        keys = {row.starts_at: bytes.fromhex(row.key) for row in rows}
    if current not in keys:
        try:
            keys[current] = _new_window(db, current, previous)
        except IntegrityError:  # another process made this window's key first: use theirs
            with db.session() as session:
                keys[current] = bytes.fromhex(session.get(ClickWindow, current).key)
    return keys


def _new_window(db: Database, current: dt.datetime, previous: dt.datetime) -> bytes:
    """The first click of a window makes its key and forgets the windows before the last."""
    key = secrets.token_bytes(32)
    with db.session() as session:
        session.add(ClickWindow(starts_at=current, key=key.hex()))
        session.flush()
        session.exec(delete(VisitorClicks).where(VisitorClicks.starts_at < previous))
        session.exec(delete(ClickWindow).where(ClickWindow.starts_at < previous))
    return key


def _digest(key: bytes, visitor: bytes) -> str:
    return hmac.new(key, visitor, hashlib.sha256).hexdigest()


def _increment(db: Database, starts_at: dt.datetime, visitor: str, allowed: int) -> bool:
    """Add one to the visitor's count if it stays within `allowed`, in one statement."""
    with db.session() as session:
        added = session.exec(
            update(VisitorClicks)
            .where(VisitorClicks.starts_at == starts_at, VisitorClicks.visitor == visitor,
                   VisitorClicks.clicks < allowed)
            .values(clicks=VisitorClicks.clicks + 1)).rowcount
        if added:
            return True
        if session.get(VisitorClicks, (starts_at, visitor)) is not None:
            return False
        session.add(VisitorClicks(starts_at=starts_at, visitor=visitor, clicks=1))
    return True
