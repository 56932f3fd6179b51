"""Write a synthetic dataset in the MagnaTagATune layout (plus lyrics and emotion tables).

``generate_dataset(out_dir, params)`` writes::

  out_dir/
    annotations_final.csv   MTAT format: tab-separated, every field double-quoted; header
                            "clip_id", <one column per tag, SYNTHETIC_TAGS order>, "mp3_path";
                            rows: clip id (1..N), 0/1 per tag, "<folder>/synthetic-<genre>-<id>-0-<s>.mp3"
    0/ ... f/               mp3, 16 kHz mono (~32 kbit/s, as MTAT)
    lyrics.tsv              "clip_id<TAB>lyrics_file"; one row per clip that has lyrics; paths relative to out_dir
    lyrics/<clip_id>.txt    UTF-8 lyrics, one line per lyric line
    emotion.tsv             "clip_id<TAB>energy<TAB>stress<TAB>quadrant": energy 0 low / 1 high,
                            stress 0 low / 1 high, quadrant = 2 * energy + stress
                            (0 contentment, 1 depression, 2 exuberance, 3 anxious)
    tags.txt                the tag vocabulary, one per line, in column order
    truth.jsonl             per clip: every generated attribute, its tags (annotated and clean),
                            folder and split
    synthetic_params.json   the SyntheticParams and sample rate used (lets a re-run skip finished mp3s)

Random streams: clip ``i`` (0-based; clip_id = i + 1) draws its attributes from
``default_rng([seed, i, 0])``, its lyrics from ``[seed, i, 1]`` and its audio from
``[seed, i, 2]``, so any clip can be regenerated alone, in any process, in any order.
Folders come from ``[seed, FOLDER_STREAM, 0]``.

Folders follow MTAT's default split (0-b train, c valid, d-f test): the clips are shuffled
and cut into 75 / 6.25 / 18.75 % (each split gets at least one clip when N >= 3); then any tag
absent from train is brought in by swapping a clip that has it with a train clip whose tags
train keeps without it, so every tag that occurs is learnable.

Audio is rendered in a process pool ("spawn" start method: safe even when the caller has
already imported TensorFlow); each mp3 is written to a temporary name and renamed.
"""

from __future__ import annotations

import concurrent.futures
import csv
import dataclasses
import io
import json
import multiprocessing
import os
import pathlib
import time
from typing import Optional

import numpy as np
import soundfile as sf

from musictag_tf.errors import DatasetError
from musictag_tf.fileio import write_atomic
from musictag_tf.params import AudioParams, SyntheticParams, to_dict
from tfrecords_builder.synthetic.lyrics_text import lyrics_of
from tfrecords_builder.synthetic.render import render_clip
from tfrecords_builder.synthetic.spec import ClipSpec, sample_clip_spec
from tfrecords_builder.synthetic.tags import SYNTHETIC_TAGS, clean_tags, tags_of

SPEC_STREAM, LYRICS_STREAM, AUDIO_STREAM = 0, 1, 2
FOLDER_STREAM = 0xF01DE5
TRAIN_FOLDERS = tuple("0123456789ab")
VALID_FOLDERS = ("c",)
TEST_FOLDERS = ("d", "e", "f")
# MTAT's folder split gives valid (folder c) one part and test (d-f) three parts of the
# evaluation share; SyntheticParams.evaluation_share is 4/16 by default, as in MTAT.
VALID_PARTS, TEST_PARTS = 1, 3
FORMAT_VERSION = 1  # bump when the same params would produce different files
MAX_DECODED_PEAK = 0.99  # no mp3 sample may decode louder than this

ANNOTATIONS_FILE = "annotations_final.csv"
LYRICS_TABLE_FILE = "lyrics.tsv"
EMOTION_FILE = "emotion.tsv"
TAGS_FILE = "tags.txt"
TRUTH_FILE = "truth.jsonl"
PARAMS_FILE = "synthetic_params.json"


