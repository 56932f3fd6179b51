"""``musictag models``: list the pretrained models shipped inside the package (no download).

    musictag models

prints one line per model: name (what ``musictag tag --model=`` takes), architecture, training
data, number of tags, the published ROC-AUC / PR-AUC and the weights' size; then the licence.
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


def main(argv: Sequence[str]) -> int:
    """Print the shipped models; returns 0."""
    del argv
    print("shipped models (musictag tag --model=NAME; default mtt_musicnn; 3 s windows, no overlap):")
    for line in describe_shipped():
        print("  " + line)
    print(f"weights: musicnn 0.1.0 (Pons & Serra 2019), ISC licence: {registry.LICENSE_FILE}")
    return 0
