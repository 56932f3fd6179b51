"""Vocabulary, id encoding (missing lyrics included), lyrics files and the in-graph lookup."""

from __future__ import annotations

import codecs
import csv
import random

import numpy as np
import pytest
import tensorflow as tf

from conftest import shared_path
from musictag_tf.errors import LyricsError
from musictag_tf.lyrics.encode import (empty_ids, encode_lyrics_file, encode_text, encode_texts, has_lyrics,
                                       read_lyrics_file)
from musictag_tf.lyrics.tokenize import InGraphTokenizer, tokenize_batch, tokenize_in_graph
from musictag_tf.lyrics.vocab import OOV_ID, OOV_TOKEN, PAD_ID, PAD_TOKEN, Vocabulary
from musictag_tf.params import ConfigError, LyricsParams

DOCS = [["b", "a", "a", "c"], ["a", "b", "d"], ["e", "a"]]  # a:4 b:2 c:1 d:1 e:1


@pytest.fixture(scope="module")
def jamendo_texts():
    table = shared_path("lyrics", "jamendolyrics", "JamendoLyrics.csv")
    with open(table, encoding="utf-8") as f:
        stems = [row["Filepath"].rsplit(".", 1)[0] for row in csv.DictReader(f)]
    return [read_lyrics_file(table.parent / f"{stem}.txt") for stem in stems]


# --------------------------------------------------------------------------- building

def test_build_orders_by_frequency_then_token():
    vocab = Vocabulary.build(DOCS, min_count=1)
    assert vocab.tokens == [PAD_TOKEN, OOV_TOKEN, "a", "b", "c", "d", "e"]
    assert [vocab.id_of(t) for t in "abcde"] == [2, 3, 4, 5, 6]
    assert vocab.counts == {"a": 4, "b": 2, "c": 1, "d": 1, "e": 1}
    assert Vocabulary.build(DOCS, min_count=2).tokens == [PAD_TOKEN, OOV_TOKEN, "a", "b"]
    # vocab_size counts the two reserved ids.
    assert Vocabulary.build(DOCS, LyricsParams(vocab_size=4, min_count=1)).tokens == [PAD_TOKEN, OOV_TOKEN, "a", "b"]
    with pytest.raises(ConfigError):
        Vocabulary.build(DOCS, max_size=2)


def test_build_is_independent_of_document_order(jamendo_texts):
    tokens = tokenize_batch(jamendo_texts)
    shuffled = list(tokens)
    random.Random(3).shuffle(shuffled)
    params = LyricsParams(vocab_size=500)
    assert Vocabulary.build(tokens, params) == Vocabulary.build(shuffled, params)
    vocab = Vocabulary.build(tokens, params)
    assert len(vocab) == 500
    counts = [vocab.counts[w] for w in vocab.words]
    assert counts == sorted(counts, reverse=True) and min(counts) >= params.min_count


def test_lookups():
    vocab = Vocabulary.build(DOCS, min_count=1)
    assert len(vocab) == 7 and "a" in vocab and PAD_TOKEN not in vocab
    assert vocab.id_of("zzz") == OOV_ID and vocab.id_of(PAD_TOKEN) == OOV_ID
    assert vocab.token_of(0) == PAD_TOKEN and vocab.token_of(1) == OOV_TOKEN and vocab.token_of(6) == "e"
    with pytest.raises(IndexError):
        vocab.token_of(7)
    with pytest.raises(LyricsError, match="duplicate"):
        Vocabulary(["x", "y", "x"])
    with pytest.raises(LyricsError, match="whitespace"):
        Vocabulary(["two words"])
    with pytest.raises(LyricsError, match="reserved"):
        Vocabulary([OOV_TOKEN])


