"""One validated gate specification (issue 11): every decision setting has one check, which the
library (``compare``, the gates) and the plugin's option table both run, so a bad value gets the
same sentence from a keyword, a flag, an ini key and a marker; and the rules that tie two
settings together (enough permutations for alpha) hold everywhere."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from pytest_fairquant.errors import ConfigError, InputError
from pytest_fairquant.settings import GATE_SETTINGS, OPTIONS_BY_NAME, Settings, resolve
from pytest_fairquant.stats import GateSpec, compare
from pytest_fairquant.stats.spec import CHECKS, MSG_POWER, problem_of

#: One bad value per gate setting, as a keyword argument would carry it.
BAD = {
    "gap": "nope",
    "metric": "nope",
    "tolerance": -0.1,
    "alpha": 1.5,
    "n_boot": 0,
    "n_permutations": 0,
    "seed": -1,
    "min_group_size": 0,
    "min_positives": 0,
    "correction": "sidak",
    "max_utility_drop": 1.5,
}


def _arrays() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, size=400)
    groups = np.repeat(["a", "b"], 200)
    return dict(y_true=y, base_pred=y.copy(), compressed_pred=y.copy(), sensitive_features=groups)


def test_every_gate_setting_of_the_option_table_is_a_spec_field_with_one_check() -> None:
    fields = {f.name for f in dataclasses.fields(GateSpec)}
    assert set(GATE_SETTINGS) <= fields == set(CHECKS)
    assert set(BAD) == set(GATE_SETTINGS)


@pytest.mark.parametrize("name", sorted(BAD))
def test_a_bad_value_gets_one_sentence_from_the_library_and_from_the_option_table(
    name: str,
) -> None:
    with pytest.raises(InputError) as library:
        compare(**_arrays(), **{name: BAD[name]})
    problem = problem_of(library.value)
    assert problem and problem in str(library.value)
    with pytest.raises(ConfigError) as flag:
        resolve({name: str(BAD[name])}, {})
    flag_text = OPTIONS_BY_NAME[name].flag
    assert str(flag.value) == f"{flag_text}={BAD[name]} (command line): {problem}"
    with pytest.raises(ConfigError) as marker:
        Settings().with_marker({name: BAD[name]}, where="t.py::test")
    assert str(marker.value).endswith(f"(@pytest.mark.fairquant on t.py::test): {problem}")


def test_the_spec_refuses_unknown_settings_and_revalidates_on_replace() -> None:
    with pytest.raises(InputError, match="unknown gate setting 'tolerence'; known: gap, metric"):
        GateSpec.build(tolerence=0.02)
    spec = GateSpec.build(tolerance=0.02)
    assert spec.replace(alpha=0.1).alpha == 0.1
    with pytest.raises(InputError, match="alpha must be a number strictly between 0 and 1"):
        spec.replace(alpha=0)


@pytest.mark.parametrize("power", [0, 1, 1.5, float("nan"), True])
def test_power_is_checked(power: object) -> None:
    # Before the spec, power=1.5 reached ndtri and made every required_n NaN.
    with pytest.raises(InputError) as err:
        compare(**_arrays(), power=power)
    assert str(err.value) == MSG_POWER.format(got=power)


def test_too_few_permutations_for_alpha_could_never_fail_and_is_refused() -> None:
    # 19 permutations: the smallest p-value is 1/20 = 0.05, so p < alpha = 0.05 never holds.
    with pytest.raises(InputError) as err:
        compare(**_arrays(), n_permutations=19)
    assert str(err.value) == (
        "with n_permutations=19 the smallest permutation p-value is 1/20 = 0.05, not below "
        "alpha=0.05: no gate could ever fail; use n_permutations >= 20"
    )
    assert compare(**_arrays(), n_permutations=20, n_boot=10).verdict in ("pass", "inconclusive")


def test_the_cross_rule_is_a_configure_time_error_naming_both_sources() -> None:
    with pytest.raises(ConfigError) as err:
        resolve({"n_permutations": "50"}, {"alpha": "0.01"}, ini_file="pytest.ini")
    text = str(err.value)
    assert "with n_permutations=50 the smallest permutation p-value is 1/51" in text
    assert "fairquant_alpha = 0.01 (pytest.ini [pytest])" in text
    assert "fairquant_n_permutations = 50 (command line)" in text
    with pytest.raises(ConfigError, match="n_permutations=50"):
        Settings().with_marker({"n_permutations": 50, "alpha": 0.01}, where="t.py::test")


def test_the_gates_build_their_spec_from_the_settings_and_the_call() -> None:
    settings = Settings(alpha=0.01, tolerance=0.05, n_permutations=999)
    spec = settings.gate_spec(tolerance=None, gap="tpr")
    assert (spec.alpha, spec.tolerance, spec.gap, spec.n_permutations) == (0.01, 0.05, "tpr", 999)
    # The plugin's default tolerance is 0.02; the library's is 0 (never passes).
    assert Settings().gate_spec().tolerance == 0.02 and GateSpec().tolerance == 0.0


def test_the_n_permutations_setting_drives_the_permutation_tests() -> None:
    from pytest_fairquant import assert_no_bias_amplification
    from pytest_fairquant.gate import GateContext, gate_context

    arrays = _arrays()
    flipped = arrays["compressed_pred"].copy()
    flipped[200:240] = 1 - flipped[200:240]
    arrays["compressed_pred"] = flipped
    seen: list[object] = []
    context = GateContext(
        settings=Settings(n_permutations=99), record=lambda gate, c, explained: seen.append(c)
    )
    with gate_context(context), pytest.raises(AssertionError):
        assert_no_bias_amplification(**arrays, tolerance=0.0, n_boot=10)
    # A permutation p-value on 99 permutations is a multiple of 1/100.
    p = seen[-1].p_value  # type: ignore[attr-defined]
    assert p is not None and 0 < p < 0.05 and abs(p * 100 - round(p * 100)) < 1e-9
