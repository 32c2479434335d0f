"""Every `compassmeta ...` example in the README runs as written on the shipped data.

Examples are the lines of indented code blocks that start with ``compassmeta``; they run in a
temporary copy of the project's ``studies/`` and ``scripts/`` folders (so figures and imported
tables land there, never in the checkout).  A line may end with ``# exit N`` when it is meant
to fail with that exit code.  Commands that need the open databases
(``data pull``, ``data import`` and the tables it writes) run when ``../shared/data`` (or
COMPASSMETA_MIRROR) is present, as the mirror the commands read; without it they are skipped,
since they would need the network.
"""
import re
import shlex
import shutil

import pytest
from click.testing import CliRunner

from compassmeta.cli import main
from conftest import PROJECT, SHARED_DATA

README = (PROJECT / "README.md").read_text(encoding="utf-8")
NEEDS_DATABASES = re.compile(r"\bdata (pull|import)\b|depression\.csv")
EXPECTED_EXIT = re.compile(r"#\s*exit (\d+)\s*$")


def code_block_lines(text):
    """Lines of the indented (4-space) code blocks."""
    return [line[4:] for line in text.splitlines() if line.startswith("    ")]


COMMANDS = [line for line in code_block_lines(README) if line.startswith("compassmeta ")]


def commands_by_section(text):
    """The examples grouped by the README section (## heading) they stand in, in order: each group
    runs in its own copy of the project, so the groups can run on separate test workers."""
    sections = {}
    for part in re.split(r"(?m)^(?=## )", text):
        heading = part.splitlines()[0] if part.startswith("## ") else "(top)"
        lines = [line for line in code_block_lines(part) if line.startswith("compassmeta ")]
        if lines:
            sections[heading] = lines
    return sections


SECTIONS = commands_by_section(README)
OUTPUT_OPTIONS = ("-o", "--output", "--save-results", "--figures", "--plot")


def needs_earlier_examples(line):
    """Whether an example reads what an earlier one left: the databases ``data pull`` fetched,
    or a file (a name with an extension, not an output option's value) the project copy lacks."""
    if re.search(r"\bdata import\b", line):
        return True
    args = shlex.split(line, comments=True)[1:]
    named = [arg for before, arg in zip([None, *args], args)
             if before not in OUTPUT_OPTIONS and re.fullmatch(r"[\w./-]+\.[a-z]+", arg)]
    return any(not (PROJECT / name).exists() for name in named)


def example_groups(sections):
    """Each section's examples cut where an example stands alone, each group run in its own
    project copy (a test per group, so the test workers share the README's examples evenly); a
    group repeating an earlier one word for word (an example shown in two sections) runs once."""
    groups = {}
    for heading, lines in sections.items():
        cut = [[]]
        for line in lines:
            if cut[-1] and not needs_earlier_examples(line):
                cut.append([])
            cut[-1].append(line)
        slug = re.sub(r"[^a-z0-9]+", "-", heading.lower()).strip("-")
        groups.update({f"{slug}-{number}": group for number, group in enumerate(cut, 1)
                       if group not in groups.values()})
    return groups


GROUPS = example_groups(SECTIONS)
LIBRARY_SECTION = README[README.index("## Library"):]
LIBRARY = "\n".join(code_block_lines(LIBRARY_SECTION[:LIBRARY_SECTION.index("\n## ", 1)]))


def test_the_readme_has_examples():
    assert len(COMMANDS) >= 20 and "load_study_table" in LIBRARY


@pytest.fixture
def project_copy(tmp_path, monkeypatch):
    for folder in ("studies", "scripts"):
        shutil.copytree(PROJECT / folder, tmp_path / folder)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    if SHARED_DATA.is_dir():
        monkeypatch.setenv("COMPASSMETA_MIRROR", str(SHARED_DATA))
    else:
        monkeypatch.delenv("COMPASSMETA_MIRROR", raising=False)
    return tmp_path


def test_the_sections_hold_every_example():
    assert [line for lines in SECTIONS.values() for line in lines] == COMMANDS
    grouped = [line for lines in GROUPS.values() for line in lines]
    assert set(grouped) == set(COMMANDS) and len(grouped) <= len(COMMANDS)


def test_examples_that_read_earlier_output_run_after_it():
    grouped = {line: group for group in GROUPS.values() for line in group}
    for first, then in (("data pull", "pool depression.csv"), ("report studies/trials.csv", "--since")):
        group = next(group for line, group in grouped.items() if then in line)
        assert any(first in line for line in group[:[then in line for line in group].index(True)])


@pytest.mark.parametrize("group", list(GROUPS))
def test_every_command_example_runs(group, project_copy):
    failures, skipped = [], []
    for line in GROUPS[group]:
        if NEEDS_DATABASES.search(line) and not SHARED_DATA.is_dir():
            skipped.append(line)
            continue
        args = shlex.split(line, comments=True)[1:]
        expected = EXPECTED_EXIT.search(line)
        result = CliRunner().invoke(main, args)
        if result.exit_code != (int(expected.group(1)) if expected else 0):
            failures.append(f"{line}\n  -> exit {result.exit_code}: {result.output.strip()[-300:]}")
    assert failures == [], "\n".join(failures)
    assert not (project_copy / "studies" / "trials.csv.lock").exists()
    if skipped:
        pytest.skip(f"{len(skipped)} examples need the open databases: {skipped}")


def test_the_library_snippet_runs(project_copy, capsys):
    exec(compile(LIBRARY, "README.md (Library)", "exec"), {})
    printed = capsys.readouterr().out
    assert "Random-effects model (k = 18" in printed and "Test of moderators" in printed
