"""``musictag models``: list the pretrained models shipped inside the package (no download).

    musictag models

prints one line per model: name (what ``musictag tag --model=`` takes), architecture, training
data, number of tags, the published ROC-AUC / PR-AUC and the weights' size; then one line per
shipped student (registry.SHIPPED_STUDENTS): its teacher, its agreement with the teacher on the
held-out packages and its speed-up (model.json, measured when it was shipped); then the licence.
"""

from __future__ import annotations

from typing import Sequence

from musictag_tf.model.pretrained import registry


def define_flags(flag_values=None) -> None:
    """``musictag models`` has no flags of its own."""
    del flag_values


def describe_shipped() -> list:
    """One line per shipped model (registry.SHIPPED_MODELS order)."""
    lines = []
    for name in registry.SHIPPED_MODELS:
        info = registry.pretrained_info(name)
        meta = info.metadata
        published = meta.get("published_results", {})
        scores = (f"ROC-AUC {published['roc_auc']:.4f} PR-AUC {published['pr_auc']:.4f}"
                  if published.get("roc_auc") is not None else "no published scores")
        size_mb = (info.directory / "weights.npz").stat().st_size / 1e6
        lines.append(f"{name:12s} {info.params.architecture:8s} trained on {meta.get('trained_on', '?'):14s} "
                     f"{len(info.tags)} tags  {scores}  {size_mb:.2f} MB")
    return lines


def describe_students() -> list:
    """One line per shipped student whose files are present (registry.SHIPPED_STUDENTS order)."""
    lines = []
    for name in registry.SHIPPED_STUDENTS:
        meta = registry.student_metadata(name)
        row = meta["agreement"].get("tflite_float32") or meta["agreement"]["keras"]
        speedup = meta["speed"]["speedup_vs_teacher_same_runtime"].get("float32", float("nan"))
        lines.append(f"{name:18s} {meta['architecture']:8s} distilled from {meta['teacher']} on real music: "
                     f"ROC-AUC {row['roc_auc']:.3f} / top-5 overlap {row['top5_overlap']:.2f} against it on "
                     f"held-out packages, {speedup:.1f}x its speed (TFLite float32)")
    return lines


def main(argv: Sequence[str]) -> int:
    """Print the shipped models; returns 0."""
    del argv
    print("shipped models (musictag tag --model=NAME; default mtt_musicnn; musicnn models: 3 s windows, no overlap):")
    for line in describe_shipped() + describe_students():
        print("  " + line)
    print(f"weights: musicnn 0.1.0 (Pons & Serra 2019), ISC licence: {registry.LICENSE_FILE}")
    return 0
