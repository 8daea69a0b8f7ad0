"""Provider credentials: where each one comes from, stored encrypted, checked with one real call.

Each credential field an adapter declares (`Provider.credentials`) can be set in three
places; the first one that has it wins:

1. the environment, `AFFILIATE_PROVIDERS__<NAME>__<FIELD>` (shown as "set by environment",
   never changed by the CLI or the console);
2. the store: `affiliate providers set-credentials <name>` or the admin console, encrypted
   with Fernet under `AFFILIATE_CREDENTIALS_KEY` (several keys, comma-separated, newest
   first, so keys can be rotated);
3. the provider's `[providers.<name>]` table in config.toml.

Values are never logged, printed or rendered: a status shows at most a secret's last four
characters. A provider whose credentials are missing, or stored under another key, is still
built (the service starts, lists and schedules it) as a stand-in whose every call fails with
the reason; the provider's guard then holds its calls until the credentials change.
"""
from __future__ import annotations

import datetime as dt
import functools
import inspect
import json
import logging
import os
from dataclasses import dataclass
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from pydantic import SecretStr, ValidationError
from sqlalchemy import delete as sql_delete
from sqlalchemy import update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import select

from affiliate.db import Database
from affiliate.models import ProviderCredential, ProviderState
from affiliate.resilience import CLOSED, credentials_fingerprint
from affiliate.types import utcnow
from providers.base import (
    AuthFailed,
    Provider,
    ProviderError,
    ProviderSettings,
    RateLimited,
    Retry,
    Transient,
)
from providers.registry import configured_class, error_message, provider_class

log = logging.getLogger(__name__)

KEY_VARIABLE = "AFFILIATE_CREDENTIALS_KEY"
ENVIRONMENT, STORED, CONFIG, MISSING = "environment", "stored", "config", "missing"
MASK = "••••"
MAX_LENGTH = 2000
_SET_THEM = ("set them with `affiliate providers set-credentials {name}`, in the admin console, "
             "in config.toml or as AFFILIATE_PROVIDERS__{NAME}__<FIELD>")
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


@dataclass(frozen=True)
class Rotation:
    rotated: int
    unreadable: tuple[str, ...]  # "provider.field" of values no configured key opens


# --- Fields and sources ---------------------------------------------------------------------


def fields(settings, provider_name: str) -> tuple[CredentialField, ...]:
    """The credential fields the provider's adapter declares, in its order."""
    _, cls = _configured(settings, provider_name)
    return tuple(CredentialField(c.name, _label(c.name), c.secret, c.how_to_obtain)
                 for c in cls.credentials)


def env_var(provider_name: str, field: str) -> str:
    return f"AFFILIATE_PROVIDERS__{provider_name.upper()}__{field.upper()}"


