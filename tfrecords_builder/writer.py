"""Shards: deterministic planning, atomic writing, and resume.

Planning (``plan_shards``): within each split, clips are ordered by the SHA-1 of their clip
id (deterministic, independent of the table's row order, and well mixed: MTAT's consecutive
clip ids are consecutive 29 s pieces of one track, so id order would pack a shard with a few
tracks and starve the reader's shuffle buffer) and cut into ``ceil(n / clips_per_shard)``
shards of equal size (+-1), named ``<split>-NNNNN-of-MMMMM.tfrecord``.

Each shard has a fingerprint: SHA-256 of the build fingerprint (params, tags, vocabulary,
schema version) and of every ``ClipTask`` in it. A shard is **finished** iff its final file
exists AND ``shard_summaries/<shard>.json`` exists, names the same fingerprint and the file's
size matches. So a re-run with other settings or other inputs rebuilds exactly the shards that
changed, and a crash at any point never leaves a shard that passes as finished.

Writing (``ShardWriter``): any stale final file and summary of the shard are deleted first;
records go to ``<shard>.tmp-<pid>``; on commit the summary is written atomically, then the
temporary file is renamed into place. A crash before the rename leaves a summary without a
final file (not finished); an exception removes the temporary file.

All file operations go through ``tf.io.gfile``, so gs:// output directories work.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import re
import socket
from typing import Dict, Iterable, List, Optional, Sequence

import tensorflow as tf

from musictag_tf.data.manifest import SHARD_PATTERN, shard_name
from musictag_tf.fileio import write_atomic
from musictag_tf.data.schema import SPLITS
from musictag_tf.errors import DatasetError
from tfrecords_builder.process import ClipOutcome, ClipTask
from tfrecords_builder.summary import ShardSummary

SUMMARY_DIR = "shard_summaries"
LOCK_NAME = ".build.lock"
_TMP_MARK = ".tmp-"
_TMP_FILE = re.compile(r"\.tmp-\d+$")  # "<file>.tmp-<pid>": ShardWriter and fileio.write_atomic


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def clip_order_key(clip_id: str) -> tuple:
    """Sort key of a clip within its split: SHA-1 of the id (ties impossible in practice)."""
    return hashlib.sha1(clip_id.encode("utf-8")).hexdigest(), clip_id


def task_json(task: ClipTask) -> str:
    return json.dumps(dataclasses.asdict(task), sort_keys=True, ensure_ascii=False)


@dataclasses.dataclass(frozen=True)
class ShardPlan:
    """One shard to write: its split, position, clips (in write order) and fingerprint."""

    split: str
    index: int
    count: int
    tasks: tuple
    fingerprint: str

    @property
    def name(self) -> str:
        return shard_name(self.split, self.index, self.count)


def num_shards(num_clips: int, clips_per_shard: int) -> int:
    """Shards for ``num_clips`` clips (0 for an empty split)."""
    if clips_per_shard <= 0:
        raise ValueError(f"clips_per_shard must be positive, got {clips_per_shard}")
    return math.ceil(num_clips / clips_per_shard) if num_clips else 0


def plan_shards(tasks: Iterable[ClipTask], clips_per_shard: int, build_fingerprint: str) -> List[ShardPlan]:
    """Every shard of the build, in split order (train, valid, test) then index."""
    by_split: Dict[str, List[ClipTask]] = {split: [] for split in SPLITS}
    for task in tasks:
        by_split[task.split].append(task)
    plans = []
    for split in SPLITS:
        ordered = sorted(by_split[split], key=lambda t: clip_order_key(t.clip_id))
        count = num_shards(len(ordered), clips_per_shard)
        for index in range(count):
            lo, hi = index * len(ordered) // count, (index + 1) * len(ordered) // count
            chunk = tuple(ordered[lo:hi])
            name = shard_name(split, index, count)
            fingerprint = _sha256("\n".join([build_fingerprint, name] + [task_json(t) for t in chunk]))
            plans.append(ShardPlan(split=split, index=index, count=count, tasks=chunk, fingerprint=fingerprint))
    return plans


def summary_path(out_dir: str, name: str) -> str:
    return os.path.join(out_dir, SUMMARY_DIR, name + ".json")


def read_summary(out_dir: str, name: str) -> Optional[ShardSummary]:
    """The shard's summary, or None when absent or unreadable."""
    path = summary_path(out_dir, name)
    if not tf.io.gfile.exists(path):
        return None
    try:
        with tf.io.gfile.GFile(path, "r") as f:
            return ShardSummary.from_json(f.read())
    except (ValueError, TypeError, KeyError, tf.errors.OpError):
        return None


