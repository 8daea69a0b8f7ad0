"""`affiliate db backup`: a consistent copy of the database while the service keeps running.

SQLite is copied with SQLite's online backup API in one step: that reads one committed
snapshot, which in WAL mode never blocks the web and scheduler processes writing meanwhile,
and a copy of the file itself (cp) could catch a half-written page or miss the WAL.
PostgreSQL is dumped by its own tool, `pg_dump` (custom format, for `pg_restore`): nothing
else copies a live PostgreSQL database consistently. Either way the copy is written beside
its final name and renamed when complete, so a failed backup never leaves a file that looks
like a good one.
"""
from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from contextlib import closing
from datetime import datetime
from pathlib import Path

import click
from flask.cli import with_appcontext
from sqlalchemy.engine import URL, make_url

from affiliate.state import state
from affiliate.types import utcnow


class BackupError(Exception):
    """The backup could not be made; the message names the fix."""


def back_up(database_url: str, target: Path | None, now: datetime) -> Path:
    """Copy the database at `database_url` to `target` (a file that must not exist yet, or a
    directory to hold a timestamped file; default: a timestamped file beside an SQLite
    database, the working directory for PostgreSQL). Returns the file written."""
    url = make_url(database_url)
    backend = url.get_backend_name()
    if backend == "sqlite":
        return _back_up_sqlite(_sqlite_file(url), target, now)
    if backend == "postgresql":
        return _back_up_postgresql(url, target, now)
    raise BackupError(f"cannot back up a {backend} database; only SQLite and PostgreSQL are supported")


def _sqlite_file(url: URL) -> Path:
    if not url.database or url.database == ":memory:":
        raise BackupError("service.database_url names an in-memory SQLite database; "
                          "there is no file to back up")
    path = Path(url.database)
    if not path.is_file():
        raise BackupError(f"no database at {path} (service.database_url); check the setting or "
                          "the working directory")
    return path


def _back_up_sqlite(source: Path, target: Path | None, now: datetime) -> Path:
    final = _final_path(target, source.parent, f"{source.stem}-{_stamp(now)}.db")
    partial = final.with_name(final.name + ".partial")
    try:
        # mode=ro: reading never creates or changes the live database.
        with closing(sqlite3.connect(f"{source.resolve().as_uri()}?mode=ro", uri=True,
                                      timeout=30)) as live, \
                closing(sqlite3.connect(partial)) as copy:
            live.backup(copy)  # pages=-1: the whole database from one snapshot
            # One self-contained file: the copy needs no -wal beside it. The service switches
            # a restored copy back to WAL when it opens it.
            copy.execute("PRAGMA journal_mode=DELETE")
        os.replace(partial, final)
    except (sqlite3.Error, OSError) as exc:
        partial.unlink(missing_ok=True)
        raise BackupError(f"could not copy {source} to {final}: {exc}") from None
    return final


def _back_up_postgresql(url: URL, target: Path | None, now: datetime) -> Path:
    pg_dump = shutil.which("pg_dump")
    if pg_dump is None:
        raise BackupError("PostgreSQL is backed up with pg_dump, which is not on PATH: install "
                          "PostgreSQL's client tools (Debian: apt-get install postgresql-client, "
                          "the server's major version or newer), or run pg_dump where they are")
    final = _final_path(target, Path.cwd(), f"{url.database or 'affiliate'}-{_stamp(now)}.dump")
    partial = final.with_name(final.name + ".partial")
    # The password goes to pg_dump through its environment, never its arguments, which any
    # local user can read in the process list.
    environment = {**os.environ, **({"PGPASSWORD": url.password} if url.password else {})}
    libpq_url = url.set(drivername="postgresql", password=None).render_as_string(hide_password=False)
    try:
        result = subprocess.run(
            [pg_dump, "--format=custom", "--no-owner", f"--file={partial}", f"--dbname={libpq_url}"],
            env=environment, capture_output=True, text=True, check=False)
    except OSError as exc:
        raise BackupError(f"could not run {pg_dump}: {exc}") from None
    if result.returncode != 0:
        partial.unlink(missing_ok=True)
        raise BackupError(f"pg_dump failed; nothing was written to {final}:\n{result.stderr.strip()}")
    os.replace(partial, final)
    return final


def _final_path(target: Path | None, default_dir: Path, default_name: str) -> Path:
    if target is None:
        return default_dir / default_name
    if target.is_dir():
        return target / default_name
    if target.exists():
        raise BackupError(f"{target} already exists; name a new file, or a directory to get a "
                          "timestamped file in it")
    if not target.parent.is_dir():
        raise BackupError(f"directory {target.parent} does not exist; create it or name another")
    return target


def _stamp(now: datetime) -> str:
    return now.strftime("%Y%m%dT%H%M%SZ")



@click.command("backup")
@click.argument("path", required=False, type=click.Path(path_type=Path))
@with_appcontext
def backup_command(path: Path | None) -> None:
    """Copy the database to PATH while the service runs (SQLite: an online, consistent copy;
    PostgreSQL: a pg_dump custom-format archive for pg_restore). PATH is a new file or a
    directory, which gets a timestamped file; by default, a timestamped file beside an SQLite
    database, or in the working directory for PostgreSQL."""
    try:
        written = back_up(state().settings.service.database_url, path, utcnow())
    except BackupError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Backed up the database to {written.absolute()} ({written.stat().st_size} bytes).")
