"""Engines and sessions: SQLite (WAL, `BEGIN IMMEDIATE` for writers) or PostgreSQL, one `Database` each."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, DateTime, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DataError, InterfaceError, OperationalError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.types import TypeDecorator

from services.errors import DatabaseUnavailableError, InvalidInputError


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend (SQLite stores it naive, PostgreSQL as timestamptz)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: pass an aware UTC datetime")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def make_engine(url: str, pool_size: int = 20) -> Engine:
    """An engine for `url`; SQLite gets WAL, foreign keys and a manual BEGIN so writers lock up front."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})
        _sqlite_manual_begin(engine)
        return engine
    connect_args = {"connect_timeout": 5} if parsed.get_backend_name() == "postgresql" else {}
    # No pre-ping (it costs a round trip per request): a connection found dead invalidates the pool, so
    # after a database restart one request gets a 503 and the next ones reconnect.
    return create_engine(
        url, pool_size=pool_size, max_overflow=pool_size, pool_recycle=1800, connect_args=connect_args
    )


def _sqlite_manual_begin(engine: Engine) -> None:
    """pysqlite begins lazily and DEFERRED; we emit BEGIN ourselves (IMMEDIATE for the writer engine)."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # let the "begin" hook below issue BEGIN
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        immediate = connection.get_execution_options().get("sqlite_immediate", False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def _first_line(error: DataError | OperationalError | InterfaceError) -> str:
    return (str(error.orig or error).strip().splitlines() or ["?"])[0]


class Database:
    """The engine plus two session factories: `read()` (single reads) and `write()` (a transaction that
    locks SQLite up front)."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self.dialect = engine.dialect.name
        # PostgreSQL reads run in autocommit: one round trip per SELECT instead of BEGIN, SELECT, COMMIT
        reader = (
            engine.execution_options(isolation_level="AUTOCOMMIT") if self.dialect == "postgresql" else engine
        )
        self._reader = sessionmaker(reader, expire_on_commit=False)
        self._read_engine = reader
        self._writer = sessionmaker(engine.execution_options(sqlite_immediate=True), expire_on_commit=False)

    @classmethod
    def from_url(cls, url: str, pool_size: int = 20) -> Database:
        return cls(make_engine(url, pool_size))

    @contextmanager
    def read(self) -> Iterator[Session]:
        with self._scope(self._reader) as session:
            yield session

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        """A bare connection for hot single-statement reads (no ORM session: about half the overhead)."""
        try:
            with self._read_engine.connect() as connection:
                yield connection
        except DataError as error:
            raise InvalidInputError(f"the database refused a value: {_first_line(error)}") from error
        except (OperationalError, InterfaceError) as error:
            raise self._unavailable(error) from error

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A transaction that commits on success; on SQLite it holds the write lock from the start."""
        with self._scope(self._writer) as session:
            yield session

    @contextmanager
    def _scope(self, factory: sessionmaker[Session]) -> Iterator[Session]:
        try:
            with factory() as session, session.begin():
                yield session
        except DataError as error:  # the input, not the database, is at fault
            raise InvalidInputError(f"the database refused a value: {_first_line(error)}") from error
        except (OperationalError, InterfaceError) as error:
            raise self._unavailable(error) from error

    def _unavailable(self, error: OperationalError | InterfaceError) -> DatabaseUnavailableError:
        url = self.engine.url.render_as_string(hide_password=True)
        return DatabaseUnavailableError(
            f"the database at {url} is unavailable: {_first_line(error)}; retry later"
        )

    def ping(self) -> None:
        with self.read() as session:
            session.execute(text("SELECT 1"))

    def dispose(self) -> None:
        self.engine.dispose()
