"""Student-vs-teacher agreement metrics (musictag_tf.distill.agreement) on hand-checked arrays."""

from __future__ import annotations

import numpy as np
import pytest

from musictag_tf.distill import agreement as ag
from musictag_tf.params import ConfigError


def test_pearson_and_top_k_by_hand():
    student = np.array([[1, 2, 3, 0], [3, 2, 1, 0], [5, 5, 5, 5]], float)
    teacher = np.array([[2, 4, 6, 0], [0.1, 0.2, 0.3, 0.0], [1, 2, 3, 4]], float)
    r = ag.per_clip_pearson(student, teacher)
    assert r[0] == pytest.approx(1.0)
    assert r[1] == pytest.approx(np.corrcoef([3, 2, 1, 0], [0.1, 0.2, 0.3, 0.0])[0, 1])
    assert np.isnan(r[2])  # constant student vector
    s = np.array([[0.9, 0.1, 0.5, 0.3]])
    t = np.array([[0.2, 0.8, 0.7, 0.1]])
    assert ag.top_k_overlap(s, t, 2)[0] == 0.5  # {0, 2} vs {1, 2}
    assert ag.top_k_overlap(s, t, 4)[0] == 1.0


def test_per_tag_pearson_ranks_clips_on_log_odds():
    from musictag_tf.metrics import per_tag_pearson
    teacher = np.array([[0.01, 0.5], [0.1, 0.5], [0.5, 0.5], [0.9, 0.5]])
    odds = lambda p: np.log(p / (1 - p))  # noqa: E731
    student = 1 / (1 + np.exp(-(2 * odds(teacher) + 1)))  # a monotone affine map of the log-odds
    r = per_tag_pearson(student, teacher)
    assert r[0] == pytest.approx(1.0) and np.isnan(r[1])  # tag 2: the teacher is constant
    constant = np.tile([0.123456789, 0.5], (41, 1))  # a mean over 41 equal floats is not exactly them
    assert np.isnan(per_tag_pearson(constant, np.tile(teacher, (11, 1))[:41])).all()
    flipped = per_tag_pearson(1 - student, teacher)
    assert flipped[0] == pytest.approx(-1.0)
    a = ag.agreement(student, teacher, ["a", "b"], ag.AgreementParams(min_positives=1))
    assert a.tag_r == pytest.approx(1.0) and a.row()["tag_r"] == a.tag_r


def test_auc_on_binarised_teacher_by_hand():
    # tag a: teacher positives = clips 0-4 (>= 0.5), negative = clip 5; the student ranks the
    # negative above clip 4 only -> ROC-AUC 4/5, AP = (1+1+1+1+5/6)/5.
    # tag b: 1 positive (< 5) -> not scored; tag c: all positive -> not scored.
    teacher = np.array([[0.9, 0.6, 0.9], [0.8, 0.1, 0.9], [0.7, 0.1, 0.9], [0.6, 0.1, 0.9],
                        [0.5, 0.1, 0.9], [0.49, 0.1, 0.9]])
    student = np.array([[0.9, 0.1, 0.2], [0.8, 0.2, 0.3], [0.7, 0.3, 0.1], [0.6, 0.1, 0.5],
                        [0.1, 0.2, 0.3], [0.3, 0.1, 0.2]])
    a = ag.agreement(student, teacher, ["a", "b", "c"])
    assert a.scored_tags == ["a"]
    assert a.roc_auc_macro == pytest.approx(0.8)
    assert a.pr_auc_macro == pytest.approx((4 + 5 / 6) / 5)
    assert a.num_clips == 6 and a.constant_clips == 0
    perfect = ag.agreement(teacher, teacher, ["a", "b", "c"])
    assert perfect.roc_auc_macro == 1.0 and perfect.pearson_r == pytest.approx(1.0)
    assert perfect.top_k_overlap == 1.0


def test_mean_baseline():
    train = np.array([[0.2, 0.8, 0.0], [0.4, 0.6, 0.3]])
    base = ag.mean_baseline(train, 6)
    np.testing.assert_allclose(base, [[0.3, 0.7, 0.15]] * 6)
    teacher = np.array([[0.9, 0.6, 0.1]] * 3 + [[0.1, 0.6, 0.1]] * 3)
    teacher[:, 0] = [0.9, 0.8, 0.7, 0.6, 0.5, 0.1]
    a = ag.agreement(base, teacher, ["a", "b", "c"])
    assert a.roc_auc_macro == 0.5  # a constant score ranks nothing
    table = ag.markdown_table({"baseline": a})
    assert "| baseline | 0.5000 |" in table


def test_shape_and_nan_errors():
    with pytest.raises(ConfigError, match="must both be"):
        ag.agreement(np.zeros((2, 3)), np.zeros((2, 2)), ["a", "b", "c"])
    with pytest.raises(ConfigError, match="NaN"):
        ag.agreement(np.full((2, 1), np.nan), np.zeros((2, 1)), ["a"])


def test_score_tables_align_two_tagger_csvs_by_row_key(tmp_path):
    from musictag_tf.distill import score_tables
    from musictag_tf.errors import DatasetError
    from musictag_tf.mtat.datasets import TOP50_TAGS

    rng = np.random.default_rng(3)
    teacher = rng.uniform(0, 1, (8, 50))
    keys = [f"/m/song{i}.ogg#{29.1 * (i % 2):.2f}" for i in range(8)]

    def write(path, rows, order):
        lines = ["path," + ",".join(TOP50_TAGS)]
        lines += [keys[i] + "," + ",".join(f"{v:.6f}" for v in rows[i]) for i in order]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")

    write(tmp_path / "t.csv", teacher, range(8))
    write(tmp_path / "s.csv", teacher * 0.5, reversed(range(8)))  # same ranking, other row order
    got_keys, t, s = score_tables.aligned_scores(str(tmp_path / "t.csv"), str(tmp_path / "s.csv"))
    assert got_keys == keys
    np.testing.assert_allclose(s, np.round(teacher * 0.5, 6), atol=1e-6)
    a = ag.agreement(s, t, list(TOP50_TAGS), ag.AgreementParams(min_positives=1))
    assert a.pearson_r == pytest.approx(1.0) and a.top_k_overlap == 1.0 and a.roc_auc_macro == 1.0
    write(tmp_path / "s.csv", teacher, range(7))
    with pytest.raises(DatasetError, match=r"t.csv: 1 rows have no match.*song7"):
        score_tables.aligned_scores(str(tmp_path / "t.csv"), str(tmp_path / "s.csv"))
