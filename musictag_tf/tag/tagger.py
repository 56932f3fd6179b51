"""Tagging files: decode -> windows -> model -> per-clip scores (ClipTags), failures collected.

A clip's scores are the mean of its windows' probabilities; the per-window tag probabilities
``[windows, tags]`` are its taggram (musictag_tf.windows decides the windows).
"""

from __future__ import annotations

import dataclasses
import os
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
              tag_one: Optional[Callable[..., List[ClipTags]]] = None,
              workers: int = params_lib.TagParams().workers) -> TagRun:
    """Tag every audio file in ``paths`` (files and folders); failures are collected, not raised.

    Each file is isolated: a decode, lyrics or model error, or any OSError, fails that file only
    (``on_error(path, reason)``); ``on_result(clip)`` is called for each result as it is done, in
    the files' order. ``tag_one(tagger, path, lyrics, hop_samples)`` -> ClipTags list replaces
    ``tag_file`` (e.g. one result per clip, musictag_tf.tag.clips).

    ``workers`` (TagParams.workers): files tagged at once, each by a worker thread with its own
    copy of the model (``Tagger.worker_copy``: TFLite interpreters, which release the GIL; the
    cores are shared out among them). 0 = one per CPU core when there are several files and the
    backend has copies; 1 = one file at a time (then ``stream.decode_ahead_blocks`` may decode
    the next file while the model runs).
    """
    files, listing_errors = find_audio_files(paths, with_errors=True)
    results, failures = [], []
    for path, reason in listing_errors:
        failures.append((path, reason))
        if on_error:
            on_error(path, reason)
    taggers = worker_taggers(tagger, workers, len(files))

    def record(path: str, outcome: Tuple[List[ClipTags], Optional[str]]) -> None:
        clips, reason = outcome
        if reason is not None:
            failures.append((path, reason))
            if on_error:
                on_error(path, reason)
        for clip in clips:
            results.append(clip)
            if on_result:
                on_result(clip)

    bar = None
    if progress and len(files) > 1:
        from tqdm import tqdm
        bar = tqdm(total=len(files), desc="tagging", unit="file", file=sys.stderr, disable=None)
    if len(taggers) > 1:
        _tag_in_workers(taggers, files, lyrics, hop_samples, stream, tag_one, record, bar)
    else:
        ahead = None  # decode the next files in a background thread while the model runs
        if (tag_one is None and stream.decode_ahead_blocks > 0 and len(files) > 1
                and not tagger.window_params(hop_samples).context_samples):
            rate = tagger.info.sample_rate
            ahead = DecodeAhead(files, lambda p: stream_audio(p, rate, stream), stream.decode_ahead_blocks)
            items = iter(ahead)
        else:
            items = ((path, None) for path in files)
        try:
            for path, blocks in items:
                record(path, _tag_one_path(tagger, path, lyrics, hop_samples, stream, tag_one, blocks))
                if bar is not None:
                    bar.update(1)
        finally:
            if ahead is not None:
                ahead.close()
    if bar is not None:
        bar.close()
    return TagRun(results=results, failures=failures)


def worker_taggers(tagger: Tagger, workers: int, num_files: int) -> List[Tagger]:
    """The taggers of ``tag_paths``'s worker threads: ``tagger`` itself, plus copies (the CPU
    cores shared out among them) when ``workers`` asks for more than one and the backend has them."""
    cores = os.cpu_count() or 1
    wanted = min(cores if workers == 0 else workers, max(num_files, 1))
    if wanted <= 1:
        return [tagger]
    threads = max(1, cores // wanted)
    first = tagger.worker_copy(threads)
    if first is None:
        return [tagger]
    return [first] + [tagger.worker_copy(threads) for _ in range(wanted - 1)]


def _tag_in_workers(taggers, files, lyrics, hop_samples, stream, tag_one, record, bar) -> None:
    """Files spread over one thread per tagger; outcomes recorded in the files' order."""
    import concurrent.futures
    import queue

    free: "queue.Queue[Tagger]" = queue.Queue()
    for t in taggers:
        free.put(t)

    def work(path):
        tagger = free.get()
        try:
            return _tag_one_path(tagger, path, lyrics, hop_samples, stream, tag_one, None)
        finally:
            free.put(tagger)

    with concurrent.futures.ThreadPoolExecutor(max_workers=len(taggers), thread_name_prefix="tag") as pool:
        futures = [pool.submit(work, path) for path in files]
        try:
            for path, future in zip(files, futures):
                record(path, future.result())
                if bar is not None:
                    bar.update(1)
        except BaseException:
            for future in futures:
                future.cancel()
            raise


def _tag_one_path(tagger, path, lyrics, hop_samples, stream, tag_one, blocks
                  ) -> Tuple[List[ClipTags], Optional[str]]:
    """Tag one file: (its ClipTags, None), or ([], the reason it failed) (never raises for it)."""
    try:
        if tag_one is None:
            return [tag_file(tagger, path, lyrics, hop_samples, stream, blocks=blocks)], None
        return tag_one(tagger, path, lyrics, hop_samples), None
    except (MusictagError, OSError, tf.errors.OpError) as exc:
        if isinstance(exc, LyricsError):
            reason = f"lyrics {exc.path}: {exc.reason}"
        elif isinstance(exc, MusictagError):
            reason = exc.reason
        elif isinstance(exc, tf.errors.OpError):
            reason = f"model failed on this file: {exc.message.splitlines()[0]}"
        else:
            reason = exc.strerror or str(exc)
        return [], reason
