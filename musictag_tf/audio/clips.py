"""Long recordings -> MTAT-like clips: the span rule, the clip id and span decoding.

One rule, used by the builder (``--clip_seconds``) and the tagger (``musictag tag
--clip_seconds``), so a teacher's per-clip CSV rows and the records name the same clips:

* a file of ``D`` seconds gives the clips ``[k·c, min((k+1)·c, D))`` for ``k = 0, 1, ...``
  with ``c = ClipParams.clip_seconds`` (non-overlapping, as MTAT's 29.1 s clips were cut);
* the last, shorter clip (the remainder) is dropped, unless ``keep_remainder`` and it lasts
  at least ``min_remainder_seconds``; a file shorter than ``c`` gives one clip (the whole
  file) when the remainder is kept, none otherwise;
* a clip is named ``<base>#<start>`` with the start in seconds and two decimals
  (``clip_key``): ``base`` is the record's clip id in the builder and the file path in the
  tagger's CSV.

Durations come from the file header (``soundfile.info``: frames / rate), so planning a
collection reads no audio. ``read_span`` decodes only the clip's span: libsndfile seeks
(ogg/vorbis and flac by bisection, wav directly, mp3 by frame), reads ``[start - margin,
end + margin)`` at the file's rate and resamples it; the margin (about ``SPAN_MARGIN_SECONDS``,
rounded to a whole resampling period so the output samples fall on the same grid as a
whole-file decode) lets the resampler's filter settle, so the span equals the same samples of
``load_audio`` to ~1e-4 (tests/test_clips_builder.py).
"""

from __future__ import annotations

import dataclasses
import io
import math
import os
from typing import List, Tuple

import numpy as np

from musictag_tf.audio.stages import NO_CLOCK
from musictag_tf.errors import AudioDecodeError
from musictag_tf.params import ConfigError

SPAN_MARGIN_SECONDS = 0.05  # decoded before and after a span for the resampler's filter


@dataclasses.dataclass(frozen=True)
class ClipParams:
    """How long recordings are cut into clips (0 s = off: one record per file).

    clip_seconds: clip length, s (MTAT: 29.1).
    keep_remainder: keep the last, shorter clip of a file.
    min_remainder_seconds: a kept remainder must last at least this long, s.
    """

    clip_seconds: float = 0.0
    keep_remainder: bool = False
    min_remainder_seconds: float = 5.0

    def __post_init__(self):
        if not (self.clip_seconds >= 0 and math.isfinite(self.clip_seconds)):
            raise ConfigError(f"clip_seconds must be >= 0 (0 = whole files), got {self.clip_seconds}")
        if self.clip_seconds and self.clip_seconds < 1.0:
            raise ConfigError(f"clip_seconds must be 0 or >= 1 s, got {self.clip_seconds}")
        if not self.min_remainder_seconds >= 0:
            raise ConfigError(f"min_remainder_seconds must be >= 0, got {self.min_remainder_seconds}")

    @property
    def enabled(self) -> bool:
        return self.clip_seconds > 0


def clip_spans(duration_seconds: float, params: ClipParams) -> List[Tuple[float, float]]:
    """[(start s, length s)] of the clips of a file lasting ``duration_seconds`` (module rule)."""
    c = params.clip_seconds
    if c <= 0:
        raise ValueError("clip_spans needs ClipParams.clip_seconds > 0")
    full = int(math.floor(duration_seconds / c + 1e-9))
    spans = [(round(k * c, 6), c) for k in range(full)]
    rest = duration_seconds - full * c
    if params.keep_remainder and rest > 1e-6 and rest >= params.min_remainder_seconds:
        spans.append((round(full * c, 6), rest))
    return spans


def clip_key(base: str, start_seconds: float) -> str:
    """``<base>#<start, 2 decimals>``: the id of a clip in records and teacher tables."""
    return f"{base}#{start_seconds:.2f}"


def split_clip_key(key: str) -> Tuple[str, float | None]:
    """(base, start s) of ``<base>#<start>``; (key, None) when ``key`` names a whole file."""
    base, sep, start = key.rpartition("#")
    if sep:
        try:
            return base, round(float(start), 2)
        except ValueError:
            pass
    return key, None


def _is_url(path: str) -> bool:
    return "://" in path


def _open(path: str):
    import soundfile as sf

    try:
        if _is_url(path):
            from musictag_tf.audio.io import _read_bytes

            return sf.SoundFile(io.BytesIO(_read_bytes(path)))
        if not os.path.exists(path):
            raise AudioDecodeError(path, "file not found")
        return sf.SoundFile(path)
    except (sf.LibsndfileError, RuntimeError, TypeError) as exc:
        raise AudioDecodeError(path, f"not an audio file or unsupported format: {exc}") from exc


def file_duration(path: str) -> float:
    """Duration from the header (frames / rate), s. AudioDecodeError if unreadable."""
    with _open(os.fspath(path)) as sound:
        if sound.frames <= 0 or sound.samplerate <= 0:
            raise AudioDecodeError(path, "header declares no audio frames")
        return sound.frames / float(sound.samplerate)


def _margin_frames(file_rate: int, sample_rate: int) -> int:
    """Margin in file frames: a whole number of resampling periods (file_rate / gcd)."""
    period = file_rate // math.gcd(file_rate, sample_rate)
    return max(1, int(math.ceil(SPAN_MARGIN_SECONDS * file_rate / period))) * period


def read_span(path: str, start_seconds: float, seconds: float, sample_rate: int = 16000,
              clock=NO_CLOCK) -> np.ndarray:
    """Decode ``[start, start + seconds)`` of ``path``: float32 mono [samples] at ``sample_rate``.

    The output holds ``round(seconds · sample_rate)`` samples (fewer when the file ends
    earlier). Memory: one span (+ margins) at the file's rate, whatever the file's length.
    ``clock``: a ``musictag_tf.audio.stages.StageClock`` timing open/seek, decode, downmix and
    resample. Raises AudioDecodeError (unreadable, corrupt, nothing decoded, non-finite).
    """
    import soundfile as sf

    from musictag_tf.audio.io import downmix, resample

    path = os.fspath(path)
    with clock("open+seek"):
        sound = _open(path)
    with sound:
        rate = sound.samplerate
        margin = _margin_frames(rate, sample_rate)
        first = int(round(start_seconds * rate))
        before = min(margin, first)
        first -= before
        wanted = int(round(seconds * rate)) + before + margin
        try:
            if first:
                with clock("open+seek"):
                    sound.seek(first)
            with clock("decode"):
                samples = sound.read(frames=wanted, dtype="float32", always_2d=True)
        except (sf.LibsndfileError, RuntimeError) as exc:
            raise AudioDecodeError(path, f"corrupt audio at {start_seconds:.2f} s: {exc}") from exc
    if samples.shape[0] <= before:
        raise AudioDecodeError(path, f"no audio decoded at {start_seconds:.2f} s (file shorter than its header says?)")
    with clock("downmix"):
        if not np.all(np.isfinite(samples)):
            raise AudioDecodeError(path, "corrupt audio: decoded samples contain NaN or infinity")
        mono = downmix(samples)
    del samples
    with clock("resample"):
        mono = resample(mono, rate, sample_rate)
    offset = before * sample_rate // rate  # exact: before is a whole number of periods (or 0)
    count = int(round(seconds * sample_rate))
    return np.ascontiguousarray(mono[offset:offset + count])
