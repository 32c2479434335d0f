"""RoB 2: the overall algorithm on every combination of domain ratings, the shipped table, the
refusal of an unjustified overall, and the migration of the free-text risk of bias."""
import csv
import itertools
import shutil
from collections import Counter
from pathlib import Path

import pytest

from compassmeta.common.errors import InputError
from compassmeta.data.rob2 import DOMAINS, RATINGS, judgement_for, load_rob2, overall_judgement
from compassmeta.data.tables import read_table

ROOT = Path(__file__).resolve().parents[1]
STUDIES = ROOT / "studies"
OLD_RISK_OF_BIAS = ROOT / "tests" / "fixtures" / "risk_of_bias_before_rob2.csv"


def test_every_combination_of_domain_ratings_follows_the_published_rules():
    """Sterne et al. 2019 (BMJ 366:l4898), Table 2: low if all domains low; high if any domain is
    high or several have some concerns (here: three or more); some concerns otherwise."""
    combinations = list(itertools.product(RATINGS, repeat=5))
    assert len(combinations) == 3 ** 5
    outcome = {}
    for ratings in combinations:
        got = overall_judgement(ratings)
        concerns = sum(rating == "some concerns" for rating in ratings)
        if all(rating == "low" for rating in ratings):
            assert got == "low", ratings
        elif any(rating == "high" for rating in ratings) or concerns >= 3:
            assert got == "high", ratings
        else:
            assert got == "some concerns" and 1 <= concerns <= 2, ratings
        outcome[ratings] = got
    # 1 all-low; 3^5 - 2^5 = 211 with a high domain, plus C(5,3)+C(5,4)+C(5,5) = 16 with >= 3
    # concerns and no high; the 5 + 10 = 15 with one or two concerns are some concerns.
    assert Counter(outcome.values()) == {"low": 1, "high": 227, "some concerns": 15}


