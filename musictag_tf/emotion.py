"""Thayer's emotion model, defined once (core; numpy only, no TensorFlow import).

energy (0 low, 1 high) x stress (0 low, 1 high) -> four quadrants, indexed 2 * energy + stress.
Records (data.schema), the builder's tables, the synthetic generator, evaluation, the serving
graph and the tagger all use these names and this index.
"""

from __future__ import annotations

import numpy as np

ENERGY_NAMES = ("low", "high")
STRESS_NAMES = ("low", "high")
# Thayer's quadrants, indexed by quadrant_index(energy, stress) = 2 * energy + stress.
QUADRANT_NAMES = ("contentment", "depression", "exuberance", "anxious")
CLASS_NAMES = {"energy": ENERGY_NAMES, "stress": STRESS_NAMES, "quadrant": QUADRANT_NAMES}


def quadrant_index(energy, stress):
    """Thayer quadrant 0..3 of energy (0 low, 1 high) and stress (0 low, 1 high): 2 * energy + stress.

    Works on ints and numpy / TF integer arrays alike (the one place this rule is written).
    """
    return 2 * energy + stress


def energy_stress(quadrant: int):
    """(energy, stress) of a quadrant index: the inverse of ``quadrant_index``."""
    return quadrant // 2, quadrant % 2


def quadrant_probabilities(probabilities):
    """Quadrant probabilities [..., 4] from the heads there are: head -> [..., classes] arrays.

    The quadrant head when present; else with energy and stress heads their outer product (the
    two treated as independent), ordered by ``quadrant_index``; None without either. Works on
    numpy arrays and TF tensors (elementwise ops and reshape only).
    """
    if "quadrant" in probabilities:
        return probabilities["quadrant"]
    if "energy" in probabilities and "stress" in probabilities:
        e, s = probabilities["energy"], probabilities["stress"]
        joint = e[..., :, None] * s[..., None, :]  # [..., energy, stress]: row-major = 2 e + s
        return _reshape_last_two(joint, 4)
    return None


def _reshape_last_two(x, size):
    if isinstance(x, np.ndarray):
        return x.reshape(x.shape[:-2] + (size,))
    import tensorflow as tf_  # only reached with TF tensors, so numpy callers never load TF
    return tf_.reshape(x, tf_.concat([tf_.shape(x)[:-2], [size]], axis=0))
