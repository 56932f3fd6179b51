"""Lyrics front end: tokenization (jieba + tf-text), vocabulary and id encoding, TF-IDF,
skip-gram word vectors.

    tokens = tokenize_batch(texts, LyricsParams())          # Python (jieba words for Chinese)
    # one text: musictag_tf.lyrics.tokenize.tokenize(text) -- the function is not re-exported
    # here so that ``musictag_tf.lyrics.tokenize`` keeps naming the module.
    vocab = Vocabulary.build(tokens, LyricsParams())
    ids = encode_text(text_or_None, vocab, LyricsParams())   # int32 [max_tokens]; None -> all pad
    ragged = tokenize_in_graph(tf_strings)                   # pure TF, for exported signatures
    ids = vocab.encode_in_graph(ragged, max_tokens)          # int32 [batch, max_tokens]
"""

from musictag_tf.lyrics.encode import (empty_ids, encode_lyrics_file, encode_text, encode_texts, has_lyrics,
                                       read_lyrics_file)
from musictag_tf.lyrics.tfidf import TfidfModel, term_frequencies
from musictag_tf.lyrics.tokenize import (InGraphTokenizer, detect_stopword_language, load_stopwords,
                                         tokenize_batch, tokenize_in_graph)
from musictag_tf.lyrics.vectors import (WordVectors, embedding_coverage, embedding_matrix, skipgram_pairs,
                                        train_skipgram)
from musictag_tf.lyrics.vocab import OOV_ID, OOV_TOKEN, PAD_ID, PAD_TOKEN, Vocabulary

__all__ = [
    "InGraphTokenizer", "OOV_ID", "OOV_TOKEN", "PAD_ID", "PAD_TOKEN", "TfidfModel", "Vocabulary", "WordVectors",
    "detect_stopword_language", "embedding_coverage", "embedding_matrix", "empty_ids", "encode_lyrics_file",
    "encode_text", "encode_texts", "has_lyrics", "load_stopwords", "read_lyrics_file", "skipgram_pairs",
    "term_frequencies", "tokenize_batch", "tokenize_in_graph", "train_skipgram",
]
