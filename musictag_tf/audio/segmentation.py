"""Adaptive segmentation: the paper's hierarchical adaptive music representation.

A clip's log-mel frames are smoothed, compared with each other in a cosine self-similarity
matrix (SSM), and a Foote checkerboard kernel slid along the SSM's main diagonal gives a
novelty curve. Its peaks are segment boundaries, constrained so that every segment lasts
between ``SegmentParams.min_segment_seconds`` and ``SegmentParams.max_segment_seconds``.
Frame features of the model are then mean-pooled within each segment, so the sequence model
sees one vector per musical section instead of one per frame.

Everything is vectorised TensorFlow (no Python loop over frames, no ``tf.while_loop``), so
the same code runs eagerly in the offline builder (:func:`find_segments`), inside a
``tf.function``, and inside the Keras model (:class:`AdaptiveSegmentPooling`), and the
exported model converts to TFLite with builtin ops only.

Time axes and units:

* ``frames``: log-mel frames at ``AudioParams.frame_rate_hz`` (62.5 Hz by default).
* ``steps`` (T'): smoothed frames, one per ``SegmentParams.smooth_frames`` log-mel frames
  (15.625 Hz by default). Segment ids, novelty and boundaries live on this axis.
* ``T_model``: the model's own sequence axis, one step per ``frames_per_step`` log-mel frames
  (``ModelParams.time_downsample``).

Two computations of the novelty curve are provided and agree to float32 rounding:

* :func:`novelty_curve` takes an SSM ``[B, T, T]`` and applies the kernel to each diagonal
  patch (``O(T * (2L)^2)`` after an ``O(T^2 * D)`` SSM).
* :func:`novelty_from_features` uses that the cosine SSM is a Gram matrix, ``S = X X^T``
  with unit rows ``X``, and that the Gaussian-tapered checkerboard kernel is separable,
  ``K(i, j) = a(i) a(j)``. Then ``sum_ij K(i, j) S(t+i, t+j) = ||sum_i a(i) x_{t+i}||^2``:
  a 1-D convolution of the frames followed by a squared norm, ``O(T * 2L * D)``, with no
  ``T x T`` tensor at all. Segmentation uses this form.

Clip edges are handled by mirroring the frames (equivalently the SSM) at both ends rather
than zero-padding: with zero padding a homogeneous clip start looks like a change of the
same size as a real boundary (the "future" block is compared with nothing), and mirroring
makes the novelty exactly zero at the first frame.
"""

from __future__ import annotations

import math
from typing import Optional, Tuple

import keras
import numpy as np
import tensorflow as tf

from musictag_tf.params import AudioParams, ModelParams, SegmentParams, from_dict, to_dict

_EPS = 1e-6


# ----------------------------------------------------------------------------------------
# Frame counts derived from the params (seconds -> smoothed steps)
# ----------------------------------------------------------------------------------------

def steps_per_second(audio_params: AudioParams, segment_params: SegmentParams) -> float:
    """Smoothed steps per second (log-mel frame rate / smooth_frames), 15.625 by default."""
    return audio_params.frame_rate_hz / segment_params.smooth_frames


def kernel_steps(audio_params: AudioParams, segment_params: SegmentParams) -> int:
    """Checkerboard half-width L in smoothed steps: round(kernel_seconds * step rate), >= 1."""
    rate = steps_per_second(audio_params, segment_params)
    return max(1, int(round(segment_params.kernel_seconds * rate)))


def min_segment_steps(audio_params: AudioParams, segment_params: SegmentParams) -> int:
    """Shortest segment in smoothed steps: ceil(min_segment_seconds * step rate), >= 1.

    Rounded up so that no segment is ever shorter than ``min_segment_seconds``
    (16 steps = 1.024 s by default).
    """
    rate = steps_per_second(audio_params, segment_params)
    return max(1, int(math.ceil(segment_params.min_segment_seconds * rate - 1e-9)))


