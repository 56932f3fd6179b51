"""MTAT split / ground-truth loaders: counts and cross-source agreement on the real files in
../shared/data/mtat (skipped when absent), and error handling on a tiny synthetic MTAT directory."""

from __future__ import annotations

import json
import os
import pickle

import numpy as np
import pytest

from musictag_tf.mtat import datasets as mtat
from musictag_tf.errors import DatasetError
from conftest import shared_path

JORAM_ID = 37386
JORAM_PATH = "e/joram-moments_of_clarity-08-solipsism-59-88.mp3"


@pytest.fixture(scope="module")
def mtat_dir():
    return shared_path("mtat")


@pytest.fixture(scope="module")
def gts(mtat_dir):
    return {(s, sp): mtat.ground_truth(s, sp, mtat_dir) for s in mtat.SOURCES for sp in ("test", "valid")}


# ------------------------------------------------------------------------------ tags


def test_literal_tags_equal_the_shared_files(mtat_dir):
    assert len(mtat.TOP50_TAGS) == 50 and len(set(mtat.TOP50_TAGS)) == 50
    assert mtat.read_top50_tags(mtat_dir) == mtat.TOP50_TAGS
    assert mtat.top50_tags(mtat_dir) == mtat.TOP50_TAGS
    won = np.load(mtat_dir / "won2020" / "tags.npy", allow_pickle=False)
    assert tuple(str(t) for t in won) == mtat.TOP50_TAGS
    classes = json.loads((mtat_dir / "pons_musicnn" / "classes_MagnaTT.json").read_text())
    assert tuple(sorted((t for t in classes if t != "clip_id"), key=classes.get)) == mtat.TOP50_TAGS
    assert mtat.TOP50_TAGS[47] == "metal" and mtat.TOP50_TAGS[48] == "female voice"


def test_lee_column_order_is_exactly_the_47_48_swap(mtat_dir):
    perm = mtat._lee_column_order(mtat_dir)
    expected = np.arange(50)
    expected[[47, 48]] = [48, 47]
    np.testing.assert_array_equal(perm, expected)


def test_tag_key_spellings():
    assert mtat.tag_key("noVocals") == mtat.tag_key("no vocals") == mtat.tag_key("No_Vocals") == "novocals"
    assert len({mtat.tag_key(t) for t in mtat.TOP50_TAGS}) == 50
    np.testing.assert_array_equal(mtat.standard_tag_columns(["femaleVoice", "metal"]), [48, 47])
    with pytest.raises(DatasetError, match="jazz"):
        mtat.standard_tag_columns(["rock", "jazz"])


# ------------------------------------------------------------------------------ index and splits


def test_index(mtat_dir):
    index = mtat.read_index(mtat_dir)
    assert len(index) == mtat.NUM_CLIPS == 25_863
    assert index[JORAM_ID] == JORAM_PATH
    reverse = mtat.read_index_by_path(mtat_dir)
    assert len(reverse) == 25_863 and reverse[JORAM_PATH] == JORAM_ID
    rows = mtat.index_rows(mtat_dir)
    assert rows[0][0] == 2 and rows[17050] == (JORAM_ID, JORAM_PATH)  # Won's row numbering


def test_won_split_counts_and_rows(mtat_dir):
    won = mtat.read_won_split(mtat_dir)
    assert {k: len(v) for k, v in won.items()} == {"train": 15_244, "valid": 1_529, "test": 4_332}
    rows = mtat.read_won_split_rows(mtat_dir)
    assert (17050, JORAM_PATH) in rows["test"]
    for split in mtat.SPLITS:
        assert [r for r, _ in rows[split]] == sorted(r for r, _ in rows[split])  # sorted by row
    all_paths = won["train"] + won["valid"] + won["test"]
    assert len(set(all_paths)) == len(all_paths)


