"""Simulation of random-effects meta-analyses, to compare estimators and CI methods.

Data of one replicate (k studies): arm sizes n ~ uniform integers on [n_min, n_max] (equal
arms), true effects theta_i ~ N(mu, tau^2), observed g_i ~ N(theta_i, 2/n + theta_i^2/(4n)),
analysed with the usual estimate of its variance, v_i = 2/n + g_i^2/(4n) (the large-sample
variance of g, as metafor's escalc, with n1 = n2 = n).  All replicates are fitted at once by
the batched engine.
"""
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from ..common.errors import InputError
from ..common.parallel import map_in_threads
from ..common.results import Result
from ..models.batch import Batch, fit_batch

if TYPE_CHECKING:
    import pandas as pd

ESTIMATORS = ("DL", "HE", "HS", "SJ", "ML", "REML", "EB", "PM")
CI_METHODS = ("z", "knha")


@dataclass(frozen=True)
class EstimatorPerformance(Result):
    method: str
    ci_method: str
    bias: float
    rmse: float
    coverage: float
    power: float
    tau2_bias: float
    mean_ci_width: float


@dataclass(frozen=True)
class SimulationResult(Result):
    k: int
    tau2: float
    true_effect: float
    reps: int
    seed: int | None
    n_min: int
    n_max: int
    level: float
    performance: tuple[EstimatorPerformance, ...]

    def to_frame(self) -> "pd.DataFrame":
        import pandas as pd

        return pd.DataFrame([row.to_dict() for row in self.performance])

    def __str__(self) -> str:
        from .printing import simulation_table

        return simulation_table(self)


def simulate_data(k: int, tau2: float, true_effect: float, reps: int, rng: np.random.Generator,
                  n_min: int = 20, n_max: int = 100) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """(yi, vi) arrays of shape (reps, k) as described in the module docstring."""
    if k < 2 or reps < 1 or tau2 < 0 or n_min < 2 or n_max < n_min:
        raise InputError("simulate needs k >= 2, reps >= 1, tau2 >= 0 and 2 <= n_min <= n_max")
    n = rng.integers(n_min, n_max + 1, size=(reps, k)).astype(float)
    return simulate_effects(n, tau2, true_effect, rng)


def simulate_effects(n: NDArray[np.float64], tau2: float, true_effect: float,
                     rng: np.random.Generator) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """(yi, vi) of studies with arm sizes ``n`` (an array (reps, k)), as in the module docstring."""
    theta = rng.normal(true_effect, np.sqrt(tau2), size=n.shape)
    yi = rng.normal(theta, np.sqrt(2 / n + theta ** 2 / (4 * n)))
    return yi, 2 / n + yi ** 2 / (4 * n)


def simulate(k: int, tau2: float, true_effect: float, reps: int, *, seed: int | None = None,
             methods: Sequence[str] = ESTIMATORS, ci_methods: Sequence[str] = CI_METHODS, n_min: int = 20,
             n_max: int = 100, level: float = 0.95, alpha: float = 0.05,
             progress: Callable[[int], object] | None = None, workers: int = 2) -> SimulationResult:
    """Bias, RMSE, CI coverage and power of each estimator and CI method on the same data."""
    yi, vi = simulate_data(k, tau2, true_effect, reps, np.random.default_rng(seed), n_min, n_max)
    batch = Batch(yi, vi, np.ones((reps, k)))

    def run(method: str) -> list[EstimatorPerformance]:
        rows = []
        for ci_method in ci_methods:
            result = fit_batch(batch, method=method, ci_method=ci_method, level=level)
            estimate = result.estimate
            lower, upper = result.ci_lower[:, 0], result.ci_upper[:, 0]
            rows.append(EstimatorPerformance(
                method=method, ci_method=ci_method, bias=float(np.mean(estimate - true_effect)),
                rmse=float(np.sqrt(np.mean((estimate - true_effect) ** 2))),
                coverage=float(np.mean((lower <= true_effect) & (true_effect <= upper))),
                power=float(np.mean(result.p_value[:, 0] < alpha)),
                tau2_bias=float(np.mean(result.tau2 - tau2)),
                mean_ci_width=float(np.mean(upper - lower))))
        if progress:
            progress(1)
        return rows

    performance = [row for rows in map_in_threads(run, methods, workers) for row in rows]
    return SimulationResult(k=k, tau2=tau2, true_effect=true_effect, reps=reps, seed=seed, n_min=n_min,
                            n_max=n_max, level=100 * level, performance=tuple(performance))
