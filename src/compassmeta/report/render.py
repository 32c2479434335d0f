"""The report as one self-contained HTML page (inline SVG, CSS and a little vanilla JavaScript;
no network), drawn from the report's data alone: ``Report.to_dict()``, or the report JSON
read back by :func:`compassmeta.report.analysis.load_report`.  Figures are drawn here, from
the data each analysis carries (:mod:`compassmeta.report.figures`)."""
import html
import re
from pathlib import Path

from ..common.distributions import critical_value
from ..common.errors import CompassmetaError
from ..common.results import Result
from .evidence_render import bayes_rows, rob_figure, sof_table, unpooled_cell
from .figures import CAPTIONS, forest_limit, forest_svg, funnel_svg, moderator_svg, subset_captions
from .joint_render import joint_section
from .model_text import heterogeneity_rows, i2_text, short_model
from .numbers import interval_text, number, p_text
from .page_assets import SCRIPT, STYLE


def _e(value):
    return html.escape("" if value is None else str(value))


def slug(text) -> str:
    """An id or URL fragment made of the text's lower-case letters and digits."""
    return re.sub(r"[^a-z0-9]+", "-", str(text).lower()).strip("-")


def table(header, rows, css="") -> str:
    """An HTML table; ``rows`` hold ready markup; header cells starting with '#' are numeric."""
    head = "".join(f'<th class="num">{_e(h[1:])}</th>' if h.startswith("#") else f"<th>{_e(h)}</th>"
                   for h in header)
    numeric = [h.startswith("#") for h in header]
    body = "".join("<tr>" + "".join(f'<td class="num">{cell}</td>' if num else f"<td>{cell}</td>"
                                    for cell, num in zip(row, numeric)) + "</tr>" for row in rows)
    return f'<table class="{css}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def doi_link(doi) -> str:
    return f'<a href="https://doi.org/{_e(doi)}">doi:{_e(doi)}</a>' if doi else ""


def _pooled_interval(pooled):
    return interval_text(pooled["estimate"], pooled["ci_lower"], pooled["ci_upper"])


def _minimum(report, name):
    """A minimum k of the report's plan (``minimum_k.NAME``)."""
    return report["plan"]["minimum_k"][name]


def _flags(item, report):
    flagged = [check["analysis"] for check in item["bias"] if check["flag"]]
    if item["k_trials"] < _minimum(report, "publication_bias") or not item["bias"]:
        notes = item["bias_notes"]
        return f'<span class="muted">{_e(notes[0] if notes else "not assessed")}</span>'
    text = ", ".join(_e(name) for name in flagged) if flagged else "none"
    return f'<span class="flag">{text}</span>' if flagged else text


def _shows_spread(item, report):
    """Whether the subset has the trials for a prediction interval, heterogeneity and a funnel."""
    return item["pooled"] is not None and item["k_trials"] >= _minimum(report, "heterogeneity")


def _summary_row(item, same, report):
    pooled, loo, spread = item["pooled"], item["leave_one_out"], _shows_spread(item, report)
    cell = (f'<span class="g" data-key="{_e(item["key"])}" data-estimate="{pooled["estimate"]!r}">'
            f"{_pooled_interval(pooled)}</span>" if pooled else unpooled_cell(item))
    return [f'<a href="#{slug(item["key"])}">{_e(_outcome_name(item))}</a>', _e(item["timepoint"]),
            _e(item["control"]) + (f' <span class="muted">(all {_e(same[item["key"]])})</span>'
                                   if item["key"] in same else ""),
            f"{item['k_trials']} ({item['k_rows']})", short_model(item),
            _e(item["n_participants"] if item["n_participants"] else "–"), cell,
            f"[{number(pooled['pi_lower'])}, {number(pooled['pi_upper'])}]" if spread else "–",
            i2_text(item) if spread else "–", _flags(item, report) if pooled else "–",
            f"{number(loo['lowest'])} to {number(loo['highest'])}" if loo else "–"]