def test_lee_split_equals_won_split(mtat_dir):
    lee, won = mtat.read_lee_split(mtat_dir), mtat.read_won_split(mtat_dir)
    assert {k: len(v) for k, v in lee.items()} == {"train": 15_244, "valid": 1_529, "test": 4_332}
    assert all(p.endswith(".mp3") for p in lee["test"])
    for split in mtat.SPLITS:
        assert set(lee[split]) == set(won[split]), split
    assert lee["test"] != won["test"]  # same clips, different order (Lee's list is unsorted)


def test_published_splits_follow_the_folders(mtat_dir, gts):
    lee = mtat.read_lee_split(mtat_dir)
    for split, paths in lee.items():
        assert {mtat.folder_split(p) for p in paths} == {split}
    pons_test, pons_valid = gts["pons", "test"], gts["pons", "valid"]
    assert len(pons_test) == 5_329 and len(pons_valid) == 1_825
    assert all(mtat.folder_split(p) == "test" for p in pons_test.paths)
    assert {p[0] for p in pons_test.paths} == set("def")
    assert all(mtat.folder_split(p) == "valid" for p in pons_valid.paths)
    # The unfiltered folder splits cover their folders completely.
    index = mtat.read_index(mtat_dir).values()
    assert sum(mtat.folder_split(p) == "test" for p in index) == 5_329
    assert sum(mtat.folder_split(p) == "valid" for p in index) == 1_825
    assert len(mtat.split_paths("pons", "train", mtat_dir)) == 25_863 - 5_329 - 1_825


def test_folder_split_rules():
    assert mtat.folder_split("0/x.mp3") == "train"
    assert mtat.folder_split("b/x.mp3") == "train"
    assert mtat.folder_split("c/x.mp3") == "valid"
    assert mtat.folder_split("d/x.mp3") == mtat.folder_split("f/x.mp3") == "test"
    assert mtat.folder_split("/data/MTAT/E/x.mp3") == "test"
    assert mtat.folder_split("C:\\mtat\\9\\x.mp3") == "train"
    for bad in ("g/x.mp3", "x.mp3", "/data/mtat/x.mp3", "ab/x.mp3", ""):
        with pytest.raises(DatasetError):
            mtat.folder_split(bad)


def test_mtat_relative_path():
    assert mtat.mtat_relative_path("/a/b/f/x-0-29.mp3") == "f/x-0-29.mp3"
    assert mtat.mtat_relative_path("./F/x.npy") == "f/x.mp3"
    assert mtat.mtat_relative_path("x.mp3") is None
    assert mtat.mtat_relative_path("music/x.mp3") is None


# ------------------------------------------------------------------------------ ground truth


def test_ground_truth_shapes(gts):
    expected = {("pons", "test"): 5_329, ("pons", "valid"): 1_825, ("lee2017", "test"): 4_332,
                ("lee2017", "valid"): 1_529, ("won2020", "test"): 4_332, ("won2020", "valid"): 1_529}
    for key, n in expected.items():
        gt = gts[key]
        assert gt.labels.shape == (n, 50) and gt.labels.dtype == np.int8, key
        assert len(gt.clip_ids) == len(gt.paths) == n and len(set(gt.clip_ids)) == n
        assert gt.tags == mtat.TOP50_TAGS
        assert set(np.unique(gt.labels)) <= {0, 1}


def test_joram_clip_is_techno_only_everywhere(gts):
    techno = mtat.TOP50_TAGS.index("techno")
    for source in mtat.SOURCES:
        gt = gts[source, "test"]
        row = gt.row_of()[JORAM_ID]
        assert gt.paths[row] == JORAM_PATH
        assert np.flatnonzero(gt.labels[row]).tolist() == [techno], source


@pytest.mark.parametrize("split", ["test", "valid"])
def test_lee_after_swap_equals_pons_on_common_clips(gts, split):
    lee, pons = gts["lee2017", split], gts["pons", split]
    pons_row = pons.row_of()
    common = [c for c in lee.clip_ids if c in pons_row]
    assert len(common) == len(lee)
    np.testing.assert_array_equal(lee.labels, pons.labels[[pons_row[c] for c in common]])
    # Lee/Won = Pons' folder split minus the clips without any top-50 tag.
    tagged = {c for c, r in zip(pons.clip_ids, pons.labels) if r.any()}
    assert tagged == set(lee.clip_ids)
    assert (lee.labels.sum(axis=1) > 0).all()


