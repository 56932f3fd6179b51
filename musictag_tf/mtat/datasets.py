"""Loaders for the published MagnaTagATune (MTAT) split, index and ground-truth files.

The files live in ``<shared data>/mtat`` (see ``shared/data/SOURCES.md``):

- ``pons_musicnn/index_mtt.tsv``  all 25,863 clips, ``clip_id<TAB>path`` in the row order of the
  official ``annotations_final.csv`` (path like ``e/joram-...-59-88.mp3``; folder = first hex char).
- ``pons_musicnn/{test,val}_gt_mtt.tsv``  ``clip_id<TAB>[50 floats]``: the *unfiltered* folder splits
  (test = folders d-f, 5,329 clips; valid = folder c, 1,825 clips) in the standard tag order.
- ``won2020/{valid,test}.npy`` + ``won2020/train.tsv``  strings ``"<row>\\t<path>"`` where ``row`` is the
  0-based line of the clip in ``index_mtt.tsv`` (Won et al. 2020 = Lee et al. 2017's split).
- ``lee2017/{train,valid,test}_list_pub.cP``  Python-2 pickles of ``.npy`` path lists (15,244 / 1,529 /
  4,332) and ``y_{valid,test}_pub.npy`` float64 [clips, 50] labels in list order, whose columns follow
  Lee's own ``top50_tags.txt``: that list has 47 = femaleVoice, 48 = metal, i.e. columns 47/48 are
  swapped relative to the standard order. ``ground_truth`` reorders them to the standard order.

Every label array this module returns is int8 [clips, 50] in the order of ``TOP50_TAGS``.
No train labels exist in the shared data (Lee's ``y_train_pub.npy`` and Pons' ``train_gt_mtt.tsv``
are over the 4 MiB snapshot limit), so ``ground_truth(..., 'train')`` raises ``DatasetError``.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import pathlib
import pickle
import re
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from musictag_tf.errors import DatasetError

PathLike = Union[str, os.PathLike]

# The standard MTAT top-50 tags in the standard column order (Won's tags.npy == musicnn's
# output_labels_mtt.txt == classes_MagnaTT.json == shared/data/mtat/top50_tags.txt). Kept literal
# so the records builder works without ../shared; tests check it against the file.
TOP50_TAGS: Tuple[str, ...] = (
    "guitar", "classical", "slow", "techno", "strings", "drums", "electronic", "rock", "fast", "piano",
    "ambient", "beat", "violin", "vocal", "synth", "female", "indian", "opera", "male", "singing",
    "vocals", "no vocals", "harpsichord", "loud", "quiet", "flute", "woman", "male vocal", "no vocal",
    "pop", "soft", "sitar", "solo", "man", "classic", "choir", "voice", "new age", "dance",
    "male voice", "female vocal", "beats", "harp", "cello", "no voice", "weird", "country", "metal",
    "female voice", "choral",
)

NUM_CLIPS = 25_863  # rows of index_mtt.tsv / annotations_final.csv
from musictag_tf.params import SPLITS  # noqa: E402,F401  (re-exported)
SOURCES = ("pons", "lee2017", "won2020")
_SPLIT_ALIASES = {"train": "train", "valid": "valid", "val": "valid", "validation": "valid", "test": "test"}
_FOLDER_SPLIT = {**{c: "train" for c in "0123456789ab"}, "c": "valid", "d": "test", "e": "test", "f": "test"}

INDEX_FILE = pathlib.PurePosixPath("pons_musicnn", "index_mtt.tsv")
TAGS_FILE = pathlib.PurePosixPath("top50_tags.txt")
_PONS_GT = {"test": "test_gt_mtt.tsv", "valid": "val_gt_mtt.tsv"}
_LEE_LABELS = {"test": "y_test_pub.npy", "valid": "y_valid_pub.npy"}
# Lee's column order differs from the standard one only by this swap (SOURCES.md; re-derived from
# lee2017/top50_tags.txt whenever that file is present).
_LEE_SWAP = (47, 48)


def default_mtat_dir() -> pathlib.Path:
    """``$MUSICTAG_SHARED_DATA/mtat`` if that variable is set, else ``<project root>/../shared/data/mtat``."""
    env = os.environ.get("MUSICTAG_SHARED_DATA")
    if env:
        return pathlib.Path(env) / "mtat"
    project_root = pathlib.Path(__file__).resolve().parents[1]
    return project_root.parent / "shared" / "data" / "mtat"


def _resolve_dir(mtat_dir: Optional[PathLike]) -> pathlib.Path:
    path = pathlib.Path(mtat_dir) if mtat_dir is not None else default_mtat_dir()
    if not path.is_dir():
        raise DatasetError(f"{path}: MTAT split directory not found (set --mtat_dir or MUSICTAG_SHARED_DATA)")
    return path


def _require(path: pathlib.Path, what: str) -> pathlib.Path:
    if not path.is_file():
        raise DatasetError(f"{path}: missing {what}")
    return path


def normalize_split(split: str) -> str:
    """'train' | 'valid' (also 'val', 'validation') | 'test' -> canonical name."""
    try:
        return _SPLIT_ALIASES[str(split).strip().lower()]
    except KeyError:
        raise DatasetError(f"unknown MTAT split {split!r}; expected one of {SPLITS}") from None


# ---------------------------------------------------------------------------------------- paths


def mtat_relative_path(path: PathLike) -> Optional[str]:
    """``'f/name.mp3'`` from any path whose parent folder is one MTAT hex folder, else None.

    Accepts absolute or relative paths, Windows separators, and Lee's ``.npy`` suffix (-> ``.mp3``).
    """
    text = str(path).strip().replace("\\", "/")
    parts = [p for p in text.split("/") if p not in ("", ".")]
    if len(parts) < 2:
        return None
    folder, name = parts[-2].lower(), parts[-1]
    if len(folder) != 1 or folder not in _FOLDER_SPLIT or not name:
        return None
    if name.endswith(".npy"):
        name = name[: -len(".npy")] + ".mp3"
    return f"{folder}/{name}"


def folder_split(path: PathLike) -> str:
    """The MTAT folder split of a clip path: folders 0-b -> 'train', c -> 'valid', d-f -> 'test'.

    ``path`` is an MTAT relative path (``'e/x.mp3'``, first char = folder) or any path whose parent
    folder is the hex folder (``'/data/mtat/e/x.mp3'``).
    """
    relative = mtat_relative_path(path)
    if relative is None:
        raise DatasetError(f"{path}: not an MTAT clip path (expected a folder 0-9 or a-f, e.g. 'e/x.mp3')")
    return _FOLDER_SPLIT[relative[0]]


# ---------------------------------------------------------------------------------------- tags


def read_top50_tags(mtat_dir: Optional[PathLike] = None) -> Tuple[str, ...]:
    """The 50 tags of ``top50_tags.txt`` (one per line) -> tuple; checks there are 50 distinct ones."""
    path = _require(_resolve_dir(mtat_dir) / TAGS_FILE, "top-50 tag list")
    tags = tuple(line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip())
    if len(tags) != 50 or len(set(tags)) != 50:
        raise DatasetError(f"{path}: expected 50 distinct tags, found {len(tags)} ({len(set(tags))} distinct)")
    return tags


def top50_tags(mtat_dir: Optional[PathLike] = None) -> Tuple[str, ...]:
    """``top50_tags.txt`` when present (must equal ``TOP50_TAGS``), else the literal ``TOP50_TAGS``."""
    try:
        path = _resolve_dir(mtat_dir) / TAGS_FILE
    except DatasetError:
        return TOP50_TAGS
    if not path.is_file():
        return TOP50_TAGS
    tags = read_top50_tags(path.parent)
    if tags != TOP50_TAGS:
        raise DatasetError(f"{path}: tag order differs from musictag_tf.mtat.datasets.TOP50_TAGS")
    return tags


@functools.lru_cache(maxsize=4096)
def tag_key(tag: str) -> str:
    """Spelling-insensitive tag key: 'no vocals', 'noVocals', 'no_vocals', 'No-Vocals' -> 'novocals'."""
    return re.sub(r"[\s_\-]+", "", str(tag)).lower()


def _lee_column_order(mtat_dir: pathlib.Path) -> np.ndarray:
    """Column permutation ``perm`` with ``lee_y[:, perm]`` in the standard order.

    Derived from Lee's camelCase ``lee2017/top50_tags.txt`` when present (it yields the 47<->48 swap),
    else the documented swap.
    """
    path = mtat_dir / "lee2017" / "top50_tags.txt"
    standard = {tag_key(t): j for j, t in enumerate(TOP50_TAGS)}
    if not path.is_file():
        perm = np.arange(50)
        perm[list(_LEE_SWAP)] = perm[list(_LEE_SWAP[::-1])]
        return perm
    lee = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    keys = [tag_key(t) for t in lee]
    if len(keys) != 50 or sorted(keys) != sorted(standard):
        raise DatasetError(f"{path}: expected the 50 MTAT tags (any spelling), got {len(keys)} "
                           f"with unknown {sorted(set(keys) - set(standard))[:5]}")
    lee_col = {k: i for i, k in enumerate(keys)}
    return np.array([lee_col[tag_key(t)] for t in TOP50_TAGS], dtype=np.int64)


# ---------------------------------------------------------------------------------------- index


@functools.lru_cache(maxsize=4)
def _index_rows(index_path: str, file_stamp: Tuple[int, int, int]) -> Tuple[Tuple[int, str], ...]:
    """Parsed index, cached per (path, (mtime_ns, size, inode)): ~60 ms to parse, read many times."""
    rows = []
    with open(index_path, encoding="utf-8") as f:
        for line_no, line in enumerate(f, 1):
            line = line.rstrip("\n\r")
            if not line:
                continue
            fields = line.split("\t")
            if len(fields) != 2 or not fields[0].strip().isdigit():
                raise DatasetError(f"{index_path}:{line_no}: expected 'clip_id<TAB>path', got {line[:80]!r}")
            rows.append((int(fields[0]), fields[1].strip()))
    if not rows:
        raise DatasetError(f"{index_path}: empty MTAT index")
    if len({r[0] for r in rows}) != len(rows) or len({r[1] for r in rows}) != len(rows):
        raise DatasetError(f"{index_path}: duplicate clip ids or paths")
    return tuple(rows)


def _index(mtat_dir: Optional[PathLike]) -> Tuple[Tuple[int, str], ...]:
    path = _require(_resolve_dir(mtat_dir) / INDEX_FILE, "MTAT clip index (musicnn-training index_mtt.tsv)")
    stat = path.stat()
    return _index_rows(str(path.resolve()), (stat.st_mtime_ns, stat.st_size, stat.st_ino))


def read_index(mtat_dir: Optional[PathLike] = None) -> Dict[int, str]:
    """clip_id -> MTAT relative mp3 path (``'e/...-59-88.mp3'``), 25,863 clips in annotation-row order."""
    return dict(_index(mtat_dir))


def read_index_by_path(mtat_dir: Optional[PathLike] = None) -> Dict[str, int]:
    """The reverse of ``read_index``: MTAT relative mp3 path -> clip_id."""
    return {path: clip_id for clip_id, path in _index(mtat_dir)}


def index_rows(mtat_dir: Optional[PathLike] = None) -> List[Tuple[int, str]]:
    """``(clip_id, path)`` per line of ``index_mtt.tsv``; list position = Won's row index."""
    return list(_index(mtat_dir))


