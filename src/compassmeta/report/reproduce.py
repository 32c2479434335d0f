"""``compassmeta reproduce``: recompute published pooled results from study-level data.

Targets live in ``studies/published_results.csv`` (one row per printed number).  Each is
recomputed from the data set it names and compared with the published value at the
publication's rounding.  Gaps are reported, never tuned away.
"""
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..common.distributions import critical_value
from ..common.errors import CompassmetaError, InputError
from ..common.results import Result
from ..data.aggregate import DEFAULT_WITHIN_STUDY_R, aggregate_by
from ..data.studytable import Schema, raise_first_error, validate_text
from ..data.tables import read_table
from ..models.moderators import subgroup_analysis
from ..models.pooling import pool
from .reproduce_data import GOLDBERG_CORRELATION, EffectData, metacih_data, table_data


def studies_dir(explicit=None):
    """The studies/ folder: the one given, ./studies, or the one beside the source checkout."""
    candidates = [Path(explicit)] if explicit else [Path.cwd() / "studies",
                                                    Path(__file__).resolve().parents[2] / "studies"]
    for folder in candidates:
        if (folder / "datapackage.json").is_file():
            return folder
    raise InputError("no studies/ folder with datapackage.json here or beside the source; "
                     "run from the project folder or pass --studies DIR")


@dataclass(frozen=True)
class TargetCheck(Result):
    """One published number against its recomputation."""

    target_id: str
    citation: str
    doi: str
    outcome: str
    analysis: str
    quantity: str
    published: float
    decimals: int
    recomputed: float | None
    difference: float | None
    k_used: int | None
    k_published: int | None
    verdict: str
    note: str
    model: str = ""           # how the recomputation treats the data (dependence, estimator, CI)
    reason: str = ""          # for "differs": the known cause and where it is documented
    indicative: "IndicativeValue | None" = None   # targets without study-level data only


INDICATIVE = "indicative: a different, smaller trial set"


@dataclass(frozen=True)
class IndicativeValue(Result):
    """The entered trials' own value beside a target that has no study-level data: the rows of
    studies/trials.csv with the target's outcome and comparator (its ``selection``), one composite
    per trial (r = 0.5, Borenstein et al. 2009, ch. 24), pooled with REML and a Wald z CI when
    there are two trials or more.  A different, smaller trial set: never a reproduction."""

    label: str
    controls: str
    trials: tuple
    k_trials: int
    n_rows: int
    estimate: float
    ci_lower: float
    ci_upper: float
    pooled: bool
    model: str

    def describe(self) -> str:
        value = f"g = {self.estimate:.2f} [{self.ci_lower:.2f}, {self.ci_upper:.2f}]"
        return f"{self.label}: {value} ({self.model}; controls {self.controls}; {', '.join(self.trials)})"


@dataclass(frozen=True)
class Reproduction(Result):
    """All targets; ``to_dict()`` is what ``--format json`` prints."""

    targets: tuple
    figures: tuple = ()

    def to_frame(self):
        import pandas as pd

        return pd.DataFrame([target.to_dict() for target in self.targets])


def _pooled_values(data, first):
    method = first["method"] or "REML"
    result = pool(data.yi, data.vi, method=method, ci_method=first["ci_method"] or "z",
                  with_tau2_ci=False)
    i2 = result.i2
    if first["i2_definition"] == "q_based":
        i2 = max(0.0, 100.0 * (result.q - result.q_df) / result.q) if result.q > 0 else 0.0
    return {"estimate": result.estimate, "ci_lower": result.ci_lower, "ci_upper": result.ci_upper,
            "statistic": result.statistic, "tau2": result.tau2, "i2": i2, "q": result.q, "k": result.k}


def _subgroup_values(data, first):
    by = first["subgroup_by"]
    result = subgroup_analysis(data.yi, data.vi, data.columns[by], by=by, method=first["method"] or "REML",
                               ci_method=first["ci_method"] or "z")
    return {"q_between": result.q_between, "q_between_p": result.q_between_p, "k": int(data.yi.size)}


