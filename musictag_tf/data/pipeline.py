"""tf.data input pipeline: TFRecord shards -> parsed clips -> crops / eval chunks -> batches.

Model inputs (every variant takes the same dict; the log-mel is computed inside the model):
    waveform    float32 [batch, chunk_samples] at 16 kHz
    lyrics_ids  int32   [batch, max_tokens], 0 = padding; all zeros = no lyrics
Labels:
    tags        float32 [batch, num_tags] multi-hot
    energy, stress int32 [batch] in {0, 1}; quadrant int32 [batch] in {0..3}; -1 = unknown

Training draws random crops of ``chunk_samples`` from each clip (zero-padded when the clip is
shorter); evaluation covers each clip with evenly spaced chunks (50 % overlap, at most
``TrainParams.eval_chunks``; the MTAT literature averages 16) whose predictions the evaluator
averages per clip. Evaluation order is deterministic.
"""

from __future__ import annotations

import dataclasses
from typing import List, Optional

import tensorflow as tf

from musictag_tf import params as params_lib
from musictag_tf.data import manifest as manifest_lib
from musictag_tf.data import schema

AUTOTUNE = tf.data.AUTOTUNE
LABEL_KEYS = ("tags",) + schema.EMOTION_KEYS


@dataclasses.dataclass(frozen=True)
class PipelineConfig:
    """What the pipeline needs to know, derived from the records' manifest and the model."""

    num_tags: int
    chunk_samples: int
    max_tokens: int
    sample_rate: int

    @classmethod
    def from_records(cls, manifest: manifest_lib.Manifest, model_params: params_lib.ModelParams):
        audio = manifest.audio_params()
        return cls(num_tags=manifest.num_tags,
                   chunk_samples=audio.seconds_to_samples(model_params.chunk_seconds),
                   max_tokens=manifest.lyrics_params().max_tokens,
                   sample_rate=audio.sample_rate)


def pad_tokens(ids: tf.Tensor, max_tokens: int) -> tf.Tensor:
    """int32 [tokens] -> int32 [max_tokens], truncated or padded with 0."""
    ids = ids[:max_tokens]
    return tf.pad(ids, [[0, max_tokens - tf.shape(ids)[0]]])


def pad_to_length(waveform: tf.Tensor, length: int) -> tf.Tensor:
    """float32 [samples] -> at least ``length`` samples, zero-padded at the end."""
    return tf.pad(waveform, [[0, tf.maximum(0, length - tf.shape(waveform)[0])]])


def random_crop(waveform: tf.Tensor, chunk_samples: int, seed: Optional[int] = None) -> tf.Tensor:
    """A random window of ``chunk_samples`` samples (zero-padded when the clip is shorter)."""
    waveform = pad_to_length(waveform, chunk_samples)
    last_start = tf.shape(waveform)[0] - chunk_samples
    start = tf.random.uniform([], 0, last_start + 1, dtype=tf.int32, seed=seed)
    return tf.ensure_shape(waveform[start:start + chunk_samples], [chunk_samples])


