"""Metrics equal scikit-learn's on fixed arrays, including the edge cases."""

import numpy as np
import pytest
from sklearn import metrics as skm

from musictag_tf import metrics

Y_TRUE = np.array([[1, 0, 0], [0, 1, 0], [1, 1, 0], [0, 0, 0], [1, 0, 0]])
Y_SCORE = np.array([[.9, .2, .1], [.3, .8, .2], [.6, .4, .3], [.2, .1, .9], [.4, .6, .5]])


def test_tagging_scores_match_sklearn_and_skip_single_class_tags():
    s = metrics.tagging_scores(Y_TRUE, Y_SCORE, ["a", "b", "c"])
    # Tag c has no positive: not scored; macro over a and b as sklearn computes it.
    assert s.unscored_tags == ["c"]
    expect_roc = skm.roc_auc_score(Y_TRUE[:, :2], Y_SCORE[:, :2], average="macro")
    expect_pr = skm.average_precision_score(Y_TRUE[:, :2], Y_SCORE[:, :2], average="macro")
    assert s.roc_auc_macro == pytest.approx(expect_roc, abs=1e-12)
    assert s.pr_auc_macro == pytest.approx(expect_pr, abs=1e-12)
    # Hand check for tag a: positives {.9,.6,.4}, negatives {.3,.2}: all 6 pairs ordered -> 1.0
    assert s.per_tag["a"]["roc_auc"] == 1.0
    # tag b: positives {.8,.4}, negatives {.2,.6,.1}: pairs won 3 + 2 = 5 of 6
    assert s.per_tag["b"]["roc_auc"] == pytest.approx(5 / 6)
    assert s.accuracy == pytest.approx(((Y_SCORE >= .5) == Y_TRUE).mean())
    assert s.f1_micro == pytest.approx(skm.f1_score(Y_TRUE, (Y_SCORE >= .5).astype(int), average="micro"))


def test_tagging_scores_reject_bad_input():
    with pytest.raises(ValueError, match="shapes"):
        metrics.tagging_scores(Y_TRUE, Y_SCORE[:, :2], ["a", "b", "c"])
    bad = Y_SCORE.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        metrics.tagging_scores(Y_TRUE, bad, ["a", "b", "c"])
    with pytest.raises(ValueError, match="undefined"):
        metrics.tagging_scores(np.zeros((3, 1)), np.ones((3, 1)), ["x"])


def test_classification_scores_match_sklearn_and_ignore_unknown():
    y = np.array([0, 1, 2, 3, 3, 2, -1, 1])
    prob = np.eye(4)[[0, 1, 1, 3, 2, 2, 0, 0]] * 0.7 + 0.075
    s = metrics.classification_scores(y, prob, ["c", "d", "e", "a"])
    known = y >= 0
    pred = prob.argmax(1)[known]
    assert s.accuracy == pytest.approx(skm.accuracy_score(y[known], pred))
    assert s.macro_f1 == pytest.approx(skm.f1_score(y[known], pred, average="macro"))
    assert s.confusion == skm.confusion_matrix(y[known], pred, labels=[0, 1, 2, 3]).tolist()
    p, r, f, _ = skm.precision_recall_fscore_support(y[known], pred, labels=[0, 1, 2, 3], zero_division=0)
    assert s.per_class["e"]["precision"] == pytest.approx(p[2])
    assert s.per_class["e"]["recall"] == pytest.approx(r[2])
    assert s.num_clips == 7


def test_markdown_reports_contain_the_numbers():
    s = metrics.tagging_scores(Y_TRUE, Y_SCORE, ["a", "b", "c"])
    md = metrics.tagging_markdown(s, "test")
    assert f"{s.roc_auc_macro:.4f}" in md and "| a | 1.0000" in md and "Not scored" in md
