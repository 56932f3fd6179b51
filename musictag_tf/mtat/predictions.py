"""Read a predictions file (clips x MTAT tags) and match its rows to MTAT clip ids.

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

Scoring is musictag_tf.mtat.scoring; the command line is ``musictag-evaluate --predictions``.
"""

from __future__ import annotations

import json
import logging
import math
import os
import pathlib
import re
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from musictag_tf.mtat import datasets as mtat
from musictag_tf.errors import DatasetError
from musictag_tf.tables import read_delimited

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
    table = read_delimited(str(path), "predictions file")
    header, lowered = table.raw_header, table.header
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
    for line_no, fields in table.rows:
        row = [fields[name] for name in lowered]
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
