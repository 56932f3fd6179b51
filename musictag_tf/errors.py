"""Exception types. Each names the file (or input) and the problem.

Every error this project raises on purpose is a ``MusictagError`` carrying ``path`` (the file,
directory or input at fault; None when there is none) and ``reason``; ``str(error)`` is
``"<path>: <reason>"``. Every CLI turns one into a single line and a non-zero exit status
(``exit_on_error``); batch jobs (the builder, the tagger) collect them per file and carry on.
"""

from __future__ import annotations

import sys
from typing import Optional


class MusictagError(Exception):
    """Base class of every error this project raises on purpose.

    ``MusictagError(path, reason)`` or ``MusictagError(message)`` (no path).
    """

    def __init__(self, path, reason: Optional[str] = None):
        if reason is None:
            self.path, self.reason = None, str(path)
            super().__init__(self.reason)
        else:
            self.path, self.reason = str(path), reason
            super().__init__(f"{self.path}: {reason}")

    def __reduce__(self):  # survives pickling (process pools) with path and reason intact
        args = (self.reason,) if self.path is None else (self.path, self.reason)
        return self.__class__, args


class AudioDecodeError(MusictagError):
    """An audio file is missing, empty, truncated, not audio, or otherwise unreadable."""


class LyricsError(MusictagError):
    """A lyrics file or text cannot be read or tokenized."""

    @property
    def source(self) -> Optional[str]:
        """The lyrics file or text at fault (= ``path``)."""
        return self.path


class DatasetError(MusictagError):
    """A tag table, split file, records directory or manifest is malformed."""


class ModelLoadError(MusictagError):
    """A model path is not a SavedModel, .tflite export or training run directory, or is incomplete."""


class OutputError(MusictagError):
    """An output file or directory cannot be written (a directory, missing and not creatable, read-only)."""


class FlagError(MusictagError):
    """A command-line flag has a value the command cannot use (``path`` is the flag's name)."""


class ExportError(MusictagError):
    """A model directory cannot be exported (missing files, inconsistent vocabularies)."""


def error_line(prog: str, exc: BaseException) -> str:
    """The one line a CLI prints for ``exc``: ``"<prog>: error: <path>: <reason>"``."""
    return f"{prog}: error: {exc}"


def report(prog: str, exc: BaseException, status: int = 2) -> int:
    """Print ``error_line`` to stderr and return ``status`` (the CLI's exit status)."""
    print(error_line(prog, exc), file=sys.stderr)
    return status
