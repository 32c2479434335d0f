"""A trial of the study table written back as the TOML that ``compassmeta trial add`` reads
(``compassmeta trial show STUDY_ID``), and the commented template (``compassmeta trial template``)."""
import json
from typing import Any

from ..common.errors import InputError, did_you_mean
from .tables import Table
from .trial import ARM_STATISTICS, COMPARISON_ROUTES, COMPARISON_STATISTICS, slug

# the trial's fields written once (each row's source goes with its results)
TRIAL_FIELDS = ("study_id", "citation", "doi", "year", "population", "analysis_set", "risk_of_bias",
                "source_doi", "license", "inclusion_note")

# printed by `compassmeta trial template`; studies/examples/tealesapach2022_trial.toml is this text
TEMPLATE = r'''# A trial for `compassmeta trial add FILE.toml`: declared once, every comparison row generated
# (each intervention arm against each control arm, per outcome and timepoint), checked together
# with the study table and written all or none.  Numbers may be quoted ("6.80") to keep the
# decimals the report prints (GRIM and the printed-test check read them).
#
# The numbers below are Teale Sapach & Carleton's (2023) three-arm trial as the Metapsy
# sad-psyctr database prints them (data.csv @ cc33ac16fa9c8958b64f427c4bb024dacfef1e42, file
# lines 285-290; doi 10.5281/zenodo.12726122, ODC-By 1.0): replace them with your trial's.

study_id = "tealesapach2022"
citation = """Teale Sapach, M. J. N., & Carleton, R. N. (2023). Self-compassion training for \
    individuals with social anxiety disorder: a preliminary randomized controlled trial. Cogn Behav \
    Ther, 52(1), 18-37. https://doi.org/10.1080/16506073.2022.2130820"""
doi = "10.1080/16506073.2022.2130820"
year = 2023
population = "clinical"                # clinical, subclinical or nonclinical
risk_of_bias = "some concerns (Metapsy RoB 2 overall)"
# analysis_set = "itt"                 # itt or completers, when the report says
source = "Metapsy sad-psyctr database (data.csv @ cc33ac16fa9c8958b64f427c4bb024dacfef1e42)"
source_doi = "10.5281/zenodo.12726122"
license = "ODC-By 1.0 (Metapsy); cite the database and the trial"
inclusion_note = """Three-arm trial: self-compassion training and applied relaxation, each against \
    the shared waitlist. Year is the journal volume's (2023); Metapsy labels the study 2022."""
# prepost_r = 0.5                      # assumed pre-post correlation, for results with pre_mean/pre_sd

# Arms: class intervention (intervention, intervention_class, format, sessions) or control
# (control_type passive or active, control_detail).  n_randomised of every arm gives n_total;
# n_analysed gives n per timepoint label.
[[arms]]
label = "sct"
class = "intervention"
intervention = "self-compassion training (audio-guided self-help)"
intervention_class = "other-self-compassion"
format = "self-help"
sessions = 6
n_randomised = 40
n_analysed = { post = 19 }

[[arms]]
label = "ar"
class = "intervention"
intervention = "applied relaxation (text-based self-help; Metapsy code Other psy)"
intervention_class = "other"
format = "self-help"
sessions = 6
n_randomised = 21
n_analysed = { post = 15 }

[[arms]]
label = "wlc"
class = "control"
control_type = "passive"
control_detail = "waitlist control (Metapsy code wlc)"
n_randomised = 21
n_analysed = { post = 18 }

# Timepoints: label (used below), timepoint (post, follow-up or unspecified), weeks after baseline.
[[timepoints]]
label = "post"
timepoint = "post"
weeks = 6

# Outcomes: label (used below), outcome construct, instrument, and scs_component for the
# Self-Compassion Scale (total, a component or a facet).  higher_is_better comes from
# instruments.csv; give it for an instrument that is not there.
[[outcomes]]
label = "bfne-s"
outcome = "anxiety"
instrument = "BFNE-S (self-report)"
higher_is_better = false

[[outcomes]]
label = "lsas-sr"
outcome = "anxiety"
instrument = "LSAS-SR (self-report)"

[[outcomes]]
label = "sips"
outcome = "anxiety"
instrument = "SIPS (self-report)"
higher_is_better = false

# Results, one block per arm x outcome x timepoint, with that arm's statistics:
#   mean, sd                          (post means; stat_type = "change" for mean changes)
#   mean, sd, pre_mean, pre_sd        (pre and post: prepost_r above or in the block)
#   mean, se  or  mean, ci_lower, ci_upper            (adjusted means)
#   median with q1, q3 and/or min, max                (converted: Wan 2014, Luo 2018)
#   n = ...                           (this outcome's n, when it differs from n_analysed)
# or one block per comparison (arm, versus = the control arm) with stat_type t, f, p, d, g_se,
# g_ci or g_n: statistic, direction (+1 intervention arm higher, -1 lower: an unsigned t, d or g
# takes its sign from it), g, se, ci_lower, ci_upper.
# source = "..." adds where this block's numbers are printed.
[[results]]
arm = "sct"
outcome = "bfne-s"
timepoint = "post"
mean = 19.58
sd = 6.79
source = "file line 285"

[[results]]
arm = "ar"
outcome = "bfne-s"
timepoint = "post"
mean = 21
sd = 8.11
source = "file line 286"

[[results]]
arm = "wlc"
outcome = "bfne-s"
timepoint = "post"
mean = 27.33
sd = 4.45

[[results]]
arm = "sct"
outcome = "lsas-sr"
timepoint = "post"
mean = 69.79
sd = 27.26
source = "file line 287"

[[results]]
arm = "ar"
outcome = "lsas-sr"
timepoint = "post"
mean = 75.33
sd = 28.98
source = "file line 288"

[[results]]
arm = "wlc"
outcome = "lsas-sr"
timepoint = "post"
mean = 87.11
sd = 26.82

[[results]]
arm = "sct"
outcome = "sips"
timepoint = "post"
mean = 25.95
sd = 10.07
source = "file line 289"

[[results]]
arm = "ar"
outcome = "sips"
timepoint = "post"
mean = 29.07
sd = 11.7
source = "file line 290"

[[results]]
arm = "wlc"
outcome = "sips"
timepoint = "post"
mean = 35.89
sd = 9.42

# A comparison block, e.g. a t statistic (numbers from your report):
# [[results]]
# arm = "sct"
# versus = "wlc"
# outcome = "bfne-s"
# timepoint = "post"
# stat_type = "t"
# statistic = ...
# direction = -1
'''


