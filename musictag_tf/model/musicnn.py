"""musicnn and its VGG baseline (Pons & Serra 2019) as Keras 3 functional models.

Both take one window of raw 16 kHz audio and compute musicnn's log-mel in the graph, so the
converted checkpoints (musictag_tf/model/pretrained/) run like every musictag model.

Input:  ``waveform`` float32 [batch, 48128] = one 3 s patch (see musicnn_windows.py).
Outputs (dict):
    tags                   float32 [batch, 50]   sigmoid probabilities
    embedding_pooled       float32 [batch, D_p]  pooled features of the window
    embedding_penultimate  float32 [batch, D_e]  input of the last dense layer

musicnn (``build_musicnn``; B = batch, T = 187 frames, F = 96 mel bins):

| stage    | layer (name)                                  | output          | weights          |
|----------|-----------------------------------------------|-----------------|------------------|
| input    | waveform                                      | B x 48128       |                  |
| log-mel  | LogMelSpectrogram (log_mel), un-centred       | B x 187 x 96    |                  |
|          | BatchNorm on the 1 channel (input_bn)         | B x 187 x 96 x 1| 4 scalars        |
| timbral  | pad time 3+3, Conv2D 7x38 valid ReLU, BN,     | B x 187 x 204   | 7x38x1x204       |
|          | max over freq (timbral_38)                    |                 |                  |
|          | same, Conv2D 7x67 (timbral_67)                | B x 187 x 204   | 7x67x1x204       |
| temporal | Conv2D 128x1 same ReLU, BN, max over freq     | B x 187 x 51    | 128x1x1x51       |
|          | (temporal_128); likewise 64x1, 32x1           | B x 187 x 51 x2 |                  |
| front    | concat (frontend)                             | B x 187 x 561   |                  |
| mid-end  | pad 3+3, Conv1D k7 ReLU, BN (midend_1)        | B x 187 x 64    | 7x561x64         |
|          | + Conv1D k7 ReLU, BN, residual (midend_2, _3) | B x 187 x 64    | 7x64x64 each     |
|          | concat front, midend_1..3 (midend)            | B x 187 x 753   |                  |
| pooling  | max and mean over time -> embedding_pooled    | B x 1506        | max 753 ‖ mean 753|
| back-end | BN on [max0, mean0, max1, ...] (backend_bn),  | B x 1506        |                  |
|          | Dropout 0.5, Dense 200 ReLU, BN               | B x 200         | 1506x200         |
|          |   -> embedding_penultimate                    |                 |                  |
|          | Dropout 0.5, Dense 50 (tags_logits), sigmoid  | B x 50          | 200x50           |

VGG (``build_musicnn_vgg``): input BN, then five blocks of Conv2D 3x3 same ReLU (128
filters) -> BN -> MaxPool, pools (4x1 stride 2x2), 2x2, 2x2, 2x2, 4x4 (all valid):
187x96 -> 92x48 -> 46x24 -> 23x12 -> 11x6 -> 2x1; flatten (256 = embedding_pooled =
embedding_penultimate), Dropout 0.5, Dense 50, sigmoid.

Batch norm: the original's ``tf.compat.v1.layers.batch_normalization`` defaults (epsilon
1e-3, momentum 0.99), in inference mode with the checkpoint's moving statistics.
Dropout is the original's too; it only acts in training (fine-tuning).
"""

from __future__ import annotations

import keras
from keras import layers

from musictag_tf.audio.features import LogMelSpectrogram
from musictag_tf.params import MusicnnParams

OUTPUT_NAMES = ("tags", "embedding_pooled", "embedding_penultimate")


def _batch_norm(params: MusicnnParams, name: str) -> layers.BatchNormalization:
    return layers.BatchNormalization(epsilon=params.batch_norm_epsilon,
                                     momentum=params.batch_norm_momentum, name=name)


def _log_mel_image(waveform, params: MusicnnParams):
    """[B, window_samples] -> normalised log-mel image [B, patch_frames, n_mels, 1]."""
    audio = params.audio_params()
    log_mel = LogMelSpectrogram(audio, name="log_mel")(waveform)
    image = layers.Reshape((params.patch_frames, audio.n_mels, 1), name="log_mel_image")(log_mel)
    return _batch_norm(params, "input_bn")(image)


def _conv_bn_freq_max(x, filters: int, kernel: tuple, padding: str, params: MusicnnParams,
                      name: str):
    """Conv2D (ReLU) -> BN -> max over the whole frequency axis: [B, T, F, 1] -> [B, T, filters]."""
    x = layers.Conv2D(filters, kernel, padding=padding, activation="relu", name=f"{name}_conv")(x)
    x = _batch_norm(params, f"{name}_bn")(x)
    x = layers.MaxPooling2D(pool_size=(1, x.shape[2]), name=f"{name}_freq_max")(x)
    return layers.Reshape((x.shape[1], filters), name=f"{name}_squeeze")(x)


def _frontend(image, params: MusicnnParams):
    """Timbral (wide in frequency) and temporal (long in time) filters -> [B, T, 561]."""
    n_mels = image.shape[2]
    half = params.timbral_kernel_frames // 2
    padded = layers.ZeroPadding2D(((half, half), (0, 0)), name="timbral_pad")(image)
    features = []
    for fraction in params.timbral_kernel_mel_fractions:
        height = int(fraction * n_mels)
        features.append(_conv_bn_freq_max(
            padded, int(params.frontend_filter_factor * 128), (params.timbral_kernel_frames, height),
            "valid", params, f"timbral_{height}"))
    for frames in params.temporal_kernel_frames:
        features.append(_conv_bn_freq_max(
            image, int(params.frontend_filter_factor * 32), (frames, 1), "same", params,
            f"temporal_{frames}"))
    return layers.Concatenate(axis=-1, name="frontend")(features)