def test_encode_truncates_and_pads():
    vocab = Vocabulary.build(DOCS, min_count=1)
    ids = vocab.encode(["a", "zzz", "e"], 5)
    assert ids.dtype == np.int32 and ids.tolist() == [2, OOV_ID, 6, PAD_ID, PAD_ID]
    assert vocab.encode(list("abcdeab"), 4).tolist() == [2, 3, 4, 5]
    assert vocab.encode([], 3).tolist() == [0, 0, 0]
    assert vocab.decode([2, 1, 6, 0, 0]) == ["a", OOV_TOKEN, "e"]


# --------------------------------------------------------------------------- files

def test_save_load_round_trip(tmp_path):
    vocab = Vocabulary(["amour", "爱情", "müde", "don't", "l'"])
    path = tmp_path / "vocab.txt"
    vocab.save(path)
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines == [PAD_TOKEN, OOV_TOKEN, "amour", "爱情", "müde", "don't", "l'"]
    loaded = Vocabulary.load(path)
    assert loaded == vocab and loaded.id_of("爱情") == 3


@pytest.mark.parametrize("content,message", [
    (b"<oov>\n<pad>\nx\n", "lines 0-1"),
    (b"<pad>\n<oov>\nx\ny\nx\n", "id 4: duplicate of 'x' at id 2"),
    (b"<pad>\n<oov>\n\xff\xfe\n", "not UTF-8"),
    (b"<pad>\n<oov>\nok\n\nnext\n", "empty"),
])
def test_load_rejects_malformed_files(tmp_path, content, message):
    path = tmp_path / "bad_vocab.txt"
    path.write_bytes(content)
    with pytest.raises(LyricsError, match=message) as err:
        Vocabulary.load(path)
    assert str(path) in str(err.value)


def test_load_missing_file(tmp_path):
    with pytest.raises(LyricsError, match="not found"):
        Vocabulary.load(tmp_path / "nope.txt")


def test_read_lyrics_file_encodings(tmp_path):
    text = "Première ligne\n第二行 — fin\n"
    for name, data in [("utf8.txt", text.encode("utf-8")),
                       ("bom.txt", codecs.BOM_UTF8 + text.encode("utf-8")),
                       ("crlf.txt", text.replace("\n", "\r\n").encode("utf-8")),
                       ("utf16.txt", text.encode("utf-16"))]:
        (tmp_path / name).write_bytes(data)
        assert read_lyrics_file(tmp_path / name) == text, name
    (tmp_path / "latin1.txt").write_bytes("Première".encode("latin-1"))
    with pytest.raises(LyricsError, match=r"latin1.txt: not valid UTF-8 text: invalid continuation byte at byte 5"):
        read_lyrics_file(tmp_path / "latin1.txt")
    (tmp_path / "utf16_no_bom.txt").write_bytes("hello".encode("utf-16-le"))
    with pytest.raises(LyricsError, match="NUL"):
        read_lyrics_file(tmp_path / "utf16_no_bom.txt")
    with pytest.raises(LyricsError, match=r"missing.txt: lyrics file not found"):
        read_lyrics_file(tmp_path / "missing.txt")


# --------------------------------------------------------------------------- encoding clips

@pytest.mark.parametrize("text", [None, "", "  \n\t ", "... 1 2 3 !!!"])
def test_missing_lyrics_encode_to_all_pad(text):
    vocab = Vocabulary(["love"])
    params = LyricsParams(max_tokens=6)
    ids = encode_text(text, vocab, params)
    assert ids.dtype == np.int32 and ids.shape == (6,) and not ids.any()
    assert has_lyrics(ids) is False
    np.testing.assert_array_equal(ids, empty_ids(params))


def test_encode_text_and_has_lyrics():
    vocab = Vocabulary(["love", "night"])
    params = LyricsParams(max_tokens=5)
    ids = encode_text("Love, LOVE in the night — forever!", vocab, params)
    assert ids.tolist() == [2, 2, 3, OOV_ID, PAD_ID]
    assert has_lyrics(ids) is True
    batch = encode_texts(["night", None, "unknownword"], vocab, params)
    assert batch.shape == (3, 5) and has_lyrics(batch).tolist() == [True, False, True]
    assert encode_lyrics_file(None, vocab, params).tolist() == [0] * 5
    with pytest.raises(ConfigError, match="pad_id"):
        encode_text("love", vocab, LyricsParams(pad_id=3))


