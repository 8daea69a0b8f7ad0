"""A film's revision number: raised in the same transaction as any change to what its widgets
show (offers, products, curation), so rendered widgets and ETags are keyed by one integer
instead of re-reading every offer to find out whether anything changed.

On PostgreSQL the change is also announced on CHANNEL, in the same transaction: PostgreSQL
delivers the notice only if the change commits, and only after it has, so a web process
listening (affiliate.revision_watch) may keep a film's row until it hears of a change."""
from __future__ import annotations

from typing import Iterable

from sqlalchemy import func, select, update
from sqlmodel import Session

from affiliate.models import Film

CHANNEL = "affiliate_film_revisions"
# A notice's payload must stay under 8 000 bytes: film ids, comma-separated, in chunks.
_PAYLOAD_CHARACTERS = 7000


def bump(session: Session, film_ids: Iterable[int]) -> None:
    """Mark these films changed; the caller's commit makes it visible with the change itself."""
    ids = sorted(set(film_ids))
    if ids:
        film = Film.__table__  # a plain UPDATE: the ORM's would first look for the films in the session
        session.execute(update(film).where(film.c.id.in_(ids)).values(revision=film.c.revision + 1))
        if session.get_bind().dialect.name == "postgresql":
            for payload in payloads(ids):
                session.execute(select(func.pg_notify(CHANNEL, payload)))


def payloads(ids: list[int]) -> Iterable[str]:
    """The ids as comma-separated chunks that each fit in one notice."""
    chunk: list[str] = []
    length = 0
    for text in map(str, ids):
        if chunk and length + len(text) + 1 > _PAYLOAD_CHARACTERS:
            yield ",".join(chunk)
            chunk, length = [], 0
        chunk.append(text)
        length += len(text) + 1
    if chunk:
        yield ",".join(chunk)
