"""Issue 17 (figures) and issue 12 (forest by cluster): labels people read, axes that show the
data, diamonds only where pooling makes sense, and figure commands that refuse what they ignore."""
import csv
from types import SimpleNamespace

import numpy as np
import pytest
from click.testing import CliRunner
from matplotlib.collections import PathCollection
from matplotlib.patches import Polygon
from matplotlib.text import Text

from compassmeta import plots
from compassmeta.cli import main
from compassmeta.plots.forest import SQUARE_AREA
from compassmeta.plots.labels import author_year
from conftest import PROJECT, load_fixture
from test_plots import by_gid, reference, texts

CORE = load_fixture("metafor_core.json")
BIAS = load_fixture("metafor_bias.json")
DATA = {d["name"]: d for d in CORE["datasets"]}
TRIALS = PROJECT / "studies" / "trials.csv"
THIRDWAVE = PROJECT / "studies" / "thirdwave.csv"


@pytest.fixture(autouse=True)
def close_figures():
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


def diamond_x(polygon):
    """lower, estimate, upper of a drawn diamond."""
    xy = polygon.get_xy()[:4, 0]
    return xy.min(), xy[1], xy.max()


def csv_file(tmp_path, yi, vi, **columns):
    path = tmp_path / "effects.csv"
    names = ["yi", "vi", *columns]
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(names)
        for i in range(len(yi)):
            writer.writerow([repr(float(yi[i])), repr(float(vi[i]))] + [columns[n][i] for n in columns])
    return path


