"""GRADE certainty of a pooled result (Guyatt et al. 2011, J Clin Epidemiol 64, the GRADE series;
Schünemann et al., GRADE Handbook 2013, section 5).

Evidence from randomised trials starts high (observational: low) and is rated down one level per
serious concern (two where very serious) in five domains, each decided by a stated rule whose
thresholds are :class:`GradeRules` (the ``[grade]`` table of the analysis plan):

- risk of bias (Guyatt 2011g, 64:407-415): rated down when more than ``rob_high_share`` of the
  pooled weight comes from trials whose RoB 2 overall judgement is high;
- inconsistency (Guyatt 2011e, 64:1294-1302): when I^2 >= ``i2_serious`` percent and the
  prediction interval spans both no effect and the minimal important difference (MID), i.e.
  true effects range from none to important;
- imprecision (Guyatt 2011d, 64:1283-1293): when the CI includes the MID (two levels when it
  includes both +MID and -MID), else when the trials' total N is below the optimal information
  size, the total of one trial powered (``ois_power``, two-sided ``ois_alpha``) to detect the
  MID: OIS = 4 (z_{1-alpha/2} + z_{power})^2 / MID^2 for a standardized mean difference;
- publication bias (Guyatt 2011f, 64:1277-1282): "not assessable" with fewer than
  ``bias_min_k`` trials (Cochrane Handbook 13.3.5.4), else rated down when the asymmetry test's
  p < ``bias_p`` (Egger et al. 1997 used 0.10);
- indirectness (Guyatt 2011h, 64:1303-1310): a judgement, taken from the plan per subset.

Each domain can be overridden per subset with a written justification.  Effects are signed so
that positive favours the intervention; the MID is a positive number on the same scale.
"""
import dataclasses
import math
from collections.abc import Iterable, Mapping
from typing import Any

from ..common.distributions import normal_quantile
from ..common.errors import InputError
from ..common.results import PooledModel, Result

LEVELS = ("very low", "low", "moderate", "high")
#: In the order of a GRADE evidence profile.
DOMAINS = ("risk_of_bias", "inconsistency", "indirectness", "imprecision", "publication_bias")
STARTS = {"rct": "high", "observational": "low"}


@dataclasses.dataclass(frozen=True)
class Judgement:
    """A plan's judgement of one domain for one subset: levels rated down (0-2) and why (the
    indirectness reason, or an override's justification)."""

    downgrade: int
    reason: str


