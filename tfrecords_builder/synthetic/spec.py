"""The generative story: latent emotion -> genre -> audible attributes -> arrangement -> lyrics metadata.

``sample_clip_spec(rng, params)`` draws one ``ClipSpec``: everything about a clip that is
decided *before* sound is made (the score's notes and the synthesis details are drawn later
by ``render.render_clip`` from its own random stream). Every probability of the story is a
named table below, so the module docstring of ``tfrecords_builder.synthetic`` can cite them
and tests can check the generated data against them.

Units: seconds for times, beats per minute for tempo, Hz for voice f0, MIDI note numbers
for pitch (69 = A4 = 440 Hz).
"""

from __future__ import annotations

import dataclasses
from typing import Optional

import numpy as np

from musictag_tf.emotion import QUADRANT_NAMES, quadrant_index  # noqa: F401  (re-exported)
from musictag_tf.params import SyntheticParams
from tfrecords_builder.synthetic import tags as tags_lib

# --- 1. latent emotion (Thayer) ------------------------------------------------------------
# energy 0 = low, 1 = high; stress 0 = low, 1 = high; quadrant = 2 * energy + stress:
#   0 contentment (low E, low S)   1 depression (low E, high S)
#   2 exuberance  (high E, low S)  3 anxious/frantic (high E, high S)

# --- 2. genre given (energy, stress) ------------------------------------------------------
GENRES = ("techno", "rock", "pop", "folk", "classical", "ambient")
GENRE_PROBS = {  # (energy, stress) -> probabilities over GENRES
    (1, 0): (0.30, 0.15, 0.37, 0.10, 0.05, 0.03),
    (1, 1): (0.35, 0.40, 0.13, 0.05, 0.05, 0.02),
    (0, 0): (0.04, 0.04, 0.15, 0.30, 0.24, 0.23),
    (0, 1): (0.05, 0.05, 0.10, 0.20, 0.27, 0.33),
}

# --- 3. audible attributes ---------------------------------------------------------------
TEMPO_RANGES_BPM = {"slow": (60.0, 85.0), "medium": (90.0, 125.0), "fast": (130.0, 170.0)}
TEMPO_CLASS_PROBS = {  # energy -> P(slow, medium, fast)
    1: (0.02, 0.18, 0.80),
    0: (0.80, 0.18, 0.02),
}
FAST_MIN_BPM = TEMPO_RANGES_BPM["fast"][0]  # "fast" tag: tempo >= 130 bpm
SLOW_MAX_BPM = TEMPO_RANGES_BPM["slow"][1]  # "slow" tag: tempo <= 85 bpm

LOUDNESS_CLASSES = ("quiet", "normal", "loud")
LOUDNESS_PROBS = {1: (0.05, 0.35, 0.60), 0: (0.55, 0.40, 0.05)}  # energy -> P(quiet, normal, loud)

DENSITIES = (0.5, 1.0, 2.0, 4.0)  # accompaniment notes (or strums) per beat
DENSITY_PROBS = {1: (0.0, 0.2, 0.5, 0.3), 0: (0.35, 0.45, 0.2, 0.0)}  # energy -> P(density)

MINOR_PROB = {1: 0.75, 0: 0.25}  # stress -> P(minor mode)
DISSONANT_PROB = {1: 0.45, 0: 0.08}  # stress -> P(cluster / tritone chords, detuned doubling)
TIMBRES = ("smooth", "harsh")
HARSH_PROB = {1: 0.6, 0: 0.2}  # stress -> P(harsh timbre: 2-4.5 kHz presence boost + 30-60 Hz roughness)

TONIC_MIDI_RANGE = (45, 56)  # A2 .. G#3, inclusive: the key's random pitch centre

