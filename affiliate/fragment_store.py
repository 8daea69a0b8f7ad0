"""Rendered widgets shared by every web process, in Redis (`http.shared_fragments`).

Each process's LRU (affiliate.cache) holds its own few thousand widgets; on a site whose
traffic has a long tail most requests miss it and render. Here a rendering made by any
process is kept under the same parts its ETag is made of (service version, film revision,
region, locale...), so the others read it back instead of rendering. Like the LRU, an entry
is never invalidated: a change to a film makes a new key and the old entry expires.
The store is an aid: when Redis fails, widgets are rendered as without it.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from affiliate.cache import RenderKey

log = logging.getLogger(__name__)

# How long an entry is kept unread-or-not; a changed film's old entries go with it.
ENTRY_SECONDS = 24 * 3600
# After a failure the store is left alone this long, so a Redis that is down costs requests
# nothing but their rendering (not a connection timeout each).
RETRY_SECONDS = 5.0
_PREFIX = "affiliate:fragment:"


class SharedFragments:
    """get/put of (content, fresh_until) by render key, in a Redis every process reaches."""

    def __init__(self, client, version: str):
        self.client = client
        self.version = version
        self._failing = False
        self._retry_at = 0.0

    @classmethod
    def from_url(cls, url: str, version: str) -> "SharedFragments":
        from redis import Redis  # optional: installed only where a Redis is used

        return cls(Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5), version)

    def key(self, key: "RenderKey") -> str:
        parts = "\x1f".join(str(part) for part in (self.version, *key))
        return _PREFIX + hashlib.sha256(parts.encode()).hexdigest()[:40]

    def get(self, key: "RenderKey") -> tuple[str, dt.datetime | None] | None:
        if self._resting():
            return None
        try:
            raw = self.client.get(self.key(key))
        except Exception as exc:  # redis' errors, whatever the client version
            self._failed(exc)
            return None
        self._recovered()
        if raw is None:
            return None
        entry = json.loads(raw)
        until = entry["fresh_until"]
        return entry["content"], dt.datetime.fromisoformat(until) if until else None

    def put(self, key: "RenderKey", content: str, fresh_until: dt.datetime | None) -> None:
        if self._resting():
            return
        entry = json.dumps({"content": content,
                            "fresh_until": fresh_until.isoformat() if fresh_until else None})
        try:
            self.client.set(self.key(key), entry, ex=ENTRY_SECONDS)
        except Exception as exc:
            self._failed(exc)
            return
        self._recovered()

    def _resting(self) -> bool:
        return self._failing and time.monotonic() < self._retry_at

    def _failed(self, exc: Exception) -> None:
        """One log line when the store starts failing, one when it is back."""
        if not self._failing:
            log.warning("shared fragment store unreachable, rendering in this process: %s", exc)
        self._failing = True
        self._retry_at = time.monotonic() + RETRY_SECONDS

    def _recovered(self) -> None:
        if self._failing:
            log.warning("shared fragment store reachable again")
        self._failing = False
