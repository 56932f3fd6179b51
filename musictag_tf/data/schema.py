"""THE record schema: one ``tf.train.Example`` per clip.

The builder (writer) and the tf.data pipeline (reader) both import this module, so the two
cannot disagree. Storage is compact and stated here:

==================  =========================  ===============================================
key                 stored as                  meaning
==================  =========================  ===============================================
clip_id             bytes                      clip identifier (MTAT clip_id or table key)
audio_path          bytes                      source path, relative to the collection root
split               bytes                      train | valid | test
waveform            bytes, int16 LE PCM        mono waveform at ``sample_rate`` (x 32767)
num_samples         int64                      waveform length, samples
sample_rate         int64                      Hz (16000 by default)
log_mel             bytes, float16 LE          [num_frames, n_mels] log10(1 + 10000 mel)
num_frames          int64                      log-mel frames
n_mels              int64                      mel bins
lyrics_ids          int64 list                 vocabulary ids, unpadded, <= max_tokens long
lyrics_text         bytes, UTF-8               raw lyrics ('' when missing)
has_lyrics          int64                      1 when the clip has lyrics, else 0
tags                int64 list [num_tags]      multi-hot in the order of tags.txt
tag_targets         float list [num_tags]      training targets in [0, 1]: soft teacher scores
                                               (``--soft_labels``) or ``tags`` as floats (v2)
energy              int64                      Thayer energy 0 low / 1 high, -1 unknown
stress              int64                      Thayer stress 0 low / 1 high, -1 unknown
quadrant            int64                      2 * energy + stress, -1 unknown
segment_starts      float list                 adaptive segment start times, s (first 0.0)
==================  =========================  ===============================================

int16 halves the waveform relative to float32 (a 29.1 s MTAT clip: 0.93 MB); float16 keeps
the log-mel (values 0..~6) to ~3 significant digits, well inside the model's tolerance.

Version 2 added ``tag_targets``; a version-1 record (without it) parses with
``tag_targets = tags`` (the feature's default is a -1 sentinel replaced by the multi-hot), so
old records still train.
"""

from __future__ import annotations

import dataclasses
from typing import Mapping, Optional, Sequence

import numpy as np
import tensorflow as tf

SCHEMA_VERSION = 2  # 2: tag_targets (soft training targets)
WAVEFORM_SCALE = 32767.0  # float [-1, 1] <-> int16
UNKNOWN_LABEL = -1

from musictag_tf.params import EMOTION_HEADS, SPLITS  # noqa: E402,F401  (SPLITS re-exported)
EMOTION_KEYS = tuple(EMOTION_HEADS)
EMOTION_CLASSES = EMOTION_HEADS
from musictag_tf.emotion import (CLASS_NAMES, ENERGY_NAMES, QUADRANT_NAMES,  # noqa: E402,F401
                                 STRESS_NAMES, quadrant_index)


@dataclasses.dataclass
class ClipRecord:
    """Everything stored for one clip, in Python types (the writer's input).

    waveform: float32 [samples] in [-1, 1] at sample_rate Hz.
    log_mel: float32 [frames, n_mels].
    lyrics_ids: int [tokens] (unpadded).
    tags: 0/1 [num_tags].
    """

    clip_id: str
    audio_path: str
    split: str
    waveform: Optional[np.ndarray]
    sample_rate: int
    log_mel: np.ndarray
    lyrics_ids: Sequence[int]
    lyrics_text: str
    tags: Sequence[int]
    energy: int = UNKNOWN_LABEL
    stress: int = UNKNOWN_LABEL
    quadrant: int = UNKNOWN_LABEL
    segment_starts: Sequence[float] = (0.0,)
    tag_targets: Optional[Sequence[float]] = None  # [num_tags] in [0, 1]; None = tags

    @property
    def has_lyrics(self) -> bool:
        return bool(self.lyrics_text.strip()) and len(self.lyrics_ids) > 0


def _bytes(value: bytes) -> tf.train.Feature:
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))


def _ints(values) -> tf.train.Feature:
    return tf.train.Feature(int64_list=tf.train.Int64List(value=[int(v) for v in values]))


def _floats(values) -> tf.train.Feature:
    return tf.train.Feature(float_list=tf.train.FloatList(value=[float(v) for v in values]))


def waveform_to_pcm16(waveform: np.ndarray) -> bytes:
    """float32 [samples] in [-1, 1] -> int16 little-endian bytes (clipped, rounded)."""
    pcm = np.clip(np.round(np.asarray(waveform, np.float32) * WAVEFORM_SCALE), -32768, 32767)
    return pcm.astype("<i2").tobytes()


