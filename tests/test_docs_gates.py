"""docs/gates.md documents every keyword of the gates and of ``compare``, with its real default.

Issue 15: ``train_y_true=``, ``task=``, ``y_true=``/``base_pred=``, ``metric=`` and ``k=`` were
in no document. The page has one section per function, headed ``## `name```, with a table whose
rows start ``| `keyword` | type | default |``. This test reads the signatures
(``inspect.signature``), so a keyword added to a function fails here until it is documented,
and a default changed in the code fails until the page says the new one.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pytest_fairquant import assert_fvo_below, assert_no_bias_amplification, group_report
from pytest_fairquant.stats import assess_gap, compare
from pytest_fairquant.stats.spec import CHECKS

DOC = Path(__file__).parents[1] / "docs" / "gates.md"

#: Each documented function, and where its ``**options`` go (what a row it does not name may be).
FUNCTIONS: dict[str, tuple[Callable[..., Any], Callable[..., Any] | None]] = {
    "assert_no_bias_amplification": (assert_no_bias_amplification, compare),
    "assert_fvo_below": (assert_fvo_below, assess_gap),
    "group_report": (group_report, None),
    "compare": (compare, None),
}

_ROW = re.compile(r"^\|\s*`(?P<name>\w+)`\s*\|")
_CELL_SPLIT = re.compile(r"(?<!\\)\|")


def _sections() -> dict[str, list[list[str]]]:
    """Per ``## `function``` section, the cells of its keyword rows."""
    sections: dict[str, list[list[str]]] = {}
    current: list[list[str]] | None = None
    for line in DOC.read_text(encoding="utf-8").splitlines():
        heading = re.match(r"^## `(\w+)`\s*$", line)
        if heading:
            current = sections.setdefault(heading.group(1), [])
        elif line.startswith("## "):
            current = None
        elif current is not None and _ROW.match(line):
            cells = [c.strip() for c in _CELL_SPLIT.split(line.strip().strip("|"))]
            current.append(cells)
    return sections


SECTIONS = _sections()


def _parameters(function: Callable[..., Any]) -> dict[str, inspect.Parameter]:
    return {
        name: p
        for name, p in inspect.signature(function).parameters.items()
        if p.kind is not inspect.Parameter.VAR_KEYWORD
    }


def _keyword(cells: list[str]) -> str:
    return cells[0].strip("`")


@pytest.mark.parametrize("name", list(FUNCTIONS))
def test_every_keyword_is_documented(name: str) -> None:
    assert name in SECTIONS, f"docs/gates.md has no section '## `{name}`'"
    documented = {_keyword(cells) for cells in SECTIONS[name]}
    missing = [k for k in _parameters(FUNCTIONS[name][0]) if k not in documented]
    assert not missing, f"docs/gates.md, section {name}: document {missing}"


@pytest.mark.parametrize("name", list(FUNCTIONS))
def test_every_documented_keyword_exists(name: str) -> None:
    function, forwarded_to = FUNCTIONS[name]
    own = _parameters(function)
    accepted = set(own)
    if forwarded_to is not None:
        accepted |= set(_parameters(forwarded_to)) | set(CHECKS)
    unknown = [k for k in map(_keyword, SECTIONS[name]) if k not in accepted]
    assert not unknown, f"docs/gates.md, section {name}: {unknown} are not keywords of {name}"
    forwarded = [k for k in map(_keyword, SECTIONS[name]) if k not in own]
    for cells in SECTIONS[name]:
        if _keyword(cells) in forwarded:
            assert "**" in cells[2], f"{name}: say that {_keyword(cells)} goes through **options"


@pytest.mark.parametrize("name", list(FUNCTIONS))
def test_each_default_is_the_signatures(name: str) -> None:
    parameters = _parameters(FUNCTIONS[name][0])
    for cells in SECTIONS[name]:
        keyword = _keyword(cells)
        if keyword not in parameters:
            continue
        assert len(cells) >= 4, f"{name}: the row of {keyword} needs type, default and meaning"
        default = parameters[keyword].default
        cell = cells[2]
        if default is inspect.Parameter.empty:
            assert cell.startswith("required"), f"{name}({keyword}=...) has no default: {cell!r}"
        else:
            assert cell.startswith(f"`{default!r}`"), (
                f"{name}: {keyword} defaults to {default!r}, docs/gates.md says {cell!r}"
            )


def test_the_keywords_the_issue_named_have_an_example() -> None:
    rows = {
        (name, _keyword(cells)): cells[-1]
        for name, section in SECTIONS.items()
        for cells in section
    }
    for name, keyword in [
        ("assert_no_bias_amplification", "train_y_true"),
        ("assert_no_bias_amplification", "task"),
        ("assert_no_bias_amplification", "y_true"),
        ("assert_no_bias_amplification", "base_pred"),
        ("assert_no_bias_amplification", "metric"),
        ("assert_no_bias_amplification", "k"),
        ("assert_no_bias_amplification", "tolerance"),
        ("assert_no_bias_amplification", "alpha"),
        ("compare", "train_y_true"),
    ]:
        assert f"{keyword}=" in rows[(name, keyword)], f"{name}: give {keyword}= an example"
