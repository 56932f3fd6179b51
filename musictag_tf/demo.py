"""``musictag demo``: the whole pipeline on the embedded synthetic data, in one command.

    musictag demo --out_dir=demo_out

1. generate the deterministic synthetic dataset (audio + lyrics + Thayer emotion, MTAT layout)
2. build TFRecords from it with the real MTAT builder path
3. train the four variants (audio_vgg, lyrics_textcnn, linear_fusion, cnn_sam) on the same
   split, every head at once (tags + energy + stress + quadrant), and evaluate each on the
   test split: the paper-style tagging table and its five-group emotion table
4. state, from the numbers just measured, whether the paper's claims hold on this data
5. export cnn_sam as a SavedModel (TF Serving layout) and TFLite float32
6. tag one test clip with the SavedModel and the TFLite model, write its taggram PNG

Every stage resumes: re-running skips finished clips, shards, epochs and exports. Nothing is
downloaded. The demo preset (``DEMO_MODEL``) is a narrower network than the default
ModelParams (``params.DemoParams``) so the whole run takes about five minutes on two idle CPU
cores (BUILD_NOTES.md has the measurements). Step 5 exports the TFLite variants the demo tags with
(``DemoParams.tflite_variants``); ``musictag-export`` writes the others.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from typing import Dict, List

from musictag_tf import params as params_lib
from musictag_tf.logs import quiet_tf_logging

# The demo's presets live in params.DemoParams (one place); these names are what the benchmarks import.
DEMO = params_lib.DemoParams()
DEMO_MODEL = DEMO.model
DEMO_TRAIN = DEMO.train
DEMO_DATA = DEMO.data
DEMO_SEGMENTS = DEMO.segments


@dataclasses.dataclass
class DemoResult:
    out_dir: str
    comparison_markdown: str
    claims: List[dict]
    tagged: dict
    seconds: Dict[str, float]  # wall time per stage
    cpu_seconds: Dict[str, float]  # CPU time per stage (cpu_seconds)
    profile: List[dict]  # time_profile: where stage 3's time went, per variant


def _stage(name: str):
    """Print the stage's title; returns its start mark (wall seconds, CPU seconds) for ``_since``."""
    print(f"\n=== {name} ===", flush=True)
    return time.time(), cpu_seconds()


def _since(mark) -> tuple:
    """(wall seconds, CPU seconds) since ``mark``."""
    return time.time() - mark[0], cpu_seconds() - mark[1]


