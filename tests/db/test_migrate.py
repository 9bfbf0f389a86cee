"""Schema migrations: applied once, idempotent, safe when runs start together."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from shape.db import (
    Dialect,
    apply_migrations,
    available_migrations,
    connect,
    parse_database_url,
)


def _ledger(connection) -> list[tuple[int, str]]:
    cursor = connection.cursor()
    cursor.execute("SELECT version, name FROM schema_migrations ORDER BY version")
    rows = [tuple(row) for row in cursor.fetchall()]
    cursor.close()
    return rows


def _tables(connection, dialect: Dialect) -> set[str]:
    cursor = connection.cursor()
    if dialect is Dialect.POSTGRESQL:
        cursor.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    else:
        cursor.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
    names = {row[0] for row in cursor.fetchall()}
    cursor.close()
    return names


@pytest.fixture(params=[Dialect.POSTGRESQL, Dialect.SQLITE])
def database_url(request, tmp_path: Path) -> str:
    if request.param is Dialect.SQLITE:
        return f"sqlite:///{tmp_path / 'runs.db'}"
    server = request.getfixturevalue("postgres_server")
    return server.url(request.getfixturevalue("postgres_database"))


def test_both_dialects_ship_the_same_versions():
    postgresql = available_migrations(Dialect.POSTGRESQL)
    sqlite = available_migrations(Dialect.SQLITE)

    assert [m.name for m in postgresql] == [m.name for m in sqlite]
    assert postgresql[0].version == 1
    assert postgresql[0].name == "0001_create_run_tables.sql"


def test_first_call_creates_tables_and_second_applies_nothing(database_url):
    location = parse_database_url(database_url)
    connection = connect(location, connect_timeout=5)
    try:
        first = apply_migrations(connection, location.dialect)
        second = apply_migrations(connection, location.dialect)

        assert [m.version for m in first] == [1]
        assert second == []
        assert _ledger(connection) == [(1, "0001_create_run_tables.sql")]
        assert {"schema_migrations", "scoring_runs", "anomalies"} <= _tables(
            connection, location.dialect
        )
    finally:
        connection.close()


def test_concurrent_runs_apply_each_migration_once(database_url):
    location = parse_database_url(database_url)
    applied: list[list[int]] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def migrate() -> None:
        connection = connect(location, connect_timeout=5)
        try:
            barrier.wait()
            result = apply_migrations(connection, location.dialect)
            applied.append([m.version for m in result])
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=migrate) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert sorted(applied) == [[], [], [], [1]]
    connection = connect(location, connect_timeout=5)
    try:
        assert _ledger(connection) == [(1, "0001_create_run_tables.sql")]
    finally:
        connection.close()
