"""Immutable result objects with ``to_dict()`` (JSON-ready) and ``to_frame()`` (pandas).

Fields marked ``internal`` (the fitted model behind a result) stay out of both.
"""
import dataclasses
import math

import numpy as np

INTERNAL = {"internal": True}


def _plain(value):
    """Numpy scalars and arrays to Python values; NaN and infinities to None (valid JSON)."""
    if isinstance(value, Result):
        return value.to_dict()
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return value if math.isfinite(value) else None
    if isinstance(value, np.bool_):
        return bool(value)
    return value


@dataclasses.dataclass(frozen=True)
class Result:
    """Base class: a frozen dataclass whose public fields are its dictionary."""

    def to_dict(self):
        return {f.name: _plain(getattr(self, f.name))
                for f in dataclasses.fields(self) if not f.metadata.get("internal")}

    def to_frame(self):
        """One-row DataFrame of the scalar fields (list-valued fields have their own frames)."""
        import pandas as pd

        scalars = {key: value for key, value in self.to_dict().items()
                   if not isinstance(value, (list, dict))}
        return pd.DataFrame([scalars])


@dataclasses.dataclass(frozen=True)
class Estimate(Result):
    """A coefficient or pooled effect with its inference."""

    estimate: float
    se: float
    statistic: float
    p_value: float
    ci_lower: float
    ci_upper: float