@dataclasses.dataclass(frozen=True)
class SyntheticDataset:
    """What ``generate_dataset`` wrote (paths absolute) and how many of each."""

    out_dir: pathlib.Path
    annotations_path: pathlib.Path
    lyrics_table_path: pathlib.Path
    emotion_path: pathlib.Path
    tags_path: pathlib.Path
    truth_path: pathlib.Path
    tags: tuple
    num_clips: int
    num_with_lyrics: int
    num_train: int
    num_valid: int
    num_test: int
    num_rendered: int  # mp3s synthesised in this run
    num_reused: int  # mp3s already present from an identical earlier run
    seconds: float  # wall time of the run


def split_of_folder(folder: str) -> str:
    """MTAT's default split of a folder name: train (0-b), valid (c) or test (d-f)."""
    if folder in TRAIN_FOLDERS:
        return "train"
    if folder in VALID_FOLDERS:
        return "valid"
    if folder in TEST_FOLDERS:
        return "test"
    raise DatasetError(f"folder {folder!r} is not an MTAT folder (0-9, a-f)")


def assign_folders(clip_tags: list, seed: int, evaluation_share: float = 0.25) -> list[str]:
    """One MTAT folder per clip, every tag in train.

    ``evaluation_share`` of the clips go to the valid folder (c) and test folders (d-f) in the
    ratio 1 : 3, the rest to the train folders 0-b: 0.25 gives MTAT's 75 / 6.25 / 18.75 %.

    Args:
      clip_tags: per clip, its annotated tags.
      seed: the dataset seed (the shuffle uses stream ``[seed, FOLDER_STREAM, 0]``).
      evaluation_share: share of clips in valid + test.
    Returns:
      folder names ("0".."f"), one per clip, in clip order.
    """
    n = len(clip_tags)
    rng = np.random.default_rng([seed, FOLDER_STREAM, 0])
    order = [int(i) for i in rng.permutation(n)]
    parts = VALID_PARTS + TEST_PARTS
    n_valid = max(1, int(round(n * evaluation_share * VALID_PARTS / parts))) if n >= 3 else 0
    n_test = max(1, int(round(n * evaluation_share * TEST_PARTS / parts))) if n >= 3 else 0
    valid, test, train = order[:n_valid], order[n_valid:n_valid + n_test], order[n_valid + n_test:]

    def counts(members):
        c = {}
        for i in members:
            for tag in clip_tags[i]:
                c[tag] = c.get(tag, 0) + 1
        return c

    train_counts = counts(train)
    for tag in SYNTHETIC_TAGS:
        if train_counts.get(tag, 0) > 0:
            continue
        holders = [(group, i) for group in (test, valid) for i in group if tag in clip_tags[i]]
        for group, i in holders:
            # a train clip whose every tag stays in train without it
            swap = next((j for j in train
                         if all(train_counts[t] > 1 or t in clip_tags[i] for t in clip_tags[j])), None)
            if swap is None:
                continue
            group[group.index(i)] = swap
            train[train.index(swap)] = i
            train_counts = counts(train)
            break
    folders = [""] * n
    for members, names in ((train, TRAIN_FOLDERS), (valid, VALID_FOLDERS), (test, TEST_FOLDERS)):
        for position, i in enumerate(sorted(members, key=order.index)):
            folders[i] = names[position % len(names)]
    return folders


def mp3_name(spec: ClipSpec, folder: str) -> str:
    """MTAT-style relative path: "<folder>/synthetic-<genre>-<clip_id:06d>-0-<seconds>.mp3"."""
    return f"{folder}/synthetic-{spec.genre}-{spec.clip_id:06d}-0-{spec.seconds:g}.mp3"