def _summary_section(report):
    same = {item["key"].rsplit(" | ", 1)[0] + " | all": item["control"]
            for item in report["analyses"] if item["same_trials_as"]}
    rows = [_summary_row(item, same, report) for item in report["analyses"]
            if not item["same_trials_as"]]  # a subset of the same trials is shown on the row of all controls
    minimum = report["plan"]["minimum_k"]
    summary = table(["Outcome", "Timepoint", "Control", "#Trials (rows)", "Model", "#Participants",
                     "#g [95% CI]",
                     "#95% PI", "#I²", "Bias flags", "#Leave-one-out g"], rows, "wide summary")
    return (f'<section id="summary"><h2>Summary of findings</h2>{summary}'
            f'<p class="note">g: Hedges\' g, positive favours the intervention; {_e(report["method"])}. '
            "Model: one effect per trial where each trial gives one row; where a trial contributes several "
            f"rows, the {_e(_dependent_model_name(report))} on every row (I² between + within trials), with "
            f"bias analyses and leave-one-out on one effect per trial (a trial's rows averaged, "
            f"r = {report['within_trial_r']}) since they assume independent effects. "
            f"PI, I² and funnel from {minimum['heterogeneity']} trials, publication-bias tests from "
            f"{minimum['publication_bias']} (below: not assessable), as the analysis plan sets. "
            "PI: 95% prediction interval. Bias flags: Egger p &lt; 0.10; trim-and-fill imputes trials; "
            "PET-PEESE limit CI holds 0 while the pooled CI does not; 3PSM likelihood-ratio test "
            "p &lt; 0.10. Participants: each trial's arms and control "
            "groups counted once (a shared control once; – when a row lacks n).</p>"
            + sof_table(report, section_label, table) + "</section>")


def _outcome_name(item):
    """The outcome, with the teaching table it comes from."""
    collection = item.get("collection")
    return f"{collection.split(' (')[0]}: {item['outcome']}" if collection else item["outcome"]


def _dependent_model_name(report):
    model = "three-level model" if report["rho"] is None else f"CHE model (rho = {report['rho']:g})"
    return model + (", CR2 robust inference" if report["ci_method"] == "cr2" else "")


def _pooled_block(item, report):
    rows = [["Pooled g [95% CI]", f'<span class="g" data-key="{_e(item["key"])}">'
                                  f"{_pooled_interval(item['pooled'])}</span>"]]
    heterogeneity = heterogeneity_rows(item)
    rows += heterogeneity if _shows_spread(item, report) else heterogeneity[:1]
    rows += bayes_rows(item)
    loo = item["leave_one_out"]
    if loo:
        rows.append(["Leave-one-out range" + (" (one effect per trial)" if item["dependent"] else ""),
                     f"{loo['lowest']:.2f} (without {_e(loo['lowest_without'])}) to "
                     f"{loo['highest']:.2f} (without {_e(loo['highest_without'])})"])
    return table(["Quantity", "Value"], rows, "pooled")


def _sensitivity_block(item):
    """The subset's sensitivity set, one row per analysis with its k (metapsyTools' runMetaAnalysis())."""
    if not item.get("sensitivity"):
        return ""
    rows = [[_e(fit["analysis"]), str(fit["k"]), str(fit["k_rows"]),
             "–" if fit["estimate"] is None
             else interval_text(fit["estimate"], fit["ci_lower"], fit["ci_upper"]),
             f'<span class="muted">{_e(fit["note"])}</span>'] for fit in item["sensitivity"]]
    return table(["Sensitivity analysis", "#k", "#Rows", "#g [95% CI]", "Note"], rows, "sensitivity")


def _bias_block(item):
    notes = "".join(f'<p class="note">{_e(note)}</p>' for note in item["bias_notes"])
    if not item["bias"]:
        return notes
    rows = [[_e(check["analysis"]), _e(check["summary"]),
             '<span class="flag">yes</span>' if check["flag"] else "no"] for check in item["bias"]]
    return table(["Publication bias", "Result", "Flag"], rows, "bias") + notes


def _drawn(draw, caption: str, kind: str) -> str:
    """The figure ``draw()`` returns, or a note with the reason where drawing it fails (e.g. the
    funnel's trim-and-fill not converging), so that the rest of the page is still written."""
    try:
        svg = draw()
    except CompassmetaError as error:
        return f'<p class="note">{_e(kind.capitalize())} plot not drawn: {_e(error)}.</p>'
    return figure(svg, caption, kind)


def figure(svg: str, caption: str, kind: str) -> str:
    """A figure with its caption."""
    return f'<figure class="fig fig-{kind}">{svg}<figcaption>{_e(caption)}</figcaption></figure>'


def _sentence(note):
    """A note as a sentence: its first letter upper-case, except a symbol such as "k = 1"."""
    return note if note.startswith("k ") else note[:1].upper() + note[1:]


def _one_trial(effects):
    """The one trial of an unpooled subset: its g with the Wald 95% CI (g +- z sqrt(v))."""
    g, half = effects["yi"][0], critical_value(0.95) * effects["vi"][0] ** 0.5
    return (f'<p class="note trial-g">{_e(effects["labels"][0])}: g = '
            f'{interval_text(g, g - half, g + half)} (one trial, not pooled).</p>')


