"""The per-clip step: audio file + labels + lyrics -> one serialised ``tf.train.Example``.

The same ``process_clip`` runs in the local builder (in-process or in a spawn pool) and inside
the Beam pipeline, so both write identical records:

1. ``load_audio`` (tf.io.gfile bytes -> libsndfile -> mono -> soxr HQ to 16 kHz), float32
   [samples] in [-1, 1]; for a clip of a long file (``--clip_seconds``) only its span is
   decoded (``musictag_tf.audio.clips.read_span``: a seek, not the whole file per clip), so
   memory holds one clip whatever the file's length. A whole file (no ``--clip_seconds``) is
   one record held in memory, so a file whose header says it lasts longer than
   ``BuilderParams.max_record_seconds`` is refused before decoding (a failure naming the file
   and suggesting ``--clip_seconds``; the other files are built);
2. the source's promised duration (MTAT file names) is checked: libmpg123 decodes a truncated
   header-less mp3 *silently* to fewer samples, so a clip more than
   ``DURATION_TOLERANCE`` short of it is a failure ("truncated");
3. ``check_audio_usable``: silence / too short fail, heavy clipping is a warning;
4. ``compute_log_mel`` (the in-graph front end, float32 [frames, n_mels]) and
   ``find_segments`` on it (segment starts, s);
5. lyrics: inline text or ``read_lyrics_file``; tokenized with musictag_tf.lyrics (jieba for
   Chinese) and mapped through the train-split vocabulary; ids stored unpadded (trailing pad
   ids removed, at most ``max_tokens``). Missing lyrics are normal (has_lyrics = 0). An
   unreadable lyrics file is a **per-clip warning**, not a failure: the audio and tags are
   fine, so the clip is kept as a no-lyrics clip and the warning names the file and reason;
6. ``schema.encode_example`` (int16 PCM, float16 log-mel).

A clip whose audio cannot be used gives a ``ClipOutcome`` with ``failure`` set (the reason
from ``AudioDecodeError``); the build goes on. Any other exception is a bug or an
environment problem and propagates (the local build stops; finished shards are kept and a
re-run resumes).
"""

from __future__ import annotations

import dataclasses
import os
from typing import List, Optional, Sequence, Tuple

import numpy as np

from musictag_tf.data import schema
from musictag_tf.data.manifest import Failure
from musictag_tf.errors import AudioDecodeError, LyricsError
from musictag_tf.params import AudioParams, BuilderParams, LyricsParams, SegmentParams

# A clip decoding to less than (1 - this) x the duration its source promises is truncated
# (MTAT clips promise 29 s and decode to 29.12 s; io.TRUNCATION_TOLERANCE is the same 5 %).
DURATION_TOLERANCE = 0.05


@dataclasses.dataclass(frozen=True)
class ClipTask:
    """Everything the per-clip step needs about one clip (picklable; a Beam element).

    audio_path: file to read (local path or URL); relative_path: stored in the record.
    tags: multi-hot 0/1 [num_tags] in tags.txt order.
    lyrics_text / lyrics_path: inline lyrics or a lyrics file; both None = no lyrics.
    energy, stress, quadrant: Thayer labels, -1 unknown.
    expected_seconds: duration the source promises (None: unknown).
    start_seconds / span_seconds: decode only this span of the file (None: the whole file).
    tag_targets: float [num_tags] in [0, 1], the training targets (soft teacher scores);
      None = the multi-hot ``tags``.
    """

    clip_id: str
    audio_path: str
    relative_path: str
    split: str
    tags: Tuple[int, ...]
    lyrics_text: Optional[str] = None
    lyrics_path: Optional[str] = None
    energy: int = schema.UNKNOWN_LABEL
    stress: int = schema.UNKNOWN_LABEL
    quadrant: int = schema.UNKNOWN_LABEL
    expected_seconds: Optional[float] = None
    start_seconds: Optional[float] = None
    span_seconds: Optional[float] = None
    tag_targets: Optional[Tuple[float, ...]] = None


