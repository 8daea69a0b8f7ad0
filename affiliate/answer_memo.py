"""The last answer to exactly the same widget request, so repeating it costs little more than
the web framework itself.

A cache hit by way of affiliate.cache still parses the query, negotiates region and locale,
parses the film reference and builds the cache key; on a busy film page that was a third of
the time of the whole request. Here the answer is found by the raw request instead: its path,
query string, the host and scheme absolute links are built from, and the two headers
negotiation may read (Accept-Language and the trusted country header). Whatever two requests
differ in that could change the answer is part of the key, so a different Accept-Language
merely gets an entry of its own.

An answer is kept only while the film row it was made from is trusted (affiliate.film_memo,
`http.revision_check_seconds`), so a change to the film shows exactly as soon as without
this memo; and it is only used while its rendering is fresh by the clock (affiliate.cache).
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Mapping, NamedTuple

from affiliate.cache import Rendered

# WSGI environ entries that decide a widget answer besides the film's data (see above).
_REQUEST_PARTS = ("SCRIPT_NAME", "PATH_INFO", "QUERY_STRING", "wsgi.url_scheme", "HTTP_HOST",
                  "SERVER_NAME", "SERVER_PORT", "HTTP_ACCEPT_LANGUAGE")


class Answer(NamedTuple):
    film_id: int  # whose view the answer counts
    rendered: Rendered
    vary: tuple[str, ...]  # the request headers negotiation consulted


class AnswerMemo:
    """A thread-safe LRU of at most `size` answers (0 keeps none), each until the moment
    given when it was put, on the film memo's clock."""

    def __init__(self, size: int, country_header: str | None):
        self.size = size
        country = ("HTTP_" + country_header.upper().replace("-", "_"),) if country_header else ()
        self._parts = (*_REQUEST_PARTS, *country)
        self._answers: OrderedDict[tuple, tuple[float, Answer]] = OrderedDict()
        self._lock = threading.Lock()

    def key(self, environ: Mapping[str, object]) -> tuple:
        return tuple(environ.get(part) for part in self._parts)

    def get(self, key: tuple, now: float) -> Answer | None:
        if not self.size:
            return None
        with self._lock:
            kept = self._answers.get(key)
            if kept is None:
                return None
            if now >= kept[0]:
                del self._answers[key]
                return None
            self._answers.move_to_end(key)
            return kept[1]

    def put(self, key: tuple, answer: Answer, until: float | None) -> None:
        """Keep `answer` until `until` (None: the film row is not kept, so neither is it)."""
        if not self.size or until is None:
            return
        with self._lock:
            self._answers[key] = (until, answer)
            self._answers.move_to_end(key)
            while len(self._answers) > self.size:
                self._answers.popitem(last=False)

    def __len__(self) -> int:
        return len(self._answers)
