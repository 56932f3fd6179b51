"""In-graph log-mel front end (tf.signal), the same code for training, serving and TFLite.

Pipeline for ``waveform: float32 [batch, samples]`` at ``AudioParams.sample_rate`` Hz:

1. optional pre-emphasis ``Y[n] = X[n] - a*X[n-1]`` with ``X[-1] = 0``;
2. centring as librosa 0.11's default (``center=True, pad_mode="constant"``): window/2
   **zeros** on both sides, so frame ``t`` is centred on sample ``t*hop``;
3. periodic Hann window, |STFT|^2 with FFT length = window length;
4. mel filterbank (slaney: librosa's default area-normalised filters; or htk);
5. optionally (``round_mel_to_float16``) the mel power rounded to float16 and back, as
   musicnn stored it;
6. ``log10(1 + log_multiplier * mel_power)``.

Output: ``float32 [batch, frames, n_mels]`` with ``frames = params.num_frames(samples)``
(``1 + samples // hop`` when centred), always float32, also under mixed precision.

Two STFT implementations give the same numbers (within float32 round-off):

* ``"rfft"``: ``tf.signal.stft`` (framing + ``RFFT``).
* ``"matmul"``: framing, then one matmul with a constant ``[window, 2*bins]`` matrix holding
  the windowed DFT's real and imaginary parts, as YAMNet's TFLite path does.

``stft_impl="auto"`` resolves to ``AUTO_STFT_IMPL``. Both implementations convert to TFLite
with builtin ops only (TFLite has a builtin ``RFFT2D``) and both run in
``ai_edge_litert``; see tests/test_features.py and BUILD_NOTES.md for the measurements
behind the choice.
"""

from __future__ import annotations

import functools
import math

import keras
import numpy as np
import tensorflow as tf

from musictag_tf.params import AudioParams, ConfigError, from_dict, to_dict

# What stft_impl="auto" means. Both impls convert to TFLite builtins (measured with
# TF 2.21 / ai-edge-litert 2.3.0); "rfft" is the faster one in TF on CPU (about 2x on a
# 29 s clip, benchmarks/bench_frontend.py) and computes the exact FFT.
AUTO_STFT_IMPL = "rfft"

PRE_EMPHASIS_RANGE = (0.95, 0.97)  # allowed pre-emphasis coefficients, as in AudioParams


def resolve_stft_impl(stft_impl: str) -> str:
    """``"auto"`` -> ``AUTO_STFT_IMPL``; ``"rfft"``/``"matmul"`` unchanged."""
    if stft_impl == "auto":
        return AUTO_STFT_IMPL
    if stft_impl not in ("rfft", "matmul"):
        raise ConfigError(f"stft_impl must be auto|rfft|matmul, got {stft_impl!r}")
    return stft_impl


def pre_emphasis(waveform, coefficient: float = 0.97) -> tf.Tensor:
    """First-order pre-emphasis ``Y[n] = X[n] - a*X[n-1]`` with ``X[-1] = 0``.

    Args:
      waveform: float tensor [..., samples].
      coefficient: ``a``, in [0.95, 0.97].

    Returns:
      Tensor of the same shape and dtype.
    """
    low, high = PRE_EMPHASIS_RANGE
    if not low <= coefficient <= high:
        raise ConfigError(f"pre-emphasis coefficient must be in [{low}, {high}], got {coefficient}")
    x = tf.convert_to_tensor(waveform)
    if not x.dtype.is_floating:
        raise TypeError(f"pre_emphasis needs a float waveform, got {x.dtype.name}")
    previous = tf.concat([tf.zeros_like(x[..., :1]), x[..., :-1]], axis=-1)
    return x - tf.cast(coefficient, x.dtype) * previous


def _hz_to_mel_slaney(hz: np.ndarray) -> np.ndarray:
    """Slaney's Auditory Toolbox mel scale: linear below 1 kHz, logarithmic above."""
    hz = np.asarray(hz, dtype=np.float64)
    f_sp = 200.0 / 3
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = math.log(6.4) / 27.0
    linear = hz / f_sp
    log = min_log_mel + np.log(np.maximum(hz, min_log_hz) / min_log_hz) / logstep
    return np.where(hz >= min_log_hz, log, linear)


