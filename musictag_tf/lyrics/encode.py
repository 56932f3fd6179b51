"""A clip's lyrics (file, text, or nothing) -> fixed-length token ids for the model.

Missing lyrics are a normal case, not an error: ``None``, "" or whitespace-only text (and text
whose every token is punctuation, a number or a stop word) encode to ``max_tokens`` pad ids.
The model then sees an all-false mask and uses its own learned "no lyrics" representation;
``has_lyrics`` tells the two cases apart. Only a lyrics *file* that exists in the dataset but
cannot be read or decoded raises ``LyricsError`` naming the file.
"""

from __future__ import annotations

import codecs
from typing import Optional, Sequence

import numpy as np

from musictag_tf.errors import LyricsError
from musictag_tf.lyrics.files import read_bytes
from musictag_tf.lyrics.tokenize import tokenize_batch
from musictag_tf.lyrics.vocab import PAD_ID, Vocabulary, check_reserved_ids
from musictag_tf.params import LyricsParams

__all__ = ["empty_ids", "encode_lyrics_file", "encode_text", "encode_texts", "has_lyrics",
           "read_lyrics_file"]


def read_lyrics_file(path) -> str:
    """Text of a lyrics file (tf.io.gfile path): UTF-8, BOM tolerant, newlines normalised to "\\n".

    A UTF-8 BOM is stripped; files starting with a UTF-16 BOM are decoded as UTF-16.
    Raises LyricsError(path, reason) when the file is missing, unreadable or not valid text.
    """
    path = str(path)
    data = read_bytes(path, "lyrics")
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encoding = "utf-16"
    else:
        encoding = "utf-8-sig"
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise LyricsError(path, f"not valid {encoding.upper().replace('-SIG', '')} text: "
                                f"{exc.reason} at byte {exc.start}") from exc
    if "\x00" in text:
        raise LyricsError(path, "contains NUL characters; not a text file")
    return text.replace("\r\n", "\n").replace("\r", "\n")


def empty_ids(params: LyricsParams = LyricsParams()) -> np.ndarray:
    """int32 [max_tokens] of pad ids: the encoding of a clip without lyrics."""
    return np.full((params.max_tokens,), PAD_ID, dtype=np.int32)


def has_lyrics(ids) -> "bool | np.ndarray":
    """True where ``ids`` holds any non-pad id. int [max_tokens] -> bool; [batch, max_tokens] -> bool [batch]."""
    ids = np.asarray(ids)
    present = np.any(ids != PAD_ID, axis=-1)
    return bool(present) if ids.ndim == 1 else present


def encode_texts(texts: Sequence[Optional[str]], vocab: Vocabulary,
                 params: LyricsParams = LyricsParams()) -> np.ndarray:
    """Lyrics texts (None = missing) -> int32 [len(texts), max_tokens], batched tokenization."""
    check_reserved_ids(params)
    token_lists = tokenize_batch(list(texts), params)
    out = np.full((len(token_lists), params.max_tokens), PAD_ID, dtype=np.int32)
    for row, tokens in enumerate(token_lists):
        out[row] = vocab.encode(tokens, params.max_tokens)
    return out


def encode_text(text: Optional[str], vocab: Vocabulary, params: LyricsParams = LyricsParams()) -> np.ndarray:
    """One lyric -> int32 [max_tokens]; missing lyrics (None/empty/whitespace) -> all pad ids."""
    return encode_texts([text], vocab, params)[0]


def encode_lyrics_file(path, vocab: Vocabulary, params: LyricsParams = LyricsParams()) -> np.ndarray:
    """Lyrics file -> int32 [max_tokens]; ``path=None`` (clip without lyrics) -> all pad ids."""
    if path is None:
        check_reserved_ids(params)
        return empty_ids(params)
    return encode_text(read_lyrics_file(path), vocab, params)
