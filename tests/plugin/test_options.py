"""The option table: flags and ini keys, precedence, validation messages, the docs page."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from pytest_fairquant.plugin import _PYTEST_VERSION
from pytest_fairquant.settings import (
    MSG_INVALID,
    MSG_UNKNOWN_MARKER_KEY,
    OPTIONS,
    Settings,
    configuration_markdown,
    options_table_markdown,
)

SHOW = """
import json
def test_show(fairquant_settings):
    print("SETTINGS=" + json.dumps(fairquant_settings.to_dict()))
"""


def test_help_lists_every_option_in_one_group(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest("--help")
    text = result.stdout.str()
    group = text.split("fairness gates for compressed models (pytest-fairquant):", 1)[1]
    group = group.split("\n\n", 1)[0]
    for option in OPTIONS:
        assert option.flag in group
        assert f"{option.ini} (" in text


def test_settings_defaults_are_the_table_defaults() -> None:
    defaults = Settings()
    for option in OPTIONS:
        assert getattr(defaults, option.name) == option.default, option.name
    assert {f.name for f in dataclasses.fields(Settings)} - {"sources"} == {o.name for o in OPTIONS}


CASES = [
    # (option, command-line text, ini text, parsed value)
    ("model", "a.b:c", "a.b:c", "a.b:c"),
    ("data", "a.b:d", "a.b:d", "a.b:d"),
    ("quantization", "bnb-int8,bnb-nf4", "bnb-int8\n    bnb-nf4", ["bnb-int8", "bnb-nf4"]),
    ("pruning", "nm-2:4", "nm-2:4", ["nm-2:4"]),
    ("device", "cpu", "cpu", "cpu"),
    ("batch_size", "7", "7", 7),
    ("alpha", "0.01", "0.01", 0.01),
    ("tolerance", "0.03", "0.03", 0.03),
    ("gap", "equalized_odds", "equalized_odds", "equalized_odds"),
    ("metric", "tpr", "tpr", "tpr"),
    ("max_utility_drop", "0.1", "0.1", 0.1),
    ("skew_reference", "equal", "equal", "equal"),
    ("min_group_size", "5", "5", 5),
    ("min_positives", "3", "3", 3),
    ("n_boot", "99", "99", 99),
    ("n_permutations", "499", "499", 499),
    ("seed", "11", "11", 11),
    ("correction", "bh", "bh", "bh"),
    ("inconclusive", "xfail", "xfail", "xfail"),
    ("subsample", "0.5", "0.5", 0.5),
    ("snapshot_tolerance", "0.1", "0.1", 0.1),
    ("cache_dir", "cachehere", "cachehere", "cachehere"),
    ("report", "out.json", "out.json", ["out.json"]),
    ("methods", "fp16", "fp16", ["fp16"]),
    ("attribute", "race", "race", "race"),
    ("candidates", "a=x.y:f,b=x.y:g", "a = x.y:f\n    b = x.y:g", ["a=x.y:f", "b=x.y:g"]),
    ("calibration_size", "0.25", "0.25", 0.25),
    ("finetune", "a.b:train", "a.b:train", "a.b:train"),
    ("finetune_steps", "30", "30", 30),
    ("diagnose", "all", "all", "all"),
    ("diagnose_hessian", "true", "yes", True),
    ("attribution", "1", "on", True),
]


def test_every_option_is_a_flag_and_an_ini_key_and_the_flag_wins(
    pytester: pytest.Pytester, printed: Any
) -> None:
    assert {c[0] for c in CASES} == {o.name for o in OPTIONS}
    by_name = {o.name: o for o in OPTIONS}
    pytester.makepyfile(SHOW)
    pytester.makeini(
        "[pytest]\n" + "\n".join(f"{by_name[n].ini} = {ini}" for n, _, ini, _ in CASES)
    )
    from_ini = printed(pytester.runpytest("-s", "-p", "no:cacheprovider"), "SETTINGS")
    assert {n: from_ini[n] for n, *_ in CASES} == {n: v for n, _, _, v in CASES}
    # The command line overrides the ini file, option by option.
    flags = [f"{by_name['alpha'].flag}=0.2", f"{by_name['quantization'].flag}=fp16,bf16"]
    from_cli = printed(pytester.runpytest("-s", "-p", "no:cacheprovider", *flags), "SETTINGS")
    assert from_cli["alpha"] == 0.2
    assert from_cli["quantization"] == ["fp16", "bf16"]
    assert from_cli["seed"] == 11


def test_marker_overrides_cli_and_ini_for_one_test(pytester: pytest.Pytester, printed: Any) -> None:
    pytester.makeini("[pytest]\nfairquant_alpha = 0.2\nfairquant_tolerance = 0.04")
    pytester.makepyfile(
        """
        import json, pytest
        from pytest_fairquant.gate import active_context

        @pytest.mark.fairquant(alpha=0.01, attribute="race")
        def test_marked():
            print("MARKED=" + json.dumps(active_context().settings.to_dict()))

        def test_plain():
            print("PLAIN=" + json.dumps(active_context().settings.to_dict()))
        """
    )
    result = pytester.runpytest("-s", "--fairquant-tolerance=0.05")
    marked, plain = printed(result, "MARKED"), printed(result, "PLAIN")
    assert (marked["alpha"], marked["attribute"], marked["tolerance"]) == (0.01, "race", 0.05)
    assert (plain["alpha"], plain["attribute"], plain["tolerance"]) == (0.2, None, 0.05)


@pytest.mark.parametrize(
    ("args", "ini", "message"),
    [
        (
            ["--fairquant-alpha=1.5"],
            "",
            MSG_INVALID.format(
                shown="--fairquant-alpha=1.5",
                source="command line",
                problem="alpha must be a number strictly between 0 and 1 (e.g. 0.05)",
            ),
        ),
        (
            [],
            "[pytest]\nfairquant_alpha = 0\n",
            MSG_INVALID.format(
                shown="fairquant_alpha = 0",
                source="pytest.ini [pytest]",
                problem="alpha must be a number strictly between 0 and 1 (e.g. 0.05)",
            ),
        ),
        (
            ["--fairquant-inconclusive=maybe"],
            "",
            "--fairquant-inconclusive=maybe (command line): inconclusive must be one of fail, xfail, skip, pass-with-warning",
        ),
        (["--fairquant-batch-size=0"], "", "batch_size must be an integer >= 1"),
        (
            ["--fairquant-gap=nope"],
            "",
            "--fairquant-gap=nope (command line): unknown gap 'nope'; known: fvo,",
        ),
        (["--fairquant-model=nocolon"], "", "a factory must be written 'package.module:callable'"),
        (["--fairquant-subsample=-3"], "", "subsample must be 0 (off)"),
        (
            ["--fairquant-max-utility-drop=1.5"],
            "",
            "--fairquant-max-utility-drop=1.5 (command line): max_utility_drop must be a number "
            "in [0, 1]",
        ),
        (
            ["--fairquant-seed=-1"],
            "",
            "--fairquant-seed=-1 (command line): seed must be an integer",
        ),
    ],
    ids=[
        "alpha-cli",
        "alpha-ini",
        "choice",
        "int",
        "gap",
        "factory",
        "subsample",
        "utility",
        "seed",
    ],
)
def test_invalid_values_name_the_setting_and_source(
    pytester: pytest.Pytester, args: list[str], ini: str, message: str
) -> None:
    if ini:
        pytester.makefile(".ini", pytest=ini)
    pytester.makepyfile("def test_nothing(): pass")
    result = pytester.runpytest(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert message in result.stderr.str()


def test_invalid_pyproject_value_names_the_section(pytester: pytest.Pytester) -> None:
    pytester.makepyprojecttoml("[tool.pytest.ini_options]\nfairquant_alpha = 0\n")
    pytester.makepyfile("def test_nothing(): pass")
    result = pytester.runpytest()
    assert (
        "fairquant_alpha = 0 (pyproject.toml [tool.pytest.ini_options]): alpha must be a number strictly between 0 and 1 (e.g. 0.05)"
        in result.stderr.str()
    )


def test_unknown_marker_key_names_the_key_and_the_known_ones(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.fairquant(alhpa=0.1)
        def test_typo():
            pass
        """
    )
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    from pytest_fairquant.settings import MARKER_KEYS

    expected = MSG_UNKNOWN_MARKER_KEY.format(
        key="alhpa",
        source="test_unknown_marker_key_names_the_key_and_the_known_ones.py::test_typo",
        known=", ".join(MARKER_KEYS),
    )
    assert expected in result.stderr.str()


