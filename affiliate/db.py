"""The database: engine, sessions and migrations, for SQLite and PostgreSQL alike."""
from __future__ import annotations

from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import Iterator

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import event
from sqlalchemy.engine import Engine, make_url
from sqlmodel import Session, create_engine, select

from affiliate.models import Film

MIGRATIONS = Path(__file__).parent / "migrations"


class Database:
    def __init__(self, url: str):
        self.url = url
        self.engine = _create_engine(url)
        # One statement that only reads needs no transaction of its own: in autocommit it
        # is consistent by itself, and PostgreSQL is spared a BEGIN and a ROLLBACK round
        # trip around it (a widget render's only query). Same pool as `engine`. SQLite
        # begins no transaction for a read anyway, and switching its mode costs more.
        self.reader = (self.engine if self.engine.dialect.name == "sqlite"
                       else self.engine.execution_options(isolation_level="AUTOCOMMIT"))

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session that commits when the block ends and rolls back if it raises."""
        with Session(self.engine, expire_on_commit=False) as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    def upgrade(self, revision: str = "head") -> None:
        with self.engine.begin() as connection:
            config = _alembic_config(self.url)
            config.attributes["connection"] = connection
            command.upgrade(config, revision)

    def pending_migrations(self) -> bool:
        current, heads = self.schema_revisions()
        return current != heads

    def schema_revisions(self) -> tuple[frozenset[str], frozenset[str]]:
        """(the revisions the database is at, the heads this code's migrations lead to)."""
        with self.engine.connect() as connection:
            current = frozenset(MigrationContext.configure(connection).get_current_heads())
        return current, migration_heads()

    def is_empty(self) -> bool:
        with self.session() as session:
            return session.exec(select(Film.id).limit(1)).first() is None

    def dispose(self) -> None:
        self.engine.dispose()


@cache
def migration_heads() -> frozenset[str]:
    """Read once per process: the migration scripts do not change under a running one."""
    return frozenset(ScriptDirectory.from_config(_alembic_config("sqlite://")).get_heads())


def _alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def _create_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if parsed.get_backend_name() == "postgresql" and parsed.get_driver_name() in ("", "psycopg2"):
        # psycopg 3 is the driver we install; "postgresql://" alone would ask for psycopg2.
        url = parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    return create_engine(url, pool_pre_ping=True)


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    # WAL lets the web threads read while the scheduler writes; foreign keys are off by default.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()
