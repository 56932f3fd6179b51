"""Per-clip teacher scores as a soft-label CSV (issue 13, item 3), straight from a shipped model.

    python -m musictag_tf.distill.teacher --table=corpus.csv --clip_seconds=29.1 --output=teacher.csv

The table is read and cut into clips exactly as the builder does it (``sources.read_table`` +
``tfrecords_builder.clips.cut_collection``, the rule of ``musictag_tf.audio.clips``), so every
record of ``musictag-build --table=corpus.csv --clip_seconds=29.1 --soft_labels=teacher.csv``
finds its row. Each clip's span is decoded (``read_span``), cut into the teacher's own 3 s
windows (``musicnn_windows``, as musicnn 0.1.0 does) and the window probabilities are averaged.

Output: ``path`` = ``<absolute audio path>#<start s>`` (the tagger's ``--clip_seconds`` rows)
and one column per teacher tag, in the model's tag order, scores with 6 decimals -- the
format ``musictag tag --format=csv`` writes, which ``--soft_labels`` reads.

Resume: rows go to ``<output>.partial`` as they are computed (flushed per file); a re-run keeps
the rows already there and tags only the missing clips; the finished table is renamed to
``<output>``. A clip that cannot be decoded is reported on stderr and left out (the builder
then reports it as unmatched, or fails on it itself).
"""

from __future__ import annotations

import csv
import dataclasses
import os
import sys
import time
from typing import Iterable, List, Optional, Tuple

import numpy as np

from musictag_tf.audio.clips import ClipParams, clip_key, read_span
from musictag_tf.errors import AudioDecodeError

DEFAULT_TEACHER = "mtt_musicnn"


@dataclasses.dataclass
class TeacherRun:
    """What ``write_teacher_csv`` did: rows written now / kept from before, failures, timing."""

    written: int
    resumed: int
    failures: List[Tuple[str, str]]
    audio_seconds: float
    seconds: float  # wall time of the model + decoding for the rows written now, s


class Teacher:
    """A shipped model (``model.pretrained.registry``) scoring whole clips.

    ``scores(waveform)``: float32 [samples] at 16 kHz -> float32 [num_tags] probabilities, the
    mean over the model's 3 s windows (``info.tags`` order).
    """

    def __init__(self, name: str = DEFAULT_TEACHER, batch_size: int = 32):
        import tensorflow as tf

        from musictag_tf.model.pretrained.registry import load_pretrained

        self.model, self.info = load_pretrained(name)
        self.batch_size = batch_size
        self.sample_rate = self.info.params.audio_params().sample_rate
        model = self.model

        @tf.function(input_signature=[tf.TensorSpec([None, self.info.params.window_samples], tf.float32)])
        def run(windows):
            return model(windows, training=False)["tags"]

        self._run = run

    @property
    def tags(self) -> Tuple[str, ...]:
        return tuple(self.info.tags)

    def scores(self, waveform: np.ndarray) -> np.ndarray:
        from musictag_tf.model.musicnn_windows import musicnn_windows

        windows = musicnn_windows(waveform, self.info.params)
        out = [self._run(windows[i:i + self.batch_size]).numpy() for i in range(0, len(windows), self.batch_size)]
        return np.concatenate(out).mean(axis=0)


def table_clips(table: str, audio_root: Optional[str], params: ClipParams):
    """The SourceClips of a builder table, cut exactly as ``musictag-build --clip_seconds`` cuts them."""
    from tfrecords_builder.clips import cut_collection
    from tfrecords_builder.sources import read_table

    return cut_collection(read_table(table, audio_root=audio_root), params).clips


def _row_key(clip) -> str:
    path = os.path.normpath(os.path.abspath(clip.audio_path)) if "://" not in clip.audio_path else clip.audio_path
    return clip_key(path, clip.start_seconds) if clip.span_seconds is not None else path


def _done_keys(partial: str) -> set:
    if not os.path.exists(partial):
        return set()
    with open(partial, newline="", encoding="utf-8") as f:
        return {row[0] for i, row in enumerate(csv.reader(f)) if i > 0 and row}


