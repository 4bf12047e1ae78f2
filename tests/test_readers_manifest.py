"""read_manifest: CSV and Parquet tables of image paths, labels and attributes."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from pytest_fairquant.data import DataWarning, read_manifest
from pytest_fairquant.data.readers import MSG_BAD_VALUES, MSG_UNKNOWN_COLUMNS
from pytest_fairquant.errors import DataError


@pytest.fixture
def images(tmp_path: Path) -> Path:
    folder = tmp_path / "pics"
    folder.mkdir()
    for i in range(6):
        Image.fromarray(np.full((10, 12, 3), 40 * i, dtype=np.uint8)).save(folder / f"{i}.png")
    return tmp_path


def table() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "image": [f"pics/{i}.png" for i in range(6)],
            "diagnosis": ["benign", "malignant", "benign", "benign", "malignant", "benign"],
            "sex": ["f", "m", "f", "m", "f", "m"],
            "age_group": [1, 2, 3, 1, 2, 3],
        }
    )


def test_csv_with_class_names_as_labels(images: Path) -> None:
    manifest = images / "meta.csv"
    table().to_csv(manifest, index=False)
    split = read_manifest(
        manifest,
        path_column="image",
        label_column="diagnosis",
        attribute_columns=["sex", "age_group"],
    )
    assert len(split) == 6
    assert split.class_names == ("benign", "malignant")
    assert split.labels.tolist() == [0, 1, 0, 0, 1, 0]
    assert split.attributes["sex"].tolist() == table()["sex"].tolist()
    assert split.inputs[2] == str(images / "pics" / "2.png")
    assert split.get_input(3).size == (12, 10)
    assert split.name == "meta"


def test_parquet_with_integer_labels_and_an_explicit_root(images: Path, tmp_path: Path) -> None:
    frame = table().assign(diagnosis=[0, 1, 0, 0, 1, 0])
    elsewhere = tmp_path / "manifests"
    elsewhere.mkdir()
    manifest = elsewhere / "meta.parquet"
    frame.to_parquet(manifest)
    split = read_manifest(
        manifest,
        path_column="image",
        label_column="diagnosis",
        attribute_columns=["age_group"],
        root=images,
    )
    assert split.labels.tolist() == [0, 1, 0, 0, 1, 0]
    assert split.class_names is None
    assert split.groups("age_group").names == ("1", "2", "3")
    assert split.get_input(5).size == (12, 10)


def test_given_class_names_fix_the_ids_and_reject_unknown_names(images: Path) -> None:
    manifest = images / "meta.csv"
    table().to_csv(manifest, index=False)
    split = read_manifest(
        manifest,
        path_column="image",
        label_column="diagnosis",
        attribute_columns=["sex"],
        class_names=["malignant", "benign"],
    )
    assert split.labels.tolist() == [1, 0, 1, 1, 0, 1]
    with pytest.raises(DataError) as err:
        read_manifest(
            manifest,
            path_column="image",
            label_column="diagnosis",
            attribute_columns=["sex"],
            class_names=["benign"],
        )
    assert str(err.value) == MSG_BAD_VALUES.format(
        dataset="manifest",
        path=manifest,
        column="diagnosis",
        values=["malignant"],
        expected=["benign"],
    )


def test_without_a_label_column_labels_are_zero(images: Path) -> None:
    manifest = images / "meta.csv"
    table().to_csv(manifest, index=False)
    split = read_manifest(manifest, path_column="image", attribute_columns=["sex"])
    assert split.labels.tolist() == [0] * 6


def test_unknown_columns_are_named(images: Path) -> None:
    manifest = images / "meta.csv"
    table().to_csv(manifest, index=False)
    with pytest.raises(DataError) as err:
        read_manifest(
            manifest, path_column="path", label_column="diagnosis", attribute_columns=["gender"]
        )
    assert str(err.value) == MSG_UNKNOWN_COLUMNS.format(
        dataset="manifest",
        path=manifest,
        missing="'path', 'gender'",
        present=["image", "diagnosis", "sex", "age_group"],
    )


def test_rows_with_empty_values_are_skipped_with_one_warning(images: Path) -> None:
    frame = table()
    frame.loc[1, "sex"] = None
    frame.loc[4, "image"] = None
    manifest = images / "meta.parquet"
    frame.to_parquet(manifest)
    with pytest.warns(
        DataWarning,
        match=re.escape("manifest: skipped 2 of 6 rows of")
        + r".*\(2 with an empty value\); e\.g\. row 2, row 5",
    ):
        split = read_manifest(manifest, path_column="image", attribute_columns=["sex"])
    assert [Path(p).name for p in split.inputs] == ["0.png", "2.png", "3.png", "5.png"]


def test_a_missing_manifest_is_named(tmp_path: Path) -> None:
    with pytest.raises(
        DataError, match=re.escape(f"manifest: {tmp_path / 'nope.csv'} does not exist")
    ):
        read_manifest(tmp_path / "nope.csv", path_column="p", attribute_columns=["a"])
