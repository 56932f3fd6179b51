"""Issue 15 "Streaming" for the builder: a long file costs the memory of one clip with
--clip_seconds, and without it a file longer than BuilderParams.max_record_seconds is refused
before decoding (one failure naming the file, the other files built). Issue 14 item 6: the
faster stereo downmix and level checks give the same numbers as before.

The long file is 20 minutes of 8 kHz mono 16-bit wav (19 MB, written in well under a second).
"""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
import soundfile as sf

from musictag_tf.audio import io as audio_io
from musictag_tf.audio.clips import ClipParams
from musictag_tf.data import manifest as manifest_lib
from musictag_tf.params import BuilderParams, ConfigError, SegmentParams

RATE = 8000  # the long file's rate: small to write, still resampled to 16 kHz like real files
SEGMENTS = SegmentParams(kernel_seconds=0.25, min_segment_seconds=0.25, max_segment_seconds=1.0)


def _write_tone(path, seconds: float, rate: int = RATE, seed: int = 0) -> None:
    """A tone plus noise, written minute by minute (never the whole file in memory)."""
    rng = np.random.default_rng(seed)
    with sf.SoundFile(path, "w", rate, 1, subtype="PCM_16") as f:
        done = 0
        while done < seconds:
            n = int(min(60.0, seconds - done) * rate)
            t = (np.arange(n) + done * rate) / rate
            f.write((0.3 * np.sin(2 * np.pi * 440 * t) + 0.05 * rng.standard_normal(n)).astype(np.float32))
            done += 60.0


def _table(folder, files, name="table.csv"):
    """A table next to the audio (tables may only name files under their folder)."""
    (folder / name).write_text("audio_path,tags,split\n" + "".join(f"{f},music,train\n" for f in files),
                               encoding="utf-8")
    return str(folder / name)


def _build(table, out, builder=BuilderParams(clips_per_shard=64, num_workers=1), clip_seconds=0.0):
    from tfrecords_builder import sources
    from tfrecords_builder.build import build_records

    return build_records(sources.read_table(table), str(out), segment_params=SEGMENTS, builder_params=builder,
                         progress=False, pool=False, clip_params=ClipParams(clip_seconds))


@pytest.fixture(scope="module")
def long_and_short(tmp_path_factory):
    folder = tmp_path_factory.mktemp("long")
    _write_tone(folder / "long.wav", 20 * 60)
    _write_tone(folder / "short.wav", 30, seed=1)
    return folder


def _peak_traced(fn) -> int:
    """Peak bytes NumPy / Python allocated while ``fn`` ran (tracemalloc)."""
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_clip_build_memory_does_not_grow_with_file_length(long_and_short, tmp_path, monkeypatch):
    import soundfile

    reads = []
    real_read = soundfile.SoundFile.read

    def counting_read(self, frames=-1, *args, **kwargs):
        reads.append(frames)
        return real_read(self, frames, *args, **kwargs)

    monkeypatch.setattr(soundfile.SoundFile, "read", counting_read)
    short_table = _table(long_and_short, ["short.wav"], "short.csv")
    long_table = _table(long_and_short, ["long.wav"], "long.csv")
    _build(short_table, tmp_path / "warm", clip_seconds=30.0)  # trace the TF functions first
    short_peak = _peak_traced(lambda: _build(short_table, tmp_path / "short", clip_seconds=30.0))
    reads.clear()
    result = {}
    long_peak = _peak_traced(lambda: result.setdefault("r", _build(long_table, tmp_path / "long", clip_seconds=30.0)))
    assert sum(result["r"].manifest.counts.values()) == 40 and not result["r"].manifest.failures
    # every read is one clip plus the resampler's margins, never the file (20 min = 9.6 M frames)
    assert reads and all(0 < frames <= 30 * RATE + 2 * 0.06 * RATE for frames in reads), max(reads)
    assert long_peak <= 1.5 * short_peak, (long_peak, short_peak)


def test_whole_file_longer_than_the_limit_is_refused_before_decoding(long_and_short, tmp_path, monkeypatch):
    decoded = []
    real_load = audio_io.load_audio
    monkeypatch.setattr(audio_io, "load_audio", lambda path, *a, **k: decoded.append(path) or real_load(path, *a, **k))
    table = _table(long_and_short, ["long.wav", "short.wav"], "both.csv")
    result = _build(table, tmp_path / "out", BuilderParams(clips_per_shard=64, num_workers=1, max_record_seconds=600))
    manifest = manifest_lib.read_manifest(str(tmp_path / "out"))
    assert sum(manifest.counts.values()) == 1  # the short file is built
    [failure] = manifest.failures
    assert failure.path.endswith("long.wav")
    assert "too long for one record: 1200.0 s" in failure.reason and "--clip_seconds" in failure.reason
    assert [p for p in decoded if p.endswith("long.wav")] == []  # refused from the header, never decoded
    assert result.manifest.failures == manifest.failures


def test_record_limit_in_params_and_fingerprint(long_and_short):
    from tfrecords_builder import sources
    from tfrecords_builder.build import prepare

    with pytest.raises(ConfigError):
        BuilderParams(max_record_seconds=-1)
    table = _table(long_and_short, ["short.wav"], "short.csv")

    def fingerprint(limit, clip_seconds=0.0):
        return prepare(sources.read_table(table), builder_params=BuilderParams(max_record_seconds=limit),
                       clip_params=ClipParams(clip_seconds)).fingerprint

    # whole files: the limit decides which files fail, so a rerun with another limit rebuilds
    assert fingerprint(600) != fingerprint(7200)
    # clips: the limit does not apply, finished shards stay valid
    assert fingerprint(600, 10.0) == fingerprint(7200, 10.0)


def test_fast_downmix_and_levels_equal_the_reference():
    rng = np.random.default_rng(3)
    stereo = (rng.standard_normal((48001, 2)) * 0.4).astype(np.float32)
    stereo[::9] = np.float32(0.999)
    stereo[1::11, 1] = -1.0
    assert np.array_equal(audio_io.downmix(stereo), stereo.mean(axis=1, dtype=np.float32))
    five = rng.standard_normal((1000, 5)).astype(np.float32)
    assert np.array_equal(audio_io.downmix(five), five.mean(axis=1, dtype=np.float32))
    mono = audio_io.downmix(stereo)
    for x in (mono, mono * np.float32(1e-4) + np.float32(0.01), np.clip(mono * 4, -1, 1)):
        assert audio_io.assess_audio(x, 16000) == audio_io.assess_audio(x.astype(np.float64), 16000)
