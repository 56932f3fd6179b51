"""Word vectors: skip-gram with negative sampling in TensorFlow, word2vec/GloVe text files,
and the embedding matrix that initialises the lyrics branch.

The paper builds a word-embedding dictionary by unsupervised training on a large corpus and
looks each lyric word up in it. ``train_skipgram`` trains that dictionary on tokenized lyrics
(or any tokenized corpus); ``WordVectors.load_word2vec_text`` reads vectors trained elsewhere
(word2vec text format with its "<count> <dim>" header, or GloVe's header-less format);
``embedding_matrix`` turns either into the initial weights of a Keras ``Embedding`` over a
``Vocabulary`` (freeze it for "static" vectors or leave it trainable to fine-tune). The
alternative the paper compares against, a trainable embedding with random initialisation, needs
nothing from this module: build the ``Embedding`` without ``embeddings_initializer`` weights.

Skip-gram details: every (word, context) pair within ``WordVectorParams.window`` tokens on
either side inside one document; ``negatives`` negative contexts per pair drawn from the
unigram distribution raised to 0.75 (``tf.random.stateless_categorical``, so the draws depend
only on the seed and step); loss ``-log s(u.v) - sum_k log s(-u.v_k)`` averaged over the batch,
sparse ("lazy") Adam at ``learning_rate`` updating only the rows in the batch. Target vectors start uniform in +-0.5/dim, context vectors at 0
(as word2vec). Given the same seed, corpus and machine the result is identical on CPU.
"""

from __future__ import annotations

import logging
import math
from typing import Iterable, Optional, Sequence

import numpy as np
import tensorflow as tf

from musictag_tf.errors import LyricsError
from musictag_tf.lyrics.vocab import OOV_ID, PAD_ID, Vocabulary
from musictag_tf.params import LyricsParams, WordVectorParams

__all__ = ["WordVectors", "embedding_coverage", "embedding_matrix", "skipgram_pairs", "train_skipgram"]

_log = logging.getLogger(__name__)
_UNIGRAM_POWER = 0.75


