#!/usr/bin/env python3
"""Speed of simulation grids (`compassmeta simulate --grid`), measured in one run.

    python scripts/bench_grid.py            # also called by scripts/bench.py

  * the issue's target: 500 cells x 10,000 replications of k = 20 REML meta-analyses
    (5,000,000 fits) on 2 local worker processes (target: under 2 minutes);
  * 1 against 2 local workers on 50 of those cells;
  * cells per second against the single-condition `simulate` (the library call with REML and
    Wald z only, one cell at a time, and the `compassmeta simulate` command, which fits all 8
    estimators x 2 CI methods per condition) and against metafor's rma() in an R loop
    (measured on 300 replications, scaled to 10,000).
Times are wall-clock; on a shared machine they are noisy, so compare ratios from the same run.
"""
import os
import shutil
import subprocess
import sys
import tempfile

from benchlib import HAVE_R, r_peers_line, rscript, timed
from compassmeta.analyses import grid as grids
from compassmeta.analyses.simulate import simulate

REPS = 10_000
TARGET = """reps = {reps}
seed = 20261124
k = 20
tau2 = [{tau2}]
true_effect = [{effects}]
estimators = "REML"
ci_methods = "z"
"""


def target_grid(folder, tau2_count=50, effect_count=10):
    """500 cells (50 tau^2 x 10 true effects), k = 20, REML, Wald z."""
    path = os.path.join(folder, f"grid{tau2_count}x{effect_count}.toml")
    with open(path, "w") as handle:
        handle.write(TARGET.format(reps=REPS, tau2=", ".join(f"{0.01 * i:g}" for i in range(tau2_count)),
                                   effects=", ".join(f"{0.1 * i:g}" for i in range(effect_count))))
    return grids.read_grid(path)


def metafor_cells_per_second(reps=300):
    """rma(method = "REML") on k = 20 simulated g's in an R loop, scaled to 10,000 replications."""
    if not HAVE_R:
        return None
    script = (f"set.seed(1); t0 <- proc.time()[['elapsed']]; "
              f"for (i in 1:{reps}) {{ n <- sample(20:100, 20, replace = TRUE); "
              "theta <- rnorm(20, 0.4, sqrt(0.05)); g <- rnorm(20, theta, sqrt(2/n + theta^2/(4*n))); "
              "rma(g, 2/n + g^2/(4*n), method = 'REML') }; cat(proc.time()[['elapsed']] - t0)")
    out = rscript(script).strip()
    return 1 / (float(out) * REPS / reps)


def main():
    print(f"\nSimulation grids (python {sys.version.split()[0]}, {os.cpu_count()} cores; "
          "the machine may be shared: compare ratios within this run)")
    print(f"  {r_peers_line()}")
    with tempfile.TemporaryDirectory() as folder:
        grid = target_grid(folder)
        cells = len(grid.cells())
        two = timed(lambda: grids.run_grid(grid, grid.seed, workers=2))
        print(f"  {cells} cells x {REPS:,} reps, k = 20 REML ({cells * REPS:,} fits), 2 workers: "
              f"{two:.1f} s = {cells / two:.1f} cells/s = {cells * REPS / two:,.0f} fits/s "
              f"(target < 120 s: {'met' if two < 120 else 'NOT met'})")
        small = target_grid(folder, 5, 10)
        one_worker = timed(lambda: grids.run_grid(small, small.seed, workers=1))
        two_workers = timed(lambda: grids.run_grid(small, small.seed, workers=2))
        print(f"  50 cells: 1 worker {one_worker:.1f} s, 2 workers {two_workers:.1f} s "
              f"(speed-up {one_worker / two_workers:.2f}x)")
        rates = {"grid, 2 workers": cells / two}
        single = timed(lambda: [simulate(20, 0.05, 0.1 * i, REPS, seed=i, methods=("REML",),
                                         ci_methods=("z",)) for i in range(10)])
        rates["simulate() library call per cell (REML, z)"] = 10 / single
        command = [shutil.which("compassmeta") or "compassmeta", "simulate", "--k", "20", "--tau2", "0.05",
                   "--true-effect", "0.4", "--reps", str(REPS), "--seed", "1"]
        rates["`compassmeta simulate` command per cell (8 estimators x 2 CIs)"] = 3 / timed(
            lambda: [subprocess.run(command, check=True, capture_output=True) for _ in range(3)])
        metafor = metafor_cells_per_second()
        if metafor is not None:
            rates["metafor rma() loop (300 reps, scaled)"] = metafor
    for name, rate in rates.items():
        print(f"  {name:66s} {rate:10.3f} cells/s   grid is {rates['grid, 2 workers'] / rate:8.1f}x")


if __name__ == "__main__":
    main()
