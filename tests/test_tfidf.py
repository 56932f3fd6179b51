"""TF-IDF: TF = f / max f in the document, IDF = ln(N / n), checked against hand-computed values."""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest

from conftest import shared_path
from musictag_tf.errors import LyricsError
from musictag_tf.lyrics.tfidf import TfidfModel, term_frequencies
from musictag_tf.lyrics.tokenize import tokenize_batch
from musictag_tf.lyrics.vocab import Vocabulary

D1 = ["love", "night", "love", "fire"]
D2 = ["love", "rain"]
D3 = ["night", "night", "rain", "sky"]
DOCS = [D1, D2, D3]

# Hand computation, N = 3 documents:
#   document frequency: love 2, night 2, rain 2, fire 1, sky 1
#   IDF = ln(N / n):  love = night = rain = ln(3/2) = 0.4054651;  fire = sky = ln(3) = 1.0986123
#   D1 counts love 2, night 1, fire 1 (max 2): TF love 1, night 0.5, fire 0.5
#      TF-IDF love 0.4054651, night 0.2027326, fire 0.5493061
#   D2 counts love 1, rain 1 (max 1): TF 1, 1 -> love 0.4054651, rain 0.4054651
#   D3 counts night 2, rain 1, sky 1 (max 2): TF 1, 0.5, 0.5
#      -> night 0.4054651, rain 0.2027326, sky 0.5493061
EXPECTED = [
    {"love": 0.4054651, "night": 0.2027326, "fire": 0.5493061},
    {"love": 0.4054651, "rain": 0.4054651},
    {"night": 0.4054651, "rain": 0.2027326, "sky": 0.5493061},
]


def _assert_weights(actual: dict, expected: dict):
    assert set(actual) == set(expected)
    for term, value in expected.items():
        assert actual[term] == pytest.approx(value, abs=1e-7), term


def test_hand_computed_example():
    model = TfidfModel().fit(DOCS)
    assert model.num_docs == 3
    assert model.document_frequency == {"love": 2, "night": 2, "rain": 2, "fire": 1, "sky": 1}
    assert term_frequencies(D3) == {"night": 1.0, "rain": 0.5, "sky": 0.5}
    for doc, expected in zip(DOCS, EXPECTED):
        _assert_weights(model.transform(doc), expected)


def test_top_terms_order():
    model = TfidfModel().fit(DOCS)
    assert [t for t, _ in model.top_terms(D1, 2)] == ["fire", "love"]
    # Ties are broken by term: D2's two weights are equal.
    assert [t for t, _ in model.top_terms(D2, 5)] == ["love", "rain"]
    assert model.top_terms([], 3) == []


def test_term_in_every_document_and_unknown_terms():
    model = TfidfModel().fit([["a", "b"], ["a"], ["a", "c"]])
    assert model.transform(["a", "b"]) == {"a": 0.0, "b": pytest.approx(math.log(3))}
    # Unknown terms have no IDF and are dropped, but still count for the TF maximum:
    # counts b 1, z 2 -> TF(b) = 1/2.
    assert model.transform(["b", "z", "z"]) == {"b": pytest.approx(0.5 * math.log(3))}


def test_smoothed_idf_option():
    model = TfidfModel(smooth_idf=True).fit(DOCS)
    # ln((1+3)/(1+2)) + 1 = 1.2876821 ; ln((1+3)/(1+1)) + 1 = 1.6931472
    _assert_weights(model.transform(D1), {"love": 1.2876821, "night": 0.6438410, "fire": 0.8465736})


def test_transform_matrix_columns_are_vocabulary_ids():
    model = TfidfModel().fit(DOCS)
    vocab = Vocabulary(["love", "night", "rain", "fire"])  # no "sky"
    matrix = model.transform_matrix(DOCS, vocab)
    assert matrix.dtype == np.float32 and matrix.shape == (3, 6)
    expected = np.zeros((3, 6), np.float32)
    for row, weights in enumerate(EXPECTED):
        for term, value in weights.items():
            if term in vocab:
                expected[row, vocab.id_of(term)] = value
    np.testing.assert_allclose(matrix, expected, atol=1e-6)
    assert not matrix[:, :2].any()  # pad / oov columns


def test_save_load_round_trip(tmp_path):
    model = TfidfModel().fit(DOCS + [["爱情", "love"]])
    path = tmp_path / "tfidf.json"
    model.save(path)
    assert json.loads(path.read_text(encoding="utf-8"))["document_frequency"]["爱情"] == 1
    loaded = TfidfModel.load(path)
    assert loaded.num_docs == 4 and loaded.smooth_idf is False
    for doc in DOCS:
        assert loaded.transform(doc) == model.transform(doc)


def test_errors(tmp_path):
    with pytest.raises(LyricsError, match="not fitted"):
        TfidfModel().transform(["a"])
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "something-else"}', encoding="utf-8")
    with pytest.raises(LyricsError, match="bad.json: not a musictag-tfidf file"):
        TfidfModel.load(bad)
    bad.write_text("{not json", encoding="utf-8")
    with pytest.raises(LyricsError, match="bad.json: not a JSON TF-IDF model"):
        TfidfModel.load(bad)
    with pytest.raises(LyricsError, match="not found"):
        TfidfModel.load(tmp_path / "missing.json")


def test_jamendo_top_terms_are_the_songs_own_rare_words():
    table = shared_path("lyrics", "jamendolyrics", "JamendoLyrics.csv")
    with open(table, encoding="utf-8") as f:
        stems = [row["Filepath"].rsplit(".", 1)[0] for row in csv.DictReader(f)]
    docs = tokenize_batch([(table.parent / f"{s}.txt").read_text(encoding="utf-8") for s in stems])
    model = TfidfModel().fit(docs)
    n = len(docs)
    for doc in docs:
        top = model.top_terms(doc, 5)
        assert len(top) == 5 and all(term in doc for term, _ in top)
        assert all(0 < w <= math.log(n) + 1e-9 for _, w in top)
        # The best term is at least as specific as the song's most frequent term.
        most_frequent = max(set(doc), key=lambda t: (doc.count(t), t))
        assert top[0][1] >= model.transform(doc)[most_frequent]
