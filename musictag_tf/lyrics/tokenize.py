"""Lyrics text -> word tokens: jieba for Chinese, tensorflow-text for every other script.

Two entry points share one set of TensorFlow ops, so they agree token for token:

* ``tokenize`` / ``tokenize_batch`` (Python, offline builder and training): Han-script runs go to
  jieba (``LyricsParams.chinese_units == "words"``, the paper's words-as-units) or are split into
  single characters (``"chars"``); everything else goes through the tf-text ops below.
* ``tokenize_in_graph`` / ``InGraphTokenizer`` (pure TF, for an exported SavedModel signature):
  the same ops; Han text is split into single characters because jieba cannot run in a graph.
  For text without Han characters, and for every text in ``"chars"`` mode, the two paths give
  identical tokens (tested on the English/German/Spanish/French JamendoLyrics and on 诗经).

Normalisation, in order (each step is one TF op on whole strings):

1. Apostrophe look-alikes (’ ‘ ʼ ´ ` ＇ ′) become ASCII ``'``.
2. Unicode NFKC; with ``LyricsParams.lowercase`` full case folding (ICU NFKC_Casefold via
   ``tensorflow_text.case_fold_utf8``: "Straße" -> "strasse", "ＬＯＶＥ" -> "love").
3. Every character that is not a letter (``\\pL``), combining mark (``\\pM``), number (``\\pN``) or
   apostrophe becomes a space: punctuation, symbols and hyphens separate words
   ("rock-n-roll" -> rock, n, roll).
4. Apostrophes at the start or end of a word are dropped ("'cause" -> cause, "goin'" -> goin);
   apostrophes inside a word are kept, so English and German contractions stay one token
   ("don't", "i'm", "geht's").
5. French-style elisions are split after the apostrophe: "l'amour" -> "l'" + "amour",
   "qu'il" -> "qu'" + "il" (prefixes in ``ELISION_PREFIXES``). The elided article/pronoun is
   then a French stop word and "amour" shares its vocabulary entry with the bare word.
6. Whitespace split (``tensorflow_text.WhitespaceTokenizer``); tokens without any letter are
   dropped (pure numbers such as "1999" or "2"); tokens mixing letters and digits stay ("4ever").
7. Stop words (``LyricsParams.remove_stopwords``): hand-written lists shipped as package data in
   ``stopwords/{en,de,es,fr,zh}.txt``. Han tokens are filtered with the Chinese list. For the
   other tokens the lyric's language is guessed from its stop-word profile: the language of
   ``STOPWORD_LANGUAGES`` whose list matches the most tokens (ties go to the earlier language)
   and only that list is applied. A single union list would delete content words that are stop
   words in another language (English "die", "war", "man", "hat"; Spanish "sin").

jieba's prefix dictionary is built offline from its bundled dict.txt on first use and cached
as ``jieba.cache`` in ``$MUSICTAG_CACHE_DIR`` (else the system temp dir); its logging is kept quiet.

Other scripts without spaces between words (Thai, Japanese kana) are not segmented further:
a run of such letters is one token.
"""

from __future__ import annotations

import functools
import importlib.resources
import logging
import os
import re
import tempfile
import threading
import unicodedata
from typing import Iterable, Mapping, Optional, Sequence, Union

import tensorflow as tf
import tensorflow_text as tf_text

from musictag_tf.errors import LyricsError
from musictag_tf.params import LyricsParams

__all__ = [
    "CHINESE",
    "ELISION_PREFIXES",
    "STOPWORD_LANGUAGES",
    "InGraphTokenizer",
    "detect_stopword_language",
    "is_han",
    "load_stopwords",
    "tokenize",
    "tokenize_batch",
    "tokenize_in_graph",
]

STOPWORD_LANGUAGES = ("en", "de", "es", "fr")  # guessed per lyric; order breaks ties
CHINESE = "zh"  # always applied to Han tokens
_CHINESE_BIT = len(STOPWORD_LANGUAGES)  # bit index of the Chinese list in a stop-word mask

