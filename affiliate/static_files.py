"""The widgets' static files (stylesheet and scripts): versioned URLs, and how long browsers
and CDNs may keep each.

The service's own pages and fragments link them as `/affiliate/static/<file>?v=<digest>`,
a URL that changes whenever any of the files does, so it may be kept for a year. Host pages
link embed.js and frame-parent.js by their bare URLs (docs/embedding.md), which must pick up
a new release: those are kept for `http.static_max_age` seconds, then revalidated by ETag.
"""
from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path

from flask import Blueprint, Response, request

from affiliate.state import state

STATIC_FOLDER = Path(__file__).parent / "static"
VERSIONED = "public, max-age=31536000, immutable"


@lru_cache(maxsize=1)
def version() -> str:
    """A digest of every static file: they only change with a deploy, which restarts us."""
    digest = hashlib.sha256()
    for path in sorted(STATIC_FOLDER.rglob("*")):
        if path.is_file():
            digest.update(path.relative_to(STATIC_FOLDER).as_posix().encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def add_version(endpoint: str, values: dict) -> None:
    """url_for of a static file carries the version (a blueprint url_defaults callback)."""
    if endpoint.endswith(".static"):
        values.setdefault("v", version())


class WidgetBlueprint(Blueprint):
    """The widget blueprint, serving its static files with the lifetimes above."""

    def send_static_file(self, filename: str) -> Response:
        response = super().send_static_file(filename)
        if request.args.get("v") == version():
            response.headers["Cache-Control"] = VERSIONED
        else:
            max_age = state().settings.http.static_max_age
            response.headers["Cache-Control"] = f"public, max-age={max_age}"
        return response
