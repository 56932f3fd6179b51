"""The model's branches, each a function from Keras tensors to Keras tensors.

Shapes for the defaults (ModelParams.chunk_seconds = 8 s, AudioParams at 16 kHz, hop 256):

| branch   | layer                                   | output shape            |
|----------|-----------------------------------------|-------------------------|
| front end| waveform                                | [B, 128000] samples     |
|          | LogMelSpectrogram (float32, in-graph)   | [B, 501, 96] frames x mel |
| mel      | Conv2D 3x3 32 + BN + ELU + pool (2, 2)  | [B, 250, 48, 32]        |
|          | Conv2D 3x3 64 + BN + ELU + pool (2, 3)  | [B, 125, 16, 64]        |
|          | Conv2D 3x3 64 + BN + ELU + pool (1, 4)  | [B, 125, 4, 64]         |
|          | Conv2D 3x3 128 + BN + ELU + pool (1, 4) | [B, 125, 1, 128]        |
|          | squeeze + Dropout                       | [B, 125, 128] steps     |
| waveform | Conv1D k=128 s=64 32 + BN + ELU         | [B, 2000, 32]           |
|          | Conv1D k=3 64 + BN + ELU + pool 4       | [B, 500, 64]            |
|          | Conv1D k=3 128 + BN + ELU + pool 4      | [B, 125, 128]           |
|          | Dropout                                 | [B, 125, 128] steps     |
| lyrics   | Embedding (trainable or word2vec init)  | [B, 256, 64] tokens     |
|          | Conv1D k=2,3,4 x 64 + ReLU, masked max  | [B, 192]                |
|          | no-lyrics vector when all ids are pad   | [B, 192]                |
| vgg      | VGG16-style Conv2D pairs + pool 2x2     | [B, 512 or 256] pooled  |

One audio step is ModelParams.time_downsample (4) log-mel frames = 64 ms; the waveform branch
pools to the same rate, so the two sequences are concatenated step by step.
"""

from __future__ import annotations

from typing import Optional

import keras
import numpy as np
from keras import layers

from musictag_tf import params as params_lib
from musictag_tf.model import layers as mt_layers


def _batch_norm(name: str, momentum: float = 0.9):
    """Batch norm whose statistics are all-reduced across replicas under a tf.distribute strategy.

    Keras 3 batch norm otherwise keeps per-replica moving statistics, so workers of a
    MultiWorkerMirroredStrategy job end with different moving means (measured in
    tests/test_train.py); synchronising them costs one small all-reduce per layer and step.
    """
    return layers.BatchNormalization(momentum=momentum, synchronized=True, name=name)


def mel_conv2d_branch(log_mel, p: params_lib.ModelParams, name: str = "mel"):
    """log_mel float32 [B, frames, n_mels] -> step features [B, frames / time_downsample, C]."""
    x = layers.Reshape((-1, log_mel.shape[-1], 1), name=f"{name}_expand")(log_mel)
    x = _batch_norm(f"{name}_input_bn", p.batch_norm_momentum)(x)
    for i, (filters, t_pool, f_pool) in enumerate(zip(p.mel_filters, p.mel_time_pools, p.mel_freq_pools)):
        x = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"{name}_conv{i}")(x)
        x = _batch_norm(f"{name}_bn{i}", p.batch_norm_momentum)(x)
        x = layers.Activation("elu", name=f"{name}_elu{i}")(x)
        x = layers.MaxPooling2D((t_pool, f_pool), name=f"{name}_pool{i}")(x)
    if x.shape[2] != 1:
        x = layers.MaxPooling2D((1, x.shape[2]), name=f"{name}_freq_collapse")(x)
    x = layers.Reshape((-1, x.shape[-1]), name=f"{name}_steps")(x)
    return layers.Dropout(p.dropout, name=f"{name}_dropout")(x)


def waveform_conv1d_branch(waveform, p: params_lib.ModelParams, audio: params_lib.AudioParams,
                           name: str = "wave"):
    """waveform float32 [B, samples] -> step features [B, samples / (hop * time_downsample), C].

    The first strided convolution is a learnable filterbank (kernel 2 x stride samples); the
    remaining blocks max-pool so that one output step spans hop * time_downsample samples,
    matching the mel branch.
    """
    step_samples = audio.hop_samples * p.time_downsample
    if step_samples % p.wave_first_stride:
        raise params_lib.ConfigError("hop_samples * time_downsample must be a multiple of wave_first_stride")
    remaining = step_samples // p.wave_first_stride
    pools = _split_pool(remaining, len(p.wave_filters) - 1)
    x = layers.Reshape((-1, 1), name=f"{name}_expand")(waveform)
    x = layers.Conv1D(p.wave_filters[0], 2 * p.wave_first_stride, strides=p.wave_first_stride,
                      padding="same", use_bias=False, name=f"{name}_filterbank")(x)
    x = _batch_norm(f"{name}_bn0", p.batch_norm_momentum)(x)
    x = layers.Activation("elu", name=f"{name}_elu0")(x)
    for i, (filters, pool) in enumerate(zip(p.wave_filters[1:], pools), start=1):
        x = layers.Conv1D(filters, 3, padding="same", use_bias=False, name=f"{name}_conv{i}")(x)
        x = _batch_norm(f"{name}_bn{i}", p.batch_norm_momentum)(x)
        x = layers.Activation("elu", name=f"{name}_elu{i}")(x)
        if pool > 1:
            x = layers.MaxPooling1D(pool, name=f"{name}_pool{i}")(x)
    return layers.Dropout(p.dropout, name=f"{name}_dropout")(x)