def toml_value(text: str, number: bool = False) -> str:
    """A cell as a TOML value: a number when its text reads back the same, else a string
    (a quoted number keeps its printed decimals)."""
    if number:
        try:
            if str(int(text)) == text or repr(float(text)) == text:
                return text
        except ValueError:
            pass
    if text in ("true", "false"):
        return text
    return json.dumps(text, ensure_ascii=False)


def _line(key: str, text: str, number: bool = False) -> str:
    return f"{key} = {toml_value(text, number)}"


def trial_cells(table: Table, study_id: str) -> list[dict[str, str]]:
    """The text cells (dicts) of the rows of one trial; an error naming close study_ids if none."""
    rows = [dict(zip(table.header, record)) for record in table.rows]
    found = [row for row in rows if row["study_id"].strip() == study_id]
    if not found:
        ids = sorted({row["study_id"] for row in rows})
        raise InputError(f"no rows with study_id '{study_id}'{did_you_mean(study_id, ids)}", file=table.path,
                         column="study_id")
    return found


def show_trial(table: Table, study_id: str) -> str:
    """The rows of ``study_id`` as a trial file (TOML) that ``trial add`` turns back into them
    (es_ids are generated anew; n_total needs n_randomised per arm, which the table does not keep)."""
    rows = trial_cells(table, study_id)
    first = rows[0]
    lines = [f"# {study_id}: {len(rows)} row(s) of {table.path}"]
    lines += [_line(name, first[name], name == "year") for name in TRIAL_FIELDS if first.get(name, "")]
    if first.get("n_total"):
        lines.append(_line("n_total", first["n_total"], True) + "   # or n_randomised of every arm")
    weeks: dict[str, set[str]] = {}
    for row in rows:
        weeks.setdefault(row["timepoint"], set()).add(row.get("weeks_after_baseline", ""))
    label_of = {id(row): row["timepoint"] if len(weeks[row["timepoint"]]) == 1 else
                f"{row['timepoint']}-{row['weeks_after_baseline']}w" for row in rows}
    timepoints = {label_of[id(row)]: row for row in rows}
    arms: dict[str, dict[str, Any]] = {}     # label -> {"row": a row of the arm, "n": timepoint -> n}
    controls: dict[str, dict[str, Any]] = {}
    results: dict[tuple[str, ...], dict[str, str]] = {}
    for row in rows:
        label, control = row["arm"] or "intervention", row["control_arm"] or "control"
        arms.setdefault(label, {"row": row, "n": {}})["n"][label_of[id(row)]] = row["n1"]
        controls.setdefault(control, {"row": row, "n": {}})["n"][label_of[id(row)]] = row["n2"]
        _add_results(results, row, label, control, label_of[id(row)])
    for label, arm in arms.items():
        lines += ["", "[[arms]]", _line("label", label), 'class = "intervention"']
        lines += [_line(name, arm["row"][name], name == "sessions") for name in
                  ("intervention", "intervention_class", "format", "sessions", "intervention_duration")
                  if arm["row"].get(name)]
        lines.append(_n_analysed(arm["n"]))
    for label, entry in controls.items():
        lines += ["", "[[arms]]", _line("label", label), 'class = "control"',
                  _line("control_type", entry["row"]["control_type"]),
                  _line("control_detail", entry["row"]["control_detail"]), _n_analysed(entry["n"])]
    for label, row in timepoints.items():
        lines += ["", "[[timepoints]]", _line("label", label), _line("timepoint", row["timepoint"])]
        if row.get("weeks_after_baseline"):
            lines.append(_line("weeks", row["weeks_after_baseline"], True))
    outcomes = {_outcome_label(row): row for row in rows}
    for label, row in outcomes.items():
        lines += ["", "[[outcomes]]", _line("label", label), _line("outcome", row["outcome"]),
                  _line("instrument", row["instrument"])]
        lines += [_line(name, row[name]) for name in ("scs_component", "higher_is_better") if row.get(name)]
    for block in results.values():
        lines += ["", "[[results]]"] + [_line(key, value, key not in ("arm", "versus", "outcome", "timepoint",
                                                                      "stat_type", "source"))
                                        for key, value in block.items() if value != ""]
    return "\n".join(lines) + "\n"


