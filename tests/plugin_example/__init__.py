"""A provider type from another package, for tests only: proof that a type registered through
the `film_affiliate.providers` entry point, with its declared cases, is run by the fault
matrix and the leak suite without an edit to them (tests/test_registry.py installs it)."""