DEPENDENCE = {
    "metacih": "one effect per study comparison: composite of outcomes within study, "
               f"r = {GOLDBERG_CORRELATION} (Borenstein et al. 2009, ch. 24)",
    "thirdwave": "studies independent (one row per study)",
    "trials": "studies independent (one row per trial and outcome)",
}
DIFFERENCE_REASONS = {
    "metacih": "the database's study set and outcome coding only approximate the paper's analysis set, "
               "and the paper's tau^2 estimator is not recorded (see studies/README.md, Reproduction "
               "decisions, Goldberg et al. 2018)",
}
CI_TEXT = {"z": "Wald z", "knha": "Knapp-Hartung t"}


def target_model(first):
    """How a target is recomputed: dependence handling, estimator, CI, subgroup test."""
    if first["data"] == "none":
        return "not recomputed"
    parts = [DEPENDENCE[first["data"]],
             f"{first['method'] or 'REML'}, {CI_TEXT[first['ci_method'] or 'z']}"]
    if first["subgroup_by"]:
        parts.append(f"separate tau^2 per {first['subgroup_by']}; Q-between from a fixed-effect model "
                     "over the subgroup estimates")
    return "; ".join(parts)


def difference_reason(first, k_used):
    """Why a recomputed number differs from the published one, with a pointer."""
    reason = DIFFERENCE_REASONS.get(first["data"],
                                    "not explained yet (see studies/README.md, Reproduction decisions)")
    if first["k_published"] is not None and k_used != first["k_published"]:
        reason = f"k = {k_used} here against {first['k_published']} published; " + reason
    return reason


def _matches(recomputed, published, decimals):
    return abs(round(recomputed, decimals) - published) < 0.5 * 10.0 ** -(decimals + 3)


def _curated_count(trials, outcome):
    rows = [row for row in trials.columns["outcome"] if row == outcome]
    studies = {s for s, o in zip(trials.columns["study_id"], trials.columns["outcome"]) if o == outcome}
    return len(rows), len(studies)


def indicative_value(trials: EffectData, selection: str) -> IndicativeValue | None:
    """The entered trials' value for a target's outcome and comparator (``selection``), None when
    no row matches.  Self-compassion rows count only as SCS totals or non-SCS scales (the
    uncompassionate component and the facets are other quantities than the reviews' scores)."""
    data = trials.select(selection)
    keep = np.array([component in (None, "total") for component in data.columns["scs_component"]], dtype=bool)
    if not keep.any():
        return None
    studies = [study for study, k in zip(data.columns["study_id"], keep) if k]
    combined = aggregate_by(studies, data.yi[keep], data.vi[keep], r=DEFAULT_WITHIN_STUDY_R)
    controls = sorted({control for control, k in zip(data.columns["control_type"], keep) if k})
    common = dict(controls=", ".join(controls), trials=tuple(c[0] for c in combined), k_trials=len(combined),
                  n_rows=int(keep.sum()))
    if len(combined) == 1:
        _, g, v, _ = combined[0]
        half = critical_value(0.95) * np.sqrt(v)
        return IndicativeValue(label=f"{INDICATIVE} (one trial, not pooled)", estimate=g, ci_lower=g - half,
                               ci_upper=g + half, pooled=False, model="one trial: its own g and 95% CI",
                               **common)
    result = pool(np.array([c[1] for c in combined]), np.array([c[2] for c in combined]), method="REML",
                  ci_method="z", with_tau2_ci=False)
    return IndicativeValue(label=f"{INDICATIVE} (k = {len(combined)} trials)", estimate=result.estimate,
                           ci_lower=result.ci_lower, ci_upper=result.ci_upper, pooled=True,
                           model=f"REML, Wald z, one composite per trial (r = {DEFAULT_WITHIN_STUDY_R:g})",
                           **common)


