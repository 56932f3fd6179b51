"""The synthetic tagged dataset: determinism, MTAT layout, the generative story, audio that
matches its tags, and the modality property (audio tags are heard, lyric tags are read,
emotion needs both)."""

from __future__ import annotations

import csv
import dataclasses
import json
import pathlib
import re
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
from scipy import signal

from musictag_tf.params import ConfigError, SyntheticParams
from tfrecords_builder.synthetic import (SYNTHETIC_TAGS, TAG_MODALITY, assign_folders, clean_tags,
                                         generate_dataset, lyrics_of, render_clip, sample_clip_spec,
                                         split_of_folder, tags_of)
from tfrecords_builder.synthetic import instruments, spec as spec_lib

SR = 16000
SMALL = SyntheticParams(num_clips=64, clip_seconds=3.0, seed=7)


def _generate(root, params, workers):
    return generate_dataset(root, params, workers=workers, progress=False)


@pytest.fixture(scope="session")
def small(tmp_path_factory):
    """64 clips of 3 s, rendered by a 2-process pool."""
    return _generate(tmp_path_factory.mktemp("synthetic_a"), SMALL, workers=2)


@pytest.fixture(scope="session")
def small_again(tmp_path_factory):
    """The same parameters again, rendered in-process."""
    return _generate(tmp_path_factory.mktemp("synthetic_b"), SMALL, workers=1)


def _read_annotations(path: pathlib.Path):
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f, delimiter="\t", quotechar='"'))
    return rows[0], rows[1:]


def _truth(dataset):
    return [json.loads(line) for line in dataset.truth_path.read_text(encoding="utf-8").splitlines()]


def _decode(path):
    audio, rate = sf.read(str(path), dtype="float32", always_2d=True)
    return audio, rate


# --- determinism -------------------------------------------------------------------------

TABLES = ("annotations_final.csv", "lyrics.tsv", "emotion.tsv", "tags.txt", "truth.jsonl")


def test_same_seed_gives_identical_files_and_audio(small, small_again):
    for name in TABLES:
        assert (small.out_dir / name).read_bytes() == (small_again.out_dir / name).read_bytes(), name
    lyric_files = sorted(p.name for p in (small.out_dir / "lyrics").iterdir())
    assert lyric_files == sorted(p.name for p in (small_again.out_dir / "lyrics").iterdir())
    for name in lyric_files:
        assert (small.out_dir / "lyrics" / name).read_bytes() == (small_again.out_dir / "lyrics" / name).read_bytes()
    _, rows = _read_annotations(small.annotations_path)
    for row in rows:
        a, _ = _decode(small.out_dir / row[-1])
        b, _ = _decode(small_again.out_dir / row[-1])
        np.testing.assert_array_equal(a, b, err_msg=row[-1])


def test_different_seed_gives_different_data(small, tmp_path):
    other = _generate(tmp_path, dataclasses.replace(SMALL, seed=SMALL.seed + 1), workers=1)
    for name in ("annotations_final.csv", "emotion.tsv", "truth.jsonl"):
        assert (small.out_dir / name).read_bytes() != (other.out_dir / name).read_bytes(), name
    spec_a = sample_clip_spec(np.random.default_rng([1, 0, 0]), SMALL)
    first = render_clip(spec_a, np.random.default_rng([1, 0, 2]), SR)
    second = render_clip(spec_a, np.random.default_rng([2, 0, 2]), SR)
    assert not np.array_equal(first, second)  # same spec, other audio stream: other performance


def test_a_clip_renders_identically_alone_and_in_any_order():
    params = SyntheticParams(clip_seconds=2.0)
    specs = [sample_clip_spec(np.random.default_rng([3, i, 0]), params, clip_id=i + 1) for i in range(3)]
    forward = [render_clip(s, np.random.default_rng([3, i, 2]), SR) for i, s in enumerate(specs)]
    backward = [render_clip(specs[i], np.random.default_rng([3, i, 2]), SR) for i in (2, 1, 0)][::-1]
    for a, b in zip(forward, backward):
        np.testing.assert_array_equal(a, b)


