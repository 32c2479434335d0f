"""Indented JSON text, the same characters as ``json.dumps(data, indent=N)``, written faster.

CPython's C encoder does not indent, so ``json.dumps(..., indent=1)`` runs the pure-Python
encoder: a chain of generators per value, about 8 s for a report of 10^5 study rows, whose JSON
is mostly long lists of numbers and labels.  :func:`dumps_indented` walks the containers the same
way and encodes each list of plain values with the C string escaper (``encode_basestring_ascii``)
and ``float.__repr__``, the functions the standard encoder calls for them.
"""
import json
import math
from collections.abc import Callable
from json.encoder import encode_basestring_ascii
from typing import Any

INFINITY = float("inf")


def _float(value: float) -> str:
    """A float as ``json.dumps`` writes it (allow_nan: NaN, Infinity, -Infinity)."""
    if value != value:
        return "NaN"
    if value == INFINITY:
        return "Infinity"
    if value == -INFINITY:
        return "-Infinity"
    return float.__repr__(value)


_SCALARS: dict[type, Callable[[Any], str]] = {
    str: encode_basestring_ascii, float: _float, int: int.__repr__,
    bool: lambda v: "true" if v else "false", type(None): lambda v: "null"}


def _key(key: Any) -> str:
    """A dictionary key as ``json.dumps`` writes it (str, or a number, bool or None as text)."""
    if isinstance(key, str):
        return encode_basestring_ascii(key)
    if key is None or isinstance(key, (bool, int, float)):
        return encode_basestring_ascii(json.dumps(key))
    raise TypeError(f"keys must be str, int, float, bool or None, not {type(key).__name__}")


def _column(values: list | tuple, types: set) -> Any:
    """The JSON texts of a list of plain values of ``types`` (one C function per item where they
    share a type)."""
    if len(types) == 1:
        kind = next(iter(types))
        if kind is str:
            return map(encode_basestring_ascii, values)
        if kind is float and all(map(math.isfinite, values)):
            return map(float.__repr__, values)
    return [_SCALARS[type(item)](item) for item in values]


def _encode(value: Any, out: list, pad: str, level: int) -> None:
    """Append the JSON text of ``value`` at nesting ``level`` to ``out``."""
    scalar = _SCALARS.get(type(value))
    if scalar is not None:
        out.append(scalar(value))
    elif isinstance(value, dict):
        if not value:
            out.append("{}")
            return
        inner = "\n" + pad * (level + 1)
        types = set(map(type, value.values()))
        if types <= _SCALARS.keys():   # a record of plain values: no recursion
            keys, texts = map(_key, value), _column(list(value.values()), types)
            out.append("{" + inner + ("," + inner).join([key + ": " + text for key, text in zip(keys, texts)])
                       + "\n" + pad * level + "}")
            return
        out.append("{")
        for number, (key, item) in enumerate(value.items()):
            out.append((inner if number == 0 else "," + inner) + _key(key) + ": ")
            _encode(item, out, pad, level + 1)
        out.append("\n" + pad * level + "}")
    elif isinstance(value, (list, tuple)):
        if not value:
            out.append("[]")
            return
        inner = "\n" + pad * (level + 1)
        types = set(map(type, value))
        if types <= _SCALARS.keys():   # a column of numbers or labels: no recursion
            out.append("[" + inner + ("," + inner).join(_column(value, types)) + "\n" + pad * level + "]")
            return
        out.append("[")
        for number, item in enumerate(value):
            out.append(inner if number == 0 else "," + inner)
            _encode(item, out, pad, level + 1)
        out.append("\n" + pad * level + "]")
    else:   # a subclass of a plain type, or not JSON: the standard encoder decides (or raises)
        out.append(json.dumps(value, indent=len(pad)).replace("\n", "\n" + pad * level))


def dumps_indented(data: Any, indent: int = 1) -> str:
    """``json.dumps(data, indent=indent)``, character for character, for JSON-ready ``data``."""
    out: list = []
    _encode(data, out, " " * indent, 0)
    return "".join(out)
