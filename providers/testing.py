"""Test cases declared with each adapter, as yt-dlp's extractors carry `_TESTS`: what the
suite's shared harnesses (the fault matrix, the secret-leak suite, the registry test) need to
run an adapter against its recorded answers. A provider type is covered by every harness as
soon as it is registered with its cases; a registered type without one fails them.

Every case answers for Leaving Las Vegas (1995; imdb tt0113627, TMDB 451, directed by Mike
Figgis), which the harness stores before the first refresh, in region US. A route's body is
a recording named by its path under the case's `recordings` folder (tests/recordings/ in this
project), or the bytes themselves.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

from providers.base import ProductRecord

JSON = "application/json"


@dataclass(frozen=True)
class Route:
    """One recorded answer at one URL; `params` narrow it when one URL answers several queries."""

    method: str
    url: str
    body: str | bytes
    status: int = 200
    content_type: str = JSON
    params: Mapping[str, str] = field(default_factory=dict)

    @property
    def request(self) -> tuple[str, str]:
        return self.method, self.url


@dataclass(frozen=True)
class ProviderCase:
    """One way an adapter is run against its source's recorded answers."""

    name: str  # unique among every registered type's cases; names the harnesses' test ids
    config: Mapping[str, object]  # its [providers.<type>] table, `type` included
    # Every value that must never show: the configured credentials and what the source hands
    # out (an access token).
    secrets: tuple[str, ...]
    good: tuple[Route, ...]  # the answers that store the film's offers or products
    shows: str  # text the film's widgets show once the good answers are stored
    # The source's documented "nothing" for the film, at the faulted requests; None where
    # those requests have no such answer (a token endpoint).
    empty: tuple[Route, ...] | None
    # The requests the fault matrix fails (method, URL); by default those `empty` answers.
    faulted: tuple[tuple[str, str], ...] = ()
    empty_counts_a_miss: bool = True  # the empty answer covers the film: one miss counted
    # Fault kinds the adapter turns into a problem of the film (a partial answer, no failure).
    tolerates: tuple[str, ...] = ()
    # Faults (by the fault matrix's name) the adapter reports as another kind than the
    # fault's own, by design; None: no failure.
    outcomes: Mapping[str, str | None] = field(default_factory=dict)
    # What its table adds when the harness serves it from a local stand-in server.
    local_config: Mapping[str, object] = field(default_factory=dict)
    # Products an operator linked to the film before the refresh (a source that refreshes
    # only what is linked, as Amazon does).
    linked: tuple[ProductRecord, ...] = ()
    # The source's answer to credentials it refuses, given to every request (any method)
    # whose URL starts with a route's URL; the leak suite serves them.
    refused: tuple[Route, ...] = ()
    recordings: str | None = None  # a folder of this case's recordings; None: the suite's
    notes: str = ""  # why the case exists, where its name does not say

    @property
    def type_name(self) -> str:
        return str(self.config["type"])

    @property
    def faulted_requests(self) -> tuple[tuple[str, str], ...]:
        return self.faulted or tuple(dict.fromkeys(route.request for route in self.empty or ()))
