"""Every adapter is found without a list to edit, and keeps the contract's promises."""
from __future__ import annotations

import pytest

from providers import registry
from providers.base import Provider
from providers.platforms import CANONICAL, slugify

ADAPTERS = sorted(registry.PROVIDER_TYPES.values(), key=lambda cls: cls.type_name)


def test_every_adapter_module_is_registered_by_its_type():
    assert sorted(registry.PROVIDER_TYPES) == [
        "amazon", "feed", "itunes", "streaming-availability", "tmdb", "watchmode"]


@pytest.mark.parametrize("adapter", ADAPTERS, ids=lambda cls: cls.type_name)
def test_adapters_declare_what_operators_and_refresh_need(adapter):
    fields = adapter.Settings.model_fields
    assert adapter.description and adapter.batch_size >= 1
    assert all(credential.name in fields and credential.how_to_obtain
               for credential in adapter.credentials)
    if not adapter.lists_catalog:
        assert "base_url" in fields  # so it can be pointed at a stand-in server


def test_an_installed_package_adds_adapters_through_an_entry_point(monkeypatch):
    class Plugin(Provider):
        type_name = "plugin"
        description = "from another package"

    class EntryPoint:
        def load(self):
            return Plugin

    monkeypatch.setattr(registry, "entry_points",
                        lambda group: [EntryPoint()] if group == registry.ENTRY_POINT_GROUP else [])

    assert registry._discover()["plugin"] is Plugin


def test_canonical_slugs_are_slugs():
    assert all(slug == slugify(slug) for slug in CANONICAL)
