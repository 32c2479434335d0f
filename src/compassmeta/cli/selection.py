"""The selection-model command (metafor selmodel())."""
import click

from .app import emit, load_effects, main, model_options


def parse_steps(text):
    """'0.025,0.5' -> (0.025, 0.5)."""
    if text is None:
        return None
    try:
        return tuple(float(part) for part in text.split(",") if part.strip())
    except ValueError:
        raise click.BadParameter(f"steps must be numbers separated by commas, got '{text}'") from None


@main.command()
@model_options
@click.option("--type", "kind",
              type=click.Choice(["stepfun", "beta", "halfnorm", "negexp", "logistic", "power"]),
              default="stepfun", show_default=True, help="Weight function of the selection model.")
@click.option("--steps", default=None, metavar="P1,P2,...",
              help="Upper bounds of the p-value intervals (1 is added); 0.025 = 3PSM, 0.025,0.5 = 4PSM "
                   "[0.025 for stepfun].")
@click.option("--alternative", type=click.Choice(["greater", "less", "two.sided"]), default="greater",
              show_default=True,
              help="Direction of the one-sided p-values, or two-sided p-values (two.sided, as metafor).")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False), default=None,
              help="Also draw the estimated weight function to this file (.png, .svg, .pdf).")
@click.pass_context
def selmodel(ctx, data, yi_column, vi_column, sei_column, method, ci_method, level, output_format, where,
             kind, steps, alternative, plot_path):
    """Selection model for publication bias (Vevea-Hedges step function or a smooth weight function),
    fitted by maximum likelihood as metafor's selmodel(); --method ML (random effects, default) or FE."""
    from ..analyses.selection import selection_model
    from ..common.files import check_outputs
    from ..report.selection import selection_table

    check_outputs({"--plot": plot_path}, inputs=[data])
    method = method.upper()
    if ctx.get_parameter_source("method").name == "DEFAULT":
        method = "ML"
    elif method not in ("ML", "FE"):
        click.echo(f"Warning: selection models are fitted by ML; --method {method} is refitted with ML "
                   "(as metafor's selmodel() does)", err=True)
        method = "ML"
    if ci_method != "z":
        click.echo("Warning: selection models use Wald z tests; --ci-method is ignored", err=True)
    steps = parse_steps(steps)
    if steps is None and kind == "stepfun":
        steps = (0.025,)
    _, yi, vi = load_effects(data, yi_column, vi_column, sei_column, where)
    result = selection_model(yi, vi, type=kind, steps=steps, method=method, alternative=alternative,
                             level=level)
    for warning in result.warnings:
        click.echo(f"Warning: {warning}", err=True)
    emit(result, output_format, selection_table, lambda d: [
        {key: value for key, value in d.items() if key != "warnings"}])
    if plot_path:
        from ..plots.common import save_figure
        from ..plots.selection import weight_function_plot

        click.echo(f"Wrote {save_figure(weight_function_plot(result), plot_path)}",
                   err=output_format != "table")


@main.command()
@model_options
@click.option("--eta", type=click.FloatRange(min=1), default=1.0, show_default=True,
              help="Selection ratio: affirmative studies this many times more likely published.")
@click.option("--q", "target", type=float, default=0.0, show_default=True,
              help="Value the S-values shift the estimate (and CI limit) to.")
@click.option("--favor", type=click.Choice(["positive", "negative"]), default="positive", show_default=True,
              help="Direction publication bias favours.")
def svalue(data, yi_column, vi_column, sei_column, method, ci_method, level, output_format, where, eta,
           target, favor):
    """Mathur & VanderWeele (2020) sensitivity analysis for publication bias (fixed-effect version):
    corrected estimate at --eta, worst-case estimate and S-values."""
    from ..analyses.publication_sensitivity import publication_bias_sensitivity
    from ..report.selection import publication_sensitivity_table

    _, yi, vi = load_effects(data, yi_column, vi_column, sei_column, where)
    result = publication_bias_sensitivity(yi, vi, eta=eta, q=target, favor=favor, level=level)
    for note in result.notes:
        click.echo(f"Note: {note}", err=True)
    emit(result, output_format, publication_sensitivity_table, lambda d: [d])
