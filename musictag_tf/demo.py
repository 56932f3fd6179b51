"""``musictag demo``: the whole pipeline on the embedded synthetic data, in one command.

    musictag demo --out_dir=demo_out

1. generate the deterministic synthetic dataset (audio + lyrics + Thayer emotion, MTAT layout)
2. build TFRecords from it with the real MTAT builder path
3. train the four variants (audio_vgg, lyrics_textcnn, linear_fusion, cnn_sam) on the same
   split, every head at once (tags + energy + stress + quadrant), and evaluate each on the
   test split: the paper-style tagging table and its five-group emotion table
4. state, from the numbers just measured, whether the paper's claims hold on this data
5. export cnn_sam as a SavedModel (TF Serving layout) and TFLite (float32, int8, float16)
6. tag one test clip with the SavedModel and the TFLite model, write its taggram PNG

Every stage resumes: re-running skips finished clips, shards, epochs and exports. Nothing is
downloaded. The demo preset (``DEMO_MODEL``) is a narrower network than the default
ModelParams so the whole run fits in about ten minutes on two CPU cores.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from typing import Dict, List

from musictag_tf import params as params_lib
from musictag_tf.logs import quiet_tf_logging

# Narrower than ModelParams() (which is sized for MTAT on an accelerator): same layers, fewer
# filters, 4 s crops from the 8 s synthetic clips. See BUILD_NOTES.md for the measurements.
DEMO_MODEL = params_lib.ModelParams(
    chunk_seconds=4.0, mel_filters=(16, 32, 32, 64), wave_filters=(16, 32, 64),
    text_filters=32, lstm_units=32, attention_hidden=32, fusion_units=64,
    vgg_filters=(16, 32, 48, 64))
DEMO_TRAIN = params_lib.TrainParams(epochs=20, batch_size=32, learning_rate=2e-3, pos_weight=2.0,
                                    task="multi", early_stopping_patience=6)
# 800 clips, half of them in the valid/test folders (100 / 300): test differences between the
# variants are a few clips, so the evaluation sets must be larger than MTAT's 25 % would give.
DEMO_DATA = params_lib.SyntheticParams(num_clips=800, clip_seconds=8.0, evaluation_share=0.5)
DEMO_SEGMENTS = params_lib.SegmentParams(kernel_seconds=0.5, min_segment_seconds=0.5,
                                         max_segment_seconds=2.0)


@dataclasses.dataclass
class DemoResult:
    out_dir: str
    comparison_markdown: str
    claims: List[dict]
    tagged: dict
    seconds: Dict[str, float]


def _stage(name: str):
    print(f"\n=== {name} ===", flush=True)
    return time.time()


def generate(out_dir: str, data: params_lib.SyntheticParams) -> str:
    from tfrecords_builder.synthetic import generate_dataset
    target = os.path.join(out_dir, "synthetic")
    ds = generate_dataset(target, data, progress=True)
    print(f"{ds.num_clips} clips in {target}")
    return target


def build(synthetic_dir: str, out_dir: str, segments: params_lib.SegmentParams) -> str:
    from tfrecords_builder import sources
    from tfrecords_builder.build import build_records
    records = os.path.join(out_dir, "records")
    collection = sources.read_mtat_tree(
        synthetic_dir, lyrics_table=os.path.join(synthetic_dir, "lyrics.tsv"),
        labels_table=os.path.join(synthetic_dir, "emotion.tsv"))
    result = build_records(collection, records, segment_params=segments,
                           builder_params=params_lib.BuilderParams(clips_per_shard=64),
                           tags_file=os.path.join(synthetic_dir, "tags.txt"))
    print(result.report())
    return records


def export_and_tag(run_dir: str, synthetic_dir: str, out_dir: str) -> dict:
    from export import saved_model as sm
    from export import tflite
    from musictag_tf.tag import backends as tag_backends, inputs as tag_inputs, plot as tag_plot, tagger as tag_tagger
    source = sm.load_model_source(run_dir)
    export_dir = os.path.join(out_dir, "export")
    exported = sm.export_saved_model(source, os.path.join(export_dir, "saved_model"), version=1,
                                     overwrite=True)
    print(f"SavedModel {exported.path}: {exported.size_bytes:,} bytes, signatures "
          f"{', '.join(exported.signatures)}")
    models = tflite.export_tflite(source, os.path.join(export_dir, "tflite"))
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


def run_demo(out_dir: str, data: params_lib.SyntheticParams = DEMO_DATA,
             model: params_lib.ModelParams = DEMO_MODEL, train: params_lib.TrainParams = DEMO_TRAIN,
             segments: params_lib.SegmentParams = DEMO_SEGMENTS, export: bool = True) -> DemoResult:
    from musictag_tf import experiments
    seconds = {}
    start = time.time()
    t = _stage("1/5 synthetic dataset")
    synthetic_dir = generate(out_dir, data)
    seconds["generate"] = time.time() - t
    t = _stage("2/5 TFRecords")
    records_dir = build(synthetic_dir, out_dir, segments)
    seconds["build"] = time.time() - t
    t = _stage("3/5 train + evaluate the variants")
    comparison = experiments.compare_variants(records_dir, os.path.join(out_dir, "runs"), model_params=model,
                                           train_params=train, verbose=1)
    seconds["train_evaluate"] = time.time() - t
    print("\n" + comparison.markdown())
    t = _stage("4/5 the paper's claims on this data")
    claims = experiments.check_claims(comparison)
    for c in claims:
        print(f"[{'holds' if c['holds'] else 'DOES NOT HOLD'}] {c['claim']}: {c['detail']}")
    seconds["claims"] = time.time() - t
    tagged = {}
    if export:
        t = _stage("5/5 export + tag")
        tagged = export_and_tag(os.path.join(out_dir, "runs", "cnn_sam"), synthetic_dir, out_dir)
        seconds["export_tag"] = time.time() - t
    seconds["total"] = time.time() - start
    result = DemoResult(out_dir, comparison.markdown(), claims, tagged, seconds)
    with open(os.path.join(out_dir, "demo_report.json"), "w", encoding="utf-8") as f:
        json.dump(dataclasses.asdict(result), f, indent=2, default=str)
    print("\n" + "  ".join(f"{k} {v:.0f}s" for k, v in seconds.items()))
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
        run_demo(FLAGS.out_dir,
                 data=dataclasses.replace(DEMO_DATA, num_clips=FLAGS.num_clips, seed=FLAGS.seed),
                 train=dataclasses.replace(DEMO_TRAIN, epochs=FLAGS.epochs), export=FLAGS.export)
    except (errors.MusictagError, ValueError) as exc:
        return errors.report("musictag demo", exc)
    return 0