@dataclasses.dataclass(frozen=True)
class ProcessConfig:
    """The settings of the per-clip step (picklable: sent once to each worker)."""

    audio: AudioParams
    lyrics: LyricsParams
    segments: SegmentParams
    builder: BuilderParams
    vocab_words: Tuple[str, ...]  # lyrics vocabulary ids 2.. (musictag_tf.lyrics.Vocabulary.words)


@dataclasses.dataclass
class ClipOutcome:
    """Result of one clip: ``example`` (serialised) or ``failure``; plus what summaries count.

    tags: the multi-hot written; seconds: decoded duration (s); warnings: kept-clip problems.
    """

    clip_id: str
    split: str
    audio_path: str
    example: Optional[bytes] = None
    failure: Optional[Failure] = None
    warnings: List[Failure] = dataclasses.field(default_factory=list)
    tags: Tuple[int, ...] = ()
    has_lyrics: bool = False
    has_emotion: bool = False
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.failure is None


class ClipProcessor:
    """Holds the per-worker state (vocabulary) and the settings; call ``process_clip`` with it.

    clock: a ``musictag_tf.audio.stages.StageClock`` to time each stage of every clip
    (benchmarks/bench_builder.py); the default measures nothing.
    """

    def __init__(self, config: ProcessConfig, clock=None):
        from musictag_tf.audio.stages import NO_CLOCK
        from musictag_tf.lyrics.vocab import Vocabulary

        self.config = config
        self.vocab = Vocabulary(list(config.vocab_words))
        self.clock = NO_CLOCK if clock is None else clock


def _lyrics_ids(text: str, processor: ClipProcessor) -> np.ndarray:
    """Lyrics text -> int ids, unpadded (<= max_tokens)."""
    from musictag_tf.lyrics.encode import encode_text
    from musictag_tf.lyrics.vocab import PAD_ID

    ids = encode_text(text, processor.vocab, processor.config.lyrics)
    return ids[ids != PAD_ID]  # pad ids only trail the tokens (encode pads at the end)


def _lyrics(task: ClipTask, processor: ClipProcessor, warnings: List[Failure]) -> Tuple[str, Sequence[int]]:
    """(text, ids) of the clip's lyrics; ('', []) when missing or unreadable (warning added)."""
    from musictag_tf.lyrics.encode import read_lyrics_file

    text = task.lyrics_text
    source = "inline lyrics"
    try:
        if text is None and task.lyrics_path is not None:
            source = task.lyrics_path
            text = read_lyrics_file(task.lyrics_path)
        if text is None or not text.strip():
            return "", []
        return text, [int(i) for i in _lyrics_ids(text, processor)]
    except LyricsError as exc:
        warnings.append(Failure(path=exc.source if exc.source else source, clip_id=task.clip_id,
                                reason=f"lyrics unreadable, clip kept without lyrics: {exc.reason}"))
        return "", []


def check_duration(waveform: np.ndarray, task: ClipTask, sample_rate: int) -> None:
    """AudioDecodeError when the clip is clearly shorter than its source promises."""
    if task.expected_seconds is None:
        return
    seconds = waveform.shape[0] / sample_rate
    if seconds < (1.0 - DURATION_TOLERANCE) * task.expected_seconds:
        raise AudioDecodeError(task.audio_path, f"truncated: decoded {seconds:.2f} s, the source promises "
                                                f"{task.expected_seconds:g} s (file name)")


def check_record_length(task: ClipTask, max_seconds: float) -> None:
    """AudioDecodeError when a whole-file record (no ``--clip_seconds``) would exceed ``max_seconds``.

    The duration comes from the header (no decoding), so a 3-hour file is refused before its
    audio is held in memory. Clips (``task.span_seconds``) and an unreadable header pass: the
    clip holds only its span, and the decoder reports the unreadable file itself. For a URL
    (gs://) reading the header fetches the file's bytes once more (``clips.file_duration``).
    """
    from musictag_tf.audio.clips import file_duration

    if task.span_seconds is not None or not max_seconds:
        return
    try:
        seconds = file_duration(task.audio_path)
    except AudioDecodeError:
        return
    if seconds > max_seconds:
        raise AudioDecodeError(task.audio_path, f"too long for one record: {seconds:.1f} s, the limit is "
                                                f"{max_seconds:g} s (BuilderParams.max_record_seconds); cut it "
                                                "into clips with --clip_seconds (e.g. 29.1)")


