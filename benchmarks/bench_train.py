"""Is the input pipeline the bottleneck? tf.data examples/s beside training examples/s.

    python benchmarks/bench_train.py [--records_dir=records] [--steps 20] [--batch 32] [--preset demo|default]

Without --records_dir a small synthetic set (96 clips of 8 s) is generated and built in a temp dir.
Rows: the training pipeline alone (read shards, parse, random crop, shuffle, batch), one training
step per variant (forward + backward + Adam, the same tf.function as musictag-train), and the ratio
pipeline / training: above 1 the pipeline keeps up; x real time is audio seconds per second.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

from musictag_tf import fileio
from musictag_tf import params as P  # noqa: E402
from musictag_tf import train as train_lib  # noqa: E402
from musictag_tf.data import manifest as manifest_lib, pipeline  # noqa: E402
from musictag_tf.model import losses as losses_lib, variants  # noqa: E402


def synthetic_records(work: str) -> str:
    from tfrecords_builder import sources
    from tfrecords_builder.build import build_records
    from tfrecords_builder.synthetic import generate_dataset
    synth = os.path.join(work, "synth")
    generate_dataset(synth, P.SyntheticParams(num_clips=96, clip_seconds=8.0), progress=False)
    records = os.path.join(work, "records")
    build_records(sources.read_mtat_tree(synth, lyrics_table=f"{synth}/lyrics.tsv",
                                         labels_table=f"{synth}/emotion.tsv"),
                  records, tags_file=f"{synth}/tags.txt", progress=False, pool=False,
                  builder_params=P.BuilderParams(clips_per_shard=16))
    return records


def pipeline_rate(files, config, batch, steps, tp) -> float:
    ds = pipeline.training_dataset(files, config, batch, tp, repeat=True)
    it = iter(ds)
    next(it)
    start = time.perf_counter()
    for _ in range(steps):
        next(it)
    return steps * batch / (time.perf_counter() - start)


def training_rate(records, model_params, batch, steps) -> float:
    manifest = manifest_lib.read_manifest(records)
    job = train_lib.TrainJob(records_dir=records, model_dir="", model=model_params,
                             train=dataclasses.replace(P.TrainParams(), batch_size=batch, task="multi"))
    vocab = len(fileio.read_lines(os.path.join(records, manifest_lib.VOCAB_NAME)))
    spec = train_lib.make_spec(job, manifest, vocab)
    model = variants.build_model(spec)
    optimizer = keras.optimizers.Adam(1e-3)
    losses = losses_lib.MultiHeadLoss(spec.model.heads, job.train)
    config = pipeline.PipelineConfig.from_records(manifest, spec.model)
    files = manifest_lib.split_files(records, "train", manifest)
    features, labels = next(iter(pipeline.training_dataset(files, config, batch, job.train, repeat=True)))

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(losses.per_example(model(features, training=True), labels))
        optimizer.apply_gradients(zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables))
        return loss

    step()
    start = time.perf_counter()
    for _ in range(steps):
        step().numpy()
    return steps * batch / (time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records_dir")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--preset", choices=["demo", "default"], default="demo")
    args = parser.parse_args()
    if args.preset == "demo":
        from musictag_tf.demo import DEMO_MODEL as base
    else:
        base = P.ModelParams()
    with tempfile.TemporaryDirectory() as work:
        records = args.records_dir or synthetic_records(work)
        manifest = manifest_lib.read_manifest(records)
        config = pipeline.PipelineConfig.from_records(manifest, base)
        files = manifest_lib.split_files(records, "train", manifest)
        tp = P.TrainParams(batch_size=args.batch, shuffle_buffer=256)
        pipe = pipeline_rate(files, config, args.batch, args.steps, tp)
        print(f"\npreset {args.preset}, chunk {base.chunk_seconds} s, batch {args.batch}, {os.cpu_count()} CPUs\n")
        print("| stage | examples/s | x real time | pipeline / stage |")
        print("|---|---:|---:|---:|")
        print(f"| tf.data training pipeline | {pipe:.0f} | {pipe * base.chunk_seconds:.0f} | 1.00 |")
        for variant in variants.VARIANTS:
            rate = training_rate(records, dataclasses.replace(base, variant=variant), args.batch, max(3, args.steps // 4))
            print(f"| train step {variant} | {rate:.1f} | {rate * base.chunk_seconds:.0f} | {pipe / rate:.1f} |")


if __name__ == "__main__":
    main()
