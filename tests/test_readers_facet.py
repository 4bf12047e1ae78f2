"""read_facet on a tiny copy of FACET: person crops, class ids, and paper 000's groupings."""

from __future__ import annotations

import csv
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from fixtures_datasets import FACET_COLUMNS, WrittenDataset, write_facet

from pytest_fairquant.data import DataWarning, ImageRef, read_facet
from pytest_fairquant.data.facet import (
    FACET_CLASSES,
    MSG_BUCKETS,
    MSG_NO_IMAGE_DIR,
    MSG_NOT_COUNTS,
)
from pytest_fairquant.data.readers import MSG_BAD_OPTION, MSG_UNKNOWN_COLUMNS
from pytest_fairquant.errors import DataError, InputError

CLASSES = ("nurse", "doctor", "farmer")


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> WrittenDataset:
    return write_facet(tmp_path_factory.mktemp("facet"), n=30, classes=CLASSES, seed=5)


def rewrite_rows(written: WrittenDataset, **changes: dict[str, str]) -> None:
    """Rewrite annotations.csv with per-person_id field changes."""
    with written.files[0].open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=FACET_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        for row in written.rows:
            writer.writerow({**row, **changes.get(f"p{row['person_id']}", {})})


def test_the_annotation_file_has_facet_columns(written: WrittenDataset) -> None:
    header = written.files[0].read_text().splitlines()[0].split(",")
    assert header[:4] == ["person_id", "filename", "class1", "class2"]
    assert {f"skin_tone_{t}" for t in range(1, 11)} | {"bounding_box"} <= set(header)
    assert '"{""x"": ' in written.files[0].read_text()


def test_one_sample_per_person_labelled_with_class1(written: WrittenDataset) -> None:
    split = read_facet(written.root)
    assert len(split) == 33
    assert split.class_names == tuple(sorted(CLASSES))
    names = np.asarray(split.class_names, dtype=object)[split.labels]
    assert names.tolist() == [r["class1"] for r in written.rows]
    assert split.task_kind == "multiclass"
    assert split.name == "facet"


def test_paper000_groups_match_what_each_person_was_built_for(written: WrittenDataset) -> None:
    split = read_facet(written.root)
    for attribute in ("skin_tone", "gender_presentation", "age_presentation"):
        assert split.attributes[attribute].tolist() == [r[attribute] for r in written.rows]
    assert split.groups("skin_tone").names == ("darker", "lighter", "mixed", "na", "other")
    assert split.groups("gender_presentation").names == ("fem", "masc", "na", "non_binary")


def test_decided_tone_is_the_majority_vote(written: WrittenDataset) -> None:
    split = read_facet(written.root)
    mst = split.attributes["skin_tone_mst"].tolist()
    for row, tone in zip(written.rows, mst, strict=True):
        votes = {t: int(row[f"skin_tone_{t}"]) for t in range(1, 11)}
        if row["skin_tone"] in ("lighter", "darker"):
            assert votes[int(tone)] == 2  # the fixture gives the intended tone two of three votes
    assert mst[-3:] == ["5", "mixed", "na"]


def test_vote_rules_differ_only_on_disagreeing_votes(written: WrittenDataset) -> None:
    majority = read_facet(written.root).attributes["skin_tone"]
    unanimous = read_facet(written.root, skin_tone_vote="unanimous").attributes["skin_tone"]
    mean = read_facet(written.root, skin_tone_vote="mean").attributes["skin_tone"]
    assert unanimous.tolist() == majority.tolist()
    # One vote on 4 and one on 6: no majority, not unanimous, but the mean is tone 5 (no group).
    assert mean.tolist() == [*majority[:-2].tolist(), "other", "na"]
    mean_tone = read_facet(written.root, skin_tone_vote="mean").attributes["skin_tone_mst"]
    assert mean_tone[-2] == "5"


def test_raw_and_custom_skin_tone_groupings(written: WrittenDataset) -> None:
    raw = read_facet(written.root, skin_tone="raw")
    assert raw.attributes["skin_tone"].tolist() == raw.attributes["skin_tone_mst"].tolist()
    wide = read_facet(written.root, skin_tone={"light": range(1, 6), "dark": range(6, 11)})
    expected = {
        "lighter": "light",
        "darker": "dark",
        "other": "light",
        "mixed": "mixed",
        "na": "na",
    }
    assert wide.attributes["skin_tone"].tolist() == [expected[r["skin_tone"]] for r in written.rows]
    assert wide.metadata["skin_tone"] == {"light": [1, 2, 3, 4, 5], "dark": [6, 7, 8, 9, 10]}


@pytest.mark.parametrize("buckets", [{"a": (1, 2), "b": (2, 3)}, {"a": (0, 1)}])
def test_skin_tone_buckets_must_be_disjoint_monk_tones(
    written: WrittenDataset, buckets: dict[str, tuple[int, ...]]
) -> None:
    with pytest.raises(InputError, match=re.escape(MSG_BUCKETS.format(buckets=buckets))):
        read_facet(written.root, skin_tone=buckets)


