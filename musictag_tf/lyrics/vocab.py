"""Token vocabulary: token <-> id, saved as a UTF-8 text file, usable in-graph.

Ids: 0 is ``<pad>`` (padding, and the whole sequence when a clip has no lyrics), 1 is
``<oov>`` (any word not in the vocabulary), 2.. are words ordered by corpus frequency
(descending, ties by token in code point order), so building is deterministic.

File format (``save``/``load``, via ``tf.io.gfile`` so gs:// paths work): one token per line,
line number (0-based) = id, lines 0 and 1 hold ``<pad>`` and ``<oov>``. Tokens never contain
whitespace (the tokenizer splits on it), so the format needs no escaping.
"""

from __future__ import annotations

import collections
from typing import Iterable, Optional, Sequence

import numpy as np
import tensorflow as tf

from musictag_tf.errors import LyricsError
from musictag_tf.lyrics.files import read_bytes
from musictag_tf.params import ConfigError, LyricsParams

__all__ = ["OOV_ID", "OOV_TOKEN", "PAD_ID", "PAD_TOKEN", "Vocabulary", "check_reserved_ids"]

PAD_TOKEN = "<pad>"
OOV_TOKEN = "<oov>"
PAD_ID = 0
OOV_ID = 1
_RESERVED = (PAD_TOKEN, OOV_TOKEN)


def check_reserved_ids(params: LyricsParams) -> None:
    """The vocabulary layout fixes pad=0 and oov=1; reject params that say otherwise."""
    if params.pad_id != PAD_ID or params.oov_id != OOV_ID:
        raise ConfigError(f"Vocabulary reserves pad_id={PAD_ID} and oov_id={OOV_ID}; "
                          f"got pad_id={params.pad_id} oov_id={params.oov_id}")