def write_teacher_csv(clips: Iterable, output: str, teacher: Teacher, progress: bool = True,
                      on_error=None) -> TeacherRun:
    """Score every clip (``SourceClip``s, cut or whole) and write the soft-label CSV (module docstring)."""
    clips = list(clips)
    partial = output + ".partial"
    done = _done_keys(partial)
    todo = [c for c in clips if _row_key(c) not in done]
    new_file = not os.path.exists(partial)
    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    failures, audio_seconds, started = [], 0.0, time.perf_counter()
    bar = None
    if progress and todo:
        from tqdm import tqdm
        bar = tqdm(total=len(todo), unit="clip", desc="teacher", file=sys.stderr)
    with open(partial, "a", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        if new_file:
            writer.writerow(["path"] + list(teacher.tags))
        for clip in todo:
            try:
                if clip.span_seconds is not None:
                    waveform = read_span(clip.audio_path, clip.start_seconds, clip.span_seconds, teacher.sample_rate)
                else:
                    from musictag_tf.audio.io import load_audio
                    waveform = load_audio(clip.audio_path, teacher.sample_rate)
                scores = teacher.scores(waveform)
            except AudioDecodeError as exc:
                failures.append((clip.audio_path, exc.reason))
                if on_error:
                    on_error(clip.audio_path, exc.reason)
            else:
                writer.writerow([_row_key(clip)] + [f"{float(s):.6f}" for s in scores])
                f.flush()
                audio_seconds += waveform.shape[0] / teacher.sample_rate
            if bar:
                bar.update(1)
    if bar:
        bar.close()
    os.replace(partial, output)
    return TeacherRun(written=len(todo) - len(failures), resumed=len(clips) - len(todo), failures=failures,
                      audio_seconds=audio_seconds, seconds=time.perf_counter() - started)


def main(argv) -> int:
    from absl import flags

    from musictag_tf import errors

    F = flags.FLAGS
    if len(argv) > 1:
        print(f"unexpected arguments {argv[1:]}", file=sys.stderr)
        return 2
    try:
        params = ClipParams(F.clip_seconds, F.keep_remainder, F.min_remainder_seconds)
        teacher = Teacher(F.model)
        clips = table_clips(F.table, F.audio_root, params)
        run = write_teacher_csv(clips, F.output, teacher, progress=F.progress,
                                on_error=lambda p, r: print(f"teacher: error: {p}: {r}", file=sys.stderr))
    except errors.MusictagError as exc:
        return errors.report("musictag_tf.distill.teacher", exc, status=1)
    rate = run.audio_seconds / run.seconds if run.seconds else 0.0
    print(f"{F.output}: {run.written} clips tagged now ({run.audio_seconds / 3600:.2f} h of audio in "
          f"{run.seconds:.0f} s, {rate:.0f}x real time), {run.resumed} kept from before, "
          f"{len(run.failures)} failed")
    return 1 if run.failures else 0


def run() -> None:
    from absl import app, flags

    defaults = ClipParams()
    flags.DEFINE_string("table", None, "Table of audio files (the builder's --table format, e.g. corpus.csv).")
    flags.DEFINE_string("audio_root", None, "Base of relative audio paths (default: the table's folder).")
    flags.DEFINE_string("output", None, "Soft-label CSV to write (resumes from <output>.partial).")
    flags.DEFINE_string("model", DEFAULT_TEACHER, "Shipped teacher model (musictag_tf.model.pretrained).")
    flags.DEFINE_float("clip_seconds", defaults.clip_seconds, "Clip length, s (0 = whole files); as the builder's.")
    flags.DEFINE_bool("keep_remainder", defaults.keep_remainder, "Keep each file's last, shorter clip.")
    flags.DEFINE_float("min_remainder_seconds", defaults.min_remainder_seconds, "Shortest remainder kept, s.")
    flags.DEFINE_bool("progress", True, "Show a progress bar.")
    flags.mark_flags_as_required(["table", "output"])
    app.run(lambda argv: sys.exit(main(argv)))


if __name__ == "__main__":
    run()