def process_clip(task: ClipTask, processor: ClipProcessor) -> ClipOutcome:
    """One clip -> ClipOutcome with the serialised Example, or with the failure reason.

    Stages timed by ``processor.clock``: open+seek, decode, downmix, resample (``read_span``; a
    whole file is one "decode" stage), check, log_mel, segments, lyrics, encode.
    """
    from musictag_tf.audio.features import compute_log_mel
    from musictag_tf.audio.clips import read_span
    from musictag_tf.audio.io import check_audio_usable, load_audio
    from musictag_tf.audio.segmentation import find_segments

    config = processor.config
    clock = processor.clock
    rate = config.audio.sample_rate
    outcome = ClipOutcome(clip_id=task.clip_id, split=task.split, audio_path=task.relative_path)
    try:
        if task.span_seconds is not None:
            waveform = read_span(task.audio_path, task.start_seconds or 0.0, task.span_seconds, rate, clock=clock)
        else:
            check_record_length(task, config.builder.max_record_seconds)
            with clock("decode"):
                waveform = load_audio(task.audio_path, rate)
        with clock("check"):
            check_duration(waveform, task, rate)
            for message in check_audio_usable(waveform, task.audio_path, rate):
                prefix = f"{task.audio_path}: "
                reason = message[len(prefix):] if message.startswith(prefix) else message
                outcome.warnings.append(Failure(path=task.audio_path, clip_id=task.clip_id, reason=reason))
    except AudioDecodeError as exc:
        outcome.failure = Failure(path=task.audio_path, reason=exc.reason, clip_id=task.clip_id)
        return outcome
    with clock("log_mel"):
        log_mel = compute_log_mel(waveform, config.audio)
    with clock("segments"):
        if config.builder.store_segments:
            segments = [float(s) for s in find_segments(log_mel, config.audio, config.segments)]
        else:
            segments = [0.0]
    with clock("lyrics"):
        text, ids = _lyrics(task, processor, outcome.warnings)
    with clock("encode"):
        record = schema.ClipRecord(
            clip_id=task.clip_id, audio_path=task.relative_path, split=task.split,
            waveform=waveform if config.builder.keep_waveform else None, sample_rate=rate,
            log_mel=log_mel, lyrics_ids=ids, lyrics_text=text, tags=task.tags,
            energy=task.energy, stress=task.stress, quadrant=task.quadrant, segment_starts=segments,
            tag_targets=task.tag_targets)
        outcome.example = schema.encode_example(record)
    outcome.tags = tuple(task.tags)
    outcome.has_lyrics = record.has_lyrics
    outcome.has_emotion = task.quadrant != schema.UNKNOWN_LABEL or task.energy != schema.UNKNOWN_LABEL \
        or task.stress != schema.UNKNOWN_LABEL
    outcome.seconds = waveform.shape[0] / rate
    return outcome


# ---------------------------------------------------------------------------- process pool

_WORKER: Optional[ClipProcessor] = None


def init_worker(config: ProcessConfig, tf_threads: int = 1) -> None:
    """Pool initializer: limit TF to ``tf_threads`` threads (one process per core) and load state."""
    global _WORKER
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(tf_threads)
        tf.config.threading.set_inter_op_parallelism_threads(tf_threads)
    except RuntimeError:  # TF already initialised in this process
        pass
    _WORKER = ClipProcessor(config)


def pool_process(task: ClipTask) -> ClipOutcome:
    """Pool worker entry: ``process_clip`` with this worker's processor."""
    if _WORKER is None:
        raise RuntimeError("pool_process called in a process without init_worker")
    return process_clip(task, _WORKER)
