"""Every registered provider type's declared cases (providers/testing.py), as the harnesses
that run them all (the fault matrix, the leak suite, the registry test) take them. A type
that declares none still yields one entry, `Uncovered`, whose test fails: a new type is
covered by adding its cases, never by editing a harness."""
from __future__ import annotations

from dataclasses import dataclass

import pytest

from providers import registry
from providers.testing import ProviderCase


@dataclass(frozen=True)
class Uncovered:
    """A registered type without a case."""

    type_name: str

    @property
    def name(self) -> str:
        return f"{self.type_name}-no-case"


def every_case() -> list[ProviderCase | Uncovered]:
    return [case for _, cls in sorted(registry.all_types().items())
            for case in cls.tests or (Uncovered(cls.type_name),)]


def first_cases() -> list[ProviderCase | Uncovered]:
    """One case per type: for checks that do not depend on which of its requests fails."""
    return [(cls.tests or (Uncovered(cls.type_name),))[0]
            for _, cls in sorted(registry.all_types().items())]


def covered(case: ProviderCase | Uncovered) -> ProviderCase:
    """The case, or the test fails naming the type that declares none."""
    if isinstance(case, Uncovered):
        pytest.fail(f"provider type {case.type_name!r} declares no test case: give its class "
                    f"`tests = (ProviderCase(...),)` (providers/testing.py)", pytrace=False)
    return case
