"""The score of a synthetic clip: chords, a melody and every instrument's notes, from a ClipSpec.

``make_score(spec, rng)`` turns the spec's key, mode, tempo, density, dissonance and
arrangement into note events; ``instruments.py`` turns note events into sound. Times are in
seconds from the clip start, pitches are (possibly fractional, for detuned doublings) MIDI
note numbers, velocities are in (0, 1].

Harmony: each section picks a four-chord progression of its mode (verse and chorus differ)
and changes chord every 2 or 4 beats. A dissonant clip adds a minor second or a tritone above
the root to most chords, bends some melody notes to the tritone, and doubles the sustained
harmony a quarter tone off.
"""

from __future__ import annotations

import dataclasses

import numpy as np

MAJOR = (0, 2, 4, 5, 7, 9, 11)
MINOR = (0, 2, 3, 5, 7, 8, 10)  # natural minor
PROGRESSIONS = {  # scale degrees, 0-based
    "major": ((0, 4, 5, 3), (0, 3, 4, 3), (0, 5, 3, 4), (1, 4, 0, 0), (0, 3, 0, 4)),
    "minor": ((0, 5, 2, 6), (0, 3, 4, 0), (0, 6, 5, 6), (0, 3, 5, 4), (0, 5, 3, 4)),
}
DISSONANT_CHORD_PROB = 0.7  # a dissonant clip colours this share of its chords
TRITONE_MELODY_PROB = 0.15  # ... and bends this share of melody notes to the tritone
DETUNE_DOUBLING_SEMITONES = 0.45  # the off-tune doubling of sustained harmony
MELODY_REST_PROB = 0.12
MELODY_RANGE_DEGREES = (-3, 9)  # scale steps around the tonic the tune may use
# Melody note lengths in beats, by accompaniment density
MELODY_DURATIONS = {0.5: (1.0, 2.0, 2.0, 1.0), 1.0: (0.5, 1.0, 1.0, 2.0),
                    2.0: (0.5, 0.5, 1.0, 1.0), 4.0: (0.25, 0.5, 0.5, 1.0)}


@dataclasses.dataclass(frozen=True)
class Note:
    onset_s: float
    dur_s: float
    midi: float
    velocity: float


@dataclasses.dataclass(frozen=True)
class Chord:
    start_s: float
    end_s: float
    root: int  # semitones above the tonic
    tones: tuple  # semitones above the tonic, root first; may include a dissonant colour tone


@dataclasses.dataclass(frozen=True)
class Score:
    """Note events of one clip: ``parts[instrument] -> list[Note]``; drums as (time_s, kind, velocity)."""

    beat_s: float
    chords: tuple
    melody: tuple  # (onset_s, dur_s, semitones above tonic) per sung/played melody note
    parts: dict
    drum_hits: tuple  # (time_s, "kick" | "snare" | "hat" | "crash", velocity)


def degree_to_semitones(degree: int, scale: tuple) -> int:
    """Scale degree (any integer, 0 = tonic) -> semitones above the tonic."""
    octave, step = divmod(degree, len(scale))
    return 12 * octave + scale[step]


def _chords(spec, rng, scale, beat_s) -> list[Chord]:
    beats_per_chord = 4 if 4 * beat_s <= 2.6 else 2
    chord_s = beats_per_chord * beat_s
    chords = []
    for section in spec.sections:
        progression = PROGRESSIONS[spec.mode][int(rng.integers(len(PROGRESSIONS[spec.mode])))]
        t, i = section.start_s, 0
        while t < section.end_s - 1e-6:
            degree = progression[i % len(progression)]
            tones = [degree_to_semitones(degree + k, scale) for k in (0, 2, 4)]
            root = tones[0]
            if spec.dissonant and rng.random() < DISSONANT_CHORD_PROB:
                tones.append(root + (1 if rng.random() < 0.5 else 6))
            chords.append(Chord(t, min(t + chord_s, section.end_s), root, tuple(tones)))
            t += chord_s
            i += 1
    return chords


def _chord_at(chords, t):
    for chord in chords:
        if chord.start_s <= t < chord.end_s:
            return chord
    return chords[-1]