# Instruments of the arrangement. "bass" is played but never tagged (like MTAT, where most
# clips with a bass line carry no "bass" tag).
INSTRUMENTS = ("piano", "guitar", "strings", "synth", "flute", "drums", "voice", "bass")
MELODIC = ("piano", "guitar", "strings", "synth", "flute")
# genre -> P(instrument is part of the song), in INSTRUMENTS order
POOL_PROBS = {
    "techno":    (0.15, 0.05, 0.10, 1.00, 0.02, 0.95, 0.35, 0.90),
    "rock":      (0.15, 1.00, 0.05, 0.15, 0.00, 0.95, 0.65, 0.90),
    "pop":       (0.50, 0.50, 0.20, 0.45, 0.05, 0.85, 0.75, 0.80),
    "folk":      (0.15, 0.90, 0.20, 0.00, 0.35, 0.15, 0.60, 0.40),
    "classical": (0.55, 0.05, 0.80, 0.00, 0.35, 0.00, 0.15, 0.00),
    "ambient":   (0.35, 0.10, 0.30, 0.90, 0.20, 0.10, 0.20, 0.30),
}
CORE_INSTRUMENT = {"techno": "synth", "rock": "guitar", "pop": "piano", "folk": "guitar",
                   "classical": "strings", "ambient": "synth"}
CORE_SECTION_PROB = 0.9  # the genre's core instrument plays in a section w.p. this
OTHER_SECTION_PROB = 0.7  # any other instrument of the song plays in a section w.p. this

SYNTH_STYLES = ("lead", "pad")
SYNTH_LEAD_PROB = {"techno": 0.9, "pop": 0.6, "rock": 0.5, "ambient": 0.1}  # else 0.3
GUITAR_STYLES = ("strum", "pick", "distorted")
GUITAR_STYLE_PROBS = {  # genre -> P(strum, pick, distorted)
    "rock": (0.15, 0.05, 0.80), "pop": (0.6, 0.3, 0.1), "techno": (0.3, 0.3, 0.4),
    "folk": (0.5, 0.5, 0.0), "classical": (0.0, 1.0, 0.0), "ambient": (0.2, 0.8, 0.0),
}

MIN_SECTION_SECONDS = 1.5
MAX_SECTIONS = 4

VOICE_F0_RANGE_HZ = {"male": (100.0, 150.0), "female": (200.0, 300.0)}

# --- 4. lyrics metadata ------------------------------------------------------------------
TOPICS = ("love", "party", "nature")
TOPIC_PROBS = {1: (0.35, 0.38, 0.27), 0: (0.40, 0.22, 0.38)}  # energy -> P(topic)
LYRICS_STRESS_AGREEMENT = 0.85  # P(lyrics' mood matches the latent stress); else they disagree


@dataclasses.dataclass(frozen=True)
class Section:
    """A stretch of the clip with one arrangement: [start_s, end_s) and who plays."""

    start_s: float
    end_s: float
    instruments: tuple  # names from INSTRUMENTS, in INSTRUMENTS order


@dataclasses.dataclass(frozen=True)
class Voice:
    """The singer: ``sex`` "male" | "female" and the centre of the sung range in Hz."""

    sex: str
    f0_hz: float


