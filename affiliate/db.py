"""The database: engine, sessions and migrations, for SQLite and PostgreSQL alike."""
from __future__ import annotations

import ast
import threading
from contextlib import contextmanager
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

from sqlalchemy import Table, event, inspect, text
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.pool import NullPool
from sqlmodel import Session, create_engine, select

from affiliate.models import Film

if TYPE_CHECKING:
    from alembic.config import Config
    from sqlalchemy.dialects import postgresql, sqlite

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
        # Connections a thread keeps for its life (affiliate.film_rows), outside the pool so
        # they never starve it; closed by dispose().
        self.keeps_connections = self.engine.dialect.name != "sqlite"
        self._kept_engine: Engine | None = None
        self._kept: list[Connection] = []
        self._kept_lock = threading.Lock()
        self.disposed = False

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
        from alembic import command

        with self.engine.begin() as connection:
            config = _alembic_config(self.url)
            config.attributes["connection"] = connection
            command.upgrade(config, revision)

    def pending_migrations(self) -> bool:
        current, heads = self.schema_revisions()
        return current != heads

    def schema_revisions(self) -> tuple[frozenset[str], frozenset[str]]:
        """(the revisions the database is at, the heads this code's migrations lead to).

        Read without Alembic, whose import is most of a short command's start-up: the
        revisions are the rows of Alembic's version table."""
        with self.engine.connect() as connection:
            if not inspect(connection).has_table("alembic_version"):
                return frozenset(), migration_heads()
            rows = connection.execute(text("SELECT version_num FROM alembic_version"))
            return frozenset(row[0] for row in rows), migration_heads()

    def is_empty(self) -> bool:
        with self.session() as session:
            return session.exec(select(Film.id).limit(1)).first() is None

    def kept_connection(self) -> Connection:
        """A new autocommit connection (no snapshot held between reads) for one thread to keep."""
        with self._kept_lock:
            if self._kept_engine is None:
                self._kept_engine = create_engine(self.engine.url, poolclass=NullPool,
                                                  isolation_level="AUTOCOMMIT")
            connection = self._kept_engine.connect()
            self._kept.append(connection)
            return connection

    def drop_kept(self, connection: Connection) -> None:
        """Close a kept connection that failed; its thread opens another. Invalidated first:
        a connection the server dropped cannot be rolled back, as closing would."""
        with self._kept_lock:
            if connection in self._kept:
                self._kept.remove(connection)
        if not connection.closed:
            connection.invalidate()
            connection.close()

    def dispose(self) -> None:
        """Close every connection; what kept one (affiliate.revision_watch) stops."""
        self.disposed = True
        with self._kept_lock:
            for connection in self._kept:
                connection.close()
            self._kept.clear()
        self.engine.dispose()


def conflict_insert(bind: Engine | Connection, table: Table) -> postgresql.Insert | sqlite.Insert:
    """An INSERT that takes ON CONFLICT clauses, in the dialect of the database `bind`
    reaches. Each dialect's module is imported here, when its engine has already loaded it,
    so a command on SQLite does not import PostgreSQL's (~25 ms of start-up)."""
    if bind.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(table)


@cache
def migration_heads() -> frozenset[str]:
    """The revisions no other migration revises, from each script's `revision` and
    `down_revision` literals (what Alembic's ScriptDirectory reads, without importing the
    scripts). Read once per process: the scripts do not change under a running one."""
    revised: set[str] = set()
    revisions: set[str] = set()
    for script in (MIGRATIONS / "versions").glob("*.py"):
        values = {target.id: ast.literal_eval(node.value)
                  for node in ast.parse(script.read_text()).body if isinstance(node, ast.Assign)
                  for target in node.targets
                  if isinstance(target, ast.Name) and target.id in ("revision", "down_revision")}
        revisions.add(values["revision"])
        down = values.get("down_revision")
        revised.update((down,) if isinstance(down, str) else down or ())
    return frozenset(revisions - revised)


def _alembic_config(url: str) -> Config:
    from alembic.config import Config

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
