"""Deterministic synthetic tagged music: audio + lyrics + Thayer emotion, in the MTAT layout.

The embedded default dataset for the demo and the tests: ``generate_dataset(out_dir)`` writes
``annotations_final.csv`` + folders ``0``-``f`` of 16 kHz mono mp3 exactly as MagnaTagATune
ships them, plus ``lyrics.tsv``, ``lyrics/<clip_id>.txt``, ``emotion.tsv``, ``tags.txt`` and
``truth.jsonl`` (see ``dataset.py``), so the real builder path is what gets exercised. No
download, no model: every sound is synthesised with NumPy/SciPy.

Generative story
----------------
Each clip is drawn independently from its own random streams (``[seed, clip_index, k]``).
The aim is a *plausible* world in which, as in real music, the modalities carry partial,
complementary and sometimes conflicting cues: nothing below consults the evaluation.

| step | variable | depends on | how (tables in ``spec.py`` / ``lyrics_text.py``) |
|---|---|---|---|
| 1 | energy E (0 low, 1 high) | - | 50/50 |
| 1 | stress S (0 low, 1 high) | - | 50/50, independent of E |
| 1 | quadrant | E, S | 2E + S: 0 contentment, 1 depression, 2 exuberance, 3 anxious (Thayer) |
| 2 | genre | E, S | high E: techno/rock/pop 82-88 % (rock more with high S, pop with low S); low E: folk/classical/ambient 77-80 % (ambient more with high S); the rest from the other side |
| 3 | tempo (bpm) | E | high E: fast 130-170 w.p. .80, medium 90-125 .18, slow 60-85 .02; low E mirrored |
| 3 | loudness class | E | high E: loud .60 / normal .35 / quiet .05; low E: quiet .55 / normal .40 / loud .05 |
| 3 | density (notes per beat) | E | high E: 1/2/4 w.p. .2/.5/.3; low E: 0.5/1/2 w.p. .35/.45/.2 |
| 3 | mode | S | minor w.p. .75 if high S, .25 if low S |
| 3 | dissonance | S | w.p. .45 if high S, .08 if low S: minor-2nd/tritone colour tones, tritone melody notes, a quarter-tone-off doubling |
| 3 | timbre | S | "harsh" w.p. .60 if high S, .20 if low S: pitched instruments get a 2-4.5 kHz presence boost and 30-60 Hz amplitude roughness; else "smooth" |
| 3 | key | - | tonic MIDI 45-56 (A2-G#3) |
| 3 | instruments | genre | per-genre pool probabilities (e.g. rock: guitar 1.0, drums .95, voice .65); 2-4 sections on beat boundaries, each instrument of the pool plays in a section w.p. .7 (.9 the genre's core instrument) |
| 3 | singer | - | male f0 100-150 Hz or female 200-300 Hz, 50/50; sings the clip's tune on vowels (formants), sections where "voice" plays |
| 3 | sound | all above | instruments.py synthesis; per-instrument level +-3 dB; room (longer for ambient/classical); loud = tanh compression; peak -1 / -7 / -17 dBFS for loud / normal / quiet +-1.5 dB; hiss -62..-50 dBFS |
| 4 | lyrics available | - | w.p. ``lyrics_fraction``, independent of the voice: sung clips may lack lyrics (metadata gaps), and clips where nobody sings in the excerpt may have the song's lyrics |
| 4 | language | - | Chinese w.p. ``chinese_fraction`` of lyric clips, else English |
| 4 | topic | E | love / party / nature: high E .35/.38/.27, low E .40/.22/.38 |
| 4 | lyrics mood | S | "tense" if high S, "calm" if low S, w.p. .85; the opposite otherwise (lyrics that disagree with the music) |
| 4 | lyric lines | topic, mood, E | 6-12 template lines (+ a repeated chorus line w.p. .5): topic nouns/verbs in 65 % of lines (15 % another topic's, 20 % generic words); a mood word in 85 % of lines, 90 % of them from the song's mood; an energy adverbial in 40 % of lines, matching E only 70 % of the time |
| 5 | tags | attributes | see ``tags.py``: audio-only (instruments, vocal/male/female/no vocal, fast/slow, loud/quiet, genre), lyrics-only (love/party/nature, annotated from the lyric text, so absent without lyrics), both (ballad = slow AND love lyrics, anthem = loud AND party lyrics) |
| 5 | label noise | - | each true positive dropped w.p. ``label_noise`` (weak labels, as in MTAT) |

So energy is heard (tempo, loudness, density, genre timbre) and barely read; stress is read
(mood words, 85 % faithful) and partly heard (timbre, mode, dissonance, genre), and neither
modality alone is sufficient on every clip: 40 % of clips have no lyrics, and 15 % of lyrics
disagree with the music. A listener who perfectly detected harsh timbre would get stress right
~70 % of the time from it alone; a reader who perfectly tallied mood words, 85 % of the time on
clips with lyrics (50 % on the rest). Thayer's quadrant needs both: energy from the audio,
stress from the lyrics where there are any.

Public API
----------
``generate_dataset(out_dir, params, *, workers=0, progress=True) -> SyntheticDataset``,
``sample_clip_spec(rng, params) -> ClipSpec``, ``render_clip(spec, rng, sample_rate) -> float32
[samples]``, ``tags_of(spec) -> list[str]``, ``lyrics_of(spec, rng) -> str | None``,
``SYNTHETIC_TAGS``, ``TAG_MODALITY``. CLI: ``python -m tfrecords_builder.synthetic --out_dir=...``.
"""

from tfrecords_builder.synthetic.tags import SYNTHETIC_TAGS, TAG_MODALITY, clean_tags, tags_of
from tfrecords_builder.synthetic.spec import QUADRANT_NAMES, ClipSpec, Section, Voice, sample_clip_spec
from tfrecords_builder.synthetic.lyrics_text import lyrics_of
from tfrecords_builder.synthetic.render import render_clip
from tfrecords_builder.synthetic.dataset import SyntheticDataset, assign_folders, generate_dataset, split_of_folder

__all__ = [
    "SYNTHETIC_TAGS", "TAG_MODALITY", "QUADRANT_NAMES", "ClipSpec", "Section", "Voice",
    "SyntheticDataset", "assign_folders", "clean_tags", "generate_dataset", "lyrics_of",
    "render_clip", "sample_clip_spec", "split_of_folder", "tags_of",
]
