"""Benchmark: peak memory of ``musictag tag`` end to end on 30 s, 1 h and 3 h mp3 files.

Question it answers (BUILD_NOTES.md, "Bad input and faults (issue 15, part 2)"): does the
tagger's memory grow with the file's length? For each length it writes an mp3 (one minute of
LAME CBR 160 kbit/s 44.1 kHz stereo repeated, ``bench_stream_memory.write_mp3``) into a
temporary folder and runs ``musictag tag FILE --model=MODEL --output=...`` in a fresh child
process, reporting the child's peak RSS (``ru_maxrss``), the peak after loading the model (the
floor: Python, TensorFlow, the model) and the number of windows tagged. Files are deleted after.

Usage::

    python benchmarks/bench_tag_memory.py --model=RUN_DIR_OR_EXPORT [--lengths 30,3600,10800]
        [--source_root=/path/to/an/older/checkout]   # measure another version of the code
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import time

PROJECT_ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_ROOT / "benchmarks"))

CHILD = """
import resource, sys
from absl import flags
from musictag_tf.tag import cli
from musictag_tf.tag import backends
path, model, out = sys.argv[1:4]
backends.load_tagger(model)  # the floor: imports + one model loaded (loaded again by main)
floor = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
fv = flags.FlagValues()
cli.define_flags(fv)
status = cli.main(fv(["musictag tag", path, "--model=" + model, "--output=" + out, "--notaggram"]), fv)
print(floor, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, status)
"""


def measure(path, model: str, out: str, source_root: str) -> tuple:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=source_root)
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", CHILD, str(path), model, out], env=env,
                          capture_output=True, text=True, cwd=source_root)
    if done.returncode:
        raise RuntimeError(done.stderr[-2000:])
    floor, peak, status = map(int, done.stdout.split()[-3:])
    return floor / 1024, peak / 1024, status, time.perf_counter() - start


def main():
    from bench_stream_memory import write_mp3

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True, help="model for musictag tag (run dir, SavedModel, .tflite)")
    parser.add_argument("--lengths", default="30,3600,10800", help="file lengths, seconds")
    parser.add_argument("--source_root", default=str(PROJECT_ROOT), help="checkout whose code is measured")
    parser.add_argument("--tmp", default=None, help="folder for the generated files (default: a temp dir)")
    args = parser.parse_args()
    folder = pathlib.Path(tempfile.mkdtemp(prefix="bench_tag_", dir=args.tmp))
    print("| file | size MB | peak RSS MB | above model load MB | duration tagged | exit | s |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    try:
        for seconds in map(int, args.lengths.split(",")):
            path = folder / f"{seconds}s.mp3"
            write_mp3(path, seconds)
            out = folder / "tags.json"
            floor, peak, status, wall = measure(path, args.model, str(out), args.source_root)
            windows = "-"
            if status == 0:
                entry = json.loads(out.read_text())[0]
                windows = round(entry["duration_seconds"])
            print(f"| mp3 {seconds} s | {path.stat().st_size / 1e6:.0f} | {peak:.0f} | {peak - floor:.0f} | "
                  f"{windows} s | {status} | {wall:.0f} |", flush=True)
            path.unlink()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