def encode_mp3(waveform: np.ndarray, sample_rate: int) -> bytes:
    """mp3 bytes (libsndfile/LAME defaults: ~32 kbit/s for 16 kHz mono) that decode without clipping.

    Lossy coding can lift the decoded peak above the input's; if the decoded peak would exceed
    MAX_DECODED_PEAK the waveform is scaled down by the overshoot and encoded again (at most
    3 times), so no sample of a synthetic mp3 decodes outside [-1, 1].
    """
    data = np.clip(np.asarray(waveform, dtype=np.float32), -1.0, 1.0)
    for _ in range(3):
        buffer = io.BytesIO()
        sf.write(buffer, data, sample_rate, format="MP3", subtype="MPEG_LAYER_III")
        encoded = buffer.getvalue()
        decoded, _ = sf.read(io.BytesIO(encoded), dtype="float32")
        peak = float(np.max(np.abs(decoded)))
        if peak <= MAX_DECODED_PEAK:
            break
        data = data * np.float32(0.97 * MAX_DECODED_PEAK / peak)
    return encoded


def _mp3_is_complete(path: pathlib.Path, frames: int, sample_rate: int) -> bool:
    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError, OSError):
        return False
    return info.samplerate == sample_rate and info.channels == 1 and info.frames == frames


def _render_task(task: tuple) -> bool:
    """Worker: synthesise one clip and write its mp3. Returns True if rendered, False if reused."""
    seed, index, spec, path, sample_rate, reuse = task
    path = pathlib.Path(path)
    frames = int(round(spec.seconds * sample_rate))
    if reuse and _mp3_is_complete(path, frames, sample_rate):
        return False
    audio = render_clip(spec, np.random.default_rng([seed, index, AUDIO_STREAM]), sample_rate)
    write_atomic(path, encode_mp3(audio, sample_rate))
    return True


def _remove_stale(out: pathlib.Path, specs, folders, lyrics) -> None:
    """Delete generator-written files (lyrics/<id>.txt, <folder>/synthetic-*.mp3) this run does not list."""
    keep_lyrics = {f"{s.clip_id}.txt" for s, text in zip(specs, lyrics) if text is not None}
    lyrics_dir = out / "lyrics"
    if lyrics_dir.is_dir():
        for path in lyrics_dir.glob("*.txt"):
            if path.stem.isdigit() and path.name not in keep_lyrics:
                path.unlink()
    keep_mp3 = {mp3_name(s, f) for s, f in zip(specs, folders)}
    for folder in TRAIN_FOLDERS + VALID_FOLDERS + TEST_FOLDERS:
        directory = out / folder
        if directory.is_dir():
            for path in directory.glob("synthetic-*.mp3"):
                if f"{folder}/{path.name}" not in keep_mp3:
                    path.unlink()


def _annotations_text(specs, folders) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter="\t", quoting=csv.QUOTE_ALL, lineterminator="\n")
    writer.writerow(["clip_id", *SYNTHETIC_TAGS, "mp3_path"])
    for spec, folder in zip(specs, folders):
        present = set(tags_of(spec))
        writer.writerow([str(spec.clip_id), *("1" if t in present else "0" for t in SYNTHETIC_TAGS),
                         mp3_name(spec, folder)])
    return buffer.getvalue()


def _params_record(params: SyntheticParams, sample_rate: int) -> dict:
    return {"format_version": FORMAT_VERSION, "sample_rate": sample_rate, "params": to_dict(params)}


