"""Decode audio files to float32 mono waveforms, judge their quality, and write them.

Every waveform in musictag is ``float32 [samples]`` at ``AudioParams.sample_rate`` Hz
(16 kHz), nominally in [-1, 1]. Files are read as bytes through ``tf.io.gfile.GFile`` (so
``gs://`` and other TF file systems work) and decoded with libsndfile via ``soundfile``
from memory; libsndfile 1.2.2 decodes mp3, ogg/vorbis, wav (int16/int24/int32/float) and
flac at any sample rate and channel count.

Resampling uses ``soxr`` in its "HQ" mode. That is exactly what ``librosa.load`` uses by
default in librosa 0.11 (``res_type="soxr_hq"``), which the MTAT literature used to make
16 kHz inputs, so our waveforms match the ones published models were trained on; it is a
band-limited (linear-phase, ~-100 dB stop band) resampler written in C, and much faster
than librosa's other high-quality options.

How libsndfile fails (measured with libsndfile 1.2.2, see tests/test_audio_io.py):

* empty data, random bytes, text renamed ``.mp3``/``.wav``: the open fails ("Format not
  recognised", or a malformed-header message) -> ``AudioDecodeError`` "not an audio file
  or unsupported format: ...". Empty input is caught before decoding: "empty file (0 bytes)".
* an mp3 cut short: libmpg123 decodes the frames that are there and stops **without an
  error**. When the mp3 has a Xing/Info header (every mp3 libsndfile/LAME writes, and the
  JamendoLyrics songs) the header states the true length, so we compare it with what was
  decoded and raise "truncated or corrupt audio" when more than
  ``TRUNCATION_TOLERANCE`` of it is missing. A constant-bitrate mp3 *without* such a
  header (the MTAT clips) declares a length estimated from the file size, which shrinks
  with the file, so libsndfile decodes a truncated MTAT mp3 silently to fewer samples. Its
  frame headers still tell (``mp3_frames``): a cut at a random byte leaves the last frame
  incomplete -> "truncated: the mp3 ends inside a frame". A cut exactly on a frame boundary
  cannot be told from a shorter file. (Frames lost mid-file are caught by the check above:
  for these files libsndfile's declared length is the size x 8 / bitrate estimate.)
* a corrupted mp3 body: depending on the bytes, libmpg123 either gives up mid-stream
  ("Unspecified internal error" -> "truncated or corrupt audio") or resynchronises and
  returns fewer samples (caught by the header check above when there is a Xing header).
  libmpg123 prints "Note: ..." lines to stderr itself in that case; they are harmless.
* wav/ogg cut short: libsndfile clamps the declared length to the data present and decodes
  it silently (fewer samples, no error).
"""

from __future__ import annotations

import dataclasses
import io
import math
import os
import pathlib
import tempfile

import numpy as np
import soundfile as sf
import soxr
import tensorflow as tf

from musictag_tf.audio import mp3_frames
from musictag_tf.errors import AudioDecodeError

# A waveform whose peak is below this level (dBFS, 0 dBFS = full scale 1.0) is silence.
SILENCE_PEAK_DBFS = -60.0
# Samples with |x| at or above this are counted as clipped.
CLIP_LEVEL = 0.999
# More than this fraction of clipped samples makes check_audio_usable warn.
MAX_CLIPPED_FRACTION = 0.01
# Audio shorter than this (seconds) is rejected: it gives fewer than ~7 log-mel frames.
MIN_DURATION_SECONDS = 0.1
# An mp3 whose Xing header declares more frames than decoded by more than this fraction
# (and more than TRUNCATION_SLACK_FRAMES) is reported as truncated. A complete file decodes
# within encoder delay + padding (< 2,400 frames, ~0.5% of a 29 s MTAT clip) of its header.
TRUNCATION_TOLERANCE = 0.05
TRUNCATION_SLACK_FRAMES = 4 * 1152  # four mp3 frames of 1,152 samples
# soxr quality for resampling; "HQ" == librosa.load's default res_type "soxr_hq".
RESAMPLE_QUALITY = "HQ"

# write_audio: soundfile format and default subtype for each extension.
_WRITE_FORMATS = {
    ".wav": ("WAV", "PCM_16"),
    ".flac": ("FLAC", "PCM_16"),
    ".ogg": ("OGG", "VORBIS"),
    ".mp3": ("MP3", "MPEG_LAYER_III"),
}


def _read_bytes(path) -> bytes:
    """All bytes of ``path`` (local or any tf.io.gfile file system)."""
    path = os.fspath(path)
    try:
        if not tf.io.gfile.exists(path):
            raise AudioDecodeError(path, "file not found")
        if tf.io.gfile.isdir(path):
            raise AudioDecodeError(path, "is a directory, not an audio file")
        with tf.io.gfile.GFile(path, "rb") as f:
            return f.read()
    except AudioDecodeError:
        raise
    except (tf.errors.OpError, OSError) as e:
        raise AudioDecodeError(path, f"cannot read file: {e}") from e


