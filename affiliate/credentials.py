"""The operator's actions on provider credentials: what is set where (masked), a "test
connection" call, saving new values and forgetting stored ones. The CLI and the console call
these; where values come from and how they are kept is affiliate.credential_store.

Values are never logged, printed or rendered: a status shows at most a secret's last four
characters.
"""
from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from pydantic import SecretStr
from sqlalchemy import update

from affiliate import credential_store, sources
from affiliate.config import Settings
from affiliate.credential_store import (
    KEY_VARIABLE,
    MASK,
    CredentialsError,
    CredentialsUnavailable,
    Rotation,
    env_var,
    from_environment,
    generate_key,
    mask,
)
from affiliate.db import Database, conflict_insert
from affiliate.models import ProviderState
from affiliate.resilience import CLOSED, credentials_fingerprint
from affiliate.types import utcnow
from providers.base import AuthFailed, Provider, ProviderError, RateLimited, Transient
from providers.registry import blank, validate_table

__all__ = ["KEY_VARIABLE", "CredentialsError", "CredentialsUnavailable", "Rotation", "env_var",
           "generate_key", "mask", "rotate"]

log = logging.getLogger(__name__)

ENVIRONMENT, STORED, CONFIG, MISSING = "environment", "stored", "config", "missing"
MAX_LENGTH = 2000


@dataclass(frozen=True)
class CredentialField:
    name: str
    label: str
    secret: bool
    how_to_obtain: str = ""


@dataclass(frozen=True)
class CheckResult:
    ok: bool
    message: str


@dataclass(frozen=True)
class CredentialStatus:
    """What an operator may see about one provider's credentials: never a value.

    `source`, `masked` and `env_vars` are keyed by field name. `masked` is "••••abcd" for a
    secret (fewer characters for a short one), the value itself for a non-secret field
    (a partner tag), "" when missing. `ok` is the last check of these very credentials:
    True, False, or None when they were never checked (or changed since).
    """

    provider: str
    fields: tuple[CredentialField, ...]
    source: dict[str, str]
    masked: dict[str, str]
    env_vars: dict[str, str]
    readable: bool
    state: str
    ok: bool | None
    checked_at: dt.datetime | None


# --- Fields, status, check, save, delete ----------------------------------------------------


def fields(settings: Settings, provider_name: str) -> tuple[CredentialField, ...]:
    """The credential fields the provider's adapter declares, in its order."""
    _, cls = sources.configured_table(settings, provider_name)
    return tuple(CredentialField(c.name, _label(c.name), c.secret, c.how_to_obtain)
                 for c in cls.credentials)


def problem(provider: Provider) -> str | None:
    """Why a provider built by affiliate.sources cannot call its source, or None."""
    return provider.credentials_problem


def status(db: Database, settings: Settings, provider_name: str) -> CredentialStatus:
    """Where each credential comes from, masked, and whether the provider accepted them.
    Reads only: no request is sent, and no secret reaches the result."""
    raw, cls = sources.configured_table(settings, provider_name)
    declared = fields(settings, provider_name)
    with db.session() as session:
        row = session.get(ProviderState, provider_name)
    stored = {r.field: r for r in credential_store.stored(db, provider_name)
              if not from_environment(provider_name, r.field)} if declared else {}
    try:
        decrypted, unreadable = credential_store.decrypt(list(stored.values()), provider_name), None
    except CredentialsUnavailable as exc:
        decrypted, unreadable = {}, str(exc)
    source, masked, env_vars = {}, {}, {}
    for field in declared:
        env_vars[field.name] = env_var(provider_name, field.name)
        value = raw.get(field.name)
        if from_environment(provider_name, field.name):
            source[field.name] = ENVIRONMENT
        elif field.name in stored:
            source[field.name], value = STORED, decrypted.get(field.name)
        elif not blank(value):
            source[field.name] = CONFIG
        else:
            source[field.name], value = MISSING, None
        if value is not None:
            masked[field.name] = _shown(str(value).strip(), field)
        elif source[field.name] == STORED:  # unreadable: the hint kept beside it
            masked[field.name] = MASK + (stored[field.name].hint or "")
        else:
            masked[field.name] = ""
    common = dict(provider=provider_name, fields=declared, source=source, masked=masked,
                  env_vars=env_vars, checked_at=row.credentials_checked_at if row else None)
    if not declared:
        return CredentialStatus(**common, readable=True, state="needs no credentials", ok=None)
    if unreadable is not None:
        return CredentialStatus(**common, readable=False, state=unreadable, ok=False)
    provider = sources.build(db, settings, provider_name)
    if problem(provider) is not None:
        missing = problem(provider).removeprefix("credentials ")
        return CredentialStatus(**common, readable=True, state=missing, ok=False)
    state, ok = _verdict(row, credentials_fingerprint(provider))
    return CredentialStatus(**common, readable=True, state=state, ok=ok)