class WordVectors:
    """A word -> vector dictionary.

    Args:
      tokens: distinct words, row order of ``matrix``.
      matrix: float32 [len(tokens), dim].
      losses: mean training loss per epoch (``train_skipgram`` only; empty when loaded).
    """

    def __init__(self, tokens: Sequence[str], matrix, losses: Sequence[float] = ()):
        matrix = np.asarray(matrix, dtype=np.float32)
        tokens = list(tokens)
        if matrix.ndim != 2 or matrix.shape[0] != len(tokens):
            raise ValueError(f"matrix must be [len(tokens)={len(tokens)}, dim], got {matrix.shape}")
        self.tokens = tokens
        self.matrix = matrix
        self.losses = list(losses)
        self.index = {t: i for i, t in enumerate(tokens)}
        if len(self.index) != len(tokens):
            raise ValueError("tokens must be distinct")
        self._unit = None

    @property
    def dim(self) -> int:
        return int(self.matrix.shape[1])

    def __len__(self) -> int:
        return len(self.tokens)

    def __contains__(self, word: str) -> bool:
        return word in self.index

    def vector(self, word: str) -> np.ndarray:
        """float32 [dim] for ``word`` (KeyError when unknown)."""
        if word not in self.index:
            raise KeyError(f"no vector for {word!r}")
        return self.matrix[self.index[word]]

    def _unit_matrix(self) -> np.ndarray:
        if self._unit is None:
            norms = np.linalg.norm(self.matrix, axis=1, keepdims=True)
            self._unit = self.matrix / np.maximum(norms, 1e-12)
        return self._unit

    def similarity(self, a: str, b: str) -> float:
        """Cosine similarity of two known words."""
        unit = self._unit_matrix()
        return float(unit[self.index[self._known(a)]] @ unit[self.index[self._known(b)]])

    def most_similar(self, word: str, k: int = 10) -> list:
        """The ``k`` nearest other words by cosine similarity: [(word, cosine)], best first."""
        unit = self._unit_matrix()
        i = self.index[self._known(word)]
        sims = unit @ unit[i]
        sims[i] = -np.inf
        order = np.argsort(-sims, kind="stable")[: max(0, min(k, len(self.tokens) - 1))]
        return [(self.tokens[j], float(sims[j])) for j in order]

    def _known(self, word: str) -> str:
        if word not in self.index:
            raise KeyError(f"no vector for {word!r}")
        return word

    # ------------------------------------------------------------------ files
    def save_word2vec_text(self, path: str, precision: int = 6) -> None:
        """word2vec text format: "<count> <dim>" then "word v1 ... v_dim" per line (UTF-8)."""
        path = str(path)
        for word in self.tokens:
            if not word or any(ch.isspace() for ch in word):
                raise LyricsError(path, f"word {word!r} is empty or contains whitespace; "
                                        "the word2vec text format cannot hold it")
        fmt = f"%.{precision}f"
        try:
            with tf.io.gfile.GFile(path, "w") as f:
                f.write(f"{len(self.tokens)} {self.dim}\n")
                for word, row in zip(self.tokens, self.matrix):
                    f.write(word + " " + " ".join(fmt % v for v in row.tolist()) + "\n")
        except tf.errors.OpError as exc:
            raise LyricsError(path, f"cannot write word vectors: {exc.message}") from exc

    @classmethod
    def load_word2vec_text(cls, path: str, *, limit: Optional[int] = None,
                           restrict_to: Optional[Iterable[str]] = None) -> "WordVectors":
        """Reads word2vec text (with header) or GloVe (no header) vectors.

        The header is recognised as a first line of exactly two integers. Words may contain
        spaces (some GloVe files have them): the last ``dim`` fields of a line are the vector.
        Repeated words keep their first vector.

        Args:
          limit: read only the first ``limit`` vectors of the file (files are usually sorted
            by frequency); the header count is then not checked.
          restrict_to: keep only these words (e.g. a model vocabulary) to save memory.
        Raises:
          LyricsError(path, reason) for missing files, binary word2vec files, ragged or
          non-numeric lines and header counts that do not match the file.
        """
        path = str(path)
        wanted = set(restrict_to) if restrict_to is not None else None
        tokens: list = []
        rows: list = []
        seen = set()
        dim = None
        header_count = None
        vectors_in_file = 0
        f = tf.io.gfile.GFile(path, "rb")  # opens lazily: errors surface at the first read
        try:
            line_number = 0
            while True:
                try:
                    raw = f.readline()
                except tf.errors.NotFoundError as exc:
                    raise LyricsError(path, "word-vector file not found") from exc
                except tf.errors.OpError as exc:
                    raise LyricsError(path, f"cannot read word vectors: {exc.message}") from exc
                if not raw:
                    break
                line_number += 1
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError as exc:
                    hint = " (binary word2vec files are not supported; convert to text)" if header_count else ""
                    raise LyricsError(path, f"line {line_number}: not UTF-8 text{hint}") from exc
                if line_number == 1:
                    line = line.lstrip("\ufeff")
                line = line.rstrip()
                if not line:
                    continue
                if dim is None:
                    fields = line.split()
                    if len(fields) == 2 and all(x.isdigit() for x in fields):
                        header_count, dim = int(fields[0]), int(fields[1])
                        if dim <= 0:
                            raise LyricsError(path, f"line 1: header gives dimension {dim}")
                        continue
                    dim = len(fields) - 1
                    if dim <= 0:
                        raise LyricsError(path, f"line {line_number}: expected a word and numbers, got {line[:60]!r}")
                parts = line.rsplit(None, dim)
                if len(parts) != dim + 1:
                    raise LyricsError(path, f"line {line_number}: expected a word and {dim} values, "
                                            f"got {len(parts) - 1} fields")
                vectors_in_file += 1
                word = parts[0]
                if word in seen or (wanted is not None and word not in wanted):
                    continue
                try:
                    row = np.array(parts[1:], dtype=np.float32)
                except ValueError as exc:
                    raise LyricsError(path, f"line {line_number}: non-numeric vector value ({exc})") from exc
                seen.add(word)
                tokens.append(word)
                rows.append(row)
                if limit is not None and vectors_in_file >= limit:
                    break
        finally:
            f.close()
        if dim is None:
            raise LyricsError(path, "empty word-vector file")
        if header_count is not None and limit is None and vectors_in_file != header_count:
            raise LyricsError(path, f"header announces {header_count} vectors but the file holds {vectors_in_file}")
        matrix = np.stack(rows) if rows else np.zeros((0, dim), np.float32)
        return cls(tokens, matrix)


# ---------------------------------------------------------------------- training

