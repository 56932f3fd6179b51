"""Score predictions against published MTAT ground truth, comparably with the literature.

``score_against_mtat`` reads a predictions file (musictag_tf.mtat.predictions), matches it to a
published split (musictag_tf.mtat.datasets) and computes macro ROC-AUC / PR-AUC as the papers do;
``scored_markdown`` prints them beside the published MTAT numbers in ``shared/data/results`` (only
rows evaluated on the same test set are comparable). Command line: ``musictag-evaluate --predictions``.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import pathlib
import re
from typing import List, Optional, Sequence, Tuple

import numpy as np

from musictag_tf import metrics
from musictag_tf.errors import DatasetError
from musictag_tf.mtat import datasets as mtat
from musictag_tf.mtat.predictions import _MAX_EXAMPLES, PathLike, match_clip_ids, read_predictions  # noqa: F401

log = logging.getLogger(__name__)



@dataclasses.dataclass
class ScoredPredictions:
    """A predictions file scored on one published MTAT split.

    num_ground_truth: clips in the split; num_matched: of those, clips with a prediction (scored);
    num_missing: split clips without a prediction; num_extra: prediction rows not in the split
    (unknown paths or clips of another split). partial: scored on the intersection only.
    """

    predictions_path: str
    source: str
    split: str
    num_ground_truth: int
    num_matched: int
    num_missing: int
    num_extra: int
    missing_examples: List[str]
    extra_examples: List[str]
    partial: bool
    scores: metrics.TaggingScores
    mtat_dir: str

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def score_against_mtat(pred_path: PathLike, source: str = "won2020", split: str = "test",
                       mtat_dir: Optional[PathLike] = None, tags: Sequence[str] = mtat.TOP50_TAGS,
                       allow_partial: bool = False, threshold: float = 0.5,
                       ignore_columns: Sequence[str] = ()) -> ScoredPredictions:
    """Score ``pred_path`` against ``mtat.ground_truth(source, split)`` -> ScoredPredictions.

    Every ground-truth clip needs a prediction unless ``allow_partial`` (then the intersection is
    scored and a warning says how many were missing); at least one must match. Prediction rows for
    clips outside the split are counted as extra and ignored. ``tags`` may be a subset of the 50.
    """
    mtat_dir = pathlib.Path(mtat_dir) if mtat_dir is not None else mtat.default_mtat_dir()
    gt = mtat.ground_truth(source, split, mtat_dir)
    gt_columns = mtat.standard_tag_columns(tags)
    keys, scores = read_predictions(pred_path, tags, row_keys=gt.clip_ids, ignore_columns=ignore_columns)
    clip_ids = match_clip_ids(keys, mtat_dir)
    gt_row = gt.row_of()
    pred_rows, label_rows, extra, seen = [], [], [], {}
    for i, (key, clip_id) in enumerate(zip(keys, clip_ids)):
        if clip_id is None or clip_id not in gt_row:
            extra.append(str(key))
            continue
        if clip_id in seen:
            raise DatasetError(f"{pred_path}: {keys[seen[clip_id]]!r} and {key!r} both name clip {clip_id}")
        seen[clip_id] = i
        pred_rows.append(i)
        label_rows.append(gt_row[clip_id])
    desc = f"{gt.source} {gt.split} split ({len(gt)} clips)"
    if not pred_rows:
        raise DatasetError(f"{pred_path}: no prediction matches a clip of the {desc}; "
                           f"keys look like {[str(k) for k in keys[:3]]}, expected MTAT paths such as "
                           f"{gt.paths[0]!r} or clip ids such as {gt.clip_ids[0]}")
    missing = [gt.paths[r] for r in range(len(gt)) if gt.clip_ids[r] not in seen]
    if missing and not allow_partial:
        raise DatasetError(f"{pred_path}: {len(missing)} of the {desc} have no prediction, e.g. "
                           f"{missing[:_MAX_EXAMPLES]}; pass allow_partial=True (--allow_partial) to score the "
                           f"{len(pred_rows)} matched clips only (not comparable with published numbers)")
    if missing:
        log.warning("%s: %d of the %s have no prediction; scoring the %d matched clips only "
                    "(not comparable with published numbers)", pred_path, len(missing), desc, len(pred_rows))
    if extra:
        log.warning("%s: %d prediction rows are not in the %s and are ignored, e.g. %s",
                    pred_path, len(extra), desc, extra[:3])
    y_true = gt.labels[np.asarray(label_rows)][:, gt_columns]
    tagging = metrics.tagging_scores(y_true, scores[np.asarray(pred_rows)], list(tags), threshold)
    return ScoredPredictions(
        predictions_path=str(pred_path), source=gt.source, split=gt.split, num_ground_truth=len(gt),
        num_matched=len(pred_rows), num_missing=len(missing), num_extra=len(extra),
        missing_examples=missing[:_MAX_EXAMPLES], extra_examples=extra[:_MAX_EXAMPLES],
        partial=bool(missing), scores=tagging, mtat_dir=str(mtat_dir))


# ------------------------------------------------------------------------------------ published numbers


@dataclasses.dataclass(frozen=True)
class PublishedResult:
    """One published MTAT test result, copied from ``shared/data/results/*.md``."""

    model: str
    roc_auc: float
    pr_auc: float
    test_set: str
    comparable_sources: Tuple[str, ...]  # ground-truth sources evaluated on the same test clips
    file: str


# file name -> (row filter on the model cell, test set description, comparable ground-truth sources)
_PUBLISHED_FILES = {
    "musicnn_mtat.md": (lambda model: model.startswith("MTT_"),
                        "Pons/musicnn test, folders d-f (5,329 clips)", ("pons",)),
    "won2020_mtat.md": (lambda model: True, "Lee 2017 / Won 2020 test (4,332 clips)", ("won2020", "lee2017")),
}


def _markdown_tables(text: str) -> List[List[List[str]]]:
    """Every pipe table of a Markdown text: rows of stripped cells, separator rows dropped."""
    tables, current = [], []
    for line in text.splitlines() + [""]:
        stripped = line.strip()
        if stripped.startswith("|") and stripped.endswith("|"):
            cells = [c.strip() for c in stripped[1:-1].split("|")]
            if not all(re.fullmatch(r":?-{3,}:?", c) for c in cells):
                current.append(cells)
        elif current:
            tables.append(current)
            current = []
    return tables


def _unit_float(cell: str) -> Optional[float]:
    try:
        value = float(cell)
    except ValueError:
        return None
    return value if 0.0 <= value <= 1.0 else None


def published_results(results_dir: PathLike) -> Tuple[List[PublishedResult], List[str]]:
    """Published MTAT numbers parsed from ``results_dir`` -> (results, files that were not parsed).

    Parses the ROC-AUC / PR-AUC columns of the tables in ``musicnn_mtat.md`` (MTT-trained rows only;
    the MSD rows are another test set) and ``won2020_mtat.md``; other files are only listed.
    """
    results_dir = pathlib.Path(results_dir)
    if not results_dir.is_dir():
        return [], []
    results, others = [], []
    for path in sorted(results_dir.iterdir()):
        if not path.is_file():
            continue
        spec = _PUBLISHED_FILES.get(path.name)
        if spec is None:
            others.append(str(path))
            continue
        keep, test_set, comparable = spec
        found = []
        for table in _markdown_tables(path.read_text(encoding="utf-8")):
            header = table[0]
            roc = next((i for i, h in enumerate(header) if "ROC-AUC" in h), None)
            pr = next((i for i, h in enumerate(header) if "PR-AUC" in h), None)
            if roc is None or pr is None or "MSD" in header[0]:
                continue
            for row in table[1:]:
                if len(row) != len(header) or not keep(row[0]):
                    continue
                roc_value, pr_value = _unit_float(row[roc]), _unit_float(row[pr])
                if roc_value is not None and pr_value is not None:
                    found.append(PublishedResult(row[0], roc_value, pr_value, test_set, comparable, str(path)))
        if found:
            results.extend(found)
        else:
            others.append(str(path))
    return results, others


def default_results_dir(mtat_dir: Optional[PathLike] = None) -> pathlib.Path:
    """``<shared data>/results``: the sibling of the MTAT directory."""
    mtat_dir = pathlib.Path(mtat_dir) if mtat_dir is not None else mtat.default_mtat_dir()
    return mtat_dir.parent / "results"


def scored_markdown(scored: ScoredPredictions, results_dir: Optional[PathLike] = None,
                    include_published: bool = True, max_tags: int = 50) -> str:
    """Markdown report: matching summary, macro/per-tag table, published numbers for context."""
    lines = [f"## MTAT {scored.split}: {scored.source} ground truth", "",
             f"predictions: `{scored.predictions_path}`", "",
             "| clips | count |", "|---|---|",
             f"| in ground truth | {scored.num_ground_truth} |",
             f"| scored (matched) | {scored.num_matched} |",
             f"| without prediction | {scored.num_missing} |",
             f"| predictions not in this split (ignored) | {scored.num_extra} |", ""]
    if scored.partial:
        lines += [f"**Warning: partial scoring** -- {scored.num_missing} ground-truth clips have no "
                  f"prediction (e.g. {', '.join(scored.missing_examples[:3])}); these numbers are "
                  "not comparable with published results.", ""]
    lines.append(metrics.tagging_markdown(scored.scores, title="Scores", max_tags=max_tags))
    if include_published:
        results_dir = pathlib.Path(results_dir) if results_dir else default_results_dir(scored.mtat_dir)
        published, others = published_results(results_dir)
        if published:
            lines += ["### Published MTAT results (context)", "",
                      "| model | ROC-AUC | PR-AUC | test set | same test set as this run | source |",
                      "|---|---|---|---|---|---|"]
            for p in published:
                same = "yes" if scored.split == "test" and scored.source in p.comparable_sources \
                    and not scored.partial else "no"
                lines.append(f"| {p.model} | {p.roc_auc:.4f} | {p.pr_auc:.4f} | {p.test_set} | {same} | "
                             f"`{pathlib.Path(p.file).name}` |")
            lines += [f"| **this run** | **{scored.scores.roc_auc_macro:.4f}** | "
                      f"**{scored.scores.pr_auc_macro:.4f}** | {scored.source} {scored.split} "
                      f"({scored.num_matched} clips) | | |", ""]
        md_others = [o for o in others if o.endswith(".md")]
        if md_others:
            lines += ["Other published results (not parsed): " + ", ".join(f"`{o}`" for o in md_others), ""]
    return "\n".join(lines).rstrip("\n") + "\n"


# ------------------------------------------------------------------------------------ command line
