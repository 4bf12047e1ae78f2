"""read_celeba on a tiny copy of CelebA written in the real whitespace-separated list formats."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from fixtures_datasets import CELEBA_ATTRIBUTES, WrittenDataset, write_celeba

from pytest_fairquant.data import DataWarning, read_celeba
from pytest_fairquant.data.celeba import MSG_BAD_LINE
from pytest_fairquant.data.readers import MSG_MISSING_FILE, MSG_NOTHING_LEFT, MSG_UNKNOWN_COLUMNS
from pytest_fairquant.errors import DataError

PARTITION = {"train": 0, "val": 1, "test": 2}


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> WrittenDataset:
    return write_celeba(tmp_path_factory.mktemp("celeba"), n=24, seed=2)


def rows_of(written: WrittenDataset, split: str) -> list[dict[str, object]]:
    return [r for r in written.rows if split == "all" or r["partition"] == PARTITION[split]]


def test_the_attribute_file_has_the_shipped_double_spaces(written: WrittenDataset) -> None:
    lines = written.files[0].read_text().splitlines()
    assert lines[0] == "24"
    assert len(lines[1].split()) == 40
    assert "  1" in lines[2] and " -1" in lines[2]


@pytest.mark.parametrize("split", ["train", "val", "test", "all"])
def test_all_forty_attributes_are_the_default_multilabel_labels(
    written: WrittenDataset, split: str
) -> None:
    data = read_celeba(written.root, split)  # type: ignore[arg-type]
    rows = rows_of(written, split)
    assert len(data) == len(rows)
    assert data.task_kind == "multilabel"
    assert data.label_names == CELEBA_ATTRIBUTES
    expected = np.asarray([[r["attributes"][a] == 1 for a in CELEBA_ATTRIBUTES] for r in rows])  # type: ignore[index]
    assert np.array_equal(data.labels, expected.astype(np.int64))
    assert [Path(p).name for p in data.inputs] == [r["file"] for r in rows]
    assert all(Path(p).parent.name == "img_align_celeba" for p in data.inputs)


def test_one_attribute_label_and_readable_sensitive_groups(written: WrittenDataset) -> None:
    data = read_celeba(
        written.root, "all", label="Smiling", sensitive=["Male", "Young", "Pale_Skin"]
    )
    rows = written.rows
    assert data.task_kind == "binary"
    assert data.class_names == ("not Smiling", "Smiling")
    assert data.labels.tolist() == [int(r["attributes"]["Smiling"] == 1) for r in rows]  # type: ignore[index]
    assert data.attribute_names == ("Male", "Young", "Pale_Skin")
    assert data.attributes["Male"].tolist() == [
        "Male" if r["attributes"]["Male"] == 1 else "not Male"  # type: ignore[index]
        for r in rows
    ]
    assert set(data.groups("Young").names) <= {"Young", "not Young"}


def test_several_attributes_are_multilabel_in_the_given_order(written: WrittenDataset) -> None:
    data = read_celeba(written.root, "test", label=["Smiling", "Attractive"], sensitive="Male")
    rows = rows_of(written, "test")
    assert data.label_names == ("Smiling", "Attractive")
    assert data.labels[:, 1].tolist() == [int(r["attributes"]["Attractive"] == 1) for r in rows]  # type: ignore[index]


def test_bbox_crops_the_in_the_wild_images(written: WrittenDataset) -> None:
    data = read_celeba(written.root, "val", bbox=True, sensitive="Male")
    rows = rows_of(written, "val")
    assert all(Path(p.path).parent.name == "img_celeba" for p in data.inputs)
    assert [p.box for p in data.inputs] == [tuple(float(v) for v in r["box"]) for r in rows]  # type: ignore[attr-defined]
    image = data.get_input(0)
    box = rows[0]["box"]
    assert image.size == (box[2], box[3])  # type: ignore[index]


def test_unknown_attribute_names_the_file_and_the_forty(written: WrittenDataset) -> None:
    with pytest.raises(DataError) as err:
        read_celeba(written.root, label="Smile", sensitive="Gender")
    assert str(err.value) == MSG_UNKNOWN_COLUMNS.format(
        dataset="CelebA",
        path=written.files[0],
        missing="'Smile', 'Gender'",
        present=list(CELEBA_ATTRIBUTES),
    )


def test_the_official_anno_eval_img_layout(tmp_path: Path) -> None:
    written = write_celeba(tmp_path / "flat", n=6, bbox=False)
    official = tmp_path / "official"
    for name, folder in [
        ("list_attr_celeba.txt", "Anno"),
        ("list_eval_partition.txt", "Eval"),
        ("img_align_celeba", "Img"),
    ]:
        (official / folder).mkdir(parents=True, exist_ok=True)
        shutil.move(written.root / name, official / folder / name)
    data = read_celeba(official, "all")
    assert len(data) == 6
    assert data.inputs[0] == str(official / "Img" / "img_align_celeba" / "000001.jpg")
    assert data.get_input(5).size == (36, 44)


def test_missing_partition_file_names_it(tmp_path: Path) -> None:
    written = write_celeba(tmp_path, n=3, bbox=False)
    (written.root / "list_eval_partition.txt").unlink()
    with pytest.raises(DataError) as err:
        read_celeba(tmp_path)
    assert str(err.value).startswith(
        MSG_MISSING_FILE.split("{layout}")[0].format(
            dataset="CelebA", path=tmp_path / "list_eval_partition.txt"
        )
    )


def test_values_other_than_minus_one_and_one_are_an_error(tmp_path: Path) -> None:
    written = write_celeba(tmp_path, n=3, bbox=False)
    attr = written.files[0]
    lines = attr.read_text().splitlines()
    lines[3] = (
        lines[3].replace(" -1", "  0", 1)
        if " -1" in lines[3]
        else lines[3].replace("  1", "  0", 1)
    )
    attr.write_text("\n".join(lines) + "\n")
    with pytest.raises(
        DataError,
        match=r"list_attr_celeba\.txt line 4: values must be \[-1, 1\], found 0",
    ):
        read_celeba(tmp_path)


def test_a_row_with_a_missing_value_is_an_error_naming_the_line(tmp_path: Path) -> None:
    written = write_celeba(tmp_path, n=3, bbox=False)
    part = written.files[1]
    part.write_text(part.read_text().replace("000002.jpg 1", "000002.jpg"))
    with pytest.raises(DataError) as err:
        read_celeba(tmp_path)
    assert str(err.value).startswith(
        MSG_BAD_LINE.split("{layout}")[0].format(
            path=part, line=2, problem="0 values after the file name, expected 1"
        )
    )


def test_images_missing_from_the_partition_are_skipped_with_a_warning(tmp_path: Path) -> None:
    written = write_celeba(tmp_path, n=6, bbox=False)
    part = written.files[1]
    part.write_text("".join(line + "\n" for line in part.read_text().splitlines()[:4]))
    with pytest.warns(
        DataWarning,
        match=re.escape("CelebA: skipped 2 of 6 rows of")
        + r".*\(2 missing from list_eval_partition\.txt\); e\.g\. 000005\.jpg, 000006\.jpg",
    ):
        data = read_celeba(tmp_path, "all")
    assert len(data) == 4


@pytest.mark.parametrize(
    ("bad", "problem"),
    [
        ("000002.jpg 1 1", "2 values after the file name, expected 1"),
        ("000002.jpg one", "non-integer values ['one']"),
    ],
)
def test_extra_or_non_integer_values_name_the_line(tmp_path: Path, bad: str, problem: str) -> None:
    written = write_celeba(tmp_path, n=3, bbox=False)
    part = written.files[1]
    part.write_text(part.read_text().replace("000002.jpg 1", bad))
    with pytest.raises(DataError) as err:
        read_celeba(tmp_path)
    assert str(err.value).startswith(
        MSG_BAD_LINE.split("{layout}")[0].format(path=part, line=2, problem=problem)
    )


def test_a_split_without_rows_is_an_error(tmp_path: Path) -> None:
    write_celeba(tmp_path, n=2, bbox=False)  # partitions 0 and 1 only: no test image
    with pytest.raises(DataError) as err:
        read_celeba(tmp_path, "test")
    assert str(err.value) == MSG_NOTHING_LEFT.format(
        dataset="CelebA", path=tmp_path / "list_attr_celeba.txt"
    )
