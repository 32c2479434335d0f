"""The analysis plan in words: ``compassmeta plan show`` and the report's plan section."""
from .plan import WINDOWS, Plan


def plan_text(plan: Plan) -> str:
    """The plan as a few lines of text (``compassmeta plan show``, the report's plan section)."""
    k = plan.minimum_k
    comparators = "; ".join(
        f"{cls}: " + ", ".join(c.name for c in plan.comparators if c.cls == cls)
        for cls in ("passive", "active")
    )
    lines = [
        f"Analysis plan: {plan.title} ({plan.path})",
        f"Outcomes, in order: {', '.join(plan.outcome_order)}",
        f"Timepoint windows: {', '.join(WINDOWS)} (short follow-up: up to {plan.short_follow_up_max_weeks:g} "
        "weeks after the end of treatment; windows are never pooled together)",
        f"Comparators: {comparators} (all, passive and active analysed)",
        "Intervention classes: " + "; ".join(f"{c.name} ({c.label})" for c in plan.intervention_classes),
        f"SCS: total, compassionate component ({', '.join(plan.scs_compassionate)}), "
        f"uncompassionate component ({', '.join(plan.scs_uncompassionate)}) and each facet are "
        "separate outcomes, never pooled together",
        f"Model: one row per trial: univariate random effects (REML); several rows per trial: "
        f"{'the three-level model' if plan.dependent_model == 'three-level' else 'the CHE model'} "
        f"(rho = {plan.rho:g} for CHE)",
        f"Minimum k: pool >= {k.pool} trials; heterogeneity, prediction interval, funnel "
        f">= {k.heterogeneity}; "
        f'publication-bias tests >= {k.publication_bias} (else "not assessable (k < {k.publication_bias})"); '
        f'moderator level >= {k.moderator_level} trials (else "insufficient", no test); CR2 df < '
        f"{k.cr2_min_df:g} flagged unreliable",
        f"Sensitivity set: {', '.join(plan.sensitivity)}",
        "GRADE: " + (", ".join(f"{key} = {value}" for key, value in plan.grade.items()
                               if not isinstance(value, dict)) or "the GRADE defaults")
        + " (rules in compassmeta.analyses.grade)",
        f"Bayesian model: tau prior {plan.bayes_tau_prior}, flat prior on mu",
        "Large subsets: forest plots draw at most {forest_max_trials} trials; leave-one-out and influence "
        "above {case_deletion_max_trials} trials not computed".format(**plan.large_subsets),
        *(f"Source ({name}): {text}" for name, text in plan.citations.items()),
    ]
    return "\n".join(lines)
