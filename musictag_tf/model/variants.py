"""The model variants, all built from one ModelParams and all taking the same inputs.

Inputs (every variant; a variant ignores the modality it does not use):
    waveform    float32 [batch, chunk_samples] at AudioParams.sample_rate
    lyrics_ids  int32   [batch, max_tokens], 0 = padding, all zeros = no lyrics
Outputs (logits; ``with_activations`` maps them to probabilities):
    tags        [batch, num_tags]  sigmoid logits
    energy      [batch, 2], stress [batch, 2], quadrant [batch, 4]  softmax logits
                (each present when named in ModelParams.heads)

| variant         | audio                                      | lyrics   | fusion                       |
|-----------------|--------------------------------------------|----------|------------------------------|
| cnn_sam         | mel Conv2D + wave Conv1D -> adaptive       | TextCNN  | concat -> Dense -> heads     |
|                 | segments -> BiLSTM -> SelfAttention (r=4)  |          | (the paper's model)          |
| linear_fusion   | VGG                                        | TextCNN  | p = w p_audio + (1-w) p_lyr  |
| audio_vgg       | VGG16-style Conv2D                         | -        | heads                        |
| lyrics_textcnn  | -                                          | TextCNN  | heads                        |
"""

from __future__ import annotations

import dataclasses
from typing import Dict, Optional

import keras
import numpy as np
from keras import layers

from musictag_tf import params as params_lib
from musictag_tf.audio.features import LogMelSpectrogram
from musictag_tf.audio.segmentation import AdaptiveSegmentPooling
from musictag_tf.model import branches
from musictag_tf.model.fusion import LinearWeightedFusion
from musictag_tf.model import layers as mt_layers

EMOTION_HEADS = params_lib.EMOTION_HEADS
VARIANTS = params_lib.VARIANTS
USES_LYRICS = {"cnn_sam": True, "linear_fusion": True, "audio_vgg": False, "lyrics_textcnn": True}


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """Everything needed to rebuild a model: the configs and the data-derived sizes."""

    model: params_lib.ModelParams
    audio: params_lib.AudioParams
    segments: params_lib.SegmentParams
    lyrics: params_lib.LyricsParams
    vocab_size: int  # actual lyrics vocabulary size (<= LyricsParams.vocab_size)

    @property
    def chunk_samples(self) -> int:
        return self.audio.seconds_to_samples(self.model.chunk_seconds)

    def head_sizes(self) -> Dict[str, int]:
        """Output head name -> classes, in ModelParams.heads order."""
        sizes = {"tags": self.model.num_tags, **EMOTION_HEADS}
        return {name: sizes[name] for name in self.model.heads}

    def to_dict(self) -> dict:
        return {"model": params_lib.to_dict(self.model), "audio": params_lib.to_dict(self.audio),
                "segments": params_lib.to_dict(self.segments), "lyrics": params_lib.to_dict(self.lyrics),
                "vocab_size": self.vocab_size}

    @classmethod
    def from_dict(cls, d: dict) -> "ModelSpec":
        return cls(model=params_lib.from_dict(params_lib.ModelParams, d["model"]),
                   audio=params_lib.from_dict(params_lib.AudioParams, d["audio"]),
                   segments=params_lib.from_dict(params_lib.SegmentParams, d["segments"]),
                   lyrics=params_lib.from_dict(params_lib.LyricsParams, d["lyrics"]),
                   vocab_size=int(d["vocab_size"]))


def model_inputs(spec: ModelSpec):
    return {
        "waveform": keras.Input((spec.chunk_samples,), dtype="float32", name="waveform"),
        "lyrics_ids": keras.Input((spec.lyrics.max_tokens,), dtype="int32", name="lyrics_ids"),
    }


def _heads(x, spec: ModelSpec, prefix: str = "") -> Dict[str, keras.KerasTensor]:
    """Dense logits per head, float32 under mixed precision."""
    return {name: layers.Dense(size, dtype="float32", name=f"{prefix}{name}_logits")(x)
            for name, size in spec.head_sizes().items()}