def check(db: Database, settings: Settings, provider_name: str) -> CheckResult:
    """"Test connection": one cheap authenticated request with the effective credentials;
    the outcome is kept on the provider's state row and returned. Never raises for the
    provider's answer."""
    provider = sources.build(db, settings, provider_name)
    if problem(provider) is not None:
        result = CheckResult(False, problem(provider))
    elif not provider.credentials:
        result = CheckResult(True, f"{provider_name} needs no credentials")
    else:
        result = _call_check(provider)
    result = CheckResult(result.ok, _redact(result.message, provider)[:500])
    fingerprint = credentials_fingerprint(provider)
    _ensure_state_row(db, provider_name, provider.type_name)
    with db.session() as session:
        row = session.get(ProviderState, provider_name)
        row.credentials_checked_at, row.credentials_ok = utcnow(), result.ok
        row.credentials_message, row.credentials_checked_fingerprint = result.message, fingerprint
        session.add(row)
    if result.ok:  # they work now: whatever refused them before, calls may resume
        _clear_auth_block(db, provider_name, keep=None)
    log.info("provider %s: credentials check %s: %s", provider_name,
             "passed" if result.ok else "failed", result.message)
    return result


def save(db: Database, settings: Settings, provider_name: str, values: dict[str, str],
         verify: bool = True) -> CheckResult:
    """Store the given credential values encrypted (blank ones are left as they are), then
    check them with one real call unless `verify` is False. Raises CredentialsError for an
    unknown field, a field the environment sets, a value the adapter refuses or a missing
    encryption key; nothing is stored then."""
    raw, cls = sources.configured_table(settings, provider_name)
    declared = {c.name: c for c in cls.credentials}
    if not declared:
        raise CredentialsError(f"{provider_name} ({cls.type_name}) takes no credentials")
    unknown = sorted(set(values) - set(declared))
    if unknown:
        raise CredentialsError(f"{provider_name} has no credential field {', '.join(unknown)}; "
                               f"its fields are {', '.join(declared)}")
    cleaned = {field: _checked_value(provider_name, field, value)
               for field, value in values.items() if (value or "").strip()}
    if not cleaned:
        raise CredentialsError("nothing to save: every value is empty")
    try:
        merged = credential_store.effective_table(db, provider_name, raw, set(declared))
    except CredentialsUnavailable:  # saving again is the way out of unreadable values
        merged = raw
    try:
        validate_table(provider_name, {**merged, **cleaned})
    except ValueError as exc:
        raise CredentialsError(str(exc).replace("config key providers.", "", 1)) from None
    credential_store.write(db, provider_name, cleaned)
    log.info("provider %s: stored credentials %s", provider_name, ", ".join(sorted(cleaned)))
    _credentials_changed(db, settings, provider_name)
    if verify:
        return check(db, settings, provider_name)
    return CheckResult(True, "saved; not checked yet")


def delete(db: Database, settings: Settings, provider_name: str, field_names: list[str] | None = None) -> int:
    """Forget the stored values (all of them, or the named fields); config and environment
    values stay. Returns how many were removed."""
    sources.configured_table(settings, provider_name)
    removed = credential_store.remove(db, provider_name, field_names)
    if removed:
        log.info("provider %s: removed %d stored credentials", provider_name, removed)
        _credentials_changed(db, settings, provider_name)
    return removed


def rotate(db: Database) -> Rotation:
    """Re-encrypt every stored value with the newest key (affiliate.credential_store)."""
    rotation = credential_store.rotate(db)
    log.info("re-encrypted %d stored credentials with the first key", rotation.rotated)
    return rotation


# --- Internals ------------------------------------------------------------------------------


