"""``validate_readings``: every bad table is refused with a message, or cleaned."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from shape.pipelines.preprocessing.nodes import validate_readings
from tests.pipelines.preprocessing.conftest import FEATURES


def test_finite_table_passes_with_features_as_float64(preprocessing):
    raw = pd.DataFrame(
        {
            "time": [0.1, 0.2],
            "vibration_x": np.array([1, 2], dtype="int32"),
            "vibration_y": np.array([3.5, 4.5], dtype="float32"),
            "vibration_z": pd.array([7, 8], dtype="Int64"),
            "extra": ["a", "b"],
        }
    )

    result = validate_readings(raw, preprocessing, "sklearn")

    clean = result["clean_readings"]
    assert list(clean.columns) == ["time", *FEATURES]
    assert all(clean[column].dtype == np.float64 for column in FEATURES)
    np.testing.assert_array_equal(clean["vibration_z"], [7.0, 8.0])
    assert result["rejected_readings"].empty
    assert result["readings_check"] == {
        "rows": 2,
        "invalid_rows": 0,
        "invalid_by_column": {},
    }
    assert list(raw.columns)[-1] == "extra", "the input frame must not change"


def test_missing_column_lists_missing_and_present(raw_readings, preprocessing):
    raw = raw_readings.drop(columns=["vibration_y"])
    with pytest.raises(
        KeyError,
        match=r"lacks required column\(s\) \['vibration_y'\]; it has "
        r"\['time', 'vibration_x', 'vibration_z', 'sensor'\]",
    ):
        validate_readings(raw, preprocessing, "sklearn")


@pytest.mark.parametrize(
    ("values", "dtype"),
    [
        (["1.0", "2.0"], "object"),
        ([True, False], "bool"),
        (pd.to_datetime(["2024-01-01", "2024-01-02"]), "datetime64[ns]"),
        ([1 + 1j, 2 + 0j], "complex128"),
    ],
)
def test_non_numeric_column_is_named(preprocessing, values, dtype):
    raw = pd.DataFrame(
        {
            "time": [0.1, 0.2],
            "vibration_x": [1.0, 2.0],
            "vibration_y": values,
            "vibration_z": [1.0, 2.0],
        }
    )
    with pytest.raises(
        TypeError,
        match=rf"Column 'vibration_y' must hold numbers \(float or integer\); "
        rf"found dtype {re.escape(dtype)}\.",
    ):
        validate_readings(raw, preprocessing, "sklearn")


def test_invalid_rows_fail_by_default_with_counts(raw_readings, preprocessing):
    with pytest.raises(
        ValueError,
        match=r"3 of 5 rows have a missing or non-finite feature value; invalid "
        r"values per column: \{'vibration_x': 2, 'vibration_y': 1, "
        r"'vibration_z': 1\}\. .*invalid_rows=drop",
    ):
        validate_readings(raw_readings, preprocessing, "sklearn")


def test_invalid_rows_dropped_with_reasons(raw_readings, preprocessing):
    preprocessing["invalid_rows"] = "drop"

    result = validate_readings(raw_readings, preprocessing, "sklearn")

    np.testing.assert_array_equal(result["clean_readings"]["time"], [0.1, 0.4])
    rejected = result["rejected_readings"]
    assert list(rejected.columns) == ["time", *FEATURES, "rejected_reason"]
    np.testing.assert_array_equal(rejected["time"], [0.2, 0.3, 0.5])
    assert rejected["rejected_reason"].tolist() == [
        "missing or non-finite: vibration_x",
        "missing or non-finite: vibration_y",
        "missing or non-finite: vibration_x, vibration_z",
    ]
    assert result["readings_check"]["invalid_rows"] == 3


@pytest.mark.parametrize("mode", ["fail", "drop"])
def test_empty_table_is_refused(preprocessing, mode):
    preprocessing["invalid_rows"] = mode
    raw = pd.DataFrame(
        {column: pd.Series(dtype="float64") for column in ["time", *FEATURES]}
    )
    with pytest.raises(ValueError, match="has no rows; there is nothing to score"):
        validate_readings(raw, preprocessing, "sklearn")


def test_every_row_invalid_is_refused_even_when_dropping(raw_readings, preprocessing):
    preprocessing["invalid_rows"] = "drop"
    raw = raw_readings.assign(vibration_z=np.nan)
    with pytest.raises(
        ValueError,
        match=r"5 of 5 rows have a missing .*'vibration_z': 5\}\. With every row "
        "invalid there is nothing to score",
    ):
        validate_readings(raw, preprocessing, "sklearn")


def test_repeated_column_is_refused(preprocessing):
    raw = pd.DataFrame(
        [[0.1, 1.0, 2.0, 3.0, 4.0]],
        columns=["time", "vibration_x", "vibration_y", "vibration_z", "vibration_x"],
    )
    with pytest.raises(ValueError, match=r"\['vibration_x'\] more than once"):
        validate_readings(raw, preprocessing, "sklearn")


# ---- property: refused with a message, or every kept row finite ------------

_REQUIRED = ["time", *FEATURES]
_KINDS = {
    # dtype, values; floats and integers are drawn more often than the rest.
    "finite": ("float64", st.floats(allow_nan=False, allow_infinity=False)),
    "any_float": ("float64", st.floats(allow_nan=True, allow_infinity=True)),
    "float32": ("float32", st.floats(width=32, allow_nan=False)),
    "int": ("int64", st.integers(-(2**40), 2**40)),
    "nullable": ("Int64", st.one_of(st.none(), st.integers(-100, 100))),
    "text": ("object", st.text(max_size=3)),
    "bool": ("bool", st.booleans()),
}


@st.composite
def _reading_frames(draw: st.DrawFn) -> pd.DataFrame:
    """Frames that mostly hold the expected columns, of assorted dtypes.

    A required column may be left out, and any column may appear twice.
    """
    left_out = draw(st.one_of(st.just([]), st.lists(st.sampled_from(_REQUIRED))))
    extra = draw(st.lists(st.sampled_from([*_REQUIRED, "other"]), max_size=2))
    names = [name for name in _REQUIRED if name not in left_out] + extra
    n_rows = draw(st.integers(min_value=0, max_value=8))
    kind_names = ["finite", "finite", "any_float", "float32", "int", *_KINDS]

    columns = []
    for name in names:
        dtype, element = _KINDS[draw(st.sampled_from(kind_names))]
        values = draw(st.lists(element, min_size=n_rows, max_size=n_rows))
        columns.append((name, pd.Series(values, dtype=dtype)))
    frame = (
        pd.concat([series for _, series in columns], axis=1)
        if columns
        else (pd.DataFrame(index=range(n_rows)))
    )
    frame.columns = [name for name, _ in columns]
    return frame


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw=_reading_frames(), mode=st.sampled_from(["fail", "drop"]))
def test_any_frame_is_refused_with_a_message_or_fully_finite(raw, mode):
    preprocessing = {
        "time_column": "time",
        "feature_columns": FEATURES,
        "invalid_rows": mode,
    }
    try:
        result = validate_readings(raw, preprocessing, "sklearn")
    except (KeyError, TypeError, ValueError) as exc:
        event(f"refused: {type(exc).__name__}")
        assert str(exc).strip("'\"")
        return

    event(f"passed, invalid_rows={mode}")
    clean = result["clean_readings"]
    assert len(clean) > 0
    assert np.isfinite(clean[FEATURES].to_numpy(dtype="float64")).all()
    assert len(clean) + len(result["rejected_readings"]) == len(raw)
    if mode == "fail":
        assert result["rejected_readings"].empty
