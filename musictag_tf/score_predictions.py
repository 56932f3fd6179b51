"""Score a predictions file against published MTAT ground truth, comparably with the literature.

Accepted predictions files (scores are probabilities or any monotone score, clips x tags):

- CSV / TSV with a header: a key column (``clip_id``, or ``path`` / ``mp3_path`` / ``file``) and one
  column per tag in any order and spelling (``no vocals`` / ``noVocals`` / ``no_vocals``). This is also
  what ``musictag tag --format=csv`` writes (``path`` + the tag names).
- JSON / JSON lines as ``musictag tag --format=json`` writes: a list of objects
  ``{"path": ..., "scores": {tag: p, ...}}`` (``"file"`` or ``"clip_id"`` also name the clip;
  a wrapper ``{"predictions": [...]}`` is accepted; entries carrying only an ``"error"`` are skipped
  and so count as missing clips).
- ``.npy`` float [clips, 50] in the standard tag order, rows in the order of the chosen split
  (``mtat.ground_truth(source, split).clip_ids``).

Paths are matched to clip ids by their MTAT relative path (``f/xxx.mp3``; absolute paths and Lee's
``.npy`` suffix work) or, failing that, by their basename when it is unique in MTAT.

Command line::

    python -m musictag_tf.score_predictions --predictions=preds.csv --ground_truth=won2020 --split=test \\
        [--mtat_dir=...] [--allow_partial] [--output_json=...] [--output_md=...]

prints the macro ROC-AUC / PR-AUC table, per-tag numbers and the published MTAT numbers in
``shared/data/results`` for context (only rows evaluated on the same test set are comparable).
"""

from __future__ import annotations

import csv
import dataclasses
import json
import logging
import math
import os
import pathlib
import re
import sys
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from musictag_tf import metrics
from musictag_tf import mtat
from musictag_tf.errors import DatasetError

log = logging.getLogger(__name__)

PathLike = Union[str, os.PathLike]
Key = Union[int, str]

CLIP_ID_COLUMNS = ("clip_id", "clipid", "id")
PATH_COLUMNS = ("path", "mp3_path", "file", "filename", "mp3")
JSON_EXTENSIONS = (".json", ".jsonl", ".ndjson")
_MAX_EXAMPLES = 5

# ------------------------------------------------------------------------------------ reading


def _tag_columns(tags: Sequence[str]) -> Dict[str, int]:
    """tag_key -> position in ``tags``; the requested tags must be distinct MTAT top-50 tags."""
    mtat.standard_tag_columns(tags)  # raises for non-MTAT tags
    keys = {mtat.tag_key(t): j for j, t in enumerate(tags)}
    if len(keys) != len(tags):
        raise DatasetError(f"duplicate tags requested: {list(tags)}")
    return keys


def _parse_score(value, where: str) -> float:
    try:
        score = float(value)
    except (TypeError, ValueError):
        raise DatasetError(f"{where}: score {value!r} is not a number") from None
    if not math.isfinite(score):
        raise DatasetError(f"{where}: score {value!r} is not finite")
    return score


def _check_unique(keys: Sequence[Key], path: PathLike) -> None:
    seen, dupes = set(), []
    for k in keys:
        if k in seen:
            dupes.append(k)
        seen.add(k)
    if dupes:
        raise DatasetError(f"{path}: {len(dupes)} duplicate clip keys, e.g. {dupes[:_MAX_EXAMPLES]}")


