"""The README walk-through runs as written (in a scratch copy of studies/)."""
import re
import shlex
import shutil
import subprocess
from pathlib import Path

from click.testing import CliRunner

from compassmeta.cli import main

ROOT = Path(__file__).resolve().parents[1]


def walkthrough_lines():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"<!-- walkthrough:start -->\n```sh\n(.*?)```\n<!-- walkthrough:end -->", text, re.S)
    assert block, "README lost its walk-through block"
    return [line for line in block.group(1).splitlines() if line.strip()]


def run(command, cwd):
    """(exit code, stdout + stderr) of one line: shell lines in a shell, ``compassmeta`` lines
    in this process (the command line's exit codes and output, without a Python start-up each)."""
    if not command.startswith("compassmeta "):
        done = subprocess.run(command, shell=True, cwd=cwd, capture_output=True, text=True, timeout=120)
        return done.returncode, done.stdout + done.stderr
    result = CliRunner().invoke(main, shlex.split(command)[1:])
    return result.exit_code, result.stdout + result.stderr


def test_readme_walkthrough_runs_as_written(tmp_path, monkeypatch):
    shutil.copytree(ROOT / "studies", tmp_path / "studies")
    monkeypatch.chdir(tmp_path)
    outputs = []
    for line in walkthrough_lines():
        command, _, comment = line.partition("  # ")
        expected = int(comment.removeprefix("exit ")) if comment.startswith("exit") else 0
        code, output = run(command, tmp_path)
        assert code == expected, (line, output)
        outputs.append(output)
    assert "2 conflict(s) in 3 row(s)" in outputs[3]
    assert "2 conflict(s) still open" in outputs[4]
    assert "review/trials.csv: ok" in outputs[7]
    assert "k = 3" in outputs[8] and "0.9620" in outputs[8]
    # the whole three-arm trial from its TOML file replaces the merged rows of its SCT arm
    assert "Wrote 6 row(s) of tealesapach2022" in outputs[9] and "replacing 3 row(s)" in outputs[9]
    assert "review/trials.csv: ok" in outputs[10]
    # the SCT comparisons give the merged rows' pooled g again; applied relaxation vs the shared
    # waitlist: metafor 5.1-12 rma(escalc("SMD", Metapsy sad-psyctr lines 286/288/290)) = -0.6635,
    # flipped because lower scores are better
    assert "k = 3" in outputs[11] and "0.9620" in outputs[11]
    assert "k = 3" in outputs[12] and "0.6635" in outputs[12]
    shipped = (ROOT / "studies" / "trials.csv").read_bytes()
    assert (tmp_path / "studies" / "trials.csv").read_bytes() == shipped
    # the audit log shows every change of the walk-through: 3 rows merged, 3 removed and 6 added
    history = outputs[13].strip().splitlines()
    merged = [line for line in history if "  MJ  extract merge  " in line and "added" in line]
    added = [line for line in history if "  MJ  trial add  " in line and "added" in line]
    removed = [line for line in history if "  MJ  trial add  " in line and "removed" in line]
    assert (len(merged), len(added), len(removed), len(history)) == (3, 6, 3, 12)
    assert all("(double extraction by MJ,RC)" in line for line in merged)
