"""Issue 29, the report: its page and JSON are written as one unit, and a subset whose analysis
or figure fails is reported inside the page with its reason while the rest is written."""
import json

from click.testing import CliRunner

from compassmeta.cli import main
from compassmeta.common.errors import ConvergenceError
from conftest import PROJECT

TRIALS = str(PROJECT / "studies" / "trials.csv")


def _report(tmp_path, name="report.html"):
    return CliRunner().invoke(main, ["report", TRIALS, "-o", str(tmp_path / name)])


def test_page_and_json_are_written_both_or_neither(tmp_path, monkeypatch):
    assert _report(tmp_path).exit_code == 0
    before = {path.name: path.read_bytes() for path in tmp_path.iterdir()}
    assert sorted(before) == ["report.html", "report.json"]

    def broken(data):
        raise RuntimeError("rendering failed")

    monkeypatch.setattr("compassmeta.report.render.render_html", broken)
    result = _report(tmp_path)
    assert result.exit_code != 0
    # the JSON of the new run (a new 'generated' time) is not written without its page
    assert {path.name: path.read_bytes() for path in tmp_path.iterdir()} == before


def _failing_leave_one_out(*args, **kwargs):
    raise ConvergenceError("trim-and-fill did not converge")


def test_a_failing_subset_is_reported_in_the_page_and_the_rest_is_written(tmp_path, monkeypatch):
    """Leave-one-out runs from 3 trials: in trials.csv only depression post (Aguilar-Raab, Savari,
    Schuling) has them, so only its analysis fails."""
    monkeypatch.setattr("compassmeta.report.subset_analysis.leave_one_out_range", _failing_leave_one_out)
    result = _report(tmp_path)
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "report.json").read_text(encoding="utf-8"))
    analyses = {item["key"]: item for item in report["analyses"]}
    failed = analyses["depression | post | all"]
    assert failed["pooled"] is None and failed["k_trials"] == 3
    assert failed["notes"][-1] == ("analysis failed, no result reported for this subset: "
                                   "trim-and-fill did not converge")
    assert analyses["anxiety | post | all"]["pooled"]["k"] == 5  # the rest is analysed
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    section = page[page.index('<div class="subset" id="depression-post-all">'):]
    assert "trim-and-fill did not converge" in section[:section.index("</div>")]


def test_a_figure_that_cannot_be_drawn_is_a_note_in_the_page(tmp_path, monkeypatch):
    def failing_funnel(*args, **kwargs):
        raise ConvergenceError("trim-and-fill did not converge")

    monkeypatch.setattr("compassmeta.report.render.funnel_svg", failing_funnel)
    result = _report(tmp_path)
    assert result.exit_code == 0, result.output
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "Funnel plot not drawn: trim-and-fill did not converge." in page
    assert page.count('<figure class="fig fig-forest">') == 2  # depression and anxiety still drawn
