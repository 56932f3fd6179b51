"""Start training from a shipped pretrained model: its architecture and weights, a new tag head.

    model = finetune_model("mtt_musicnn", num_tags=12, trainable="head", emotion=False)
    # inputs: waveform float32 [B, 48128] (one 3 s window, musicnn_windows.py)
    # outputs: {"tags": logits [B, num_tags], ("energy", "stress", "quadrant": logits)}

Every weight of the shipped model is loaded except the final dense layer (``tags_logits``),
which is new and sized to ``num_tags``; emotion heads (variants.EMOTION_HEADS) are new dense
layers on the penultimate features. ``trainable`` (FinetuneParams) freezes:

* ``head``: only the new dense layers train (frozen batch norms run in inference mode);
* ``backend``: also musicnn's back end (``backend_*``, ``embedding_penultimate``); for VGG the
  last convolution block (``vgg_5_*``);
* ``all``: every layer.
"""

from __future__ import annotations

import dataclasses
from typing import Dict

import keras
from keras import layers

from musictag_tf import params as params_lib
from musictag_tf.model import musicnn
from musictag_tf.model.pretrained import named_weights, registry

TRAINABLE = params_lib.TRAINABLE
NEW_LAYERS = ("tags_logits",)  # replaced: sized to the new tag table
BACKEND_PREFIXES = ("backend_", "embedding_penultimate", "vgg_5_")
EMOTION_HEADS = {"energy": 2, "stress": 2, "quadrant": 4}  # = variants.EMOTION_HEADS


class FinetuneError(ValueError):
    """A fine-tuning request that cannot be met (unknown ``trainable``, no tags)."""


def _trains(layer_name: str, trainable: str) -> bool:
    if trainable == "all" or layer_name in NEW_LAYERS:
        return True
    return trainable == "backend" and layer_name.startswith(BACKEND_PREFIXES)


def finetune_model(name: str, num_tags: int, trainable: str = "head", emotion: bool = False,
                   pretrained: bool = True) -> keras.Model:
    """The shipped model ``name`` with a new ``num_tags`` head (logits), frozen per ``trainable``.

    ``pretrained=False`` builds the same architecture with random weights (the baseline the
    fine-tuning test compares with). Outputs are logits, as musictag's variants.
    """
    if trainable not in TRAINABLE:
        raise FinetuneError(f"trainable must be one of {TRAINABLE}, got {trainable!r}")
    if num_tags <= 0:
        raise FinetuneError(f"num_tags must be positive, got {num_tags}")
    info = registry.pretrained_info(name)
    params = dataclasses.replace(info.params, num_tags=num_tags)
    base = musicnn.build_pretrained_architecture(params, name=f"{name}_finetune")
    if pretrained:
        arrays = named_weights.load_named_weights(info.directory / "weights.npz")
        for layer in base.layers:
            if layer.name in NEW_LAYERS:
                continue
            for weight in layer.weights:
                weight.assign(arrays[named_weights.weight_key(layer, weight)])
    for layer in base.layers:
        layer.trainable = _trains(layer.name, trainable)
    outputs: Dict[str, keras.KerasTensor] = {"tags": base.get_layer("tags_logits").output}
    if emotion:
        features = base.get_layer("penultimate_dropout").output
        for head, size in EMOTION_HEADS.items():
            outputs[head] = layers.Dense(size, dtype="float32", name=f"{head}_logits")(features)
    return keras.Model(base.input, outputs, name=base.name)


def build_from_spec(spec) -> keras.Model:
    """variants.build_model for variant "musicnn": ``finetune_model(spec.model.init_from, ...)``
    with musictag's inputs (``waveform`` [B, chunk_samples], ``lyrics_ids`` unused) and heads."""
    model = finetune_model(spec.model.init_from, spec.model.num_tags, spec.model.trainable,
                           emotion=any(h != "tags" for h in spec.model.heads))
    if spec.chunk_samples != model.input.shape[-1]:
        raise FinetuneError(f"{spec.model.init_from} takes windows of {model.input.shape[-1]} samples, the "
                            f"spec {spec.chunk_samples}; set chunk_seconds to {model.input.shape[-1] / 16000}")
    inputs = {"waveform": keras.Input((spec.chunk_samples,), dtype="float32", name="waveform"),
              "lyrics_ids": keras.Input((spec.lyrics.max_tokens,), dtype="int32", name="lyrics_ids")}
    outputs = model(inputs["waveform"])
    return keras.Model(inputs, {h: outputs[h] for h in spec.model.heads}, name="musicnn")
