"""tf.data input pipeline: TFRecord shards -> parsed clips -> crops / eval chunks -> batches.

Model inputs (every variant takes the same dict; the log-mel is computed inside the model):
    waveform    float32 [batch, chunk_samples] at 16 kHz
    lyrics_ids  int32   [batch, max_tokens], 0 = padding; all zeros = no lyrics
Labels:
    tags        float32 [batch, num_tags] multi-hot (metrics)
    tag_targets float32 [batch, num_tags] in [0, 1]: the tagging loss's targets (soft teacher
                scores from ``--soft_labels``, else equal to ``tags``)
    energy, stress int32 [batch] in {0, 1}; quadrant int32 [batch] in {0..3}; -1 = unknown

Training draws random crops of ``chunk_samples`` from each clip (zero-padded when the clip is
shorter). Evaluation cuts each clip into windows whose predictions the evaluator averages per
clip, by default exactly the windows ``musictag tag`` and the SavedModel use
(``windows="tagger"``: musictag_tf.windows, hop ``TagParams.hop_fraction`` of a window, the last
window ending at the clip's end), so the reported metrics are what users get;
``windows="spread"`` is the MTAT literature's protocol (at most ``max_chunks`` chunks spread
evenly over the clip, 16 in the papers) for comparisons with published numbers. Evaluation
order is deterministic.
"""

from __future__ import annotations

import dataclasses
from typing import List, Optional

import tensorflow as tf

from musictag_tf import params as params_lib
from musictag_tf import windows as windows_lib
from musictag_tf.data import manifest as manifest_lib
from musictag_tf.data import schema

AUTOTUNE = tf.data.AUTOTUNE
LABEL_KEYS = ("tags", "tag_targets") + schema.EMOTION_KEYS


@dataclasses.dataclass(frozen=True)
class PipelineConfig:
    """What the pipeline needs to know, derived from the records' manifest and the model."""

    num_tags: int
    chunk_samples: int
    max_tokens: int
    sample_rate: int
    hop_samples: int = 0  # tagger windows' hop, samples; 0 = TagParams().hop_fraction of a chunk

    @classmethod
    def from_records(cls, manifest: manifest_lib.Manifest, model_params: params_lib.ModelParams,
                     tag_params: params_lib.TagParams = params_lib.TagParams()):
        audio = manifest.audio_params()
        chunk = audio.seconds_to_samples(model_params.chunk_seconds)
        return cls(num_tags=manifest.num_tags, chunk_samples=chunk,
                   max_tokens=manifest.lyrics_params().max_tokens,
                   sample_rate=audio.sample_rate, hop_samples=tag_params.hop_samples(chunk))

    @property
    def window_params(self) -> windows_lib.WindowParams:
        """The tagger's windows for this model (musictag_tf.windows)."""
        hop = self.hop_samples or params_lib.TagParams().hop_samples(self.chunk_samples)
        return windows_lib.WindowParams(window_samples=self.chunk_samples, hop_samples=hop)


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


def spread_chunks(waveform: tf.Tensor, chunk_samples: int, max_chunks: int) -> tf.Tensor:
    """float32 [samples] -> float32 [k, chunk_samples]: the literature's evenly spread chunks.

    The first chunk starts at 0 and the last ends at the clip's end (windows.spread_starts).
    """
    starts = windows_lib.spread_starts_tf(tf.shape(waveform)[0], chunk_samples, max_chunks)
    return windows_lib.gather_windows_tf(waveform, starts, windows_lib.WindowParams(chunk_samples, chunk_samples))


def eval_windows(waveform: tf.Tensor, config: PipelineConfig, windows: str = "tagger",
                 max_chunks: int = 16) -> tf.Tensor:
    """float32 [samples] -> float32 [k, chunk_samples]: the windows evaluation averages over.

    ``windows="tagger"``: musictag tag's windows (windows.clip_windows_tf with
    ``config.window_params``); ``"spread"``: ``spread_chunks`` (at most ``max_chunks``).
    """
    if windows == "tagger":
        return windows_lib.clip_windows_tf(waveform, config.window_params)[0]
    if windows == "spread":
        return spread_chunks(waveform, config.chunk_samples, max_chunks)
    raise ValueError(f"windows must be one of {params_lib.EVAL_WINDOWS}, got {windows!r}")


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
                       max_chunks: int = 16, windows: str = "tagger") -> tf.data.Dataset:
    """Deterministic batches of evaluation windows: (features, labels, clip_index).

    Every clip is cut by ``eval_windows`` (``windows`` = "tagger" or "spread"; ``max_chunks``
    caps "spread" only); each window carries its clip's running index (order of the shards),
    so predictions can be averaged per clip (``musictag_tf.predict.aggregate_by_clip``).
    """
    clips = _read_clips(files, config.num_tags, shuffle_files=False, seed=None,
                        deterministic=True).enumerate()

    def to_chunks(index, clip):
        chunks = eval_windows(clip["waveform"], config, windows, max_chunks)
        k = tf.shape(chunks)[0]
        ids = pad_tokens(clip["lyrics_ids"], config.max_tokens)
        features = {"waveform": chunks, "lyrics_ids": tf.tile(ids[None], [k, 1])}
        labels = {key: tf.repeat(value[None], k, axis=0) for key, value in _labels(clip).items()}
        labels["clip_id"] = tf.repeat(clip["clip_id"][None], k)
        return tf.data.Dataset.from_tensor_slices((features, labels, tf.fill([k], index)))

    return clips.flat_map(to_chunks).batch(batch_size).prefetch(AUTOTUNE)

