"""Simulation grids: every combination of k, tau^2, true effect and study sizes, each cell
simulated with the batched engine and summarised per estimator x CI method x level.

The grid file's format is described in :mod:`grid_file`.

Cells are numbered in the canonical order of ``itertools.product(k, tau2, true_effect,
study_size)``.  Cell i draws its data from ``numpy.random.SeedSequence(master).spawn(n_cells)[i]``
(equivalently ``SeedSequence(master, spawn_key=(i,))``), so the results do not depend on how
many processes or machines run the cells, nor in which order or chunks.

Performance measures and their Monte Carlo standard errors (MCSE) follow Morris, White &
Crowther (2019), "Using simulation studies to evaluate statistical methods", Stat Med
38:2074-2102, Table 6: bias, MSE, coverage and rejection rate ("power").  The MCSE of the
RMSE is that of the MSE by the delta method, MCSE(MSE) / (2 RMSE); the MCSE of the mean CI
width is that of any mean, SD / sqrt(n_sim).
"""
import csv
import json
import math
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np
from numpy.typing import NDArray

from ..common.errors import InputError
from ..common.results import Result
from ..models.batch import Batch, estimate_tau2, fit_batch
from .grid_file import Cell, Grid, StudySize, read_grid, read_text  # noqa: F401  (re-exported)
from .simulate import simulate_effects

if TYPE_CHECKING:
    import pandas as pd

Row = dict[str, Any]
Rows = tuple[Row, ...]

CELL_COLUMNS = ("cell", "k", "tau2", "true_effect", "study_size")
METHOD_COLUMNS = ("estimator", "ci_method", "level")
MEASURES = ("bias", "rmse", "tau2_bias", "tau2_rmse", "coverage", "ci_width", "rejection_rate")
COLUMNS = (CELL_COLUMNS + METHOD_COLUMNS + ("reps", "seed")
           + tuple(name for measure in MEASURES for name in (measure, measure + "_mcse")))
INTEGER_COLUMNS = {"cell", "k", "reps", "seed"}
TEXT_COLUMNS = {"study_size", "estimator", "ci_method"}
def _mean_and_mcse(values: NDArray[np.float64]) -> tuple[float, float]:
    """Mean and its Monte Carlo SE, sqrt(sum (x - mean)^2 / (n (n - 1))) (Morris et al. Table 6, bias)."""
    n = values.size
    return float(values.mean()), float(values.std(ddof=1) / math.sqrt(n))


def _rmse_and_mcse(errors: NDArray[np.float64]) -> tuple[float, float]:
    """RMSE and its MCSE: MSE = mean(e^2) with MCSE sqrt(sum (e^2 - MSE)^2 / (n (n - 1)))
    (Morris et al. Table 6), carried to sqrt(MSE) by the delta method."""
    mse, mse_mcse = _mean_and_mcse(errors ** 2)
    rmse = math.sqrt(mse)
    return rmse, (mse_mcse / (2 * rmse) if rmse > 0 else 0.0)


def _proportion_and_mcse(hits: NDArray[np.bool_]) -> tuple[float, float]:
    """A proportion p and its MCSE sqrt(p (1 - p) / n) (Morris et al. Table 6, coverage and power)."""
    p = float(hits.mean())
    return p, math.sqrt(p * (1 - p) / hits.size)


def cell_seed(master_seed: int, index: int) -> np.random.SeedSequence:
    """The stream of cell ``index``: child ``index`` of ``SeedSequence(master_seed).spawn(...)``."""
    return np.random.SeedSequence(master_seed, spawn_key=(index,))


