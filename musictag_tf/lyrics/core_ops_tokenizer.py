"""The in-graph lyrics tokenizer rebuilt from core TensorFlow ops only (no tensorflow-text ops).

Why: ``InGraphTokenizer`` (tokenize.py) uses tensorflow-text kernels (``CaseFoldUTF8``,
``NormalizeUTF8``, ``WhitespaceTokenizeWithOffsetsV2``). A SavedModel holding those ops cannot
even be *loaded* by a process that has not run ``import tensorflow_text`` first
(``tf.saved_model.load`` fails with "Op type not registered 'CaseFoldUTF8'", measured with
TF 2.21 / tensorflow-text 2.21.1). The exported SavedModel's raw-lyrics signature therefore uses
this tokenizer, so every client can load the model with plain TensorFlow.

How each tensorflow-text step is replaced (steps numbered as in tokenize.py's docstring):

* Step 2, NFKC + full case folding (ICU ``NFKC_Casefold``): a per-code-point mapping table
  built *by running tensorflow-text's own op* on every Unicode code point when the tokenizer is
  constructed (export time, where tensorflow-text is installed), so single characters map
  exactly as ICU maps them ("ß" -> "ss", "ＬＯＶＥ" -> "love", "ﬁ" -> "fi", soft hyphen -> "").
  In the graph: ``unicode_decode`` -> table lookup -> ``reduce_join``. ICU then recomposes
  (NFC); here a canonical-composition pass over adjacent (starter, mark) pairs does that twice
  (enough for Latin/Greek/Cyrillic/Vietnamese text typed decomposed, e.g. "e" + U+0301 -> "é").
* Step 6, whitespace split: after step 3 every non-letter/mark/number/apostrophe character,
  including all Unicode white space, is already an ASCII space, so ``tf.strings.split`` on " "
  gives the same tokens as ICU's whitespace tokenizer (empty pieces are dropped with the
  letterless tokens).
* Everything else (apostrophes, elisions, Han splitting, stop words) reuses tokenize.py's
  regular expressions and ``InGraphTokenizer``'s stop-word table, which are core ops already.

Equal to ``InGraphTokenizer`` (and so to the Python ``tokenize`` for non-Han text) token for
token on the English/German/Spanish/French JamendoLyrics texts, also after NFD-decomposing them
(tests/test_tagging.py). Known differences, all from canonical composition details: a mark
separated from its base by another mark of a different combining class ("blocked" composition
rules), and decomposed Hangul jamo (NFC composes them algorithmically; here they stay jamo).
Han text becomes single-character tokens, as in every in-graph path (jieba cannot run in a graph).
"""

from __future__ import annotations

import functools
import unicodedata
from typing import Iterable, Mapping, Optional

import numpy as np
import tensorflow as tf

from musictag_tf.lyrics import tokenize as tokenize_lib
from musictag_tf.params import LyricsParams

__all__ = ["CoreOpsTokenizer", "code_point_mapping", "composition_pairs"]

# A lookup miss in the code-point table: never a valid UTF-8 string, so never a real mapping
# (some code points really map to "", e.g. U+00AD SOFT HYPHEN under NFKC_Casefold).
_NO_MAPPING = b"\xff"
_CODE_POINTS = 0x110000
_SURROGATES = (0xD800, 0xE000)
COMPOSITION_PASSES = 2  # base + two marks (e.g. Vietnamese "ệ" typed as e + U+0323 + U+0302)


