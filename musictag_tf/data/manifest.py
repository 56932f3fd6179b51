"""The records directory: its layout and its manifest, shared by the builder and the readers.

```
records_dir/
  manifest.json                      Manifest (below): counts, tag frequencies, config, failures
  tags.txt                           tag vocabulary, one per line, in the order of the tags vector
  vocab.txt                          lyrics vocabulary (musictag_tf.lyrics), line number = id
  train-00000-of-00012.tfrecord      shards, one tf.train.Example per clip (data/schema.py)
  valid-00000-of-00001.tfrecord
  test-00000-of-00003.tfrecord
```
A shard is written under a temporary name and renamed when complete, so a file matching
``<split>-NNNNN-of-MMMMM.tfrecord`` is always whole.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from typing import Dict, List, Optional

import tensorflow as tf

from musictag_tf import artifacts
from musictag_tf import params as params_lib
from musictag_tf.errors import DatasetError
from musictag_tf.fileio import read_lines, write_atomic

MANIFEST_NAME = "manifest.json"
TAGS_NAME = artifacts.TAGS_FILE
VOCAB_NAME = artifacts.VOCAB_FILE
SHARD_PATTERN = re.compile(r"^(train|valid|test)-(\d{5})-of-(\d{5})\.tfrecord$")


def shard_name(split: str, index: int, count: int) -> str:
    return f"{split}-{index:05d}-of-{count:05d}.tfrecord"


@dataclasses.dataclass
class Failure:
    """A source file the builder skipped, with the reason."""

    path: str
    reason: str
    clip_id: str = ""


@dataclasses.dataclass
class Manifest:
    """What a records directory holds and how it was made."""

    schema_version: int
    num_tags: int
    counts: Dict[str, int]  # clips written per split
    tag_counts: Dict[str, Dict[str, int]]  # split -> tag -> positives
    config: Dict[str, dict]  # "audio", "lyrics", "segments", "builder", "source" -> dict
    shards: Dict[str, List[str]]  # split -> shard file names
    failures: List[Failure] = dataclasses.field(default_factory=list)
    warnings: List[Failure] = dataclasses.field(default_factory=list)
    has_emotion: bool = False
    lyrics_counts: Dict[str, int] = dataclasses.field(default_factory=dict)  # split -> clips with lyrics

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=2, ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "Manifest":
        raw = json.loads(text)
        raw["failures"] = [Failure(**f) for f in raw.get("failures", [])]
        raw["warnings"] = [Failure(**f) for f in raw.get("warnings", [])]
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in raw.items() if k in known})

    def audio_params(self) -> params_lib.AudioParams:
        return params_lib.from_dict(params_lib.AudioParams, self.config.get("audio", {}))

    def lyrics_params(self) -> params_lib.LyricsParams:
        return params_lib.from_dict(params_lib.LyricsParams, self.config.get("lyrics", {}))

    def segment_params(self) -> params_lib.SegmentParams:
        return params_lib.from_dict(params_lib.SegmentParams, self.config.get("segments", {}))


def write_manifest(records_dir: str, manifest: Manifest) -> None:
    write_atomic(os.path.join(records_dir, MANIFEST_NAME), manifest.to_json())


def read_manifest(records_dir: str) -> Manifest:
    path = os.path.join(records_dir, MANIFEST_NAME)
    if not tf.io.gfile.exists(path):
        raise DatasetError(f"{records_dir}: no {MANIFEST_NAME}; build records with `musictag-build` first")
    with tf.io.gfile.GFile(path, "r") as f:
        try:
            return Manifest.from_json(f.read())
        except (ValueError, TypeError, KeyError) as exc:
            raise DatasetError(f"{path}: malformed manifest: {exc}") from exc


def read_tags(records_dir: str) -> List[str]:
    path = os.path.join(records_dir, TAGS_NAME)
    if not tf.io.gfile.exists(path):
        raise DatasetError(f"{records_dir}: no {TAGS_NAME}")
    return read_lines(path)


def split_files(records_dir: str, split: str, manifest: Optional[Manifest] = None) -> List[str]:
    """Full paths of the complete shards of one split, in order."""
    manifest = manifest or read_manifest(records_dir)
    names = manifest.shards.get(split, [])
    files = [os.path.join(records_dir, n) for n in names]
    missing = [f for f in files if not tf.io.gfile.exists(f)]
    if missing:
        raise DatasetError(f"{records_dir}: manifest lists shards that are missing: {missing[:3]}")
    return files
