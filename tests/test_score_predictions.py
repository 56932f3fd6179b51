"""Scoring prediction files against MTAT ground truth (real split files in ../shared/data/mtat;
skipped when absent). Predictions are written from the ground truth itself, so the expected
macro ROC-AUC is known exactly: 1.0 (perfect), 0.0 (inverted), about 0.5 (random)."""

from __future__ import annotations

import csv
import json
import logging
import os
import subprocess
import sys

import numpy as np
import pytest

from musictag_tf.mtat import datasets as mtat
from musictag_tf.mtat import scoring as sp
from musictag_tf.errors import DatasetError
from conftest import PROJECT_ROOT, SHARED_DATA, shared_path

TAGS = mtat.TOP50_TAGS
# Where a test checks matching rather than the metric itself, it scores a few tags only:
# sklearn's per-tag AUCs dominate the run time.
FEW = ("rock", "metal", "female voice")


@pytest.fixture(scope="module")
def mtat_dir():
    return shared_path("mtat")


@pytest.fixture(scope="module")
def won_test(mtat_dir):
    return mtat.ground_truth("won2020", "test", mtat_dir)


@pytest.fixture(scope="module")
def perfect_scored(tmp_path_factory, mtat_dir, won_test):
    """Ground truth written as a CSV with shuffled tag columns and absolute paths, rows reversed."""
    columns = [TAGS[j] for j in np.random.default_rng(1).permutation(50)]
    assert list(columns) != list(TAGS)
    keys = [f"/data/MagnaTagATune/mp3/{p}" for p in won_test.paths[::-1]]
    path = write_table(tmp_path_factory.mktemp("perfect") / "perfect.csv", keys, won_test.labels[::-1], columns)
    return sp.score_against_mtat(path, "won2020", "test", mtat_dir)


def write_table(path, keys, scores, columns=TAGS, key_name="path", delimiter=","):
    """Write ``scores`` [n, 50] (standard order) under ``columns`` (any order of the tags)."""
    col = [TAGS.index(c) if c in TAGS else None for c in columns]
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, delimiter=delimiter)
        writer.writerow([key_name] + list(columns))
        for key, row in zip(keys, scores):
            writer.writerow([key] + [repr(float(row[j])) if j is not None else "0.5" for j in col])
    return path


def write_tag_json(path, keys, scores, key_name="path", lines=False):
    records = [{key_name: k, "scores": dict(zip(TAGS, map(float, row))),
                "top_tags": [TAGS[int(j)] for j in np.argsort(-row)[:3]]} for k, row in zip(keys, scores)]
    with open(path, "w", encoding="utf-8") as f:
        if lines:
            f.writelines(json.dumps(r) + "\n" for r in records)
        else:
            json.dump(records, f)
    return path


def test_perfect_predictions_shuffled_columns_score_one(perfect_scored):
    scored = perfect_scored
    assert scored.scores.roc_auc_macro == 1.0 and scored.scores.pr_auc_macro == 1.0
    assert scored.num_matched == scored.num_ground_truth == 4_332
    assert (scored.num_missing, scored.num_extra, scored.partial) == (0, 0, False)
    assert scored.scores.unscored_tags == []
    assert scored.scores.per_tag["metal"]["positives"] == 165
    assert scored.scores.per_tag["female voice"]["positives"] == 119


def test_inverted_predictions_by_clip_id_score_zero(tmp_path, mtat_dir, won_test):
    path = write_table(tmp_path / "inverted.tsv", won_test.clip_ids, 1.0 - won_test.labels,
                       key_name="clip_id", delimiter="\t")
    scored = sp.score_against_mtat(path, "won2020", "test", mtat_dir)
    assert scored.scores.roc_auc_macro == 0.0