@pytest.mark.parametrize("split", ["test", "valid"])
def test_won_ground_truth_equals_lee_by_path(mtat_dir, gts, split):
    won, lee = gts["won2020", split], gts["lee2017", split]
    assert set(won.paths) == set(lee.paths)
    lee_row = {p: i for i, p in enumerate(lee.paths)}
    np.testing.assert_array_equal(won.labels, lee.labels[[lee_row[p] for p in won.paths]])
    row_of_clip = {c: r for r, (c, _) in enumerate(mtat.index_rows(mtat_dir))}
    won_rows = [row_of_clip[c] for c in won.clip_ids]
    assert won_rows == sorted(won_rows)  # Won's files are sorted by annotation row


def test_tag_counts_match_sources_md(gts):
    metal, female_voice = mtat.TOP50_TAGS.index("metal"), mtat.TOP50_TAGS.index("female voice")
    for source in ("lee2017", "won2020"):
        test, valid = gts[source, "test"].labels.sum(axis=0), gts[source, "valid"].labels.sum(axis=0)
        assert (test[metal], test[female_voice]) == (165, 119), source
        assert (valid[metal], valid[female_voice]) == (54, 16), source
    # Semantic check that the swap is right: metal co-occurs with rock, female voice with female.
    labels = gts["won2020", "test"].labels.astype(bool)
    rock, female = mtat.TOP50_TAGS.index("rock"), mtat.TOP50_TAGS.index("female")
    assert labels[labels[:, metal], rock].mean() > 0.9
    assert labels[labels[:, female_voice], female].mean() > 0.7


def test_train_labels_are_refused_with_reason(mtat_dir):
    for source in mtat.SOURCES:
        with pytest.raises(DatasetError, match="train labels are not available"):
            mtat.ground_truth(source, "train", mtat_dir)
    with pytest.raises(DatasetError, match="unknown MTAT ground-truth source"):
        mtat.ground_truth("msd", "test", mtat_dir)
    with pytest.raises(DatasetError, match="unknown MTAT split"):
        mtat.ground_truth("pons", "holdout", mtat_dir)
    assert len(mtat.ground_truth("pons", "val", mtat_dir)) == 1_825  # Pons' own name for valid


# ------------------------------------------------------------------------------ synthetic directory


def _write_fake_mtat(root, lee_tags=None):
    """A 6-clip MTAT directory: 2 train (folder 0), 2 valid (c), 2 test (d, f)."""
    clips = [(2, "f/a-0-29.mp3"), (6, "0/b-0-29.mp3"), (10, "c/c-0-29.mp3"),
             (11, "d/d-0-29.mp3"), (12, "0/e-0-29.mp3"), (13, "c/f-0-29.mp3")]
    (root / "pons_musicnn").mkdir(parents=True)
    (root / "won2020").mkdir()
    (root / "lee2017").mkdir()
    (root / "pons_musicnn" / "index_mtt.tsv").write_text("".join(f"{c}\t{p}\n" for c, p in clips))
    rows = {p: r for r, (_, p) in enumerate(clips)}
    split = {"train": ["0/b-0-29.mp3", "0/e-0-29.mp3"], "valid": ["c/f-0-29.mp3", "c/c-0-29.mp3"],
             "test": ["f/a-0-29.mp3", "d/d-0-29.mp3"]}
    labels = {"valid": np.eye(50)[[47, 3]], "test": np.eye(50)[[48, 0]]}  # Lee's column order
    for name, paths in split.items():
        ordered = sorted(paths, key=rows.get)
        lines = [f"{rows[p]}\t{p}" for p in ordered]
        if name == "train":
            (root / "won2020" / "train.tsv").write_text("\n".join(lines) + "\n")
        else:
            np.save(root / "won2020" / f"{name}.npy", np.array(lines))
            np.save(root / "lee2017" / f"y_{name}_pub.npy", labels[name])
        with open(root / "lee2017" / f"{name}_list_pub.cP", "wb") as f:
            pickle.dump([p[:-4] + ".npy" for p in paths], f, protocol=2)
    if lee_tags is not None:
        (root / "lee2017" / "top50_tags.txt").write_text("\n".join(lee_tags) + "\n")
    with open(root / "pons_musicnn" / "test_gt_mtt.tsv", "w") as f:
        f.write(f"2\t{json.dumps(np.eye(50)[47].tolist())}\n11\t{json.dumps(np.eye(50)[0].tolist())}\n")
    return root


