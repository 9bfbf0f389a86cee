"""A real PostgreSQL 15 server for the tests, started and stopped by the suite.

``postgres_server`` (session scope) runs ``initdb`` on a temporary data folder
and starts the server on 127.0.0.1 and a free port, with password
authentication; it stops the server (``pg_ctl stop -m fast``) and removes the
folder at the end. PostgreSQL refuses to run as root, so when the suite runs as
root (as in CI) the server runs as the ``postgres`` user, through ``runuser``.
``postgres_database`` gives each test an empty database of its own.
``temporary_postgres`` is the same server as a context manager, for the
benchmarks.

The binaries are looked up in ``SHAPE_PG_BIN`` (default
/usr/lib/postgresql/15/bin); their absence fails the tests, it does not skip
them.
"""

from __future__ import annotations

import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg2
import pytest

PG_BIN = Path(os.environ.get("SHAPE_PG_BIN", "/usr/lib/postgresql/15/bin"))
SUPERUSER = "shape_admin"
PASSWORD = "pg-test-secret-7f3a"
_database_numbers = itertools.count()


@dataclass(frozen=True)
class PostgresServer:
    """Where the test server listens, its superuser's credentials, its data."""

    host: str
    port: int
    user: str
    password: str
    data_dir: Path

    def url(self, database: str, password: str | None = None) -> str:
        """A ``postgresql://`` URL for ``database``, optionally another password."""
        secret = self.password if password is None else password
        return f"postgresql://{self.user}:{secret}@{self.host}:{self.port}/{database}"

    def connect(self, database: str = "postgres") -> psycopg2.extensions.connection:
        """An autocommit connection as the superuser."""
        connection = psycopg2.connect(
            host=self.host,
            port=self.port,
            user=self.user,
            password=self.password,
            dbname=database,
            connect_timeout=5,
        )
        connection.autocommit = True
        return connection


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _as_server_user(command: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return command
    return ["runuser", "-u", "postgres", "--", *command]


def _run(command: list[str], cwd: Path) -> None:
    result = subprocess.run(
        _as_server_user(command),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"{Path(command[0]).name} failed ({result.returncode}):\n"
            f"{result.stdout}\n{result.stderr}"
        )


@contextmanager
def temporary_postgres(durable: bool = False) -> Iterator[PostgresServer]:
    """Runs a throw-away PostgreSQL server on 127.0.0.1 for the ``with`` block.

    Args:
        durable: Keep PostgreSQL's default ``fsync=on``; the tests turn it off,
            as their data need not survive a crash, while a benchmark keeps it
            to measure what a real server does.

    Raises:
        RuntimeError: When the binaries are missing or the server fails to
            start; the message carries the tool's output.
    """
    for binary in ("initdb", "pg_ctl"):
        if not (PG_BIN / binary).is_file():
            raise RuntimeError(
                f"PostgreSQL binary {PG_BIN / binary} not found; install "
                "postgresql-15 or set SHAPE_PG_BIN to its bin folder."
            )

    # Under /tmp rather than pytest's tmp_path: pytest's folders are private to
    # the user running the suite, and the server may run as another user.
    root = Path(tempfile.mkdtemp(prefix="shape-pg-"))
    try:
        data, sockets = root / "data", root / "sockets"
        password_file = root / "pwfile"
        sockets.mkdir()
        password_file.write_text(PASSWORD + "\n", encoding="utf-8")
        if os.geteuid() == 0:
            server_user = pwd.getpwnam("postgres")
            for path in (root, sockets, password_file):
                os.chown(path, server_user.pw_uid, server_user.pw_gid)

        port = free_port()
        _run(
            [
                str(PG_BIN / "initdb"),
                f"--pgdata={data}",
                f"--username={SUPERUSER}",
                f"--pwfile={password_file}",
                "--auth=scram-sha-256",
                "--encoding=UTF8",
                "--locale=C",
            ],
            cwd=root,
        )
        options = (
            f"-c listen_addresses=127.0.0.1 -c port={port} "
            f"-c unix_socket_directories={sockets}"
        )
        if not durable:
            options += " -c fsync=off -c full_page_writes=off"
        pg_ctl = [str(PG_BIN / "pg_ctl"), f"--pgdata={data}"]
        log = f"--log={root / 'server.log'}"
        _run([*pg_ctl, log, f"--options={options}", "--wait", "start"], cwd=root)
        try:
            yield PostgresServer("127.0.0.1", port, SUPERUSER, PASSWORD, data)
        finally:
            _run([*pg_ctl, "--mode=fast", "--wait", "stop"], cwd=root)
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A PostgreSQL server on 127.0.0.1, stopped and removed after the session."""
    with temporary_postgres() as server:
        yield server


@pytest.fixture
def postgres_database(postgres_server: PostgresServer) -> Iterator[str]:
    """The name of a new, empty database, dropped after the test."""
    name = f"shape_test_{os.getpid()}_{next(_database_numbers)}"
    admin = postgres_server.connect()
    try:
        with admin.cursor() as cursor:
            cursor.execute(f"CREATE DATABASE {name}")
        yield name
        with admin.cursor() as cursor:
            cursor.execute(f"DROP DATABASE {name} WITH (FORCE)")
    finally:
        admin.close()
