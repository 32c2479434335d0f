"""The weight functions of selection models, one class per type, registered by name.

A study is published with relative probability w(p) of its p-value p.  ``stepfun`` has w constant
(delta_j) on the p-value intervals (0, s_1], (s_1, s_2], ..., (s_J, 1] with delta_1 = 1 (Vevea &
Hedges 1995, Psychometrika 60:419); the smooth types are those of metafor's help(selmodel): beta
p^(d1-1) (1-p)^(d2-1) (Citkowicz & Vevea 2017); halfnorm exp(-d p^2); negexp exp(-d p); logistic
2 exp(-d p) / (1 + exp(-d p)); power (1-p)^d, each relative to its value at the optional step s below
which w = 1.  Each class holds metafor's bounds and starting values for the deltas it estimates.
"""
from collections.abc import Sequence
from typing import ClassVar, TypeVar

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ..common import distributions as dist
from ..common.errors import InputError

ALTERNATIVES = ("greater", "less", "two.sided")
# the tails of y that give small p-values: +1 (large y), -1 (small y), or both
SIGNS = {"greater": (1.0,), "less": (-1.0,), "two.sided": (1.0, -1.0)}
STEP_DELTA_MAX = 100.0

Array = NDArray[np.float64]
# checked steps: the upper bounds of the p-value intervals, 1 last
Steps = tuple[float, ...]
W = TypeVar("W", bound=type["WeightFunction"])


def selection_p_values(yi: Array, vi: Array, alternative: str) -> Array:
    """p-value of each study's z = y / sqrt(v): one-sided in the direction of ``alternative``
    ("greater" or "less"), or two-sided (metafor .selmodel.pval)."""
    return p_of_z(yi / np.sqrt(vi), alternative)


def p_of_z(z: Array, alternative: str) -> Array:
    """One-sided (upper tail for "greater", lower for "less") or two-sided normal p-value of z."""
    if alternative == "two.sided":
        return dist.normal_two_sided_p(z)
    return dist.normal_cdf(-z if alternative == "greater" else z)


def interval_of(p_values: ArrayLike, steps: ArrayLike) -> NDArray[np.intp]:
    """0-based index of the p-value interval (upper bounds ``steps``) holding each p-value."""
    return np.searchsorted(np.asarray(steps), p_values, side="left")


def normalised_steps(steps: ArrayLike) -> Array:
    """metafor's handling of ``steps``: within [0, 1], sorted, unique, 1 appended."""
    steps = np.asarray(steps, dtype=float)
    if np.any((steps < 0) | (steps > 1)) or np.any(~np.isfinite(steps)):
        raise InputError("steps must lie between 0 and 1")
    steps = np.unique(steps)
    return steps if steps[-1] == 1 else np.append(steps, 1.0)


class WeightFunction:
    """One selection-model type: its weight function, the deltas it estimates and their bounds."""

    name: ClassVar[str]
    family: ClassVar[str]          # which likelihood fits it: "step" (analytic) or "smooth" (quadrature)
    p_min: ClassVar[float] = 0.0   # observed and integrated p-values are clamped to [p_min, 1 - p_min]

    def check_steps(self, steps: Sequence[float] | None) -> Steps | None:
        """The steps this type uses (normalised, 1 appended), None where it takes none."""
        if steps is None or len(steps) == 0:
            return self.without_steps()
        return self.accept_steps(normalised_steps(steps))

    def without_steps(self) -> Steps | None:
        return None

    def step_warnings(self, steps: Sequence[float] | None) -> list[str]:
        """Warnings about the ``steps`` given (as metafor's)."""
        return []

    def accept_steps(self, steps: Array) -> Steps | None:
        if steps.size != 2:
            raise InputError(f"the {self.name} selection model takes a single step (below which w = 1)")
        return tuple(float(s) for s in steps)

    def bounds(self, steps: Steps | None) -> tuple[Array, Array]:
        """metafor's lower and upper bounds of the estimated deltas."""
        raise NotImplementedError

    def start(self, steps: Steps | None) -> Array:
        """Starting values of the estimated deltas."""
        raise NotImplementedError

    def all_delta(self, delta: Array) -> Array:
        """Every delta of the weight function from the estimated ones."""
        return np.asarray(delta)

    def all_delta_se(self, delta_se: Array) -> Array:
        return delta_se

    def null_delta(self, n: int) -> Array:
        """The n deltas under which w = 1 (the unadjusted model), tested by z and the LRT."""
        raise NotImplementedError

    def estimated_intervals(self, steps: Steps) -> NDArray[np.bool_]:
        """Which p-value intervals have a delta estimated (metafor refuses those left empty)."""
        return np.ones(len(steps), dtype=bool)

    def studies_per_interval(self, counts: NDArray[np.intp]) -> tuple[int, ...] | None:
        """The number of studies per interval as the result reports it."""
        return None

    def weight(self, p: Array, delta: Array, steps: Steps | None) -> Array:
        """w(p) with every delta (``all_delta``) and the checked ``steps``."""
        raise NotImplementedError


