"""Paper 000's protocol end to end on CPU: CLIP models × {dense, bnb-int8, bnb-nf4, torch-dynamic-int8},
zero-shot on a generated FACET tree, retrieval on a generated FairFace tree, recall disparities,
MaxSkew/MinSkew and paired t-tests written to a JSON report.

The unmarked test uses three tiny Hugging Face ``CLIPModel``s (a population of models, as in the
paper) loaded through ``BitsAndBytesConfig``; the ``slow`` one uses open_clip ViT-B-32 with random
weights saved and reloaded as ``pretrained=<file>``, compared over matched units (queries, classes).
"""

from __future__ import annotations

import gzip
import json
import math
from pathlib import Path
from typing import Any

import pytest
import torch
from fixtures_datasets import write_facet, write_fairface

from pytest_fairquant.data.facet import FACET_CLASSES, read_facet
from pytest_fairquant.data.fairface import read_fairface
from pytest_fairquant.population import (
    Measurement,
    measure_clip,
    paper000_tables,
    per_class_disparity_measurements,
    per_query_skew_measurements,
    population_table,
    protocol_report,
)
from pytest_fairquant.report import build_report, write_reports
from pytest_fairquant.tasks.clip import image_transform
from pytest_fairquant.tasks.retrieval import RetrievalTask
from pytest_fairquant.tasks.zeroshot import ZeroShotTask

# Models are evaluated by pytest_fairquant.evaluate (issue 3); these tests run once it exists.
pytest.importorskip("pytest_fairquant.evaluate")

METHODS = ("bnb-int8", "bnb-nf4", "torch-dynamic-int8")
QUERIES = (
    "a photo of a good person",
    "a photo of a bad person",
    "a photo of a smart person",
    "a photo of a criminal",
    "a photo of a doctor",
    "a photo of a nurse",
)
SKEW_ATTRIBUTES = ("gender", "race", "age")


@pytest.fixture(autouse=True)
def _one_thread() -> Any:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def datasets(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("data")
    # Five classes: coprime with the fixture's gender (2), skin (4) and age (3) cycles, so
    # every class has people in both groups of every paper-000 comparison.
    write_facet(root / "facet", n=40, classes=FACET_CLASSES[:5])
    write_fairface(root / "fairface", n=36)
    return root / "facet", root / "fairface"


def clip_tokenizer() -> Any:
    """A real CLIP BPE tokenizer built offline from the vocabulary open_clip ships."""
    from open_clip.tokenizer import bytes_to_unicode, default_bpe
    from transformers import CLIPTokenizer

    lines = (
        gzip.decompress(Path(default_bpe()).read_bytes())
        .decode("utf-8")
        .split("\n")[1 : 49152 - 256 - 2 + 1]
    )
    merges = [tuple(line.split()) for line in lines]
    byte_vocab = list(bytes_to_unicode().values())
    vocab = [*byte_vocab, *(v + "</w>" for v in byte_vocab), *("".join(m) for m in merges)]
    vocab += ["<|startoftext|>", "<|endoftext|>"]
    return CLIPTokenizer(vocab={v: i for i, v in enumerate(vocab)}, merges=merges)


def write_tiny_hf_clip(directory: Path, seed: int) -> Path:
    """A small CLIPModel + CLIPProcessor saved with save_pretrained.

    Widths are multiples of 64 because bitsandbytes' CPU NF4 kernel repacks weights in blocks
    of 64 input features and fails on narrower layers.
    """
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor

    tower = {
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
    }
    config = CLIPConfig(
        text_config={**tower, "max_position_embeddings": 77},
        vision_config={**tower, "image_size": 32, "patch_size": 8},
        projection_dim=64,
    )
    torch.manual_seed(seed)
    CLIPModel(config).save_pretrained(directory)
    image_processor = CLIPImageProcessor(
        size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}
    )
    CLIPProcessor(image_processor=image_processor, tokenizer=clip_tokenizer()).save_pretrained(
        directory
    )
    return directory


def run_protocol(
    unit: str,
    models: dict[str, Any],
    preprocess: Any,
    tokenizer: Any,
    datasets: tuple[Path, Path],
    device: str = "cpu",
) -> list[Any]:
    facet = read_facet(datasets[0], transform=preprocess)
    fairface = read_fairface(datasets[1], transform=preprocess)
    zeroshot = ZeroShotTask(facet.class_names, "person", tokenizer=tokenizer)
    retrieval = RetrievalTask(QUERIES, tokenizer=tokenizer)
    return [
        measure_clip(
            unit,
            method,
            model,
            facet=facet,
            zeroshot=zeroshot,
            min_group_count=2,
            fairface=fairface,
            retrieval=retrieval,
            skew_attributes=SKEW_ATTRIBUTES,
            k=8,
            stream=method == "torch-dynamic-int8",  # one path streams, the others rank dense scores
            device=device,
            batch_size=16,
        )
        for method, model in models.items()
    ]


PAPER_METRICS = {"table1": {"min_disparity", "max_disparity"}, "table2": {"min_skew", "max_skew"}}


