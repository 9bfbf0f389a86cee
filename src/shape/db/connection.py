"""Opens a connection to the run database named by a SQLAlchemy-style URL.

``postgresql://user:password@host:port/database`` (also ``postgres://`` and
``postgresql+psycopg2://``) opens PostgreSQL with psycopg2; query arguments such
as ``?sslmode=require`` are passed on to libpq. ``sqlite:///relative/path.db``
or ``sqlite:////absolute/path.db`` opens an embedded SQLite file. Errors name
the host and database, never the password.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import psycopg2
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

_POSTGRESQL_DRIVERS = ("postgresql", "postgresql+psycopg2", "postgres")
_SQLITE_DRIVERS = ("sqlite", "sqlite+pysqlite")

#: Seconds SQLite waits for another writer to release the file.
_SQLITE_BUSY_TIMEOUT_S = 30.0


class Dialect(StrEnum):
    """The database kinds the run tables can live in."""

    POSTGRESQL = "postgresql"
    SQLITE = "sqlite"


@dataclass(frozen=True)
class DatabaseLocation:
    """A parsed database URL.

    Attributes:
        dialect: PostgreSQL or SQLite.
        url: The parsed URL, password included; never log it, use ``safe_url``.
    """

    dialect: Dialect
    url: URL

    @property
    def safe_url(self) -> str:
        """The URL with the password masked, fit for logs and messages."""
        return self.url.render_as_string(hide_password=True)

    @property
    def where(self) -> str:
        """Names the database and its host for messages, without secrets."""
        if self.dialect is Dialect.SQLITE:
            return f"SQLite file '{self.url.database}'"
        host = self.url.host or "the local socket"
        port = f":{self.url.port}" if self.url.port else ""
        return f"PostgreSQL database '{self.url.database}' on {host}{port}"


def parse_database_url(url: str) -> DatabaseLocation:
    """Parses a SQLAlchemy-style database URL.

    Args:
        url: For example ``postgresql://shape:secret@db.example:5432/shape`` or
            ``sqlite:///data/08_reporting/shape.db``.

    Returns:
        The dialect and parsed URL.

    Raises:
        ValueError: When the URL cannot be parsed, its scheme is not a
            supported one, or it names no database; the message masks the
            password.
    """
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        # The unparsable text may hold a password, so it is not repeated.
        raise ValueError(
            "The database URL (SHAPE_DATABASE_URL) could not be parsed; expected "
            "postgresql://user:password@host:port/database or "
            "sqlite:///path/to/file.db."
        ) from exc

    if parsed.drivername in _POSTGRESQL_DRIVERS:
        dialect = Dialect.POSTGRESQL
    elif parsed.drivername in _SQLITE_DRIVERS:
        dialect = Dialect.SQLITE
    else:
        raise ValueError(
            f"The database URL {parsed.render_as_string(hide_password=True)!r} "
            f"uses scheme '{parsed.drivername}'; expected one of "
            f"{sorted(_POSTGRESQL_DRIVERS + _SQLITE_DRIVERS)}."
        )
    if not parsed.database:
        raise ValueError(
            f"The database URL {parsed.render_as_string(hide_password=True)!r} "
            "names no database; add it after the last '/'."
        )
    return DatabaseLocation(dialect=dialect, url=parsed)


def connect(location: DatabaseLocation, connect_timeout: int) -> Any:
    """Opens a connection, failing within ``connect_timeout`` seconds.

    PostgreSQL connections are returned with psycopg2's default transaction
    handling (a transaction opens with the first statement). SQLite
    connections are in autocommit mode: callers issue ``BEGIN IMMEDIATE`` and
    ``COMMIT`` themselves, which is how SQLite takes its write lock up front.

    Args:
        location: From ``parse_database_url``.
        connect_timeout: Seconds to wait for the server (PostgreSQL only;
            libpq counts at least 2).

    Returns:
        A psycopg2 or sqlite3 connection.

    Raises:
        ConnectionError: When the database cannot be reached or refuses the
            credentials; names the host and database but not the password.
    """
    if location.dialect is Dialect.SQLITE:
        return _connect_sqlite(location)

    url = location.url
    arguments: dict[str, Any] = {
        "host": url.host,
        "port": url.port,
        "user": url.username,
        "password": url.password,
        "dbname": url.database,
        "connect_timeout": connect_timeout,
        **url.query,
    }
    try:
        return psycopg2.connect(
            **{name: value for name, value in arguments.items() if value is not None}
        )
    except psycopg2.OperationalError as exc:
        # ``from None``: the message below already carries libpq's reason, and
        # a chained traceback would print the driver's own text unmasked.
        raise ConnectionError(
            f"Could not connect to {location.where} as user "
            f"'{url.username}' (timeout {connect_timeout} s): "
            f"{_without_password(str(exc), url.password)}"
        ) from None


def _connect_sqlite(location: DatabaseLocation) -> sqlite3.Connection:
    path = Path(location.url.database)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return sqlite3.connect(
            path, timeout=_SQLITE_BUSY_TIMEOUT_S, isolation_level=None
        )
    except (OSError, sqlite3.Error) as exc:
        raise ConnectionError(f"Could not open {location.where}: {exc}") from exc


def _without_password(message: str, password: str | None) -> str:
    # libpq does not echo passwords, but the message is shown to users and
    # logged, so any occurrence is masked rather than trusted away.
    message = " ".join(message.split())
    if password:
        message = message.replace(password, "***")
    return message
