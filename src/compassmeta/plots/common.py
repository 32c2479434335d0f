"""Shared pieces of the figures: backend, fonts, text measurement, saving."""
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.font_manager import FontProperties  # noqa: E402
from matplotlib.textpath import TextToPath  # noqa: E402

from ..common.errors import InputError  # noqa: E402
from ..common.files import replacing  # noqa: E402

FONT_SIZE = 9
FORMATS = {".png", ".svg", ".pdf"}
MEASURE_NAME = "Hedges' g"


def text_width_inches(text, size=FONT_SIZE, bold=False):
    """Width of ``text`` when drawn in the default font at ``size`` points, in inches."""
    if not text:
        return 0.0
    properties = FontProperties(size=size, weight="bold" if bold else "normal")
    width, _, _ = _TEXT_TO_PATH.get_text_width_height_descent(text, properties, ismath=False)
    return width / 72.0


_TEXT_TO_PATH = TextToPath()


def new_figure(width, height):
    return plt.figure(figsize=(width, height))


def save_figure(figure, path, dpi=200):
    """Save by the file's extension (.png, .svg, .pdf) through a temporary file and a rename."""
    path = Path(path)
    if path.suffix.lower() not in FORMATS:
        raise InputError(f"unknown figure format '{path.suffix}'; use .png, .svg or .pdf", file=path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with replacing(path) as temporary:
            figure.savefig(temporary, dpi=dpi, format=path.suffix[1:].lower())
    finally:
        plt.close(figure)
    return path


RASTER_POINTS = 2_000   # points of one collection beyond which svg_text embeds it as an image


def format_interval(estimate, lower, upper):
    return f"{estimate:.2f} [{lower:.2f}, {upper:.2f}]"


def svg_text(figure):
    """The figure as SVG markup for inlining in HTML (glyphs as paths, so it looks the same in every
    browser); closes it.  Every id (and each reference to it) gets a prefix made from a hash of the
    figure's own markup, so figures inlined in one page keep ids that are stable and unique
    (references point to matplotlib's definitions, whose ids are unique within a figure).  A
    collection of more than RASTER_POINTS points (the funnel or bubble plot of thousands of trials)
    is embedded as an image: as paths, one per point, it made minutes and megabytes of a page."""
    import hashlib
    import io
    import re

    from matplotlib.collections import Collection

    for collection in figure.findobj(Collection):
        if len(collection.get_offsets()) > RASTER_POINTS:
            collection.set_rasterized(True)
    buffer = io.StringIO()
    try:
        with matplotlib.rc_context({"svg.fonttype": "path", "svg.hashsalt": "compassmeta"}):
            # no timestamp: the same figure gives the same markup (and ids)
            figure.savefig(buffer, format="svg", metadata={"Date": None})
    finally:
        plt.close(figure)
    markup = buffer.getvalue()
    markup = markup[markup.index("<svg"):]
    prefix = "f" + hashlib.sha256(markup.encode("utf-8")).hexdigest()[:8]
    seen = {}

    def unique_id(match):  # the plots' own gids name roles shared by many rows: number the repeats
        name = match.group(1)
        seen[name] = seen.get(name, 0) + 1
        return f'id="{prefix}-{name}"' if seen[name] == 1 else f'id="{prefix}-{name}-{seen[name]}"'

    markup = re.sub(r'\bid="([^"]+)"', unique_id, markup)
    return re.sub(r'(url\(#|href="#)([^")]+)', lambda m: f"{m.group(1)}{prefix}-{m.group(2)}", markup)
