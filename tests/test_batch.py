"""The batched engine equals one-at-a-time fits; GOSH and permutation tests match metafor's
gosh() and permutest() in exact mode (fixtures from scripts/metafor_speed_reference.R)."""
import numpy as np
import pytest

from compassmeta import meta_regression, pool
from compassmeta.analyses.gosh import gosh
from compassmeta.analyses.permutation import count_distinct_permutations, permutation_test
from compassmeta.analyses.simulate import simulate
from compassmeta.models.batch import Batch, fit_batch
from conftest import assert_close, load_fixture

CORE = load_fixture("metafor_core.json")
SPEED = load_fixture("metafor_gosh_permutest.json")
METHODS = ("FE", "DL", "HE", "HS", "SJ", "ML", "REML", "EB", "PM")


def _close(a, b):
    return abs(a - b) <= max(1e-9, 1e-7 * abs(b))


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("ci_method", ["z", "knha"])
@pytest.mark.parametrize("name", ["bcg", "hackshaw1998", "raudenbush1985", "thirdwave",
                                  "edge_huge_heterogeneity"])
def test_batched_subsets_equal_one_at_a_time(name, method, ci_method):
    data = next(d for d in CORE["datasets"] if d["name"] == name)
    y, v = np.array(data["yi"]), np.array(data["vi"])
    rng = np.random.default_rng(len(name))
    mask = (rng.random((25, y.size)) < 0.6).astype(float)
    mask[:, :2] = 1
    result = fit_batch(Batch(y, v, mask), method=method, ci_method=ci_method)
    for row in range(25):
        keep = mask[row] > 0
        single = pool(y[keep], v[keep], method=method, ci_method=ci_method, with_tau2_ci=False)
        for batched, expected in [(result.estimate[row], single.estimate), (result.tau2[row], single.tau2),
                                  (result.se[row, 0], single.se), (result.ci_upper[row, 0], single.ci_upper),
                                  (result.p_value[row, 0], single.p_value), (result.q[row], single.q),
                                  (result.i2[row], single.i2), (result.h2[row], single.h2)]:
            assert _close(batched, expected), (row, batched, expected)


@pytest.mark.parametrize("method", METHODS)
def test_batched_permuted_meta_regressions_equal_one_at_a_time(method):
    data = next(d for d in CORE["datasets"] if d["name"] == "bcg")
    y, v = np.array(data["yi"]), np.array(data["vi"])
    latitude, year = np.array(data["mods"]["ablat"], float), np.array(data["mods"]["year"], float)
    orders = np.array([np.random.default_rng(i).permutation(y.size) for i in range(12)])
    X = np.stack([np.column_stack([np.ones(y.size), latitude[o], year[o]]) for o in orders])
    for ci_method in ("z", "knha"):
        result = fit_batch(Batch(y, v, np.ones((12, y.size)), X), method=method, ci_method=ci_method)
        for row, order in enumerate(orders):
            single = meta_regression(y, v, {"ablat": latitude[order], "year": year[order]}, method=method,
                                     ci_method=ci_method)
            assert _close(result.tau2[row], single.tau2) and _close(result.qm[row], single.qm)
            for j, coefficient in enumerate(single.coefficients):
                assert _close(result.beta[row, j], coefficient.estimate)
                assert _close(result.se[row, j], coefficient.se)


@pytest.mark.parametrize("case", SPEED["gosh"], ids=lambda c: c["method"])
def test_gosh_matches_metafor(case):
    data = SPEED["data"]
    result = gosh(data["yi"], data["vi"], method=case["method"])
    assert result.exact and result.subsets.size == 2 ** 9 - 1
    ours = {code: i for i, code in enumerate(result.subsets)}
    for j, code in enumerate(case["subsets"]):
        i = ours[int(code)]
        assert result.k[i] == case["k"][j]
        for key in ("estimate", "q", "i2", "tau2"):
            assert_close(float(getattr(result, key)[i]), case[key][j], f"subset {code} {key}")
        # metafor's gosh() shortcut for FE/DL reports H^2 = Q/df even below 1; rma() truncates at 1
        h2 = max(1.0, case["h2"][j]) if case["method"] == "DL" else case["h2"][j]
        assert_close(float(result.h2[i]), h2, f"subset {code} h2")


