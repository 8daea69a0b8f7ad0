"""Every adapter is found without a list to edit, keeps the contract's promises and declares
the cases the shared harnesses run (providers/testing.py); a type from another package is run
by those harnesses without an edit to them."""
from __future__ import annotations

import importlib
import json
import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import providers
from providers import registry
from providers.base import Provider
from providers.platforms import CANONICAL, slugify
from tests.provider_cases import covered, every_case
from tests.test_fault_matrix import FAULTS

pytest_plugins = ["pytester"]

ROOT = Path(__file__).parent.parent
ADAPTERS = sorted(registry.all_types().values(), key=lambda cls: cls.type_name)
HARNESSES = [str(ROOT / "tests" / name)
             for name in ("test_fault_matrix.py", "test_secret_leaks.py", "test_parsers_fuzz.py",
                          "test_registry.py")]
# Each database test runs once per database (tests/conftest.py).
DATABASES = 2 if os.environ.get("AFFILIATE_TEST_DATABASE_URL") else 1


def test_every_adapter_module_is_registered_by_its_type():
    assert sorted(registry.PROVIDER_TYPES) == [
        "amazon", "feed", "itunes", "streaming-availability", "tmdb", "watchmode"]


@pytest.mark.parametrize("module_info", [m for m in pkgutil.iter_modules(providers.__path__)
                                         if m.name != "registry"], ids=lambda m: m.name)
def test_an_adapter_module_is_named_after_its_type(module_info):
    module = importlib.import_module(f"providers.{module_info.name}")

    assert [registry.module_name(cls.type_name) for cls in registry.module_adapters(module)] in (
        [], [module_info.name])


def test_a_type_is_found_by_its_name_alone_importing_only_its_adapter():
    code = ("import json, sys; from providers.registry import PROVIDER_TYPES; "
            "cls = PROVIDER_TYPES['streaming-availability']; "
            "print(json.dumps([cls.__name__, sorted(sys.modules)]))")
    found, modules = json.loads(subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)}).stdout)

    assert found == "StreamingAvailabilityProvider"
    adapters = {f"providers.{registry.module_name(name)}" for name in registry.PROVIDER_TYPES}
    assert adapters & set(modules) == {"providers.streaming_availability"}


def test_an_unknown_type_is_refused_naming_every_installed_one():
    with pytest.raises(ValueError, match="unknown provider type 'http'; known types: amazon, feed, "
                                         "itunes, streaming-availability, tmdb, watchmode$"):
        registry.provider_class("http")  # a module of the package, not an adapter


@pytest.mark.parametrize("adapter", ADAPTERS, ids=lambda cls: cls.type_name)
def test_adapters_declare_what_operators_and_refresh_need(adapter):
    fields = adapter.Settings.model_fields
    assert adapter.description and adapter.batch_size >= 1
    assert all(credential.name in fields and credential.how_to_obtain
               for credential in adapter.credentials)
    if not adapter.lists_catalog:
        assert "base_url" in fields  # so it can be pointed at a stand-in server


class EntryPoint:
    def __init__(self, name, cls):
        self.name, self.cls = name, cls

    def load(self):
        return self.cls


class Plugin(Provider):
    type_name = "plugin"
    description = "from another package"


def test_an_installed_package_adds_adapters_through_an_entry_point(monkeypatch):
    monkeypatch.setattr(registry, "entry_points", lambda group: [EntryPoint("plugin", Plugin)]
                        if group == registry.ENTRY_POINT_GROUP else [])

    assert registry.ProviderTypes()["plugin"] is Plugin
    assert "plugin" in list(registry.ProviderTypes())
    assert "tmdb" in registry.ProviderTypes()  # the package's own, beside it


def test_an_entry_point_is_named_after_the_type_it_loads(monkeypatch):
    monkeypatch.setattr(registry, "entry_points", lambda group: [EntryPoint("other", Plugin)])

    with pytest.raises(ValueError, match="entry point 'other' .* loads provider type 'plugin'"):
        registry.ProviderTypes()["other"]


@pytest.mark.parametrize("case", every_case(), ids=lambda case: case.name)
def test_every_type_declares_cases_its_harnesses_can_run(case):
    case = covered(case)
    cls = registry.PROVIDER_TYPES[case.type_name]
    assert case in cls.tests  # a case configures the type that declares it
    registry.validate_provider_settings(case.type_name, dict(case.config))
    routes = case.good + (case.empty or ()) + case.refused
    folder = Path(case.recordings) if case.recordings else ROOT / "tests" / "recordings"
    assert [route.body for route in routes
            if isinstance(route.body, str) and not (folder / route.body).is_file()] == []
    assert case.good and case.shows
    assert set(case.faulted_requests) <= {route.request for route in case.good}
    secret = [c.name for c in cls.credentials if c.secret and c.name in case.config]
    assert {str(case.config[name]) for name in secret} <= set(case.secrets)
    if secret:
        assert case.refused, "a type with secrets declares how its source refuses them"


def test_case_names_are_unique():
    names = [case.name for case in every_case()]
    assert len(names) == len(set(names))


def install(pytester, monkeypatch, **types: str) -> None:
    """A distribution on the path whose entry points add provider types (name = module:class)."""
    info = pytester.mkdir("example_plugin-1.0.dist-info")
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: example-plugin\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        f"[{registry.ENTRY_POINT_GROUP}]\n"
        + "".join(f"{name} = {target}\n" for name, target in types.items()))
    monkeypatch.setenv("PYTHONPATH", f"{ROOT}:{pytester.path}")


def test_a_type_from_another_package_is_run_by_the_fault_matrix_and_the_leak_suite(pytester, monkeypatch):
    install(pytester, monkeypatch, example="tests.plugin_example.provider:ExampleProvider")

    result = pytester.runpytest_subprocess(*HARNESSES, "-k", "example", "-n", "0", "-p", "no:cacheprovider")

    # Every fault and the two real-socket tests in the matrix, its commands and pages in the
    # leak suite (on each database), its parser fuzzed at two routes, its declarations here.
    result.assert_outcomes(passed=(len(FAULTS) + 3) * DATABASES + 2 + 2)


def test_a_type_without_a_case_fails_every_harness(pytester, monkeypatch):
    install(pytester, monkeypatch, uncovered="tests.plugin_example.provider:UncoveredProvider")

    result = pytester.runpytest_subprocess(*HARNESSES, "-k", "uncovered", "-n", "0",
                                           "-p", "no:cacheprovider")

    # Only its operator-facing declarations (inherited) pass.
    result.assert_outcomes(failed=(len(FAULTS) + 3) * DATABASES + 2 + 1, passed=1)
    result.stdout.fnmatch_lines(["*provider type 'uncovered' declares no test case*"])


def test_canonical_slugs_are_slugs():
    assert all(slug == slugify(slug) for slug in CANONICAL)
