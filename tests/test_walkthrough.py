"""The README walk-through runs as written (in a scratch copy of studies/)."""
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def walkthrough_lines():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"<!-- walkthrough:start -->\n```sh\n(.*?)```\n<!-- walkthrough:end -->", text, re.S)
    assert block, "README lost its walk-through block"
    return [line for line in block.group(1).splitlines() if line.strip()]


def test_readme_walkthrough_runs_as_written(tmp_path):
    shutil.copytree(ROOT / "studies", tmp_path / "studies")
    outputs = []
    for line in walkthrough_lines():
        command, _, comment = line.partition("  # ")
        expected = int(comment.removeprefix("exit ")) if comment.startswith("exit") else 0
        if command.startswith("compassmeta "):
            command = f'"{sys.executable}" -m compassmeta ' + command.removeprefix("compassmeta ")
        done = subprocess.run(command, shell=True, cwd=tmp_path, capture_output=True, text=True, timeout=120)
        assert done.returncode == expected, (line, done.stdout, done.stderr)
        outputs.append(done.stdout + done.stderr)
    assert "2 conflict(s) in 3 row(s)" in outputs[3]
    assert "2 conflict(s) still open" in outputs[4]
    assert "review/trials.csv: ok" in outputs[-2]
    assert "k = 3" in outputs[-1] and "0.9620" in outputs[-1]
    merged = (tmp_path / "review" / "trials.csv").read_text(encoding="utf-8")
    assert merged.count("MJ;RC") == 3
    assert (tmp_path / "studies" / "trials.csv").read_bytes() == (ROOT / "studies" / "trials.csv").read_bytes()