def _moderators(case):
    data = SPEED["data"]
    y, v = np.array(data["yi"]), np.array(data["vi"])
    if case["model"] == "intercept":
        return y, v, None
    if case["model"] == "binary":
        return y, v, {"binary": data["binary"]}
    return y[:6], v[:6], {"dose": [float(x) for x in data["dose"]]}


@pytest.mark.parametrize("case", SPEED["permutest"], ids=lambda c: f"{c['model']}-{c['method']}-{c['test']}")
def test_exact_permutation_test_matches_metafor(case):
    y, v, moderators = _moderators(case)
    result = permutation_test(y, v, moderators, permutations=100_000, method=case["method"],
                              ci_method=case["test"])
    assert result.exact and result.permutations == case["permutations"]
    assert_close(result.qm, case["qm"], "QM")
    # metafor drops the permutations whose fit fails (Fisher scoring not converging); with
    # n of N dropped, its p-values can differ from those over all N by at most n / (N - n)
    tolerance = 1e-12 + case["failed"] / (case["permutations"] - case["failed"])
    assert result.qm_p == pytest.approx(case["qm_p"], abs=tolerance)
    expected = case["coefficient_p"] if isinstance(case["coefficient_p"], list) else [case["coefficient_p"]]
    assert list(result.coefficient_p) == pytest.approx(expected, abs=tolerance)


def test_most_permutation_cases_are_compared_exactly():
    assert sum(case["failed"] == 0 for case in SPEED["permutest"]) >= 10


def test_permutation_counts():
    assert count_distinct_permutations(["a"] * 4 + ["b"] * 5) == 126
    assert count_distinct_permutations(list(range(6))) == 720


def test_random_permutations_are_reproducible_with_a_seed():
    data = SPEED["data"]
    first = permutation_test(data["yi"], data["vi"], {"binary": data["binary"]}, permutations=50, seed=4)
    again = permutation_test(data["yi"], data["vi"], {"binary": data["binary"]}, permutations=50, seed=4)
    assert not first.exact and first.permutations == 50 and first == again


def test_simulation_is_seeded_and_sane():
    a = simulate(10, 0.05, 0.4, 2000, seed=11, methods=("DL", "REML"))
    b = simulate(10, 0.05, 0.4, 2000, seed=11, methods=("DL", "REML"))
    assert a == b
    rows = {(r.method, r.ci_method): r for r in a.performance}
    # Knapp-Hartung intervals are wider and cover closer to the nominal 95% at small k
    assert rows[("REML", "knha")].mean_ci_width > rows[("REML", "z")].mean_ci_width
    assert abs(rows[("REML", "knha")].coverage - 0.95) < abs(rows[("REML", "z")].coverage - 0.95)
    assert abs(rows[("REML", "z")].bias) < 0.02


def test_gosh_command_writes_plot_and_results(tmp_path):
    from click.testing import CliRunner

    from compassmeta.cli import main

    data = SPEED["data"]
    path = tmp_path / "d.csv"
    path.write_text("yi,vi\n" + "".join(f"{y!r},{v!r}\n" for y, v in zip(data["yi"], data["vi"])))
    result = CliRunner().invoke(main, ["gosh", str(path), "--method", "FE", "-o", str(tmp_path / "g.png"),
                                       "--save-results", str(tmp_path / "g.csv")])
    assert result.exit_code == 0, result.output
    lines = (tmp_path / "g.csv").read_text().splitlines()
    assert lines[0] == "subset,k,estimate,q,i2,h2,tau2" and len(lines) == 2 ** 9
    assert (tmp_path / "g.png").read_bytes().startswith(b"\x89PNG")


