"""The transform chain: its spec, the checks on it, and its fitted state.

A chain spec is an ordered list of steps, each a scikit-learn transformer name with
its keyword arguments, as written in ``conf/base/parameters_preprocessing.yml`` or
in the challenge's ``pipeline.jsonc``. The fitted chain is kept as plain numbers
(``FittedChain``), not as pickled estimators, so that either engine can apply a
chain fitted by the other and the stored file runs no code when it is read.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

#: Version of the layout written by ``FittedChain.to_dict``.
FITTED_CHAIN_FORMAT = 1

#: Name of the spec entry that points at the model pickle in ``pipeline.jsonc``.
MODEL_STEP = "model"


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_bool(value: Any) -> bool:
    return isinstance(value, bool)


@dataclass(frozen=True)
class ArgRule:
    """What one transformer argument accepts.

    Attributes:
        check: Returns True when a value is acceptable.
        expected: Plain-English description of acceptable values, for messages.
        default: Value scikit-learn uses when the argument is left out.
    """

    check: Callable[[Any], bool]
    expected: str
    default: Any


#: Transformers the engines can fit and apply, with the arguments each accepts.
#: Arguments outside this table are refused: an engine that silently ignored one
#: would score differently from scikit-learn.
SUPPORTED_TRANSFORMERS: dict[str, dict[str, ArgRule]] = {
    "PolynomialFeatures": {
        "degree": ArgRule(
            lambda v: _is_int(v) and 1 <= v <= 4, "an integer from 1 to 4", 2
        ),
        "interaction_only": ArgRule(_is_bool, "true or false", False),
        "include_bias": ArgRule(_is_bool, "true or false", True),
    },
    "QuantileTransformer": {
        "n_quantiles": ArgRule(
            lambda v: _is_int(v) and v >= 2, "an integer of at least 2", 1000
        ),
        "output_distribution": ArgRule(
            lambda v: v in ("uniform", "normal"), "'uniform' or 'normal'", "uniform"
        ),
        "subsample": ArgRule(
            lambda v: _is_int(v) and v >= 1, "a positive integer", 10_000
        ),
        "random_state": ArgRule(
            lambda v: v is None or (_is_int(v) and v >= 0),
            "null or a non-negative integer",
            None,
        ),
    },
    "StandardScaler": {
        "with_mean": ArgRule(_is_bool, "true or false", True),
        "with_std": ArgRule(_is_bool, "true or false", True),
    },
}


@dataclass(frozen=True)
class ChainStep:
    """One step of a chain spec.

    Attributes:
        name: The step's name in the spec, such as ``qtransf``.
        transformer: The scikit-learn class name, such as ``QuantileTransformer``.
        args: Every argument of the transformer, defaults filled in.
    """

    name: str
    transformer: str
    args: dict[str, Any]


def parse_chain_spec(spec: Mapping[str, Any] | str | Path) -> list[ChainStep]:
    """Checks a chain spec and returns its steps in order.

    Args:
        spec: Either a mapping of step name to ``{TransformerName: {arg: value}}``
            (the layout of ``parameters_preprocessing.yml``, which is also the
            ``steps`` object of ``pipeline.jsonc``), or the path of a
            ``.jsonc``/``.json`` file in the challenge's layout.

    Returns:
        The steps, with every argument filled in with its default where the spec
        leaves it out. A ``model`` entry, which names the model pickle in the
        challenge's file, is dropped: the model comes from the catalog.

    Raises:
        ValueError: When the spec is empty, names an unknown transformer or
            argument, gives an argument of the wrong type, or puts a step after
            the ``model`` entry. The message names the step.
        FileNotFoundError: When ``spec`` is a path that does not exist.
    """
    source = "chain spec"
    if isinstance(spec, str | Path):
        source = f"chain spec file '{spec}'"
        spec = read_jsonc_steps(spec)
    if not isinstance(spec, Mapping) or not spec:
        raise ValueError(
            f"The {source} must be a non-empty mapping of step name to "
            f"{{TransformerName: {{argument: value}}}}; got {spec!r}."
        )

    steps = []
    names = list(spec)
    for position, name in enumerate(names):
        if name == MODEL_STEP:
            if position != len(names) - 1:
                raise ValueError(
                    f"Step '{MODEL_STEP}' of the {source} must come last, after "
                    f"every transformer; found step '{names[position + 1]}' "
                    "after it."
                )
            logger.debug("Ignoring the '%s' entry of the %s", MODEL_STEP, source)
            continue
        steps.append(_parse_step(str(name), spec[name], source))
    if not steps:
        raise ValueError(f"The {source} has no transformer steps.")
    return steps


def seed_chain_steps(steps: list[ChainStep], seed: int) -> list[ChainStep]:
    """Gives every ``QuantileTransformer`` without a ``random_state`` the seed.

    scikit-learn draws the quantile sample at random when a table has more rows
    than ``subsample``; a null ``random_state`` would make such a run
    unrepeatable. The seed (parameter ``preprocessing.random_seed``) becomes
    part of the fitted chain's arguments, so it is stored with the chain.

    Args:
        steps: Parsed chain spec.
        seed: Non-negative integer seed.

    Returns:
        New steps; a step with its own ``random_state`` keeps it.
    """
    return [
        ChainStep(step.name, step.transformer, dict(step.args, random_state=seed))
        if step.transformer == "QuantileTransformer"
        and step.args.get("random_state") is None
        else step
        for step in steps
    ]


def _parse_step(name: str, body: Any, source: str) -> ChainStep:
    if not isinstance(body, Mapping) or len(body) != 1:
        raise ValueError(
            f"Step '{name}' of the {source} must be a mapping with exactly one "
            f"transformer name, such as {{QuantileTransformer: {{...}}}}; "
            f"got {body!r}."
        )
    ((transformer, args),) = body.items()
    rules = SUPPORTED_TRANSFORMERS.get(transformer)
    if rules is None:
        raise ValueError(
            f"Step '{name}' of the {source} uses transformer '{transformer}', "
            f"which is not supported; expected one of "
            f"{sorted(SUPPORTED_TRANSFORMERS)}."
        )
    args = {} if args is None else args
    if not isinstance(args, Mapping):
        raise ValueError(
            f"Step '{name}' ({transformer}) of the {source} must map argument "
            f"names to values; got {args!r}."
        )

    unknown = sorted(set(args) - set(rules))
    if unknown:
        raise ValueError(
            f"Step '{name}' ({transformer}) of the {source} has unknown "
            f"argument(s) {unknown}; expected some of {sorted(rules)}."
        )
    for arg, value in args.items():
        if not rules[arg].check(value):
            raise ValueError(
                f"Step '{name}' ({transformer}) of the {source}: argument "
                f"'{arg}' must be {rules[arg].expected}; got {value!r}."
            )

    filled = {arg: rule.default for arg, rule in rules.items()} | dict(args)
    if (
        transformer == "QuantileTransformer"
        and filled["subsample"] < filled["n_quantiles"]
    ):
        # scikit-learn refuses this at fit time, after the table was read.
        raise ValueError(
            f"Step '{name}' ({transformer}) of the {source}: 'subsample' "
            f"({filled['subsample']}) must be at least 'n_quantiles' "
            f"({filled['n_quantiles']}): the quantiles are taken from that many rows."
        )
    return ChainStep(name=name, transformer=transformer, args=filled)


def count_features_out(steps: list[ChainStep], n_features_in: int) -> int:
    """Number of features a chain produces, worked out from its spec alone.

    Lets the model be checked against the chain before any data is read.

    Args:
        steps: The parsed chain spec.
        n_features_in: Number of columns the first step reads.

    Returns:
        The width of the last step's output, as scikit-learn computes it.
    """
    width = n_features_in
    for step in steps:
        if step.transformer == "PolynomialFeatures":
            width = _polynomial_width(width, **step.args)
    return width


def _polynomial_width(
    width: int, degree: int, interaction_only: bool, include_bias: bool
) -> int:
    # One output per monomial of total degree 0..degree: products of distinct
    # inputs when interaction_only, products with repetition otherwise.
    if interaction_only:
        terms = sum(math.comb(width, power) for power in range(degree + 1))
    else:
        terms = math.comb(width + degree, degree)
    return terms if include_bias else terms - 1


def read_jsonc_steps(path: str | Path) -> dict[str, Any]:
    """Reads the ``steps`` object of a chain spec written as JSON with comments.

    Args:
        path: A file in the challenge's ``pipeline.jsonc`` layout: JSON whose
            top-level object holds ``steps``, with ``//`` line comments allowed.

    Returns:
        The ``steps`` mapping, in file order.

    Raises:
        FileNotFoundError: When the file does not exist.
        ValueError: When the file is not valid JSON once comments are removed,
            or has no ``steps`` object.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Chain spec file '{path}' does not exist.")
    try:
        text = _strip_line_comments(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise ValueError(
            f"Chain spec file '{path}' is not UTF-8 text (byte {exc.start}: "
            f"{exc.reason}); save it as UTF-8."
        ) from exc
    try:
        document = json.loads(
            text, object_pairs_hook=lambda pairs: _unique_keys(pairs, path)
        )
    except json.JSONDecodeError as exc:
        raise ValueError(
            f"Chain spec file '{path}' is not valid JSON with // comments: "
            f"{exc.msg} at line {exc.lineno}, column {exc.colno}."
        ) from exc
    if not isinstance(document, dict) or not isinstance(document.get("steps"), dict):
        found = sorted(document) if isinstance(document, dict) else type(document)
        raise ValueError(
            f"Chain spec file '{path}' must hold an object with a 'steps' object; "
            f"found {found}."
        )
    return document["steps"]


def _unique_keys(pairs: list[tuple[str, Any]], path: Path) -> dict[str, Any]:
    # json.loads keeps the last of two equal keys without a word; in a chain
    # spec that silently drops a step or an argument.
    keys = [key for key, _ in pairs]
    repeated = sorted({key for key in keys if keys.count(key) > 1})
    if repeated:
        raise ValueError(
            f"Chain spec file '{path}' has the key(s) {repeated} twice in one "
            "object; each step name and argument may appear once."
        )
    return dict(pairs)


# A JSON string literal, or a // comment running to the end of its line. Strings
# are matched first so that a "//" inside one (a URL, say) is left alone.
_STRING_OR_COMMENT = re.compile(r'("(?:\\.|[^"\\])*")|//[^\n]*')


def _strip_line_comments(text: str) -> str:
    return _STRING_OR_COMMENT.sub(lambda match: match.group(1) or "", text)


@dataclass(frozen=True)
class FittedStep:
    """The fitted state of one chain step, as plain numbers.

    Attributes:
        name: The step's name in the spec.
        transformer: The scikit-learn class name.
        args: The step's arguments, as in ``ChainStep.args``.
        n_features_in: Number of columns the step reads.
        n_features_out: Number of columns the step writes.
        state: What the fit learned. ``QuantileTransformer``: ``quantiles``
            (n_quantiles x n_features_in) and ``references`` (n_quantiles).
            ``StandardScaler``: ``mean``, ``var`` and ``scale`` (n_features_in
            each, or null when switched off) and ``n_samples_seen``.
            ``PolynomialFeatures`` learns nothing beyond its input width.
    """

    name: str
    transformer: str
    args: dict[str, Any]
    n_features_in: int
    n_features_out: int
    state: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class FittedChain:
    """A fitted transform chain, independent of the engine that fitted it.

    Attributes:
        feature_columns: Input columns, in the order the first step reads them.
        steps: The fitted steps, in order.
        n_rows_fitted: Number of rows the chain was fitted on.
        fitted_by: Engine that fitted the chain (``sklearn`` or ``sparkml``).
    """

    feature_columns: list[str]
    steps: list[FittedStep]
    n_rows_fitted: int
    fitted_by: str

    @property
    def n_features_out(self) -> int:
        """Number of features the chain produces: the model's input width."""
        return self.steps[-1].n_features_out

    def spec_steps(self) -> list[ChainStep]:
        """The spec this chain was fitted from."""
        return [ChainStep(s.name, s.transformer, dict(s.args)) for s in self.steps]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping; ``from_dict`` reads it back exactly."""
        return {
            "format": FITTED_CHAIN_FORMAT,
            "feature_columns": list(self.feature_columns),
            "n_rows_fitted": self.n_rows_fitted,
            "fitted_by": self.fitted_by,
            "steps": [
                {
                    "name": step.name,
                    "transformer": step.transformer,
                    "args": step.args,
                    "n_features_in": step.n_features_in,
                    "n_features_out": step.n_features_out,
                    "state": step.state,
                }
                for step in self.steps
            ],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FittedChain:
        """Reads a mapping written by ``to_dict``.

        Raises:
            ValueError: When the mapping was written in another format version.
        """
        if data.get("format") != FITTED_CHAIN_FORMAT:
            raise ValueError(
                f"Fitted chain has format {data.get('format')!r}; this version of "
                f"shape reads format {FITTED_CHAIN_FORMAT}. Fit the chain again."
            )
        steps = [FittedStep(**step) for step in data["steps"]]
        return cls(
            feature_columns=list(data["feature_columns"]),
            steps=steps,
            n_rows_fitted=int(data["n_rows_fitted"]),
            fitted_by=str(data["fitted_by"]),
        )


def check_chain_matches_spec(chain: FittedChain, steps: list[ChainStep]) -> None:
    """Checks that a stored chain was fitted from the spec in force.

    Raises:
        ValueError: When step names, transformers or arguments differ; the
            message names the first step that differs.
    """
    fitted = chain.spec_steps()
    for position, (expected, found) in enumerate(zip(steps, fitted, strict=False)):
        if expected != found:
            raise ValueError(
                f"The stored fitted chain does not match the chain spec at step "
                f"{position} '{expected.name}': the spec asks for "
                f"{expected.transformer}({expected.args}), the stored chain was "
                f"fitted with '{found.name}' {found.transformer}({found.args}). "
                "Fit the reference chain again."
            )
    if len(steps) != len(fitted):
        raise ValueError(
            f"The stored fitted chain has {len(fitted)} steps but the chain spec "
            f"has {len(steps)}. Fit the reference chain again."
        )