@functools.lru_cache(maxsize=2)
def code_point_mapping(mode: str) -> tuple:
    """Code points whose ICU normalisation differs from themselves, and what they become.

    Args:
      mode: "casefold" (tensorflow-text ``case_fold_utf8``, ICU NFKC_Casefold) or "nfkc"
        (``normalize_utf8(..., "NFKC")``).

    Returns:
      (code points int64 [n], UTF-8 replacements bytes [n]). Needs tensorflow-text (imported
      here only, when an exporting process builds the table).
    """
    import tensorflow_text as tf_text  # build time only; the graph built from the table is core TF

    code_points = np.concatenate([np.arange(0, _SURROGATES[0]), np.arange(_SURROGATES[1], _CODE_POINTS)])
    chars = tf.strings.unicode_encode(tf.constant(code_points[:, None], tf.int32), "UTF-8")
    if mode == "casefold":
        mapped = tf_text.case_fold_utf8(chars)
    elif mode == "nfkc":
        mapped = tf_text.normalize_utf8(chars, "NFKC")
    else:
        raise ValueError(f"mode must be 'casefold' or 'nfkc', got {mode!r}")
    chars, mapped = chars.numpy(), mapped.numpy()
    differ = chars != mapped
    return code_points[differ].astype(np.int64), mapped[differ]


@functools.lru_cache(maxsize=1)
def composition_pairs() -> tuple:
    """Canonical primary composites: (first * 0x110000 + second) int64 [n] -> composite int64 [n].

    Every code point with a two-code-point canonical decomposition that NFC recomposes (i.e.
    not a composition exclusion), from Python's ``unicodedata`` (Unicode
    ``unicodedata.unidata_version``).
    """
    keys, values = [], []
    for cp in range(_CODE_POINTS):
        if _SURROGATES[0] <= cp < _SURROGATES[1]:
            continue
        decomposition = unicodedata.decomposition(chr(cp))
        if not decomposition or decomposition.startswith("<"):
            continue
        parts = [int(p, 16) for p in decomposition.split()]
        if len(parts) != 2:
            continue
        if unicodedata.normalize("NFC", chr(parts[0]) + chr(parts[1])) != chr(cp):
            continue  # composition exclusion: NFC never produces this code point
        keys.append(parts[0] * _CODE_POINTS + parts[1])
        values.append(cp)
    return np.asarray(keys, np.int64), np.asarray(values, np.int64)


def _code_point_table(mode: str) -> tf.lookup.StaticHashTable:
    keys, values = code_point_mapping(mode)
    with tf.init_scope():
        return tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(tf.constant(keys, tf.int64), tf.constant(values, tf.string)),
            default_value=tf.constant(_NO_MAPPING, tf.string))


