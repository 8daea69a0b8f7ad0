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

An answer may also keep its `Wire` form, the status, headers and body the app sent for it,
so that affiliate.answer_front can send it again before Flask is involved at all.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Mapping, NamedTuple

from affiliate.cache import Rendered
from affiliate.film_memo import FilmMemo
from affiliate.film_rows import FilmRow
from providers.base import FilmKey

# WSGI environ entries that decide a widget answer besides the film's data (see above).
_REQUEST_PARTS = ("SCRIPT_NAME", "PATH_INFO", "QUERY_STRING", "wsgi.url_scheme", "HTTP_HOST",
                  "SERVER_NAME", "SERVER_PORT", "HTTP_ACCEPT_LANGUAGE")

# The WSGI environ entry where a view leaves (memo key, answer, counts view) for the answer
# it is sending, for affiliate.answer_front to keep the answer's Wire.
SENDING = "affiliate.answer"


class Answer(NamedTuple):
    film_id: int  # whose view the answer counts
    rendered: Rendered
    vary: tuple[str, ...]  # the request headers negotiation consulted


class Wire(NamedTuple):
    """An answer as the whole app sent it (every after-request hook's headers included)."""
    status: str
    headers: list[tuple[str, str]]
    body: bytes
    route: str  # the label its request was counted under in the metrics
    counts_view: bool  # a GET of it is a view of the film (affiliate.blueprint._count_view)


class AnswerMemo:
    """A thread-safe LRU of at most `size` answers (0 keeps none), each while `films` trusts
    the row it was made from."""

    def __init__(self, size: int, country_header: str | None, films: FilmMemo):
        self.size = size
        self.films = films
        country = ("HTTP_" + country_header.upper().replace("-", "_"),) if country_header else ()
        self._parts = (*_REQUEST_PARTS, *country)
        # key -> [film key, film row, answer, its Wire once sent]
        self._answers: OrderedDict[tuple, list] = OrderedDict()
        self._lock = threading.Lock()

    def key(self, environ: Mapping[str, object]) -> tuple:
        return tuple(environ.get(part) for part in self._parts)

    def get(self, key: tuple) -> Answer | None:
        kept = self._trusted(key)
        return None if kept is None else kept[2]

    def wire(self, key: tuple) -> tuple[Answer, Wire] | None:
        """The answer and the form it was sent in, if both are kept."""
        kept = self._trusted(key)
        return None if kept is None or kept[3] is None else (kept[2], kept[3])

    def _trusted(self, key: tuple) -> list | None:
        if not self.size:
            return None
        with self._lock:
            kept = self._answers.get(key)
        if kept is None:
            return None
        film_key, row = kept[0], kept[1]
        if not self.films.trusts(film_key, row):
            with self._lock:
                if self._answers.get(key) is kept:
                    del self._answers[key]
            return None
        with self._lock:
            if key in self._answers:
                self._answers.move_to_end(key)
        return kept

    def put(self, key: tuple, answer: Answer, film_key: FilmKey, row: FilmRow) -> None:
        """Keep `answer`, made from the film memo's `row` for `film_key`."""
        if not self.size:
            return
        with self._lock:
            self._answers[key] = [film_key, row, answer, None]
            self._answers.move_to_end(key)
            while len(self._answers) > self.size:
                self._answers.popitem(last=False)

    def sent(self, key: tuple, answer: Answer, wire: Wire) -> None:
        """`answer` went out as `wire`; kept with it unless it was replaced meanwhile."""
        with self._lock:
            kept = self._answers.get(key)
            if kept is not None and kept[2] is answer:
                kept[3] = wire

    def __len__(self) -> int:
        return len(self._answers)