# French-style elided words; "l'amour" -> "l'" "amour". Matched case-insensitively.
ELISION_PREFIXES = ("l", "d", "j", "m", "n", "s", "t", "c", "qu", "jusqu", "lorsqu", "puisqu")

_APOSTROPHE_LIKE = "[\u2019\u2018\u02bc\u00b4`\uff07\u2032]"
_NON_WORD = r"[^\pL\pM\pN']+"
_LEADING_APOSTROPHES = r"(^| )'+"
_TRAILING_APOSTROPHES = r"'+( |$)"
_ELISION = r"(^| )((?i:" + "|".join(ELISION_PREFIXES) + r"))'"
_HAN_RE2 = r"(\p{Han})"
_LETTERLESS = r"[^\pL]*"

# Code point ranges of the Unicode Han script exactly as RE2's \p{Han} (the in-graph ops) sees
# it, so the Python path cuts Han runs at the same characters (checked in the tests).
HAN_RANGES = (
    (0x2E80, 0x2E99), (0x2E9B, 0x2EF3), (0x2F00, 0x2FD5), (0x3005, 0x3005), (0x3007, 0x3007),
    (0x3021, 0x3029), (0x3038, 0x303B), (0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFA6D),
    (0xFA70, 0xFAD9), (0x16FE2, 0x16FE3), (0x16FF0, 0x16FF1), (0x20000, 0x2A6DF),
    (0x2A700, 0x2B739), (0x2B740, 0x2B81D), (0x2B820, 0x2CEA1), (0x2CEB0, 0x2EBE0),
    (0x2F800, 0x2FA1D), (0x30000, 0x3134A), (0x31350, 0x323AF),
)
_HAN_CLASS = "".join(f"{chr(a)}-{chr(b)}" if a != b else chr(a) for a, b in HAN_RANGES)
_HAN_RUN = re.compile(f"([{_HAN_CLASS}]+)")
_HAN_CHAR = re.compile(f"[{_HAN_CLASS}]")

TextLike = Union[str, bytes, None]


def is_han(char: str) -> bool:
    """True when ``char`` (one code point) belongs to the Han script."""
    return _HAN_CHAR.fullmatch(char) is not None


# --------------------------------------------------------------------------- stop words

def load_stopwords(language: str) -> frozenset:
    """The hand-written stop-word list ``stopwords/<language>.txt`` shipped with the package.

    Lines starting with ``#`` are comments. Entries are stored in tokenizer form.
    """
    if language not in STOPWORD_LANGUAGES + (CHINESE,):
        raise LyricsError(f"stopwords/{language}.txt", "no stop-word list for this language; "
                          f"have {', '.join(STOPWORD_LANGUAGES + (CHINESE,))}")
    resource = importlib.resources.files("musictag_tf.lyrics").joinpath("stopwords", f"{language}.txt")
    try:
        text = resource.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise LyricsError(f"stopwords/{language}.txt", f"cannot read packaged stop words: {exc}") from exc
    words = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            words.append(unicodedata.normalize("NFKC", line))
    return frozenset(words)


def _stopword_masks(stopwords: Mapping[str, Iterable[str]]) -> tuple[list[str], list[int]]:
    """Keys and int64 bit masks (bit i = language i of STOPWORD_LANGUAGES, then Chinese)."""
    masks: dict[str, int] = {}
    for bit, language in enumerate(STOPWORD_LANGUAGES + (CHINESE,)):
        for word in stopwords.get(language, ()):
            masks[word] = masks.get(word, 0) | (1 << bit)
    keys = sorted(masks)
    return keys, [masks[k] for k in keys]


@functools.lru_cache(maxsize=1)
def _packaged_stopwords() -> dict:
    return {lang: load_stopwords(lang) for lang in STOPWORD_LANGUAGES + (CHINESE,)}


# --------------------------------------------------------------------------- TF ops

def _clean(texts: tf.Tensor, lowercase: bool) -> tf.Tensor:
    """Steps 1-3: apostrophes, NFKC (+ case fold), non-word characters -> spaces. [batch] string."""
    texts = tf.strings.regex_replace(texts, _APOSTROPHE_LIKE, "'")
    texts = tf_text.case_fold_utf8(texts) if lowercase else tf_text.normalize_utf8(texts, "NFKC")
    return tf.strings.regex_replace(texts, _NON_WORD, " ")


