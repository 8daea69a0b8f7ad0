"""`affiliate admin ...`: operators and API tokens from the command line; passwords never on
the command line and tokens printed once."""
from __future__ import annotations

import pytest
from click.testing import CliRunner
from sqlmodel import select

from affiliate.__main__ import main
from affiliate.admin import auth
from affiliate.db import Database
from affiliate.models import AdminUser, ApiToken
from tests.admin_support import fast_password_hashing, shown_once
from tests.secret_leaks import secrets_registry

PASSWORD = "a long enough password"
secrets_registry.add(PASSWORD)


@pytest.fixture(autouse=True)
def _fast_password_hashing(monkeypatch):
    fast_password_hashing(monkeypatch)


@pytest.fixture
def run(database_url):
    runner = CliRunner()

    def invoke(*args, input=None):
        return runner.invoke(main, list(args), input=input,
                             env={"AFFILIATE_SERVICE__DATABASE_URL": database_url})

    assert invoke("db", "upgrade").exit_code == 0
    return invoke


@pytest.fixture
def db(database_url):
    db = Database(database_url)
    yield db
    db.dispose()


def test_create_user_asks_for_the_password_twice_hidden(run, db):
    result = run("admin", "create-user", "alice", input=f"{PASSWORD}\n{PASSWORD}\n")

    assert result.exit_code == 0, result.output
    assert "Created user alice" in result.output and PASSWORD not in result.output
    assert auth.authenticate(db, "alice", PASSWORD) is not None


def test_create_user_reads_the_password_from_stdin_for_scripts(run, db):
    result = run("admin", "create-user", "bob", "--password-stdin", input=f"{PASSWORD}\n")

    assert result.exit_code == 0, result.output
    assert auth.authenticate(db, "bob", PASSWORD) is not None


def test_the_password_is_never_an_argument(run):
    result = run("admin", "create-user", "carol", "--password", PASSWORD)

    assert result.exit_code == 2 and "No such option" in result.output


@pytest.mark.parametrize("args, input, message", [
    (("create-user", "dave", "--password-stdin"), "short\n", "at least 10 characters"),
    (("create-user", "bad name!", "--password-stdin"), f"{PASSWORD}\n", "a username is 1 to 80"),
])
def test_bad_users_are_refused_with_the_reason(run, db, args, input, message):
    result = run("admin", *args, input=input)

    assert result.exit_code == 1 and message in result.output
    with db.session() as session:
        assert session.exec(select(AdminUser)).first() is None


def test_a_taken_name_names_set_password(run, db):
    run("admin", "create-user", "erin", "--password-stdin", input=f"{PASSWORD}\n")

    again = run("admin", "create-user", "erin", "--password-stdin", input="another password!\n")
    changed = run("admin", "set-password", "erin", "--password-stdin", input="another password!\n")

    assert again.exit_code == 1 and "affiliate admin set-password erin" in again.output
    assert changed.exit_code == 0
    assert auth.authenticate(db, "erin", "another password!") is not None
    assert auth.authenticate(db, "erin", PASSWORD) is None


def test_set_password_for_an_unknown_user_says_how_to_add_one(run):
    result = run("admin", "set-password", "nobody", "--password-stdin", input=f"{PASSWORD}\n")

    assert result.exit_code == 1 and "affiliate admin create-user nobody" in result.output


def test_a_token_is_printed_once_stored_as_a_digest_and_revocable(run, db, leak_watch):
    created = run("admin", "create-token", "deploy")
    secret = created.stdout.strip().splitlines()[-1]
    shown_once(leak_watch, secret)

    assert created.exit_code == 0 and secret.startswith(auth.TOKEN_PREFIX)
    with db.session() as session:
        token = session.exec(select(ApiToken)).one()
    assert secret not in token.token_hash and auth.token_for(db, secret).id == token.id

    listed = run("admin", "list-tokens")
    assert "deploy" in listed.output and secret not in listed.output

    revoked = run("admin", "revoke-token", str(token.id))
    assert revoked.exit_code == 0 and f"Revoked token {token.id} (deploy)" in revoked.output
    assert auth.token_for(db, secret) is None
    assert "REVOKED" in run("admin", "list-tokens").output


def test_revoking_an_unknown_token_says_where_to_look(run):
    result = run("admin", "revoke-token", "42")

    assert result.exit_code == 1 and "no API token with id 42" in result.output
    assert "affiliate admin list-tokens" in result.output


def test_admin_commands_ask_for_a_migrated_database(database_url):
    result = CliRunner().invoke(main, ["admin", "create-token", "x"],
                                env={"AFFILIATE_SERVICE__DATABASE_URL": database_url})

    assert result.exit_code == 1 and "affiliate db upgrade" in result.output