def write_figures(loaded, out_dir, folder=None):
    """Forest and funnel plots of the reproduced analyses, and the plan's forest plots of the
    curated trials of ``folder`` (studies/); returns the paths written."""
    from .. import plots

    out_dir = Path(out_dir)
    written = []

    def save(figure, name):
        written.append(str(plots.save_figure(figure, out_dir / f"{name}.png", dpi=150)))

    if "thirdwave" in loaded:
        data = loaded["thirdwave"]
        options = dict(method="REML", ci_method="knha")
        controls = [c.split(" (")[0] for c in data.columns["control_detail"]]
        save(plots.forest_plot(data.yi, data.vi, data.labels, columns={"Control": controls},
                               title="ThirdWave (Harrer et al. 2021, ch. 4)", **options), "thirdwave_forest")
        save(plots.subgroup_forest_plot(data.yi, data.vi, data.labels, data.columns["risk_of_bias"],
                                        by="Risk of bias", title="ThirdWave by risk of bias (ch. 7)",
                                        **options),
             "thirdwave_risk_of_bias_forest")
        save(plots.funnel_plot(data.yi, data.vi, contours=True, trimfill=True, egger=True,
                               title="ThirdWave: contour-enhanced funnel"), "thirdwave_funnel")
    if "metacih" in loaded:
        post = loaded["metacih"].select("timepoint=post")
        save(plots.subgroup_forest_plot(post.yi, post.vi, post.labels, post.columns["comparator"],
                                        by="Comparator", sort="effect",
                                        title="Goldberg et al. (2018) reproduction, post-treatment"),
             "goldberg2018_post_forest")
        save(plots.funnel_plot(post.yi, post.vi, contours=True, trimfill=True,
                               title="MBIs vs all comparators, post-treatment (MetaCIH)"),
             "goldberg2018_post_funnel")
    if "trials" in loaded and folder is not None:
        for name, figure in plan_forests(Path(folder) / "trials.csv"):
            save(figure, name)
    return tuple(written)


def plan_forests(path) -> list:
    """The forest plot of every subset the analysis plan pools from a study table (all
    comparators; one outcome, SCS part and timepoint window each; k >= 2 trials), as the report
    draws it: [(file name, figure)].  No diamond spans outcomes or windows."""
    from ..data.plan import load_plan
    from .figures import subset_forest
    from .render import slug
    from .rows import plan_rows  # imported here: it imports plots (matplotlib), which validate needs not
    from .subset_analysis import analyse_subset
    from .subsets import outcome_subsets, sections

    plan = load_plan()
    rows, labels, _, _ = plan_rows([path], plan)
    figures = []
    for section, members in sections(rows, plan).items():
        subset = outcome_subsets(section, members)[0]
        item = analyse_subset(section.outcome, subset.control, list(subset.rows), labels, plan=plan,
                              subset=subset)
        if item.pooled is not None:
            figures.append((f"{Path(path).stem}_{slug(section.label)}_forest",
                            subset_forest(item.to_dict(), plan.minimum_k.heterogeneity)))
    return figures


