"""Benchmark: peak memory of ``musictag-build`` on one long file, with and without --clip_seconds.

Question it answers (BUILD_NOTES.md, "Builder on real music"; issue 15 "Streaming"): does the
builder's memory grow with the file's length? For each length (default 30 s, 1 h, 3 h) and
format it writes one file (``bench_stream_memory``'s generators: 44.1 kHz stereo LAME CBR mp3 of
one minute repeated, or 16-bit wav) into a temporary folder, lists it in a one-row table, and runs
``musictag-build`` in a fresh child process:

* ``--clip_seconds=29.1``: every 29.1 s clip is its own record, decoded alone (``read_span``:
  a seek, then the span); memory should not depend on the file's length;
* whole file (no ``--clip_seconds``): a file longer than ``BuilderParams.max_record_seconds``
  is refused before decoding (one line naming the file), so memory stays bounded there too.

It reports the child's peak RSS (``ru_maxrss``), records written, failures, exit status, CPU
seconds and the failure line. The files are deleted at the end.

Usage::

    python benchmarks/bench_builder_memory.py [--lengths 30,3600,10800] [--formats mp3]
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

PROJECT_ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

from bench_stream_memory import write_mp3, write_wav  # noqa: E402

CHILD = """
import resource, runpy, sys
sys.argv = ["musictag-build"] + sys.argv[1:]
status = 0
try:
    runpy.run_module("tfrecords_builder", run_name="__main__")
except SystemExit as exc:
    status = exc.code or 0
usage = resource.getrusage(resource.RUSAGE_SELF)
print("RESULT", usage.ru_maxrss, status, usage.ru_utime + usage.ru_stime, file=sys.stderr)
"""


def run_build(table: pathlib.Path, out_dir: pathlib.Path, clip_seconds: float):
    """(peak RSS MB, exit status, CPU s, manifest dict or None, stderr tail) of one child build."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3",
               PYTHONPATH=os.pathsep.join([str(PROJECT_ROOT)] + os.environ.get("PYTHONPATH", "").split(os.pathsep)))
    args = [f"--table={table}", f"--out_dir={out_dir}", "--num_workers=1", "--pool=never", "--progress=false",
            f"--clip_seconds={clip_seconds}"]
    done = subprocess.run([sys.executable, "-c", CHILD] + args, env=env, capture_output=True, text=True)
    result = [line for line in done.stderr.splitlines() if line.startswith("RESULT ")]
    if not result:
        raise RuntimeError(done.stderr[-2000:])
    _, rss_kb, status, cpu = result[-1].split()
    manifest_path = out_dir / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else None
    return int(rss_kb) / 1024, int(status), float(cpu), manifest, done.stdout + done.stderr


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lengths", default="30,3600,10800", help="file lengths, seconds")
    parser.add_argument("--formats", default="mp3", help="mp3 and/or wav (44.1 kHz stereo)")
    parser.add_argument("--clip_seconds", type=float, default=29.1)
    parser.add_argument("--tmp", default=None, help="folder for the generated files (default: a temp dir)")
    args = parser.parse_args()
    folder = pathlib.Path(tempfile.mkdtemp(prefix="bench_builder_memory_", dir=args.tmp))
    print("| file | size MB | mode | peak RSS MB | records | failures | exit | CPU s | failure line |")
    print("|---|---:|---|---:|---:|---:|---:|---:|---|")
    try:
        for fmt in args.formats.split(","):
            for seconds in map(int, args.lengths.split(",")):
                path = folder / f"long_{seconds}s.{fmt}"
                (write_mp3 if fmt == "mp3" else write_wav)(path, seconds)
                table = folder / "table.csv"
                table.write_text(f"audio_path,tags\n{path.name},music\n", encoding="utf-8")
                size = path.stat().st_size / 1e6
                for mode, clip in ((f"--clip_seconds={args.clip_seconds:g}", args.clip_seconds), ("whole file", 0.0)):
                    out = folder / f"records_{seconds}_{fmt}_{clip:g}"
                    rss, status, cpu, manifest, text = run_build(table, out, clip)
                    records = sum(manifest["counts"].values()) if manifest and "counts" in manifest else \
                        (manifest or {}).get("num_clips", "-")
                    failures = manifest.get("failures", []) if manifest else []
                    line = failures[0]["reason"] if failures else ""
                    print(f"| {fmt} {seconds} s | {size:.0f} | {mode} | {rss:.0f} | {records} | {len(failures)} | "
                          f"{status} | {cpu:.1f} | {line[:110]} |", flush=True)
                    shutil.rmtree(out, ignore_errors=True)
                path.unlink()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
