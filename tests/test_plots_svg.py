"""The report's figures drawn as SVG without matplotlib (plots.svg_canvas and its drawers): what they
draw is read back from the markup through the drawn axis and compared with metafor."""
import base64
import re
import struct
import zlib

import numpy as np
import pytest

from compassmeta.plots.forest import forest_spec
from compassmeta.plots.forest_svg import forest_svg
from compassmeta.plots.panels_svg import bubble_svg, funnel_svg
from compassmeta.plots.svg_canvas import Canvas, discs, nice_ticks, png_bytes, text_width
from conftest import load_fixture

CORE = load_fixture("metafor_core.json")
BIAS = load_fixture("metafor_bias.json")
DATA = {d["name"]: d for d in CORE["datasets"]}
Z975 = 1.959963984540054


def _pool(data):
    return next(c["result"] for c in CORE["pool"]
                if c.get("data") == data and c.get("method") == "REML" and c.get("test") == "z")


def elements(svg, tag, role):
    """Attribute dictionaries of the ``tag`` elements whose id has ``role`` (repeats numbered)."""
    found = re.findall(rf'<{tag} id="f[0-9a-f]{{8}}-{role}(?:-\d+)?"([^>]*)>', svg)
    return [dict(re.findall(r'([\w-]+)="([^"]*)"', attributes)) for attributes in found]


def axis(svg, name="x"):
    """The data -> point map of the drawn axis, from its ticks and their labels: (scale, offset)."""
    ticks = elements(svg, "line", f"{name}-tick")
    labels = re.findall(rf'id="f[0-9a-f]{{8}}-{name}-tick-label(?:-\d+)?"[^>]*><tspan[^>]*>([^<]*)<', svg)
    positions = [float(t["x1" if name == "x" else "y1"]) for t in ticks]
    values = [float(label.replace("\u2212", "-")) for label in labels]
    scale, offset = np.polyfit(values, positions, 1)
    return lambda point: (point - offset) / scale, abs(scale)


def test_forest_squares_and_diamond_are_the_trials_and_metafor_pooled_estimate():
    d = DATA["bcg"]
    labels = [f"Trial {i + 1}" for i in range(len(d["yi"]))]
    svg = forest_svg(forest_spec(d["yi"], d["vi"], labels, title="BCG <trials> & more"))
    to_data, scale = axis(svg)
    tolerance = 0.002 / scale  # coordinates (and the ticks giving the axis) are written to 0.001 pt
    squares = elements(svg, "rect", "study-marker")
    assert len(squares) == 13 == len(elements(svg, "text", "study-label"))
    centres = [to_data(float(s["x"]) + float(s["width"]) / 2) for s in squares]
    inside = [y for y in d["yi"] if -2.5 < y < 1.0]  # the axis is clipped at the bulk of the intervals
    assert np.allclose(sorted(centres), sorted(inside)[:len(centres)], atol=tolerance) and len(centres) == 13
    expected = _pool("bcg")
    diamond = [tuple(map(float, point.split(","))) for point in elements(svg, "polygon", "pooled-diamond")[0]
               ["points"].split()]
    xs = [to_data(x) for x, _ in diamond]
    assert xs == pytest.approx([expected["ci_lower"], expected["estimate"], expected["ci_upper"],
                                expected["estimate"]], abs=tolerance)
    assert "BCG &lt;trials&gt; &amp; more" in svg and "<trials>" not in svg
    weights = 1 / (np.array(d["vi"]) + expected["tau2"])
    shown = re.findall(r'-study-weight(?:-\d+)?"[^>]*><tspan[^>]*>([^<]*)<', svg)
    assert shown == [f"{w:.1f}%" for w in 100 * weights / weights.sum()]


