"""Tokenization: jieba for Chinese, tf-text for the rest, and the in-graph twin.

Real data: the 79 JamendoLyrics songs (English/German/Spanish/French) and Chinese poems
(宋词三百首, 诗经) from ../shared/data/lyrics; tests skip without them.
"""

from __future__ import annotations

import csv
import json
import os
import pathlib
import subprocess
import sys
import unicodedata

import numpy as np
import pytest
import tensorflow as tf

from conftest import PROJECT_ROOT, shared_path
from musictag_tf.errors import LyricsError
import musictag_tf.lyrics.tokenize as tok
from musictag_tf.lyrics.tokenize import (ELISION_PREFIXES, STOPWORD_LANGUAGES, InGraphTokenizer,
                                         detect_stopword_language, is_han, load_stopwords, tokenize,
                                         tokenize_batch, tokenize_in_graph)
from musictag_tf.params import LyricsParams

KEEP_ALL = LyricsParams(remove_stopwords=False)
CHARS = LyricsParams(chinese_units="chars")
LANGUAGE_CODES = {"English": "en", "German": "de", "Spanish": "es", "French": "fr"}


# --------------------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def jamendo():
    """[(song name, language code, lyrics text)] for all 79 JamendoLyrics songs."""
    table = shared_path("lyrics", "jamendolyrics", "JamendoLyrics.csv")
    songs = []
    with open(table, encoding="utf-8") as f:
        for row in csv.DictReader(f):
            stem = row["Filepath"].rsplit(".", 1)[0]
            text = (table.parent / f"{stem}.txt").read_text(encoding="utf-8")
            songs.append((stem, LANGUAGE_CODES[row["Language"]], text))
    assert len(songs) == 79
    return songs


@pytest.fixture(scope="module")
def songci():
    """宋词三百首: one text per ci (paragraphs joined with newlines)."""
    poems = json.loads(shared_path("lyrics", "zh", "宋词三百首.json").read_text(encoding="utf-8"))
    return ["\n".join(p["paragraphs"]) for p in poems]


@pytest.fixture(scope="module")
def shijing():
    poems = json.loads(shared_path("lyrics", "zh", "shijing.json").read_text(encoding="utf-8"))
    return ["\n".join(p["content"]) for p in poems]


def _graph_tokens(texts, params=LyricsParams()):
    return [[t.decode("utf-8") for t in row] for row in tokenize_in_graph(tf.constant(texts), params).to_list()]


# --------------------------------------------------------------------------- rules, by example

def test_normalisation_rules_by_example():
    text = "Don’t STOP l'amour, 1999 Ｆｕｌｌ rock-n-roll 'cause goin' 4ever Straße!"
    assert tokenize(text, KEEP_ALL) == ["don't", "stop", "l'", "amour", "full", "rock", "n", "roll",
                                        "cause", "goin", "4ever", "strasse"]
    # Without lowercasing only NFKC applies (fullwidth letters still become ASCII).
    assert tokenize(text, LyricsParams(remove_stopwords=False, lowercase=False)) == [
        "Don't", "STOP", "l'", "amour", "Full", "rock", "n", "roll", "cause", "goin", "4ever", "Straße"]


@pytest.mark.parametrize("prefix", ELISION_PREFIXES)
def test_every_elision_prefix_is_split(prefix):
    assert tokenize(f"{prefix}'ombre {prefix.upper()}'OMBRE", KEEP_ALL) == [f"{prefix}'", "ombre"] * 2


def test_contractions_and_unknown_elisions_stay_whole():
    assert tokenize("I'm sure y'a geht's ya'll dell'amore", KEEP_ALL) == [
        "i'm", "sure", "y'a", "geht's", "ya'll", "dell'amore"]