def _fusion_head(x, spec: ModelSpec, name: str):
    x = layers.Dense(spec.model.fusion_units, activation="elu", name=f"{name}_dense")(x)
    return layers.Dropout(spec.model.dropout, name=f"{name}_dropout")(x)


def _log_mel(inputs, spec: ModelSpec):
    return LogMelSpectrogram(spec.audio, name="log_mel")(inputs["waveform"])


def _lyrics_vector(inputs, spec: ModelSpec, embedding_matrix: Optional[np.ndarray]):
    return branches.lyrics_textcnn_branch(
        inputs["lyrics_ids"], spec.model, spec.vocab_size, spec.lyrics.embedding_dim,
        embedding_matrix=embedding_matrix, train_embedding=spec.model.train_embedding)


def sequence_audio_vector(log_mel, waveform, spec: ModelSpec):
    """cnn_sam's audio path: frames -> (adaptive segments | fixed chunks) -> BiLSTM -> attention.

    Returns the flattened attention summary [B, heads * 2 * lstm_units].
    """
    p = spec.model
    mel_steps = branches.mel_conv2d_branch(log_mel, p)
    wave_steps = branches.waveform_conv1d_branch(waveform, p, spec.audio)
    steps = min(mel_steps.shape[1], wave_steps.shape[1])
    mel_steps = layers.Cropping1D((0, mel_steps.shape[1] - steps), name="mel_align")(mel_steps)
    wave_steps = layers.Cropping1D((0, wave_steps.shape[1] - steps), name="wave_align")(wave_steps)
    frames = layers.Concatenate(name="audio_steps")([mel_steps, wave_steps])
    max_segments = spec.segments.max_segments(p.chunk_seconds)
    if p.use_segments:
        sequence, mask = AdaptiveSegmentPooling(
            audio_params=spec.audio, segment_params=spec.segments, max_segments=max_segments,
            frames_per_step=p.time_downsample, name="adaptive_segments")([frames, log_mel])
    else:
        sequence, mask = mt_layers.FixedChunkPooling(max_segments, name="fixed_chunks")(frames)
    lstm = layers.LSTM(p.lstm_units, return_sequences=True, unroll=p.lstm_unroll, name="lstm")
    sequence = layers.Bidirectional(lstm, name="bilstm")(sequence, mask=mask)
    attended = mt_layers.SelfAttention(heads=p.attention_heads, hidden=p.attention_hidden,
                                       penalty=p.attention_penalty, name="self_attention")(
        sequence, mask=mask)
    return layers.Flatten(name="attention_flat")(attended)


def build_cnn_sam(spec: ModelSpec, embedding_matrix=None) -> keras.Model:
    inputs = model_inputs(spec)
    log_mel = _log_mel(inputs, spec)
    audio = sequence_audio_vector(log_mel, inputs["waveform"], spec)
    lyrics = _lyrics_vector(inputs, spec, embedding_matrix)
    fused = layers.Concatenate(name="fusion")([audio, lyrics])
    return keras.Model(inputs, _heads(_fusion_head(fused, spec, "fusion"), spec), name="cnn_sam")


def build_audio_vgg(spec: ModelSpec, embedding_matrix=None) -> keras.Model:
    inputs = model_inputs(spec)
    audio = branches.vgg_branch(_log_mel(inputs, spec), spec.model)
    return keras.Model(inputs, _heads(_fusion_head(audio, spec, "audio_head"), spec), name="audio_vgg")


def build_lyrics_textcnn(spec: ModelSpec, embedding_matrix=None) -> keras.Model:
    inputs = model_inputs(spec)
    lyrics = _lyrics_vector(inputs, spec, embedding_matrix)
    return keras.Model(inputs, _heads(_fusion_head(lyrics, spec, "lyrics_head"), spec),
                       name="lyrics_textcnn")


