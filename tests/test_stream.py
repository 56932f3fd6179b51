"""Streaming decode/resample (audio/stream.py) and streamed windows (audio/stream_windows.py)."""

from __future__ import annotations

import os
import subprocess
import sys
import pathlib

import numpy as np
import pytest
import soundfile as sf

from musictag_tf.audio.io import load_audio
from musictag_tf.audio.stream import stream_audio
from musictag_tf.audio.stream_windows import WindowStream, window_starts
from musictag_tf.errors import AudioDecodeError
from musictag_tf.params import StreamParams
from musictag_tf import windows as windows_lib

PROJECT_ROOT = pathlib.Path(__file__).resolve().parents[1]
SR = 16000


def _streamed(path, **kwargs) -> np.ndarray:
    blocks = list(stream_audio(path, params=StreamParams(**kwargs)))
    assert all(b.dtype == np.float32 and b.ndim == 1 and b.shape[0] > 0 for b in blocks)
    return np.concatenate(blocks)


def _tone(seconds: float, rate: int, channels: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    x = 0.3 * np.sin(2 * np.pi * 440 * t)[:, None] + 0.05 * rng.standard_normal((t.shape[0], channels))
    return x.astype(np.float32)


@pytest.mark.parametrize("rate,channels,ext,subtype", [
    (44100, 2, ".wav", "PCM_16"), (48000, 1, ".flac", "PCM_24"), (22050, 2, ".ogg", "VORBIS"),
    (16000, 1, ".wav", "FLOAT"), (8000, 3, ".wav", "PCM_16")])
def test_stream_equals_load_audio_bit_for_bit(tmp_path, rate, channels, ext, subtype):
    path = tmp_path / f"clip{ext}"
    sf.write(path, _tone(7.3, rate, channels), rate, subtype=subtype)
    whole = load_audio(path)
    for block_seconds in (0.37, 2.0, 100.0):
        np.testing.assert_array_equal(_streamed(path, block_seconds=block_seconds), whole)


def test_stream_max_seconds_equals_load_audio(tmp_path):
    path = tmp_path / "long.wav"
    sf.write(path, _tone(9.0, 44100, 2), 44100)
    for max_seconds in (0.5, 3.21, 8.99, 20.0):
        np.testing.assert_array_equal(_streamed(path, block_seconds=1.1, max_seconds=max_seconds),
                                      load_audio(path, max_seconds=max_seconds))


def test_stream_matches_load_audio_on_real_files(real_audio_files):
    """mp3: equal except libmpg123's end-of-stream trimming, which depends on the read size."""
    for path in real_audio_files:
        whole = load_audio(path)
        streamed = _streamed(path, block_seconds=3.3)
        assert streamed.shape == whole.shape, path
        tolerance = 1e-4 if path.suffix.lower() == ".mp3" else 0.0
        assert np.max(np.abs(streamed - whole)) <= tolerance, path


@pytest.mark.parametrize("make,reason", [
    (lambda p: None, "file not found"),
    (lambda p: p.write_bytes(b""), "empty file"),
    (lambda p: p.write_bytes(b"this is not audio at all " * 40), "not an audio file"),
    (lambda p: p.mkdir(), "directory"),
])
def test_stream_errors_name_the_file(tmp_path, make, reason):
    path = tmp_path / "bad.wav"
    make(path)
    with pytest.raises(AudioDecodeError, match=reason) as info:
        list(stream_audio(path))
    assert str(path) in str(info.value)


# ----------------------------------------------------------------------------- windows

def _blocks(x: np.ndarray, sizes: list[int]):
    i, k = 0, 0
    while i < x.shape[0]:
        n = sizes[k % len(sizes)]
        yield x[i:i + n]
        i, k = i + n, k + 1


LENGTHS = [0, 1, 99, 100, 101, 130, 160, 161, 1000, 1017, 2345]


@pytest.mark.parametrize("length", LENGTHS)
@pytest.mark.parametrize("sizes", [[1], [7, 50, 3], [64], [5000]])
def test_streamed_windows_equal_split_windows(length, sizes):
    window, hop = 100, 30
    x = np.random.default_rng(length).standard_normal(length).astype(np.float32)
    stream = WindowStream(_blocks(x, sizes), window, hop, "end_aligned")
    got = list(stream)
    expected_windows, expected_starts = windows_lib.split_windows(x, windows_lib.WindowParams(window, hop))
    assert [s for s, _ in got] == expected_starts.tolist()
    np.testing.assert_array_equal(np.stack([w for _, w in got]), expected_windows)
    assert stream.num_samples == length and stream.num_windows == len(got)
    assert stream.max_buffered <= window + hop + max(sizes)


@pytest.mark.parametrize("length", LENGTHS)
def test_streamed_windows_drop_rule(length):
    window, hop = 100, 30
    x = np.random.default_rng(length).standard_normal(length).astype(np.float32)
    got = list(WindowStream(_blocks(x, [13, 41]), window, hop, "drop"))
    if length < window:
        expected = [(0, np.pad(x, (0, window - length)))]
    else:
        expected = [(s, x[s:s + window]) for s in range(0, length - window + 1, hop)]
    assert [s for s, _ in got] == [s for s, _ in expected]
    for (_, a), (_, b) in zip(got, expected):
        np.testing.assert_array_equal(a, b)


def test_window_rule_end_aligned_is_the_taggers_rule():
    for n in range(0, 400, 7):
        np.testing.assert_array_equal(window_starts(n, 100, 30, "end_aligned"), windows_lib.window_starts(n, windows_lib.WindowParams(100, 30)))


def test_streamed_windows_of_a_file(tmp_path):
    path = tmp_path / "clip.wav"
    sf.write(path, _tone(5.5, 44100, 2), 44100)
    window, hop = 3 * SR, SR
    got = list(WindowStream(stream_audio(path, params=StreamParams(block_seconds=0.7)), window, hop))
    expected_windows, expected_starts = windows_lib.split_windows(load_audio(path), windows_lib.WindowParams(window, hop))
    assert [s for s, _ in got] == expected_starts.tolist()
    np.testing.assert_array_equal(np.stack([w for _, w in got]), expected_windows)


# ----------------------------------------------------------------------------- bounded memory

PEAK_SCRIPT = """
import resource, sys
from musictag_tf.audio.stream import stream_audio
from musictag_tf.audio.stream_windows import WindowStream
from musictag_tf.audio.io import load_audio
from musictag_tf import windows as windows_lib
path, how = sys.argv[1], sys.argv[2]
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
if how == "stream":
    n = sum(1 for _ in WindowStream(stream_audio(path), 3 * 16000, 3 * 16000))
else:
    n = len(windows_lib.split_windows(load_audio(path), windows_lib.WindowParams(3 * 16000, 3 * 16000))[1])
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(before, after, n)
"""


def peak_growth_kib(path, how: str) -> tuple[int, int]:
    """(KiB the peak RSS grew while reading ``path`` after the imports, windows) in a fresh process."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3",
               PYTHONPATH=os.pathsep.join([str(PROJECT_ROOT)] + os.environ.get("PYTHONPATH", "").split(os.pathsep)))
    done = subprocess.run([sys.executable, "-c", PEAK_SCRIPT, str(path), how], env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    before, after, windows = map(int, done.stdout.split())
    return after - before, windows


def _write_long_wav(path, seconds: float, rate: int = 44100, channels: int = 2):
    """A long 16-bit wav written a minute at a time (the test itself stays small)."""
    with sf.SoundFile(path, "w", rate, channels, subtype="PCM_16") as f:
        done = 0
        while done < seconds:
            part = min(60.0, seconds - done)
            f.write(_tone(part, rate, channels, seed=int(done)))
            done += part


def test_streaming_memory_does_not_grow_with_file_length(tmp_path):
    short, long = tmp_path / "short.wav", tmp_path / "long.wav"
    try:
        _write_long_wav(short, 30.0)
        _write_long_wav(long, 20 * 60.0)  # 212 MB: removed below, pytest keeps old tmp folders
        growth_short, windows_short = peak_growth_kib(short, "stream")
        growth_long, windows_long = peak_growth_kib(long, "stream")
    finally:
        short.unlink(missing_ok=True)
        long.unlink(missing_ok=True)
    assert (windows_short, windows_long) == (10, 400)
    # load_audio grows by ~1 GiB on the 20-minute file (the bytes, the decoded stereo float32,
    # the mono and the resampled copies); streaming holds one block and one window.
    assert growth_long <= 1.5 * growth_short + 32 * 1024, (growth_short, growth_long)


def test_a_rule_that_disagrees_with_the_streamed_grid_is_an_error(monkeypatch):
    """The rule is meant to be swapped for the shared one; a mismatch must not pass silently."""
    from musictag_tf.audio import stream_windows
    monkeypatch.setattr(stream_windows, "WINDOW_RULE", lambda n, window, hop, remainder: np.array([5], np.int64))
    with pytest.raises(ValueError, match="regular windows"):
        list(WindowStream(_blocks(np.zeros(300, np.float32), [64]), 100, 30))


def test_stream_reads_tf_file_systems_through_gfile(tmp_path, mtat_clip):
    """Non-local paths (gs://, ...) go through a tf.io.gfile.GFile object; ram:// stands in here."""
    import tensorflow as tf
    path = tmp_path / "clip.wav"
    sf.write(path, _tone(3.1, 44100, 2), 44100)
    for name, data in (("clip.wav", path.read_bytes()), ("mtat.mp3", mtat_clip.read_bytes()),
                       ("cut.mp3", mtat_clip.read_bytes()[:40001])):
        url = f"ram://musictag_stream_test/{name}"
        with tf.io.gfile.GFile(url, "wb") as f:
            f.write(data)
        try:
            if name == "cut.mp3":
                with pytest.raises(AudioDecodeError, match="ends inside a frame"):
                    list(stream_audio(url))
            else:
                np.testing.assert_allclose(_streamed(url, block_seconds=0.5), load_audio(url), atol=1e-4)
        finally:
            tf.io.gfile.remove(url)
