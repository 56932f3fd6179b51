"""Names, metadata keys and format versions of every artefact musictag writes (core).

One place for the file names the builder, training, export and the tagger agree on, so no
layer has to import a higher one to find a file:

records_dir/   manifest.json, tags.txt, vocab.txt, <split>-NNNNN-of-MMMMM.tfrecord (data.manifest)
run_dir/       spec.json, best.keras, history.json, checkpoints/, logs/, tags.txt, vocab.txt
               (musictag_tf.runs)
export_dir/    saved_model/<version>/{saved_model.pb, variables/, assets/{tags.txt, vocab.txt},
                                      assets.extra/musictag.json}
               tflite/model_{float32,dynamic_int8,float16,int8}.tflite + musictag.json, tags.txt, vocab.txt
               models.config (TF Serving)
"""

from __future__ import annotations

import json
import os

from musictag_tf.errors import ModelLoadError

# vocabularies (records, run and export directories alike)
TAGS_FILE = "tags.txt"
VOCAB_FILE = "vocab.txt"

# training run directory (musictag_tf.runs)
SPEC_FILE = "spec.json"
BEST_MODEL_FILE = "best.keras"
HISTORY_FILE = "history.json"
CHECKPOINTS_DIR = "checkpoints"
LOGS_DIR = "logs"
CURVES_FILE = "training_curves.png"

# export directory (export/)
SAVED_MODEL_SUBDIR = "saved_model"
TFLITE_SUBDIR = "tflite"
MODELS_CONFIG_FILE = "models.config"
METADATA_FILE = "musictag.json"  # beside the .tflite files, and in a SavedModel's assets.extra/
EXPORT_METADATA = ("assets.extra", METADATA_FILE)  # inside a SavedModel version directory
EXPORT_FORMAT_VERSION = 1
TFLITE_VARIANTS = ("float32", "dynamic_int8", "float16", "int8")
# variants that need a representative dataset (windows of a records directory's training split)
TFLITE_CALIBRATED_VARIANTS = ("int8",)
TFLITE_FILES = {variant: f"model_{variant}.tflite" for variant in TFLITE_VARIANTS}
SIGNATURES = ("serving_default", "tag_audio", "tag_lyrics_text", "tag_examples", "tag_windows")

# signature output key of each head's clip probabilities in the exported SavedModel
PROBABILITY_OUTPUTS = {"tags": "tag_probabilities", "energy": "energy_probabilities",
                       "stress": "stress_probabilities", "quadrant": "quadrant_probabilities"}

# cnn_sam's self-attention in the exported SavedModel (issue 13 item 6): musictag_tf.model.attention
# output -> signature output key (export/saved_model.py documents shapes and units)
ATTENTION_OUTPUTS = {"attention_weights": "attention", "segment_start_seconds": "attention_start_seconds",
                     "segment_end_seconds": "attention_end_seconds"}

# keys of musictag.json a tagger needs (written by export.saved_model.metadata)
METADATA_KEYS = ("format_version", "tags", "heads", "sample_rate", "chunk_samples", "hop_samples",
                 "max_tokens", "spec")


def read_json(path: str) -> dict:
    """A JSON artefact (musictag.json, spec.json); ModelLoadError names the file when missing or invalid."""
    import tensorflow as tf

    path = os.fspath(path)
    if not tf.io.gfile.exists(path):
        raise ModelLoadError(path, "missing; export the model with musictag-export")
    try:
        with tf.io.gfile.GFile(path) as f:
            return json.load(f)
    except ValueError as exc:
        raise ModelLoadError(path, f"not valid JSON: {exc}") from exc
