"""A small SVG drawing layer for the report's inline figures (no matplotlib: importing it took
0.7 s of a report, and its SVG writer laid every glyph out as a path).

Units are points (1/72 inch), as in matplotlib's SVG output, so a figure measured in inches for
matplotlib has the same size here.  Text is SVG ``<text>`` in a sans-serif font; its width, for
layout, comes from a table of DejaVu Sans advance widths (matplotlib's default font, so the two
renderings lay text out alike).  Elements drawn with a ``role`` get ``id="{prefix}-{role}"``
(repeats numbered ``-2``, ``-3``, ...; see :func:`prefix_ids`).  Many points are drawn as filled
discs into an RGBA array and embedded as a PNG data URI (:func:`png_bytes`).
"""
from __future__ import annotations

import base64
import hashlib
import math
import re
import struct
import zlib
from collections.abc import Sequence
from html import escape

import numpy as np

FONT_SIZE = 9             # points, of every figure's text (plots.common re-exports it)
FONT_FAMILY = "DejaVu Sans, Verdana, Arial, Helvetica, sans-serif"
_CHARACTERS = (" !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`"
               "abcdefghijklmnopqrstuvwxyz{|}~"
               "\u00b2\u2212\u00d7\u2192\u2190\u03c4\u03c1\u2026\u2013\u2014\u2265\u2264\u00b1\u00b7\u00e9\u00e8"
               "\u00e4\u00f6\u00fc\u00e1\u00ed\u00f3\u00f1\u00e7\u00c5\u00e5\u00f8")
# advance widths (1/1000 em) of DejaVu Sans, normal and bold, measured with matplotlib's TextToPath
_NORMAL = ("317 401 460 838 636 950 780 275 390 390 500 838 318 361 318 337 636 636 636 636 636 636 "
           "636 636 636 636 337 337 838 838 838 531 1000 684 686 698 770 632 575 775 752 295 295 656 "
           "557 863 748 787 603 787 695 635 611 732 684 989 685 611 685 390 337 390 838 500 500 613 "
           "635 550 635 615 352 635 634 278 278 579 278 974 634 612 635 635 411 521 392 634 592 818 "
           "592 592 525 636 337 636 838 401 838 838 838 838 602 635 1000 500 1000 838 838 838 318 "
           "615 615 613 612 634 613 278 612 634 550 684 613 612")
_BOLD = ("348 456 521 838 696 1002 872 306 457 457 523 838 380 415 380 365 696 696 696 696 696 696 "
         "696 696 696 696 400 400 838 838 838 580 1000 774 762 734 830 683 683 821 837 372 372 775 "
         "637 995 837 850 733 850 770 720 682 812 774 1103 771 724 725 457 365 457 838 500 500 675 "
         "716 593 716 678 435 716 712 343 343 665 343 1042 712 687 716 716 493 595 478 712 652 924 "
         "645 652 582 712 365 712 838 438 838 838 838 838 638 716 1000 500 1000 838 838 838 380 "
         "678 678 675 687 712 675 343 687 712 593 774 675 687")
WIDTHS = {False: dict(zip(_CHARACTERS, map(int, _NORMAL.split()))),
          True: dict(zip(_CHARACTERS, map(int, _BOLD.split())))}
UNKNOWN_WIDTH = {False: 640, True: 720}   # a character outside the table: about a digit's width
MINUS = "\u2212"


def text_width(text: str, size: float = FONT_SIZE, bold: bool = False) -> float:
    """Width in points of the longest line of ``text`` at ``size`` points (DejaVu Sans widths)."""
    table, unknown = WIDTHS[bold], UNKNOWN_WIDTH[bold]
    return max(sum(table.get(c, unknown) for c in line) for line in text.split("\n")) * size / 1000


def nice_ticks(low: float, high: float, target: int = 5) -> list[float]:
    """Ticks at a 1-2-5 step (times a power of ten) inside [low, high], about ``target`` of them."""
    if not (math.isfinite(low) and math.isfinite(high)) or high <= low:
        return [low] if math.isfinite(low) else []
    power = 10 ** math.floor(math.log10((high - low) / max(target, 1)))

    def count(step: float) -> int:
        return math.floor(high / step + 1e-9) - math.ceil(low / step - 1e-9) + 1

    step = min((m * power * scale for scale in (1, 10) for m in (1, 2, 5)),
               key=lambda step: (abs(count(step) - target), -step))
    first = math.ceil(low / step - 1e-9)
    ticks = [round((first + i) * step, 12) for i in range(int((high - low) / step) + 2)]
    return [t for t in ticks if low - 1e-9 * step <= t <= high + 1e-9 * step]