def encode_example(record: ClipRecord) -> bytes:
    """Serialise one ClipRecord to a ``tf.train.Example`` string."""
    if record.split not in SPLITS:
        raise ValueError(f"{record.clip_id}: split must be one of {SPLITS}, got {record.split!r}")
    log_mel = np.asarray(record.log_mel, np.float32)
    if log_mel.ndim != 2:
        raise ValueError(f"{record.clip_id}: log_mel must be [frames, n_mels], got {log_mel.shape}")
    waveform = record.waveform if record.waveform is not None else np.zeros([0], np.float32)
    has = record.has_lyrics
    features = {
        "clip_id": _bytes(record.clip_id.encode("utf-8")),
        "audio_path": _bytes(record.audio_path.encode("utf-8")),
        "split": _bytes(record.split.encode("utf-8")),
        "waveform": _bytes(waveform_to_pcm16(waveform)),
        "num_samples": _ints([len(waveform)]),
        "sample_rate": _ints([record.sample_rate]),
        "log_mel": _bytes(log_mel.astype("<f2").tobytes()),
        "num_frames": _ints([log_mel.shape[0]]),
        "n_mels": _ints([log_mel.shape[1]]),
        "lyrics_ids": _ints(record.lyrics_ids if has else []),
        "lyrics_text": _bytes(record.lyrics_text.encode("utf-8") if has else b""),
        "has_lyrics": _ints([1 if has else 0]),
        "tags": _ints(record.tags),
        "energy": _ints([record.energy]),
        "stress": _ints([record.stress]),
        "quadrant": _ints([record.quadrant]),
        "segment_starts": _floats(record.segment_starts),
        "tag_targets": _floats(record.tags if record.tag_targets is None else record.tag_targets),
    }
    if len(features["tag_targets"].float_list.value) != len(record.tags):
        raise ValueError(f"{record.clip_id}: tag_targets has {len(record.tag_targets)} values, "
                         f"tags {len(record.tags)}")
    # deterministic=True: map entries (the feature names) in sorted order, so the same record
    # gives the same bytes in every process (upb otherwise orders them by a per-process hash)
    return tf.train.Example(features=tf.train.Features(feature=features)).SerializeToString(deterministic=True)


def feature_spec(num_tags: int) -> Mapping[str, object]:
    """The parsing spec for ``tf.io.parse_single_example`` / ``parse_example``."""
    scalar_bytes = tf.io.FixedLenFeature([], tf.string)
    scalar_int = tf.io.FixedLenFeature([], tf.int64)
    return {
        "clip_id": scalar_bytes,
        "audio_path": scalar_bytes,
        "split": scalar_bytes,
        "waveform": scalar_bytes,
        "num_samples": scalar_int,
        "sample_rate": scalar_int,
        "log_mel": scalar_bytes,
        "num_frames": scalar_int,
        "n_mels": scalar_int,
        "lyrics_ids": tf.io.VarLenFeature(tf.int64),
        "lyrics_text": scalar_bytes,
        "has_lyrics": scalar_int,
        "tags": tf.io.FixedLenFeature([num_tags], tf.int64),
        "energy": tf.io.FixedLenFeature([], tf.int64, default_value=UNKNOWN_LABEL),
        "stress": tf.io.FixedLenFeature([], tf.int64, default_value=UNKNOWN_LABEL),
        "quadrant": tf.io.FixedLenFeature([], tf.int64, default_value=UNKNOWN_LABEL),
        "segment_starts": tf.io.VarLenFeature(tf.float32),
        # schema v1 records have none: the -1 sentinel is replaced by ``tags`` in parse_example
        "tag_targets": tf.io.FixedLenFeature([num_tags], tf.float32, default_value=[-1.0] * num_tags),
    }


def parse_example(serialized: tf.Tensor, num_tags: int) -> dict:
    """Decode one serialised Example (graph-safe) into tensors.

    Returns a dict with ``waveform`` float32 [samples] in [-1, 1], ``log_mel`` float32
    [frames, n_mels], ``lyrics_ids`` int32 [tokens] (unpadded), ``tags`` float32 [num_tags],
    ``tag_targets`` float32 [num_tags] (soft targets; ``tags`` for schema-v1 records),
    ``has_lyrics`` int32 scalar, emotion labels int32 scalars (-1 unknown), ``segment_starts``
    float32 [segments] (s) and the string/int metadata.
    """
    raw = tf.io.parse_single_example(serialized, feature_spec(num_tags))
    waveform = tf.io.decode_raw(raw["waveform"], tf.int16, little_endian=True)
    log_mel = tf.io.decode_raw(raw["log_mel"], tf.float16, little_endian=True)
    log_mel = tf.reshape(log_mel, tf.stack([raw["num_frames"], raw["n_mels"]]))
    tags = tf.cast(raw["tags"], tf.float32)
    return {
        "clip_id": raw["clip_id"],
        "audio_path": raw["audio_path"],
        "split": raw["split"],
        "waveform": tf.cast(waveform, tf.float32) / WAVEFORM_SCALE,
        "num_samples": tf.cast(raw["num_samples"], tf.int32),
        "sample_rate": tf.cast(raw["sample_rate"], tf.int32),
        "log_mel": tf.cast(log_mel, tf.float32),
        "lyrics_ids": tf.cast(tf.sparse.to_dense(raw["lyrics_ids"]), tf.int32),
        "lyrics_text": raw["lyrics_text"],
        "has_lyrics": tf.cast(raw["has_lyrics"], tf.int32),
        "tags": tags,
        "tag_targets": tf.where(raw["tag_targets"] < 0.0, tags, raw["tag_targets"]),
        "energy": tf.cast(raw["energy"], tf.int32),
        "stress": tf.cast(raw["stress"], tf.int32),
        "quadrant": tf.cast(raw["quadrant"], tf.int32),
        "segment_starts": tf.sparse.to_dense(raw["segment_starts"]),
    }


def decode_example_numpy(serialized: bytes, num_tags: int) -> dict:
    """Eager convenience: parse one record to NumPy / Python values (tests, inspection)."""
    parsed = parse_example(tf.constant(serialized), num_tags)
    out = {}
    for key, value in parsed.items():
        value = value.numpy()
        if isinstance(value, bytes):
            value = value.decode("utf-8")
        out[key] = value
    return out
