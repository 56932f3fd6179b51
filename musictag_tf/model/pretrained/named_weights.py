"""Model weights as a flat ``{"layer/weight": array}`` dict, saved as ``.npz``.

Why ``.npz`` and not Keras' ``.weights.h5``: the h5 layout is keyed by Keras' internal
object paths (``layers/conv2d_3/vars/0``), which changed between Keras 2, 3.0 and 3.x and
depends on layer creation order; an npz keyed by our own layer names and the weights'
names (``midend_1_conv/kernel``) is read by numpy alone, stays valid as long as the layer
names in musicnn.py do, and can be inspected without Keras. Loading is strict: a missing
or extra key, or a shape mismatch, is an error.
"""

from __future__ import annotations

import os
from typing import Dict

import keras
import numpy as np


class WeightMismatchError(ValueError):
    """Named weights and a model's weights do not correspond one to one."""


def weight_key(layer: keras.layers.Layer, weight) -> str:
    """``"<layer name>/<weight name>"``, e.g. ``"midend_1_bn/moving_variance"``."""
    return f"{layer.name}/{weight.name}"


def model_weight_shapes(model: keras.Model) -> Dict[str, tuple]:
    """Key -> shape of every weight (trainable and not) of ``model``."""
    shapes = {}
    for layer in model.layers:
        for weight in layer.weights:
            key = weight_key(layer, weight)
            if key in shapes:
                raise WeightMismatchError(f"two weights share the key {key!r}")
            shapes[key] = tuple(weight.shape)
    return shapes


def check_named_weights(model: keras.Model, arrays: Dict[str, np.ndarray]) -> None:
    """Raise ``WeightMismatchError`` naming every missing/extra key and shape mismatch."""
    shapes = model_weight_shapes(model)
    missing = sorted(set(shapes) - set(arrays))
    extra = sorted(set(arrays) - set(shapes))
    wrong = sorted(f"{k}: model {shapes[k]}, given {tuple(np.shape(arrays[k]))}"
                   for k in set(shapes) & set(arrays) if tuple(np.shape(arrays[k])) != shapes[k])
    problems = []
    if missing:
        problems.append(f"model weights with no array: {missing}")
    if extra:
        problems.append(f"arrays for no model weight: {extra}")
    if wrong:
        problems.append(f"shape mismatches: {wrong}")
    if problems:
        raise WeightMismatchError(f"weights do not fit model {model.name!r}: " + "; ".join(problems))


def assign_named_weights(model: keras.Model, arrays: Dict[str, np.ndarray]) -> None:
    """Set every weight of ``model`` from ``arrays`` (checked first, all or nothing)."""
    check_named_weights(model, arrays)
    for layer in model.layers:
        for weight in layer.weights:
            weight.assign(np.asarray(arrays[weight_key(layer, weight)], dtype=weight.dtype))


def named_weights(model: keras.Model) -> Dict[str, np.ndarray]:
    """The current weights of ``model`` by key."""
    return {weight_key(layer, w): np.asarray(w.numpy()) for layer in model.layers for w in layer.weights}


def save_named_weights(path, arrays: Dict[str, np.ndarray]) -> None:
    """Write ``arrays`` (float32) to ``path`` (.npz, compressed)."""
    np.savez_compressed(os.fspath(path), **{k: np.asarray(v, dtype=np.float32) for k, v in arrays.items()})


def load_named_weights(path) -> Dict[str, np.ndarray]:
    """Read a ``save_named_weights`` file (no pickles allowed)."""
    with np.load(os.fspath(path), allow_pickle=False) as data:
        return {key: data[key] for key in data.files}