def finished_summary(out_dir: str, plan: ShardPlan) -> Optional[ShardSummary]:
    """The summary of ``plan`` if the shard is finished for this very plan, else None."""
    final = os.path.join(out_dir, plan.name)
    if not tf.io.gfile.exists(final):
        return None
    summary = read_summary(out_dir, plan.name)
    if summary is None or summary.fingerprint != plan.fingerprint:
        return None
    if tf.io.gfile.stat(final).length != summary.num_bytes:
        return None
    return summary


def _remove(path: str) -> None:
    try:
        tf.io.gfile.remove(path)
    except tf.errors.NotFoundError:
        pass


class ShardWriter:
    """Write one shard atomically: ``with ShardWriter(...) as w: w.add(outcome)...; w.commit()``.

    Leaving the block without ``commit`` (an exception) deletes the temporary file, so only
    committed shards ever appear under their final name.
    """

    def __init__(self, out_dir: str, plan: ShardPlan, num_tags: int):
        self.out_dir = out_dir
        self.plan = plan
        self.final = os.path.join(out_dir, plan.name)
        self.tmp = f"{self.final}{_TMP_MARK}{os.getpid()}"
        self.summary = ShardSummary(shard=plan.name, split=plan.split, fingerprint=plan.fingerprint,
                                    num_tags=num_tags)
        self._writer: Optional[tf.io.TFRecordWriter] = None
        self.committed = False

    def __enter__(self) -> "ShardWriter":
        _remove(self.final)  # a stale shard of an earlier plan must not survive a crash below
        _remove(summary_path(self.out_dir, self.plan.name))
        self._writer = tf.io.TFRecordWriter(self.tmp)
        return self

    def add(self, outcome: ClipOutcome) -> None:
        """Write the clip's record (if it has one) and count it in the summary."""
        if outcome.example is not None:
            self._writer.write(outcome.example)
        self.summary.add(outcome)

    def commit(self) -> ShardSummary:
        """Close, write the summary atomically, then rename the shard into place."""
        self._writer.close()
        self._writer = None
        self.summary.num_bytes = int(tf.io.gfile.stat(self.tmp).length)
        tf.io.gfile.makedirs(os.path.join(self.out_dir, SUMMARY_DIR))
        write_atomic(summary_path(self.out_dir, self.plan.name), self.summary.to_json())
        tf.io.gfile.rename(self.tmp, self.final, overwrite=True)
        self.committed = True
        return self.summary

    def __exit__(self, exc_type, exc, tb) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        if not self.committed:
            _remove(self.tmp)


def remove_stale(out_dir: str, plans: Sequence[ShardPlan]) -> List[str]:
    """Delete shards and summaries this plan does not name, and leftover temporary files.

    Call only while holding the build lock (no other build writes to ``out_dir``).
    Returns the removed file names.
    """
    names = {p.name for p in plans}
    removed = []
    for name in tf.io.gfile.listdir(out_dir):
        stale_shard = SHARD_PATTERN.match(name) and name not in names
        leftover = _TMP_FILE.search(name) is not None
        if stale_shard or leftover:
            _remove(os.path.join(out_dir, name))
            removed.append(name)
    summaries = os.path.join(out_dir, SUMMARY_DIR)
    if tf.io.gfile.isdir(summaries):
        for name in tf.io.gfile.listdir(summaries):
            if _TMP_FILE.search(name) or name[: -len(".json")] not in names:
                _remove(os.path.join(summaries, name))
                removed.append(f"{SUMMARY_DIR}/{name}")
    return removed


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class BuildLock:
    """One build per records directory: ``.build.lock`` holds the owner's host and pid.

    A lock left by a dead process on this host is taken over. Not used for URL directories.
    """

    def __init__(self, out_dir: str):
        self.path = os.path.join(out_dir, LOCK_NAME)
        self.active = "://" not in out_dir
        self.held = False

    def __enter__(self) -> "BuildLock":
        if not self.active:
            return self
        me = f"{socket.gethostname()} {os.getpid()}"
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                try:
                    host, pid = open(self.path, encoding="utf-8").read().split()
                    pid = int(pid)
                except (OSError, ValueError):
                    host, pid = "", -1
                if host == socket.gethostname() and pid > 0 and _pid_alive(pid) and pid != os.getpid():
                    raise DatasetError(f"{os.path.dirname(self.path)}: another build (pid {pid}) is writing "
                                       f"here; wait for it or delete {self.path} if it is gone") from None
                if host and host != socket.gethostname():
                    raise DatasetError(f"{os.path.dirname(self.path)}: locked by a build on host {host} "
                                       f"(pid {pid}); delete {self.path} if it is gone") from None
                os.remove(self.path)  # stale lock of a dead process on this host
                continue
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(me)
            self.held = True
            return self
        raise DatasetError(f"{self.path}: cannot take the build lock")

    def __exit__(self, exc_type, exc, tb) -> None:
        if self.held:
            try:
                os.remove(self.path)
            except OSError:
                pass
            self.held = False