def cpu_seconds() -> float:
    """CPU seconds (user + system) used so far by this process and its finished children (the
    generator's worker processes): on a shared machine a steadier measure than wall time."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def generate(out_dir: str, data: params_lib.SyntheticParams) -> str:
    from tfrecords_builder.synthetic import generate_dataset
    target = os.path.join(out_dir, "synthetic")
    ds = generate_dataset(target, data, progress=True)
    print(f"{ds.num_clips} clips in {target}")
    return target


def build(synthetic_dir: str, out_dir: str, segments: params_lib.SegmentParams,
          clips_per_shard: int = DEMO.clips_per_shard) -> str:
    from tfrecords_builder import sources
    from tfrecords_builder.build import build_records
    records = os.path.join(out_dir, "records")
    collection = sources.read_mtat_tree(
        synthetic_dir, lyrics_table=os.path.join(synthetic_dir, "lyrics.tsv"),
        labels_table=os.path.join(synthetic_dir, "emotion.tsv"))
    result = build_records(collection, records, segment_params=segments,
                           builder_params=params_lib.BuilderParams(clips_per_shard=clips_per_shard),
                           tags_file=os.path.join(synthetic_dir, "tags.txt"))
    print(result.report())
    return records


def train_small_model(root: str, recipe: params_lib.SmallModelParams = params_lib.SmallModelParams()):
    """Synthetic clips -> records -> a small cnn_sam (``recipe``), quietly, under ``root``.
    Returns (model_dir, records_dir)."""
    from musictag_tf import train as train_lib
    from tfrecords_builder import sources
    from tfrecords_builder.build import build_records
    from tfrecords_builder.synthetic import generate_dataset

    data = generate_dataset(os.path.join(root, "synthetic"), recipe.data, workers=recipe.workers, progress=False)
    collection = sources.read_mtat_tree(str(data.out_dir), lyrics_table=str(data.lyrics_table_path),
                                        labels_table=str(data.emotion_path))
    records = os.path.join(root, "records")
    build_records(collection, records, lyrics_params=recipe.lyrics,
                  builder_params=params_lib.BuilderParams(clips_per_shard=recipe.clips_per_shard,
                                                          num_workers=recipe.workers),
                  tags_file=str(data.tags_path), progress=False)
    job = train_lib.TrainJob(records_dir=records, model_dir=os.path.join(root, "model"), model=recipe.model,
                             train=recipe.train, verbose=0)
    train_lib.train(job)
    return job.model_dir, records


def export_and_tag(run_dir: str, synthetic_dir: str, out_dir: str,
                   tflite_variants=DEMO.tflite_variants) -> dict:
    from export import saved_model as sm
    from export import tflite
    from musictag_tf.tag import backends as tag_backends, inputs as tag_inputs, plot as tag_plot, tagger as tag_tagger
    source = sm.load_model_source(run_dir)
    export_dir = os.path.join(out_dir, "export")
    exported = sm.export_saved_model(source, os.path.join(export_dir, "saved_model"), version=1,
                                     overwrite=True)
    print(f"SavedModel {exported.path}: {exported.size_bytes:,} bytes, signatures "
          f"{', '.join(exported.signatures)}")
    models = tflite.export_tflite(source, os.path.join(export_dir, "tflite"), variants=tflite_variants)
    for m in models:
        print(f"TFLite {m.variant:13s} {m.size_bytes:>10,} bytes, builtin ops only")
    clip, truth = _a_test_clip(synthetic_dir)
    lyrics_file = os.path.join(synthetic_dir, truth["lyrics_file"]) if truth.get("lyrics_file") else None
    tagged = {"clip": clip, "truth_tags": truth["clean_tags"], "truth_quadrant": truth["quadrant_name"],
              "lyrics_file": lyrics_file}
    for name, model_path in (("SavedModel", exported.path),
                             ("TFLite float32", next(m.path for m in models if m.variant == "float32"))):
        tagger = tag_backends.load_tagger(model_path)
        lyrics = tag_inputs.LyricsSource(lyrics_file, tagger.info.vocab_path, tagger.info.lyrics_params)
        result = tag_tagger.tag_file(tagger, clip, lyrics)
        top = result.top_tags(tagger.info.tags, 5)
        quadrant = result.quadrant()
        line = ", ".join(f"{t} {p:.2f}" for t, p in top)
        print(f"{name:15s} top tags: {line}" +
              (f"  | quadrant: {quadrant[0]} ({quadrant[1]:.2f})" if quadrant else ""))
        tagged[name] = {"top_tags": top, "quadrant": quadrant[:2] if quadrant else None}
        if name == "SavedModel":
            png = os.path.join(out_dir, "taggram.png")
            tag_plot.plot_taggram(result, tagger.info.tags, png)
            tagged["taggram_png"] = png
    print(f"{'truth':15s} tags: {', '.join(truth['clean_tags'])}  | quadrant: {truth['quadrant_name']}")
    return tagged


def _a_test_clip(synthetic_dir: str):
    """The first test-split clip (folders d-f) that has lyrics, with its generator truth."""
    with open(os.path.join(synthetic_dir, "truth.jsonl"), encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    for row in rows:
        if row["folder"] in "def" and row["has_lyrics"]:
            return os.path.join(synthetic_dir, row["mp3_path"]), row
    return os.path.join(synthetic_dir, rows[-1]["mp3_path"]), rows[-1]


def time_profile(runs_dir: str, comparison) -> List[dict]:
    """Where stage 3's time went, per variant (seconds, wall clock).

    Rows: epochs run; ``steps`` = training steps (input pipeline included) summed over epochs;
    ``validation`` = whole-clip validation after each epoch; ``setup`` = the rest of training
    (building and tracing the model, checkpoints, best.keras, curves); ``test`` = loading
    best.keras and evaluating the test split.
    """
    from musictag_tf import runs
    rows = []
    for variant, seconds in comparison.seconds.items():
        history = runs.load_history(os.path.join(runs_dir, variant), upto_epoch=10 ** 6)
        epoch_s = sum(h["seconds"] for h in history)
        steps = sum(h.get("train_seconds", h["seconds"]) for h in history)
        rows.append({"variant": variant, "epochs": len(history), "steps": steps,
                     "validation": epoch_s - steps, "setup": seconds["train"] - epoch_s,
                     "test": seconds["evaluate"], "total": seconds["train"] + seconds["evaluate"]})
    return rows


def profile_markdown(rows: List[dict]) -> str:
    """Markdown table of ``time_profile`` rows."""
    lines = ["| variant | epochs | train steps s | validation s | setup s | test eval s | total s |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['variant']} | {r['epochs']} | {r['steps']:.1f} | {r['validation']:.1f} | "
                     f"{r['setup']:.1f} | {r['test']:.1f} | {r['total']:.1f} |")
    return "\n".join(lines) + "\n"


def run_demo(out_dir: str, demo: params_lib.DemoParams = DEMO, export: bool = True) -> DemoResult:
    """Every stage of the demo into ``out_dir`` (resumable); prints and returns the results and
    the wall time per stage (``DemoResult.seconds``) and per variant (``DemoResult.profile``)."""
    from musictag_tf import experiments
    seconds, cpu = {}, {}  # wall and CPU seconds per stage
    start = time.time(), cpu_seconds()
    t = _stage("1/5 synthetic dataset")
    synthetic_dir = generate(out_dir, demo.data)
    seconds["generate"], cpu["generate"] = _since(t)
    t = _stage("2/5 TFRecords")
    records_dir = build(synthetic_dir, out_dir, demo.segments, demo.clips_per_shard)
    seconds["build"], cpu["build"] = _since(t)
    t = _stage("3/5 train + evaluate the variants")
    runs_dir = os.path.join(out_dir, "runs")
    comparison = experiments.compare_variants(records_dir, runs_dir, model_params=demo.model,
                                              train_params=demo.train, verbose=1)
    seconds["train_evaluate"], cpu["train_evaluate"] = _since(t)
    profile = time_profile(runs_dir, comparison)
    print("\n" + comparison.markdown())
    print("Where stage 3's time went (wall seconds):\n\n" + profile_markdown(profile))
    t = _stage("4/5 the paper's claims on this data")
    claims = experiments.check_claims(comparison)
    for claim in claims:
        print(f"[{'holds' if claim['holds'] else 'DOES NOT HOLD'}] {claim['claim']}: {claim['detail']}")
    seconds["claims"], cpu["claims"] = _since(t)
    tagged = {}
    if export:
        t = _stage("5/5 export + tag")
        tagged = export_and_tag(os.path.join(runs_dir, "cnn_sam"), synthetic_dir, out_dir,
                                demo.tflite_variants)
        seconds["export_tag"], cpu["export_tag"] = _since(t)
    seconds["total"], cpu["total"] = _since(start)
    result = DemoResult(out_dir, comparison.markdown(), claims, tagged, seconds, cpu, profile)
    with open(os.path.join(out_dir, "demo_report.json"), "w", encoding="utf-8") as f:
        json.dump(dataclasses.asdict(result), f, indent=2, default=str)
    print("\nwall " + "  ".join(f"{k} {v:.0f}s" for k, v in seconds.items()))
    print("CPU  " + "  ".join(f"{k} {v:.0f}s" for k, v in cpu.items()))
    print(f"everything is in {out_dir}/ (runs/<variant>/ for checkpoints, curves and reports)")
    return result


# ----------------------------------------------------------------------------- command line

def define_flags():
    from absl import flags
    F = flags
    F.DEFINE_string("out_dir", "demo_out", "Where the dataset, records, runs and exports go (resumable).")
    F.DEFINE_integer("num_clips", DEMO_DATA.num_clips, "Synthetic clips to generate.")
    F.DEFINE_integer("epochs", DEMO_TRAIN.epochs, "Maximum epochs per variant.")
    F.DEFINE_integer("seed", DEMO_DATA.seed, "Seed of the synthetic dataset.")
    F.DEFINE_boolean("export", True, "Export cnn_sam and tag a clip at the end.")


def main(argv) -> int:
    from absl import flags
    from musictag_tf import errors
    quiet_tf_logging()
    FLAGS = flags.FLAGS
    if len(argv) > 1:
        return errors.report("musictag demo", errors.MusictagError(f"unexpected arguments {argv[1:]}"))
    os.makedirs(FLAGS.out_dir, exist_ok=True)
    try:
        demo = dataclasses.replace(
            DEMO, data=dataclasses.replace(DEMO.data, num_clips=FLAGS.num_clips, seed=FLAGS.seed),
            train=dataclasses.replace(DEMO.train, epochs=FLAGS.epochs))
        run_demo(FLAGS.out_dir, demo, export=FLAGS.export)
    except (errors.MusictagError, ValueError) as exc:
        return errors.report("musictag demo", exc)
    return 0
