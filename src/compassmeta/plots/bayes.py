"""Figures of the Bayesian random-effects model: posterior densities of tau and mu with their
priors, and bayesmeta's forest plot (each study's estimate and its shrinkage interval, the
posterior of mu and the predictive interval of a new study)."""
import numpy as np

from .common import MEASURE_NAME, new_figure

POSTERIOR = "#3b5b92"
PRIOR = "#9a9a9a"


def _density_panel(axis, x, posterior, prior, name, summary):
    axis.plot(x, posterior, color=POSTERIOR, gid=f"{name}-posterior", label="posterior")
    inside = (x >= summary.ci_lower) & (x <= summary.ci_upper)
    axis.fill_between(x[inside], posterior[inside], color=POSTERIOR, alpha=0.2, gid=f"{name}-interval")
    axis.axvline(summary.median, color=POSTERIOR, linestyle=":", linewidth=1)
    if prior is not None:
        axis.plot(x, prior, color=PRIOR, linestyle="--", gid=f"{name}-prior", label="prior")
    axis.set_ylim(bottom=0)
    axis.set_ylabel("density")
    axis.legend(frameon=False, fontsize=8)


def _forest_panel(axis, result):
    y, sigma = result.densities.model.y, result.densities.model.sigma
    rows = len(result.shrinkage)
    positions = np.arange(rows)[::-1] + 3
    axis.errorbar(y, positions + 0.15, xerr=1.959963984540054 * sigma, fmt="s", color="black", markersize=4,
                  capsize=0, gid="study-estimate", label="estimate (95% CI)")
    centers = np.array([s.median for s in result.shrinkage])
    lower = centers - np.array([s.ci_lower for s in result.shrinkage])
    upper = np.array([s.ci_upper for s in result.shrinkage]) - centers
    axis.errorbar(centers, positions - 0.15, xerr=[lower, upper], fmt="o", color=POSTERIOR, markersize=4,
                  capsize=0, gid="shrinkage-interval", label="shrinkage (95% CI)")
    mu, theta = result.mu, result.theta_new
    axis.fill([mu.ci_lower, mu.median, mu.ci_upper, mu.median], [1.5, 1.8, 1.5, 1.2], color=POSTERIOR,
              gid="pooled-diamond")
    axis.plot([theta.ci_lower, theta.ci_upper], [0.6, 0.6], color=POSTERIOR, linewidth=3,
              gid="prediction-interval")
    axis.set_yticks(list(positions) + [1.5, 0.6])
    labels = [s.es_id for s in result.shrinkage] + ["mu (95% CI)", "new study (95% PI)"]
    axis.set_yticklabels(labels, fontsize=8)
    axis.axvline(0, color=PRIOR, linewidth=0.8)
    axis.set_xlabel(MEASURE_NAME)
    axis.legend(frameon=False, fontsize=8, loc="lower right")


def bayes_figure(result):
    """Posterior of tau and of mu (priors dashed, 95% central intervals shaded) above the
    forest plot with the shrinkage intervals and the predictive interval."""
    rows = len(result.shrinkage)
    figure = new_figure(7.5, 3.2 + 0.22 * (rows + 3))
    grid = figure.add_gridspec(2, 2, height_ratios=[3.0, 0.22 * (rows + 3)])
    dens = result.densities
    tau_x = np.linspace(0, max(dens.post.quantile(0.995), 1e-6), 400)
    _density_panel(figure.add_subplot(grid[0, 0]), tau_x, dens.tau(tau_x), dens.tau_prior(tau_x), "tau",
                   result.tau)
    figure.axes[0].set_xlabel("heterogeneity tau")
    mu_x = np.linspace(result.mu.mean - 4.5 * result.mu.sd, result.mu.mean + 4.5 * result.mu.sd, 400)
    _density_panel(figure.add_subplot(grid[0, 1]), mu_x, dens.mu(mu_x), dens.mu_prior(mu_x), "mu", result.mu)
    figure.axes[1].set_xlabel("effect mu")
    _forest_panel(figure.add_subplot(grid[1, :]), result)
    figure.suptitle(f"tau prior: {result.prior['tau_label']}; mu prior: {result.prior['mu']}", fontsize=9)
    figure.tight_layout()
    return figure