def run_cell(grid: Grid, cell: Cell, master_seed: int) -> Rows:
    """Simulate one cell and summarise every estimator x CI method x level: a tuple of row dicts."""
    rng = np.random.default_rng(cell_seed(master_seed, cell.index))
    sizes = cell.study_size.draw(cell.k, grid.reps, rng)
    yi, vi = simulate_effects(sizes, cell.tau2, cell.true_effect, rng)
    batch = Batch(yi, vi, np.ones_like(yi))
    rows = []
    for estimator in grid.estimators:
        estimated = estimate_tau2(batch, estimator)
        tau2_error = estimated[0] - cell.tau2
        for ci_method in grid.ci_methods:
            for level in grid.levels:
                fit = fit_batch(batch, method=estimator, ci_method=ci_method, level=level,
                                estimated=estimated)
                error = fit.estimate - cell.true_effect
                lower, upper = fit.ci_lower[:, 0], fit.ci_upper[:, 0]
                measures = {
                    "bias": _mean_and_mcse(error), "rmse": _rmse_and_mcse(error),
                    "tau2_bias": _mean_and_mcse(tau2_error), "tau2_rmse": _rmse_and_mcse(tau2_error),
                    "coverage": _proportion_and_mcse((lower <= cell.true_effect)
                                                     & (cell.true_effect <= upper)),
                    "ci_width": _mean_and_mcse(upper - lower),
                    "rejection_rate": _proportion_and_mcse(fit.p_value[:, 0] < grid.alpha)}
                row = dict(zip(CELL_COLUMNS, cell.key()))
                row.update(estimator=estimator, ci_method=ci_method, level=100 * level, reps=grid.reps,
                           seed=master_seed)
                for name, (value, mcse) in measures.items():
                    row[name], row[name + "_mcse"] = value, mcse
                rows.append(row)
    return tuple(rows)


@dataclass(frozen=True)
class GridResult(Result):
    """The summary of a grid: one row per cell x estimator x CI method x level."""

    grid: str
    seed: int
    reps: int
    cells: int
    rows: Rows

    def to_frame(self) -> "pd.DataFrame":
        import pandas as pd

        return pd.DataFrame(list(self.rows), columns=list(COLUMNS))


def results_text(result: GridResult, path: str | os.PathLike[str]) -> str:
    """The results file's text: CSV (one row per cell x method) or, for ``.json``, ``to_dict()``."""
    if Path(path).suffix.lower() == ".json":
        return json.dumps(result.to_dict(), indent=2) + "\n"
    from ..data.studytable import format_table

    return format_table(list(COLUMNS), result.rows)


def save_results(result: GridResult, path: str | os.PathLike[str]) -> None:
    """Write the results file atomically (a crash leaves the old file or the new one)."""
    from ..common.files import write_atomically

    write_atomically(path, results_text(result, path))


def _typed(row: Mapping[str, Any], path: Path, number: int) -> Row:
    typed = {}
    for name in COLUMNS:
        value = row.get(name)
        if value is None:
            raise InputError("missing value; not a grid results file", file=path, row=number, column=name)
        try:
            typed[name] = (value if name in TEXT_COLUMNS else int(value) if name in INTEGER_COLUMNS
                           else float(value))
        except (ValueError, TypeError):
            raise InputError(f"'{value}' is not a number", file=path, row=number, column=name) from None
    return typed


def read_results(path: str | os.PathLike[str]) -> list[Row]:
    """Rows of a results file written by :func:`save_results` (CSV or JSON), typed."""
    path = Path(path)
    text = read_text(path, "the results to resume")
    if path.suffix.lower() == ".json":
        try:
            rows = json.loads(text)["rows"]
        except (ValueError, KeyError, TypeError):
            raise InputError("not a grid results file (no 'rows')", file=path) from None
    else:
        reader = csv.DictReader(text.splitlines())
        try:
            missing = [name for name in COLUMNS if name not in (reader.fieldnames or COLUMNS)]
            if missing:   # a cut or foreign file: resuming would replace it with the new cells alone
                raise InputError(f"not a grid results file: its header has no {', '.join(missing)}",
                                 file=path, column=missing[0])
            rows = list(reader)
        except csv.Error as error:
            raise InputError(f"not a grid results file ({error})", file=path) from None
    if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
        raise InputError("not a grid results file ('rows' is not a list of objects)", file=path)
    return [_typed(row, path, number) for number, row in enumerate(rows, start=1)]


def finished_cells(grid: Grid, seed: int, rows: Iterable[Row],
                   path: str | os.PathLike[str]) -> dict[int, Rows]:
    """Cells (index -> rows) already complete in ``rows``; an InputError if the rows come from
    another grid or seed, since mixing them would be silently wrong."""
    cells = {cell.index: cell for cell in grid.cells()}
    by_cell: dict[int, list[Row]] = {}
    for number, row in enumerate(rows, start=1):
        cell = cells.get(row["cell"])
        expected = cell.key() if cell is not None else None
        found = tuple(row[name] for name in CELL_COLUMNS)
        if (expected is None or found[:2] + found[4:] != expected[:2] + expected[4:]
                or not np.allclose(found[2:4], expected[2:4], rtol=1e-12, atol=0)):
            raise InputError("this row's cell is not in the grid; resume with the grid that wrote it",
                             file=path, row=number, column="cell")
        if row["seed"] != seed or row["reps"] != grid.reps:
            column = "seed" if row["seed"] != seed else "reps"
            wanted = seed if column == "seed" else grid.reps
            raise InputError(f"written with {column} {row[column]}, not {wanted}",
                             file=path, row=number, column=column)
        by_cell.setdefault(row["cell"], []).append(row)
    return {index: tuple(found) for index, found in by_cell.items() if len(found) == grid.methods_per_cell}


