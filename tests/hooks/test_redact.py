"""``redact`` masks passwords and tokens and leaves everything else alone."""

from __future__ import annotations

import pytest

from shape.hooks.redact import redact


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "postgresql://shape:hunter2@db.example:5432/runs",
            "postgresql://shape:***@db.example:5432/runs",
        ),
        ("s3://AKIAKEY:s3cr3t/x@bucket/readings.parquet", None),
        (
            "http://user:pa55@127.0.0.1:5000 and https://other:more@host/",
            "http://user:***@127.0.0.1:5000 and https://other:***@host/",
        ),
        (
            "https://host/api?token=abc123&run=7",
            "https://host/api?token=***&run=7",
        ),
        ("host=db password=hunter2 user=shape", "host=db password=*** user=shape"),
        ("Could not connect: PASSWORD=x1;", "Could not connect: PASSWORD=***;"),
    ],
)
def test_secrets_are_masked(text, expected):
    masked = redact(text)

    for secret in ("hunter2", "s3cr3t", "pa55", "more", "abc123", "x1;"):
        assert secret not in masked.replace("***", "")
    if expected is not None:
        assert masked == expected


@pytest.mark.parametrize(
    "text",
    [
        "data/01_raw/readings.parquet",
        "127.0.0.1:9092,127.0.0.1:9093",
        "http://127.0.0.1:5000",
        "sqlite:////work/project/mlruns/mlflow.db",
        "KeyError: \"The readings table lacks required column(s) ['vibration_z']\"",
    ],
)
def test_text_without_secrets_is_unchanged(text):
    assert redact(text) == text
