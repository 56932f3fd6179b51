"""A training run's directory: how it is laid out, written and read back (run-directory layer).

    run_dir/
      spec.json           ModelSpec + tags + train params (what evaluate, export and the tagger rebuild from)
      tags.txt, vocab.txt the records' vocabularies, copied so the run directory is self-contained
      checkpoints/        tf.train.Checkpoint, one per epoch (latest 3 kept)
      best.keras          best model so far (logits outputs)
      history.json        per-epoch loss and validation metrics
      logs/train, logs/valid   TensorBoard
      training_curves.png loss and validation metrics per epoch

Training writes it (musictag_tf.train); evaluation, export and the tagger read it through
``load_spec`` / ``load_best_model`` / ``load_model_source`` here, so none of them imports another.
"""

from __future__ import annotations

import dataclasses
import json
import os
import zipfile
from typing import List, Optional

import keras
import numpy as np
import tensorflow as tf

from musictag_tf import artifacts
from musictag_tf import fileio
from musictag_tf.errors import ModelLoadError
from musictag_tf.lyrics import vocab as vocab_lib
from musictag_tf.model import variants

SPEC_NAME = artifacts.SPEC_FILE
BEST_MODEL_NAME = artifacts.BEST_MODEL_FILE
HISTORY_NAME = artifacts.HISTORY_FILE


def is_run_dir(path: str) -> bool:
    """True when ``path`` looks like a run (spec.json and a best.keras file, even a damaged one:
    loading it then says what is wrong)."""
    return (tf.io.gfile.exists(os.path.join(path, SPEC_NAME))
            and tf.io.gfile.exists(os.path.join(path, BEST_MODEL_NAME)))


def has_best_model(run_dir: str) -> bool:
    """True when ``best.keras`` is a complete file: non-empty and a whole zip archive (its central
    directory is written last, so a save cut short fails this). An empty or cut file is missing."""
    path = os.path.join(run_dir, BEST_MODEL_NAME)
    if not fileio.is_nonempty_file(path):
        return False
    try:
        with tf.io.gfile.GFile(path, "rb") as f:
            return zipfile.is_zipfile(f)
    except (tf.errors.OpError, OSError):
        return False


def save_best_model(model: keras.Model, run_dir: str) -> None:
    """``model.save`` to a temporary sibling renamed onto ``best.keras``: a kill during the save
    leaves the previous best model in place."""
    with fileio.atomic_path(os.path.join(run_dir, BEST_MODEL_NAME)) as tmp:
        model.save(tmp)


def checkpoints_dir(run_dir: str) -> str:
    return os.path.join(run_dir, artifacts.CHECKPOINTS_DIR)


def save_spec(run_dir: str, spec: variants.ModelSpec, tags: List[str], train: dict,
              records_dir: str, mixed_precision: str) -> None:
    """Write spec.json (``train``: params.to_dict(TrainParams))."""
    fileio.write_json_atomic(os.path.join(run_dir, SPEC_NAME), {
        "spec": spec.to_dict(), "tags": list(tags), "train": train,
        "records_dir": records_dir, "mixed_precision": mixed_precision}, sort_keys=True)


def load_spec(run_dir: str):
    """(ModelSpec, tags, raw dict) saved by ``save_spec``; FileNotFoundError without spec.json."""
    path = os.path.join(run_dir, SPEC_NAME)
    if not tf.io.gfile.exists(path):
        raise FileNotFoundError(f"{run_dir}: no {SPEC_NAME}; is this a musictag model directory?")
    with tf.io.gfile.GFile(path) as f:
        raw = json.load(f)
    return variants.ModelSpec.from_dict(raw["spec"]), raw["tags"], raw


