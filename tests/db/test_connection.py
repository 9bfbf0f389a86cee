"""Database URLs and connection failures: fast, named, and without the password."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest

from shape.db import Dialect, connect, parse_database_url
from tests.postgres import PASSWORD, free_port


@pytest.fixture
def silent_listener() -> Iterator[int]:
    """A port on 127.0.0.1 that accepts TCP connections but never answers.

    The kernel completes the handshake for the listen backlog, so a client
    waits for a server greeting that never comes: only a timeout ends it.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        yield server.getsockname()[1]


@pytest.mark.parametrize(
    ("url", "dialect", "where"),
    [
        (
            "postgresql://shape:pw@db.example:6543/runs",
            Dialect.POSTGRESQL,
            "PostgreSQL database 'runs' on db.example:6543",
        ),
        (
            "postgresql+psycopg2://shape@db.example/runs",
            Dialect.POSTGRESQL,
            "PostgreSQL database 'runs' on db.example",
        ),
        (
            "postgres:///runs",
            Dialect.POSTGRESQL,
            "PostgreSQL database 'runs' on the local socket",
        ),
        ("sqlite:///data/runs.db", Dialect.SQLITE, "SQLite file 'data/runs.db'"),
    ],
)
def test_parse_database_url(url, dialect, where):
    location = parse_database_url(url)

    assert location.dialect is dialect
    assert location.where == where
    assert "pw@" not in location.safe_url


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql://shape:hunter2@db.example/runs", "uses scheme 'mysql'"),
        ("postgresql://shape:hunter2@db.example", "names no database"),
        ("not a url hunter2", "could not be parsed"),
    ],
)
def test_bad_url_is_named_without_its_password(url, message):
    with pytest.raises(ValueError, match=message) as caught:
        parse_database_url(url)

    assert "hunter2" not in str(caught.value)


def test_wrong_password_names_host_and_database_not_password(
    postgres_server, postgres_database
):
    wrong = "not-the-" + PASSWORD
    location = parse_database_url(postgres_server.url(postgres_database, wrong))

    with pytest.raises(ConnectionError) as caught:
        connect(location, connect_timeout=5)

    message = str(caught.value)
    assert f"'{postgres_database}' on 127.0.0.1:{postgres_server.port}" in message
    assert "password authentication failed" in message
    assert wrong not in message
    assert caught.value.__cause__ is None


def test_closed_port_fails_at_once_with_host_and_database():
    port = free_port()
    location = parse_database_url(
        f"postgresql://shape:{PASSWORD}@127.0.0.1:{port}/runs"
    )

    with pytest.raises(ConnectionError) as caught:
        connect(location, connect_timeout=5)

    message = str(caught.value)
    assert f"PostgreSQL database 'runs' on 127.0.0.1:{port}" in message
    assert "Connection refused" in message
    assert PASSWORD not in message


def test_server_that_never_answers_is_given_up_after_connect_timeout(
    silent_listener,
):
    location = parse_database_url(
        f"postgresql://shape:{PASSWORD}@127.0.0.1:{silent_listener}/runs"
    )

    started = time.monotonic()
    with pytest.raises(ConnectionError, match="timeout 2 s") as caught:
        connect(location, connect_timeout=2)
    waited = time.monotonic() - started

    # Without connect_timeout libpq would wait for ever; the bound is a hang
    # guard, far above the 2 s asked for, not a speed target.
    assert 1.5 <= waited < 60
    assert f"'runs' on 127.0.0.1:{silent_listener}" in str(caught.value)
    assert PASSWORD not in str(caught.value)
