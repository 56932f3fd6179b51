"""Evaluation metrics, computed exactly as scikit-learn computes them.

Tagging (multi-label): macro ROC-AUC and macro PR-AUC (average precision) over the tags that
have both positives and negatives in the evaluated set (the others are listed, not scored, since
AUC is undefined for them), per-tag ROC-AUC / PR-AUC, and accuracy / F1 at a threshold.
Emotion (single-label): accuracy, per-class precision / recall / F1 and the confusion matrix.
Soft targets (a teacher's scores, distillation): the per-clip Pearson r between the predicted and
the target score vectors (``per_clip_pearson``: does each clip get the teacher's tag profile?) and
the per-tag Pearson r across clips of their log-odds (``per_tag_pearson``: does each tag rank the
clips as the teacher does? -- what ROC-AUC against the teacher rewards, and what validation
selects on).
"""

from __future__ import annotations

import dataclasses
from typing import Dict, List, Optional, Sequence

import numpy as np
from sklearn import metrics as skm


@dataclasses.dataclass
class TaggingScores:
    roc_auc_macro: float
    pr_auc_macro: float
    accuracy: float  # element-wise accuracy of (scores >= threshold) over clips x tags
    f1_micro: float
    threshold: float
    per_tag: Dict[str, Dict[str, float]]  # tag -> {"roc_auc", "pr_auc", "positives"}
    unscored_tags: List[str]  # no positive or no negative in this set
    num_clips: int

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def tagging_scores(y_true: np.ndarray, y_score: np.ndarray, tags: Sequence[str],
                   threshold: float = 0.5) -> TaggingScores:
    """y_true 0/1 [clips, tags], y_score probabilities [clips, tags] -> TaggingScores."""
    y_true = np.asarray(y_true, dtype=np.int64)
    y_score = np.asarray(y_score, dtype=np.float64)
    if y_true.shape != y_score.shape or y_true.ndim != 2 or y_true.shape[1] != len(tags):
        raise ValueError(f"shapes differ: y_true {y_true.shape}, y_score {y_score.shape}, {len(tags)} tags")
    if not np.all(np.isfinite(y_score)):
        raise ValueError("y_score contains NaN or infinity")
    positives = y_true.sum(axis=0)
    scorable = (positives > 0) & (positives < y_true.shape[0])
    per_tag, unscored = {}, []
    for j, tag in enumerate(tags):
        if not scorable[j]:
            unscored.append(tag)
            continue
        per_tag[tag] = {
            "roc_auc": float(skm.roc_auc_score(y_true[:, j], y_score[:, j])),
            "pr_auc": float(skm.average_precision_score(y_true[:, j], y_score[:, j])),
            "positives": int(positives[j]),
        }
    if not per_tag:
        raise ValueError("no tag has both positive and negative clips; AUC is undefined")
    cols = np.flatnonzero(scorable)
    roc = float(skm.roc_auc_score(y_true[:, cols], y_score[:, cols], average="macro"))
    pr = float(skm.average_precision_score(y_true[:, cols], y_score[:, cols], average="macro"))
    predicted = (y_score >= threshold).astype(np.int64)
    return TaggingScores(
        roc_auc_macro=roc, pr_auc_macro=pr,
        accuracy=float((predicted == y_true).mean()),
        f1_micro=float(skm.f1_score(y_true, predicted, average="micro", zero_division=0)),
        threshold=threshold, per_tag=per_tag, unscored_tags=unscored, num_clips=int(y_true.shape[0]))


@dataclasses.dataclass
class ClassificationScores:
    accuracy: float
    per_class: Dict[str, Dict[str, float]]  # class -> precision, recall, f1, support
    macro_f1: float
    confusion: List[List[int]]  # rows: true class, columns: predicted class
    class_names: List[str]
    num_clips: int

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def classification_scores(y_true: np.ndarray, y_prob: np.ndarray,
                          class_names: Sequence[str]) -> ClassificationScores:
    """y_true int [clips] (-1 = unknown, ignored), y_prob [clips, classes] -> ClassificationScores."""
    y_true = np.asarray(y_true, dtype=np.int64)
    y_prob = np.asarray(y_prob, dtype=np.float64)
    known = y_true >= 0
    if not known.any():
        raise ValueError("no clip has a known class label")
    y_true, y_prob = y_true[known], y_prob[known]
    y_pred = y_prob.argmax(axis=1)
    labels = list(range(len(class_names)))
    p, r, f, s = skm.precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    per_class = {name: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]),
                        "support": int(s[i])} for i, name in enumerate(class_names)}
    return ClassificationScores(
        accuracy=float(skm.accuracy_score(y_true, y_pred)), per_class=per_class,
        macro_f1=float(skm.f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)),
        confusion=skm.confusion_matrix(y_true, y_pred, labels=labels).tolist(),
        class_names=list(class_names), num_clips=int(len(y_true)))