def mask(value: str) -> str:
    """A secret's last characters: four at most, and never more than a quarter of it."""
    shown = min(4, len(value) // 4)
    return MASK + (value[-shown:] if shown else "")


def provider_config(db: Database | None, settings, name: str) -> dict[str, Any]:
    """The provider's table with its credentials merged in by precedence: environment, then
    stored, then config.toml. Raises CredentialsUnavailable if a stored value that would be
    used cannot be decrypted. Without a database, only config and environment count."""
    raw, cls = _configured(settings, name)
    if db is None or not cls.credentials:
        return raw
    declared = {c.name for c in cls.credentials}
    rows = [row for row in _stored(db, name)
            if row.field in declared and not _from_environment(name, row.field)]
    if rows:
        raw.update(_decrypt(rows, name))
    return raw


def validate_table(name: str, raw: dict[str, Any]) -> tuple[ProviderSettings | None, str | None]:
    """Validate a [providers.<name>] table whose credentials may still be missing (they can
    come from the store, which config loading cannot see).

    Returns (settings, None), or (None, what is missing) when only absent credentials keep
    the table from validating. Raises ValueError, naming the key, for any other mistake.
    """
    cls = configured_class(name, raw)
    try:
        return cls.Settings(**raw), None
    except ValidationError as exc:
        errors = exc.errors()
    absent = {c.name for c in cls.credentials if _blank(raw.get(c.name))}
    wrong = [error for error in errors if not (error["loc"] and error["loc"][0] in absent)]
    if wrong:
        key = ".".join(str(part) for part in wrong[0]["loc"])
        raise ValueError(f"config key providers.{name}.{key}: {error_message(wrong[0])}")
    missing = [f"{error['loc'][0]} is not set" if error["type"] == "missing" else error_message(error)
               for error in errors]
    return None, "; ".join(dict.fromkeys(missing))


def build_provider(db: Database | None, settings, name: str,
                   throttle=None, retry: Retry | None = None) -> Provider:
    """The provider with its effective credentials; a stand-in that says why on every call
    when they are missing or unreadable (see the module docstring)."""
    raw, cls = _configured(settings, name)
    try:
        merged = provider_config(db, settings, name)
    except CredentialsUnavailable as exc:
        return _stand_in(cls, name, raw, str(exc), throttle, retry)
    options, missing = validate_table(name, merged)
    if options is None:
        reason = f"credentials missing: {missing}; " + _SET_THEM.format(name=name, NAME=name.upper())
        return _stand_in(cls, name, raw, reason, throttle, retry)
    return cls(name, options, throttle=throttle, retry=retry)


def problem(provider: Provider) -> str | None:
    """Why a provider built by build_provider cannot call its source, or None."""
    return getattr(provider, "credentials_problem", None)


# --- Status, check, save, delete ------------------------------------------------------------


def status(db: Database, settings, provider_name: str) -> CredentialStatus:
    """Where each credential comes from, masked, and whether the provider accepted them.
    Reads only: no request is sent, and no secret reaches the result."""
    raw, cls = _configured(settings, provider_name)
    declared = fields(settings, provider_name)
    with db.session() as session:
        row = session.get(ProviderState, provider_name)
    stored = {r.field: r for r in _stored(db, provider_name)
              if not _from_environment(provider_name, r.field)} if declared else {}
    try:
        decrypted, unreadable = _decrypt(list(stored.values()), provider_name), None
    except CredentialsUnavailable as exc:
        decrypted, unreadable = {}, str(exc)
    source, masked, env_vars = {}, {}, {}
    for field in declared:
        env_vars[field.name] = env_var(provider_name, field.name)
        value = raw.get(field.name)
        if _from_environment(provider_name, field.name):
            source[field.name] = ENVIRONMENT
        elif field.name in stored:
            source[field.name], value = STORED, decrypted.get(field.name)
        elif not _blank(value):
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
    provider = build_provider(db, settings, provider_name)
    if problem(provider) is not None:
        missing = problem(provider).removeprefix("credentials ")
        return CredentialStatus(**common, readable=True, state=missing, ok=False)
    state, ok = _verdict(row, credentials_fingerprint(provider))
    return CredentialStatus(**common, readable=True, state=state, ok=ok)


def check(db: Database, settings, provider_name: str) -> CheckResult:
    """"Test connection": one cheap authenticated request with the effective credentials;
    the outcome is kept on the provider's state row and returned. Never raises for the
    provider's answer."""
    provider = build_provider(db, settings, provider_name)
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


def save(db: Database, settings, provider_name: str, values: dict[str, str],
         verify: bool = True) -> CheckResult:
    """Store the given credential values encrypted (blank ones are left as they are), then
    check them with one real call unless `verify` is False. Raises CredentialsError for an
    unknown field, a field the environment sets, a value the adapter refuses or a missing
    encryption key; nothing is stored then."""
    raw, cls = _configured(settings, provider_name)
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
        merged = provider_config(db, settings, provider_name)
    except CredentialsUnavailable:  # saving again is the way out of unreadable values
        merged = raw
    try:
        validate_table(provider_name, {**merged, **cleaned})
    except ValueError as exc:
        raise CredentialsError(str(exc).replace("config key providers.", "", 1)) from None
    keys = _keys(required=True)
    now = utcnow()
    with db.session() as session:
        existing = {row.field: row for row in session.exec(
            select(ProviderCredential).where(ProviderCredential.provider == provider_name))}
        for field, value in cleaned.items():
            row = existing.get(field) or ProviderCredential(provider=provider_name, field=field,
                                                            ciphertext="")
            row.ciphertext = keys.encrypt(_payload(provider_name, field, value)).decode()
            row.hint, row.updated_at = _hint(value), now
            session.add(row)
    log.info("provider %s: stored credentials %s", provider_name, ", ".join(sorted(cleaned)))
    _credentials_changed(db, settings, provider_name)
    if verify:
        return check(db, settings, provider_name)
    return CheckResult(True, "saved; not checked yet")


def delete(db: Database, settings, provider_name: str, field_names: list[str] | None = None) -> int:
    """Forget the stored values (all of them, or the named fields); config and environment
    values stay. Returns how many were removed."""
    _configured(settings, provider_name)
    statement = sql_delete(ProviderCredential).where(ProviderCredential.provider == provider_name)
    if field_names:
        statement = statement.where(ProviderCredential.field.in_(field_names))
    with db.session() as session:
        removed = session.exec(statement).rowcount
    if removed:
        log.info("provider %s: removed %d stored credentials", provider_name, removed)
        _credentials_changed(db, settings, provider_name)
    return removed


# --- Keys -----------------------------------------------------------------------------------


def generate_key() -> str:
    return Fernet.generate_key().decode()


def rotate(db: Database) -> Rotation:
    """Re-encrypt every stored value with the first key of AFFILIATE_CREDENTIALS_KEY, after
    which the older keys can be dropped. Values no key opens are left as they are."""
    keys = _keys(required=True)
    rotated, unreadable = 0, []
    with db.session() as session:
        for row in session.exec(select(ProviderCredential).order_by(ProviderCredential.id)):
            try:
                row.ciphertext = keys.rotate(row.ciphertext.encode()).decode()
            except InvalidToken:
                unreadable.append(f"{row.provider}.{row.field}")
                continue
            session.add(row)
            rotated += 1
    log.info("re-encrypted %d stored credentials with the first key", rotated)
    return Rotation(rotated, tuple(unreadable))


# --- Internals ------------------------------------------------------------------------------


def _configured(settings, name: str) -> tuple[dict[str, Any], type[Provider]]:
    if name not in settings.providers:
        from affiliate.refresh import UnknownProvider  # refresh builds providers through here

        known = ", ".join(sorted(settings.providers)) or "none configured"
        raise UnknownProvider(f"no provider named {name!r} (configured: {known})")
    raw = dict(settings.providers[name])
    return raw, provider_class(raw.get("type"))


def _label(name: str) -> str:
    words = {"api": "API", "id": "ID"}
    text = " ".join(words.get(word, word) for word in name.split("_"))
    return text[0].upper() + text[1:]


def _blank(value: Any) -> bool:
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    return value is None or (isinstance(value, str) and not value.strip())


def _from_environment(provider_name: str, field: str) -> bool:
    wanted = env_var(provider_name, field).lower()
    return any(name.lower() == wanted and value.strip() for name, value in os.environ.items())


def _shown(value: str, field: CredentialField) -> str:
    return mask(value) if field.secret else value


def _hint(value: str) -> str:
    return mask(value).removeprefix(MASK)


def _checked_value(provider_name: str, field: str, value: str) -> str:
    value = value.strip()
    if len(value) > MAX_LENGTH:
        raise CredentialsError(f"{field}: longer than {MAX_LENGTH} characters")
    if any(ord(char) < 32 or ord(char) == 127 for char in value):
        raise CredentialsError(f"{field}: contains a line break or another control character")
    if _from_environment(provider_name, field):
        raise CredentialsError(
            f"{field} is set by the environment ({env_var(provider_name, field)}), which wins "
            "over stored credentials; change or unset that variable instead")
    return value


def _keys(required: bool) -> MultiFernet | None:
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


def _stored(db: Database, provider_name: str) -> list[ProviderCredential]:
    with db.session() as session:
        return list(session.exec(select(ProviderCredential)
                                 .where(ProviderCredential.provider == provider_name)
                                 .order_by(ProviderCredential.id)))


def _decrypt(rows, provider_name: str) -> dict[str, str]:
    """field -> value; CredentialsUnavailable (saying why) if any row cannot be read."""
    if not rows:
        return {}
    try:
        keys = _keys(required=False)
    except CredentialsError as exc:
        raise CredentialsUnavailable(f"credentials unreadable: {exc}") from None
    if keys is None:
        raise CredentialsUnavailable(
            f"credentials unreadable: {KEY_VARIABLE} is not set (set it to the key they were "
            "saved with, or save them again)")
    values = {}
    for row in rows:
        try:
            payload = json.loads(keys.decrypt(row.ciphertext.encode()))
        except (InvalidToken, ValueError):
            raise CredentialsUnavailable(WRONG_KEY) from None
        if payload.get("provider") != provider_name or payload.get("field") != row.field:
            raise CredentialsUnavailable(
                f"credentials unreadable: the stored {row.field} belongs to another provider "
                "or field (save it again)")
        values[row.field] = payload["value"]
    return values


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


def _credentials_changed(db: Database, settings, provider_name: str) -> None:
    """New credentials start afresh, as ProviderGuard.check would find on the next run."""
    provider = build_provider(db, settings, provider_name)
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
        dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
        session.exec(dialect.insert(ProviderState.__table__)
                     .values(name=provider_name, type=type_name, breaker_state=CLOSED,
                             consecutive_failures=0)
                     .on_conflict_do_nothing(index_elements=["name"]))


def _stand_in(cls: type[Provider], name: str, raw: dict[str, Any], reason: str,
              throttle, retry: Retry | None) -> Provider:
    # The keys every provider has (enabled, interval, limits), with the adapter's defaults.
    common = {key: raw.get(key, cls.Settings.model_fields[key].default)
              for key in ProviderSettings.model_fields}
    settings = ProviderSettings(**common)
    return _without_credentials(cls)(name, settings, reason, throttle=throttle, retry=retry)


@functools.cache
def _without_credentials(cls: type[Provider]) -> type[Provider]:
    """A subclass of the adapter (so its limits, attributions and kind are all there) that
    skips the adapter's set-up, which needs the credentials, and refuses every public
    method: fetch, platform_directory, check_credentials and any the adapter adds."""

    def __init__(self, name, settings, reason, throttle=None, retry=None):
        Provider.__init__(self, name, settings, throttle, retry)
        self.credentials_problem = reason

    def refuse(self, *args, **kwargs):
        raise CredentialsUnavailable(self.credentials_problem)

    calls = {name: refuse for name, _ in inspect.getmembers(cls, inspect.isfunction)
             if not name.startswith("_")}
    return type(cls.__name__, (cls,), {
        **calls, "__init__": __init__, "__module__": __name__,
        "__doc__": f"{cls.__name__} without usable credentials: every call says why."})
