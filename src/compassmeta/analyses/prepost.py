"""Sensitivity of the pooled effect to the assumed pre-post correlation (``pool --prepost-r``).

A pre_post row's g comes from the change scores, whose SD needs the correlation r between pre- and
post-test, which trials rarely print (Cochrane Handbook 6.5.2.8).  :func:`prepost_sensitivity`
recomputes every pre_post row with each assumed r (the other rows keep their g) and pools again
with the same model, so that a reader sees how far the pooled g moves with r.  A pre_post_smcr row
(SMCR; its variance 2(1 - r)/n + yi^2/(2n) per arm, Becker 1988) is recomputed the same way.
"""
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from ..common.errors import InputError
from ..common.results import INTERNAL, Result
from ..data.studytable import row_effect

KEPT = ("estimate", "se", "ci_lower", "ci_upper", "pi_lower", "pi_upper", "tau2", "i2")
ASSUMED_R_ROUTES = ("pre_post", "pre_post_smcr")   # the stat_types whose effect needs prepost_r


@dataclass(frozen=True)
class PrePostSensitivity(Result):
    """``result`` (the pooled model at each row's own prepost_r) and, per assumed r, the pooled
    effect with every pre_post row recomputed at r (``prepost_sensitivity`` in the dict)."""

    result: Result = field(metadata=INTERNAL)
    k_pre_post: int
    fits: tuple[dict[str, Any], ...]  # one dict per r: prepost_r and the KEPT values of its pooled model

    def to_dict(self) -> dict[str, Any]:
        return {**self.result.to_dict(), "prepost_sensitivity": {"k_pre_post": self.k_pre_post,
                                                                 "fits": [dict(fit) for fit in self.fits]}}

    def text(self) -> str:
        """The table of assumed r against the pooled estimate, its CI and PI."""
        lines = [f"Pre-post correlation sensitivity ({self.k_pre_post} pre_post row(s) recomputed at "
                 "each r):",
                 f"  {'r':>5}  {'estimate':>9}  {'CI':>20}  {'PI':>20}"]
        for fit in self.fits:
            ci = f"[{fit['ci_lower']:.4f}, {fit['ci_upper']:.4f}]"
            pi = "" if fit["pi_lower"] is None else f"[{fit['pi_lower']:.4f}, {fit['pi_upper']:.4f}]"
            lines.append(f"  {fit['prepost_r']:>5.2f}  {fit['estimate']:>9.4f}  {ci:>20}  {pi:>20}")
        return "\n".join(lines)


def prepost_sensitivity(rows: Sequence[Mapping[str, Any]], yi: ArrayLike, vi: ArrayLike,
                        correlations: Sequence[float], fit: Callable[[Any, Any], Result],
                        result: Result) -> PrePostSensitivity:
    """Pool again with every pre_post row of the typed study ``rows`` at each r in ``correlations``.

    ``yi``, ``vi``: the rows' effects as pooled in ``result``; ``fit(yi, vi)`` pools with the
    same model and options.
    """
    for r in correlations:
        if not -1 <= r <= 1:
            raise InputError(f"--prepost-r: a correlation must lie in [-1, 1], got {r:g}")
    pre_post = [i for i, row in enumerate(rows) if row["stat_type"] in ASSUMED_R_ROUTES]
    smcr = any(rows[i]["stat_type"] == "pre_post_smcr" for i in pre_post)
    if smcr and any(abs(r) >= 1 for r in correlations):
        raise InputError("--prepost-r: SMCR (pre_post_smcr rows) needs correlations strictly inside (-1, 1)")
    fits = []
    for r in correlations:
        yi_r, vi_r = np.array(yi, dtype=float), np.array(vi, dtype=float)
        for i in pre_post:
            yi_r[i], vi_r[i] = row_effect({**rows[i], "prepost_r": r})
        pooled = fit(yi_r, vi_r).to_dict()
        fits.append({"prepost_r": float(r), **{key: pooled.get(key) for key in KEPT}})
    return PrePostSensitivity(result, len(pre_post), tuple(fits))
