"""The page's certainty of evidence, from the report's data alone: the GRADE summary of findings
(certainty with footnotes, share of true effects above the MID, the Bayesian estimate beside the
frequentist one), a subset's Bayesian rows, and the RoB 2 traffic-light plot of a section."""
import html
from types import SimpleNamespace

from .numbers import interval_text, number

#: GRADE's certainty symbols (GRADE Handbook 5.1; as GRADEpro prints them).
SYMBOLS = {"high": "⊕⊕⊕⊕", "moderate": "⊕⊕⊕◯", "low": "⊕⊕◯◯", "very low": "⊕◯◯◯"}


def _e(value) -> str:
    return html.escape("" if value is None else str(value))


def _probability(p) -> str:
    return "&gt; 0.999" if p > 0.999 else ("&lt; 0.001" if p < 0.001 else f"{p:.3f}")


def bayes_cell(bayes) -> str:
    """The Bayesian g [95% CrI] of a subset."""
    return interval_text(bayes["estimate"], bayes["ci_lower"], bayes["ci_upper"])


def unpooled_cell(item) -> str:
    """An unpooled subset's answer in the summary: the Bayesian estimate from 2 trials, else "not pooled"."""
    if item.get("bayes"):
        return f'{bayes_cell(item["bayes"])} <span class="muted">(Bayesian)</span>'
    return '<span class="muted">not pooled</span>'


def certainty_cell(grade, marks) -> str:
    """The certainty with its symbols and the numbers of its footnotes."""
    sup = f'<sup class="fn">{",".join(str(m) for m in marks)}</sup>' if marks else ""
    return (f'<span class="certainty certainty-{grade["certainty"].replace(" ", "-")}">'
            f'{SYMBOLS[grade["certainty"]]} {_e(grade["certainty"].capitalize())}</span>{sup}')


def _sof_row(item, name, footnotes):
    grade, bayes, pooled = item.get("grade"), item.get("bayes"), item["pooled"]
    marks = []
    for note in (grade or {}).get("footnotes", ()):
        footnotes.append(note)
        marks.append(len(footnotes))
    participants = f"{item['n_participants'] or '–'} ({item['k_trials']})"
    share = grade["share_above_mid"] if grade else None
    return [name, participants,
            interval_text(pooled["estimate"], pooled["ci_lower"], pooled["ci_upper"]) if pooled
            else '<span class="muted">not pooled</span>',
            bayes_cell(bayes) if bayes else "–",
            _probability(bayes["prob_above_0"]) if bayes else "–",
            _probability(bayes["prob_above_02"]) if bayes else "–",
            "–" if share is None else f"{100 * share:.0f}%",
            certainty_cell(grade, marks) if grade else '<span class="muted">not rated</span>']


def sof_table(report, name_of, table) -> str:
    """The GRADE summary of findings (Guyatt et al. 2011, J Clin Epidemiol 64:383-394): a row per
    subset with a frequentist or Bayesian answer, its certainty with footnotes, and the notes;
    ``name_of(item)`` names a subset, ``table`` draws the page's tables."""
    footnotes: list[str] = []
    rows = []
    for item in report["analyses"]:
        if not item["same_trials_as"] and (item["pooled"] or item.get("bayes")):
            rows.append(_sof_row(item, name_of(item), footnotes))
    if not rows:
        return ""
    grades = [item["grade"] for item in report["analyses"] if item.get("grade")]
    priors = sorted({item["bayes"]["prior"] for item in report["analyses"] if item.get("bayes")})
    mids = sorted({grade["mid"] for grade in grades})
    body = table(["Outcome, timepoint, control", "#Participants (trials)", "#g [95% CI]",
                  "#Bayesian g [95% CrI]", "#P(g > 0)", "#P(g > 0.2)", "#True effects > MID",
                  "Certainty (GRADE)"], rows, "wide sof")
    notes = "".join(f"<li>{_e(note)}</li>" for note in footnotes)
    return ('<h3 id="certainty">Certainty of evidence (GRADE summary of findings)</h3>' + body
            + (f'<ol class="footnotes">{notes}</ol>' if notes else "")
            + '<p class="note">Certainty starts high (randomised trials) and is rated down one level per '
              "serious concern by the analysis plan's rules ([grade]; GRADE Handbook, Guyatt et al. 2011): "
              "each footnote gives the domain, its numbers and (in the subset's section) its rule. "
              f"MID (minimal important difference): g = {', '.join(f'{m:g}' for m in mids) or '–'}. "
              "True effects &gt; MID: the share of the random-effects distribution N(g, τ²) above the MID "
              "(Mathur &amp; VanderWeele 2019). Bayesian g: posterior median and 95% central credible "
              "interval of the Bayesian random-effects model (bayesmeta; Röver 2020) on one effect per "
              "trial, "
              f"tau prior {_e(', '.join(priors) or '–')}, flat prior on the mean; P(g &gt; x): its posterior "
              "probability that the mean effect exceeds x.</p>")


def bayes_rows(item) -> list:
    """The Bayesian and GRADE rows of a subset's pooled table."""
    bayes, grade, rows = item.get("bayes"), item.get("grade"), []
    if bayes:
        rows += [[f"Bayesian g [95% CrI] (tau prior: {_e(bayes['prior'])})", bayes_cell(bayes)],
                 ["P(g > 0), P(g > 0.2)",
                  f"{_probability(bayes['prob_above_0'])}, {_probability(bayes['prob_above_02'])}"],
                 ["Bayesian 95% predictive interval",
                  f"[{number(bayes['pi_lower'])}, {number(bayes['pi_upper'])}]"],
                 ["τ (posterior median [95% CrI])",
                  f"{number(bayes['tau'], 3)} [{number(bayes['tau_ci_lower'], 3)}, "
                  f"{number(bayes['tau_ci_upper'], 3)}]"]]
    if grade:
        rows.append(["Certainty (GRADE)", certainty_cell(grade, ())])
        rows += [[f"– {_e(d['domain'].replace('_', ' '))}",
                  f"{'rated down ' + str(d['downgrade']) if d['downgrade'] else 'not rated down'}: "
                  f"{_e(d['reason'])}" + (f" (override: {_e(d['justification'])})" if d["overridden"] else "")
                  + f'<br><span class="muted">rule: {_e(d["rule"])}</span>'] for d in grade["domains"]]
    return rows


def rob_figure(item, figure) -> str:
    """The RoB 2 traffic-light plot of a subset's judged rows (robvis layout), drawn here from the
    judgements in the report's data; '' where rob2.csv judges none of them."""
    from ..plots.estimates_svg import traffic_light_svg

    judged = item.get("rob2") or ()
    if not judged:
        return ""
    judgements = [SimpleNamespace(es_id=j["es_id"], domains=j["domains"], overall=j["overall"])
                  for j in judged]
    svg = traffic_light_svg(judgements, [j["label"] for j in judged],
                            title=f"Risk of bias (RoB 2): {item['outcome']}, {item['timepoint']}")
    return figure(svg, "RoB 2 judgement of each row (studies/rob2.csv): D1 randomization, D2 deviations from "
                       "intended interventions, D3 missing outcome data, D4 measurement of the outcome, D5 "
                       "selection of the reported result, and the overall judgement.", "rob")

