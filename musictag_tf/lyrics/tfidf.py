"""TF-IDF term weights for lyrics, as the paper defines them.

For term i in document j:

    TF_ij  = f_ij / max_k f_kj          (count of i in j over the count of j's most frequent term)
    IDF_i  = log(N / n_i)               (natural log; N documents, n_i of them contain term i)
    TFIDF_ij = TF_ij * IDF_i

With the paper's IDF a term present in every document weighs 0, and a term never seen in
``fit`` has no IDF: it is left out of ``transform`` results (weight 0 in ``transform_matrix``).
``smooth_idf=True`` switches to the smoothed variant ``log((1 + N) / (1 + n_i)) + 1``
(scikit-learn's), which is positive for every fitted term; the default is the paper's formula.

Serialised as JSON (``save``/``load`` through ``tf.io.gfile``): document frequencies, N and
the smoothing flag, so IDF values are recomputed exactly on load.
"""

from __future__ import annotations

import collections
import json
import math
from typing import Iterable, Optional, Sequence

import numpy as np
import tensorflow as tf

from musictag_tf.errors import LyricsError
from musictag_tf.lyrics.files import read_bytes

__all__ = ["TfidfModel", "term_frequencies"]

_FORMAT = "musictag-tfidf"
_VERSION = 1


def term_frequencies(tokens: Sequence[str]) -> dict:
    """TF_ij = f_ij / max_k f_kj for one document; {} for an empty document."""
    counts = collections.Counter(tokens)
    if not counts:
        return {}
    peak = max(counts.values())
    return {term: count / peak for term, count in counts.items()}


class TfidfModel:
    """Document frequencies of a corpus and the resulting TF-IDF weights.

    Args:
      smooth_idf: False (default) for the paper's ``log(N / n_i)``; True for
        ``log((1 + N) / (1 + n_i)) + 1``.
    """

    def __init__(self, smooth_idf: bool = False):
        self.smooth_idf = bool(smooth_idf)
        self.num_docs = 0
        self.document_frequency: dict = {}

    def fit(self, token_lists: Iterable[Sequence[str]]) -> "TfidfModel":
        """Counts, for each term, the documents containing it. Returns self."""
        df = collections.Counter()
        n = 0
        for tokens in token_lists:
            df.update(set(tokens))
            n += 1
        self.num_docs = n
        self.document_frequency = dict(df)
        return self

    def idf(self, term: str) -> Optional[float]:
        """IDF of a fitted term, or None for a term seen in no document."""
        n_i = self.document_frequency.get(term, 0)
        if n_i == 0:
            return None
        if self.smooth_idf:
            return math.log((1 + self.num_docs) / (1 + n_i)) + 1.0
        return math.log(self.num_docs / n_i)

    def transform(self, tokens: Sequence[str]) -> dict:
        """One document -> {term: TF * IDF} for its fitted terms."""
        self._check_fitted()
        weights = {}
        for term, tf_value in term_frequencies(tokens).items():
            idf = self.idf(term)
            if idf is not None:
                weights[term] = tf_value * idf
        return weights

    def transform_matrix(self, token_lists: Sequence[Sequence[str]], vocab) -> np.ndarray:
        """Documents -> float32 [docs, len(vocab)], column = vocabulary id.

        Terms outside ``vocab`` (and the reserved pad/oov columns) stay 0; TF is still
        normalised by the document's most frequent term over all its tokens.
        """
        self._check_fitted()
        matrix = np.zeros((len(token_lists), len(vocab)), dtype=np.float32)
        for row, tokens in enumerate(token_lists):
            for term, weight in self.transform(tokens).items():
                if term in vocab:
                    matrix[row, vocab.id_of(term)] = weight
        return matrix

    def top_terms(self, tokens: Sequence[str], k: int) -> list:
        """The ``k`` highest-weighted (term, weight) pairs, weight descending, then term."""
        ranked = sorted(self.transform(tokens).items(), key=lambda kv: (-kv[1], kv[0]))
        return ranked[:k]

    def _check_fitted(self) -> None:
        if self.num_docs == 0:
            raise LyricsError("TfidfModel", "not fitted: call fit() on at least one document first")

    # ------------------------------------------------------------------ files
    def to_json(self) -> dict:
        return {"format": _FORMAT, "version": _VERSION, "smooth_idf": self.smooth_idf,
                "num_docs": self.num_docs, "document_frequency": self.document_frequency}

    def save(self, path: str) -> None:
        """Writes the model as UTF-8 JSON."""
        path = str(path)
        try:
            with tf.io.gfile.GFile(path, "w") as f:
                f.write(json.dumps(self.to_json(), ensure_ascii=False, sort_keys=True))
        except tf.errors.OpError as exc:
            raise LyricsError(path, f"cannot write TF-IDF model: {exc.message}") from exc

    @classmethod
    def load(cls, path: str) -> "TfidfModel":
        """Reads a model written by ``save``; LyricsError names the file and the problem."""
        path = str(path)
        data = read_bytes(path, "TF-IDF model")
        try:
            values = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise LyricsError(path, f"not a JSON TF-IDF model: {exc}") from exc
        if not isinstance(values, dict) or values.get("format") != _FORMAT:
            raise LyricsError(path, f"not a {_FORMAT} file")
        if values.get("version") != _VERSION:
            raise LyricsError(path, f"unsupported {_FORMAT} version {values.get('version')!r}")
        model = cls(smooth_idf=bool(values["smooth_idf"]))
        model.num_docs = int(values["num_docs"])
        model.document_frequency = {str(k): int(v) for k, v in values["document_frequency"].items()}
        return model