def test_lee_source_with_camel_case_columns(tmp_path, mtat_dir):
    lee = mtat.ground_truth("lee2017", "test", mtat_dir)
    lee_names = [t.split(" ")[0] + "".join(w.title() for w in t.split(" ")[1:]) for t in TAGS]
    assert "femaleVoice" in lee_names
    path = tmp_path / "camel.csv"
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["mp3_path"] + lee_names)
        writer.writerows([p] + row.tolist() for p, row in zip(lee.paths, lee.labels))
    keys, scores = sp.read_predictions(path)
    assert keys == lee.paths
    np.testing.assert_array_equal(scores, lee.labels)  # columns back in the standard order


def test_random_npy_in_split_order_is_near_half(tmp_path, mtat_dir, won_test):
    path = tmp_path / "random.npy"
    np.save(path, np.random.default_rng(1234).random((len(won_test), 50)).astype(np.float32))
    scored = sp.score_against_mtat(path, "won2020", "test", mtat_dir)
    assert abs(scored.scores.roc_auc_macro - 0.5) < 0.03
    np.save(tmp_path / "short.npy", np.zeros((10, 50)))
    with pytest.raises(DatasetError, match="10 rows but the split has 4332"):
        sp.score_against_mtat(tmp_path / "short.npy", "won2020", "test", mtat_dir)


def test_npy_rows_follow_the_requested_split_order(tmp_path, mtat_dir, won_test):
    np.save(tmp_path / "won_order.npy", won_test.labels.astype(np.float32))
    assert sp.score_against_mtat(tmp_path / "won_order.npy", "won2020", "test", mtat_dir) \
        .scores.roc_auc_macro == 1.0
    # Won's row order is not Lee's list order, so the same file scored as Lee's is near chance.
    assert sp.score_against_mtat(tmp_path / "won_order.npy", "lee2017", "test", mtat_dir, tags=FEW) \
        .scores.roc_auc_macro < 0.6


def test_missing_clips_error_unless_partial(tmp_path, mtat_dir, won_test, caplog):
    keep = np.ones(len(won_test), bool)
    keep[[3, 100, 2000]] = False
    path = write_table(tmp_path / "partial.csv", np.array(won_test.paths)[keep], won_test.labels[keep])
    with pytest.raises(DatasetError, match=r"3 of the won2020 test split \(4332 clips\) have no prediction") as e:
        sp.score_against_mtat(path, "won2020", "test", mtat_dir)
    assert won_test.paths[3] in str(e.value) and "allow_partial" in str(e.value)
    with caplog.at_level(logging.WARNING, logger=sp.__name__):
        scored = sp.score_against_mtat(path, "won2020", "test", mtat_dir, allow_partial=True, tags=FEW)
    assert "3 of the won2020 test split" in caplog.text
    assert (scored.num_matched, scored.num_missing, scored.partial) == (4_329, 3, True)
    assert scored.scores.num_clips == 4_329 and scored.scores.roc_auc_macro == 1.0
    report = sp.scored_markdown(scored, include_published=False)
    assert "Warning: partial scoring" in report and won_test.paths[3] in report


def test_musictag_tag_json_and_json_lines(tmp_path, mtat_dir, won_test):
    path = write_tag_json(tmp_path / "tags.json", won_test.paths, won_test.labels * 0.8 + 0.1)
    scored = sp.score_against_mtat(path, "won2020", "test", mtat_dir)
    assert scored.scores.roc_auc_macro == 1.0 and scored.num_matched == 4_332
    # JSON lines, "file" key, basenames only.
    basenames = [p.split("/")[-1] for p in won_test.paths]
    path = write_tag_json(tmp_path / "tags.jsonl", basenames, 1.0 - won_test.labels, "file", lines=True)
    keys, scores = sp.read_predictions(path)
    assert keys == basenames
    np.testing.assert_array_equal(scores, 1.0 - won_test.labels)
    assert sp.match_clip_ids(keys, mtat_dir) == won_test.clip_ids
    # An entry that failed to decode counts as missing.
    records = json.loads((tmp_path / "tags.json").read_text())
    records[5] = {"path": records[5]["path"], "error": "truncated mp3"}
    (tmp_path / "failed.json").write_text(json.dumps({"predictions": records}))
    with pytest.raises(DatasetError, match="1 of the won2020 test split"):
        sp.score_against_mtat(tmp_path / "failed.json", "won2020", "test", mtat_dir)
    assert sp.score_against_mtat(tmp_path / "failed.json", "won2020", "test", mtat_dir,
                                 allow_partial=True, tags=FEW).num_missing == 1


