"""Simulation grids (compassmeta.analyses.grid, `compassmeta simulate --grid`)."""
import csv
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from compassmeta.analyses import grid as grids
from compassmeta.cli import main
from compassmeta.common.errors import InputError

ROOT = Path(__file__).resolve().parents[1]
SMALL = """
reps = 300
seed = 7
k = [2, 4]
tau2 = [0.0, 0.1]
true_effect = [0.0, 0.3]
estimators = ["DL", "REML"]
ci_methods = ["z", "knha"]
level = [90, 95]
[[study_size]]
n_min = 20
n_max = 60
[[study_size]]
n = 20
large_fraction = 0.25
large_factor = 10
"""


@pytest.fixture
def small_grid(tmp_path):
    path = tmp_path / "small.toml"
    path.write_text(SMALL)
    return grids.read_grid(path)


def test_toml_and_json_grids_are_the_same_grid(tmp_path, small_grid):
    import tomllib

    path = tmp_path / "small.json"
    path.write_text(json.dumps(tomllib.loads(SMALL)))
    as_json = grids.read_grid(path)
    assert as_json.cells() == small_grid.cells() and len(small_grid.cells()) == 16
    assert small_grid.levels == (0.90, 0.95) and small_grid.methods_per_cell == 8
    # canonical order: the last factor (study sizes) varies fastest
    first, second = small_grid.cells()[:2]
    assert (first.k, first.tau2, first.true_effect) == (second.k, second.tau2, second.true_effect)
    assert first.study_size != second.study_size


@pytest.mark.parametrize("text, column", [
    ("reps = 10\nk = [2]\ntau2 = 0\ntrue_effect = 0\nmethods = ['DL']", "methods"),
    ("reps = 10\nk = [1]\ntau2 = 0\ntrue_effect = 0", "k"),
    ("reps = 10\nk = [2]\ntau2 = -1\ntrue_effect = 0", "tau2"),
    ("reps = 10\nk = 2\ntau2 = 0", "true_effect"),
    ("reps = 10\nk = 2\ntau2 = 0\ntrue_effect = 0\nestimators = ['XX']", "estimators"),
    ("reps = 10\nk = 2\ntau2 = 0\ntrue_effect = 0\nstudy_size = {n_min = 50, n_max = 20}", "study_size"),
    ("reps = 10\nk = [1000000000000]\ntau2 = 0\ntrue_effect = 0", "k"),       # was MemoryError, 146 TiB
    ("reps = 100000\nk = [1000]\ntau2 = 0\ntrue_effect = 0", "k"),           # 10^8 draws per array
    ("reps = 10\nk = [2]\ntau2 = 0\ntrue_effect = inf", "true_effect"),      # was ZeroDivisionError
    ("reps = 10\nk = [2]\ntau2 = nan\ntrue_effect = 0", "tau2"),             # was accepted
    ("reps = 10\nk = [2]\ntau2 = 0\ntrue_effect = 0\nlevel = nan", "level"),
    ("reps = 10\nk = [" + "9" * 400 + "]\ntau2 = 0\ntrue_effect = 0", "k"),   # was OverflowError
    ("reps = " + "9" * 400 + "\nk = [2]\ntau2 = 0\ntrue_effect = 0", "reps"),
])
def test_bad_grids_name_the_key(tmp_path, text, column):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(InputError) as error:
        grids.read_grid(path)
    assert error.value.column == column and error.value.file == path


def test_a_grid_in_utf16_is_one_line_naming_the_file(tmp_path):
    path = tmp_path / "grid.toml"
    path.write_text("reps = 10\nk = [2]\ntau2 = 0\ntrue_effect = 0\n", encoding="utf-16")
    result = CliRunner().invoke(main, ["simulate", "--grid", str(path)])
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        f"Error: {path}: cannot read the grid: not UTF-8 text (byte 0)"]