def test_encode_jamendo_lyrics_files(jamendo_texts, tmp_path):
    params = LyricsParams()
    token_lists = tokenize_batch(jamendo_texts, params)
    vocab = Vocabulary.build(token_lists, params)
    ids = encode_texts(jamendo_texts, vocab, params)
    assert ids.shape == (79, params.max_tokens) and ids.max() < len(vocab)
    assert has_lyrics(ids).all()
    for row, tokens in zip(ids, token_lists):
        n = min(len(tokens), params.max_tokens)
        assert (row[:n] != PAD_ID).all() and (row[n:] == PAD_ID).all()
        assert vocab.decode(row[:n]) == [t if t in vocab else OOV_TOKEN for t in tokens[:n]]
    oov_rate = (ids == OOV_ID).sum() / (ids != PAD_ID).sum()
    assert 0.05 < oov_rate < 0.5  # min_count=2 on 79 songs leaves the hapaxes out
    path = shared_path("lyrics", "jamendolyrics", "Avercage_-_Embers.txt")
    np.testing.assert_array_equal(encode_lyrics_file(path, vocab, params),
                                  encode_text(path.read_text(encoding="utf-8"), vocab, params))


# --------------------------------------------------------------------------- in-graph

def test_in_graph_ids_equal_python_ids(jamendo_texts):
    params = LyricsParams(max_tokens=128)
    vocab = Vocabulary.build(tokenize_batch(jamendo_texts, params), params)
    texts = jamendo_texts + ["", "   "]
    python_ids = encode_texts(texts, vocab, params)
    graph_ids = vocab.encode_in_graph(tokenize_in_graph(tf.constant(texts), params), params.max_tokens)
    assert graph_ids.dtype == tf.int32 and graph_ids.shape == (81, 128)
    np.testing.assert_array_equal(graph_ids.numpy(), python_ids)
    # The Keras StringLookup layer gives the same ids.
    layer_ids = vocab.lookup_layer()(tokenize_in_graph(tf.constant(texts[:5]), params))
    table_ids = vocab.lookup_table().lookup(tokenize_in_graph(tf.constant(texts[:5]), params))
    assert layer_ids.to_list() == table_ids.to_list()
    assert vocab.lookup_layer()(tf.constant([PAD_TOKEN, "zzzz", vocab.words[0]])).numpy().tolist() == [0, 1, 2]


def test_text_to_ids_signature_survives_saved_model(jamendo_texts, tmp_path):
    params = LyricsParams(max_tokens=64)
    vocab = Vocabulary.build(tokenize_batch(jamendo_texts, params), params)
    module = tf.Module()
    module.tokenizer = InGraphTokenizer(params)
    module.table = vocab.lookup_table()

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def lyrics_ids(texts):
        return vocab.encode_in_graph(module.tokenizer(texts), params.max_tokens)

    module.lyrics_ids = lyrics_ids
    tf.saved_model.save(module, str(tmp_path / "lyrics_ids"))
    del module
    restored = tf.saved_model.load(str(tmp_path / "lyrics_ids"))
    texts = jamendo_texts[:10] + [""]
    np.testing.assert_array_equal(restored.lyrics_ids(tf.constant(texts)).numpy(), encode_texts(texts, vocab, params))


def test_table_first_requested_inside_tf_function_is_usable_eagerly():
    vocab = Vocabulary(["love", "night"])

    @tf.function
    def ids(texts):
        return vocab.encode_in_graph(tokenize_in_graph(texts), 4)

    assert ids(tf.constant(["Love the night!"])).numpy().tolist() == [[2, 3, 0, 0]]
    assert vocab.lookup_table().lookup(tf.constant(["night", "day"])).numpy().tolist() == [3, OOV_ID]
