"""SavedModel export in TF Serving's layout, with signatures any TensorFlow client can call.

    <base_dir>/<version>/saved_model.pb, variables/, assets/{tags.txt, vocab.txt},
                         assets.extra/musictag.json

The model is rebuilt from ``spec.json`` in float32 with the trained weights (so a model trained
under mixed precision exports as float32) and exported with ``keras.export.ExportArchive``,
which tracks the variables the endpoints use (a bare ``tf.saved_model.save`` of a tf.function
over a Keras 3 model can lose them) and the lookup tables passed to ``track``.

Signatures (every one returns probabilities, never logits):

==================  ==========================================================================
signature           inputs
==================  ==========================================================================
serving_default     ``waveform`` float32 [batch, samples] at AudioParams.sample_rate (16 kHz),
                    any length; ``lyrics_ids`` int32 [batch, tokens], any length including 0
                    (padded / truncated to LyricsParams.max_tokens in-graph; all 0 = no lyrics)
tag_audio           ``waveform`` only (no lyrics)
tag_lyrics_text     ``waveform`` + ``lyrics`` string [batch] (UTF-8 text, "" = none), tokenized
                    in-graph with core TF ops (musictag_tf.lyrics.core_ops_tokenizer) and the
                    vocabulary asset; Han text becomes single characters there (jieba cannot
                    run in a graph) while training used jieba words, so for Chinese lyrics send
                    ids from musictag_tf.lyrics.encode_text to serving_default instead
tag_examples        ``examples`` string [batch]: serialized tf.train.Example in musictag's
                    record schema (musictag_tf/data/schema.py); reads ``waveform`` (int16 PCM),
                    ``sample_rate`` (must equal the model's), ``lyrics_ids`` and ``clip_id``
tag_windows         ``waveform`` float32 [batch, chunk_samples], ``lyrics_ids`` int32
                    [batch, max_tokens]: the bare network, one window per row
==================  ==========================================================================

Audio of any length is cut in-graph into windows of ``chunk_samples`` (ModelParams.chunk_seconds)
every ``hop_samples`` (chunk/2 by default), the last window ending at the clip's end; a clip
shorter than one window is zero-padded to it (musictag_tf.tagging.window_starts). Window
probabilities are averaged per clip. Rows of one request share its length; send clips of
different lengths as separate requests (or through ``tag_examples``, which keeps each clip's
own length). Windows run through the network ``window_batch`` at a time, bounding memory for
long songs.

Outputs (heads the model has): ``tag_probabilities`` [batch, num_tags], ``top_k_tags`` string
[batch, k], ``top_k_scores`` [batch, k], ``taggram`` [batch, windows, num_tags] (per-window tag
probabilities, zero rows past a clip's ``num_windows``), ``window_start_seconds`` [batch,
windows], ``num_windows`` int32 [batch]; ``energy_probabilities`` [batch, 2],
``stress_probabilities`` [batch, 2], ``quadrant_probabilities`` [batch, 4] and ``quadrant``
string [batch] (Thayer quadrant name, data.schema.QUADRANT_NAMES indexed 2 * energy + stress).
With only energy and stress heads, the quadrant probabilities are their outer product
(the two heads treated as independent) and are marked ``"quadrant_source": "energy x stress"``
in musictag.json. ``tag_examples`` also returns ``clip_id``.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import os
import re
import shutil
import tempfile
from typing import Dict, List, Optional, Sequence

import keras
import numpy as np
import tensorflow as tf

from musictag_tf import tagging
from musictag_tf import train as train_lib
from musictag_tf.data import manifest as manifest_lib
from musictag_tf.data import schema
from musictag_tf.errors import MusictagError
from musictag_tf.lyrics import vocab as vocab_lib
from musictag_tf.model import variants

METADATA_DIR, METADATA_NAME = tagging.EXPORT_METADATA  # assets.extra/musictag.json
TAGS_ASSET = manifest_lib.TAGS_NAME
VOCAB_ASSET = manifest_lib.VOCAB_NAME
EXPORT_FORMAT_VERSION = 1
SIGNATURES = ("serving_default", "tag_audio", "tag_lyrics_text", "tag_examples", "tag_windows")
_VERSION_DIR = re.compile(r"^\d+$")


class ExportError(MusictagError):
    """A model directory cannot be exported (missing files, inconsistent vocabularies)."""

    def __init__(self, path, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


@dataclasses.dataclass(frozen=True)
class ServingConfig:
    """How the serving signatures window audio and report tags.

    top_k: tag names returned per clip (capped at num_tags).
    hop_fraction: window hop as a fraction of the window (ModelParams.chunk_seconds); 0.5 = half.
    window_batch: windows per forward pass inside the graph (bounds memory on long songs).
    """

    top_k: int = 5
    hop_fraction: float = 0.5
    window_batch: int = 16

    def __post_init__(self):
        if self.top_k <= 0:
            raise ValueError(f"top_k must be positive, got {self.top_k}")
        if not 0.0 < self.hop_fraction <= 1.0:
            raise ValueError(f"hop_fraction must be in (0, 1], got {self.hop_fraction}")
        if self.window_batch <= 0:
            raise ValueError(f"window_batch must be positive, got {self.window_batch}")

    def hop_samples(self, chunk_samples: int) -> int:
        return max(1, int(round(chunk_samples * self.hop_fraction)))


# ----------------------------------------------------------------------------- the model

def inference_model(keras_model: keras.Model, spec: variants.ModelSpec,
                    stft_impl: Optional[str] = None) -> keras.Model:
    """A float32 copy of ``keras_model`` (logits outputs) with probability outputs.

    The architecture is rebuilt from ``spec`` under the float32 policy (a mixed-precision model
    exports as float32; ``stft_impl`` optionally swaps the STFT implementation, which has no
    weights) and the weights are copied over by position.

    Returns a Keras model: inputs ``waveform`` float32 [batch, chunk_samples], ``lyrics_ids``
    int32 [batch, max_tokens]; outputs head -> probabilities (sigmoid tags, softmax emotion).
    """
    if stft_impl is not None:
        spec = dataclasses.replace(spec, audio=dataclasses.replace(spec.audio, stft_impl=stft_impl))
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("float32")
    try:
        rebuilt = variants.build_model(spec)
    finally:
        keras.mixed_precision.set_global_policy(previous)
    weights = keras_model.get_weights()
    if len(weights) != len(rebuilt.weights):
        raise ExportError("model", f"saved model has {len(weights)} weight tensors but spec.json "
                                   f"rebuilds one with {len(rebuilt.weights)}; spec and weights disagree")
    rebuilt.set_weights([np.asarray(w, np.float32) if np.issubdtype(np.asarray(w).dtype, np.floating)
                         else w for w in weights])
    return variants.with_activations(rebuilt)


@dataclasses.dataclass
class ModelSource:
    """A trained model directory, read: spec, tags, vocabulary path and the probability model."""

    model_dir: str
    spec: variants.ModelSpec
    tags: List[str]
    vocab_path: Optional[str]
    keras_model: keras.Model  # logits outputs, as trained
    model: keras.Model  # float32, probability outputs

    @property
    def heads(self) -> tuple:
        return tuple(self.spec.model.heads)


def load_model_source(model_dir: str, stft_impl: Optional[str] = None) -> ModelSource:
    """Read ``spec.json``, ``best.keras``, ``tags.txt``/``vocab.txt`` of a training run.

    Raises ExportError when the files are missing or disagree (tags.txt vs spec tags, vocabulary
    size vs the embedding).
    """
    try:
        spec, tags, _ = train_lib.load_spec(model_dir)
        keras_model = train_lib.load_best_model(model_dir)
    except FileNotFoundError as exc:
        raise ExportError(model_dir, str(exc)) from exc
    if "tags" in spec.model.heads and len(tags) != spec.model.num_tags:
        raise ExportError(model_dir, f"spec.json lists {len(tags)} tags but the model has "
                                     f"{spec.model.num_tags} tag outputs")
    tags_file = os.path.join(model_dir, TAGS_ASSET)
    if tf.io.gfile.exists(tags_file) and manifest_lib.read_lines(tags_file) != list(tags):
        raise ExportError(tags_file, "differs from the tags in spec.json")
    vocab_path = os.path.join(model_dir, VOCAB_ASSET)
    if tf.io.gfile.exists(vocab_path):
        size = len(vocab_lib.Vocabulary.load(vocab_path))
        if size != spec.vocab_size:
            raise ExportError(vocab_path, f"has {size} ids but the model was built for {spec.vocab_size}")
    else:
        vocab_path = None
    return ModelSource(model_dir=model_dir, spec=spec, tags=list(tags), vocab_path=vocab_path,
                       keras_model=keras_model, model=inference_model(keras_model, spec, stft_impl))


# ----------------------------------------------------------------------------- the graph

class TaggingGraph:
    """The in-graph tagger behind the signatures: windows -> network -> per-clip outputs.

    Args:
      model: probability model (``inference_model``).
      spec: its ModelSpec.
      config: ServingConfig.
      tag_table: int64 row -> tag name (or None when the model has no tag head).
      vocab_table: string token -> int64 id (or None: no text signature).
      tokenizer: CoreOpsTokenizer (or None).
    """

    def __init__(self, model: keras.Model, spec: variants.ModelSpec, config: ServingConfig,
                 tag_table=None, vocab_table=None, tokenizer=None, quadrant_source: Optional[str] = None):
        self.model = model
        self.spec = spec
        self.config = config
        self.chunk = spec.chunk_samples
        self.hop = config.hop_samples(self.chunk)
        self.max_tokens = spec.lyrics.max_tokens
        self.heads = tuple(spec.model.heads)
        self.head_sizes = spec.head_sizes()
        self.tag_table = tag_table
        self.vocab_table = vocab_table
        self.tokenizer = tokenizer
        self.quadrant_source = quadrant_source

    # -- inputs
    def fit_lyrics(self, lyrics_ids: tf.Tensor, batch: tf.Tensor) -> tf.Tensor:
        """int [batch, any tokens] -> int32 [batch, max_tokens] (truncate, pad with 0)."""
        ids = tf.cast(lyrics_ids, tf.int32)[:, : self.max_tokens]
        ids = tf.pad(ids, [[0, 0], [0, tf.maximum(0, self.max_tokens - tf.shape(ids)[1])]])
        ids = tf.ensure_shape(ids, [None, self.max_tokens])
        check = tf.debugging.assert_equal(
            tf.shape(ids)[0], batch, message="waveform and lyrics_ids must have the same batch size")
        with tf.control_dependencies([check]):
            return tf.identity(ids)

    def encode_lyrics(self, lyrics: tf.Tensor) -> tf.Tensor:
        """string [batch] -> int32 [batch, max_tokens] via the core-ops tokenizer + vocabulary asset."""
        tokens = self.tokenizer(lyrics)
        ids = tf.ragged.map_flat_values(self.vocab_table.lookup, tokens)
        ids = tf.cast(ids[:, : self.max_tokens], tf.int32)
        return ids.to_tensor(default_value=vocab_lib.PAD_ID, shape=[None, self.max_tokens])

    # -- the network over windows
    def run_windows(self, waveform: tf.Tensor, lyrics_ids: tf.Tensor) -> Dict[str, tf.Tensor]:
        """One forward pass: float32 [n, chunk], int32 [n, max_tokens] -> head -> [n, classes]."""
        out = self.model({"waveform": waveform, "lyrics_ids": lyrics_ids}, training=False)
        return {name: tf.cast(out[name], tf.float32) for name in self.heads}

    def tag(self, waveform: tf.Tensor, num_samples: tf.Tensor, lyrics_ids: tf.Tensor) -> Dict[str, tf.Tensor]:
        """Tag clips of any length.

        Args:
          waveform: float32 [batch, samples], row b valid for its first num_samples[b] samples.
          num_samples: int32 [batch].
          lyrics_ids: int32 [batch, max_tokens].

        Returns the signature outputs (see the module docstring).
        """
        batch = tf.shape(waveform)[0]
        starts, valid = tagging.window_layout_tf(num_samples, self.chunk, self.hop)  # [B, W]
        max_windows = tf.shape(starts)[1]
        padded = tf.pad(waveform, [[0, 0], [0, tf.maximum(0, self.chunk - tf.shape(waveform)[1])]])
        row_length = tf.shape(padded, out_type=tf.int64)[1]
        flat_wave = tf.reshape(padded, [-1])
        rows = tf.boolean_mask(tf.tile(tf.range(batch)[:, None], [1, max_windows]), valid)  # [V]
        columns = tf.boolean_mask(tf.tile(tf.range(max_windows)[None, :], [batch, 1]), valid)
        window_starts = tf.boolean_mask(starts, valid)  # [V] samples
        count = tf.shape(rows)[0]
        group = tf.minimum(self.config.window_batch, count)
        groups = (count + group - 1) // group
        fill = groups * group - count
        rows_g = tf.reshape(tf.pad(rows, [[0, fill]]), [groups, group])
        starts_g = tf.reshape(tf.pad(window_starts, [[0, fill]]), [groups, group])
        offsets = tf.range(self.chunk, dtype=tf.int64)[None, :]

        def forward(args):
            g_rows, g_starts = args
            index = (tf.cast(g_rows, tf.int64)[:, None] * row_length
                     + tf.cast(g_starts, tf.int64)[:, None] + offsets)  # [group, chunk]
            windows = tf.ensure_shape(tf.gather(flat_wave, index), [None, self.chunk])
            return self.run_windows(windows, tf.gather(lyrics_ids, g_rows))

        spec = {name: tf.TensorSpec([None, size], tf.float32) for name, size in self.head_sizes.items()}
        grouped = tf.map_fn(forward, (rows_g, starts_g), fn_output_signature=spec, parallel_iterations=1)
        per_window = {name: tf.reshape(value, [-1, self.head_sizes[name]])[:count]
                      for name, value in grouped.items()}

        outputs = {}
        for name, value in per_window.items():
            outputs[name] = tf.math.unsorted_segment_mean(value, rows, batch)  # [B, classes]
        result = {"num_windows": tf.reduce_sum(tf.cast(valid, tf.int32), axis=1),
                  "window_start_seconds": tf.cast(tf.where(valid, tf.cast(starts, tf.float64), 0.0)
                                                  / float(self.spec.audio.sample_rate), tf.float32)}
        if "tags" in outputs:
            probabilities = outputs["tags"]
            result[tagging.PROBABILITY_OUTPUTS["tags"]] = probabilities
            k = min(self.config.top_k, self.head_sizes["tags"])
            scores, indices = tf.math.top_k(probabilities, k=k)
            result["top_k_scores"] = scores
            result["top_k_tags"] = self.tag_table.lookup(tf.cast(indices, tf.int64))
            result["taggram"] = tf.scatter_nd(tf.stack([rows, columns], axis=1), per_window["tags"],
                                              tf.stack([batch, max_windows, self.head_sizes["tags"]]))
        for name in ("energy", "stress", "quadrant"):
            if name in outputs:
                result[tagging.PROBABILITY_OUTPUTS[name]] = outputs[name]
        quadrant = quadrant_probabilities(outputs)
        if quadrant is not None:
            result[tagging.PROBABILITY_OUTPUTS["quadrant"]] = quadrant
            names = tf.constant(schema.QUADRANT_NAMES)
            result["quadrant"] = tf.gather(names, tf.argmax(quadrant, axis=1))
        return result


def quadrant_probabilities(outputs: Dict[str, tf.Tensor]) -> Optional[tf.Tensor]:
    """Thayer quadrant probabilities [batch, 4] from the heads there are (None without any).

    The quadrant head when present; otherwise with energy and stress heads their outer product,
    index 2 * energy + stress as in data.schema.QUADRANT_NAMES.
    """
    if "quadrant" in outputs:
        return outputs["quadrant"]
    if "energy" in outputs and "stress" in outputs:
        joint = outputs["energy"][:, :, None] * outputs["stress"][:, None, :]  # [B, 2, 2]
        return tf.reshape(joint, [-1, 4])
    return None


def quadrant_source(heads: Sequence[str]) -> Optional[str]:
    if "quadrant" in heads:
        return "quadrant head"
    if "energy" in heads and "stress" in heads:
        return "energy x stress"
    return None


# ----------------------------------------------------------------------------- the archive

def _tag_table(tags_path: str) -> tf.lookup.StaticHashTable:
    return tf.lookup.StaticHashTable(
        tf.lookup.TextFileInitializer(tags_path, tf.int64, tf.lookup.TextFileIndex.LINE_NUMBER,
                                      tf.string, tf.lookup.TextFileIndex.WHOLE_LINE),
        default_value="")


def _vocab_table(vocab_path: str) -> tf.lookup.StaticHashTable:
    return tf.lookup.StaticHashTable(
        tf.lookup.TextFileInitializer(vocab_path, tf.string, tf.lookup.TextFileIndex.WHOLE_LINE,
                                      tf.int64, tf.lookup.TextFileIndex.LINE_NUMBER),
        default_value=vocab_lib.OOV_ID)


@dataclasses.dataclass
class ServingArchive:
    """An ExportArchive with its endpoints (tf.functions, callable in this process before saving)."""

    archive: keras.export.ExportArchive
    endpoints: Dict[str, object]

    def __getattr__(self, name):
        endpoints = self.__dict__.get("endpoints", {})
        if name in endpoints:
            return endpoints[name]
        raise AttributeError(name)

    def write_out(self, path: str) -> None:
        self.archive.write_out(path, verbose=False)


def build_archive(source: ModelSource, staging_dir: str,
                  config: ServingConfig = ServingConfig()) -> ServingArchive:
    """Every signature in an ExportArchive; asset files are written to ``staging_dir`` (keep it until saved)."""
    from musictag_tf.lyrics.core_ops_tokenizer import CoreOpsTokenizer

    spec = source.spec
    archive = keras.export.ExportArchive()
    archive.track(source.model)
    tag_table = vocab_table = tokenizer = None
    if "tags" in spec.model.heads:
        tags_path = os.path.join(staging_dir, TAGS_ASSET)
        manifest_lib.write_text_atomic(tags_path, "".join(f"{t}\n" for t in source.tags))
        tag_table = _tag_table(tags_path)
        archive.track(tag_table)
    if source.vocab_path:
        vocab_path = os.path.join(staging_dir, VOCAB_ASSET)
        tf.io.gfile.copy(source.vocab_path, vocab_path, overwrite=True)
        vocab_table = _vocab_table(vocab_path)
        tokenizer = CoreOpsTokenizer(spec.lyrics)
        archive.track(vocab_table)
        archive.track(tokenizer)
    graph = TaggingGraph(source.model, spec, config, tag_table, vocab_table, tokenizer,
                         quadrant_source(spec.model.heads))
    max_tokens = spec.lyrics.max_tokens

    def whole_clips(waveform, lyrics_ids):
        batch, samples = tf.shape(waveform)[0], tf.shape(waveform)[1]
        return graph.tag(waveform, tf.fill([batch], samples), graph.fit_lyrics(lyrics_ids, batch))

    def serving_default(waveform, lyrics_ids):
        return whole_clips(waveform, lyrics_ids)

    def tag_audio(waveform):
        return whole_clips(waveform, tf.zeros([tf.shape(waveform)[0], 0], tf.int32))

    def tag_lyrics_text(waveform, lyrics):
        return whole_clips(waveform, graph.encode_lyrics(lyrics))

    def tag_examples(examples):
        features = tf.io.parse_example(examples, example_feature_spec())
        data = features["waveform"]
        lengths = tf.cast(tf.strings.length(data) // 2, tf.int32)
        checks = [
            tf.debugging.assert_equal(features["sample_rate"], tf.cast(spec.audio.sample_rate, tf.int64),
                                      message=f"tf.Example sample_rate must be {spec.audio.sample_rate} Hz"),
            tf.debugging.assert_positive(lengths, message="tf.Example has no waveform (records built "
                                                          "with keep_waveform=False cannot be tagged)")]
        with tf.control_dependencies(checks):
            pcm = tf.io.decode_raw(data, tf.int16, little_endian=True, fixed_length=2 * tf.reduce_max(lengths))
        waveform = tf.cast(pcm, tf.float32) / schema.WAVEFORM_SCALE
        ids = tf.sparse.to_dense(features["lyrics_ids"])
        batch = tf.shape(waveform)[0]
        out = graph.tag(waveform, lengths, graph.fit_lyrics(ids, batch))
        out["clip_id"] = features["clip_id"]
        return out

    def tag_windows(waveform, lyrics_ids):
        return graph.run_windows(waveform, lyrics_ids)

    wave_any = tf.TensorSpec([None, None], tf.float32, name="waveform")
    ids_any = tf.TensorSpec([None, None], tf.int32, name="lyrics_ids")
    endpoints = {}

    def add(name, fn, signature):
        endpoints[name] = archive.add_endpoint(name, fn, signature)

    add("serving_default", serving_default, [wave_any, ids_any])
    add("tag_audio", tag_audio, [wave_any])
    if tokenizer is not None:
        add("tag_lyrics_text", tag_lyrics_text, [wave_any, tf.TensorSpec([None], tf.string, name="lyrics")])
    add("tag_examples", tag_examples, [tf.TensorSpec([None], tf.string, name="examples")])
    add("tag_windows", tag_windows, [tf.TensorSpec([None, spec.chunk_samples], tf.float32, name="waveform"),
                                     tf.TensorSpec([None, max_tokens], tf.int32, name="lyrics_ids")])
    return ServingArchive(archive, endpoints)


def example_feature_spec() -> Dict[str, object]:
    """The record-schema features ``tag_examples`` reads (types from data.schema.feature_spec)."""
    full = schema.feature_spec(num_tags=1)
    spec = {key: full[key] for key in ("waveform", "sample_rate", "lyrics_ids")}
    spec["clip_id"] = tf.io.FixedLenFeature([], tf.string, default_value="")
    return spec


def metadata(source: ModelSource, config: ServingConfig, signatures: Sequence[str]) -> dict:
    """What ``assets.extra/musictag.json`` holds: enough for a client to window and label."""
    spec = source.spec
    return {
        "format_version": EXPORT_FORMAT_VERSION,
        "exported_at": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "source_model_dir": os.path.abspath(source.model_dir),
        "spec": spec.to_dict(),
        "tags": source.tags,
        "heads": list(spec.model.heads),
        "sample_rate": spec.audio.sample_rate,
        "chunk_samples": spec.chunk_samples,
        "hop_samples": config.hop_samples(spec.chunk_samples),
        "max_tokens": spec.lyrics.max_tokens,
        "top_k": min(config.top_k, spec.model.num_tags) if "tags" in spec.model.heads else 0,
        "window_batch": config.window_batch,
        "quadrant_names": list(schema.QUADRANT_NAMES),
        "quadrant_source": quadrant_source(spec.model.heads),
        "signatures": list(signatures),
        "has_vocabulary": source.vocab_path is not None,
    }


# ----------------------------------------------------------------------------- versions

def existing_versions(base_dir: str) -> List[int]:
    """Numeric version directories under ``base_dir``, ascending."""
    if not tf.io.gfile.isdir(base_dir):
        return []
    return sorted(int(name.rstrip("/")) for name in tf.io.gfile.listdir(base_dir)
                  if _VERSION_DIR.match(name.rstrip("/"))
                  and tf.io.gfile.isdir(os.path.join(base_dir, name.rstrip("/"))))


def choose_version(base_dir: str, version: int = 0, overwrite: bool = False) -> int:
    """The version to write: ``version``, or (0) one above the highest numeric directory.

    Raises ExportError when ``version`` exists and ``overwrite`` is False, or is negative.
    """
    if version < 0:
        raise ExportError(base_dir, f"version must be >= 0 (0 = next), got {version}")
    versions = existing_versions(base_dir)
    version = version or (versions[-1] + 1 if versions else 1)
    if tf.io.gfile.exists(os.path.join(base_dir, str(version))) and not overwrite:
        raise ExportError(os.path.join(base_dir, str(version)),
                          "version already exists; pass a new --version or --overwrite")
    return version


@dataclasses.dataclass
class SavedModelExport:
    path: str  # <base_dir>/<version>
    version: int
    signatures: List[str]
    size_bytes: int
    metadata: dict


def _dir_size(path: str) -> int:
    total = 0
    for root, _, files in tf.io.gfile.walk(path):
        for name in files:
            total += tf.io.gfile.stat(os.path.join(root, name)).length
    return total


def export_saved_model(source: ModelSource, base_dir: str, version: int = 0,
                       config: ServingConfig = ServingConfig(), overwrite: bool = False) -> SavedModelExport:
    """Write ``source`` as ``<base_dir>/<version>/`` (version 0: one above the highest present).

    The SavedModel is written to a temporary sibling and renamed into place when complete, so
    TF Serving (which polls ``base_dir``) never loads a half-written version.
    """
    version = choose_version(base_dir, version, overwrite)
    final = os.path.join(base_dir, str(version))
    tf.io.gfile.makedirs(base_dir)
    staging = tempfile.mkdtemp(prefix="musictag-assets-")
    partial = os.path.join(base_dir, f".partial-{version}-{os.getpid()}")
    try:
        archive = build_archive(source, staging, config)
        signatures = list(archive.endpoints)
        if tf.io.gfile.exists(partial):
            tf.io.gfile.rmtree(partial)
        archive.write_out(partial)
        extra = os.path.join(partial, METADATA_DIR)
        tf.io.gfile.makedirs(extra)
        meta = metadata(source, config, signatures)
        manifest_lib.write_text_atomic(os.path.join(extra, METADATA_NAME), json.dumps(meta, indent=2))
        if tf.io.gfile.exists(final):
            tf.io.gfile.rmtree(final)
        tf.io.gfile.rename(partial, final)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        if tf.io.gfile.exists(partial):
            tf.io.gfile.rmtree(partial)
    return SavedModelExport(path=final, version=version, signatures=signatures,
                            size_bytes=_dir_size(final), metadata=meta)


def read_metadata(saved_model_dir: str) -> dict:
    """``assets.extra/musictag.json`` of an exported version directory."""
    return tagging.read_json(os.path.join(saved_model_dir, METADATA_DIR, METADATA_NAME))
