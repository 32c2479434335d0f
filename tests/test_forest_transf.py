"""forest --transf / --atransf as metafor's forest(res, transf = exp) / forest(res, atransf = exp):
what the figure draws (its artists' data, not pixels) against metafor 5.1-12's back-transformed values
on the BCG log risk ratios (scripts/metafor_transf_reference.R): summary(escalc, transf = exp) for the
studies, predict(rma(..., REML), transf = exp) for the diamond and the prediction interval."""
import matplotlib
import numpy as np
import pytest
from click.testing import CliRunner
from matplotlib.collections import LineCollection, PathCollection
from matplotlib.patches import Polygon
from matplotlib.text import Text

from compassmeta import plots
from compassmeta.cli import main
from compassmeta.common.errors import InputError
from conftest import load_fixture

matplotlib.use("Agg")
REFERENCE = load_fixture("metafor_transf.json")
BCG = REFERENCE["bcg_rr"]
STUDIES = REFERENCE["others"]["forest_studies"]
POOLED = next(c for c in REFERENCE["pooled"] if c["name"] == "bcg_RR" and c["method"] == "REML")
LABELS = [f"Trial {number}" for number in range(1, 14)]


def artist(figure, gid, kind):
    return next(a for a in figure.findobj(lambda a: a.get_gid() == gid) if isinstance(a, kind))


def all_texts(figure):
    return {t.get_text() for t in figure.findobj(Text)}


def drawn(figure):
    """(study x, pooled diamond x: lower, estimate, upper; prediction interval x; axis limits)."""
    markers = artist(figure, "study-markers", PathCollection).get_offsets()[:, 0]
    diamond = artist(figure, "pooled-diamond", Polygon).get_xy()[:3, 0]
    prediction = artist(figure, "prediction-interval", matplotlib.lines.Line2D).get_xdata()
    return np.asarray(markers), diamond, np.asarray(prediction), figure.axes[0].get_xlim()


@pytest.fixture(scope="module")
def transformed():
    return plots.forest_plot(BCG["yi"], BCG["vi"], LABELS, transf="exp")


@pytest.fixture(scope="module")
def axis_transformed():
    return plots.forest_plot(BCG["yi"], BCG["vi"], LABELS, atransf="exp")


def test_transf_draws_on_the_back_transformed_scale(transformed):
    markers, diamond, prediction, (low, high) = drawn(transformed)
    np.testing.assert_allclose(markers, STUDIES["yi"], rtol=1e-10)
    np.testing.assert_allclose(diamond, [POOLED[k] for k in ("ci_lower_transf", "estimate_transf",
                                                               "ci_upper_transf")], rtol=1e-10)
    np.testing.assert_allclose(prediction, [POOLED["pi_lower_transf"], POOLED["pi_upper_transf"]], rtol=1e-10)
    segments = artist(transformed, "study-ci", LineCollection).get_segments()
    ends = np.array([[segment[0][0], segment[1][0]] for segment in segments])
    expected = np.clip(np.c_[STUDIES["ci.lb"], STUDIES["ci.ub"]], low, high)
    np.testing.assert_allclose(ends, expected, rtol=1e-10)
    assert artist(transformed, "reference-line", matplotlib.lines.Line2D).get_xdata()[0] == 1.0   # exp(0)


def test_transf_prints_back_transformed_values(transformed):
    shown = all_texts(transformed)
    for estimate, lower, upper in zip(STUDIES["yi"], STUDIES["ci.lb"], STUDIES["ci.ub"]):
        assert f"{estimate:.2f} [{lower:.2f}, {upper:.2f}]" in shown
    assert f"[{POOLED['pi_lower_transf']:.2f}, {POOLED['pi_upper_transf']:.2f}]" in shown
    assert transformed.axes[0].get_xlabel() == "Effect size (transf = exp)"
    assert "exp(estimate) [95% CI]" in shown


def test_atransf_keeps_positions_and_back_transforms_labels(axis_transformed):
    markers, diamond, prediction, _ = drawn(axis_transformed)
    np.testing.assert_allclose(markers, BCG["yi"], rtol=1e-12)
    np.testing.assert_allclose(diamond, [POOLED[k] for k in ("ci_lower", "estimate", "ci_upper")], rtol=1e-10)
    np.testing.assert_allclose(prediction, [POOLED["pi_lower"], POOLED["pi_upper"]], rtol=1e-10)
    shown = all_texts(axis_transformed)
    for estimate, lower, upper in zip(STUDIES["yi"], STUDIES["ci.lb"], STUDIES["ci.ub"]):
        assert f"{estimate:.2f} [{lower:.2f}, {upper:.2f}]" in shown
    axis = axis_transformed.axes[0]
    axis_transformed.canvas.draw()
    ticks = [(tick, label.get_text()) for tick, label in zip(axis.get_xticks(), axis.get_xticklabels())]
    assert ticks and all(text == f"{np.exp(tick):.2f}" for tick, text in ticks)


def test_transf_with_targs_is_refused():
    with pytest.raises(InputError, match="needs each study's ni"):
        plots.forest_plot(BCG["yi"], BCG["vi"], LABELS, transf="ipft.hm")


def test_cli_forest_transf_and_atransf(tmp_path):
    path = tmp_path / "bcg.csv"
    path.write_text("yi,vi\n" + "".join(f"{y!r},{v!r}\n" for y, v in zip(BCG["yi"], BCG["vi"])))
    runner = CliRunner()
    for option in ("--transf", "--atransf"):
        result = runner.invoke(main, ["forest", str(path), option, "exp", "-o", str(tmp_path / "f.svg")])
        assert result.exit_code == 0, result.output
    result = runner.invoke(main, ["forest", str(path), "--transf", "exp", "--atransf", "exp",
                                  "-o", str(tmp_path / "f.svg")])
    assert result.exit_code != 0 and "alternatives" in result.output
    result = runner.invoke(main, ["forest", str(path), "--transf", "ipft.hm", "-o", str(tmp_path / "f.svg")])
    assert result.exit_code != 0 and "needs each study's ni" in result.output