def max_segment_steps(audio_params: AudioParams, segment_params: SegmentParams) -> int:
    """Longest segment in smoothed steps: floor(max_segment_seconds * step rate).

    Rounded down so no segment exceeds ``max_segment_seconds`` (62 steps = 3.968 s by
    default), but never below ``2 * min_segment_steps``: splitting a segment longer than
    the maximum into equal parts needs that margin to keep every part above the minimum.
    (SegmentParams already enforces max >= 2 * min in seconds; the clamp only matters when
    rounding to whole steps loses the margin, e.g. min=1 s, max=2 s.)
    """
    rate = steps_per_second(audio_params, segment_params)
    steps = int(math.floor(segment_params.max_segment_seconds * rate + 1e-9))
    return max(steps, 2 * min_segment_steps(audio_params, segment_params))


def checkerboard_taper(kernel_frames: int) -> np.ndarray:
    """The separable factor ``a`` of Foote's Gaussian-tapered checkerboard kernel.

    ``a(i) = sign(i) * exp(-0.5 * ((i + 0.5) / (L / 2))^2)`` for offsets
    ``i = -L .. L-1`` (past: i < 0, sign -1; future: i >= 0, sign +1), so the full kernel
    ``K(i, j) = a(i) a(j)`` is positive on the past-past and future-future blocks and negative
    on the cross blocks. Returns float32 ``[2L]``.
    """
    if kernel_frames < 1:
        raise ValueError(f"kernel_frames must be >= 1, got {kernel_frames}")
    offsets = np.arange(-kernel_frames, kernel_frames, dtype=np.float64) + 0.5
    sigma = kernel_frames / 2.0
    taper = np.exp(-0.5 * (offsets / sigma) ** 2)
    sign = np.where(offsets < 0, -1.0, 1.0)
    return (sign * taper).astype(np.float32)


def checkerboard_kernel(kernel_frames: int) -> np.ndarray:
    """Foote's Gaussian-tapered checkerboard kernel, float32 ``[2L, 2L]`` (outer product)."""
    a = checkerboard_taper(kernel_frames)
    return np.outer(a, a).astype(np.float32)


# ----------------------------------------------------------------------------------------
# Graph building blocks
# ----------------------------------------------------------------------------------------

def smooth_and_standardise(frames: tf.Tensor, smooth_frames: int) -> tf.Tensor:
    """Average-pool, centre and L2-normalise frame features.

    Args:
      frames: float32 ``[batch, frames, dims]`` (e.g. log-mel, dims = mel bins).
      smooth_frames: frames averaged per output step (pool size and stride).

    Returns:
      float32 ``[batch, steps, dims]`` with ``steps = max(1, frames // smooth_frames)`` (a
      trailing partial window is dropped; a clip shorter than one window is zero-padded to
      one): each step minus the clip's mean step, scaled to unit L2 norm (a step equal to
      the mean becomes ~0).
    """
    frames = tf.convert_to_tensor(frames, tf.float32)
    if frames.shape[1] is None or frames.shape[1] < smooth_frames:
        # Empty tensors crash some kernels (max-pool raises SIGFPE), so keep >= 1 step.
        missing = tf.maximum(smooth_frames - tf.shape(frames)[1], 0)
        frames = tf.pad(frames, [[0, 0], [0, missing], [0, 0]])
    if smooth_frames > 1:
        frames = tf.nn.avg_pool1d(frames, ksize=smooth_frames, strides=smooth_frames,
                                  padding="VALID")
    centred = frames - tf.reduce_mean(frames, axis=1, keepdims=True)
    norm = tf.sqrt(tf.reduce_sum(tf.square(centred), axis=-1, keepdims=True))
    return centred / (norm + _EPS)


