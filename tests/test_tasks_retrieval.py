"""RetrievalTask, the streaming top-k against the dense ranking, and skew from either."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from test_tasks_zeroshot import CLASSES, FakeHFClip, FakeOpenClip, WordTokenizer, images_for

from pytest_fairquant.data.split import DemographicSplit
from pytest_fairquant.errors import InputError
from pytest_fairquant.metrics import MSG_K
from pytest_fairquant.tasks.base import Task
from pytest_fairquant.tasks.retrieval import (
    MSG_BAD_K,
    MSG_NO_QUERIES,
    MSG_RANKING,
    MSG_SCORE_COLUMNS,
    RetrievalTask,
    dense_topk,
    iter_scores,
    retrieval_skew,
    stream_topk,
    streaming_topk,
)


def batches(scores: np.ndarray, size: int) -> list[np.ndarray]:
    return [scores[i : i + size] for i in range(0, len(scores), size)]


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(1, 40),
    q=st.integers(1, 4),
    k_frac=st.floats(0.01, 1.0),
    size=st.integers(1, 17),
    levels=st.integers(1, 5),
    seed=st.integers(0, 2**16),
)
def test_streaming_topk_equals_dense_including_ties(
    n: int, q: int, k_frac: float, size: int, levels: int, seed: int
) -> None:
    # Few distinct score levels force many ties, the case where batching could change the answer.
    scores = np.random.default_rng(seed).integers(0, levels, size=(n, q)).astype(np.float32)
    k = max(1, int(k_frac * n))
    np.testing.assert_array_equal(streaming_topk(batches(scores, size), k), dense_topk(scores, k))


def test_ties_at_the_kth_score_keep_exactly_k_by_index() -> None:
    scores = np.array([[0.5], [0.9], [0.5], [0.5], [0.1]])
    assert dense_topk(scores, 3).tolist() == [[1, 0, 2]]
    assert streaming_topk(batches(scores, 2), 3).tolist() == [[1, 0, 2]]


def test_streaming_topk_holds_at_most_k_plus_a_batch() -> None:
    seen: list[int] = []

    def gen() -> object:
        rng = np.random.default_rng(0)
        for _ in range(50):
            seen.append(1)
            yield rng.normal(size=(8, 3))

    top = streaming_topk(gen(), 5)
    assert top.shape == (3, 5) and len(seen) == 50 and top.max() < 400


@pytest.mark.parametrize("model_cls", [FakeOpenClip, FakeHFClip])
def test_retrieval_scores_are_cosine_similarities_to_each_query(
    model_cls: type[FakeOpenClip],
) -> None:
    queries = ["a photo of a dog", "a photo of a car", "a cat"]
    task = RetrievalTask(queries, tokenizer=WordTokenizer(CLASSES))
    images = images_for([0, 1, 2, 1])
    forward = task.bind(model_cls(), torch.device("cpu"))
    scores = forward(task.collate(images)).numpy()
    feats = images.mean(dim=(2, 3))
    cosine = (feats / feats.norm(dim=1, keepdim=True)).numpy()[:, [1, 2, 0]]
    np.testing.assert_allclose(scores, cosine, rtol=1e-5)
    assert task.finalize(scores) == (None, None)
    assert isinstance(task, Task) and task.kind == "retrieval"


def test_query_embeddings_are_computed_once_per_bind() -> None:
    model = FakeOpenClip()
    task = RetrievalTask(
        ["dog", "cat", "car", "dog"], tokenizer=WordTokenizer(CLASSES), text_batch_size=3
    )
    forward = task.bind(model, torch.device("cpu"))
    for _ in range(4):
        forward(images_for([0]))
    assert model.text_calls == 2 and model.image_calls == 4


def test_stream_topk_over_a_split_equals_dense_ranking_of_all_scores() -> None:
    truth = np.random.default_rng(1).integers(0, 3, size=23)
    images = images_for(truth.tolist())
    split = DemographicSplit(np.zeros(23, dtype=int), {"g": truth}, inputs=images)
    task = RetrievalTask(["dog", "cat"], tokenizer=WordTokenizer(CLASSES))
    model = FakeOpenClip()
    dense = np.concatenate(list(iter_scores(model, split, task, device="cpu", batch_size=100)))
    assert dense.shape == (23, 2)
    k = int((truth == 1).sum())
    streamed = stream_topk(model, split, task, k=k, device="cpu", batch_size=4)
    np.testing.assert_array_equal(streamed, dense_topk(dense, k))
    assert set(truth[streamed[0]].tolist()) == {1}  # the "dog" query finds the dog-channel images


def test_fingerprint_changes_with_queries_and_settings() -> None:
    tok = WordTokenizer(CLASSES)
    prints = {
        RetrievalTask(["a", "b"], tokenizer=tok).fingerprint(),
        RetrievalTask(["a", "c"], tokenizer=tok).fingerprint(),
        RetrievalTask(["b", "a"], tokenizer=tok).fingerprint(),
        RetrievalTask(["a", "b"], tokenizer=tok, normalize=False).fingerprint(),
        RetrievalTask(["a", "b"], tokenizer=None).fingerprint(),
    }
    assert len(prints) == 5
    assert (
        RetrievalTask(["a", "b"], tokenizer=tok).fingerprint()
        == RetrievalTask(["a", "b"], tokenizer=tok).fingerprint()
    )


def test_bad_inputs_name_the_problem() -> None:
    with pytest.raises(InputError) as info:
        RetrievalTask([])
    assert str(info.value) == MSG_NO_QUERIES
    with pytest.raises(InputError) as info:
        dense_topk(np.zeros((5, 2)), 6)
    assert str(info.value) == MSG_BAD_K.format(n=5, k=6)
    with pytest.raises(InputError) as info:
        streaming_topk([np.zeros((3, 2)), np.zeros((3, 4))], 2)
    assert str(info.value) == MSG_SCORE_COLUMNS.format(i=1, got=4, want=2)
    with pytest.raises(InputError) as info:
        streaming_topk([np.zeros((3, 2))], 4)
    assert str(info.value) == MSG_BAD_K.format(n=3, k=4)


def skew_split(groups: np.ndarray, **more: np.ndarray) -> DemographicSplit:
    return DemographicSplit(np.zeros(len(groups), dtype=int), {"g": groups, **more})


def test_skew_on_the_metrics_page_example_from_scores_and_from_topk() -> None:
    by_rank = np.array([0, 0, 1, 0, 1, 1, 0, 1, 0, 1])
    scores = np.linspace(1.0, 0.1, 10)[:, None]  # image i is ranked i-th for the one query
    split = skew_split(by_rank)
    for ranking in (scores, streaming_topk(batches(scores, 3), 4)):
        result = retrieval_skew(ranking, split, "g", k=4)["g"]
        assert result.max_skew == pytest.approx(np.log(1.5), abs=1e-12)
        assert result.min_skew == pytest.approx(np.log(0.5), abs=1e-12)


@pytest.mark.parametrize("reference", ["prior", "equal"])
def test_skew_from_streamed_topk_equals_skew_from_dense_scores(reference: str) -> None:
    rng = np.random.default_rng(7)
    n, q, k = 120, 6, 15
    scores = np.round(rng.normal(size=(n, q)), 1)  # rounding makes ties
    race = rng.choice(["a", "b", "c", "d"], size=n, p=[0.55, 0.25, 0.15, 0.05])
    split = skew_split(rng.choice(["x", "y"], size=n), race=race)
    dense = retrieval_skew(scores, split, ["g", "race"], k=k, reference=reference)  # type: ignore[arg-type]
    streamed = retrieval_skew(
        streaming_topk(batches(scores, 16), k), split, ["g", "race"], k=k, reference=reference
    )  # type: ignore[arg-type]
    for attribute in ("g", "race"):
        a, b = dense[attribute], streamed[attribute]
        assert (a.max_skew, a.min_skew, a.n_substituted) == (
            b.max_skew,
            b.min_skew,
            b.n_substituted,
        )
        np.testing.assert_array_equal(a.skew, b.skew)
        np.testing.assert_array_equal(a.desired, b.desired)
        assert a.values == b.values and len(a.per_query_max) == q


def test_skew_refuses_a_ranking_of_the_wrong_shape() -> None:
    split = skew_split(np.array([0, 1, 0]))
    with pytest.raises(InputError) as info:
        retrieval_skew(np.zeros((4, 2)), split, "g", k=1)
    assert str(info.value) == MSG_RANKING.format(n=3, shape=(4, 2))
    with pytest.raises(InputError) as info:
        retrieval_skew(np.zeros((2, 1), dtype=np.int64), split, "g", k=2)
    assert str(info.value) == MSG_K.format(n_items=1, got=2)
