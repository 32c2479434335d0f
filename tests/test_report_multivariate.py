"""The report's multivariate models (issue 23) on a constructed table (the shipped trials report
neither both SCS components nor follow-ups): the bivariate compassionate / uncompassionate model
and the trajectory over timepoint windows, against metafor rma.mv
(scripts/report_multivariate_reference.R -> tests/fixtures/report_multivariate_reference.json,
fitted on tests/fixtures/report_multivariate_crafted.csv, which :func:`crafted_rows` writes)."""
import csv
import html
import io
import re
import shutil

import pytest

from compassmeta.report.html import build_report, render_html
from conftest import PROJECT, assert_close, load_fixture
from test_analysis_plan import HEADER, MEASURES, STUDIES, row

FIXTURES = PROJECT / "tests" / "fixtures"
CRAFTED = FIXTURES / "report_multivariate_crafted.csv"
REFERENCE = load_fixture("report_multivariate_reference.json")
#: (trial, compassionate shift, uncompassionate shift, BDI shift, follow-up change): constructed, not data
TRIALS = (("comp2020", -0.16, 0.44, 0.03, -0.14), ("comp2021", -0.05, 0.31, -0.3, -0.13),
          ("comp2022", -0.17, -0.6, 0.46, 0.2), ("comp2023", -0.01, 0.41, -0.33, -0.03),
          ("comp2024", 0.6, 0.34, -0.78, -1.17), ("comp2025", -0.36, 0.37, -0.17, -0.08),
          ("comp2026", 0.21, -0.31, 0.07, 0.28), ("comp2027", 0.16, 0.14, -0.21, 0.18))


def crafted_rows() -> list:
    """Eight constructed two-arm trials, each reporting both SCS components and the BDI-II at post
    (8 weeks) and follow-up (20 weeks); with the builder of tests/test_analysis_plan.py."""
    rows = []
    for i, (study, compassionate, uncompassionate, bdi, change) in enumerate(TRIALS):
        shifts = {"compassionate": compassionate, "uncompassionate": -uncompassionate, None: -bdi}
        for measure in (MEASURES[1], MEASURES[2], MEASURES[-1]):
            for timepoint, weeks, extra in (("post", 8, 0.0), ("follow-up", 20, change)):
                shift = (shifts[measure[0]] + (extra if measure[0] != "uncompassionate" else -extra)) \
                    * measure[5]    # in the instrument's SD units
                rows.append(row(f"{study}-{measure[0] or 'bdi2'}-{weeks}", study,
                                f"Comp, {i}. (2020). Constructed.", 2020 + i, "", "MSC", "msc", "waitlist",
                                "passive", measure, timepoint, weeks, 30 + 5 * i, 30, shift=shift))
    return rows


def _csv(rows) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(HEADER)
    writer.writerows(rows)
    return buffer.getvalue()


def test_the_committed_table_is_the_builders():
    assert CRAFTED.read_text(encoding="utf-8") == _csv(crafted_rows())


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    folder = tmp_path_factory.mktemp("multivariate")
    for name in ("datapackage.json", "instruments.csv"):
        shutil.copy(STUDIES / name, folder / name)
    shutil.copy(CRAFTED, folder / "trials.csv")
    return build_report([str(folder / "trials.csv")], studies_folder=STUDIES).to_dict()


def _joint(report, kind, outcome, window):
    return next(j for j in report["joint_models"]
                if (j["kind"], j["outcome"], j["window"]) == (kind, outcome, window))


@pytest.mark.parametrize("key", sorted(REFERENCE["models"]))
def test_joint_models_match_metafor(report, key):
    kind, outcome, window = key.split(" | ")
    joint, expected = _joint(report, kind, outcome, window), REFERENCE["models"][key]
    result = joint["result"]
    assert (joint["k_rows"], joint["n_trials"]) == (expected["k"], expected["n_clusters"])
    assert result["converged"] and result["struct"] == expected["struct"]
    for got, want in zip(result["coefficients"], expected["coefficients"]):
        for name in ("estimate", "se", "ci_lower", "ci_upper", "p_value"):
            assert_close(got[name], want[name], f"{key} {got['term']} {name}", rel=1e-5)
    # the restricted likelihood is flat along rho with 8 trials: metafor's BFGS (reltol 1e-15) stops
    # within 2.4e-5 (relative) of our optimum, whose log-likelihood is as high or higher
    for name in ("tau2", "rho"):
        for got, want in zip(result[name], expected[name]):
            assert_close(got, want, f"{key} {name}", rel=1e-4, abs_=1e-6)
    assert_close(result["log_likelihood"], expected["log_likelihood"], f"{key} logLik", rel=1e-9)
    assert result["log_likelihood"] >= expected["log_likelihood"] - 1e-12
    for got, want in zip(result["contrasts"], expected.get("contrasts", [])):
        for name in ("estimate", "se", "ci_lower", "ci_upper", "p_value"):
            assert_close(got[name], want[name], f"{key} contrast {name}", rel=1e-5)
    assert len(result["contrasts"]) == len(expected.get("contrasts", []))


