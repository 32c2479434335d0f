"""Pooled results on a back-transformed scale (metafor's ``predict(res, transf=)``).

:class:`BackTransformed` keeps the pooled result as it is and adds, for every pooled effect in it
(the pooled estimate; each subgroup's and the overall one of a subgroup analysis), the keys
``estimate_transf``, ``ci_lower_transf``, ``ci_upper_transf``, ``pi_lower_transf`` and
``pi_upper_transf``: the transformation applied to the estimate and to the bounds of its CI and
PI (metafor's definition: the bounds are transformed, not recomputed), and ``transf`` at the top.
"""
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..common.errors import InputError
from ..common.results import INTERNAL, Result
from ..common.transforms import TRANSFORMS, Transform

BOUNDS = ("estimate", "ci_lower", "ci_upper", "pi_lower", "pi_upper")


def lookup_transform(name: str) -> Transform:
    """The registered transformation ``name`` (metafor's, without ``transf.``)."""
    key = name.removeprefix("transf.")
    if key not in TRANSFORMS:
        raise InputError(f"unknown --transf '{name}' (choose from {', '.join(TRANSFORMS)})")
    return TRANSFORMS[key]


@dataclass(frozen=True)
class BackTransformed(Result):
    """``result`` with its pooled effects back-transformed by ``transf`` (see the module)."""

    result: Result = field(metadata=INTERNAL)
    transf: str
    targs: dict[str, Any] = field(default_factory=dict, metadata=INTERNAL)

    def to_dict(self) -> dict[str, Any]:
        transform = TRANSFORMS[self.transf]
        return {**_with_transformed(self.result.to_dict(), transform, self.targs), "transf": self.transf}

    def text(self) -> str:
        """One line per pooled effect: the back-transformed estimate, CI and PI."""
        data = self.to_dict()
        lines = [f"Back-transformed ({self.transf}):"]
        for label, effect in _effects(data):
            values = [effect[f"{name}_transf"] for name in BOUNDS]
            pi = "" if values[3] is None else f", PI [{values[3]:.4f}, {values[4]:.4f}]"
            lines.append(f"  {label}estimate {values[0]:.4f}, CI [{values[1]:.4f}, {values[2]:.4f}]{pi}")
        return "\n".join(lines)


def back_transform(result: Result, transf: str, **targs: Any) -> BackTransformed:
    """``result`` with its pooled effects back-transformed by the transformation ``transf``."""
    transform = lookup_transform(transf)
    missing = [name for name in transform.targs if name not in targs]
    if missing:
        raise InputError(f"--transf {transform.name} needs the studies' {', '.join(missing)} "
                         f"(a column {missing[0]})")
    return BackTransformed(result, transform.name, {name: targs[name] for name in transform.targs})


def _with_transformed(data: Any, transform: Transform, targs: dict[str, Any]) -> Any:
    """A copy of the dict ``data`` with the ``*_transf`` keys beside every pooled effect in it."""
    if isinstance(data, list):
        return [_with_transformed(item, transform, targs) for item in data]
    if not isinstance(data, dict):
        return data
    out = {key: _with_transformed(value, transform, targs) for key, value in data.items()}
    if all(name in data for name in BOUNDS):
        for name in BOUNDS:
            value = data[name]
            out[f"{name}_transf"] = None if value is None else float(transform(np.float64(value), **targs))
    return out


def _effects(data: dict[str, Any], label: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """(label, dict) of every pooled effect in a back-transformed dict, in order."""
    if "estimate_transf" in data:
        yield label, data
    for group in data.get("groups", []):
        yield from _effects(group.get("result", group), f"{group.get('group', group.get('level'))}: ")
    if isinstance(data.get("overall"), dict):
        yield from _effects(data["overall"], "overall: ")