def test_numbers_and_punctuation_dropped_but_alphanumerics_kept():
    assert tokenize("1, 2, 3 -- 4!!! ... 100% (2pac) 24/7 r&b ١٢ ² ⅻ", KEEP_ALL) == ["2pac", "r", "b", "xii"]
    # (NFKC turns the roman-numeral sign "ⅻ" into the letters "xii"; Arabic-Indic "١٢" is a number.)


def test_stopwords_are_language_specific():
    # English "die", "war", "man" are content words; German "die", "war", "man" are stop words.
    english = tokenize("The war is over and the man will die tonight")
    german = tokenize("Die Zeit war schön und man hat gelacht")
    assert english == ["war", "man", "die", "tonight"]
    assert german == ["zeit", "schön", "gelacht"]
    assert detect_stopword_language([tokenize(t, KEEP_ALL) for t in (
        "The war is over and the man will die tonight", "Die Zeit war schön und man hat gelacht",
        "Sin ti no soy nada, mi amor", "Je t'aime mais tu ne le sais pas", "春花秋月何时了", "")]) == [
        "en", "de", "es", "fr", None, None]


# --------------------------------------------------------------------------- missing / invalid text

@pytest.mark.parametrize("text", [None, "", "   \n\t", "!!! 123 ...", "。，！", "the and of"])
def test_missing_or_empty_lyrics_give_no_tokens(text):
    assert tokenize(text) == []


def test_batch_keeps_positions_of_missing_lyrics():
    out = tokenize_batch([None, "Hello darkness", "", "  ", "老朋友"])
    assert out == [[], ["hello", "darkness"], [], [], ["老朋友"]]
    graph = _graph_tokens(["", "Hello darkness", "   "])
    assert graph == [[], ["hello", "darkness"], []]
    assert tokenize_batch([]) == []


def test_bytes_are_decoded_and_bad_input_names_the_text():
    assert tokenize("Liebe für immer".encode("utf-8")) == ["liebe", "immer"]
    with pytest.raises(LyricsError, match=r"text #1: not valid UTF-8"):
        tokenize_batch(["ok", b"caf\xe9 latin-1"])
    with pytest.raises(LyricsError, match=r"text #0: expected str"):
        tokenize(42)


# --------------------------------------------------------------------------- Han detection

def test_python_han_ranges_match_re2_han_script():
    cps = np.array([c for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF])
    strings = tf.strings.unicode_encode(tf.constant(cps[:, None], tf.int32), "UTF-8")
    re2 = tf.strings.regex_full_match(strings, r"\p{Han}").numpy()
    python = np.array([is_han(chr(c)) for c in cps])
    mismatched = cps[re2 != python]
    assert mismatched.size == 0, [hex(c) for c in mismatched[:20]]
    assert re2.sum() > 90000


# --------------------------------------------------------------------------- Latin-script lyrics

def test_jamendo_tokens_are_clean(jamendo):
    token_lists = tokenize_batch([text for _, _, text in jamendo], KEEP_ALL)
    for (name, _, text), tokens in zip(jamendo, token_lists):
        assert len(tokens) > 30, name
        for t in tokens:
            assert t == t.lower(), (name, t)
            assert all(unicodedata.category(ch)[0] in "LMN" or ch == "'" for ch in t), (name, t)
            assert any(ch.isalpha() for ch in t), (name, t)
            assert not t.startswith("'"), (name, t)
            if t.endswith("'"):  # only split-off elisions end in an apostrophe
                assert t[:-1] in ELISION_PREFIXES, (name, t)


def _reference_tokens(text: str) -> list:
    """Independent pure-Python statement of the normalisation rules (module docstring)."""
    for ch in "\u2019\u2018\u02bc\u00b4`\uff07\u2032":
        text = text.replace(ch, "'")
    text = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())
    text = "".join(ch if unicodedata.category(ch)[0] in "LMN" or ch == "'" else " " for ch in text)
    tokens = []
    for word in text.split():
        word = word.strip("'")
        head, sep, rest = word.partition("'")
        if sep and rest and head in ELISION_PREFIXES:
            tokens.append(head + "'")
            word = rest
        if any(ch.isalpha() for ch in word):
            tokens.append(word)
    return tokens