def _libsndfile_message(error: Exception) -> str:
    """libsndfile's own message, without soundfile's "Error opening <BytesIO ...>:" prefix."""
    message = getattr(error, "error_string", None) or str(error)
    return message.strip()


def _decode(data: bytes, source_name: str, max_seconds: float | None) -> tuple[np.ndarray, int]:
    """Decode ``data`` to float32 [samples, channels] at the file's own rate."""
    if len(data) == 0:
        raise AudioDecodeError(source_name, "empty file (0 bytes)")
    try:
        sound = sf.SoundFile(io.BytesIO(data))
    except (sf.LibsndfileError, RuntimeError, TypeError) as e:
        raise AudioDecodeError(
            source_name, f"not an audio file or unsupported format: {_libsndfile_message(e)}") from e
    with sound:
        file_rate = sound.samplerate
        declared_frames = sound.frames
        wanted = -1
        if max_seconds is not None:
            if max_seconds <= 0:
                raise ValueError(f"max_seconds must be positive, got {max_seconds}")
            wanted = int(math.ceil(max_seconds * file_rate))
        try:
            samples = sound.read(frames=wanted, dtype="float32", always_2d=True)
        except (sf.LibsndfileError, RuntimeError) as e:
            raise AudioDecodeError(
                source_name, f"truncated or corrupt audio: decoding failed: {_libsndfile_message(e)}") from e
        fmt = sound.format
    decoded = samples.shape[0]
    if decoded == 0:
        raise AudioDecodeError(source_name, "no audio samples decoded (header without audio data)")
    expected = declared_frames if wanted < 0 else min(declared_frames, wanted)
    missing = expected - decoded
    if fmt == "MP3" and missing > max(TRUNCATION_TOLERANCE * expected, TRUNCATION_SLACK_FRAMES):
        raise AudioDecodeError(
            source_name,
            f"truncated or corrupt audio: decoded {decoded} of the {expected} samples the mp3 "
            f"header declares ({decoded / file_rate:.2f} s of {expected / file_rate:.2f} s)")
    if fmt == "MP3" and (wanted < 0 or decoded < wanted):  # the whole file was decoded
        layout = mp3_frames.cbr_layout_without_length_header(io.BytesIO(data), len(data))
        if layout is not None:
            mp3_frames.check_last_frame(layout, source_name, decoded / file_rate)
    if not np.all(np.isfinite(samples)):
        raise AudioDecodeError(source_name, "corrupt audio: decoded samples contain NaN or infinity")
    return samples, file_rate


def downmix(samples: np.ndarray) -> np.ndarray:
    """float32 [samples, channels] -> float32 [samples]: the mean of the channels (THE rule).

    Stereo (nearly every file) is ``(left + right) * 0.5``: bit-identical to
    ``samples.mean(axis=1, dtype=np.float32)`` (one float32 addition, then an exact halving), and
    ~10x faster, because NumPy's mean over the short, strided channel axis of a [n, 2] array is
    slow (~26 ms for a 29.1 s 44.1 kHz clip, two thirds of its vorbis decode time; BUILD_NOTES.md).
    Other channel counts use that mean. Mono is returned as is (a view).
    """
    channels = samples.shape[1]
    if channels == 1:
        return samples[:, 0]
    if channels == 2:
        mono = samples[:, 0] + samples[:, 1]
        mono *= np.float32(0.5)
        return mono
    return samples.mean(axis=1, dtype=np.float32)


def _to_mono_resampled(samples: np.ndarray, file_rate: int, sample_rate: int) -> np.ndarray:
    """float32 [samples, channels] at ``file_rate`` -> float32 [samples'] at ``sample_rate``."""
    return resample(downmix(samples), file_rate, sample_rate)


def resample(mono: np.ndarray, file_rate: int, sample_rate: int) -> np.ndarray:
    """float32 [n] at ``file_rate`` -> float32 [ceil(n * sample_rate / file_rate)] (soxr HQ, THE rule)."""
    if file_rate != sample_rate:
        target = int(math.ceil(mono.shape[0] * sample_rate / file_rate))  # as librosa.resample
        mono = soxr.resample(mono, file_rate, sample_rate, quality=RESAMPLE_QUALITY)
        if mono.shape[0] > target:
            mono = mono[:target]
        elif mono.shape[0] < target:
            mono = np.pad(mono, (0, target - mono.shape[0]))
    return np.ascontiguousarray(mono, dtype=np.float32)


