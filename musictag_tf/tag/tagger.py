"""Tagging files: decode -> windows -> model -> per-clip scores (ClipTags), failures collected.

A clip's scores are the mean of its windows' probabilities; the per-window tag probabilities
``[windows, tags]`` are its taggram (musictag_tf.windows decides the windows).
"""

from __future__ import annotations

import dataclasses
import sys
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np
import tensorflow as tf

from musictag_tf import emotion
from musictag_tf import params as params_lib
from musictag_tf import windows as windows_lib
from musictag_tf.audio import io as audio_io
from musictag_tf.audio.decode_ahead import DecodeAhead
from musictag_tf.audio.levels import LevelMeter
from musictag_tf.audio.stream import stream_audio
from musictag_tf.audio.stream_windows import WindowStream
from musictag_tf.errors import LyricsError, MusictagError
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
             hop_samples: Optional[int] = None,
             stream: params_lib.StreamParams = params_lib.StreamParams(),
             window_batch: int = params_lib.TagParams().window_batch,
             blocks: Optional[Iterable[np.ndarray]] = None) -> ClipTags:
    """Decode ``path`` (any length, any format libsndfile reads) and tag it.

    The file is streamed (musictag_tf.audio.stream: decode, downmix and resample in blocks of
    ``stream.block_seconds``) into musictag_tf.audio.stream_windows.WindowStream (the shared
    windows rule) and the model runs on ``window_batch`` windows at a time, so memory does not
    grow with the file's length: only the taggram (float32 [windows, tags]) does. Every backend
    is run this way (the SavedModel through its ``tag_windows`` signature); a model whose windows
    read context samples around each window (``WindowParams.context_samples``) is tagged from the
    whole decoded waveform instead. ``stream.max_seconds`` tags only the start of the file.
    ``blocks``: the file's audio blocks already being decoded (``stream_audio(path, rate, stream)``
    run ahead by musictag_tf.audio.decode_ahead); None decodes here.

    Raises AudioDecodeError (unreadable, silent, shorter than 0.1 s) or LyricsError.
    """
    info = tagger.info
    ids = lyrics.ids_for(path) if lyrics is not None else None
    params = tagger.window_params(hop_samples)
    if params.context_samples:
        waveform = audio_io.load_audio(path, info.sample_rate, max_seconds=stream.max_seconds)
        warnings = audio_io.check_audio_usable(waveform, path, info.sample_rate)
        probabilities, taggram, starts = tagger.tag_waveform(waveform, ids, hop_samples)
        num_samples = waveform.shape[0]
    else:
        probabilities, taggram, starts, num_samples, warnings = _tag_stream(
            tagger, path, ids, params, stream, window_batch, blocks)
    embeddings = {k: probabilities.pop(k) for k in list(probabilities) if k.startswith(EMBEDDING_PREFIX)}
    return ClipTags(path=path, duration_seconds=num_samples / info.sample_rate,
                    probabilities=probabilities, taggram=taggram,
                    window_start_seconds=np.asarray(starts, np.float64),
                    window_seconds=info.chunk_samples / info.sample_rate, warnings=warnings,
                    embeddings=embeddings)