def self_similarity(frames: tf.Tensor) -> tf.Tensor:
    """Cosine self-similarity matrix.

    Args:
      frames: float ``[batch, steps, dims]``; rows need not be normalised.

    Returns:
      float32 ``[batch, steps, steps]``, ``S[b, i, j] = cos(frames[b, i], frames[b, j])`` in
      [-1, 1] (0 for an all-zero row).
    """
    frames = tf.convert_to_tensor(frames, tf.float32)
    norm = tf.sqrt(tf.reduce_sum(tf.square(frames), axis=-1, keepdims=True))
    unit = frames / (norm + _EPS)
    return tf.matmul(unit, unit, transpose_b=True)


def _mirror_indices(length: tf.Tensor, before: int, after: int) -> tf.Tensor:
    """int32 ``[before + length + after]`` indices into ``[0, length)`` mirroring both ends.

    Index ``-1`` maps to ``0``, ``-2`` to ``1`` (symmetric padding, edge repeated), and
    likewise past the end; results are clipped to the valid range so that clips shorter
    than the padding still work. For ``length == 0`` every index is 0.
    """
    length = tf.cast(length, tf.int32)
    idx = tf.range(-before, length + after, dtype=tf.int32)
    idx = tf.where(idx < 0, -1 - idx, idx)
    idx = tf.where(idx >= length, 2 * length - 1 - idx, idx)
    return tf.clip_by_value(idx, 0, tf.maximum(length - 1, 0))


def _mirror_pad(values: tf.Tensor, axis: int, before: int, after: int) -> tf.Tensor:
    """Symmetric padding of ``values`` along ``axis`` by gathering; an empty axis pads zeros."""
    length = tf.shape(values)[axis]
    zero_shape = tf.tensor_scatter_nd_update(tf.shape(values), [[axis]], [1])
    safe = tf.concat([values, tf.zeros(zero_shape, values.dtype)], axis=axis)  # row `length` = 0
    return tf.gather(safe, _mirror_indices(length, before, after), axis=axis)


def kernel_mass(kernel_frames: int) -> float:
    """``sum_ij |K(i, j)| = (sum_i |a(i)|)^2``, the largest possible raw novelty for unit rows."""
    return float(np.abs(checkerboard_taper(kernel_frames)).astype(np.float64).sum() ** 2)


def novelty_curve(ssm: tf.Tensor, kernel_frames: int) -> tf.Tensor:
    """Foote novelty: the checkerboard kernel correlated along the SSM's main diagonal.

    ``N(t) = sum_{i,j=-L}^{L-1} K(i, j) S(t+i, t+j)``: it compares the ``L`` steps before
    ``t`` with the ``L`` steps from ``t`` on, so a boundary at step ``t`` (first step of
    the new section) peaks at ``t``. The SSM is mirrored outside the clip.

    Implementation: the ``2L x 2L`` patches around the diagonal are gathered from the
    flattened, mirrored SSM (``T * 4L^2`` values, 1.9 MB per 29 s clip) and contracted with
    the kernel. :func:`novelty_from_features` gives the same curve without the SSM.

    Args:
      ssm: float32 ``[batch, steps, steps]`` cosine self-similarity (a Gram matrix).
      kernel_frames: half-width ``L`` of the kernel, in steps.

    Returns:
      float32 ``[batch, steps]`` novelty in [0, 1]: the raw correlation divided by the
      kernel mass ``sum |K|`` (the largest value unit rows can reach). Between two
      homogeneous sections whose mean directions have cosine ``c`` it peaks at ``(1 - c) / 2``;
      it is ~0 inside a steady section (see ``SegmentParams.min_novelty``).
    """
    ssm = tf.convert_to_tensor(ssm, tf.float32)
    size = tf.shape(ssm)[1]
    pad = kernel_frames
    padded = _mirror_pad(_mirror_pad(ssm, 1, pad, pad), 2, pad, pad)  # [B, T+2L, T+2L]
    width = size + 2 * pad
    flat = tf.reshape(padded, [tf.shape(ssm)[0], width * width])
    # Patch for step t covers padded rows/cols t .. t+2L-1 (original t-L .. t+L-1).
    t = tf.range(size, dtype=tf.int32)[:, None, None]
    i = tf.range(2 * pad, dtype=tf.int32)[None, :, None]
    j = tf.range(2 * pad, dtype=tf.int32)[None, None, :]
    patches = tf.gather(flat, (t + i) * width + (t + j), axis=1)  # [B, T, 2L, 2L]
    kernel = tf.constant(checkerboard_kernel(kernel_frames))
    novelty = tf.einsum("btij,ij->bt", patches, kernel)
    return tf.maximum(novelty, 0.0) / kernel_mass(kernel_frames)


