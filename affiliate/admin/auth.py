"""Who may use the console and the admin API: operators (username and password, hashed with
werkzeug's scrypt) and API tokens (random, shown once, kept only as a SHA-256 digest: a
token is 256 random bits, so a fast digest is as safe as a slow hash and lets a request's
token be found by an index lookup).

Console sessions live in the database (affiliate.admin.sessions): logging out, a new
password (`affiliate admin set-password`, or the console's password page) and `affiliate
admin revoke-sessions` end them at once in every web process.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
from functools import lru_cache

from flask import g, request, session
from sqlalchemy.exc import IntegrityError
from sqlmodel import select
from werkzeug.security import check_password_hash, generate_password_hash

from affiliate.admin import sessions, user_agents
from affiliate.admin.session_cookie import console_session
from affiliate.db import Database
from affiliate.models import AdminUser, ApiToken
from affiliate.state import state
from affiliate.types import utcnow

MIN_PASSWORD_LENGTH = 10
TOKEN_PREFIX = "aff_"
_USERNAME = re.compile(r"^[A-Za-z0-9_.@-]{1,80}$")
# last_used_at is written at most this often per token, not on every request.
_USE_RESOLUTION = dt.timedelta(minutes=1)


def create_user(db: Database, username: str, password: str) -> AdminUser:
    """ValueError names what is wrong: a malformed name, a short password, a taken name."""
    username = check_username(username)
    check_password(password)
    user = AdminUser(username=username, password_hash=generate_password_hash(password))
    try:
        with db.session() as s:
            if s.exec(select(AdminUser.id).where(AdminUser.username == username)).first():
                raise ValueError(f"user {username!r} exists already; "
                                 f"`affiliate admin set-password {username}` changes its password")
            s.add(user)
    except IntegrityError:  # created by someone else between the check and the insert
        raise ValueError(f"user {username!r} exists already") from None
    return user


def set_password(db: Database, username: str, password: str) -> None:
    check_password(password)
    with db.session() as s:
        user = s.exec(select(AdminUser).where(AdminUser.username == username)).first()
        if user is None:
            raise LookupError(f"no user {username!r}; `affiliate admin create-user {username}` adds one")
        user.password_hash = generate_password_hash(password)
        s.add(user)
        user_id = user.id
    sessions.end_all(db, user_id)


def check_new_password(current: str, new: str, repeated: str) -> None:
    """A new password from the console's form: ValueError names what is wrong with it."""
    check_password(new)
    if new != repeated:
        raise ValueError("the new password and its repetition differ")
    if new == current:
        raise ValueError("the new password is the current one")


def password_is(db: Database, user_id: int, password: str) -> bool:
    """Whether `password` is this operator's. The console asks for it again before a change,
    so a session left open in a browser does not hand over the account."""
    with db.session() as s:
        user = s.get(AdminUser, user_id)
        return user is not None and check_password_hash(user.password_hash, password)


def authenticate(db: Database, username: str, password: str) -> AdminUser | None:
    """The user if the password is right, else None; an unknown name costs the same hash
    check as a wrong password, so timing does not tell which names exist."""
    with db.session() as s:
        user = s.exec(select(AdminUser).where(AdminUser.username == username)).first()
        if user is None:
            check_password_hash(_decoy_hash(), password)
            return None
        if not check_password_hash(user.password_hash, password):
            return None
        user.last_login_at = utcnow()
        s.add(user)
    return user


def check_username(username: str) -> str:
    username = (username or "").strip()
    if not _USERNAME.match(username):
        raise ValueError("a username is 1 to 80 letters, digits or . _ @ -")
    return username


def check_password(password: str) -> None:
    if len(password or "") < MIN_PASSWORD_LENGTH:
        raise ValueError(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")


@lru_cache(maxsize=1)
def _decoy_hash() -> str:
    return generate_password_hash(secrets.token_urlsafe(16))


# --- API tokens ---------------------------------------------------------------------------

def create_token(db: Database, name: str) -> tuple[ApiToken, str]:
    """A new token: the row (kept) and the token itself (shown once, never stored)."""
    name = (name or "").strip()
    if not 1 <= len(name) <= 80:
        raise ValueError("name the token (1 to 80 characters), e.g. after what uses it")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(name=name, token_hash=_digest(secret))
    with db.session() as s:
        s.add(token)
    return token, secret


def revoke_token(db: Database, token_id: int) -> ApiToken:
    """Revoke a token for good (kept, marked revoked); LookupError for an unknown id."""
    with db.session() as s:
        token = s.get(ApiToken, token_id)
        if token is None:
            raise LookupError(f"no API token with id {token_id}")
        token.revoked_at = token.revoked_at or utcnow()
        s.add(token)
    return token


def list_tokens(db: Database) -> list[ApiToken]:
    with db.session() as s:
        return list(s.exec(select(ApiToken).order_by(ApiToken.id)))


def token_for(db: Database, secret: str) -> ApiToken | None:
    """The live token this secret is, noting its use; None if unknown or revoked."""
    if not secret.startswith(TOKEN_PREFIX):
        return None
    now = utcnow()
    with db.session() as s:
        token = s.exec(select(ApiToken).where(ApiToken.token_hash == _digest(secret))).first()
        if token is None or token.revoked_at is not None:
            return None
        if token.last_used_at is None or now - token.last_used_at >= _USE_RESOLUTION:
            token.last_used_at = now
            s.add(token)
    return token


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


# --- console sessions ---------------------------------------------------------------------

def log_in(db: Database, user: AdminUser) -> None:
    """Start a new session for `user`: a new id, so nothing from before the login carries
    over (its CSRF token included), and whatever id an attacker planted is worthless."""
    console = console_session()
    if console.stored:
        sessions.end(db, console.session_id)
    lifetimes = sessions.Lifetimes.of(state().settings.admin)
    session_id = sessions.begin(db, user.id, user_agents.coarse(request.headers.get("User-Agent")),
                                sessions.clock(), lifetimes)
    console.restart(session_id, user.id)
    g.pop("admin_current_user", None)


def log_out(db: Database) -> None:
    """End this browser's session, everywhere at once."""
    console = console_session()
    if console.stored:
        sessions.end(db, console.session_id)
    console.restart(None, None)
    g.pop("admin_current_user", None)


def current_user(db: Database) -> AdminUser | None:
    """The logged-in operator: the session was found live when the request began."""
    if "admin_current_user" not in g:
        user_id = getattr(session, "user_id", None)
        with db.session() as s:
            g.admin_current_user = s.get(AdminUser, user_id) if user_id is not None else None
    return g.admin_current_user
