"""The settings of an `amazon` provider table."""
from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, SecretStr, field_validator

from providers.base import ProviderSettings
from providers.fields import base_url
from providers.regions import normalize_region

_HOST_RE = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+$")


class AmazonSettings(ProviderSettings):
    """An [providers.<name>] table of type "amazon": one marketplace and its partner tag."""

    credential_id: SecretStr
    credential_secret: SecretStr
    credential_version: Literal["2.1", "2.2", "2.3", "3.1", "3.2", "3.3"]
    partner_tag: str
    marketplace: str = "www.amazon.com"
    region: str = "US"
    base_url: str = "https://creatorsapi.amazon"
    token_url: str | None = None
    timeout_seconds: float = Field(15, gt=0)
    discover: bool = True
    # Box sets searched for each film with known people: its top-billed actors (this many)
    # and its director; 0 searches none.
    cast_searches: int = Field(2, ge=0, le=10)

    @field_validator("partner_tag")
    @classmethod
    def _partner_tag(cls, value: str) -> str:
        value = value.strip()
        if not value or len(value) > 64 or any(char.isspace() for char in value):
            raise ValueError("set the Associates tracking id for this marketplace, e.g. yoursite-20")
        return value

    @field_validator("marketplace")
    @classmethod
    def _marketplace(cls, value: str) -> str:
        value = value.strip().lower()
        if not _HOST_RE.match(value):
            raise ValueError(f"{value!r} is not a marketplace host such as www.amazon.com")
        return value

    @field_validator("region")
    @classmethod
    def _region(cls, value: str) -> str:
        return normalize_region(value)

    @field_validator("base_url", "token_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        return None if value is None else base_url(value)
