"""A platform's tile colours: its brand colour (providers.platforms) and the ink its name is
written in on it, whichever of white or near-black reads better (WCAG contrast)."""
from __future__ import annotations

import functools
from typing import NamedTuple

from providers.platforms import CANONICAL

_LIGHT_INK, _DARK_INK = (1.0, 1.0, 1.0), (0.114, 0.114, 0.122)  # #ffffff, #1d1d1f


class Brand(NamedTuple):
    colour: str  # "#E50914"
    ink: str  # "light" or "dark": the text colour on `colour`


@functools.lru_cache(maxsize=None)
def brand(slug: str) -> Brand | None:
    """The tile colours of a canonical platform that has a brand colour, else None."""
    canonical = CANONICAL.get(slug)
    if canonical is None or canonical.colour is None:
        return None
    rgb = tuple(int(canonical.colour[i:i + 2], 16) / 255 for i in (1, 3, 5))
    light = _contrast(rgb, _LIGHT_INK) >= _contrast(rgb, _DARK_INK)
    return Brand(canonical.colour, "light" if light else "dark")


def _contrast(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    high, low = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def _luminance(rgb: tuple[float, ...]) -> float:
    r, g, b = (c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b
