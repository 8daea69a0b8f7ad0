"""Every API adapter's parser under Hypothesis: its recorded good answers, mutated (a value
swapped for another JSON type), truncated or replaced by junk, are either read or refused with
one of the shared provider errors (BadResponse for a body it cannot read); nothing else
escapes a fetch. The adapters and their recordings are the fault matrix's (test_fault_matrix)."""
from __future__ import annotations

import json

import pytest
import responses
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from providers.base import FilmQuery, ProductRef, ProviderError, ProviderResult
from providers.pacing import Pacer
from providers.registry import build_provider
from tests.test_fault_matrix import ADAPTERS, LLV, RECORDINGS, Adapter, Route

FEED_URL = "https://feeds.fuzz.test/catalog.json"
# A product feed fetched over HTTP: the whole catalog, no film asked for.
FEED = Adapter("feed", {"type": "feed", "url": FEED_URL, "format": "json"}, (),
               good=(Route("GET", FEED_URL, (RECORDINGS / "feed/catalog.json").read_bytes()),),
               faulted=(("GET", FEED_URL),), empty=None, empty_is_complete=False,
               widget="related-products", shows="")

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=8)


def _mutated(document, draw):
    """The document with one value, anywhere in it, replaced by any other JSON value."""
    if isinstance(document, dict) and document and draw(st.booleans()):
        key = draw(st.sampled_from(sorted(document)))
        return {**document, key: _mutated(document[key], draw)}
    if isinstance(document, list) and document and draw(st.booleans()):
        index = draw(st.integers(0, len(document) - 1))
        return [*document[:index], _mutated(document[index], draw), *document[index + 1:]]
    return draw(JSON_VALUES)


@st.composite
def bodies(draw, good: bytes) -> bytes:
    kind = draw(st.sampled_from(["good", "mutated", "mutated", "truncated", "junk"]))
    if kind == "good":
        return good
    if kind == "truncated":
        return good[:draw(st.integers(0, len(good) - 1))]
    if kind == "junk":
        return draw(st.binary(max_size=64))
    return json.dumps(_mutated(json.loads(good), draw)).encode()


def _film(adapter) -> FilmQuery:
    return FilmQuery(key=LLV, title="Leaving Las Vegas", year=1995, imdb_id="tt0113627", tmdb_id=451,
                     director="Mike Figgis",
                     products=tuple(ProductRef("Amazon", asin, "US") for asin in adapter.linked_asins))


@pytest.fixture(autouse=True)
def no_waiting(monkeypatch):
    monkeypatch.setattr(Pacer, "sleep", staticmethod(lambda seconds: None))
    monkeypatch.setattr("time.sleep", lambda seconds: None)


@pytest.mark.parametrize("adapter", [a for a in ADAPTERS if a.id == a.source or a.id == "amazon-token"]
                         + [FEED], ids=lambda a: a.id)
@pytest.mark.parametrize("route", [0, 1], ids=["first-route", "second-route"])
def test_a_fetch_reads_its_answer_or_raises_a_provider_error(adapter, route):
    faulted = adapter.faulted[route % len(adapter.faulted)]
    good = adapter.good_body(*faulted)
    provider = build_provider(adapter.source, adapter.config)

    @settings(max_examples=25, derandomize=True, database=None, deadline=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
    @given(body=bodies(good))
    def reads_or_refuses(body):
        with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
            for other in adapter.good:
                if (other.method, other.url) != faulted:
                    other.add(mock)
            mock.add(faulted[0], faulted[1], body=body, content_type="application/json")
            try:
                result = provider.fetch(None if adapter.source == "feed" else [_film(adapter)])
            except ProviderError:
                return
            assert isinstance(result, ProviderResult)

    reads_or_refuses()