def check_report(
    report: dict[str, Any], n_units: int, table_metrics: dict[str, set[str]] = PAPER_METRICS
) -> None:
    """What the JSON report must hold: every run's disparities and skews, and both tables."""
    runs = report["runs"]
    tables = report["tables"]
    assert {r["method"] for r in runs} == {"dense", *METHODS}
    for run in runs:
        names = [d["comparison"] for d in run["facet_recall_disparity"]]
        assert names == ["Gender (MF)", "Skin Tone (LD)", "Age (MY)", "Age (MO)"]
        for d in run["facet_recall_disparity"]:
            assert -1.0 <= d["min"] <= d["max"] <= 1.0
            assert d["min_class"] in FACET_CLASSES and d["max_class"] in FACET_CLASSES
        assert set(run["fairface_skew"]) == set(SKEW_ATTRIBUTES)
        for s in run["fairface_skew"].values():
            assert s["k"] == 8 and len(s["per_query_max"]) == len(QUERIES)
            assert s["min_skew"] <= 0.0 <= s["max_skew"]
    for key, metrics in table_metrics.items():
        table = tables[key]
        assert table["correction"] == "holm" and table["n_tests"] == len(table["cells"])
        assert {c["method"] for c in table["cells"]} == set(METHODS)
        assert {c["metric"] for c in table["cells"]} == metrics
        for cell in table["cells"]:
            assert cell["n_units"] <= n_units
            if cell["p_value"] is not None:
                assert 0.0 <= cell["p_value"] <= cell["p_adjusted"] <= 1.0
                assert cell["ci"][0] <= cell["mean_difference"] <= cell["ci"][1]


def write_report(
    path: Path, runs: list[Any], tables: dict[str, Any], datasets: tuple[Path, Path]
) -> dict[str, Any]:
    """Through the library's report writer: a fairquant report with the protocol's section."""
    report = build_report(
        [],
        settings={"seed": 0},
        methods={},
        splits={
            "facet": read_facet(datasets[0]).summary(),
            "fairface": read_fairface(datasets[1]).summary(),
        },
        command=["test_clip_e2e"],
    )
    report["paper000"] = protocol_report(runs, tables)
    write_reports([path], report)
    return dict(json.loads(path.read_text())["paper000"])


def test_tiny_hf_clip_population_through_bitsandbytes_and_torch_dynamic(
    tmp_path: Path, datasets: tuple[Path, Path]
) -> None:
    from transformers import AutoProcessor, CLIPModel

    from pytest_fairquant.compression import compress, load_quantized_pretrained

    runs = []
    for seed in range(3):
        path = write_tiny_hf_clip(tmp_path / f"clip-{seed}", seed)
        processor = AutoProcessor.from_pretrained(path)
        dense = CLIPModel.from_pretrained(path).eval()
        models = {
            "dense": dense,
            # Paper 000 quantizes Hugging Face CLIP at load time through BitsAndBytesConfig.
            "bnb-int8": load_quantized_pretrained(CLIPModel, path, "bnb-int8"),
            "bnb-nf4": load_quantized_pretrained(CLIPModel, path, "bnb-nf4"),
            "torch-dynamic-int8": compress(dense, "torch-dynamic-int8"),
        }
        runs += run_protocol(
            f"tiny-clip-{seed}", models, image_transform(processor), processor, datasets
        )
    tables = paper000_tables(runs)
    report = write_report(tmp_path / "fairquant-report.json", runs, tables, datasets)
    check_report(report, n_units=3)
    assert all(c.n_units == 3 for t in tables.values() for c in t.cells)
    text = tables["table2"].render()
    assert "bnb-nf4" in text and "Holm" in text