def build_linear_fusion(spec: ModelSpec, embedding_matrix=None) -> keras.Model:
    """Late fusion: each modality predicts on its own, the outputs are averaged with a learned weight.

    p = w * p_audio + (1 - w) * p_lyrics per head, w = sigmoid(trainable scalar) per head;
    the output logits are the logits of p (log-odds for tags, log p for softmax heads).
    """
    inputs = model_inputs(spec)
    audio = _fusion_head(branches.vgg_branch(_log_mel(inputs, spec), spec.model), spec, "audio_head")
    lyrics = _fusion_head(_lyrics_vector(inputs, spec, embedding_matrix), spec, "lyrics_head")
    audio_logits = _heads(audio, spec, prefix="audio_")
    lyrics_logits = _heads(lyrics, spec, prefix="lyrics_")
    outputs = {}
    for name in spec.head_sizes():
        kind = "sigmoid" if name == "tags" else "softmax"
        outputs[name] = LinearWeightedFusion(kind, name=f"{name}_fusion")(
            [audio_logits[name], lyrics_logits[name]])
    return keras.Model(inputs, outputs, name="linear_fusion")


BUILDERS = {
    "cnn_sam": build_cnn_sam,
    "linear_fusion": build_linear_fusion,
    "audio_vgg": build_audio_vgg,
    "lyrics_textcnn": build_lyrics_textcnn,
}


def build_model(spec: ModelSpec, embedding_matrix: Optional[np.ndarray] = None) -> keras.Model:
    """The Keras functional model for ``spec.model.variant`` (outputs: dict of logits)."""
    if spec.model.variant == "musicnn":  # a shipped model with new heads (musictag-train --init_from)
        from musictag_tf.model.pretrained import finetune
        return finetune.build_from_spec(spec)
    return BUILDERS[spec.model.variant](spec, embedding_matrix)


def with_activations(model: keras.Model) -> keras.Model:
    """The same network with probability outputs (for inference and export)."""
    outputs = {name: layers.Activation("sigmoid" if name == "tags" else "softmax", dtype="float32",
                                       name=f"{name}_probabilities")(t)
               for name, t in model.output.items()}
    return keras.Model(model.input, outputs, name=f"{model.name}_probabilities")


# Layers whose outputs are a variant's embeddings (concatenated when several): ``embedding_pooled``
# = the pooled features the heads' dense layer reads, ``embedding_penultimate`` = that dense
# layer's output (the input of the logits). Reading them changes no weight and no output.
EMBEDDING_LAYERS = {
    "cnn_sam": {"embedding_pooled": ("fusion",), "embedding_penultimate": ("fusion_dense",)},
    "audio_vgg": {"embedding_pooled": ("vgg_pooled",), "embedding_penultimate": ("audio_head_dense",)},
    "lyrics_textcnn": {"embedding_pooled": ("lyrics_or_absent",),
                       "embedding_penultimate": ("lyrics_head_dense",)},
    "linear_fusion": {"embedding_pooled": ("vgg_pooled", "lyrics_or_absent"),
                      "embedding_penultimate": ("audio_head_dense", "lyrics_head_dense")},
}


def embedding_outputs(model: keras.Model, variant: str) -> Dict[str, keras.KerasTensor]:
    """``{embedding_pooled: [B, D_p], embedding_penultimate: [B, D_e]}`` tensors of a built
    ``variant`` model (or its ``with_activations`` copy), by layer name (EMBEDDING_LAYERS)."""
    out = {}
    for name, layer_names in EMBEDDING_LAYERS[variant].items():
        tensors = [model.get_layer(n).output for n in layer_names]
        out[name] = tensors[0] if len(tensors) == 1 else layers.Concatenate(name=name)(tensors)
    return out


def with_embeddings(model: keras.Model, variant: str) -> keras.Model:
    """The same network with its dict outputs plus ``embedding_outputs`` (float32)."""
    extra = {k: layers.Activation("linear", dtype="float32", name=f"{k}_float32")(v)
             for k, v in embedding_outputs(model, variant).items()}
    return keras.Model(model.input, {**model.output, **extra}, name=f"{model.name}_embeddings")
