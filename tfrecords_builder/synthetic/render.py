"""Render a ClipSpec to a mono waveform: score -> instrument stems -> mix -> room -> loudness.

``render_clip(spec, rng, sample_rate)`` returns ``float32 [round(spec.seconds * sample_rate)]``
in [-1, 1]. Steps:

1. ``score.make_score`` writes the notes (chords, melody, parts, drum hits).
2. Each playing instrument is synthesised (``instruments.py``) with a brightness set by the
   loudness class (quiet playing is darker), then scaled so its RMS over the time it plays
   sits at its mix level (``MIX_LEVEL_DB``) plus a per-clip random offset of up to
   ``MIX_JITTER_DB`` dB.
   A "harsh" clip (``spec.timbre``, more likely under high stress) gets its pitched
   instruments (not the drums) a 2-4.5 kHz presence boost and 30-60 Hz amplitude
   modulation, the range heard as roughness.
3. A room: the mix is convolved with exponentially decaying noise (longer and wetter for
   ambient and classical).
4. Loudness: "loud" clips are driven into a tanh compressor (higher RMS for the same peak);
   every clip is peak-normalised to its class's level (``PEAK_DBFS``: -5 / -9 / -19 dBFS for
   loud / normal / quiet) +- ``PEAK_JITTER_DB``.
5. A faint hiss at ``NOISE_DBFS`` (tape/room noise), then clipping to [-1, 1].
"""

from __future__ import annotations

import numpy as np
from scipy import signal

from tfrecords_builder.synthetic import instruments
from tfrecords_builder.synthetic.score import make_score

BRIGHTNESS = {"quiet": 0.55, "normal": 0.8, "loud": 1.0}
MIX_LEVEL_DB = {"drums": -2.0, "bass": -6.0, "piano": -4.0, "guitar": -4.0, "strings": -5.0,
                "synth": -5.0, "flute": -5.0, "voice": -1.0}
MIX_JITTER_DB = 3.0
# Peaks leave headroom for mp3: at ~32 kbit/s, coding error lifts the decoded peak of a
# compressed (loud) mix by up to ~2.7 dB (measured over 40 loud clips).
PEAK_DBFS = {"loud": -5.0, "normal": -9.0, "quiet": -19.0}
PEAK_JITTER_DB = 1.0
LOUD_DRIVE_RANGE = (1.5, 2.5)  # tanh drive of the loud-class compressor
ROOM_SECONDS = {"ambient": (0.8, 1.5), "classical": (0.6, 1.2)}  # else (0.2, 0.5)
ROOM_WET = {"ambient": (0.3, 0.45), "classical": (0.25, 0.4)}  # else (0.08, 0.2)
NOISE_DBFS = (-62.0, -50.0)  # RMS of the background hiss
HARSH_PRESENCE_BAND_HZ = (2000.0, 4500.0)  # a harsh mix gets this band of its pitched bus boosted...
HARSH_PRESENCE_GAIN = (0.8, 1.5)  # ... by adding this much of it back (~+5..+8 dB in the band)
HARSH_ROUGHNESS_HZ = (30.0, 60.0)  # ... and amplitude modulation in the roughness range
HARSH_ROUGHNESS_DEPTH = (0.25, 0.45)


def _render_part(name, notes, spec, rng, sr, total, brightness):
    if name == "piano":
        return instruments.piano(notes, rng, sr, total, brightness,
                                 sustain_pedal=spec.genre in ("classical", "ambient"))
    if name == "guitar":
        return instruments.guitar(notes, rng, sr, total, brightness,
                                  distorted=spec.guitar_style == "distorted")
    if name == "strings":
        return instruments.strings(notes, rng, sr, total, brightness)
    if name == "synth":
        return instruments.synth(notes, rng, sr, total, brightness, style=spec.synth_style)
    if name == "flute":
        return instruments.flute(notes, rng, sr, total, brightness)
    if name == "voice":
        return instruments.voice(notes, rng, sr, total, brightness, sex=spec.voice.sex)
    if name == "bass":
        return instruments.bass(notes, rng, sr, total, brightness)
    raise ValueError(f"unknown instrument {name!r}")


