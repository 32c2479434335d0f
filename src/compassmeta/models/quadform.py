"""The distribution of a positive quadratic form in normal variables, for the GENQM estimator.

Q = y'Ay with y ~ N(0, S) is distributed as sum_j lambda_j chi^2_1, lambda the eigenvalues of
S^(1/2) A S^(1/2).  Its upper tail by Imhof's (1961, Biometrika 48:419) inversion of the
characteristic function:

    P(Q > x) = 1/2 + (1/pi) int_0^inf sin(theta(u)) / (u rho(u)) du,
    theta(u) = 1/2 sum_j arctan(lambda_j u) - x u / 2,   rho(u) = prod_j (1 + lambda_j^2 u^2)^(1/4).

(metafor computes the same probability with Farebrother's algorithm, CompQuadForm::farebrother.)
"""
import math

import numpy as np


def upper_tail(x: float, eigenvalues: np.ndarray) -> float:
    """P(sum_j lambda_j chi^2_1 > x) for positive ``eigenvalues``."""
    from scipy import integrate  # imported here: only GENQM needs it

    lam = np.asarray(eigenvalues, dtype=float)

    def integrand(u: float) -> float:
        if u == 0.0:
            return 0.5 * (float(lam.sum()) - x)
        theta = 0.5 * float(np.arctan(lam * u).sum()) - 0.5 * x * u
        log_rho = 0.25 * float(np.log1p((lam * u) ** 2).sum())
        return math.sin(theta) / (u * math.exp(log_rho))

    value, _ = integrate.quad(integrand, 0.0, np.inf, limit=1000, epsabs=1e-13, epsrel=1e-12)
    return 0.5 + value / math.pi
