"""A film's row by its reference, for the widget routes: on PostgreSQL, on a connection each
thread keeps.

A widget whose rendering is cached still needs its film's revision (its cache key), read
again every `http.revision_check_seconds`; on a site with a long tail of films that is half
the requests or more (bench/RESULTS.md). Through a pooled Session that read cost ~0.45 ms of
CPU, more than Flask's whole answer: the pool's checkout and pre-ping, BEGIN and COMMIT, the
ORM. One statement on a connection the thread keeps in autocommit costs ~0.1 ms. A kept
connection the server dropped (a restart, a failover) is replaced and the read made again.

Connections are opened on a thread's first read, so each process a server forks after
loading the app opens its own. SQLite reads through the shared pool: opening costs little.
"""
from __future__ import annotations

import datetime as dt
import threading
from typing import NamedTuple

from sqlalchemy import Connection, bindparam, select
from sqlalchemy.exc import DBAPIError

from affiliate.db import Database
from affiliate.models import Film
from providers.base import FilmKey

_FILM = Film.__table__


class FilmRow(NamedTuple):
    """What a widget keys on (id, revision) and shows or reckons with; no more, since the
    driver's cost of a result grows with its columns. Read by attribute as on a Film."""
    id: int
    revision: int
    title: str
    year: int | None
    imdb_id: str | None
    tmdb_id: int | None
    created_at: dt.datetime


_COLUMNS = [_FILM.c[name] for name in FilmRow._fields]
_BY = {column: select(*_COLUMNS).where(_FILM.c[column] == bindparam("value"))
       for column in ("id", "imdb_id", "tmdb_id")}


class FilmRows:
    def __init__(self, db: Database):
        self.db = db
        self._local = threading.local()

    def find(self, key: FilmKey) -> FilmRow | None:
        """The film's row, or None."""
        row = self._read(key)
        return None if row is None else FilmRow._make(row)

    def _read(self, key: FilmKey):
        if key.internal_id is not None:
            statement, value = _BY["id"], key.internal_id
        elif key.imdb_id:
            statement, value = _BY["imdb_id"], key.imdb_id
        else:
            statement, value = _BY["tmdb_id"], key.tmdb_id
        if not self.db.keeps_connections:
            with self.db.reader.connect() as connection:
                return connection.execute(statement, {"value": value}).first()
        connection = self._connection()
        try:
            return connection.execute(statement, {"value": value}).first()
        except DBAPIError as exc:
            self._local.connection = None
            self.db.drop_kept(connection)
            if not exc.connection_invalidated:
                raise
        return self._connection().execute(statement, {"value": value}).first()

    def _connection(self) -> Connection:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = self._local.connection = self.db.kept_connection()
        return connection