def _split_words(texts: tf.Tensor) -> tf.RaggedTensor:
    """Steps 4-6 on cleaned text: string [batch] -> ragged string [batch, (tokens)]."""
    texts = tf.strings.regex_replace(texts, _LEADING_APOSTROPHES, r"\1")
    texts = tf.strings.regex_replace(texts, _TRAILING_APOSTROPHES, r"\1")
    texts = tf.strings.regex_replace(texts, _ELISION, r"\1\2' ")
    tokens = tf_text.WhitespaceTokenizer().tokenize(texts)
    keep = tf.logical_not(tf.strings.regex_full_match(tokens.flat_values, _LETTERLESS))
    return tf.ragged.boolean_mask(tokens, tokens.with_flat_values(keep))


class InGraphTokenizer(tf.Module):
    """Pure TensorFlow lyrics tokenizer (tf-text + a stop-word hash table).

    Attach it to the ``tf.Module`` / Keras model being exported so its stop-word table is
    tracked and saved with the SavedModel. Han characters become single-character tokens.

    Args:
      params: ``lowercase`` and ``remove_stopwords`` are used (``chinese_units`` cannot be
        honoured in-graph: Han text is always split into characters).
      stopwords: language code -> words; defaults to the packaged lists.
    """

    def __init__(self, params: LyricsParams = LyricsParams(),
                 stopwords: Optional[Mapping[str, Iterable[str]]] = None, name: Optional[str] = None):
        super().__init__(name=name)
        self.lowercase = bool(params.lowercase)
        self.remove_stopwords = bool(params.remove_stopwords)
        keys, masks = _stopword_masks(stopwords if stopwords is not None else _packaged_stopwords())
        self.stopword_table = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(tf.constant(keys, tf.string), tf.constant(masks, tf.int64)),
            default_value=tf.constant(0, tf.int64))

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def __call__(self, texts: tf.Tensor) -> tf.RaggedTensor:
        """texts: string [batch] (UTF-8) -> tokens: ragged string [batch, (tokens)]."""
        cleaned = self.clean(texts)
        cleaned = tf.strings.regex_replace(cleaned, _HAN_RE2, r" \1 ")
        tokens = _split_words(cleaned)
        if self.remove_stopwords:
            tokens = self.filter_stopwords(tokens)
        return tokens

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def clean(self, texts: tf.Tensor) -> tf.Tensor:
        """Normalisation steps 1-3: string [batch] -> string [batch]."""
        return _clean(texts, self.lowercase)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def split_words(self, cleaned: tf.Tensor) -> tf.RaggedTensor:
        """Steps 4-6 on ``clean`` output: string [batch] -> ragged string [batch, (tokens)]."""
        return _split_words(cleaned)

    def _masks(self, tokens: tf.RaggedTensor) -> tf.Tensor:
        keys = tokens.flat_values
        if not self.lowercase:
            keys = tf_text.case_fold_utf8(keys)
        return self.stopword_table.lookup(keys)

    def _language_scores(self, masks: tf.Tensor, rowids: tf.Tensor, nrows: tf.Tensor) -> tf.Tensor:
        """int64 [batch, languages]: (languages + 1) * stop-word hits + tie-break rank, unique per row
        (more hits win; on equal hits the earlier language of STOPWORD_LANGUAGES wins)."""
        n_lang = len(STOPWORD_LANGUAGES)
        shifts = tf.range(n_lang, dtype=tf.int64)
        bits = tf.bitwise.bitwise_and(tf.bitwise.right_shift(masks[:, None], shifts[None, :]), 1)
        hits = tf.math.unsorted_segment_sum(bits, rowids, nrows)
        rank = tf.range(n_lang - 1, -1, -1, dtype=tf.int64)
        return hits * (n_lang + 1) + rank[None, :]

    @tf.function(input_signature=[tf.RaggedTensorSpec([None, None], tf.string, ragged_rank=1)])
    def filter_stopwords(self, tokens: tf.RaggedTensor) -> tf.RaggedTensor:
        """Drops stop words: ragged string [batch, (tokens)] -> ragged string [batch, (tokens)]."""
        masks = self._masks(tokens)
        rowids = tokens.value_rowids()
        scores = self._language_scores(masks, rowids, tokens.nrows())
        language = tf.argmax(scores, axis=1, output_type=tf.int64)  # scores are unique per row
        token_language = tf.gather(language, rowids)
        in_language_list = tf.bitwise.bitwise_and(tf.bitwise.right_shift(masks, token_language), 1)
        in_chinese_list = tf.bitwise.bitwise_and(tf.bitwise.right_shift(masks, _CHINESE_BIT), 1)
        keep = tf.equal(in_language_list + in_chinese_list, 0)
        return tf.ragged.boolean_mask(tokens, tokens.with_flat_values(keep))

    @tf.function(input_signature=[tf.RaggedTensorSpec([None, None], tf.string, ragged_rank=1)])
    def detect_language(self, tokens: tf.RaggedTensor) -> tuple:
        """Stop-word language guess per row: (index into STOPWORD_LANGUAGES int64 [batch],
        stop-word hits of that language int64 [batch]; 0 means no guess)."""
        masks = self._masks(tokens)
        scores = self._language_scores(masks, tokens.value_rowids(), tokens.nrows())
        language = tf.argmax(scores, axis=1, output_type=tf.int64)
        hits = tf.reduce_max(scores, axis=1) // (len(STOPWORD_LANGUAGES) + 1)
        return language, hits


