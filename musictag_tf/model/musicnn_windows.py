"""Cut a whole recording into the windows the pretrained musicnn models tag, as the original does.

musicnn 0.1.0 computes one centred STFT over the whole file (librosa: ``n_fft // 2`` zeros
of padding at each edge, frame ``t`` centred on sample ``t * hop``) and cuts the frame
sequence into non-overlapping patches of ``patch_frames`` frames, dropping the remainder.
Frame ``j`` of patch ``k`` is centred on sample ``(patch_frames * k + j) * hop``, so patch
``k`` needs exactly the samples

    [k * hop_samples - context, k * hop_samples - context + window_samples)

of the file padded with ``context`` zeros in front (48,128 samples every 47,872, context
256 with the default ``MusicnnParams``). An un-centred STFT over such a window gives the
patch's 187 frames, sample for sample the same as the original's. Past the file end the
window reads zeros, which is also what librosa's padding holds.

In the terms of THE windowing rule (musictag_tf.windows) that is
``WindowParams(window_samples=48128 - 2 * 256 = 47616, hop_samples=47872, remainder="drop",
context_samples=256)``: window ``k``'s core starts at ``k * 47872`` and it reads 256 samples
either side; a core fits while ``k * 47872 + 47616 <= samples``, which is exactly
musicnn's ``(1 + samples // 256) // 187`` patches. A file shorter than one patch (musicnn tags
nothing) gives one window, zero-padded. ``window_params(hop_samples=...)`` changes the hop only.
"""

from __future__ import annotations

from typing import Optional

import numpy as np

from musictag_tf import windows as windows_lib
from musictag_tf.params import MusicnnParams


def window_params(params: MusicnnParams = MusicnnParams(),
                  hop_samples: Optional[int] = None) -> windows_lib.WindowParams:
    """The musicnn windows as a ``WindowParams`` (hop: the original's 47,872 unless given)."""
    context = params.context_samples
    return windows_lib.WindowParams(window_samples=params.window_samples - 2 * context,
                                    hop_samples=int(hop_samples or params.hop_samples),
                                    remainder="drop", context_samples=context)


def num_patches(num_samples: int, params: MusicnnParams = MusicnnParams()) -> int:
    """Patches musicnn 0.1.0 tags in a file of ``num_samples`` samples (remainder dropped).

    librosa's centred STFT gives ``1 + num_samples // hop`` frames; the original takes
    ``range(0, frames - patch_frames + 1, patch_frames)``, i.e. ``frames // patch_frames``.
    0 for files shorter than one patch.
    """
    if num_samples < 0:
        raise ValueError(f"num_samples must be >= 0, got {num_samples}")
    frames = 1 + num_samples // params.audio_params().hop_samples
    return frames // params.patch_frames


def window_starts(num_samples: int, params: MusicnnParams = MusicnnParams()) -> np.ndarray:
    """int64 [windows]: first sample each window reads (negative = before the file).

    One window (start ``-context``) when the file is shorter than one patch.
    """
    wp = window_params(params)
    return windows_lib.window_starts(num_samples, wp) - wp.context_samples


def musicnn_windows(waveform: np.ndarray, params: MusicnnParams = MusicnnParams(),
                    hop_samples: Optional[int] = None) -> np.ndarray:
    """Windows of a whole recording, ready for the model.

    Args:
      waveform: float [samples] at 16 kHz (``musictag_tf.audio.io.load_audio``).
      params: the model's params (window/hop/context sizes).
      hop_samples: samples between windows (default: the original's, no overlap).

    Returns:
      float32 [max(1, num_patches), window_samples]: window ``k`` holds the file's samples
      ``[k * hop - context, k * hop - context + window)``, zeros outside the file.
    """
    x = np.asarray(waveform, dtype=np.float32)
    if x.ndim != 1:
        raise ValueError(f"waveform must be [samples], got shape {x.shape}")
    return windows_lib.split_windows(x, window_params(params, hop_samples))[0]