def _subset_block(item, report):
    control = "all controls" if item["control"] == "all" else f"{item['control']} controls"
    head = (f'<div class="subset" id="{slug(item["key"])}"><h3>{_e(_outcome_name(item))}, '
            f'{_e(item["timepoint"])}: {_e(control)}</h3>')
    if item["same_trials_as"]:
        return (head + f'<p class="note">The same {item["k_trials"]} trial(s) as with all controls (every '
                       f"trial of this outcome has a {_e(item['control'])} control); see above.</p></div>")
    size = "" if item["dependent"] else f"k = {item['k_trials']} trial(s), {item['k_rows']} row(s); "
    size += f"{item['n_participants']} participants; " if item["n_participants"] else ""
    parts = [f'<p class="note">{size}model: {_e(item["model"])}.</p>']
    parts += [f'<p class="note">{_e(_sentence(note))}.</p>' for note in item["notes"]]
    if item["pooled"] is None and item["k_trials"] == 1 and item["effects"]:
        parts.append(_one_trial(item["effects"]))
    if item["pooled"] is None and item.get("bayes"):
        parts.append(table(["Quantity", "Value"], bayes_rows(item), "pooled"))
    if item["control"] == "all":
        parts.append(rob_figure(item, figure))
    if item["pooled"]:
        bias_k = _minimum(report, "publication_bias")
        captions = subset_captions(item, bias_k, _minimum(report, "heterogeneity"), forest_limit(report))
        funnel = (_drawn(lambda: funnel_svg(item, bias_k), captions["funnel"], "funnel")
                  if _shows_spread(item, report) else "")
        forest = _drawn(lambda: forest_svg(item, _minimum(report, "heterogeneity"), forest_limit(report)),
                        captions["forest"], "forest")
        parts += [_pooled_block(item, report), _sensitivity_block(item), _bias_block(item),
                  f'<div class="figures">{forest}{funnel}</div>']
    return head + "".join(parts) + "</div>"


def section_label(item) -> str:
    """The section of an analysis or moderator: its outcome (with its teaching table) and window."""
    return f"{_outcome_name(item)}, {item['timepoint']}" if item.get("timepoint") else _outcome_name(item)


def _outcome_sections(report):
    sections, current = [], None
    for item in report["analyses"]:
        if section_label(item) != current:
            if current is not None:
                sections.append("</section>")
            current = section_label(item)
            sections.append(f'<section class="outcome" id="outcome-{slug(current)}">'
                            f"<h2>{_e(current[:1].upper() + current[1:])}</h2>")
        sections.append(_subset_block(item, report))
    return "".join(sections + (["</section>"] if current is not None else []))


def _moderator_result(item):
    result = item["result"]
    if item["kind"] == "subgroup":
        rows = [[_e(group["level"]), str(group["k"]),
                 interval_text(group["estimate"], group["ci_lower"], group["ci_upper"]),
                 f"{number(group['i2'], 1)}%"] for group in result["groups"]]
        body = table(["Subgroup", "#k", "#g [95% CI]", "#I²"], rows, "moderator")
        test = (f"Test for subgroup differences: Q({result['q_between_df']}) = "
                f"{number(result['q_between'])}, {p_text(result['q_between_p'])}")
    else:
        rows = [[_e(c["term"]), f"{c['estimate']:.3f}", f"[{c['ci_lower']:.3f}, {c['ci_upper']:.3f}]",
                 p_text(c["p_value"])] for c in result["coefficients"]]
        body = table(["Term", "#Estimate", "#95% CI", "#p"], rows, "moderator")
        test = (f"QM({result['qm_df']}) = {number(result['qm'])}, {p_text(result['qm_p'])}; residual I² = "
                f"{number(result['i2'], 1)}%; R² = {number(result['r2'], 0)}%")
    return f'{body}<p class="test">{_e(test)}</p>'


def _menu(element_id, label, values, selected):
    options = "".join(f'<option value="{slug(v)}"{" selected" if v == selected else ""}>{_e(v)}</option>'
                      for v in values)
    return f'<label for="{element_id}">{label}</label><select id="{element_id}">{options}</select>'


