"""Benchmark: peak memory of decoding + windowing a file whole (load_audio) vs streamed.

Question it answers (BUILD_NOTES.md, "Bad input and faults (issue 15, part 1)"): does memory
grow with the file's length? For each file length (default 30 s, 1 h, 3 h) and format (mp3,
44.1 kHz stereo 16-bit wav) it writes a file into a temporary folder, then in a fresh child
process per measurement runs

* ``whole``: ``load_audio`` + ``tagging.split_windows`` (3 s windows, hop 3 s), what
  ``musictag tag`` does today;
* ``stream``: ``stream_audio`` + ``WindowStream`` with the same windows (each window dropped
  after use, as a tagger that runs the model per batch would);

and reports the child's peak RSS (``ru_maxrss``) and the peak after the imports only (the
floor: Python + TensorFlow). The files are deleted at the end.

The long mp3 is one minute of LAME CBR (160 kbit/s, Xing frame removed) repeated: frames
concatenate into a valid stream, encoding 3 h would take ~8 minutes.

Usage::

    python benchmarks/bench_stream_memory.py [--lengths 30,3600,10800] [--skip_whole_above 3600]
"""

from __future__ import annotations

import argparse
import io
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np
import soundfile as sf

PROJECT_ROOT = pathlib.Path(__file__).resolve().parents[1]

CHILD = """
import resource, sys
from musictag_tf.audio.io import load_audio
from musictag_tf.audio.stream import stream_audio
from musictag_tf.audio.stream_windows import WindowStream
from musictag_tf.tagging import split_windows
path, how = sys.argv[1], sys.argv[2]
floor = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
if how == "stream":
    n = sum(1 for _ in WindowStream(stream_audio(path), 48000, 48000))
else:
    n = len(split_windows(load_audio(path), 48000, 48000)[1])
print(floor, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, n)
"""


def _minute(rate: int, channels: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(60 * rate) / rate
    x = 0.3 * np.sin(2 * np.pi * 440 * t)[:, None] + 0.05 * rng.standard_normal((t.shape[0], channels))
    return x.astype(np.float32)


def write_wav(path, seconds: int, rate: int = 44100, channels: int = 2) -> None:
    with sf.SoundFile(path, "w", rate, channels, subtype="PCM_16") as f:
        for minute in range(0, seconds, 60):
            part = _minute(rate, channels, minute)[: min(60, seconds - minute) * rate]
            f.write(part)


def write_mp3(path, seconds: int, rate: int = 44100, channels: int = 2) -> None:
    from musictag_tf.audio import mp3_frames
    minute = io.BytesIO()
    with sf.SoundFile(minute, "w", rate, channels, format="MP3", bitrate_mode="CONSTANT",
                      compression_level=0.5) as f:
        f.write(_minute(rate, channels, 0))
    data = minute.getvalue()
    layout = mp3_frames.read_layout(io.BytesIO(data), len(data))
    body = data[layout.audio_start + layout.first.length: layout.audio_end]  # without the Xing frame
    with open(path, "wb") as f:
        if seconds >= 60:
            for _ in range(seconds // 60):
                f.write(body)
        else:
            end, wanted = 0, len(body) * seconds / 60  # cut on a frame boundary (frames vary by a padding byte)
            while end < wanted:
                end += mp3_frames.parse_header(body, end).length
            f.write(body[:end])


def measure(path, how: str) -> tuple[float, float, int, float]:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3",
               PYTHONPATH=os.pathsep.join([str(PROJECT_ROOT)] + os.environ.get("PYTHONPATH", "").split(os.pathsep)))
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", CHILD, str(path), how], env=env, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(done.stderr[-2000:])
    floor, peak, windows = map(int, done.stdout.split())
    return floor / 1024, peak / 1024, windows, time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lengths", default="30,3600,10800", help="file lengths, seconds")
    parser.add_argument("--formats", default="mp3,wav")
    parser.add_argument("--skip_whole_above", type=int, default=10800,
                        help="do not run load_audio on files longer than this (s): a 3 h wav needs ~10 GB")
    parser.add_argument("--tmp", default=None, help="folder for the generated files (default: a temp dir)")
    args = parser.parse_args()
    folder = pathlib.Path(tempfile.mkdtemp(prefix="bench_stream_", dir=args.tmp))
    print("| file | size MB | method | peak RSS MB | above imports MB | windows | s |")
    print("|---|---:|---|---:|---:|---:|---:|")
    try:
        for fmt in args.formats.split(","):
            for seconds in map(int, args.lengths.split(",")):
                path = folder / f"{seconds}s.{fmt}"
                (write_mp3 if fmt == "mp3" else write_wav)(path, seconds)
                size = path.stat().st_size / 1e6
                for how in ("whole", "stream"):
                    if how == "whole" and seconds > args.skip_whole_above:
                        print(f"| {fmt} {seconds} s | {size:.0f} | {how} | not run | | | |")
                        continue
                    floor, peak, windows, wall = measure(path, how)
                    print(f"| {fmt} {seconds} s | {size:.0f} | {how} | {peak:.0f} | {peak - floor:.0f} | {windows} | {wall:.1f} |",
                          flush=True)
                path.unlink()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
