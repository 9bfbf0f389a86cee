"""Nodes of the preprocessing pipeline: validate readings, fit and apply the chain.

Every node takes the ``engine`` parameter and hands the numeric work to that
engine (``shape.engines``), so the node graph is the same for pandas and Spark.
"""

from __future__ import annotations

import logging
from typing import Any

from shape.chain import (
    FittedChain,
    check_chain_matches_spec,
    parse_chain_spec,
    seed_chain_steps,
)
from shape.engines import get_engine

logger = logging.getLogger(__name__)


def validate_readings(
    raw_readings: Any, preprocessing: dict[str, Any], engine: str
) -> Any:
    """Keeps the columns the chain needs and checks every value is usable.

    Args:
        raw_readings: The table to score, one row per sensor reading: a pandas
            frame for the ``sklearn`` engine, a Spark frame for ``sparkml``.
            Must hold ``preprocessing.time_column`` and every column of
            ``preprocessing.feature_columns``; other columns are dropped.
        preprocessing: The ``preprocessing`` parameters; reads ``time_column``
            and ``feature_columns``.
        engine: The ``engine`` parameter.

    Returns:
        A new frame of the time column then the feature columns, the features
        cast to float64.

    Raises:
        KeyError: When a required column is missing; lists the missing and the
            present columns.
        TypeError: When a feature column is not numeric.
        ValueError: When the table has no rows, or some rows hold a missing or
            non-finite feature value (the message gives the count per column).
    """
    time_column = preprocessing["time_column"]
    feature_columns = list(preprocessing["feature_columns"])
    _check_columns_present(list(raw_readings.columns), [time_column, *feature_columns])

    backend = get_engine(engine)
    readings = backend.select_readings(raw_readings, time_column, feature_columns)
    check = backend.check_readings(readings, feature_columns)
    if check["rows"] == 0:
        raise ValueError("The readings table has no rows; there is nothing to score.")
    if check["invalid_rows"]:
        raise ValueError(
            f"{check['invalid_rows']} of {check['rows']} rows have a missing or "
            "non-finite value; invalid values per column: "
            f"{check['invalid_by_column']}."
        )

    logger.info("Validated %d readings with columns %s", check["rows"], feature_columns)
    return readings


def _check_columns_present(present: list[str], required: list[str]) -> None:
    missing = [column for column in required if column not in present]
    if missing:
        raise KeyError(
            f"The readings table lacks required column(s) {missing}; it has {present}."
        )


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
                "`kedro run --pipeline=fit_reference`."
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
