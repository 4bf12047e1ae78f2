"""The model and data fixtures: factories, conftest overrides, the `model` alias, filtering."""

from __future__ import annotations

from typing import Any

import pytest

from pytest_fairquant.plugin import (
    MSG_FACTORY_ATTRIBUTE,
    MSG_FACTORY_IMPORT,
    MSG_FACTORY_TYPE,
    MSG_NO_FACTORY,
)
from pytest_fairquant.run import MSG_FACTORY_NOT_ON_PATH


def test_factories_give_the_model_and_the_filtered_split(fq: pytest.Pytester, printed: Any) -> None:
    fq.makepyfile(
        """
        import json, torch
        from pytest_fairquant import DemographicSplit

        def test_fixtures(fairquant_model, model, fairquant_data, demographic_split):
            assert isinstance(fairquant_model, torch.nn.Module)
            assert model is fairquant_model
            assert isinstance(fairquant_data, DemographicSplit)
            print("SPLIT=" + json.dumps({
                "full": len(fairquant_data),
                "n": len(demographic_split),
                "race_rows": len(demographic_split.attribute_rows("race")),
                "gender_rows": demographic_split.attribute_rows("gender"),
                "tiny": int((demographic_split.attributes["race"] == "tiny").sum()),
                "dropped": [d.group for d in demographic_split.dropped],
            }))
        """
    )
    result = fq.runpytest("-s")
    result.assert_outcomes(passed=1)
    split = printed(result, "SPLIT")
    # "tiny" holds about 3% of 600 samples, below the default minimum group size of 30: it
    # leaves the race gates, and only those (the gender gates keep every sample).
    assert split["dropped"] == ["tiny"]
    assert split["n"] == split["full"] == 600
    assert split["race_rows"] == 600 - split["tiny"]
    assert split["gender_rows"] is None


def test_subsample_and_min_group_size_settings_shape_the_split(
    fq: pytest.Pytester, printed: Any
) -> None:
    fq.makepyfile(
        """
        import json
        def test_split(demographic_split):
            print("SPLIT=" + json.dumps({"n": len(demographic_split),
                                         "race": list(demographic_split.groups("race").names)}))
        """
    )
    result = fq.runpytest("-s", "--fairquant-subsample=300", "--fairquant-min-group-size=2")
    split = printed(result, "SPLIT")
    assert split["n"] == 300
    assert "tiny" in split["race"]


def test_conftest_overrides_replace_the_factories(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
        import pytest, torch

        @pytest.fixture(scope="session")
        def fairquant_model():
            return torch.nn.Linear(2, 2)

        @pytest.fixture(scope="session")
        def model():
            return "user's own model fixture"
        """
    )
    pytester.makepyfile(
        """
        import torch
        def test_override(fairquant_model, model):
            assert isinstance(fairquant_model, torch.nn.Linear)
            assert model == "user's own model fixture"
        """
    )
    pytester.runpytest().assert_outcomes(passed=1)


def test_missing_factory_says_how_to_configure(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_needs_model(fairquant_model): pass")
    result = pytester.runpytest()
    result.assert_outcomes(errors=1)
    expected = MSG_NO_FACTORY.format(
        what="model",
        ini="fairquant_model",
        flag="--fairquant-model",
        fixture="fairquant_model",
    )
    assert expected in result.stdout.str()


@pytest.mark.parametrize(
    ("flag", "fixture", "message"),
    [
        (
            "--fairquant-model=fq_factories:wrong_type",
            "fairquant_model",
            MSG_FACTORY_TYPE.format(
                shown="--fairquant-model=fq_factories:wrong_type",
                source="command line",
                got="str",
                expected="a torch.nn.Module",
            ),
        ),
        (
            "--fairquant-data=fq_factories:make_model",
            "fairquant_data",
            MSG_FACTORY_TYPE.format(
                shown="--fairquant-data=fq_factories:make_model",
                source="command line",
                got="Sequential",
                expected="a DemographicSplit",
            ),
        ),
    ],
    ids=["model-type", "data-type"],
)
def test_bad_factories_name_the_setting_and_the_problem(
    fq: pytest.Pytester, flag: str, fixture: str, message: str
) -> None:
    fq.makepyfile(f"def test_factory({fixture}): pass")
    result = fq.runpytest(flag)
    result.assert_outcomes(errors=1)
    assert message in result.stdout.str()


@pytest.mark.parametrize(
    ("flag", "message"),
    [
        (
            "--fairquant-model=no_such_module:make",
            MSG_FACTORY_IMPORT.format(
                shown="--fairquant-model=no_such_module:make",
                source="command line",
                module="no_such_module",
                error="ModuleNotFoundError: No module named 'no_such_module'",
            )
            + MSG_FACTORY_NOT_ON_PATH,
        ),
        (
            "--fairquant-data=fq_factories:nope",
            MSG_FACTORY_ATTRIBUTE.format(
                shown="--fairquant-data=fq_factories:nope",
                source="command line",
                module="fq_factories",
                name="nope",
            ),
        ),
    ],
    ids=["import", "attribute"],
)
def test_a_factory_that_cannot_be_imported_is_one_usage_error(
    fq: pytest.Pytester, flag: str, message: str
) -> None:
    fq.makepyfile(
        """
        def test_a(model, demographic_split): pass
        def test_b(quantized_model, demographic_split): pass
        def test_c(fairquant_model, fairquant_data): pass
        """
    )
    result = fq.runpytest(flag)
    # It was an error in each of the three tests, the same traceback three times.
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert [line for line in result.stderr.lines if line] == [f"ERROR: fairquant: {message}"]
    assert "no tests ran" in result.stdout.str()


def test_an_unused_factory_is_not_imported(fq: pytest.Pytester) -> None:
    fq.makepyfile("def test_plain(): pass")
    fq.runpytest("--fairquant-model=no_such_module:make").assert_outcomes(passed=1)


def test_ini_factory_errors_name_the_ini_file(fq: pytest.Pytester) -> None:
    fq.makeini("[pytest]\nfairquant_model = fq_factories:wrong_type\n")
    fq.makepyfile("def test_factory(fairquant_model): pass")
    result = fq.runpytest()
    assert (
        "fairquant_model = fq_factories:wrong_type (tox.ini [pytest]): the factory returned str, "
        "expected a torch.nn.Module" in result.stdout.str()
    )


@pytest.mark.parametrize(
    ("configured", "worker", "gpus", "expected"),
    [
        ("auto", None, 4, "auto"),
        ("auto", 5, 4, "cuda:1"),
        ("auto", 5, 1, "auto"),
        ("cpu", 5, 4, "cpu"),
    ],
)
def test_xdist_workers_get_one_gpu_each(
    monkeypatch: pytest.MonkeyPatch, configured: str, worker: int | None, gpus: int, expected: str
) -> None:
    from pathlib import Path

    import torch

    from pytest_fairquant.run import FairnessRun
    from pytest_fairquant.settings import Settings

    monkeypatch.setattr(torch.cuda, "is_available", lambda: gpus > 0)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: gpus)
    run = FairnessRun(Settings(device=configured), root=Path("."), worker=worker)
    assert run.device() == expected
