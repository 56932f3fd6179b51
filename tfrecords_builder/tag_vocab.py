"""The tag vocabulary of a records directory: the N most frequent tags, or a given list.

``choose_tags`` returns the tags in the order of the records' multi-hot vector (saved as
``tags.txt``) and the source tag each one reads:

* top-N (default ``BuilderParams.top_n_tags`` = 50): tags ordered by positives over every row
  of the source (``Collection.tag_frequency``; ties keep the source's column order); tags with
  no positive at all are never chosen. On the full MTAT annotations this reproduces the
  standard top-50 list in its standard (frequency) order.
* a tag list file (one tag per line, e.g. ``../shared/data/mtat/top50_tags.txt``): its order
  is kept. A listed tag matches a source tag exactly, else spelling-insensitively
  (``musictag_tf.mtat.tag_key``: "no_vocals" = "no vocals"). A listed tag the source does not
  know is kept as an all-zero column and reported as a manifest warning with the count of
  clips; so is a listed tag with no positive.
"""

from __future__ import annotations

import dataclasses
from typing import Dict, List, Optional, Sequence, Tuple

import tensorflow as tf

from musictag_tf.mtat import datasets as mtat
from musictag_tf.data.manifest import Failure
from musictag_tf.errors import DatasetError
from tfrecords_builder.sources import Collection


@dataclasses.dataclass(frozen=True)
class TagChoice:
    """tags: vocabulary in multi-hot order; source_names: the source tag each one reads (or None)."""

    tags: Tuple[str, ...]
    source_names: Tuple[Optional[str], ...]
    warnings: Tuple[Failure, ...] = ()

    def index_of_source(self) -> Dict[str, int]:
        """source tag name -> position in the multi-hot vector."""
        return {name: i for i, name in enumerate(self.source_names) if name is not None}

    def multi_hot(self, source_tags: Sequence[str]) -> Tuple[int, ...]:
        """A clip's positive source tags -> 0/1 tuple [num_tags]."""
        index = self.index_of_source()
        vector = [0] * len(self.tags)
        for tag in source_tags:
            position = index.get(tag)
            if position is not None:
                vector[position] = 1
        return tuple(vector)


def read_tags_file(path: str) -> List[str]:
    """Tags of a list file, one per line (blank lines and surrounding spaces ignored)."""
    if not tf.io.gfile.exists(path):
        raise DatasetError(f"{path}: tag list file not found")
    with tf.io.gfile.GFile(path, "rb") as f:
        data = f.read()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DatasetError(f"{path}: tag list is not UTF-8 (byte {exc.start})") from exc
    tags = [line.strip() for line in text.splitlines() if line.strip()]
    if not tags:
        raise DatasetError(f"{path}: tag list is empty")
    duplicates = sorted({t for t in tags if tags.count(t) > 1})
    if duplicates:
        raise DatasetError(f"{path}: duplicate tags {duplicates}")
    return tags


def choose_tags(collection: Collection, *, top_n: int = 50, tags_file: Optional[str] = None) -> TagChoice:
    """The records' tag vocabulary (see the module docstring)."""
    frequency = collection.tag_frequency
    clips = collection.description.get("rows", len(collection.clips))
    if tags_file:
        listed = read_tags_file(tags_file)
        by_key: Dict[str, str] = {}
        for name in collection.tag_names:
            by_key.setdefault(mtat.tag_key(name), name)
        source_names: List[Optional[str]] = []
        warnings = []
        for tag in listed:
            if tag in frequency:
                name = tag
            else:
                name = by_key.get(mtat.tag_key(tag))
            source_names.append(name)
            if name is None:
                warnings.append(Failure(path=tags_file, reason=f"unknown tag {tag!r}: not a tag of the source "
                                        f"({len(collection.tag_names)} tags); 0 of {clips} clips positive, "
                                        "kept as an all-zero column"))
            elif frequency.get(name, 0) == 0:
                warnings.append(Failure(path=tags_file, reason=f"tag {tag!r} has no positive clip "
                                        f"(0 of {clips} clips)"))
        return TagChoice(tuple(listed), tuple(source_names), tuple(warnings))
    if top_n <= 0:
        raise DatasetError(f"top_n must be positive, got {top_n}")
    order = {name: i for i, name in enumerate(collection.tag_names)}
    ranked = sorted((name for name in collection.tag_names if frequency.get(name, 0) > 0),
                    key=lambda name: (-frequency[name], order[name]))
    chosen = ranked[:top_n]
    warnings = []
    if not chosen:
        raise DatasetError(f"{collection.description.get('table') or collection.description.get('mtat_dir')}: "
                           "no clip has any tag; cannot choose a tag vocabulary")
    if len(chosen) < top_n:
        warnings.append(Failure(path=str(collection.description.get("table") or collection.description.get("mtat_dir")),
                                reason=f"only {len(chosen)} tags have positive clips, fewer than top_n={top_n}; "
                                       "using all of them"))
    return TagChoice(tuple(chosen), tuple(chosen), tuple(warnings))