def run(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def saved_figure(monkeypatch):
    """Capture the Figure a command saves instead of reading back its image."""
    captured = []
    original = plots.save_figure

    def keep(figure, path, dpi=200):
        captured.append(figure)
        return original(figure, path, dpi=dpi)

    monkeypatch.setattr(plots, "save_figure", keep)
    return captured


@pytest.mark.parametrize("citation, year, expected", [
    ("Savari, Y., Mohagheghi, H., & Petrocchi, N. (2021). A preliminary investigation.", "2021",
     "Savari et al. 2021"),
    ("Teale Sapach, M. J. N., & Carleton, R. N. (2023). Self-compassion training.", "2023",
     "Teale Sapach & Carleton 2023"),
    ("Aguilar-Raab C, Winter F, Warth M, et al. A compassion-based treatment. J Affect Disord. "
     "2023;342:127-38.", "", "Aguilar-Raab et al. 2023"),
    ("Smith J. One author. J Foo. 2020;1:2.", "", "Smith 2020"),
    ("Call et al. (label in dmetar's ThirdWave teaching data; Harrer 2021)", "", "Call et al."),
])
def test_author_year(citation, year, expected):
    assert author_year(citation, year) == expected


def test_cli_forest_labels_are_author_year_with_the_instrument_of_multi_row_trials(tmp_path, monkeypatch):
    figures = saved_figure(monkeypatch)
    assert run("forest", TRIALS, "-o", tmp_path / "f.png").exit_code == 0
    labels = texts(figures[-1], "study-label")
    assert labels[:3] == ["Aguilar-Raab et al. 2023", "Savari et al. 2021", "Koszycki et al. 2016, LSAS"]
    assert not any("-post" in label for label in labels)
    result = run("forest", TRIALS, "--label", "citation", "-o", tmp_path / "c.png")
    assert result.exit_code == 0, result.output
    assert figures[-1].get_figwidth() < 11  # was 4108 px at 200 dpi with whole citations


def test_long_labels_wrap_and_the_row_grows():
    d = DATA["bcg"]
    labels = ["A very long label that names a study by every author and the title of the paper"] + [
        f"Trial {i}" for i in range(1, 13)]
    figure = plots.forest_plot(d["yi"], d["vi"], labels)
    first = texts(figure, "study-label")[0]
    assert "\n" in first and max(len(line) for line in first.split("\n")) <= 40
    endless = plots.forest_plot(d["yi"], d["vi"], ["word " * 200] * 13)
    assert all(label.count("\n") == 2 and label.endswith("\u2026") for label in texts(endless, "study-label"))


def test_subgroup_headings_are_readable(tmp_path, monkeypatch):
    figures = saved_figure(monkeypatch)
    assert run("forest", THIRDWAVE, "--by", "risk_of_bias", "-o", tmp_path / "f.png").exit_code == 0
    assert texts(figures[-1], "subgroup-header") == ["Risk of bias: high", "Risk of bias: low"]


def test_squares_are_capped_and_the_axis_is_clipped_with_arrows():
    rng = np.random.default_rng(3)
    vi = rng.uniform(0.002, 0.05, 150)
    yi = rng.normal(0.3, 0.2, 150)
    yi[7], vi[7] = 4.0, 0.3  # one outlier far to the right
    figure = plots.forest_plot(yi, vi, [f"Study {i}" for i in range(150)])
    axis = figure.axes[0]
    low, high = axis.get_xlim()
    assert high < 2.5 and low > -1.5  # not stretched to +4
    markers = by_gid(figure, "study-markers", PathCollection)[0]
    assert markers.get_sizes().max() <= SQUARE_AREA[1]
    assert len(markers.get_offsets()) == 149  # the outlier's square lies off the axis: its arrow shows it
    arrows = by_gid(figure, "ci-arrow-right", PathCollection)[0].get_offsets()
    assert arrows[:, 0] == pytest.approx(high)
    assert len(arrows) >= 1


def test_small_forest_is_not_clipped():
    d = DATA["bcg"]
    figure = plots.forest_plot(d["yi"], d["vi"], [str(i) for i in range(13)])
    assert not by_gid(figure, "ci-arrow-left") and not by_gid(figure, "ci-arrow-right")


TIERS = {"alternate": "ebt", "random": "no treatment", "systematic": "minimal treatment"}


def test_comparator_tiers_are_ordered_named_and_pooled_within_tier_only():
    d = DATA["bcg"]
    tiers = [TIERS[a] for a in d["mods"]["alloc"]]
    figure = plots.subgroup_forest_plot(d["yi"], d["vi"], [str(i) for i in range(13)], tiers, by="comparator")
    assert texts(figure, "subgroup-header") == ["Comparator: No treatment", "Comparator: Minimal treatment",
                                                "Comparator: Evidence-based treatment"]
    assert not by_gid(figure, "pooled-diamond")
    assert "No overall diamond" in texts(figure, "caption")[0]
    groups = reference("subgroup", data="bcg", by="alloc", method="REML", test="z")["groups"]
    expected = {g["level"]: g for g in groups}
    for polygon, alloc in zip(by_gid(figure, "subgroup-diamond", Polygon),
                              ["random", "systematic", "alternate"]):
        g = expected[alloc]
        assert diamond_x(polygon) == pytest.approx((g["ci_lower"], g["estimate"], g["ci_upper"]), rel=1e-6)
    weights = [float(t.rstrip("%")) for t in texts(figure, "study-weight")]
    assert sum(weights) == pytest.approx(300, abs=0.5)  # each tier's weights add to 100%


def test_summary_only_draws_one_diamond_per_subgroup(tmp_path, monkeypatch):
    d = DATA["bcg"]
    path = csv_file(tmp_path, d["yi"], d["vi"], alloc=d["mods"]["alloc"])
    figures = saved_figure(monkeypatch)
    result = run("forest", path, "--by", "alloc", "--summary-only", "-o", tmp_path / "s.png")
    assert result.exit_code == 0, result.output
    figure = figures[-1]
    assert not texts(figure, "study-label") and not by_gid(figure, "study-markers")[0].get_offsets().size
    expected = reference("subgroup", data="bcg", by="alloc", method="REML", test="z")["groups"]
    drawn = [diamond_x(p)[1] for p in by_gid(figure, "subgroup-diamond", Polygon)]
    assert drawn == pytest.approx([g["estimate"] for g in expected], rel=1e-6)
    overall = reference("pool", data="bcg", method="REML", test="z")
    pooled = diamond_x(by_gid(figure, "pooled-diamond", Polygon)[0])[1]
    assert pooled == pytest.approx(overall["estimate"], rel=1e-6)
    assert run("forest", path, "--summary-only", "-o", tmp_path / "s.png").exit_code == 2


def test_large_forest_warns_and_offers_summary_only(tmp_path):
    rng = np.random.default_rng(1)
    path = csv_file(tmp_path, rng.normal(0.3, 0.3, 120), rng.uniform(0.01, 0.1, 120))
    result = CliRunner().invoke(main, ["forest", str(path), "-o", str(tmp_path / "f.png")])
    assert result.exit_code == 0
    assert "120 rows" in result.stderr and "--summary-only" in result.stderr


def test_forest_by_cluster_groups_rows_under_the_trial(tmp_path, monkeypatch):
    figures = saved_figure(monkeypatch)
    result = run("forest", TRIALS, "--cluster", "study_id", "-o", tmp_path / "c.png")
    assert result.exit_code == 0, result.output
    figure = figures[-1]
    assert texts(figure, "cluster-header") == ["Koszycki et al. 2016", "Teale Sapach & Carleton 2023",
                                              "Eriksson et al. 2018"]
    labels = [label.strip() for label in texts(figure, "study-label")]
    assert labels[2:4] == ["LSAS", "SPIN"] and labels[0] == "Aguilar-Raab et al. 2023"
    # the diamond is metafor's three-level model (scripts/metafor_trials_multilevel.R)
    expected = load_fixture("metafor_trials_multilevel.json")
    assert diamond_x(by_gid(figure, "pooled-diamond", Polygon)[0]) == pytest.approx(
        (expected["ci_lower"], expected["estimate"], expected["ci_upper"]), rel=1e-6)
    assert "Three-level model" in [text.get_text() for text in figure.findobj(Text)]
    assert "treated as independent" not in result.stderr  # no shared-trial warning with --cluster


def test_forest_by_cluster_without_a_multilevel_estimator_says_rows_are_not_independent(
        tmp_path, monkeypatch):
    figures = saved_figure(monkeypatch)
    result = run("forest", TRIALS, "--cluster", "study_id", "--method", "DL", "-o", tmp_path / "c.png")
    assert result.exit_code == 0, result.output
    assert "not independent" in texts(figures[-1], "caption")[0]


def test_cluster_forest_draws_the_given_overall_estimate():
    d = DATA["bcg"]
    clusters = [f"c{i // 2}" for i in range(13)]
    headings = {c: f"Trial {c}" for c in clusters}
    univariate = plots.cluster_forest_plot(d["yi"], d["vi"], [str(i) for i in range(13)], clusters, headings)
    expected = reference("pool", data="bcg", method="REML", test="z")
    assert diamond_x(by_gid(univariate, "pooled-diamond", Polygon)[0]) == pytest.approx(
        (expected["ci_lower"], expected["estimate"], expected["ci_upper"]), rel=1e-6)
    # a stand-in with the PooledModel members the plot reads
    diamond = SimpleNamespace(estimate=-0.6, ci_lower=-0.9, ci_upper=-0.3)
    multilevel = SimpleNamespace(pooled_estimate=lambda: diamond, prediction_interval=lambda: (-1.5, 0.3))
    figure = plots.cluster_forest_plot(d["yi"], d["vi"], [str(i) for i in range(13)], clusters, headings,
                                       overall=multilevel, overall_label="Three-level model")
    assert diamond_x(by_gid(figure, "pooled-diamond", Polygon)[0]) == pytest.approx((-0.9, -0.6, -0.3))
    assert min(by_gid(figure, "prediction-interval")[0].get_xdata()) == pytest.approx(-1.5)
    assert "not independent" not in texts(figure, "caption")[0]


def test_forest_fixed_shows_fixed_effect_weights(tmp_path, monkeypatch):
    d = DATA["bcg"]
    path = csv_file(tmp_path, d["yi"], d["vi"])
    figures = saved_figure(monkeypatch)
    assert run("forest", path, "--fixed", "-o", tmp_path / "f.png").exit_code == 0
    figure = figures[-1]
    assert texts(figure, "weight-title") == ["RE weight", "FE weight"]
    shown = np.array([float(t.rstrip("%")) for t in texts(figure, "study-weight")]).reshape(13, 2)
    inverse_variance = 100 / np.array(d["vi"]) / np.sum(1 / np.array(d["vi"]))
    np.testing.assert_allclose(shown[:, 1], inverse_variance, atol=0.051)
    fixed = reference("pool", data="bcg", method="FE", test="z")
    fixed_centre = diamond_x(by_gid(figure, "fixed-diamond", Polygon)[0])[1]
    assert fixed_centre == pytest.approx(fixed["estimate"], rel=1e-6)


@pytest.mark.parametrize("args, message", [
    (["--kind", "leave-one-out", "--by", "alloc"], "--by does not apply"),
    (["--kind", "cumulative", "--fixed"], "--fixed does not apply"),
    (["--by", "alloc", "--cluster", "alloc"], "cannot be combined"),
    (["--format", "json"], "--format does not apply"),
])
def test_forest_refuses_what_it_would_ignore(tmp_path, args, message):
    d = DATA["bcg"]
    path = csv_file(tmp_path, d["yi"], d["vi"], alloc=d["mods"]["alloc"])
    result = run("forest", path, "-o", tmp_path / "f.png", *args)
    assert result.exit_code == 2
    assert message in result.output and len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "f.png").exists()


