"""Rendered widgets, kept under what decides their content, and the ETag named after it.

A widget's HTML or JSON depends only on the key below, on the service's version (its code,
templates and the settings that change what is rendered) and on the clock, in one way the
view model names: `fresh_until`, when a badge ends or a shown price passes its source's age
limit. A film's revision is raised with every change to its data (affiliate.revisions), so
an entry is never invalidated: a change makes a new key, and the entry under the old one
ages out of the LRU; an entry past its `fresh_until` is rendered again. The ETag is made of
the same parts, so while this process holds the entry a conditional request is answered
without rendering anything, and every process names the same rendering alike.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, NamedTuple

from affiliate import metrics
from affiliate.config import Settings
from affiliate.fragment_store import SharedFragments

# Sections whose values may hold secrets in clear (a database password, provider keys) or
# that only concern operations (logs, metrics); they do not change what a widget shows,
# except the provider types (for attributions).
_UNRENDERED_SECTIONS = {"service", "admin", "providers", "logging", "metrics"}


class RenderKey(NamedTuple):
    """A plain tuple: a shared store's key and the ETag are made of its parts per miss."""
    widget: str
    mode: str  # how it is delivered: "fragment", "frame", "host", "api..." with its filters
    film_id: int
    revision: int
    region: str
    locale: str
    base_url: str  # absolute links (stylesheet, /go/ links) carry the host asked


@dataclass(frozen=True)
class Rendered:
    content: str
    etag: str  # weak: the same key, version and clock limit render the same content
    fresh_until: dt.datetime | None  # when the clock alone changes it (a price too old)

    def fresh(self, now: dt.datetime) -> bool:
        return fresh_at(self.fresh_until, now)


def fresh_at(fresh_until: dt.datetime | None, now: dt.datetime) -> bool:
    """Whether content the clock outdates at `fresh_until` (None: never) is still right."""
    return fresh_until is None or now < fresh_until


def etag(key: RenderKey, version: str, fresh_until: dt.datetime | None) -> str:
    """Every web process names the same rendering alike: nothing here is per process."""
    until = fresh_until.isoformat() if fresh_until else ""
    parts = "\x1f".join(str(part) for part in (version, *key, until))
    return hashlib.sha256(parts.encode()).hexdigest()[:32]


class FragmentCache:
    """A thread-safe LRU of rendered widgets, at most `size` entries (0 keeps nothing), in
    front of the store every process shares when one is configured."""

    def __init__(self, size: int, version: str, shared: SharedFragments | None = None):
        self.size = size
        self.version = version
        self.shared = shared
        self._entries: OrderedDict[RenderKey, Rendered] = OrderedDict()
        self._lock = threading.Lock()

    def get_or_render(self, key: RenderKey, now: dt.datetime,
                      render: Callable[[], tuple[str, dt.datetime | None]]) -> Rendered:
        """The cached rendering if the clock has not outdated it, else `render()`'s
        (content, fresh_until), kept."""
        with self._lock:
            cached = self._entries.get(key)
            if cached is not None and cached.fresh(now):
                self._entries.move_to_end(key)
                metrics.fragment_lookup(hit=True)
                return cached
        metrics.fragment_lookup(hit=False)
        # Rendered outside the lock: two requests may render the same key once each.
        found = self.shared.get(key) if self.shared is not None else None
        if found is None or (found[1] is not None and now >= found[1]):
            found = render()
            if self.shared is not None:
                self.shared.put(key, *found)
        content, fresh_until = found
        rendered = Rendered(content, etag(key, self.version, fresh_until), fresh_until)
        if self.size:
            with self._lock:
                self._entries[key] = rendered
                self._entries.move_to_end(key)
                while len(self._entries) > self.size:
                    self._entries.popitem(last=False)
        return rendered

    def __len__(self) -> int:
        return len(self._entries)


def service_version(settings: Settings, *folders: Path) -> str:
    """A digest of every file in `folders` (code and templates) and of the settings that
    shape rendered output, so a deploy or a config change never answers 304 to old content."""
    digest = hashlib.sha256()
    for folder in folders:
        for path in sorted(folder.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                digest.update(path.relative_to(folder).as_posix().encode())
                digest.update(path.read_bytes())
    rendered = settings.model_dump(mode="json", exclude=_UNRENDERED_SECTIONS)
    rendered["provider_types"] = {name: raw.get("type") for name, raw in settings.providers.items()}
    digest.update(json.dumps(rendered, sort_keys=True).encode())
    return digest.hexdigest()[:16]