def test_synthetic_lee_swap_and_won_order(tmp_path):
    lee_tags = [mtat.tag_key(t) for t in mtat.TOP50_TAGS]
    lee_tags[47], lee_tags[48] = lee_tags[48], lee_tags[47]
    for root, tags in ((tmp_path / "with_txt", lee_tags), (tmp_path / "no_txt", None)):
        _write_fake_mtat(root, tags)
        lee = mtat.ground_truth("lee2017", "test", root)
        assert lee.paths == ["f/a-0-29.mp3", "d/d-0-29.mp3"] and lee.clip_ids == [2, 11]
        assert np.flatnonzero(lee.labels[0]).tolist() == [47]  # Lee col 48 (metal) -> standard 47
        won = mtat.ground_truth("won2020", "valid", root)
        assert won.paths == ["c/c-0-29.mp3", "c/f-0-29.mp3"]  # Won's row order
        assert [np.flatnonzero(r).tolist() for r in won.labels] == [[3], [48]]
        pons = mtat.ground_truth("pons", "test", root)
        np.testing.assert_array_equal(pons.labels, mtat.ground_truth("lee2017", "test", root).labels)


def test_default_dir_honours_env(monkeypatch, tmp_path):
    monkeypatch.setenv("MUSICTAG_SHARED_DATA", str(tmp_path))
    assert mtat.default_mtat_dir() == tmp_path / "mtat"
    monkeypatch.delenv("MUSICTAG_SHARED_DATA")
    assert mtat.default_mtat_dir().parts[-3:] == ("shared", "data", "mtat")


def test_missing_and_malformed_files_name_the_file(tmp_path):
    root = _write_fake_mtat(tmp_path / "m")
    with pytest.raises(DatasetError, match="val_gt_mtt.tsv"):
        mtat.ground_truth("pons", "valid", root)
    with pytest.raises(DatasetError, match="not found"):
        mtat.read_index(tmp_path / "nowhere")
    # A Won row that points at another clip of the index.
    np.save(root / "won2020" / "test.npy", np.array(["1\tf/a-0-29.mp3", "3\td/d-0-29.mp3"]))
    with pytest.raises(DatasetError, match=r"test\.npy.*row 1"):
        mtat.read_won_split(root)
    # Labels with the wrong number of rows.
    np.save(root / "lee2017" / "y_valid_pub.npy", np.zeros((3, 50)))
    with pytest.raises(DatasetError, match="y_valid_pub.npy"):
        mtat.ground_truth("lee2017", "valid", root)
    # A pickle that references a global is refused, not executed.
    with open(root / "lee2017" / "train_list_pub.cP", "wb") as f:
        pickle.dump([os.getcwd], f, protocol=2)
    with pytest.raises(DatasetError, match="train_list_pub.cP"):
        mtat.read_lee_split(root)
    (root / "pons_musicnn" / "index_mtt.tsv").write_text("2\tf/a.mp3\nnot a row\n")
    with pytest.raises(DatasetError, match=r"index_mtt.tsv:2"):
        mtat.read_index(root)
    (root / "lee2017" / "top50_tags.txt").write_text("rock\njazz\n")
    with pytest.raises(DatasetError, match="top50_tags.txt"):
        mtat._lee_column_order(root)