@pytest.mark.parametrize("command", [["funnel"], ["baujat"], ["bubble", "--mod", "alloc"], ["gosh"]])
def test_every_figure_command_refuses_format(tmp_path, command):
    d = DATA["bcg"]
    path = csv_file(tmp_path, d["yi"], d["vi"], alloc=d["mods"]["alloc"])
    result = run(command[0], path, *command[1:], "-o", tmp_path / "f.png", "--format", "csv")
    assert result.exit_code == 2 and "--format does not apply" in result.output


@pytest.mark.parametrize("name", ["thirdwave", "hackshaw1998"])
def test_funnel_title_says_trim_and_fill_only_when_it_imputed(name):
    d = next(x for x in BIAS["datasets"] if x["name"] == name)
    k0 = next(c for c in BIAS["cases"] if c["data"] == name and c["method"] == "REML")["trimfill"][0]["k0"]
    figure = plots.funnel_plot(d["yi"], d["vi"], trimfill=True, title="A funnel")
    title = figure.axes[0].get_title()
    if k0:
        assert "with trim-and-fill" in title and f"k0 = {k0}" in title
    else:
        assert "with trim-and-fill" not in title and "imputed no study" in title


def test_rplots_pdf_is_gone_and_ignored():
    assert not (PROJECT / "Rplots.pdf").exists()
    assert "Rplots.pdf" in (PROJECT / ".gitignore").read_text().split()


