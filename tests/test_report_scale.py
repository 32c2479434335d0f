"""Issue 29, the report at a living review's size: forest plots of large subsets draw at most the
plan's large_subsets.forest_max_trials trials (the rest counted in a line), leave-one-out and
influence diagnostics stop above large_subsets.case_deletion_max_trials (the page says so), and a
funnel whose trim-and-fill cannot run is a note in the page."""
import json

import numpy as np
import pytest
from click.testing import CliRunner
from matplotlib.patches import Polygon

from compassmeta import plots
from compassmeta.analyses.bias import trim_and_fill
from compassmeta.cli import main
from compassmeta.common.errors import InputError
from compassmeta.data.plan import load_plan
from conftest import PROJECT, load_fixture
from test_plots import by_gid, reference, texts

DATA = {d["name"]: d for d in load_fixture("metafor_core.json")["datasets"]}
REFERENCE = load_fixture("report_reference.json")["subsets"]
STUDIES = PROJECT / "studies"


@pytest.fixture(autouse=True)
def close_figures():
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


def test_forest_of_many_studies_draws_the_heaviest_and_counts_the_rest():
    d = DATA["bcg"]
    labels = [f"Trial {i + 1}" for i in range(len(d["yi"]))]
    figure = plots.forest_plot(d["yi"], d["vi"], labels, max_studies=5)
    weights = 1 / (np.array(d["vi"]) + reference("pool", data="bcg", method="REML", test="z")["tau2"])
    heaviest = sorted(np.argsort(-weights, kind="stable")[:5])
    assert texts(figure, "study-label") == [labels[i] for i in heaviest]
    left_out = 100 * (1 - weights[heaviest].sum() / weights.sum())
    assert texts(figure, "studies-left-out") == [
        f"8 further trials ({left_out:.1f}% of the weight) not drawn: the 5 with the most weight are shown"]
    # the diamond still pools all 13 trials (metafor rma(), REML)
    diamond = by_gid(figure, "pooled-diamond", Polygon)[0].get_xy()[:4, 0]
    assert diamond[1] == pytest.approx(reference("pool", data="bcg", method="REML", test="z")["estimate"],
                                       rel=1e-6)
    everything = plots.forest_plot(d["yi"], d["vi"], labels, max_studies=13)
    assert len(texts(everything, "study-label")) == 13 and not texts(everything, "studies-left-out")


def test_trim_and_fill_with_one_standard_error_is_a_one_line_error():
    """Egger's regression on sqrt(v) that picks the side is singular; metafor 5.1-12 trimfill() stops
    too ("missing value where TRUE/FALSE needed").  Before: numpy's LinAlgError killed the report of
    the benchmark table at 1,000 rows."""
    with pytest.raises(InputError, match="every study has the same standard error"):
        trim_and_fill([0.1, 0.5, 0.3, 0.8, 0.2, 0.9], [0.04] * 6)
    assert trim_and_fill([0.1, 0.5, 0.3, 0.8, 0.2, 0.9], [0.04] * 6, side="left").k0 >= 0


def _small_limits_plan(tmp_path):
    text = (STUDIES / "analysis_plan.toml").read_text(encoding="utf-8")
    assert "forest_max_trials = 100" in text and "case_deletion_max_trials = 1000" in text
    path = tmp_path / "plan.toml"
    text = text.replace("forest_max_trials = 100", "forest_max_trials = 2")
    path.write_text(text.replace("case_deletion_max_trials = 1000", "case_deletion_max_trials = 2"),
                    encoding="utf-8")
    return path


def test_shipped_plan_states_the_large_subset_limits():
    assert load_plan(STUDIES / "analysis_plan.toml").large_subsets == {"forest_max_trials": 100,
                                                                      "case_deletion_max_trials": 1000}


def test_report_by_a_plan_with_small_limits_says_what_it_left_out(tmp_path):
    """Depression post (Aguilar-Raab, Savari, Schuling) is the one subset of trials.csv with 3 trials."""
    plan = _small_limits_plan(tmp_path)
    output = tmp_path / "report.html"
    result = CliRunner().invoke(main, ["report", str(STUDIES / "trials.csv"), "--plan", str(plan),
                                       "-o", str(output)])
    assert result.exit_code == 0, result.output
    report = json.loads(output.with_suffix(".json").read_text(encoding="utf-8"))
    depression = {item["key"]: item for item in report["analyses"]}["depression | post | all"]
    # the numbers are those of the shipped plan (metafor, tests/test_report_html.py)
    expected = REFERENCE["depression | post | all"]
    for name in ("estimate", "ci_lower", "ci_upper", "pi_lower", "pi_upper"):
        assert depression["pooled"][name] == pytest.approx(expected[name], rel=1e-6)
    note = ("k = 3 > 2: leave-one-out and influence diagnostics not computed (analysis plan, "
            "large_subsets.case_deletion_max_trials)")
    assert depression["leave_one_out"] is None and note in depression["notes"]
    fits = {fit["analysis"]: fit for fit in depression["sensitivity"]}
    assert fits["influential removed"]["estimate"] is None and fits["influential removed"]["note"] == note
    assert fits["outliers removed"]["estimate"] is not None
    page = output.read_text(encoding="utf-8")
    section = page[page.index('<div class="subset" id="depression-post-all">'):]
    section = section[:section.index('<div class="subset"', 10)]
    assert note.replace(">", "&gt;") in section
    assert "Only the 2 trials with the most weight of 3 are drawn" in section