# --- layout ------------------------------------------------------------------------------

def test_annotations_are_mtat_format(small):
    raw = small.annotations_path.read_text(encoding="utf-8").splitlines()
    for line in raw:
        fields = line.split("\t")
        assert all(f.startswith('"') and f.endswith('"') for f in fields), line[:80]
    header, rows = _read_annotations(small.annotations_path)
    assert header[0] == "clip_id" and header[-1] == "mp3_path"
    assert tuple(header[1:-1]) == SYNTHETIC_TAGS
    assert small.tags_path.read_text(encoding="utf-8").splitlines() == list(SYNTHETIC_TAGS)
    assert [int(r[0]) for r in rows] == list(range(1, SMALL.num_clips + 1))
    for row in rows:
        assert len(row) == len(header)
        assert set(row[1:-1]) <= {"0", "1"}
        assert re.fullmatch(r"[0-9a-f]/synthetic-[a-z]+-\d{6}-0-3\.mp3", row[-1]), row[-1]
        assert int(row[-1].split("-")[-3]) == int(row[0])


def test_every_mp3_decodes_at_16k_mono_with_the_right_length(small):
    _, rows = _read_annotations(small.annotations_path)
    files = sorted(p.relative_to(small.out_dir).as_posix() for p in small.out_dir.glob("?/*.mp3"))
    assert files == sorted(r[-1] for r in rows)  # nothing missing, nothing extra
    for row in rows:
        audio, rate = _decode(small.out_dir / row[-1])
        assert rate == SR and audio.shape == (int(SMALL.clip_seconds * SR), 1), row[-1]
        peak = float(np.max(np.abs(audio)))
        assert 0.05 < peak <= 0.99, row[-1]  # mp3 coding never pushes a sample into clipping


def test_lyrics_and_emotion_tables_match_the_truth(small):
    truth = {t["clip_id"]: t for t in _truth(small)}
    lines = small.lyrics_table_path.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "clip_id\tlyrics_file"
    listed = {}
    for line in lines[1:]:
        clip_id, relative = line.split("\t")
        listed[int(clip_id)] = relative
        text = (small.out_dir / relative).read_text(encoding="utf-8")
        assert text.endswith("\n") and len(text.splitlines()) >= 4
        chinese = re.search(r"[\u4e00-\u9fff]", text) is not None
        assert chinese == (truth[int(clip_id)]["language"] == "zh")
    assert set(listed) == {cid for cid, t in truth.items() if t["has_lyrics"]}
    assert small.num_with_lyrics == len(listed)
    assert {truth[c]["language"] for c in listed} == {"en", "zh"}
    rows = small.emotion_path.read_text(encoding="utf-8").splitlines()
    assert rows[0] == "clip_id\tenergy\tstress\tquadrant"
    assert len(rows) == SMALL.num_clips + 1
    for line in rows[1:]:
        clip_id, energy, stress, quadrant = (int(v) for v in line.split("\t"))
        assert quadrant == 2 * energy + stress
        assert (energy, stress) == (truth[clip_id]["energy"], truth[clip_id]["stress"])
    assert {int(line.split("\t")[3]) for line in rows[1:]} == {0, 1, 2, 3}


def test_annotation_rows_are_the_truth_tags(small):
    truth = {t["clip_id"]: t for t in _truth(small)}
    header, rows = _read_annotations(small.annotations_path)
    for row in rows:
        on = [tag for tag, v in zip(header[1:-1], row[1:-1]) if v == "1"]
        t = truth[int(row[0])]
        assert on == t["tags"]
        assert set(on) | set(t["dropped_tags"]) == set(t["clean_tags"])
        assert row[-1] == t["mp3_path"] and t["folder"] == row[-1][0]


def test_splits_are_non_empty_and_train_has_every_tag(small):
    assert small.num_train > 0 and small.num_valid > 0 and small.num_test > 0
    assert small.num_train + small.num_valid + small.num_test == SMALL.num_clips
    assert small.num_valid == 4 and small.num_test == 12  # 1/16 and 3/16 of 64
    truth = _truth(small)
    in_train = {tag for t in truth if t["split"] == "train" for tag in t["tags"]}
    anywhere = {tag for t in truth for tag in t["tags"]}
    assert in_train == anywhere