def _label(name: str) -> str:
    words = {"api": "API", "id": "ID"}
    text = " ".join(words.get(word, word) for word in name.split("_"))
    return text[0].upper() + text[1:]


def _shown(value: str, field: CredentialField) -> str:
    return mask(value) if field.secret else value


def _checked_value(provider_name: str, field: str, value: str) -> str:
    value = value.strip()
    if len(value) > MAX_LENGTH:
        raise CredentialsError(f"{field}: longer than {MAX_LENGTH} characters")
    if any(ord(char) < 32 or ord(char) == 127 for char in value):
        raise CredentialsError(f"{field}: contains a line break or another control character")
    if from_environment(provider_name, field):
        raise CredentialsError(
            f"{field} is set by the environment ({env_var(provider_name, field)}), which wins "
            "over stored credentials; change or unset that variable instead")
    return value


def _call_check(provider: Provider) -> CheckResult:
    name = provider.name
    try:
        said = provider.check_credentials()
    except AuthFailed as exc:
        return CheckResult(False, f"rejected by {name}: {exc}")
    except RateLimited as exc:
        return CheckResult(False, f"{name} is rate limited, try again later: {exc}")
    except Transient as exc:
        return CheckResult(False, f"could not reach {name}: {exc}")
    except ProviderError as exc:
        return CheckResult(False, f"unexpected answer from {name}: {exc}")
    except Exception as exc:  # an adapter bug: its text may hold anything, so only its kind
        log.error("provider %s: credentials check crashed (%s)", name, type(exc).__name__)
        return CheckResult(False, f"the check crashed ({type(exc).__name__}); see the log")
    if said is None:
        return CheckResult(False, f"the {provider.type_name} adapter has no credentials check; "
                                  "the next refresh will try them")
    return CheckResult(True, said)


def _redact(message: str, provider: Provider) -> str:
    """Adapters keep secrets out of their errors; this makes sure for what is stored."""
    for credential in provider.credentials:
        value = getattr(provider.settings, credential.name, None)
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        if credential.secret and isinstance(value, str) and len(value.strip()) >= 4:
            message = message.replace(value.strip(), "[redacted]")
    return message


def _verdict(row: ProviderState | None, fingerprint: str) -> tuple[str, bool | None]:
    """The state line for credentials that are all there, from the last check of exactly
    these credentials and any refusal of them during a refresh since."""
    checked = row is not None and row.credentials_checked_fingerprint == fingerprint \
        and row.credentials_checked_at is not None
    refused = row is not None and row.auth_blocked_fingerprint == fingerprint
    if refused and not (checked and row.last_error_at is not None
                        and row.credentials_checked_at > row.last_error_at):
        return f"check failed: refused during a refresh: {row.last_error or 'no reason given'}", False
    if not checked:
        return "not verified", None
    if row.credentials_ok:
        return "verified", True
    return f"check failed: {row.credentials_message or 'no reason given'}", False


def _credentials_changed(db: Database, settings: Settings, provider_name: str) -> None:
    """New credentials start afresh, as ProviderGuard.check would find on the next run."""
    provider = sources.build(db, settings, provider_name)
    if problem(provider) is None:
        _clear_auth_block(db, provider_name, keep=credentials_fingerprint(provider))


def _clear_auth_block(db: Database, provider_name: str, keep: str | None) -> None:
    """Lift an auth block (its breaker and failure count with it), unless it is on `keep`."""
    statement = update(ProviderState).where(ProviderState.name == provider_name,
                                            ProviderState.auth_blocked_fingerprint.is_not(None))
    if keep is not None:
        statement = statement.where(ProviderState.auth_blocked_fingerprint != keep)
    with db.session() as session:
        cleared = session.exec(
            statement.values(auth_blocked_fingerprint=None, breaker_state=CLOSED,
                             breaker_opened_at=None, consecutive_failures=0)
            .execution_options(synchronize_session=False)).rowcount
    if cleared:
        log.info("provider %s: credentials changed; calls resume", provider_name)


def _ensure_state_row(db: Database, provider_name: str, type_name: str) -> None:
    with db.session() as session:
        session.exec(conflict_insert(session.get_bind(), ProviderState.__table__)
                     .values(name=provider_name, type=type_name, breaker_state=CLOSED,
                             consecutive_failures=0)
                     .on_conflict_do_nothing(index_elements=["name"]))
