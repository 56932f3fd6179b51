"""Side tables of a collection: Thayer emotion labels and lyrics, keyed by clip (or track) id.

Labels table (CSV/TSV): ``clip_id``, ``energy``, ``stress`` [, ``quadrant``] as 0/1 (0..3) or
names (musictag_tf.emotion); the quadrant is derived from the two dimensions when absent and
vice versa (``quadrant_index``), and inconsistent rows are an error. Lyrics table: ``clip_id``
or ``track_id``, and ``lyrics`` text or a ``lyrics_file`` path. Read with
musictag_tf.tables.read_delimited; every problem is a DatasetError naming file and line.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Dict, List, Sequence, Tuple

from musictag_tf.data.schema import ENERGY_NAMES, QUADRANT_NAMES, STRESS_NAMES, UNKNOWN_LABEL
from musictag_tf.emotion import energy_stress, quadrant_index
from musictag_tf.errors import DatasetError
from musictag_tf.data.manifest import Failure
from musictag_tf.fileio import folder_of as _folder_of, resolve_under
from musictag_tf.tables import read_delimited

_CLIP_COLUMNS = ("clip_id", "id")
_TRACK_COLUMNS = ("track_id", "track")
_LYRICS_TEXT_COLUMNS = ("lyrics", "lyrics_text")
_LYRICS_FILE_COLUMNS = ("lyrics_file", "lyrics_path")
_EMOTION_COLUMNS = ("energy", "stress", "quadrant")


def parse_class(value: str, names: Sequence[str], what: str, where: str) -> int:
    """'' -> -1; an int in [0, len(names)) or one of ``names`` (case-insensitive) -> its index."""
    text = str(value).strip().lower()
    if text in ("", "-1", "na", "n/a", "none", "unknown"):
        return UNKNOWN_LABEL
    if re.fullmatch(r"\d+", text):
        index = int(text)
        if index < len(names):
            return index
    elif text in names:
        return list(names).index(text)
    raise DatasetError(f"{where}: {what} must be 0..{len(names) - 1} or one of {', '.join(names)}, got {value!r}")


def parse_emotion(energy: str, stress: str, quadrant: str, where: str) -> Tuple[int, int, int]:
    """Thayer labels from table cells -> (energy, stress, quadrant), -1 where unknown.

    quadrant = 2 * energy + stress: derived from the two dimensions when absent, and the two
    dimensions from the quadrant when they are absent; inconsistent values are an error.
    """
    e = parse_class(energy, ENERGY_NAMES, "energy", where)
    s = parse_class(stress, STRESS_NAMES, "stress", where)
    q = parse_class(quadrant, QUADRANT_NAMES, "quadrant", where)
    if q != UNKNOWN_LABEL:
        if e == UNKNOWN_LABEL:
            e = energy_stress(q)[0]
        if s == UNKNOWN_LABEL:
            s = energy_stress(q)[1]
        if quadrant_index(e, s) != q:
            raise DatasetError(f"{where}: quadrant {q} ({QUADRANT_NAMES[q]}) contradicts energy {e} and "
                               f"stress {s} (quadrant = 2 * energy + stress)")
    elif e != UNKNOWN_LABEL and s != UNKNOWN_LABEL:
        q = quadrant_index(e, s)
    return e, s, q


def read_labels_table(path: str) -> Dict[str, Tuple[int, int, int]]:
    """clip_id -> (energy, stress, quadrant) from a labels TSV/CSV (see the module docstring)."""
    table = read_delimited(path, "labels table")
    key = table.column(_CLIP_COLUMNS, required=True, what="clip key")
    present = [c for c in _EMOTION_COLUMNS if c in table.header]
    if not present:
        raise DatasetError(f"{path}: missing emotion columns; need energy and stress, or quadrant; "
                           f"the header has: {', '.join(table.header)}")
    labels = {}
    for line, row in table.rows:
        clip_id = row[key].strip()
        where = f"{path}:{line}"
        if clip_id in labels:
            raise DatasetError(f"{where}: duplicate clip_id {clip_id!r}")
        labels[clip_id] = parse_emotion(row.get("energy", ""), row.get("stress", ""),
                                        row.get("quadrant", ""), where)
    return labels


@dataclasses.dataclass
class LyricsTable:
    """Lyrics references keyed by clip and by track: key -> ("text", str) or ("file", path)."""

    path: str
    by_clip: Dict[str, Tuple[str, str]]
    by_track: Dict[str, Tuple[str, str]]
    refused: List[Failure] = dataclasses.field(default_factory=list)  # rows naming files outside the root


def read_lyrics_table(path: str, allow_outside_root: bool = False) -> LyricsTable:
    """Read a lyrics table (see the module docstring); file paths resolved against its folder.

    A ``lyrics_file`` that leaves the table's folder (absolute, ``..``, URL, symlink out:
    musictag_tf.fileio.resolve_under) is refused: the row is left out and listed in ``refused``,
    unless ``allow_outside_root``."""
    table = read_delimited(path, "lyrics table")
    clip_key = table.column(_CLIP_COLUMNS)
    track_key = table.column(_TRACK_COLUMNS)
    if clip_key is None and track_key is None:
        raise DatasetError(f"{path}: missing key column: need clip_id or track_id; "
                           f"the header has: {', '.join(table.header)}")
    text_col = table.column(_LYRICS_TEXT_COLUMNS)
    file_col = table.column(_LYRICS_FILE_COLUMNS)
    if text_col is None and file_col is None:
        raise DatasetError(f"{path}: missing lyrics column: need lyrics_file or lyrics; "
                           f"the header has: {', '.join(table.header)}")
    root = _folder_of(path)
    by_clip: Dict[str, Tuple[str, str]] = {}
    by_track: Dict[str, Tuple[str, str]] = {}
    refused: List[Failure] = []
    for line, row in table.rows:
        where = f"{path}:{line}"
        value = None
        if file_col is not None and row[file_col].strip():
            try:
                value = ("file", resolve_under(root, row[file_col], allow_outside_root))
            except DatasetError as exc:
                refused.append(Failure(path=where, reason=f"lyrics_file {exc}"))
                continue
        elif text_col is not None and row[text_col].strip():
            value = ("text", row[text_col])
        if value is None:
            continue  # a row without lyrics: the clip simply has none
        clip_id = row[clip_key].strip() if clip_key else ""
        track = row[track_key].strip() if track_key else ""
        if not clip_id and not track:
            raise DatasetError(f"{where}: row has neither a clip_id nor a track_id")
        target, key = (by_clip, clip_id) if clip_id else (by_track, track)
        if key in target:
            raise DatasetError(f"{where}: duplicate lyrics for {key!r}")
        target[key] = value
    return LyricsTable(path=path, by_clip=by_clip, by_track=by_track, refused=refused)