def test_funnel_region_passes_through_the_trimmed_and_filled_estimate_and_draws_the_imputed_trial():
    d = DATA["bcg"]
    case = next(c for c in BIAS["cases"] if c["data"] == "bcg" and c["method"] == "REML")
    filled = next(t for t in case["trimfill"] if t["estimator"] == "L0" and t["side_requested"] == "auto")
    assert filled["k0"] == 1
    svg = funnel_svg(d["yi"], d["vi"], trimfill=True)
    to_x, x_scale = axis(svg, "x")
    to_y, y_scale = axis(svg, "y")
    se_max = 1.08 * max(np.sqrt(d["vi"]).max(), np.sqrt(filled["filled_vi"]))
    lines = elements(svg, "polyline", "pseudo-ci")
    assert len(lines) == 2
    for line, side in zip(lines, (-1, 1)):
        (x0, y0), (x1, y1) = (tuple(map(float, p.split(","))) for p in line["points"].split())
        assert to_x(x0) == pytest.approx(filled["estimate"], abs=0.002 / x_scale)
        assert to_y(y0) == pytest.approx(0.0, abs=0.002 / y_scale)
        assert to_x(x1) == pytest.approx(filled["estimate"] + side * Z975 * se_max, abs=0.002 / x_scale)
        assert to_y(y1) == pytest.approx(se_max, abs=0.002 / y_scale)
    assert len(elements(svg, "circle", "study-point")) == 13
    (imputed,) = elements(svg, "circle", "filled-study")
    assert to_x(float(imputed["cx"])) == pytest.approx(filled["filled_yi"], abs=0.002 / x_scale)
    assert to_y(float(imputed["cy"])) == pytest.approx(np.sqrt(filled["filled_vi"]), abs=0.002 / y_scale)