def _boxes(figure, artists):
    renderer = figure.canvas.get_renderer()
    return [a.get_window_extent(renderer) for a in artists]


def test_baujat_labels_stay_inside_and_clear_of_points_and_each_other():
    d = DATA["hackshaw1998"]
    labels = [f"Study number {i}" for i in range(len(d["yi"]))]
    figure = plots.baujat_plot(d["yi"], d["vi"], labels)
    figure.canvas.draw()
    axis = figure.axes[0]
    frame = axis.get_window_extent(figure.canvas.get_renderer())
    boxes = _boxes(figure, by_gid(figure, "study-label", Text))
    assert boxes
    for box in boxes:
        assert frame.x0 <= box.x0 and box.x1 <= frame.x1 and frame.y0 <= box.y0 and box.y1 <= frame.y1
    assert not any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1:])
    points = axis.transData.transform(by_gid(figure, "study-points", PathCollection)[0].get_offsets())
    for box in boxes:
        assert not any(box.x0 < px < box.x1 and box.y0 < py < box.y1 for px, py in points)


def test_bubble_at_large_k_is_translucent_sized_by_weight_with_a_legend():
    rng = np.random.default_rng(478)
    vi = rng.uniform(0.01, 0.2, 478)
    yi = rng.normal(0.3, 0.3, 478)
    figure = plots.bubble_plot(yi, vi, list(rng.uniform(2000, 2020, 478)), "publication_year")
    axis = figure.axes[0]
    points = by_gid(figure, "study-points", PathCollection)[0]
    assert points.get_facecolor()[0][3] < 0.5  # translucent
    sizes = points.get_sizes()
    heaviest = np.argmin(vi)  # most precise study gets the largest bubble (the weights follow 1/(vi + tau^2))
    assert sizes[heaviest] == sizes.max() and sizes.max() < 100
    assert axis.get_legend().get_title().get_text() == "Weight"
    assert axis.get_xlabel() == "Publication year"


def test_bubble_categorical_tiers_in_order_with_metafor_estimates():
    d = DATA["bcg"]
    tiers = [TIERS[a] for a in d["mods"]["alloc"]]
    figure = plots.bubble_plot(d["yi"], d["vi"], tiers, "comparator")
    ticks = [t.get_text().replace("\n", " ") for t in figure.axes[0].get_xticklabels()]
    assert ticks == ["No treatment", "Minimal treatment", "Evidence-based treatment"]
    # the level means of metafor's rma(yi, vi, mods = ~ alloc): intercept = alternate (-> ebt)
    coefficients = reference("metareg", data="bcg", mods="alloc", method="REML", test="z")["estimate"]
    drawn = [line.get_ydata()[0] for line in figure.axes[0].lines
             if line.get_gid() == "level-estimate" and line.get_marker() == "D"]
    assert drawn == pytest.approx([coefficients[0] + coefficients[1], coefficients[0] + coefficients[2],
                                   coefficients[0]], rel=1e-6)


def test_gosh_axes_end_at_the_data_and_show_a_density_scale():
    from compassmeta.analyses.gosh import gosh

    d = DATA["bcg"]
    result = gosh(np.array(d["yi"][:8]), np.array(d["vi"][:8]), method="FE", workers=1)
    figure = plots.gosh_plot(result)
    axis = figure.axes[0]
    low, high = axis.get_xlim()
    span = result.estimate.max() - result.estimate.min()
    assert low <= result.estimate.min() and high >= result.estimate.max()
    assert low > result.estimate.min() - 0.05 * span and high < result.estimate.max() + 0.05 * span
    scale = by_gid(figure, "density-scale")
    assert scale and scale[0].get_xlabel() == "subsets per hexagon"


def test_gosh_prints_no_bare_progress_line_off_a_terminal(tmp_path):
    d = DATA["bcg"]
    path = csv_file(tmp_path, d["yi"][:6], d["vi"][:6])
    result = CliRunner().invoke(main, ["gosh", str(path), "--method", "FE", "-o", str(tmp_path / "g.png")])
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
