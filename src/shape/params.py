"""The run parameters this project reads, and the checks made on them at start-up.

``check_parameters`` runs before the first node (see ``shape.hooks.checks``), so
a wrong engine name or a broken chain spec stops the run before any data is read.
Each rule names the parameter, what it accepts, and where to change it.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from shape.chain import ChainStep, parse_chain_spec
from shape.engines import ENGINE_MODULES

FIT_MODES = ("batch", "reference")

#: What ``validate_readings`` does with rows holding a missing or non-finite value.
INVALID_ROW_MODES = ("fail", "drop")


@dataclass(frozen=True)
class ParamRule:
    """What one parameter accepts.

    Attributes:
        check: Returns True when a value is acceptable.
        expected: Plain-English description of acceptable values, for messages.
    """

    check: Callable[[Any], bool]
    expected: str


def _is_column_list(value: Any) -> bool:
    return (
        isinstance(value, list)
        and len(value) > 0
        and all(isinstance(item, str) and item for item in value)
        and len(set(value)) == len(value)
    )


def _is_count(minimum: int) -> Callable[[Any], bool]:
    return lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= minimum


#: Top-level parameters and their rules. Nested keys use dotted names, as on the
#: command line (``--params=preprocessing.time_column=ts``).
PARAMETER_RULES: dict[str, ParamRule] = {
    "engine": ParamRule(
        lambda v: v in ENGINE_MODULES, f"one of {sorted(ENGINE_MODULES)}"
    ),
    "fit_on": ParamRule(lambda v: v in FIT_MODES, f"one of {list(FIT_MODES)}"),
    "input_path": ParamRule(
        lambda v: isinstance(v, str) and v != "", "the path of a Parquet table"
    ),
    "preprocessing.time_column": ParamRule(
        lambda v: isinstance(v, str) and v != "", "a column name"
    ),
    "preprocessing.feature_columns": ParamRule(
        _is_column_list, "a non-empty list of distinct column names"
    ),
    "preprocessing.invalid_rows": ParamRule(
        lambda v: v in INVALID_ROW_MODES, f"one of {list(INVALID_ROW_MODES)}"
    ),
    "modelling.model_sha256": ParamRule(
        lambda v: isinstance(v, str) and re.fullmatch("[0-9a-f]{64}", v) is not None,
        "the SHA-256 of the model file, 64 lower-case hexadecimal digits "
        "(model_sha256 in conf/*/globals.yml)",
    ),
    "modelling.allow_sklearn_version_mismatch": ParamRule(
        lambda v: isinstance(v, bool), "true or false"
    ),
    "preprocessing.random_seed": ParamRule(
        lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0,
        "a non-negative integer",
    ),
    "reporting.max_plot_points": ParamRule(_is_count(0), "an integer of 0 or more"),
    "reporting.max_plot_anomalies": ParamRule(_is_count(0), "an integer of 0 or more"),
    "reporting.histogram_bins": ParamRule(_is_count(1), "an integer of 1 or more"),
}


def check_parameters(parameters: Mapping[str, Any]) -> list[ChainStep]:
    """Checks the run parameters against ``PARAMETER_RULES`` and the chain spec.

    Args:
        parameters: All parameters of the run, as Kedro resolves them.

    Returns:
        The parsed chain spec.

    Raises:
        ValueError: When a parameter is missing or does not follow its rule, or
            when the chain spec is invalid; the message names the parameter or
            the step.
    """
    for dotted_name, rule in PARAMETER_RULES.items():
        value = _lookup(parameters, dotted_name)
        if not rule.check(value):
            raise ValueError(
                f"Parameter '{dotted_name}' must be {rule.expected}; got {value!r}. "
                f"Set it in {_where_set(dotted_name)} or with "
                f"--params={_GLOBAL_PARAMETERS.get(dotted_name, dotted_name)}=..."
            )
    time_column = _lookup(parameters, "preprocessing.time_column")
    if time_column in _lookup(parameters, "preprocessing.feature_columns"):
        raise ValueError(
            f"Parameter 'preprocessing.time_column' ('{time_column}') is also one "
            "of 'preprocessing.feature_columns'; the time column is carried "
            "through, not scored. Set them in conf/base/parameters*.yml or with "
            "--params=preprocessing.time_column=..."
        )
    return parse_chain_spec(_lookup(parameters, "preprocessing.chain"))


#: Runtime parameters read by configuration other than parameters*.yml and
#: globals.yml: the run's id (``shape.hooks.run_context``) and the Spark master
#: (conf/*/spark.yml).
RUNTIME_ONLY_PARAMETERS = ("run_id", "spark_master")


def check_runtime_names(
    runtime_params: Mapping[str, Any],
    parameters: Mapping[str, Any],
    global_names: list[str],
) -> None:
    """Rejects a ``--params`` name that no configuration reads.

    A misspelt name (``engin=sparkml``) would otherwise be stored with the
    run's parameters and change nothing. Names are checked to two levels
    (``preprocessing.invalid_rows``); deeper keys, such as one chain step's
    argument, are left to the chain spec's own checks.

    Args:
        runtime_params: The ``--params`` of the run, nested by their dots.
        parameters: The parameters of conf/*/parameters*.yml, without the
            runtime ones.
        global_names: The names in conf/*/globals.yml.

    Raises:
        ValueError: Naming the unknown parameter, the closest known names and
            the known names.
    """
    known = sorted({*parameters, *global_names, *RUNTIME_ONLY_PARAMETERS})
    for name, value in runtime_params.items():
        if name not in known:
            _raise_unknown(name, known)
        section = parameters.get(name)
        if isinstance(value, Mapping) and isinstance(section, Mapping):
            for key in value:
                if key not in section:
                    _raise_unknown(
                        f"{name}.{key}", [f"{name}.{child}" for child in section]
                    )


def _raise_unknown(name: str, known: list[str]) -> None:
    close = difflib.get_close_matches(name, known, n=2)
    hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    raise ValueError(
        f"Unknown parameter '{name}' in --params: no configuration reads it.{hint} "
        f"Known: {known}."
    )


#: Parameters whose default lives in conf/base/globals.yml, because the catalog
#: reads them too (the engine picks the dataset types, for instance).
_GLOBAL_PARAMETERS = {
    "engine": "engine",
    "input_path": "input_path",
    "modelling.model_sha256": "model_sha256",
    "modelling.allow_sklearn_version_mismatch": "allow_sklearn_version_mismatch",
}


def _where_set(dotted_name: str) -> str:
    if dotted_name in _GLOBAL_PARAMETERS:
        return f"conf/base/globals.yml ('{_GLOBAL_PARAMETERS[dotted_name]}')"
    return "conf/base/parameters*.yml"


def _lookup(parameters: Mapping[str, Any], dotted_name: str) -> Any:
    value: Any = parameters
    for key in dotted_name.split("."):
        if not isinstance(value, Mapping) or key not in value:
            raise ValueError(
                f"Parameter '{dotted_name}' is missing; add it to "
                "conf/base/parameters*.yml."
            )
        value = value[key]
    return value
