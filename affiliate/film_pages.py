"""The host site's page of a film, from the operator's template (`changes.film_url`).

Checked once, where it is given (config start-up, or a host app's macro call), so a typo in a
placeholder is reported there and never turns into broken links on every list.
"""
from __future__ import annotations

import string
from urllib.parse import quote, urlsplit

from providers.base import FilmKey

# What a template may ask for, and where each comes from on a film.
PLACEHOLDERS = ("imdb", "tmdb", "id", "ref")


def check_template(template: str) -> str:
    """The template if it is an absolute http(s) URL (or a path from the site's root)
    whose only fields are PLACEHOLDERS; else ValueError saying what is wrong."""
    try:
        fields = [(name, spec, conversion)
                  for _, name, spec, conversion in string.Formatter().parse(template)
                  if name is not None]
    except ValueError as exc:  # an unmatched brace
        raise ValueError(f"{template!r} is not a valid template ({exc})") from None
    for name, spec, conversion in fields:
        if name not in PLACEHOLDERS or spec or conversion:
            raise ValueError(f"{template!r} uses {{{name}}}; the placeholders are "
                             + ", ".join(f"{{{p}}}" for p in PLACEHOLDERS))
    if not fields:
        raise ValueError(f"{template!r} names no film: use one of "
                         + ", ".join(f"{{{p}}}" for p in PLACEHOLDERS))
    parts = urlsplit(template.format(**{name: "x" for name in PLACEHOLDERS}))
    if not (parts.scheme in ("http", "https") and parts.netloc) and not (
            not parts.scheme and not parts.netloc and parts.path.startswith("/")):
        raise ValueError(f"{template!r} is not an http(s) URL nor a path from the site's root")
    return template


def film_page(template: str | None, film_id: int, imdb_id: str | None,
              tmdb_id: int | None) -> str | None:
    """The film's page on the host site, or None if there is no template or the film lacks
    an id it needs."""
    if template is None:
        return None
    values = {"id": str(film_id), "imdb": imdb_id, "tmdb": None if tmdb_id is None else str(tmdb_id),
              "ref": str(FilmKey(imdb_id=imdb_id, tmdb_id=tmdb_id, internal_id=film_id))}
    needed = {name for _, name, _, _ in string.Formatter().parse(template) if name}
    if any(values[name] is None for name in needed):
        return None
    return template.format(**{name: quote(value or "", safe=":") for name, value in values.items()})