def tick_label(value: float, ticks: Sequence[float]) -> str:
    """A tick's label with as many decimals as the step needs, a true minus sign (as matplotlib)."""
    step = min((abs(b - a) for a, b in zip(ticks, ticks[1:])), default=1.0) or 1.0
    decimals = max(0, -math.floor(math.log10(step) + 1e-9))
    text = f"{value:.{decimals}f}"
    return MINUS + text[1:] if text.startswith("-") and float(text) != 0 else text.lstrip("-")


def prefix_ids(markup: str) -> str:
    """Every ``id`` (and each ``url(#..)``/``href="#.."`` reference) prefixed with ``f`` and 8 hex
    digits of the markup's SHA-256, repeats of a role numbered: figures inlined in one page keep ids
    that are stable and unique."""
    prefix = "f" + hashlib.sha256(markup.encode("utf-8")).hexdigest()[:8]
    seen: dict[str, int] = {}

    def unique_id(match: re.Match) -> str:  # the plots' roles are shared by many rows: number the repeats
        name = match.group(1)
        seen[name] = seen.get(name, 0) + 1
        return f'id="{prefix}-{name}"' if seen[name] == 1 else f'id="{prefix}-{name}-{seen[name]}"'

    markup = re.sub(r'\bid="([^"]+)"', unique_id, markup)
    return re.sub(r'(url\(#|href="#)([^")]+)', lambda m: f"{m.group(1)}{prefix}-{m.group(2)}", markup)


def _number(value: float) -> str:
    return f"{value:.3f}".rstrip("0").rstrip(".") if math.isfinite(value) else "0"


def _points(points) -> str:
    return " ".join(f"{_number(x)},{_number(y)}" for x, y in points)


