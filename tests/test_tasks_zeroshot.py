"""ZeroShotTask and the CLIP adapter, on fake CLIP-like modules whose answers are known."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from fixtures_datasets import write_facet

from pytest_fairquant.data.facet import FACET_CLASSES, read_facet
from pytest_fairquant.data.split import DemographicSplit
from pytest_fairquant.errors import InputError
from pytest_fairquant.tasks.base import Task
from pytest_fairquant.tasks.clip import (
    MSG_NO_TOKENIZER,
    MSG_NOT_IMAGES,
    ClipAdapter,
    detect_family,
    image_transform,
)
from pytest_fairquant.tasks.zeroshot import (
    MSG_BAD_TEMPLATE,
    MSG_DUPLICATE_CLASSES,
    MSG_LOGIT_SCALE,
    MSG_NO_CLASSES,
    MSG_NO_PRED,
    MSG_UNKNOWN_TEMPLATES,
    PAPER000_FACET_COMPARISONS,
    TEMPLATE_SETS,
    GroupComparison,
    ZeroShotTask,
    recall_disparities,
)

CLASSES = ("cat", "dog", "car")


class WordTokenizer:
    """Token id = index of the first known class word in the text (fake, but deterministic)."""

    def __init__(self, words: tuple[str, ...]) -> None:
        self.words = words

    def __call__(self, texts: list[str]) -> torch.Tensor:
        ids = [next(i for i, w in enumerate(self.words) if w in t) for t in texts]
        return torch.tensor(ids)[:, None]


class FakeOpenClip(torch.nn.Module):
    """Image embedding = per-channel mean; text embedding = one-hot of the class word.

    So an image whose channel c is brightest is closest to class c's prompts.
    """

    def __init__(self) -> None:
        super().__init__()
        self.logit_scale = torch.nn.Parameter(torch.tensor(np.log(100.0), dtype=torch.float32))
        self.text_calls = 0
        self.image_calls = 0

    def encode_image(self, pixels: torch.Tensor) -> torch.Tensor:
        self.image_calls += 1
        return pixels.mean(dim=(2, 3))

    def encode_text(self, ids: torch.Tensor) -> torch.Tensor:
        self.text_calls += 1
        return torch.nn.functional.one_hot(ids[:, 0], 3).float()


class FakeHFOutput:
    def __init__(self, pooled: torch.Tensor) -> None:
        self.pooler_output = pooled


class FakeHFClip(FakeOpenClip):
    """The Hugging Face face of the same model, returning transformers 5.x output objects."""

    def get_image_features(self, pixel_values: torch.Tensor) -> FakeHFOutput:
        return FakeHFOutput(self.encode_image(pixel_values))

    def get_text_features(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None
    ) -> FakeHFOutput:
        return FakeHFOutput(self.encode_text(input_ids))


def images_for(classes: list[int]) -> torch.Tensor:
    x = torch.rand(len(classes), 3, 4, 4) * 0.1
    for i, c in enumerate(classes):
        x[i, c] += 1.0
    return x


def run(
    task: ZeroShotTask, model: torch.nn.Module, images: torch.Tensor, batch_size: int = 2
) -> np.ndarray:
    forward = task.bind(model, torch.device("cpu"))
    return np.concatenate(
        [
            forward(task.collate(images[i : i + batch_size])).numpy()
            for i in range(0, len(images), batch_size)
        ]
    )


@pytest.mark.parametrize("model_cls", [FakeOpenClip, FakeHFClip])
def test_zero_shot_predicts_the_brightest_channel_class(model_cls: type[FakeOpenClip]) -> None:
    truth = [2, 0, 1, 1, 0, 2, 2]
    task = ZeroShotTask(CLASSES, "person", tokenizer=WordTokenizer(CLASSES))
    model = model_cls()
    scores = run(task, model, images_for(truth))
    pred, probs = task.finalize(scores)
    assert pred.tolist() == truth
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)
    assert isinstance(task, Task) and task.kind == "multiclass"
    assert detect_family(model) == ("hf" if model_cls is FakeHFClip else "open_clip")


def test_logits_are_scaled_cosine_similarities() -> None:
    images = images_for([0, 1])
    task = ZeroShotTask(CLASSES, tokenizer=WordTokenizer(CLASSES))
    scores = run(task, FakeOpenClip(), images)
    feats = images.mean(dim=(2, 3))
    cosine = (feats / feats.norm(dim=1, keepdim=True)).numpy()  # class embeddings are the unit axes
    np.testing.assert_allclose(scores, 100.0 * cosine, rtol=1e-5)
    fixed = run(
        ZeroShotTask(CLASSES, tokenizer=WordTokenizer(CLASSES), logit_scale=1.0),
        FakeOpenClip(),
        images,
    )
    np.testing.assert_allclose(fixed, cosine, rtol=1e-5)


def test_text_embeddings_are_computed_once_per_bind() -> None:
    model = FakeOpenClip()
    task = ZeroShotTask(
        CLASSES,
        TEMPLATE_SETS["openai-imagenet-7"],
        tokenizer=WordTokenizer(CLASSES),
        text_batch_size=8,
    )
    n_prompts = len(CLASSES) * 7
    forward = task.bind(model, torch.device("cpu"))
    assert model.text_calls == -(-n_prompts // 8)
    for _ in range(5):
        forward(images_for([0, 1, 2]))
    assert model.text_calls == -(-n_prompts // 8)
    assert model.image_calls == 5
    task.bind(model, torch.device("cpu"))
    assert model.text_calls == 2 * -(-n_prompts // 8)


def test_prompts_are_templates_times_classes_class_major() -> None:
    task = ZeroShotTask(("a", "b"), ("x {}.", "y {}!"), tokenizer=WordTokenizer(("a", "b")))
    assert task.prompts == ("x a.", "y a!", "x b.", "y b!")
    assert task.kind == "binary"
    facet_style = ZeroShotTask(("soccer_player", "nurse"), prompt_names={"nurse": "hospital nurse"})
    assert facet_style.prompts == ("a photo of a soccer player.", "a photo of a hospital nurse.")


def test_fingerprint_changes_with_every_setting() -> None:
    tok = WordTokenizer(CLASSES)
    base = ZeroShotTask(CLASSES, tokenizer=tok)
    variants = [
        ZeroShotTask(("cat", "dog", "bus"), tokenizer=tok),
        ZeroShotTask(CLASSES, "person", tokenizer=tok),
        ZeroShotTask(CLASSES, tokenizer=tok, normalize=False),
        ZeroShotTask(CLASSES, tokenizer=tok, logit_scale=50.0),
        ZeroShotTask(CLASSES, tokenizer=tok, family="hf"),
        ZeroShotTask(CLASSES, tokenizer=None),
        ZeroShotTask(CLASSES, tokenizer=tok, prompt_names={"car": "automobile"}),
    ]
    prints = {base.fingerprint(), *(v.fingerprint() for v in variants)}
    assert len(prints) == 1 + len(variants)
    assert ZeroShotTask(CLASSES, tokenizer=tok).fingerprint() == base.fingerprint()


def test_preprocess_applies_per_item_and_non_images_are_refused() -> None:
    task = ZeroShotTask(
        CLASSES, tokenizer=WordTokenizer(CLASSES), preprocess=lambda c: images_for([c])[0]
    )
    assert task.collate([0, 2]).shape == (2, 3, 4, 4)
    with pytest.raises(InputError) as info:
        ZeroShotTask(CLASSES, tokenizer=WordTokenizer(CLASSES)).collate(["img.jpg"])
    assert str(info.value) == MSG_NOT_IMAGES.format(kind="str")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"class_names": ["cat"]}, MSG_NO_CLASSES),
        ({"class_names": ["cat", "cat", "dog"]}, MSG_DUPLICATE_CLASSES.format(dupes=["cat"])),
        (
            {"class_names": CLASSES, "templates": "nope"},
            MSG_UNKNOWN_TEMPLATES.format(name="nope", known=sorted(TEMPLATE_SETS)),
        ),
        (
            {"class_names": CLASSES, "templates": ["no slot"]},
            MSG_BAD_TEMPLATE.format(template="no slot"),
        ),
        ({"class_names": CLASSES, "logit_scale": -1.0}, MSG_LOGIT_SCALE.format(value=-1.0)),
    ],
)
def test_bad_settings_are_refused_with_the_reason(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(InputError) as info:
        ZeroShotTask(**kwargs)  # type: ignore[arg-type]
    assert str(info.value) == message


def test_unknown_models_and_missing_tokenizers_say_what_to_pass() -> None:
    with pytest.raises(InputError, match="encode_image/encode_text"):
        detect_family(torch.nn.Linear(2, 2))
    with pytest.raises(InputError) as info:
        ClipAdapter.wrap(FakeOpenClip())
    assert str(info.value).startswith(
        MSG_NO_TOKENIZER.split("{detail}")[0].format(family="open_clip")
    )


def test_recall_disparities_name_the_classes_behind_min_and_max() -> None:
    rng = np.random.default_rng(0)
    n = 400
    labels = rng.integers(0, 3, size=n)
    gender = rng.choice(["masc", "fem"], size=n)
    # Class "dog" is recalled perfectly for masc and never for fem; other classes equally for both.
    pred = labels.copy()
    pred[(labels == 1) & (gender == "fem")] = 0
    split = DemographicSplit(labels, {"gender_presentation": gender}, class_names=CLASSES)
    comp = GroupComparison("gender_presentation", "masc", "fem", "Gender (MF)")
    (result,) = recall_disparities(pred, split, [comp], min_group_count=25)
    assert result.max_disparity == pytest.approx(1.0) and result.max_class == "dog"
    assert result.min_disparity == pytest.approx(0.0) and result.min_class in ("cat", "car")
    assert set(result.per_class) == set(CLASSES)
    d = result.to_dict()
    assert d["comparison"] == "Gender (MF)" and d["max_class"] == "dog"
    strict = recall_disparities(pred, split, [comp], min_group_count=10_000)[0]
    assert np.isnan(strict.max_disparity) and strict.max_disparity.reason == "no_eligible_classes"  # type: ignore[attr-defined]
    with pytest.raises(InputError) as info:
        recall_disparities(None, split, [comp])
    assert str(info.value) == MSG_NO_PRED


def test_paper000_comparisons_fit_the_facet_reader(tmp_path: Path) -> None:
    # Five classes: coprime with the fixture's gender (2), skin (4) and age (3) cycles.
    write_facet(tmp_path, n=60, classes=FACET_CLASSES[:5])
    split = read_facet(tmp_path)
    pred = split.labels.copy()
    results = recall_disparities(pred, split, PAPER000_FACET_COMPARISONS, min_group_count=1)
    assert [r.comparison.name for r in results] == [
        "Gender (MF)",
        "Skin Tone (LD)",
        "Age (MY)",
        "Age (MO)",
    ]
    assert all(
        r.max_disparity == 0.0 and r.min_disparity == 0.0 and len(r.per_class) == 5 for r in results
    )


def test_hf_image_processor_becomes_a_picklable_per_item_transform() -> None:
    import pickle

    from PIL import Image
    from transformers import CLIPImageProcessor

    processor = CLIPImageProcessor(
        size={"shortest_edge": 16}, crop_size={"height": 16, "width": 16}
    )
    transform = image_transform(processor)
    image = Image.fromarray(np.random.default_rng(0).integers(0, 255, (20, 24, 3), dtype=np.uint8))
    out = transform(image)
    assert tuple(out.shape) == (3, 16, 16)
    clone = pickle.loads(pickle.dumps(transform))
    assert torch.equal(clone(image), out) and clone.fingerprint == transform.fingerprint
    assert image_transform(processor).fingerprint == transform.fingerprint
    torchvision_style = lambda img: img  # noqa: E731 - open_clip's preprocess is used as is
    assert image_transform(torchvision_style) is torchvision_style


def test_open_clip_blocks_with_integer_mlp_weights_get_their_float_dtype_recorded() -> None:
    from collections import OrderedDict

    class Block(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.ln_1 = torch.nn.LayerNorm(4)
            self.mlp = torch.nn.Sequential(OrderedDict([("c_fc", torch.nn.Linear(4, 4))]))
            self.mlp.c_fc.weight = torch.nn.Parameter(
                torch.zeros(4, 4, dtype=torch.int8), requires_grad=False
            )

    model = FakeOpenClip()
    model.block = Block()
    model.dense_block = Block()
    model.dense_block.mlp.c_fc.weight = torch.nn.Parameter(torch.zeros(4, 4))
    ClipAdapter.wrap(model, tokenizer=WordTokenizer(CLASSES))
    # open_clip casts text inputs to this dtype; the int8 weight's own dtype would break it.
    assert model.block.mlp.c_fc.int8_original_dtype == torch.float32
    assert not hasattr(model.dense_block.mlp.c_fc, "int8_original_dtype")