def test_assign_folders_repairs_a_tag_missing_from_train():
    clip_tags = [["guitar"]] * 20
    for seed in range(20):
        tags = [list(t) for t in clip_tags]
        tags[seed % 20] = ["guitar", "flute"]  # one rare tag
        folders = assign_folders(tags, seed)
        splits = [split_of_folder(f) for f in folders]
        assert splits.count("valid") == 1 and splits.count("test") == 4
        assert splits[seed % 20] == "train"
    assert set(assign_folders([["a"]] * 160, 0)) == set("0123456789abcdef")


def test_rerun_reuses_finished_mp3s_and_a_new_seed_replaces_them(tmp_path):
    params = SyntheticParams(num_clips=5, clip_seconds=1.5, seed=11)
    first = _generate(tmp_path, params, workers=1)
    assert first.num_rendered == 5
    before = {p: p.read_bytes() for p in tmp_path.glob("?/*.mp3")}
    again = _generate(tmp_path, params, workers=1)
    assert (again.num_rendered, again.num_reused) == (0, 5)
    assert {p: p.read_bytes() for p in tmp_path.glob("?/*.mp3")} == before
    other = _generate(tmp_path, dataclasses.replace(params, seed=12), workers=1)
    assert other.num_rendered == 5
    _, rows = _read_annotations(other.annotations_path)
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.glob("?/*.mp3")) == \
        sorted(r[-1] for r in rows)  # stale mp3s of the old seed are gone


