"""`affiliate admin ...`: operators, their sessions and API tokens for the console and the
admin API.

A password is read from a hidden prompt (asked twice), or from the first line of standard
input with --password-stdin (for scripts), never from the command line, where it would end
up in the shell history and the process list.
"""
from __future__ import annotations

import sys

import click
from flask.cli import with_appcontext

from affiliate.admin import auth, sessions, throttle
from affiliate.command_checks import require_migrated
from affiliate.health import when
from affiliate.state import state
from affiliate.types import utcnow


def _password(from_stdin: bool) -> str:
    if from_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        auth.check_password(password)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    return password


_PASSWORD_STDIN = click.option("--password-stdin", is_flag=True,
                               help="Read the password from the first line of standard input.")


@click.group()
def admin() -> None:
    """Operators and API tokens of the admin console (/admin) and API (/admin/api/v1)."""


@admin.command("create-user")
@click.argument("username")
@_PASSWORD_STDIN
@with_appcontext
def create_user(username: str, password_stdin: bool) -> None:
    """Add an operator who can log in to the console."""
    require_migrated()
    try:
        auth.check_username(username)
        user = auth.create_user(state().db, username, _password(password_stdin))
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Created user {user.username}. Log in at /admin/login "
               "(the console needs admin.secret_key, or $AFFILIATE_ADMIN__SECRET_KEY).")


@admin.command("set-password")
@click.argument("username")
@_PASSWORD_STDIN
@with_appcontext
def set_password(username: str, password_stdin: bool) -> None:
    """Change an operator's password; all their sessions end."""
    require_migrated()
    try:
        auth.set_password(state().db, username, _password(password_stdin))
    except (ValueError, LookupError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Password of {username} changed.")


@admin.command("unlock")
@click.argument("username", required=False)
@click.option("--all", "everyone", is_flag=True,
              help="Clear every count of failed logins, by address and by username.")
@with_appcontext
def unlock(username: str | None, everyone: bool) -> None:
    """Let USERNAME log in again at once after too many failed logins."""
    require_migrated()
    if bool(username) == everyone:
        raise click.UsageError("name one USERNAME, or give --all")
    if everyone:
        cleared = throttle.unlock_all(state().db)
        click.echo(f"Cleared {cleared} count{'s' * (cleared != 1)} of failed logins.")
        return
    locked = throttle.unlock(state().db, username, utcnow())
    if locked:
        click.echo(f"{username} can log in again.")
        return
    counted = "was not locked" if locked is False else "has no failed logins counted"
    click.echo(f"{username} {counted}; if the console still refuses, the lock is on the "
               "address: `affiliate admin unlock --all` clears it.")


@admin.command("list-sessions")
@click.argument("username", required=False)
@with_appcontext
def list_sessions(username: str | None) -> None:
    """Live console sessions, of USERNAME or of every operator."""
    require_migrated()
    affiliate = state()
    try:
        user_id = sessions.user_id_of(affiliate.db, username) if username else None
    except LookupError as exc:
        raise click.ClickException(f"{exc}; `affiliate admin create-user {username}` adds one") from None
    rows = sessions.live(affiliate.db, sessions.clock(),
                         sessions.Lifetimes.of(affiliate.settings.admin), user_id)
    if not rows:
        click.echo(f"{username} has no live sessions." if username else "No live sessions.")
    for name, row in rows:
        click.echo(f"{name}  {row.agent or 'unknown browser'}  logged in {when(row.created_at)}"
                   f"  last seen {when(row.last_seen_at)}")


@admin.command("revoke-sessions")
@click.argument("username")
@with_appcontext
def revoke_sessions(username: str) -> None:
    """End every console session of USERNAME at once, in every web process."""
    require_migrated()
    try:
        ended = sessions.revoke(state().db, username)
    except LookupError as exc:
        raise click.ClickException(f"{exc}; `affiliate admin list-sessions` shows who is "
                                   "logged in") from None
    click.echo(f"Ended {ended} session{'s' * (ended != 1)} of {username}; "
               "they need to log in again.")


@admin.command("create-token")
@click.argument("name")
@with_appcontext
def create_token(name: str) -> None:
    """Make an admin API token named NAME and print it, once: only its digest is kept."""
    require_migrated()
    try:
        token, secret = auth.create_token(state().db, name)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Token {token.id} ({token.name}); copy it now, it is not shown again:", err=True)
    click.echo(secret)


@admin.command("list-tokens")
@with_appcontext
def list_tokens() -> None:
    """Tokens with their ids, when each was last used and whether it is revoked."""
    require_migrated()
    tokens = auth.list_tokens(state().db)
    if not tokens:
        click.echo("No API tokens; `affiliate admin create-token NAME` makes one.")
    for token in tokens:
        used = token.last_used_at.strftime("%Y-%m-%d %H:%M UTC") if token.last_used_at else "never"
        revoked = " REVOKED" if token.revoked_at else ""
        click.echo(f"{token.id:>4}  {token.name}  last used {used}{revoked}")


@admin.command("revoke-token")
@click.argument("token_id", type=int)
@with_appcontext
def revoke_token(token_id: int) -> None:
    """Revoke token TOKEN_ID (from `affiliate admin list-tokens`) for good."""
    require_migrated()
    try:
        token = auth.revoke_token(state().db, token_id)
    except LookupError as exc:
        raise click.ClickException(f"{exc}; see `affiliate admin list-tokens`") from None
    click.echo(f"Revoked token {token.id} ({token.name}).")
