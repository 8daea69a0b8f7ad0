"""Precision and recall of auto-approval on the labelled search answers (tests/matching/).

    python bench/matching_bench.py [--details]

Scores every labelled hit as the service would (the default `[matching]` rules) and prints
the figures bench/RESULTS.md keeps: of the products auto-approved, the share an operator
would have approved with that relation (precision, target >= 0.98); of those an operator
would approve, the share approved unasked (recall, target >= 0.8); how many wait for review;
and the box-set links found from cast-collection searches. --details lists every wrong
approval, every approvable hit left for review or rejected, with the reasons.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from affiliate.config import MatchingSettings  # noqa: E402
from tests.matching.labelled import catalog, hits, measure  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--details", action="store_true", help="list misses and wrong approvals")
    args = parser.parse_args()
    started = time.perf_counter()
    overall, by_label, boxes = measure(MatchingSettings())
    elapsed = time.perf_counter() - started
    print(f"{len(catalog())} films, {len(hits())} labelled hits ({overall.expected} an operator would "
          f"approve), scored in {elapsed:.1f} s")
    print(f"auto-approved {overall.approved}: precision {overall.precision:.3f} (target >= 0.98), "
          f"recall {overall.recall:.3f} (target >= 0.8)")
    print(f"review {overall.review}, rejected {overall.rejected}, "
          f"approvable but rejected {len(overall.lost)}")
    print(f"box sets: {boxes.approved} links, precision {boxes.precision:.3f}, recall {boxes.recall:.3f} "
          f"of {boxes.expected}; {boxes.for_review} more left for review")
    print()
    print("| label | hits | auto-approved | review | rejected |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for label, figures in sorted(by_label.items()):
        total = figures.approved + figures.review + figures.rejected
        print(f"| {label} | {total} | {figures.approved} | {figures.review} | {figures.rejected} |")
    if args.details:
        for title, rows in (("wrong approvals", overall.wrong), ("approvable, not approved", overall.missed)):
            print(f"\n{title}:")
            for hit, match in rows:
                print(f"- {hit.film.label} <- {hit.facts.title!r} [{hit.label}] {match.decision.value} "
                      f"{match.score} {match.relation.value}: {'; '.join(match.reasons)}")
        for box, ref in boxes.wrong:
            print(f"- box set {box.facts.title!r} wrongly linked to {ref}")


if __name__ == "__main__":
    main()