def test_the_operational_rule_reproduces_a_published_database(shared_data):
    """Metapsy sad-psyctr prints RoB 2 domains 1-5 and the overall for 315 results: the >= 3 rule
    gives every overall; >= 2 or >= 4 would not."""
    with open(shared_data / "metapsy" / "sad-psyctr.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle, delimiter=";"))
    assert len(rows) == 315
    for row in rows:
        domains = [row[f"rob_domain{d}"].lower() for d in range(1, 6)]
        assert overall_judgement(domains) == row["rob"].lower(), row[".id"]
    two = [r for r in rows if [r[f"rob_domain{d}"] for d in range(1, 6)].count("Some concerns") == 2
           and "High" not in [r[f"rob_domain{d}"] for d in range(1, 6)]]
    assert two and all(r["rob"] == "Some concerns" for r in two)


def test_a_bad_rating_is_refused():
    with pytest.raises(ValueError):
        overall_judgement(("low", "low", "low", "low", "unclear"))
    with pytest.raises(ValueError):
        overall_judgement(("low",) * 4)


def test_the_shipped_table_holds_the_database_judgements():
    judgements = load_rob2(STUDIES / "rob2.csv")
    by_id = {j.es_id: j for j in judgements}
    assert set(by_id) == {"koszycki2016-lsas-post", "koszycki2016-spin-post", "tealesapach2022-bfne-s-post",
                          "tealesapach2022-lsas-sr-post", "tealesapach2022-sips-post"}
    assert by_id["koszycki2016-lsas-post"].domains == dict.fromkeys(DOMAINS, "low")
    teale = by_id["tealesapach2022-sips-post"]
    assert [teale.domains[d] for d in DOMAINS] == ["some concerns", "low", "some concerns", "low", "low"]
    assert teale.overall == teale.derived == "some concerns"
    assert all("sad-psyctr" in j.source and "file line" in j.source for j in judgements)


def test_the_shipped_table_matches_the_database(shared_data):
    with open(shared_data / "metapsy" / "sad-psyctr.csv", newline="", encoding="utf-8") as handle:
        database = {row[".id"]: row for row in csv.DictReader(handle, delimiter=";")}
    for judgement in load_rob2(STUDIES / "rob2.csv"):
        row = database[judgement.source.split(".id ")[1].split(":")[0]]
        printed = [row[f"rob_domain{d}"].lower() for d in range(1, 6)]
        assert [judgement.domains[f"d{d}"] for d in range(1, 6)] == printed
        assert judgement.overall == row["rob"].lower()


def scratch(tmp_path, edit):
    shutil.copy(STUDIES / "datapackage.json", tmp_path)
    table = read_table(STUDIES / "rob2.csv")
    rows = [dict(zip(table.header, row)) for row in table.rows]
    edit(rows[0])
    with open(tmp_path / "rob2.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=table.header, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return tmp_path / "rob2.csv"


def test_an_overall_against_the_algorithm_is_refused_on_its_cell(tmp_path):
    path = scratch(tmp_path, lambda row: row.update(overall="some concerns"))
    with pytest.raises(InputError, match="RoB 2 algorithm gives 'low'") as error:
        load_rob2(path)
    assert (error.value.row, error.value.column) == (1, "overall")


def test_a_justified_different_overall_is_kept(tmp_path):
    reason = "two domains with some concerns that together substantially lower confidence"
    path = scratch(tmp_path, lambda row: row.update(d1="some concerns", d3="some concerns", overall="high",
                                                     overall_justification=reason))
    first = load_rob2(path)[0]
    assert (first.overall, first.derived, first.justification) == ("high", "some concerns", reason)


def test_a_needless_justification_and_a_bad_rating_are_refused(tmp_path):
    path = scratch(tmp_path, lambda row: row.update(overall_justification="because"))
    with pytest.raises(InputError, match="no justification is needed"):
        load_rob2(path)
    path = scratch(tmp_path, lambda row: row.update(d2="unclear"))
    with pytest.raises(InputError) as error:
        load_rob2(path)
    assert (error.value.row, error.value.column) == (1, "d2")


def test_a_second_judgement_of_the_same_result_is_refused(tmp_path):
    path = scratch(tmp_path, lambda row: row.update(es_id="koszycki2016-spin-post"))
    message = r"a second judgement of koszycki2016 / anxiety / koszycki2016-spin-post \(also row 1\)"
    with pytest.raises(InputError, match=message) as error:
        load_rob2(path)
    assert (error.value.row, error.value.column) == (2, "es_id")


def test_a_judgement_is_found_for_its_trial_rows():
    judgements = load_rob2(STUDIES / "rob2.csv")
    assert judgement_for(judgements, {"es_id": "koszycki2016-spin-post"}).es_id == "koszycki2016-spin-post"
    assert judgement_for(judgements, {"es_id": "savari2021-bdi2-post", "study_id": "savari2021"}) is None


def test_the_free_text_risk_of_bias_is_kept_as_a_note():
    """Every value of the former risk_of_bias column is in risk_of_bias_source, verbatim."""
    old = {row[0]: row[1] for row in read_table(OLD_RISK_OF_BIAS).rows}
    table = read_table(STUDIES / "trials.csv")
    assert "risk_of_bias" not in table.header
    new = {row[0]: dict(zip(table.header, row))["risk_of_bias_source"] for row in table.rows}
    assert len(old) == 13 and set(old) <= set(new)
    assert {es_id: new[es_id] for es_id in old} == old
    assert old["savari2021-bdi2-post"] == "Metapsy score 3 of 4 (sg 1, ac 0, ba 1, itt 1)"


def test_validate_lists_the_rob2_table_and_its_algorithm_errors(tmp_path):
    from click.testing import CliRunner

    from compassmeta.cli import main

    runner = CliRunner()
    assert "rob2.csv: ok" in runner.invoke(main, ["validate"]).output
    path = scratch(tmp_path, lambda row: row.update(overall="high"))
    result = runner.invoke(main, ["validate", str(path)])
    assert result.exit_code == 1
    assert "row 1, column 'overall': entered 'high' but the RoB 2 algorithm gives 'low'" in result.output
