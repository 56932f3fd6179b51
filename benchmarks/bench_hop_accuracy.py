"""What window overlap buys: clip-level accuracy of a trained run at several tagging hops.

    python benchmarks/bench_hop_accuracy.py --model_dir RUN --records_dir RECORDS [--split test]
        [--hop_fractions 0.25,0.5,1.0]

``musictag tag`` averages the window probabilities of windows ``hop_fraction`` of a window apart
(``TagParams.hop_fraction``, the last window end-aligned: musictag_tf.windows). Each hop here
cuts the ``--split`` clips of the records with that rule (pipeline.eval_windows "tagger", as
evaluation does), runs the run's Keras model and reports macro ROC-AUC / PR-AUC of the tags head,
the emotion heads' accuracy and the windows per clip, i.e. the accuracy bought by the extra
windows (each costs one network pass: BUILD_NOTES.md "Tagging speed").
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model_dir", required=True, help="a training run (spec.json + best.keras)")
    parser.add_argument("--records_dir", required=True, help="the records it was trained on")
    parser.add_argument("--split", default="test")
    parser.add_argument("--hop_fractions", default="0.25,0.5,1.0", help="comma-separated, each in (0, 1]")
    args = parser.parse_args(argv)

    import numpy as np

    from export import tflite
    from musictag_tf import metrics, runs
    from musictag_tf.data import manifest as manifest_lib, pipeline, schema
    from musictag_tf.predict import aggregate_by_clip, first_by_clip

    source = runs.load_model_source(args.model_dir)
    manifest = manifest_lib.read_manifest(args.records_dir)
    files = manifest_lib.split_files(args.records_dir, args.split, manifest)
    base = pipeline.PipelineConfig.from_records(manifest, source.spec.model)
    print(f"model {args.model_dir} ({source.spec.model.variant}, windows of {source.spec.model.chunk_seconds:g} s), "
          f"{args.split} split of {args.records_dir}")
    print("| hop fraction | windows / clip | macro ROC-AUC | macro PR-AUC | " +
          " | ".join(f"{h} acc" for h in schema.EMOTION_KEYS if h in source.spec.model.heads) + " |")
    print("|---:|---:|---:|---:|" + "---:|" * sum(h in source.spec.model.heads for h in schema.EMOTION_KEYS))
    for fraction in (float(f) for f in args.hop_fractions.split(",")):
        config = dataclasses.replace(base, hop_samples=max(1, int(round(base.chunk_samples * fraction))))
        waves, ids, index, labels = [], [], [], {}
        for features, batch_labels, clip in pipeline.evaluation_dataset(files, config, 64, windows="tagger"):
            waves.append(features["waveform"].numpy())
            ids.append(features["lyrics_ids"].numpy())
            index.append(clip.numpy())
            for key, value in batch_labels.items():
                labels.setdefault(key, []).append(value.numpy())
        index = np.concatenate(index)
        labels = {k: first_by_clip(np.concatenate(v), index) for k, v in labels.items()}
        out = tflite.run_keras(source.model, np.concatenate(waves), np.concatenate(ids), batch_size=64)
        clip = {head: aggregate_by_clip(v, index) for head, v in out.items()}
        cells = []
        if "tags" in clip:
            s = metrics.tagging_scores(labels["tags"], clip["tags"], source.tags)
            cells += [f"{s.roc_auc_macro:.4f}", f"{s.pr_auc_macro:.4f}"]
        else:
            cells += ["-", "-"]
        for head in schema.EMOTION_KEYS:
            if head in clip:
                known = labels[head] >= 0
                cells.append(f"{(clip[head][known].argmax(1) == labels[head][known]).mean():.4f}")
        print(f"| {fraction:g} | {len(index) / (index.max() + 1):.2f} | " + " | ".join(cells) + " |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
