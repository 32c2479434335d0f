"""Case deletion: every fit without one study in turn (metafor influence(), leave1out()), for the
influence diagnostics of :mod:`.sensitivity` and the report's leave-one-out range; intercept-only
models under Wald z run together on the batched engine (models.batch)."""
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from ..common import distributions as dist
from ..models.model import ModelFit, fit_model
from ..models.wls import inverse

if TYPE_CHECKING:
    from ..models.batch import BatchResult

BATCH_CELLS = 1_000_000   # studies x fits per batch of case-deletion fits (8 MB per array)


def case_deletion(X: np.ndarray, yi: np.ndarray, vi: np.ndarray, *, terms: Iterable[str],
                  method: str = "REML", ci_method: str = "z",
                  level: float = 0.95) -> tuple[dict[str, np.ndarray], np.ndarray, ModelFit]:
    """metafor influence() of a mixed-effects model with design ``X`` (Viechtbauer & Cheung 2010):
    a dict of arrays over the studies, ``dfbetas`` (k x p), and the fitted full model.

    With b_(-i), Vb_(-i), tau^2_(-i), s^2_(-i) (the Knapp-Hartung factor, 1 under z) of the fit
    without study i, and H = X (X'WX)^-1 X'W of the full fit:
    rstudent = (y_i - x_i'b_(-i)) / sqrt(s^2_(-i) (v_i + tau^2_(-i)) + x_i'Vb_(-i) x_i);
    DFFITS = x_i'(b - b_(-i)) / sqrt(s^2_(-i) h_i (tau^2_(-i) + v_i));
    Cook's D = (b - b_(-i))' Vb^-1 (b - b_(-i)); COVRATIO = det Vb_(-i) / det Vb;
    DFBETAS = (b - b_(-i)) / sqrt(s^2_(-i) diag (X'W_(-i)X)^-1), W_(-i) = diag 1/(v + tau^2_(-i));
    rstandard = (y_i - x_i'b) / sqrt([(I - H) M (I - H)']_ii), M = diag(v + tau^2).
    """
    k, p = X.shape
    full = fit_model(X, yi, vi, terms=terms, method=method, ci_method=ci_method, level=level)
    w = full.weights
    unscaled = inverse(X.T @ (w[:, None] * X))
    H = X @ unscaled @ (X * w[:, None]).T
    residual_maker = np.eye(k) - H
    marginal_var = np.einsum("ij,j,ij->i", residual_maker, vi + full.tau2, residual_maker)
    out: dict[str, np.ndarray] = {name: np.empty(k) for name in ("rstudent", "dffits", "cook_d", "cov_r",
                                                                  "tau2_del", "qe_del")}
    dfbetas, changes = np.empty((k, p)), np.empty((k, p))
    precision = inverse(full.vcov)
    for i, deleted in enumerate(_deleted_fits(X, yi, vi, terms, method, ci_method, level)):
        scale = _knapp_hartung_scale(deleted)
        tau2_del = deleted.tau2
        change = changes[i] = full.beta - deleted.beta
        predicted, var_predicted = X[i] @ deleted.beta, X[i] @ deleted.vcov @ X[i]
        out["rstudent"][i] = (yi[i] - predicted) / np.sqrt(scale * (vi[i] + tau2_del) + var_predicted)
        out["dffits"][i] = X[i] @ change / np.sqrt(scale * H[i, i] * (tau2_del + vi[i]))
        out["cook_d"][i] = change @ precision @ change
        out["cov_r"][i] = np.linalg.det(deleted.vcov) / np.linalg.det(full.vcov)
        out["tau2_del"][i], out["qe_del"][i] = tau2_del, deleted.q
        at_tau2_del = inverse(X.T @ (X / (vi + tau2_del)[:, None]))
        dfbetas[i] = change / np.sqrt(scale * np.diag(at_tau2_del))
    out["rstandard"] = (yi - X @ full.beta) / np.sqrt(marginal_var)
    out["hat"], out["weight"] = np.diag(H).copy(), 100.0 * w / w.sum()
    out["influential"] = (np.abs(out["dffits"]) > 3 * np.sqrt(p / (k - p)))
    out["influential"] |= dist.chi2_cdf(out["cook_d"], p) > 0.5
    out["influential"] |= (out["hat"] > 3 * p / k) | (np.abs(dfbetas) > 1).any(axis=1)
    out["change"] = changes
    return out, dfbetas, full


def batched_leave_one_out(yi: np.ndarray, vi: np.ndarray, *, method: str = "REML",
                          level: float = 0.95) -> Iterator[tuple[np.ndarray, "BatchResult"]]:
    """The intercept-only fits (Wald z) without each study in turn, run together on the batched
    engine (models.batch: the same tau^2 estimators as one fit, tests/test_batch.py; a fit that
    does not converge raises), in chunks of at most BATCH_CELLS studies x fits: yields (the
    indices left out, their BatchResult)."""
    from ..models.batch import Batch, fit_batch

    k = yi.size
    step = max(1, BATCH_CELLS // k)
    for start in range(0, k, step):
        left_out = np.arange(start, min(k, start + step))
        mask = np.ones((left_out.size, k))
        mask[np.arange(left_out.size), left_out] = 0.0
        yield left_out, fit_batch(Batch(yi, vi, mask), method=method, level=level)


def _deleted_fits(X: np.ndarray, yi: np.ndarray, vi: np.ndarray, terms: Iterable[str], method: str,
                  ci_method: str, level: float) -> Iterator[Any]:
    """The fit without each study in turn (its tau2, beta, vcov, q, ci_method): batched
    (:func:`batched_leave_one_out`) for an intercept-only model under Wald z, else one at a time
    (a ModelFit, or a namespace with those fields)."""
    from types import SimpleNamespace

    k = yi.size
    if X.shape[1] == 1 and ci_method == "z":
        for left_out, fits in batched_leave_one_out(yi, vi, method=method, level=level):
            yield from (SimpleNamespace(tau2=fits.tau2[r], beta=fits.beta[r], vcov=fits.se[r, :, None] ** 2,
                                        q=fits.q[r], ci_method="z") for r in range(left_out.size))
        return
    keep = np.ones(k, dtype=bool)
    for i in range(k):
        keep[i] = False
        yield fit_model(X[keep], yi[keep], vi[keep], terms=terms, method=method, ci_method=ci_method,
                        level=level)
        keep[i] = True


def _knapp_hartung_scale(fit: ModelFit) -> float:
    """s^2 of the Knapp-Hartung adjustment of a fit (1 under Wald z): vcov = s^2 (X'WX)^-1."""
    if fit.ci_method != "knha":
        return 1.0
    unscaled = inverse(fit.X.T @ (fit.weights[:, None] * fit.X))
    return float(fit.vcov[0, 0] / unscaled[0, 0])