def _mel_to_hz_slaney(mel: np.ndarray) -> np.ndarray:
    mel = np.asarray(mel, dtype=np.float64)
    f_sp = 200.0 / 3
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = math.log(6.4) / 27.0
    linear = f_sp * mel
    log = min_log_hz * np.exp(logstep * (np.maximum(mel, min_log_mel) - min_log_mel))
    return np.where(mel >= min_log_mel, log, linear)


def _slaney_filterbank(params: AudioParams) -> np.ndarray:
    """float64 [n_fft_bins, n_mels]: librosa.filters.mel(htk=False, norm="slaney").T."""
    fft_hz = np.linspace(0.0, params.sample_rate / 2, params.n_fft_bins)
    mel_edges = np.linspace(_hz_to_mel_slaney(params.fmin_hz), _hz_to_mel_slaney(params.fmax_hz),
                            params.n_mels + 2)
    edges_hz = _mel_to_hz_slaney(mel_edges)
    widths = np.diff(edges_hz)
    ramps = edges_hz[:, None] - fft_hz[None, :]  # [n_mels + 2, n_fft_bins]
    lower = -ramps[:-2] / widths[:-1, None]
    upper = ramps[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))  # [n_mels, n_fft_bins]
    weights *= (2.0 / (edges_hz[2:] - edges_hz[:-2]))[:, None]  # equal area per filter
    return weights.T


@functools.lru_cache(maxsize=16)
def _mel_filterbank_cached(params: AudioParams) -> np.ndarray:
    if params.mel_scale == "slaney":
        matrix = _slaney_filterbank(params)
    else:
        matrix = tf.signal.linear_to_mel_weight_matrix(
            num_mel_bins=params.n_mels, num_spectrogram_bins=params.n_fft_bins,
            sample_rate=params.sample_rate, lower_edge_hertz=params.fmin_hz,
            upper_edge_hertz=params.fmax_hz, dtype=tf.float64).numpy()
    matrix = matrix.astype(np.float32)
    matrix.setflags(write=False)
    return matrix


def mel_filterbank(params: AudioParams) -> np.ndarray:
    """Mel weights, float32 [n_fft_bins, n_mels] (power spectrum @ weights = mel power).

    ``params.mel_scale == "slaney"``: identical to librosa 0.11
    ``librosa.filters.mel(sr, n_fft, n_mels, fmin, fmax, htk=False, norm="slaney").T``
    (implemented here in float64 so the runtime does not import librosa; tested equal).
    ``"htk"``: ``tf.signal.linear_to_mel_weight_matrix`` (HTK mel, unnormalised triangles).
    The returned array is read-only and shared.
    """
    return _mel_filterbank_cached(params)


@functools.lru_cache(maxsize=16)
def _windowed_dft_matrix(window_samples: int) -> np.ndarray:
    """float32 [window, 2*bins]: periodic Hann window times [cos | -sin] DFT kernels.

    ``frames @ M`` gives the real parts (first ``bins`` columns) and imaginary parts (last
    ``bins``) of ``rfft(frames * hann)``. Angles use exact integer ``k*n mod N`` so the
    float64 table is accurate before the cast.
    """
    n = np.arange(window_samples)
    bins = window_samples // 2 + 1
    window = 0.5 - 0.5 * np.cos(2.0 * np.pi * n / window_samples)  # periodic Hann
    phase = (np.outer(n, np.arange(bins)) % window_samples) * (2.0 * np.pi / window_samples)
    matrix = np.concatenate([np.cos(phase), -np.sin(phase)], axis=1) * window[:, None]
    matrix = matrix.astype(np.float32)
    matrix.setflags(write=False)
    return matrix


def _frame_padded(x: tf.Tensor, params: AudioParams) -> tf.Tensor:
    """Pad [batch, samples] for framing: centred zero padding, or up to one window."""
    if params.center:
        half = params.window_samples // 2
        return tf.pad(x, [[0, 0], [half, half]])
    short = tf.maximum(0, params.window_samples - tf.shape(x)[1])
    return tf.pad(x, [[0, 0], [0, short]])


