"""The bad-input corpus (tests/bad_inputs/cases.json): each broken file gives its one-line
message naming file, row and column, a non-zero exit for errors, and no traceback."""
import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from compassmeta.cli import main
from conftest import PROJECT

CORPUS = Path(__file__).parent / "bad_inputs"
CASES = json.loads((CORPUS / "cases.json").read_text())


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c['command']}-{c['file']}")
def test_bad_input(case, tmp_path):
    path = tmp_path / case["file"]
    shutil.copyfile(CORPUS / case["file"], path)
    if case.get("study_table"):
        for name in ("datapackage.json", "instruments.csv"):
            shutil.copyfile(PROJECT / "studies" / name, tmp_path / name)
    result = CliRunner().invoke(main, [case["command"], str(path), *case.get("args", [])])
    output = result.output
    assert "Traceback" not in output
    if case["expect"] == "ok":
        assert result.exit_code == 0, output
        return
    assert case["message"] in output, output
    line = next(line for line in output.splitlines() if case["message"] in line)
    assert str(path) in line
    if case["expect"] == "error":
        assert result.exit_code != 0
        if case["command"] in ("pool", "escalc"):
            assert len(output.strip().splitlines()) == 1
    else:
        assert line.startswith("Warning:")
        assert result.exit_code == 0, output


def test_corpus_covers_every_class():
    names = {case["file"] for case in CASES}
    assert len(names) >= 27 and all((CORPUS / name).exists() for name in names)