def novelty_from_features(unit_frames: tf.Tensor, kernel_frames: int) -> tf.Tensor:
    """The same Foote novelty as :func:`novelty_curve`, computed from unit-norm frames.

    With ``S = X X^T`` and ``K = a a^T``, ``N(t) = ||sum_i a(i) x_{t+i}||^2``: one
    ``2L x 1`` convolution over time (shared by every feature dimension) and a squared
    norm; no ``[steps, steps]`` tensor is built. Frames are mirrored at both ends.

    Args:
      unit_frames: float32 ``[batch, steps, dims]`` with unit-norm (or zero) rows, e.g. from
        :func:`smooth_and_standardise`.
      kernel_frames: half-width ``L`` of the kernel, in steps.

    Returns:
      float32 ``[batch, steps]`` novelty in [0, 1]: the raw correlation divided by the
      kernel mass ``sum |K|`` (the largest value unit rows can reach). Between two
      homogeneous sections whose mean directions have cosine ``c`` it peaks at ``(1 - c) / 2``;
      it is ~0 inside a steady section (see ``SegmentParams.min_novelty``).
    """
    unit_frames = tf.convert_to_tensor(unit_frames, tf.float32)
    pad = kernel_frames
    # Output t needs inputs t-L .. t+L-1: pad L before and L-1 after, VALID conv -> T outputs.
    padded = _mirror_pad(unit_frames, 1, pad, pad - 1)
    taper = checkerboard_taper(kernel_frames)
    # conv2d is a correlation: out[t] = sum_k w[k] * in[t+k], in[t+k] = x[t-L+k], w[k] = a(k-L).
    filt = tf.constant(taper.reshape(2 * pad, 1, 1, 1))
    conv = tf.nn.conv2d(padded[..., None], filt, strides=1, padding="VALID")  # [B, T, D, 1]
    novelty = tf.reduce_sum(tf.square(conv[..., 0]), axis=-1)
    return novelty / kernel_mass(kernel_frames)


def _max_pool_1d(values: tf.Tensor, window: int) -> tf.Tensor:
    """Sliding maximum over ``window`` steps, 'SAME' padding: float32 [B, T] -> [B, T]."""
    return tf.nn.max_pool1d(values[..., None], ksize=window, strides=1, padding="SAME")[..., 0]


