"""The HTML report: content, determinism, degradation without matplotlib, and a real browser.

The report dicts go through the plugin's real :func:`build_report` (the JSON the plugin writes);
the comparisons are the ``Comparison.to_dict()`` shape the gates and the terminal summary read,
and one test builds them with the real :func:`pytest_fairquant.stats.compare`.
"""

from __future__ import annotations

import builtins
import html
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pytest_fairquant.errors import InputError
from pytest_fairquant.report import build_report
from pytest_fairquant.report.format import p_value
from pytest_fairquant.report.html import MSG_NO_MATPLOTLIB, render, sweep_parameter

#: method → per-group accuracy drop of groups a, b, c (c is the minority that loses most).
DROPS = {
    "uniform-int8": (0.0, 0.0, 0.01),
    "uniform-int4": (0.01, 0.02, 0.05),
    "uniform-int2": (0.10, 0.20, 0.40),
    "global-magnitude-0.5": (0.0, 0.01, 0.01),
    "global-magnitude-0.9": (0.05, 0.10, 0.20),
}


def _comparison(drops: tuple[float, ...], verdict: str) -> dict[str, Any]:
    groups = []
    for i, (name, drop) in enumerate(zip("abc", drops, strict=True)):
        base = 0.9 - 0.05 * i
        groups.append(
            {
                "group": name,
                "n": 100 + 50 * i,
                "base": base,
                "compressed": base - drop,
                "delta": -drop,
                "interval": [-drop - 0.03, -drop + 0.03],
                "p_value": 0.5,
            }
        )
    base_gap = max(g["base"] for g in groups) - min(g["base"] for g in groups)
    comp_gap = max(g["compressed"] for g in groups) - min(g["compressed"] for g in groups)
    return {
        "attribute": "race",
        "gap": "fvo",
        "metric": "accuracy",
        "verdict": verdict,
        "base_gap": base_gap,
        "compressed_gap": comp_gap,
        "delta": comp_gap - base_gap,
        "interval": [comp_gap - base_gap - 0.02, comp_gap - base_gap + 0.02],
        "tolerance": 0.02,
        "alpha": 0.05,
        "p_value": 0.3,
        "test": "permutation",
        "correction": "holm",
        "n_boot": 200,
        "seed": 0,
        "n": sum(g["n"] for g in groups),
        "groups": groups,
        "reasons": ["group c: <few> samples"] if verdict == "inconclusive" else [],
        "worst_group": "c",
    }


def _report(records: list[dict[str, Any]]) -> dict[str, Any]:
    report = build_report(
        records,
        settings={"seed": 0, "device": "cpu"},
        methods={"uniform-int2": {"method": "uniform-int2", "bits": 2}},
        splits={"digits": {"n": 450}},
        command=["pytest", "examples/vision_digits"],
    )
    # What a reader of the JSON file gets: plain JSON types only.
    return json.loads(json.dumps(report))


@pytest.fixture(scope="module")
def report() -> dict[str, Any]:
    records = []
    for method, drops in DROPS.items():
        verdict = "fail" if max(drops) >= 0.2 else "inconclusive" if max(drops) > 0.02 else "pass"
        records.append(
            {
                "nodeid": f"tests/test_fairness.py::test_keeps_fvo[{method}]",
                "gate": "assert_no_bias_amplification",
                "method": method,
                "comparison": _comparison(drops, verdict),
            }
        )
    skew = _comparison((0.0, 0.0, 0.0), "pass")
    skew.update(attribute="gender", gap="max_skew", base_gap=0.31, compressed_gap=0.35, groups=[])
    records.append(
        {
            "nodeid": "tests/test_fairness.py::test_skew[bnb-int8]",
            "gate": "assert_no_bias_amplification",
            "method": "bnb-int8",
            "comparison": skew,
        }
    )
    return _report(records)


@pytest.fixture(scope="module")
def page(report: dict[str, Any]) -> str:
    return render(report)


