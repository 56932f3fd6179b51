"""The synthetic tag vocabulary and the rules that derive tags from a clip's generated attributes.

Tags follow the *generated attributes* (who plays, the tempo in bpm, the loudness class, the
genre that chose the arrangement, the lyrics' topic), never the latent emotion directly.
Which modality can reveal each tag is recorded in ``TAG_MODALITY``:

* ``audio``  - audible only: instruments, voice and its sex, tempo, loudness, genre.
* ``lyrics`` - written only: the lyrics' topic. Topic tags are annotated from the lyric
  text, so a clip whose lyrics are unavailable carries none.
* ``both``   - needs both: "ballad" (slow tempo AND love lyrics), "anthem" (loud AND
  party lyrics).

Names follow the MTAT vocabulary where it has the concept (guitar, piano, strings, synth,
flute, drums, vocal, male, female, no vocal, fast, slow, loud, quiet, techno, rock, pop,
folk, classical, ambient); love, party, nature, ballad and anthem are MTAT-style additions.
"""

from __future__ import annotations

# ``ClipSpec`` (tfrecords_builder.synthetic.spec) is named in annotations only: spec imports this
# module, so importing it back (even under TYPE_CHECKING) would be a cycle (tests/test_layers.py).

# Column order of annotations_final.csv and tags.txt.
SYNTHETIC_TAGS = (
    # audio: instruments heard in any section (weak clip-level labels, as in MTAT)
    "guitar", "piano", "strings", "synth", "flute", "drums",
    # audio: the singer
    "vocal", "male", "female", "no vocal",
    # audio: tempo (>= 130 / <= 85 bpm) and loudness class
    "fast", "slow", "loud", "quiet",
    # audio: genre, i.e. the arrangement, timbres, drum pattern and tempo it chose
    "techno", "rock", "pop", "folk", "classical", "ambient",
    # lyrics: the lyrics' topic
    "love", "party", "nature",
    # both: slow AND love lyrics; loud AND party lyrics
    "ballad", "anthem",
)

TAG_MODALITY = {tag: "audio" for tag in SYNTHETIC_TAGS[:20]}
TAG_MODALITY.update({"love": "lyrics", "party": "lyrics", "nature": "lyrics",
                     "ballad": "both", "anthem": "both"})

_INSTRUMENT_TAGS = ("guitar", "piano", "strings", "synth", "flute", "drums")


def clean_tags(spec: "ClipSpec") -> tuple:
    """The true tags of ``spec`` (before label noise), in SYNTHETIC_TAGS order."""
    present = set()
    instruments = set(spec.instruments)
    present.update(name for name in _INSTRUMENT_TAGS if name in instruments)
    if "voice" in instruments:
        present.add("vocal")
        present.add(spec.voice.sex)
    else:
        present.add("no vocal")
    if spec.tempo_class == "fast":
        present.add("fast")
    elif spec.tempo_class == "slow":
        present.add("slow")
    if spec.loudness in ("loud", "quiet"):
        present.add(spec.loudness)
    present.add(spec.genre)
    if spec.has_lyrics:
        present.add(spec.topic)
        if spec.topic == "love" and spec.tempo_class == "slow":
            present.add("ballad")
        if spec.topic == "party" and spec.loudness == "loud":
            present.add("anthem")
    return tuple(tag for tag in SYNTHETIC_TAGS if tag in present)


def tags_of(spec: "ClipSpec", *, noisy: bool = True) -> list[str]:
    """The clip's annotated tags in SYNTHETIC_TAGS order.

    Args:
      spec: the clip.
      noisy: True (default) leaves out ``spec.dropped_tags``, as written to the annotations
        file; False gives the clean tags.
    """
    dropped = set(spec.dropped_tags) if noisy else set()
    return [tag for tag in clean_tags(spec) if tag not in dropped]
