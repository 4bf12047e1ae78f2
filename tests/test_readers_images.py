"""Lazy image inputs shared by every reader: loading, cropping, transforms, errors, fingerprints."""

from __future__ import annotations

import pickle
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from fixtures_datasets import write_facet, write_fairface
from PIL import Image

from pytest_fairquant.data import ImageRef, LoadImage, read_facet, read_fairface
from pytest_fairquant.data.images import (
    MSG_IMAGE_DECODE,
    MSG_IMAGE_MISSING,
    describe_transform,
    open_image,
)
from pytest_fairquant.errors import DataError


class Halve:
    """A user transform with a parameter, to tell fingerprints apart."""

    def __init__(self, factor: int = 2) -> None:
        self.factor = factor

    def __call__(self, image: Image.Image) -> np.ndarray:
        array = np.asarray(image)
        return array[:: self.factor, :: self.factor]


def to_array(image: Image.Image) -> np.ndarray:
    return np.asarray(image)


@pytest.fixture(scope="module")
def fairface(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_fairface(tmp_path_factory.mktemp("ff"), n=12).root


def test_reading_labels_opens_no_image(fairface: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("an image was opened while reading the labels")

    monkeypatch.setattr(Image, "open", refuse)
    split = read_fairface(fairface)
    assert len(split) == 12
    assert all(isinstance(p, str) and p.endswith(".jpg") for p in split.inputs)
    with pytest.raises(AssertionError, match="an image was opened"):
        split.get_input(0)


def test_inputs_load_through_the_user_transform(fairface: Path) -> None:
    split = read_fairface(fairface, transform=Halve())
    rows, batch = next(split.iter_batches(5))
    assert rows.tolist() == [0, 1, 2, 3, 4]
    assert [b.shape for b in batch] == [(16, 16, 3)] * 5
    assert batch[0].dtype == np.uint8


def test_torchvision_pipeline_gives_tensors(fairface: Path) -> None:
    transforms = pytest.importorskip("torchvision.transforms")
    preprocess = transforms.Compose([transforms.Resize(8), transforms.ToTensor()])
    split = read_fairface(fairface, transform=preprocess)
    assert tuple(split.get_input(3).shape) == (3, 8, 8)
    # open_clip's preprocess is such a Compose: its repr, with every parameter, is its identity.
    other = transforms.Compose([transforms.Resize(9), transforms.ToTensor()])
    assert split.fingerprint == read_fairface(fairface, transform=preprocess).fingerprint
    assert split.fingerprint != read_fairface(fairface, transform=other).fingerprint


def test_crop_takes_the_box_and_clamps_it_to_the_image(tmp_path: Path) -> None:
    path = tmp_path / "frame.png"
    pixels = np.zeros((20, 30, 3), dtype=np.uint8)
    pixels[5:15, 10:20] = 255
    Image.fromarray(pixels).save(path)
    inside = np.asarray(open_image(ImageRef(str(path), (10, 5, 10, 10))))
    assert inside.shape == (10, 10, 3)
    assert (inside == 255).all()
    beyond = open_image(ImageRef(str(path), (25.4, -3, 50, 8)))
    assert beyond.size == (5, 5)


def test_grayscale_files_are_converted_to_the_requested_mode(tmp_path: Path) -> None:
    path = tmp_path / "gray.png"
    Image.fromarray(np.zeros((4, 6), dtype=np.uint8)).save(path)
    assert np.asarray(LoadImage()(str(path))).shape == (4, 6, 3)
    assert np.asarray(LoadImage(mode="L")(str(path))).shape == (4, 6)


def test_undecodable_image_fails_at_load_naming_the_file(tmp_path: Path) -> None:
    root = write_fairface(tmp_path, n=4).root
    broken = root / "val" / "2.jpg"
    broken.write_bytes(b"not a jpeg at all")
    split = read_fairface(root)
    split.get_input(0)
    with pytest.raises(DataError) as err:
        split.get_input(1)
    assert str(err.value).startswith(MSG_IMAGE_DECODE.split("{error}")[0].format(path=broken))


def test_missing_image_fails_at_load_naming_the_file(tmp_path: Path) -> None:
    root = write_fairface(tmp_path, n=4).root
    gone = root / "val" / "3.jpg"
    gone.unlink()
    split = read_fairface(root)
    with pytest.raises(DataError, match=re.escape(MSG_IMAGE_MISSING.format(path=gone))):
        split.get_input(2)


def test_check_images_reports_every_bad_file_at_read_time(tmp_path: Path) -> None:
    root = write_fairface(tmp_path, n=6).root
    (root / "val" / "2.jpg").write_bytes(b"\xff\xd8 truncated")
    (root / "val" / "5.jpg").unlink()
    with pytest.raises(
        DataError, match=r"2 of 6 image files are missing or cannot be decoded"
    ) as err:
        read_fairface(root, check_images=True)
    assert "2.jpg" in str(err.value) and "5.jpg" in str(err.value)
    (root / "val" / "2.jpg").write_bytes((root / "val" / "1.jpg").read_bytes())
    shutil.copy(root / "val" / "1.jpg", root / "val" / "5.jpg")
    assert len(read_fairface(root, check_images=True)) == 6


def test_load_image_pickles_with_its_fingerprint() -> None:
    loader = LoadImage(Halve(3))
    clone = pickle.loads(pickle.dumps(loader))
    assert clone.fingerprint == loader.fingerprint
    assert LoadImage(Halve(3)).fingerprint == loader.fingerprint
    assert LoadImage(to_array).fingerprint != LoadImage().fingerprint
    assert LoadImage(mode="L").fingerprint != LoadImage().fingerprint


def test_describe_transform_drops_memory_addresses() -> None:
    first, second = Halve(), Halve()
    assert describe_transform(first) == describe_transform(second)
    assert "0x" not in describe_transform(first)
    assert describe_transform(to_array).endswith("test_readers_images.to_array")


def test_split_fingerprint_is_stable_and_independent_of_the_root(tmp_path: Path) -> None:
    written = write_facet(tmp_path / "a", n=8, edge_cases=False)
    first = read_facet(written.root, transform=Halve())
    assert read_facet(written.root, transform=Halve()).fingerprint == first.fingerprint
    shutil.copytree(written.root, tmp_path / "b")
    assert read_facet(tmp_path / "b", transform=Halve()).fingerprint == first.fingerprint
    assert read_facet(written.root, transform=Halve(4)).fingerprint != first.fingerprint
    assert read_facet(written.root, crop=False).fingerprint != read_facet(written.root).fingerprint
    assert first.subset([0, 1]).fingerprint != first.fingerprint


def test_a_read_split_pickles_for_xdist_workers(tmp_path: Path) -> None:
    split = read_facet(write_facet(tmp_path, n=4, edge_cases=False).root, transform=Halve())
    clone = pickle.loads(pickle.dumps(split))
    assert clone.fingerprint == split.fingerprint
    assert np.array_equal(clone.get_input(1), split.get_input(1))