def skipgram_pairs(id_lists: Sequence[np.ndarray], window: int) -> tuple:
    """All (target, context) id pairs within ``window`` positions inside each document.

    Args:
      id_lists: per document, int [tokens] ids (already without pad/oov).
    Returns:
      (targets int32 [pairs], contexts int32 [pairs]), ordered by offset then position.
    """
    lengths = [len(ids) for ids in id_lists]
    if not lengths or sum(lengths) == 0:
        return np.zeros((0,), np.int32), np.zeros((0,), np.int32)
    flat = np.concatenate([np.asarray(ids, np.int32) for ids in id_lists])
    doc = np.repeat(np.arange(len(lengths)), lengths)
    targets, contexts = [], []
    for offset in range(1, window + 1):
        same_doc = doc[:-offset] == doc[offset:]
        left, right = flat[:-offset][same_doc], flat[offset:][same_doc]
        targets += [left, right]
        contexts += [right, left]
    return np.concatenate(targets).astype(np.int32), np.concatenate(contexts).astype(np.int32)


def train_skipgram(token_lists: Sequence[Sequence[str]], params: WordVectorParams = WordVectorParams(),
                   vocab: Optional[Vocabulary] = None, *, verbose: int = 1) -> WordVectors:
    """Trains skip-gram vectors on tokenized documents.

    Args:
      token_lists: tokenized documents (``tokenize_batch`` output).
      params: dim, window, negatives, epochs, batch_size, learning_rate, seed.
      vocab: words to learn; default ``Vocabulary.build(token_lists, LyricsParams())``
        (min_count 2). Out-of-vocabulary tokens are dropped from the sequences.
      verbose: 1 shows a Keras progress bar per epoch, 0 is silent.
    Returns:
      WordVectors for the vocabulary words that occur in ``token_lists`` (float32 [n, dim]),
      with ``losses`` = mean loss per epoch.
    """
    import keras  # progress bar only

    if vocab is None:
        vocab = Vocabulary.build(token_lists, LyricsParams())
    id_lists = []
    for tokens in token_lists:
        ids = np.fromiter((vocab.id_of(t) for t in tokens), dtype=np.int32, count=len(tokens))
        id_lists.append(ids[ids > OOV_ID])
    targets, contexts = skipgram_pairs(id_lists, params.window)
    if len(targets) == 0:
        raise LyricsError("skip-gram corpus", "no (word, context) pairs: every document has fewer than "
                                              "two in-vocabulary tokens")
    counts = np.bincount(np.concatenate(id_lists), minlength=len(vocab)).astype(np.float64)
    with np.errstate(divide="ignore"):
        logits = np.where(counts > 0, _UNIGRAM_POWER * np.log(counts), -np.inf).astype(np.float32)

    rng = np.random.default_rng(params.seed)
    n, dim = len(vocab), params.dim
    target_vectors = tf.Variable(rng.uniform(-0.5 / dim, 0.5 / dim, (n, dim)).astype(np.float32),
                                 name="skipgram_target_vectors")
    context_vectors = tf.Variable(np.zeros((n, dim), np.float32), name="skipgram_context_vectors")
    optimizer = _LazyAdam([target_vectors, context_vectors], params.learning_rate)
    noise_logits = tf.constant(logits[None, :])
    negatives = int(params.negatives)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.int32), tf.TensorSpec([None], tf.int32),
                                  tf.TensorSpec([2], tf.int64)])
    def train_step(batch_targets, batch_contexts, seed):
        batch = tf.shape(batch_targets)[0]
        noise = tf.random.stateless_categorical(noise_logits, batch * negatives, seed, dtype=tf.int32)
        noise = tf.reshape(noise, [batch, negatives])
        with tf.GradientTape() as tape:
            u = tf.gather(target_vectors, batch_targets)  # [batch, dim]
            v_pos = tf.gather(context_vectors, batch_contexts)  # [batch, dim]
            v_neg = tf.gather(context_vectors, noise)  # [batch, negatives, dim]
            pos_logit = tf.reduce_sum(u * v_pos, axis=-1)
            neg_logit = tf.einsum("bd,bkd->bk", u, v_neg)
            loss = tf.reduce_mean(tf.nn.softplus(-pos_logit) + tf.reduce_sum(tf.nn.softplus(neg_logit), axis=-1))
        optimizer.apply(tape.gradient(loss, [target_vectors, context_vectors]))
        return loss

    num_pairs = len(targets)
    steps = math.ceil(num_pairs / params.batch_size)
    losses = []
    step = 0
    for epoch in range(params.epochs):
        order = rng.permutation(num_pairs)
        t_epoch, c_epoch = targets[order], contexts[order]
        bar = keras.utils.Progbar(steps, verbose=verbose, stateful_metrics=["loss"]) if verbose else None
        if verbose:
            print(f"skip-gram epoch {epoch + 1}/{params.epochs}: {num_pairs} pairs, {n - 2} words")
        total = 0.0
        for s in range(steps):
            lo, hi = s * params.batch_size, min(num_pairs, (s + 1) * params.batch_size)
            loss = float(train_step(t_epoch[lo:hi], c_epoch[lo:hi],
                                    tf.constant([params.seed, step], tf.int64)))
            total += loss * (hi - lo)
            step += 1
            if bar is not None and (s % 20 == 0 or s == steps - 1):
                bar.update(s + 1, values=[("loss", total / hi)])
        losses.append(total / num_pairs)

    present = np.flatnonzero(counts > 0)
    matrix = target_vectors.numpy()[present]
    return WordVectors([vocab.token_of(i) for i in present], matrix, losses=losses)


