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

An answer may also keep its `Wire` form, the status and headers the app sent with it, so that
affiliate.answer_front can send it again before Flask is involved at all.

The memo is bounded by the memory of what it keeps (`http.answer_memo_megabytes`), not by a
count: at 100 000 films a process keeping 16 384 answers instead of 2 048 answered 75 % of
a Zipf traffic from memory instead of 51 % (bench/RESULTS.md). Contents are kept compressed
(zlib, fastest level): a widget's HTML shrinks ~4 times (3.6 kB to 0.9 kB; ~7 kB as a
Python string once it holds one non-ASCII character), so the same memory keeps several times
the answers, and inflating one again costs ~6 µs of a ~200 µs request. Every entry is a plain
tuple of strings, bytes, numbers and datetimes, which the garbage collector stops tracking,
so a large memo does not lengthen its collections (see affiliate.film_memo).
"""
from __future__ import annotations

import datetime as dt
import sys
import threading
import zlib
from collections import OrderedDict
from typing import Mapping, NamedTuple

from affiliate.cache import Rendered
from affiliate.film_memo import FilmMemo, key_parts
from affiliate.film_rows import FilmRow
from providers.base import FilmKey

# WSGI environ entries that decide a widget answer besides the film's data (see above).
_REQUEST_PARTS = ("SCRIPT_NAME", "PATH_INFO", "QUERY_STRING", "wsgi.url_scheme", "HTTP_HOST",
                  "SERVER_NAME", "SERVER_PORT", "HTTP_ACCEPT_LANGUAGE")

# The WSGI environ entry where a view leaves (memo key, answer, counts view) for the answer
# it is sending, for affiliate.answer_front to keep the answer's Wire.
SENDING = "affiliate.answer"
# What an entry costs besides its content: the key, headers and tuples (measured 1.2-1.5 kB
# with the parts answers share kept once, below).
_ENTRY_BYTES = 1536
_FASTEST = 1
# At most this many distinct key parts and header lines are kept once for every answer that
# has them (the host, the query, 'Content-Type: text/html', ...): ~1 kB an answer otherwise.
_SHARED_PARTS = 4096


class Answer(NamedTuple):
    film_id: int  # whose view the answer counts
    rendered: Rendered
    vary: tuple[str, ...]  # the request headers negotiation consulted


class Wire(NamedTuple):
    """How the whole app sent an answer (every after-request hook's headers included); its
    body is the rendered content, encoded."""
    status: str
    headers: tuple[tuple[str, str], ...]
    route: str  # the label its request was counted under in the metrics
    counts_view: bool  # a GET of it is a view of the film (affiliate.blueprint._count_view)


class Resend(NamedTuple):
    """What affiliate.answer_front needs to send a kept answer again."""
    film_id: int
    fresh_until: dt.datetime | None
    body: bytes  # the content as the app encoded it
    wire: Wire


class AnswerMemo:
    """A thread-safe LRU of answers holding at most `megabytes` (0 keeps none), each while
    `films` trusts the row it was made from."""

    def __init__(self, megabytes: float, country_header: str | None, films: FilmMemo):
        self.budget = int(megabytes * 1_000_000)
        self.films = films
        country = ("HTTP_" + country_header.upper().replace("-", "_"),) if country_header else ()
        self._parts = (*_REQUEST_PARTS, *country)
        # key -> (film key parts, film row values, film id, content compressed, etag, fresh until, vary,
        # Wire fields or None, bytes held)
        self._answers: OrderedDict[tuple, tuple] = OrderedDict()
        self._held = 0
        self._shared: dict = {}
        self._lock = threading.Lock()

    def key(self, environ: Mapping[str, object]) -> tuple:
        return tuple(environ.get(part) for part in self._parts)

    def _once(self, part):
        """`part`, or an equal one already kept (the first _SHARED_PARTS seen are shared)."""
        kept = self._shared.get(part)
        if kept is not None:
            return kept
        if len(self._shared) < _SHARED_PARTS:
            self._shared[part] = part
        return part

    def get(self, key: tuple) -> Answer | None:
        kept = self._trusted(key)
        return None if kept is None else _answer(kept)

    def wire(self, key: tuple) -> Resend | None:
        """The answer as it was sent, if it was kept with how it went out."""
        kept = self._trusted(key)
        if kept is None or kept[7] is None:
            return None
        return Resend(kept[2], kept[5], zlib.decompress(kept[3]), Wire(*kept[7]))

    def _trusted(self, key: tuple) -> tuple | None:
        if not self.budget:
            return None
        with self._lock:
            kept = self._answers.get(key)
        if kept is None:
            return None
        if not self.films.trusts(kept[0], kept[1]):
            with self._lock:
                if self._answers.get(key) is kept:
                    self._drop(key)
            return None
        with self._lock:
            if key in self._answers:
                self._answers.move_to_end(key)
        return kept

    def put(self, key: tuple, answer: Answer, film_key: FilmKey, row: FilmRow) -> None:
        """Keep `answer`, made from the film memo's `row` for `film_key`."""
        rendered = answer.rendered
        packed = zlib.compress(rendered.content.encode(), _FASTEST)
        self._keep(key, (key_parts(film_key), tuple(row), answer.film_id, packed,
                         rendered.etag, rendered.fresh_until, tuple(answer.vary), None,
                         sys.getsizeof(packed) + _ENTRY_BYTES))

    def sent(self, key: tuple, answer: Answer, wire: Wire) -> None:
        """`answer` went out as `wire`; kept with it unless it was replaced meanwhile."""
        with self._lock:
            kept = self._answers.get(key)
        if kept is not None and kept[4] == answer.rendered.etag:
            headers = tuple(self._once(tuple(header)) for header in wire.headers)
            self._keep(key, (*kept[:7], (wire.status, headers, wire.route, wire.counts_view),
                             kept[8]), replacing=kept)

    def _keep(self, key: tuple, entry: tuple, replacing: tuple | None = None) -> None:
        if entry[8] > self.budget:
            return
        key = tuple(map(self._once, key))
        with self._lock:
            if replacing is not None and self._answers.get(key) is not replacing:
                return
            self._drop(key)
            self._answers[key] = entry
            self._held += entry[8]
            while self._held > self.budget:
                self._drop(next(iter(self._answers)))

    def _drop(self, key: tuple) -> None:
        kept = self._answers.pop(key, None)
        if kept is not None:
            self._held -= kept[8]

    def __len__(self) -> int:
        return len(self._answers)


def _answer(kept: tuple) -> Answer:
    return Answer(kept[2], Rendered(zlib.decompress(kept[3]).decode(), kept[4], kept[5]), kept[6])
