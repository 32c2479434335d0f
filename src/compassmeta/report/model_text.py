"""A subset's pooled model in the report's words, from the members every pooled model has
(:class:`compassmeta.common.results.PooledModel`: describe() and heterogeneity(), as the
analysis' JSON carries them in ``model_description`` and ``heterogeneity``), never from its class."""
import html
from collections.abc import Iterable, Mapping
from typing import Any

from .numbers import number, p_text


def short_model(item: dict) -> str:
    """The model in a few words for the summary table: the name its describe() starts with
    ("random-effects", "three-level", "CHE")."""
    if not item["pooled"]:
        return "–"
    short = item["model_description"].split(" (")[0].split(",")[0].removesuffix(" model")
    return f'<span class="nowrap">{html.escape(short)}</span>'


#: A variance component's symbol and where it lies (PooledModel.heterogeneity() names); the
#: standard deviation is shown beside a lone between-trial variance (tau).
COMPONENT_LABELS = {"tau2": ("τ²", ""), "sigma2_between": ("σ²", " between trials"),
                    "sigma2_within": ("σ²", " within trials")}


def _component_cells(component: Mapping[str, Any], alone: bool) -> tuple[str, str]:
    """A variance component's label and value: the variance, its 95% CI where computed, and its
    square root where it is the model's only component."""
    symbol, place = COMPONENT_LABELS.get(component["name"], (component["name"], ""))
    has_ci = component["ci_lower"] is not None and component["ci_upper"] is not None
    value = number(component["variance"], 3)
    if has_ci:
        value += f" [{number(component['ci_lower'], 3)}, {number(component['ci_upper'], 3)}]"
    if alone:
        value += f" ({number(component['variance'] ** 0.5, 3)})"
    return symbol + place + (" [95% CI]" if has_ci else "") + (f" ({symbol[0]})" if alone else ""), value


def _i2_cells(components: Iterable[Mapping[str, Any]]) -> tuple[str, str]:
    """I^2 of each component that defines one; H^2 = 1 / (1 - I^2) beside a lone I^2 (Higgins &
    Thompson 2002, as metafor's rma prints it)."""
    shares = [(COMPONENT_LABELS.get(c["name"], ("", ""))[1], c["i2"])
              for c in components if c["i2"] is not None]
    if len(shares) == 1:
        i2 = shares[0][1]
        return "I², H²", f"{number(i2, 1)}%, {number(100 / (100 - i2))}"
    return (", ".join(f"I²{place}" for place, _ in shares),
            ", ".join(f"{number(i2, 1)}%" for _, i2 in shares))


def heterogeneity_rows(item: dict) -> list:
    """Inference and heterogeneity of a subset's pooled model, from the members every pooled
    model has (PooledModel): its test, prediction interval, variance components with their I^2,
    and Q test."""
    pooled, heterogeneity = item["pooled"], item["heterogeneity"]
    test = "z" if pooled.get("df") is None else f"t({pooled['df']:.2f})"
    rows = [[f"{test}, p", f"{number(pooled['statistic'])}, {p_text(pooled['p_value'])}"],
            ["95% prediction interval", f"[{number(pooled['pi_lower'])}, {number(pooled['pi_upper'])}]"]]
    components = heterogeneity["components"]
    cells = [_component_cells(component, len(components) == 1) for component in components]
    rows.append([", ".join(label for label, _ in cells), ", ".join(value for _, value in cells)])
    if any(component["i2"] is not None for component in components):
        rows.append(list(_i2_cells(components)))
    if heterogeneity["q"] is not None:
        rows.append(["Q (df), p", f"{number(heterogeneity['q'])} ({number(heterogeneity['q_df'], 0)}), "
                                  f"{p_text(heterogeneity['q_p'])}"])
    return rows


def i2_text(item: dict) -> str:
    """I² of a subset: each variance component's share (between + within trials for the
    multilevel model), from the pooled model's heterogeneity()."""
    shares = [c["i2"] for c in item["heterogeneity"]["components"] if c["i2"] is not None]
    return " + ".join(f"{number(i2, 0)}%" for i2 in shares) if shares else "–"