def pick_peaks(novelty: tf.Tensor, min_steps: int, threshold: float,
               min_novelty: float = 0.0) -> tf.Tensor:
    """Boundary flags from a novelty curve.

    A step ``t`` is a boundary when its novelty is the maximum within ``±min_steps`` steps,
    exceeds ``mean + threshold * std`` (per-clip statistics over the steps where a boundary
    is allowed) and ``min_novelty`` (absolute), and ``min_steps <= t <= steps - min_steps``
    (so the first and last segments are long enough). Among equal maxima closer than ``min_steps + 1`` (plateaus) only the first
    fires, so kept boundaries are always more than ``min_steps`` apart.

    Args:
      novelty: float32 ``[batch, steps]``.
      min_steps: shortest segment, in steps.
      threshold: in standard deviations above the clip's mean novelty.
      min_novelty: absolute floor, same units as ``novelty``.

    Returns:
      bool ``[batch, steps]``; never true at step 0.
    """
    novelty = tf.convert_to_tensor(novelty, tf.float32)
    size = tf.shape(novelty)[1]
    t = tf.range(size, dtype=tf.int32)[None, :]
    allowed = tf.logical_and(t >= min_steps, t <= size - min_steps)
    allowed_f = tf.cast(allowed, tf.float32)
    count = tf.maximum(tf.reduce_sum(allowed_f, axis=1, keepdims=True), 1.0)
    mean = tf.reduce_sum(novelty * allowed_f, axis=1, keepdims=True) / count
    var = tf.reduce_sum(tf.square(novelty - mean) * allowed_f, axis=1, keepdims=True) / count
    level = tf.maximum(mean + threshold * tf.sqrt(var), min_novelty)

    local_max = novelty >= _max_pool_1d(novelty, 2 * min_steps + 1)
    candidate = tf.logical_and(tf.logical_and(local_max, novelty > level), allowed)
    # Suppress a candidate if another one lies in [t - min_steps, t - 1]; such neighbours can
    # only be equal maxima (each is the maximum of a window holding the other).
    cand_f = tf.cast(candidate, tf.float32)
    shifted = tf.pad(cand_f, [[0, 0], [min_steps, 0]])[:, :-1]  # [B, T + m - 1]
    earlier = tf.nn.max_pool1d(shifted[..., None], ksize=min_steps, strides=1,
                               padding="VALID")[..., 0]  # covers cand[t-m .. t-1]
    return tf.logical_and(candidate, earlier < 0.5)


def ids_from_flags(flags: tf.Tensor) -> tf.Tensor:
    """Segment ids from boundary flags: int32 ``[B, T]`` = cumsum of flags (flag 0 ignored)."""
    flags = tf.cast(flags, tf.int32)
    flags = tf.concat([tf.zeros_like(flags[:, :1]), flags[:, 1:]], axis=1)
    return tf.cumsum(flags, axis=1)


def split_long_segments(segment_ids: tf.Tensor, max_steps: int) -> tf.Tensor:
    """Split every segment longer than ``max_steps`` into equal parts.

    A segment of ``n_t`` steps becomes ``p = ceil(n_t / max_steps)`` parts; step ``t`` at
    offset ``o`` from its segment start goes to part ``floor(o * p / n_t)``, so part lengths
    are ``floor`` or ``ceil`` of ``n_t / p``: never above ``max_steps`` and always above
    ``max_steps / 2`` (hence >= the minimum when ``max_steps >= 2 * min_steps``). Splitting
    into ``ceil(n_t / p)``-long chunks instead could leave a tiny last part (10 -> 3,3,3,1).

    Segment starts and lengths come from ``[B, T, T]`` id comparisons (no loops; 205k
    comparisons per 29 s clip).

    Args:
      segment_ids: int32 ``[batch, steps]``, non-decreasing from 0 with no gaps.
      max_steps: longest allowed segment, in steps.

    Returns:
      int32 ``[batch, steps]`` ids, non-decreasing from 0 with no gaps.
    """
    ids = tf.convert_to_tensor(segment_ids, tf.int32)
    row = ids[:, :, None]
    col = ids[:, None, :]
    length = tf.reduce_sum(tf.cast(tf.equal(row, col), tf.int32), axis=2)  # [B, T]
    start = tf.reduce_sum(tf.cast(col < row, tf.int32), axis=2)  # steps before my segment
    t = tf.range(tf.shape(ids)[1], dtype=tf.int32)[None, :]
    parts = (length + (max_steps - 1)) // max_steps
    part = ((t - start) * parts) // tf.maximum(length, 1)
    changed = tf.logical_or(tf.not_equal(ids[:, 1:], ids[:, :-1]),
                            tf.not_equal(part[:, 1:], part[:, :-1]))
    flags = tf.concat([tf.zeros_like(ids[:, :1], tf.bool), changed], axis=1)
    return ids_from_flags(flags)