def _split_pool(total: int, blocks: int) -> list:
    """Factor a total pooling ``total`` into ``blocks`` near-equal integer pools."""
    if blocks <= 0:
        if total != 1:
            raise params_lib.ConfigError("waveform branch needs pooling blocks to reach the step rate")
        return []
    pools = []
    for remaining_blocks in range(blocks, 0, -1):
        target = round(total ** (1.0 / remaining_blocks))
        pool = next(d for d in sorted(range(1, total + 1), key=lambda d: (abs(d - target), d))
                    if total % d == 0)
        pools.append(pool)
        total //= pool
    return pools


def vgg_branch(log_mel, p: params_lib.ModelParams, name: str = "vgg"):
    """VGG16-style audio network: log_mel [B, frames, n_mels] -> pooled features [B, 2 C].

    Blocks of two 3x3 convolutions (BN, ReLU) and 2x2 max pooling, widths
    ``ModelParams.vgg_filters`` (VGG16 uses 64-128-256-512-512 with 2-2-3-3-3 convolutions;
    the defaults are narrower for CPU training), then global average and max pooling.
    """
    x = layers.Reshape((-1, log_mel.shape[-1], 1), name=f"{name}_expand")(log_mel)
    x = _batch_norm(f"{name}_input_bn", p.batch_norm_momentum)(x)
    for i, filters in enumerate(p.vgg_filters):
        for j in range(2):
            x = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"{name}_conv{i}_{j}")(x)
            x = _batch_norm(f"{name}_bn{i}_{j}", p.batch_norm_momentum)(x)
            x = layers.Activation("relu", name=f"{name}_relu{i}_{j}")(x)
        x = layers.MaxPooling2D(2, name=f"{name}_pool{i}")(x)
    avg = layers.GlobalAveragePooling2D(name=f"{name}_gap")(x)
    mx = layers.GlobalMaxPooling2D(name=f"{name}_gmp")(x)
    x = layers.Concatenate(name=f"{name}_pooled")([avg, mx])
    return layers.Dropout(p.dropout, name=f"{name}_dropout")(x)


def lyrics_textcnn_branch(lyrics_ids, p: params_lib.ModelParams, vocab_size: int, embedding_dim: int,
                          embedding_matrix: Optional[np.ndarray] = None,
                          train_embedding: bool = True, name: str = "lyrics"):
    """lyrics_ids int32 [B, tokens] (0 = pad) -> lyrics vector [B, filters * len(kernel_sizes)].

    TextCNN (Kim 2014): parallel Conv1D over word embeddings with several widths, max-pooled
    over the real tokens only. A clip with no lyrics (all ids 0) gets a learned "no lyrics"
    vector instead, so absence is its own representation and not a zero that mimics a lyric.
    ``embedding_matrix`` [vocab_size, embedding_dim] initialises the embedding from pretrained
    word vectors (musictag_tf.lyrics.vectors.embedding_matrix); ``train_embedding`` freezes it.
    """
    initializer = "uniform"
    if embedding_matrix is not None:
        if embedding_matrix.shape != (vocab_size, embedding_dim):
            raise params_lib.ConfigError(
                f"embedding_matrix shape {embedding_matrix.shape} != ({vocab_size}, {embedding_dim})")
        initializer = keras.initializers.Constant(embedding_matrix)
    mask = mt_layers.TokenMask(name=f"{name}_mask")(lyrics_ids)
    has_lyrics = mt_layers.LyricsPresence(name=f"{name}_presence")(lyrics_ids)
    x = layers.Embedding(vocab_size, embedding_dim, embeddings_initializer=initializer,
                         trainable=train_embedding, name=f"{name}_embedding")(lyrics_ids)
    pooled = []
    for k in p.text_kernel_sizes:
        c = layers.Conv1D(p.text_filters, k, padding="same", activation="relu", name=f"{name}_conv{k}")(x)
        pooled.append(mt_layers.MaskedGlobalMaxPool1D(name=f"{name}_maxpool{k}")(c, mask=mask))
    x = layers.Concatenate(name=f"{name}_textcnn")(pooled) if len(pooled) > 1 else pooled[0]
    x = layers.Dropout(p.dropout, name=f"{name}_dropout")(x)
    return mt_layers.MissingLyricsEmbedding(name=f"{name}_or_absent")([x, has_lyrics])
