"""The report's indented JSON writer (issue 29: faster than the pure-Python encoder that
``json.dumps(indent=1)`` runs) writes exactly the characters of ``json.dumps``."""
import json
import math

import pytest

from compassmeta.common.jsontext import dumps_indented
from conftest import PROJECT

EDGE_CASES = {
    "numbers": [0, -1, 2 ** 70, 1.5, -0.0, 1e-300, 1e300, 0.1 + 0.2, math.pi, True, False, None],
    "not finite": [math.nan, math.inf, -math.inf], "floats": [1.0, 2.5e-17],
    "texts": ["a", "é\"\\\n\t\u2028"], "mixed": [1, "1", 1.0, None, [], {}, [[]], [{"a": ()}]],
    "empty": {}, "tuple": (1, (2, 3)), 1: "an int key", 2.5: "a float key", None: "a None key",
    False: "a bool key", "ünï": {"nested": {"deep": [1]}}, "record": {"a": 1, "b": None, "c": "x", 3: 4.5},
}


@pytest.mark.parametrize("indent", [1, 2, 4])
def test_same_text_as_json_dumps(indent):
    assert dumps_indented(EDGE_CASES, indent) == json.dumps(EDGE_CASES, indent=indent)
    for scalar in (3, 2.5, "x", None, [], {}, math.nan):
        assert dumps_indented(scalar, indent) == json.dumps(scalar, indent=indent)


def test_same_text_as_json_dumps_on_the_projects_fixtures():
    for path in sorted((PROJECT / "tests" / "fixtures").glob("*.json"))[:40]:
        data = json.loads(path.read_text(encoding="utf-8"))
        assert dumps_indented(data, 1) == json.dumps(data, indent=1), path.name


def test_subclasses_and_unknown_types_as_json_dumps():
    class Text(str):
        pass

    data = {"text": Text("a"), "list": [Text("b"), 1]}
    assert dumps_indented(data) == json.dumps(data, indent=1)
    with pytest.raises(TypeError):
        dumps_indented({"x": {1, 2}})
    with pytest.raises(TypeError):
        dumps_indented({(1, 2): 3})