def _power_spectrum_rfft(x: tf.Tensor, params: AudioParams) -> tf.Tensor:
    """[batch, padded samples] -> |STFT|^2 float32 [batch, frames, bins] via tf.signal.stft."""
    stft = tf.signal.stft(x, frame_length=params.window_samples, frame_step=params.hop_samples,
                          fft_length=params.window_samples,
                          window_fn=functools.partial(tf.signal.hann_window, periodic=True))
    return tf.math.square(tf.math.real(stft)) + tf.math.square(tf.math.imag(stft))


def _power_spectrum_matmul(x: tf.Tensor, params: AudioParams) -> tf.Tensor:
    """[batch, padded samples] -> |STFT|^2 float32 [batch, frames, bins] as one DFT matmul."""
    frames = tf.signal.frame(x, params.window_samples, params.hop_samples)  # [b, t, window]
    spectrum = tf.linalg.matmul(frames, tf.constant(_windowed_dft_matrix(params.window_samples)))
    real, imag = tf.split(spectrum, 2, axis=-1)
    return tf.math.square(real) + tf.math.square(imag)


def power_mel_spectrogram(waveform, params: AudioParams = AudioParams()) -> tf.Tensor:
    """Mel power (before the log) float32 [batch, frames, n_mels] from [batch, samples].

    Exposed for tests and analysis; ``log_mel_spectrogram`` is this plus the log.
    """
    x = tf.convert_to_tensor(waveform)
    if x.dtype != tf.float32:
        x = tf.cast(x, tf.float32)
    squeeze = x.shape.rank == 1
    if squeeze:
        x = x[tf.newaxis, :]
    if x.shape.rank != 2:
        raise ValueError(f"waveform must be [samples] or [batch, samples], got shape {x.shape}")
    if params.apply_pre_emphasis:
        x = pre_emphasis(x, params.pre_emphasis)
    x = _frame_padded(x, params)
    impl = resolve_stft_impl(params.stft_impl)
    power = _power_spectrum_rfft(x, params) if impl == "rfft" else _power_spectrum_matmul(x, params)
    mel = tf.tensordot(power, tf.constant(mel_filterbank(params)), axes=[[2], [0]])
    batch = x.shape[0]
    mel.set_shape([batch, None, params.n_mels])
    if squeeze:
        mel = mel[0]
    return mel


def log_mel_spectrogram(waveform, params: AudioParams = AudioParams()) -> tf.Tensor:
    """Log-compressed mel spectrogram ``log10(1 + log_multiplier * mel_power)``.

    Args:
      waveform: float [batch, samples] or [samples] at ``params.sample_rate`` Hz; cast to
        float32 whatever its dtype.
      params: the front-end settings.

    Returns:
      float32 [batch, frames, n_mels] (or [frames, n_mels] for a 1-D input) with
      ``frames = params.num_frames(samples)``.
    """
    mel = power_mel_spectrogram(waveform, params)
    if params.round_mel_to_float16:  # musicnn stored its mel as float16 before the log
        mel = tf.cast(tf.cast(mel, tf.float16), tf.float32)
    # log(1 + x) / ln 10: LOG is a TFLite builtin (log1p is not); for small x the absolute
    # error of log(1 + x) in float32 is ~6e-8, far below anything the model can see.
    return tf.math.log(1.0 + params.log_multiplier * mel) * (1.0 / math.log(10.0))


@functools.lru_cache(maxsize=16)
def _dct_ii_ortho_matrix(n_mels: int, n_mfcc: int) -> np.ndarray:
    """float32 [n_mels, n_mfcc]: orthonormal DCT-II, ``x @ M == scipy.fft.dct(x, 2, norm='ortho')[:n_mfcc]``."""
    n = np.arange(n_mels)
    k = np.arange(n_mfcc)
    matrix = np.cos(np.pi / n_mels * (n[:, None] + 0.5) * k[None, :]) * math.sqrt(2.0 / n_mels)
    matrix[:, 0] /= math.sqrt(2.0)
    matrix = matrix.astype(np.float32)
    matrix.setflags(write=False)
    return matrix


