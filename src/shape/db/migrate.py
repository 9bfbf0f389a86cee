"""Versioned schema migrations for the run database, and their applier.

Each migration is a SQL file ``NNNN_description.sql`` under
``shape/db/migrations/<dialect>/``; PostgreSQL and SQLite have one file per
version each, so the two schemas move in step. ``apply_migrations`` runs the
files not yet recorded in the ``schema_migrations`` table, in version order,
inside one transaction, and records them there. It is idempotent, and safe
when several runs start at once: on PostgreSQL the runs queue on an advisory
lock, on SQLite on the file's write lock (``BEGIN IMMEDIATE``).
"""

from __future__ import annotations

import logging
import re
import sqlite3
from dataclasses import dataclass
from importlib.resources import files
from typing import Any

from shape.db.connection import Dialect

logger = logging.getLogger(__name__)

#: Key of the PostgreSQL advisory lock that serialises schema changes; any
#: fixed 64-bit number works, as long as no other application uses it.
ADVISORY_LOCK_KEY = 0x5348415045  # "SHAPE" in ASCII

_FILE_NAME = re.compile(r"^(\d{4})_(\w+)\.sql$")

_CREATE_LEDGER = {
    Dialect.POSTGRESQL: (
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " version integer PRIMARY KEY,"
        " name text NOT NULL,"
        " applied_at timestamptz NOT NULL DEFAULT now())"
    ),
    Dialect.SQLITE: (
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " version INTEGER PRIMARY KEY,"
        " name TEXT NOT NULL,"
        " applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')))"
    ),
}


@dataclass(frozen=True)
class Migration:
    """One schema migration: its version, name and SQL text."""

    version: int
    name: str
    sql: str


def available_migrations(dialect: Dialect) -> list[Migration]:
    """The migrations the package ships for ``dialect``, oldest first.

    Raises:
        ValueError: When a file in the migrations folder is not named
            ``NNNN_description.sql``, or two files share a version.
    """
    folder = files("shape.db") / "migrations" / dialect.value
    migrations: dict[int, Migration] = {}
    for entry in folder.iterdir():
        if not entry.name.endswith(".sql"):
            continue
        match = _FILE_NAME.match(entry.name)
        if match is None:
            raise ValueError(
                f"Migration file '{entry.name}' in {folder} must be named "
                "NNNN_description.sql (four digits, underscore, words)."
            )
        version = int(match.group(1))
        if version in migrations:
            raise ValueError(
                f"Migration files '{migrations[version].name}' and '{entry.name}' "
                f"in {folder} share version {version}."
            )
        migrations[version] = Migration(
            version, entry.name, entry.read_text(encoding="utf-8")
        )
    return [migrations[version] for version in sorted(migrations)]


def apply_migrations(connection: Any, dialect: Dialect) -> list[Migration]:
    """Applies the migrations not yet recorded in ``schema_migrations``.

    Args:
        connection: A psycopg2 connection, or a sqlite3 connection in
            autocommit mode (``shape.db.connect`` opens both so).
        dialect: The connection's dialect.

    Returns:
        The migrations applied by this call; empty when the schema was current.

    Raises:
        psycopg2.Error | sqlite3.Error: When a migration fails; nothing of the
            failed call is kept.
    """
    if dialect is Dialect.POSTGRESQL:
        applied = _apply_postgresql(connection)
    else:
        applied = _apply_sqlite(connection)

    for migration in applied:
        logger.info("Applied schema migration %s", migration.name)
    return applied


def _apply_postgresql(connection: Any) -> list[Migration]:
    # ``with connection`` commits on success and rolls back on error; the
    # transaction-scoped lock is released at either end.
    with connection, connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", (ADVISORY_LOCK_KEY,))
        cursor.execute(_CREATE_LEDGER[Dialect.POSTGRESQL])
        cursor.execute("SELECT version FROM schema_migrations")
        done = {version for (version,) in cursor.fetchall()}

        pending = [
            migration
            for migration in available_migrations(Dialect.POSTGRESQL)
            if migration.version not in done
        ]
        for migration in pending:
            cursor.execute(migration.sql)
            cursor.execute(
                "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)",
                (migration.version, migration.name),
            )
    return pending


def _apply_sqlite(connection: sqlite3.Connection) -> list[Migration]:
    connection.execute("BEGIN IMMEDIATE")
    try:
        connection.execute(_CREATE_LEDGER[Dialect.SQLITE])
        ledger = connection.execute("SELECT version FROM schema_migrations")
        done = {version for (version,) in ledger}

        pending = [
            migration
            for migration in available_migrations(Dialect.SQLITE)
            if migration.version not in done
        ]
        for migration in pending:
            for statement in _split_statements(migration.sql):
                connection.execute(statement)
            connection.execute(
                "INSERT INTO schema_migrations (version, name) VALUES (?, ?)",
                (migration.version, migration.name),
            )
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    connection.execute("COMMIT")
    return pending


def _split_statements(sql: str) -> list[str]:
    # sqlite3 runs one statement per execute(); executescript() would commit
    # the open transaction first. complete_statement() knows where a statement
    # ends, semicolons inside literals and comments included.
    statements: list[str] = []
    pending = ""
    for line in sql.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            statements.append(pending.strip())
            pending = ""
    if pending.strip() and not _only_comments(pending):
        statements.append(pending.strip())
    return statements


def _only_comments(sql: str) -> bool:
    return all(
        not line.strip() or line.strip().startswith("--") for line in sql.splitlines()
    )