def test_bad_marker_value_names_the_marker(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.fairquant(alpha=2)
        def test_bad():
            pass
        """
    )
    result = pytester.runpytest()
    assert (
        "alpha=2 (@pytest.mark.fairquant on test_bad_marker_value_names_the_marker.py::test_bad): "
        "alpha must be a number strictly between 0 and 1 (e.g. 0.05)" in result.stderr.str()
    )


def test_configuration_docs_are_generated_from_the_table() -> None:
    committed = Path(__file__).parents[2] / "docs" / "configuration.md"
    assert committed.read_text(encoding="utf-8") == configuration_markdown(), (
        "docs/configuration.md is stale: regenerate it with "
        "python -c 'from pytest_fairquant.settings import configuration_markdown as m; "
        'open("docs/configuration.md", "w").write(m())\''
    )


def test_correction_choices_are_the_ones_stats_implements() -> None:
    from pytest_fairquant.settings import CORRECTIONS
    from pytest_fairquant.stats import CORRECTIONS as IMPLEMENTED

    assert set(CORRECTIONS) == set(IMPLEMENTED)


NATIVE_TOML = pytest.mark.skipif(
    _PYTEST_VERSION < (9, 2),
    reason="TOML numbers in ini keys need pytest >= 9.2 (typed ini unions)",
)


@NATIVE_TOML
def test_native_toml_table_takes_numbers_and_lists(pytester: pytest.Pytester, printed: Any) -> None:
    pytester.makepyprojecttoml(
        '[tool.pytest]\nfairquant_alpha = 0.01\nfairquant_seed = 3\nfairquant_quantization = ["fp16"]\n'
    )
    pytester.makepyfile(SHOW)
    shown = printed(pytester.runpytest("-s"), "SETTINGS")
    assert (shown["alpha"], shown["seed"], shown["quantization"]) == (0.01, 3, ["fp16"])


@NATIVE_TOML
def test_invalid_native_toml_value_names_the_table(pytester: pytest.Pytester) -> None:
    pytester.makepyprojecttoml("[tool.pytest]\nfairquant_alpha = 0\n")
    pytester.makepyfile("def test_nothing(): pass")
    result = pytester.runpytest()
    assert (
        "fairquant_alpha = 0 (pyproject.toml [tool.pytest]): alpha must be a number strictly between 0 and 1 (e.g. 0.05)"
        in result.stderr.str()
    )


def test_report_header_shows_the_methods_and_the_gate_settings(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_nothing(): pass")
    result = pytester.runpytest("--fairquant-quantization=fp16,bf16", "--fairquant-alpha=0.01")
    result.stdout.fnmatch_lines(
        [
            "fairquant: quantization=fp16,bf16 pruning=global-magnitude-0.5 alpha=0.01 "
            "inconclusive=fail"
        ]
    )


def test_readme_option_table_is_generated_from_the_table() -> None:
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    start = readme.index("<!-- options:start")
    start = readme.index("\n", start) + 1
    end = readme.index("<!-- options:end -->")
    assert readme[start:end].strip() == options_table_markdown(), (
        "README.md's option table is stale: replace the lines between the options:start and "
        "options:end markers with pytest_fairquant.settings.options_table_markdown()"
    )