def load_audio_bytes(data: bytes, source_name: str, sample_rate: int = 16000, *,
                     max_seconds: float | None = None) -> np.ndarray:
    """Decode encoded audio ``data`` to a float32 mono waveform.

    Args:
      data: the bytes of an mp3/ogg/wav/flac file.
      source_name: the file name used in error messages.
      sample_rate: output rate, Hz.
      max_seconds: decode at most this many seconds from the start (cheap for long songs).

    Returns:
      float32 [samples] at ``sample_rate`` Hz, the mean of the channels, ~[-1, 1].

    Raises:
      AudioDecodeError: empty, not audio, truncated/corrupt (see the module docstring for
        what libsndfile can and cannot detect), or zero samples decoded.
    """
    if sample_rate <= 0:
        raise ValueError(f"sample_rate must be positive, got {sample_rate}")
    samples, file_rate = _decode(data, source_name, max_seconds)
    return _to_mono_resampled(samples, file_rate, sample_rate)


def load_audio(path, sample_rate: int = 16000, *, max_seconds: float | None = None) -> np.ndarray:
    """Read and decode an audio file to a float32 mono waveform.

    Args:
      path: local path or any ``tf.io.gfile`` URL (``gs://...``).
      sample_rate: output rate, Hz (``AudioParams.sample_rate``).
      max_seconds: decode at most this many seconds from the start.

    Returns:
      float32 [samples] at ``sample_rate`` Hz, mono (mean of channels), ~[-1, 1].

    Raises:
      AudioDecodeError: missing, empty, not audio, truncated or corrupt, or zero samples.
        A constant-bitrate mp3 without a Xing header (e.g. MTAT clips) cut exactly on a
        frame boundary cannot be told from a shorter file.
    """
    return load_audio_bytes(_read_bytes(path), os.fspath(path), sample_rate, max_seconds=max_seconds)


@dataclasses.dataclass(frozen=True)
class AudioQuality:
    """Level statistics of a waveform.

    ``peak_dbfs`` and ``rms_dbfs`` are 20*log10 of the peak |x| and the RMS (full scale 1.0
    = 0 dBFS; -inf for digital silence). ``clipped_fraction`` is the share of samples with
    |x| >= ``CLIP_LEVEL``. ``is_silent`` means peak < ``SILENCE_PEAK_DBFS``.
    """

    num_samples: int
    duration_seconds: float
    peak_dbfs: float
    rms_dbfs: float
    clipped_fraction: float
    is_silent: bool
    # The mean (DC offset) and the peak |x - mean| in dBFS: a constant non-zero level has a
    # high peak_dbfs but no signal; ac_peak_dbfs tells the two apart.
    dc_offset: float = 0.0
    ac_peak_dbfs: float = -math.inf

    @property
    def is_dc_only(self) -> bool:
        """No signal besides a constant level: the peak after removing the mean is silence."""
        return self.ac_peak_dbfs < SILENCE_PEAK_DBFS


def _dbfs(amplitude: float) -> float:
    return 20.0 * math.log10(amplitude) if amplitude > 0 else -math.inf


def _float32_at_least(level: float) -> np.float32:
    """The smallest float32 >= ``level``: for float32 x, ``x >= it`` iff ``float(x) >= level``."""
    value = np.float32(level)
    return value if float(value) >= level else np.nextafter(value, np.float32(np.inf))


_CLIP_LEVEL_F32 = _float32_at_least(CLIP_LEVEL)


def assess_audio(waveform: np.ndarray, sample_rate: int) -> AudioQuality:
    """Level statistics of ``waveform``: float [samples] at ``sample_rate`` Hz.

    float32 input (every decoded waveform) takes a faster path with the same result bit for bit:
    the peak and the peak after removing the mean from the float32 extremes (|x - m| is largest
    at the minimum or the maximum, and rounding is monotonic), the clipped count against the
    smallest float32 >= ``CLIP_LEVEL``; squares and means in float64 as before. Other dtypes and
    non-finite input take the float64 path.
    """
    x = np.asarray(waveform).reshape(-1)
    n = x.shape[0]
    if n == 0:
        return AudioQuality(0, 0.0, -math.inf, -math.inf, 0.0, True)
    lo, hi = (float(x.min()), float(x.max())) if x.dtype == np.float32 else (math.nan, math.nan)
    if math.isfinite(lo) and math.isfinite(hi):  # float32 without NaN / inf
        x64 = x.astype(np.float64)
        rms = float(np.sqrt(np.mean(np.square(x64))))  # float32 squares are exact in float64
        clipped = float(np.count_nonzero(x >= _CLIP_LEVEL_F32) + np.count_nonzero(x <= -_CLIP_LEVEL_F32)) / n
        dc = float(np.mean(x64))
        peak, ac_peak = max(-lo, hi), max(hi - dc, dc - lo)
    else:
        x = np.asarray(x, dtype=np.float64)
        peak = float(np.max(np.abs(x)))
        rms = float(np.sqrt(np.mean(x * x)))
        clipped = float(np.count_nonzero(np.abs(x) >= CLIP_LEVEL)) / n
        dc = float(np.mean(x))
        ac_peak = float(np.max(np.abs(x - dc)))
    peak_dbfs = _dbfs(peak)
    return AudioQuality(n, n / sample_rate, peak_dbfs, _dbfs(rms), clipped,
                        peak_dbfs < SILENCE_PEAK_DBFS, dc_offset=dc, ac_peak_dbfs=_dbfs(ac_peak))