# ---------------------------------------------------------------------------------------- splits


def _won_lines(path: pathlib.Path) -> List[str]:
    if path.suffix == ".npy":
        try:
            array = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as e:
            raise DatasetError(f"{path}: not a readable string .npy ({e})") from e
        if array.ndim != 1 or array.dtype.kind != "U":
            raise DatasetError(f"{path}: expected a 1-D unicode array, got {array.dtype} {array.shape}")
        return [str(s) for s in array]
    return [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def read_won_split_rows(mtat_dir: Optional[PathLike] = None) -> Dict[str, List[Tuple[int, str]]]:
    """split -> ``[(row, path), ...]`` from Won's ``train.tsv`` / ``valid.npy`` / ``test.npy``.

    ``row`` is the 0-based line of the clip in ``index_mtt.tsv``; every (row, path) pair is checked
    against the index so a shifted or foreign file fails loudly.
    """
    base = _resolve_dir(mtat_dir)
    rows = _index(base)
    files = {"train": base / "won2020" / "train.tsv", "valid": base / "won2020" / "valid.npy",
             "test": base / "won2020" / "test.npy"}
    out: Dict[str, List[Tuple[int, str]]] = {}
    for split, path in files.items():
        _require(path, f"Won 2020 {split} split")
        entries = []
        for k, line in enumerate(_won_lines(path)):
            fields = line.split("\t")
            if len(fields) != 2 or not fields[0].strip().isdigit():
                raise DatasetError(f"{path}: entry {k}: expected 'row<TAB>path', got {line[:80]!r}")
            row, clip_path = int(fields[0]), fields[1].strip()
            if row >= len(rows) or rows[row][1] != clip_path:
                raise DatasetError(f"{path}: entry {k}: row {row} is not {clip_path!r} in {INDEX_FILE}")
            entries.append((row, clip_path))
        out[split] = entries
    return out


def read_won_split(mtat_dir: Optional[PathLike] = None) -> Dict[str, List[str]]:
    """split ('train', 'valid', 'test') -> MTAT relative mp3 paths (15,244 / 1,529 / 4,332), file order."""
    return {split: [p for _, p in entries] for split, entries in read_won_split_rows(mtat_dir).items()}


class _ListOfStringsUnpickler(pickle.Unpickler):
    """Lee's pickles hold plain lists of str: refuse any global so a foreign pickle can't run code."""

    def find_class(self, module, name):
        raise pickle.UnpicklingError(f"refusing to load global {module}.{name}")


def _read_lee_list(path: pathlib.Path) -> List[str]:
    _require(path, "Lee 2017 split list")
    try:
        with open(path, "rb") as f:
            items = _ListOfStringsUnpickler(f, encoding="latin1").load()
    except Exception as e:  # pickle raises many types on corrupt input
        raise DatasetError(f"{path}: not a readable Python-2 pickle of paths ({e})") from e
    if not isinstance(items, list) or not all(isinstance(p, str) for p in items):
        raise DatasetError(f"{path}: expected a list of path strings, got {type(items).__name__}")
    paths = []
    for p in items:
        relative = mtat_relative_path(p)
        if relative is None:
            raise DatasetError(f"{path}: {p!r} is not an MTAT clip path")
        paths.append(relative)
    return paths


def read_lee_split(mtat_dir: Optional[PathLike] = None) -> Dict[str, List[str]]:
    """split -> MTAT relative mp3 paths in Lee's (unsorted) list order, ``.npy`` swapped for ``.mp3``."""
    base = _resolve_dir(mtat_dir)
    return {split: _read_lee_list(base / "lee2017" / f"{split}_list_pub.cP") for split in SPLITS}


# ---------------------------------------------------------------------------------------- labels


@dataclasses.dataclass(frozen=True)
class GroundTruth:
    """MTAT top-50 labels for one published split.

    clip_ids: MTAT clip ids, row order of ``labels``
    paths:    MTAT relative mp3 paths (``'e/x.mp3'``), same order
    labels:   int8 [clips, 50] 0/1 in the order of ``tags`` (== ``TOP50_TAGS``)
    """

    source: str
    split: str
    clip_ids: List[int]
    paths: List[str]
    labels: np.ndarray
    tags: Tuple[str, ...]

    def __len__(self) -> int:
        return len(self.clip_ids)

    def row_of(self) -> Dict[int, int]:
        """clip_id -> row of ``labels``."""
        return {c: i for i, c in enumerate(self.clip_ids)}


def _binary_labels(values: np.ndarray, where: str) -> np.ndarray:
    if values.ndim != 2 or values.shape[1] != 50:
        raise DatasetError(f"{where}: expected labels [clips, 50], got {values.shape}")
    if not np.all((values == 0) | (values == 1)):
        raise DatasetError(f"{where}: labels are not all 0/1")
    return values.astype(np.int8)


def _pons_order(base: pathlib.Path) -> None:
    """Confirm the Pons ground-truth column order via ``classes_MagnaTT.json`` when present."""
    path = base / "pons_musicnn" / "classes_MagnaTT.json"
    if not path.is_file():
        return
    try:
        columns = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as e:
        raise DatasetError(f"{path}: not JSON ({e})") from e
    order = tuple(t for t, _ in sorted(((t, c) for t, c in columns.items() if t != "clip_id"),
                                       key=lambda tc: tc[1]))
    if order != TOP50_TAGS:
        raise DatasetError(f"{path}: column order differs from TOP50_TAGS")


def _pons_ground_truth(base: pathlib.Path, split: str) -> GroundTruth:
    path = _require(base / "pons_musicnn" / _PONS_GT[split], f"musicnn {split} ground truth")
    _pons_order(base)
    index = dict(_index(base))
    clip_ids, rows = [], []
    with open(path, encoding="utf-8") as f:
        for line_no, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            fields = line.split("\t")
            try:
                clip_id, values = int(fields[0]), json.loads(fields[1])
            except (IndexError, ValueError) as e:
                raise DatasetError(f"{path}:{line_no}: expected 'clip_id<TAB>[50 floats]' ({e})") from e
            if not isinstance(values, list) or len(values) != 50:
                raise DatasetError(f"{path}:{line_no}: expected 50 label values")
            if clip_id not in index:
                raise DatasetError(f"{path}:{line_no}: clip {clip_id} is not in {INDEX_FILE}")
            clip_ids.append(clip_id)
            rows.append(values)
    if not rows:
        raise DatasetError(f"{path}: no ground-truth rows")
    labels = _binary_labels(np.asarray(rows, dtype=np.float64), str(path))
    return GroundTruth("pons", split, clip_ids, [index[c] for c in clip_ids], labels, TOP50_TAGS)


def _lee_ground_truth(base: pathlib.Path, split: str) -> GroundTruth:
    paths = _read_lee_list(base / "lee2017" / f"{split}_list_pub.cP")
    label_path = _require(base / "lee2017" / _LEE_LABELS[split], f"Lee 2017 {split} labels")
    try:
        y = np.load(label_path, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise DatasetError(f"{label_path}: not a readable .npy ({e})") from e
    if y.ndim != 2 or y.shape[0] != len(paths):
        raise DatasetError(f"{label_path}: {y.shape} rows do not match the {len(paths)} clips of the list")
    labels = _binary_labels(y, str(label_path))[:, _lee_column_order(base)]
    by_path = {p: c for c, p in _index(base)}
    missing = [p for p in paths if p not in by_path]
    if missing:
        raise DatasetError(f"{label_path}: {len(missing)} clips not in {INDEX_FILE}, e.g. {missing[:3]}")
    return GroundTruth("lee2017", split, [by_path[p] for p in paths], paths,
                       np.ascontiguousarray(labels), TOP50_TAGS)


def _won_ground_truth(base: pathlib.Path, split: str) -> GroundTruth:
    won = read_won_split_rows(base)[split]
    lee = _lee_ground_truth(base, split)
    lee_row = {p: i for i, p in enumerate(lee.paths)}
    won_paths = [p for _, p in won]
    unmatched = [p for p in won_paths if p not in lee_row]
    if unmatched or len(won_paths) != len(lee.paths):
        raise DatasetError(f"{base / 'won2020'}: Won {split} split differs from Lee's list "
                           f"({len(won_paths)} vs {len(lee.paths)} clips, {len(unmatched)} unmatched, "
                           f"e.g. {unmatched[:3]}); Won labels are taken from Lee's arrays")
    rows = _index(base)
    order = np.array([lee_row[p] for p in won_paths], dtype=np.int64)
    return GroundTruth("won2020", split, [rows[r][0] for r, _ in won], won_paths,
                       np.ascontiguousarray(lee.labels[order]), TOP50_TAGS)


def ground_truth(source: str, split: str, mtat_dir: Optional[PathLike] = None) -> GroundTruth:
    """Labels of one published MTAT split, int8 [clips, 50] in ``TOP50_TAGS`` order.

    source:
      'pons'     musicnn-training's unfiltered folder splits (test 5,329 clips d-f, valid 1,825 clips c)
      'lee2017'  Lee et al. 2017 (test 4,332, valid 1,529) in list order, columns 47/48 swapped back
      'won2020'  Won et al. 2020 (same clips as Lee, in Won's row order), labels from Lee's arrays
    split: 'test' | 'valid' (or 'val'); train labels are not in the shared data.
    """
    source = str(source).strip().lower()
    if source not in SOURCES:
        raise DatasetError(f"unknown MTAT ground-truth source {source!r}; expected one of {SOURCES}")
    split = normalize_split(split)
    if split == "train":
        raise DatasetError(
            f"MTAT train labels are not available for {source!r}: Lee's y_train_pub.npy, Pons' "
            "train_gt_mtt.tsv and Won's binary.npy are over the snapshot size limit and "
            "annotations_final.csv is missing (see shared/data/SOURCES.md); only 'valid' and 'test'")
    base = _resolve_dir(mtat_dir)
    loader = {"pons": _pons_ground_truth, "lee2017": _lee_ground_truth, "won2020": _won_ground_truth}[source]
    return loader(base, split)


def split_paths(source: str, split: str, mtat_dir: Optional[PathLike] = None) -> List[str]:
    """The clip paths of a published split (train included), in the source's own order."""
    source, split = str(source).strip().lower(), normalize_split(split)
    if source == "won2020":
        return read_won_split(mtat_dir)[split]
    if source == "lee2017":
        return _read_lee_list(_resolve_dir(mtat_dir) / "lee2017" / f"{split}_list_pub.cP")
    if source == "pons":
        if split == "train":  # folders 0-b; inferred: test/valid are exactly folders d-f / c
            return [p for _, p in _index(mtat_dir) if folder_split(p) == "train"]
        return ground_truth("pons", split, mtat_dir).paths
    raise DatasetError(f"unknown MTAT split source {source!r}; expected one of {SOURCES}")


def standard_tag_columns(tags: Sequence[str]) -> np.ndarray:
    """Column of each of ``tags`` in ``TOP50_TAGS`` (spelling-insensitive); DatasetError for unknown ones."""
    standard = {tag_key(t): j for j, t in enumerate(TOP50_TAGS)}
    unknown = [t for t in tags if tag_key(t) not in standard]
    if unknown:
        raise DatasetError(f"not MTAT top-50 tags: {unknown}")
    return np.array([standard[tag_key(t)] for t in tags], dtype=np.int64)