def _active_rms(stem: np.ndarray, spans, sr: int) -> float:
    """RMS of ``stem`` over the sections where the instrument plays."""
    parts = [stem[int(a * sr): int(b * sr)] for a, b in spans]
    joined = np.concatenate(parts) if parts else stem
    return float(np.sqrt(np.mean(np.square(joined, dtype=np.float64)) + 1e-12))


def _room(mix: np.ndarray, spec, rng, sr: int) -> np.ndarray:
    low, high = ROOM_SECONDS.get(spec.genre, (0.2, 0.5))
    wet_low, wet_high = ROOM_WET.get(spec.genre, (0.08, 0.2))
    seconds = float(rng.uniform(low, high))
    t = np.arange(int(seconds * sr), dtype=np.float32) / sr
    ir = rng.standard_normal(t.shape[0]).astype(np.float32) * np.exp(-6.9 * t / seconds).astype(np.float32)
    ir /= np.sqrt(np.sum(ir.astype(np.float64) ** 2))
    wet = signal.fftconvolve(mix, ir)[: mix.shape[0]].astype(np.float32)
    amount = float(rng.uniform(wet_low, wet_high))
    return (1.0 - amount) * mix + amount * wet


def _harsh(bus: np.ndarray, rng, sr: int) -> np.ndarray:
    """Presence boost (2-4.5 kHz) and 30-60 Hz amplitude roughness on the pitched instruments."""
    sos = signal.butter(2, HARSH_PRESENCE_BAND_HZ, "bandpass", fs=sr, output="sos")
    bus = bus + np.float32(rng.uniform(*HARSH_PRESENCE_GAIN)) * signal.sosfilt(sos, bus).astype(np.float32)
    t = np.arange(bus.shape[0], dtype=np.float32) / sr
    depth = np.float32(rng.uniform(*HARSH_ROUGHNESS_DEPTH))
    rate = np.float32(rng.uniform(*HARSH_ROUGHNESS_HZ))
    return bus * (1.0 + depth * np.sin(2 * np.pi * rate * t)).astype(np.float32)


def render_clip(spec, rng: np.random.Generator, sample_rate: int = 16000) -> np.ndarray:
    """Synthesise ``spec``: float32 [round(spec.seconds * sample_rate)] mono, peak <= 1.

    Args:
      spec: a ClipSpec.
      rng: the clip's audio stream (the dataset uses ``default_rng([seed, clip_index, 2])``).
      sample_rate: Hz (AudioParams.sample_rate, 16 kHz, for the dataset).
    """
    sr = int(sample_rate)
    total = int(round(spec.seconds * sr))
    score = make_score(spec, rng)
    brightness = BRIGHTNESS[spec.loudness]
    mix = np.zeros(total, np.float32)  # drums
    pitched = np.zeros(total, np.float32)  # every other instrument
    stems = dict(score.parts)
    if score.drum_hits:
        stems["drums"] = None
    for name in sorted(stems):
        if name == "drums":
            stem = instruments.drums(score.drum_hits, rng, sr, total, brightness)
        else:
            stem = _render_part(name, stems[name], spec, rng, sr, total, brightness)
        spans = [(s.start_s, s.end_s) for s in spec.sections if name in s.instruments]
        level_db = MIX_LEVEL_DB[name] + float(rng.uniform(-MIX_JITTER_DB, MIX_JITTER_DB))
        scaled = stem * np.float32(10 ** (level_db / 20) * 0.1 / _active_rms(stem, spans, sr))
        if name == "drums":
            mix += scaled
        else:
            pitched += scaled
    if spec.timbre == "harsh":
        pitched = _harsh(pitched, rng, sr)
    mix = _room(mix + pitched, spec, rng, sr)
    peak = float(np.max(np.abs(mix))) + 1e-9
    mix = mix / peak
    if spec.loudness == "loud":
        drive = float(rng.uniform(*LOUD_DRIVE_RANGE))
        mix = np.tanh(drive * mix) / np.tanh(drive)
    target_db = PEAK_DBFS[spec.loudness] + float(rng.uniform(-PEAK_JITTER_DB, PEAK_JITTER_DB))
    mix = mix / (np.max(np.abs(mix)) + 1e-9) * np.float32(10 ** (target_db / 20))
    noise_db = float(rng.uniform(*NOISE_DBFS))
    mix = mix + np.float32(10 ** (noise_db / 20)) * rng.standard_normal(total).astype(np.float32)
    return np.clip(mix, -1.0, 1.0).astype(np.float32)
