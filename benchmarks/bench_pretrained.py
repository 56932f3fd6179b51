"""Speed and agreement of the shipped musicnn models against the original musicnn, in one run.

    python benchmarks/bench_pretrained.py --venv /work/cache/musicnn_venv [--rounds 5] [--threads 0]

For each shipped model with a reference (mtt_musicnn, msd_musicnn, mtt_vgg): latency per 29.1 s
MTAT clip, decode included, of musictag's Keras model and its TFLite float32 / dynamic int8 /
float16 conversions (export/pretrained_window.py, default delegates as ``musictag tag`` runs
them), against the original musicnn 0.1.0 in its side virtualenv (benchmarks/original_musicnn.py).
The tools alternate clip by clip, ``--rounds`` times, so machine load hits them alike; the
median is reported as ms per clip, x real time and the ratio original / ours (> 1: ours faster).
Then agreement on every shared recording with >= 3 patches (../shared/data/audio, the files of
results/musicnn_reference.json): max-abs clip difference and the smallest top-5 overlap vs the
original run now.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402

from export import pretrained_window as pw  # noqa: E402
from export import tflite as tflite_lib  # noqa: E402
from musictag_tf.audio.io import load_audio  # noqa: E402
from musictag_tf.model.musicnn_windows import musicnn_windows  # noqa: E402
from musictag_tf.model.pretrained import parity  # noqa: E402
from musictag_tf.model.pretrained.registry import load_pretrained  # noqa: E402
from original_musicnn import OriginalMusicnn, ensure_side_venv  # noqa: E402

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "data")
CLIP = os.path.join(DATA, "audio", "mtat", "joram-moments_of_clarity-08-solipsism-59-88.mp3")
REFERENCE = os.path.join(DATA, "results", "musicnn_reference.json")


def runners(name: str, workdir: str, threads):
    """runtime -> fn(windows float32 [n, 48128]) -> tags [n, 50]."""
    model, _ = load_pretrained(name)
    out = {"keras": lambda w: np.asarray(model(w, training=False)["tags"])}
    for variant in tflite_lib.VARIANTS:
        runner = tflite_lib.interpreter(pw.tflite_model(model, variant, workdir), threads).get_signature_runner()
        out[f"tflite_{variant}"] = lambda w, r=runner: np.stack([r(waveform=x[None])["tags"][0] for x in w])
    return out


def tag_clip(run, path):
    return run(musicnn_windows(load_audio(path)))


def main(argv) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--venv", default=None, help="side virtualenv of the original (made when missing)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=0, help="TFLite and original TF threads (0: default)")
    parser.add_argument("--models", default=",".join(parity.REFERENCE_NAMES))
    args = parser.parse_args(argv)
    threads = args.threads or None
    venv_python = ensure_side_venv(*([args.venv] if args.venv else []))
    reference = parity.load_reference(REFERENCE)
    seconds = len(load_audio(CLIP)) / 16000
    print(f"clip: {os.path.basename(CLIP)} ({seconds:.1f} s); load: {os.getloadavg()}")
    print("| model | runtime | ms / clip | x real time | original / ours | clip max-abs vs original | "
          "min top-5 overlap | files |")
    print("|---|---|---|---|---|---|---|---|")
    for name in args.models.split(","):
        with tempfile.TemporaryDirectory() as tmp, \
                OriginalMusicnn(venv_python, parity.REFERENCE_NAMES[name], threads) as original:
            runs = runners(name, tmp, threads)
            times = {k: [] for k in ["original"] + list(runs)}
            for k, run in runs.items():  # warm-up
                tag_clip(run, CLIP)
            original.tag(CLIP)
            for _ in range(args.rounds):
                times["original"].append(original.tag(CLIP)["seconds"])
                for k, run in runs.items():
                    start = time.perf_counter()
                    tag_clip(run, CLIP)
                    times[k].append(time.perf_counter() - start)
            agreement = {k: [] for k in runs}
            for relative, entry in parity.reference_files(reference, name).items():
                if entry["n_patches"] < parity.MIN_PATCHES:
                    continue
                path = os.path.join(DATA, "audio", relative)
                theirs = original.tag(path)
                for k, run in runs.items():
                    dev = parity.deviation(tag_clip(run, path), theirs["taggram"], theirs["mean"])
                    agreement[k].append(dev)
            base = statistics.median(times["original"])
            for k, ts in times.items():
                t = statistics.median(ts)
                devs = agreement.get(k)
                extra = (f"{max(d.clip_max_abs for d in devs):.1e} | {min(d.top_k_overlap for d in devs)}/5 | "
                         f"{len(devs)}") if devs else "- | - | -"
                print(f"| {name} | {k} | {t * 1000:.0f} | {seconds / t:.0f} | {base / t:.2f} | {extra} |", flush=True)
    print(f"load after: {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
