"""compassmeta: meta-analysis of self-compassion interventions, matching R's metafor.

Data flow: study rows -> effect sizes (``effects``) -> model fit (``model``, ``tau2``)
-> pooling and moderators (``pooling``, ``moderators``) -> reports and CLI.
"""
from .common.errors import CompassmetaError, ConvergenceError, InputError
from .models.moderators import meta_regression, subgroup_analysis
from .models.multivariate import multivariate
from .models.pooling import pool

__all__ = ["pool", "meta_regression", "subgroup_analysis", "multivariate", "CompassmetaError", "InputError",
           "ConvergenceError"]
__version__ = "0.1.0"