def num_eval_chunks(num_samples: tf.Tensor, chunk_samples: int, max_chunks: int) -> tf.Tensor:
    """Chunks covering a clip with >= 50 % overlap: min(max_chunks, ceil((n - c) / (c/2)) + 1)."""
    hop = max(1, chunk_samples // 2)
    extra = tf.maximum(0, num_samples - chunk_samples)
    count = (extra + hop - 1) // hop + 1
    return tf.minimum(tf.cast(max_chunks, count.dtype), count)


def eval_chunks(waveform: tf.Tensor, chunk_samples: int, max_chunks: int) -> tf.Tensor:
    """float32 [samples] -> float32 [k, chunk_samples]: evenly spaced chunks covering the clip.

    The first chunk starts at 0 and the last ends at the clip's end; k = num_eval_chunks().
    """
    waveform = pad_to_length(waveform, chunk_samples)
    n = tf.shape(waveform)[0]
    k = num_eval_chunks(n, chunk_samples, max_chunks)
    last_start = n - chunk_samples
    steps = tf.maximum(k - 1, 1)
    starts = (tf.range(k) * last_start) // steps
    index = starts[:, None] + tf.range(chunk_samples)[None, :]
    return tf.gather(waveform, index)


def _labels(clip: dict) -> dict:
    return {key: clip[key] for key in LABEL_KEYS}


def _read_clips(files: List[str], num_tags: int, shuffle_files: bool, seed: Optional[int],
                deterministic: bool) -> tf.data.Dataset:
    files_ds = tf.data.Dataset.from_tensor_slices(files)
    if shuffle_files:
        files_ds = files_ds.shuffle(len(files), seed=seed, reshuffle_each_iteration=True)
    records = files_ds.interleave(
        tf.data.TFRecordDataset,
        cycle_length=min(len(files), 8),
        num_parallel_calls=AUTOTUNE,
        deterministic=deterministic)
    return records.map(lambda s: schema.parse_example(s, num_tags), num_parallel_calls=AUTOTUNE,
                       deterministic=deterministic)


def training_dataset(files: List[str], config: PipelineConfig, batch_size: int,
                     train_params: params_lib.TrainParams = params_lib.TrainParams(),
                     repeat: bool = False, drop_remainder: bool = True,
                     input_context: Optional[tf.distribute.InputContext] = None) -> tf.data.Dataset:
    """Shuffled batches of random crops: (features dict, labels dict).

    ``input_context`` (from ``strategy.distribute_datasets_from_function``) shards the files
    per input pipeline so each worker reads its own part. ``drop_remainder`` keeps batch shapes
    static, which TPUs need.
    """
    if not files:
        raise ValueError("training_dataset: no record files")
    if input_context is not None and input_context.num_input_pipelines > 1:
        files = files[input_context.input_pipeline_id::input_context.num_input_pipelines] or files
    clips = _read_clips(files, config.num_tags, shuffle_files=True, seed=train_params.seed,
                        deterministic=False)
    if repeat:
        clips = clips.repeat()

    def to_examples(clip):
        crops = tf.stack([random_crop(clip["waveform"], config.chunk_samples)
                          for _ in range(train_params.crops_per_clip)])
        ids = pad_tokens(clip["lyrics_ids"], config.max_tokens)
        n = train_params.crops_per_clip
        features = {"waveform": crops, "lyrics_ids": tf.tile(ids[None], [n, 1])}
        labels = {k: tf.repeat(v[None], n, axis=0) for k, v in _labels(clip).items()}
        return tf.data.Dataset.from_tensor_slices((features, labels))

    examples = clips.flat_map(to_examples)
    examples = examples.shuffle(train_params.shuffle_buffer, seed=train_params.seed,
                                reshuffle_each_iteration=True)
    return examples.batch(batch_size, drop_remainder=drop_remainder).prefetch(AUTOTUNE)


def evaluation_dataset(files: List[str], config: PipelineConfig, batch_size: int,
                       max_chunks: int = 16) -> tf.data.Dataset:
    """Deterministic batches of eval chunks: (features, labels, clip_index).

    Every clip is cut into ``eval_chunks`` windows; each window carries its clip's running
    index (order of the shards), so predictions can be averaged per clip
    (see ``musictag_tf.evaluate.aggregate_by_clip``).
    """
    clips = _read_clips(files, config.num_tags, shuffle_files=False, seed=None,
                        deterministic=True).enumerate()

    def to_chunks(index, clip):
        chunks = eval_chunks(clip["waveform"], config.chunk_samples, max_chunks)
        k = tf.shape(chunks)[0]
        ids = pad_tokens(clip["lyrics_ids"], config.max_tokens)
        features = {"waveform": chunks, "lyrics_ids": tf.tile(ids[None], [k, 1])}
        labels = {key: tf.repeat(value[None], k, axis=0) for key, value in _labels(clip).items()}
        labels["clip_id"] = tf.repeat(clip["clip_id"][None], k)
        return tf.data.Dataset.from_tensor_slices((features, labels, tf.fill([k], index)))

    return clips.flat_map(to_chunks).batch(batch_size).prefetch(AUTOTUNE)