def reproduce(folder=None, mirror=None, figures=None):
    """Recompute every target in studies/published_results.csv that has data here, and
    draw the figures into the folder ``figures`` when given."""
    folder = studies_dir(folder)
    schema = Schema.load(folder / "datapackage.json", "published_results")
    table = read_table(folder / "published_results.csv")
    problems, targets = validate_text(folder / "published_results.csv", table.header, table.rows, schema)
    raise_first_error(problems)
    sources = {"thirdwave": lambda: table_data(folder / "thirdwave.csv", "thirdwave"),
               "trials": lambda: table_data(folder / "trials.csv", "trials"),
               "metacih": lambda: metacih_data(mirror)}
    loaded = {}
    checks = []
    groups = {}
    for row in targets:
        groups.setdefault(row["target_id"], []).append(row)
    for target_id, rows in groups.items():
        first = rows[0]
        values, note, indicative = None, "", None
        if first["data"] == "none":
            if "trials" not in loaded:
                loaded["trials"] = sources["trials"]()
            clauses = dict(clause.partition("=")[::2] for clause in (first["selection"] or "").split("&"))
            outcome = clauses.get("outcome", "")
            n_rows, n_studies = _curated_count(loaded["trials"], outcome)
            note = ("no study-level data yet: the trial rows of this meta-analysis are not openly "
                    f"available; studies/trials.csv holds {n_rows} row(s) from {n_studies} trial(s) "
                    f"with outcome '{outcome}', none of them known to be among the "
                    f"{first['k_published']} trials the review pooled")
            indicative = indicative_value(loaded["trials"], first["selection"])
        else:
            try:
                if first["data"] not in loaded:
                    loaded[first["data"]] = sources[first["data"]]()
                data = loaded[first["data"]].select(first["selection"])
                values = (_subgroup_values if first["subgroup_by"] else _pooled_values)(data, first)
                note = f"{loaded[first['data']].description}; selected: {first['selection'] or 'all'}"
            except CompassmetaError as error:
                note = str(error)
        for row in rows:
            published = row["value"]
            recomputed = None if values is None else values.get(row["quantity"])
            if recomputed is None:
                verdict = "no study-level data" if first["data"] == "none" else "data not available"
                difference = None
            else:
                difference = recomputed - published
                verdict = "matches" if _matches(recomputed, published, row["decimals"]) else "differs"
            k_used = None if values is None else values["k"]
            checks.append(TargetCheck(
                target_id=target_id, citation=row["citation"], doi=row["doi"] or "", outcome=row["outcome"],
                analysis=row["analysis"], quantity=row["quantity"], published=published,
                decimals=row["decimals"], recomputed=recomputed, difference=difference,
                k_used=k_used, k_published=row["k_published"], verdict=verdict, note=note,
                model=target_model(first),
                reason=difference_reason(first, k_used) if verdict == "differs" else "",
                indicative=indicative))
    drawn = write_figures(loaded, figures, folder) if figures else ()
    return Reproduction(targets=tuple(checks), figures=drawn)


def reproduction_table(result):
    """Grouped by publication (its citation once), then by target: the model used, and one
    line per published number with the recomputed value, k used beside k published and the
    verdict; every "differs" with its reason; a summary counting the numbers."""
    from .text import aligned

    by_publication = {}
    for check in result.targets:
        by_publication.setdefault(check.citation, {}).setdefault(check.target_id, []).append(check)
    lines = []
    for citation, targets in by_publication.items():
        first = next(iter(targets.values()))[0]
        lines += [citation + (f" doi:{first.doi}" if first.doi and first.doi not in citation else ""), ""]
        for target_id, checks in targets.items():
            head = checks[0]
            lines += [f"  {head.analysis} ({head.outcome}) [{target_id}]",
                      f"    model: {head.model}", f"    data: {head.note}"]
            rows = [["    quantity", "published", "recomputed", "difference", "k used", "k published",
                     "verdict"]]
            for check in checks:
                digits = check.decimals
                rows.append([f"    {check.quantity}", f"{check.published:.{digits}f}",
                             "-" if check.recomputed is None else f"{check.recomputed:.{digits + 2}f}",
                             "-" if check.difference is None else f"{check.difference:+.{digits + 2}f}",
                             "-" if check.k_used is None else check.k_used,
                             "-" if check.k_published is None else check.k_published, check.verdict])
            lines.append(aligned(rows))
            reasons = dict.fromkeys(check.reason for check in checks if check.reason)
            lines += [f"    differs: {reason}" for reason in reasons]
            if head.indicative is not None:
                lines.append(f"    {head.indicative.describe()}")
            lines.append("")
    counts = {}
    for check in result.targets:
        counts[check.verdict] = counts.get(check.verdict, 0) + 1
    n_targets = sum(map(len, by_publication.values()))
    lines.append(f"Summary: {len(result.targets)} published numbers in {n_targets} "
                 f"targets from {len(by_publication)} publications: "
                 + ", ".join(f"{n} {verdict}" for verdict, n in counts.items()))
    lines += [f"Figure: {path}" for path in result.figures]
    return "\n".join(lines)