def _png_size(data):
    """(width, height) of a PNG after checking its chunks' CRCs and that IDAT inflates to its scanlines."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    position, chunks = 8, {}
    while position < len(data):
        (length,) = struct.unpack(">I", data[position:position + 4])
        kind, body = data[position + 4:position + 8], data[position + 8:position + 8 + length]
        (crc,) = struct.unpack(">I", data[position + 8 + length:position + 12 + length])
        assert crc == zlib.crc32(kind + body)
        chunks[kind] = chunks.get(kind, b"") + body
        position += 12 + length
    width, height, depth, colour = struct.unpack(">IIBB", chunks[b"IHDR"][:10])
    assert (depth, colour) == (8, 6) and b"IEND" in chunks
    pixels = np.frombuffer(zlib.decompress(chunks[b"IDAT"]), np.uint8).reshape(height, 1 + 4 * width)
    return width, height, pixels[:, 1:].reshape(height, width, 4)


def test_thousands_of_points_are_one_embedded_png_of_the_declared_size():
    rng = np.random.default_rng(7)
    vi = rng.uniform(0.01, 0.2, 3000)
    yi = rng.normal(0.3, np.sqrt(vi))
    for svg in (funnel_svg(yi, vi), bubble_svg(yi, vi, rng.uniform(0, 10, 3000), "dose")):
        (image,) = elements(svg, "image", "study-points")
        assert not elements(svg, "circle", "study-point")
        width, height, pixels = _png_size(base64.b64decode(image["href"].split(",", 1)[1]))
        assert (width, height) == (round(2 * float(image["width"])), round(2 * float(image["height"])))
        assert (pixels[..., 3] > 0).sum() > 3000


def test_png_encoder_round_trips_pixels():
    image = np.zeros((3, 5, 4), np.uint8)
    image[1, 2] = (10, 20, 30, 255)
    width, height, pixels = _png_size(png_bytes(image))
    assert (width, height) == (5, 3) and np.array_equal(pixels, image)


def test_discs_cover_their_area_and_overlaps_composite():
    one = discs(20, 20, [10], [10], 3.0, (0, 0, 0), 0.5)
    offsets = range(-3, 4)
    assert (one[..., 3] > 0).sum() == sum(dx * dx + dy * dy <= 9 for dx in offsets for dy in offsets)
    two = discs(20, 20, [10, 10], [10, 10], 3.0, (0, 0, 0), 0.5)
    assert one[10, 10, 3] == 128 and two[10, 10, 3] == round(255 * (1 - 0.5 ** 2))


def test_ticks_widths_and_ids():
    assert nice_ticks(-0.53, 2.4) == [-0.5, 0.0, 0.5, 1.0, 1.5, 2.0]
    assert nice_ticks(0, 0.46) == [0.0, 0.1, 0.2, 0.3, 0.4]
    assert text_width("Hello World", 1000) == pytest.approx(5718, rel=0.02)  # DejaVu Sans, as measured
    canvas = Canvas(10, 10)
    canvas.line(0, 0, 1, 1, "edge")
    canvas.line(0, 1, 1, 0, "edge")
    markup = canvas.markup()
    prefix = re.search(r'id="(f[0-9a-f]{8})-edge"', markup).group(1)
    assert f'id="{prefix}-edge-2"' in markup and markup == canvas.markup()


def _case(kind, **match):
    return next(c["result"] for c in CORE[kind] if all(c.get(k) == v for k, v in match.items()))


def test_subgroup_summary_forest_draws_metafor_subgroup_diamonds():
    from compassmeta.plots.forest import subgroup_forest_spec

    d = DATA["bcg"]
    svg = forest_svg(subgroup_forest_spec(d["yi"], d["vi"], [f"T{i}" for i in range(13)], d["mods"]["alloc"],
                                          by="alloc", summary_only=True))
    to_data, scale = axis(svg)
    expected = _case("subgroup", data="bcg", by="alloc", method="REML", test="z")["groups"]
    diamonds = [[to_data(float(p.split(",")[0])) for p in polygon["points"].split()]
                for polygon in elements(svg, "polygon", "subgroup-diamond")]
    assert not elements(svg, "rect", "study-marker") and len(diamonds) == len(expected) == 3
    for drawn, group in zip(diamonds, sorted(expected, key=lambda g: g["level"])):
        bounds = [group["ci_lower"], group["estimate"], group["ci_upper"], group["estimate"]]
        assert drawn == pytest.approx(bounds, abs=0.002 / scale)


def test_bubble_draws_metafor_regression_line_through_the_studies():
    d = DATA["bcg"]
    ablat = np.array(d["mods"]["ablat"], dtype=float)
    svg = bubble_svg(d["yi"], d["vi"], ablat, "ablat")
    to_x, x_scale = axis(svg, "x")
    to_y, y_scale = axis(svg, "y")
    intercept, slope = _case("metareg", data="bcg", mods="ablat", method="REML", test="z")["estimate"]
    line = elements(svg, "polyline", "fitted-line")[0]["points"]
    points = [tuple(map(float, p.split(","))) for p in line.split()]
    for x, y in (points[0], points[-1]):
        tolerance = 0.004 / y_scale + abs(slope) * 0.002 / x_scale
        assert to_y(y) == pytest.approx(intercept + slope * to_x(x), abs=tolerance)
    assert to_x(points[0][0]) == pytest.approx(ablat.min(), abs=0.002 / x_scale)
    assert to_x(points[-1][0]) == pytest.approx(ablat.max(), abs=0.002 / x_scale)
    circles = elements(svg, "circle", "study-point")
    assert sorted(to_x(float(c["cx"])) for c in circles) == pytest.approx(sorted(ablat), abs=0.002 / x_scale)


def test_traffic_lights_colour_each_judgement_as_robvis():
    from types import SimpleNamespace

    from compassmeta.plots.estimates_svg import traffic_light_svg

    judged = [SimpleNamespace(domains=dict(d1="low", d2="some concerns", d3="high", d4="low", d5="low"),
                              overall="high"),
              SimpleNamespace(domains=dict(d1="low", d2="low", d3="low", d4="low", d5="low"), overall="low")]
    svg = traffic_light_svg(judged, ["row <1>", "row 2"], title="RoB")
    robvis = {"low": "#02C100", "some concerns": "#E2DF07", "high": "#BF0000"}  # robvis's "cochrane" colours
    for column in ("d1", "d2", "d3", "d4", "d5", "overall"):
        fills = [circle["fill"] for circle in elements(svg, "circle", f"rob-{column}")]
        ratings = [j.overall if column == "overall" else j.domains[column] for j in judged]
        assert fills == [robvis[rating] for rating in ratings]
    assert "row &lt;1&gt;" in svg