WEIGHT_FUNCTIONS: dict[str, WeightFunction] = {}


def register(cls: W) -> W:
    """Class decorator: add an instance of a weight function to WEIGHT_FUNCTIONS under its name."""
    WEIGHT_FUNCTIONS[cls.name] = cls()
    return cls


def weight_function(name: str) -> WeightFunction:
    """The registered weight function called ``name``; InputError for an unknown type."""
    try:
        return WEIGHT_FUNCTIONS[name]
    except KeyError:
        raise InputError(f"unknown selection model type '{name}'; choose one of "
                         f"{', '.join(WEIGHT_FUNCTIONS)}") from None


@register
class StepFunction(WeightFunction):
    """w = delta_j on the j-th p-value interval, delta_1 = 1 (the 3PSM for steps 0.025)."""

    name = "stepfun"
    family = "step"

    def without_steps(self) -> Steps | None:
        raise InputError("a step-function selection model needs --steps (e.g. 0.025 for the 3PSM)")

    def accept_steps(self, steps: Array) -> Steps | None:
        if steps.size < 2:
            raise InputError("a step-function selection model needs at least one step below 1")
        return tuple(float(s) for s in steps)

    def bounds(self, steps: Steps | None) -> tuple[Array, Array]:
        assert steps is not None  # check_steps refuses a step function without steps
        return np.zeros(len(steps) - 1), np.full(len(steps) - 1, STEP_DELTA_MAX)

    def start(self, steps: Steps | None) -> Array:
        assert steps is not None
        return np.ones(len(steps) - 1)

    def all_delta(self, delta: Array) -> Array:
        return np.concatenate([[1.0], delta])

    def all_delta_se(self, delta_se: Array) -> Array:
        return np.concatenate([[np.nan], delta_se])

    def null_delta(self, n: int) -> Array:
        return np.ones(n)

    def estimated_intervals(self, steps: Steps) -> NDArray[np.bool_]:
        return np.arange(len(steps)) >= 1

    def studies_per_interval(self, counts: NDArray[np.intp]) -> tuple[int, ...] | None:
        return tuple(int(n) for n in counts)

    def weight(self, p: Array, delta: Array, steps: Steps | None) -> Array:
        assert steps is not None
        return delta[np.minimum(interval_of(p, steps), len(delta) - 1)]


class SmoothWeight(WeightFunction):
    """A smooth type with one delta d in [0, 100], starting at 1, w = 1 under d = 0."""

    family = "smooth"

    def bounds(self, steps: Steps | None) -> tuple[Array, Array]:
        return np.array([0.0]), np.array([100.0])

    def start(self, steps: Steps | None) -> Array:
        return np.array([1.0])

    def null_delta(self, n: int) -> Array:
        return np.zeros(n)

    def weight(self, p: Array, delta: Array, steps: Steps | None) -> Array:
        step = steps[0] if steps is not None else 0.0
        return np.where(p <= step, 1.0, self.relative(p, delta[0], step))

    def relative(self, p: Array, d: float, step: float) -> Array:
        """w(p) / w(step) (metafor help(selmodel), 'Selection Models')."""
        raise NotImplementedError


@register
class BetaWeight(WeightFunction):
    """w = p^(d1-1) (1-p)^(d2-1) (Citkowicz & Vevea 2017); takes no steps."""

    name = "beta"
    family = "smooth"
    p_min = 1e-5

    def accept_steps(self, steps: Array) -> Steps | None:
        return None  # metafor ignores steps for the beta model (with a warning)

    def step_warnings(self, steps: Sequence[float] | None) -> list[str]:
        return ["steps are ignored by the beta selection model"] if steps is not None else []

    def bounds(self, steps: Steps | None) -> tuple[Array, Array]:
        return np.array([1e-5, 1e-5]), np.array([100.0, 100.0])

    def start(self, steps: Steps | None) -> Array:
        return np.array([1.0, 1.0])

    def null_delta(self, n: int) -> Array:
        return np.ones(n)

    def weight(self, p: Array, delta: Array, steps: Steps | None) -> Array:
        return p ** (delta[0] - 1) * (1 - p) ** (delta[1] - 1)


@register
class HalfNormalWeight(SmoothWeight):
    name = "halfnorm"

    def relative(self, p: Array, d: float, step: float) -> Array:
        return np.exp(-d * (p ** 2 - step ** 2))


@register
class NegativeExponentialWeight(SmoothWeight):
    name = "negexp"

    def relative(self, p: Array, d: float, step: float) -> Array:
        return np.exp(-d * (p - step))


@register
class LogisticWeight(SmoothWeight):
    name = "logistic"

    def relative(self, p: Array, d: float, step: float) -> Array:
        return (np.exp(-d * p) / (1 + np.exp(-d * p))) / (np.exp(-d * step) / (1 + np.exp(-d * step)))


@register
class PowerWeight(SmoothWeight):
    name = "power"
    p_min = 1e-5

    def relative(self, p: Array, d: float, step: float) -> Array:
        return ((1 - p) / (1 - step)) ** d


TYPES = tuple(WEIGHT_FUNCTIONS)