def boundary_flags_from_features(frames: tf.Tensor, audio_params: AudioParams,
                                 segment_params: SegmentParams) -> tf.Tensor:
    """Novelty-peak boundary flags, before the maximum-duration split.

    Args:
      frames: float32 ``[batch, frames, dims]`` log-mel (or other) frames at
        ``audio_params.frame_rate_hz``.

    Returns:
      bool ``[batch, steps]``, ``steps = max(1, frames // smooth_frames)``; true where a new
      segment starts (never at step 0).
    """
    unit = smooth_and_standardise(frames, segment_params.smooth_frames)
    novelty = novelty_from_features(unit, kernel_steps(audio_params, segment_params))
    return pick_peaks(novelty, min_segment_steps(audio_params, segment_params),
                      segment_params.peak_threshold, segment_params.min_novelty)


def segment_ids_from_features(frames: tf.Tensor, audio_params: AudioParams,
                              segment_params: SegmentParams) -> Tuple[tf.Tensor, tf.Tensor]:
    """Adaptive segmentation of frame features.

    Smooth + standardise -> cosine SSM novelty (Foote kernel, half-width
    ``kernel_seconds``) -> peaks at least ``min_segment_seconds`` apart and from the clip
    ends -> segments longer than ``max_segment_seconds`` split into equal parts.

    Args:
      frames: float ``[batch, frames, dims]`` at ``audio_params.frame_rate_hz`` (cast to
        float32; no gradient flows through segmentation decisions anyway).
      audio_params: gives the frame rate.
      segment_params: kernel width, duration limits, threshold, smoothing.

    Returns:
      ``segment_ids``: int32 ``[batch, steps]``, ``steps = max(1, frames // smooth_frames)``,
      non-decreasing, starting at 0, consecutive (no gaps).
      ``num_segments``: int32 ``[batch]``, last id + 1.
    """
    flags = boundary_flags_from_features(frames, audio_params, segment_params)
    ids = split_long_segments(ids_from_flags(flags), max_segment_steps(audio_params, segment_params))
    num = ids[:, -1] + 1
    return ids, num


def segment_pooling_weights(segment_ids: tf.Tensor, max_segments: int) -> Tuple[tf.Tensor, tf.Tensor]:
    """Mean-pooling weights for segments.

    Args:
      segment_ids: int ``[batch, steps]`` in ``[0, max_segments)`` (ids >= max_segments are
        dropped, i.e. get zero weight).
      max_segments: K, a static Python int.

    Returns:
      ``weights``: float32 ``[batch, K, steps]``; row k is ``1/n_k`` on the ``n_k`` steps of
      segment k, so ``weights @ features`` is the per-segment mean; all-zero for empty k.
      ``mask``: bool ``[batch, K]``, true where segment k has at least one step.
    """
    onehot = tf.one_hot(tf.cast(segment_ids, tf.int32), max_segments, dtype=tf.float32)  # [B, T, K]
    onehot = tf.transpose(onehot, [0, 2, 1])  # [B, K, T]
    counts = tf.reduce_sum(onehot, axis=2, keepdims=True)  # [B, K, 1]
    weights = onehot / tf.maximum(counts, 1.0)
    return weights, counts[..., 0] > 0.5


def map_ids_to_steps(segment_ids: tf.Tensor, num_model_steps, smooth_frames: int,
                     frames_per_step: int) -> tf.Tensor:
    """Resample segment ids to another frame rate by nearest index, then renumber.

    Model step k covers log-mel frames ``[k * fps, (k + 1) * fps)``; it takes the id of
    the smoothed step holding its centre frame, ``floor((k + 0.5) * fps / smooth)``,
    clipped to the last step. Ids are then renumbered consecutively (a segment shorter
    than one model step can disappear at a coarser rate; no gaps are left).

    Args:
      segment_ids: int32 ``[batch, steps]`` (smoothed rate).
      num_model_steps: T_model (int or scalar tensor).
      smooth_frames, frames_per_step: log-mel frames per smoothed / per model step.

    Returns:
      int32 ``[batch, T_model]``, non-decreasing from 0 with no gaps.
    """
    steps = tf.shape(segment_ids)[1]
    k = tf.range(num_model_steps, dtype=tf.int32)
    src = (2 * k + 1) * frames_per_step // (2 * smooth_frames)
    src = tf.clip_by_value(src, 0, tf.maximum(steps - 1, 0))
    mapped = tf.gather(segment_ids, src, axis=1)
    changed = tf.not_equal(mapped[:, 1:], mapped[:, :-1])
    flags = tf.concat([tf.zeros_like(mapped[:, :1], tf.bool), changed], axis=1)
    return ids_from_flags(flags)


