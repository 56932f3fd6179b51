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
shorter than one window is zero-padded to it (musictag_tf.windows, the rule evaluation and the
tagger use too; the graph itself is export.serving_graph). Window
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

Where the model listened (cnn_sam only; issue 13 item 6). A cnn_sam model's tagging signatures
(``ATTENTION_SIGNATURES``) also return its SelfAttention weights, r = ModelParams.attention_heads
rows over the K segment slots of each window (the adaptive segments, or the fixed chunks), and
each segment's place in the clip, so a client can draw them without this project:

* ``attention`` float32 [batch, windows, r, K]: the weights; each row sums to 1 over the
  window's used slots, 0 on unused slots and on windows past ``num_windows``.
* ``attention_start_seconds`` float32 [batch, windows, K]: slot start, seconds from the clip's
  start (the clock of ``window_start_seconds``); -1 for unused slots and windows.
* ``attention_end_seconds`` float32 [batch, windows, K]: slot end, seconds; -1 likewise.

``tag_windows`` returns them per window row (``attention`` [n, r, K], bounds [n, K] in seconds
from the window's start). The numbers are those of ``musictag tag --attention`` on the training
run (musictag_tf.model.attention; tests/test_serving_contract.py checks them within 1e-5).
A time curve: for each used slot k of window w, weight ``mean_r attention[b, w, :, k]`` over
[start, end); overlapping windows can be averaged (musictag_tf.tag.attention.attention_curve).
``musictag.json`` describes them under ``"attention"`` (null for models without attention:
audio_vgg, the musicnn exports, whose signatures are unchanged).

Bad input: NaN/inf waveforms, empty batches and clips shorter than MIN_DURATION_SECONDS are
InvalidArgumentErrors; lyrics ids outside [0, vocab_size) are OOV; ``lyrics`` text that is not
valid UTF-8 is an InvalidArgumentError (the rule of ``musictag tag --lyrics`` files); a
``tag_examples`` input that is not a tf.train.Example in the record schema is an
InvalidArgumentError naming its index (never its bytes).
"""

from __future__ import annotations

import datetime
import json
import os
import re
import shutil
import tempfile
from typing import List, Optional, Sequence

import dataclasses
import tensorflow as tf

from export.serving_graph import ServingConfig, build_archive, quadrant_source
from musictag_tf import artifacts
from musictag_tf import fileio
from musictag_tf.data import schema
from musictag_tf.errors import ExportError
# a training run's model, read (musictag_tf.runs); re-exported for export's callers
from musictag_tf.runs import ModelSource, inference_model, load_model_source  # noqa: F401

METADATA_DIR, METADATA_NAME = artifacts.EXPORT_METADATA  # assets.extra/musictag.json
TAGS_ASSET = artifacts.TAGS_FILE
VOCAB_ASSET = artifacts.VOCAB_FILE
EXPORT_FORMAT_VERSION = artifacts.EXPORT_FORMAT_VERSION
SIGNATURES = artifacts.SIGNATURES
# signatures with the attention outputs (cnn_sam; tag_windows per window, the others per clip)
ATTENTION_SIGNATURES = ("serving_default", "tag_audio", "tag_lyrics_text", "tag_examples", "tag_windows")
_VERSION_DIR = re.compile(r"^\d+$")


def attention_metadata(attention_shape: Optional[tuple]) -> Optional[dict]:
    """musictag.json's ``attention`` entry: the attention outputs' names, shapes and units (None
    for a model without them)."""
    if attention_shape is None:
        return None
    rows, segments = attention_shape
    return {
        "rows": rows, "segments": segments,
        "signatures": list(ATTENTION_SIGNATURES),
        "outputs": {
            "attention": "float32 [batch, windows, rows, segments]: self-attention weights of each window "
                         "over its segments; each row sums to 1 over the used segments, 0 elsewhere",
            "attention_start_seconds": "float32 [batch, windows, segments]: segment start, seconds from the "
                                       "clip's start; -1 for unused segments and windows past num_windows",
            "attention_end_seconds": "float32 [batch, windows, segments]: segment end, seconds; -1 likewise",
        },
        "tag_windows": "the same per window row ([n, rows, segments], [n, segments]), seconds from the "
                       "window's start",
    }


def metadata(source: ModelSource, config: ServingConfig, signatures: Sequence[str],
             attention_shape: Optional[tuple] = None) -> dict:
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
        "attention": attention_metadata(attention_shape),
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
        meta = metadata(source, config, signatures, archive.attention_shape)
        fileio.write_json_atomic(os.path.join(extra, METADATA_NAME), meta)
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
    return artifacts.read_json(os.path.join(saved_model_dir, METADATA_DIR, METADATA_NAME))