def test_gosh_csv_is_the_text_pandas_writes():
    """GoshResult.to_csv() writes what pandas writes for to_frame(): NaN empty, inf, -0.0, 1e+16."""
    from compassmeta.analyses.gosh import GoshResult

    data = SPEED["data"]
    result = gosh(data["yi"][:6], data["vi"][:6], method="DL")
    odd = np.array([np.nan, np.inf, -np.inf, -0.0, 1e16, 1e-7, 0.1])
    result = GoshResult(method="DL", exact=True, subsets=result.subsets[:7], k=result.k[:7],
                        estimate=odd, q=result.q[:7], i2=odd[::-1].copy(), h2=result.h2[:7],
                        tau2=result.tau2[:7])
    expected = result.to_frame().to_csv(index=False, lineterminator="\n")
    assert result.to_csv() == expected and ",," in expected and "1e+16" in expected


def test_simulate_command_json(tmp_path):
    from click.testing import CliRunner

    from compassmeta.cli import main

    result = CliRunner().invoke(main, ["simulate", "--k", "5", "--tau2", "0.1", "--true-effect", "0.3",
                                       "--reps", "500", "--seed", "3", "--format", "json"])
    assert result.exit_code == 0, result.output
    data = __import__("json").loads(result.stdout)
    assert len(data["performance"]) == 16 and data["reps"] == 500


def _cpu_seconds(pid):
    """User + system CPU seconds of a running process (fields 14 and 15 of /proc/PID/stat)."""
    import os

    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_ctrl_c_stops_gosh_cleanly(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    rng = np.random.default_rng(1)
    vi = rng.uniform(0.02, 0.2, 22)
    yi = rng.normal(0.4, np.sqrt(vi + 0.05))
    data = tmp_path / "k22.csv"
    data.write_text("yi,vi\n" + "".join(f"{y},{v}\n" for y, v in zip(yi, vi)))
    figure = tmp_path / "gosh.png"
    process = subprocess.Popen([sys.executable, "-m", "compassmeta", "gosh", str(data), "--method", "REML",
                                "--subsets", "3000000", "-o", str(figure)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    # Interrupt once the child has used 2 s of CPU (start-up takes about 0.5 s): by then it is
    # inside the GOSH loop, however loaded the machine is.
    deadline = time.monotonic() + 60
    while _cpu_seconds(process.pid) < 2.0 and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.05)
    used_before = _cpu_seconds(process.pid)
    process.send_signal(signal.SIGINT)
    stderr = process.stderr.read()          # until the child exits and closes it
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    assert process.returncode == 130 and stderr.strip().endswith("Interrupted."), stderr
    # it stops promptly: the CPU it spends after the interrupt (not wall time, which a loaded
    # machine stretches) is a fraction of the 3,000,000 fits it was asked for
    assert "Traceback" not in stderr and usage.ru_utime + usage.ru_stime - used_before < 3.0
    assert not figure.exists() and list(tmp_path.iterdir()) == [data]


def test_metareg_permutations_from_the_command_line(tmp_path):
    from click.testing import CliRunner

    from compassmeta.cli import main

    data = SPEED["data"]
    case = next(c for c in SPEED["permutest"]
                if (c["model"], c["method"], c["test"]) == ("binary", "REML", "z"))
    path = tmp_path / "d.csv"
    path.write_text("yi,vi,group\n" + "".join(f"{y!r},{v!r},{g}\n" for y, v, g in
                                               zip(data["yi"], data["vi"], data["binary"])))
    result = CliRunner().invoke(main, ["metareg", str(path), "--mods", "group", "--permutations", "1000",
                                       "--format", "json"])
    assert result.exit_code == 0, result.output
    test = __import__("json").loads(result.stdout)["permutation_test"]
    assert test["exact"] and test["permutations"] == 126
    assert test["qm_p"] == pytest.approx(case["qm_p"], abs=1e-12)