def _n_analysed(sizes: dict[str, str]) -> str:
    entries = ", ".join(f"{json.dumps(label)} = {n}" for label, n in sizes.items() if n)
    return "n_analysed = { " + entries + " }"


def _outcome_label(row: dict[str, str]) -> str:
    name = slug(row["instrument"].split(" (")[0])
    return name + (f"-{row['scs_component']}" if row.get("scs_component") else "")


def _add_results(results: dict[tuple[str, ...], dict[str, str]], row: dict[str, str], label: str,
                 control: str, timepoint: str) -> None:
    """The result blocks of one row: a comparison block, or one block per arm."""
    place = {"outcome": _outcome_label(row), "timepoint": timepoint}
    kind = row["stat_type"]
    if kind in COMPARISON_ROUTES:
        block = {"arm": label, "versus": control, **place, "stat_type": kind}
        block.update({name: row[name] for name in sorted(COMPARISON_STATISTICS - {"n1", "n2"})})
        results[(label, control, place["outcome"], place["timepoint"])] = dict(block, source=row["source"])
        return
    for arm, number in ((label, "1"), (control, "2")):
        block = {"arm": arm, **place}
        if kind == "change":
            block["stat_type"] = "change"
        block.update({key: row[column.format(number)] for key, column in ARM_STATISTICS.items()
                      if key != "n"})
        if kind == "pre_post" and number == "1":
            block["prepost_r"] = row["prepost_r"]
        if number == "1":   # the row's source goes with the intervention arm's block
            block["source"] = row["source"]
        results.setdefault((arm, place["outcome"], place["timepoint"]), block)