@functools.lru_cache(maxsize=8)
def _in_graph_tokenizer(lowercase: bool, remove_stopwords: bool) -> InGraphTokenizer:
    with tf.init_scope():  # the cached table must live eagerly, not in whatever graph is being traced
        return InGraphTokenizer(LyricsParams(lowercase=lowercase, remove_stopwords=remove_stopwords))


def _tokenizer_for(params: LyricsParams) -> InGraphTokenizer:
    return _in_graph_tokenizer(bool(params.lowercase), bool(params.remove_stopwords))


def tokenize_in_graph(texts: tf.Tensor, params: LyricsParams = LyricsParams()) -> tf.RaggedTensor:
    """texts: string [batch] -> ragged string [batch, (tokens)], pure TF (Han -> single characters).

    Uses a cached ``InGraphTokenizer``; inside a model to be exported, hold your own
    ``InGraphTokenizer`` instance on the exported module instead so its table is saved.
    """
    return _tokenizer_for(params)(tf.convert_to_tensor(texts, tf.string))


# --------------------------------------------------------------------------- jieba

_JIEBA_LOCK = threading.Lock()


def _writable_cache_dir() -> Optional[str]:
    """Where jieba may write its prefix-dictionary cache: $MUSICTAG_CACHE_DIR or the temp dir."""
    for candidate in (os.environ.get("MUSICTAG_CACHE_DIR"), tempfile.gettempdir()):
        if not candidate:
            continue
        try:
            os.makedirs(candidate, exist_ok=True)
        except OSError:
            continue
        if os.access(candidate, os.W_OK | os.X_OK):
            return candidate
    return None


@functools.lru_cache(maxsize=1)
def _jieba():
    """A private, initialised jieba Tokenizer (offline dictionary, quiet logging).

    jieba builds a prefix dictionary from its bundled dict.txt on first use (~1 s) and caches
    it as ``jieba.cache`` in a writable directory; without one it rebuilds it every process.
    """
    import jieba

    with _JIEBA_LOCK:
        jieba.setLogLevel(logging.WARNING)
        segmenter = jieba.Tokenizer()
        cache_dir = _writable_cache_dir()
        segmenter.tmp_dir = cache_dir
        previous = jieba.default_logger.level
        if cache_dir is None:  # jieba would log a traceback for the failed cache dump
            jieba.setLogLevel(logging.CRITICAL)
        try:
            segmenter.initialize()
        finally:
            jieba.setLogLevel(previous)
        return segmenter


