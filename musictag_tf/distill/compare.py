"""The distillation comparison table: student runs vs the teacher on a held-out split (issue 13, item 4).

    python -m musictag_tf.distill.compare --records=RECORDS --split=test \\
        --run=cnn_sam=runs/cnn_sam --run=cnn_sam_fixed=runs/cnn_sam_fixed --run=audio_vgg=runs/audio_vgg \\
        [--speed_clips=20] [--output=comparison.md]

The teacher's scores are the records' ``tag_targets``: the builder stored there exactly the rows
of the teacher CSV (``--soft_labels``), matched to clips and checked, so the student and the
teacher are compared on the same clips without matching paths a second time. Each run is
evaluated as ``musictag-evaluate`` does (the tagger's windows, averaged per clip;
``predict.predict_clips``); the trivial baseline predicts the *train* split's mean teacher
score per tag (``agreement.mean_baseline``). Metrics: musictag_tf.distill.agreement.

Speed (``--speed_clips`` > 0): seconds per clip for the teacher (its 3 s windows of the clip,
``distill.teacher.Teacher.scores``) and for each student (its tagger windows, one batch per
clip), on the same decoded clips of the split, model time only (no decoding), after one warm-up
clip; the ratio teacher / student is the student's speed-up.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Dict, List, Sequence

import numpy as np

from musictag_tf.distill import agreement as agreement_lib

BASELINE = "train-mean baseline"


def split_clips(records_dir: str, split: str):
    """Yield (clip_id, waveform float32 [samples] at the records' rate, teacher scores float32
    [tags]) for every record of ``split``, in shard order."""
    import tensorflow as tf

    from musictag_tf.data import manifest as manifest_lib
    from musictag_tf.data import schema

    manifest = manifest_lib.read_manifest(records_dir)
    files = manifest_lib.split_files(records_dir, split, manifest)
    for clip in tf.data.TFRecordDataset(files).map(lambda s: schema.parse_example(s, manifest.num_tags)):
        yield clip["clip_id"].numpy().decode("utf-8"), clip["waveform"].numpy(), clip["tag_targets"].numpy()


def split_targets(records_dir: str, split: str, limit: int = 0) -> Dict[str, np.ndarray]:
    """{"tag_targets": float32 [clips, tags], "waveforms": [float32 [samples]] (only with ``limit`` > 0)} of a
    split's records, in shard order; ``limit`` > 0 reads only the first ``limit`` clips."""
    targets, waves = [], []
    for _, wave, target in split_clips(records_dir, split):
        if limit and len(targets) == limit:
            break
        targets.append(target)
        if limit:
            waves.append(wave)
    return {"tag_targets": np.stack(targets), "waveforms": waves}


def run_agreement(run_dir: str, records_dir: str, split: str, tags: Sequence[str], batch_size: int = 32):
    """(Agreement of the run's clip scores with the records' teacher scores, ClipPredictions)."""
    from musictag_tf import predict, runs
    from musictag_tf.data import manifest as manifest_lib
    from musictag_tf.data.pipeline import PipelineConfig

    source = runs.load_model_source(run_dir)
    if list(source.tags) != list(tags):
        from musictag_tf.errors import ModelLoadError
        raise ModelLoadError(run_dir, f"was trained on other tags than {records_dir}'s")
    manifest = manifest_lib.read_manifest(records_dir)
    config = PipelineConfig.from_records(manifest, source.spec.model)
    files = manifest_lib.split_files(records_dir, split, manifest)
    predictions = predict.predict_clips(source.model, files, config, batch_size=batch_size)
    return agreement_lib.agreement(predictions.probabilities["tags"], predictions.labels["tag_targets"], tags), \
        source


