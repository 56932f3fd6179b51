"""Tagging files: decode -> windows -> model -> per-clip scores (ClipTags), failures collected.

A clip's scores are the mean of its windows' probabilities; the per-window tag probabilities
``[windows, tags]`` are its taggram (musictag_tf.windows decides the windows).
"""

from __future__ import annotations

import dataclasses
import sys
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from musictag_tf import emotion
from musictag_tf.audio import io as audio_io
from musictag_tf.errors import AudioDecodeError, LyricsError
from musictag_tf.tag.backends import EMBEDDING_PREFIX, Tagger
from musictag_tf.tag.inputs import LyricsSource, find_audio_files


@dataclasses.dataclass
class ClipTags:
    """One tagged file.

    probabilities: head -> float32 [classes], the mean over windows.
    taggram: float32 [windows, num_tags] per-window tag probabilities (empty without a tag head).
    window_start_seconds: float [windows].
    """

    path: str
    duration_seconds: float
    probabilities: Dict[str, np.ndarray]
    taggram: np.ndarray
    window_start_seconds: np.ndarray
    window_seconds: float
    warnings: List[str] = dataclasses.field(default_factory=list)
    # with --embeddings: name -> float32 [windows, D] per window (the clip's is their mean)
    embeddings: Dict[str, np.ndarray] = dataclasses.field(default_factory=dict)

    def top_tags(self, tags: Sequence[str], k: int) -> List[Tuple[str, float]]:
        if "tags" not in self.probabilities:
            return []
        p = self.probabilities["tags"]
        order = np.argsort(-p, kind="stable")[:k]
        return [(tags[i], float(p[i])) for i in order]

    def quadrant(self) -> Optional[Tuple[str, float, np.ndarray]]:
        """(name, probability, probabilities [4]) of the Thayer quadrant, when the model has it."""
        q = emotion.quadrant_probabilities({k: np.asarray(v) for k, v in self.probabilities.items()})
        if q is None:
            return None
        q = np.asarray(q)
        index = int(np.argmax(q))
        return emotion.QUADRANT_NAMES[index], float(q[index]), q


@dataclasses.dataclass
class TagRun:
    results: List[ClipTags]
    failures: List[Tuple[str, str]]  # (path, reason)


def tag_file(tagger: Tagger, path: str, lyrics: Optional[LyricsSource] = None,
             hop_samples: Optional[int] = None) -> ClipTags:
    """Decode ``path`` (any length, any format libsndfile reads) and tag it.

    Raises AudioDecodeError (unreadable, silent, shorter than 0.1 s) or LyricsError.
    """
    info = tagger.info
    waveform = audio_io.load_audio(path, info.sample_rate)
    warnings = audio_io.check_audio_usable(waveform, path, info.sample_rate)
    ids = lyrics.ids_for(path) if lyrics is not None else None
    probabilities, taggram, starts = tagger.tag_waveform(waveform, ids, hop_samples)
    embeddings = {k: probabilities.pop(k) for k in list(probabilities) if k.startswith(EMBEDDING_PREFIX)}
    return ClipTags(path=path, duration_seconds=waveform.shape[0] / info.sample_rate,
                    probabilities=probabilities, taggram=taggram,
                    window_start_seconds=np.asarray(starts, np.float64),
                    window_seconds=info.chunk_samples / info.sample_rate, warnings=warnings,
                    embeddings=embeddings)


def tag_paths(paths: Sequence[str], tagger: Tagger, lyrics: Optional[LyricsSource] = None,
              hop_samples: Optional[int] = None, progress: bool = True,
              on_error: Optional[Callable[[str, str], None]] = None,
              tag_one: Optional[Callable[..., List[ClipTags]]] = None) -> TagRun:
    """Tag every audio file in ``paths`` (files and folders); failures are collected, not raised.

    ``tag_one(tagger, path, lyrics, hop_samples)`` -> ClipTags list replaces ``tag_file`` (e.g. one
    result per clip, musictag_tf.tag.clips).
    """
    files = find_audio_files(paths)
    results, failures = [], []
    iterator = files
    if progress and len(files) > 1:
        from tqdm import tqdm
        iterator = tqdm(files, desc="tagging", unit="file", file=sys.stderr, disable=None)
    for path in iterator:
        try:
            if tag_one is None:
                results.append(tag_file(tagger, path, lyrics, hop_samples))
            else:
                results.extend(tag_one(tagger, path, lyrics, hop_samples))
        except (AudioDecodeError, LyricsError) as exc:
            reason = exc.reason if isinstance(exc, AudioDecodeError) else f"lyrics {exc.path}: {exc.reason}"
            failures.append((path, reason))
            if on_error:
                on_error(path, reason)
    return TagRun(results=results, failures=failures)


