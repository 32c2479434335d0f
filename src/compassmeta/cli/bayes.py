"""The ``bayes`` command: Bayesian random-effects meta-analysis and meta-regression (bayesmeta)."""
import json
from typing import TYPE_CHECKING

import click

from .app import complete_cases, load_effects, main, study_labels

if TYPE_CHECKING:
    from ..common.results import Result


@main.command()
@click.argument("data", type=click.Path(dir_okay=False))
@click.option("--yi", "yi_column", default=None, help="Effect-size column [yi].")
@click.option("--vi", "vi_column", default=None, help="Sampling-variance column [vi].")
@click.option("--sei", "sei_column", default=None, help="Standard-error column (instead of --vi).")
@click.option("--tau-prior", required=True, metavar="SPEC",
              help="Prior on tau: halfnormal:SCALE, halfcauchy:SCALE, halft:SCALE,DF, uniform:A,B, "
                   "exponential:RATE, lognormal:MU,SIGMA, jeffreys, turner:OUTCOME or rhodes:OUTCOME "
                   "(e.g. rhodes:mental-health).")
@click.option("--mu-prior", default="uniform", show_default=True, metavar="uniform|normal:MEAN,SD",
              help="Prior on mu (with --mods: normal priors on every coefficient).")
@click.option("--above", type=float, default=None, help="Also give P(mu > X) and P(theta_new > X).")
@click.option("--mods", "moderator_columns", multiple=True, help="Moderator column: meta-regression (bmr()).")
@click.option("--where", "where", multiple=True, metavar="CLAUSE",
              help="Keep rows where CLAUSE holds (as pool).")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False), default=None,
              help="Also draw the posterior densities and the forest plot to this file.")
@click.option("--format", "output_format", type=click.Choice(["text", "json"]), default="text",
              show_default=True)
def bayes(data, yi_column, vi_column, sei_column, tau_prior, mu_prior, above, moderator_columns, where,
          plot_path, output_format):
    """Bayesian random-effects meta-analysis with the exact posterior (as R's bayesmeta):
    posterior of tau, mu and a new study's effect, shrinkage estimates, Bayes factors."""
    from ..common.files import check_outputs

    check_outputs({"--plot": plot_path}, inputs=[data])
    table, yi, vi = load_effects(data, yi_column, vi_column, sei_column, where)
    if moderator_columns and plot_path:
        raise click.UsageError("--plot draws the model without moderators; leave out --mods")
    result: Result  # a BayesResult, or a BayesRegressionResult with --mods
    if moderator_columns:
        from ..models.bayes_priors import parse_mu_prior
        from ..models.bayes_regression import bayes_regression
        from ..models.bayes_text import bayes_regression_text

        table, yi, vi = complete_cases(table, yi, vi, list(moderator_columns))
        moderators = {name: table.typed_column(name) for name in moderator_columns}
        result = bayes_regression(yi, vi, moderators, tau_prior, beta_prior=parse_mu_prior(mu_prior))
        render = bayes_regression_text
    else:
        from ..models.bayes import bayes_meta
        from ..models.bayes_text import bayes_text

        result = bayes_meta(yi, vi, tau_prior, mu_prior, labels=study_labels(table, None), above=above)
        render = bayes_text
    click.echo(json.dumps(result.to_dict(), indent=2) if output_format == "json" else render(result))
    if plot_path:
        from ..plots.bayes import bayes_figure
        from ..plots.common import save_figure

        click.echo(f"Wrote {save_figure(bayes_figure(result), plot_path)}", err=output_format == "json")
