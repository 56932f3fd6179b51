"""``--clip_seconds``: a collection of long recordings -> a collection of MTAT-like clips.

Each ``SourceClip`` naming a whole file becomes the clips of ``musictag_tf.audio.clips``'s
rule (``[k·c, (k+1)·c)``, remainder dropped or kept), each its own record:

* clip id ``<clip id of the row>#<start s, 2 decimals>`` (the row's clip id defaults to its
  relative path without extension), relative path unchanged, split / tags / track / lyrics /
  emotion copied from the row (a song's labels hold for each of its clips);
* ``track`` = the row's track, else its clip id, so the hash split (tables without a split
  column) and track-level lyrics keep every clip of a song together;
* ``expected_seconds`` = the clip's length, so a clip that decodes clearly shorter (a file
  shorter than its header says) fails as "truncated" like a short MTAT clip.

The file's duration is read from its header (``soundfile.info``), never by decoding. A file
whose header cannot be read is not cut: it stays one whole-file clip, and the per-clip step
reports it as a failure with the decoder's reason (the build goes on). A file shorter than
one clip with the remainder dropped gives no clip and is counted in ``Collection.skipped``.
"""

from __future__ import annotations

import dataclasses
from typing import List

from musictag_tf.audio.clips import ClipParams, clip_key, clip_spans, file_duration
from musictag_tf.data.manifest import Failure
from musictag_tf.errors import AudioDecodeError
from tfrecords_builder.sources import Collection, SourceClip

SHORT_REASON = "shorter than one clip (--clip_seconds), remainder dropped"


def cut_collection(collection: Collection, params: ClipParams) -> Collection:
    """A new Collection with every file cut into clips (``params.enabled`` must hold)."""
    if not params.enabled:
        return collection
    clips: List[SourceClip] = []
    skipped = dict(collection.skipped)
    warnings = list(collection.warnings)
    files = 0
    for clip in collection.clips:
        if clip.span_seconds is not None:  # already a clip
            clips.append(clip)
            continue
        try:
            duration = file_duration(clip.audio_path)
        except AudioDecodeError:
            clips.append(clip)  # the per-clip step reports why it cannot be read
            continue
        files += 1
        spans = clip_spans(duration, params)
        if not spans:
            skipped[SHORT_REASON] = skipped.get(SHORT_REASON, 0) + 1
            continue
        for start, seconds in spans:
            clips.append(dataclasses.replace(
                clip, clip_id=clip_key(clip.clip_id, start), track=clip.track or clip.clip_id,
                start_seconds=start, span_seconds=seconds, expected_seconds=seconds))
    if skipped.get(SHORT_REASON):
        warnings.append(Failure(path=str(collection.description.get("table", "")),
                                reason=f"{skipped[SHORT_REASON]} files skipped: {SHORT_REASON}"))
    description = dict(collection.description)
    description.update(clip_seconds=params.clip_seconds, keep_remainder=params.keep_remainder,
                       min_remainder_seconds=params.min_remainder_seconds, files_cut=files,
                       skipped=dict(skipped))
    return dataclasses.replace(collection, clips=clips, description=description, warnings=warnings,
                               skipped=skipped)