def test_page_shows_both_effects_the_correlation_the_contrast_and_the_model(report):
    kinds = [j["kind"] for j in report["joint_models"]]
    assert kinds == ["components", "components", "trajectory", "trajectory", "trajectory"]
    page = render_html(report)
    section = re.search(r'<section id="multivariate">.*?</section>', page, re.S).group(0)
    post = REFERENCE["models"]["components | self-compassion | post"]
    contrast = post["contrasts"][0]
    assert (f"Contrast compassionate-uncompassionate: {contrast['estimate']:.2f} "
            f"[{contrast['ci_lower']:.2f}, {contrast['ci_upper']:.2f}]") in section
    assert f"Correlation of the true effects (ρ): {post['rho'][0]:.3f}" in section
    assert "struct UN" in section and "struct AR" in section and 'href="#multivariate"' in page


def test_shipped_trials_have_no_joint_models():
    assert build_report([str(STUDIES / "trials.csv")]).joint_models == ()


def _drawn(figure, gid):
    """(estimates, [(lower, upper)]) of the errorbar drawn with ``gid``."""
    from matplotlib.collections import LineCollection

    line = next(a for a in figure.findobj(lambda a: a.get_gid() == gid) if not isinstance(a, LineCollection))
    bars = next(a for a in figure.findobj(lambda a: a.get_gid() == gid) if isinstance(a, LineCollection))
    horizontal = gid != "trajectory-estimate"
    centres = line.get_xdata() if horizontal else line.get_ydata()
    axis = 0 if horizontal else 1
    return list(centres), [(segment[0][axis], segment[1][axis]) for segment in bars.get_segments()]


@pytest.mark.parametrize("key", sorted(REFERENCE["models"]))
def test_figure_draws_the_models_estimates(report, key):
    """The drawn estimates, CIs and contrast are metafor's (the fixture), rho in the title."""
    import matplotlib.pyplot as plt

    from compassmeta.report.figures import joint_figure

    kind, outcome, window = key.split(" | ")
    expected = REFERENCE["models"][key]
    figure = joint_figure(_joint(report, kind, outcome, window))
    try:
        gid = "component-estimate" if kind == "components" else "trajectory-estimate"
        centres, bounds = _drawn(figure, gid)
        for got, (low, high), want in zip(centres, bounds, expected["coefficients"], strict=True):
            assert_close(got, want["estimate"], f"{key} drawn estimate", rel=1e-5)
            assert_close(low, want["ci_lower"], f"{key} drawn lower", rel=1e-5)
            assert_close(high, want["ci_upper"], f"{key} drawn upper", rel=1e-5)
        if kind == "components":
            (centre,), ((low, high),) = _drawn(figure, "contrast-estimate")
            contrast = expected["contrasts"][0]
            for got, name in ((centre, "estimate"), (low, "ci_lower"), (high, "ci_upper")):
                assert_close(got, contrast[name], f"{key} drawn contrast {name}", rel=1e-5)
        assert f"ρ = {expected['rho'][0]:.2f}" in figure.axes[0].get_title()
    finally:
        plt.close(figure)


@pytest.mark.parametrize("key", sorted(REFERENCE["models"]))
def test_svg_figure_draws_the_models_estimates(report, key):
    """The report's inline figure (SVG, no matplotlib): each marker and CI bar read back through the
    drawn axis are metafor's estimates and bounds (to the 0.001 pt the coordinates are written in)."""
    import numpy as np

    from compassmeta.report.figures import joint_svg
    from test_plots_svg import axis, elements

    kind, outcome, window = key.split(" | ")
    expected = REFERENCE["models"][key]
    svg = joint_svg(_joint(report, kind, outcome, window))
    horizontal = kind == "components"
    to_data, scale = axis(svg, "x" if horizontal else "y")
    if horizontal:
        centres = [float(r["x"]) + float(r["width"]) / 2 for r in elements(svg, "rect", "component-estimate")]
        bars = [(float(b["x1"]), float(b["x2"])) for b in elements(svg, "line", "component-ci")]
    else:
        centres = [float(c["cy"]) for c in elements(svg, "circle", "trajectory-estimate")]
        bars = [(float(b["y1"]), float(b["y2"])) for b in elements(svg, "line", "trajectory-ci")]
    tolerance = 0.002 / scale
    for got, (low, high), want in zip(centres, bars, expected["coefficients"], strict=True):
        assert to_data(got) == pytest.approx(want["estimate"], abs=tolerance)
        assert sorted([to_data(low), to_data(high)]) == pytest.approx([want["ci_lower"], want["ci_upper"]],
                                                                      abs=tolerance)
    if horizontal:
        points = [tuple(map(float, p.split(","))) for p in elements(svg, "polygon", "contrast-estimate")[0]
                  ["points"].split()]
        contrast = expected["contrasts"][0]
        assert to_data(np.mean([x for x, _ in points])) == pytest.approx(contrast["estimate"], abs=tolerance)
    assert f"ρ = {expected['rho'][0]:.2f}" in svg


def test_page_has_a_figure_per_joint_model_with_the_model_under_it(report):
    page = render_html(report)
    section = re.search(r'<section id="multivariate">.*?</section>', page, re.S).group(0)
    assert section.count('<figure class="fig fig-joint-components"><svg') == 2
    assert section.count('<figure class="fig fig-joint-trajectory"><svg') == 3
    for joint in report["joint_models"]:
        assert f"<figcaption>Model: {html.escape(joint['model'])}.</figcaption>" in section