def master_seed(grid: Grid, seed: int | None = None) -> int:
    """The master seed: ``seed``, else the grid's, else fresh entropy (recorded in every row)."""
    if seed is not None:
        return int(seed)
    # SeedSequence() draws its entropy as one int
    return grid.seed if grid.seed is not None else int(cast(int, np.random.SeedSequence().entropy))


def run_grid(grid: Grid, seed: int, *, done: Mapping[int, Rows] | None = None, workers: int = 1,
             scheduler: str | None = None,
             on_cell: Callable[[int, Rows], object] | None = None) -> GridResult:
    """Run the cells not in ``done`` (index -> rows); ``on_cell(index, rows)`` after each finishes.

    Local processes (``concurrent.futures``) by default, in this process when ``workers`` is 1;
    a dask.distributed cluster when ``scheduler`` (an address such as tcp://host:port) is given.
    Returns the :class:`GridResult` with the rows in canonical cell order.
    """
    finished = dict(done or {})
    pending = [cell for cell in grid.cells() if cell.index not in finished]

    def record(cell: Cell, rows: Rows) -> None:
        finished[cell.index] = rows
        if on_cell:
            on_cell(cell.index, rows)

    if scheduler:
        _run_on_dask(grid, seed, pending, scheduler, record)
    elif workers <= 1:
        for cell in pending:
            record(cell, run_cell(grid, cell, seed))
    else:
        _run_in_processes(grid, seed, pending, workers, record)
    return grid_result(grid, seed, finished)


def grid_result(grid: Grid, seed: int, finished: Mapping[int, Rows]) -> GridResult:
    """The :class:`GridResult` of the finished cells (index -> rows), in canonical order."""
    rows = tuple(row for index in sorted(finished) for row in finished[index])
    return GridResult(grid=grid.path, seed=seed, reps=grid.reps, cells=len(grid.cells()), rows=rows)


PARENT_POLL = 0.2   # seconds between a worker's checks that its parent still lives


def _start_worker() -> None:
    """Worker initialiser: Ctrl-C reaches the parent, which stops handing out cells; a parent
    that dies (even by SIGKILL, which runs no clean-up) takes its workers with it: a watch
    thread ends the worker once it is handed to another parent."""
    import signal
    import threading

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_POLL)
        os._exit(1)

    threading.Thread(target=watch, daemon=True, name="compassmeta-parent-watch").start()


def _run_in_processes(grid: Grid, seed: int, cells: Sequence[Cell], workers: int,
                      record: Callable[[Cell, Rows], None]) -> None:
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    executor = ProcessPoolExecutor(max_workers=workers, initializer=_start_worker)
    try:
        running = {executor.submit(run_cell, grid, cell, seed): cell for cell in cells}
        while running:
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                record(running.pop(future), future.result())
    except BaseException:
        executor.shutdown(wait=False, cancel_futures=True)
        raise
    executor.shutdown(wait=True)


def _run_on_dask(grid: Grid, seed: int, cells: Sequence[Cell], scheduler: str,
                 record: Callable[[Cell, Rows], None]) -> None:
    """Cells as dask tasks; a cell lost with a dying worker is recomputed on another one
    (dask reschedules it; ``retries`` also covers errors raised inside a task)."""
    try:
        from distributed import Client, as_completed
    except ImportError:
        raise InputError("--scheduler needs dask.distributed: "
                         "pip install 'compassmeta[distributed]'") from None
    try:
        client = Client(scheduler, timeout="20s")
    except OSError as error:
        raise InputError(f"cannot reach the scheduler {scheduler}: {error}") from None
    try:
        futures = {client.submit(run_cell, grid, cell, seed, key=f"compassmeta-cell-{seed}-{cell.index}",
                                 retries=2, pure=False): cell for cell in cells}
        # as_completed runs on this client's loop (its default is the process's default client,
        # which need not be this one) and fetches each result there, so a key lost with a dying
        # worker after it finished is re-gathered inside dask instead of from this thread.
        for future, rows in as_completed(futures, loop=client.loop, with_results=True):
            record(futures[future], rows)
    finally:
        client.close()
