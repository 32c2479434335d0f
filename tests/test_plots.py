"""What the figures draw: labels, markers, diamonds, intervals, headers, and no overlapping text."""
import numpy as np
import pytest
from click.testing import CliRunner
from matplotlib.collections import PathCollection
from matplotlib.patches import Polygon
from matplotlib.text import Text

from compassmeta import plots
from compassmeta.cli import main
from conftest import PROJECT, load_fixture

CORE = load_fixture("metafor_core.json")
BIAS = load_fixture("metafor_bias.json")
DATA = {d["name"]: d for d in CORE["datasets"]}


def reference(kind, **match):
    return next(c["result"] for c in CORE[kind] if all(c.get(k) == v for k, v in match.items()))


def by_gid(figure, gid, kind=object):
    return [artist for artist in figure.findobj(lambda a: a.get_gid() == gid) if isinstance(artist, kind)]


def texts(figure, gid):
    return [t.get_text() for t in by_gid(figure, gid, Text)]


@pytest.fixture(scope="module")
def bcg_forest():
    d = DATA["bcg"]
    labels = [f"Trial {i + 1}" for i in range(len(d["yi"]))]
    return plots.forest_plot(d["yi"], d["vi"], labels, columns={"Allocation": d["mods"]["alloc"]},
                             ci_method="knha")


def test_forest_labels_and_markers(bcg_forest):
    assert texts(bcg_forest, "study-label") == [f"Trial {i + 1}" for i in range(13)]
    markers = by_gid(bcg_forest, "study-markers", PathCollection)[0]
    assert len(markers.get_offsets()) == 13
    np.testing.assert_allclose(markers.get_offsets()[:, 0], DATA["bcg"]["yi"])


def test_forest_diamond_and_prediction_interval_match_metafor(bcg_forest):
    expected = reference("pool", data="bcg", method="REML", test="knha")
    diamond = by_gid(bcg_forest, "pooled-diamond", Polygon)[0].get_xy()[:4]
    xs = diamond[:, 0]
    assert xs.min() == pytest.approx(expected["ci_lower"], rel=1e-6)
    assert xs.max() == pytest.approx(expected["ci_upper"], rel=1e-6)
    assert xs[1] == pytest.approx(expected["estimate"], rel=1e-6)
    prediction = by_gid(bcg_forest, "prediction-interval")[0].get_xdata()
    assert min(prediction) == pytest.approx(expected["pi_lower"], rel=1e-6)
    assert max(prediction) == pytest.approx(expected["pi_upper"], rel=1e-6)


def test_forest_favours_and_axis(bcg_forest):
    assert texts(bcg_forest, "favours-intervention") and texts(bcg_forest, "favours-control")
    assert bcg_forest.axes[0].get_xlabel() == "Hedges' g"


def test_subgroup_forest_headers_and_diamonds():
    d = DATA["bcg"]
    figure = plots.subgroup_forest_plot(d["yi"], d["vi"], [str(i) for i in range(13)], d["mods"]["alloc"],
                                        by="alloc")
    assert texts(figure, "subgroup-header") == ["Alloc: alternate", "Alloc: random", "Alloc: systematic"]
    diamonds = by_gid(figure, "subgroup-diamond", Polygon)
    expected = reference("subgroup", data="bcg", by="alloc", method="REML", test="z")["groups"]
    assert [p.get_xy()[1, 0] for p in diamonds] == pytest.approx([g["estimate"] for g in expected], rel=1e-6)