def _moderator_panel(item, shown, max_trials):
    drawn = "" if item["result"] is None else moderator_svg(item, max_trials)
    body = "" if item["result"] is None else _moderator_result(item)
    kind = "bubble" if item["kind"] == "meta-regression" else "subgroup-forest"
    status = ('' if item["status"] == "tested" else
              ' <span class="status-insufficient">insufficient</span>')
    return (f'<div class="mod-panel" id="mod-{slug(section_label(item))}--{slug(item["moderator"])}"'
            f' data-kind="{_e(item["kind"])}"{"" if shown else " hidden"}>'
            f'<h3>{_e(section_label(item))}: {_e(item["moderator"])}{status}</h3>'
            f'<p class="note">{_e(item["note"])}</p>{body}'
            + (figure(drawn, CAPTIONS[kind], kind) if drawn else "") + "</div>")


def _explorer_section(report):
    moderators = report["moderators"]
    if not moderators:
        return ""
    first = next((item for item in moderators if item["result"] is not None), moderators[0])
    menus = ('<div class="explorer-menus">'
             + _menu("explore-outcome", "Outcome", dict.fromkeys(section_label(m) for m in moderators),
                     section_label(first))
             + _menu("explore-moderator", "Moderator", dict.fromkeys(m["moderator"] for m in moderators),
                     first["moderator"]) + "</div>")
    panels = [_moderator_panel(item, item is first, forest_limit(report)) for item in moderators]
    return ('<section id="explorer"><h2>Moderator explorer</h2>'
            '<p class="note screen-only">Choose an outcome and a moderator: every analysis is computed in '
            "advance (subgroup analysis with separate τ² per subgroup for a categorical moderator, "
            "meta-regression for a numeric one, on one effect per trial and moderator value: a trial's rows "
            "averaged), so the page needs no server. Printed, all panels follow "
            "one another.</p>" + menus + "".join(panels) + "</section>")


def _reproduction_rows(targets):
    rows, previous_target = [], None
    for check in targets:
        digits = check["decimals"]
        first_of_target, previous_target = check["target_id"] != previous_target, check["target_id"]
        rows.append([f"<b>{_e(check['target_id'])}</b>" if first_of_target else "", _e(check["quantity"]),
                     f"{check['published']:.{digits}f}",
                     "–" if check["recomputed"] is None else f"{check['recomputed']:.{digits + 2}f}",
                     "–" if check["difference"] is None else f"{check['difference']:+.{digits + 2}f}",
                     f"{'–' if check['k_used'] is None else check['k_used']}/"
                     f"{'–' if check['k_published'] is None else check['k_published']}",
                     f'<span class="verdict-{slug(check["verdict"])}">{_e(check["verdict"])}</span>'])
    return rows


def _reproduction_section(report):
    if report["reproduction"] is None:
        return (f'<section id="reproduction"><h2>Reproduction of published results</h2>'
                f'<p class="note">{_e(report["reproduction_note"])}</p></section>')
    targets = report["reproduction"]["targets"]
    counts = {}
    for check in targets:
        counts[check["verdict"]] = counts.get(check["verdict"], 0) + 1
    publications = {}
    for check in targets:
        by_target = publications.setdefault((check["citation"], check["doi"]), {})
        by_target.setdefault(check["target_id"], check["note"])
    notes = "".join(f"<li>{_e(citation)} {doi_link(doi)}<ul>"
                    + "".join(f'<li class="note"><b>{_e(target)}</b>: {_e(note)}</li>'
                              for target, note in by_target.items())
                    + "</ul></li>" for (citation, doi), by_target in publications.items())
    return ('<section id="reproduction"><h2>Reproduction of published results</h2>'
            '<p class="note">Each published number recomputed from study-level data and compared at the '
            "publication's rounding (" + _e(", ".join(f"{n} {v}" for v, n in counts.items())) + ").</p>"
            + table(["Target", "Quantity", "#Published", "#Recomputed", "#Difference", "#k used/published",
                     "Verdict"], _reproduction_rows(targets), "wide reproduction")
            + f"<details open><summary>Targets and data</summary><ul>{notes}</ul></details></section>")


