"""Model cost per variant: parameters, FLOPs for one 29.1 s clip, forward-pass clips/s.

    python benchmarks/bench_model.py [--repeats 5] [--batch 8] [--preset default|demo]

FLOPs are counted by TensorFlow's profiler on the traced forward graph of a model whose input is
one whole 29.1 s MTAT clip (465,984 samples): every variant with ModelParams' widths and
``chunk_seconds = 29.124``. Throughput is measured on the chunk length the preset trains with
(8 s default, 4 s demo), batch ``--batch``, median of ``--repeats`` timed calls after a warm-up, and
reported as clips/s, x real time (audio seconds per compute second) and the ratio against
``audio_vgg`` measured in the same run (the paper's audio baseline).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from musictag_tf import params as P  # noqa: E402
from musictag_tf.model import variants  # noqa: E402

MTAT_SECONDS = 465_984 / 16_000  # the real MTAT clip, 29.124 s


def spec_for(model: P.ModelParams, variant: str, seconds: float, num_tags: int = 50) -> variants.ModelSpec:
    return variants.ModelSpec(model=dataclasses.replace(model, variant=variant, chunk_seconds=seconds,
                                                        num_tags=num_tags),
                              audio=P.AudioParams(), segments=P.SegmentParams(), lyrics=P.LyricsParams(),
                              vocab_size=20_000)


def count_flops(model, spec) -> float:
    """Forward FLOPs (multiply and add counted separately) for a batch of one."""
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2
    inputs = {"waveform": tf.TensorSpec([1, spec.chunk_samples], tf.float32),
              "lyrics_ids": tf.TensorSpec([1, spec.lyrics.max_tokens], tf.int32)}
    concrete = tf.function(lambda x: model(x, training=False)).get_concrete_function(inputs)
    frozen = convert_variables_to_constants_v2(concrete)
    opts = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
    opts["output"] = "none"
    info = tf.compat.v1.profiler.profile(graph=frozen.graph, options=opts)
    return float(info.total_float_ops)


def throughput(model, spec, batch: int, repeats: int) -> float:
    rng = np.random.default_rng(0)
    x = {"waveform": (0.1 * rng.standard_normal((batch, spec.chunk_samples))).astype("float32"),
         "lyrics_ids": rng.integers(0, 1000, (batch, spec.lyrics.max_tokens)).astype("int32")}
    fn = tf.function(lambda x: model(x, training=False))
    fn(x)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn(x)
        _ = [v.numpy() for v in out.values()]
        times.append(time.perf_counter() - start)
    return batch / statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--preset", choices=["default", "demo"], default="default")
    args = parser.parse_args()
    if args.preset == "demo":
        from musictag_tf.demo import DEMO_MODEL as base
    else:
        base = P.ModelParams()
    rows = []
    for variant in variants.VARIANTS:
        full = spec_for(base, variant, MTAT_SECONDS)
        model = variants.build_model(full)
        flops = count_flops(model, full)
        params = model.count_params()
        chunk = spec_for(base, variant, base.chunk_seconds)
        rate = throughput(variants.build_model(chunk), chunk, args.batch, args.repeats)
        rows.append((variant, params, flops, rate, rate * base.chunk_seconds))
    base_rate = next(r[3] for r in rows if r[0] == "audio_vgg")
    print(f"\npreset {args.preset}: {tf.config.threading.get_inter_op_parallelism_threads() or 'default'} "
          f"threads, {os.cpu_count()} CPUs, batch {args.batch}, chunk {base.chunk_seconds} s, TF {tf.__version__}\n")
    print("| variant | parameters | GFLOPs / 29.1 s clip | clips/s (chunk) | x real time | speed vs audio_vgg |")
    print("|---|---:|---:|---:|---:|---:|")
    for variant, params, flops, rate, realtime in rows:
        print(f"| {variant} | {params:,} | {flops / 1e9:.2f} | {rate:.1f} | {realtime:.0f} | {rate / base_rate:.2f} |")


if __name__ == "__main__":
    main()
