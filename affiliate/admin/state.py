"""The console's per-app state, and the accessor its routes use (kept apart from the wiring
in affiliate.admin.setup, which imports the routes)."""
from __future__ import annotations

from dataclasses import dataclass

from flask import current_app

from affiliate.admin.work import Refresher

PREFIX = "/admin"


@dataclass
class AdminState:
    refresher: Refresher
    console_enabled: bool  # False without admin.secret_key: the console says how to set it


def admin_state() -> AdminState:
    return current_app.extensions["affiliate_admin"]
