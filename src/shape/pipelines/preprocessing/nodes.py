"""Nodes of the preprocessing pipeline: validate readings, fit and apply the chain.

Every node takes the ``engine`` parameter and hands the numeric work to that
engine (``shape.engines``), so the node graph is the same for pandas and Spark.
"""

from __future__ import annotations

import logging
from typing import Any, TypedDict

from shape.chain import (
    FittedChain,
    check_chain_matches_spec,
    parse_chain_spec,
    seed_chain_steps,
)
from shape.engines import ReadingsCheck, get_engine

logger = logging.getLogger(__name__)


class ValidatedReadings(TypedDict):
    """The outputs of ``validate_readings``, one per catalog entry."""

    clean_readings: Any
    rejected_readings: Any
    readings_check: ReadingsCheck


def validate_readings(
    raw_readings: Any, preprocessing: dict[str, Any], engine: str
) -> ValidatedReadings:
    """Keeps the columns the chain needs and checks every value is usable.

    Args:
        raw_readings: The table to score, one row per sensor reading: a pandas
            frame for the ``sklearn`` engine, a Spark frame for ``sparkml``.
            Must hold ``preprocessing.time_column`` and every column of
            ``preprocessing.feature_columns`` (float or integer); other columns
            are dropped.
        preprocessing: The ``preprocessing`` parameters; reads ``time_column``,
            ``feature_columns`` and ``invalid_rows`` (``fail``, the default, or
            ``drop``).
        engine: The ``engine`` parameter.

    Returns:
        ``clean_readings``: the time column then the feature columns, cast to
        float64, rows with a missing or non-finite value left out;
        ``rejected_readings``: those left-out rows, with ``rejected_reason``
        (empty unless ``invalid_rows`` is ``drop``); ``readings_check``: the
        row counts.

    Raises:
        KeyError: When a required column is missing; lists the missing and the
            present columns.
        TypeError: When a feature column is not numeric; names it and its dtype.
        ValueError: When a required column appears twice, the table has no
            rows, every row is invalid, or some rows are invalid and
            ``invalid_rows`` is ``fail`` (the message gives the count of rows
            and of invalid values per column).
    """
    time_column = preprocessing["time_column"]
    feature_columns = list(preprocessing["feature_columns"])
    mode = preprocessing.get("invalid_rows", "fail")
    _check_columns_present(list(raw_readings.columns), [time_column, *feature_columns])

    backend = get_engine(engine)
    readings = backend.select_readings(raw_readings, time_column, feature_columns)
    check = backend.check_readings(readings, feature_columns)
    _check_rows(check, mode)
    split = backend.split_invalid_rows(
        readings, feature_columns, any_invalid=check["invalid_rows"] > 0
    )

    logger.info(
        "Validated %d readings with columns %s; %d rows rejected",
        check["rows"] - check["invalid_rows"],
        feature_columns,
        check["invalid_rows"],
    )
    return ValidatedReadings(
        clean_readings=split["valid"],
        rejected_readings=split["rejected"],
        readings_check=check,
    )


def _check_columns_present(present: list[Any], required: list[str]) -> None:
    missing = [column for column in required if column not in present]
    if missing:
        raise KeyError(
            f"The readings table lacks required column(s) {missing}; it has {present}."
        )
    repeated = sorted({column for column in required if present.count(column) > 1})
    if repeated:
        raise ValueError(
            f"The readings table has column(s) {repeated} more than once; "
            "expected each column once."
        )


def _check_rows(check: ReadingsCheck, mode: str) -> None:
    if check["rows"] == 0:
        raise ValueError("The readings table has no rows; there is nothing to score.")
    if not check["invalid_rows"]:
        return

    counts = (
        f"{check['invalid_rows']} of {check['rows']} rows have a missing or "
        f"non-finite feature value; invalid values per column: "
        f"{check['invalid_by_column']}."
    )
    if mode != "drop":
        raise ValueError(
            f"{counts} Fix the input, or score the other rows with "
            "--params=preprocessing.invalid_rows=drop."
        )
    if check["invalid_rows"] == check["rows"]:
        raise ValueError(f"{counts} With every row invalid there is nothing to score.")
    logger.warning("%s They are written to rejected_readings.", counts)


def fit_chain(
    clean_readings: Any,
    reference_chain: FittedChain | None,
    preprocessing: dict[str, Any],
    fit_on: str,
    engine: str,
) -> FittedChain:
    """Returns the chain to apply to this run's readings.

    Args:
        clean_readings: Output of ``validate_readings``.
        reference_chain: The chain stored by the ``fit_reference`` pipeline, or
            None when none is stored.
        preprocessing: The ``preprocessing`` parameters; reads ``chain`` (the
            spec, or the path of a ``.jsonc`` file), ``feature_columns`` and
            ``random_seed`` (seed of the quantile sample of tables larger than
            the ``QuantileTransformer``'s ``subsample``; default 0).
        fit_on: ``batch`` fits the chain on ``clean_readings``, as the challenge
            did; ``reference`` reuses ``reference_chain`` unchanged.
        engine: The ``engine`` parameter.

    Returns:
        The fitted chain.

    Raises:
        ValueError: In ``reference`` mode, when no reference chain is stored or
            it was fitted from another spec.
    """
    steps = seed_chain_steps(
        parse_chain_spec(preprocessing["chain"]), preprocessing.get("random_seed", 0)
    )
    if fit_on == "reference":
        if reference_chain is None:
            raise ValueError(
                "Parameter 'fit_on' is 'reference' but no reference chain is "
                "stored (catalog entry 'reference_chain'). Fit one first with "
                "`kedro run --pipelines=fit_reference`."
            )
        check_chain_matches_spec(reference_chain, steps)
        logger.info(
            "Reusing the reference chain fitted on %d rows",
            reference_chain.n_rows_fitted,
        )
        return reference_chain

    chain = get_engine(engine).fit_chain(
        clean_readings, steps, list(preprocessing["feature_columns"])
    )
    logger.info(
        "Fitted the chain on this batch: %d rows, %d -> %d features",
        chain.n_rows_fitted,
        len(chain.feature_columns),
        chain.n_features_out,
    )
    return chain


def fit_reference_chain(
    clean_reference_readings: Any, preprocessing: dict[str, Any], engine: str
) -> FittedChain:
    """Fits the chain on a reference table, for later runs with ``fit_on: reference``.

    Args:
        clean_reference_readings: The reference table, validated like the
            readings.
        preprocessing: The ``preprocessing`` parameters; reads ``chain``,
            ``feature_columns`` and ``random_seed``.
        engine: The ``engine`` parameter.

    Returns:
        The fitted chain.
    """
    return fit_chain(
        clean_reference_readings, None, preprocessing, fit_on="batch", engine=engine
    )


def transform_readings(
    clean_readings: Any, fitted_chain: FittedChain, engine: str
) -> Any:
    """Applies the fitted chain to every reading.

    Args:
        clean_readings: Output of ``validate_readings``.
        fitted_chain: Output of ``fit_chain``.
        engine: The ``engine`` parameter.

    Returns:
        A new frame: the columns of ``clean_readings`` then the model input
        features ``feature_00`` … ``feature_NN`` (float64), one row per reading.
    """
    return get_engine(engine).transform_readings(clean_readings, fitted_chain)