def mfcc_from_log_mel(log_mel, params: AudioParams = AudioParams()) -> tf.Tensor:
    """MFCCs: orthonormal DCT-II over the mel axis, first ``params.n_mfcc`` coefficients.

    Args:
      log_mel: float [..., frames, n_mels] (the output of ``log_mel_spectrogram``).

    Returns:
      float32 [..., frames, n_mfcc]. Computed as a matmul with a constant DCT matrix (TFLite
      builtins only).
    """
    x = tf.convert_to_tensor(log_mel)
    if x.dtype != tf.float32:
        x = tf.cast(x, tf.float32)
    if x.shape[-1] is not None and x.shape[-1] != params.n_mels:
        raise ValueError(f"log_mel has {x.shape[-1]} mel bins, params.n_mels is {params.n_mels}")
    dct = tf.constant(_dct_ii_ortho_matrix(params.n_mels, params.n_mfcc))
    return tf.tensordot(x, dct, axes=[[x.shape.rank - 1], [0]])


def _params_from(params) -> AudioParams:
    if params is None:
        return AudioParams()
    if isinstance(params, AudioParams):
        return params
    if isinstance(params, dict):
        return from_dict(AudioParams, params)
    raise TypeError(f"params must be AudioParams or a dict, got {type(params).__name__}")


@keras.saving.register_keras_serializable(package="musictag")
class LogMelSpectrogram(keras.layers.Layer):
    """Keras layer: float32 [batch, samples] at ``params.sample_rate`` -> [batch, frames, n_mels].

    Always computes in float32 (its dtype policy is fixed to "float32", whatever the global
    mixed-precision policy), because |STFT|^2 of music spans ~10 orders of magnitude, more
    than float16 can hold. The STFT implementation is fixed at construction
    (``params.stft_impl``, "auto" resolved), so a saved model keeps its graph.
    """

    def __init__(self, params: AudioParams | dict | None = None, **kwargs):
        kwargs.pop("dtype", None)
        super().__init__(dtype="float32", **kwargs)
        self.params = _params_from(params)

    def call(self, waveform):
        return log_mel_spectrogram(waveform, self.params)

    def compute_output_shape(self, input_shape):
        samples = input_shape[-1]
        frames = None if samples is None else self.params.num_frames(int(samples))
        return (input_shape[0], frames, self.params.n_mels)

    def get_config(self):
        config = super().get_config()
        config["params"] = to_dict(self.params)
        return config


@keras.saving.register_keras_serializable(package="musictag")
class MFCC(keras.layers.Layer):
    """Keras layer: log-mel float32 [batch, frames, n_mels] -> MFCC [batch, frames, n_mfcc].

    Always float32, like ``LogMelSpectrogram``.
    """

    def __init__(self, params: AudioParams | dict | None = None, **kwargs):
        kwargs.pop("dtype", None)
        super().__init__(dtype="float32", **kwargs)
        self.params = _params_from(params)

    def call(self, log_mel):
        return mfcc_from_log_mel(log_mel, self.params)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.params.n_mfcc,)

    def get_config(self):
        config = super().get_config()
        config["params"] = to_dict(self.params)
        return config


@functools.lru_cache(maxsize=8)
def _compiled_log_mel(params: AudioParams):
    """One traced tf.function per params, for any number of samples."""
    return tf.function(lambda waveform: log_mel_spectrogram(waveform, params),
                       input_signature=[tf.TensorSpec([None], tf.float32)])


def compute_log_mel(waveform: np.ndarray, params: AudioParams = AudioParams(),
                    dtype=np.float32) -> np.ndarray:
    """Eager convenience for the builder: the same TF graph as the layer.

    Args:
      waveform: float [samples] at ``params.sample_rate`` Hz.
      dtype: np.float32 or np.float16 (for compact records).

    Returns:
      ``dtype`` [frames, n_mels].
    """
    if np.dtype(dtype) not in (np.dtype(np.float32), np.dtype(np.float16)):
        raise ValueError(f"dtype must be float32 or float16, got {np.dtype(dtype)}")
    x = np.asarray(waveform, dtype=np.float32)
    if x.ndim != 1:
        raise ValueError(f"waveform must be [samples], got shape {x.shape}")
    return _compiled_log_mel(params)(tf.constant(x)).numpy().astype(dtype, copy=False)