def test_moderator_effects_are_computed_only_for_a_panel_that_draws_them():
    """Issue 29: the explorer's data are precomputed only where the page shows them; a moderator
    without a test (one value, too few trials per level) has no figure, so no effects."""
    from compassmeta.report.moderators import analyse_moderator

    def rows(values):
        return [{"study_id": f"t{i}", "yi": 0.1 * i, "vi": 0.05 + 0.01 * i, "format": value}
                for i, value in enumerate(values)]

    labels = {f"t{i}": f"Trial {i}" for i in range(6)}
    one_value = analyse_moderator("stress", "format", "format", rows(["online"] * 4), labels)
    assert one_value.status == "insufficient" and one_value.k_trials == 4 and one_value.effects is None
    assert one_value.note == "insufficient: the 4 trial(s) with a value share one value ('online')"
    small = analyse_moderator("stress", "format", "format", rows(["online"] * 3 + ["group"]), labels)
    assert small.effects is None and small.note.startswith("insufficient: 'group' has 1 trial(s)")
    tested = analyse_moderator("stress", "format", "format", rows(["online"] * 3 + ["group"] * 3), labels)
    assert tested.status == "tested" and tested.effects.labels == tuple(f"Trial {i}" for i in range(6))
    assert tested.effects.yi == pytest.approx([0.1 * i for i in range(6)], rel=1e-12)
    assert tested.to_dict()["effects"]["values"] == ["online"] * 3 + ["group"] * 3


def test_moderator_effects_reuse_the_trials_composites_exactly():
    """A moderator whose trials each have one value on all their rows takes the section's
    one-effect-per-trial composites (the same arithmetic on the same rows), bit for bit; a trial
    with two values, or a row without one, is averaged per (trial, value) as before."""
    from compassmeta.report.moderators import moderator_effects
    from compassmeta.report.subsets import subset_effects

    rng = np.random.default_rng(29)
    rows = [{"study_id": f"t{i % 7}", "yi": float(rng.normal(0.3, 0.2)), "vi": float(rng.uniform(0.01, 0.1)),
             "format": "online" if i % 7 < 4 else "group", "es_id": f"e{i}"} for i in range(40)]
    labels = {f"t{i}": f"Trial {i}" for i in range(7)}
    every = subset_effects(rows, labels)
    trial_effects = dict(zip(every.trials, zip(every.yi, every.vi)))
    for case in (rows, rows[:20] + [dict(rows[20], format="")] + rows[21:],
                 rows[:20] + [dict(rows[20], format="app")] + rows[21:]):
        averaged = moderator_effects("format", case, labels)
        assert moderator_effects("format", case, labels, trial_effects) == averaged
    reused = moderator_effects("format", rows, labels, trial_effects)
    assert reused.yi == every.yi and reused.vi == every.vi and reused.values[:4] == ("online",) * 4


@pytest.mark.parametrize("environment, expected", [({}, "1"), ({"OPENBLAS_NUM_THREADS": "2"}, "2"),
                                                   ({"OMP_NUM_THREADS": "3"}, None)])
def test_the_command_line_runs_blas_on_one_thread_unless_told(environment, expected):
    """Issue 29: OpenBLAS threads spin-waiting on a shared machine cost the 10^5-row report most of
    its model fits' time; the command line sets one thread before numpy loads, unless the user chose."""
    import os
    import subprocess
    import sys

    chosen = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")
    env = {key: value for key, value in os.environ.items() if key not in chosen}
    code = ("import os, sys, compassmeta.cli; "
            "print(os.environ.get('OPENBLAS_NUM_THREADS'), 'numpy' in sys.modules)")
    output = subprocess.run([sys.executable, "-c", code], env={**env, **environment}, capture_output=True,
                            text=True, check=True).stdout.split()
    assert output == [str(expected), "False"]
