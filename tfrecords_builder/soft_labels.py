"""``--soft_labels``: a table of per-clip tag scores (a teacher's) -> the records' training targets.

The table is what ``musictag tag --format=csv [--clip_seconds=c]`` (or
``python -m musictag_tf.distill.teacher``) writes: a ``path`` column and one column per tag
holding a score in [0, 1]. A row names

* a clip: ``<audio path>#<start s>`` (the tagger's ``--clip_seconds`` rows), or
* a whole file: ``<audio path>`` (no ``#``; matches the file's record when it is not cut).

**Matching rule.** A record matches the row whose path, made absolute (relative paths are
taken relative to the *soft-label table's* folder, as ``musictag tag`` run from there wrote
them) and normalised (``os.path.normpath``; URLs as written), equals the record's audio file
made absolute the same way, and whose start, rounded to 0.01 s, equals the record's clip start
(``None`` for whole files). Records without a row are an error listing how many and the first
few (``allow_missing``: they keep their hard labels as targets, and a warning counts them);
rows without a record are ignored (a warning counts them).

**Tags.** Every tag column must be a tag of the build: an unknown column is an error naming
it. Without ``--tags_file`` the build's tags *are* the table's columns, in its order (a corpus
without labels of its own). Values must be finite numbers in [0, 1].

Each matched record stores the scores as ``tag_targets`` and their binarisation at
``BINARY_THRESHOLD`` as its multi-hot ``tags``, so every hard-label metric still works.
"""

from __future__ import annotations

import dataclasses
import math
import os
from typing import Dict, List, Optional, Sequence, Tuple

from musictag_tf.audio.clips import split_clip_key
from musictag_tf.data.manifest import Failure
from musictag_tf.errors import DatasetError
from musictag_tf.fileio import folder_of, is_url
from musictag_tf.tables import read_delimited

BINARY_THRESHOLD = 0.5  # tags = targets >= this
PATH_COLUMNS = ("path", "audio_path")
SHOW_MISSING = 5  # unmatched records named in the error


@dataclasses.dataclass(frozen=True)
class SoftLabels:
    """A parsed soft-label table: tags (column order) and (normalised path, start) -> scores."""

    path: str
    tags: Tuple[str, ...]
    scores: Dict[Tuple[str, Optional[float]], Tuple[float, ...]]


def normalise_path(path: str, base: str = "") -> str:
    """Absolute, normalised local path (relative to ``base``); URLs unchanged."""
    if is_url(path):
        return path
    if not os.path.isabs(path) and base:
        path = os.path.join(base, path)
    return os.path.normpath(os.path.abspath(path))


def read_soft_labels(path: str) -> SoftLabels:
    """Read and check a soft-label table (module docstring). DatasetError on any problem."""
    table = read_delimited(path, "soft-label table")
    path_col = table.column(PATH_COLUMNS, required=True, what="the audio file (and #start) of each row")
    tag_columns = [(h, raw) for h, raw in zip(table.header, table.raw_header or table.header) if h != path_col]
    if not tag_columns:
        raise DatasetError(f"{path}: no tag columns besides {path_col!r}")
    base = folder_of(path)
    scores: Dict[Tuple[str, Optional[float]], Tuple[float, ...]] = {}
    for line, row in table.rows:
        where = f"{path}:{line}"
        name, start = split_clip_key(row[path_col].strip())
        if not name:
            raise DatasetError(f"{where}: empty {path_col}")
        values = []
        for column, raw in tag_columns:
            text = row[column].strip()
            try:
                value = float(text)
            except ValueError:
                raise DatasetError(f"{where}: tag {raw!r}: not a number: {text!r}") from None
            if not (math.isfinite(value) and 0.0 <= value <= 1.0):
                raise DatasetError(f"{where}: tag {raw!r}: score must be a finite number in [0, 1], got {text}")
            values.append(value)
        key = (normalise_path(name, base), start)
        if key in scores:
            raise DatasetError(f"{where}: duplicate row for {row[path_col].strip()!r}")
        scores[key] = tuple(values)
    if not scores:
        raise DatasetError(f"{path}: no rows")
    return SoftLabels(path=path, tags=tuple(raw for _, raw in tag_columns), scores=scores)


def check_tags(soft: SoftLabels, build_tags: Sequence[str]) -> List[int]:
    """Index in ``soft.tags`` of each build tag; DatasetError naming unknown or absent tags."""
    unknown = [t for t in soft.tags if t not in build_tags]
    if unknown:
        raise DatasetError(f"{soft.path}: {len(unknown)} tag columns are not tags of this build: "
                           f"{', '.join(unknown[:10])}{' ...' if len(unknown) > 10 else ''} "
                           f"(build tags: {', '.join(build_tags[:10])}{' ...' if len(build_tags) > 10 else ''})")
    absent = [t for t in build_tags if t not in soft.tags]
    if absent:
        raise DatasetError(f"{soft.path}: no column for the build's tags {', '.join(absent[:10])}")
    return [soft.tags.index(t) for t in build_tags]


def attach(tasks: list, soft: SoftLabels, build_tags: Sequence[str], allow_missing: bool = False,
           audio_base: str = "") -> Tuple[list, List[Failure]]:
    """Tasks with ``tag_targets`` (and binarised ``tags``) from ``soft``; (tasks, warnings).

    ``tasks``: process.ClipTask list (``audio_path`` absolute or relative to ``audio_base``).
    Raises DatasetError for unknown tags or unmatched records (unless ``allow_missing``).
    """
    order = check_tags(soft, build_tags)
    out, missing, used = [], [], set()
    for task in tasks:
        start = None if task.span_seconds is None else round(task.start_seconds or 0.0, 2)
        key = (normalise_path(task.audio_path, audio_base), start)
        values = soft.scores.get(key)
        if values is None:
            missing.append(task.clip_id)
            out.append(task)
            continue
        used.add(key)
        targets = tuple(values[i] for i in order)
        out.append(dataclasses.replace(task, tag_targets=targets,
                                       tags=tuple(int(v >= BINARY_THRESHOLD) for v in targets)))
    warnings = []
    if missing:
        if not allow_missing:
            raise DatasetError(f"{soft.path}: {len(missing)} of {len(tasks)} records have no soft-label row "
                               f"(matched by absolute path + start, see tfrecords_builder/soft_labels.py), "
                               f"e.g. {', '.join(missing[:SHOW_MISSING])}; use --allow_missing_soft_labels "
                               "to keep their hard labels")
        warnings.append(Failure(path=soft.path, reason=f"{len(missing)} of {len(tasks)} records have no "
                                "soft-label row; their targets are their hard labels"))
    unused = len(soft.scores) - len(used)
    if unused:
        warnings.append(Failure(path=soft.path, reason=f"{unused} of {len(soft.scores)} soft-label rows "
                                "match no record"))
    return out, warnings