@dataclasses.dataclass(frozen=True)
class GradeRules:
    """Thresholds of the GRADE rules (defaults: see the module docstring) and the per-subset
    entries of the plan: ``mid_by_subset`` (a subset's own MID), ``indirectness`` and
    ``overrides`` (subset -> {domain: Judgement}; the justification is required)."""

    mid: float = 0.2                 # SMD; Cohen's "small" effect, a common default MID
    rob_high_share: float = 0.5
    i2_serious: float = 50.0         # percent; Cochrane Handbook 10.10.2: 50-90% "substantial"
    bias_min_k: int = 10
    bias_p: float = 0.10
    ois_alpha: float = 0.05
    ois_power: float = 0.80
    mid_by_subset: dict[str, float] = dataclasses.field(default_factory=dict)
    indirectness: dict[str, Judgement] = dataclasses.field(default_factory=dict)
    overrides: dict[str, dict[str, Judgement]] = dataclasses.field(default_factory=dict)

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Any] | None, *, file: str | None = None) -> "GradeRules":
        """The rules of a plan's ``[grade]`` table (a dict as tomllib reads it); a missing key keeps
        its default, an unknown key or a bad value is an InputError naming it."""
        mapping = dict(mapping or {})
        numbers = [f.name for f in dataclasses.fields(cls) if f.default is not dataclasses.MISSING]
        known = set(numbers) | {"mid_by_subset", "indirectness", "overrides"}
        for key in mapping:
            if key not in known:
                raise InputError(f"unknown key grade.{key} (known: {', '.join(sorted(known))})", file=file)
        values: dict[str, Any] = {key: _number(mapping[key], f"grade.{key}", file) for key in numbers
                                  if key in mapping}
        values["mid_by_subset"] = {name: _number(value, f"grade.mid_by_subset.{name}", file)
                                   for name, value in dict(mapping.get("mid_by_subset", {})).items()}
        values["indirectness"] = {name: _judgement(entry, f"grade.indirectness.{name}", file, "reason")
                                  for name, entry in dict(mapping.get("indirectness", {})).items()}
        values["overrides"] = {name: _overrides(entry, f"grade.overrides.{name}", file)
                               for name, entry in dict(mapping.get("overrides", {})).items()}
        rules = cls(**values)
        rules.check(file)
        return rules

    def check(self, file: str | None = None) -> None:
        """Every threshold within its range."""
        whole_k = isinstance(self.bias_min_k, int) and self.bias_min_k >= 3
        checks = (("mid", self.mid > 0), ("rob_high_share", 0 <= self.rob_high_share < 1),
                  ("i2_serious", 0 <= self.i2_serious < 100), ("bias_min_k", whole_k),
                  ("bias_p", 0 < self.bias_p < 1), ("ois_alpha", 0 < self.ois_alpha < 1),
                  ("ois_power", 0 < self.ois_power < 1))
        for key, fine in checks:
            if not fine:
                raise InputError(f"grade.{key} = {getattr(self, key)} is out of range", file=file)
        if any(mid <= 0 for mid in self.mid_by_subset.values()):
            raise InputError("grade.mid_by_subset: every MID must be positive", file=file)

    def mid_for(self, subset: str) -> float:
        return self.mid_by_subset.get(subset, self.mid)

    def optimal_information_size(self, mid: float) -> float:
        """Total N of a two-arm trial (equal arms, SD 1) powered to detect ``mid`` (Guyatt 2011d)."""
        z = normal_quantile(1 - self.ois_alpha / 2) + normal_quantile(self.ois_power)
        return 4 * z * z / (mid * mid)


def _number(value: object, key: str, file: str | None) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InputError(f"{key} must be a number, not {value!r}", file=file)
    return value


def _judgement(entry: object, key: str, file: str | None, text_key: str) -> Judgement:
    if not isinstance(entry, dict) or set(entry) != {"downgrade", text_key}:
        raise InputError(f"{key} needs exactly 'downgrade' (0, 1 or 2) and '{text_key}'", file=file)
    if entry["downgrade"] not in (0, 1, 2) or isinstance(entry["downgrade"], bool):
        raise InputError(f"{key}.downgrade must be 0, 1 or 2", file=file)
    if not isinstance(entry[text_key], str) or not entry[text_key].strip():
        raise InputError(f"{key}.{text_key} must be a written {text_key}", file=file)
    return Judgement(int(entry["downgrade"]), entry[text_key].strip())


def _overrides(entry: object, key: str, file: str | None) -> dict[str, Judgement]:
    if not isinstance(entry, dict):
        raise InputError(f"{key} must be a table of domains", file=file)
    for domain in entry:
        if domain not in DOMAINS:
            raise InputError(f"{key}.{domain}: not a GRADE domain ({', '.join(DOMAINS)})", file=file)
    return {domain: _judgement(value, f"{key}.{domain}", file, "justification")
            for domain, value in entry.items()}


@dataclasses.dataclass(frozen=True)
class GradeDomain(Result):
    """One domain's verdict: levels rated down, the reason (with the numbers), the rule applied;
    ``overridden`` with the plan's ``justification`` where the plan replaced the rule's verdict."""

    domain: str
    downgrade: int
    reason: str
    rule: str
    overridden: bool = False
    justification: str | None = None


