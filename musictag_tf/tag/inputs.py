"""The tagger's inputs: audio files found under the paths given, and lyrics for each file."""

from __future__ import annotations

import os
import pathlib
from typing import Dict, Iterable, List, Optional, Sequence

import numpy as np

from musictag_tf import params as params_lib
from musictag_tf.errors import LyricsError
from musictag_tf.lyrics.encode import encode_lyrics_file
from musictag_tf.lyrics.vocab import Vocabulary

AUDIO_EXTENSIONS = (".mp3", ".wav", ".ogg", ".oga", ".flac", ".aiff", ".aif", ".au", ".opus")


def find_audio_files(paths: Iterable[str], extensions: Sequence[str] = AUDIO_EXTENSIONS,
                     with_errors: bool = False):
    """Files named directly (any extension: decoding decides) and audio files under folders (recursive, sorted).

    Names are ``str``; a name that is not valid UTF-8 arrives surrogate-escaped (``os.fsdecode``),
    which every local file call accepts and ``os.fsencode`` turns back into its bytes.
    With ``with_errors`` returns ``(files, [(folder, reason)])`` for folders that could not be
    listed (permissions); without, such folders are skipped silently.
    """
    found, problems = [], []
    for path in paths:
        path = os.fsdecode(os.fspath(path))
        if os.path.isdir(path):
            for root, dirs, files in os.walk(path, onerror=lambda e: problems.append(
                    (e.filename, f"cannot list folder: {e.strerror or e}"))):
                dirs.sort()
                found.extend(os.path.join(root, f) for f in sorted(files)
                             if f.lower().endswith(tuple(extensions)) and not f.startswith("."))
        else:
            found.append(path)  # missing files are reported as errors when tagged
    return (found, problems) if with_errors else found


def printable_path(path: str) -> str:
    """``path`` as text that encodes to UTF-8: bytes of a non-UTF-8 name appear as ``\\udcNN``
    (the surrogate escape, which ``json.loads`` + ``os.fsencode`` turn back into the bytes)."""
    return path.encode("utf-8", "backslashreplace").decode("utf-8") if _has_surrogates(path) else path


def _has_surrogates(text: str) -> bool:
    return not decodes_as_utf8(text.encode("utf-8", "surrogateescape"))


def decodes_as_utf8(data: bytes) -> bool:
    """True when ``data`` is valid UTF-8 (a file name's bytes, a cut prefix of them)."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


class LyricsSource:
    """Lyrics for each audio file: one file for all inputs, or ``<dir>/<audio stem>.txt``.

    Encoding uses musictag_tf.lyrics (jieba words for Chinese, as in training) and the model's
    vocabulary. A directory without a file for some audio means "no lyrics" for it.
    """

    def __init__(self, location: Optional[str], vocab_path: Optional[str], lyrics_params: dict):
        self.location = location or None
        self.is_dir = bool(self.location) and os.path.isdir(self.location)
        self._vocab = None
        self._params = None
        self._cache: Dict[str, np.ndarray] = {}
        if self.location:
            if not os.path.exists(self.location):
                raise LyricsError(self.location, "lyrics file or directory not found")
            if vocab_path is None:
                raise LyricsError(self.location, "the model has no lyrics vocabulary (vocab.txt); "
                                                 "cannot encode lyrics for it")
            self._vocab = Vocabulary.load(vocab_path)
            self._params = params_lib.from_dict(params_lib.LyricsParams, lyrics_params)

    def file_for(self, audio_path: str) -> Optional[str]:
        if not self.location:
            return None
        if not self.is_dir:
            return self.location
        candidate = os.path.join(self.location, pathlib.Path(audio_path).stem + ".txt")
        return candidate if os.path.exists(candidate) else None

    def ids_for(self, audio_path: str) -> Optional[np.ndarray]:
        """int32 [max_tokens] or None (no lyrics). Raises LyricsError for an unreadable file."""
        path = self.file_for(audio_path)
        if path is None:
            return None
        if path not in self._cache:
            self._cache[path] = encode_lyrics_file(path, self._vocab, self._params)
        return self._cache[path]


