"""Per-shard summaries and the manifest assembled from them, plus the end-of-build report.

A ``ShardSummary`` is written beside each finished shard (``shard_summaries/<shard>.json``)
and holds what the manifest needs about the shard's clips: ids written, failures, warnings,
tag positives, lyrics/emotion counts. The manifest is assembled only from summaries, so a
resumed run reports complete counts and failures without reprocessing finished shards. The
Beam pipeline builds the same summaries (one per split) from its outputs and calls the same
``assemble_manifest``.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Iterable, List, Mapping, Optional, Sequence

from musictag_tf.data.manifest import Failure, Manifest
from musictag_tf.data.schema import SCHEMA_VERSION, SPLITS
from tfrecords_builder.process import ClipOutcome


def _failure_key(f: Failure):
    return (f.path, f.clip_id, f.reason)


@dataclasses.dataclass
class ShardSummary:
    """What one shard (or, in Beam, one split) holds.

    tag_counts: positives per tag in tags.txt order [num_tags]; seconds: audio written, s;
    num_records/num_bytes: of the shard file (checked on resume).
    """

    shard: str
    split: str
    fingerprint: str
    num_tags: int
    clip_ids: List[str] = dataclasses.field(default_factory=list)
    failures: List[Failure] = dataclasses.field(default_factory=list)
    warnings: List[Failure] = dataclasses.field(default_factory=list)
    tag_counts: List[int] = dataclasses.field(default_factory=list)
    lyrics_count: int = 0
    emotion_count: int = 0
    seconds: float = 0.0
    num_bytes: int = 0

    def __post_init__(self):
        if not self.tag_counts:
            self.tag_counts = [0] * self.num_tags

    def add(self, outcome: ClipOutcome) -> None:
        """Count one clip's outcome (written or failed)."""
        self.warnings.extend(outcome.warnings)
        if outcome.failure is not None:
            self.failures.append(outcome.failure)
            return
        self.clip_ids.append(outcome.clip_id)
        for i, value in enumerate(outcome.tags):
            self.tag_counts[i] += int(value)
        self.lyrics_count += int(outcome.has_lyrics)
        self.emotion_count += int(outcome.has_emotion)
        self.seconds += outcome.seconds

    def merge(self, other: "ShardSummary") -> "ShardSummary":
        """Sum of two summaries of the same split (Beam's combiner)."""
        out = ShardSummary(shard=self.shard, split=self.split, fingerprint=self.fingerprint, num_tags=self.num_tags)
        out.clip_ids = self.clip_ids + other.clip_ids
        out.failures = self.failures + other.failures
        out.warnings = self.warnings + other.warnings
        out.tag_counts = [a + b for a, b in zip(self.tag_counts, other.tag_counts)]
        out.lyrics_count = self.lyrics_count + other.lyrics_count
        out.emotion_count = self.emotion_count + other.emotion_count
        out.seconds = self.seconds + other.seconds
        out.num_bytes = self.num_bytes + other.num_bytes
        return out

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), indent=1, ensure_ascii=False, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "ShardSummary":
        raw = json.loads(text)
        raw["failures"] = [Failure(**f) for f in raw.get("failures", [])]
        raw["warnings"] = [Failure(**f) for f in raw.get("warnings", [])]
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in raw.items() if k in known})


def assemble_manifest(summaries: Iterable[ShardSummary], *, tags: Sequence[str], config: Mapping[str, dict],
                      shards: Mapping[str, List[str]], extra_warnings: Sequence[Failure] = (),
                      extra_failures: Sequence[Failure] = ()) -> Manifest:
    """The records' Manifest from shard (or split) summaries.

    Args:
      summaries: every summary of the build.
      tags: tags.txt, in multi-hot order.
      config: "audio", "lyrics", "segments", "builder", "source" -> params dicts.
      shards: split -> shard file names in order.
      extra_warnings / extra_failures: source-level ones (tag list, skipped clips...).
    """
    counts = {split: 0 for split in SPLITS}
    lyrics_counts = {split: 0 for split in SPLITS}
    tag_counts = {split: {tag: 0 for tag in tags} for split in SPLITS}
    failures = list(extra_failures)
    warnings = list(extra_warnings)
    emotion = 0
    for summary in summaries:
        counts[summary.split] += len(summary.clip_ids)
        lyrics_counts[summary.split] += summary.lyrics_count
        emotion += summary.emotion_count
        for tag, n in zip(tags, summary.tag_counts):
            tag_counts[summary.split][tag] += n
        failures.extend(summary.failures)
        warnings.extend(summary.warnings)
    return Manifest(
        schema_version=SCHEMA_VERSION, num_tags=len(tags), counts=counts, tag_counts=tag_counts,
        config={k: dict(v) for k, v in config.items()},
        shards={split: list(shards.get(split, [])) for split in SPLITS},
        failures=sorted(failures, key=_failure_key), warnings=sorted(warnings, key=_failure_key),
        has_emotion=emotion > 0, lyrics_counts=lyrics_counts)


def format_report(manifest: Manifest, *, records_dir: str = "", max_items: int = 20,
                  seconds: Optional[float] = None, resumed_shards: int = 0, workers: Optional[int] = None,
                  audio_seconds: Optional[float] = None) -> str:
    """A short human summary: clips per split, failures and warnings with reasons."""
    lines = []
    total = sum(manifest.counts.values())
    head = f"wrote {total} clips"
    if records_dir:
        head += f" to {records_dir}"
    if seconds is not None:
        head += f" in {seconds:.1f} s"
        if audio_seconds:
            head += f" ({audio_seconds / max(seconds, 1e-9):.0f}x real time"
            head += ", in this process)" if not workers else f", {workers} worker processes)"
    if resumed_shards:
        head += f"; {resumed_shards} shards kept from an earlier run"
    lines.append(head)
    for split in SPLITS:
        lines.append(f"  {split:<5} {manifest.counts.get(split, 0):>7} clips  "
                     f"{len(manifest.shards.get(split, [])):>4} shards  "
                     f"{manifest.lyrics_counts.get(split, 0):>6} with lyrics")
    lines.append(f"  tags: {manifest.num_tags}; emotion labels: {'yes' if manifest.has_emotion else 'no'}")
    for title, items in (("failed (skipped)", manifest.failures), ("warnings", manifest.warnings)):
        if not items:
            continue
        lines.append(f"{len(items)} {title}:")
        for item in items[:max_items]:
            who = f" [clip {item.clip_id}]" if item.clip_id else ""
            lines.append(f"  {item.path}{who}: {item.reason}")
        if len(items) > max_items:
            lines.append(f"  ... {len(items) - max_items} more in manifest.json")
    return "\n".join(lines)
