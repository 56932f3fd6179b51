"""Skip-gram word vectors, word2vec/GloVe text files and the embedding-matrix initialiser."""

from __future__ import annotations

import csv
import logging
import random

import numpy as np
import pytest

from conftest import shared_path
from musictag_tf.errors import LyricsError
from musictag_tf.lyrics.tokenize import tokenize_batch
from musictag_tf.lyrics.vectors import (WordVectors, embedding_coverage, embedding_matrix, skipgram_pairs,
                                        train_skipgram)
from musictag_tf.lyrics.vocab import OOV_ID, PAD_ID, Vocabulary
from musictag_tf.params import WordVectorParams

FAST = WordVectorParams(dim=32, epochs=3, batch_size=512)


@pytest.fixture(scope="module")
def jamendo_tokens():
    table = shared_path("lyrics", "jamendolyrics", "JamendoLyrics.csv")
    with open(table, encoding="utf-8") as f:
        stems = [row["Filepath"].rsplit(".", 1)[0] for row in csv.DictReader(f)]
    return tokenize_batch([(table.parent / f"{s}.txt").read_text(encoding="utf-8") for s in stems])


@pytest.fixture(scope="module")
def jamendo_vectors(jamendo_tokens):
    return train_skipgram(jamendo_tokens, FAST, verbose=0)


# --------------------------------------------------------------------------- pairs

def test_skipgram_pairs_stay_inside_documents():
    targets, contexts = skipgram_pairs([np.array([2, 3, 4]), np.array([5, 6]), np.array([7])], window=2)
    pairs = sorted(zip(targets.tolist(), contexts.tolist()))
    assert pairs == sorted([(2, 3), (3, 2), (3, 4), (4, 3), (2, 4), (4, 2), (5, 6), (6, 5)])
    assert targets.dtype == np.int32
    empty = skipgram_pairs([], window=3)
    assert empty[0].size == 0 and empty[1].size == 0


# --------------------------------------------------------------------------- training

def test_training_on_jamendo_lowers_the_loss(jamendo_tokens, jamendo_vectors):
    losses = jamendo_vectors.losses
    assert len(losses) == FAST.epochs
    assert all(later < earlier for earlier, later in zip(losses, losses[1:])), losses
    assert losses[-1] < 0.75 * losses[0]
    vocab = Vocabulary.build(jamendo_tokens)
    assert jamendo_vectors.matrix.shape == (len(vocab) - 2, FAST.dim)
    assert jamendo_vectors.matrix.dtype == np.float32 and np.isfinite(jamendo_vectors.matrix).all()
    assert set(jamendo_vectors.tokens) == set(vocab.words)


def test_training_is_deterministic_given_the_seed(jamendo_tokens, jamendo_vectors):
    small = WordVectorParams(dim=16, epochs=1, batch_size=1024)
    docs = jamendo_tokens[:30]
    a = train_skipgram(docs, small, verbose=0)
    b = train_skipgram(docs, small, verbose=0)
    c = train_skipgram(docs, WordVectorParams(dim=16, epochs=1, batch_size=1024, seed=1), verbose=0)
    np.testing.assert_array_equal(a.matrix, b.matrix)
    assert a.losses == b.losses
    assert not np.allclose(a.matrix, c.matrix)


def _toy_corpus(seed: int) -> list:
    rng = random.Random(seed)
    pet_words = ["feed", "fur", "vet", "purr", "leash", "paws", "tail", "sleepy"]
    vehicle_words = ["drive", "road", "fuel", "wheel", "park", "ticket", "engine", "traffic"]
    docs = []
    for _ in range(600):
        if rng.random() < 0.5:
            subject, context = rng.choice(["cat", "dog"]), pet_words
        else:
            subject, context = rng.choice(["car", "bus"]), vehicle_words
        words = rng.sample(context, 4)
        words.insert(rng.randrange(5), subject)
        docs.append(words)
    return docs


@pytest.mark.parametrize("seed", [0, 1])
def test_words_sharing_contexts_end_up_close(seed):
    docs = _toy_corpus(seed)
    vocab = Vocabulary.build(docs, min_count=1)
    vectors = train_skipgram(docs, WordVectorParams(dim=16, window=2, epochs=8, batch_size=256, seed=seed),
                             vocab=vocab, verbose=0)
    assert vectors.similarity("cat", "dog") > vectors.similarity("cat", "car") + 0.3
    assert vectors.similarity("car", "bus") > vectors.similarity("bus", "dog") + 0.3
    assert vectors.most_similar("cat", 1)[0][0] == "dog"


def test_only_words_present_in_the_corpus_get_vectors():
    vocab = Vocabulary(["alpha", "beta", "gamma", "unused"])
    vectors = train_skipgram([["alpha", "beta", "zzz", "gamma"], ["beta", "alpha"]],
                             WordVectorParams(dim=4, epochs=1), vocab=vocab, verbose=0)
    assert vectors.tokens == ["alpha", "beta", "gamma"]
    with pytest.raises(LyricsError, match="no \\(word, context\\) pairs"):
        train_skipgram([["alpha"], ["zzz", "beta"]], WordVectorParams(dim=4, epochs=1), vocab=vocab, verbose=0)


def test_progress_bar_is_shown(capsys):
    train_skipgram([["a", "b", "c"]] * 4, WordVectorParams(dim=4, epochs=1), verbose=1)
    assert "skip-gram epoch 1/1" in capsys.readouterr().out


# --------------------------------------------------------------------------- similarity

