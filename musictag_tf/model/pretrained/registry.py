"""The pretrained models shipped inside the package, loaded without any download.

    model, info = load_pretrained("mtt_musicnn")
    windows = musicnn_windows(load_audio(path))           # [n, 48128]
    scores = model.predict(windows)["tags"].mean(axis=0)  # clip scores, info.tags order

Files per model (written by convert.py): ``<name>/weights.npz``, ``<name>/tags.txt``,
``<name>/model.json``; ``LICENSE-musicnn.txt`` and ``NOTICE-musicnn.txt`` beside them.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib

import keras

from musictag_tf.params import MusicnnParams, from_dict

PRETRAINED_DIR = pathlib.Path(__file__).resolve().parent
SHIPPED_MODELS = ("mtt_musicnn", "msd_musicnn", "mtt_vgg", "msd_vgg")
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
