"""Shared pieces of the figures: fonts, text measurement, saving (matplotlib, imported only when a
function here needs it: the report's inline figures are drawn by :mod:`.svg_canvas` without it)."""
from functools import cache
from pathlib import Path

from ..common.errors import InputError
from ..common.files import replacing
from .svg_canvas import FONT_SIZE

FORMATS = {".png", ".svg", ".pdf"}
MEASURE_NAME = "Hedges' g"
__all__ = ["FONT_SIZE", "FORMATS", "MEASURE_NAME", "RASTER_POINTS", "format_interval", "new_figure",
           "save_figure", "text_width_inches"]


def _pyplot():
    """matplotlib's pyplot on the Agg backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


@cache
def _text_to_path():
    from matplotlib.textpath import TextToPath

    return TextToPath()


def text_width_inches(text, size=FONT_SIZE, bold=False):
    """Width of ``text`` when drawn in matplotlib's default font at ``size`` points, in inches."""
    if not text:
        return 0.0
    from matplotlib.font_manager import FontProperties

    properties = FontProperties(size=size, weight="bold" if bold else "normal")
    width, _, _ = _text_to_path().get_text_width_height_descent(text, properties, ismath=False)
    return width / 72.0


def new_figure(width, height):
    return _pyplot().figure(figsize=(width, height))


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
        _pyplot().close(figure)
    return path


RASTER_POINTS = 2_000   # points beyond which an SVG figure embeds them as an image


def format_interval(estimate, lower, upper):
    return f"{estimate:.2f} [{lower:.2f}, {upper:.2f}]"