def generate_dataset(out_dir, params: SyntheticParams = SyntheticParams(), *, workers: int = 0,
                     progress: bool = True, sample_rate: Optional[int] = None) -> SyntheticDataset:
    """Generate ``params.num_clips`` clips into ``out_dir`` (MTAT layout; see the module docstring).

    Deterministic: the same params give byte-identical tables and lyrics and mp3s that decode to
    identical samples. Re-running into a directory written with the same params and sample rate
    keeps mp3s that are already complete.

    Args:
      out_dir: output directory (created).
      params: number and length of clips, seed, lyrics / Chinese shares, label noise.
      workers: processes rendering audio; 0 = all cores, 1 = in this process.
      progress: show a tqdm bar.
      sample_rate: Hz; default AudioParams().sample_rate (16 kHz).
    """
    started = time.time()
    sample_rate = int(sample_rate or AudioParams().sample_rate)
    out = pathlib.Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    record = _params_record(params, sample_rate)
    params_path = out / PARAMS_FILE
    reuse = False
    if params_path.exists():
        try:
            reuse = json.loads(params_path.read_text(encoding="utf-8")) == record
        except (OSError, ValueError):
            reuse = False

    seed = params.seed
    specs = [sample_clip_spec(np.random.default_rng([seed, i, SPEC_STREAM]), params, clip_id=i + 1)
             for i in range(params.num_clips)]
    lyrics = [lyrics_of(spec, np.random.default_rng([seed, i, LYRICS_STREAM]))
              for i, spec in enumerate(specs)]
    folders = assign_folders([tags_of(spec) for spec in specs], seed, params.evaluation_share)

    # Tables first (cheap), so a crash while rendering still leaves a consistent description.
    write_atomic(out / PARAMS_FILE, json.dumps(record, indent=2, sort_keys=True) + "\n")
    write_atomic(out / TAGS_FILE, "".join(f"{tag}\n" for tag in SYNTHETIC_TAGS))
    write_atomic(out / ANNOTATIONS_FILE, _annotations_text(specs, folders))
    lyric_rows = ["clip_id\tlyrics_file\n"]
    for spec, text in zip(specs, lyrics):
        if text is not None:
            relative = f"lyrics/{spec.clip_id}.txt"
            write_atomic(out / relative, text)
            lyric_rows.append(f"{spec.clip_id}\t{relative}\n")
    write_atomic(out / LYRICS_TABLE_FILE, "".join(lyric_rows))
    _remove_stale(out, specs, folders, lyrics)
    write_atomic(out / EMOTION_FILE, "clip_id\tenergy\tstress\tquadrant\n" + "".join(
        f"{s.clip_id}\t{s.energy}\t{s.stress}\t{s.quadrant}\n" for s in specs))
    truth_rows = []
    for spec, folder, text in zip(specs, folders, lyrics):
        row = spec.to_json()
        row.update(tags=tags_of(spec), clean_tags=list(clean_tags(spec)), folder=folder,
                   split=split_of_folder(folder), mp3_path=mp3_name(spec, folder),
                   lyrics_file=f"lyrics/{spec.clip_id}.txt" if text is not None else None)
        truth_rows.append(json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n")
    write_atomic(out / TRUTH_FILE, "".join(truth_rows))

    tasks = [(seed, i, spec, str(out / mp3_name(spec, folder)), sample_rate, reuse)
             for i, (spec, folder) in enumerate(zip(specs, folders))]
    workers = (os.cpu_count() or 1) if workers == 0 else max(1, int(workers))
    workers = min(workers, len(tasks))
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=len(tasks), unit="clip", desc="synthetic audio")
    rendered = 0
    try:
        if workers == 1:
            results = map(_render_task, tasks)
            for done in results:
                rendered += int(done)
                if bar is not None:
                    bar.update(1)
        else:
            context = multiprocessing.get_context("spawn")
            with concurrent.futures.ProcessPoolExecutor(workers, mp_context=context) as pool:
                for done in pool.map(_render_task, tasks, chunksize=max(1, min(8, len(tasks) // (4 * workers)))):
                    rendered += int(done)
                    if bar is not None:
                        bar.update(1)
    finally:
        if bar is not None:
            bar.close()

    splits = [split_of_folder(f) for f in folders]
    return SyntheticDataset(
        out_dir=out, annotations_path=out / ANNOTATIONS_FILE, lyrics_table_path=out / LYRICS_TABLE_FILE,
        emotion_path=out / EMOTION_FILE, tags_path=out / TAGS_FILE, truth_path=out / TRUTH_FILE,
        tags=SYNTHETIC_TAGS, num_clips=len(specs), num_with_lyrics=sum(t is not None for t in lyrics),
        num_train=splits.count("train"), num_valid=splits.count("valid"), num_test=splits.count("test"),
        num_rendered=rendered, num_reused=len(tasks) - rendered, seconds=time.time() - started)