# ----------------------------------------------------------------------------------------
# NumPy conveniences for the offline builder
# ----------------------------------------------------------------------------------------

_TRACED = {}


def _segment_fn(audio_params: AudioParams, segment_params: SegmentParams):
    """One traced tf.function per (params), shape-relaxed so clip lengths don't retrace."""
    key = (audio_params, segment_params)
    fn = _TRACED.get(key)
    if fn is None:
        @tf.function(input_signature=[tf.TensorSpec([1, None, None], tf.float32)],
                     reduce_retracing=True)
        def fn(frames):
            ids, _ = segment_ids_from_features(frames, audio_params, segment_params)
            return ids[0]
        _TRACED[key] = fn
    return fn


def boundaries_from_ids(segment_ids: np.ndarray, audio_params: AudioParams,
                        segment_params: SegmentParams) -> np.ndarray:
    """Segment start times, float32 seconds ``[num_segments]`` (first 0.0), from ids ``[steps]``."""
    ids = np.asarray(segment_ids)
    starts = np.concatenate([[0], np.flatnonzero(np.diff(ids) != 0) + 1]) if ids.size else np.zeros(1)
    return (starts / steps_per_second(audio_params, segment_params)).astype(np.float32)


def find_segments(log_mel: np.ndarray, audio_params: Optional[AudioParams] = None,
                  segment_params: Optional[SegmentParams] = None) -> np.ndarray:
    """Adaptive segment boundaries of one clip.

    Args:
      log_mel: float ``[frames, n_mels]`` at ``audio_params.frame_rate_hz``.

    Returns:
      float32 ``[num_segments]``: segment start times in seconds, ascending, first 0.0.
      Boundaries sit on the smoothed grid (``smooth_frames / frame_rate_hz`` = 64 ms).

    Raises:
      ValueError: ``log_mel`` is not 2-D.
    """
    audio_params = audio_params or AudioParams()
    segment_params = segment_params or SegmentParams()
    log_mel = np.asarray(log_mel, dtype=np.float32)
    if log_mel.ndim != 2:
        raise ValueError(f"log_mel must be [frames, n_mels], got shape {log_mel.shape}")
    if log_mel.shape[0] < segment_params.smooth_frames:
        return np.zeros(1, np.float32)
    ids = _segment_fn(audio_params, segment_params)(tf.constant(log_mel[None])).numpy()
    return boundaries_from_ids(ids, audio_params, segment_params)


def segment_waveform(waveform: np.ndarray, audio_params: Optional[AudioParams] = None,
                     segment_params: Optional[SegmentParams] = None) -> np.ndarray:
    """Adaptive segment boundaries of a mono waveform.

    Args:
      waveform: float ``[samples]`` at ``audio_params.sample_rate`` Hz.

    Returns:
      float32 ``[num_segments]`` segment start times in seconds (first 0.0); see
      :func:`find_segments`.
    """
    from musictag_tf.audio.features import compute_log_mel  # lazy: features may be heavy

    audio_params = audio_params or AudioParams()
    log_mel = compute_log_mel(np.asarray(waveform, dtype=np.float32), audio_params)
    return find_segments(log_mel, audio_params, segment_params)


# ----------------------------------------------------------------------------------------
# Keras layer
# ----------------------------------------------------------------------------------------

