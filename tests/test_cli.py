"""The command line: JSON keys and values against metafor, tables, and one-line errors."""
import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from compassmeta.cli import main
from conftest import PROJECT, assert_close, load_fixture

REFERENCE = load_fixture("metafor_core.json")
BCG = next(d for d in REFERENCE["datasets"] if d["name"] == "bcg")


def reference(kind, **match):
    return next(c["result"] for c in REFERENCE[kind]
                if all(c.get(key) == value for key, value in match.items()))


@pytest.fixture
def bcg_csv(tmp_path):
    path = tmp_path / "bcg.csv"
    lines = ["trial,yi,vi,ablat,alloc"] + [
        f"{i + 1},{y!r},{v!r},{a},{al}" for i, (y, v, a, al) in
        enumerate(zip(BCG["yi"], BCG["vi"], BCG["mods"]["ablat"], BCG["mods"]["alloc"]))]
    path.write_text("\n".join(lines) + "\n")
    return path


def run(*args):
    result = CliRunner().invoke(main, [str(a) for a in args])
    return result.exit_code, result.output


POOL_KEYS = {"k", "method", "ci_method", "estimate", "se", "ci_lower", "ci_upper", "pi_lower",
             "pi_upper", "p_value", "tau2", "tau2_ci_lower", "tau2_ci_upper", "i2", "h2", "q",
             "q_df", "q_p"}


@pytest.mark.parametrize("method,test", [("REML", "z"), ("DL", "knha"), ("PM", "z"), ("SJ", "knha")])
def test_pool_json(bcg_csv, method, test):
    code, output = run("pool", bcg_csv, "--method", method, "--ci-method", test, "--format", "json")
    assert code == 0, output
    result = json.loads(output)
    assert POOL_KEYS <= set(result)
    assert result["k"] == 13 and result["method"] == method and result["ci_method"] == test
    expected = reference("pool", data="bcg", method=method, test=test)
    for key in POOL_KEYS - {"k", "method", "ci_method", "q_df"}:
        assert_close(result[key], expected[key], key)


def test_pool_table_states_method(bcg_csv):
    code, output = run("pool", bcg_csv, "--ci-method", "knha")
    assert code == 0
    expected = reference("pool", data="bcg", method="REML", test="knha")
    assert "REML" in output and "Knapp-Hartung" in output
    assert f"{expected['estimate']:.4f}" in output
    assert f"[{expected['ci_lower']:.4f}, {expected['ci_upper']:.4f}]" in output


def test_pool_with_sei_column(tmp_path):
    path = tmp_path / "se.csv"
    path.write_text("g,se\n" + "".join(f"{y!r},{v ** 0.5!r}\n" for y, v in zip(BCG["yi"], BCG["vi"])))
    code, output = run("pool", path, "--yi", "g", "--sei", "se", "--format", "json")
    assert code == 0, output
    assert_close(json.loads(output)["estimate"],
                 reference("pool", data="bcg", method="REML", test="z")["estimate"], "estimate")


def test_subgroup_json(bcg_csv):
    code, output = run("subgroup", bcg_csv, "--by", "alloc", "--format", "json")
    assert code == 0, output
    result = json.loads(output)
    expected = reference("subgroup", data="bcg", by="alloc", method="REML", test="z")
    assert [g["level"] for g in result["groups"]] == ["alternate", "random", "systematic"]
    for group, ref in zip(result["groups"], expected["groups"]):
        assert set(group) >= {"level", "k", "estimate", "se", "ci_lower", "ci_upper", "tau2", "i2"}
        assert_close(group["estimate"], ref["estimate"], "group estimate")
    assert result["q_between_df"] == 2
    assert_close(result["q_between"], expected["q_between"], "q_between")
    assert_close(result["q_between_p"], expected["q_between_p"], "q_between_p")


def test_metareg_json(bcg_csv):
    code, output = run("metareg", bcg_csv, "--mods", "ablat", "--format", "json")
    assert code == 0, output
    result = json.loads(output)
    expected = reference("metareg", data="bcg", mods="ablat", method="REML", test="z")
    assert [c["term"] for c in result["coefficients"]] == ["intercept", "ablat"]
    for index, coefficient in enumerate(result["coefficients"]):
        for key in ["estimate", "se", "ci_lower", "ci_upper", "p_value"]:
            assert_close(coefficient[key], expected[key][index], key)
    for key in ["qm", "qm_p", "qe", "qe_p", "tau2", "r2"]:
        assert_close(result[key], expected[key], key)
    assert result["qm_df"] == 1 and result["qe_df"] == 11 and result["k"] == 13


