"""``fairquant sweep`` reads the pytest configuration file, as the plugin does (issue 11: the
sweep resolved its settings from flags only, so a repo's ``fairquant_*`` ini keys gave one
verdict under pytest and another under the command)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from test_sweep_parity import GATE, _table

from pytest_fairquant import cli
from pytest_fairquant.settings import find_ini, read_ini

INI = """
[pytest]
addopts = -p no:hypothesispytest -p no:cacheprovider
fairquant_model = fq_factories:make_model
fairquant_data = fq_factories:make_split
fairquant_quantization = uniform-int2
fairquant_pruning = none
fairquant_cache_dir =
fairquant_n_boot = 200
fairquant_n_permutations = 499
fairquant_alpha = 0.1
"""


def test_sweep_without_flags_gates_what_the_ini_configures_as_pytest_does(
    fq: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    fq.makeini(INI)
    fq.makepyfile(test_gate=GATE)
    monkeypatch.setenv("PYTHONPATH", str(fq.path))
    swept = fq.run(sys.executable, "-m", "pytest_fairquant", "sweep", "--report=sweep.json")
    assert swept.ret == cli.EXIT_FAIL, swept.stderr.str()
    fq.runpytest("--fairquant-report=pytest.json").assert_outcomes(failed=1)
    via_sweep = json.loads(Path(fq.path, "sweep.json").read_text())
    via_pytest = json.loads(Path(fq.path, "pytest.json").read_text())
    assert {r["method"] for r in via_sweep["comparisons"]} == {"uniform-int2"}
    assert _table(via_sweep) == _table(via_pytest)
    for report in (via_sweep, via_pytest):
        assert (report["settings"]["alpha"], report["settings"]["n_permutations"]) == (0.1, 499)


def _write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path


def test_find_ini_follows_pytests_order_and_walks_up(tmp_path: Path) -> None:
    sub = tmp_path / "a" / "b"
    sub.mkdir(parents=True)
    assert find_ini(sub) is None
    _write(tmp_path, "setup.cfg", "[metadata]\nname = x\n")  # no pytest section: not used
    _write(tmp_path, "pyproject.toml", "[tool.black]\n")  # no pytest table: not used
    assert find_ini(sub) is None
    tox = _write(tmp_path / "a", "tox.ini", "[pytest]\nfairquant_alpha = 0.2\n")
    assert find_ini(sub) == tox
    pyproject = _write(
        tmp_path / "a", "pyproject.toml", '[tool.pytest.ini_options]\nfairquant_alpha = "0.3"\n'
    )
    assert find_ini(sub) == pyproject  # pyproject.toml before tox.ini in one directory
    empty = _write(sub, "pytest.ini", "")
    assert find_ini(sub) == empty  # pytest.ini counts even when empty


def test_read_ini_returns_the_fairquant_keys_and_names_unknown_ones(tmp_path: Path) -> None:
    ini = _write(
        tmp_path,
        "tox.ini",
        "[pytest]\naddopts = -q\nfairquant_alpha = 0.2\nfairquant_alpah = 0.3\n"
        "fairquant_quantization =\n    bnb-int8\n    bnb-nf4\n",
    )
    values, unknown = read_ini(ini)
    assert values == {"alpha": "0.2", "quantization": ["bnb-int8", "bnb-nf4"]}
    assert unknown == ["fairquant_alpah"]
    toml = _write(
        tmp_path,
        "pyproject.toml",
        "[tool.pytest]\nfairquant_alpha = 0.2\nfairquant_pruning = ['nm-2:4']\n",
    )
    assert read_ini(toml) == ({"alpha": 0.2, "pruning": ["nm-2:4"]}, [])


def _main(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = cli.main(argv)
    return code, capsys.readouterr().err


def test_sweep_config_errors_are_one_line_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    code, err = _main(["sweep", "--report", "r.json", "-c", "missing.ini"], capsys)
    assert (code, err) == (2, f"fairquant: error: {cli.MSG_NO_CONFIG.format(path='missing.ini')}\n")
    code, err = _main(["sweep", "--report", "r.json", "--methods", "uniform-int8"], capsys)
    assert (code, err) == (2, f"fairquant: error: {cli.MSG_NO_FACTORY.format(name='model')}\n")
    _write(tmp_path, "pytest.ini", "[pytest]\nfairquant_alpha = 2\nfairquant_typo = 1\n")
    code, err = _main(["sweep", "--report", "r.json", "--model", "m:f", "--data", "d:f"], capsys)
    assert code == 2
    assert err.splitlines() == [
        f"fairquant: warning: {tmp_path / 'pytest.ini'}: unknown setting fairquant_typo (ignored)",
        "fairquant: error: fairquant_alpha = 2 (pytest.ini [pytest]): alpha must be a number "
        "strictly between 0 and 1 (e.g. 0.05)",
    ]
    # --no-config ignores the file: the missing methods are the error now.
    code, err = _main(
        ["sweep", "--report", "r.json", "--model", "m:f", "--data", "d:f", "--no-config"], capsys
    )
    assert (code, err) == (2, f"fairquant: error: {cli.MSG_NO_METHODS}\n")