def test_jamendo_tokens_match_independent_python_reference(jamendo):
    token_lists = tokenize_batch([text for _, _, text in jamendo], KEEP_ALL)
    for (name, _, text), tokens in zip(jamendo, token_lists):
        assert tokens == _reference_tokens(text), name


def test_jamendo_language_guess_matches_metadata(jamendo):
    guessed = detect_stopword_language(tokenize_batch([text for _, _, text in jamendo], KEEP_ALL))
    wrong = [(name, lang, g) for (name, lang, _), g in zip(jamendo, guessed) if g != lang]
    assert not wrong


def test_jamendo_stopwords_removed(jamendo):
    kept = tokenize_batch([text for _, _, text in jamendo])
    everything = tokenize_batch([text for _, _, text in jamendo], KEEP_ALL)
    for (name, lang, _), tokens, all_tokens in zip(jamendo, kept, everything):
        stop = load_stopwords(lang)
        assert not stop.intersection(tokens), name
        assert [t for t in all_tokens if t not in stop] == tokens, name
        removed = 1 - len(tokens) / len(all_tokens)
        assert 0.2 < removed < 0.75, (name, removed)


@pytest.mark.parametrize("params", [LyricsParams(), KEEP_ALL, LyricsParams(lowercase=False),
                                    LyricsParams(lowercase=False, remove_stopwords=False)],
                         ids=["default", "keep-stopwords", "cased", "cased-keep-stopwords"])
def test_in_graph_equals_python_on_jamendo(jamendo, params):
    texts = [text for _, _, text in jamendo]
    assert _graph_tokens(texts, params) == tokenize_batch(texts, params)


# --------------------------------------------------------------------------- Chinese

def test_songci_words_mode_uses_jieba_words(songci):
    words = tokenize_batch(songci, KEEP_ALL)
    flat = [t for tokens in words for t in tokens]
    multi = sum(len(t) > 1 for t in flat) / len(flat)
    assert multi > 0.3, multi  # jieba groups characters into words
    assert all(all(is_han(ch) for ch in t) for t in flat)
    # Words cover every Han character of the poem, in order.
    for text, tokens in zip(songci, words):
        assert "".join(tokens) == "".join(ch for ch in text if is_han(ch))


def test_songci_chars_mode_and_chinese_stopwords(songci):
    chars = tokenize_batch(songci, CHARS)
    flat = [t for tokens in chars for t in tokens]
    assert all(len(t) == 1 and is_han(t) for t in flat)
    raw = "".join(songci)
    zh = load_stopwords("zh")
    for stop in ("的", "了", "之", "也"):
        assert stop in raw and stop not in flat
    words = [t for tokens in tokenize_batch(songci) for t in tokens]
    assert not zh.intersection(words)
    assert "的" in [t for tokens in tokenize_batch(songci, KEEP_ALL) for t in tokens]


def test_shijing_chars_mode_equals_in_graph(shijing):
    assert tokenize_batch(shijing, CHARS) == _graph_tokens(shijing)
    assert tokenize_batch(shijing, LyricsParams(chinese_units="chars", remove_stopwords=False)) == \
        _graph_tokens(shijing, KEEP_ALL)


def test_in_graph_splits_han_into_characters(shijing):
    graph = _graph_tokens(shijing[:20])
    words = tokenize_batch(shijing[:20])
    assert all(len(t) == 1 for row in graph for t in row)
    assert any(len(t) > 1 for row in words for t in row)


# --------------------------------------------------------------------------- mixed script