def test_verdict_table_lists_every_comparison(page: str, report: dict[str, Any]) -> None:
    table = page.split('<table class="verdicts">', 1)[1].split("</table>", 1)[0]
    assert table.count("<tr>") == 1 + len(report["comparisons"])
    for method in [*DROPS, "bnb-int8"]:
        assert f"<td>{method}</td>" in table
    assert table.count('class="verdict fail"') == 2
    assert "+0.3000" in table  # uniform-int2's FVO grew from 0.1000 to 0.4000


def test_group_tables_show_values_intervals_and_n(page: str) -> None:
    assert "95% interval" in page
    assert "<td>c</td><td>200</td><td>0.8000</td><td>0.4000</td><td>-0.4000</td>" in page
    assert "[-0.4300, -0.3700]" in page
    # Reasons are escaped, not injected.
    assert "group c: &lt;few&gt; samples" in page


def test_plots_are_inline_svg_one_per_view(page: str) -> None:
    titles = re.findall(r"<figcaption><b>([^<]*)</b>", page)
    assert titles == [
        "Group accuracy per method — race",
        "Overall accuracy vs FVO — race",
        "Per-group Δ accuracy — race",
        "max_skew — gender",
        "Sweep: global-magnitude — race, fvo",
        "Sweep: uniform-int — race, fvo",
    ]
    assert page.count("<svg") == len(titles)
    assert "<?xml" not in page


def test_self_contained_no_network_fetches(page: str) -> None:
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    assert "@import" not in page
    assert "<link" not in page


def test_metadata_versions_seed_device_command(page: str, report: dict[str, Any]) -> None:
    run = page.split('id="metadata"', 1)[1]
    assert "<code>pytest examples/vision_digits</code>" in run
    assert "<td>device</td><td>cpu</td>" in run
    assert f"<td>numpy</td><td>{report['versions']['numpy']}</td>" in run
    assert "<td>seed</td><td>0</td>" in run


def test_same_report_renders_byte_identical(report: dict[str, Any], page: str) -> None:
    assert render(json.loads(json.dumps(report))) == page


def test_sweep_parameter_parses_method_families() -> None:
    assert sweep_parameter("uniform-int4") == ("uniform-int", "bits", 4.0)
    assert sweep_parameter("global-magnitude-0.9") == ("global-magnitude", "sparsity", 0.9)
    assert sweep_parameter("bnb-nf4") is None


def test_undefined_values_render_as_na_with_reason(report: dict[str, Any]) -> None:
    broken = json.loads(json.dumps(report))
    broken["comparisons"][0]["comparison"]["groups"][0]["base"] = {
        "reason": "empty_group",
        "detail": "group a has no samples",
    }
    assert '<span class="na" title="group a has no samples">n/a</span>' in render(broken)