def test_json_entry_without_all_tags_is_refused(tmp_path, mtat_dir):
    (tmp_path / "topk.json").write_text(json.dumps(
        [{"path": "e/joram-moments_of_clarity-08-solipsism-59-88.mp3", "scores": {"techno": 0.9}}]))
    with pytest.raises(DatasetError, match="lacks tags"):
        sp.read_predictions(tmp_path / "topk.json")
    (tmp_path / "jazz.json").write_text(json.dumps(
        [{"path": "e/x.mp3", "scores": {**{t: 0.1 for t in TAGS}, "jazz": 0.5}}]))
    with pytest.raises(DatasetError, match="unknown tag 'jazz'"):
        sp.read_predictions(tmp_path / "jazz.json")


def test_unknown_and_missing_tag_columns_are_listed(tmp_path, mtat_dir, won_test):
    columns = list(TAGS[:-1]) + ["jazz"]  # "choral" missing, "jazz" unknown
    path = write_table(tmp_path / "bad.csv", won_test.paths[:5], won_test.labels[:5], columns)
    with pytest.raises(DatasetError, match=r"unknown columns \['jazz'\]; missing tags \['choral'\]"):
        sp.score_against_mtat(path, "won2020", "test", mtat_dir)
    # Declared extra columns are skipped.
    path = write_table(tmp_path / "extra.csv", won_test.paths, won_test.labels, list(TAGS) + ["duration_s"])
    assert sp.score_against_mtat(path, "won2020", "test", mtat_dir, tags=FEW,
                                 ignore_columns=["duration_s"]).scores.roc_auc_macro == 1.0


def test_bad_rows_and_keys(tmp_path, mtat_dir, won_test):
    scores = won_test.labels[:3].astype(float)
    scores[1, 4] = np.nan
    with pytest.raises(DatasetError, match=r"nan\.csv:3 column 'strings'"):
        sp.read_predictions(write_table(tmp_path / "nan.csv", won_test.paths[:3], scores))
    path = write_table(tmp_path / "dupe.csv", [won_test.paths[0]] * 2, won_test.labels[:2])
    with pytest.raises(DatasetError, match="duplicate clip keys"):
        sp.read_predictions(path)
    path = write_table(tmp_path / "nokey.csv", won_test.paths[:2], won_test.labels[:2], key_name="song")
    with pytest.raises(DatasetError, match="no key column"):
        sp.read_predictions(path)
    path = write_table(tmp_path / "foreign.csv", ["music/a.mp3", "b.wav"], won_test.labels[:2])
    with pytest.raises(DatasetError, match="no prediction matches"):
        sp.score_against_mtat(path, "won2020", "test", mtat_dir)
    with pytest.raises(DatasetError, match="not found"):
        sp.read_predictions(tmp_path / "absent.csv")
    # Two spellings of one clip.
    keys = [won_test.paths[0], "/abs/" + won_test.paths[0]]
    with pytest.raises(DatasetError, match="both name clip"):
        sp.score_against_mtat(write_table(tmp_path / "twice.csv", keys, won_test.labels[:2]),
                              "won2020", "test", mtat_dir, allow_partial=True)