def test_metareg_categorical_and_csv(bcg_csv):
    code, output = run("metareg", bcg_csv, "--mods", "alloc", "--format", "csv")
    assert code == 0, output
    lines = output.strip().splitlines()
    assert lines[0].startswith("term,estimate")
    assert [line.split(",")[0] for line in lines[1:]] == ["intercept", "alloc[random]", "alloc[systematic]",
                                                          "(model)"]


@pytest.mark.parametrize("content,message", [
    ("yi,vi\n0.1,0.02\nabc,0.03\n", "row 2, column 'yi': not a number: 'abc'"),
    ("yi,vi\n0.1,0.02\n0.3,-0.01\n", "row 2, column 'vi': must be positive"),
    ("yi,vi\n0.1,0.02\n0.3,0\n", "row 2, column 'vi': must be positive"),
    ("yi,vi\n0.1,0.02\nNaN,0.03\n", "row 2, column 'yi': value is missing"),
    ("yi,vi\n0.1,0.02\n,0.03\n", "row 2, column 'yi': value is missing"),
    ("effect,var\n0.1,0.02\n", "column 'yi': no column 'yi'"),
    ("yi,vi\n", "no data rows"),
    ("", "file is empty"),
])
def test_bad_input_one_line_error(tmp_path, content, message):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    code, output = run("pool", path)
    assert code == 2
    assert message in output
    assert str(path) in output
    assert len(output.strip().splitlines()) == 1
    assert "Traceback" not in output


def test_too_few_studies_for_knapp_hartung(tmp_path):
    path = tmp_path / "one.csv"
    path.write_text("yi,vi\n0.4,0.05\n")
    code, output = run("pool", path, "--ci-method", "knha")
    assert code == 2 and "need k >= 2" in output


def test_k1_is_the_study_itself_with_a_note(tmp_path):
    path = tmp_path / "one.csv"
    path.write_text("yi,vi\n0.4,0.04\n")
    code, output = run("pool", path, "--format", "json")
    assert code == 0
    result = json.loads(output)
    assert result["estimate"] == 0.4 and result["se"] == pytest.approx(0.2)
    assert result["notes"] and "k = 1" in result["notes"][0]


def test_no_traceback_from_a_fresh_process(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("yi,vi\n0.1,0.02\nabc,0.03\n")
    process = subprocess.run([sys.executable, "-m", "compassmeta", "pool", str(path)],
                             capture_output=True, text=True)
    assert process.returncode == 2
    assert "Traceback" not in process.stderr
    assert process.stderr.strip().startswith("Error:")
    debug = subprocess.run([sys.executable, "-m", "compassmeta", "--debug", "pool", str(path)],
                           capture_output=True, text=True)
    assert "Traceback" in debug.stderr


def test_pool_does_not_import_heavy_modules(tmp_path, bcg_csv):
    code = ("import sys; from compassmeta.cli import main; "
            f"main(['pool', r'{bcg_csv}'], standalone_mode=False); "
            "print(sorted(m for m in ('matplotlib', 'statsmodels', 'pandas', 'scipy.stats', "
            "'scipy.optimize') "
            "if m in sys.modules))")
    process = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert process.stdout.strip().splitlines()[-1] == "[]", process.stdout + process.stderr


def test_report_does_not_import_matplotlib(tmp_path):
    """The report's figures are SVG drawn by compassmeta (plots.svg_canvas): matplotlib's import was
    0.7 s of the report's latency."""
    output = tmp_path / "report.html"
    code = ("import sys; from compassmeta.cli import main; "
            f"main(['report', r'{PROJECT / 'studies' / 'trials.csv'}', '-o', r'{output}'], "
            "standalone_mode=False); print('matplotlib' in sys.modules)")
    process = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert process.stdout.strip().splitlines()[-1] == "False", process.stdout + process.stderr
    assert output.read_text(encoding="utf-8").count("<svg") == 5


def test_every_command_is_found_by_the_lazy_group():
    """cli/__init__'s lazy_modules names each command's module: importing every command module
    registers exactly those commands, each from the module named."""
    import importlib
    import pkgutil

    import compassmeta.cli as cli

    for module in pkgutil.iter_modules(cli.__path__):
        importlib.import_module(f"compassmeta.cli.{module.name}")
    registered = {name: command.callback.__module__.rsplit(".", 1)[1]
                  for name, command in main.commands.items()}
    assert registered == main.lazy_modules