def load_best_model(run_dir: str) -> keras.Model:
    """The best model of a training run (logits outputs), with musictag's custom objects."""
    import musictag_tf.model  # noqa: F401  (registers the custom layers)
    path = os.path.join(run_dir, BEST_MODEL_NAME)
    if not tf.io.gfile.exists(path):
        raise FileNotFoundError(f"{run_dir}: no {BEST_MODEL_NAME}; train first")
    if not has_best_model(run_dir):
        raise ModelLoadError(path, "empty or cut short (not a whole .keras archive); resume training "
                                   "to rewrite it")
    try:
        return keras.saving.load_model(path, compile=False)
    except Exception as exc:  # noqa: BLE001  (Keras raises ValueError, KeyError, OSError, ... on bad files)
        raise ModelLoadError(path, f"cannot load ({type(exc).__name__}: "
                                   f"{(str(exc).splitlines() or [''])[0][:200]})") from exc


def save_history(run_dir: str, history: List[dict]) -> None:
    fileio.write_json_atomic(os.path.join(run_dir, HISTORY_NAME), history, sort_keys=True)


def load_history(run_dir: str, upto_epoch: int) -> List[dict]:
    """history.json entries up to ``upto_epoch`` (a kill between history and checkpoint leaves one more)."""
    path = os.path.join(run_dir, HISTORY_NAME)
    if upto_epoch == 0 or not tf.io.gfile.exists(path):
        return []
    with tf.io.gfile.GFile(path) as f:
        return [h for h in json.load(f) if h["epoch"] <= upto_epoch]


def copy_vocabularies(records_dir: str, run_dir: str) -> None:
    """tags.txt and vocab.txt from the records into the run directory."""
    for name in (artifacts.TAGS_FILE, artifacts.VOCAB_FILE):
        src = os.path.join(records_dir, name)
        if tf.io.gfile.exists(src):
            tf.io.gfile.copy(src, os.path.join(run_dir, name), overwrite=True)


# ----------------------------------------------------------------------------- inference model

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
        raise ModelLoadError("model", f"saved model has {len(weights)} weight tensors but spec.json "
                                      f"rebuilds one with {len(rebuilt.weights)}; spec and weights disagree")
    rebuilt.set_weights([np.asarray(w, np.float32) if np.issubdtype(np.asarray(w).dtype, np.floating)
                         else w for w in weights])
    return variants.with_activations(rebuilt)


@dataclasses.dataclass
class ModelSource:
    """A training run directory, read: spec, tags, vocabulary path and the probability model."""

    model_dir: str
    spec: variants.ModelSpec
    tags: List[str]
    vocab_path: Optional[str]
    keras_model: keras.Model  # logits outputs, as trained
    model: keras.Model  # float32, probability outputs

    @property
    def heads(self) -> tuple:
        return tuple(self.spec.model.heads)


def load_model_source(run_dir: str, stft_impl: Optional[str] = None) -> ModelSource:
    """Read ``spec.json``, ``best.keras``, ``tags.txt``/``vocab.txt`` of a training run.

    Raises ModelLoadError when the files are missing or disagree (tags.txt vs spec tags,
    vocabulary size vs the embedding).
    """
    try:
        spec, tags, _ = load_spec(run_dir)
        keras_model = load_best_model(run_dir)
    except FileNotFoundError as exc:
        raise ModelLoadError(run_dir, str(exc)) from exc
    if "tags" in spec.model.heads and len(tags) != spec.model.num_tags:
        raise ModelLoadError(run_dir, f"spec.json lists {len(tags)} tags but the model has "
                                      f"{spec.model.num_tags} tag outputs")
    tags_file = os.path.join(run_dir, artifacts.TAGS_FILE)
    if tf.io.gfile.exists(tags_file) and fileio.read_lines(tags_file) != list(tags):
        raise ModelLoadError(tags_file, "differs from the tags in spec.json")
    vocab_path = os.path.join(run_dir, artifacts.VOCAB_FILE)
    if tf.io.gfile.exists(vocab_path):
        size = len(vocab_lib.Vocabulary.load(vocab_path))
        if size != spec.vocab_size:
            raise ModelLoadError(vocab_path, f"has {size} ids but the model was built for {spec.vocab_size}")
    else:
        vocab_path = None
    return ModelSource(model_dir=run_dir, spec=spec, tags=list(tags), vocab_path=vocab_path,
                       keras_model=keras_model, model=inference_model(keras_model, spec, stft_impl))