def _melody(spec, rng, scale, beat_s, chords) -> list[tuple]:
    """One tune over the whole clip: (onset_s, dur_s, semitones above the tonic)."""
    durations = MELODY_DURATIONS[spec.density]
    notes, degree, t = [], int(rng.integers(0, 5)), 0.0
    while t < spec.seconds - 0.05:
        dur = durations[int(rng.integers(len(durations)))] * beat_s
        step = int(rng.choice((-2, -1, -1, 0, 1, 1, 2)))
        degree = int(np.clip(degree + step, *MELODY_RANGE_DEGREES))
        rest, snap, bend = rng.random(3)
        if snap < 0.5:  # lean on chord tones
            chord = _chord_at(chords, t)
            candidates = [d for d in range(MELODY_RANGE_DEGREES[0], MELODY_RANGE_DEGREES[1] + 1)
                          if degree_to_semitones(d, scale) % 12 in {x % 12 for x in chord.tones[:3]}]
            degree = min(candidates, key=lambda d: abs(d - degree))
        semis = degree_to_semitones(degree, scale)
        if spec.dissonant and bend < TRITONE_MELODY_PROB:
            semis = 6 + 12 * (semis // 12)
        if rest >= MELODY_REST_PROB:
            notes.append((t, min(dur, spec.seconds - t), semis))
        t += dur
    return notes


def _in_sections(spec, name):
    return [(s.start_s, s.end_s) for s in spec.sections if name in s.instruments]


def _clip(notes, spans):
    """Keep notes starting inside ``spans``, cut to the span end."""
    out = []
    for note in notes:
        for start, end in spans:
            if start <= note.onset_s < end - 0.02:
                out.append(dataclasses.replace(note, dur_s=min(note.dur_s, end - note.onset_s)))
                break
    return out


def _grid(start, end, step):
    n = int(np.floor((end - start) / step + 1e-6))
    return start + step * np.arange(max(n, 0))


def _accompaniment_times(spec, beat_s, chord, rate):
    return _grid(chord.start_s, chord.end_s, beat_s / rate)


def _piano(spec, rng, chords, beat_s) -> list[Note]:
    notes = []
    arpeggio = spec.genre in ("classical", "ambient", "folk") or spec.density <= 1.0
    for chord in chords:
        base = spec.tonic_midi + 12
        tones = sorted(base + x for x in chord.tones)
        notes.append(Note(chord.start_s, chord.end_s - chord.start_s, base - 24 + chord.root % 12, 0.7))
        if arpeggio:
            cycle = tones + [t + 12 for t in tones[:2]]
            pattern = cycle + cycle[-2:0:-1]
            for j, t in enumerate(_accompaniment_times(spec, beat_s, chord, max(spec.density, 1.0))):
                notes.append(Note(float(t), beat_s, pattern[j % len(pattern)], 0.55 + 0.2 * rng.random()))
        else:
            rate = min(spec.density, 2.0)
            for t in _accompaniment_times(spec, beat_s, chord, rate):
                vel = 0.6 + 0.25 * rng.random()
                notes.extend(Note(float(t), beat_s / rate, m, vel) for m in tones[:3])
    return notes


def _guitar(spec, rng, chords, beat_s) -> list[Note]:
    notes = []
    for chord in chords:
        root = 40 + (spec.tonic_midi + chord.root - 40) % 12  # lowest string region, E2..D#3
        if spec.guitar_style == "distorted":
            voicing = [root, root + 7, root + 12]
        else:
            voicing = sorted({root + x - chord.root for x in (0, 7, 12)} |
                             {root + 12 + (x - chord.root) % 12 for x in chord.tones})
        rate = spec.density if spec.guitar_style != "pick" else max(spec.density, 1.0)
        for j, t in enumerate(_accompaniment_times(spec, beat_s, chord, rate)):
            if spec.guitar_style == "pick":
                order = voicing[::1] + voicing[-2:0:-1]
                notes.append(Note(float(t), 2 * beat_s, order[j % len(order)], 0.6 + 0.2 * rng.random()))
                continue
            down = j % 2 == 0
            strings = voicing if down else voicing[::-1][:4]
            vel = (0.85 if down else 0.6) * (0.9 + 0.2 * rng.random())
            for k, m in enumerate(strings):
                notes.append(Note(float(t) + 0.012 * k, beat_s / rate, m, vel))
    return notes


def _sustained(spec, chords, low, high, velocity) -> list[Note]:
    """Chord tones held for each chord, voiced between MIDI ``low`` and ``high``."""
    notes = []
    for chord in chords:
        for x in chord.tones:
            m = spec.tonic_midi + x
            while m < low:
                m += 12
            while m > high:
                m -= 12
            notes.append(Note(chord.start_s, chord.end_s - chord.start_s, m, velocity))
        bass = spec.tonic_midi + chord.root % 12 - 12
        notes.append(Note(chord.start_s, chord.end_s - chord.start_s, max(bass, low - 12), velocity * 0.8))
    if spec.dissonant:
        notes += [dataclasses.replace(n, midi=n.midi + DETUNE_DOUBLING_SEMITONES, velocity=n.velocity * 0.6)
                  for n in notes[::2]]
    return notes


def _synth(spec, rng, chords, beat_s) -> list[Note]:
    if spec.synth_style == "pad":
        return _sustained(spec, chords, spec.tonic_midi + 12, spec.tonic_midi + 26, 0.7)
    notes = []
    rate = max(spec.density, 2.0)
    for chord in chords:
        tones = sorted(spec.tonic_midi + 12 + x for x in chord.tones)
        pattern = tones + [tones[0] + 12]
        for j, t in enumerate(_accompaniment_times(spec, beat_s, chord, rate)):
            notes.append(Note(float(t), 0.8 * beat_s / rate, pattern[j % len(pattern)], 0.6 + 0.3 * rng.random()))
    return notes


def _bass(spec, rng, chords, beat_s) -> list[Note]:
    notes = []
    rate = 2.0 if spec.density >= 2.0 else 1.0
    for chord in chords:
        m = 33 + (spec.tonic_midi + chord.root - 33) % 12  # A1 .. G#2
        for j, t in enumerate(_accompaniment_times(spec, beat_s, chord, rate)):
            pitch = m + (7 if (j % 4 == 3 and rng.random() < 0.5) else 0)
            notes.append(Note(float(t), 0.9 * beat_s / rate, pitch, 0.9 if j % 2 == 0 else 0.7))
    return notes


def _melody_part(melody, base_midi, velocity) -> list[Note]:
    return [Note(t, d, base_midi + s, velocity) for t, d, s in melody]


# Drum patterns: 16th-note positions in a 4-beat bar.
DRUM_PATTERNS = {
    "techno": {"kick": (0, 4, 8, 12), "snare": (4, 12), "hat": (2, 6, 10, 14)},
    "rock": {"kick": (0, 8, 10), "snare": (4, 12), "hat": (0, 2, 4, 6, 8, 10, 12, 14)},
    "pop": {"kick": (0, 6, 8), "snare": (4, 12), "hat": (0, 2, 4, 6, 8, 10, 12, 14)},
    "soft": {"kick": (0,), "snare": (8,), "hat": (0, 4, 8, 12)},
}
DRUM_VELOCITY = {"kick": 1.0, "snare": 0.9, "hat": 0.5, "crash": 0.7}


def _drums(spec, rng, beat_s) -> list[tuple]:
    style = spec.genre if spec.genre in DRUM_PATTERNS else "soft"
    pattern = dict(DRUM_PATTERNS[style])
    if spec.density >= 4.0 and style != "soft":
        pattern["hat"] = tuple(range(16))
    step = beat_s / 4
    hits = []
    for start, end in _in_sections(spec, "drums"):
        if style in ("rock", "pop") and rng.random() < 0.6:
            hits.append((start, "crash", DRUM_VELOCITY["crash"]))
        for j, t in enumerate(_grid(start, end, step)):
            pos = j % 16
            for kind, positions in pattern.items():
                if pos in positions:
                    accent = 1.0 if pos % 4 == 0 else 0.8
                    vel = DRUM_VELOCITY[kind] * accent * (0.9 + 0.2 * rng.random())
                    if style == "soft":
                        vel *= 0.6
                    hits.append((float(t + rng.normal(0, 0.004)), kind, vel))
    return sorted((max(t, 0.0), k, v) for t, k, v in hits)


def voice_base_midi(spec) -> int:
    """MIDI note the sung tune's tonic sits on: the key's tonic moved by octaves near the singer's f0."""
    centre = 69 + 12 * np.log2(spec.voice.f0_hz / 440.0)
    return int(spec.tonic_midi + 12 * round((centre - 4 - spec.tonic_midi) / 12))


def make_score(spec, rng: np.random.Generator) -> Score:
    """All note events of ``spec``, restricted to the sections where each instrument plays."""
    scale = MAJOR if spec.mode == "major" else MINOR
    beat_s = 60.0 / spec.tempo_bpm
    chords = _chords(spec, rng, scale, beat_s)
    melody = _melody(spec, rng, scale, beat_s, chords)
    raw = {
        "piano": _piano(spec, rng, chords, beat_s),
        "guitar": _guitar(spec, rng, chords, beat_s),
        "strings": _sustained(spec, chords, spec.tonic_midi + 12, spec.tonic_midi + 28, 0.8),
        "synth": _synth(spec, rng, chords, beat_s),
        "flute": _melody_part(melody, spec.tonic_midi + 24, 0.8),
        "bass": _bass(spec, rng, chords, beat_s),
    }
    if spec.voice is not None:
        raw["voice"] = _melody_part(melody, voice_base_midi(spec), 0.9)
    parts = {}
    for name, notes in raw.items():
        spans = _in_sections(spec, name)
        if spans:
            parts[name] = _clip(notes, spans)
    drums = tuple(_drums(spec, rng, beat_s))
    return Score(beat_s, tuple(chords), tuple(melody), parts, drums)