@dataclasses.dataclass(frozen=True)
class GradeRating(Result):
    """The certainty of one pooled subset: its start, the domains and the final level;
    ``share_above_mid`` is the share of true effects above the MID under the random-effects
    distribution N(mu, tau^2) (None without tau^2)."""

    subset: str
    design: str
    start: str
    certainty: str
    mid: float
    domains: tuple
    share_above_mid: float | None = None

    def footnotes(self) -> list[str]:
        """The GRADE summary-of-findings footnotes: one per rated-down, overridden or not assessable
        domain."""
        notes = []
        for d in self.domains:
            if d.downgrade or d.overridden or d.reason.startswith("not assessable"):
                override = f" (override: {d.justification})" if d.overridden else ""
                notes.append(f"{d.domain.replace('_', ' ')}: {d.reason}{override}")
        return notes


@dataclasses.dataclass(frozen=True)
class GradeInput:
    """What the rules read of one pooled subset, as plain numbers: the trials' pooled ``weights``
    and RoB 2 overall judgements (``rob``: 'low', 'some concerns', 'high' or None where none is
    entered), the estimate with its CI and prediction interval (``pi`` None where there is none),
    I^2 in percent, tau^2, k, the trials' total N and the asymmetry test's p (None if not run)."""

    subset: str
    estimate: float
    ci: tuple
    k: int
    weights: tuple = ()
    rob: tuple = ()
    pi: tuple | None = None
    i2: float | None = None
    tau2: float | None = None
    n_total: float | None = None
    bias_p: float | None = None
    design: str = "rct"


def _risk_of_bias(data: GradeInput, rules: GradeRules) -> GradeDomain:
    rule = f"rated down when > {rules.rob_high_share:.0%} of the weight is from trials at high risk (RoB 2)"
    total = sum(data.weights)
    if not data.weights or len(data.weights) != len(data.rob) or total <= 0:
        raise ValueError("risk of bias needs one weight and one RoB 2 judgement (or None) per trial")
    high = sum(w for w, r in zip(data.weights, data.rob) if r == "high") / total
    unjudged = sum(w for w, r in zip(data.weights, data.rob) if r is None) / total
    if unjudged == 1:
        return GradeDomain("risk_of_bias", 0, "not assessable (no trial has a RoB 2 judgement)", rule)
    reason = f"{high:.0%} of the weight from trials at high risk of bias"
    if unjudged:
        reason += f"; {unjudged:.0%} from trials without a RoB 2 judgement"
    return GradeDomain("risk_of_bias", int(high > rules.rob_high_share), reason, rule)


def _inconsistency(data: GradeInput, rules: GradeRules, mid: float) -> GradeDomain:
    rule = (f"rated down when I^2 >= {rules.i2_serious:g}% and the prediction interval spans both no effect "
            f"and the MID ({mid:g})")
    if data.i2 is None or data.pi is None or data.k < 2:
        return GradeDomain("inconsistency", 0, "not assessable (fewer than two trials)", rule)
    lower, upper = data.pi
    spans = lower < min(0.0, mid) and upper > max(0.0, mid)
    reason = f"I^2 = {data.i2:.0f}%, prediction interval [{lower:.2f}, {upper:.2f}]"
    reason += " spans no effect and the MID" if spans else " does not span both no effect and the MID"
    return GradeDomain("inconsistency", int(data.i2 >= rules.i2_serious and spans), reason, rule)


def _imprecision(data: GradeInput, rules: GradeRules, mid: float) -> GradeDomain:
    ois = rules.optimal_information_size(mid)
    rule = (f"rated down when the CI includes the MID ({mid:g}; two levels when it includes -MID too), "
            f"else when total N is below the optimal information size ({ois:.0f})")
    lower, upper = data.ci
    interval = f"CI [{lower:.2f}, {upper:.2f}]"
    if lower < -mid and upper > mid:
        return GradeDomain("imprecision", 2, f"{interval} includes both -MID and +MID", rule)
    if lower < mid < upper:
        return GradeDomain("imprecision", 1, f"{interval} includes the MID", rule)
    if data.n_total is None:
        return GradeDomain("imprecision", 0, f"{interval} excludes the MID; total N unknown", rule)
    met = data.n_total >= ois
    verdict = "meets" if met else "is below"
    reason = f"{interval} excludes the MID; total N {data.n_total:.0f} {verdict} the OIS"
    return GradeDomain("imprecision", int(not met), reason, rule)