def _midend(frontend, params: MusicnnParams):
    """Three Conv1D (ReLU) -> BN over time, residual from the second: [B, T, C] -> [B, T, C + 3*64]."""
    half = params.midend_kernel_frames // 2
    outputs = [frontend]
    x = frontend
    for i in (1, 2, 3):
        y = layers.ZeroPadding1D((half, half), name=f"midend_{i}_pad")(x)
        y = layers.Conv1D(params.midend_filters, params.midend_kernel_frames, padding="valid",
                          activation="relu", name=f"midend_{i}_conv")(y)
        y = _batch_norm(params, f"midend_{i}_bn")(y)
        x = y if i == 1 else layers.Add(name=f"midend_{i}_residual")([y, x])
        outputs.append(x)
    return layers.Concatenate(axis=-1, name="midend")(outputs)


def _pool_over_time(features):
    """[B, T, C] -> (pooled [B, 2C] as max ‖ mean, interleaved [B, 2C] as max0, mean0, max1, ...).

    The original flattens a [C, 2] stack of (max, mean), so its dense back end sees the
    interleaved order; the embedding is the easier-to-read concatenation.
    """
    channels = features.shape[-1]
    max_pool = layers.GlobalMaxPooling1D(name="time_max")(features)
    mean_pool = layers.GlobalAveragePooling1D(name="time_mean")(features)
    pooled = layers.Concatenate(name="embedding_pooled")([max_pool, mean_pool])
    max_col = layers.Reshape((channels, 1), name="time_max_column")(max_pool)
    mean_col = layers.Reshape((channels, 1), name="time_mean_column")(mean_pool)
    stacked = layers.Concatenate(axis=-1, name="time_pool_stack")([max_col, mean_col])
    return pooled, layers.Flatten(name="time_pool_interleaved")(stacked)


def build_musicnn(params: MusicnnParams = MusicnnParams(), name: str = "musicnn") -> keras.Model:
    """musicnn: waveform [B, 48128] -> {tags [B, 50], embedding_pooled [B, 1506],
    embedding_penultimate [B, 200]} (see the module docstring's table)."""
    if params.architecture != "musicnn":
        raise ValueError(f"build_musicnn needs architecture='musicnn', got {params.architecture!r}")
    waveform = keras.Input((params.window_samples,), dtype="float32", name="waveform")
    image = _log_mel_image(waveform, params)
    midend = _midend(_frontend(image, params), params)
    pooled, interleaved = _pool_over_time(midend)
    x = _batch_norm(params, "backend_bn")(interleaved)
    x = layers.Dropout(params.dropout, name="backend_dropout")(x)
    x = layers.Dense(params.backend_units, activation="relu", name="backend_dense")(x)
    penultimate = _batch_norm(params, "embedding_penultimate")(x)
    x = layers.Dropout(params.dropout, name="penultimate_dropout")(penultimate)
    logits = layers.Dense(params.num_tags, name="tags_logits")(x)
    tags = layers.Activation("sigmoid", dtype="float32", name="tags")(logits)
    return keras.Model(waveform, {"tags": tags, "embedding_pooled": pooled,
                                  "embedding_penultimate": penultimate}, name=name)


VGG_POOLS = (((4, 1), (2, 2)), ((2, 2), (2, 2)), ((2, 2), (2, 2)), ((2, 2), (2, 2)),
             ((4, 4), (4, 4)))  # (pool size, strides) of the five blocks, time x frequency


def build_musicnn_vgg(params: MusicnnParams = MusicnnParams(architecture="vgg"),
                      name: str = "musicnn_vgg") -> keras.Model:
    """musicnn's VGG baseline: waveform [B, 48128] -> {tags [B, 50], embedding_pooled [B, 256],
    embedding_penultimate [B, 256] (the same features)}."""
    if params.architecture != "vgg":
        raise ValueError(f"build_musicnn_vgg needs architecture='vgg', got {params.architecture!r}")
    waveform = keras.Input((params.window_samples,), dtype="float32", name="waveform")
    x = _log_mel_image(waveform, params)
    for i, (pool, strides) in enumerate(VGG_POOLS, start=1):
        if i > 1:
            x = layers.Dropout(params.vgg_dropout, name=f"vgg_{i}_dropout")(x)
        x = layers.Conv2D(params.vgg_filters, (3, 3), padding="same", activation="relu",
                          name=f"vgg_{i}_conv")(x)
        x = _batch_norm(params, f"vgg_{i}_bn")(x)
        x = layers.MaxPooling2D(pool, strides=strides, padding="valid", name=f"vgg_{i}_pool")(x)
    pooled = layers.Flatten(name="embedding_pooled")(x)
    penultimate = layers.Identity(name="embedding_penultimate")(pooled)
    x = layers.Dropout(params.dropout, name="penultimate_dropout")(penultimate)
    logits = layers.Dense(params.num_tags, name="tags_logits")(x)
    tags = layers.Activation("sigmoid", dtype="float32", name="tags")(logits)
    return keras.Model(waveform, {"tags": tags, "embedding_pooled": pooled,
                                  "embedding_penultimate": penultimate}, name=name)


def build_pretrained_architecture(params: MusicnnParams, name: str | None = None) -> keras.Model:
    """``build_musicnn`` or ``build_musicnn_vgg`` by ``params.architecture``."""
    if params.architecture == "musicnn":
        return build_musicnn(params, name=name or "musicnn")
    return build_musicnn_vgg(params, name=name or "musicnn_vgg")
