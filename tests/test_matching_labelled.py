"""The labelled search answers (tests/matching/) scored with the default rules: no namesake or
remake is ever approved unasked, and the benchmark's figures stay above their targets
(bench/matching_bench.py prints the same figures)."""
from __future__ import annotations

from affiliate.config import MatchingSettings
from affiliate.matching import Decision
from tests.matching.labelled import catalog, hits, measure, score

RULES = MatchingSettings()


def test_the_labelled_set_covers_what_the_issue_names():
    titles = {film.title for film in catalog()}
    years = {(film.title, film.year) for film in catalog()}

    assert len(catalog()) >= 40
    assert {("Dune", 1984), ("Dune", 2021), ("Psycho", 1960), ("Psycho", 1998), ("The Thing", 1982),
            ("The Thing", 2011), ("Ocean's Eleven", 1960), ("Ocean's Eleven", 2001)} <= years
    assert {"Heat", "Up", "Her"} <= titles
    assert {hit.why_rejected for hit in hits()} >= {"namesake", "remake", "other work", "unrelated"}
    assert {hit.source for hit in hits()} == {"amazon", "itunes"}


def test_no_labelled_namesake_or_remake_is_auto_approved():
    approved = [(hit.film.label, hit.facts.title, match.reasons) for hit in hits()
                if hit.why_rejected in ("namesake", "remake")
                and (match := score(hit, RULES)).decision is Decision.APPROVE]

    assert approved == []


def test_auto_approval_is_precise_and_finds_most_of_what_an_operator_would_approve():
    overall, _, boxes = measure(RULES)

    assert overall.precision >= 0.98, [(hit.film.label, hit.facts.title) for hit, _ in overall.wrong]
    assert overall.recall >= 0.8
    assert boxes.precision >= 0.98, boxes.wrong
    assert boxes.recall >= 0.8