@keras.saving.register_keras_serializable(package="musictag")
class AdaptiveSegmentPooling(keras.layers.Layer):
    """Mean-pool model frame features within adaptive segments found on the log-mel.

    Inputs ``[frame_features, log_mel]``:
      frame_features: float ``[batch, T_model, C]``, one step per ``frames_per_step``
        log-mel frames (``ModelParams.time_downsample``).
      log_mel: float32 ``[batch, frames, n_mels]`` at ``audio_params.frame_rate_hz``.

    Outputs ``[segment_vectors, segment_mask]``:
      segment_vectors: ``[batch, K, C]`` in the features' dtype, the mean of the frame
        features of each segment (zeros for unused slots).
      segment_mask: bool ``[batch, K]``, true for used slots; valid slots come first.

    ``K = segment_params.max_segments(chunk_seconds)`` (or ``max_segments``) is fixed at
    construction, so output shapes are static. Segmentation runs in float32 without
    gradients (``autocast=False`` keeps the log-mel in float32 under mixed precision).
    Ids beyond ``K - 1`` (only possible when the input is longer than ``chunk_seconds``)
    merge into the last slot.
    """

    def __init__(self, audio_params=None, segment_params=None, frames_per_step: Optional[int] = None,
                 chunk_seconds: Optional[float] = None, max_segments: Optional[int] = None, **kwargs):
        kwargs.setdefault("autocast", False)
        super().__init__(**kwargs)
        if isinstance(audio_params, dict):
            audio_params = from_dict(AudioParams, audio_params)
        if isinstance(segment_params, dict):
            segment_params = from_dict(SegmentParams, segment_params)
        self.audio_params = audio_params or AudioParams()
        self.segment_params = segment_params or SegmentParams()
        self.frames_per_step = int(frames_per_step or ModelParams().time_downsample)
        if max_segments is None:
            chunk = ModelParams().chunk_seconds if chunk_seconds is None else chunk_seconds
            max_segments = self.segment_params.max_segments(chunk)
        if int(max_segments) < 1 or self.frames_per_step < 1:
            raise ValueError(f"max_segments and frames_per_step must be >= 1, got "
                             f"{max_segments}, {self.frames_per_step}")
        self.chunk_seconds = chunk_seconds
        self.max_segments = int(max_segments)

    def segment_ids(self, log_mel, num_model_steps):
        """int32 ``[batch, T_model]`` segment ids (clipped to K-1) from float32 log-mel."""
        log_mel = tf.stop_gradient(tf.cast(log_mel, tf.float32))
        ids, _ = segment_ids_from_features(log_mel, self.audio_params, self.segment_params)
        ids = map_ids_to_steps(ids, num_model_steps, self.segment_params.smooth_frames,
                               self.frames_per_step)
        return tf.minimum(ids, self.max_segments - 1)

    def call(self, inputs):
        features, log_mel = inputs
        features = tf.cast(features, self.compute_dtype)
        num_steps = features.shape[1] if features.shape[1] is not None else tf.shape(features)[1]
        ids = self.segment_ids(log_mel, num_steps)
        weights, mask = segment_pooling_weights(ids, self.max_segments)
        vectors = tf.matmul(tf.cast(weights, features.dtype), features)
        return [vectors, mask]

    def compute_output_shape(self, input_shape):
        features_shape = input_shape[0]
        return [(features_shape[0], self.max_segments, features_shape[2]),
                (features_shape[0], self.max_segments)]

    def compute_output_spec(self, inputs):
        features = inputs[0]
        batch, _, channels = features.shape
        return [keras.KerasTensor((batch, self.max_segments, channels), dtype=self.compute_dtype),
                keras.KerasTensor((batch, self.max_segments), dtype="bool")]

    def get_config(self):
        config = super().get_config()
        config.update({
            "audio_params": to_dict(self.audio_params),
            "segment_params": to_dict(self.segment_params),
            "frames_per_step": self.frames_per_step,
            "chunk_seconds": self.chunk_seconds,
            "max_segments": self.max_segments,
        })
        return config
