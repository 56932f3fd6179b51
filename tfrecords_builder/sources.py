"""The builder's inputs: an MTAT tree or a generic table (+ lyrics and label tables) -> clips.

Two kinds of collection, both read into a ``Collection`` of ``SourceClip`` (one per clip, with
its split, positive tags by name, lyrics reference and emotion labels):

**MTAT tree** (``read_mtat_tree``)::

  mtat_dir/
    annotations_final.csv   tab-separated, fields may be double-quoted; header "clip_id",
                            one 0/1 column per tag (188 in MTAT), "mp3_path"
    0/ ... f/               the clips, e.g. f/american_bach_soloists-...-30-59.mp3

Splits: ``"folders"`` (the paper's: folders 0-b train, c valid, d-f test) or ``"won2020"``
(Won et al.'s lists via ``musictag_tf.mtat.datasets.read_won_split``; clips in none of the lists are
skipped and counted). MTAT file names end in ``-<start>-<end>.mp3`` (seconds of the source
track; all 25,863 clips say 29 s), which gives ``expected_seconds`` so a truncated clip (which
libmpg123 decodes silently to fewer samples, see musictag_tf/audio/io.py) is caught. The
*track* of a clip (the key of track-level lyrics) is the file name without that suffix.

**Generic table** (``read_table``): CSV or TSV (tab if the header line holds a tab, else
comma; fields may be double-quoted) with a header row. Columns (names case-insensitive):

=================  ========  =================================================================
column             needed    meaning
=================  ========  =================================================================
audio_path         yes       relative to ``audio_root`` (default: the table's folder), absolute,
                             or a URL (gs://...); aliases: path, mp3_path, file, filename
tags               yes       positive tags separated by ``;`` or ``|`` (may be empty)
clip_id            no        default: audio_path without its extension; alias: id
split              no        train | valid (val, validation) | test; without the column a stable
                             hash of the track (or clip id) assigns 80/10/10 (``HASH_SPLIT``)
lyrics             no        lyrics text inline (alias: lyrics_text)
lyrics_file        no        lyrics file, relative to the table's folder (alias: lyrics_path)
track_id           no        groups clips of one recording (hash split, track-level lyrics);
                             alias: track
energy, stress     no        Thayer classes: 0/1 or low/high
quadrant           no        0..3 or contentment/depression/exuberance/anxious; derived as
                             2 * energy + stress when only the two dimensions are given
=================  ========  =================================================================

**Lyrics table** (``--lyrics_table``, the synthetic generator's ``lyrics.tsv``): a key column
``clip_id`` or ``track_id``/``track`` and a value column ``lyrics_file``/``lyrics_path``
(relative to the lyrics table's folder) or ``lyrics``/``lyrics_text``. A clip takes its own
row first, else its track's row.

**Labels table** (``--labels_table``, the synthetic generator's ``emotion.tsv``): ``clip_id``
and any of ``energy``, ``stress``, ``quadrant`` (ints or names as above).

All files are read through ``tf.io.gfile`` (local paths or gs://). Every problem raises
``DatasetError`` naming the file, the line and the problem.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
from typing import Dict, Iterable, List, Mapping, Optional, Tuple


from musictag_tf.mtat import datasets as mtat
from musictag_tf.data.manifest import Failure
from musictag_tf.data.schema import SPLITS, UNKNOWN_LABEL
from musictag_tf.errors import DatasetError
from musictag_tf.fileio import folder_of as _folder_of, is_url as _is_url, join_path, resolve_under
from musictag_tf.tables import read_delimited
from tfrecords_builder.labels import (_CLIP_COLUMNS, _EMOTION_COLUMNS, _LYRICS_FILE_COLUMNS,
                                      _LYRICS_TEXT_COLUMNS, _TRACK_COLUMNS, LyricsTable, parse_emotion,
                                      read_labels_table, read_lyrics_table)

ANNOTATIONS_NAME = "annotations_final.csv"
MTAT_FOLDERS = tuple("0123456789abcdef")
SPLIT_CHOICES = ("folders", "won2020")
# Hash split of a table without a split column: cumulative shares in this order.
HASH_SPLIT = (("train", 0.8), ("valid", 0.1), ("test", 0.1))
TAG_SEPARATORS = re.compile(r"[;|]")
# "<name>-<start>-<end>.mp3": MTAT clip of seconds [start, end) of a track.
_MTAT_CLIP_NAME = re.compile(r"^(?P<track>.+)-(?P<start>\d+)-(?P<end>\d+)\.mp3$", re.IGNORECASE)

_AUDIO_COLUMNS = ("audio_path", "path", "mp3_path", "file", "filename")


@dataclasses.dataclass(frozen=True)
class SourceClip:
    """One clip as the source describes it.

    audio_path: the file to read (absolute local path or URL).
    relative_path: the path as the source lists it (stored in the record's ``audio_path``).
    tags: the clip's positive tags, by the source's tag names.
    lyrics_text / lyrics_path: inline lyrics or a lyrics file (None: no lyrics).
    energy, stress, quadrant: Thayer labels, -1 unknown.
    expected_seconds: duration the source promises (MTAT file names), else None.
    start_seconds / span_seconds: the part of ``audio_path`` this clip is (None: the whole
      file); set by ``tfrecords_builder.clips.cut_collection`` (``--clip_seconds``).
    """

    clip_id: str
    audio_path: str
    relative_path: str
    split: str
    tags: Tuple[str, ...]
    track: str = ""
    lyrics_text: Optional[str] = None
    lyrics_path: Optional[str] = None
    energy: int = UNKNOWN_LABEL
    stress: int = UNKNOWN_LABEL
    quadrant: int = UNKNOWN_LABEL
    expected_seconds: Optional[float] = None
    start_seconds: Optional[float] = None
    span_seconds: Optional[float] = None


@dataclasses.dataclass
class Collection:
    """Every clip of a source, with what the manifest needs to know about the source.

    tag_names: the source's tags in its own order (MTAT: column order; table: first use).
    tag_frequency: positives per tag over every row read (including skipped clips), which is
      how the MTAT top-50 was chosen in the literature.
    description: JSON-able source config (saved as ``config["source"]`` in the manifest).
    warnings: source-level problems (unmatched lyrics rows, skipped clips...).
    skipped: reason -> number of rows not built (e.g. clips in none of Won's lists).
    refused: rows naming audio or lyrics files outside the root (fileio.resolve_under).
    """

    kind: str
    clips: List[SourceClip]
    tag_names: Tuple[str, ...]
    tag_frequency: Dict[str, int]
    description: Dict[str, object]
    warnings: List[Failure] = dataclasses.field(default_factory=list)
    skipped: Dict[str, int] = dataclasses.field(default_factory=dict)
    # rows refused because they name a file outside the root (also in warnings); failures for
    # musictag-build's --max_failures, unlike ``skipped`` (a split's deliberate exclusions)
    refused: List[Failure] = dataclasses.field(default_factory=list)

    def split_counts(self) -> Dict[str, int]:
        counts = {split: 0 for split in SPLITS}
        for clip in self.clips:
            counts[clip.split] += 1
        return counts


# ---------------------------------------------------------------------------- table reading

# ---------------------------------------------------------------------------- paths



def mtat_clip_name(path: str) -> Optional[Tuple[str, float]]:
    """(track, expected seconds) from an MTAT file name ``<track>-<start>-<end>.mp3``, else None."""
    match = _MTAT_CLIP_NAME.match(path.replace("\\", "/").rsplit("/", 1)[-1])
    if not match:
        return None
    seconds = float(int(match.group("end")) - int(match.group("start")))
    return match.group("track"), seconds if seconds > 0 else None


def check_audio_paths_exist(collection: Collection, root: Optional[str] = None) -> None:
    """Raise DatasetError when *no* local audio path of the collection exists (a wrong root).

    Individual missing files are left to the per-clip step, which reports them as failures
    ("file not found") while the other clips are built. URLs are not checked (too slow).
    """
    local = [c for c in collection.clips if not _is_url(c.audio_path)]
    if local and not any(os.path.exists(c.audio_path) for c in local):
        examples = ", ".join(c.audio_path for c in local[:3])
        root = root or collection.description.get("audio_root", "")
        raise DatasetError(f"{root}: none of the {len(local)} audio files listed exist (e.g. {examples}); "
                           "is the audio root right?")


def _attach_extras(clips: List[SourceClip], lyrics: Optional[LyricsTable],
                   labels: Optional[Mapping[str, Tuple[int, int, int]]],
                   labels_path: Optional[str], warnings: List[Failure]) -> List[SourceClip]:
    """Add lyrics-table and labels-table entries to clips; warn about rows matching no clip."""
    out = []
    used_clip, used_track, used_labels = set(), set(), set()
    for clip in clips:
        changes = {}
        if lyrics is not None:
            found = None
            if clip.clip_id in lyrics.by_clip:
                used_clip.add(clip.clip_id)
                found = lyrics.by_clip[clip.clip_id]
            elif clip.track and clip.track in lyrics.by_track:
                used_track.add(clip.track)
                found = lyrics.by_track[clip.track]
            if found is not None and clip.lyrics_text is None and clip.lyrics_path is None:
                kind, value = found  # lyrics given in the clip's own table row take precedence
                changes["lyrics_path" if kind == "file" else "lyrics_text"] = value
        if labels is not None and clip.clip_id in labels:
            used_labels.add(clip.clip_id)
            e, s, q = labels[clip.clip_id]
            changes.update(energy=e, stress=s, quadrant=q)
        out.append(dataclasses.replace(clip, **changes) if changes else clip)
    if lyrics is not None:
        warnings.extend(lyrics.refused)
        unmatched = (len(lyrics.by_clip) - len(used_clip)) + (len(lyrics.by_track) - len(used_track))
        if unmatched:
            warnings.append(Failure(path=lyrics.path, reason=f"{unmatched} of "
                                    f"{len(lyrics.by_clip) + len(lyrics.by_track)} lyrics rows match no clip"))
    if labels is not None:
        unmatched = len(labels) - len(used_labels)
        if unmatched:
            warnings.append(Failure(path=labels_path or "", reason=f"{unmatched} of {len(labels)} "
                                    "label rows match no clip"))
    return out


# ---------------------------------------------------------------------------- MTAT tree

def _won_split_of(split_dir: Optional[str]) -> Dict[str, str]:
    """MTAT relative path -> split from Won et al.'s lists."""
    try:
        lists = mtat.read_won_split(split_dir)
    except DatasetError as exc:
        raise DatasetError(f"{exc} -- the won2020 split needs --split_dir=<folder holding won2020/ and "
                           "pons_musicnn/index_mtt.tsv>, e.g. ../shared/data/mtat") from exc
    return {path: split for split, paths in lists.items() for path in paths}


def read_mtat_tree(mtat_dir: str, *, split: str = "folders", split_dir: Optional[str] = None,
                   audio_root: Optional[str] = None, lyrics_table: Optional[str] = None,
                   labels_table: Optional[str] = None, allow_outside_root: bool = False) -> Collection:
    """Clips of an MTAT tree (``annotations_final.csv`` + folders 0-f).

    Args:
      mtat_dir: folder holding annotations_final.csv (and, by default, the mp3 folders).
      split: "folders" (0-b train, c valid, d-f test) or "won2020" (Won et al.'s lists).
      split_dir: folder of Won's lists (musictag_tf.mtat layout); default ../shared/data/mtat.
      audio_root: folder holding 0/..f/ when not ``mtat_dir``.
      lyrics_table, labels_table: optional tables (see the module docstring).
      allow_outside_root: as ``read_table`` (an mp3_path leaving the root is refused otherwise).
    """
    if split not in SPLIT_CHOICES:
        raise DatasetError(f"unknown split {split!r}; expected one of {SPLIT_CHOICES}")
    annotations = join_path(mtat_dir, ANNOTATIONS_NAME)
    table = read_delimited(annotations, "MTAT annotations")
    for needed in ("clip_id", "mp3_path"):
        table.column((needed,), required=True)
    tag_columns = [h for h in table.header if h not in ("clip_id", "mp3_path")]
    if not tag_columns:
        raise DatasetError(f"{annotations}: no tag columns between clip_id and mp3_path")
    root = audio_root or mtat_dir
    won = _won_split_of(split_dir) if split == "won2020" else None
    frequency = {tag: 0 for tag in tag_columns}
    clips, seen = [], set()
    skipped: Dict[str, int] = {}
    refused: List[Failure] = []
    for line, row in table.rows:
        where = f"{annotations}:{line}"
        clip_id = row["clip_id"].strip()
        relative = row["mp3_path"].strip()
        if not clip_id or not relative:
            raise DatasetError(f"{where}: empty clip_id or mp3_path")
        try:
            audio_path = resolve_under(root, relative, allow_outside_root)
        except DatasetError as exc:
            refused.append(Failure(path=where, reason=f"refused: {exc}"))
            continue
        if clip_id in seen:
            raise DatasetError(f"{where}: duplicate clip_id {clip_id!r}")
        seen.add(clip_id)
        positives = []
        for tag in tag_columns:
            value = row[tag].strip()
            if value not in ("0", "1"):
                raise DatasetError(f"{where}: tag column {tag!r} must be 0 or 1, got {value!r}")
            if value == "1":
                positives.append(tag)
                frequency[tag] += 1
        if won is not None:
            clip_split = won.get(mtat.mtat_relative_path(relative) or relative)
            if clip_split is None:
                skipped["not in any Won et al. 2020 split list"] = \
                    skipped.get("not in any Won et al. 2020 split list", 0) + 1
                continue
        else:
            clip_split = mtat.folder_split(relative)
        named = mtat_clip_name(relative)
        track, expected = named if named else (os.path.splitext(os.path.basename(relative))[0], None)
        clips.append(SourceClip(clip_id=clip_id, audio_path=audio_path, relative_path=relative,
                                split=clip_split, tags=tuple(positives), track=track,
                                expected_seconds=expected))
    warnings: List[Failure] = list(refused)
    for reason, count in skipped.items():
        warnings.append(Failure(path=str(split_dir or mtat.default_mtat_dir()), reason=f"{count} clips skipped: {reason}"))
    lyrics = read_lyrics_table(lyrics_table, allow_outside_root) if lyrics_table else None
    labels = read_labels_table(labels_table) if labels_table else None
    clips = _attach_extras(clips, lyrics, labels, labels_table, warnings)
    refused += lyrics.refused if lyrics else []
    description = {"kind": "mtat", "mtat_dir": str(mtat_dir), "audio_root": str(root), "split": split,
                   "split_dir": str(split_dir or mtat.default_mtat_dir()) if won is not None else None,
                   "lyrics_table": lyrics_table, "labels_table": labels_table,
                   "rows": len(table.rows), "skipped": dict(skipped)}
    return Collection(kind="mtat", clips=clips, tag_names=tuple(tag_columns), tag_frequency=frequency,
                      description=description, warnings=warnings, skipped=skipped, refused=refused)


# ---------------------------------------------------------------------------- generic table

def hash_split(key: str) -> str:
    """Stable split of a track/clip key by its SHA-1 (``HASH_SPLIT`` shares)."""
    u = int(hashlib.sha1(key.encode("utf-8")).hexdigest()[:12], 16) / float(16 ** 12)
    total = 0.0
    for split, share in HASH_SPLIT:
        total += share
        if u < total:
            return split
    return HASH_SPLIT[-1][0]


def _split_tags(text: str) -> Tuple[str, ...]:
    tags, seen = [], set()
    for tag in TAG_SEPARATORS.split(text):
        tag = tag.strip()
        if tag and tag not in seen:
            seen.add(tag)
            tags.append(tag)
    return tuple(tags)


def read_table(table_path: str, *, audio_root: Optional[str] = None, lyrics_table: Optional[str] = None,
               labels_table: Optional[str] = None, allow_outside_root: bool = False) -> Collection:
    """Clips of a generic table (columns in the module docstring).

    Args:
      table_path: CSV/TSV with a header row.
      audio_root: base of relative audio paths (default: the table's folder).
      lyrics_table, labels_table: optional extra tables keyed by clip (or track for lyrics).
      allow_outside_root: read files a row names outside ``audio_root`` (audio) or the table's
        folder (lyrics files): absolute paths, ``..``, URLs, symlinks out. Without it such a row
        is refused (``Collection.refused``, one Failure naming the line) and the others are read.
    """
    table = read_delimited(table_path, "table")
    audio_col = table.column(_AUDIO_COLUMNS, required=True, what="audio file of each clip")
    tags_col = table.column(("tags",), required=True, what="tags of each clip, separated by ';'")
    clip_col = table.column(_CLIP_COLUMNS)
    track_col = table.column(_TRACK_COLUMNS)
    split_col = table.column(("split",))
    text_col = table.column(_LYRICS_TEXT_COLUMNS)
    file_col = table.column(_LYRICS_FILE_COLUMNS)
    has_emotion = any(c in table.header for c in _EMOTION_COLUMNS)
    table_dir = _folder_of(table_path)
    root = audio_root or table_dir
    clips, seen = [], {}
    refused: List[Failure] = []
    tag_names: List[str] = []
    frequency: Dict[str, int] = {}
    for line, row in table.rows:
        where = f"{table_path}:{line}"
        relative = row[audio_col].strip()
        if not relative:
            raise DatasetError(f"{where}: empty {audio_col}")
        try:
            audio_path = resolve_under(root, relative, allow_outside_root)
            lyrics_path = (resolve_under(table_dir, row[file_col], allow_outside_root)
                           if file_col and row[file_col].strip() else None)
        except DatasetError as exc:
            refused.append(Failure(path=where, reason=f"refused: {exc}"))
            continue
        clip_id = row[clip_col].strip() if clip_col else os.path.splitext(relative)[0]
        if not clip_id:
            raise DatasetError(f"{where}: empty clip_id")
        if clip_id in seen:
            raise DatasetError(f"{where}: duplicate clip_id {clip_id!r} (first at line {seen[clip_id]})")
        seen[clip_id] = line
        tags = _split_tags(row[tags_col])
        for tag in tags:
            if tag not in frequency:
                frequency[tag] = 0
                tag_names.append(tag)
            frequency[tag] += 1
        track = row[track_col].strip() if track_col else ""
        if split_col:
            try:
                clip_split = mtat.normalize_split(row[split_col])
            except DatasetError:
                raise DatasetError(f"{where}: split must be one of {', '.join(SPLITS)}, "
                                   f"got {row[split_col]!r}") from None
        else:
            clip_split = hash_split(track or clip_id)
        lyrics_text = row[text_col] if text_col and row[text_col].strip() else None
        if lyrics_text is not None and lyrics_path is not None:
            raise DatasetError(f"{where}: both inline lyrics and a lyrics file; give one")
        e = s = q = UNKNOWN_LABEL
        if has_emotion:
            e, s, q = parse_emotion(row.get("energy", ""), row.get("stress", ""), row.get("quadrant", ""), where)
        named = mtat_clip_name(relative)
        clips.append(SourceClip(clip_id=clip_id, audio_path=audio_path, relative_path=relative,
                                split=clip_split, tags=tags, track=track, lyrics_text=lyrics_text,
                                lyrics_path=lyrics_path, energy=e, stress=s, quadrant=q,
                                expected_seconds=named[1] if named else None))
    if not table.rows:
        raise DatasetError(f"{table_path}: the table has a header but no rows")
    if not clips:
        raise DatasetError(f"{table_path}: every row was refused; first: {refused[0].path}: {refused[0].reason}")
    lyrics = read_lyrics_table(lyrics_table, allow_outside_root) if lyrics_table else None
    labels = read_labels_table(labels_table) if labels_table else None
    warnings: List[Failure] = list(refused)
    clips = _attach_extras(clips, lyrics, labels, labels_table, warnings)
    refused += lyrics.refused if lyrics else []
    description = {"kind": "table", "table": str(table_path), "audio_root": str(root),
                   "split": "column" if split_col else "hash " + "/".join(f"{s}={p:g}" for s, p in HASH_SPLIT),
                   "lyrics_table": lyrics_table, "labels_table": labels_table, "rows": len(table.rows),
                   "skipped": {}}
    return Collection(kind="table", clips=clips, tag_names=tuple(tag_names), tag_frequency=frequency,
                      description=description, warnings=warnings, refused=refused)


def iter_train_lyrics(collection: Collection) -> Iterable[SourceClip]:
    """The train clips that reference lyrics (inline or file): the lyrics vocabulary's corpus."""
    return (c for c in collection.clips if c.split == "train" and (c.lyrics_text or c.lyrics_path))
