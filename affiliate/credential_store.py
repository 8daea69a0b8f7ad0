"""Where provider credentials come from, and how stored ones are kept encrypted.

Each credential field an adapter declares (`Provider.credentials`) can be set in three
places; the first one that has it wins:

1. the environment, `AFFILIATE_PROVIDERS__<NAME>__<FIELD>` (never changed by the CLI or the
   console);
2. the store: encrypted with Fernet under `AFFILIATE_CREDENTIALS_KEY` (several keys,
   comma-separated, newest first, so keys can be rotated);
3. the provider's `[providers.<name>]` table in config.toml.

This module is the store and the precedence; the operator's actions on it (status, check,
save, delete) are affiliate.credentials. Values are never logged or returned masked-less to
anyone but the adapter that needs them.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy import delete as sql_delete
from sqlmodel import select

from affiliate.db import Database
from affiliate.models import ProviderCredential
from affiliate.types import utcnow
from providers.base import AuthFailed

KEY_VARIABLE = "AFFILIATE_CREDENTIALS_KEY"
MASK = "••••"
WRONG_KEY = ("credentials unreadable: the encryption key does not match (set "
             f"{KEY_VARIABLE} to the key they were saved with, or save them again)")
NO_KEY = (f"{KEY_VARIABLE} is not set; make a key with `affiliate credentials generate-key` and set "
          "it in the environment of every affiliate process (web, scheduler and CLI)")


class CredentialsError(ValueError):
    """Credentials that cannot be saved as given; the message names the field and the fix,
    never a value."""


class CredentialsUnavailable(AuthFailed):
    """A provider's credentials are missing or cannot be decrypted: its calls fail with this,
    and its guard holds them (as after a refusal) until the credentials change."""

    kind = "credentials"


@dataclass(frozen=True)
class Rotation:
    rotated: int
    unreadable: tuple[str, ...]  # "provider.field" of values no configured key opens


def env_var(provider_name: str, field: str) -> str:
    return f"AFFILIATE_PROVIDERS__{provider_name.upper()}__{field.upper()}"


def from_environment(provider_name: str, field: str) -> bool:
    wanted = env_var(provider_name, field).lower()
    return any(name.lower() == wanted and value.strip() for name, value in os.environ.items())


def mask(value: str) -> str:
    """A secret's last characters: four at most, and never more than a quarter of it."""
    shown = min(4, len(value) // 4)
    return MASK + (value[-shown:] if shown else "")


def effective_table(db: Database | None, provider_name: str, raw: dict[str, Any],
                    declared: set[str]) -> dict[str, Any]:
    """The provider's table with its credentials merged in by precedence: environment (already
    in `raw`, as pydantic-settings read it), then stored, then config.toml. Raises
    CredentialsUnavailable if a stored value that would be used cannot be decrypted. Without
    a database, only config and environment count."""
    if db is None or not declared:
        return dict(raw)
    rows = [row for row in stored(db, provider_name)
            if row.field in declared and not from_environment(provider_name, row.field)]
    return {**raw, **decrypt(rows, provider_name)} if rows else dict(raw)


def stored(db: Database, provider_name: str) -> list[ProviderCredential]:
    with db.session() as session:
        return list(session.exec(select(ProviderCredential)
                                 .where(ProviderCredential.provider == provider_name)
                                 .order_by(ProviderCredential.id)))


def decrypt(rows: list[ProviderCredential], provider_name: str) -> dict[str, str]:
    """field -> value; CredentialsUnavailable (saying why) if any row cannot be read."""
    if not rows:
        return {}
    try:
        fernet = keys(required=False)
    except CredentialsError as exc:
        raise CredentialsUnavailable(f"credentials unreadable: {exc}") from None
    if fernet is None:
        raise CredentialsUnavailable(
            f"credentials unreadable: {KEY_VARIABLE} is not set (set it to the key they were "
            "saved with, or save them again)")
    values = {}
    for row in rows:
        try:
            payload = json.loads(fernet.decrypt(row.ciphertext.encode()))
        except (InvalidToken, ValueError):
            raise CredentialsUnavailable(WRONG_KEY) from None
        if payload.get("provider") != provider_name or payload.get("field") != row.field:
            raise CredentialsUnavailable(
                f"credentials unreadable: the stored {row.field} belongs to another provider "
                "or field (save it again)")
        values[row.field] = payload["value"]
    return values


def write(db: Database, provider_name: str, values: dict[str, str]) -> None:
    """Store these values encrypted with the newest key (CredentialsError without one)."""
    fernet = keys(required=True)
    now = utcnow()
    with db.session() as session:
        existing = {row.field: row for row in session.exec(
            select(ProviderCredential).where(ProviderCredential.provider == provider_name))}
        for field, value in values.items():
            row = existing.get(field) or ProviderCredential(provider=provider_name, field=field,
                                                            ciphertext="")
            row.ciphertext = fernet.encrypt(_payload(provider_name, field, value)).decode()
            row.hint, row.updated_at = mask(value).removeprefix(MASK), now
            session.add(row)


def remove(db: Database, provider_name: str, field_names: list[str] | None = None) -> int:
    """Forget stored values (all of the provider's, or the named fields); how many went."""
    statement = sql_delete(ProviderCredential).where(ProviderCredential.provider == provider_name)
    if field_names:
        statement = statement.where(ProviderCredential.field.in_(field_names))
    with db.session() as session:
        return session.exec(statement).rowcount


def generate_key() -> str:
    return Fernet.generate_key().decode()


def rotate(db: Database) -> Rotation:
    """Re-encrypt every stored value with the first key of AFFILIATE_CREDENTIALS_KEY, after
    which the older keys can be dropped. Values no key opens are left as they are."""
    fernet = keys(required=True)
    rotated, unreadable = 0, []
    with db.session() as session:
        for row in session.exec(select(ProviderCredential).order_by(ProviderCredential.id)):
            try:
                row.ciphertext = fernet.rotate(row.ciphertext.encode()).decode()
            except InvalidToken:
                unreadable.append(f"{row.provider}.{row.field}")
                continue
            session.add(row)
            rotated += 1
    return Rotation(rotated, tuple(unreadable))


def keys(required: bool) -> MultiFernet | None:
    """The configured keys, newest first; None (or CredentialsError if required) when unset."""
    parts = [part.strip() for part in os.environ.get(KEY_VARIABLE, "").split(",") if part.strip()]
    if not parts:
        if required:
            raise CredentialsError(f"cannot store credentials encrypted: {NO_KEY}; or set them in "
                                   "config.toml or as AFFILIATE_PROVIDERS__<NAME>__<FIELD> variables")
        return None
    fernets = []
    for number, part in enumerate(parts, 1):
        try:
            fernets.append(Fernet(part))
        except ValueError:
            raise CredentialsError(
                f"{KEY_VARIABLE}: key {number} is not a Fernet key (32 url-safe base64-encoded "
                "bytes); make one with `affiliate credentials generate-key`") from None
    return MultiFernet(fernets)


def _payload(provider_name: str, field: str, value: str) -> bytes:
    """The value with where it belongs, so a ciphertext copied to another row does not open."""
    return json.dumps({"provider": provider_name, "field": field, "value": value}).encode()