def test_bad_vote_rule_is_named(written: WrittenDataset) -> None:
    message = MSG_BAD_OPTION.format(
        name="skin_tone_vote", allowed=["majority", "unanimous", "mean"], value="median"
    )
    with pytest.raises(InputError, match=re.escape(message)):
        read_facet(written.root, skin_tone_vote="median")  # type: ignore[arg-type]


def test_inputs_are_person_crops(written: WrittenDataset) -> None:
    split = read_facet(written.root)
    first = split.inputs[0]
    assert isinstance(first, ImageRef)
    assert first.box == written.rows[0]["box"]
    crop = np.asarray(split.get_input(0))
    assert crop.shape == (58, 44, 3)  # the box's height and width
    whole = read_facet(written.root, crop=False)
    assert whole.inputs[0] == first.path
    assert np.asarray(whole.get_input(0)).shape == (64, 96, 3)
    # The crop is the painted person, not the grey frame around it.
    assert np.abs(crop.astype(int).mean((0, 1)) - 128).max() > 15


def test_fixed_class_list_keeps_ids_and_skips_other_classes(written: WrittenDataset) -> None:
    without_farmer = tuple(c for c in FACET_CLASSES if c != "farmer")
    with pytest.warns(
        DataWarning,
        match=r"FACET: skipped 11 of 33 rows of .*annotations\.csv \(11 of a class not in classes\); e\.g\. person 2002 \(farmer\)",
    ):
        split = read_facet(written.root, classes=without_farmer)
    assert len(FACET_CLASSES) == 52
    assert split.class_names == without_farmer
    assert set(split.class_names[i] for i in split.labels) == {"nurse", "doctor"}


def test_images_split_over_the_archive_folders(tmp_path: Path) -> None:
    written = write_facet(tmp_path, n=8, edge_cases=False)
    images = sorted((tmp_path / "images").iterdir())
    for i, image in enumerate(images):
        folder = tmp_path / f"imgs_{1 + i % 2}"
        folder.mkdir(exist_ok=True)
        shutil.move(image, folder / image.name)
    (tmp_path / "images").rmdir()
    split = read_facet(tmp_path)
    assert [Path(ref.path).parent.name for ref in split.inputs] == [
        f"imgs_{1 + (i // 2) % 2}" for i in range(8)
    ]
    assert split.get_input(7).size == (44, 58)
    assert len(written.rows) == 8


def test_a_missing_image_folder_is_an_error(tmp_path: Path) -> None:
    write_facet(tmp_path, n=2, edge_cases=False)
    shutil.rmtree(tmp_path / "images")
    with pytest.raises(
        DataError, match=re.escape(MSG_NO_IMAGE_DIR.split(";")[0].format(root=tmp_path))
    ):
        read_facet(tmp_path)


def test_missing_columns_are_named(tmp_path: Path) -> None:
    written = write_facet(tmp_path, n=2, edge_cases=False)
    text = written.files[0].read_text()
    written.files[0].write_text(text.replace("skin_tone_10,", "skin_tone_ten,", 1))
    with pytest.raises(DataError) as err:
        read_facet(tmp_path)
    present = text.splitlines()[0].replace("skin_tone_10,", "skin_tone_ten,").split(",")
    assert str(err.value) == MSG_UNKNOWN_COLUMNS.format(
        dataset="FACET", path=written.files[0], missing="'skin_tone_10'", present=present
    )


def test_unreadable_boxes_are_skipped_with_a_warning(tmp_path: Path) -> None:
    written = write_facet(tmp_path, n=4, edge_cases=False)
    rewrite_rows(written, p2001={"bounding_box": "{'x': 1}"})
    with pytest.warns(
        DataWarning, match=r"1 with an unreadable bounding_box\); e\.g\. person 2001"
    ):
        split = read_facet(tmp_path)
    assert len(split) == 3
    assert len(read_facet(tmp_path, crop=False)) == 4


def test_vote_counts_must_be_numbers(tmp_path: Path) -> None:
    written = write_facet(tmp_path, n=3, edge_cases=False)
    rewrite_rows(written, p2002={"skin_tone_3": "three"})
    with pytest.raises(DataError) as err:
        read_facet(tmp_path)
    assert str(err.value) == MSG_NOT_COUNTS.format(
        path=written.files[0], column="skin_tone_3", value="three"
    )


def test_every_class_has_both_groups_of_each_comparison(tmp_path: Path) -> None:
    split = read_facet(write_facet(tmp_path, n=48, classes=CLASSES[:2], edge_cases=False).root)
    for attribute, groups in [
        ("gender_presentation", {"masc", "fem"}),
        ("skin_tone", {"lighter", "darker"}),
        ("age_presentation", {"young", "middle", "older"}),
    ]:
        for label in (0, 1):
            members = split.attributes[attribute][split.labels == label]
            assert set(members.tolist()) == groups
