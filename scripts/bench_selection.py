#!/usr/bin/env python3
"""Speed of the selection model: one 3PSM (stepfun, steps 0.025, ML) on k = 50 against metafor's
selmodel() timed inside R in the same run, and one 3PSM on k = 10,000.

    python scripts/bench_selection.py      (also run by scripts/bench.py)

A full fit is timed: estimates, Hessian SEs, the LRT of delta and the LRT of tau^2, as
selmodel() computes them.
"""
import os
import tempfile

import numpy as np

from benchlib import median_seconds, r_peers_line, r_seconds
from compassmeta.analyses.selection import selection_model


def selected_data(k, seed=20261124):
    """k published studies: effects N(0.3, v + 0.05), nonsignificant ones kept with probability 0.5."""
    rng = np.random.default_rng(seed)
    yi, vi = [], []
    while len(yi) < k:
        v = rng.uniform(0.01, 0.1)
        y = rng.normal(0.3, np.sqrt(v + 0.05))
        if y / np.sqrt(v) > 1.96 or rng.random() < 0.5:
            yi.append(y)
            vi.append(v)
    return np.array(yi), np.array(vi)


def metafor_seconds(yi, vi, repeats):
    """Median seconds of rma(method = "ML") + selmodel(type = "stepfun", steps = 0.025) inside R."""
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "d.csv")
        np.savetxt(path, np.column_stack([yi, vi]), delimiter=",", header="yi,vi", comments="")
        return r_seconds(f'd <- read.csv("{path}"); '
                         'fit <- function() selmodel(rma(d$yi, d$vi, method = "ML"), type = "stepfun", '
                         'steps = 0.025); invisible(fit()); '
                         f'times <- sapply(seq_len({repeats}), function(i) {{ '
                         f't0 <- proc.time()[["elapsed"]]; fit(); proc.time()[["elapsed"]] - t0 }}); '
                         'cat(median(times))')


def main():
    yi, vi = selected_data(50)
    fit = lambda: selection_model(yi, vi, type="stepfun", steps=(0.025,), method="ML")  # noqa: E731
    fit()
    ours = median_seconds(fit, 20)
    theirs = metafor_seconds(yi, vi, 20)
    print("\n3PSM (stepfun, steps 0.025, ML), k = 50: time per full fit")
    print(f"  compassmeta selection_model   {ours * 1e3:9.2f} ms")
    if theirs is not None:
        print(f"  metafor selmodel()            {theirs * 1e3:9.2f} ms   ratio {theirs / ours:6.1f}x")
    big_yi, big_vi = selected_data(10_000)
    big = median_seconds(lambda: selection_model(big_yi, big_vi, type="stepfun", steps=(0.025,),
                                                 method="ML"), 3)
    print(f"3PSM, k = 10,000: {big:.3f} s per full fit (target < 1 s)")


if __name__ == "__main__":
    print(r_peers_line())
    main()
