"""A film's revision number: raised in the same transaction as any change to what its widgets
show (offers, products, curation), so rendered widgets and ETags are keyed by one integer
instead of re-reading every offer to find out whether anything changed."""
from __future__ import annotations

from typing import Iterable

from sqlalchemy import update
from sqlmodel import Session

from affiliate.models import Film


def bump(session: Session, film_ids: Iterable[int]) -> None:
    """Mark these films changed; the caller's commit makes it visible with the change itself."""
    ids = sorted(set(film_ids))
    if ids:
        film = Film.__table__  # a plain UPDATE: the ORM's would first look for the films in the session
        session.execute(update(film).where(film.c.id.in_(ids)).values(revision=film.c.revision + 1))
