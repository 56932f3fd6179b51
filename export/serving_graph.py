"""The serving graph: any-length audio -> windows -> network -> per-clip outputs, in TensorFlow.

Everything inside the exported SavedModel's signatures (see export.saved_model for the table of
signatures and outputs): ``TaggingGraph`` windows whole clips with musictag_tf.windows (the same
rule as evaluation and the TFLite / Keras tagger), runs the network ``window_batch`` windows at a
time and averages window probabilities per clip; ``build_archive`` wraps it in a
``keras.export.ExportArchive`` with the lookup tables and tokenizer it needs. Writing versions
to disk is export.saved_model's job.
"""

from __future__ import annotations

import math
import os
from typing import Dict, Optional, Sequence

import dataclasses
import keras
import tensorflow as tf

from musictag_tf import artifacts
from musictag_tf import emotion
from musictag_tf import fileio
from musictag_tf import params as params_lib
from musictag_tf import windows as windows_lib
from musictag_tf.audio.io import MIN_DURATION_SECONDS
from musictag_tf.data import schema
from musictag_tf.lyrics import vocab as vocab_lib
from musictag_tf.model import variants
from musictag_tf.runs import ModelSource

# How the serving graph windows and reports: the tagger's params (one place: musictag_tf.params).
ServingConfig = params_lib.TagParams
TAGS_ASSET = artifacts.TAGS_FILE
VOCAB_ASSET = artifacts.VOCAB_FILE


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
      attention_model: ``model`` with cnn_sam's attention outputs added
        (musictag_tf.model.attention.with_attention), or None: no attention outputs.
    """

    def __init__(self, model: keras.Model, spec: variants.ModelSpec, config: ServingConfig,
                 tag_table=None, vocab_table=None, tokenizer=None, quadrant_source: Optional[str] = None,
                 attention_model: Optional[keras.Model] = None):
        self.model = model
        self.attention_model = attention_model
        self.spec = spec
        self.config = config
        self.chunk = spec.chunk_samples
        self.hop = config.hop_samples(self.chunk)
        self.window_params = windows_lib.WindowParams.for_chunk(self.chunk, config.hop_fraction)
        self.max_tokens = spec.lyrics.max_tokens
        self.heads = tuple(spec.model.heads)
        self.head_sizes = spec.head_sizes()
        self.tag_table = tag_table
        self.vocab_table = vocab_table
        self.tokenizer = tokenizer
        self.quadrant_source = quadrant_source

    # -- inputs
    def check_waveform(self, waveform: tf.Tensor, num_samples: Optional[tf.Tensor] = None):
        """``waveform`` float32 [batch, samples] after the input checks (InvalidArgumentError, one
        message each): an empty batch, NaN or infinity anywhere, a clip shorter than
        ``MIN_DURATION_SECONDS`` (the CLI's "too short" rule; ``num_samples`` int32 [batch]).
        Returns the waveform, or ``(waveform, num_samples)`` when given: both depend on the checks,
        so nothing computed from either runs before them."""
        checks = [tf.debugging.assert_positive(
            tf.shape(waveform)[0], message="waveform: the batch is empty (shape [0, samples]); send >= 1 clip")]
        if num_samples is not None:
            rate = self.spec.audio.sample_rate
            minimum = int(math.ceil(MIN_DURATION_SECONDS * rate))
            checks.append(tf.debugging.assert_greater_equal(
                num_samples, minimum, message=f"waveform too short: minimum {MIN_DURATION_SECONDS} s "
                                              f"({minimum} samples at {rate} Hz)"))
        with tf.control_dependencies(checks):
            waveform = tf.debugging.check_numerics(
                waveform, "waveform contains NaN or infinity (non-finite samples cannot be tagged)")
            return waveform if num_samples is None else (waveform, tf.identity(num_samples))

    def fit_lyrics(self, lyrics_ids: tf.Tensor, batch: tf.Tensor) -> tf.Tensor:
        """int [batch, any tokens] -> int32 [batch, max_tokens] (truncate, pad with 0, ids outside
        [0, vocab_size) -> OOV: ``map_unknown_ids``)."""
        ids = map_unknown_ids(lyrics_ids, self.spec.vocab_size)[:, : self.max_tokens]
        ids = tf.pad(ids, [[0, 0], [0, tf.maximum(0, self.max_tokens - tf.shape(ids)[1])]])
        ids = tf.ensure_shape(ids, [None, self.max_tokens])
        check = tf.debugging.assert_equal(
            tf.shape(ids)[0], batch, message="waveform and lyrics_ids must have the same batch size")
        with tf.control_dependencies([check]):
            return tf.identity(ids)

    def encode_lyrics(self, lyrics: tf.Tensor) -> tf.Tensor:
        """string [batch] -> int32 [batch, max_tokens] via the core-ops tokenizer + vocabulary asset.

        Text that is not valid UTF-8 is an InvalidArgumentError (``check_utf8``): the rule of
        ``musictag tag --lyrics``, which refuses such files (musictag_tf.lyrics.encode)."""
        lyrics = check_utf8(lyrics)
        # A sentinel row keeps the flat token values non-empty: a batch whose texts are all empty
        # ("" = a song without lyrics) failed in the tokenizer's RaggedMask; now it is all padding.
        tokens = self.tokenizer(tf.concat([lyrics, tf.constant(["x"])], axis=0))[:-1]
        ids = tf.ragged.map_flat_values(self.vocab_table.lookup, tokens)
        ids = tf.cast(ids[:, : self.max_tokens], tf.int32)
        return ids.to_tensor(default_value=vocab_lib.PAD_ID, shape=[None, self.max_tokens])

    # -- the network over windows
    def run_windows(self, waveform: tf.Tensor, lyrics_ids: tf.Tensor) -> Dict[str, tf.Tensor]:
        """One forward pass: float32 [n, chunk], int32 [n, max_tokens] -> head -> [n, classes];
        with an attention model also ``attention`` [n, r, K] and ``attention_start_seconds`` /
        ``attention_end_seconds`` [n, K] (s within the window, -1 for unused slots)."""
        inputs = {"waveform": waveform, "lyrics_ids": lyrics_ids}
        if self.attention_model is None:
            out = self.model(inputs, training=False)
            return {name: tf.cast(out[name], tf.float32) for name in self.heads}
        out = self.attention_model(inputs, training=False)
        result = {name: tf.cast(out[name], tf.float32) for name in self.heads}
        result.update({key: tf.cast(out[name], tf.float32) for name, key in artifacts.ATTENTION_OUTPUTS.items()})
        return result

    def attention_shape(self) -> Optional[tuple]:
        """(r rows, K segment slots) of the attention outputs, or None without them."""
        if self.attention_model is None:
            return None
        shape = self.attention_model.output["attention_weights"].shape
        return int(shape[1]), int(shape[2])

    def tag(self, waveform: tf.Tensor, num_samples: tf.Tensor, lyrics_ids: tf.Tensor) -> Dict[str, tf.Tensor]:
        """Tag clips of any length.

        Args:
          waveform: float32 [batch, samples], row b valid for its first num_samples[b] samples.
          num_samples: int32 [batch].
          lyrics_ids: int32 [batch, max_tokens].

        Returns the signature outputs (see the module docstring).
        """
        batch = tf.shape(waveform)[0]
        starts, valid = windows_lib.window_layout_tf(num_samples, self.window_params)  # [B, W]
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
        attention_shape = self.attention_shape()
        if attention_shape is not None:
            r, k = attention_shape
            spec["attention"] = tf.TensorSpec([None, r, k], tf.float32)
            spec["attention_start_seconds"] = spec["attention_end_seconds"] = tf.TensorSpec([None, k], tf.float32)
        grouped = tf.map_fn(forward, (rows_g, starts_g), fn_output_signature=spec, parallel_iterations=1)
        per_window = {name: tf.reshape(value, [-1] + value.shape[2:].as_list())[:count]
                      for name, value in grouped.items()}
        attention = {name: per_window.pop(name) for name in list(per_window)
                     if name in artifacts.ATTENTION_OUTPUTS.values()}

        outputs = {}
        for name, value in per_window.items():
            outputs[name] = tf.math.unsorted_segment_mean(value, rows, batch)  # [B, classes]
        result = {"num_windows": tf.reduce_sum(tf.cast(valid, tf.int32), axis=1),
                  "window_start_seconds": tf.cast(tf.where(valid, tf.cast(starts, tf.float64), 0.0)
                                                  / float(self.spec.audio.sample_rate), tf.float32)}
        if "tags" in outputs:
            probabilities = outputs["tags"]
            result[artifacts.PROBABILITY_OUTPUTS["tags"]] = probabilities
            k = min(self.config.top_k, self.head_sizes["tags"])
            scores, indices = tf.math.top_k(probabilities, k=k)
            result["top_k_scores"] = scores
            result["top_k_tags"] = self.tag_table.lookup(tf.cast(indices, tf.int64))
            result["taggram"] = tf.scatter_nd(tf.stack([rows, columns], axis=1), per_window["tags"],
                                              tf.stack([batch, max_windows, self.head_sizes["tags"]]))
        for name in params_lib.EMOTION_HEADS:
            if name in outputs:
                result[artifacts.PROBABILITY_OUTPUTS[name]] = outputs[name]
        if attention:
            result.update(self.clip_attention(attention, rows, columns, window_starts, batch, max_windows))
        quadrant = emotion.quadrant_probabilities(outputs)
        if quadrant is not None:
            result[artifacts.PROBABILITY_OUTPUTS["quadrant"]] = quadrant
            names = tf.constant(emotion.QUADRANT_NAMES)
            result["quadrant"] = tf.gather(names, tf.argmax(quadrant, axis=1))
        return result

    def clip_attention(self, attention: Dict[str, tf.Tensor], rows, columns, window_starts, batch,
                       max_windows) -> Dict[str, tf.Tensor]:
        """Per-window attention [V, ...] (V valid windows at (rows, columns), starting at
        ``window_starts`` samples) -> ``attention`` float32 [batch, windows, r, K] (0 past a clip's
        num_windows) and ``attention_start_seconds`` / ``attention_end_seconds`` float32
        [batch, windows, K] in seconds of the clip (window start + segment bound; -1 for unused
        slots and for windows past num_windows)."""
        index = tf.stack([rows, columns], axis=1)
        weights = attention["attention"]
        shape = tf.concat([[batch, max_windows], tf.shape(weights)[1:]], 0)
        result = {"attention": tf.ensure_shape(tf.scatter_nd(index, weights, shape),
                                               [None, None] + weights.shape[1:].as_list())}
        offset = tf.cast(tf.cast(window_starts, tf.float64) / float(self.spec.audio.sample_rate), tf.float32)[:, None]
        for key in ("attention_start_seconds", "attention_end_seconds"):
            within = attention[key]  # [V, K], s within the window, -1 unused
            absolute = tf.where(within >= 0, within + offset, -1.0)
            empty = tf.fill(tf.concat([[batch, max_windows], tf.shape(within)[1:]], 0), -1.0)
            result[key] = tf.ensure_shape(tf.tensor_scatter_nd_update(empty, index, absolute),
                                          [None, None] + within.shape[1:].as_list())
        return result


def check_utf8(texts: tf.Tensor) -> tf.Tensor:
    """string [n] -> the same after a check that every element is valid UTF-8.

    THE lyrics-text rule of every runtime that takes text: not UTF-8 is an error, never silently
    replaced (``musictag tag --lyrics`` raises LyricsError for such a file). The message names the
    rule, never the bytes (TensorFlow's Python client cannot decode an error message holding them).
    """
    # Invalid bytes become the replacement character: decoding with two different ones differs
    # exactly where the bytes are invalid (a text may hold U+0000 or U+0001 itself).
    zero = tf.strings.unicode_decode(texts, "UTF-8", errors="replace", replacement_char=0).flat_values
    one = tf.strings.unicode_decode(texts, "UTF-8", errors="replace", replacement_char=1).flat_values
    valid = tf.reduce_all(tf.equal(zero, one))
    check = tf.debugging.Assert(valid, ["lyrics: text must be valid UTF-8 (decode it before sending; "
                                        "musictag tag --lyrics refuses such files too)"])
    with tf.control_dependencies([check]):
        return tf.identity(texts)


def check_examples_parse(examples: tf.Tensor) -> tf.Tensor:
    """string [n] -> the same after a check that each element parses with ``example_feature_spec``.

    ``tf.io.parse_example`` on bytes that are not an Example fails with a message quoting them;
    when they are not UTF-8, TensorFlow's Python client then raises UnicodeDecodeError instead of
    InvalidArgumentError (issue 15 finding 11). So each element is first parsed on its own inside a
    ``tf.data`` pipeline whose ``ignore_errors`` drops the failures without their message; any
    dropped element is an InvalidArgumentError naming its index, not its bytes.
    """
    n = tf.size(examples)

    def parses(index, blob):
        # a data dependency on the parse (tf.data prunes ops only tied by control dependencies)
        parsed = tf.io.parse_single_example(blob, example_feature_spec())
        return index, tf.strings.length(parsed["waveform"]) >= 0

    def mark(ok, element):
        index, parsed_ok = element
        return tf.tensor_scatter_nd_update(ok, [[index]], [parsed_ok])

    parsed = (tf.data.Dataset.from_tensor_slices((tf.range(n), examples)).map(parses).ignore_errors()
              .reduce(tf.zeros([n], tf.bool), mark))
    bad = tf.reshape(tf.where(tf.logical_not(parsed)), [-1])
    check = tf.debugging.Assert(tf.equal(tf.size(bad), 0), [
        "tag_examples: these examples (0-based indices) are not serialized tf.train.Examples in musictag's "
        "record schema (waveform bytes, sample_rate int64, lyrics_ids int64, clip_id bytes):", bad], summarize=20)
    with tf.control_dependencies([check]):
        return tf.identity(examples)


def map_unknown_ids(lyrics_ids: tf.Tensor, vocab_size: int) -> tf.Tensor:
    """THE lyrics-id rule of every runtime (SavedModel signatures, the TFLite window model):
    int [...] -> int32 [...], ids outside [0, vocab_size) become OOV_ID (no silent wrap of -1 to
    the last word, no gather error for ids >= vocab_size)."""
    ids = tf.cast(lyrics_ids, tf.int32)
    unknown = tf.logical_or(ids < 0, ids >= vocab_size)
    return tf.where(unknown, tf.constant(vocab_lib.OOV_ID, tf.int32), ids)


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
    attention_shape: Optional[tuple] = None  # (r rows, K segment slots) of the attention outputs, if any

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
        fileio.write_atomic(tags_path, "".join(f"{t}\n" for t in source.tags))
        tag_table = _tag_table(tags_path)
        archive.track(tag_table)
    if source.vocab_path:
        vocab_path = os.path.join(staging_dir, VOCAB_ASSET)
        tf.io.gfile.copy(source.vocab_path, vocab_path, overwrite=True)
        vocab_table = _vocab_table(vocab_path)
        tokenizer = CoreOpsTokenizer(spec.lyrics)
        archive.track(vocab_table)
        archive.track(tokenizer)
    explained = attention_model_for(source.model, spec)
    if explained is not None:
        archive.track(explained)
    graph = TaggingGraph(source.model, spec, config, tag_table, vocab_table, tokenizer,
                         quadrant_source(spec.model.heads), attention_model=explained)
    max_tokens = spec.lyrics.max_tokens

    # Input checks at the signature boundary (TaggingGraph.tag itself is the windowing rule).
    def whole_clips(waveform, lyrics_ids):
        batch, samples = tf.shape(waveform)[0], tf.shape(waveform)[1]
        waveform, lengths = graph.check_waveform(waveform, tf.fill([batch], samples))
        return graph.tag(waveform, lengths, graph.fit_lyrics(lyrics_ids, batch))

    def serving_default(waveform, lyrics_ids):
        return whole_clips(waveform, lyrics_ids)

    def tag_audio(waveform):
        return whole_clips(waveform, tf.zeros([tf.shape(waveform)[0], 0], tf.int32))

    def tag_lyrics_text(waveform, lyrics):
        return whole_clips(waveform, graph.encode_lyrics(lyrics))

    def tag_examples(examples):
        features = tf.io.parse_example(check_examples_parse(examples), example_feature_spec())
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
        waveform, lengths = graph.check_waveform(waveform, lengths)
        out = graph.tag(waveform, lengths, graph.fit_lyrics(ids, batch))
        out["clip_id"] = features["clip_id"]
        return out

    def tag_windows(waveform, lyrics_ids):
        return graph.run_windows(graph.check_waveform(waveform), map_unknown_ids(lyrics_ids, spec.vocab_size))

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
    if spec.model.variant in variants.EMBEDDING_LAYERS:
        add("embed", _embed_fn(source.model, spec, graph), [wave_any, ids_any])
    return ServingArchive(archive, endpoints, graph.attention_shape())


def attention_model_for(model: keras.Model, spec: variants.ModelSpec) -> Optional[keras.Model]:
    """The probability ``model`` with cnn_sam's attention outputs (model.attention.with_attention),
    or None for a model without SelfAttention (audio_vgg, musicnn, ...: outputs unchanged).
    The SavedModel signatures and the TFLite window model both use it."""
    from musictag_tf.model import attention as attention_lib
    if not attention_lib.has_attention(model):
        return None
    return attention_lib.with_attention(model, spec)


def _embed_fn(model: keras.Model, spec: variants.ModelSpec, graph: TaggingGraph):
    """``embed(waveform [B, S], lyrics_ids [B, any])`` -> ``embedding_*`` [B, D] (mean over the
    tagger's windows), ``embedding_*_per_window`` [B, W, D], ``num_windows`` [B] (one length per
    request, like serving_default; variants.EMBEDDING_LAYERS names the tensors)."""
    embed_model = variants.with_embeddings(model, spec.model.variant)
    names = tuple(variants.EMBEDDING_LAYERS[spec.model.variant])
    chunk = spec.chunk_samples

    def embed(waveform, lyrics_ids):
        batch, samples = tf.shape(waveform)[0], tf.shape(waveform)[1]
        ids = graph.fit_lyrics(lyrics_ids, batch)
        starts = windows_lib.window_layout_tf(tf.fill([1], samples), graph.window_params)[0][0]  # [W]
        count = tf.shape(starts)[0]
        padded = tf.pad(waveform, [[0, 0], [0, tf.maximum(0, chunk - samples)]])
        windows = tf.gather(padded, starts[:, None] + tf.range(chunk)[None, :], axis=1)  # [B, W, chunk]
        out = embed_model({"waveform": tf.reshape(windows, [-1, chunk]),
                           "lyrics_ids": tf.repeat(ids, count, axis=0)}, training=False)
        result = {"num_windows": tf.fill([batch], count)}
        for name in names:
            per_window = tf.reshape(out[name], [batch, count, out[name].shape[-1]])
            result[name] = tf.reduce_mean(per_window, axis=1)
            result[f"{name}_per_window"] = per_window
        return result
    return embed


def example_feature_spec() -> Dict[str, object]:
    """The record-schema features ``tag_examples`` reads (types from data.schema.feature_spec)."""
    full = schema.feature_spec(num_tags=1)
    spec = {key: full[key] for key in ("waveform", "sample_rate", "lyrics_ids")}
    spec["clip_id"] = tf.io.FixedLenFeature([], tf.string, default_value="")
    return spec