def test_without_matplotlib_tables_and_a_note(
    report: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    real_import = builtins.__import__

    def no_matplotlib(name: str, *args: Any, **kwargs: Any) -> Any:
        if name.startswith("matplotlib"):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    page = render(report)
    assert html.escape(MSG_NO_MATPLOTLIB) in page
    assert "<svg" not in page
    assert '<table class="verdicts">' in page


@pytest.mark.parametrize("bad", [[], {"schema": "x"}, {"comparisons": [3]}])
def test_not_a_report_is_a_clear_error(bad: Any) -> None:
    with pytest.raises(InputError, match="not a fairquant report"):
        render(bad)


def test_real_comparisons_render() -> None:
    stats = pytest.importorskip("pytest_fairquant.stats")
    rng = np.random.default_rng(0)
    n = 900
    groups = rng.choice(["a", "b", "minority"], size=n, p=[0.45, 0.45, 0.1])
    y = rng.integers(0, 2, size=n)
    base = np.where(rng.random(n) < 0.9, y, 1 - y)
    hurt = (groups == "minority") & (rng.random(n) < 0.4)
    compressed = np.where(hurt, 1 - y, base)
    comparison = stats.compare(
        y, base, compressed, sensitive_features=groups, gap="fvo", n_boot=200, seed=0
    )
    page = render(
        _report(
            [
                {
                    "nodeid": "t::test_x[uniform-int2]",
                    "gate": "assert_no_bias_amplification",
                    "method": "uniform-int2",
                    "comparison": comparison.to_dict(),
                }
            ]
        )
    )
    assert f'class="verdict {comparison.verdict}"' in page
    assert "<td>minority</td>" in page
    assert page.count("<svg") >= 2


ARTIFACTS = Path(__file__).resolve().parents[1] / ".artifacts"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


#: Appended to a copy of the page in the browser test: measures what a reader at 1280 px sees
#: (the verdict table's width against its box, every pair of SVG text labels that overlap)
#: and writes it into the DOM for --dump-dom to return.
LAYOUT_PROBE = """<script>
const overlaps = [];
document.querySelectorAll("figure svg").forEach((svg, index) => {
  const boxes = [...svg.querySelectorAll("text")]
    .filter((t) => t.textContent.trim())
    .map((t) => [t.textContent.trim(), t.getBoundingClientRect()]);
  boxes.forEach(([a, p], i) => boxes.slice(i + 1).forEach(([b, q]) => {
    const x = Math.min(p.right, q.right) - Math.max(p.left, q.left);
    const y = Math.min(p.bottom, q.bottom) - Math.max(p.top, q.top);
    if (x > 1 && y > 1) overlaps.push([index, a, b]);
  }));
});
const box = document.querySelector("div.scroll");
const probe = document.createElement("pre");
probe.id = "layout";
probe.textContent = JSON.stringify({
  table: document.querySelector("table.verdicts").getBoundingClientRect().width,
  box: box.clientWidth,
  scrolls: box.scrollWidth > box.clientWidth,
  page: document.documentElement.scrollWidth,
  viewport: window.innerWidth,
  overlaps: overlaps,
});
document.body.appendChild(probe);
</script>"""


def _chromium(profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    return subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "--window-size=1280,2400", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not on PATH (apt-get install chromium)")
def test_chromium_renders_page_without_console_errors(page: str, tmp_path: Path) -> None:
    html_file = tmp_path / "report.html"
    html_file.write_text(page, encoding="utf-8")
    profile = tmp_path / "profile"
    url = html_file.as_uri()
    dom = _chromium(profile, "--dump-dom", url).stdout
    assert '<table class="verdicts">' in dom
    assert dom.count("<svg") == page.count("<svg") > 0
    shot = tmp_path / "report.png"
    logged = _chromium(
        profile, "--enable-logging=stderr", "--v=0", f"--screenshot={shot}", url
    ).stderr
    console = [line for line in logged.splitlines() if ":CONSOLE" in line]
    assert console == []
    assert shot.stat().st_size > 10_000
    # The screenshot is the test's artifact: kept at .artifacts/ (git-ignored) for a look.
    ARTIFACTS.mkdir(exist_ok=True)
    shutil.copyfile(shot, ARTIFACTS / "html-report.png")


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not on PATH (apt-get install chromium)")
def test_chromium_at_1280px_fits_the_verdict_table_and_no_labels_overlap(
    page: str, tmp_path: Path
) -> None:
    probed = tmp_path / "probed.html"
    probed.write_text(page.replace("</body>", LAYOUT_PROBE + "</body>"), encoding="utf-8")
    dom = _chromium(tmp_path / "profile", "--dump-dom", probed.as_uri()).stdout
    layout = json.loads(html.unescape(dom.split('<pre id="layout">', 1)[1].split("</pre>", 1)[0]))
    assert layout["viewport"] == 1280
    assert not layout["scrolls"] and layout["table"] <= layout["box"]
    assert layout["page"] <= layout["viewport"]
    assert layout["overlaps"] == []


def test_extra_sections_render_population_tables_and_raw_data() -> None:
    from pytest_fairquant.population import Measurement, population_table

    rng = np.random.default_rng(1)
    units = [f"model{i}" for i in range(8)]
    measurements = [
        Measurement(u, method, attr, "max_skew", float(v))
        for method, shift in (("dense", 0.0), ("bnb-nf4", 0.05), ("torch-dynamic-int8", 0.0))
        for attr in ("gender", "race")
        for u, v in zip(units, 0.3 + shift + rng.normal(0, 0.01, 8), strict=True)
    ]
    # One attribute undefined for one method everywhere: the cell is n/a with its reason.
    measurements = [
        m
        if (m.method, m.attribute) != ("torch-dynamic-int8", "race")
        else Measurement(m.unit, m.method, m.attribute, m.metric, float("nan"))
        for m in measurements
    ]
    table = population_table(measurements, correction="holm", title="Table 2 (FairFace)")
    report = build_report(
        [],
        settings={"seed": 0},
        methods={},
        splits={},
        command=["pytest"],
        sections={
            "paper000": {"runs": [{"model": "m", "n": 3}], "tables": {"table2": table.to_dict()}}
        },
    )
    page = render(json.loads(json.dumps(report)))
    assert '<h2 id="sections">More results</h2>' in page and "<h3>paper000</h3>" in page
    assert "<h4>Table 2 (FairFace)</h4>" in page
    assert "Holm" in page and "* p &lt; 0.05 uncorrected" in page
    nf4_gender = table.cell("bnb-nf4", "gender", "max_skew")
    assert nf4_gender.significant and p_value(nf4_gender.p_value) in page
    assert "n/a (too_few_samples)" in page
    assert "<summary>raw data</summary>" in page and "&quot;model&quot;: &quot;m&quot;" in page
    # Without sections the page has no such heading.
    assert 'id="sections"' not in render(_report([]))


def test_rounding_level_negatives_do_not_print_as_minus_zero() -> None:
    from pytest_fairquant.report.format import interval, number

    assert number(-1e-17, signed=True) == "+0.0000"
    assert interval(0.0, -1e-18) == "[+0.0000, +0.0000]"
    assert number(-0.00006, signed=True) == "-0.0001"


def test_one_model_gate_on_the_dense_model_shows_its_value_as_dense() -> None:
    record = {
        "nodeid": "t::test_dense_is_fair",
        "gate": "assert_fvo_below",
        "method": "dense",
        "comparison": {
            "attribute": "race",
            "gap": "fvo",
            "metric": "accuracy",
            "verdict": "pass",
            "base_gap": None,
            "compressed_gap": 0.1037,
            "delta": None,
            "interval": [0.07, 0.14],
            "threshold": 0.15,
            "p_value": 1.0,
            "groups": [],
        },
    }
    page = render(_report([record]))
    row = page.split("<td>dense</td>", 1)[1].split("</tr>", 1)[0]
    cells = re.findall(r"<td>(.*?)</td>", row)
    # attribute, gap, dense, compressed, ...
    assert cells[2] == "0.1037" and cells[3] == "n/a"


def test_a_page_written_before_the_marker_is_still_recognised_as_ours(tmp_path) -> None:
    from pytest_fairquant.report.jsonreport import is_fairquant_report

    old = tmp_path / "old.html"
    old.write_text(
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">\n'
        "<title>pytest-fairquant report</title>\n<style>/* Inline style of the pytest-fairquant "
        "HTML report (no external fetches). */\nbody {}</style></head></html>",
        encoding="utf-8",
    )
    mine = tmp_path / "mine.html"
    mine.write_text("<html><head><title>pytest-fairquant report</title></head></html>")
    assert is_fairquant_report(old)
    assert not is_fairquant_report(mine)


def test_one_formatting_rule_for_every_renderer() -> None:
    from pytest_fairquant.report.format import interval, interval_of, number, p_value
    from pytest_fairquant.undefined import Undefined

    assert number(0.10374) == "0.1037"
    assert number(0.012, signed=True) == "+0.0120"
    assert [number(v) for v in (None, float("nan"), True, "x", Undefined("empty_group"))] == [
        "n/a"
    ] * 5
    assert number({"value": 0.5, "reason": "r"}) == "0.5000"
    assert p_value(0.03) == "0.0300"
    assert p_value(3.2e-7) == "3.2e-07"
    assert p_value(0.0) == "0.0000"
    assert interval(-0.01, 0.02) == "[-0.0100, +0.0200]"
    assert interval(0.1, 0.2, signed=False) == "[0.1000, 0.2000]"
    assert interval(None, 0.2) == "n/a"
    assert interval_of([0.01, 0.02]) == "[+0.0100, +0.0200]" and interval_of("ab") == "n/a"


def test_report_model_round_trips_and_names_a_malformed_entry(report: dict[str, Any]) -> None:
    from pytest_fairquant.report.model import ReportFormatError, SessionReport, TestRecord

    typed = SessionReport.from_dict(report).with_tests(
        [TestRecord("tests/test_fairness.py::test_keeps_fvo[uniform-int2]", "failed", "x")]
    )
    again = json.loads(json.dumps(typed.to_dict()))
    assert SessionReport.from_dict(again) == typed
    assert again["tests"][0]["verdicts"] == ["fail"]
    assert again["outcomes"] == {"failed": 1}
    broken = {**report, "tests": [{"nodeid": "t::x", "outcome": "exploded"}]}
    with pytest.raises(ReportFormatError, match=r"^not a fairquant report: tests\[0\]: 'outcome'"):
        SessionReport.from_dict(broken)


# --------------------------------------------------------------------------- issue 15 layout


def _verdict_rows(page: str) -> list[tuple[list[str], str]]:
    """Each verdict-table row's cells, with the text of the detail row under it."""
    table = page.split('<table class="verdicts">', 1)[1].split("</table>", 1)[0]
    body = table.split("<tbody>", 1)[1]
    main = re.findall(r"<tr>(.*?)</tr><tr class=\"detail\">(.*?)</tr>", body)
    return [(re.findall(r"<td>(.*?)</td>", cells), detail) for cells, detail in main]


def test_verdict_table_has_the_deciding_columns_and_a_detail_row(page: str) -> None:
    head = re.findall(r"<th>(.*?)</th>", page.split('<table class="verdicts">', 1)[1])[:8]
    assert head == [
        "verdict",
        "method",
        "attribute",
        "gap",
        "dense",
        "compressed",
        "change [interval]",
        "worst group",
    ]
    rows = dict((cells[1], (cells, detail)) for cells, detail in _verdict_rows(page))
    cells, detail = rows["uniform-int2"]
    # FVO 0.1 -> 0.4: the change with its interval, and the worst group with its own change.
    assert cells[4:] == [
        "0.1000",
        "0.4000",
        '+0.3000 <span class="iv">[+0.2800, +0.3200]</span>',
        "c -0.4000",
    ]
    facts = dict(re.findall(r"<dt>(.*?)</dt><dd>(.*?)</dd>", detail))
    assert facts["p-value"] == "0.3000"
    assert facts["statistical test"] == "permutation"
    assert facts["tolerance"] == "0.0200"
    assert facts["test"] == "<code>tests/test_fairness.py::test_keeps_fvo[uniform-int2]</code>"
    assert "<summary><code>test_keeps_fvo[uniform-int2]</code></summary>" in detail


def _typed(report: dict[str, Any], **parts: Any) -> Any:
    from pytest_fairquant.report.model import SessionReport

    data = json.loads(json.dumps({**report, **parts}))
    return SessionReport.from_dict(data)


def test_each_row_shows_its_pytest_outcome_beside_the_verdict(report: dict[str, Any]) -> None:
    from pytest_fairquant.report.model import TestRecord

    node = "tests/test_fairness.py::test_keeps_fvo[{}]"
    tests = [
        TestRecord(node.format("uniform-int2"), "xfailed", "uniform-int2", "documented harm"),
        TestRecord(node.format("uniform-int8"), "passed", "uniform-int8"),
        TestRecord("tests/test_fairness.py::test_broken[bnb-nf4]", "error", "bnb-nf4", "NaN"),
    ]
    page = render(_typed(report).with_tests(tests))
    rows = {cells[2]: (cells, detail) for cells, detail in _verdict_rows(page)}
    assert rows["uniform-int2"][0][:2] == [
        '<span class="verdict fail">fail</span>',
        '<span class="verdict inconclusive">xfailed</span>',
    ]
    assert rows["uniform-int8"][0][1] == '<span class="verdict pass">passed</span>'
    # A test that errored before its gate has a row, its reason in the detail row.
    cells, detail = rows["bnb-nf4"]
    assert cells[:2] == ["-", '<span class="verdict error">error</span>']
    assert "<dt>why</dt><dd>NaN</dd>" in detail


INFO = {
    "method_id": "bnb-int8",
    "family": "quantization",
    "params": {"threshold": 6.0},
    "bytes_before": 46_827_520,
    "bytes_after": 45_000_000,
    "size_ratio": 46_827_520 / 45_000_000,
    "weight_bits": 8,
    "sparsity": 0.0,
    "converted": ["fc"],
    "skipped": [{"name": "head", "reason": "too small"}],
    "compressed_share": 0.021,
    "share_warning": "bnb-int8: 2.1% of weights quantized (fc only): Conv2d untouched",
    "details": {},
    "versions": {"bitsandbytes": "0.45"},
    "device": "cpu",
}


def test_compression_info_is_a_formatted_table_with_the_share(report: dict[str, Any]) -> None:
    pruned = {**INFO, "method_id": "global-magnitude-0.9", "family": "pruning"}
    pruned.update(sparsity=0.9, compressed_share=0.98, share_warning=None, weight_bits=None)
    methods = {"bnb-int8": INFO, "global-magnitude-0.9": pruned, "bnb-nf4": {"skipped": "no GPU"}}
    page = render(_typed(report, methods=methods))
    table = page.split('<table class="compression">', 1)[1].split("</table>", 1)[0]
    body = table.split("<tbody>", 1)[1]
    cells = [re.findall(r"<td[^>]*>(.*?)</td>", r) for r in re.findall(r"<tr>(.*?)</tr>", body)]
    rows = {row[0]: row for row in cells}
    assert rows["bnb-int8"][:10] == [
        "bnb-int8",
        "quantization",
        "2.1% ⚠",
        "44.66 MiB",
        "42.92 MiB",
        "1.04×",
        "0.0%",
        "8",
        "1",
        "1",
    ]
    assert rows["bnb-int8"][10] == "threshold=6.0"
    assert rows["bnb-nf4"] == ["bnb-nf4", "not run: no GPU"]
    pruned_row = rows["global-magnitude-0.9"]
    assert (pruned_row[2], pruned_row[6], pruned_row[7]) == ("98.0%", "90.0%", "-")
    # Under half compressed: a warning in the header and beside the method in the verdicts.
    warning = html.escape(INFO["share_warning"])
    assert f'<p class="caveat">{warning}.</p>' in page
    cell = f'bnb-int8 <span class="warn" title="{warning}">2.1% compressed</span>'
    assert any(cells[1] == cell for cells, _ in _verdict_rows(page))
    assert "{" not in table.split("<details>", 1)[0]  # no key:value dump in the visible cells


def test_header_says_when_the_run_used_generated_data_or_random_weights(
    report: dict[str, Any],
) -> None:
    from pytest_fairquant.data.split import DemographicSplit

    split = DemographicSplit(
        [0, 1, 0, 1],
        {"g": ["a", "a", "b", "b"]},
        metadata={"synthetic": "FairFace-format tree", "random_weights": True, "other": 1},
        name="fairface",
    )
    summary = split.summary()
    assert summary["provenance"] == {"synthetic": "FairFace-format tree", "random_weights": True}
    assert "provenance" not in DemographicSplit([0, 1], {"g": ["a", "b"]}).summary()
    page = render(_typed(report, splits={"fairface": summary}))
    assert (
        '<p class="caveat">Split <b>fairface</b> ran on generated data (FairFace-format tree) '
        "and a model with random weights: its verdicts show that the pipeline works, not how "
        "a trained model treats real people.</p>"
    ) in page
    assert 'class="caveat"' not in render(report)


def _labels_overlapping(figure: Any) -> list[tuple[str, str]]:
    """Pairs of text labels of a drawn figure whose boxes overlap by more than a pixel (an
    annotation's own box, without its leader line)."""
    import itertools

    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.text import Text

    FigureCanvasAgg(figure).draw()
    renderer = figure.canvas.get_renderer()
    boxes = [
        (t.get_text(), Text.get_window_extent(t, renderer))
        for t in figure.findobj(Text)
        if t.get_visible() and t.get_text().strip()
    ]
    return [
        (a, b)
        for (a, p), (b, q) in itertools.combinations(boxes, 2)
        if min(p.x1, q.x1) - max(p.x0, q.x0) > 1 and min(p.y1, q.y1) - max(p.y0, q.y0) > 1
    ]


def _crowded_report() -> dict[str, Any]:
    """Twelve methods a hair apart in accuracy and FVO: the scatter labels would pile up."""
    records = [
        {
            "nodeid": f"t::test_x[uniform-int{bits}]",
            "gate": "assert_no_bias_amplification",
            "method": f"uniform-int{bits}",
            "comparison": _comparison((0.0, 0.001 * bits, 0.002 * bits), "pass"),
        }
        for bits in range(2, 14)
    ]
    return _report(records)


@pytest.mark.parametrize("which", ["fixture", "crowded"])
def test_no_two_labels_of_a_plot_overlap(report: dict[str, Any], which: str) -> None:
    pytest.importorskip("matplotlib")
    from pytest_fairquant.report.html import plots

    drawn = plots(report if which == "fixture" else _crowded_report())
    assert drawn and {p.title: _labels_overlapping(p.figure) for p in drawn} == {
        p.title: [] for p in drawn
    }


def test_label_spread_keeps_order_and_spacing() -> None:
    import itertools

    from pytest_fairquant.report.html import spread

    placed = spread([0.5, 0.5, 0.52, 0.99, 0.1], 0.1)
    assert placed[4] == 0.1  # alone: where it was asked
    ordered = sorted(placed[:4])
    assert all(b - a >= 0.1 - 1e-12 for a, b in itertools.pairwise(ordered))
    assert max(placed) <= 1.0


def test_a_method_keeps_one_colour_in_every_plot(report: dict[str, Any]) -> None:
    pytest.importorskip("matplotlib")
    from matplotlib.colors import to_hex
    from matplotlib.patches import Patch

    from pytest_fairquant.report.html import method_colours, plots, rows_of

    colours = method_colours(rows_of(report))
    assert len(set(colours.values())) == len(colours)
    seen: dict[str, set[str]] = {}
    for plot in plots(report):
        ax = plot.figure.axes[0]
        handles, labels = ax.get_legend_handles_labels()
        for handle, label in zip(handles, labels, strict=True):
            # Bars and error bars come as containers (tuples): their first artist has the colour.
            artist = handle[0] if isinstance(handle, tuple) else handle
            colour = artist.get_facecolor() if isinstance(artist, Patch) else artist.get_color()
            seen.setdefault(label, set()).add(to_hex(colour))
        for text in ax.texts:  # the scatter's point labels
            seen.setdefault(text.get_text(), set()).add(to_hex(text.get_color()))
    assert {"dense", "uniform-int2", "global-magnitude-0.9"} <= set(seen)
    assert {m: c for m, c in seen.items() if m in colours} == {
        m: {colours[m]} for m in seen if m in colours
    }


def test_sweeps_tick_at_the_parameter_values_and_a_change_plot_has_no_dense_line(
    report: dict[str, Any],
) -> None:
    pytest.importorskip("matplotlib")
    from pytest_fairquant.report.html import plots

    sweeps = {p.title: p.figure.axes[0] for p in plots(report) if p.title.startswith("Sweep")}
    ints = sweeps["Sweep: uniform-int — race, fvo"]
    assert [t.get_text() for t in ints.get_xticklabels()] == ["2", "4", "8"]
    assert list(ints.get_xticks()) == [2.0, 4.0, 8.0]
    assert ints.get_legend_handles_labels()[1] == ["dense"]  # the dense FVO is a real level
    magnitude = sweeps["Sweep: global-magnitude — race, fvo"]
    assert [t.get_text() for t in magnitude.get_xticklabels()] == ["0.5", "0.9"]
    # accuracy_drop has no per-model value: the sweep plots the change, whose zero is an axis.
    drops = json.loads(json.dumps(report))
    for entry in drops["comparisons"]:
        entry["comparison"].update(gap="accuracy_drop", base_gap=None, compressed_gap=None)
    change = next(p for p in plots(drops) if p.title == "Sweep: uniform-int — race, accuracy_drop")
    ax = change.figure.axes[0]
    assert ax.get_ylabel() == "accuracy_drop (change from dense)"
    assert ax.get_legend_handles_labels()[1] == [] and "dashed" not in change.caption