class _LazyAdam:
    """Adam that touches only the embedding rows present in a batch (sparse "lazy" Adam).

    A dense optimizer would update every row's moments each step; for an embedding table
    that is most of the cost. Rows absent from a batch keep their moments unchanged.
    """

    def __init__(self, variables, learning_rate: float, beta_1: float = 0.9, beta_2: float = 0.999,
                 epsilon: float = 1e-7):
        self.variables = list(variables)
        self.m = [tf.Variable(tf.zeros_like(v), trainable=False) for v in self.variables]
        self.v = [tf.Variable(tf.zeros_like(v), trainable=False) for v in self.variables]
        self.iterations = tf.Variable(0, dtype=tf.int64, trainable=False)
        self.learning_rate, self.beta_1, self.beta_2, self.epsilon = learning_rate, beta_1, beta_2, epsilon

    def apply(self, grads) -> None:
        self.iterations.assign_add(1)
        t = tf.cast(self.iterations, tf.float32)
        lr = self.learning_rate * tf.sqrt(1.0 - self.beta_2 ** t) / (1.0 - self.beta_1 ** t)
        for var, m, v, grad in zip(self.variables, self.m, self.v, grads):
            if isinstance(grad, tf.IndexedSlices):
                rows, position = tf.unique(grad.indices)
                g = tf.math.unsorted_segment_sum(grad.values, position, tf.shape(rows)[0])
            else:
                rows, g = tf.range(tf.shape(var)[0]), grad
            m_rows = self.beta_1 * tf.gather(m, rows) + (1.0 - self.beta_1) * g
            v_rows = self.beta_2 * tf.gather(v, rows) + (1.0 - self.beta_2) * tf.square(g)
            m.scatter_update(tf.IndexedSlices(m_rows, rows))
            v.scatter_update(tf.IndexedSlices(v_rows, rows))
            var.scatter_sub(tf.IndexedSlices(lr * m_rows / (tf.sqrt(v_rows) + self.epsilon), rows))


# ---------------------------------------------------------------------- embedding init

def embedding_coverage(vocab: Vocabulary, vectors: WordVectors) -> float:
    """Share of the vocabulary's words (reserved ids excluded) that have a pretrained vector."""
    words = vocab.words
    if not words:
        return 0.0
    return sum(1 for w in words if w in vectors) / len(words)


def embedding_matrix(vocab: Vocabulary, vectors: WordVectors, seed: int = 0,
                     unknown_std: Optional[float] = None) -> np.ndarray:
    """Initial Embedding weights float32 [len(vocab), vectors.dim] for ``vocab``'s ids.

    Row ``PAD_ID`` is zeros; a word with a pretrained vector gets it; the OOV row and words
    without a vector get N(0, unknown_std) draws from ``seed`` (default std: that of the
    pretrained values, so new rows have the same scale). Logs the coverage.
    """
    rng = np.random.default_rng(seed)
    if unknown_std is None:
        unknown_std = float(vectors.matrix.std()) if vectors.matrix.size else 0.05
    matrix = rng.normal(0.0, unknown_std, (len(vocab), vectors.dim)).astype(np.float32)
    matrix[PAD_ID] = 0.0
    hits = 0
    for i, word in enumerate(vocab.words, start=OOV_ID + 1):
        row = vectors.index.get(word)
        if row is not None:
            matrix[i] = vectors.matrix[row]
            hits += 1
    total = len(vocab.words)
    _log.info("pretrained vectors cover %d of %d vocabulary words (%.1f%%)", hits, total,
              100.0 * hits / max(1, total))
    return matrix
