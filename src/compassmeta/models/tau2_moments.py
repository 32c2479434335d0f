"""Closed-form (method-of-moments) estimators of tau^2 and the standard errors of every estimator.

Each function takes a problem of :mod:`compassmeta.models.backends` (one meta-analysis or a batch)
and returns tau^2 untruncated (the caller truncates at 0).  P = W - W X (X'WX)^-1 X'W with the
weights named; Q = y'Py; V = diag(v).  Definitions as metafor's rma.uni():
DerSimonian & Laird (1986) "DL"; Hedges (1983) "HE"; Hunter & Schmidt (2004) "HS" and its
k/(k - p)-corrected form "HSk"; Sidik & Jonkman (2005) "SJ"; DerSimonian & Kacker (2007) the
generalised Q with user weights A, "GENQ": (Q_A - tr(P_A V)) / tr(P_A).
"""
from .backends import Fit, Problem, Values


def fixed_fit(problem: Problem) -> Fit:
    """The fit with fixed-effect weights 1/v."""
    return problem.fits(problem.inverse_variance())


def hedges(problem: Problem) -> Values:
    """HE: (RSS_OLS - tr(P_OLS V)) / (k - p)."""
    ols = problem.fits(problem.unit_weights())
    v = problem.masked(problem.v)
    return problem.divide(ols.rss() - (problem.sum(v) - ols.trace_cov_moment(v)), problem.df)


def dersimonian_laird(problem: Problem) -> Values:
    """DL: (Q - (k - p)) / tr(P) with weights 1/v."""
    fe = fixed_fit(problem)
    return problem.divide(fe.rss() - problem.df, fe.trace_p())


def hunter_schmidt(problem: Problem) -> Values:
    """HS: (Q - k) / sum(1/v)."""
    fe = fixed_fit(problem)
    return problem.divide(fe.rss() - problem.k, problem.sum(fe.w))


def hunter_schmidt_k(problem: Problem) -> Values:
    """HSk: (Q k / (k - p) - k) / sum(1/v)."""
    fe = fixed_fit(problem)
    return problem.divide(fe.rss() * problem.divide(problem.k, problem.df) - problem.k, problem.sum(fe.w))


def sidik_jonkman(problem: Problem) -> Values:
    """SJ: tau0^2 Q(tau0^2) / (k - p), with tau0^2 the (biased) variance of y."""
    start = problem.variance_of_y()
    return problem.divide(start * problem.fits(problem.weights(start)).rss(), problem.df)


def generalised_q(problem: Problem) -> Values:
    """GENQ: (Q_A - tr(P_A V)) / tr(P_A) with the user's weights A (DerSimonian & Kacker 2007)."""
    fit = problem.fits(problem.given_weights())
    return problem.divide(fit.rss() - fit.trace_pa(problem.masked(problem.v)), fit.trace_p())


# ----- standard errors (metafor's se.tau2: Var(Q-type statistic) by the moments of quadratic forms)

def _quadratic_form_se(problem: Problem, fit: Fit, tau2: Values, with_v: bool) -> Values:
    """sqrt(Var(y'Py)) for y ~ N(X beta, V + tau^2 I): 2 tr(PVPV) + 4 tau^2 tr(PVP) + 2 tau^4 tr(PP);
    with weights 1/v (``with_v`` False) PV P V reduces to P (tr(PVPV) = k - p, tr(PVP) = tr P)."""
    trace_pp = fit.trace_pp()
    if with_v:
        v = problem.masked(problem.v)
        ones = problem.unit_weights()
        variance = 2 * fit.trace_papb(v, v) + 4 * tau2 * fit.trace_papb(v, ones) + 2 * tau2 ** 2 * trace_pp
    else:
        variance = 2 * problem.df + 4 * tau2 * fit.trace_p() + 2 * tau2 ** 2 * trace_pp
    return variance ** 0.5


def se_dersimonian_laird(problem: Problem, tau2: Values) -> Values:
    fe = fixed_fit(problem)
    return _quadratic_form_se(problem, fe, tau2, with_v=False) / fe.trace_p()


def se_hunter_schmidt(problem: Problem, tau2: Values) -> Values:
    fe = fixed_fit(problem)
    return _quadratic_form_se(problem, fe, tau2, with_v=False) / problem.sum(fe.w)


def se_hunter_schmidt_k(problem: Problem, tau2: Values) -> Values:
    return se_hunter_schmidt(problem, tau2) * problem.k / problem.df


def se_hedges(problem: Problem, tau2: Values) -> Values:
    """sqrt(2 tr(PVPV) + 4 tau^2 tr(PV) + 2 tau^4 (k - p)) / (k - p), P the OLS projection."""
    ols = problem.fits(problem.unit_weights())
    v = problem.masked(problem.v)
    variance = 2 * ols.trace_papb(v, v) + 4 * tau2 * ols.trace_pa(v) + 2 * tau2 ** 2 * problem.df
    return variance ** 0.5 / problem.df


def se_generalised_q(problem: Problem, tau2: Values) -> Values:
    fit = problem.fits(problem.given_weights())
    return _quadratic_form_se(problem, fit, tau2, with_v=True) / fit.trace_p()


def se_sidik_jonkman(problem: Problem, tau2: Values) -> Values:
    start = problem.variance_of_y()
    fit = problem.fits(problem.weights(start))
    return start * _quadratic_form_se(problem, fit, tau2, with_v=True) / problem.df


def se_maximum_likelihood(problem: Problem, tau2: Values) -> Values:
    """sqrt(2 / sum w^2), w = 1/(v + tau^2): the inverse expected information."""
    w = problem.weights(tau2)
    return (2.0 / problem.sum(w * w)) ** 0.5


def se_restricted(problem: Problem, tau2: Values) -> Values:
    """sqrt(2 / tr(PP)) at the estimate (REML expected information)."""
    return (2.0 / problem.fits(problem.weights(tau2)).trace_pp()) ** 0.5


def se_q_equation(problem: Problem, tau2: Values) -> Values:
    """sqrt(2 k^2 / (k - p)) / sum w, w = 1/(v + tau^2) (metafor for EB, PM, PMM, DLIT, SJIT)."""
    return (2.0 * problem.k ** 2 / problem.df) ** 0.5 / problem.sum(problem.weights(tau2))
