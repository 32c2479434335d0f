"""RoB 2 figures as robvis draws them (McGuinness & Higgins 2021, Res Synth Methods 12:55-61):
the traffic-light plot (one row per judged result, one column per domain and the overall; colour
and symbol per judgement) and the summary bar plot (share of results, or of their weight, at each
judgement in each domain)."""
import numpy as np

from ..data.rob2 import DOMAIN_NAMES, DOMAINS, RATINGS
from .common import FONT_SIZE, new_figure, text_width_inches

#: robvis's RoB 2 ("cochrane") colours and symbols.
COLOURS = {"low": "#02C100", "some concerns": "#E2DF07", "high": "#BF0000"}
SYMBOLS = {"low": "+", "some concerns": "\u2212", "high": "\u00d7"}
COLUMNS = (*DOMAINS, "overall")
ROW_HEIGHT = 0.32       # inches per result in the traffic-light plot


def judgement_label(judgement) -> str:
    """A row's label: the result's es_id, else its study and outcome."""
    return judgement.es_id or f"{judgement.study_id} ({judgement.outcome})"


def _ratings(judgement) -> list:
    return [judgement.domains[name] for name in DOMAINS] + [judgement.overall]


def draw_traffic_lights(axis, judgements, labels) -> None:
    """One circle per result and column, coloured and marked by its judgement (``gid``
    ``rob-<column>``), on ``axis``."""
    rows = len(judgements)
    for row, judgement in enumerate(judgements):
        y = rows - 1 - row
        for column, rating in enumerate(_ratings(judgement)):
            axis.scatter(column, y, s=260, color=COLOURS[rating], edgecolor="black", linewidth=0.5,
                         zorder=3, gid=f"rob-{COLUMNS[column]}")
            axis.text(column, y, SYMBOLS[rating], ha="center", va="center", fontsize=FONT_SIZE + 2,
                      fontweight="bold", zorder=4)
    headings = [name.upper() if name != "overall" else "Overall" for name in COLUMNS]
    axis.set_xticks(range(len(COLUMNS)), headings, fontsize=FONT_SIZE)
    axis.xaxis.tick_top()
    axis.set_yticks(range(rows), list(reversed(labels)), fontsize=FONT_SIZE)
    axis.set_xlim(-0.6, len(COLUMNS) - 0.4)
    axis.set_ylim(-0.6, rows - 0.4)
    axis.axvline(len(DOMAINS) - 0.5, color="0.4", linewidth=0.8)
    for side in ("right", "bottom", "left"):
        axis.spines[side].set_visible(False)
    axis.tick_params(length=0)
    key = [f"{name.upper()} {DOMAIN_NAMES[name].lower()}" for name in DOMAINS]
    axis.set_xlabel("; ".join(key[:2]) + "\n" + "; ".join(key[2:4]) + "\n" + key[4], fontsize=FONT_SIZE - 1,
                    color="0.3")


def rob_shares(judgements, weights=None) -> dict:
    """For each column (d1..d5, overall), the share (in percent) of results at each rating, each
    result counted once or by its ``weights`` (robvis's weighted summary)."""
    weights = np.ones(len(judgements)) if weights is None else np.asarray(weights, dtype=float)
    if len(weights) != len(judgements) or not np.all(np.isfinite(weights)) or np.any(weights < 0) \
            or weights.sum() <= 0:
        raise ValueError("one finite, non-negative weight per judgement is needed, not all zero")
    shares = {}
    for column, name in enumerate(COLUMNS):
        ratings = [_ratings(judgement)[column] for judgement in judgements]
        shares[name] = {rating: 100 * float(sum(w for w, r in zip(weights, ratings) if r == rating))
                        / weights.sum() for rating in RATINGS}
    return shares


def draw_summary(axis, shares, weighted: bool) -> None:
    """Stacked horizontal bars, one per domain and the overall (``gid`` ``rob-bar-<rating>``)."""
    names = list(COLUMNS)
    ys = np.arange(len(names))[::-1]
    left = np.zeros(len(names))
    for rating in RATINGS:
        widths = np.array([shares[name][rating] for name in names])
        axis.barh(ys, widths, left=left, color=COLOURS[rating], edgecolor="white", height=0.7,
                  label=rating.capitalize(), gid=f"rob-bar-{rating.replace(' ', '-')}")
        left += widths
    axis.set_yticks(ys, [DOMAIN_NAMES.get(name, "Overall risk of bias") for name in names],
                    fontsize=FONT_SIZE)
    axis.set_xlim(0, 100)
    axis.set_xlabel("% of results" + (" (weighted by inverse variance)" if weighted else ""),
                    fontsize=FONT_SIZE)
    axis.tick_params(labelsize=FONT_SIZE)


def _legend(figure) -> None:
    """The judgements' key (colour and symbol) under the panels."""
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], marker="o", linestyle="", markersize=11, markerfacecolor=COLOURS[rating],
                      markeredgecolor="black", label=f"{SYMBOLS[rating]}  {rating.capitalize()}")
               for rating in RATINGS]
    figure.legend(handles=handles, ncol=3, loc="lower center", fontsize=FONT_SIZE, frameon=False,
                  bbox_to_anchor=(0.5, 0.1 / figure.get_figheight()), title="Judgement",
                  title_fontsize=FONT_SIZE)


def rob_plot(judgements, *, weights=None, kind: str = "both", labels=None, title=None):
    """The traffic-light plot, the summary plot, or both (``kind``) of RoB 2 ``judgements``;
    ``weights`` (one per judgement) weight the summary bars."""
    if not judgements:
        raise ValueError("no RoB 2 judgements to draw")
    if kind not in ("both", "traffic-light", "summary"):
        raise ValueError(f"kind must be both, traffic-light or summary, not {kind!r}")
    labels = list(labels) if labels is not None else [judgement_label(j) for j in judgements]
    lights = ROW_HEIGHT * len(judgements) + 1.0 if kind in ("traffic-light", "both") else 0.0
    summary = 2.4 if kind in ("summary", "both") else 0.0
    bottom, top = 1.0, 0.5 + (0.3 if title else 0.0)
    shown = (labels if lights else []) + (list(DOMAIN_NAMES.values()) if summary else [])
    label_width = max(text_width_inches(label) for label in shown) + 0.3
    height = lights + summary + bottom + top + (0.8 if lights and summary else 0.0)
    figure = new_figure(max(6.4, label_width + 4.2), height)
    panels = [(kind_name, height) for kind_name, height in (("traffic-light", lights), ("summary", summary))
              if height]
    grid = figure.add_gridspec(len(panels), 1, height_ratios=[h for _, h in panels], hspace=0.8 / height * 2,
                               left=min(0.6, label_width / figure.get_figwidth()), right=0.95,
                               bottom=bottom / height, top=1 - top / height)
    for index, (panel, _) in enumerate(panels):
        axis = figure.add_subplot(grid[index])
        if panel == "traffic-light":
            draw_traffic_lights(axis, judgements, labels)
        else:
            draw_summary(axis, rob_shares(judgements, weights), weights is not None)
    _legend(figure)
    if title:
        figure.suptitle(title, fontsize=FONT_SIZE + 2)
    return figure
