"""RoB 2 figures (issue 28): the traffic-light and summary plots, `compassmeta rob`, `forest --rob`.
The PNGs were looked at; these tests pin what is drawn (colours per judgement, bar shares)."""
import pytest
from click.testing import CliRunner
from matplotlib.colors import to_hex
from matplotlib.text import Text

from compassmeta import plots
from compassmeta.cli import main
from compassmeta.common.errors import InputError
from compassmeta.data.rob2 import inverse_variance_weights, load_rob2, ratings_for_rows
from compassmeta.data.studytable import load_study_table
from compassmeta.plots.rob import COLOURS, rob_plot, rob_shares
from conftest import PROJECT
from test_plots import by_gid

ROB2 = PROJECT / "studies" / "rob2.csv"
TRIALS = PROJECT / "studies" / "trials.csv"


@pytest.fixture(autouse=True)
def close_figures():
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


def colours(figure, gid):
    return [to_hex(artist.get_facecolor()[0]) for artist in by_gid(figure, gid)]


def test_traffic_lights_colour_each_judgement():
    judgements = load_rob2(ROB2)
    figure = rob_plot(judgements, kind="traffic-light")
    # rows top to bottom as in the file: Koszycki (all low) x 2, Teale Sapach (D1, D3 some concerns) x 3
    assert colours(figure, "rob-d1") == [COLOURS["low"].lower()] * 2 + [COLOURS["some concerns"].lower()] * 3
    assert colours(figure, "rob-d2") == [COLOURS["low"].lower()] * 5
    assert colours(figure, "rob-overall") == colours(figure, "rob-d3")
    labels = [t.get_text() for t in figure.axes[0].get_yticklabels()]
    assert labels[0] == "tealesapach2022-sips-post" and labels[-1] == "koszycki2016-lsas-post"


def test_summary_shares_counted_and_weighted():
    judgements = load_rob2(ROB2)
    shares = rob_shares(judgements)
    assert shares["d1"] == {"low": 40.0, "some concerns": 60.0, "high": 0.0}
    assert shares["d2"]["low"] == 100.0
    table = load_study_table(TRIALS)
    weights = inverse_variance_weights(judgements, table.rows, table.vi)
    by_id = dict(zip(table.column("es_id"), table.vi))
    expected = [1 / by_id[j.es_id] for j in judgements]
    assert weights == pytest.approx(expected, rel=1e-12)
    low = 100 * sum(expected[:2]) / sum(expected)
    assert rob_shares(judgements, weights)["overall"]["low"] == pytest.approx(low, rel=1e-12)
    figure = rob_plot(judgements, weights=weights, kind="summary")
    bars = by_gid(figure, "rob-bar-low")
    assert [bar.get_width() for bar in bars][-1] == pytest.approx(low, rel=1e-12)   # the overall bar
    with pytest.raises(ValueError):
        rob_shares(judgements, [1.0, 2.0])
    with pytest.raises(InputError, match="no row of the trials table is judged here") as error:
        inverse_variance_weights(judgements, table.rows[:2], table.vi[:2], file="rob2.csv")
    assert (error.value.row, error.value.column) == (1, "es_id")


def test_rob_command_writes_the_figure(tmp_path):
    runner = CliRunner()
    result = runner.invoke(main, ["rob", str(ROB2), "-o", str(tmp_path / "rob.png"), "--weighted"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "rob.png").stat().st_size > 10_000
    bad = runner.invoke(main, ["rob", str(ROB2), "-o", str(tmp_path / "rob.txt")])
    assert bad.exit_code == 2 and "unknown figure format" in bad.output


def test_forest_rob_columns(tmp_path):
    judgements = load_rob2(ROB2)
    table = load_study_table(TRIALS)
    ratings = ratings_for_rows(judgements, table.rows)
    assert ratings[0] is None and ratings[2] == ("low",) * 6
    figure = plots.forest_plot(table.yi, table.vi, table.column("es_id"), rob=ratings)
    titles = [t.get_text() for t in by_gid(figure, "rob-title", Text)]
    assert titles == ["D1", "D2", "D3", "D4", "D5", "O"]
    assert len(by_gid(figure, "rob-light")) == 5 * 6          # five judged rows, blank elsewhere
    result = CliRunner().invoke(main, ["forest", str(TRIALS), "--rob", str(ROB2),
                                       "-o", str(tmp_path / "f.png")])
    assert result.exit_code == 0, result.output
    refused = CliRunner().invoke(main, ["forest", str(TRIALS), "--rob", str(ROB2), "--by", "outcome",
                                        "-o", str(tmp_path / "g.png")])
    assert refused.exit_code == 2 and "--rob applies to the plain forest" in refused.output