class CoreOpsTokenizer(tokenize_lib.InGraphTokenizer):
    """``InGraphTokenizer`` with the tensorflow-text ops replaced by core TF ops.

    Same interface and tokens: ``__call__(texts: string [batch]) -> ragged string [batch,
    (tokens)]``; ``clean``, ``split_words``, ``filter_stopwords``, ``detect_language`` as in the
    parent. Constructing one needs tensorflow-text (to read ICU's per-character mapping); the
    graphs it builds, and SavedModels that hold them, do not.

    Args:
      params: ``lowercase`` and ``remove_stopwords`` (Han text is always split into characters).
      stopwords: language code -> words; defaults to the packaged lists.
    """

    def __init__(self, params: LyricsParams = LyricsParams(),
                 stopwords: Optional[Mapping[str, Iterable[str]]] = None, name: Optional[str] = None):
        super().__init__(params, stopwords, name=name)
        keys, values = composition_pairs()
        with tf.init_scope():
            self.casefold_table = _code_point_table("casefold")
            self.nfkc_table = None if self.lowercase else _code_point_table("nfkc")
            self.composition_table = tf.lookup.StaticHashTable(
                tf.lookup.KeyValueTensorInitializer(tf.constant(keys, tf.int64), tf.constant(values, tf.int64)),
                default_value=tf.constant(-1, tf.int64))

    # ------------------------------------------------------------------ normalisation
    def _map_code_points(self, texts: tf.Tensor, table: tf.lookup.StaticHashTable) -> tf.Tensor:
        """string [n] -> string [n], every code point replaced by its table entry (if any)."""
        code_points = tf.strings.unicode_decode(texts, "UTF-8", errors="replace")  # ragged int32 [n, (chars)]
        flat = code_points.flat_values
        mapped = table.lookup(tf.cast(flat, tf.int64))
        own = tf.strings.unicode_encode(tf.expand_dims(flat, 1), "UTF-8")  # [chars]
        pieces = tf.where(tf.equal(mapped, _NO_MAPPING), own, mapped)
        return tf.strings.reduce_join(code_points.with_flat_values(pieces), axis=1)

    def _compose(self, texts: tf.Tensor) -> tf.Tensor:
        """Canonical composition of adjacent (starter, mark) pairs: string [n] -> string [n]."""
        code_points = tf.cast(tf.strings.unicode_decode(texts, "UTF-8", errors="replace"), tf.int64)
        for _ in range(COMPOSITION_PASSES):
            flat = code_points.flat_values
            rows = code_points.value_rowids()
            following = tf.concat([flat[1:], [-1]], axis=0)
            same_row = tf.concat([tf.equal(rows[1:], rows[:-1]), [False]], axis=0)
            composite = self.composition_table.lookup(flat * _CODE_POINTS + tf.maximum(following, 0))
            composes = tf.logical_and(same_row, composite >= 0)
            # never let a code point that is itself absorbed into its predecessor compose again
            absorbed = tf.concat([[False], composes[:-1]], axis=0)
            composes = tf.logical_and(composes, tf.logical_not(absorbed))
            absorbed = tf.concat([[False], composes[:-1]], axis=0)
            merged = code_points.with_flat_values(tf.where(composes, composite, flat))
            code_points = tf.ragged.boolean_mask(merged, code_points.with_flat_values(tf.logical_not(absorbed)))
        return tf.strings.unicode_encode(tf.cast(code_points, tf.int32), "UTF-8")

    def fold(self, texts: tf.Tensor, table: Optional[tf.lookup.StaticHashTable] = None) -> tf.Tensor:
        """ICU-equivalent NFKC_Casefold (default) or NFKC (``table=self.nfkc_table``): string [n] -> [n]."""
        return self._compose(self._map_code_points(texts, self.casefold_table if table is None else table))

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def clean(self, texts: tf.Tensor) -> tf.Tensor:
        """Normalisation steps 1-3: string [batch] -> string [batch]."""
        texts = tf.strings.regex_replace(texts, tokenize_lib._APOSTROPHE_LIKE, "'")
        texts = self.fold(texts, self.casefold_table if self.lowercase else self.nfkc_table)
        return tf.strings.regex_replace(texts, tokenize_lib._NON_WORD, " ")

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def split_words(self, cleaned: tf.Tensor) -> tf.RaggedTensor:
        """Steps 4-6 on ``clean`` output: string [batch] -> ragged string [batch, (tokens)]."""
        return self._split(cleaned)

    @staticmethod
    def _split(texts: tf.Tensor) -> tf.RaggedTensor:
        texts = tf.strings.regex_replace(texts, tokenize_lib._LEADING_APOSTROPHES, r"\1")
        texts = tf.strings.regex_replace(texts, tokenize_lib._TRAILING_APOSTROPHES, r"\1")
        texts = tf.strings.regex_replace(texts, tokenize_lib._ELISION, r"\1\2' ")
        tokens = tf.strings.split(texts, sep=" ")  # "" pieces are letterless and dropped below
        keep = tf.logical_not(tf.strings.regex_full_match(tokens.flat_values, tokenize_lib._LETTERLESS))
        return tf.ragged.boolean_mask(tokens, tokens.with_flat_values(keep))

    def _masks(self, tokens: tf.RaggedTensor) -> tf.Tensor:
        keys = tokens.flat_values
        if not self.lowercase:
            keys = self.fold(keys)
        return self.stopword_table.lookup(keys)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def __call__(self, texts: tf.Tensor) -> tf.RaggedTensor:
        """texts: string [batch] (UTF-8) -> tokens: ragged string [batch, (tokens)]."""
        cleaned = self.clean(texts)
        cleaned = tf.strings.regex_replace(cleaned, tokenize_lib._HAN_RE2, r" \1 ")
        tokens = self._split(cleaned)
        if self.remove_stopwords:
            tokens = self.filter_stopwords(tokens)
        return tokens

