"""The pretrained models shipped inside the package, loaded without any download.

    model, info = load_pretrained("mtt_musicnn")
    windows = musicnn_windows(load_audio(path))           # [n, 48128]
    scores = model.predict(windows)["tags"].mean(axis=0)  # clip scores, info.tags order

Files per model (written by convert.py): ``<name>/weights.npz``, ``<name>/tags.txt``,
``<name>/model.json``; ``LICENSE-musicnn.txt`` and ``NOTICE-musicnn.txt`` beside them.

Students (``SHIPPED_STUDENTS``: musictag's own models, e.g. cnn_sam distilled from mtt_musicnn on
real music, issue 13; written by ``python -m export.ship_student``) ship as a training run and its
TFLite export: ``<name>/run/`` (spec.json, best.keras, history.json, tags.txt, vocab.txt: anything
that takes a run directory takes it), ``<name>/tflite/`` (``musictag-export``'s TFLite directory)
and ``<name>/model.json`` (provenance, agreement with the teacher, speed).
"""

from __future__ import annotations

import dataclasses
import json
import pathlib

import keras

from musictag_tf.params import MusicnnParams, from_dict

PRETRAINED_DIR = pathlib.Path(__file__).resolve().parent
SHIPPED_MODELS = ("mtt_musicnn", "msd_musicnn", "mtt_vgg", "msd_vgg")  # converted musicnn checkpoints
SHIPPED_STUDENTS = ("cnn_sam_distilled",)  # musictag runs trained here (module docstring)
SHIPPED_NAMES = SHIPPED_MODELS + SHIPPED_STUDENTS
STUDENT_RUN_SUBDIR = "run"
STUDENT_TFLITE_SUBDIR = "tflite"
LICENSE_FILE = PRETRAINED_DIR / "LICENSE-musicnn.txt"  # ISC, from the musicnn 0.1.0 wheel
NOTICE_FILE = PRETRAINED_DIR / "NOTICE-musicnn.txt"  # attribution (Pons & Serra 2019)


class UnknownModelError(ValueError):
    """A pretrained model name that is not shipped."""


@dataclasses.dataclass(frozen=True)
class PretrainedInfo:
    """What a shipped model is: its params, tag names (output order) and provenance."""

    name: str
    params: MusicnnParams
    tags: tuple  # num_tags names, the order of the ``tags`` output
    metadata: dict  # model.json: source checksums, windowing, published results, attribution
    directory: pathlib.Path


def model_dir(name: str) -> pathlib.Path:
    """Directory of a shipped model; ``UnknownModelError`` listing the known names otherwise."""
    if name not in SHIPPED_MODELS:
        raise UnknownModelError(f"unknown pretrained model {name!r}; known: {', '.join(SHIPPED_MODELS)}")
    return PRETRAINED_DIR / name


def pretrained_info(name: str) -> PretrainedInfo:
    """Read ``model.json`` and ``tags.txt`` of ``name`` (no model is built)."""
    directory = model_dir(name)
    metadata = json.loads((directory / "model.json").read_text(encoding="utf-8"))
    tags = tuple(line for line in (directory / "tags.txt").read_text(encoding="utf-8").splitlines() if line)
    params = from_dict(MusicnnParams, metadata["params"])
    if len(tags) != params.num_tags:
        raise ValueError(f"{directory}/tags.txt has {len(tags)} tags, the model {params.num_tags}")
    return PretrainedInfo(name=name, params=params, tags=tags, metadata=metadata, directory=directory)


def load_pretrained(name: str) -> tuple[keras.Model, PretrainedInfo]:
    """Build the Keras model of shipped model ``name`` with its converted weights.

    Returns:
      (model, info): ``model`` maps ``waveform`` float32 [batch, 48128] (one 3 s window at
      16 kHz, see musicnn_windows.py) to a dict with ``tags`` [batch, 50] (probabilities in
      ``info.tags`` order), ``embedding_pooled`` and ``embedding_penultimate``.
    """
    from musictag_tf.model import musicnn
    from musictag_tf.model.pretrained import named_weights

    info = pretrained_info(name)
    model = musicnn.build_pretrained_architecture(info.params, name=name)
    named_weights.assign_named_weights(model, named_weights.load_named_weights(info.directory / "weights.npz"))
    return model, info


def student_run_dir(name: str) -> str:
    """The training-run directory of shipped student ``name`` (``UnknownModelError`` otherwise)."""
    if name not in SHIPPED_STUDENTS:
        raise UnknownModelError(f"unknown shipped student {name!r}; known: {', '.join(SHIPPED_STUDENTS)}")
    return str(PRETRAINED_DIR / name / STUDENT_RUN_SUBDIR)


def student_tflite(name: str, file_name: str) -> str:
    """Path of ``file_name`` (e.g. ``model_float32.tflite``) in shipped student ``name``'s TFLite directory."""
    student_run_dir(name)  # checks the name
    return str(PRETRAINED_DIR / name / STUDENT_TFLITE_SUBDIR / file_name)


def student_metadata(name: str) -> dict:
    """``model.json`` of shipped student ``name``: provenance, agreement with its teacher, speed."""
    student_run_dir(name)
    return json.loads((PRETRAINED_DIR / name / "model.json").read_text(encoding="utf-8"))


def resolve_run(name_or_dir: str) -> str:
    """A shipped student's run directory for its name; any other value unchanged."""
    return student_run_dir(name_or_dir) if name_or_dir in SHIPPED_STUDENTS else name_or_dir