class Vocabulary:
    """Words (excluding the reserved tokens) with ids ``2 .. len(self) - 1``.

    Args:
      words: distinct tokens in id order; none may be ``<pad>``/``<oov>`` or contain whitespace.
      counts: optional corpus count per word (kept from ``build``; not saved).
    """

    def __init__(self, words: Sequence[str], counts: Optional[dict] = None):
        words = list(words)
        index = {}
        for i, word in enumerate(words, start=len(_RESERVED)):
            if not isinstance(word, str) or not word or any(ch.isspace() for ch in word):
                raise LyricsError("vocabulary", f"id {i}: {word!r} is empty or contains whitespace")
            if word in _RESERVED:
                raise LyricsError("vocabulary", f"id {i}: {word!r} is a reserved token")
            if word in index:
                raise LyricsError("vocabulary", f"id {i}: duplicate of {word!r} at id {index[word]}")
            index[word] = i
        self._tokens = list(_RESERVED) + words
        self._index = index
        self.counts = dict(counts) if counts else {}
        self._table = None

    # ------------------------------------------------------------------ building
    @classmethod
    def build(cls, token_lists: Iterable[Sequence[str]], params: LyricsParams = LyricsParams(),
              *, min_count: Optional[int] = None, max_size: Optional[int] = None) -> "Vocabulary":
        """Vocabulary of the tokens seen at least ``min_count`` times, at most ``max_size`` ids.

        Args:
          token_lists: tokenized documents (``tokenize_batch`` output).
          params: ``min_count`` and ``vocab_size`` (which includes the 2 reserved ids).
          min_count, max_size: override the params values.
        """
        min_count = params.min_count if min_count is None else min_count
        max_size = params.vocab_size if max_size is None else max_size
        if max_size <= len(_RESERVED):
            raise ConfigError(f"vocabulary size must exceed the {len(_RESERVED)} reserved ids, got {max_size}")
        counter = collections.Counter()
        for tokens in token_lists:
            counter.update(tokens)
        for reserved in _RESERVED:
            counter.pop(reserved, None)
        kept = sorted((item for item in counter.items() if item[1] >= min_count), key=lambda kv: (-kv[1], kv[0]))
        kept = kept[: max_size - len(_RESERVED)]
        return cls([w for w, _ in kept], counts=dict(kept))

    # ------------------------------------------------------------------ lookups
    def __len__(self) -> int:
        return len(self._tokens)

    def __contains__(self, token: str) -> bool:
        return token in self._index

    def __eq__(self, other) -> bool:
        return isinstance(other, Vocabulary) and self._tokens == other._tokens

    def __repr__(self) -> str:
        return f"Vocabulary({len(self)} ids: {self._tokens[2:7]}...)"

    @property
    def tokens(self) -> list:
        """All tokens in id order, reserved ones included."""
        return list(self._tokens)

    @property
    def words(self) -> list:
        """The non-reserved tokens in id order (ids 2..)."""
        return self._tokens[len(_RESERVED):]

    def id_of(self, token: str) -> int:
        """Id of ``token``; ``OOV_ID`` for unknown words (and for the literal "<pad>"/"<oov>")."""
        return self._index.get(token, OOV_ID)

    def token_of(self, token_id: int) -> str:
        """Token with id ``token_id`` (IndexError outside ``[0, len)``)."""
        token_id = int(token_id)
        if not 0 <= token_id < len(self._tokens):
            raise IndexError(f"token id {token_id} outside vocabulary of {len(self._tokens)}")
        return self._tokens[token_id]

    def encode(self, tokens: Sequence[str], max_tokens: int) -> np.ndarray:
        """tokens -> int32 [max_tokens]: the first ``max_tokens`` ids, then ``PAD_ID`` padding."""
        ids = np.full((max_tokens,), PAD_ID, dtype=np.int32)
        n = min(len(tokens), max_tokens)
        if n:
            ids[:n] = [self._index.get(t, OOV_ID) for t in tokens[:n]]
        return ids

    def decode(self, ids: Iterable[int]) -> list:
        """ids -> tokens, padding dropped (OOV stays "<oov>")."""
        return [self.token_of(i) for i in ids if int(i) != PAD_ID]

    # ------------------------------------------------------------------ files
    def save(self, path: str) -> None:
        """Writes one token per line (UTF-8), line number = id."""
        path = str(path)
        try:
            with tf.io.gfile.GFile(path, "w") as f:
                f.write("\n".join(self._tokens) + "\n")
        except tf.errors.OpError as exc:
            raise LyricsError(path, f"cannot write vocabulary: {exc.message}") from exc

    @classmethod
    def load(cls, path: str) -> "Vocabulary":
        """Reads a file written by ``save``; LyricsError names the file and the bad line."""
        path = str(path)
        data = read_bytes(path, "vocabulary")
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise LyricsError(path, f"vocabulary is not UTF-8 (byte {exc.start})") from exc
        lines = text.split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        lines = [line.rstrip("\r") for line in lines]
        if lines[: len(_RESERVED)] != list(_RESERVED):
            raise LyricsError(path, f"lines 0-1 must be {PAD_TOKEN!r} and {OOV_TOKEN!r}, "
                                    f"got {lines[:len(_RESERVED)]!r}")
        try:
            return cls(lines[len(_RESERVED):])
        except LyricsError as exc:
            raise LyricsError(path, f"{exc.reason} (line number = id)") from exc

    # ------------------------------------------------------------------ in-graph
    def lookup_table(self) -> tf.lookup.StaticHashTable:
        """string -> int64 id hash table (unknown -> ``OOV_ID``), built once and cached.

        For export, keep a reference on the exported ``tf.Module``/model so the table is saved.
        """
        if self._table is None:
            words = self.words
            with tf.init_scope():  # create eagerly even when first asked for inside a tf.function
                self._table = tf.lookup.StaticHashTable(
                    tf.lookup.KeyValueTensorInitializer(
                        tf.constant(words, tf.string, shape=[len(words)]),
                        tf.range(len(_RESERVED), len(self._tokens), dtype=tf.int64)),
                    default_value=tf.constant(OOV_ID, tf.int64))
        return self._table

    def lookup_layer(self):
        """Keras ``StringLookup`` with the same ids (mask "<pad>" = 0, "<oov>" = 1, words 2..)."""
        import keras

        return keras.layers.StringLookup(vocabulary=self.words, mask_token=PAD_TOKEN, oov_token=OOV_TOKEN,
                                         num_oov_indices=1, output_mode="int")

    def encode_in_graph(self, tokens: tf.RaggedTensor, max_tokens: int) -> tf.Tensor:
        """ragged string [batch, (tokens)] -> int32 [batch, max_tokens] (truncate, pad with 0)."""
        ids = tf.ragged.map_flat_values(self.lookup_table().lookup, tokens)
        ids = tf.cast(ids[:, :max_tokens], tf.int32)
        return ids.to_tensor(default_value=PAD_ID, shape=[None, max_tokens])
