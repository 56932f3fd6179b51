"""How closely a student's tag scores agree with its teacher's, per clip (issue 13, item 4).

Inputs are per-clip score matrices float [clips, tags] in [0, 1], rows aligned (the same clip
in both), columns in the same tag order:

* **ROC-AUC / PR-AUC (macro)**: the teacher's scores binarised at ``threshold`` (0.5) are the
  ground truth; only tags with at least ``min_positives`` (5) positive *and* one negative clip
  are scored (the others cannot give a stable AUC); macro = unweighted mean over those tags.
  PR-AUC is average precision (sklearn), its chance level the tag's positive rate.
* **Pearson r**: per clip, the correlation across tags of the student's and the teacher's
  score vectors, then the mean over clips. A clip whose student or teacher vector is constant
  has no r and is left out (``constant_clips`` counts them).
* **Top-k overlap**: per clip, |top-k(student) ∩ top-k(teacher)| / k, then the mean (k = 5).
* **Baseline** (``mean_baseline``): the training set's mean teacher score per tag, predicted
  for every clip: its AUCs are 0.5 (a constant per tag) and its r and top-k measure how much
  the tag *prior* alone explains; a student is only useful above it.
"""

from __future__ import annotations

import dataclasses
from typing import Dict, List, Sequence

import numpy as np

from musictag_tf.metrics import mean_defined, per_clip_pearson, per_tag_pearson
from musictag_tf.params import ConfigError


@dataclasses.dataclass(frozen=True)
class AgreementParams:
    """threshold: teacher score counted as a positive; min_positives: per scored tag; top_k."""

    threshold: float = 0.5
    min_positives: int = 5
    top_k: int = 5


@dataclasses.dataclass
class Agreement:
    """Student vs teacher over ``num_clips`` clips (module docstring)."""

    roc_auc_macro: float  # NaN when no tag qualifies
    pr_auc_macro: float
    pearson_r: float  # mean over clips with a defined r
    top_k_overlap: float
    scored_tags: List[str]
    num_clips: int
    constant_clips: int
    tag_r: float = float("nan")  # mean over tags of the per-tag r across clips (log-odds)

    def row(self) -> Dict[str, float]:
        return {"roc_auc": self.roc_auc_macro, "pr_auc": self.pr_auc_macro, "pearson_r": self.pearson_r,
                "tag_r": self.tag_r, "top5_overlap": self.top_k_overlap}


def _check(student: np.ndarray, teacher: np.ndarray, tags: Sequence[str]):
    student = np.asarray(student, np.float64)
    teacher = np.asarray(teacher, np.float64)
    if student.shape != teacher.shape or student.ndim != 2 or student.shape[1] != len(tags):
        raise ConfigError(f"student {student.shape} and teacher {teacher.shape} scores must both be "
                          f"[clips, {len(tags)} tags]")
    if not (np.all(np.isfinite(student)) and np.all(np.isfinite(teacher))):
        raise ConfigError("student or teacher scores contain NaN or infinity")
    return student, teacher


def top_k_overlap(student: np.ndarray, teacher: np.ndarray, k: int) -> np.ndarray:
    """float64 [clips]: |top-k(student) ∩ top-k(teacher)| / k (ties broken by tag order)."""
    k = min(k, student.shape[1])
    top_s = np.argsort(-student, axis=1, kind="stable")[:, :k]
    top_t = np.argsort(-teacher, axis=1, kind="stable")[:, :k]
    return np.array([len(set(a) & set(b)) / k for a, b in zip(top_s, top_t)], np.float64)


def agreement(student: np.ndarray, teacher: np.ndarray, tags: Sequence[str],
              params: AgreementParams = AgreementParams()) -> Agreement:
    """Agreement of ``student`` [clips, tags] with ``teacher`` [clips, tags] (module docstring)."""
    from sklearn import metrics as skm

    student, teacher = _check(student, teacher, tags)
    truth = (teacher >= params.threshold).astype(np.int64)
    positives = truth.sum(axis=0)
    cols = np.flatnonzero((positives >= params.min_positives) & (positives < truth.shape[0]))
    if cols.size:
        roc = float(np.mean([skm.roc_auc_score(truth[:, j], student[:, j]) for j in cols]))
        pr = float(np.mean([skm.average_precision_score(truth[:, j], student[:, j]) for j in cols]))
    else:
        roc = pr = float("nan")
    r = per_clip_pearson(student, teacher)
    defined = np.isfinite(r)
    return Agreement(roc_auc_macro=roc, pr_auc_macro=pr,
                     pearson_r=mean_defined(r),
                     top_k_overlap=float(top_k_overlap(student, teacher, params.top_k).mean()),
                     scored_tags=[tags[j] for j in cols], num_clips=int(student.shape[0]),
                     constant_clips=int((~defined).sum()),
                     tag_r=mean_defined(per_tag_pearson(student, teacher)))


def mean_baseline(train_teacher: np.ndarray, num_clips: int) -> np.ndarray:
    """float64 [num_clips, tags]: the training set's mean teacher score per tag, for every clip."""
    mean = np.asarray(train_teacher, np.float64).mean(axis=0)
    return np.tile(mean[None], (num_clips, 1))


def markdown_table(rows: Dict[str, Agreement], title: str = "Agreement with the teacher",
                   params: AgreementParams = AgreementParams()) -> str:
    """A Markdown table: one row per model (and the baseline)."""
    lines = [f"### {title}", "", "| model | macro ROC-AUC | macro PR-AUC | Pearson r (per clip) "
             "| Pearson r (per tag, log-odds) | top-5 overlap |", "|---|---|---|---|---|---|"]
    for name, a in rows.items():
        lines.append(f"| {name} | {a.roc_auc_macro:.4f} | {a.pr_auc_macro:.4f} | {a.pearson_r:.4f} "
                     f"| {a.tag_r:.4f} | {a.top_k_overlap:.4f} |")
    first = next(iter(rows.values()), None)
    if first is not None:
        lines += ["", f"{first.num_clips} clips; AUCs over {len(first.scored_tags)} tags with >= "
                  f"{params.min_positives} teacher positives (teacher >= {params.threshold:g})."]
    return "\n".join(lines) + "\n"