@dataclasses.dataclass(frozen=True)
class ClipSpec:
    """Every generated attribute of one clip (see the story table in the package docstring)."""

    clip_id: int  # 1..N, as in the annotations file
    seconds: float  # clip duration, s
    energy: int  # latent: 0 low, 1 high
    stress: int  # latent: 0 low, 1 high
    genre: str
    tempo_bpm: float
    loudness: str  # quiet | normal | loud
    density: float  # accompaniment notes per beat
    mode: str  # major | minor
    dissonant: bool
    timbre: str  # smooth | harsh
    tonic_midi: int
    sections: tuple  # tuple[Section, ...], contiguous, covering [0, seconds)
    voice: Optional[Voice]  # the singer when "voice" plays in some section, else None
    synth_style: str  # lead | pad (used only when the synth plays)
    guitar_style: str  # strum | pick | distorted (used only when the guitar plays)
    has_lyrics: bool  # the lyrics text is available (independent of an audible voice)
    language: Optional[str]  # "en" | "zh" when has_lyrics
    topic: Optional[str]  # love | party | nature when has_lyrics
    lyrics_mood: Optional[str]  # "calm" | "tense" when has_lyrics (follows stress, imperfectly)
    dropped_tags: tuple = ()  # true tags left out of the annotations (label noise)

    @property
    def quadrant(self) -> int:
        """Thayer quadrant 0..3 = 2 * energy + stress (names in QUADRANT_NAMES)."""
        return quadrant_index(self.energy, self.stress)

    @property
    def tempo_class(self) -> str:
        if self.tempo_bpm >= FAST_MIN_BPM:
            return "fast"
        if self.tempo_bpm <= SLOW_MAX_BPM:
            return "slow"
        return "medium"

    @property
    def instruments(self) -> tuple:
        """Union over sections, in INSTRUMENTS order."""
        used = {name for section in self.sections for name in section.instruments}
        return tuple(name for name in INSTRUMENTS if name in used)

    def to_json(self) -> dict:
        """Plain-JSON dict of every attribute (the truth.jsonl row, without tags)."""
        out = dataclasses.asdict(self)
        out["sections"] = [dataclasses.asdict(s) | {"instruments": list(s.instruments)}
                           for s in self.sections]
        out["dropped_tags"] = list(self.dropped_tags)
        out["quadrant"] = self.quadrant
        out["quadrant_name"] = QUADRANT_NAMES[self.quadrant]
        out["tempo_class"] = self.tempo_class
        return out


def _pick(u: float, options, probs):
    """The element of ``options`` that the uniform draw ``u`` in [0, 1) selects under ``probs``."""
    cdf = np.cumsum(probs)
    index = int(np.searchsorted(cdf, u * cdf[-1], side="right"))
    return options[min(index, len(options) - 1)]


def _choice(rng: np.random.Generator, options, probs):
    """One element of ``options`` drawn with ``probs`` (exactly one uniform draw)."""
    return _pick(rng.random(), options, probs)