class Canvas:
    """An SVG picture ``width`` x ``height`` points; y runs down from the top."""

    def __init__(self, width: float, height: float):
        self.width, self.height = width, height
        self.parts: list[str] = []

    def element(self, tag: str, role: str | None = None, content: str | None = None, **attributes) -> None:
        """One element; attribute names with '_' are written with '-'; None values are left out."""
        written = [f'id="{role}"'] if role else []
        written += [f'{name.replace("_", "-")}="{value}"' for name, value in attributes.items()
                    if value is not None]
        body = f"<{tag} {' '.join(written)}"
        self.parts.append(f"{body}/>" if content is None else f"{body}>{content}</{tag}>")

    def line(self, x1: float, y1: float, x2: float, y2: float, role: str | None = None, colour: str = "black",
             width: float = 0.8, dash: str | None = None) -> None:
        self.element("line", role, x1=_number(x1), y1=_number(y1), x2=_number(x2), y2=_number(y2),
                     stroke=colour, stroke_width=width, stroke_dasharray=dash)

    def polyline(self, points, role: str | None = None, colour: str = "black", width: float = 0.8,
                 dash: str | None = None) -> None:
        self.element("polyline", role, points=_points(points), fill="none", stroke=colour, stroke_width=width,
                     stroke_dasharray=dash)

    def polygon(self, points, role: str | None = None, fill: str = "black", stroke: str | None = None,
                opacity: float | None = None) -> None:
        self.element("polygon", role, points=_points(points), fill=fill, fill_opacity=opacity, stroke=stroke,
                     stroke_width=None if stroke is None else 0.6)

    def rect(self, x: float, y: float, width: float, height: float, role: str | None = None,
             fill: str = "black", stroke: str | None = None) -> None:
        self.element("rect", role, x=_number(x), y=_number(y), width=_number(width), height=_number(height),
                     fill=fill, stroke=stroke, stroke_width=None if stroke is None else 0.6)

    def circle(self, x: float, y: float, radius: float, role: str | None = None, fill: str = "black",
               stroke: str | None = None, opacity: float | None = None, stroke_width: float = 0.6) -> None:
        self.element("circle", role, cx=_number(x), cy=_number(y), r=_number(radius), fill=fill,
                     fill_opacity=opacity, stroke=stroke,
                     stroke_width=None if stroke is None else stroke_width)

    def text(self, x: float, y: float, text: str, role: str | None = None, size: float = FONT_SIZE,
             anchor: str = "start", bold: bool = False, italic: bool = False, valign: str = "center",
             colour: str | None = None, rotate: float | None = None) -> None:
        """``text`` (lines split at '\\n', 1.2 sizes apart) with its block centred on ``y`` (``valign``
        center), or its first line's top (top) or last line's bottom (bottom) at ``y``."""
        lines = text.split("\n")
        step = 1.2 * size
        block = step * (len(lines) - 1)
        first = {"center": y - block / 2 + 0.35 * size, "top": y + 0.8 * size,
                 "bottom": y - block - 0.25 * size}[valign]
        spans = "".join(f'<tspan x="{_number(x)}" y="{_number(first + i * step)}">'
                        f"{escape(line, quote=False)}</tspan>" for i, line in enumerate(lines))
        turn = None if rotate is None else f"rotate({_number(rotate)} {_number(x)} {_number(y)})"
        self.element("text", role, spans, font_size=_number(size),
                     text_anchor=anchor if anchor != "start" else None, font_weight="bold" if bold else None,
                     font_style="italic" if italic else None, fill=colour, transform=turn)

    def image(self, x: float, y: float, width: float, height: float, rgba: np.ndarray,
              role: str | None = None) -> None:
        """An RGBA array stretched over the box, as a PNG data URI."""
        data = base64.b64encode(png_bytes(rgba)).decode("ascii")
        self.element("image", role, x=_number(x), y=_number(y), width=_number(width), height=_number(height),
                     preserveAspectRatio="none", href=f"data:image/png;base64,{data}")

    def markup(self) -> str:
        """The SVG text, its ids prefixed (:func:`prefix_ids`)."""
        width, height = _number(self.width), _number(self.height)
        head = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}pt" height="{height}pt" '
                f'viewBox="0 0 {width} {height}" font-family="{FONT_FAMILY}" font-size="{FONT_SIZE}">')
        return prefix_ids(head + f'<rect id="background" width="{width}" height="{height}" fill="white"/>'
                          + "".join(self.parts) + "</svg>")


class Axes:
    """A panel of a canvas (``box``: left, top, width, height in points) mapping data to points."""

    def __init__(self, canvas: Canvas, box: tuple[float, float, float, float], xlim: tuple[float, float],
                 ylim: tuple[float, float]):
        self.canvas, self.box, self.xlim, self.ylim = canvas, box, xlim, ylim

    def x(self, value):
        left, _, width, _ = self.box
        low, high = self.xlim
        return left + (np.asarray(value, dtype=float) - low) / ((high - low) or 1.0) * width

    def y(self, value):
        """ylim is (bottom, top): a funnel's (se_max, 0) puts 0 at the top."""
        _, top, _, height = self.box
        bottom, upper = self.ylim
        return top + height - (np.asarray(value, dtype=float) - bottom) / ((upper - bottom) or 1.0) * height

    def xy(self, xs, ys) -> list[tuple[float, float]]:
        return list(zip(self.x(xs).tolist(), self.y(ys).tolist()))

    def x_axis(self, ticks: Sequence[float], labels: Sequence[str] | None = None, label: str = "",
               size: float = FONT_SIZE) -> None:
        """The bottom spine, ticks with their labels and the axis label below."""
        left, top, width, height = self.box
        bottom, canvas = top + height, self.canvas
        canvas.line(left, bottom, left + width, bottom, "x-axis")
        labels = [tick_label(t, ticks) for t in ticks] if labels is None else labels
        for tick, text in zip(ticks, labels):
            x = float(self.x(tick))
            canvas.line(x, bottom, x, bottom + 3.5, "x-tick")
            canvas.text(x, bottom + 5, text, "x-tick-label", size=size, anchor="middle", valign="top")
        if label:
            lines = max(text.count("\n") for text in labels) + 1 if labels else 1
            canvas.text(left + width / 2, bottom + 9 + 1.2 * size * lines, label, "x-label", size=size + 1,
                        anchor="middle", valign="top")

    def y_axis(self, ticks: Sequence[float], labels: Sequence[str] | None = None, label: str = "",
               size: float = FONT_SIZE) -> None:
        """The left spine, ticks with their labels and the (rotated) axis label."""
        left, top, _, height = self.box
        canvas = self.canvas
        canvas.line(left, top, left, top + height, "y-axis")
        labels = [tick_label(t, ticks) for t in ticks] if labels is None else labels
        for tick, text in zip(ticks, labels):
            y = float(self.y(tick))
            canvas.line(left - 3.5, y, left, y, "y-tick")
            canvas.text(left - 5, y, text, "y-tick-label", size=size, anchor="end")
        if label:
            widest = max((text_width(text, size) for text in labels), default=0.0)
            x = left - 10 - widest - 0.4 * size
            canvas.text(x, top + height / 2, label, "y-label", size=size + 1, anchor="middle", rotate=-90)

    def frame(self) -> None:
        """The top and right spines (the axis methods draw the others)."""
        left, top, width, height = self.box
        self.canvas.polyline([(left, top), (left + width, top), (left + width, top + height)], "frame")