def _han_tokens(run: str, units: str) -> list:
    """A run of Han characters -> jieba words or single characters (letterless ones dropped)."""
    pieces = _jieba().lcut(run, HMM=True) if units == "words" else list(run)
    return [p for p in pieces if any(ch.isalpha() for ch in p)]


# --------------------------------------------------------------------------- Python API

def _as_text(text: TextLike, index: int) -> Optional[str]:
    if text is None:
        return None
    if isinstance(text, bytes):
        try:
            return text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise LyricsError(f"text #{index}", f"not valid UTF-8 ({exc.reason} at byte {exc.start})") from exc
    if isinstance(text, str):
        return text
    raise LyricsError(f"text #{index}", f"expected str, bytes or None, got {type(text).__name__}")


def _decode(values) -> list:
    return [v.decode("utf-8") for v in values]


def tokenize_batch(texts: Sequence[TextLike], params: LyricsParams = LyricsParams()) -> list:
    """Tokenizes many lyrics with batched tf-text calls (and jieba for Han runs).

    Args:
      texts: str (or UTF-8 bytes) per lyric; ``None``, "" or whitespace means no lyrics.
    Returns:
      list (one per text) of token lists; empty for missing lyrics.
    """
    texts = [_as_text(t, i) for i, t in enumerate(texts)]
    result: list = [[] for _ in texts]
    present = [i for i, t in enumerate(texts) if t is not None and t.strip()]
    if not present:
        return result
    tokenizer = _tokenizer_for(params)
    cleaned = _decode(tokenizer.clean(tf.constant([texts[i] for i in present])).numpy())

    # Cut each cleaned text at Han runs; the non-Han pieces are split in one tf-text call.
    layouts = []  # per present text: list of ("seg", index into segments) or ("han", run)
    segments = []
    for text in cleaned:
        layout = []
        for k, piece in enumerate(_HAN_RUN.split(text)):
            if k % 2 == 1:
                layout.append(("han", piece))
            elif piece.strip():
                layout.append(("seg", len(segments)))
                segments.append(piece)
        layouts.append(layout)
    seg_tokens = []
    if segments:
        seg_tokens = [_decode(row) for row in tokenizer.split_words(tf.constant(segments)).to_list()]

    docs = []
    for layout in layouts:
        tokens = []
        for kind, value in layout:
            tokens.extend(seg_tokens[value] if kind == "seg" else _han_tokens(value, params.chinese_units))
        docs.append(tokens)

    if params.remove_stopwords:
        docs = _filter_stopwords_batch(tokenizer, docs)
    for i, tokens in zip(present, docs):
        result[i] = tokens
    return result


def _ragged(token_lists: Sequence[Sequence[str]]) -> tf.RaggedTensor:
    flat = [t for tokens in token_lists for t in tokens]
    lengths = [len(tokens) for tokens in token_lists]
    return tf.RaggedTensor.from_row_lengths(tf.constant(flat, tf.string, shape=[len(flat)]),
                                            tf.constant(lengths, tf.int64))


def _filter_stopwords_batch(tokenizer: InGraphTokenizer, token_lists: list) -> list:
    filtered = tokenizer.filter_stopwords(_ragged(token_lists)).to_list()
    return [_decode(row) for row in filtered]


def tokenize(text: TextLike, params: LyricsParams = LyricsParams()) -> list:
    """One lyric -> tokens (see the module docstring for the rules). Missing lyrics -> []."""
    return tokenize_batch([text], params)[0]


def detect_stopword_language(token_lists: Sequence[Sequence[str]],
                             params: LyricsParams = LyricsParams()) -> list:
    """The stop-word language guess the filter uses, per token list (before stop-word removal).

    Returns a code from ``STOPWORD_LANGUAGES`` per list, or None when no token is a stop word
    of any of those languages (Chinese-only or empty lyrics).
    """
    if not token_lists:
        return []
    language, hits = _tokenizer_for(params).detect_language(_ragged(token_lists))
    return [STOPWORD_LANGUAGES[int(l)] if int(h) > 0 else None
            for l, h in zip(language.numpy(), hits.numpy())]