def test_cli_writes_a_dataset_and_rejects_bad_flags(tmp_path):
    out = tmp_path / "cli"
    cmd = [sys.executable, "-m", "tfrecords_builder.synthetic", f"--out_dir={out}", "--num_clips=3",
           "--clip_seconds=1.5", "--workers=1", "--progress=false", "--seed=5"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "3 clips" in done.stdout
    _, rows = _read_annotations(out / "annotations_final.csv")
    assert len(rows) == 3 and all((out / r[-1]).exists() for r in rows)
    bad = subprocess.run(cmd[:-1] + ["--lyrics_fraction=1.5"], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 1 and "lyrics_fraction" in bad.stderr


def test_params_are_validated():
    with pytest.raises(ConfigError, match="lyrics_fraction"):
        SyntheticParams(lyrics_fraction=1.2)
    with pytest.raises(ConfigError, match="num_clips"):
        SyntheticParams(num_clips=0)
    with pytest.raises(ConfigError, match="label_noise"):
        SyntheticParams(label_noise=0.7)


# --- the generative story ----------------------------------------------------------------

@pytest.fixture(scope="module")
def many_specs():
    params = SyntheticParams(clip_seconds=8.0)
    return [sample_clip_spec(np.random.default_rng([99, i, 0]), params, clip_id=i + 1) for i in range(4000)]


def test_tags_follow_the_generated_attributes(many_specs):
    for spec in many_specs:
        tags = set(clean_tags(spec))
        assert ("fast" in tags) == (spec.tempo_bpm >= 130) and ("slow" in tags) == (spec.tempo_bpm <= 85)
        assert ("loud" in tags) == (spec.loudness == "loud") and ("quiet" in tags) == (spec.loudness == "quiet")
        assert ("vocal" in tags) != ("no vocal" in tags)
        assert ("vocal" in tags) == any("voice" in s.instruments for s in spec.sections)
        if "vocal" in tags:
            assert tags & {"male", "female"} == {spec.voice.sex}
        else:
            assert not tags & {"male", "female"}
        assert [t for t in tags if t in spec_lib.GENRES] == [spec.genre]
        for name in ("guitar", "piano", "strings", "synth", "flute", "drums"):
            assert (name in tags) == (name in spec.instruments)
        topics = tags & {"love", "party", "nature"}
        assert topics == ({spec.topic} if spec.has_lyrics else set())
        assert ("ballad" in tags) == (spec.topic == "love" and spec.tempo_class == "slow")
        assert ("anthem" in tags) == (spec.topic == "party" and spec.loudness == "loud")
        assert set(tags_of(spec)) == tags - set(spec.dropped_tags)
        # sections tile the clip, on or near beat boundaries, each long enough
        bounds = [s.start_s for s in spec.sections] + [spec.sections[-1].end_s]
        assert bounds[0] == 0.0 and bounds[-1] == spec.seconds
        assert all(b - a >= spec_lib.MIN_SECTION_SECONDS - 1e-6 for a, b in zip(bounds, bounds[1:]))
        assert all(any(i in instruments_ for i in spec_lib.MELODIC)
                   for instruments_ in (s.instruments for s in spec.sections))


def _rate(specs, condition, event):
    chosen = [s for s in specs if condition(s)]
    return sum(event(s) for s in chosen) / len(chosen)


def test_story_probabilities_hold(many_specs):
    s = many_specs
    assert abs(_rate(s, lambda x: x.energy, lambda x: x.tempo_class == "fast") - 0.80) < 0.03
    assert abs(_rate(s, lambda x: not x.energy, lambda x: x.tempo_class == "slow") - 0.80) < 0.03
    assert abs(_rate(s, lambda x: x.stress, lambda x: x.mode == "minor") - 0.75) < 0.03
    assert abs(_rate(s, lambda x: not x.stress, lambda x: x.mode == "minor") - 0.25) < 0.03
    assert abs(_rate(s, lambda x: True, lambda x: x.has_lyrics) - 0.6) < 0.03
    # lyrics are missing as often for sung clips as for instrumental ones
    sung = _rate(s, lambda x: x.voice is not None, lambda x: x.has_lyrics)
    unsung = _rate(s, lambda x: x.voice is None, lambda x: x.has_lyrics)
    assert abs(sung - unsung) < 0.05
    assert abs(_rate(s, lambda x: x.has_lyrics, lambda x: x.language == "zh") - 0.2) < 0.03
    agree = _rate(s, lambda x: x.has_lyrics, lambda x: (x.lyrics_mood == "tense") == bool(x.stress))
    assert abs(agree - spec_lib.LYRICS_STRESS_AGREEMENT) < 0.03
    positives = sum(len(clean_tags(x)) for x in s)
    dropped = sum(len(x.dropped_tags) for x in s)
    assert abs(dropped / positives - SyntheticParams().label_noise) < 0.01
    high_e_genres = _rate(s, lambda x: x.energy, lambda x: x.genre in ("techno", "rock", "pop"))
    low_e_genres = _rate(s, lambda x: not x.energy, lambda x: x.genre in ("folk", "classical", "ambient"))
    assert high_e_genres > 0.8 and low_e_genres > 0.7
    for tag in SYNTHETIC_TAGS:  # every tag occurs, none is (almost) always on
        share = _rate(s, lambda x: True, lambda x: tag in clean_tags(x))
        assert 0.02 < share < 0.7, (tag, share)


def test_lyrics_carry_topic_and_mood_words():
    params = SyntheticParams()
    from tfrecords_builder.synthetic import lyrics_text as lt
    hits = {"topic": 0, "mood": 0}
    count = 0
    for i in range(300):
        spec = sample_clip_spec(np.random.default_rng([5, i, 0]), params)
        text = lyrics_of(spec, np.random.default_rng([5, i, 1]))
        assert (text is None) == (not spec.has_lyrics)
        if text is None:
            continue
        count += 1
        pools = lt.ZH if spec.language == "zh" else lt.EN
        topic_words = pools["topic"][spec.topic]["noun"] + pools["topic"][spec.topic]["verb"]
        mood = pools["mood"][spec.lyrics_mood]
        hits["topic"] += any(w in text for w in topic_words)
        hits["mood"] += sum(w in text for w in mood["adj"] + mood["verb"]) >= 1
        if spec.language == "en":
            assert text.isascii()
    # ~35 % of lines are generic or about another topic, so a rare short song never names its own
    assert hits["topic"] >= 0.95 * count and hits["mood"] >= 0.95 * count


# --- the sound -----------------------------------------------------------------------------

def test_karplus_strong_equals_lfilter():
    rng = np.random.default_rng(0)
    for period in (37, 100, 195):
        burst = rng.uniform(-1, 1, period)
        x = np.zeros(5000)
        x[:period] = burst
        a = np.zeros(period + 2)
        a[0], a[period], a[period + 1] = 1.0, -0.4985, -0.4985
        expected = signal.lfilter([1.0], a, x)
        np.testing.assert_allclose(instruments.karplus_strong(burst, 5000, 0.997), expected, atol=1e-5)


def test_render_clip_levels_follow_the_loudness_class():
    params = SyntheticParams(clip_seconds=2.0)
    peaks = {"loud": [], "normal": [], "quiet": []}
    for i in range(24):
        spec = sample_clip_spec(np.random.default_rng([8, i, 0]), params)
        audio = render_clip(spec, np.random.default_rng([8, i, 2]), SR)
        assert audio.dtype == np.float32 and audio.shape == (2 * SR,)
        assert np.all(np.isfinite(audio)) and np.max(np.abs(audio)) <= 1.0
        peaks[spec.loudness].append(20 * np.log10(np.max(np.abs(audio))))
    for loudness, target in (("loud", -5.0), ("normal", -9.0), ("quiet", -19.0)):
        assert peaks[loudness], loudness
        assert all(abs(p - target) <= 1.1 for p in peaks[loudness]), (loudness, peaks[loudness])


def test_loud_clips_are_louder_than_quiet_ones(small):
    rms = {"loud": [], "normal": [], "quiet": []}
    for t in _truth(small):
        audio, _ = _decode(small.out_dir / t["mp3_path"])
        rms[t["loudness"]].append(float(np.sqrt(np.mean(audio ** 2))))
    assert min(rms["loud"]) > max(rms["quiet"])
    assert np.median(rms["loud"]) > 2 * np.median(rms["normal"]) > 2 * np.median(rms["quiet"])


def _onset_rate(audio: np.ndarray) -> float:
    """Onsets per second: prominent peaks of librosa's onset strength (mel spectral flux).

    (librosa.onset.onset_detect itself is not used: its numba peak picker segfaults with
    the numba/numpy pair installed here.)
    """
    import librosa

    strength = librosa.onset.onset_strength(y=audio, sr=SR, hop_length=256)
    peaks, _ = signal.find_peaks(strength, prominence=0.25 * strength.max(), distance=5)
    return len(peaks) / (audio.shape[0] / SR)


def test_fast_clips_have_more_onsets_than_slow_ones(small):
    rates = {"fast": [], "medium": [], "slow": []}
    for t in _truth(small):
        audio, _ = _decode(small.out_dir / t["mp3_path"])
        rates[t["tempo_class"]].append(_onset_rate(audio[:, 0]))
    assert len(rates["fast"]) >= 8 and len(rates["slow"]) >= 8
    assert np.median(rates["fast"]) > 1.8 * np.median(rates["slow"]), rates
    from sklearn.metrics import roc_auc_score
    labels = [1] * len(rates["fast"]) + [0] * len(rates["slow"])
    assert roc_auc_score(labels, rates["fast"] + rates["slow"]) > 0.8


def test_voice_has_its_pitch_and_formants(monkeypatch):
    """A sung /i/ at 120 Hz: periodic at f0, and more energy at F2 (~2.2 kHz) than in the
    F1-F2 valley (~1.2 kHz) - the opposite of a plain saw's falling spectrum."""
    from tfrecords_builder.synthetic.score import Note
    monkeypatch.setattr(instruments, "VOWEL_FORMANTS", {"i": instruments.VOWEL_FORMANTS["i"]})
    f0 = 120.0
    midi = 69 + 12 * np.log2(f0 / 440.0)
    sung = instruments.voice([Note(0.0, 1.0, midi, 1.0)], np.random.default_rng(0), SR, SR, 1.0, "male")
    steady = sung[int(0.3 * SR): int(0.9 * SR)]
    spectrum = np.abs(np.fft.rfft(steady * np.hanning(steady.shape[0]))) ** 2
    freqs = np.fft.rfftfreq(steady.shape[0], 1 / SR)

    def band(lo, hi):
        return spectrum[(freqs >= lo) & (freqs < hi)].sum()

    assert band(2000, 2500) > 3 * band(1000, 1500)
    saw = instruments.oscillator(instruments.wavetable(1 / np.arange(1, 50)), f0, steady.shape[0], SR)
    saw_spectrum = np.abs(np.fft.rfft(saw * np.hanning(saw.shape[0]))) ** 2
    assert saw_spectrum[(freqs >= 2000) & (freqs < 2500)].sum() < saw_spectrum[(freqs >= 1000) & (freqs < 1500)].sum()
    ac = np.correlate(steady[:4000], steady[:4000], mode="full")[3999:]
    lag = 60 + int(np.argmax(ac[60:400]))  # search 40-267 Hz
    assert abs(SR / lag - f0) < 0.05 * f0


# --- the modality property -------------------------------------------------------------

MODALITY = SyntheticParams(num_clips=320, clip_seconds=5.0, seed=2024)


def _tokens(text: str) -> list:
    """English words, and Chinese characters and character bigrams."""
    out = re.findall(r"[a-z']+", text.lower())
    for run in re.findall(r"[\u4e00-\u9fff]+", text):
        out += list(run) + [run[i:i + 2] for i in range(len(run) - 1)]
    return out


@pytest.fixture(scope="module")
def modality_features(tmp_path_factory):
    import librosa
    from sklearn.feature_extraction.text import CountVectorizer

    data = _generate(tmp_path_factory.mktemp("synthetic_modality"), MODALITY, workers=0)
    truth = _truth(data)
    audio = []
    for t in truth:
        wave, _ = _decode(data.out_dir / t["mp3_path"])
        mel = librosa.feature.melspectrogram(y=wave[:, 0], sr=SR, n_fft=512, hop_length=256, n_mels=96)
        log_mel = np.log10(1 + 10000 * mel)
        audio.append(np.concatenate([log_mel.mean(axis=1), log_mel.std(axis=1)]))
    docs = [(data.out_dir / t["lyrics_file"]).read_text(encoding="utf-8") if t["lyrics_file"] else ""
            for t in truth]
    words = CountVectorizer(analyzer=_tokens, min_df=2, binary=True).fit_transform(docs).toarray()
    header, rows = _read_annotations(data.annotations_path)
    labels = np.array([[int(v) for v in r[1:-1]] for r in rows])
    return {
        "audio": np.array(audio), "lyrics": words.astype(np.float64), "tags": labels, "tag_names": header[1:-1],
        "has_lyrics": np.array([t["has_lyrics"] for t in truth]),
        "energy": np.array([t["energy"] for t in truth]), "stress": np.array([t["stress"] for t in truth]),
        "quadrant": np.array([t["quadrant"] for t in truth]),
    }


def _cv_proba(features, y, kind):
    """Out-of-fold class probabilities of a logistic regression (5 folds)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    solver = "liblinear" if len(np.unique(y)) == 2 else "lbfgs"  # liblinear: ~4x faster here
    classifier = LogisticRegression(C=0.1, solver=solver, max_iter=3000)
    model = make_pipeline(StandardScaler(), classifier) if kind == "audio" else classifier
    folds = StratifiedKFold(5, shuffle=True, random_state=0)
    return cross_val_predict(model, features, y, cv=folds, method="predict_proba")


def _fused_proba(p_audio, p_lyrics, has_lyrics, y):
    """Joint use of both modalities: a second-level logistic regression on the out-of-fold
    log-probabilities of each, the lyrics term switched off when a clip has no lyrics."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    h = has_lyrics[:, None].astype(np.float64)
    z = np.hstack([np.log(np.clip(p_audio, 1e-4, 1)), h * np.log(np.clip(p_lyrics, 1e-4, 1)), h])
    folds = StratifiedKFold(5, shuffle=True, random_state=1)
    return cross_val_predict(LogisticRegression(C=1.0, max_iter=3000), z, y, cv=folds, method="predict_proba")


@pytest.mark.slow
def test_modalities_carry_complementary_cues(modality_features):
    """The dataset's key property, measured with simple features (log-mel mean/std; bag of
    words) and logistic regression, cross-validated on 320 clips: audio tags are heard, lyric
    tags are read, energy is heard, stress is read better than heard, and using both
    modalities beats either alone on stress and on the Thayer quadrant."""
    from sklearn.metrics import accuracy_score, roc_auc_score

    f = modality_features
    auc = {"audio": {}, "lyrics": {}}
    for j, tag in enumerate(f["tag_names"]):
        y = f["tags"][:, j]
        if y.sum() < 8:
            continue
        for kind in auc:
            auc[kind][tag] = roc_auc_score(y, _cv_proba(f[kind], y, kind)[:, 1])

    def mean_auc(kind, modality):
        return float(np.mean([v for t, v in auc[kind].items() if TAG_MODALITY[t] == modality]))

    results = {f"{m}-tags AUC from {k}": round(mean_auc(k, m), 3) for m in ("audio", "lyrics", "both")
               for k in ("audio", "lyrics")}
    has = f["has_lyrics"]
    acc, bin_auc = {}, {}
    for task in ("energy", "stress", "quadrant"):
        y = f[task]
        p_audio, p_lyrics = _cv_proba(f["audio"], y, "audio"), _cv_proba(f["lyrics"], y, "lyrics")
        p_both = _fused_proba(p_audio, p_lyrics, has, y)
        # for reference: a fixed weighted average of the two modalities' probabilities, with the
        # weight that is best on these very clips (optimistic for it)
        p_linear = max((w * p_audio + (1 - w) * p_lyrics for w in np.linspace(0, 1, 11)),
                       key=lambda p: accuracy_score(y, p.argmax(1)))
        for name, p in (("audio", p_audio), ("lyrics", p_lyrics), ("both", p_both), ("linear", p_linear)):
            acc[(task, name)] = accuracy_score(y, p.argmax(1))
            acc[(task, name, "lyric clips")] = accuracy_score(y[has], p[has].argmax(1))
            if task != "quadrant":
                bin_auc[(task, name)] = roc_auc_score(y, p[:, 1])
                bin_auc[(task, name, "lyric clips")] = roc_auc_score(y[has], p[has, 1])
    results.update({"acc " + " ".join(k): round(v, 3) for k, v in acc.items()})
    results.update({"auc " + " ".join(k): round(v, 3) for k, v in bin_auc.items()})
    print("\nmodality check:", json.dumps(results, indent=1))

    assert mean_auc("audio", "audio") > 0.78 and mean_auc("lyrics", "audio") < 0.6
    assert mean_auc("lyrics", "lyrics") > 0.9 and mean_auc("audio", "lyrics") < 0.62
    assert acc[("energy", "audio")] > 0.8 and acc[("energy", "lyrics")] < acc[("energy", "audio")] - 0.15
    assert bin_auc[("stress", "lyrics", "lyric clips")] > bin_auc[("stress", "audio", "lyric clips")] + 0.03
    assert bin_auc[("stress", "audio")] > 0.6  # stress is partly audible
    assert bin_auc[("stress", "both")] > max(bin_auc[("stress", "audio")], bin_auc[("stress", "lyrics")]) + 0.02
    assert acc[("quadrant", "both")] > max(acc[("quadrant", "audio")], acc[("quadrant", "lyrics")]) + 0.04


def test_evaluation_share_moves_clips_to_the_valid_and_test_folders():
    from tfrecords_builder.synthetic import assign_folders
    tags = [["a"]] * 400
    for share, valid, test in ((0.25, 25, 75), (0.5, 50, 150)):
        folders = assign_folders(tags, 0, share)
        assert sum(f == "c" for f in folders) == valid
        assert sum(f in "def" for f in folders) == test
