"""compassmeta: meta-analysis of self-compassion interventions, matching R's metafor.

Data flow: study rows -> effect sizes (``effects``) -> model fit (``model``, ``tau2``)
-> pooling and moderators (``pooling``, ``moderators``) -> reports and CLI.

The names below are loaded on first use (PEP 562), so that ``compassmeta --version`` and the
commands that need neither numpy nor scipy start without them.
"""
from .common.errors import CompassmetaError, ConvergenceError, InputError

__all__ = ["pool", "meta_regression", "subgroup_analysis", "multivariate", "CompassmetaError", "InputError",
           "ConvergenceError"]

_LAZY = {"pool": "models.pooling", "meta_regression": "models.moderators",
         "subgroup_analysis": "models.moderators", "multivariate": "models.multivariate"}


def __getattr__(name: str):
    if name in _LAZY:
        from importlib import import_module

        return getattr(import_module(f".{_LAZY[name]}", __name__), name)
    if name == "__version__":
        from importlib.metadata import version

        return version("compassmeta")
    raise AttributeError(f"module 'compassmeta' has no attribute '{name}'")


def __dir__() -> list[str]:
    return sorted(list(globals()) + list(_LAZY) + ["__version__"])