def tagging_markdown(scores: TaggingScores, title: Optional[str] = None, max_tags: int = 100) -> str:
    """A Markdown report: the macro numbers, then per-tag AUCs sorted by ROC-AUC."""
    lines = [f"### {title}", ""] if title else []
    lines += ["| metric | value |", "|---|---|",
              f"| clips | {scores.num_clips} |",
              f"| macro ROC-AUC | {scores.roc_auc_macro:.4f} |",
              f"| macro PR-AUC | {scores.pr_auc_macro:.4f} |",
              f"| accuracy @ {scores.threshold:g} | {scores.accuracy:.4f} |",
              f"| micro F1 @ {scores.threshold:g} | {scores.f1_micro:.4f} |", "",
              "| tag | ROC-AUC | PR-AUC | positives |", "|---|---|---|---|"]
    ranked = sorted(scores.per_tag.items(), key=lambda kv: -kv[1]["roc_auc"])[:max_tags]
    lines += [f"| {t} | {v['roc_auc']:.4f} | {v['pr_auc']:.4f} | {v['positives']} |" for t, v in ranked]
    if scores.unscored_tags:
        lines += ["", f"Not scored (one class only in this set): {', '.join(scores.unscored_tags)}"]
    return "\n".join(lines) + "\n"


def classification_markdown(scores: ClassificationScores, title: str) -> str:
    names = scores.class_names
    lines = [f"### {title}", "", f"accuracy {scores.accuracy:.4f}, macro F1 {scores.macro_f1:.4f}, "
             f"{scores.num_clips} clips", "", "| class | precision | recall | F1 | support |",
             "|---|---|---|---|---|"]
    lines += [f"| {n} | {v['precision']:.3f} | {v['recall']:.3f} | {v['f1']:.3f} | {v['support']} |"
              for n, v in scores.per_class.items()]
    lines += ["", "confusion (rows true, columns predicted):", "",
              "| | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    lines += [f"| {names[i]} | " + " | ".join(str(c) for c in row) + " |"
              for i, row in enumerate(scores.confusion)]
    return "\n".join(lines) + "\n"


def per_clip_pearson(y_score: np.ndarray, y_target: np.ndarray) -> np.ndarray:
    """float64 [clips]: Pearson r across tags between each clip's ``y_score`` [clips, tags] row
    and its ``y_target`` row; NaN where either row is constant."""
    s = np.asarray(y_score, np.float64)
    t = np.asarray(y_target, np.float64)
    varies = (np.ptp(s, axis=1) > 0) & (np.ptp(t, axis=1) > 0)  # exact test: a mean's rounding is not variation
    s = s - s.mean(axis=1, keepdims=True)
    t = t - t.mean(axis=1, keepdims=True)
    norm = np.sqrt((s * s).sum(axis=1) * (t * t).sum(axis=1))
    ok = varies & (norm > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(ok, (s * t).sum(axis=1) / np.where(ok, norm, 1.0), np.nan)


def per_tag_pearson(y_score: np.ndarray, y_target: np.ndarray, epsilon: float = 1e-4) -> np.ndarray:
    """float64 [tags]: Pearson r across clips between ``y_score`` [clips, tags] and ``y_target``
    [clips, tags] per tag, on log-odds (probabilities clipped to [ε, 1-ε]: rare tags live at
    0.001-0.1, where a probability-space r sees almost nothing); NaN where a column is constant."""
    def log_odds(p):
        p = np.clip(np.asarray(p, np.float64), epsilon, 1.0 - epsilon)
        return np.log(p) - np.log1p(-p)
    return per_clip_pearson(log_odds(y_score).T, log_odds(y_target).T)


def mean_defined(values: np.ndarray, empty: float = float("nan")) -> float:
    """Mean of the finite entries of ``values`` (a per-clip or per-tag r), ``empty`` when none is."""
    values = np.asarray(values, np.float64)
    finite = np.isfinite(values)
    return float(values[finite].mean()) if finite.any() else float(empty)


def is_soft(y_target: np.ndarray) -> bool:
    """True when targets hold values other than 0 and 1 (a teacher's scores, not tags)."""
    y = np.asarray(y_target)
    return bool(y.size) and not np.all((y == 0) | (y == 1))