def _read_table(path: pathlib.Path, tags: Sequence[str], ignore_columns: Sequence[str]
                ) -> Tuple[List[Key], np.ndarray]:
    text = path.read_text(encoding="utf-8-sig")
    first = text.split("\n", 1)[0]
    delimiter = "\t" if path.suffix.lower() == ".tsv" or "\t" in first else ","
    reader = csv.reader(text.splitlines(), delimiter=delimiter)
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        raise DatasetError(f"{path}: empty predictions file") from None
    lowered = [h.lower() for h in header]
    key_col = next((lowered.index(c) for c in CLIP_ID_COLUMNS if c in lowered), None)
    by_clip_id = key_col is not None
    if key_col is None:
        key_col = next((lowered.index(c) for c in PATH_COLUMNS if c in lowered), None)
    if key_col is None:
        raise DatasetError(f"{path}: no key column; expected one of {CLIP_ID_COLUMNS + PATH_COLUMNS} "
                           f"in the header {header[:6]}")
    wanted = _tag_columns(tags)
    all_mtat = {mtat.tag_key(t) for t in mtat.TOP50_TAGS}
    ignored = {c.lower() for c in ignore_columns} | set(CLIP_ID_COLUMNS) | set(PATH_COLUMNS)
    column_of: Dict[int, int] = {}  # tag position -> column
    unknown, duplicated = [], []
    for c, name in enumerate(header):
        k = mtat.tag_key(name)
        if k in wanted:
            if wanted[k] in column_of:
                duplicated.append(name)
            column_of[wanted[k]] = c
        elif c != key_col and name.lower() not in ignored and k not in all_mtat:
            unknown.append(name)
    missing = [t for j, t in enumerate(tags) if j not in column_of]
    if unknown or missing or duplicated:
        raise DatasetError(
            f"{path}: tag columns do not match the {len(tags)} MTAT tags: "
            + "; ".join(part for part in (
                f"unknown columns {unknown}" if unknown else "",
                f"missing tags {missing}" if missing else "",
                f"duplicated tags {duplicated}" if duplicated else "") if part))
    columns = [column_of[j] for j in range(len(tags))]
    keys: List[Key] = []
    rows = []
    for line_no, row in enumerate(reader, 2):
        if not row or all(not cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            raise DatasetError(f"{path}:{line_no}: {len(row)} fields, header has {len(header)}")
        raw_key = row[key_col].strip()
        if not raw_key:
            raise DatasetError(f"{path}:{line_no}: empty {header[key_col]}")
        if by_clip_id:
            if not raw_key.isdigit():
                raise DatasetError(f"{path}:{line_no}: clip_id {raw_key!r} is not an integer")
            keys.append(int(raw_key))
        else:
            keys.append(raw_key)
        rows.append([_parse_score(row[c], f"{path}:{line_no} column {header[c]!r}") for c in columns])
    if not rows:
        raise DatasetError(f"{path}: header only, no predictions")
    return keys, np.asarray(rows, dtype=np.float64)


def _json_records(path: pathlib.Path) -> list:
    text = path.read_text(encoding="utf-8-sig").strip()
    if not text:
        raise DatasetError(f"{path}: empty predictions file")
    try:
        doc = json.loads(text)
    except ValueError:
        doc = []
        for line_no, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    doc.append(json.loads(line))
                except ValueError as e:
                    raise DatasetError(f"{path}:{line_no}: neither a JSON document nor JSON lines ({e})") from e
    if isinstance(doc, dict):
        wrapped = next((doc[k] for k in ("predictions", "results", "clips", "files") if k in doc), None)
        doc = wrapped if wrapped is not None else [doc]
    if not isinstance(doc, list):
        raise DatasetError(f"{path}: expected a list of prediction objects, got {type(doc).__name__}")
    return doc


def _read_json(path: pathlib.Path, tags: Sequence[str]) -> Tuple[List[Key], np.ndarray]:
    wanted = _tag_columns(tags)
    all_mtat = {mtat.tag_key(t) for t in mtat.TOP50_TAGS}
    position: Dict[str, int] = {}
    keys: List[Key] = []
    rows, failed = [], []
    for i, record in enumerate(_json_records(path)):
        where = f"{path}: entry {i}"
        if not isinstance(record, dict):
            raise DatasetError(f"{where}: expected an object, got {type(record).__name__}")
        if "clip_id" in record:
            try:
                key: Key = int(record["clip_id"])
            except (TypeError, ValueError):
                raise DatasetError(f"{where}: clip_id {record['clip_id']!r} is not an integer") from None
        else:
            key = next((record[k] for k in ("path", "file", "mp3_path") if k in record), None)
            if not isinstance(key, str) or not key.strip():
                raise DatasetError(f"{where}: no 'path', 'file' or 'clip_id'")
            key = key.strip()
        scores = record.get("scores")
        if scores is None and "error" in record:
            failed.append(key)
            continue
        if isinstance(scores, list) and isinstance(record.get("tags"), list) \
                and len(scores) == len(record["tags"]):
            scores = dict(zip(record["tags"], scores))
        if not isinstance(scores, dict):
            raise DatasetError(f"{where} ({key}): 'scores' must map every tag to a score")
        row: List[Optional[float]] = [None] * len(tags)
        for tag, value in scores.items():
            if tag not in position:  # resolve each spelling once: -1 = another MTAT tag (ignored)
                k = mtat.tag_key(tag)
                if k not in wanted and k not in all_mtat:
                    raise DatasetError(f"{where} ({key}): unknown tag {tag!r} in 'scores'")
                position[tag] = wanted.get(k, -1)
            j = position[tag]
            if j >= 0:
                row[j] = _parse_score(value, f"{where} ({key}) tag {tag!r}")
        missing = [tags[j] for j, v in enumerate(row) if v is None]
        if missing:
            raise DatasetError(f"{where} ({key}): 'scores' lacks tags {missing}; every MTAT tag needs a "
                               "score (top-k lists cannot be scored)")
        keys.append(key)
        rows.append(row)
    if failed:
        log.warning("%s: %d entries carry an error instead of scores (e.g. %s); they count as missing",
                    path, len(failed), failed[:3])
    if not rows:
        raise DatasetError(f"{path}: no entry has scores")
    return keys, np.asarray(rows, dtype=np.float64)


def _read_npy(path: pathlib.Path, tags: Sequence[str], row_keys: Optional[Sequence[Key]]
              ) -> Tuple[List[Key], np.ndarray]:
    try:
        scores = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise DatasetError(f"{path}: not a readable numeric .npy ({e})") from e
    if scores.ndim != 2 or scores.shape[1] != len(mtat.TOP50_TAGS) or scores.dtype.kind not in "fiub":
        raise DatasetError(f"{path}: expected numbers [clips, 50] in the standard MTAT tag order, "
                           f"got {scores.dtype} {scores.shape}")
    if row_keys is None:
        raise DatasetError(f"{path}: a .npy has no clip keys; its rows must follow a split's clip order "
                           "(pass row_keys, e.g. ground_truth(...).clip_ids)")
    if len(row_keys) != scores.shape[0]:
        raise DatasetError(f"{path}: {scores.shape[0]} rows but the split has {len(row_keys)} clips; "
                           "a .npy must cover the whole split in its order")
    scores = scores.astype(np.float64)[:, mtat.standard_tag_columns(tags)]
    if not np.all(np.isfinite(scores)):
        raise DatasetError(f"{path}: scores contain NaN or infinity")
    return list(row_keys), scores


def read_predictions(path: PathLike, tags: Sequence[str] = mtat.TOP50_TAGS,
                     row_keys: Optional[Sequence[Key]] = None,
                     ignore_columns: Sequence[str] = ()) -> Tuple[List[Key], np.ndarray]:
    """Read a predictions file -> ``(keys, scores)``.

    keys: per row, an int clip id (``clip_id`` column / field) or the path string as written.
    scores: float64 [rows, len(tags)], columns in the order of ``tags``.
    row_keys: the keys of a ``.npy``'s rows (a split's clip order); ignored for other formats.
    ignore_columns: extra non-tag CSV/TSV columns to skip (other columns must be tags).
    """
    path = pathlib.Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: predictions file not found")
    suffix = path.suffix.lower()
    if suffix == ".npy":
        keys, scores = _read_npy(path, tags, row_keys)
    elif suffix in JSON_EXTENSIONS:
        keys, scores = _read_json(path, tags)
    else:
        with open(path, "rb") as f:
            head = f.read(64).lstrip()
        if head.startswith(b"\x93NUMPY"):
            keys, scores = _read_npy(path, tags, row_keys)
        elif head[:1] in (b"[", b"{"):
            keys, scores = _read_json(path, tags)
        else:
            keys, scores = _read_table(path, tags, ignore_columns)
    _check_unique(keys, path)
    return keys, scores


# ------------------------------------------------------------------------------------ matching


def match_clip_ids(keys: Sequence[Key], mtat_dir: Optional[PathLike] = None) -> List[Optional[int]]:
    """Clip id per key (None when it names no MTAT clip).

    int keys are clip ids; string keys match by MTAT relative path (``f/x.mp3``, from any absolute
    or relative path, ``.npy`` read as ``.mp3``), else by basename when that basename is unique.
    """
    index = mtat.read_index(mtat_dir)
    by_path = {p: c for c, p in index.items()}
    basenames: Dict[str, Optional[int]] = {}
    for c, p in index.items():
        name = p.rsplit("/", 1)[-1]
        basenames[name] = None if name in basenames else c  # None marks an ambiguous basename
    out: List[Optional[int]] = []
    for key in keys:
        if isinstance(key, (int, np.integer)):
            out.append(int(key) if int(key) in index else None)
            continue
        relative = mtat.mtat_relative_path(key)
        if relative is not None and relative in by_path:
            out.append(by_path[relative])
            continue
        name = re.split(r"[\\/]", str(key).strip())[-1]
        if name.endswith(".npy"):
            name = name[: -len(".npy")] + ".mp3"
        out.append(basenames.get(name))
    return out


# ------------------------------------------------------------------------------------ scoring


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


def define_flags() -> None:
    """Flags of the stand-alone CLI (defined on demand so importing this module defines none)."""
    from absl import flags
    flags.DEFINE_string("predictions", None, "Predictions file: CSV/TSV (key column + one column per "
                        "tag), musictag tag JSON, or .npy [clips, 50] in the split's order.")
    flags.DEFINE_enum("ground_truth", "won2020", list(mtat.SOURCES),
                      "Published MTAT labels: won2020 / lee2017 (4,332 test clips) or pons (5,329).")
    flags.DEFINE_enum("split", "test", ["test", "valid"], "Split to score (no train labels exist).")
    flags.DEFINE_string("mtat_dir", None, "Directory of the MTAT split files (default ../shared/data/mtat "
                        "or $MUSICTAG_SHARED_DATA/mtat).")
    flags.DEFINE_boolean("allow_partial", False, "Score the matched clips only when some ground-truth "
                         "clips have no prediction (warns; not comparable with published numbers).")
    flags.DEFINE_float("threshold", 0.5, "Decision threshold for accuracy / micro F1.")
    flags.DEFINE_string("output_json", None, "Write the scores (and matching counts) as JSON here.")
    flags.DEFINE_string("output_md", None, "Write the Markdown report here.")
    flags.mark_flag_as_required("predictions")


def main(argv) -> int:
    from absl import flags
    from musictag_tf.errors import MusictagError
    FLAGS = flags.FLAGS
    if len(argv) > 1:
        print(f"musictag-score: error: unexpected arguments {argv[1:]}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    try:
        scored = score_against_mtat(FLAGS.predictions, source=FLAGS.ground_truth, split=FLAGS.split,
                                    mtat_dir=FLAGS.mtat_dir, allow_partial=FLAGS.allow_partial,
                                    threshold=FLAGS.threshold)
    except (MusictagError, ValueError) as exc:
        print(f"musictag-score: error: {exc}", file=sys.stderr)
        return 2
    report = scored_markdown(scored)
    print(report, end="")
    if FLAGS.output_md:
        pathlib.Path(FLAGS.output_md).write_text(report, encoding="utf-8")
    if FLAGS.output_json:
        published, _ = published_results(default_results_dir(scored.mtat_dir))
        payload = {**scored.to_dict(), "published": [dataclasses.asdict(p) for p in published]}
        pathlib.Path(FLAGS.output_json).write_text(json.dumps(payload, indent=2), encoding="utf-8")
    return 0


def run() -> None:
    from absl import app
    define_flags()
    app.run(main)


if __name__ == "__main__":
    run()