def png_bytes(rgba: np.ndarray) -> bytes:
    """An 8-bit RGBA image (height x width x 4) as PNG (ISO/IEC 15948: IHDR, one zlib IDAT with
    filter 0 on each scanline, IEND)."""
    height, width, _ = rgba.shape

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    scanlines = np.concatenate([np.zeros((height, 1), np.uint8), rgba.astype(np.uint8).reshape(height, -1)],
                               axis=1)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(scanlines.tobytes(), 6)) + chunk(b"IEND", b""))


def discs(width: int, height: int, xs, ys, radius: float, colour: tuple[int, int, int],
          alpha: float) -> np.ndarray:
    """Filled discs of ``radius`` pixels centred on (xs, ys) pixels, ``colour`` at ``alpha`` each,
    overlaps composited (the opacity of n discs over a pixel: 1 - (1 - alpha)^n), on transparent."""
    cover = np.zeros(height * width)
    reach = int(math.ceil(radius))
    centre_x = np.rint(np.asarray(xs, float)).astype(int)
    centre_y = np.rint(np.asarray(ys, float)).astype(int)
    for dy in range(-reach, reach + 1):
        for dx in range(-reach, reach + 1):
            if dx * dx + dy * dy > radius * radius:
                continue
            x, y = centre_x + dx, centre_y + dy
            inside = (x >= 0) & (x < width) & (y >= 0) & (y < height)
            cover += np.bincount(y[inside] * width + x[inside], minlength=height * width)
    image = np.zeros((height, width, 4), np.uint8)
    image[..., :3] = colour
    image[..., 3] = np.rint(255 * (1 - (1 - alpha) ** cover.reshape(height, width))).astype(np.uint8)
    return image


def titled_panel(width: float, height: float, title: str, margins: tuple[float, float, float, float],
                 size: float = FONT_SIZE + 1) -> tuple[Canvas, tuple[float, float, float, float]]:
    """A canvas ``width`` x ``height`` points with ``title`` (lines centred on top) and the box of its
    panel inside ``margins`` (left, top below the title, right, bottom)."""
    canvas = Canvas(width, height)
    left, top, right, bottom = margins
    lines = title.count("\n") + 1 if title else 0
    if title:
        canvas.text(width / 2, 6, title, "title", size=size, anchor="middle", valign="top")
    top += 1.2 * size * lines
    return canvas, (left, top, width - left - right, height - top - bottom)


def raster_points(axes: Axes, xs, ys, radius: float, colour: tuple[int, int, int], alpha: float,
                  role: str) -> None:
    """Points as filled discs of ``radius`` points in an image over the panel (2 pixels a point):
    thousands of points drawn as elements made minutes and megabytes of a page."""
    left, top, width, height = axes.box
    scale = 2.0
    pixels_x, pixels_y = int(math.ceil(width * scale)), int(math.ceil(height * scale))
    image = discs(pixels_x, pixels_y, (axes.x(xs) - left) * scale, (axes.y(ys) - top) * scale, radius * scale,
                  colour, alpha)
    axes.canvas.image(left, top, pixels_x / scale, pixels_y / scale, image, role)
