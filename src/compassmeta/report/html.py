"""The living-evidence report, as the README names it: :func:`build_report` analyses the study
tables (:mod:`compassmeta.report.analysis`) and :func:`render_html` draws the page from the
report's data alone (:mod:`compassmeta.report.render`); :func:`load_report` reads a written
report JSON back, for rendering or ``--since``."""
from .analysis import build_report, load_report
from .render import render_html

__all__ = ["build_report", "load_report", "render_html"]
