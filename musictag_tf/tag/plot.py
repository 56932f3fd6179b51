"""Taggram PNGs: tag probability per window, time on x, tag names on y."""

from __future__ import annotations

import os
import pathlib
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from musictag_tf import fileio
from musictag_tf.tag.inputs import decodes_as_utf8, printable_path
from musictag_tf.tag.tagger import ClipTags, TagRun


def plot_taggram(clip: ClipTags, tags: Sequence[str], path: str, max_tags: int = 50,
                 attention: Optional[dict] = None) -> None:
    """Taggram PNG: tag probability per window (time in seconds on x, tag names on y).

    ``attention`` (musictag tag --attention): drawn under the taggram as the mean attention
    weight over time (musictag_tf.tag.attention.attention_curve).
    """
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    taggram = clip.taggram[:, :max_tags]
    names = list(tags)[: taggram.shape[1]]
    starts = clip.window_start_seconds
    centres = starts + min(clip.window_seconds, clip.duration_seconds) / 2
    if len(starts) > 1:
        step = np.median(np.diff(starts)) if len(starts) > 2 else starts[1] - starts[0]
        edges = np.concatenate([centres - step / 2, [centres[-1] + step / 2]])
    else:
        edges = np.array([0.0, clip.duration_seconds])
    height = max(3.0, 0.18 * len(names) + 1.2)
    width = max(6.0, min(16.0, 2 + 0.25 * len(starts)))
    if attention is None:
        fig, ax = plt.subplots(figsize=(width, height))
    else:
        fig, (ax, att_ax) = plt.subplots(2, 1, figsize=(width, height + 1.6), sharex=True,
                                         gridspec_kw={"height_ratios": [height, 1.6]})
    mesh = ax.pcolormesh(edges, np.arange(len(names) + 1), taggram.T, cmap="magma", vmin=0.0, vmax=1.0)
    ax.set_yticks(np.arange(len(names)) + 0.5)
    ax.set_yticklabels(names, fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("time (s, window centres)")
    if attention is not None:
        from musictag_tf.tag.attention import attention_curve
        times, weight = attention_curve(attention)
        att_ax.step(times, weight, where="post", color="tab:blue")
        att_ax.set_ylabel("attention", fontsize=8)
        att_ax.set_xlabel("time (s): mean self-attention weight of the segments (r rows averaged)")
    ax.set_title(f"{printable_path(os.path.basename(clip.path))}  ({clip.duration_seconds:.1f} s, "
                 f"{len(starts)} windows of {clip.window_seconds:g} s)", fontsize=9)
    fig.colorbar(mesh, ax=ax, label="tag probability", fraction=0.03)
    fileio.save_figure(fig, path, dpi=110)


MAX_NAME_BYTES = 255  # NAME_MAX of Linux/macOS file systems


def png_name(audio_path: str, n: int = 1) -> str:
    """``<stem>.taggram.png`` (``<stem>-<n>...`` for n > 1), the stem cut so the name fits in
    ``MAX_NAME_BYTES`` bytes of the file system's encoding (a 250-character stem is cut, not an error)."""
    suffix = (f"-{n}" if n > 1 else "") + ".taggram.png"
    full = os.fsencode(pathlib.Path(audio_path).stem)
    stem = full[: MAX_NAME_BYTES - len(suffix)]
    if decodes_as_utf8(full):
        while not decodes_as_utf8(stem):  # do not cut a UTF-8 character in half
            stem = stem[:-1]
    return os.fsdecode(stem) + suffix


def plot_paths(run: TagRun, tags: Sequence[str], out_dir: str,
               attention: Optional[Dict[str, dict]] = None) -> List[Tuple[str, Optional[str]]]:
    """One ``<stem>.taggram.png`` per tagged file in ``out_dir`` (``-2``, ``-3`` ... on name clashes).

    Returns ``(png path, None)`` for each PNG written and ``(audio path, reason)`` for each that
    could not be (one failure does not stop the others).
    """
    os.makedirs(out_dir, exist_ok=True)
    done, used = [], set()
    for clip in run.results:
        if not clip.taggram.size:
            continue
        n = 1
        while png_name(clip.path, n) in used:
            n += 1
        name = png_name(clip.path, n)
        used.add(name)
        target = os.path.join(out_dir, name)
        try:
            plot_taggram(clip, tags, target, attention=(attention or {}).get(clip.path))
        except (OSError, ValueError, RuntimeError) as exc:
            done.append((clip.path, getattr(exc, "strerror", None) or str(exc).splitlines()[0]))
            continue
        done.append((target, None))
    return done