def _provenance_section(report):
    tables = table(["Table", "#Rows", "sha256"],
                   [[_e(t["path"]), str(t["rows"]), f'<span class="mono">{t["sha256"]}</span>']
                    for t in report["tables"]], "tables")
    rows = [[_e(trial["label"]),
             _e(trial["citation"]) + (" " + doi_link(trial["doi"]) if trial["doi"] else ""),
             '<ul class="sources">' + "".join(f"<li>{_e(source)}</li>" for source in trial["sources"])
             + "</ul>" + (f"Database: {doi_link(trial['source_doi'])}" if trial["source_doi"] else ""),
             "<br>".join(f'<span class="mono">{_e(es)}</span>' for es in trial["es_ids"]),
             _e(", ".join(level or "not recorded" for level in trial.get("evidence_levels") or ("",)))]
            for trial in report["trials"]]
    return ('<section id="provenance"><h2>Provenance</h2><h3>Data version</h3>' + tables
            + f'<p class="note">Generated {_e(report["generated"])}. The sha256 of each table identifies the '
              "data; the JSON beside this page holds every number and a fingerprint of each row.</p>"
            + _changes_block(report["changes"])
            + "<h3>Trials</h3>" + table(["Trial", "Citation", "Source of the numbers", "Rows (es_id)",
                                         "Evidence level"], rows, "wide trials")
            + '<p class="note">Evidence level: where a trial\'s numbers are printed in its own report (a '
              "full results table, or the abstract only); not recorded for rows taken from a database "
              "(Metapsy, dmetar).</p></section>")


def _changes_block(changes):
    if changes is None:
        return ""
    lists = "".join(f"<p><b>{title}</b> ({len(ids)}): "
                    + (", ".join(f'<span class="mono">{_e(es)}</span>' for es in ids) or "none") + "</p>"
                    for title, ids in (("Added", changes["added"]), ("Changed", changes["changed"]),
                                       ("Removed", changes["removed"])))
    moves = [[_e(move["key"]), number(move["previous"], 3), number(move["current"], 3),
              "–" if move["change"] is None else f"{move['change']:+.3f}"]
             for move in changes["pooled_moves"]]
    return ('<div id="changes"><h3>Changes since the previous report</h3>'
            f'<p class="note">Previous report: {_e(changes["previous_generated"] or "date unknown")}; tables '
            + _e(", ".join(f"{Path(t['path']).name} {t['sha256'][:12]}" for t in changes["previous_tables"]))
            + ".</p>"
            + lists + table(["Subset", "#Previous g", "#Current g", "#Change"], moves, "moves") + "</div>")


def _header(report):
    tables = ", ".join(f"{Path(t['path']).name} ({t['rows']} rows, sha256 {t['sha256'][:12]})"
                       for t in report["tables"])
    return (f"<header><h1>{_e(report['title'])}: living evidence report</h1>"
            f'<p class="lede">Generated {_e(report["generated"])} by compassmeta from {_e(tables)}. '
            f"Random-effects meta-analysis ({_e(report['method'])}): one effect per trial, or the "
            f"{_e(_dependent_model_name(report))} where trials contribute several rows; effects are "
            "Hedges' g, positive favours the intervention.</p>"
            + "".join(f'<p class="note flag">Warning: {_e(w)}</p>' for w in report["warnings"]) + "</header>")


def _plan_section(report):
    """The analysis plan the report followed, as its text, with the file it was read from."""
    lines = "".join(f"<li>{_e(line)}</li>" for line in report["plan"]["text"].splitlines()[1:])
    return ('<section id="plan"><h2>Analysis plan</h2>'
            f'<p class="note">This report followed the analysis plan in {_e(report["plan"]["path"])} '
            "(<code>compassmeta plan show</code> prints it).</p>"
            '<details open><summary>Decisions and sources</summary>'
            f'<ul class="plan">{lines}</ul></details></section>')


def _nav(report):
    outcomes = dict.fromkeys(section_label(item) for item in report["analyses"])
    return ('<nav><a href="#summary">Summary</a><a href="#plan">Plan</a>'
            + "".join(f'<a href="#outcome-{slug(o)}">{_e(o)}</a>' for o in outcomes)
            + ('<a href="#multivariate">Multivariate</a>' if report.get("joint_models") else "")
            + ('<a href="#explorer">Moderators</a>' if report["moderators"] else "")
            + '<a href="#reproduction">Reproduction</a><a href="#provenance">Provenance</a>'
            + ('<a href="#changes">Changes</a>' if report["changes"] else "") + "</nav>")


def render_html(report: Result | dict) -> str:
    """The report as one self-contained HTML page, from ``Report.to_dict()`` alone: ``report`` is a
    :class:`compassmeta.report.results.Report` or its JSON read back (``load_report``)."""
    data = report.to_dict() if isinstance(report, Result) else report
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{_e(data['title'])}: living evidence report</title>"
            f"<style>{STYLE}</style></head><body>" + _header(data) + _nav(data)
            + _summary_section(data) + _plan_section(data) + _outcome_sections(data)
            + joint_section(data, table, figure) + _explorer_section(data)
            + _reproduction_section(data) + _provenance_section(data)
            + f"<script>{SCRIPT}</script></body></html>\n")