def measure_speed(records_dir: str, split: str, sources: Dict[str, object], clips: int,
                  teacher_name: str = "mtt_musicnn") -> Dict[str, float]:
    """Seconds per clip, model time only: {"teacher": s, run name: s} (module docstring)."""
    import tensorflow as tf

    from musictag_tf import predict, windows as windows_lib
    from musictag_tf.distill.teacher import Teacher

    waves = split_targets(records_dir, split, limit=clips + 1)["waveforms"]
    out = {}
    teacher = Teacher(teacher_name)
    runners = {"teacher": teacher.scores}
    for name, source in sources.items():
        fn = predict.make_predict_fn(source.model)
        chunk = source.spec.chunk_samples
        params = windows_lib.WindowParams(window_samples=chunk, hop_samples=predict_hop(chunk))
        max_tokens = source.spec.lyrics.max_tokens

        def run(wave, fn=fn, params=params, max_tokens=max_tokens):
            w = windows_lib.clip_windows_tf(tf.constant(wave), params)[0]
            return fn({"waveform": w, "lyrics_ids": tf.zeros([tf.shape(w)[0], max_tokens], tf.int32)})
        runners[name] = run
    for name, run in runners.items():
        run(waves[0])  # warm-up (tracing)
        started = time.perf_counter()
        for wave in waves[1:]:
            run(wave)
        out[name] = (time.perf_counter() - started) / max(1, len(waves) - 1)
    return out


def predict_hop(chunk_samples: int) -> int:
    from musictag_tf.params import TagParams
    return TagParams().hop_samples(chunk_samples)


def compare(records_dir: str, runs: Dict[str, str], split: str = "test", speed_clips: int = 0,
            batch_size: int = 32) -> Dict[str, object]:
    """{"agreement": {name: Agreement}, "speed": {name: s/clip}} for the runs and the baseline."""
    from musictag_tf.data import manifest as manifest_lib

    tags = manifest_lib.read_tags(records_dir)
    teacher = split_targets(records_dir, split)["tag_targets"]
    train = split_targets(records_dir, "train")["tag_targets"]
    rows, sources = {}, {}
    for name, run_dir in runs.items():
        rows[name], sources[name] = run_agreement(run_dir, records_dir, split, tags, batch_size)
    rows[BASELINE] = agreement_lib.agreement(agreement_lib.mean_baseline(train, teacher.shape[0]), teacher, tags)
    speed = measure_speed(records_dir, split, sources, speed_clips) if speed_clips else {}
    return {"agreement": rows, "speed": speed}


def report(result: Dict[str, object], split: str) -> str:
    text = agreement_lib.markdown_table(result["agreement"], f"Agreement with the teacher ({split} split)")
    speed = result["speed"]
    if speed:
        text += "\n| model | s per clip (model only) | speed-up vs teacher |\n|---|---|---|\n"
        for name, seconds in speed.items():
            text += f"| {name} | {seconds:.4f} | {speed['teacher'] / seconds:.1f}x |\n"
    return text


def _parse_runs(values: List[str]) -> Dict[str, str]:
    out = {}
    for value in values:
        name, sep, path = value.partition("=")
        if not sep or not name or not path:
            raise ValueError(f"--run must be NAME=RUN_DIR, got {value!r}")
        out[name] = path
    return out


def main(argv) -> int:
    from absl import flags

    from musictag_tf import errors, fileio

    F = flags.FLAGS
    try:
        runs = _parse_runs(F.run or [])
    except ValueError as exc:
        print(f"distill.compare: error: {exc}", file=sys.stderr)
        return 2
    try:
        result = compare(F.records, runs, F.split, F.speed_clips, F.batch_size)
    except errors.MusictagError as exc:
        return errors.report("distill.compare", exc, status=1)
    text = report(result, F.split)
    print(text)
    if F.output:
        fileio.write_atomic(F.output, text)
        fileio.write_atomic(F.output.rsplit(".", 1)[0] + ".json", json.dumps(
            {"agreement": {k: {**v.row(), "num_clips": v.num_clips, "scored_tags": v.scored_tags}
                           for k, v in result["agreement"].items()}, "speed_seconds_per_clip": result["speed"]},
            indent=1))
    return 0


def run() -> None:
    from absl import app, flags

    flags.DEFINE_string("records", None, "Records directory built with --soft_labels (the teacher's scores).")
    flags.DEFINE_multi_string("run", None, "NAME=RUN_DIR of a student training run (repeat).")
    flags.DEFINE_string("split", "test", "Split to compare on.")
    flags.DEFINE_integer("speed_clips", 0, "Clips timed for the speed comparison (0 = none).")
    flags.DEFINE_integer("batch_size", 32, "Evaluation batch size.")
    flags.DEFINE_string("output", None, "Markdown file to write (and a .json beside it).")
    flags.mark_flags_as_required(["records"])
    app.run(lambda argv: sys.exit(main(argv)))


if __name__ == "__main__":
    run()
