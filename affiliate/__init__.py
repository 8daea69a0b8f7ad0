"""Self-hosted "How to Watch" and "Related Products" widgets for film sites.

`Affiliate` (the extension for a host Flask app) and `create_app` (the standalone service) are
loaded when first asked for, so a command that needs neither starts without Flask's routes.
"""
from __future__ import annotations

from importlib import import_module

__all__ = ["Affiliate", "create_app"]
_HOMES = {"Affiliate": "affiliate.extension", "create_app": "affiliate.app"}


def __getattr__(name: str):
    if name in _HOMES:
        return getattr(import_module(_HOMES[name]), name)
    raise AttributeError(f"module 'affiliate' has no attribute {name!r}")