def _overlaps(figure):
    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()
    boxes = [t.get_window_extent(renderer) for t in figure.findobj(Text)
             if t.get_text().strip() and t.get_visible()]
    boxes = np.array([[b.x0, b.y0, b.x1, b.y1] for b in boxes])
    x0, y0, x1, y1 = (boxes[:, i][:, None] for i in range(4))
    overlap = (x0 < x1.T - 0.5) & (x1 > x0.T + 0.5) & (y0 < y1.T - 0.5) & (y1 > y0.T + 0.5)
    np.fill_diagonal(overlap, False)
    return int(overlap.sum() // 2), len(boxes)


@pytest.mark.parametrize("k", [5, 150])
def test_forest_text_never_overlaps(k):
    rng = np.random.default_rng(k)
    vi = rng.uniform(0.01, 0.3, k)
    yi = rng.normal(0.4, np.sqrt(vi + 0.05))
    labels = [("A rather long study label, et al. " if i % 7 == 0 else "Study ") + str(i) for i in range(k)]
    groups = ["waitlist" if i % 3 else "active control" for i in range(k)]
    figure = plots.subgroup_forest_plot(yi, vi, labels, groups, by="control", columns={"Control": groups})
    overlaps, count = _overlaps(figure)
    assert count > 4 * k and overlaps == 0
    assert figure.get_figheight() > 0.2 * k  # the figure grows with k


@pytest.mark.parametrize("case", [c for c in BIAS["cases"] if c["method"] == "REML"][:4],
                         ids=lambda c: c["data"])
def test_funnel_draws_studies_and_trim_and_fill(case):
    d = next(x for x in BIAS["datasets"] if x["name"] == case["data"])
    figure = plots.funnel_plot(d["yi"], d["vi"], contours=True, trimfill=True, egger=True)
    assert len(by_gid(figure, "study-points", PathCollection)[0].get_offsets()) == len(d["yi"])
    k0 = case["trimfill"][0]["k0"]
    filled = by_gid(figure, "filled-studies", PathCollection)
    assert (len(filled[0].get_offsets()) if filled else 0) == k0
    assert by_gid(figure, "egger-line") and by_gid(figure, "contour-p0.05")
    egger = by_gid(figure, "egger-line")[0]
    assert egger.get_xdata()[0] == pytest.approx(case["egger_lm"]["limit_estimate"], rel=1e-6)


def test_bubble_line_is_the_metafor_fit():
    d = DATA["bcg"]
    figure = plots.bubble_plot(d["yi"], d["vi"], d["mods"]["ablat"], "ablat")
    expected = reference("metareg", data="bcg", mods="ablat", method="REML", test="z")["estimate"]
    line = by_gid(figure, "fitted-line")[0]
    x, y = line.get_xdata(), line.get_ydata()
    np.testing.assert_allclose(y, expected[0] + expected[1] * x, rtol=1e-6)


def test_cli_formats_follow_the_extension(tmp_path):
    d = DATA["bcg"]
    path = tmp_path / "bcg.csv"
    path.write_text("yi,vi\n" + "".join(f"{y!r},{v!r}\n" for y, v in zip(d["yi"], d["vi"])))
    runner = CliRunner()
    for name, magic in (("f.png", b"\x89PNG"), ("f.svg", b"<?xml"), ("f.pdf", b"%PDF")):
        result = runner.invoke(main, ["forest", str(path), "-o", str(tmp_path / name)])
        assert result.exit_code == 0, result.output
        assert (tmp_path / name).read_bytes().startswith(magic)
    for command in (["funnel", str(path), "--contours", "--trimfill", "--egger"], ["baujat", str(path)],
                    ["forest", str(path), "--kind", "leave-one-out"],
                    ["forest", str(path), "--kind", "cumulative"]):
        result = runner.invoke(main, command + ["-o", str(tmp_path / "x.png")])
        assert result.exit_code == 0, result.output
    bad = runner.invoke(main, ["forest", str(path), "-o", str(tmp_path / "f.jpg")])
    assert bad.exit_code == 2 and "use .png, .svg or .pdf" in bad.output


def test_reproduce_writes_figures(tmp_path):
    result = CliRunner(env={"COMPASSMETA_MIRROR": ""}).invoke(
        main, ["reproduce", "--studies", str(PROJECT / "studies"), "--figures", str(tmp_path),
               "--format", "json"])
    assert result.exit_code == 0, result.output
    names = {p.name for p in tmp_path.iterdir()}
    assert {"thirdwave_forest.png", "thirdwave_funnel.png", "thirdwave_risk_of_bias_forest.png"} <= names
