"""The suite's recorded answers (tests/recordings/<source>/), named by their path there:
`recorded("tmdb/details_451.json")` is the bytes, `recorded_text` the text, `recorded_json` the
decoded JSON. `route_body` reads a provider case's route (providers/testing.py)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from providers.testing import ProviderCase, Route

RECORDINGS = Path(__file__).parent / "recordings"


def recorded(name: str) -> bytes:
    return (RECORDINGS / name).read_bytes()


def recorded_text(name: str) -> str:
    return (RECORDINGS / name).read_text()


def recorded_json(name: str) -> Any:
    return json.loads(recorded_text(name))


def route_body(case: ProviderCase, route: Route) -> bytes:
    """The route's body: its bytes, or the recording it names in the case's folder."""
    if isinstance(route.body, bytes):
        return route.body
    return (Path(case.recordings) if case.recordings else RECORDINGS).joinpath(route.body).read_bytes()
