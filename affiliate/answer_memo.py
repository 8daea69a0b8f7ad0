"""The last answer to exactly the same widget request, so repeating it costs little more than
the web framework itself.

A cache hit by way of affiliate.cache still parses the query, negotiates region and locale,
parses the film reference and builds the cache key; on a busy film page that was a third of
the time of the whole request. Here the answer is found by the raw request instead: its path,
query string, the host and scheme absolute links are built from, and the two headers
negotiation may read (Accept-Language and the trusted country header). Whatever two requests
differ in that could change the answer is part of the key, so a different Accept-Language
merely gets an entry of its own.

An answer is used only while the film memo still trusts the very row it was made from
(affiliate.film_memo: for `http.revision_check_seconds`, or until the film changes while the
process hears of changes), so a change to the film shows exactly as soon as without this
memo; and only while its rendering is fresh by the clock (affiliate.cache).
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Mapping, NamedTuple

from sqlalchemy import Row

from affiliate.cache import Rendered
from affiliate.film_memo import FilmMemo
from providers.base import FilmKey

# WSGI environ entries that decide a widget answer besides the film's data (see above).
_REQUEST_PARTS = ("SCRIPT_NAME", "PATH_INFO", "QUERY_STRING", "wsgi.url_scheme", "HTTP_HOST",
                  "SERVER_NAME", "SERVER_PORT", "HTTP_ACCEPT_LANGUAGE")


class Answer(NamedTuple):
    film_id: int  # whose view the answer counts
    rendered: Rendered
    vary: tuple[str, ...]  # the request headers negotiation consulted


class AnswerMemo:
    """A thread-safe LRU of at most `size` answers (0 keeps none), each while `films` trusts
    the row it was made from."""

    def __init__(self, size: int, country_header: str | None, films: FilmMemo):
        self.size = size
        self.films = films
        country = ("HTTP_" + country_header.upper().replace("-", "_"),) if country_header else ()
        self._parts = (*_REQUEST_PARTS, *country)
        self._answers: OrderedDict[tuple, tuple[FilmKey, Row, Answer]] = OrderedDict()
        self._lock = threading.Lock()

    def key(self, environ: Mapping[str, object]) -> tuple:
        return tuple(environ.get(part) for part in self._parts)

    def get(self, key: tuple) -> Answer | None:
        if not self.size:
            return None
        with self._lock:
            kept = self._answers.get(key)
        if kept is None:
            return None
        film_key, row, answer = kept
        if not self.films.trusts(film_key, row):
            with self._lock:
                self._answers.pop(key, None)
            return None
        with self._lock:
            if key in self._answers:
                self._answers.move_to_end(key)
        return answer

    def put(self, key: tuple, answer: Answer, film_key: FilmKey, row: Row) -> None:
        """Keep `answer`, made from the film memo's `row` for `film_key`."""
        if not self.size:
            return
        with self._lock:
            self._answers[key] = (film_key, row, answer)
            self._answers.move_to_end(key)
            while len(self._answers) > self.size:
                self._answers.popitem(last=False)

    def __len__(self) -> int:
        return len(self._answers)
