"""The model repo of this example: a small CNN on scikit-learn's 8×8 digits, with a planted group.

The identity attribute is synthetic, in the style of paper 004's backdoor experiments
(Iofinova et al., sec. 3.4): a fixed visual transformation, here inverting the image
(``x -> 1 - x``), applied to a skewed share of the samples: 10% of the training set, half of
the evaluation set (paper 004 keeps an even ratio on the test set). The inverted digits are a
minority the network sees little of, so its features for them are the first to break when the
weights are compressed: the group compression hurts more.

The network trains deterministically in a few seconds on one CPU thread (in float64, weights
rounded to a 2**-16 grid so that other CPUs get the same float32 weights); the trained weights are
cached under ``.fairquant_cache/`` keyed by a hash of this file, so editing the training code or
the seed retrains it and nothing else does.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch
from sklearn.datasets import load_digits

from pytest_fairquant import DemographicSplit

SEED = 0
N_TRAIN = 1100
#: Share of inverted images in training (the minority) and in evaluation (balanced groups).
TRAIN_INVERTED_SHARE = 0.10
EVAL_INVERTED_SHARE = 0.50
EPOCHS = 20
CACHE_DIR = Path(__file__).parent / ".fairquant_cache" / "models"


class DigitsCNN(torch.nn.Module):
    """Two 3×3 convolutions, one pooling, a 64-unit hidden layer; about 45k weights."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = torch.nn.Conv2d(1, 16, 3, padding=1)
        self.conv2 = torch.nn.Conv2d(16, 32, 3, padding=1)
        self.hidden = torch.nn.Linear(32 * 4 * 4, 64)
        self.out = torch.nn.Linear(64, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(self.conv1(x))
        x = torch.nn.functional.max_pool2d(x, 2)
        x = torch.relu(self.conv2(x))
        return self.out(torch.relu(self.hidden(x.flatten(1))))


def _data() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Images (n, 1, 8, 8) in [0, 1] with the planted inversion applied, labels, inverted flags."""
    x, y = load_digits(return_X_y=True)
    rng = np.random.default_rng(SEED)
    order = rng.permutation(len(y))
    x = (x[order] / 16.0).astype(np.float32).reshape(-1, 1, 8, 8)
    y = y[order].astype(np.int64)
    share = np.where(np.arange(len(y)) < N_TRAIN, TRAIN_INVERTED_SHARE, EVAL_INVERTED_SHARE)
    inverted = rng.random(len(y)) < share
    x[inverted] = 1.0 - x[inverted]
    return x, y, inverted


#: Trained weights are rounded to multiples of 2**-16 before they are cast to float32.
GRID = 2.0**-16


BATCH = 64
#: Recovery fine-tuning (``fairquant_finetune = digits_model:finetune``): Adam at a third of
#: the training rate, so a few hundred steps repair a compressed model without retraining it.
FINETUNE_LR = 1e-3


def _fit(
    model: torch.nn.Module, inputs: torch.Tensor, labels: torch.Tensor, steps: int, lr: float
) -> list[float]:
    """``steps`` Adam steps on batches of 64 in seeded epochs (reshuffled each pass) on one
    thread; the loss of every step."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    order = torch.Generator().manual_seed(SEED)
    losses: list[float] = []
    model.train()
    try:
        while len(losses) < steps:
            perm = torch.randperm(len(labels), generator=order)
            for batch in perm.split(BATCH)[: steps - len(losses)]:
                optimizer.zero_grad()
                loss = torch.nn.functional.cross_entropy(model(inputs[batch]), labels[batch])
                loss.backward()
                optimizer.step()
                losses.append(loss.item())
    finally:
        torch.set_num_threads(threads)
    model.eval()
    return losses


def _train() -> DigitsCNN:
    """Train in float64 on one thread, then round the weights to a coarse grid.

    Float32 training on one thread still differs between CPUs in the last bits (the vector
    width of the kernels changes summation order), and 20 epochs amplify that into different
    models. In float64 those differences should stay orders of magnitude below the 2**-16
    grid, so the rounded float32 weights match across machines (checked on one machine only:
    a weight within rounding of a grid midpoint could still differ by one step).
    """
    x, y, _ = _data()
    torch.manual_seed(SEED)
    model = DigitsCNN().double()
    inputs = torch.from_numpy(x[:N_TRAIN]).double()
    steps = EPOCHS * -(-N_TRAIN // BATCH)
    _fit(model, inputs, torch.from_numpy(y[:N_TRAIN]), steps, lr=3e-3)
    with torch.no_grad():
        for param in model.parameters():
            param.copy_(torch.round(param / GRID) * GRID)
    return model.float().eval()


def finetune(model: torch.nn.Module, data: DemographicSplit, steps: int) -> dict[str, float]:
    """Recovery fine-tuning of a compressed variant: the training loop (:func:`_fit`) for
    ``steps`` steps at :data:`FINETUNE_LR` on ``data`` (:func:`training_split`, or the part
    ``fairquant_calibration_size`` sets aside under the plugin), in the variant's own dtype.
    Returns the mean loss of the first and last 10 steps, which fairquant records."""
    inputs = data.input_batch(np.arange(len(data)))
    labels = torch.tensor(np.asarray(data.labels), dtype=torch.int64)
    losses = _fit(model, inputs, labels, steps, lr=FINETUNE_LR)
    return {
        "loss_before": float(np.mean(losses[:10])),
        "loss_after": float(np.mean(losses[-10:])),
    }


def _cache_key() -> str:
    code = Path(__file__).read_bytes() + torch.__version__.encode()
    return hashlib.sha256(code).hexdigest()[:16]


def load_model() -> DigitsCNN:
    """The trained CNN, from the cache when this exact training code already ran."""
    path = CACHE_DIR / f"digits-cnn-{_cache_key()}.pt"
    if path.exists():
        model = DigitsCNN()
        model.load_state_dict(torch.load(path, weights_only=True))
        return model.eval()
    model = _train()
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save(model.state_dict(), tmp)
    tmp.replace(path)  # atomic: parallel workers never read half a file
    return model


def _split(rows: slice, name: str) -> DemographicSplit:
    x, y, inverted = _data()
    return DemographicSplit(
        y[rows],
        {"marker": np.where(inverted[rows], "inverted", "plain")},
        inputs=torch.from_numpy(x[rows]),
        class_names=[str(d) for d in range(10)],
        name=name,
        metadata={"planted": "synthetic: image inversion on 10% of training, 50% of evaluation"},
    )


def load_split() -> DemographicSplit:
    """The held-out digits, with ``marker`` = inverted (the planted minority) or plain."""
    return _split(slice(N_TRAIN, None), "digits-eval")


def training_split() -> DemographicSplit:
    """The 1,100 digits the model trained on (10% inverted): data for :func:`finetune` and
    calibration that never touches an evaluated sample."""
    return _split(slice(None, N_TRAIN), "digits-train")
