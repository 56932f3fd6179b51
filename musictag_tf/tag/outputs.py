"""The tagger's outputs: one JSON object per file, or a CSV of path + one column per tag.

JSON (a list, one object per file)::

    {"path": ..., "duration_seconds": 29.1, "scores": {tag: p, ...},
     "top_tags": [{"tag": ..., "score": p}, ...],
     "quadrant": {"name": "exuberance", "probability": p, "probabilities": {...}},   # emotion models
     "energy": {"low": p, "high": p}, "stress": {...},                                 # when present
     "taggram": {"window_start_seconds": [...], "window_seconds": 8.0, "scores": [[p, ...], ...]},
     "model": {"name": "mtt_musicnn", "kind": ..., "source": ..., "windows": {...}},       # always
     "embeddings": {"embedding_penultimate": {"per_window": [[...]], "clip": [...]}, ...}}  # --embeddings

and ``{"path": ..., "error": ...}`` for a file that could not be tagged. CSV: ``path`` and one
column per tag (what ``musictag-evaluate --predictions`` reads; top tags and the quadrant are
JSON-only).
"""

from __future__ import annotations

import csv
import json
from typing import Dict, Optional, Sequence

import numpy as np

from musictag_tf import emotion
from musictag_tf.tag.tagger import ClipTags, TagRun


def clip_json(clip: ClipTags, tags: Sequence[str], top_k: int, with_taggram: bool = True,
              digits: int = 6) -> dict:
    """The JSON object of one tagged file (see the module docstring)."""
    def r(x):
        return round(float(x), digits)

    entry = {"path": clip.path, "duration_seconds": round(clip.duration_seconds, 3)}
    if "tags" in clip.probabilities:
        entry["scores"] = {t: r(p) for t, p in zip(tags, clip.probabilities["tags"])}
        entry["top_tags"] = [{"tag": t, "score": r(p)} for t, p in clip.top_tags(tags, top_k)]
    quadrant = clip.quadrant()
    if quadrant is not None:
        name, p, all_p = quadrant
        entry["quadrant"] = {"name": name, "probability": r(p),
                             "probabilities": {n: r(v) for n, v in zip(emotion.QUADRANT_NAMES, all_p)}}
    for head in ("energy", "stress"):
        if head in clip.probabilities:
            entry[head] = {n: r(v) for n, v in zip(emotion.CLASS_NAMES[head], clip.probabilities[head])}
    if with_taggram and clip.taggram.size:
        entry["taggram"] = {"window_start_seconds": [round(float(s), 3) for s in clip.window_start_seconds],
                            "window_seconds": clip.window_seconds,
                            "scores": [[r(v) for v in row] for row in clip.taggram]}
    if clip.warnings:
        entry["warnings"] = list(clip.warnings)
    if clip.embeddings:
        entry["embeddings"] = {name: {"per_window": [[r(v) for v in row] for row in rows],
                                      "clip": [r(v) for v in np.asarray(rows, np.float64).mean(axis=0)]}
                               for name, rows in clip.embeddings.items()}
    return entry


def write_json(run: TagRun, tags: Sequence[str], top_k: int, out, with_taggram: bool = True,
               attention: Optional[Dict[str, dict]] = None, model: Optional[dict] = None) -> None:
    """One JSON list. ``model`` (Tagger.describe()) is added to every file's entry; ``attention``:
    path -> "attention" object (musictag_tf/tag/attention.py), added to that file's entry."""
    entries = [dict(clip_json(c, tags, top_k, with_taggram), **({"model": model} if model else {}))
               for c in run.results]
    for entry in entries:
        if attention and entry["path"] in attention:
            entry["attention"] = attention[entry["path"]]
    entries += [{"path": path, "error": reason} for path, reason in run.failures]
    json.dump(entries, out, indent=1, ensure_ascii=False)
    out.write("\n")


def write_csv(run: TagRun, tags: Sequence[str], out) -> None:
    """``path`` + one column per tag (``musictag-evaluate --predictions`` reads this)."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["path"] + list(tags))
    for clip in run.results:
        if "tags" in clip.probabilities:
            writer.writerow([clip.path] + [f"{p:.6f}" for p in clip.probabilities["tags"]])