def test_clips_of_other_splits_are_extra(tmp_path, mtat_dir, won_test):
    valid = mtat.ground_truth("won2020", "valid", mtat_dir)
    keys = won_test.paths + valid.paths[:7] + ["x/not-mtat.mp3"]
    scores = np.concatenate([won_test.labels, valid.labels[:7], np.zeros((1, 50))])
    scored = sp.score_against_mtat(write_table(tmp_path / "more.csv", keys, scores), "won2020", "test",
                                   mtat_dir, tags=FEW)
    assert (scored.num_extra, scored.num_matched, scored.scores.roc_auc_macro) == (8, 4_332, 1.0)


def test_pons_ground_truth_and_tag_subset(tmp_path, mtat_dir):
    pons = mtat.ground_truth("pons", "test", mtat_dir)
    path = write_tag_json(tmp_path / "pons.json", pons.clip_ids, pons.labels, key_name="clip_id")
    subset = sp.score_against_mtat(path, "pons", "test", mtat_dir, tags=("metal", "female voice"))
    assert subset.num_matched == 5_329 and subset.scores.roc_auc_macro == 1.0
    assert sorted(subset.scores.per_tag) == ["female voice", "metal"]
    assert subset.scores.per_tag["metal"]["positives"] == 165
    assert subset.scores.per_tag["female voice"]["positives"] == 119


def test_published_results_parse(mtat_dir):
    results_dir = shared_path("results")
    published, others = sp.published_results(results_dir)
    by_model = {p.model: p for p in published}
    assert by_model["MTT_musicnn"].roc_auc == pytest.approx(0.9066769123674747)
    assert by_model["MTT_musicnn"].pr_auc == pytest.approx(0.38310571748763617)
    assert by_model["MTT_vgg"].roc_auc == pytest.approx(0.9030268990308291)
    assert by_model["MTT_musicnn"].comparable_sources == ("pons",)
    won = [p for p in published if p.file.endswith("won2020_mtat.md")]
    assert [(p.roc_auc, p.pr_auc) for p in won] == [(0.9129, 0.4614)]
    assert not any(m.startswith("MSD") for m in by_model)  # MSD-trained rows are another test set
    assert any(o.endswith("musicnn_expected_joram.json") for o in others)


def test_markdown_report_marks_comparable_rows(perfect_scored):
    report = sp.scored_markdown(perfect_scored, results_dir=shared_path("results"))
    assert "| macro ROC-AUC | 1.0000 |" in report
    won_row = next(line for line in report.splitlines() if line.startswith("| Short-chunk CNN"))
    assert "| 0.9129 | 0.4614 |" in won_row and "| yes |" in won_row
    musicnn_row = next(line for line in report.splitlines() if line.startswith("| MTT_musicnn"))
    assert "| no |" in musicnn_row


def test_musictag_evaluate_predictions_prints_table_and_writes_outputs(tmp_path, won_test):
    shared_path("mtat")
    pred = write_table(tmp_path / "p.csv", won_test.paths, 1.0 - won_test.labels)
    env = {**os.environ, "MUSICTAG_SHARED_DATA": str(SHARED_DATA), "TF_CPP_MIN_LOG_LEVEL": "2"}
    cmd = [sys.executable, "-m", "musictag_tf.evaluate", f"--predictions={pred}",
           "--ground_truth=won2020", "--split=test", f"--output_json={tmp_path / 'o.json'}",
           f"--output_md={tmp_path / 'o.md'}"]
    done = subprocess.run(cmd, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "| macro ROC-AUC | 0.0000 |" in done.stdout and "Published MTAT results" in done.stdout
    payload = json.loads((tmp_path / "o.json").read_text())
    assert payload["num_matched"] == 4_332 and payload["scores"]["roc_auc_macro"] == 0.0
    assert (tmp_path / "o.md").read_text() == done.stdout
    # A missing clip is a one-line error and a non-zero exit.
    write_table(pred, won_test.paths[1:], won_test.labels[1:])
    done = subprocess.run(cmd, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "musictag-evaluate: error:" in done.stderr
    assert won_test.paths[0] in done.stderr
