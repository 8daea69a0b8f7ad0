"""Every API adapter's parser under Hypothesis: its recorded good answers, mutated (a value
swapped for another JSON type), truncated or replaced by junk, are either read or refused with
one of the shared provider errors (BadResponse for a body it cannot read); nothing else
escapes a fetch. The answers are every registered type's declared cases' (providers/testing.py),
as the fault matrix runs them; a catalog-listing type (a feed) is asked for everything."""
from __future__ import annotations

import json

import pytest
import responses
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from providers.base import FilmKey, FilmQuery, ProductRef, ProviderError, ProviderResult
from providers.pacing import Pacer
from providers.registry import PROVIDER_TYPES, build_provider
from providers.testing import ProviderCase
from tests.provider_cases import covered, every_case
from tests.test_fault_matrix import add_route, good_body

LLV = FilmKey(imdb_id="tt0113627")

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


def _film(case: ProviderCase) -> FilmQuery:
    return FilmQuery(key=LLV, title="Leaving Las Vegas", year=1995, imdb_id="tt0113627", tmdb_id=451,
                     director="Mike Figgis",
                     products=tuple(ProductRef(p.merchant, p.merchant_id, p.region) for p in case.linked))


@pytest.fixture(autouse=True)
def no_waiting(monkeypatch):
    monkeypatch.setattr(Pacer, "sleep", staticmethod(lambda seconds: None))
    monkeypatch.setattr("time.sleep", lambda seconds: None)


@pytest.mark.parametrize("case", every_case(), ids=lambda case: case.name)
@pytest.mark.parametrize("route", [0, 1], ids=["first-route", "second-route"])
def test_a_fetch_reads_its_answer_or_raises_a_provider_error(case, route):
    case = covered(case)
    faulted = case.faulted_requests[route % len(case.faulted_requests)]
    good = good_body(case, *faulted)
    provider = build_provider(case.type_name, dict(case.config))
    films = None if PROVIDER_TYPES[case.type_name].lists_catalog else [_film(case)]

    @settings(max_examples=25, derandomize=True, database=None, deadline=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
    @given(body=bodies(good))
    def reads_or_refuses(body):
        with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
            for other in case.good:
                if other.request != faulted:
                    add_route(mock, case, other)
            mock.add(faulted[0], faulted[1], body=body, content_type="application/json")
            try:
                result = provider.fetch(films)
            except ProviderError:
                return
            assert isinstance(result, ProviderResult)

    reads_or_refuses()