def test_most_similar_by_cosine():
    vectors = WordVectors(["a", "b", "c", "d"], [[1, 0], [0.9, 0.1], [0, 2], [-3, 0]])
    top = vectors.most_similar("a", 3)
    assert [w for w, _ in top] == ["b", "c", "d"]
    assert top[0][1] == pytest.approx(0.9 / np.hypot(0.9, 0.1))
    assert top[1][1] == pytest.approx(0.0) and top[2][1] == pytest.approx(-1.0)
    assert len(vectors.most_similar("a", 10)) == 3
    with pytest.raises(KeyError, match="zzz"):
        vectors.most_similar("zzz")


# --------------------------------------------------------------------------- files

def test_word2vec_text_round_trip(jamendo_vectors, tmp_path):
    path = tmp_path / "vectors.txt"
    jamendo_vectors.save_word2vec_text(path)
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0] == f"{len(jamendo_vectors)} {FAST.dim}"
    assert len(lines) == len(jamendo_vectors) + 1
    loaded = WordVectors.load_word2vec_text(path)
    assert loaded.tokens == jamendo_vectors.tokens
    np.testing.assert_allclose(loaded.matrix, jamendo_vectors.matrix, rtol=0, atol=6e-7)  # 6 decimals + float32 rounding


def test_glove_file_without_header_loads(tmp_path):
    path = tmp_path / "glove.txt"
    path.write_text("the 0.1 -0.2 0.3\nnew york 1 2 3\namour 4e-1 5 -6.5\n", encoding="utf-8")
    vectors = WordVectors.load_word2vec_text(path)
    assert vectors.tokens == ["the", "new york", "amour"] and vectors.dim == 3
    np.testing.assert_array_equal(vectors.vector("amour"), np.float32([0.4, 5, -6.5]))
    assert WordVectors.load_word2vec_text(path, limit=2).tokens == ["the", "new york"]
    assert WordVectors.load_word2vec_text(path, restrict_to={"amour", "zzz"}).tokens == ["amour"]


def test_word2vec_c_tool_format_loads(tmp_path):
    # The original word2vec writes a trailing space after the last value of each line.
    path = tmp_path / "w2v.txt"
    path.write_text("2 2\n</s> 0.000000 0.000000 \nlove 0.500000 -0.250000 \n", encoding="utf-8")
    vectors = WordVectors.load_word2vec_text(path)
    assert vectors.tokens == ["</s>", "love"]
    np.testing.assert_array_equal(vectors.matrix, np.float32([[0, 0], [0.5, -0.25]]))


@pytest.mark.parametrize("content,message", [
    (b"3 2\na 1 2\nb 3 4\n", "header announces 3 vectors but the file holds 2"),
    (b"a 1 2 3\nb 1 2\n", "line 2: expected a word and 3 values"),
    (b"a 1 2\nb 1 x\n", "line 2: non-numeric"),
    (b"2 3\nab \x00\x81\xff\x10\x9a\x00\x00\x00\x00\x00\x00\n", "line 2: not UTF-8 text \\(binary word2vec"),
    (b"", "empty word-vector file"),
])
def test_malformed_vector_files(tmp_path, content, message):
    path = tmp_path / "bad.vec"
    path.write_bytes(content)
    with pytest.raises(LyricsError, match=message) as err:
        WordVectors.load_word2vec_text(path)
    assert str(path) in str(err.value)


def test_missing_vector_file(tmp_path):
    with pytest.raises(LyricsError, match="not found"):
        WordVectors.load_word2vec_text(tmp_path / "nope.txt")


# --------------------------------------------------------------------------- embedding matrix

def test_embedding_matrix_rows(caplog):
    vectors = WordVectors(["love", "night", "fire"], np.arange(12, dtype=np.float32).reshape(3, 4) - 5)
    vocab = Vocabulary(["night", "rain", "love", "sky"])
    with caplog.at_level(logging.INFO, logger="musictag_tf.lyrics.vectors"):
        matrix = embedding_matrix(vocab, vectors, seed=3)
    assert "2 of 4 vocabulary words (50.0%)" in caplog.text
    assert matrix.dtype == np.float32 and matrix.shape == (len(vocab), 4)
    assert not matrix[PAD_ID].any()
    np.testing.assert_array_equal(matrix[vocab.id_of("night")], vectors.vector("night"))
    np.testing.assert_array_equal(matrix[vocab.id_of("love")], vectors.vector("love"))
    unknown = matrix[[OOV_ID, vocab.id_of("rain"), vocab.id_of("sky")]]
    assert np.abs(unknown).max() > 0
    np.testing.assert_array_equal(matrix, embedding_matrix(vocab, vectors, seed=3))
    assert not np.array_equal(matrix, embedding_matrix(vocab, vectors, seed=4))
    assert embedding_coverage(vocab, vectors) == 0.5


def test_embedding_matrix_from_trained_jamendo_vectors(jamendo_tokens, jamendo_vectors):
    vocab = Vocabulary.build(jamendo_tokens, max_size=1000)
    matrix = embedding_matrix(vocab, jamendo_vectors, seed=0)
    assert matrix.shape == (1000, FAST.dim)
    assert embedding_coverage(vocab, jamendo_vectors) == 1.0
    unknown_rows = matrix[OOV_ID]
    # Unknown rows are drawn at the scale of the pretrained values.
    std = jamendo_vectors.matrix.std()
    big = embedding_matrix(Vocabulary([f"w{i}" for i in range(3000)]), jamendo_vectors, seed=0)
    assert big[2:].std() == pytest.approx(std, rel=0.05)
    assert np.isfinite(unknown_rows).all()
