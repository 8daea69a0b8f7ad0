"""Scoring search hits against films, so that products found by title (Amazon searches,
Apple soundtrack matches) are approved, rejected or left for review with reasons.

Pure functions over plain dataclasses: no database, no Flask. The facts of a product come
from its adapter (`providers.product_facts`); a film's facts from its stored credits.
"""
from affiliate.matching.box_sets import films_in_collection
from affiliate.matching.facts import CandidateFacts, Decision, FilmFacts, MatchScore
from affiliate.matching.score import relation_of, score_match

__all__ = ["CandidateFacts", "Decision", "FilmFacts", "MatchScore", "films_in_collection",
           "relation_of", "score_match"]