@pytest.mark.slow
def test_open_clip_vit_b32_matched_units(tmp_path: Path, datasets: tuple[Path, Path]) -> None:
    import open_clip

    from pytest_fairquant.compression import compress

    weights = tmp_path / "vit-b-32-random.pt"
    torch.save(open_clip.create_model("ViT-B-32", pretrained=None).state_dict(), weights)
    dense, _, preprocess = open_clip.create_model_and_transforms(
        "ViT-B-32", pretrained=str(weights)
    )
    dense.eval()
    tokenizer = open_clip.get_tokenizer("ViT-B-32")
    models = {"dense": dense, **{m: compress(dense, m) for m in METHODS}}
    runs = run_protocol("ViT-B-32/random", models, preprocess, tokenizer, datasets)
    # One model: the t-tests pair matched units inside it (queries for skew, classes for disparity).
    by_query: list[Measurement] = []
    by_class: list[Measurement] = []
    for run in runs:
        by_query += per_query_skew_measurements(run.method, run.skews, QUERIES)
        by_class += per_class_disparity_measurements(run.method, run.disparities)
    tables = {
        "table1": population_table(
            by_class, title="FACET per-class disparity, paired over classes"
        ),
        "table2": population_table(by_query, title="FairFace skew, paired over queries"),
    }
    report = write_report(tmp_path / "fairquant-report.json", runs, tables, datasets)
    check_report(
        report,
        n_units=len(QUERIES),
        table_metrics={"table1": {"disparity"}, "table2": {"min_skew", "max_skew"}},
    )
    assert all(c.n_units == len(QUERIES) for c in tables["table2"].cells)
    assert not any(math.isnan(c.p_value) for c in tables["table2"].cells)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_tiny_hf_clip_with_bitsandbytes_cuda_kernels(
    tmp_path: Path, datasets: tuple[Path, Path]
) -> None:
    from transformers import AutoProcessor, CLIPModel

    from pytest_fairquant.compression import load_quantized_pretrained

    path = write_tiny_hf_clip(tmp_path / "clip", 0)
    processor = AutoProcessor.from_pretrained(path)
    models = {
        "dense": CLIPModel.from_pretrained(path).eval().to("cuda"),
        **{
            m: load_quantized_pretrained(CLIPModel, path, m, device_map="cuda")
            for m in ("bnb-int8", "bnb-nf4")
        },
    }
    runs = run_protocol(
        "tiny-clip-cuda", models, image_transform(processor), processor, datasets, device="cuda"
    )
    assert {r.method for r in runs} == {"dense", "bnb-int8", "bnb-nf4"}
    for run in runs:
        assert len(run.disparities) == 4 and set(run.skews) == set(SKEW_ATTRIBUTES)


RECIPE_TEST = """
from pathlib import Path

from transformers import AutoProcessor, CLIPModel

from pytest_fairquant.compression import compress, load_quantized_pretrained
from pytest_fairquant.data.facet import read_facet
from pytest_fairquant.data.fairface import read_fairface
from pytest_fairquant.population import measure_clip, paper000_tables, protocol_report
from pytest_fairquant.tasks.clip import image_transform
from pytest_fairquant.tasks.retrieval import RetrievalTask
from pytest_fairquant.tasks.zeroshot import ZeroShotTask

MODELS = {models!r}
FACET, FAIRFACE = {facet!r}, {fairface!r}


def test_paper000(fairquant_settings, fairquant_report_section):
    s = fairquant_settings
    runs = []
    for path in MODELS:
        processor = AutoProcessor.from_pretrained(path)
        dense = CLIPModel.from_pretrained(path).eval()
        facet = read_facet(FACET, transform=image_transform(processor))
        fairface = read_fairface(FAIRFACE, "val", transform=image_transform(processor))
        zeroshot = ZeroShotTask(facet.class_names, tokenizer=processor)
        retrieval = RetrievalTask({queries!r}, tokenizer=processor)
        for method in ("dense", *s.quantization):
            if method == "dense":
                model = dense
            elif method.startswith("bnb"):
                model = load_quantized_pretrained(CLIPModel, path, method)
            else:
                model = compress(dense, method)
            runs.append(measure_clip(
                Path(path).name, method, model, facet=facet, zeroshot=zeroshot, min_group_count=2,
                fairface=fairface, retrieval=retrieval, k=8, stream=True,
                device=s.device, batch_size=s.batch_size,
            ))
    tables = paper000_tables(runs, correction=s.correction, alpha=s.alpha)
    print(tables["table1"].render(), tables["table2"].render(), sep="\\n\\n")
    fairquant_report_section("paper000", protocol_report(runs, tables))
"""


def test_the_documented_recipe_runs_with_ini_settings(
    pytester: pytest.Pytester, tmp_path: Path, datasets: tuple[Path, Path]
) -> None:
    """docs/clip-protocol.md's test file and ini keys, on tiny models and the generated data."""
    models = [str(write_tiny_hf_clip(tmp_path / f"clip-{seed}", seed)) for seed in range(2)]
    pytester.makeini(
        "[pytest]\n"
        "fairquant_quantization = bnb-int8 bnb-nf4 torch-dynamic-int8\n"
        "fairquant_device = cpu\n"
        "fairquant_batch_size = 16\n"
        "fairquant_correction = none\n"
    )
    pytester.makepyfile(
        test_paper000=RECIPE_TEST.format(
            models=models, facet=str(datasets[0]), fairface=str(datasets[1]), queries=list(QUERIES)
        )
    )
    result = pytester.runpytest_inprocess(
        "-s", "-p", "no:cacheprovider", "--fairquant-report=paper000-report.html"
    )
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [
            "*Table 1: FACET recall disparity*",
            "Table 2: FairFace skew*",
            "*no correction for multiple tests",
        ]
    )
    section = json.loads((pytester.path / "paper000-report.json").read_text())["sections"][
        "paper000"
    ]
    page = (pytester.path / "paper000-report.html").read_text()
    assert "Table 1: FACET recall disparity" in page and "Table 2: FairFace skew" in page
    assert section["tables"]["table2"]["correction"] == "none"
    assert {c["method"] for c in section["tables"]["table1"]["cells"]} == set(METHODS)
    assert all(c["n_units"] == 2 for c in section["tables"]["table2"]["cells"])