def _publication_bias(data: GradeInput, rules: GradeRules) -> GradeDomain:
    rule = f"with k >= {rules.bias_min_k}: rated down when the asymmetry test's p < {rules.bias_p:g}"
    if data.k < rules.bias_min_k or data.bias_p is None:
        return GradeDomain("publication_bias", 0, f"not assessable (k = {data.k} < {rules.bias_min_k})"
                           if data.k < rules.bias_min_k else "not assessable (no asymmetry test run)", rule)
    suspected = data.bias_p < rules.bias_p
    verdict = "suspected" if suspected else "not detected"
    reason = f"asymmetry test p = {data.bias_p:.3f} ({verdict})"
    return GradeDomain("publication_bias", int(suspected), reason, rule)


def _indirectness(data: GradeInput, rules: GradeRules) -> GradeDomain:
    entry = rules.indirectness.get(data.subset)
    rule = "the plan's judgement of the population, intervention, comparator and outcome"
    if entry is None:
        return GradeDomain("indirectness", 0, "no indirectness stated in the plan", rule)
    return GradeDomain("indirectness", entry.downgrade, entry.reason, rule)


def share_above(estimate: float, tau2: float, mid: float) -> float:
    """P(theta > MID) for true effects theta ~ N(estimate, tau^2) (Mathur & VanderWeele 2019,
    Stat Med 38:2326): Phi((estimate - MID) / tau); with tau^2 = 0, 1 or 0."""
    if tau2 <= 0:
        return float(estimate > mid)
    return 0.5 * (1 + math.erf((estimate - mid) / math.sqrt(2 * tau2)))


def grade_subset(data: GradeInput, rules: GradeRules | None = None) -> GradeRating:
    """The GRADE rating of one subset: each domain by its rule, or by the plan's override."""
    rules = rules or GradeRules()
    if data.design not in STARTS:
        raise ValueError(f"design must be one of {tuple(STARTS)}")
    mid = rules.mid_for(data.subset)
    domains = [_risk_of_bias(data, rules), _inconsistency(data, rules, mid), _indirectness(data, rules),
               _imprecision(data, rules, mid), _publication_bias(data, rules)]
    overrides = rules.overrides.get(data.subset, {})
    domains = [dataclasses.replace(d, downgrade=overrides[d.domain].downgrade, overridden=True,
                                   justification=overrides[d.domain].reason)
               if d.domain in overrides else d for d in domains]
    start = STARTS[data.design]
    level = max(0, LEVELS.index(start) - sum(d.downgrade for d in domains))
    share = None if data.tau2 is None else share_above(data.estimate, data.tau2, mid)
    return GradeRating(subset=data.subset, design=data.design, start=start, certainty=LEVELS[level], mid=mid,
                       domains=tuple(domains), share_above_mid=share)


def grade_model(subset: str, model: PooledModel, *, weights: Iterable[float], rob: Iterable[str | None],
                n_total: float | None = None, bias_p: float | None = None, rules: GradeRules | None = None,
                design: str = "rct") -> GradeRating:
    """:func:`grade_subset` of a fitted pooled model (any :class:`~compassmeta.common.results.PooledModel`):
    its estimate, CI, prediction interval, I^2 and total between-trial variance."""
    estimate = model.pooled_estimate()
    heterogeneity = model.heterogeneity()
    k = model.n_clusters or model.k
    pi = tuple(model.prediction_interval()) if k > 1 else None
    data = GradeInput(subset=subset, estimate=estimate.estimate, ci=(estimate.ci_lower, estimate.ci_upper),
                      k=k, weights=tuple(weights), rob=tuple(rob), pi=pi, i2=heterogeneity.i2,
                      tau2=heterogeneity.total_variance, n_total=n_total, bias_p=bias_p, design=design)
    return grade_subset(data, rules)
