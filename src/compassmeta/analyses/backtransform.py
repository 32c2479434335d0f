"""Pooled results on a back-transformed scale (metafor's ``predict(res, transf=)``).

:class:`BackTransformed` keeps the pooled result as it is and adds, for every pooled effect in it
(the pooled estimate; each subgroup's and the overall one of a subgroup analysis), the keys
``estimate_transf``, ``ci_lower_transf``, ``ci_upper_transf``, ``pi_lower_transf`` and
``pi_upper_transf``: the transformation applied to the estimate and to the bounds of its CI and
PI (metafor's definition: the bounds are transformed, not recomputed), and ``transf`` at the top.
With ``every_effect`` (metareg, bias, sensitivity) every estimate with a CI in the result gains
them too, the PI's where it has one: metafor's ``predict(newmods =, transf =)``,
``leave1out(transf =)``, ``cumul(transf =)`` and ``predict(trimfill(), transf =)``.
"""
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..common.errors import InputError
from ..common.results import INTERNAL, Result
from ..common.transforms import TRANSFORMS, Transform

BOUNDS = ("estimate", "ci_lower", "ci_upper", "pi_lower", "pi_upper")
LABELS = ("omitted", "added", "study", "values")   # what names one entry of a list of estimates
# slopes and differences of effects: not on the scale the transformation inverts, so left as they are
NOT_EFFECTS = ("coefficients", "contrasts")


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
    every_effect: bool = field(default=False, metadata=INTERNAL)

    def to_dict(self) -> dict[str, Any]:
        transform = TRANSFORMS[self.transf]
        needed = BOUNDS[:3] if self.every_effect else BOUNDS
        data = _with_transformed(self.result.to_dict(), transform, self.targs, needed)
        return {**data, "transf": self.transf}

    def text(self) -> str:
        """One line per pooled effect: the back-transformed estimate, CI and PI."""
        data = self.to_dict()
        lines = [f"Back-transformed ({self.transf}):"]
        for label, effect in _every_effect(data) if self.every_effect else _effects(data):
            values = [effect.get(f"{name}_transf") for name in BOUNDS]
            pi = "" if values[3] is None else f", PI [{values[3]:.4f}, {values[4]:.4f}]"
            lines.append(f"  {label}estimate {values[0]:.4f}, CI [{values[1]:.4f}, {values[2]:.4f}]{pi}")
        return "\n".join(lines)


def back_transform(result: Result, transf: str, every_effect: bool = False, **targs: Any) -> BackTransformed:
    """``result`` with its pooled effects (``every_effect``: every estimate with a CI) back-transformed
    by the transformation ``transf``."""
    transform = lookup_transform(transf)
    missing = [name for name in transform.targs if name not in targs]
    if missing:
        raise InputError(f"--transf {transform.name} needs the studies' {', '.join(missing)} "
                         f"(a column {missing[0]})")
    chosen = {name: targs[name] for name in transform.targs}
    return BackTransformed(result, transform.name, chosen, every_effect)


def _with_transformed(data: Any, transform: Transform, targs: dict[str, Any],
                      needed: tuple[str, ...] = BOUNDS) -> Any:
    """A copy of the dict ``data`` with the ``*_transf`` keys beside every effect in it that has
    the keys ``needed`` (and beside its PI bounds where it has them)."""
    if isinstance(data, list):
        return [_with_transformed(item, transform, targs, needed) for item in data]
    if not isinstance(data, dict):
        return data
    out = {key: value if key in NOT_EFFECTS else _with_transformed(value, transform, targs, needed)
           for key, value in data.items()}
    if all(name in data for name in needed):
        for name in (name for name in BOUNDS if name in data):
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


def _every_effect(data: Any, label: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """(label, dict) of every back-transformed estimate anywhere in ``data``, labelled by its keys
    and, in a list, by what names the entry (the study omitted or added, the moderator values)."""
    if isinstance(data, list):
        for number, item in enumerate(data, start=1):
            name = next((item[key] for key in LABELS if isinstance(item, dict) and key in item), number)
            if isinstance(name, dict):
                name = ", ".join(f"{key}={value}" for key, value in name.items())
            yield from _every_effect(item, f"{label.removesuffix(': ')}[{name}]: ")
        return
    if not isinstance(data, dict):
        return
    if "estimate_transf" in data:
        yield label, data
    for key, value in data.items():
        if isinstance(value, (dict, list)):
            yield from _every_effect(value, f"{label.removesuffix(': ')}{'.' if label else ''}{key}: ")