MIXED = [
    ("我爱你 baby, I love you 永远爱你 forever。",
     ["我爱你", "baby", "love", "永远", "爱", "forever"],
     ["爱", "baby", "love", "永", "远", "爱", "forever"]),
    ("Rock’n’roll 的 Musik 是 mein Leben und 我的 alles",
     ["rock'n'roll", "musik", "leben", "alles"],
     ["rock'n'roll", "musik", "leben", "alles"]),
    ("C'est la vie, l’amour 爱情 toujours",
     ["vie", "amour", "爱情", "toujours"],
     ["vie", "amour", "爱", "情", "toujours"]),
]


@pytest.mark.parametrize("text,words,chars", MIXED)
def test_mixed_script_lyrics(text, words, chars):
    assert tokenize(text) == words
    assert tokenize(text, CHARS) == chars
    assert _graph_tokens([text]) == [chars]


# --------------------------------------------------------------------------- stop-word files

@pytest.mark.parametrize("language", STOPWORD_LANGUAGES + ("zh",))
def test_stopword_files_are_hand_written_and_in_token_form(language):
    path = PROJECT_ROOT / "musictag_tf" / "lyrics" / "stopwords" / f"{language}.txt"
    lines = path.read_text(encoding="utf-8").splitlines()
    assert "hand-written" in lines[0].lower() + lines[1].lower()
    entries = [line for line in lines if line and not line.startswith("#")]
    assert len(entries) == len(set(entries)) == len(load_stopwords(language)) > 80
    for word in entries:
        if word.endswith("'"):
            assert tokenize(word + "amour", KEEP_ALL) == [word, "amour"]
        elif language == "zh":
            assert all(is_han(ch) for ch in word)
        else:
            assert tokenize(word, KEEP_ALL) == [word], word
    assert not {"not", "no", "never", "nicht", "pas", "nunca", "不"}.intersection(entries)


def test_unknown_stopword_language():
    with pytest.raises(LyricsError, match="stopwords/xx.txt"):
        load_stopwords("xx")


# --------------------------------------------------------------------------- SavedModel / jieba setup

def test_in_graph_tokenizer_survives_saved_model(tmp_path):
    module = tf.Module()
    module.tokenizer = InGraphTokenizer(LyricsParams())
    module.tokens = tf.function(lambda texts: module.tokenizer(texts).to_tensor(""),
                                input_signature=[tf.TensorSpec([None], tf.string)])
    tf.saved_model.save(module, str(tmp_path / "tok"))
    restored = tf.saved_model.load(str(tmp_path / "tok"))
    texts = tf.constant(["The war is over, Liebe!", "Die Zeit war schön", "春风又绿江南岸"])
    np.testing.assert_array_equal(restored.tokens(texts).numpy(), module.tokens(texts).numpy())
    assert [t for t in restored.tokens(texts).numpy()[1] if t] == [b"zeit", "schön".encode()]


def test_jieba_is_offline_quiet_and_caches_in_writable_dir(tmp_path):
    cache = tmp_path / "cache"
    code = ("from musictag_tf.lyrics.tokenize import tokenize\n"
            "print('|'.join(tokenize('我们一起去看长城的日出')))\n")
    env = dict(os.environ, MUSICTAG_CACHE_DIR=str(cache), TF_CPP_MIN_LOG_LEVEL="2",
               PYTHONPATH=str(PROJECT_ROOT), no_proxy="*", http_proxy="http://127.0.0.1:9", https_proxy="http://127.0.0.1:9")
    for _ in range(2):  # first run builds the cache, second loads it
        run = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
        assert run.returncode == 0, run.stderr
        assert run.stdout.strip() == "一起|去|看|长城|日出"
        assert "prefix dict" not in run.stderr and "jieba" not in run.stderr.lower()
    assert (cache / "jieba.cache").is_file()


def test_tokenizer_is_cached_per_params():
    assert tok._tokenizer_for(LyricsParams()) is tok._tokenizer_for(LyricsParams(max_tokens=7))
    assert tok._tokenizer_for(LyricsParams()) is not tok._tokenizer_for(KEEP_ALL)