def check_audio_usable(waveform: np.ndarray, path, sample_rate: int) -> list[str]:
    """Reject audio a tagger cannot use; return warnings for audio it can.

    Args:
      waveform: float [samples] at ``sample_rate`` Hz.
      path: the file name, for messages.

    Returns:
      Warning strings (clipping above ``MAX_CLIPPED_FRACTION``); empty when clean.

    Raises:
      AudioDecodeError: shorter than ``MIN_DURATION_SECONDS``, or silent (peak below
        ``SILENCE_PEAK_DBFS``), or a constant DC offset with nothing else (peak of
        ``x - mean(x)`` below ``SILENCE_PEAK_DBFS``), or non-finite samples.
    """
    x = np.asarray(waveform).reshape(-1)
    if x.shape[0] and not np.all(np.isfinite(x)):
        raise AudioDecodeError(path, "corrupt audio: samples contain NaN or infinity")
    return check_quality(assess_audio(x, sample_rate), path, sample_rate)


def check_quality(quality: AudioQuality, path, sample_rate: int) -> list[str]:
    """``check_audio_usable`` on level statistics already measured (e.g. block by block while
    streaming, musictag_tf.audio.levels). Same errors and warnings."""
    if quality.duration_seconds < MIN_DURATION_SECONDS:
        raise AudioDecodeError(
            path, f"too short: {quality.duration_seconds:.3f} s ({quality.num_samples} samples at "
                  f"{sample_rate} Hz), minimum {MIN_DURATION_SECONDS} s")
    if quality.is_silent:
        raise AudioDecodeError(
            path, f"silent: peak {quality.peak_dbfs:.1f} dBFS (threshold {SILENCE_PEAK_DBFS:.0f} dBFS)")
    if quality.is_dc_only:
        raise AudioDecodeError(
            path, f"silent: a constant DC offset of {quality.dc_offset:+.4f} and no signal (peak after "
                  f"removing the offset {quality.ac_peak_dbfs:.1f} dBFS, threshold {SILENCE_PEAK_DBFS:.0f} dBFS)")
    warnings = []
    if quality.clipped_fraction > MAX_CLIPPED_FRACTION:
        warnings.append(
            f"{path}: clipped: {100 * quality.clipped_fraction:.1f}% of samples at |x| >= {CLIP_LEVEL} "
            f"(more than {100 * MAX_CLIPPED_FRACTION:.0f}%)")
    return warnings


def write_audio(path, waveform: np.ndarray, sample_rate: int, *, subtype: str | None = None) -> None:
    """Write a waveform to a local file, format chosen by extension, atomically.

    Args:
      path: local path ending in .wav, .flac, .ogg or .mp3; parent folders are created.
      waveform: float [samples] or [samples, channels] in [-1, 1]. For integer and lossy
        formats values outside [-1, 1] are clipped (libsndfile would otherwise wrap them).
      sample_rate: Hz.
      subtype: soundfile subtype; default PCM_16 for wav/flac, VORBIS, MPEG_LAYER_III.

    The file is written to a temporary name in the same folder and moved into place with
    ``os.replace``, so readers never see a half-written file.
    """
    path = pathlib.Path(path)
    suffix = path.suffix.lower()
    if suffix not in _WRITE_FORMATS:
        raise ValueError(f"{path}: cannot write audio with extension {suffix!r}; "
                         f"use one of {sorted(_WRITE_FORMATS)}")
    fmt, default_subtype = _WRITE_FORMATS[suffix]
    subtype = subtype or default_subtype
    data = np.asarray(waveform, dtype=np.float32)
    if data.ndim not in (1, 2) or data.shape[0] == 0:
        raise ValueError(f"{path}: waveform must be [samples] or [samples, channels] with "
                         f"samples > 0, got shape {data.shape}")
    if not np.all(np.isfinite(data)):
        raise ValueError(f"{path}: waveform contains NaN or infinity")
    if subtype not in ("FLOAT", "DOUBLE"):
        data = np.clip(data, -1.0, 1.0)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=f".tmp{suffix}")
    os.close(fd)
    try:
        sf.write(tmp, data, sample_rate, format=fmt, subtype=subtype)
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; audio files are meant to be shared
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
