"""The tau^2 estimators: one registry, one kernel for the single fit and the batched engine.

Each estimator is one :class:`Estimator` entry (name, printed label, function, standard error,
properties) whose function runs on either back-end of :mod:`compassmeta.models.backends`: a
single meta-analysis (:func:`estimate_tau2`) or a batch of them (:func:`estimate_batch`, used by
GOSH, permutation tests and simulations).  The CLI's choices, the printed names and the method
lists all derive from :data:`REGISTRY`; adding an estimator is one entry and one function.
Definitions follow metafor's rma.uni() (5.1); sources are cited in :mod:`.tau2_moments` and
:mod:`.tau2_iterative`.  Negative estimates are truncated at zero.
"""
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..common.errors import InputError
from . import tau2_iterative as iterative
from . import tau2_moments as moments
from .backends import Batch, Problem, Single, Values


@dataclass(frozen=True)
class Tau2Estimate:
    """An estimate of tau^2 and how it was reached."""

    tau2: float
    iterations: int = 0
    converged: bool = True
    note: str = ""


@dataclass(frozen=True)
class Estimator:
    """A tau^2 estimator: ``function(problem)`` returns tau^2 (untruncated), or (tau2, iterations)
    or (tau2, iterations, notes by row); ``se(problem, tau2)`` its standard error (metafor's se.tau2).
    ``closed_form``: no iteration; ``likelihood``: maximises the (restricted) likelihood (ML, REML);
    ``needs_weights``: estimates tau^2 from the user's weights, which then also weight the fit;
    ``note``: added to every result of the estimator (a definition that changed in metafor)."""

    name: str
    label: str
    function: Callable[[Problem], Values | tuple[Values, Values] | tuple[Values, Values, dict[int, str]]]
    se: Callable[[Problem, Values], Values] | None = None
    closed_form: bool = True
    likelihood: bool = False
    needs_weights: bool = False
    note: str = ""

    @property
    def iterative(self) -> bool:
        return not self.closed_form


_DLIT_NOTE = ("DLIT as metafor >= 4.6 defines it: tau^2 <- (Q - tr(PV)) / tr(P), whose fixed point is the "
              "Paule-Mandel estimate; metafor 3.x iterated (Q - (k - p)) / tr(P) and gives a different value")


def _fixed_effect(problem: Problem) -> Values:
    return problem.full(0.0)


def _scoring(method: str) -> Callable[[Problem], tuple[Values, Values, dict[int, str]]]:
    return lambda problem: iterative.scoring(problem, method)


_ENTRIES = (
    Estimator("FE", "fixed (common) effect", _fixed_effect),
    Estimator("DL", "DerSimonian-Laird", moments.dersimonian_laird, moments.se_dersimonian_laird),
    Estimator("HE", "Hedges", moments.hedges, moments.se_hedges),
    Estimator("HS", "Hunter-Schmidt", moments.hunter_schmidt, moments.se_hunter_schmidt),
    Estimator("HSk", "Hunter-Schmidt, k-corrected", moments.hunter_schmidt_k, moments.se_hunter_schmidt_k),
    Estimator("SJ", "Sidik-Jonkman", moments.sidik_jonkman, moments.se_sidik_jonkman),
    Estimator("ML", "maximum likelihood", _scoring("ML"), moments.se_maximum_likelihood,
              closed_form=False, likelihood=True),
    Estimator("REML", "restricted maximum likelihood", _scoring("REML"), moments.se_restricted,
              closed_form=False, likelihood=True),
    Estimator("EB", "empirical Bayes", _scoring("EB"), moments.se_q_equation, closed_form=False),
    Estimator("PM", "Paule-Mandel", iterative.paule_mandel, moments.se_q_equation, closed_form=False),
    Estimator("PMM", "median-unbiased Paule-Mandel", iterative.paule_mandel_median, moments.se_q_equation,
              closed_form=False),
    Estimator("GENQ", "generalised Q", moments.generalised_q, moments.se_generalised_q, needs_weights=True),
    Estimator("GENQM", "median-unbiased generalised Q", iterative.generalised_q_median,
              moments.se_generalised_q, closed_form=False, needs_weights=True),
    Estimator("DLIT", "iterated DerSimonian-Laird", iterative.iterated_dersimonian_laird,
              moments.se_q_equation, closed_form=False, note=_DLIT_NOTE),
    Estimator("SJIT", "iterated Sidik-Jonkman", iterative.iterated_sidik_jonkman, moments.se_q_equation,
              closed_form=False),
)
REGISTRY = {entry.name: entry for entry in _ENTRIES}
METHODS = tuple(REGISTRY)
#: The estimators that need no user weights (simulations and grids have none).
UNWEIGHTED_METHODS = tuple(name for name, entry in REGISTRY.items() if not entry.needs_weights)
_BY_UPPER = {name.upper(): entry for name, entry in REGISTRY.items()}


def lookup(method: str) -> Estimator:
    """The registry entry of ``method`` (any case); :class:`InputError` for an unknown name."""
    try:
        return _BY_UPPER[str(method).upper()]
    except KeyError:
        raise InputError(f"unknown method '{method}'; choose from {', '.join(METHODS)}") from None


def canonical(method: str) -> str:
    """The registry spelling of ``method`` ('hsk' -> 'HSk')."""
    return lookup(method).name


def _run(entry: Estimator, problem: Problem) -> tuple[Values, Values, dict[int, str]]:
    """(tau2 truncated at 0 and 0 where k <= p, iterations, notes by row) of ``entry`` on ``problem``."""
    if entry.needs_weights and problem.user_weights is None:
        raise InputError(f"method {entry.name} estimates tau^2 with user weights: give them (--weights COL)")
    found = entry.function(problem)
    if not isinstance(found, tuple):
        found = (found, 0)
    tau2, iterations, notes = found if len(found) == 3 else (*found, {})
    return problem.where(problem.df > 0, problem.maximum(0.0, tau2), 0.0), iterations, notes


def estimate_tau2(method: str, X: np.ndarray, y: np.ndarray, v: np.ndarray,
                  weights: np.ndarray | None = None) -> Tau2Estimate:
    """tau^2 of one meta-analysis (design X, k x p; effects y; variances v) by ``method``."""
    entry = lookup(method)
    tau2, iterations, notes = _run(entry, Single(X, y, v, weights))
    note = "; ".join(text for text in (notes.get(0, ""), entry.note) if text)
    return Tau2Estimate(float(tau2), iterations=int(iterations), converged=True, note=note)


def estimate_batch(batch: Batch, method: str) -> tuple[np.ndarray, np.ndarray]:
    """tau^2 and iterations of every row of ``batch`` (0 where k <= p)."""
    tau2, iterations, _ = _run(lookup(method), batch)
    return np.asarray(tau2), np.broadcast_to(iterations, (batch.rows,))


def standard_error(method: str, X: np.ndarray, y: np.ndarray, v: np.ndarray, tau2: float,
                   weights: np.ndarray | None = None) -> float:
    """The standard error of the tau^2 estimate (metafor's se.tau2); nan for FE and where k <= p."""
    entry = lookup(method)
    k, p = X.shape
    if entry.se is None or k <= p:
        return float("nan")
    return float(entry.se(Single(X, y, v, weights), tau2))
