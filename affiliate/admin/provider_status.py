"""What the console and the admin API show about a provider: its health (from
`affiliate.health`, as `affiliate status` prints it), its credentials' fields and status
(from `affiliate.credentials`: masked, never their values) and whether a refresh this
process started is still running."""
from __future__ import annotations

from dataclasses import dataclass

from affiliate import credentials, sources
from affiliate.admin.work import Refresher
from affiliate.config import Settings
from affiliate.credentials import CredentialField, CredentialStatus
from affiliate.db import Database
from affiliate.health import ProviderHealth, provider_health
from affiliate.refresh import RefreshEngine


@dataclass(frozen=True)
class ProviderView:
    health: ProviderHealth
    description: str
    fields: tuple[CredentialField, ...]  # the ones an operator may set
    credentials: CredentialStatus | None  # None when it needs none
    refreshing: bool  # a refresh started from this process is running

    @property
    def name(self) -> str:
        return self.health.name

    @property
    def credentials_label(self) -> str:
        """A few words for the overview ("verified", "missing", "check failed"); the
        provider's page has the whole state."""
        status = self.credentials
        if status is None:
            return "none needed"
        if status.ok:
            return "verified"
        return status.state.split(":")[0][:40] if status.ok is False else "not verified"


def all_providers(db: Database, settings: Settings, refresher: Refresher) -> list[ProviderView]:
    engine = RefreshEngine(db, settings)
    try:
        report = provider_health(db, settings, engine)
    finally:
        engine.close()
    return [_view(db, settings, refresher, health) for health in report]


def one(db: Database, settings: Settings, refresher: Refresher, name: str) -> ProviderView:
    """UnknownProvider for a name config.toml does not define."""
    sources.configured_table(settings, name)
    return next(view for view in all_providers(db, settings, refresher) if view.name == name)


def _view(db: Database, settings: Settings, refresher: Refresher, health: ProviderHealth) -> ProviderView:
    fields = tuple(credentials.fields(settings, health.name))
    return ProviderView(
        health=health, description=sources.configured_table(settings, health.name)[1].description, fields=fields,
        credentials=credentials.status(db, settings, health.name) if fields else None,
        refreshing=refresher.running(health.name))
