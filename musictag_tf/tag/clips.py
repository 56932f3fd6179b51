"""``musictag tag --clip_seconds=c``: tag each clip of long files, one result row per clip.

Clips follow the one rule of ``musictag_tf.audio.clips`` (the builder's ``--clip_seconds``):
``[k·c, (k+1)·c)``, the remainder dropped unless ``--keep_remainder`` (and at least
``ClipParams.min_remainder_seconds`` long). Each clip is decoded on its own (``read_span``,
a seek) and tagged like a file; its result's ``path`` is ``<absolute path>#<start s>``, the
key the builder's ``--soft_labels`` matches (tfrecords_builder/soft_labels.py), so

    musictag tag corpus/ --model=mtt_musicnn --clip_seconds=29.1 --format=csv --output=teacher.csv

is a teacher table for ``musictag-build --clip_seconds=29.1 --soft_labels=teacher.csv``.
"""

from __future__ import annotations

import os
from typing import Callable, Optional, Sequence

import numpy as np

from musictag_tf import params as params_lib
from musictag_tf.audio import io as audio_io
from musictag_tf.audio.clips import ClipParams, clip_key, clip_spans, file_duration, read_span
from musictag_tf.errors import AudioDecodeError
from musictag_tf.tag.backends import Tagger
from musictag_tf.tag.inputs import LyricsSource
from musictag_tf.tag.tagger import ClipTags, TagRun, tag_paths


def tag_clips_of_file(tagger: Tagger, path: str, params: ClipParams, lyrics: Optional[LyricsSource] = None,
                      hop_samples: Optional[int] = None) -> list:
    """ClipTags per clip of ``path`` (``path`` field ``<abs path>#<start>``). Raises AudioDecodeError."""
    info = tagger.info
    ids = lyrics.ids_for(path) if lyrics is not None else None
    base = os.path.normpath(os.path.abspath(path)) if "://" not in path else path
    spans = clip_spans(file_duration(path), params)
    if not spans:
        raise AudioDecodeError(path, f"shorter than one {params.clip_seconds:g} s clip (remainder dropped)")
    out = []
    for start, seconds in spans:
        waveform = read_span(path, start, seconds, info.sample_rate)
        name = clip_key(base, start)
        warnings = audio_io.check_audio_usable(waveform, name, info.sample_rate)
        probabilities, taggram, starts = tagger.tag_waveform(waveform, ids, hop_samples)
        out.append(ClipTags(path=name, duration_seconds=waveform.shape[0] / info.sample_rate,
                            probabilities=probabilities, taggram=taggram,
                            window_start_seconds=np.asarray(starts, np.float64) + start,
                            window_seconds=info.chunk_samples / info.sample_rate, warnings=warnings))
    return out


def tag_clip_paths(paths: Sequence[str], tagger: Tagger, params: ClipParams, lyrics: Optional[LyricsSource] = None,
                   hop_samples: Optional[int] = None, progress: bool = True,
                   on_error: Optional[Callable[[str, str], None]] = None,
                   workers: int = params_lib.TagParams().workers) -> TagRun:
    """``tag_paths`` with every file cut into clips; failures (per file) collected, not raised.
    ``workers``: as for ``tag_paths`` (files tagged at once)."""
    def tag_one(tagger, path, lyrics, hop_samples):
        return tag_clips_of_file(tagger, path, params, lyrics, hop_samples)

    return tag_paths(paths, tagger, lyrics, hop_samples, progress, on_error, tag_one=tag_one, workers=workers)
