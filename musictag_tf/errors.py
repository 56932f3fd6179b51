"""Exception types. Each names the file (or input) and the problem.

CLIs turn these into one clear line and a non-zero exit; batch jobs (the builder, the
tagger) collect them per file and carry on with the rest.
"""

from __future__ import annotations


class MusictagError(Exception):
    """Base class of every error this project raises on purpose."""


class AudioDecodeError(MusictagError):
    """An audio file is missing, empty, truncated, not audio, or otherwise unreadable."""

    def __init__(self, path, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class LyricsError(MusictagError):
    """A lyrics file or text cannot be read or tokenized."""

    def __init__(self, source, reason: str):
        self.source = str(source)
        self.reason = reason
        super().__init__(f"{self.source}: {reason}")


class DatasetError(MusictagError):
    """A tag table, split file, records directory or manifest is malformed."""
