"""The original musicnn 0.1.0, run side by side with musictag for speed and agreement benchmarks.

musicnn's metadata pins numpy < 1.17, so it never enters musictag's environment. This module
makes a side virtualenv (``ensure_side_venv``: tensorflow 2.21 + tf-keras + librosa, then
``musicnn==0.1.0 --no-deps``) and talks to a long-lived worker process inside it
(``OriginalMusicnn``): the worker builds the original TF1 graph and restores the checkpoint once,
then tags one file per request, so a benchmark can alternate it with musictag clip by clip and
machine load hits both alike.

The worker runs the original code path -- ``librosa.load(sr=16000)``, the mel of
``musicnn.configuration``, float16 storage, 187-frame patches without overlap, the remainder
dropped, ``config.BATCH_SIZE`` patches per ``session.run`` -- with one change: the log is taken in
float32 (``np.log10(10000 * x.astype(float32) + 1)``). Under numpy 2 the original's float16
arithmetic overflows to inf and silently returns wrong tags; float32 restores numpy-1 behaviour.
Timings cover decode + mel + model for one file, as ``musictag tag`` is timed.

    python benchmarks/original_musicnn.py --venv /tmp/musicnn-venv --model MTT_musicnn FILE...

prints each file's top-5 tags and its time.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from typing import Dict, List, Optional, Sequence

SIDE_REQUIREMENTS = ("tensorflow==2.21.0", "tf-keras==2.21.0", "librosa==0.11.0")
ORIGINAL_PACKAGE = "musicnn==0.1.0"
DEFAULT_VENV = os.path.join(os.path.expanduser("~"), ".cache", "musictag", "musicnn-original-venv")


def ensure_side_venv(path: str = DEFAULT_VENV, python: str = sys.executable,
                     log=lambda s: print(s, file=sys.stderr)) -> str:
    """Create (once) the side virtualenv with the original musicnn; returns its python.

    Uses the package registry (pip); never installs into the calling environment.
    """
    venv_python = os.path.join(path, "bin", "python")
    stamp = os.path.join(path, ".musicnn-installed")
    if os.path.exists(stamp):
        return venv_python
    log(f"creating the side virtualenv for the original musicnn in {path} (a few minutes, once)")
    subprocess.run([python, "-m", "venv", path], check=True)
    subprocess.run([venv_python, "-m", "pip", "install", "-q", *SIDE_REQUIREMENTS], check=True)
    subprocess.run([venv_python, "-m", "pip", "install", "-q", "--no-deps", ORIGINAL_PACKAGE], check=True)
    with open(stamp, "w") as f:
        f.write(" ".join(SIDE_REQUIREMENTS + (ORIGINAL_PACKAGE,)) + "\n")
    return venv_python


class OriginalMusicnn:
    """A worker process running the original musicnn model ``model`` (e.g. "MTT_musicnn")."""

    def __init__(self, venv_python: str, model: str = "MTT_musicnn", threads: Optional[int] = None):
        env = dict(os.environ, TF_USE_LEGACY_KERAS="1", TF_CPP_MIN_LOG_LEVEL="3")
        args = [venv_python, os.path.abspath(__file__), "--worker", model]
        if threads:
            args += ["--threads", str(threads)]
        self.proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
        ready = json.loads(self._readline())
        self.labels: List[str] = ready["labels"]

    def _readline(self) -> str:
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the original musicnn worker exited (status {self.proc.poll()})")
        return line

    def tag(self, path: str) -> Dict:
        """{"seconds": wall time, "cpu_seconds": CPU time (all threads), "n_patches": int, "taggram": [[p]*50]*n, "mean": [p]*50}."""
        self.proc.stdin.write(json.dumps({"path": str(path)}) + "\n")
        self.proc.stdin.flush()
        reply = json.loads(self._readline())
        if "error" in reply:
            raise RuntimeError(f"{path}: original musicnn failed: {reply['error']}")
        return reply

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.close()
            self.proc.wait(timeout=30)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# ----------------------------------------------------------------------------- worker side

def _worker(model: str, threads: Optional[int]) -> None:  # pragma: no cover - runs in the side venv
    import librosa
    import numpy as np
    import tensorflow as tf
    from musicnn import configuration as config
    from musicnn import models

    if threads:
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(threads)
    tf.compat.v1.disable_eager_execution()
    labels = config.MTT_LABELS if model.startswith("MTT") else config.MSD_LABELS
    n_frames = int(librosa.time_to_frames(3, sr=config.SR, n_fft=config.FFT_SIZE, hop_length=config.FFT_HOP)) + 1
    tf.compat.v1.reset_default_graph()
    with tf.name_scope("model"):
        x = tf.compat.v1.placeholder(tf.float32, [None, n_frames, config.N_MELS])
        is_training = tf.compat.v1.placeholder(tf.bool)
        logits = models.define_model(x, is_training, model, len(labels))[0]
        probabilities = tf.nn.sigmoid(logits)
    session = tf.compat.v1.Session()
    session.run(tf.compat.v1.global_variables_initializer())
    import musicnn

    tf.compat.v1.train.Saver().restore(session, os.path.dirname(musicnn.__file__) + "/" + model + "/")
    print(json.dumps({"labels": labels, "n_frames": int(n_frames)}), flush=True)
    for line in sys.stdin:
        try:
            path = json.loads(line)["path"]
            start, cpu_start = time.perf_counter(), time.process_time()
            audio, sr = librosa.load(path, sr=config.SR)
            mel = librosa.feature.melspectrogram(y=audio, sr=sr, hop_length=config.FFT_HOP,
                                                 n_fft=config.FFT_SIZE, n_mels=config.N_MELS).T
            mel = np.log10(10000 * mel.astype(np.float16).astype(np.float32) + 1)
            count = int(mel.shape[0] // n_frames)
            batch = np.stack([mel[i * n_frames:(i + 1) * n_frames] for i in range(count)]) if count else None
            rows = []
            for i in range(0, count, config.BATCH_SIZE):
                rows.append(session.run(probabilities, {x: batch[i:i + config.BATCH_SIZE], is_training: False}))
            seconds = time.perf_counter() - start
            cpu_seconds = time.process_time() - cpu_start  # all threads of the worker
            taggram = np.concatenate(rows) if rows else np.zeros([0, len(labels)], np.float32)
            mean = taggram.mean(axis=0).tolist() if count else []
            print(json.dumps({"seconds": seconds, "cpu_seconds": cpu_seconds, "n_patches": count, "taggram": taggram.tolist(),
                              "mean": mean}), flush=True)
        except Exception as exc:  # one line per failed request; the worker keeps serving
            print(json.dumps({"error": f"{type(exc).__name__}: {exc}"}), flush=True)


def main(argv: Sequence[str]) -> int:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=None, help="TF intra/inter-op threads")
    parser.add_argument("--venv", default=DEFAULT_VENV, help="side virtualenv (made when missing)")
    parser.add_argument("--model", default="MTT_musicnn", help="MTT_musicnn | MSD_musicnn | MTT_vgg")
    parser.add_argument("files", nargs="*")
    args = parser.parse_args(argv)
    if args.worker:
        _worker(args.worker, args.threads)
        return 0
    with OriginalMusicnn(ensure_side_venv(args.venv), args.model, args.threads) as original:
        for path in args.files:
            out = original.tag(path)
            if not out["n_patches"]:
                print(f"{path}: shorter than one patch (the original cannot tag it)")
                continue
            top = sorted(zip(out["mean"], original.labels), reverse=True)[:5]
            print(f"{path}: {out['seconds'] * 1000:.0f} ms, " + ", ".join(f"{t} {p:.2f}" for p, t in top))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