def _tag_stream(tagger: Tagger, path: str, ids: Optional[np.ndarray], params: windows_lib.WindowParams,
                stream: params_lib.StreamParams, window_batch: int,
                blocks: Optional[Iterable[np.ndarray]] = None):
    """(probabilities, taggram [windows, tags], starts [windows] s, samples, warnings) of a streamed file."""
    rate = tagger.info.sample_rate
    meter = LevelMeter()
    if blocks is None:
        blocks = stream_audio(path, rate, stream)
    windows = WindowStream(meter.watch(blocks), params.window_samples,
                           params.hop_samples, params.remainder)
    model_ids = tagger._ids(ids)
    outputs: Dict[str, List[np.ndarray]] = {}
    starts: List[int] = []
    batch: List[np.ndarray] = []

    def flush():
        for head, values in tagger.run_windows(np.stack(batch), model_ids).items():
            outputs.setdefault(head, []).append(np.asarray(values, np.float32))
        batch.clear()

    for start, window in windows:
        starts.append(start)
        batch.append(window)
        if len(batch) == window_batch:
            flush()
    warnings = audio_io.check_quality(meter.quality(rate), path, rate)
    if batch:
        flush()
    per_window = {head: np.concatenate(parts) for head, parts in outputs.items()}
    taggram = per_window.get("tags", np.zeros([len(starts), 0], np.float32))
    probabilities = windows_lib.mean_over_windows(
        {k: v for k, v in per_window.items() if not k.startswith(EMBEDDING_PREFIX)})
    if tagger.embeddings:  # per-window, not averaged: tag_file splits them off
        probabilities.update({k: v for k, v in per_window.items() if k.startswith(EMBEDDING_PREFIX)})
    return (probabilities, np.asarray(taggram, np.float32),
            np.asarray(starts, np.float64) / rate, windows.num_samples, warnings)


def tag_paths(paths: Sequence[str], tagger: Tagger, lyrics: Optional[LyricsSource] = None,
              hop_samples: Optional[int] = None, progress: bool = True,
              on_error: Optional[Callable[[str, str], None]] = None,
              stream: params_lib.StreamParams = params_lib.StreamParams(),
              on_result: Optional[Callable[[ClipTags], None]] = None,
              tag_one: Optional[Callable[..., List[ClipTags]]] = None) -> TagRun:
    """Tag every audio file in ``paths`` (files and folders); failures are collected, not raised.

    Each file is isolated: a decode, lyrics or model error, or any OSError, fails that file only
    (``on_error(path, reason)``); ``on_result(clip)`` is called for each result as it is done.
    ``tag_one(tagger, path, lyrics, hop_samples)`` -> ClipTags list replaces ``tag_file`` (e.g. one
    result per clip, musictag_tf.tag.clips).
    """
    files, listing_errors = find_audio_files(paths, with_errors=True)
    results, failures = [], []
    for path, reason in listing_errors:
        failures.append((path, reason))
        if on_error:
            on_error(path, reason)
    ahead = None  # decode the next files in a background thread while the model runs
    if (tag_one is None and stream.decode_ahead_blocks > 0 and len(files) > 1
            and not tagger.window_params(hop_samples).context_samples):
        rate = tagger.info.sample_rate
        ahead = DecodeAhead(files, lambda p: stream_audio(p, rate, stream), stream.decode_ahead_blocks)
        items = iter(ahead)
    else:
        items = ((path, None) for path in files)
    if progress and len(files) > 1:
        from tqdm import tqdm
        items = tqdm(items, total=len(files), desc="tagging", unit="file", file=sys.stderr, disable=None)
    try:
        for path, blocks in items:
            _tag_one_path(tagger, path, lyrics, hop_samples, stream, tag_one, blocks,
                          results, failures, on_error, on_result)
    finally:
        if ahead is not None:
            ahead.close()
    return TagRun(results=results, failures=failures)


def _tag_one_path(tagger, path, lyrics, hop_samples, stream, tag_one, blocks, results, failures,
                  on_error, on_result) -> None:
    """Tag one file into ``results``, or its failure into ``failures`` (never raises for it)."""
    try:
        if tag_one is None:
            clips = [tag_file(tagger, path, lyrics, hop_samples, stream, blocks=blocks)]
        else:
            clips = tag_one(tagger, path, lyrics, hop_samples)
    except (MusictagError, OSError, tf.errors.OpError) as exc:
        if isinstance(exc, LyricsError):
            reason = f"lyrics {exc.path}: {exc.reason}"
        elif isinstance(exc, MusictagError):
            reason = exc.reason
        elif isinstance(exc, tf.errors.OpError):
            reason = f"model failed on this file: {exc.message.splitlines()[0]}"
        else:
            reason = exc.strerror or str(exc)
        failures.append((path, reason))
        if on_error:
            on_error(path, reason)
        return
    for clip in clips:
        results.append(clip)
        if on_result:
            on_result(clip)
