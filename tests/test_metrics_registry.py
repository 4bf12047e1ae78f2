"""The gap registry's descriptions name each definition and its source correctly."""

from __future__ import annotations

from pytest_fairquant.metrics import GAPS


def test_equalized_odds_is_fairlearns_and_paper_003s_is_the_tpr_gap() -> None:
    assert GAPS["equalized_odds"] == (
        "fairlearn's equalized odds: max(|ΔTPR|, |ΔFPR|) across groups"
    )
    assert GAPS["tpr"] == "max minus min per-group TPR; paper 003's equalized odds is this |ΔTPR|"


def test_bias_amplification_and_the_skews_name_their_papers() -> None:
    assert GAPS["bias_amplification"].endswith("(paper 004)")
    assert "paper 003" not in GAPS["bias_amplification"]
    for gap in ("max_skew", "min_skew"):
        assert "against the dataset prior" in GAPS[gap] and GAPS[gap].endswith("(paper 000)")