def test_bad_grid_on_the_command_line_is_one_line_exit_2(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("reps = 10\nk = [1]\ntau2 = 0\ntrue_effect = 0\n")
    result = CliRunner().invoke(main, ["simulate", "--grid", str(path)])
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines()[-1] == f"Error: {path}, column 'k': 'k' must be >= 2"


@pytest.mark.parametrize("options, message", [
    # one condition's options were not checked: MemoryError (72.8 TiB), TypeError, ValueError
    (["--k", "1000000000000", "--tau2", "0", "--true-effect", "0.4", "--reps", "10"],
     "Invalid value for --k: 'k' must lie within +-1e+09"),
    (["--k", "9" * 400, "--tau2", "0", "--true-effect", "0.4", "--reps", "10"],
     "Invalid value for --k: 'k' must lie within +-1e+09"),
    (["--k", "10", "--tau2", "0", "--true-effect", "inf", "--reps", "10"],
     "Invalid value for --true-effect: 'true_effect' must hold finite numbers (no inf or nan)"),
    (["--k", "10", "--tau2", "nan", "--true-effect", "0.4", "--reps", "10"],
     "Invalid value for --tau2: 'tau2' must hold finite numbers (no inf or nan)"),
    (["--k", "100000", "--tau2", "0", "--true-effect", "0.4", "--reps", "1000"],
     "Invalid value for --k: reps x k = 1,000 x 100,000 values per cell is more than 10,000,000 "
     "(the arrays would not fit in memory); lower reps or k"),
    (["--grid", "GRID", "--reps", "1000000000000"],
     "Invalid value for --reps: 'reps' must lie within +-1e+09"),
    (["--grid", "GRID", "--reps", "5000000"],      # the grid's k = [2, 4]: was MemoryError at 10^12
     "Invalid value for --reps: reps x k = 5,000,000 x 4 values per cell is more than 10,000,000 "
     "(the arrays would not fit in memory); lower reps or k"),
])
def test_factors_given_as_options_are_checked_as_the_grid_file_checks_them(tmp_path, options, message):
    grid = tmp_path / "small.toml"
    grid.write_text(SMALL)
    result = CliRunner().invoke(main, ["simulate", *[str(grid) if o == "GRID" else o for o in options]])
    assert result.exit_code == 2 and "unexpected" not in result.output, result.output
    assert result.stderr.strip().splitlines()[-1] == f"Error: {message}"


def test_cell_streams_are_the_spawned_children_of_the_master_seed(small_grid):
    children = np.random.SeedSequence(12345).spawn(len(small_grid.cells()))
    for cell, child in zip(small_grid.cells(), children):
        assert np.array_equal(grids.cell_seed(12345, cell.index).generate_state(4), child.generate_state(4))


def test_same_seed_same_results_in_any_chunking(small_grid):
    one_core = grids.run_grid(small_grid, 99)
    two_processes = grids.run_grid(small_grid, 99, workers=2)
    cells = small_grid.cells()
    # chunked: odd cells first, then the rest resumed from them, as another machine would
    odd = {c.index: grids.run_cell(small_grid, c, 99) for c in reversed(cells) if c.index % 2}
    chunked = grids.run_grid(small_grid, 99, done=odd)
    assert one_core == two_processes == chunked
    assert len(one_core.rows) == 16 * 8
    assert grids.run_grid(small_grid, 100).rows != one_core.rows


def test_monte_carlo_formulas_are_those_of_morris_white_crowther_table_6():
    """Table 6 of Morris, White & Crowther (2019, Stat Med 38:2074): MCSE(bias) =
    sqrt(sum (x_i - mean)^2 / (n (n - 1))); MCSE(MSE) = sqrt(sum ((x_i - t)^2 - MSE)^2 / (n (n - 1)));
    MCSE(coverage) = sqrt(cover (1 - cover) / n)."""
    x = np.array([0.3, -0.1, 0.25, 0.05, 0.6, -0.2, 0.15])
    n = x.size
    mean, mcse = grids._mean_and_mcse(x)
    assert mean == pytest.approx(sum(x) / n, rel=1e-14)
    assert mcse == pytest.approx(math.sqrt(sum((xi - mean) ** 2 for xi in x) / (n * (n - 1))), rel=1e-14)
    mse = sum(xi ** 2 for xi in x) / n
    mse_mcse = math.sqrt(sum((xi ** 2 - mse) ** 2 for xi in x) / (n * (n - 1)))
    rmse, rmse_mcse = grids._rmse_and_mcse(x)
    assert rmse == pytest.approx(math.sqrt(mse), rel=1e-14)
    assert rmse_mcse == pytest.approx(mse_mcse / (2 * math.sqrt(mse)), rel=1e-14)  # delta method
    hits = np.array([True] * 18 + [False] * 2)
    assert grids._proportion_and_mcse(hits) == pytest.approx((0.9, math.sqrt(0.9 * 0.1 / 20)), rel=1e-14)


def _grid(tmp_path, text, name="g.toml"):
    path = tmp_path / name
    path.write_text(text)
    return grids.read_grid(path)


def test_monte_carlo_standard_errors_match_the_spread_over_seeds(tmp_path):
    """The MCSE of one run predicts how much the measure moves between independent runs."""
    grid = _grid(tmp_path, "reps = 400\nk = 5\ntau2 = 0.1\ntrue_effect = 0.2\nestimators = 'REML'\n"
                           "ci_methods = 'z'\n")
    cell = grid.cells()[0]
    runs = [grids.run_cell(grid, cell, seed)[0] for seed in range(60)]
    for measure in ("bias", "rmse", "tau2_bias", "coverage", "ci_width"):
        spread = np.std([run[measure] for run in runs], ddof=1)
        mcse = np.mean([run[measure + "_mcse"] for run in runs])
        # the SD of 60 draws is within ~25% of the truth with high probability
        assert 0.7 < spread / mcse < 1.35, measure


def test_fixed_effect_coverage_is_nominal_without_heterogeneity(tmp_path):
    """Closed-form check (not a published number): with tau^2 = 0 and (nearly) known variances
    (arms of 2,000, so v_i = 2/n + g^2/(4n) equals the true 2/n to 1e-5) the FE estimate is
    normal with variance 1/sum(w), so its 95% and 80% Wald CIs cover at exactly their levels
    and the test of effect = 0 rejects at alpha."""
    grid = _grid(tmp_path, "reps = 20000\nseed = 3\nk = [3, 8]\ntau2 = 0\ntrue_effect = 0\nlevel = [80, 95]\n"
                           "estimators = 'FE'\nci_methods = 'z'\nstudy_size = {n_min = 2000, n_max = 2000}\n")
    result = grids.run_grid(grid, grid.seed)
    for row in result.rows:
        assert abs(row["coverage"] - row["level"] / 100) < 3.5 * row["coverage_mcse"]
        assert abs(row["bias"]) < 3.5 * row["bias_mcse"]
        assert abs(row["rejection_rate"] - 0.05) < 3.5 * math.sqrt(0.05 * 0.95 / grid.reps)


def test_dl_and_hksj_error_rates_under_large_heterogeneity_and_equal_variances(tmp_path):
    """Closed form (derived, not a published number): with equal sampling variances v and
    tau^2 >> v (so tau^2 is never truncated), DL's tau^2 + v equals the sample variance s^2 of
    the k effects, and the Wald z statistic is the one-sample t statistic ybar / (s / sqrt(k))
    referred to the normal: its error rate is P(|t_(k-1)| > z_0.975) (30.03% at k = 2, the
    Cauchy case); Knapp-Hartung's is that same t test referred to t_(k-1), exact at 5%.
    Arms of 5,000 make v = 0.0004 (nearly equal), tau^2 = 0.5 is 1,250 times larger."""
    from scipy import stats

    grid = _grid(tmp_path, "reps = 40000\nseed = 5\nk = [2, 3, 5]\ntau2 = 0.5\ntrue_effect = 0\n"
                           "estimators = 'DL'\nci_methods = ['z', 'knha']\n"
                           "study_size = {n_min = 5000, n_max = 5000}\n")
    for row in grids.run_grid(grid, grid.seed).rows:
        exact = (2 * stats.t.sf(stats.norm.ppf(0.975), row["k"] - 1) if row["ci_method"] == "z" else 0.05)
        assert abs(row["rejection_rate"] - exact) < 3.5 * math.sqrt(exact * (1 - exact) / grid.reps), row


def test_inthout_2014_error_rates():
    """IntHout, Ioannidis & Borm (2014), BMC Med Res Methodol 14:25, Abstract, Results: "When
    the significance level was 5%, the HKSJ error rates at most doubled, whereas for DL they
    could be over 30%. DL, and, far less so, HKSJ had more inflated error rates when the
    combined studies had unequal sizes and between-study heterogeneity."  Their design (2-20
    trials, 25% of them 10 times larger) is scripts/grids/inthout2014.toml; their arm sizes and
    heterogeneity values are not in the abstract, so what is checked is the published bound
    (HKSJ <= 10% within 3 MCSE everywhere) and the published ordering; DL reaches 29% here,
    not over 30%, in this grid (see docs/limitations.md)."""
    grid = grids.read_grid(ROOT / "scripts" / "grids" / "inthout2014.toml")
    import dataclasses

    grid = dataclasses.replace(grid, reps=4000)
    rows = grids.run_grid(grid, grid.seed, workers=2).rows
    hksj = [row for row in rows if row["ci_method"] == "knha"]
    dl = [row for row in rows if row["ci_method"] == "z"]
    assert all(row["rejection_rate"] <= 0.10 + 3 * row["rejection_rate_mcse"] for row in hksj)
    assert max(row["rejection_rate"] for row in dl) > 0.25
    assert max(row["rejection_rate"] for row in dl) > 2.5 * max(row["rejection_rate"] for row in hksj)

    def mean_error(rows, equal):
        chosen = [row["rejection_rate"] for row in rows
                  if row["tau2"] > 0 and row["study_size"].startswith("25 (0 ") == equal]
        return sum(chosen) / len(chosen)
    # unequal sizes with heterogeneity inflate both on average over k and tau^2, DL far more
    dl_inflation = mean_error(dl, False) - mean_error(dl, True)
    hksj_inflation = mean_error(hksj, False) - mean_error(hksj, True)
    assert dl_inflation > 2 * hksj_inflation > 0


def test_cluster_results_equal_the_local_run(tmp_path, small_grid):
    distributed = pytest.importorskip("distributed")
    local = grids.run_grid(small_grid, 5)
    with distributed.LocalCluster(processes=True, n_workers=2, threads_per_worker=1, host="127.0.0.1",
                                  dashboard_address=None) as cluster:
        output = tmp_path / "cluster.json"
        result = CliRunner().invoke(main, ["simulate", "--grid", small_grid.path, "--seed", "5",
                                           "--scheduler", cluster.scheduler_address, "-o", str(output)])
        assert result.exit_code == 0, result.output
    assert json.loads(output.read_text()) == json.loads(json.dumps(local.to_dict()))


def test_command_writes_csv_and_json(tmp_path, small_grid):
    output = tmp_path / "out.csv"
    result = CliRunner().invoke(main, ["simulate", "--grid", small_grid.path, "--workers", "1",
                                       "-o", str(output)])
    assert result.exit_code == 0, result.output
    expected = grids.run_grid(small_grid, 7)
    assert grids.read_results(output) == list(expected.rows)
    assert output.read_text().splitlines()[0] == ",".join(grids.COLUMNS)
    printed = CliRunner().invoke(main, ["simulate", "--grid", small_grid.path, "--format", "json"])
    assert json.loads(printed.stdout) == json.loads(json.dumps(expected.to_dict()))


def test_figures_one_file_per_measure_and_condition(tmp_path):
    import matplotlib.pyplot as plt

    from compassmeta.plots.grid import grid_figures, measure_figure

    grid = _grid(tmp_path, "reps = 50\nseed = 1\nk = [2, 4, 8]\ntau2 = [0, 0.1]\ntrue_effect = 0\n"
                           "estimators = ['DL', 'REML']\nci_methods = ['z', 'knha']\n"
                           "study_size = [{n_min = 20, n_max = 60}, {n_min = 80, n_max = 90}]\n")
    rows = grids.run_grid(grid, 1).rows
    paths = grid_figures(rows, tmp_path / "figs")
    assert sorted(p.name for p in paths) == ["bias-0.0-U_20,60_-95.0.png", "bias-0.0-U_80,90_-95.0.png",
                                             "coverage-0.0-U_20,60_-95.0.png",
                                             "coverage-0.0-U_80,90_-95.0.png"]
    assert all(p.read_bytes().startswith(b"\x89PNG") for p in paths)
    chosen = [row for row in rows if row["study_size"] == "U(20,60)"]
    figure = measure_figure(chosen, "coverage", "test")
    panels = figure.axes
    assert [a.get_title() for a in panels] == ["tau^2 = 0", "tau^2 = 0.1"]  # a panel per tau^2
    lines = [line for line in panels[1].get_lines()
             if (line.get_gid() or "").startswith("line-") and line.get_marker() == "o"]  # not the caps
    assert sorted(line.get_gid() for line in lines) == ["line-DL knha", "line-DL z", "line-REML knha",
                                                        "line-REML z"]
    expected = [row["coverage"] for row in chosen if row["tau2"] == 0.1 and row["estimator"] == "DL"
                and row["ci_method"] == "z"]
    drawn = next(line for line in lines if line.get_gid() == "line-DL z")
    assert list(drawn.get_xdata()) == [2, 4, 8] and list(drawn.get_ydata()) == expected
    plt.close(figure)


def test_resume_refuses_results_of_another_seed(tmp_path, small_grid):
    output = tmp_path / "out.csv"
    grids.save_results(grids.run_grid(small_grid, 1), output)
    result = CliRunner().invoke(main, ["simulate", "--grid", small_grid.path, "--seed", "2",
                                       "-o", str(output), "--resume"])
    assert result.exit_code == 2 and "column 'seed'" in result.stderr


@pytest.mark.parametrize("damaged", [0, 60, -1])
def test_resume_refuses_a_results_file_that_is_not_one(tmp_path, small_grid, damaged):
    """A file cut inside its header, or another file, was read as no finished cells and replaced."""
    output = tmp_path / "out.csv"
    grids.save_results(grids.run_grid(small_grid, 1), output)
    text = output.read_text(encoding="utf-8")
    output.write_text('"abc\n' if damaged == -1 else text[:damaged] or "cell\n", encoding="utf-8")
    before = output.read_bytes()
    result = CliRunner().invoke(main, ["simulate", "--grid", small_grid.path, "-o", str(output), "--resume"])
    assert result.exit_code == 2 and result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert f"Error: {output}, column '" in result.stderr and "not a grid results file" in result.stderr
    assert output.read_bytes() == before


@pytest.mark.parametrize("name,text,words", [
    ("out.csv", "cell,{}\n" + "x" * 200_000 + "\n", "field larger than field limit"),
    ("out.json", '{"rows": {"cell": 1}}', "'rows' is not a list of objects"),
    ("out.json", '{"rows": [5]}', "'rows' is not a list of objects"),
    ("out.json", '{"rows": [{"cell": [1]}]}', "row 1, column 'cell': '[1]' is not a number"),
])
def test_resume_names_a_broken_results_file_in_one_line(tmp_path, small_grid, name, text, words):
    """Each was 'unexpected' (csv.Error, AttributeError, TypeError)."""
    output = tmp_path / name
    output.write_text(text.replace("{}", ",".join(grids.COLUMNS[1:])), encoding="utf-8")
    limit = csv.field_size_limit(131_072)   # a fresh process's (the study-table reader raises it)
    try:
        result = CliRunner().invoke(main, ["simulate", "--grid", small_grid.path, "-o", str(output),
                                           "--resume"])
    finally:
        csv.field_size_limit(limit)
    assert result.exit_code == 2 and "unexpected" not in result.stderr, result.stderr
    assert result.stderr.strip().startswith(f"Error: {output}") and words in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


SLOW_GRID = ("reps = 5000\nseed = 11\nk = [5, 10, 20, 30]\ntau2 = [0.0, 0.05, 0.1, 0.2, 0.4]\n"
             "true_effect = [0.0, 0.5]\nestimators = ['REML', 'PM']\nci_methods = ['z', 'knha']\n")


def test_ctrl_c_keeps_finished_cells_and_resume_completes_them(tmp_path):
    grid_path = tmp_path / "slow.toml"
    grid_path.write_text(SLOW_GRID)
    grid = grids.read_grid(grid_path)
    output = tmp_path / "out.csv"
    command = [sys.executable, "-m", "compassmeta", "simulate", "--grid", str(grid_path), "-o", str(output),
               "--workers", "2"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while not output.exists() and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr
    kept = grids.finished_cells(grid, 11, grids.read_results(output), output)
    assert 0 < len(kept) < len(grid.cells())
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary left
    resumed = CliRunner().invoke(main, ["simulate", "--grid", str(grid_path), "-o", str(output), "--resume"])
    assert resumed.exit_code == 0, resumed.output
    full = grids.run_grid(grid, 11, workers=2)
    assert grids.read_results(output) == list(full.rows)


def test_single_condition_simulate_still_needs_its_options():
    result = CliRunner().invoke(main, ["simulate", "--k", "5"])
    assert result.exit_code == 2 and "--grid" in result.output


def test_a_worker_dying_mid_run_loses_no_cell(tmp_path):
    """A worker process killed while cells run: dask recomputes its cells on the other worker
    (its nanny restarts it), and the results still equal the local run."""
    distributed = pytest.importorskip("distributed")
    grid = _grid(tmp_path, "reps = 3000\nseed = 8\nk = [5, 10, 20]\ntau2 = [0.0, 0.1, 0.2, 0.3]\n"
                           "true_effect = [0.0, 0.5]\nestimators = ['REML']\nci_methods = ['z']\n")
    with distributed.LocalCluster(processes=True, n_workers=2, threads_per_worker=1, host="127.0.0.1",
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as killer:
        victim = sorted(killer.scheduler_info()["workers"])[0]
        victim_pid = killer.run(os.getpid, workers=[victim])[victim]
        seen = []

        def kill_after_first_cell(index, rows):
            if not seen:
                os.kill(victim_pid, signal.SIGKILL)
            seen.append(index)
        on_cluster = grids.run_grid(grid, 8, scheduler=cluster.scheduler_address,
                                    on_cell=kill_after_first_cell)
        assert victim not in killer.scheduler_info()["workers"]  # it really died (a new one replaced it)
    assert sorted(seen) == list(range(len(grid.cells())))
    assert on_cluster == grids.run_grid(grid, 8)


def test_a_local_grid_does_not_import_dask(tmp_path, small_grid):
    code = ("import sys; from compassmeta.cli import main; "
            f"main(['simulate', '--grid', {small_grid.path!r}, '--reps', '20', "
            f"'-o', {str(tmp_path / 'o.csv')!r}], "
            "standalone_mode=False); "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"



def _state(pid):
    """(parent pid, state letter) of a process from /proc, or None once it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return int(fields[1]), fields[0]


def _alive(pid):
    state = _state(pid)
    return state is not None and state[1] != "Z"


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="reads the process table from /proc")
def test_workers_end_when_the_main_process_is_killed(tmp_path):
    grid_path = tmp_path / "slow.toml"
    grid_path.write_text(SLOW_GRID)
    command = [sys.executable, "-m", "compassmeta", "simulate", "--grid", str(grid_path), "-o",
               str(tmp_path / "out.csv"), "--workers", "2"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def workers():
        return [int(pid) for pid in os.listdir("/proc")
                if pid.isdigit() and (_state(pid) or (0,))[0] == process.pid]

    deadline = time.monotonic() + 60
    while len(workers()) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    started = workers()
    assert len(started) == 2
    process.kill()
    process.wait(timeout=10)
    deadline = time.monotonic() + 20
    while any(map(_alive, started)) and time.monotonic() < deadline:
        time.sleep(0.1)
    alive = [pid for pid in started if _alive(pid)]
    for pid in alive:          # never leave them running, even when the test fails
        os.kill(pid, signal.SIGKILL)
    assert alive == []
