"""The candidates core (issue 13): parsing ``name = module:callable`` entries, what a factory may
return, and the candidate's identity."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from pytest_fairquant.candidates import (
    MSG_CANDIDATE_ENTRY,
    MSG_CANDIDATE_NAME,
    MSG_CANDIDATE_TWICE,
    Candidate,
    CandidateInfo,
    as_candidate_model,
    own_fingerprint,
    parse_candidates,
    tag_candidate,
)
from pytest_fairquant.fingerprint import model_fingerprint


@pytest.mark.parametrize(
    "value",
    [
        "a = x.y:f\nb=x.y:g",
        "a=x.y:f,b=x.y:g",
        ["a = x.y:f", "b = x.y:g"],
        {"a": "x.y:f", "b": "x.y:g"},
    ],
    ids=["lines", "commas", "list", "dict"],
)
def test_entries_parse_from_every_form(value: Any) -> None:
    assert parse_candidates(value) == (Candidate("a", "x.y:f"), Candidate("b", "x.y:g"))


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("x.y:f", MSG_CANDIDATE_ENTRY.format(entry="x.y:f")),
        ("a = x.y", MSG_CANDIDATE_ENTRY.format(entry="a = x.y")),
        ("= x.y:f", MSG_CANDIDATE_ENTRY.format(entry="=x.y:f")),
        ("a b = x.y:f", MSG_CANDIDATE_NAME.format(name="a b")),
        ("a = x.y:f\na = x.y:g", MSG_CANDIDATE_TWICE.format(name="a")),
    ],
    ids=["no-equals", "no-callable", "no-name", "bad-name", "twice"],
)
def test_a_bad_entry_says_how_to_write_one(value: str, message: str) -> None:
    with pytest.raises(ValueError) as err:
        parse_candidates(value)
    assert str(err.value) == message


def test_none_is_no_candidate() -> None:
    assert parse_candidates("none") == parse_candidates("") == ()


def test_only_models_are_candidates() -> None:
    model = torch.nn.Linear(2, 2)
    assert as_candidate_model(model) is model
    assert as_candidate_model({"weights": 1}) is None


def test_the_identity_is_the_factory_and_the_models_own_fingerprint() -> None:
    model = torch.nn.Linear(2, 2)
    own = own_fingerprint(model)
    assert own == model_fingerprint(model)
    tagged = tag_candidate(model, Candidate("release", "pkg.rel:load"), own)
    info = tagged.fairquant_info
    assert isinstance(info, CandidateInfo) and info.method_id == "release"
    assert info.fingerprint_parts() == ("candidate", "pkg.rel:load", own)
    # Returned again (a memoising factory), it keeps that identity.
    assert own_fingerprint(tagged) == own
    other = torch.nn.Linear(2, 2)
    tag_candidate(other, Candidate("release", "pkg.rel:load_v2"), own)
    assert model_fingerprint(other) != model_fingerprint(tagged)


def _dynamic_int8(value: float) -> torch.nn.Module:
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(64, 64))
    with torch.no_grad():
        net[0].weight[30, 30] = value
    return torch.ao.quantization.quantize_dynamic(net, {torch.nn.Linear}, dtype=torch.qint8)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_quantized_candidates_differing_in_one_weight_have_different_fingerprints() -> None:
    if not set(torch.backends.quantized.supported_engines) - {"none"}:
        pytest.skip("torch has no quantized CPU engine")
    # The int8 weight sits in a (weight, bias) tuple of the state dict, whose repr elides it.
    assert own_fingerprint(_dynamic_int8(0.0)) != own_fingerprint(_dynamic_int8(0.01))