def _sample_sections(rng: np.random.Generator, seconds: float, beat_s: float) -> list[tuple]:
    """2..4 contiguous (start, end) spans, each >= MIN_SECTION_SECONDS, boundaries on beats."""
    max_sections = max(1, min(MAX_SECTIONS, int(seconds // MIN_SECTION_SECONDS)))
    count = int(rng.integers(min(2, max_sections), max_sections + 1))
    spare = seconds - count * MIN_SECTION_SECONDS
    lengths = MIN_SECTION_SECONDS + spare * rng.dirichlet(np.ones(count))
    ideal = np.cumsum(lengths)[:-1]
    bounds = [0.0]
    for edge in ideal:
        left = count - len(bounds)  # sections still to place after this boundary

        def fits(t):
            return t - bounds[-1] >= MIN_SECTION_SECONDS and seconds - t >= MIN_SECTION_SECONDS * left

        snapped = round(edge / beat_s) * beat_s
        # prefer a beat boundary, then the drawn time, then the earliest allowed time
        chosen = next((t for t in (snapped, float(edge)) if fits(t)), bounds[-1] + MIN_SECTION_SECONDS)
        bounds.append(round(float(chosen), 4))
    bounds.append(float(seconds))
    return list(zip(bounds[:-1], bounds[1:]))


def _sample_arrangement(rng: np.random.Generator, genre: str, spans: list[tuple]) -> tuple:
    """The song's instrument pool, then who plays in each section (>= 1 melodic each)."""
    pool = [name for name, p in zip(INSTRUMENTS, POOL_PROBS[genre]) if rng.random() < p]
    core = CORE_INSTRUMENT[genre]
    if not any(name in MELODIC for name in pool):
        pool.append(core)
    sections = []
    for start, end in spans:
        playing = [name for name in pool
                   if rng.random() < (CORE_SECTION_PROB if name == core else OTHER_SECTION_PROB)]
        if not any(name in MELODIC for name in playing):
            melodic = [name for name in pool if name in MELODIC]
            playing.append(core if core in melodic else melodic[int(rng.integers(len(melodic)))])
        if "bass" in playing and not any(n in playing for n in ("drums", "guitar", "synth", "piano")):
            playing.remove("bass")  # a bass line alone over flute/strings is not a texture we model
        ordered = tuple(name for name in INSTRUMENTS if name in playing)
        sections.append(Section(float(start), float(end), ordered))
    return tuple(sections)


def sample_clip_spec(rng: np.random.Generator, params: SyntheticParams = SyntheticParams(),
                     clip_id: int = 1) -> ClipSpec:
    """Draw one clip's attributes, following the story tables of this module.

    Args:
      rng: the clip's own generator (the dataset uses ``default_rng([seed, clip_index, 0])``).
      params: clip length, lyrics and Chinese shares, label noise.
      clip_id: stored in the spec (1..N in a dataset).
    Returns:
      a ClipSpec whose ``dropped_tags`` already holds the label-noise draw.
    """
    energy = int(rng.random() < 0.5)
    stress = int(rng.random() < 0.5)
    genre = _choice(rng, GENRES, GENRE_PROBS[(energy, stress)])

    tempo_class = _choice(rng, ("slow", "medium", "fast"), TEMPO_CLASS_PROBS[energy])
    low, high = TEMPO_RANGES_BPM[tempo_class]
    tempo_bpm = round(float(rng.uniform(low, high)), 1)
    loudness = _choice(rng, LOUDNESS_CLASSES, LOUDNESS_PROBS[energy])
    density = float(_choice(rng, DENSITIES, DENSITY_PROBS[energy]))
    mode = "minor" if rng.random() < MINOR_PROB[stress] else "major"
    dissonant = bool(rng.random() < DISSONANT_PROB[stress])
    timbre = "harsh" if rng.random() < HARSH_PROB[stress] else "smooth"
    tonic_midi = int(rng.integers(TONIC_MIDI_RANGE[0], TONIC_MIDI_RANGE[1] + 1))

    spans = _sample_sections(rng, float(params.clip_seconds), 60.0 / tempo_bpm)
    sections = _sample_arrangement(rng, genre, spans)
    sex = "female" if rng.random() < 0.5 else "male"
    f0 = round(float(rng.uniform(*VOICE_F0_RANGE_HZ[sex])), 1)
    sings = any("voice" in s.instruments for s in sections)
    voice = Voice(sex, f0) if sings else None
    synth_style = "lead" if rng.random() < SYNTH_LEAD_PROB.get(genre, 0.3) else "pad"
    guitar_style = _choice(rng, GUITAR_STYLES, GUITAR_STYLE_PROBS[genre])

    has_lyrics = bool(rng.random() < params.lyrics_fraction)
    language = topic = mood = None
    lang_draw, topic_draw, mood_draw = rng.random(3)  # drawn always: streams stay aligned
    if has_lyrics:
        language = "zh" if lang_draw < params.chinese_fraction else "en"
        topic = _pick(topic_draw, TOPICS, TOPIC_PROBS[energy])
        agrees = mood_draw < LYRICS_STRESS_AGREEMENT
        tense = bool(stress) if agrees else not bool(stress)
        mood = "tense" if tense else "calm"

    spec = ClipSpec(
        clip_id=int(clip_id), seconds=float(params.clip_seconds), energy=energy, stress=stress,
        genre=genre, tempo_bpm=tempo_bpm, loudness=loudness, density=density, mode=mode,
        dissonant=dissonant, timbre=timbre, tonic_midi=tonic_midi, sections=sections, voice=voice,
        synth_style=synth_style, guitar_style=guitar_style, has_lyrics=has_lyrics,
        language=language, topic=topic, lyrics_mood=mood)
    clean = tags_lib.clean_tags(spec)
    draws = rng.random(len(tags_lib.SYNTHETIC_TAGS))  # one per vocabulary entry: stable streams
    dropped = tuple(tag for tag, u in zip(tags_lib.SYNTHETIC_TAGS, draws)
                    if tag in clean and u < params.label_noise)
    return dataclasses.replace(spec, dropped_tags=dropped)
